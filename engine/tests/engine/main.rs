//! The engine's behaviour: the same cues whatever runs the coaches, and clear errors for
//! bad recordings.
//!
//! - `parity`: bare coaches, the dataflow with 1 and 4 workers, and 2 processes over
//!   loopback give identical outputs.
//! - `inputs`: every shared FIT file replays or fails clearly; decoded heart rates match
//!   the reference CSVs; bad CSV rows are named by line.
//! - `live`: the live engine answers pushed samples and times out silent sessions.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test data are small numbers"
)]

mod inputs;
mod live;
mod parity;

use std::path::PathBuf;

/// A file under `../shared/data`.
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).join(path)
}

/// The shared example profile.
pub fn profile() -> paceline_schemas::AthleteProfile {
    let bytes = std::fs::read(shared("plans/athlete-profile.json")).expect("profile readable");
    paceline_schemas::codec::from_json(&bytes).expect("profile parses")
}

/// A shared plan, imported.
pub fn plan(name: &str) -> paceline_schemas::WorkoutPlan {
    let bytes = std::fs::read(shared(&format!("plans/{name}"))).expect("plan readable");
    paceline_formats::plan_import::import_plan(name, &bytes).expect("plan imports")
}
