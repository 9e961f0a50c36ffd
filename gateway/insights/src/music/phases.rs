//! A workout's music phases from its plan, in Paceline's plan format.
//!
//! Why here: the playlist needs phases (warm-up, main, intervals, cool-down) while a plan
//! has steps with intents; the mapping is a music decision, so it lives with the playlist.
//!
//! Rule: repeat blocks are expanded; a step's intent `warmup` gives a warm-up, `cooldown` a
//! cool-down, any step inside a repeat block intervals, and every other step (work,
//! recovery or free at the top level) the main phase. Consecutive steps of one kind merge
//! into one phase. For run plans, a phase's cadence is the middle of the cadence range of
//! its longest step that has one (steps per minute); rides and other sports get none.

use paceline_schemas::plan::{PlanStep, Sport, Step, StepIntent, WorkoutPlan};

use super::playlist::{Phase, PhaseKind};

/// The music phases of `plan` (module docs).
pub fn phases_from_plan(plan: &WorkoutPlan) -> Vec<Phase> {
    let mut steps: Vec<(PhaseKind, &Step)> = Vec::new();
    for entry in &plan.steps {
        match entry {
            PlanStep::Step(step) => {
                let kind = match step.intent {
                    StepIntent::Warmup => PhaseKind::WarmUp,
                    StepIntent::Cooldown => PhaseKind::CoolDown,
                    StepIntent::Work | StepIntent::Recovery | StepIntent::Free => PhaseKind::Main,
                };
                steps.push((kind, step));
            }
            PlanStep::Repeat(block) => {
                for _ in 0..block.count {
                    steps.extend(block.steps.iter().map(|s| (PhaseKind::Intervals, s)));
                }
            }
        }
    }
    let mut phases: Vec<(Phase, u32)> = Vec::new();
    for (kind, step) in steps {
        let cadence = (plan.sport == Sport::Run)
            .then_some(step.cadence_rpm)
            .flatten()
            .map(|c| (f64::from(c.low) + f64::from(c.high)) / 2.0);
        match phases.last_mut() {
            Some((phase, longest_s)) if phase.kind == kind => {
                phase.duration_s = phase.duration_s.saturating_add(step.duration_s);
                if cadence.is_some()
                    && (phase.cadence_spm.is_none() || step.duration_s > *longest_s)
                {
                    phase.cadence_spm = cadence;
                    *longest_s = step.duration_s;
                }
            }
            _ => phases.push((
                Phase {
                    kind,
                    duration_s: step.duration_s,
                    cadence_spm: cadence,
                },
                if cadence.is_some() {
                    step.duration_s
                } else {
                    0
                },
            )),
        }
    }
    phases.into_iter().map(|(p, _)| p).collect()
}
