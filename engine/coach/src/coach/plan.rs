//! The coach's walk through the plan: step progress, step starts and the plan's end,
//! recoveries put in by safety, and compressing the rest to a time budget.

use paceline_schemas::cue::CompressRemaining;
use paceline_schemas::plan::StepIntent;
use paceline_schemas::{CueCode, Modification, Severity};

use super::Coach;
use super::off_target::OffTarget;
use super::outputs::StepStatus;
use super::targets::block_reason;
use crate::budget::{self, BudgetStep};
use crate::cues::spoken_duration;
use crate::safety::StepKind;
use crate::target::EffectiveTarget;
use crate::workout::WorkoutStep;

impl Coach {
    pub(super) fn current_step(&self) -> Option<&WorkoutStep> {
        self.workout.steps.get(self.step_index)
    }

    pub(super) fn step_elapsed_ms(&self) -> u64 {
        self.active_ms.saturating_sub(self.step_started_active_ms)
    }

    pub(super) fn step_remaining_s(&self) -> u32 {
        let Some(step) = self.current_step() else {
            return 0;
        };
        let left_ms = (u64::from(step.duration_s) * 1000).saturating_sub(self.step_elapsed_ms());
        u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX)
    }

    pub(super) fn step_fraction(&self) -> f64 {
        match self.current_step() {
            Some(step) if step.duration_s > 0 => {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "step times are far below 2^52 ms"
                )]
                let f = self.step_elapsed_ms() as f64 / (f64::from(step.duration_s) * 1000.0);
                f.clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }

    pub(super) fn step_status(&self) -> Option<StepStatus> {
        let step = self.current_step()?;
        Some(StepStatus {
            index: self.step_index,
            intent: step.intent,
            label: step.label(),
            duration_s: step.duration_s,
            elapsed_s: u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX),
        })
    }

    pub(super) fn step_kind(&self) -> StepKind {
        match self.current_step().map(|s| s.intent) {
            Some(StepIntent::Work) => StepKind::Work,
            Some(StepIntent::Recovery) => StepKind::Recovery,
            _ => StepKind::Other,
        }
    }

    pub(super) fn remaining_plan_s(&self) -> u64 {
        if self.current_step().is_none() {
            return 0;
        }
        let later: u64 = self.workout.steps[self.step_index + 1..]
            .iter()
            .map(|s| u64::from(s.duration_s))
            .sum();
        later + u64::from(self.step_remaining_s())
    }

    pub(super) fn progress_steps(&mut self, now: u64) {
        while let Some(step) = self.current_step() {
            let end_active = self.step_started_active_ms + u64::from(step.duration_s) * 1000;
            if self.active_ms < end_active {
                break;
            }
            self.enter_step(now, self.step_index + 1, end_active);
        }
    }

    /// Starts step `index` (or the end of the plan) as of `started_active_ms`.
    pub(super) fn enter_step(&mut self, now: u64, index: usize, started_active_ms: u64) {
        self.step_index = index.min(self.workout.steps.len());
        self.step_started_active_ms = started_active_ms;
        self.off_target = OffTarget::default();
        self.off_cadence = OffTarget::default();
        self.step_decoupling.reset();
        self.step_decoupling_spoken = false;
        self.target_dirty = true;
        self.expire(now);
        self.reconcile(now);
        match self.current_step() {
            Some(step) => {
                let shown = if self.held.is_some() {
                    step.target
                } else {
                    self.effective
                };
                let mut text = format!(
                    "{}: {} at {shown}",
                    step.label(),
                    spoken_duration(step.duration_s)
                );
                if let Some(block) = self.held {
                    text.push_str(&format!(
                        ". Holding {} while {}",
                        self.effective,
                        block_reason(block)
                    ));
                }
                if let Some(extra) = &step.text {
                    text.push_str(". ");
                    text.push_str(extra);
                }
                text.push('.');
                self.cue(now, Severity::Info, CueCode::StepStart, text, None);
            }
            None if self.planned && !self.plan_end_spoken => {
                self.plan_end_spoken = true;
                let text = format!(
                    "{} complete. Well done: ride easy or end the session.",
                    self.workout.name
                );
                self.cue(now, Severity::Info, CueCode::StepEnd, text, None);
            }
            None => {}
        }
    }

    /// Ends the current step now (the rest of it is dropped).
    pub(super) fn end_current_step(&mut self, now: u64) {
        if self.current_step().is_some() {
            self.enter_step(now, self.step_index + 1, self.active_ms);
        }
    }

    /// Puts a recovery of `s` seconds in front of whatever remains of the current step.
    pub(super) fn insert_recovery(&mut self, now: u64, s: u32) {
        let elapsed_s = u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX);
        let at = self.step_index;
        let recovery = WorkoutStep::new(StepIntent::Recovery, s, self.recovery_target());
        if let Some(step) = self.workout.steps.get_mut(at) {
            let mut rest = step.clone();
            rest.duration_s = step.duration_s.saturating_sub(elapsed_s);
            step.duration_s = elapsed_s;
            if rest.duration_s > 0 {
                self.workout.steps.insert(at + 1, rest);
            }
            self.workout.steps.insert(at + 1, recovery);
            self.enter_step(now, at + 1, self.active_ms);
        } else {
            self.workout.steps.push(recovery);
            self.enter_step(now, at, self.active_ms);
        }
    }

    pub(super) fn recovery_target(&self) -> EffectiveTarget {
        match (self.phys.ftp_w, self.phys.rpe_only) {
            (Some(ftp), false) => {
                let w = |pct: u32| u16::try_from(u32::from(ftp) * pct / 100).unwrap_or(u16::MAX);
                EffectiveTarget::Power {
                    low_w: w(40),
                    high_w: w(55),
                }
            }
            _ => EffectiveTarget::Open { rpe: Some(2) },
        }
    }

    pub(super) fn apply_time_budget(&mut self, now: u64, minutes: u32) {
        let budget_s = minutes.saturating_mul(60);
        if self.current_step().is_none() {
            let text =
                format!("{minutes} minutes left: no planned steps remain, ride as you feel.");
            self.cue(
                now,
                Severity::Info,
                CueCode::TimeBudgetCompressed,
                text,
                None,
            );
            return;
        }
        let done_s = u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX);
        let steps: Vec<BudgetStep> = self.workout.steps[self.step_index..]
            .iter()
            .enumerate()
            .map(|(i, step)| BudgetStep {
                intent: step.intent,
                planned_s: step.duration_s,
                done_s: if i == 0 {
                    done_s.min(step.duration_s)
                } else {
                    0
                },
                intensity: step.target.load_intensity(&self.limits),
                repeat: step.repeat,
            })
            .collect();
        let strategy = self.config.compress_strategy;
        let result = budget::compress(&steps, budget_s, strategy, &self.config.budget);
        if result.kept_total_s >= result.planned_remaining_s {
            let text = format!(
                "{minutes} minutes left: the rest of the plan ({}) fits.",
                spoken_duration(result.planned_remaining_s)
            );
            self.cue(
                now,
                Severity::Info,
                CueCode::TimeBudgetCompressed,
                text,
                None,
            );
            return;
        }
        let first = self.step_index;
        let mut kept_steps = Vec::with_capacity(steps.len());
        for (i, (step, kept)) in self
            .workout
            .steps
            .drain(first..)
            .zip(result.kept_s.iter().copied())
            .enumerate()
        {
            if i == 0 {
                kept_steps.push(WorkoutStep {
                    duration_s: steps[0].done_s + kept,
                    ..step
                });
            } else if kept > 0 {
                kept_steps.push(WorkoutStep {
                    duration_s: kept,
                    ..step
                });
            }
        }
        self.workout.steps.extend(kept_steps);
        self.target_dirty = true;
        let text = format!(
            "{minutes} minutes left: the rest of the plan is compressed from {} to {} ({}; training load kept: {:.0} of {:.0} TSS).",
            spoken_duration(result.planned_remaining_s),
            spoken_duration(result.kept_total_s),
            strategy_name(strategy),
            result.kept_load,
            result.planned_load,
        );
        let modification = Modification::CompressRemaining(CompressRemaining {
            strategy,
            total_s: result.kept_total_s,
        });
        self.cue(
            now,
            Severity::Info,
            CueCode::TimeBudgetCompressed,
            text,
            Some(modification),
        );
        self.progress_steps(now);
    }
}

fn strategy_name(strategy: paceline_schemas::CompressStrategy) -> &'static str {
    match strategy {
        paceline_schemas::CompressStrategy::KeepIntensity => "every kept interval at full length",
        paceline_schemas::CompressStrategy::KeepVolume => "every interval kept, shorter",
        paceline_schemas::CompressStrategy::Hybrid => "hardest parts kept first",
    }
}
