//! Session exports: the stored samples as CSV, and as a FIT activity file that training
//! tools import (file_id, one record per second, lap, session, activity).
//!
//! The FIT encoding is written here because no maintained Rust crate writes FIT files;
//! it follows the FIT protocol's file structure (14-byte header with its CRC, definition
//! and data messages, a CRC over the whole file) and uses only the few messages and
//! fields an activity needs. The tests read the result back with fitparser.
//!
//! Neither export holds a session's samples in memory: the CSV is written a page of rows
//! at a time ([`samples_page`], [`csv_rows`]; the API streams the pages), and the FIT file
//! folds the rows into one entry per second of the ride as they are read
//! ([`FitActivity`]), so its memory follows the ride's duration (about 30 bytes a second),
//! not its sample count.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use crate::store::{StoreError, queries};

/// One stored sample, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSample {
    /// Sensor time, ms from the session's start.
    pub t_ms: i64,
    /// Sample kind.
    pub kind: String,
    /// bpm.
    pub heart_rate: Option<i64>,
    /// W.
    pub power_w: Option<f64>,
    /// rpm.
    pub cadence: Option<f64>,
    /// m/s.
    pub speed_mps: Option<f64>,
}

/// The samples of a session of a tenant, by sensor time.
pub fn load_samples(
    conn: &Connection,
    tenant_row: i64,
    session_row: i64,
) -> Result<Vec<ExportSample>, StoreError> {
    let mut stmt = conn.prepare_cached(queries::SESSION_SAMPLES_BY_TIME)?;
    let rows = stmt
        .query_map(params![tenant_row, session_row], |r| {
            Ok(ExportSample {
                t_ms: r.get(0)?,
                kind: r.get(1)?,
                heart_rate: r.get(2)?,
                power_w: r.get(3)?,
                cadence: r.get(4)?,
                speed_mps: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Rows read per page of an export.
pub const EXPORT_PAGE_ROWS: usize = 2048;

/// A stored sample's place in an export: (t_ms, rowid).
pub type SampleKey = (i64, i64);

/// Where a page of samples starts: after this key, or at the beginning.
pub type PageKey = Option<SampleKey>;

/// Up to `limit` samples of a session of a tenant after `after`, by sensor time (the
/// order of [`load_samples`]), each with its key; the last key starts the next page.
pub fn samples_page(
    conn: &Connection,
    tenant_row: i64,
    session_row: i64,
    after: PageKey,
    limit: usize,
) -> Result<Vec<(SampleKey, ExportSample)>, StoreError> {
    let (t_ms, rowid) = after.unwrap_or((i64::MIN, i64::MIN));
    let mut stmt = conn.prepare_cached(queries::SESSION_SAMPLES_PAGE_BY_TIME)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![tenant_row, session_row, t_ms, rowid, limit], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                ExportSample {
                    t_ms: r.get(0)?,
                    kind: r.get(2)?,
                    heart_rate: r.get(3)?,
                    power_w: r.get(4)?,
                    cadence: r.get(5)?,
                    speed_mps: r.get(6)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The CSV export's header line.
pub fn csv_header() -> Vec<u8> {
    b"t_ms,kind,heart_rate_bpm,power_w,cadence,speed_mps\n".to_vec()
}

/// CSV with a header row: `t_ms,kind,heart_rate_bpm,power_w,cadence,speed_mps`.
pub fn samples_csv(samples: &[ExportSample]) -> Result<String, csv::Error> {
    let mut bytes = csv_header();
    bytes.extend(csv_rows(samples)?);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// CSV lines of samples, without the header (each line stands alone, so pages written
/// one after the other make the same file as one write).
pub fn csv_rows(samples: &[ExportSample]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let text = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for s in samples {
        writer.write_record([
            s.t_ms.to_string(),
            s.kind.clone(),
            s.heart_rate.map(|v| v.to_string()).unwrap_or_default(),
            text(s.power_w),
            text(s.cadence),
            text(s.speed_mps),
        ])?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

/// Seconds between the Unix epoch and the FIT epoch (1989-12-31T00:00:00Z).
const FIT_EPOCH_OFFSET_S: u64 = 631_065_600;

const BASE_ENUM: u8 = 0x00;
const BASE_UINT8: u8 = 0x02;
const BASE_UINT16: u8 = 0x84;
const BASE_UINT32: u8 = 0x86;

const MESG_FILE_ID: u16 = 0;
const MESG_SESSION: u16 = 18;
const MESG_LAP: u16 = 19;
const MESG_RECORD: u16 = 20;
const MESG_ACTIVITY: u16 = 34;

/// One second of the ride: the latest value of each channel in that second.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    heart_rate: Option<u8>,
    power_w: Option<u16>,
    cadence: Option<u8>,
    speed_mmps: Option<u16>,
}

// The value is finite, non-negative and clamped below the type's maximum before the cast.
#[allow(clippy::cast_possible_truncation)]
fn clamp_u8(v: f64) -> Option<u8> {
    // 0xFF is FIT's "invalid" for uint8.
    (v.is_finite() && v >= 0.0).then(|| v.round().min(254.0) as u8)
}

#[allow(clippy::cast_possible_truncation)]
fn clamp_u16(v: f64) -> Option<u16> {
    (v.is_finite() && v >= 0.0).then(|| v.round().min(65_534.0) as u16)
}

/// A FIT activity file of the samples, starting at `start_ms` (Unix ms).
pub fn activity_fit(start_ms: u64, samples: &[ExportSample]) -> Vec<u8> {
    let mut activity = FitActivity::default();
    for s in samples {
        activity.add(s);
    }
    activity.finish(start_ms)
}

/// The FIT activity of a session of a tenant, its rows folded in as they are read.
pub fn session_fit(
    conn: &Connection,
    tenant_row: i64,
    session_row: i64,
    start_ms: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut stmt = conn.prepare_cached(queries::SESSION_SAMPLES_BY_TIME)?;
    let mut rows = stmt.query(params![tenant_row, session_row])?;
    let mut activity = FitActivity::default();
    while let Some(r) = rows.next()? {
        activity.add(&ExportSample {
            t_ms: r.get(0)?,
            kind: r.get(1)?,
            heart_rate: r.get(2)?,
            power_w: r.get(3)?,
            cadence: r.get(4)?,
            speed_mps: r.get(5)?,
        });
    }
    Ok(activity.finish(start_ms))
}

/// A FIT activity being built: the latest value of each channel in each second.
#[derive(Debug, Default)]
pub struct FitActivity {
    seconds: BTreeMap<u32, Second>,
}

impl FitActivity {
    /// Adds one sample (samples are added by sensor time).
    pub fn add(&mut self, s: &ExportSample) {
        let t_s = u32::try_from(s.t_ms.max(0) / 1000).unwrap_or(u32::MAX);
        let second = self.seconds.entry(t_s).or_default();
        if let Some(hr) = s
            .heart_rate
            .and_then(|v| u8::try_from(v).ok())
            .filter(|&v| v < 255)
        {
            second.heart_rate = Some(hr);
        }
        if let Some(p) = s.power_w.and_then(clamp_u16) {
            second.power_w = Some(p);
        }
        if let Some(c) = s.cadence.and_then(clamp_u8) {
            second.cadence = Some(c);
        }
        if let Some(v) = s.speed_mps.and_then(|v| clamp_u16(v * 1000.0)) {
            second.speed_mmps = Some(v);
        }
    }

    /// The FIT file, starting at `start_ms` (Unix ms).
    pub fn finish(self, start_ms: u64) -> Vec<u8> {
        let seconds = self.seconds;
        let start =
            u32::try_from((start_ms / 1000).saturating_sub(FIT_EPOCH_OFFSET_S)).unwrap_or(0);
        let duration_s = seconds.keys().next_back().copied().unwrap_or(0);
        let end = start.saturating_add(duration_s);
        let elapsed_ms = duration_s.saturating_mul(1000);

        let mut body = Vec::new();
        // file_id: type activity (4), manufacturer development (255), product 0, time created.
        define(
            &mut body,
            0,
            MESG_FILE_ID,
            &[
                (0, 1, BASE_ENUM),
                (1, 2, BASE_UINT16),
                (2, 2, BASE_UINT16),
                (4, 4, BASE_UINT32),
            ],
        );
        body.push(0);
        body.push(4);
        body.extend(255u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend(start.to_le_bytes());
        // record: timestamp, heart_rate, cadence, speed (mm/s), power.
        define(
            &mut body,
            1,
            MESG_RECORD,
            &[
                (253, 4, BASE_UINT32),
                (3, 1, BASE_UINT8),
                (4, 1, BASE_UINT8),
                (6, 2, BASE_UINT16),
                (7, 2, BASE_UINT16),
            ],
        );
        for (t_s, second) in &seconds {
            body.push(1);
            body.extend(start.saturating_add(*t_s).to_le_bytes());
            body.push(second.heart_rate.unwrap_or(0xFF));
            body.push(second.cadence.unwrap_or(0xFF));
            body.extend(second.speed_mmps.unwrap_or(0xFFFF).to_le_bytes());
            body.extend(second.power_w.unwrap_or(0xFFFF).to_le_bytes());
        }
        // lap and session: timestamp, event, event_type stop, start_time, elapsed, timer.
        let summary_fields = [
            (253, 4, BASE_UINT32),
            (0, 1, BASE_ENUM),
            (1, 1, BASE_ENUM),
            (2, 4, BASE_UINT32),
            (7, 4, BASE_UINT32),
            (8, 4, BASE_UINT32),
        ];
        define(&mut body, 2, MESG_LAP, &summary_fields);
        summary(&mut body, 2, end, 9, start, elapsed_ms);
        let mut session_fields = summary_fields.to_vec();
        session_fields.push((5, 1, BASE_ENUM));
        define(&mut body, 3, MESG_SESSION, &session_fields);
        summary(&mut body, 3, end, 8, start, elapsed_ms);
        body.push(2); // sport: cycling
        // activity: timestamp, total_timer_time, num_sessions, type manual, event activity, stop.
        define(
            &mut body,
            4,
            MESG_ACTIVITY,
            &[
                (253, 4, BASE_UINT32),
                (0, 4, BASE_UINT32),
                (1, 2, BASE_UINT16),
                (2, 1, BASE_ENUM),
                (3, 1, BASE_ENUM),
                (4, 1, BASE_ENUM),
            ],
        );
        body.push(4);
        body.extend(end.to_le_bytes());
        body.extend(elapsed_ms.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.push(0);
        body.push(26);
        body.push(1);

        let mut file = Vec::with_capacity(body.len() + 16);
        file.push(14);
        file.push(0x20);
        file.extend(2132u16.to_le_bytes());
        file.extend(u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        file.extend(b".FIT");
        let header_crc = crc16(&file);
        file.extend(header_crc.to_le_bytes());
        file.extend(&body);
        let file_crc = crc16(&file);
        file.extend(file_crc.to_le_bytes());
        file
    }
}

fn define(out: &mut Vec<u8>, local: u8, global: u16, fields: &[(u8, u8, u8)]) {
    out.push(0x40 | local);
    out.push(0);
    out.push(0); // little-endian
    out.extend(global.to_le_bytes());
    out.push(u8::try_from(fields.len()).unwrap_or(u8::MAX));
    for &(number, size, base) in fields {
        out.extend([number, size, base]);
    }
}

fn summary(out: &mut Vec<u8>, local: u8, end: u32, event: u8, start: u32, elapsed_ms: u32) {
    out.push(local);
    out.extend(end.to_le_bytes());
    out.push(event);
    out.push(1);
    out.extend(start.to_le_bytes());
    out.extend(elapsed_ms.to_le_bytes());
    out.extend(elapsed_ms.to_le_bytes());
}

/// The FIT protocol's CRC-16.
fn crc16(bytes: &[u8]) -> u16 {
    const TABLE: [u16; 16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
        0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ];
    let mut crc: u16 = 0;
    for &byte in bytes {
        for nibble in [byte & 0x0F, byte >> 4] {
            let tmp = TABLE[usize::from(crc & 0x0F)];
            crc = (crc >> 4) & 0x0FFF;
            crc ^= tmp ^ TABLE[usize::from(nibble)];
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ride() -> Vec<ExportSample> {
        (0..120)
            .flat_map(|s| {
                [
                    ExportSample {
                        t_ms: s * 1000,
                        kind: "heart_rate".into(),
                        heart_rate: Some(120 + s / 4),
                        power_w: None,
                        cadence: None,
                        speed_mps: None,
                    },
                    ExportSample {
                        t_ms: s * 1000 + 500,
                        kind: "cycling_power".into(),
                        heart_rate: None,
                        power_w: Some(200.0 + s as f64),
                        cadence: Some(90.0),
                        speed_mps: Some(8.5),
                    },
                ]
            })
            .collect()
    }

    #[test]
    fn the_fit_export_reads_back_with_fitparser() {
        let start_ms = 1_764_590_400_000; // 2025-12-01T12:00:00Z
        let bytes = activity_fit(start_ms, &ride());
        let messages = fitparser::from_bytes(&bytes).expect("a valid FIT file");
        let records: Vec<_> = messages
            .iter()
            .filter(|m| m.kind() == fitparser::profile::MesgNum::Record)
            .collect();
        assert_eq!(records.len(), 120);
        let field = |m: &fitparser::FitDataRecord, name: &str| {
            m.fields()
                .iter()
                .find(|f| f.name() == name)
                .map(|f| f.value().to_string())
        };
        assert_eq!(field(records[0], "heart_rate").as_deref(), Some("120"));
        assert_eq!(field(records[10], "power").as_deref(), Some("210"));
        assert_eq!(field(records[10], "cadence").as_deref(), Some("90"));
        for kind in [
            fitparser::profile::MesgNum::FileId,
            fitparser::profile::MesgNum::Lap,
            fitparser::profile::MesgNum::Session,
            fitparser::profile::MesgNum::Activity,
        ] {
            assert_eq!(
                messages.iter().filter(|m| m.kind() == kind).count(),
                1,
                "{kind:?}"
            );
        }
        // A flipped byte breaks the file CRC.
        let mut broken = bytes.clone();
        broken[20] ^= 0x55;
        assert!(fitparser::from_bytes(&broken).is_err());
    }

    #[test]
    fn the_csv_export_has_a_header_and_a_row_per_sample() {
        let csv = samples_csv(&ride()[..2]).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "t_ms,kind,heart_rate_bpm,power_w,cadence,speed_mps"
        );
        assert_eq!(lines[1], "0,heart_rate,120,,,");
        assert_eq!(lines[2], "500,cycling_power,,200,90,8.5");
    }

    #[test]
    fn pages_of_rows_make_the_same_csv_and_fit_as_the_whole_session() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut conn).unwrap();
        // The samples alone: their sessions and tenants are not what is tested here.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        // Three sessions' samples mixed, several at the same time (ordered by rowid).
        let mut insert = conn
            .prepare(
                "INSERT INTO samples (session_row, tenant_id, frame_seq, t_ms, received_ms,
                   kind, heart_rate, power_w, cadence, speed_mps)
                 VALUES (?1, ?2, 1, ?3, 0, ?4, ?5, ?6, ?7, ?8)",
            )
            .unwrap();
        let ride = ride();
        for i in 0..2500usize {
            let s = &ride[i % ride.len()];
            let t_ms = i64::try_from(i / 3).unwrap() * 10;
            for (session_row, tenant_row) in [(1, 1), (2, 1), (1, 2)] {
                insert
                    .execute(params![
                        session_row,
                        tenant_row,
                        t_ms,
                        s.kind,
                        s.heart_rate,
                        s.power_w,
                        s.cadence,
                        s.speed_mps
                    ])
                    .unwrap();
            }
        }
        drop(insert);
        let whole = load_samples(&conn, 1, 1).unwrap();
        assert_eq!(whole.len(), 2500);
        let mut paged = csv_header();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = samples_page(&conn, 1, 1, after, 1000).unwrap();
            pages += 1;
            let samples: Vec<ExportSample> = page.iter().map(|(_, s)| s.clone()).collect();
            paged.extend(csv_rows(&samples).unwrap());
            if page.len() < 1000 {
                break;
            }
            after = page.last().map(|(key, _)| *key);
        }
        assert_eq!(pages, 3);
        assert_eq!(
            String::from_utf8(paged).unwrap(),
            samples_csv(&whole).unwrap()
        );
        let start_ms = 1_764_590_400_000;
        assert_eq!(
            session_fit(&conn, 1, 1, start_ms).unwrap(),
            activity_fit(start_ms, &whole)
        );
    }

    #[test]
    fn the_crc_matches_the_protocol_check_value() {
        // A FIT header's CRC over its first 12 bytes, as FIT SDK files carry it.
        assert_eq!(crc16(b""), 0);
        let a = crc16(b"123456789");
        assert_eq!(a, 0xBB3D, "CRC-16/ARC check value");
    }
}
