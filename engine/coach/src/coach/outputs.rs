//! What a [`Coach`](super::Coach) gives back: its outputs, its live snapshot, and why it
//! could not be set up.

use paceline_schemas::plan::StepIntent;
use paceline_schemas::{Cue, SessionSummary};

use crate::safety::RaiseBlock;
use crate::signal::HrQuality;
use crate::target::EffectiveTarget;
use crate::workout::WorkoutError;
use crate::zones::ProfileError;

/// Why a coach could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoachError {
    /// The athlete profile is inconsistent.
    #[error("athlete profile: {0}")]
    Profile(#[from] ProfileError),
    /// The plan cannot be ridden.
    #[error("workout plan: {0}")]
    Workout(#[from] WorkoutError),
}

/// What the coach says or changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A cue for the athlete (and the coach's screen).
    Cue(Cue),
    /// The target or the step changed.
    Target(TargetUpdate),
    /// The session ended; its summary. Always the last output.
    Summary(SessionSummary),
}

/// The target in force from now on.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetUpdate {
    /// Seconds since the session's first input.
    pub t_s: f64,
    /// The target the athlete should hold.
    pub target: EffectiveTarget,
    /// The step it belongs to (`None` without a plan or after its end).
    pub step: Option<StepStatus>,
    /// Set when the plan asks for more but safety holds the target down.
    pub held: Option<RaiseBlock>,
}

/// Where the athlete is in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStatus {
    /// Index in the expanded workout.
    pub index: usize,
    /// What the step is for.
    pub intent: StepIntent,
    /// Spoken name, e.g. "Work 2 of 5".
    pub label: String,
    /// Its length now, s.
    pub duration_s: u32,
    /// Time spent in it, s.
    pub elapsed_s: u32,
}

/// A snapshot of the session for live boards.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    /// Seconds since the session's first input.
    pub t_s: f64,
    /// Last usable heart rate, bpm.
    pub hr_bpm: Option<f64>,
    /// Smoothed heart rate, bpm.
    pub hr_ema_bpm: Option<f64>,
    /// Heart-rate signal quality.
    pub hr_quality: HrQuality,
    /// Heart-rate zone (1–5).
    pub hr_zone: Option<u8>,
    /// Heart rate as a percentage of HRmax.
    pub hr_pct_max: Option<f64>,
    /// 3-second mean power, W.
    pub power_3s_w: Option<f64>,
    /// 30-second mean power, W.
    pub power_30s_w: Option<f64>,
    /// Power zone (1–7) of the 3-second mean.
    pub power_zone: Option<u8>,
    /// Last cadence, rpm (or steps/min running).
    pub cadence: Option<f64>,
    /// W′ balance, J.
    pub wbal_j: Option<f64>,
    /// W′ balance as a fraction of W′.
    pub wbal_fraction: Option<f64>,
    /// The current step.
    pub step: Option<StepStatus>,
    /// The target in force.
    pub target: EffectiveTarget,
    /// Why a raise is held back, if it is.
    pub raise_block: Option<RaiseBlock>,
    /// Whether the plan clock is paused.
    pub paused: bool,
    /// Time left in the plan, s.
    pub remaining_plan_s: u64,
    /// Whether the session has ended.
    pub ended: bool,
}
