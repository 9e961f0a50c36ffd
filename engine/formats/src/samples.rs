//! Recorded activities as samples, for replay: FIT activity files (via
//! [`fit::records`](crate::fit::records), with fitparser as the reference) and CSV files with
//! the header `time_s,heart_rate,power,cadence,speed` (an empty cell is a missing value).
//!
//! Every record with a heart rate becomes a heart-rate sample; power (with cadence and
//! speed) becomes a cycling-power sample; without power, a running activity's cadence and
//! speed become a running sample and anything else a speed/cadence sample. Sample times
//! are the record times in milliseconds.
//!
//! TCX and GPX activities, and CSV files as [`csv`](crate::csv) writes them, are read
//! into a [`Recording`] and turned into samples the same way ([`from_recording`]).
//!
//! Decoding is all-or-nothing: a file that fails part-way gives an error naming the byte
//! offset (FIT) or line (CSV) and no samples, so a replay never coaches half a file.

use crate::fit::walk::{self as fit_file, DeveloperFields, FitWalkError};
use fitparser::Value;
use fitparser::profile::MesgNum;
use paceline_schemas::sample::{
    Contact, CyclingPower, HeartRate, RunningSpeedCadence, Sample, SampleValue, SpeedCadence,
};

use crate::fit::records::{self as fit_records, ActivityFields};
use crate::{Format, FormatError, Limits, Recording, SportFamily, gpx, tcx};

/// Largest activity file read, bytes (a 24-hour recording at 1 Hz is about 5 MB).
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024 * 1024;

/// Why a recording could not be read. The caller adds the file's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActivityError {
    /// The FIT data is corrupt or truncated.
    #[error("FIT data unreadable at byte {offset}: {reason}")]
    Fit {
        /// Byte offset where decoding failed.
        offset: usize,
        /// What the decoder said.
        reason: String,
    },
    /// A valid FIT file without activity records (e.g. settings or a workout).
    #[error("a FIT file without activity records (holds: {holds}); replay needs an activity")]
    NotAnActivity {
        /// The message kinds it does hold.
        holds: String,
    },
    /// A CSV row or header that does not parse.
    #[error("line {line}: {reason}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file is larger than [`MAX_ACTIVITY_BYTES`].
    #[error("{bytes} bytes is more than the {MAX_ACTIVITY_BYTES} an activity may have")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// A TCX, GPX or exported CSV recording that does not read.
    #[error("{0}")]
    Recording(#[from] FormatError),
    /// Neither FIT, TCX, GPX nor CSV.
    #[error(
        "neither a FIT, TCX or GPX file nor a CSV with the header time_s,heart_rate,power,cadence,speed"
    )]
    UnknownFormat,
}

/// Reads a recording, FIT, TCX, GPX or CSV by its content.
pub fn decode_activity(bytes: &[u8]) -> Result<Vec<Sample>, ActivityError> {
    decode_activity_samples(bytes).map(Iterator::collect)
}

/// [`decode_activity`], its samples made one at a time as they are taken (a FIT file's
/// records are kept, 32 bytes each, rather than its samples, over 100 bytes each: a
/// one-file replay touches a third of the memory, and a fresh page costs more than the
/// coaching of what it holds). The same samples in the same order.
pub fn decode_activity_samples(bytes: &[u8]) -> Result<ActivitySamples, ActivityError> {
    if bytes.len() > MAX_ACTIVITY_BYTES {
        return Err(ActivityError::TooLarge { bytes: bytes.len() });
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = &text[text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len())..];
    if bytes.len() >= 12 && &bytes[8..12] == b".FIT" {
        decode_fit_samples(bytes)
    } else if text.starts_with(b"<") || text.starts_with(b"# ") {
        let limits = Limits::default();
        let recording = match crate::file::detect("", bytes) {
            Some(Format::Tcx) => tcx::read_recording(bytes, &limits)?,
            Some(Format::Gpx) => gpx::read_recording(bytes, &limits)?,
            Some(Format::Csv) => crate::csv::read_recording(bytes, &limits)?,
            _ => return Err(ActivityError::UnknownFormat),
        };
        Ok(from_recording(&recording).into())
    } else if bytes.starts_with(b"time_s") || bytes.starts_with(b"\xEF\xBB\xBFtime_s") {
        decode_csv(bytes).map(ActivitySamples::from)
    } else if bytes
        .first()
        .is_some_and(|&b| usize::from(b) == 12 || usize::from(b) == 14)
    {
        // Looks like a FIT header with a damaged signature: say where, as FIT.
        decode_fit_samples(bytes)
    } else if std::str::from_utf8(&bytes[..bytes.len().min(256)]).is_ok() {
        // Text: a CSV, perhaps with the wrong header; the CSV reader says what is wrong.
        decode_csv(bytes).map(ActivitySamples::from)
    } else {
        Err(ActivityError::UnknownFormat)
    }
}

