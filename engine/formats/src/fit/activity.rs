//! A FIT activity file read into a [`Recording`], through the careful fitparser
//! [`walk`](super::walk::walk) (developer fields accepted, their values ignored).
//!
//! What it reads, by message and field number:
//! - `record` (20): timestamp (253, compressed timestamps resolved), position (0, 1,
//!   semicircles), altitude (2, or enhanced 78), heart rate (3), cadence (4, doubled to
//!   steps per minute on foot, where FIT counts one leg), distance (5), speed (6, or
//!   enhanced 73), power (7). Each record with a value is one [`Point`]. Compressed
//!   speed and distance (field 8, old Forerunners) are not read.
//! - `session` (18): start time (2), sport (5, 6), elapsed (7) and moving (59) time
//!   (not the timer time, which counts slow riding too), distance (9), energy (11), ascent (22) — summed over a multisport file's
//!   sessions. The start is the first session's start time, or the first record's.
//! - `sport` (12) when no session names the sport; `activity` (34): the local offset as
//!   local timestamp (5) − timestamp (253); `file_id` (0): the device, as manufacturer (1)
//!   and product (2) or product name (8), else the creator's `device_info` (23).
//!
//! Bounds: the input is at most [`Limits::max_bytes`], the points at most
//! [`Limits::max_points`]; texts are cut to [`Limits::max_text_bytes`].

use std::collections::HashMap;

use fitparser::Value;
use fitparser::profile::MesgNum;
use fitparser::profile::field_types::{GarminProduct, Manufacturer};

use super::walk::{DeveloperFields, FitWalkError, walk};
use crate::{FormatError, Limits, Point, Recording, Sport, Totals};

/// Seconds from the Unix epoch to FIT's (1989-12-31T00:00:00Z).
pub const FIT_EPOCH_UNIX_S: i64 = 631_065_600;

const MESG_FILE_ID: u16 = 0;
const MESG_SPORT: u16 = 12;
const MESG_SESSION: u16 = 18;
const MESG_RECORD: u16 = 20;
const MESG_DEVICE_INFO: u16 = 23;
const MESG_ACTIVITY: u16 = 34;
const FIELD_TIMESTAMP: u8 = 253;

/// Reads a FIT activity with the default [`Limits`].
pub fn read_recording(bytes: &[u8]) -> Result<Recording, FormatError> {
    read_recording_with(bytes, &Limits::default())
}

/// Reads a FIT activity within `limits`.
pub fn read_recording_with(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(FormatError::TooLarge {
            what: "the input, bytes,",
            limit: limits.max_bytes,
        });
    }
    // The walk checks what is known to upset fitparser; a panic from anything else in it
    // is still an error, never a crash.
    std::panic::catch_unwind(|| read(bytes, limits)).unwrap_or_else(|_| {
        Err(FormatError::Fit {
            offset: 0,
            reason: "the FIT decoder failed on this file".to_owned(),
        })
    })
}

/// The FIT sport and sub-sport of a [`Sport`], as the writer puts them.
pub(crate) fn fit_sport(sport: Sport) -> (u8, u8) {
    match sport {
        Sport::Cycling => (2, 0),
        Sport::IndoorCycling => (2, 6),
        Sport::Running => (1, 0),
        Sport::TreadmillRunning => (1, 1),
        Sport::Walking => (11, 0),
        Sport::Hiking => (17, 0),
        Sport::Swimming => (5, 0),
        Sport::Rowing => (15, 0),
        Sport::Strength => (10, 20),
        Sport::Other => (0, 0),
    }
}

/// The [`Sport`] of a FIT sport and sub-sport.
fn sport_of(sport: u64, sub_sport: Option<u64>) -> Sport {
    match (sport, sub_sport.unwrap_or(0)) {
        // Sub-sports indoor_cycling, spin, virtual_activity.
        (2 | 4, 6 | 5 | 58) => Sport::IndoorCycling,
        (2, _) => Sport::Cycling,
        (1 | 4, 1) | (1, 45 | 58) => Sport::TreadmillRunning,
        (1, _) => Sport::Running,
        (11, _) => Sport::Walking,
        (17, _) => Sport::Hiking,
        (5, _) => Sport::Swimming,
        (15, _) | (4, 14) => Sport::Rowing,
        (10 | 4, 20) | (20, _) => Sport::Strength,
        _ => Sport::Other,
    }
}

/// A raw unsigned field value (FIT's invalid markers are dropped by the decoder).
pub(crate) fn unsigned(fields: &HashMap<u8, Value>, number: u8) -> Option<u64> {
    match fields.get(&number)? {
        Value::Enum(v) | Value::Byte(v) | Value::UInt8(v) | Value::UInt8z(v) => Some(u64::from(*v)),
        Value::UInt16(v) | Value::UInt16z(v) => Some(u64::from(*v)),
        Value::UInt32(v) | Value::UInt32z(v) => Some(u64::from(*v)),
        Value::UInt64(v) | Value::UInt64z(v) => Some(*v),
        _ => None,
    }
}

