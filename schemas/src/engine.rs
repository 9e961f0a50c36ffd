//! Records exchanged between engine workers, which may be separate processes (timely's
//! cluster mode serializes them with bincode).
//!
//! The engine's dataflow carries a [`EngineRecord`] per input and a [`SessionOutput`] per
//! output. Nothing here is sent to devices or browsers; it is still defined here because
//! it crosses a process boundary.

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::cue::Cue;
use crate::ids::SessionId;
use crate::plan::WorkoutPlan;
use crate::profile::AthleteProfile;
use crate::sample::Sample;
use crate::summary::SessionSummary;
use crate::tagged::tagged_enum;

tagged_enum! {
    /// One input to the engine.
    #[derive(Debug, Clone, PartialEq)]
    pub enum EngineRecord {
        /// Something for one session's coach.
        Session(SessionInput) = "session",
        /// The clock moved on: fire due timeouts of every session on the receiving worker.
        Tick(Tick) = "tick",
    }
}

/// An input for one session, with the time it reached the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The session it belongs to.
    pub session: SessionId,
    /// Arrival time on the engine's clock, ms.
    pub now_ms: u64,
    /// What happened.
    pub event: SessionEvent,
}

tagged_enum! {
    /// What happened in a session.
    #[derive(Debug, Clone, PartialEq)]
    pub enum SessionEvent {
        /// The session starts: who rides what. Must come first.
        Open(SessionSetup) = "open",
        /// A sensor sample.
        Sample(Sample) = "sample",
        /// A command (coach override, time left, pause, …, end).
        Command(SessionCommand) = "command",
    }
}

/// Who rides what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSetup {
    /// The athlete.
    pub profile: AthleteProfile,
    /// The planned workout, if any.
    pub plan: Option<WorkoutPlan>,
}

/// A command for a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCommand {
    /// The command.
    pub command: Command,
}

/// The engine's clock reading sent to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    /// Now, on the engine's clock, ms.
    pub now_ms: u64,
}

/// One output of one session's coach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionOutput {
    /// The session.
    pub session: SessionId,
    /// Position among this session's outputs, from 0: restores per-session order after
    /// outputs from many workers are merged.
    pub seq: u64,
    /// The output.
    pub output: OutputBody,
}

tagged_enum! {
    /// What a coach produced.
    #[derive(Debug, Clone, PartialEq)]
    pub enum OutputBody {
        /// A cue.
        Cue(Cue) = "cue",
        /// The summary, after the session ended.
        Summary(SessionSummary) = "summary",
        /// The session could not be coached (bad profile or plan); nothing else follows.
        Rejected(Rejection) = "rejected",
        /// A snapshot of the coach's state for live boards, at most once per interval of
        /// input time (live engines only). It carries the seq of the output that follows
        /// and does not count as one.
        Status(SessionStatus) = "status",
    }
}

/// Heart-rate signal quality as a live board shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalQuality {
    /// Never seen a reading.
    Unknown,
    /// A recent usable reading.
    Fresh,
    /// The last usable reading is getting old.
    Stale,
    /// Nothing from the sensor for too long.
    Lost,
    /// The strap reports no skin contact.
    ContactOff,
    /// Readings look like artifacts.
    Artifact,
}

/// What a target is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetUnit {
    /// Watts.
    Watts,
    /// Beats per minute.
    Bpm,
}

/// The target in force, as a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetBand {
    /// Unit of the bounds.
    pub unit: TargetUnit,
    /// Lower bound.
    pub low: u16,
    /// Upper bound.
    pub high: u16,
}

/// The current step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepState {
    /// Index in the expanded workout.
    pub index: u32,
    /// What it is for.
    pub intent: crate::plan::StepIntent,
    /// Spoken name, e.g. "Work 2 of 5".
    #[serde(
        serialize_with = "crate::bounded::serialize_str::<_, { crate::plan::MAX_PLAN_TEXT_BYTES }>",
        deserialize_with = "crate::bounded::deserialize_str::<_, { crate::plan::MAX_PLAN_TEXT_BYTES }>"
    )]
    pub label: String,
    /// Its length now, s.
    pub duration_s: u32,
    /// Time spent in it, s.
    pub elapsed_s: u32,
}

/// A coach's state, for live boards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStatus {
    /// Seconds since the session's first input.
    pub t_s: f64,
    /// Last usable heart rate, bpm.
    pub hr_bpm: Option<f64>,
    /// Heart-rate signal quality.
    pub hr_quality: SignalQuality,
    /// Heart-rate zone, 1–5.
    pub hr_zone: Option<u8>,
    /// Heart rate as % of HRmax.
    pub hr_pct_max: Option<f64>,
    /// 3-second mean power, W.
    pub power_3s_w: Option<f64>,
    /// Power zone, 1–7.
    pub power_zone: Option<u8>,
    /// Cadence, rpm (steps/min running).
    pub cadence: Option<f64>,
    /// W′ balance, J.
    pub wbal_j: Option<f64>,
    /// W′ balance as a fraction of W′.
    pub wbal_fraction: Option<f64>,
    /// The current step.
    pub step: Option<StepState>,
    /// The target in force (`None`: by feel).
    pub target: Option<TargetBand>,
    /// Whether raises are held back (heart rate untrusted or near the cap).
    pub raise_blocked: bool,
    /// Whether the plan clock is paused.
    pub paused: bool,
    /// Time left in the plan, s.
    pub remaining_plan_s: u64,
}

/// Why a session could not be coached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// What was wrong, for people.
    #[serde(
        serialize_with = "crate::bounded::serialize_str::<_, 1024>",
        deserialize_with = "crate::bounded::deserialize_str::<_, 1024>"
    )]
    pub reason: String,
}
