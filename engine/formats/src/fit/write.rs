//! A FIT activity file written from a [`Recording`]: `file_id`, one `record` per point,
//! then `lap`, `session` and `activity`, with the 14-byte header and both CRCs.
//!
//! No maintained FIT writer exists for Rust, so this is a small encoder of the few messages
//! an activity needs, little-endian, one definition per message kind. Times are whole
//! seconds (FIT's `date_time`), so sub-second point times are cut to the second; other
//! values keep FIT's own precision (speed mm/s, distance cm, altitude 0.2 m, position in
//! semicircles). Cadence on foot is halved to FIT's one-leg count.

use super::activity::{FIT_EPOCH_UNIX_S, fit_sport};
use super::records::crc16;
use crate::tcx::whole;
use crate::{Point, Recording, SportFamily};

const MESG_FILE_ID: u16 = 0;
const MESG_SESSION: u16 = 18;
const MESG_LAP: u16 = 19;
const MESG_RECORD: u16 = 20;
const MESG_ACTIVITY: u16 = 34;

const ENUM: u8 = 0x00;
const UINT8: u8 = 0x02;
const SINT32: u8 = 0x85;
const UINT16: u8 = 0x84;
const UINT32: u8 = 0x86;
const STRING: u8 = 0x07;

/// The longest product name written, bytes (with its terminating zero).
const PRODUCT_NAME_BYTES: u8 = 64;

/// Encodes one definition message: local type `local`, fields (number, size, base type).
fn define(out: &mut Vec<u8>, local: u8, global: u16, fields: &[(u8, u8, u8)]) {
    out.push(0x40 | local);
    out.push(0); // reserved
    out.push(0); // little-endian
    out.extend(global.to_le_bytes());
    out.push(u8::try_from(fields.len()).unwrap_or(u8::MAX));
    for &(number, size, base_type) in fields {
        out.extend([number, size, base_type]);
    }
}

/// A scaled value as FIT's unsigned integer, or the field's invalid marker.
fn scaled_u32(value: Option<f64>, scale: f64, offset: f64) -> u32 {
    value
        .map(|v| ((v + offset) * scale).round())
        .filter(|v| (0.0..f64::from(u32::MAX)).contains(v))
        .map_or(u32::MAX, |v| {
            #[allow(clippy::cast_possible_truncation, reason = "checked to be within u32")]
            let n = v as u32;
            n
        })
}

fn scaled_u16(value: Option<f64>, scale: f64) -> u16 {
    value
        .and_then(|v| whole(v * scale, u16::MAX - 1))
        .unwrap_or(u16::MAX)
}

/// Degrees as semicircles (2³¹ per 180°).
fn semicircles(degrees: Option<f64>) -> i32 {
    degrees
        .map(|d| (d * (2_147_483_648.0 / 180.0)).round())
        .filter(|s| (-2_147_483_647.0..=2_147_483_647.0).contains(s))
        .map_or(i32::MAX, |s| {
            #[allow(clippy::cast_possible_truncation, reason = "checked to be within i32")]
            let n = s as i32;
            n
        })
}

/// FIT seconds of Unix ms (0 before FIT's epoch).
fn fit_seconds(unix_ms: i64) -> u32 {
    u32::try_from(unix_ms.div_euclid(1000) - FIT_EPOCH_UNIX_S).unwrap_or(0)
}

