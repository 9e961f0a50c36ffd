//! Music that fits the workout: the athlete's own track library and a BPM-matched playlist
//! per workout. No streaming service: the playlist names files the athlete already has.
//!
//! - [`library`]: tracks from an M3U or CSV (bounded, errors with line numbers) or from
//!   tags the gateway read.
//! - [`mod@playlist`]: the deterministic choice of tracks filling each phase within ±30 s at
//!   the phase's tempo (or the run's cadence), as a JSON-able value and as M3U.
//! - [`phases`]: a workout plan's steps as music phases.

pub mod library;
pub mod phases;
pub mod playlist;

pub use library::{
    LibraryError, TagLibrary, TagValues, Track, library_from_tags, parse_csv, parse_m3u,
};
pub use phases::phases_from_plan;
pub use playlist::{Phase, PhaseKind, PhasePlaylist, Playlist, playlist, to_m3u};
