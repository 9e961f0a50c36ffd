//! An athlete's "make today easier / harder" (the coach chat), through the same rules as
//! the day's plan: [`daily_plan_with_intensity`] starts from [`super::daily_plan`]'s own
//! draft, so the week's load, availability, recovery, life events and the ACWR cap still
//! hold, and only then moves the load.
//!
//! - **Easier**: nothing hard (as a poor check-in), at most [`EASIER_FACTOR`] × the
//!   planned load.
//! - **Harder**: at least [`HARDER_FACTOR`] × the planned load as far as the minutes and
//!   the load cap allow.
//! - Refused ([`IntensityRefused`], nothing changes) on a rest or event day, and for
//!   harder with recovery red or a poor check-in.
//! - **A power target** for the work intervals is at most [`MAX_FTP_FRACTION`] × FTP
//!   (lowered here too, whatever the caller checked), and only with an FTP; a heart-rate
//!   cap is written on every work step. Each change adds its sentence to `why`.

use paceline_schemas::plan::{PlanStep, PowerRange, Step, StepIntent, Target};

use super::{DailyPlan, DayKind, PlanInputs, daily_plan, draft};
use crate::recovery::Band;

/// "Easier": at most this × the planned load.
pub const EASIER_FACTOR: f64 = 0.8;
/// "Harder": at least this × the planned load when the rules allow.
pub const HARDER_FACTOR: f64 = 1.15;
/// The highest power target: 1.5 × FTP.
pub const MAX_FTP_FRACTION: f64 = 1.5;

/// Which way the athlete wants today's load to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntensityChange {
    /// Less, and nothing hard.
    Easier,
    /// More, within the rules.
    Harder,
}

/// What the athlete asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntensityRequest {
    /// Easier or harder.
    pub change: IntensityChange,
    /// A power target for the work intervals, W.
    pub work_power_w: Option<u32>,
    /// A heart-rate cap, bpm.
    pub hr_cap_bpm: Option<u32>,
}

/// Why the rules keep today's plan as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntensityRefused(pub String);

/// Today's plan with the athlete's intensity request applied (module doc), or why the
/// rules keep it as it is.
pub fn daily_plan_with_intensity(
    inputs: &PlanInputs,
    request: IntensityRequest,
) -> Result<DailyPlan, IntensityRefused> {
    let base = daily_plan(inputs);
    if matches!(base.kind, DayKind::Rest | DayKind::Event) || base.workout.is_none() {
        return Err(IntensityRefused(
            "today has no workout to change".to_owned(),
        ));
    }
    let mut plan = match request.change {
        IntensityChange::Easier => {
            let mut easier = draft(inputs, true);
            let limit = EASIER_FACTOR * base.target_tss;
            easier.limit_to(limit);
            easier.why.push(format!(
                "Asked for easier: nothing hard, and at most {EASIER_FACTOR} × the planned {:.0} TSS = {limit:.0} TSS; planned {:.0} TSS.",
                base.target_tss, easier.tss
            ));
            easier.finish()
        }
        IntensityChange::Harder => {
            let red = inputs.recovery.as_ref().and_then(|r| r.band) == Some(Band::Red);
            let poor = inputs.check_in.as_ref().is_some_and(|c| c.is_poor());
            if red || poor {
                return Err(IntensityRefused(format!(
                    "{}, so the workout stays as planned",
                    if red {
                        "your recovery is red"
                    } else {
                        "your check-in is poor"
                    }
                )));
            } else {
                let mut harder = draft(inputs, false);
                let want = HARDER_FACTOR * base.target_tss;
                let got = harder.raise_to(want.max(harder.tss));
                harder.why.push(if got + 1e-9 >= want {
                    format!(
                        "Asked for harder: at least {HARDER_FACTOR} × the planned {:.0} TSS → {:.0} TSS.",
                        base.target_tss, harder.tss
                    )
                } else {
                    format!(
                        "Asked for harder: {HARDER_FACTOR} × {:.0} = {want:.0} TSS was wanted, but {} stop it at {:.0} TSS.",
                        base.target_tss,
                        harder.raise_limit_reason(),
                        harder.tss
                    )
                });
                harder.finish()
            }
        }
    };
    apply_targets(&mut plan, inputs, request);
    Ok(plan)
}

/// The power target and heart-rate cap on the work steps.
fn apply_targets(plan: &mut DailyPlan, inputs: &PlanInputs, request: IntensityRequest) {
    let Some(workout) = plan.workout.as_mut() else {
        return;
    };
    let power = match (request.work_power_w, inputs.ftp_w) {
        (Some(asked), Some(ftp)) if ftp > 0.0 => {
            let max = (MAX_FTP_FRACTION * ftp).floor();
            let set = f64::from(asked).min(max);
            if f64::from(asked) > max {
                plan.why.push(format!(
                    "{asked} W is above {MAX_FTP_FRACTION} × FTP ({ftp:.0} W): the work intervals are set to {set:.0} W."
                ));
            } else {
                plan.why
                    .push(format!("The work intervals are set to {set:.0} W."));
            }
            // At most 1.5 × a bounded FTP: fits u16 for any real athlete; saturates otherwise.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let high = set.clamp(0.0, f64::from(u16::MAX)) as u16;
            Some(high)
        }
        (Some(asked), _) => {
            plan.why.push(format!(
                "{asked} W was asked, but without an FTP it cannot be checked: no power target set."
            ));
            None
        }
        (None, _) => None,
    };
    let cap = request.hr_cap_bpm;
    if let Some(cap) = cap {
        plan.why
            .push(format!("Heart rate stays below the cap of {cap} bpm."));
    }
    let mark = |step: &mut Step| {
        if step.intent != StepIntent::Work {
            return;
        }
        if let Some(high) = power {
            step.target = Target::PowerW(PowerRange {
                low_w: high.saturating_sub(high / 20),
                high_w: high,
            });
        }
        if let Some(cap) = cap {
            step.text = Some(format!("Keep heart rate below {cap} bpm"));
        }
    };
    for entry in &mut workout.steps {
        match entry {
            PlanStep::Step(step) => mark(step),
            PlanStep::Repeat(block) => block.steps.iter_mut().for_each(mark),
        }
    }
}
