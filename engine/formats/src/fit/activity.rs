//! A FIT activity file read into a [`Recording`]: by Paceline's own reader
//! ([`records`]), and where it stops (bad bytes, or a case only fitparser
//! can settle) again through the careful fitparser [`walk`], which then
//! gives the answer and words the error (developer fields accepted, their values ignored).
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

use super::records::{self, ActivityFields};
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
    // The own reader has no known panic; should one appear, the reference still answers.
    match std::panic::catch_unwind(|| read_own(bytes, limits)) {
        Ok(Some(answer)) => answer,
        Ok(None) | Err(_) => read_recording_reference(bytes, limits),
    }
}

/// Reads a FIT activity through fitparser's [`walk`] alone: the
/// reference [`read_recording_with`] is tested against, and what words its errors.
pub fn read_recording_reference(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(FormatError::TooLarge {
            what: "the input, bytes,",
            limit: limits.max_bytes,
        });
    }
    // The walk checks what is known to upset fitparser; a panic from anything else in it
    // is still an error, never a crash.
    std::panic::catch_unwind(|| read_walk(bytes, limits)).unwrap_or_else(|_| {
        Err(FormatError::Fit {
            offset: 0,
            reason: "the FIT decoder failed on this file".to_owned(),
        })
    })
}

/// [`read_recording_with`] without the reference: `None` where Paceline's reader stops and
/// the walk would read the file again. For tests and benchmarks.
pub fn read_recording_own_reader(
    bytes: &[u8],
    limits: &Limits,
) -> Option<Result<Recording, FormatError>> {
    std::panic::catch_unwind(|| read_own(bytes, limits))
        .ok()
        .flatten()
}

/// The own reader's answer, or `None` where it stopped and the reference must answer.
fn read_own(bytes: &[u8], limits: &Limits) -> Option<Result<Recording, FormatError>> {
    let mut reading = Reading::default();
    records::read(bytes, |message| {
        let product_name = message
            .fields
            .product_name
            .clone()
            .and_then(|range| bytes.get(range))
            .and_then(|name| std::str::from_utf8(name).ok());
        reading.visit(
            message.global,
            message.time_offset,
            message.offset,
            &message.fields,
            product_name,
            limits,
        )
    })
    .ok()?;
    match reading.finish() {
        Ok(recording) => Some(Ok(recording)),
        Err(e @ FormatError::NotAnActivity { .. }) => Some(Err(e)),
        Err(_) => None,
    }
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

/// The bits of an `sint32` field, as the own reader gives them (any other type: none).
fn sint32_bits(fields: &HashMap<u8, Value>, number: u8) -> Option<u64> {
    match fields.get(&number)? {
        Value::SInt32(v) => Some(u64::from(u32::from_le_bytes(v.to_le_bytes()))),
        _ => None,
    }
}

/// The fields the reading needs, from the walk's map, as the own reader gives them.
fn fields_of(global: u16, fields: &HashMap<u8, Value>) -> ActivityFields {
    let get = |number| unsigned(fields, number);
    let mut read = ActivityFields {
        timestamp: get(FIELD_TIMESTAMP),
        ..ActivityFields::default()
    };
    match global {
        MESG_RECORD => {
            read.heart_rate = get(3);
            read.cadence = get(4);
            read.speed = get(6);
            read.power = get(7);
            read.enhanced_speed = get(73);
            read.position_lat = sint32_bits(fields, 0);
            read.position_long = sint32_bits(fields, 1);
            read.altitude = get(2);
            read.enhanced_altitude = get(78);
            read.distance = get(5);
        }
        MESG_SESSION => {
            read.sport = get(5);
            read.sub_sport = get(6);
            read.start_time = get(2);
            read.total_elapsed_time = get(7);
            read.total_distance = get(9);
            read.total_calories = get(11);
            read.total_ascent = get(22);
            read.total_moving_time = get(59);
        }
        MESG_SPORT => {
            read.sport = get(0);
            read.sub_sport = get(1);
        }
        MESG_ACTIVITY => read.local_timestamp = get(5),
        MESG_FILE_ID => {
            read.manufacturer = get(1);
            read.product = get(2);
        }
        MESG_DEVICE_INFO => {
            read.device_index = get(0);
            read.manufacturer = get(2);
            read.product = get(4);
        }
        _ => {}
    }
    read
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "sensor values (speed, cadence, altitude) fit f32's precision"
)]
fn f32_of(v: f64) -> f32 {
    v as f32
}