/// Writes `recording` as a FIT activity file.
pub fn write_recording(recording: &Recording) -> Vec<u8> {
    let foot = recording.sport.family() == SportFamily::Foot;
    let start = fit_seconds(recording.start_ms);
    let last_ms = recording.points.last().map_or(0, |p| p.t_ms);
    let point_time = |p: &Point| {
        fit_seconds(
            recording
                .start_ms
                .saturating_add(i64::try_from(p.t_ms).unwrap_or(i64::MAX)),
        )
    };
    let end = recording.points.last().map_or(start, point_time);
    let totals = &recording.totals;
    #[allow(
        clippy::cast_precision_loss,
        reason = "ms of an activity are far below 2^53"
    )]
    let elapsed_s = totals.elapsed_s.unwrap_or(last_ms as f64 / 1000.0);
    let mut body = Vec::with_capacity(200 + recording.points.len() * 30);

    // file_id: type activity (4), manufacturer development (255), product 0, time created,
    // product name (the device).
    let product_name: Option<Vec<u8>> = recording.device.as_ref().map(|device| {
        let mut bytes: Vec<u8> = device.bytes().filter(|&b| b != 0).collect();
        let mut end = bytes.len().min(usize::from(PRODUCT_NAME_BYTES) - 1);
        while end > 0 && !device.is_char_boundary(end) {
            end -= 1;
        }
        bytes.truncate(end);
        bytes.resize(usize::from(PRODUCT_NAME_BYTES), 0);
        bytes
    });
    let mut file_id_fields = vec![(0, 1, ENUM), (1, 2, UINT16), (2, 2, UINT16), (4, 4, UINT32)];
    if product_name.is_some() {
        file_id_fields.push((8, PRODUCT_NAME_BYTES, STRING));
    }
    define(&mut body, 0, MESG_FILE_ID, &file_id_fields);
    body.push(0);
    body.push(4);
    body.extend(255u16.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body.extend(start.to_le_bytes());
    if let Some(name) = &product_name {
        body.extend(name);
    }

    // record: timestamp, position, enhanced altitude, heart rate, cadence, distance,
    // enhanced speed, power.
    define(
        &mut body,
        1,
        MESG_RECORD,
        &[
            (253, 4, UINT32),
            (0, 4, SINT32),
            (1, 4, SINT32),
            (78, 4, UINT32),
            (3, 1, UINT8),
            (4, 1, UINT8),
            (5, 4, UINT32),
            (73, 4, UINT32),
            (7, 2, UINT16),
        ],
    );
    for p in &recording.points {
        body.push(1);
        body.extend(point_time(p).to_le_bytes());
        let (lat, lon) = match (p.lat_deg, p.lon_deg) {
            (Some(lat), Some(lon)) => (semicircles(Some(lat)), semicircles(Some(lon))),
            _ => (i32::MAX, i32::MAX),
        };
        body.extend(lat.to_le_bytes());
        body.extend(lon.to_le_bytes());
        body.extend(scaled_u32(p.altitude_m.map(f64::from), 5.0, 500.0).to_le_bytes());
        let bpm = p
            .heart_rate_bpm
            .and_then(|b| u8::try_from(b).ok())
            .filter(|&b| b < 255);
        body.push(bpm.unwrap_or(0xFF));
        let cadence = p
            .cadence_rpm
            .map(|c| {
                if foot {
                    f64::from(c) / 2.0
                } else {
                    f64::from(c)
                }
            })
            .and_then(|c| whole(c, 254))
            .and_then(|c| u8::try_from(c).ok());
        body.push(cadence.unwrap_or(0xFF));
        body.extend(scaled_u32(p.distance_m, 100.0, 0.0).to_le_bytes());
        body.extend(scaled_u32(p.speed_mps.map(f64::from), 1000.0, 0.0).to_le_bytes());
        body.extend(
            p.power_w
                .filter(|&w| w < u16::MAX)
                .unwrap_or(u16::MAX)
                .to_le_bytes(),
        );
    }

    let (sport, sub_sport) = fit_sport(recording.sport);
    let elapsed_ms = scaled_u32(Some(elapsed_s), 1000.0, 0.0);
    let timer_ms = scaled_u32(totals.moving_s.or(Some(elapsed_s)), 1000.0, 0.0);
    let distance_cm = scaled_u32(totals.distance_m, 100.0, 0.0);
    let calories = scaled_u16(totals.energy_kcal, 1.0);
    let ascent = scaled_u16(totals.ascent_m, 1.0);

    // lap: timestamp, event lap (9), event_type stop (1), start_time, elapsed, timer,
    // distance, calories, ascent, sport.
    define(
        &mut body,
        2,
        MESG_LAP,
        &[
            (253, 4, UINT32),
            (0, 1, ENUM),
            (1, 1, ENUM),
            (2, 4, UINT32),
            (7, 4, UINT32),
            (8, 4, UINT32),
            (9, 4, UINT32),
            (11, 2, UINT16),
            (21, 2, UINT16),
            (25, 1, ENUM),
        ],
    );
    body.push(2);
    body.extend(end.to_le_bytes());
    body.extend([9, 1]);
    body.extend(start.to_le_bytes());
    body.extend(elapsed_ms.to_le_bytes());
    body.extend(timer_ms.to_le_bytes());
    body.extend(distance_cm.to_le_bytes());
    body.extend(calories.to_le_bytes());
    body.extend(ascent.to_le_bytes());
    body.push(sport);

    // session: timestamp, event session (8), event_type stop, start_time, sport, sub_sport,
    // elapsed, timer, distance, calories, ascent, first lap, laps, moving time.
    define(
        &mut body,
        3,
        MESG_SESSION,
        &[
            (253, 4, UINT32),
            (0, 1, ENUM),
            (1, 1, ENUM),
            (2, 4, UINT32),
            (5, 1, ENUM),
            (6, 1, ENUM),
            (7, 4, UINT32),
            (8, 4, UINT32),
            (9, 4, UINT32),
            (11, 2, UINT16),
            (22, 2, UINT16),
            (25, 2, UINT16),
            (26, 2, UINT16),
            (59, 4, UINT32),
        ],
    );
    body.push(3);
    body.extend(end.to_le_bytes());
    body.extend([8, 1]);
    body.extend(start.to_le_bytes());
    body.extend([sport, sub_sport]);
    body.extend(elapsed_ms.to_le_bytes());
    body.extend(timer_ms.to_le_bytes());
    body.extend(distance_cm.to_le_bytes());
    body.extend(calories.to_le_bytes());
    body.extend(ascent.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body.extend(1u16.to_le_bytes());
    body.extend(scaled_u32(totals.moving_s, 1000.0, 0.0).to_le_bytes());

    // activity: timestamp, total timer time, sessions, type manual (0), event activity
    // (26), event_type stop (1), local timestamp (when the offset is known).
    let mut activity_fields = vec![
        (253, 4, UINT32),
        (0, 4, UINT32),
        (1, 2, UINT16),
        (2, 1, ENUM),
        (3, 1, ENUM),
        (4, 1, ENUM),
    ];
    let local = recording
        .local_offset_s
        .and_then(|offset| u32::try_from(i64::from(end) + i64::from(offset)).ok());
    if local.is_some() {
        activity_fields.push((5, 4, UINT32));
    }
    define(&mut body, 4, MESG_ACTIVITY, &activity_fields);
    body.push(4);
    body.extend(end.to_le_bytes());
    body.extend(timer_ms.to_le_bytes());
    body.extend(1u16.to_le_bytes());
    body.extend([0, 26, 1]);
    if let Some(local) = local {
        body.extend(local.to_le_bytes());
    }

    let mut file = Vec::with_capacity(body.len() + 16);
    file.push(14);
    file.push(0x20); // protocol 2.0
    file.extend(2132u16.to_le_bytes()); // profile 21.32
    file.extend(u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    file.extend(b".FIT");
    let header_crc = crc16(0, &file);
    file.extend(header_crc.to_le_bytes());
    file.extend(&body);
    let file_crc = crc16(0, &file);
    file.extend(file_crc.to_le_bytes());
    file
}
