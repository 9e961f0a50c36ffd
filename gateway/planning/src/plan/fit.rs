//! "I only have 35 minutes": a plan fitted to a time budget by the live Coach's own
//! compression (`paceline_coach::budget::compress`, with the Coach's default strategy and
//! floors), so a plan shortened in the morning is shortened exactly as the Coach would
//! shorten it during the ride.
//!
//! The plan is expanded as the Coach expands it (`paceline_coach::workout::Workout`), each
//! step's load intensity is the Coach's (`EffectiveTarget::load_intensity`) for the
//! athlete's FTP and threshold heart rate (a nominal athlete, FTP 200 W and LTHR 170 bpm,
//! when they are unknown or do not make a valid profile), and the kept seconds are folded
//! back: steps kept whole or shortened, dropped steps gone, repetitions that stay alike
//! kept as one repeat block.

use paceline_coach::CoachConfig;
use paceline_coach::budget::{self, BudgetStep, Compression};
use paceline_coach::target::TargetLimits;
use paceline_coach::workout::Workout;
use paceline_coach::zones::{Physiology, PhysiologyDefaults};
use paceline_schemas::AthleteProfile;
use paceline_schemas::plan::{Open, PlanStep, RepeatBlock, Step, StepIntent, Target, WorkoutPlan};

/// FTP of the nominal athlete, W.
const NOMINAL_FTP_W: u16 = 200;
/// Threshold heart rate of the nominal athlete, bpm.
const NOMINAL_LTHR_BPM: u16 = 170;

/// `plan` fitted to `minutes` by the live Coach's time-budget compression (module docs),
/// for the nominal athlete. A plan that fits is returned as it is; a budget of 0 leaves one
/// free step of 0 s (nothing to ride).
pub fn fit_to_minutes(plan: &WorkoutPlan, minutes: u32) -> WorkoutPlan {
    fit_for(plan, minutes, &physiology(None, None)).0
}

/// The physiology the Coach would build for an athlete with this FTP and threshold heart
/// rate, or the nominal one.
pub(crate) fn physiology(ftp_w: Option<f64>, lthr_bpm: Option<f64>) -> Physiology {
    let to_u16 = |v: f64| (1..=u16::MAX).find(|&x| f64::from(x) >= v.round());
    let profile = |ftp: Option<u16>, lthr: Option<u16>| AthleteProfile {
        ftp: Some(ftp.unwrap_or(NOMINAL_FTP_W)),
        lthr: Some(lthr.unwrap_or(NOMINAL_LTHR_BPM)),
        hr_max: Some(lthr.unwrap_or(NOMINAL_LTHR_BPM).saturating_add(20)),
        hr_rest: Some(55),
        ..AthleteProfile::default()
    };
    let ftp = ftp_w
        .filter(|f| f.is_finite() && *f >= 1.0 && *f <= 2000.0)
        .and_then(to_u16);
    let lthr = lthr_bpm
        .filter(|l| l.is_finite() && (80.0..=220.0).contains(l))
        .and_then(to_u16);
    let defaults = PhysiologyDefaults::default();
    Physiology::from_profile(&profile(ftp, lthr), &defaults)
        .or_else(|_| Physiology::from_profile(&profile(None, None), &defaults))
        .expect("the nominal profile is valid")
}

/// `plan` fitted to `minutes` for `phys`, with the kept seconds of each expanded step
/// (`None` when the plan fits, or cannot be expanded: it is returned unchanged).
pub(crate) fn fit_for(
    plan: &WorkoutPlan,
    minutes: u32,
    phys: &Physiology,
) -> (WorkoutPlan, Option<Compression>) {
    let Ok(workout) = Workout::from_plan(plan, phys) else {
        return (plan.clone(), None);
    };
    let limits = TargetLimits::of(phys);
    let steps: Vec<BudgetStep> = workout
        .steps
        .iter()
        .map(|s| BudgetStep {
            intent: s.intent,
            planned_s: s.duration_s,
            done_s: 0,
            intensity: s.target.load_intensity(&limits),
            repeat: s.repeat,
        })
        .collect();
    let config = CoachConfig::default();
    let budget_s = minutes.saturating_mul(60);
    let result = budget::compress(&steps, budget_s, config.compress_strategy, &config.budget);
    if result.kept_total_s >= result.planned_remaining_s {
        return (plan.clone(), None);
    }
    let fitted = fold_back(plan, &result.kept_s);
    (fitted, Some(result))
}

/// The plan with each expanded step's kept seconds (module docs).
fn fold_back(plan: &WorkoutPlan, kept_s: &[u32]) -> WorkoutPlan {
    let mut kept = kept_s.iter().copied();
    let mut steps = Vec::new();
    let shortened = |step: &Step, seconds: u32| Step {
        duration_s: seconds,
        ..step.clone()
    };
    for entry in &plan.steps {
        match entry {
            PlanStep::Step(step) => {
                let seconds = kept.next().unwrap_or(0);
                if seconds > 0 {
                    steps.push(PlanStep::Step(shortened(step, seconds)));
                }
            }
            PlanStep::Repeat(block) => {
                let mut runs: Vec<(u32, Vec<Step>)> = Vec::new();
                for _ in 0..block.count {
                    let rep: Vec<Step> = block
                        .steps
                        .iter()
                        .filter_map(|step| {
                            let seconds = kept.next().unwrap_or(0);
                            (seconds > 0).then(|| shortened(step, seconds))
                        })
                        .collect();
                    if rep.is_empty() {
                        continue;
                    }
                    match runs.last_mut() {
                        Some((count, steps)) if *steps == rep => *count += 1,
                        _ => runs.push((1, rep)),
                    }
                }
                for (count, rep) in runs {
                    if count == 1 {
                        steps.extend(rep.into_iter().map(PlanStep::Step));
                    } else {
                        steps.push(PlanStep::Repeat(RepeatBlock { count, steps: rep }));
                    }
                }
            }
        }
    }
    if steps.is_empty() {
        steps.push(PlanStep::Step(Step {
            intent: StepIntent::Free,
            duration_s: 0,
            target: Target::Open(Open { rpe: None }),
            cadence_rpm: None,
            text: None,
        }));
    }
    WorkoutPlan {
        steps,
        ..plan.clone()
    }
}
