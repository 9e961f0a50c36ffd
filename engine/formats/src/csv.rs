//! Recordings as CSV: `time_s,heart_rate,power,cadence,speed,distance_m,lat,lon,altitude_m`
//! (seconds since the start; an empty cell is a missing value), read and written.
//!
//! The writer puts `# start: <ISO 8601 UTC>` and `# sport: <name>` lines (and `# name:`,
//! `# device:`, `# local_offset_s:` and the stated totals, `# elapsed_s:`, `# moving_s:`,
//! `# distance_m:`, `# energy_kcal:`, `# ascent_m:`, when known) before the header, so an exported file
//! reads back as the same activity. The reader takes those `#` lines when present (a file
//! without them starts at the Unix epoch, for the caller to judge) and accepts the replay
//! header `time_s,heart_rate,power,cadence,speed` too: any leading subset of the columns,
//! in this order.
//!
//! Bounds: input at most [`Limits::max_bytes`], [`Limits::max_points`] rows; every value
//! must be a finite number in its range, or the error names the line and column.

use std::fmt::Write as _;

use crate::tcx::{f32_of, whole};
use crate::{FormatError, Limits, Point, Recording, Sport, Totals, time};

/// The columns, in order.
pub const HEADER: [&str; 9] = [
    "time_s",
    "heart_rate",
    "power",
    "cadence",
    "speed",
    "distance_m",
    "lat",
    "lon",
    "altitude_m",
];

fn error(line: u64, reason: String) -> FormatError {
    FormatError::Csv { line, reason }
}

/// Reads a CSV recording.
pub fn read_recording(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(FormatError::TooLarge {
            what: "the input, bytes,",
            limit: limits.max_bytes,
        });
    }
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut recording = Recording {
        sport: Sport::Other,
        start_ms: 0,
        local_offset_s: None,
        name: None,
        device: None,
        totals: Totals::default(),
        points: Vec::new(),
    };
    let mut line = 1u64;
    while rest.first() == Some(&b'#') {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |e| e + 1);
        let text = std::str::from_utf8(&rest[1..end])
            .map_err(|_| error(line, "a # line that is not UTF-8".to_owned()))?;
        if let Some((key, value)) = text.split_once(':') {
            let value = value.trim();
            match key.trim() {
                "start" => {
                    recording.start_ms = time::parse(value)
                        .ok_or_else(|| {
                            error(line, format!("start {:?} is not a time", cut(value)))
                        })?
                        .unix_ms;
                }
                "sport" => recording.sport = Sport::from_name(value),
                "name" => recording.name = limits.text(value),
                "device" => recording.device = limits.text(value),
                "elapsed_s" => recording.totals.elapsed_s = total(value),
                "moving_s" => recording.totals.moving_s = total(value),
                "distance_m" => recording.totals.distance_m = total(value),
                "energy_kcal" => recording.totals.energy_kcal = total(value),
                "ascent_m" => recording.totals.ascent_m = total(value),
                "local_offset_s" => {
                    recording.local_offset_s =
                        value.parse().ok().filter(|o: &i32| o.abs() <= 18 * 3600);
                }
                _ => {}
            }
        }
        rest = &rest[end..];
        line += 1;
    }
    let first_line = line;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(rest);
    let header = reader
        .headers()
        .map_err(|e| error(first_line, e.to_string()))?
        .clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    if names.is_empty() || names.len() > HEADER.len() || names != HEADER[..names.len()] {
        return Err(error(
            first_line,
            format!(
                "header is {:?}, expected {} (or a leading part of it)",
                cut(&names.join(",")),
                HEADER.join(",")
            ),
        ));
    }
    let line_of = |position: Option<&::csv::Position>| {
        position.map_or(first_line, |p| p.line() + first_line - 1)
    };
    for row in reader.records() {
        let row = row.map_err(|e| error(line_of(e.position()), e.to_string()))?;
        let line = line_of(row.position());
        limits.check_points(recording.points.len())?;
        let cell = |i: usize| -> Result<Option<f64>, FormatError> {
            let text = row.get(i).unwrap_or("").trim();
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(error(
                    line,
                    format!("{} {:?} is not a number", HEADER[i], cut(text)),
                )),
            }
        };
        let in_range = |i: usize, low: f64, high: f64| -> Result<Option<f64>, FormatError> {
            match cell(i)? {
                Some(v) if !(low..=high).contains(&v) => Err(error(
                    line,
                    format!("{} {v} is out of range ({low} to {high})", HEADER[i]),
                )),
                v => Ok(v),
            }
        };
        let Some(time_s) = in_range(0, 0.0, 1e9)? else {
            return Err(error(line, "time_s is empty".to_owned()));
        };
        let lat = in_range(6, -90.0, 90.0)?;
        let lon = in_range(7, -180.0, 180.0)?;
        let (lat_deg, lon_deg) = match (lat, lon) {
            (Some(lat), Some(lon)) => (Some(lat), Some(lon)),
            _ => (None, None),
        };
        recording.points.push(Point {
            t_ms: millis(time_s),
            heart_rate_bpm: in_range(1, 0.0, 255.0)?
                .and_then(|v| whole(v, 255))
                .filter(|&b| b > 0),
            power_w: in_range(2, 0.0, 65_535.0)?.and_then(|v| whole(v, u16::MAX)),
            cadence_rpm: in_range(3, 0.0, 1e4)?.map(f32_of),
            speed_mps: in_range(4, 0.0, 1e4)?.map(f32_of),
            distance_m: in_range(5, 0.0, 1e9)?,
            lat_deg,
            lon_deg,
            altitude_m: in_range(8, -1e5, 1e5)?.map(f32_of),
        });
    }
    recording.points.sort_by_key(|p| p.t_ms);
    Ok(recording)
}

