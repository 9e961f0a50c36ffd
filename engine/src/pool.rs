//! The coaches of one worker, and how records reach them.
//!
//! [`CoachPool`] is the driver every path shares: the dataflow operator holds one per
//! worker, and the parity tests drive one directly ("the bare Coach"). For each session
//! input it first fires the coach's timeouts that fell due before the input's time, then
//! hands over the input, then drains the outputs, numbering them per session so that
//! outputs merged from many workers can be put back in order.

use std::collections::BTreeMap;

use paceline_coach::{Coach, CoachConfig, Output};
use paceline_schemas::SessionId;
use paceline_schemas::command::Command;
use paceline_schemas::engine::{EngineRecord, OutputBody, Rejection, SessionEvent, SessionOutput};

struct Slot {
    coach: Coach,
    next_seq: u64,
}

/// The live coaches of one worker, by session.
pub struct CoachPool {
    config: CoachConfig,
    coaches: BTreeMap<SessionId, Slot>,
}

impl CoachPool {
    /// An empty pool whose coaches use `config`.
    pub fn new(config: CoachConfig) -> Self {
        CoachPool {
            config,
            coaches: BTreeMap::new(),
        }
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
                                self.coaches.insert(session, Slot { coach, next_seq: 0 });
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
