//! Activity and workout files, I/O-free: bytes in, [`Recording`]s out, and back.
//!
//! Every reader takes a byte slice, bounds what it allocates ([`Limits`]) and returns an
//! error ([`FormatError`]) rather than panicking on any input; nothing here opens a file or
//! a socket.
//!
//! - [`recording`]: the neutral shape every format reads into and writes from.
//! - [`fit`]: FIT files — the careful fitparser walk, Paceline's own fast record reader,
//!   activities read into recordings and written from them.
//! - [`tcx`], [`gpx`], [`csv`]: the other activity formats, read and written.
//! - [`file`](mod@file): [`read_file`], any upload (gzip'd, or a zip of many) to its recordings.
//! - [`samples`]: FIT activities and CSV recordings as wire samples, for replay.
//! - [`plan_import`]: `.zwo`, FIT workout and JSON plans →
//!   [`WorkoutPlan`](paceline_schemas::WorkoutPlan).
//! - [`limits`], [`error`]: the bounds every reader keeps, and its errors.
//!
//! **Invariants.** No I/O, no clock. Every reader checks a size before it allocates by
//! it; XML is parsed with DTDs refused, so no entity is ever expanded.

pub mod csv;
pub mod error;
pub mod file;
pub mod fit;
pub mod gpx;
pub mod limits;
pub mod plan_import;
pub mod recording;
pub mod samples;
pub mod tcx;
pub mod time;
mod xml;

pub use error::FormatError;
pub use file::{FileEntry, Format, read_file};
pub use limits::Limits;
pub use recording::{Point, Recording, Sport, SportFamily, Totals};
