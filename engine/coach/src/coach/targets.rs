//! The target in force: `reconcile`, the one place it changes (asking the safety governor
//! before any raise), and the heart-rate cap's actions.

use paceline_schemas::cue::{ExtendRecovery, InsertRecovery, ReduceTarget};
use paceline_schemas::{CueCode, Modification, Severity};

use super::outputs::TargetUpdate;
use super::{Coach, Output, Reduction};
use crate::cues::spoken_duration;
use crate::safety::{CapAction, RaiseBlock};
use crate::signal::HrQuality;
use crate::target::EffectiveTarget;

impl Coach {
    pub(super) fn raise_block(&self, now: u64) -> Option<RaiseBlock> {
        self.safety.raise_block(self.hr.quality(now), self.hr.bpm())
    }

    pub(super) fn desired_target(&self, now: u64) -> EffectiveTarget {
        let base = match (self.override_target, self.current_step()) {
            (Some(o), _) => o.target,
            (None, Some(step)) => step.target,
            // After the plan: ride easy. Without a plan: ride as you like.
            (None, None) if self.planned => EffectiveTarget::Open { rpe: Some(3) },
            (None, None) => EffectiveTarget::Open { rpe: None },
        };
        let base = match self.reduction {
            Some(r) if now < r.until_ms => base.reduced(r.pct),
            _ => base,
        };
        base.clamped(&self.limits)
    }

    /// The one place the target in force changes. A change that would raise intensity
    /// while the governor blocks raises is held; a climbing ramp is frozen.
    pub(super) fn reconcile(&mut self, now: u64) {
        let desired = self.desired_target(now);
        // `now` may be the end of a second closed a little late: a change made now must
        // also be safe at the latest instant seen.
        let block = self.raise_block(now).or(self.raise_block(self.last_now_ms));
        let current = self.effective;
        let mut next = desired;
        let mut held = None;
        if let Some(block) = block {
            if desired != current
                && desired.intensity(&self.limits) > current.intensity(&self.limits)
            {
                next = current;
                held = Some(block);
            }
            if next.is_rising_ramp() {
                next = next.frozen_at(self.step_fraction());
                held = Some(block);
            }
        }
        if next != current || held != self.held || self.target_dirty {
            self.effective = next;
            self.held = held;
            self.target_dirty = false;
            let update = TargetUpdate {
                t_s: self.t_s(now),
                target: next,
                step: self.step_status(),
                held,
            };
            self.outputs.push_back(Output::Target(update));
        }
    }

    pub(super) fn check_cap(&mut self, now: u64) {
        while let Some(action) = self.safety.cap_action(now, self.step_kind()) {
            let cap = self.safety.hr_cap_bpm();
            let bpm = self
                .hr
                .bpm()
                .map_or_else(|| "high".to_owned(), |b| format!("{b:.0} bpm"));
            let (text, modification) = match action {
                CapAction::ReduceTarget { pct, duration_s } => {
                    self.reduction = Some(Reduction {
                        pct,
                        until_ms: now.saturating_add(u64::from(duration_s) * 1000),
                    });
                    (
                        format!(
                            "Heart rate {bpm} is over your cap of {cap}: ease off now. Target lowered {pct} % for {}.",
                            spoken_duration(duration_s)
                        ),
                        Modification::ReduceTarget(ReduceTarget { pct, duration_s }),
                    )
                }
                CapAction::EndInterval if self.current_step().is_some() => (
                    format!(
                        "Heart rate {bpm} is still over your cap of {cap}: this interval ends now. Recover."
                    ),
                    Modification::EndStep,
                ),
                CapAction::EndInterval | CapAction::InsertRecovery { .. } => {
                    let s = self.config.safety.cap_recovery_s;
                    (
                        format!(
                            "Heart rate {bpm} is still over your cap of {cap}: recover for {}.",
                            spoken_duration(s)
                        ),
                        Modification::InsertRecovery(InsertRecovery { s }),
                    )
                }
                CapAction::ExtendRecovery { s } => (
                    format!(
                        "Heart rate {bpm} is still over your cap of {cap}: recovery extended by {}.",
                        spoken_duration(s)
                    ),
                    Modification::ExtendRecovery(ExtendRecovery { s }),
                ),
            };
            self.cue(
                now,
                Severity::Safety,
                CueCode::HrAboveCap,
                text,
                Some(modification.clone()),
            );
            match modification {
                Modification::EndStep => self.end_current_step(now),
                Modification::InsertRecovery(r) => self.insert_recovery(now, r.s),
                Modification::ExtendRecovery(r) => {
                    if let Some(step) = self.workout.steps.get_mut(self.step_index) {
                        step.duration_s = step.duration_s.saturating_add(r.s);
                        self.target_dirty = true;
                    }
                }
                _ => {}
            }
            self.reconcile(now);
        }
    }
}

pub(super) fn block_reason(block: RaiseBlock) -> &'static str {
    match block {
        RaiseBlock::HrUntrusted(HrQuality::Unknown) => "there is no heart-rate signal",
        RaiseBlock::HrUntrusted(HrQuality::Stale | HrQuality::Lost) => {
            "the heart-rate signal is lost"
        }
        RaiseBlock::HrUntrusted(HrQuality::ContactOff) => "the heart-rate strap has no contact",
        RaiseBlock::HrUntrusted(_) => "heart-rate readings look wrong",
        RaiseBlock::NearCap => "your heart rate is close to its cap",
    }
}
