//! Plan importers: Zwift `.zwo`, FIT workout files and Paceline's own JSON, each turned
//! into a [`WorkoutPlan`].
//!
//! Importers take the file's name (for messages and as the fallback plan name) and its
//! bytes; they never open files. Whatever the bytes, an importer returns a plan or a
//! [`PlanImportError`] naming the file, the element and what was wrong; it never panics,
//! and it refuses a file over [`MAX_PLAN_FILE_BYTES`] before parsing it.
//!
//! **Every importer's plan obeys the same bounds** (checked once, for all formats, JSON
//! included): 1 to 500 top-level entries, repeat counts 1 to 200, 1 to 500 steps in a
//! repeat block, each step 1 s to 24 h, the whole plan (repeats expanded) at most 24 h,
//! %FTP between 0 and 500 (5.0 × FTP), power at most 3000 W, heart rate 1 to 250 bpm,
//! cadence 1 to 250 rpm, heart-rate zones 1 to 5, power zones 1 to 7, RPE 1 to 10, and
//! every range's low end at or below its high end. A name, description or step text
//! longer than 1024 bytes is **cut** at the last character boundary within 1024 bytes
//! (JSON plans, our own format, are refused instead).
//!
//! # `.zwo` ([`import_zwo`])
//! `<workout_file>` with `<name>` (missing or empty: the file name without its
//! extension), `<description>`, `<sportType>` (`bike` → bike, `run` → run, missing →
//! bike, anything else → other) and `<workout>`. Other children of `<workout_file>`
//! (author, tags, category) are ignored. Each child of `<workout>` becomes one entry;
//! element and attribute names are matched without regard to ASCII case. Power values are
//! fractions of FTP (0.88 → 88 %FTP); durations are seconds, rounded to whole seconds.
//!
//! | element | step |
//! |---|---|
//! | `Warmup`, `Cooldown` | intent warm-up / cool-down, `PowerLow`→`PowerHigh` as a %FTP ramp |
//! | `Ramp` | the same ramp; intent work, or recovery when both ends are below 0.60 |
//! | `SteadyState` | `Power` as a one-value %FTP range, or `PowerLow`–`PowerHigh` as a range; intent work when the power (a range's midpoint) is at least 0.60, else recovery |
//! | `IntervalsT` | a repeat block of `Repeat` × [work `OnDuration` at `OnPower`, recovery `OffDuration` at `OffPower`]; `PowerOnLow`/`PowerOnHigh` and `PowerOffLow`/`PowerOffHigh` give ranges; `Cadence` is the work cadence, `CadenceResting` the recovery one |
//! | `FreeRide` | intent free, open target (`FlatRoad` ignored) |
//! | `MaxEffort` | intent work, open target at RPE 10 |
//!
//! `Cadence`, or `CadenceLow`–`CadenceHigh`, sets the step's cadence. `HeartRateLow` /
//! `HeartRateHigh` (bpm; one alone means both) give a heart-rate target to a `Warmup`,
//! `Cooldown`, `Ramp` or `SteadyState` without power attributes, and to a `FreeRide`
//! (instead of the open target): **when power and heart rate are both given, power wins**
//! and the heart rate is not kept. `IntervalsT` needs its powers; `MaxEffort` stays open.
//! `<textevent timeoffset="…" message="…"/>` children (also `<TextEvent>`) are joined with
//! " / " in time order into the step's text; in an `IntervalsT` they all go on the work
//! step. Any other element inside `<workout>` or inside a step is an error naming it: a
//! step is never dropped silently. Zwift reads `Power` in run workouts as a fraction of
//! threshold pace; Paceline keeps it as %FTP (running power).
//!
//! # FIT workout files ([`import_fit_workout`])
//! The `workout` message gives the name (`wkt_name`; missing: the file stem), the
//! description (`wkt_description`) and the sport (cycling → bike, running → run, other
//! sports → other, missing → bike); each `workout_step` message, in file order, gives one
//! step (a `message_index` that disagrees with that order is an error). Fields are read
//! by number with the FIT profile's units, so the reading does not depend on how a
//! decoder names sub-fields.
//!
//! - **Intensity**: warmup → warm-up, cooldown → cool-down, rest and recovery → recovery,
//!   active and interval → work, other → free; missing or unknown → work (FIT's default is
//!   active).
//! - **Duration**: `time` (and `repetition_time`, `time_only`) → seconds. Any other end
//!   condition (open/lap press, distance, calories, heart rate or power above/below a
//!   value, TSS, reps) cannot be timed in advance: the step is **planned as 5 minutes**
//!   and its text says so, e.g. "until lap press; planned as 5 min".
//! - **Targets**: power zones 1–7 → power zone; a custom power range is %FTP for values up
//!   to 1000 and watts + 1000 above; heart-rate zones 1–5 → heart-rate zone; a custom
//!   heart-rate range above 100 is bpm + 100, and one of 100 or less is %HRmax, which needs
//!   the athlete's profile to resolve, so it **becomes the heart-rate zone holding the
//!   range's midpoint** in the 5-zone %HRmax model (zone 2 from 60 %, 3 from 70 %, 4 from
//!   80 %, 5 from 90 %); a range mixing % and absolute values is an error. A cadence target
//!   (primary or secondary; other secondary targets are ignored) → the step's cadence,
//!   with an open target when it is the primary one. Speed, grade, resistance and
//!   swim-stroke targets have no Paceline form: the target is open and the text names the
//!   original target. Open or missing → open.
//! - **Repeats**: `repeat_until_steps_cmplt` (go back to step `duration_value`,
//!   `target_value` times in all) wraps the steps from that one to the step before into a
//!   repeat block. Repeat blocks do not nest in a Paceline plan, so **a repeat inside a
//!   repeat is expanded** (its steps written out count times) within the outer block.
//!   `repeat_until_time` plans as many passes as it takes to reach the time (1 to 200);
//!   every other condition (heart rate, power, distance, calories, TSS) is **planned as
//!   one pass** and the block's first step says so. A repeat pointing forward, at itself,
//!   or into the middle of another repeat is an error naming the step.
//! - Files whose first `file_id` says they are not workouts (activities, settings …) are
//!   refused as "a FIT file but holds no workout". Developer data fields are refused.
//!
//! # JSON ([`import_json`])
//! [`WorkoutPlan`] in Paceline's JSON form, read with
//! [`paceline_schemas::codec::from_json`] (at most 1 MiB); syntax and schema errors name the
//! line and column, then the plan is held to the bounds above.

