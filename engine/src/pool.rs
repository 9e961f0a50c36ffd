//! The coaches of one worker, and how records reach them.
//!
//! [`CoachPool`] is the driver every path shares: the dataflow operator holds one per
//! worker, and the parity tests drive one directly ("the bare Coach"). For each session
//! input it first fires the coach's timeouts that fell due before the input's time, then
//! hands over the input, then drains the outputs, numbering them per session so that
//! outputs merged from many workers can be put back in order.

use std::collections::BTreeMap;

use paceline_coach::{Coach, CoachConfig, EffectiveTarget, HrQuality, LiveStatus, Output};
use paceline_schemas::SessionId;
use paceline_schemas::command::Command;
use paceline_schemas::engine::{
    EngineRecord, OutputBody, Rejection, SessionEvent, SessionOutput, SessionStatus, SignalQuality,
    StepState, TargetBand, TargetUnit,
};

struct Slot {
    coach: Coach,
    next_seq: u64,
    last_status_ms: Option<u64>,
}

/// The live coaches of one worker, by session.
pub struct CoachPool {
    config: CoachConfig,
    coaches: BTreeMap<SessionId, Slot>,
    status_every_ms: Option<u64>,
}

impl CoachPool {
    /// An empty pool whose coaches use `config`.
    pub fn new(config: CoachConfig) -> Self {
        CoachPool {
            config,
            coaches: BTreeMap::new(),
            status_every_ms: None,
        }
    }

    /// Also emits each session's [`SessionStatus`] after a sample, at most once per
    /// `every_ms` of input time (for live boards; batch runs leave it off, so their
    /// outputs are the coaches' alone).
    pub fn with_status_every(mut self, every_ms: Option<u64>) -> Self {
        self.status_every_ms = every_ms;
        self
    }

    /// Sessions currently coached.
    pub fn len(&self) -> usize {
        self.coaches.len()
    }

    /// Whether no session is coached.
    pub fn is_empty(&self) -> bool {
        self.coaches.is_empty()
    }

    /// Handles one record, giving each output to `emit` as soon as it is made.
    pub fn handle(&mut self, record: EngineRecord, emit: &mut impl FnMut(SessionOutput)) {
        match record {
            EngineRecord::Tick(tick) => {
                for (session, slot) in &mut self.coaches {
                    fire_timeouts(session, slot, tick.now_ms, emit);
                }
            }
            EngineRecord::Session(input) => {
                let session = input.session;
                match input.event {
                    SessionEvent::Open(setup) => {
                        let built = Coach::new(
                            session.clone(),
                            &setup.profile,
                            setup.plan.as_ref(),
                            self.config.clone(),
                        );
                        match built {
                            Ok(coach) => {
                                self.coaches.insert(
                                    session,
                                    Slot {
                                        coach,
                                        next_seq: 0,
                                        last_status_ms: None,
                                    },
                                );
                            }
                            Err(e) => emit(SessionOutput {
                                session,
                                seq: 0,
                                output: OutputBody::Rejected(Rejection {
                                    reason: e.to_string(),
                                }),
                            }),
                        }
                    }
                    SessionEvent::Sample(sample) => {
                        if let Some(slot) = self.coaches.get_mut(&session) {
                            fire_timeouts(&session, slot, input.now_ms, emit);
                            slot.coach.handle_sample(input.now_ms, &sample);
                            drain(&session, slot, emit);
                            if let Some(every) = self.status_every_ms
                                && slot
                                    .last_status_ms
                                    .is_none_or(|last| input.now_ms >= last.saturating_add(every))
                            {
                                slot.last_status_ms = Some(input.now_ms);
                                emit(SessionOutput {
                                    session: session.clone(),
                                    seq: slot.next_seq,
                                    output: OutputBody::Status(status_of(&slot.coach.status())),
                                });
                            }
                        }
                    }
                    SessionEvent::Command(command) => {
                        if let Some(slot) = self.coaches.get_mut(&session) {
                            fire_timeouts(&session, slot, input.now_ms, emit);
                            slot.coach.handle_command(input.now_ms, &command.command);
                            drain(&session, slot, emit);
                            if command.command == Command::End {
                                self.coaches.remove(&session);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn fire_timeouts(
    session: &SessionId,
    slot: &mut Slot,
    now_ms: u64,
    emit: &mut impl FnMut(SessionOutput),
) {
    while let Some(due) = slot.coach.poll_timeout().filter(|&t| t <= now_ms) {
        slot.coach.handle_timeout(due);
        drain(session, slot, emit);
    }
}

fn drain(session: &SessionId, slot: &mut Slot, emit: &mut impl FnMut(SessionOutput)) {
    while let Some(output) = slot.coach.poll_output() {
        let body = match output {
            Output::Cue(cue) => OutputBody::Cue(cue),
            Output::Summary(summary) => OutputBody::Summary(summary),
            // Target changes stay in-process (live boards read `Coach::status`).
            Output::Target(_) => continue,
        };
        let seq = slot.next_seq;
        slot.next_seq += 1;
        emit(SessionOutput {
            session: session.clone(),
            seq,
            output: body,
        });
    }
}

/// The coach's live status in its wire form.
pub fn status_of(status: &LiveStatus) -> SessionStatus {
    let band = |unit, a: u16, b: u16| TargetBand {
        unit,
        low: a.min(b),
        high: a.max(b),
    };
    SessionStatus {
        t_s: status.t_s,
        hr_bpm: status.hr_bpm,
        hr_quality: match status.hr_quality {
            HrQuality::Unknown => SignalQuality::Unknown,
            HrQuality::Fresh => SignalQuality::Fresh,
            HrQuality::Stale => SignalQuality::Stale,
            HrQuality::Lost => SignalQuality::Lost,
            HrQuality::ContactOff => SignalQuality::ContactOff,
            HrQuality::Artifact => SignalQuality::Artifact,
        },
        hr_zone: status.hr_zone,
        hr_pct_max: status.hr_pct_max,
        power_3s_w: status.power_3s_w,
        power_zone: status.power_zone,
        cadence: status.cadence,
        wbal_j: status.wbal_j,
        wbal_fraction: status.wbal_fraction,
        step: status.step.as_ref().map(|step| StepState {
            index: u32::try_from(step.index).unwrap_or(u32::MAX),
            intent: step.intent,
            label: step.label.chars().take(200).collect(),
            duration_s: step.duration_s,
            elapsed_s: step.elapsed_s,
        }),
        target: match status.target {
            EffectiveTarget::Power { low_w, high_w } => {
                Some(band(TargetUnit::Watts, low_w, high_w))
            }
            EffectiveTarget::PowerRamp { start_w, end_w } => {
                Some(band(TargetUnit::Watts, start_w, end_w))
            }
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                Some(band(TargetUnit::Bpm, low_bpm, high_bpm))
            }
            EffectiveTarget::Open { .. } => None,
        },
        raise_blocked: status.raise_block.is_some(),
        paused: status.paused,
        remaining_plan_s: status.remaining_plan_s,
    }
}