#[derive(Debug, Default)]
struct Record {
    t_ms: u64,
    heart_rate: Option<u16>,
    power_w: Option<i16>,
    cadence: Option<f32>,
    speed_mps: Option<f32>,
}

/// Seconds from the Unix epoch to FIT's (1989-12-31T00:00:00Z).
const FIT_EPOCH_UNIX_S: u64 = 631_065_600;
const MESG_SPORT: u16 = 12;
const MESG_SESSION: u16 = 18;
const MESG_LAP: u16 = 19;
const MESG_RECORD: u16 = 20;
const FIELD_TIMESTAMP: u8 = 253;
const SPORT_RUNNING: u64 = 1;

/// Reads a FIT activity. Fields are read raw, by number (record: 253 timestamp, 3 heart
/// rate, 4 cadence, 6 speed, 7 power, 73 enhanced speed; the sport of session, lap and
/// sport messages), and compressed timestamps are resolved here.
///
/// The reader is Paceline's own ([`fit::records`](crate::fit::records)). When it stops — bad bytes, or a case
/// only fitparser can settle — the file is read again by [`decode_fit_reference`], which
/// gives the result and words the error, so both readers always give the same answer.
pub fn decode_fit(bytes: &[u8]) -> Result<Vec<Sample>, ActivityError> {
    decode_fit_samples(bytes).map(Iterator::collect)
}

/// [`decode_fit`], its samples made as they are taken.
fn decode_fit_samples(bytes: &[u8]) -> Result<ActivitySamples, ActivityError> {
    // The reader has no known panic; should one appear, the reference still answers.
    match std::panic::catch_unwind(|| read_activity(bytes)) {
        Ok(Ok(activity)) => activity.into_samples(),
        Ok(Err(FastError::NotAnActivity(e))) => Err(e),
        Ok(Err(FastError::Stopped)) | Err(_) => decode_fit_reference(bytes).map(Into::into),
    }
}

/// Reads a FIT activity through fitparser ([`walk`](crate::fit::walk::walk)) into the
/// same samples as [`decode_fit`]: the reference its reader is tested against, and what
/// words its errors.
pub fn decode_fit_reference(bytes: &[u8]) -> Result<Vec<Sample>, ActivityError> {
    // The walk checks what is known to upset fitparser; a panic from anything else in it
    // is still turned into an error naming the file's position, never a crash.
    let walked = std::panic::catch_unwind(|| walk_activity(bytes));
    match walked {
        Ok(result) => result,
        Err(_) => Err(ActivityError::Fit {
            offset: 0,
            reason: "the FIT decoder failed on this file".to_owned(),
        }),
    }
}

/// [`decode_fit`] without the reference: `None` where Paceline's reader stops and
/// `decode_fit` would read the file again with fitparser. For tests and benchmarks.
pub fn decode_fit_own_reader(bytes: &[u8]) -> Option<Result<Vec<Sample>, ActivityError>> {
    match std::panic::catch_unwind(|| read_activity(bytes)) {
        Ok(Ok(activity)) => Some(activity.into_samples().map(Iterator::collect)),
        Ok(Err(FastError::NotAnActivity(e))) => Some(Err(e)),
        Ok(Err(FastError::Stopped)) | Err(_) => None,
    }
}

/// How the fast reader ended when it gave no samples.
enum FastError {
    /// A well-formed FIT file that is not an activity: the answer.
    NotAnActivity(ActivityError),
    /// The reader stopped; the reference must answer.
    Stopped,
}

fn read_activity(bytes: &[u8]) -> Result<ActivityMessages, FastError> {
    let mut activity = ActivityMessages::default();
    fit_records::read(bytes, |message| {
        activity.visit(
            message.global,
            message.time_offset,
            message.offset,
            &message.fields,
        )
    })
    .map_err(|_| FastError::Stopped)?;
    activity.check().map_err(FastError::NotAnActivity)?;
    Ok(activity)
}

