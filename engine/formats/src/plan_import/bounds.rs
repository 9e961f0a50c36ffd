//! The numbers an imported plan may hold, checked once for every format.
//!
//! The per-value functions turn a number read from a file into the plan's unit, or say
//! which value was out of range; [`check_plan`] holds a whole plan (JSON ones included) to
//! the same bounds.

use paceline_schemas::plan::{
    CadenceRange, FtpRange, HeartRateRange, MAX_PLAN_STEPS, MAX_PLAN_TEXT_BYTES, MAX_REPEAT_COUNT,
    PowerRange,
};
use paceline_schemas::{PlanStep, Step, Target, WorkoutPlan};

use super::ImportReason;

/// The longest step, s.
pub(crate) const MAX_STEP_S: u32 = 24 * 60 * 60;
/// The longest plan, repeats expanded, s.
pub(crate) const MAX_PLAN_S: u64 = 24 * 60 * 60;
/// The highest power target, as a fraction of FTP.
pub(crate) const MAX_FTP_FRACTION: f64 = 5.0;
/// The highest absolute power target, W.
pub(crate) const MAX_POWER_W: u16 = 3000;
/// The highest heart-rate target, bpm.
pub(crate) const MAX_HEART_RATE_BPM: u16 = 250;
/// The highest cadence target, rpm.
pub(crate) const MAX_CADENCE_RPM: u16 = 250;
/// Heart-rate zones run 1 to this.
pub(crate) const HR_ZONES: u8 = 5;
/// Power zones (Coggan) run 1 to this.
pub(crate) const POWER_ZONES: u8 = 7;

