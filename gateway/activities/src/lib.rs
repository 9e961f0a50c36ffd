//! The activity library's rules, I/O-free: what an activity adds up to, when two copies
//! are one workout, which copy each field is believed from, and what a typed value means.
//!
//! An athlete's workout may reach Paceline several times: its own live session, the head
//! unit's FIT file, Garmin's and Strava's copies, a TCX export, a line typed by hand. Each
//! is a *source copy*; the copies of one workout make one *activity*.
//!
//! - [`summary`]: a [`Recording`](paceline_formats::Recording)'s duration, moving time
//!   (speed > 0.5 m/s, power or cadence > 0; gaps > 10 s not counted), distance, ascent
//!   (2 m hysteresis), energy, heart rate and power, NP.
//! - [`load`]: TSS from power (an hour at FTP = 100), hrTSS from heart rate (an hour at
//!   threshold heart rate = 100), session-RPE (`duration_min · RPE / 6`: 60 min at RPE 7 =
//!   70), typed TSS.
//! - [`source`]: [`SourceKind`], [`SourceCopy`], [`FieldValues`]; the same copy is the same
//!   kind and external id, or the same SHA-256 of the bytes.
//! - [`matching`]: [`merge_candidate`]: the same copy, a merge (same sport family, start
//!   ±5 min, duration ±5 %, closest start wins), a new activity, or flagged for clock skew
//!   (start > 10 min in the future, or before 1990), never merged automatically.
//! - [`precedence`]: which source is believed first: device FIT file > Paceline live >
//!   Garmin > Strava > TCX/GPX file > CSV file > manual, or a tenant's own order.
//! - [`provenance`]: [`merge`] takes each field from the best copy that has it and says
//!   which; [`unmerge`] splits a copy back out.
//! - [`quantity`], [`manual`]: values as typed ("1:20:00", "10 mi" = 16,093.44 m,
//!   "500 kcal"), kept with their original text; a manual entry checked into a copy.
//!
//! Everything is shaped to be read from and written to rows: ids are the caller's row ids
//! ([`CopyId`], [`ActivityId`]), enums have `as_str`/`parse` names, values are plain
//! numbers in SI units with the unit in the name.
//!
//! **This crate does no I/O**: no files, sockets, SQL or HTTP, and no clock: the time a
//! decision depends on (`now_ms`) is an argument. It holds no athlete data either: the
//! thresholds the formulas need arrive as plain numbers ([`LoadThresholds`]). That the
//! copies it compares belong to one athlete is the caller's to ensure.

pub mod load;
pub mod manual;
pub mod matching;
pub mod precedence;
pub mod provenance;
pub mod quantity;
pub mod source;
pub mod summary;

pub use load::{Load, LoadMethod, LoadThresholds};
pub use manual::{ManualEntry, ManualEntryError, ValidManualEntry};
pub use matching::{ActivityCopies, ClockSkew, MatchDecision, merge_candidate};
pub use precedence::{Precedence, PrecedenceError, SourceClass};
pub use provenance::{Field, MergeError, MergedActivity, UnmergeError, Unmerged, merge, unmerge};
pub use quantity::{Quantity, QuantityError, QuantityKind, QuantityProblem, parse_quantity};
pub use source::{
    ActivityId, CopyId, FieldValues, FileFormat, SourceCopy, SourceKind, StoredCopy, is_same_copy,
};
pub use summary::{Summary, summarize};