/// A stated total: a finite, non-negative number (else none).
fn total(text: &str) -> Option<f64> {
    text.parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Seconds (0 to 1e9) as whole milliseconds.
fn millis(seconds: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, reason = "0 ≤ seconds ≤ 1e9")]
    let ms = (seconds * 1000.0).round().clamp(0.0, 1e12) as u64;
    ms
}

/// Writes a recording as CSV, with its `#` lines. Times are in seconds with millisecond
/// precision; every number reads back as the same value.
pub fn write_recording(recording: &Recording) -> Vec<u8> {
    let mut out = String::with_capacity(200 + recording.points.len() * 80);
    let _ = writeln!(out, "# start: {}", time::format_utc(recording.start_ms));
    let _ = writeln!(out, "# sport: {}", recording.sport.name());
    if let Some(offset) = recording.local_offset_s {
        let _ = writeln!(out, "# local_offset_s: {offset}");
    }
    let totals = &recording.totals;
    for (key, value) in [
        ("elapsed_s", totals.elapsed_s),
        ("moving_s", totals.moving_s),
        ("distance_m", totals.distance_m),
        ("energy_kcal", totals.energy_kcal),
        ("ascent_m", totals.ascent_m),
    ] {
        if let Some(value) = value {
            let _ = writeln!(out, "# {key}: {value}");
        }
    }
    for (key, value) in [("name", &recording.name), ("device", &recording.device)] {
        if let Some(value) = value {
            // One line each: line breaks become spaces.
            let value: String = value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let _ = writeln!(out, "# {key}: {}", value.trim());
        }
    }
    out.push_str(&HEADER.join(","));
    out.push('\n');
    for p in &recording.points {
        let _ = write!(out, "{}.{:03}", p.t_ms / 1000, p.t_ms % 1000);
        let cells = [
            p.heart_rate_bpm.map(|v| v.to_string()),
            p.power_w.map(|v| v.to_string()),
            p.cadence_rpm.map(|v| v.to_string()),
            p.speed_mps.map(|v| v.to_string()),
            p.distance_m.map(|v| v.to_string()),
            p.lat_deg.map(|v| v.to_string()),
            p.lon_deg.map(|v| v.to_string()),
            p.altitude_m.map(|v| v.to_string()),
        ];
        for cell in cells {
            out.push(',');
            if let Some(cell) = cell {
                out.push_str(&cell);
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}