fn signed(fields: &HashMap<u8, Value>, number: u8) -> Option<i64> {
    match fields.get(&number)? {
        Value::SInt8(v) => Some(i64::from(*v)),
        Value::SInt16(v) => Some(i64::from(*v)),
        Value::SInt32(v) => Some(i64::from(*v)),
        Value::SInt64(v) => Some(*v),
        _ => unsigned(fields, number).and_then(|v| i64::try_from(v).ok()),
    }
}

fn text(fields: &HashMap<u8, Value>, number: u8) -> Option<&str> {
    match fields.get(&number)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "sensor values (speed, cadence, altitude) fit f32's precision"
)]
fn f32_of(v: f64) -> f32 {
    v as f32
}

/// Semicircles (2³¹ per 180°) as degrees.
fn degrees(semicircles: i64) -> f64 {
    // An i64 from an sint32 field is exact in f64.
    f64::from(i32::try_from(semicircles).unwrap_or(0)) * (180.0 / 2_147_483_648.0)
}

/// Whole numbers of FIT fields (at most 2⁶⁴) as f64, for scaling.
#[allow(
    clippy::cast_precision_loss,
    reason = "FIT field values are far below 2^53"
)]
fn float(v: u64) -> f64 {
    v as f64
}

/// A record as read, times in FIT seconds.
struct RawPoint {
    fit_s: i64,
    point: Point,
}

#[derive(Default)]
struct Reading {
    points: Vec<RawPoint>,
    saw_record: bool,
    kinds: Vec<u16>,
    base_timestamp: u64,
    session_start: Option<i64>,
    session_sport: Option<(u64, Option<u64>)>,
    sport_message: Option<(u64, Option<u64>)>,
    local_offset_s: Option<i32>,
    totals: Totals,
    file_device: Option<String>,
    creator_device: Option<String>,
}

fn add(total: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value {
        *total = Some(total.unwrap_or(0.0) + v);
    }
}

/// "garmin edge810", or the manufacturer's name and the product number.
fn device_name(manufacturer: Option<u64>, product: Option<u64>) -> Option<String> {
    let manufacturer = Manufacturer::from(u16::try_from(manufacturer?).ok()?);
    let product = product.and_then(|p| u16::try_from(p).ok());
    Some(match (manufacturer, product) {
        (
            Manufacturer::Garmin | Manufacturer::Dynastream | Manufacturer::DynastreamOem,
            Some(p),
        ) => {
            format!("{manufacturer} {}", GarminProduct::from(p))
        }
        (_, Some(p)) => format!("{manufacturer} {p}"),
        (_, None) => manufacturer.to_string(),
    })
}

impl Reading {
    fn visit(
        &mut self,
        global: u16,
        time_offset: Option<u8>,
        offset: usize,
        fields: &HashMap<u8, Value>,
        limits: &Limits,
    ) -> Result<(), FormatError> {
        if let Some(t) = unsigned(fields, FIELD_TIMESTAMP) {
            self.base_timestamp = t;
        } else if let Some(time_offset) = time_offset {
            // A compressed timestamp: the low five bits roll over from the last full one.
            let time_offset = u64::from(time_offset & 0x1F);
            let mut t = (self.base_timestamp & !0x1F) + time_offset;
            if time_offset < (self.base_timestamp & 0x1F) {
                t = t.checked_add(0x20).ok_or_else(|| FormatError::Fit {
                    offset,
                    reason: "a timestamp out of range".to_owned(),
                })?;
            }
            self.base_timestamp = t;
        }
        if !self.kinds.contains(&global) && self.kinds.len() < 64 {
            self.kinds.push(global);
        }
        match global {
            MESG_RECORD => self.record(fields, limits)?,
            MESG_SESSION => {
                if self.session_start.is_none() {
                    self.session_start = unsigned(fields, 2).and_then(|t| i64::try_from(t).ok());
                }
                if self.session_sport.is_none() {
                    self.session_sport = unsigned(fields, 5).map(|s| (s, unsigned(fields, 6)));
                }
                let totals = &mut self.totals;
                add(
                    &mut totals.elapsed_s,
                    unsigned(fields, 7).map(|v| float(v) / 1000.0),
                );
                add(
                    &mut totals.moving_s,
                    unsigned(fields, 59).map(|v| float(v) / 1000.0),
                );
                add(
                    &mut totals.distance_m,
                    unsigned(fields, 9).map(|v| float(v) / 100.0),
                );
                add(&mut totals.energy_kcal, unsigned(fields, 11).map(float));
                add(&mut totals.ascent_m, unsigned(fields, 22).map(float));
            }
            MESG_SPORT if self.sport_message.is_none() => {
                self.sport_message = unsigned(fields, 0).map(|s| (s, unsigned(fields, 1)));
            }
            MESG_ACTIVITY => {
                let local = unsigned(fields, 5).and_then(|t| i64::try_from(t).ok());
                let utc = unsigned(fields, FIELD_TIMESTAMP).and_then(|t| i64::try_from(t).ok());
                if let (Some(local), Some(utc)) = (local, utc) {
                    // Offsets beyond ±18 h are not offsets.
                    self.local_offset_s = i32::try_from(local - utc)
                        .ok()
                        .filter(|o| o.abs() <= 18 * 3600);
                }
            }
            MESG_FILE_ID if self.file_device.is_none() => {
                self.file_device = text(fields, 8)
                    .and_then(|name| limits.text(name))
                    .or_else(|| device_name(unsigned(fields, 1), unsigned(fields, 2)))
                    .and_then(|name| limits.text(&name));
            }
            // The creator's device_info (index 0) when file_id names no device.
            MESG_DEVICE_INFO
                if self.creator_device.is_none() && unsigned(fields, 0).unwrap_or(0) == 0 =>
            {
                self.creator_device = device_name(unsigned(fields, 2), unsigned(fields, 4))
                    .and_then(|name| limits.text(&name));
            }
            _ => {}
        }
        Ok(())
    }

