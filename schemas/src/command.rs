//! Commands to a running session: from a coach, the athlete or the platform.

use serde::{Deserialize, Serialize};

use crate::plan::Target;
use crate::tagged::tagged_enum;

tagged_enum! {
    /// A command to a session's coach. JSON: an object with a `kind` field.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Command {
        /// A coach replaces the current step's target. JSON kind `override_target`.
        OverrideTarget(OverrideTarget) = "override_target",
        /// The athlete has this many minutes left. JSON kind `time_left`.
        TimeLeft(TimeLeft) = "time_left",
        ;
        /// Pause the workout clock. JSON kind `pause`.
        Pause = "pause",
        /// Resume after a pause. JSON kind `resume`.
        Resume = "resume",
        /// Skip the current step. JSON kind `skip_step`.
        SkipStep = "skip_step",
        /// End the session. JSON kind `end`.
        End = "end",
    }
}

/// Parameters of [`Command::OverrideTarget`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideTarget {
    /// The new target.
    pub target: Target,
    /// How long the override holds, s; `None` until the end of the current step.
    pub duration_s: Option<u32>,
}

/// Parameters of [`Command::TimeLeft`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLeft {
    /// Minutes the athlete has left for the rest of the workout.
    pub minutes: u32,
}
