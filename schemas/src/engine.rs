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
    }
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