mod bounds;
mod fit_workout;
mod json;
mod zwo;

use std::fmt;

use paceline_schemas::WorkoutPlan;

pub use fit_workout::import_fit_workout;
pub use json::import_json;
pub use zwo::import_zwo;

/// The largest plan file any importer reads, in bytes.
pub const MAX_PLAN_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The file formats a plan can be imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanFormat {
    /// Zwift workout XML (`.zwo`).
    Zwo,
    /// A FIT file of type workout (`.fit`).
    FitWorkout,
    /// Paceline's own plan JSON (`.json`).
    Json,
}

impl PlanFormat {
    /// Picks the format from the file name's extension (`.zwo`, `.fit`, `.json`, in any
    /// case), else from the bytes: `.FIT` at offset 8 is FIT, a first non-blank `<` is
    /// XML (taken as `.zwo`), a first non-blank `{` is JSON. `None` when neither tells.
    pub fn detect(file_name: &str, bytes: &[u8]) -> Option<PlanFormat> {
        let extension = file_name
            .rsplit_once('.')
            .map(|(_, extension)| extension.to_ascii_lowercase());
        match extension.as_deref() {
            Some("zwo") => return Some(PlanFormat::Zwo),
            Some("fit") => return Some(PlanFormat::FitWorkout),
            Some("json") => return Some(PlanFormat::Json),
            _ => {}
        }
        if bytes.get(8..12) == Some(b".FIT".as_slice()) {
            return Some(PlanFormat::FitWorkout);
        }
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match text.iter().find(|byte| !byte.is_ascii_whitespace()) {
            Some(b'<') => Some(PlanFormat::Zwo),
            Some(b'{') => Some(PlanFormat::Json),
            _ => None,
        }
    }
}