fn walk_activity(bytes: &[u8]) -> Result<Vec<Sample>, ActivityError> {
    let mut activity = ActivityMessages::default();
    let walked = fit_file::walk(bytes, DeveloperFields::Accept, |message| {
        let fields = message.fields;
        let mut read = ActivityFields {
            timestamp: raw(fields, FIELD_TIMESTAMP),
            ..ActivityFields::default()
        };
        match message.global {
            MESG_RECORD => {
                read.heart_rate = raw(fields, 3);
                read.cadence = raw(fields, 4);
                read.speed = raw(fields, 6);
                read.power = raw(fields, 7);
                read.enhanced_speed = raw(fields, 73);
            }
            MESG_SESSION => read.sport = raw(fields, 5),
            MESG_LAP => read.sport = raw(fields, 25),
            MESG_SPORT => read.sport = raw(fields, 0),
            _ => {}
        }
        activity.visit(message.global, message.time_offset, message.offset, &read)
    });
    match walked {
        Ok(()) => {}
        Err(FitWalkError::Malformed { offset, detail }) => {
            return Err(ActivityError::Fit {
                offset,
                reason: detail,
            });
        }
        Err(FitWalkError::DeveloperFields { offset }) => {
            return Err(ActivityError::Fit {
                offset,
                reason: "developer fields refused".to_owned(),
            });
        }
        Err(FitWalkError::Visit(e)) => return Err(e),
    }
    activity.finish()
}

/// An activity's data messages as they are read, whichever reader reads them.
#[derive(Default)]
struct ActivityMessages {
    /// Records with at least one value.
    records: Vec<Record>,
    /// Whether any record message was seen (with values or not).
    saw_record: bool,
    running: bool,
    /// The message kinds seen, for the error of a file without records (a handful).
    kinds: Vec<u16>,
    /// The last full timestamp, FIT seconds.
    base_timestamp: u64,
}