    fn record(&mut self, fields: &HashMap<u8, Value>, limits: &Limits) -> Result<(), FormatError> {
        self.saw_record = true;
        let lat = signed(fields, 0).map(degrees);
        let lon = signed(fields, 1).map(degrees);
        let (lat_deg, lon_deg) = match (lat, lon) {
            (Some(lat), Some(lon)) => (Some(lat), Some(lon)),
            _ => (None, None),
        };
        let point = Point {
            t_ms: 0,
            heart_rate_bpm: unsigned(fields, 3)
                .and_then(|b| u16::try_from(b).ok())
                .filter(|&b| b > 0),
            power_w: unsigned(fields, 7).and_then(|w| u16::try_from(w).ok()),
            cadence_rpm: unsigned(fields, 4).map(|c| f32_of(float(c))),
            speed_mps: unsigned(fields, 73)
                .or_else(|| unsigned(fields, 6))
                .map(|mm_s| f32_of(float(mm_s) / 1000.0)),
            distance_m: unsigned(fields, 5).map(|cm| float(cm) / 100.0),
            lat_deg,
            lon_deg,
            altitude_m: unsigned(fields, 78)
                .or_else(|| unsigned(fields, 2))
                .map(|v| f32_of(float(v) / 5.0 - 500.0)),
        };
        let empty = Point {
            t_ms: 0,
            ..Point::default()
        };
        if point != empty && self.base_timestamp != 0 {
            limits.check_points(self.points.len())?;
            self.points.push(RawPoint {
                fit_s: i64::try_from(self.base_timestamp).unwrap_or(i64::MAX),
                point,
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Recording, FormatError> {
        if !self.saw_record || self.base_timestamp == 0 {
            let holds = self
                .kinds
                .iter()
                .map(|&k| MesgNum::from(k).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(FormatError::NotAnActivity { holds });
        }
        let (sport, sub_sport) = self
            .session_sport
            .or(self.sport_message)
            .unwrap_or((0, None));
        let sport = sport_of(sport, sub_sport);
        let first_point = self.points.iter().map(|p| p.fit_s).min();
        let start_s = match (self.session_start, first_point) {
            (Some(session), Some(first)) => session.min(first),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => i64::try_from(self.base_timestamp).unwrap_or(0),
        };
        let foot = matches!(sport.family(), crate::SportFamily::Foot);
        self.points.sort_by_key(|p| p.fit_s);
        let points = self
            .points
            .into_iter()
            .map(|raw| {
                let mut point = raw.point;
                point.t_ms = u64::try_from(raw.fit_s - start_s).unwrap_or(0) * 1000;
                if foot {
                    point.cadence_rpm = point.cadence_rpm.map(|c| c * 2.0);
                }
                point
            })
            .collect();
        Ok(Recording {
            sport,
            start_ms: (start_s + FIT_EPOCH_UNIX_S) * 1000,
            local_offset_s: self.local_offset_s,
            name: None,
            device: self.file_device.or(self.creator_device),
            totals: self.totals,
            points,
        })
    }
}

fn read(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    let mut reading = Reading::default();
    let walked = walk(bytes, DeveloperFields::Accept, |message| {
        reading.visit(
            message.global,
            message.time_offset,
            message.offset,
            message.fields,
            limits,
        )
    });
    match walked {
        Ok(()) => reading.finish(),
        Err(FitWalkError::Malformed { offset, detail }) => Err(FormatError::Fit {
            offset,
            reason: detail,
        }),
        Err(FitWalkError::DeveloperFields { offset }) => Err(FormatError::Fit {
            offset,
            reason: "developer fields refused".to_owned(),
        }),
        Err(FitWalkError::Visit(e)) => Err(e),
    }
}