/// The bits of an sint32 in semicircles (2³¹ per 180°) as degrees.
fn degrees(bits: u64) -> f64 {
    let semicircles = i32::from_le_bytes(u32::try_from(bits).unwrap_or(0).to_le_bytes());
    f64::from(semicircles) * (180.0 / 2_147_483_648.0)
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
        fields: &ActivityFields,
        product_name: Option<&str>,
        limits: &Limits,
    ) -> Result<(), FormatError> {
        if let Some(t) = fields.timestamp {
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
                    self.session_start = fields.start_time.and_then(|t| i64::try_from(t).ok());
                }
                if self.session_sport.is_none() {
                    self.session_sport = fields.sport.map(|s| (s, fields.sub_sport));
                }
                let totals = &mut self.totals;
                let seconds = |ms: Option<u64>| ms.map(|v| float(v) / 1000.0);
                add(&mut totals.elapsed_s, seconds(fields.total_elapsed_time));
                add(&mut totals.moving_s, seconds(fields.total_moving_time));
                add(
                    &mut totals.distance_m,
                    fields.total_distance.map(|v| float(v) / 100.0),
                );
                add(&mut totals.energy_kcal, fields.total_calories.map(float));
                add(&mut totals.ascent_m, fields.total_ascent.map(float));
            }
            MESG_SPORT if self.sport_message.is_none() => {
                self.sport_message = fields.sport.map(|s| (s, fields.sub_sport));
            }
            MESG_ACTIVITY => {
                let local = fields.local_timestamp.and_then(|t| i64::try_from(t).ok());
                let utc = fields.timestamp.and_then(|t| i64::try_from(t).ok());
                if let (Some(local), Some(utc)) = (local, utc) {
                    // Offsets beyond ±18 h are not offsets.
                    self.local_offset_s = i32::try_from(local - utc)
                        .ok()
                        .filter(|o| o.abs() <= 18 * 3600);
                }
            }
            MESG_FILE_ID if self.file_device.is_none() => {
                self.file_device = product_name
                    .and_then(|name| limits.text(name))
                    .or_else(|| device_name(fields.manufacturer, fields.product))
                    .and_then(|name| limits.text(&name));
            }
            // The creator's device_info (index 0) when file_id names no device.
            MESG_DEVICE_INFO
                if self.creator_device.is_none() && fields.device_index.unwrap_or(0) == 0 =>
            {
                self.creator_device = device_name(fields.manufacturer, fields.product)
                    .and_then(|name| limits.text(&name));
            }
            _ => {}
        }
        Ok(())
    }

    fn record(&mut self, fields: &ActivityFields, limits: &Limits) -> Result<(), FormatError> {
        self.saw_record = true;
        let lat = fields.position_lat.map(degrees);
        let lon = fields.position_long.map(degrees);
        let (lat_deg, lon_deg) = match (lat, lon) {
            (Some(lat), Some(lon)) => (Some(lat), Some(lon)),
            _ => (None, None),
        };
        let point = Point {
            t_ms: 0,
            heart_rate_bpm: fields
                .heart_rate
                .and_then(|b| u16::try_from(b).ok())
                .filter(|&b| b > 0 && b < 255),
            power_w: fields
                .power
                .and_then(|w| u16::try_from(w).ok())
                .filter(|&w| w < u16::MAX),
            cadence_rpm: fields
                .cadence
                .filter(|&c| c < 0xFF)
                .map(|c| f32_of(float(c))),
            speed_mps: fields
                .enhanced_speed
                .or(fields.speed)
                .map(|mm_s| f32_of(float(mm_s) / 1000.0)),
            distance_m: fields.distance.map(|cm| float(cm) / 100.0),
            lat_deg,
            lon_deg,
            altitude_m: fields
                .enhanced_altitude
                .or(fields.altitude)
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

fn read_walk(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    let mut reading = Reading::default();
    let walked = walk(bytes, DeveloperFields::Accept, |message| {
        let fields = fields_of(message.global, message.fields);
        let product_name = match message.fields.get(&8) {
            Some(Value::String(name)) if message.global == MESG_FILE_ID => Some(name.as_str()),
            _ => None,
        };
        reading.visit(
            message.global,
            message.time_offset,
            message.offset,
            &fields,
            product_name,
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