impl ActivityMessages {
    fn visit(
        &mut self,
        global: u16,
        time_offset: Option<u8>,
        offset: usize,
        fields: &ActivityFields,
    ) -> Result<(), ActivityError> {
        let out_of_range = || ActivityError::Fit {
            offset,
            reason: "a timestamp out of range".to_owned(),
        };
        if let Some(t) = fields.timestamp {
            self.base_timestamp = t;
        } else if let Some(time_offset) = time_offset {
            // A compressed timestamp: the low five bits roll over from the last full one.
            let time_offset = u64::from(time_offset & 0x1F);
            let mut t = (self.base_timestamp & !0x1F) + time_offset;
            if time_offset < (self.base_timestamp & 0x1F) {
                t = t.checked_add(0x20).ok_or_else(out_of_range)?;
            }
            self.base_timestamp = t;
        }
        if self.kinds.last() != Some(&global) && !self.kinds.contains(&global) {
            self.kinds.push(global);
        }
        match global {
            MESG_RECORD => {
                self.saw_record = true;
                let speed = fields
                    .enhanced_speed
                    .or(fields.speed)
                    .map(|mm_s| mm_s as f64 / 1000.0);
                let record = Record {
                    t_ms: 0,
                    heart_rate: fields
                        .heart_rate
                        .and_then(|b| u16::try_from(b).ok())
                        .filter(|&b| b > 0 && b < 255),
                    power_w: fields
                        .power
                        .filter(|&w| w < 0xFFFF)
                        .and_then(|w| i16::try_from(w).ok()),
                    cadence: fields
                        .cadence
                        .filter(|&c| c < 0xFF)
                        .map(|c| f32_of(c as f64)),
                    speed_mps: speed.map(f32_of),
                };
                // A record without values gives no sample, whatever the sport.
                if record.heart_rate.is_some()
                    || record.power_w.is_some()
                    || record.cadence.is_some()
                    || record.speed_mps.is_some()
                {
                    let t_ms = self
                        .base_timestamp
                        .checked_add(FIT_EPOCH_UNIX_S)
                        .and_then(|s| s.checked_mul(1000))
                        .ok_or_else(out_of_range)?;
                    self.records.push(Record { t_ms, ..record });
                }
            }
            MESG_SESSION | MESG_LAP | MESG_SPORT if fields.sport == Some(SPORT_RUNNING) => {
                self.running = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<Sample>, ActivityError> {
        self.into_samples().map(Iterator::collect)
    }

    /// Whether what was read is an activity (records, and a time).
    fn check(&self) -> Result<(), ActivityError> {
        if !self.saw_record || self.base_timestamp == 0 {
            let holds = self
                .kinds
                .iter()
                .map(|&k| MesgNum::from(k).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ActivityError::NotAnActivity { holds });
        }
        Ok(())
    }

    fn into_samples(self) -> Result<ActivitySamples, ActivityError> {
        self.check()?;
        let running = self.running;
        let left = self.records.iter().map(samples_in).sum();
        Ok(ActivitySamples(Source::Records {
            records: self.records.into_iter(),
            running,
            next: Vec::with_capacity(2),
            left,
        }))
    }
}

/// A recording's samples, in the order [`decode_activity`] gives them, made one at a time
/// (from a FIT file's records) or already made (other formats).
#[derive(Debug)]
pub struct ActivitySamples(Source);

#[derive(Debug)]
enum Source {
    Records {
        records: std::vec::IntoIter<Record>,
        running: bool,
        /// The current record's samples still to give, last first (at most two).
        next: Vec<Sample>,
        /// Samples still to give, these included.
        left: usize,
    },
    Samples(std::vec::IntoIter<Sample>),
}

impl ActivitySamples {
    /// Whether there are no samples (left).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first sample's time, ms (`None` without samples).
    pub fn first_ms(&self) -> Option<u64> {
        match &self.0 {
            Source::Records { records, next, .. } => next
                .last()
                .map(|s| s.t_ms)
                .or_else(|| records.as_slice().first().map(|r| r.t_ms)),
            Source::Samples(samples) => samples.as_slice().first().map(|s| s.t_ms),
        }
    }

    /// The last sample's time, ms (`None` without samples).
    pub fn last_ms(&self) -> Option<u64> {
        match &self.0 {
            Source::Records { records, next, .. } => records
                .as_slice()
                .last()
                .map(|r| r.t_ms)
                .or_else(|| next.first().map(|s| s.t_ms)),
            Source::Samples(samples) => samples.as_slice().last().map(|s| s.t_ms),
        }
    }

    /// The same samples in time order: as they are when they already are (the usual case),
    /// else made and sorted (stably: samples of one time keep their order).
    pub fn into_time_order(self) -> ActivitySamples {
        let sorted = match &self.0 {
            Source::Records { records, next, .. } => {
                next.is_empty() && records.as_slice().is_sorted_by_key(|r| r.t_ms)
            }
            Source::Samples(samples) => samples.as_slice().is_sorted_by_key(|s| s.t_ms),
        };
        if sorted {
            return self;
        }
        let mut samples: Vec<Sample> = self.collect();
        samples.sort_by_key(|s| s.t_ms);
        samples.into()
    }
}

impl From<Vec<Sample>> for ActivitySamples {
    fn from(samples: Vec<Sample>) -> Self {
        ActivitySamples(Source::Samples(samples.into_iter()))
    }
}

impl Iterator for ActivitySamples {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        match &mut self.0 {
            Source::Records {
                records,
                running,
                next,
                left,
            } => {
                if next.is_empty() {
                    push_samples(records.next()?, *running, next);
                    next.reverse();
                }
                let sample = next.pop()?;
                *left = left.saturating_sub(1);
                Some(sample)
            }
            Source::Samples(samples) => samples.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            Source::Records { left, .. } => *left,
            Source::Samples(samples) => samples.len(),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for ActivitySamples {}

/// How many samples [`push_samples`] makes of a record.
fn samples_in(r: &Record) -> usize {
    usize::from(r.heart_rate.is_some())
        + usize::from(r.power_w.is_some() || r.cadence.is_some() || r.speed_mps.is_some())
}

/// A raw unsigned field value (FIT's "invalid" markers are dropped by the decoder).
fn raw(fields: &std::collections::HashMap<u8, Value>, number: u8) -> Option<u64> {
    match fields.get(&number)? {
        Value::Enum(v) | Value::Byte(v) | Value::UInt8(v) | Value::UInt8z(v) => Some(u64::from(*v)),
        Value::UInt16(v) | Value::UInt16z(v) => Some(u64::from(*v)),
        Value::UInt32(v) | Value::UInt32z(v) => Some(u64::from(*v)),
        Value::UInt64(v) | Value::UInt64z(v) => Some(*v),
        _ => None,
    }
}

fn push_samples(r: Record, running: bool, out: &mut Vec<Sample>) {
    let t_ms = r.t_ms;
    if let Some(bpm) = r.heart_rate {
        let value = SampleValue::HeartRate(HeartRate {
            bpm,
            contact: Contact::Unsupported,
            energy_kj: None,
            rr_1024: Vec::new(),
        });
        out.push(Sample { t_ms, value });
    }
    if let Some(power_w) = r.power_w {
        let value = SampleValue::CyclingPower(CyclingPower {
            power_w,
            cadence_rpm: r.cadence,
            speed_mps: r.speed_mps,
            ..CyclingPower::default()
        });
        out.push(Sample { t_ms, value });
    } else if running && (r.cadence.is_some() || r.speed_mps.is_some()) {
        // FIT records running cadence per leg (strides/min); RSC counts steps.
        let cadence_spm = r
            .cadence
            .map_or(0, |c| u16_of(f64::from(c) * 2.0).unwrap_or(0));
        let value = SampleValue::RunningSpeedCadence(RunningSpeedCadence {
            speed_mps: r.speed_mps.unwrap_or(0.0),
            cadence_spm,
            running: true,
            ..RunningSpeedCadence::default()
        });
        out.push(Sample { t_ms, value });
    } else if r.cadence.is_some() || r.speed_mps.is_some() {
        let value = SampleValue::SpeedCadence(SpeedCadence {
            cadence_rpm: r.cadence,
            speed_mps: r.speed_mps,
            ..SpeedCadence::default()
        });
        out.push(Sample { t_ms, value });
    }
}

fn u16_of(v: f64) -> Option<u16> {
    let r = v.round();
    (0.0..=f64::from(u16::MAX)).contains(&r).then(|| {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked to be within u16's range"
        )]
        let n = r as u16;
        n
    })
}

/// Seconds (checked to be at most 1e9) as whole milliseconds.
fn millis_of(seconds: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "callers check 0 ≤ seconds ≤ 1e9"
    )]
    let ms = (seconds * 1000.0).round().clamp(0.0, 1e12) as u64;
    ms
}

fn f32_of(v: f64) -> f32 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "sensor values fit f32's precision"
    )]
    let f = v as f32;
    f
}