fn out_of_range(what: &str, value: impl ToString, allowed: impl ToString) -> ImportReason {
    ImportReason::OutOfRange {
        what: what.to_owned(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// Rounds `value` to the nearest integer if it lies within `low..=high`.
fn rounded_within(
    what: &str,
    value: f64,
    low: u32,
    high: u32,
    unit: &str,
) -> Result<u32, ImportReason> {
    let rounded = value.round();
    if !(rounded >= f64::from(low) && rounded <= f64::from(high)) {
        // Also refuses NaN, for which every comparison is false.
        return Err(out_of_range(what, value, format!("{low} to {high}{unit}")));
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the value is a whole number within low..=high, which fit in u32"
    )]
    Ok(rounded as u32)
}

fn narrow(value: u32) -> u16 {
    // Callers pass bounds that fit in u16, so the fallback is never taken.
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// A step duration in seconds, rounded to a whole second: 1 s to 24 h.
pub(crate) fn duration_s(what: &str, seconds: f64) -> Result<u32, ImportReason> {
    rounded_within(what, seconds, 1, MAX_STEP_S, " s")
}

/// A power target given as a fraction of FTP (0.88), as the plan's percent (88.0).
pub(crate) fn ftp_pct(what: &str, fraction: f64) -> Result<f32, ImportReason> {
    if !(0.0..=MAX_FTP_FRACTION).contains(&fraction) {
        return Err(out_of_range(
            what,
            fraction,
            format!("0 to {MAX_FTP_FRACTION} × FTP"),
        ));
    }
    // Hundredths of a percent are plenty, and keep 0.88 from becoming 88.00000000000001.
    let pct = (fraction * 10_000.0).round() / 100.0;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a percent between 0 and 500 with two decimals is what f32 is for"
    )]
    Ok(pct as f32)
}

/// A power target given as a percent of FTP (88), as the plan's percent.
pub(crate) fn ftp_pct_from_percent(what: &str, percent: f64) -> Result<f32, ImportReason> {
    ftp_pct(what, percent / 100.0).map_err(|_| {
        out_of_range(
            what,
            percent,
            format!("0 to {} %FTP", MAX_FTP_FRACTION * 100.0),
        )
    })
}

/// An absolute power target, W.
pub(crate) fn power_w(what: &str, watts: f64) -> Result<u16, ImportReason> {
    rounded_within(what, watts, 0, u32::from(MAX_POWER_W), " W").map(narrow)
}

/// A heart-rate target, bpm.
pub(crate) fn heart_rate_bpm(what: &str, bpm: f64) -> Result<u16, ImportReason> {
    rounded_within(what, bpm, 1, u32::from(MAX_HEART_RATE_BPM), " bpm").map(narrow)
}

/// A cadence target, rpm.
pub(crate) fn cadence_rpm(what: &str, rpm: f64) -> Result<u16, ImportReason> {
    rounded_within(what, rpm, 1, u32::from(MAX_CADENCE_RPM), " rpm").map(narrow)
}

/// How many times a repeat block runs: a whole number from 1 to 200.
pub(crate) fn repeat_count(what: &str, count: f64) -> Result<u32, ImportReason> {
    if count.fract() != 0.0 {
        return Err(ImportReason::NotANumber {
            what: what.to_owned(),
            value: count.to_string(),
            expected: "a whole number of repetitions",
        });
    }
    rounded_within(what, count, 1, MAX_REPEAT_COUNT, "")
}

/// Refuses a range whose low end is above its high end.
pub(crate) fn ordered<T: PartialOrd + std::fmt::Display>(
    what: &str,
    low: T,
    high: T,
) -> Result<(), ImportReason> {
    if low > high {
        return Err(ImportReason::Inconsistent {
            detail: format!("{what} range {low}–{high} has its low end above its high end"),
        });
    }
    Ok(())
}

/// Cuts a text to at most 1024 bytes, at a character boundary.
pub(crate) fn cut_text(mut text: String) -> String {
    if text.len() > MAX_PLAN_TEXT_BYTES {
        let mut end = MAX_PLAN_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Holds a finished plan to the bounds every importer promises. On failure, says which
/// entry (`steps[2]`, `steps[2].steps[0]`; empty for the whole plan) and why.
pub(crate) fn check_plan(plan: &WorkoutPlan) -> Result<(), (String, ImportReason)> {
    if plan.steps.is_empty() {
        return Err((String::new(), ImportReason::NoSteps));
    }
    if plan.steps.len() > MAX_PLAN_STEPS {
        return Err((
            String::new(),
            ImportReason::TooManySteps {
                what: "top-level steps",
                max: MAX_PLAN_STEPS,
            },
        ));
    }
    for text in [Some(&plan.name), plan.description.as_ref()]
        .into_iter()
        .flatten()
    {
        check_text(text).map_err(|reason| (String::new(), reason))?;
    }
    let mut total_s: u64 = 0;
    for (i, entry) in plan.steps.iter().enumerate() {
        match entry {
            PlanStep::Step(step) => {
                check_step(step).map_err(|reason| (format!("steps[{i}]"), reason))?;
                total_s += u64::from(step.duration_s);
            }
            PlanStep::Repeat(block) => {
                let element = format!("steps[{i}]");
                if !(1..=MAX_REPEAT_COUNT).contains(&block.count) {
                    let reason = out_of_range(
                        "repeat count",
                        block.count,
                        format!("1 to {MAX_REPEAT_COUNT}"),
                    );
                    return Err((element, reason));
                }
                if block.steps.is_empty() {
                    return Err((element, ImportReason::NoSteps));
                }
                if block.steps.len() > MAX_PLAN_STEPS {
                    let reason = ImportReason::TooManySteps {
                        what: "steps in one repeat block",
                        max: MAX_PLAN_STEPS,
                    };
                    return Err((element, reason));
                }
                let mut pass_s: u64 = 0;
                for (j, step) in block.steps.iter().enumerate() {
                    check_step(step)
                        .map_err(|reason| (format!("steps[{i}].steps[{j}]"), reason))?;
                    pass_s += u64::from(step.duration_s);
                }
                total_s += pass_s * u64::from(block.count);
            }
        }
        if total_s > MAX_PLAN_S {
            let reason = ImportReason::OutOfRange {
                what: "the plan's length".to_owned(),
                value: format!("{total_s} s (or more)"),
                allowed: format!("at most {MAX_PLAN_S} s"),
            };
            return Err((String::new(), reason));
        }
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), ImportReason> {
    if text.len() > MAX_PLAN_TEXT_BYTES {
        return Err(out_of_range(
            "text length",
            text.len(),
            format!("at most {MAX_PLAN_TEXT_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_step(step: &Step) -> Result<(), ImportReason> {
    duration_s("duration_s", f64::from(step.duration_s))?;
    if let Some(text) = &step.text {
        check_text(text)?;
    }
    if let Some(CadenceRange { low, high }) = step.cadence_rpm {
        cadence_rpm("cadence low", f64::from(low))?;
        cadence_rpm("cadence high", f64::from(high))?;
        ordered("cadence", low, high)?;
    }
    match &step.target {
        Target::PowerW(PowerRange { low_w, high_w }) => {
            power_w("power low", f64::from(*low_w))?;
            power_w("power high", f64::from(*high_w))?;
            ordered("power", low_w, high_w)
        }
        Target::PowerFtp(FtpRange { low_pct, high_pct }) => {
            ftp_pct_from_percent("power low %FTP", f64::from(*low_pct))?;
            ftp_pct_from_percent("power high %FTP", f64::from(*high_pct))?;
            ordered("%FTP", low_pct, high_pct)
        }
        Target::PowerFtpRamp(ramp) => {
            ftp_pct_from_percent("ramp start %FTP", f64::from(ramp.start_pct))?;
            ftp_pct_from_percent("ramp end %FTP", f64::from(ramp.end_pct)).map(|_| ())
        }
        Target::HeartRate(HeartRateRange { low_bpm, high_bpm }) => {
            heart_rate_bpm("heart rate low", f64::from(*low_bpm))?;
            heart_rate_bpm("heart rate high", f64::from(*high_bpm))?;
            ordered("heart rate", low_bpm, high_bpm)
        }
        Target::HrZone(zone) => zone_within("heart-rate zone", zone.zone, HR_ZONES),
        Target::PowerZone(zone) => zone_within("power zone", zone.zone, POWER_ZONES),
        Target::Open(open) => match open.rpe {
            Some(rpe) if !(1..=10).contains(&rpe) => Err(out_of_range("RPE", rpe, "1 to 10")),
            _ => Ok(()),
        },
    }
}

/// Refuses a zone number outside `1..=zones`.
pub(crate) fn zone_within(what: &str, zone: u8, zones: u8) -> Result<(), ImportReason> {
    if !(1..=zones).contains(&zone) {
        return Err(out_of_range(what, zone, format!("1 to {zones}")));
    }
    Ok(())
}
