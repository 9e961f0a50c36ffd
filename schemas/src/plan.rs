//! Planned workouts: steps with durations and targets, and repeat blocks.
//!
//! This is Paceline's own plan form (JSON and binary); importers for Zwift `.zwo` and FIT
//! workout files live in the engine and produce it.

use serde::{Deserialize, Serialize};

use crate::tagged::tagged_enum;

/// Most entries at the top level of a plan, and most steps in one repeat block.
pub const MAX_PLAN_STEPS: usize = 500;
/// Most repetitions of one repeat block.
pub const MAX_REPEAT_COUNT: u32 = 200;
/// The longest plan name, step text or description, in bytes.
pub const MAX_PLAN_TEXT_BYTES: usize = 1024;

/// A planned workout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkoutPlan {
    /// Name shown to the athlete.
    #[serde(
        serialize_with = "crate::bounded::serialize_str::<_, MAX_PLAN_TEXT_BYTES>",
        deserialize_with = "crate::bounded::deserialize_str::<_, MAX_PLAN_TEXT_BYTES>"
    )]
    pub name: String,
    /// What the workout is for.
    #[serde(
        default,
        serialize_with = "crate::bounded::serialize_opt_str::<_, MAX_PLAN_TEXT_BYTES>",
        deserialize_with = "crate::bounded::deserialize_opt_str::<_, MAX_PLAN_TEXT_BYTES>"
    )]
    pub description: Option<String>,
    /// The sport.
    pub sport: Sport,
    /// Steps and repeat blocks, in order.
    #[serde(
        serialize_with = "crate::bounded::serialize_vec::<_, _, 1, MAX_PLAN_STEPS>",
        deserialize_with = "crate::bounded::deserialize_vec::<_, _, 1, MAX_PLAN_STEPS>"
    )]
    pub steps: Vec<PlanStep>,
}

/// The sport a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sport {
    /// Cycling, indoors or out.
    Bike,
    /// Running.
    Run,
    /// Anything else.
    Other,
}

tagged_enum! {
    /// One entry of a plan. JSON: an object with `kind` `step` or `repeat`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum PlanStep {
        /// A single step. JSON kind `step`.
        Step(Step) = "step",
        /// Steps repeated a number of times. JSON kind `repeat`.
        Repeat(RepeatBlock) = "repeat",
    }
}

/// One step: what to do and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The step's role in the workout.
    pub intent: StepIntent,
    /// Planned length, s.
    pub duration_s: u32,
    /// What to hold.
    pub target: Target,
    /// Cadence to hold, if any.
    #[serde(default)]
    pub cadence_rpm: Option<CadenceRange>,
    /// What to show the athlete during the step.
    #[serde(
        default,
        serialize_with = "crate::bounded::serialize_opt_str::<_, MAX_PLAN_TEXT_BYTES>",
        deserialize_with = "crate::bounded::deserialize_opt_str::<_, MAX_PLAN_TEXT_BYTES>"
    )]
    pub text: Option<String>,
}

/// A block of steps repeated `count` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatBlock {
    /// How many times the steps run (1 to [`MAX_REPEAT_COUNT`]).
    pub count: u32,
    /// The steps of one repetition.
    #[serde(
        serialize_with = "crate::bounded::serialize_vec::<_, _, 1, MAX_PLAN_STEPS>",
        deserialize_with = "crate::bounded::deserialize_vec::<_, _, 1, MAX_PLAN_STEPS>"
    )]
    pub steps: Vec<Step>,
}

/// The role of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepIntent {
    /// Warm-up.
    Warmup,
    /// A work interval.
    Work,
    /// A recovery between work intervals.
    Recovery,
    /// Cool-down.
    Cooldown,
    /// Riding or running freely, no structure.
    Free,
}

/// A cadence range, rpm (or steps per minute when running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadenceRange {
    /// Lowest cadence.
    pub low: u16,
    /// Highest cadence.
    pub high: u16,
}

tagged_enum! {
    /// What a step asks the athlete to hold. JSON: an object with a `kind` field.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Target {
        /// Power between two absolute values. JSON kind `power_w`.
        PowerW(PowerRange) = "power_w",
        /// Power between two fractions of FTP. JSON kind `power_ftp`.
        PowerFtp(FtpRange) = "power_ftp",
        /// Power moving linearly from one fraction of FTP to another over the step.
        /// JSON kind `power_ftp_ramp`.
        PowerFtpRamp(FtpRamp) = "power_ftp_ramp",
        /// Heart rate between two values. JSON kind `heart_rate`.
        HeartRate(HeartRateRange) = "heart_rate",
        /// A heart-rate zone (1–5). JSON kind `hr_zone`.
        HrZone(Zone) = "hr_zone",
        /// A power zone (1–7, Coggan). JSON kind `power_zone`.
        PowerZone(Zone) = "power_zone",
        /// No measured target: go by feel. JSON kind `open`.
        Open(Open) = "open",
    }
}

/// An absolute power range, W.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerRange {
    /// Lowest power, W.
    pub low_w: u16,
    /// Highest power, W.
    pub high_w: u16,
}

/// A power range as % of FTP.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpRange {
    /// Lowest power, % of FTP.
    #[serde(with = "crate::bounded::finite")]
    pub low_pct: f32,
    /// Highest power, % of FTP.
    #[serde(with = "crate::bounded::finite")]
    pub high_pct: f32,
}

/// A power ramp as % of FTP, from the step's start to its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpRamp {
    /// Power at the start of the step, % of FTP.
    #[serde(with = "crate::bounded::finite")]
    pub start_pct: f32,
    /// Power at the end of the step, % of FTP.
    #[serde(with = "crate::bounded::finite")]
    pub end_pct: f32,
}

/// A heart-rate range, bpm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartRateRange {
    /// Lowest heart rate, bpm.
    pub low_bpm: u16,
    /// Highest heart rate, bpm.
    pub high_bpm: u16,
}

/// A zone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone number, from 1.
    pub zone: u8,
}

/// An open target, optionally with a rate of perceived exertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    /// Rate of perceived exertion to aim for (1–10), if any.
    #[serde(default)]
    pub rpe: Option<u8>,
}
