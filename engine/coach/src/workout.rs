//! The workout as the coach rides it: the plan flattened into steps (repeat blocks
//! expanded), each target resolved for the athlete.
//!
//! Durations can change during the session (time-budget compression, inserted or extended
//! recoveries, steps ended early); targets in the list never change. Temporary changes
//! (coach overrides, safety reductions) are applied on top by the coach.

use paceline_schemas::plan::{CadenceRange, PlanStep, Step, StepIntent, WorkoutPlan};

use crate::budget::RepeatPosition;
use crate::target::EffectiveTarget;
use crate::zones::Physiology;

/// Most steps a plan may expand to.
pub const MAX_WORKOUT_STEPS: usize = 5_000;
/// Longest plan, s (24 h).
pub const MAX_WORKOUT_S: u64 = 24 * 3600;

/// A plan the coach cannot ride.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkoutError {
    /// Repeat blocks expand to too many steps.
    #[error("the plan expands to {steps} steps; at most {MAX_WORKOUT_STEPS} are allowed")]
    TooManySteps {
        /// Steps after expansion (counted until the limit was passed).
        steps: usize,
    },
    /// The plan is longer than a day.
    #[error("the plan lasts {seconds} s; at most {MAX_WORKOUT_S} s (24 h) are allowed")]
    TooLong {
        /// Its length, s.
        seconds: u64,
    },
}

/// One step of the workout.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkoutStep {
    /// What the step is for.
    pub intent: StepIntent,
    /// How long it lasts now, s.
    pub duration_s: u32,
    /// How long the plan made it, s.
    pub planned_s: u32,
    /// Its target for this athlete.
    pub target: EffectiveTarget,
    /// Cadence range, if the plan gives one.
    pub cadence_rpm: Option<CadenceRange>,
    /// The plan's text for it.
    pub text: Option<String>,
    /// Where it came from in a repeat block.
    pub repeat: Option<RepeatPosition>,
}

impl WorkoutStep {
    /// A step of the given kind.
    pub fn new(intent: StepIntent, duration_s: u32, target: EffectiveTarget) -> Self {
        WorkoutStep {
            intent,
            duration_s,
            planned_s: duration_s,
            target,
            cadence_rpm: None,
            text: None,
            repeat: None,
        }
    }

    fn from_plan_step(step: &Step, phys: &Physiology, repeat: Option<RepeatPosition>) -> Self {
        WorkoutStep {
            intent: step.intent,
            duration_s: step.duration_s,
            planned_s: step.duration_s,
            target: EffectiveTarget::resolve(&step.target, phys),
            cadence_rpm: step.cadence_rpm,
            text: step.text.clone(),
            repeat,
        }
    }

    /// A spoken name for the step: "Work 3 of 5", "Recovery", "Warm-up".
    pub fn label(&self) -> String {
        let name = match self.intent {
            StepIntent::Warmup => "Warm-up",
            StepIntent::Work => "Work",
            StepIntent::Recovery => "Recovery",
            StepIntent::Cooldown => "Cool-down",
            StepIntent::Free => "Free ride",
        };
        match (self.intent, self.repeat) {
            (StepIntent::Work, Some(r)) => format!("{name} {} of {}", r.rep + 1, r.reps),
            _ => name.to_owned(),
        }
    }
}

/// The whole workout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workout {
    /// The plan's name.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<WorkoutStep>,
}

impl Workout {
    /// Expands and resolves a plan for one athlete.
    pub fn from_plan(plan: &WorkoutPlan, phys: &Physiology) -> Result<Workout, WorkoutError> {
        let mut steps = Vec::new();
        let mut total_s: u64 = 0;
        let mut push = |step: WorkoutStep, steps: &mut Vec<WorkoutStep>| {
            if steps.len() >= MAX_WORKOUT_STEPS {
                return Err(WorkoutError::TooManySteps {
                    steps: steps.len() + 1,
                });
            }
            total_s += u64::from(step.duration_s);
            if total_s > MAX_WORKOUT_S {
                return Err(WorkoutError::TooLong { seconds: total_s });
            }
            steps.push(step);
            Ok(())
        };
        let mut block = 0;
        for plan_step in &plan.steps {
            match plan_step {
                PlanStep::Step(step) => {
                    push(WorkoutStep::from_plan_step(step, phys, None), &mut steps)?
                }
                PlanStep::Repeat(repeat) => {
                    for rep in 0..repeat.count {
                        let position = RepeatPosition {
                            block,
                            rep,
                            reps: repeat.count,
                        };
                        for step in &repeat.steps {
                            push(
                                WorkoutStep::from_plan_step(step, phys, Some(position)),
                                &mut steps,
                            )?;
                        }
                    }
                    block += 1;
                }
            }
        }
        Ok(Workout {
            name: plan.name.clone(),
            steps,
        })
    }

    /// Total duration as it stands, s.
    pub fn total_s(&self) -> u64 {
        self.steps.iter().map(|s| u64::from(s.duration_s)).sum()
    }
}