/// Imports a plan in whichever format [`PlanFormat::detect`] finds.
pub fn import_plan(file_name: &str, bytes: &[u8]) -> Result<WorkoutPlan, PlanImportError> {
    check_file_size(file_name, bytes)?;
    match PlanFormat::detect(file_name, bytes) {
        Some(PlanFormat::Zwo) => import_zwo(file_name, bytes),
        Some(PlanFormat::FitWorkout) => import_fit_workout(file_name, bytes),
        Some(PlanFormat::Json) => import_json(file_name, bytes),
        None => Err(PlanImportError::new(
            file_name,
            "",
            ImportReason::UnknownFormat,
        )),
    }
}

/// Why a plan file could not be imported, and where.
///
/// Displays as `file: element: reason`, e.g. `sweet.zwo: workout/SteadyState[3] (line 9):
/// attribute Duration "abc" is not a number of seconds`, or `file: reason` when the
/// whole file is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanImportError {
    /// The file name the caller gave.
    pub file_name: String,
    /// The part of the file at fault: an XML element with its 1-based position and line, a
    /// FIT `workout_step` with its index, a JSON line and column or path; empty when the
    /// whole file is at fault.
    pub element: String,
    /// What was wrong.
    pub reason: ImportReason,
}

impl PlanImportError {
    pub(crate) fn new(file_name: &str, element: impl Into<String>, reason: ImportReason) -> Self {
        PlanImportError {
            file_name: file_name.to_owned(),
            element: element.into(),
            reason,
        }
    }
}

impl fmt::Display for PlanImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.element.is_empty() {
            write!(f, "{}: {}", self.file_name, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file_name, self.element, self.reason)
        }
    }
}

/// What was wrong with a plan file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportReason {
    /// The file is over the size limit.
    #[error("{len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Its length, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// Neither the name nor the bytes show a known format.
    #[error("neither the name nor the content shows a .zwo, FIT or JSON plan")]
    UnknownFormat,
    /// The bytes are not well-formed XML, FIT or JSON, or not valid for the plan schema.
    #[error("{detail}")]
    Malformed {
        /// What the parser reported.
        detail: String,
    },
    /// A readable FIT file of another type (activity, settings …).
    #[error("is a FIT file but holds no workout (file type {file_type})")]
    NotAWorkout {
        /// The FIT file type found.
        file_type: String,
    },
    /// Something required is absent.
    #[error("missing {what}")]
    Missing {
        /// What, e.g. `attribute Duration`.
        what: String,
    },
    /// An element the importer does not know, where a step was expected.
    #[error("unknown element <{name}>; expected {expected}")]
    UnknownElement {
        /// The element's name.
        name: String,
        /// The elements allowed there.
        expected: &'static str,
    },
    /// A value that does not parse as the number it should be.
    #[error("{what} \"{value}\" is not {expected}")]
    NotANumber {
        /// Which value, e.g. `attribute Duration`.
        what: String,
        /// The text found.
        value: String,
        /// What it should be, e.g. `a number of seconds`.
        expected: &'static str,
    },
    /// A number outside its allowed range.
    #[error("{what} {value} is out of range ({allowed})")]
    OutOfRange {
        /// Which value.
        what: String,
        /// The value found.
        value: String,
        /// The allowed range.
        allowed: String,
    },
    /// A FIT repeat step that cannot be followed.
    #[error("{detail}")]
    BadRepeat {
        /// What is wrong with it, e.g. `repeat points forward to step 5`.
        detail: String,
    },
    /// Values that contradict each other (a range whose low end is above its high end, a
    /// range mixing %HRmax and bpm).
    #[error("{detail}")]
    Inconsistent {
        /// What contradicts what.
        detail: String,
    },
    /// A feature of the format this importer does not read.
    #[error("{what} are not supported")]
    Unsupported {
        /// What, e.g. `developer data fields`.
        what: String,
    },
    /// More entries than a plan may hold.
    #[error("more than {max} {what}")]
    TooManySteps {
        /// What was counted, e.g. `top-level steps`.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The plan would have no steps.
    #[error("the workout has no steps")]
    NoSteps,
}

fn check_file_size(file_name: &str, bytes: &[u8]) -> Result<(), PlanImportError> {
    if bytes.len() > MAX_PLAN_FILE_BYTES {
        return Err(PlanImportError::new(
            file_name,
            "",
            ImportReason::TooLarge {
                len: bytes.len(),
                max: MAX_PLAN_FILE_BYTES,
            },
        ));
    }
    Ok(())
}

/// The file name without directories and without its last extension: the plan's name
/// when the file gives none.
fn file_stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => base,
    }
}
