//! Cues: what the coach tells the athlete, and how it changes the workout.
//!
//! The JSON form is a contract read by the web UI, the replay output (`cues.jsonl`) and
//! third-party tools: `{"session","t_s","severity","code","text","modification"}`, the
//! modification an object with a `kind` field and its parameters, or `null`.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::tagged::tagged_enum;

/// The longest cue text, in bytes.
pub const MAX_CUE_TEXT_BYTES: usize = 512;

/// One message to the athlete, possibly changing the workout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cue {
    /// The session the cue belongs to.
    pub session: SessionId,
    /// Seconds since the session's first sample.
    #[serde(with = "crate::bounded::finite")]
    pub t_s: f64,
    /// How urgent the cue is.
    pub severity: Severity,
    /// What the cue is about; stable across languages and releases.
    pub code: CueCode,
    /// What to say or show (at most [`MAX_CUE_TEXT_BYTES`] bytes).
    #[serde(
        serialize_with = "crate::bounded::serialize_str::<_, MAX_CUE_TEXT_BYTES>",
        deserialize_with = "crate::bounded::deserialize_str::<_, MAX_CUE_TEXT_BYTES>"
    )]
    pub text: String,
    /// The change to the workout that comes with the cue, if any.
    pub modification: Option<Modification>,
}

/// How urgent a cue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warn,
    /// A safety limit is involved; never rate-limited.
    Safety,
}

/// What a cue is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CueCode {
    /// A plan step begins.
    StepStart,
    /// A plan step ends.
    StepEnd,
    /// The athlete is above the step's target.
    AboveTarget,
    /// The athlete is below the step's target.
    BelowTarget,
    /// Heart rate is at or above the profile's cap.
    HrAboveCap,
    /// The heart-rate signal is stale, lost or without contact.
    HrSignalLost,
    /// The heart-rate signal is trustworthy again.
    HrSignalBack,
    /// A heart-rate reading looks like an artifact.
    ArtifactSuspected,
    /// W′ balance is below the warning level.
    WbalLow,
    /// W′ balance is exhausted.
    WbalEmpty,
    /// Aerobic decoupling in a steady step is above the alert level.
    DecouplingHigh,
    /// The rest of the plan was compressed to fit the time left.
    TimeBudgetCompressed,
    /// A coach changed the target.
    CoachOverride,
    /// The session ended.
    SessionEnd,
}

impl CueCode {
    /// Every code, in declaration order.
    pub const ALL: [CueCode; 14] = [
        CueCode::StepStart,
        CueCode::StepEnd,
        CueCode::AboveTarget,
        CueCode::BelowTarget,
        CueCode::HrAboveCap,
        CueCode::HrSignalLost,
        CueCode::HrSignalBack,
        CueCode::ArtifactSuspected,
        CueCode::WbalLow,
        CueCode::WbalEmpty,
        CueCode::DecouplingHigh,
        CueCode::TimeBudgetCompressed,
        CueCode::CoachOverride,
        CueCode::SessionEnd,
    ];
}

tagged_enum! {
    /// A change to the workout. JSON: an object with a `kind` field and its parameters.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Modification {
        /// Lower the current target. JSON kind `reduce_target`.
        ReduceTarget(ReduceTarget) = "reduce_target",
        /// Lengthen the current recovery. JSON kind `extend_recovery`.
        ExtendRecovery(ExtendRecovery) = "extend_recovery",
        /// Insert a recovery now. JSON kind `insert_recovery`.
        InsertRecovery(InsertRecovery) = "insert_recovery",
        /// Compress the rest of the plan. JSON kind `compress_remaining`.
        CompressRemaining(CompressRemaining) = "compress_remaining",
        ;
        /// End the current step now. JSON kind `end_step`.
        EndStep = "end_step",
        /// Skip the next step. JSON kind `skip_step`.
        SkipStep = "skip_step",
        /// Pause the workout. JSON kind `pause`.
        Pause = "pause",
    }
}

/// Parameters of [`Modification::ReduceTarget`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceTarget {
    /// By how much to lower the target, % of the current target.
    pub pct: u8,
    /// For how long, s.
    pub duration_s: u32,
}

/// Parameters of [`Modification::ExtendRecovery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendRecovery {
    /// Seconds added to the current recovery.
    pub s: u32,
}

/// Parameters of [`Modification::InsertRecovery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertRecovery {
    /// Length of the inserted recovery, s.
    pub s: u32,
}

/// Parameters of [`Modification::CompressRemaining`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressRemaining {
    /// How the plan was compressed.
    pub strategy: CompressStrategy,
    /// The total length of the remaining plan after compression, s.
    pub total_s: u32,
}

/// How a plan is compressed to fit the time the athlete has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressStrategy {
    /// Keep intensity: drop or shorten work repetitions.
    KeepIntensity,
    /// Keep volume: shorten recoveries (never below 50 % of planned or 30 s).
    KeepVolume,
    /// A mix of both (the default).
    #[default]
    Hybrid,
}