const CSV_HEADER: [&str; 5] = ["time_s", "heart_rate", "power", "cadence", "speed"];

/// Reads a CSV recording.
pub fn decode_csv(bytes: &[u8]) -> Result<Vec<Sample>, ActivityError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(1, &e))?.clone();
    let names: Vec<&str> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}'))
        .collect();
    // The longer header of an exported recording ([`csv`](crate::csv)).
    if names.len() > CSV_HEADER.len() && names.starts_with(&CSV_HEADER) {
        let recording = crate::csv::read_recording(bytes, &Limits::default())?;
        return Ok(from_recording(&recording));
    }
    if names != CSV_HEADER {
        return Err(ActivityError::Csv {
            line: 1,
            reason: format!(
                "header is {:?}, expected time_s,heart_rate,power,cadence,speed",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        });
    }
    let mut samples = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| csv_error(e.position().map_or(0, csv::Position::line), &e))?;
        let line = row.position().map_or(0, csv::Position::line);
        let cell = |i: usize| -> Result<Option<f64>, ActivityError> {
            let text = row.get(i).unwrap_or("").trim();
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                _ => Err(ActivityError::Csv {
                    line,
                    reason: format!("{} {text:?} is not a non-negative number", CSV_HEADER[i]),
                }),
            }
        };
        let Some(time_s) = cell(0)? else {
            return Err(ActivityError::Csv {
                line,
                reason: "time_s is empty".to_owned(),
            });
        };
        if time_s > 1e9 {
            return Err(ActivityError::Csv {
                line,
                reason: format!("time_s {time_s} is out of range"),
            });
        }
        let record = Record {
            t_ms: millis_of(time_s),
            heart_rate: cell(1)?.and_then(u16_of).filter(|&b| b > 0),
            power_w: cell(2)?
                .and_then(u16_of)
                .and_then(|w| i16::try_from(w).ok()),
            cadence: cell(3)?.map(f32_of),
            speed_mps: cell(4)?.map(f32_of),
        };
        push_samples(record, false, &mut samples);
    }
    Ok(samples)
}

fn csv_error(line: u64, e: &csv::Error) -> ActivityError {
    ActivityError::Csv {
        line,
        reason: e.to_string(),
    }
}

/// A recording's points as samples, times in Unix ms, as a FIT file's would be: heart
/// rate; power (with cadence and speed) as cycling power; without power, cadence and speed
/// as a running sample on foot, else as speed and cadence.
pub fn from_recording(recording: &Recording) -> Vec<Sample> {
    let running = recording.sport.family() == SportFamily::Foot;
    let mut samples = Vec::with_capacity(recording.points.len() * 2);
    for p in &recording.points {
        let t_ms = u64::try_from(
            recording
                .start_ms
                .saturating_add(i64::try_from(p.t_ms).unwrap_or(i64::MAX)),
        )
        .unwrap_or(0);
        let record = Record {
            t_ms,
            heart_rate: p.heart_rate_bpm.filter(|&b| b > 0 && b < 255),
            power_w: p.power_w.and_then(|w| i16::try_from(w).ok()),
            // A recording counts steps on foot; the samples' reckoning takes one leg's.
            cadence: p.cadence_rpm.map(|c| if running { c / 2.0 } else { c }),
            speed_mps: p.speed_mps,
        };
        push_samples(record, running, &mut samples);
    }
    samples
}
