//! What Strava's API v3 returns, read as untrusted input: activity lists, an activity's
//! detail and its streams, into the library's neutral [`Recording`].
//!
//! Every reader checks the body's size against a named cap before parsing, every value
//! against a plausible range after, and says what was wrong: a bad answer fails the one
//! job that fetched it, never the process. The serde types are also what the local
//! provider servers serve (`tests/providers`), so the JSON is defined once.
//!
//! Paging ([`ActivityPager`]): `GET /api/v3/athlete/activities?after=&page=&per_page=200`
//! answers oldest first when `after` is given; a page shorter than 200 is the last. The
//! pager is plain data (serde), stored in the job's payload after every page, so a
//! gateway killed in a backfill resumes at the page it was on; the activity library's
//! same-copy rule (source `strava`, the activity id) makes a page fetched twice harmless.

use paceline_formats::{Point, Recording, Sport, Totals};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Activities asked for per page (Strava's maximum).
pub const PER_PAGE: u32 = 200;
/// The largest activity-list page read, bytes (200 summaries with map polylines are well
/// under 1 MiB).
pub const MAX_ACTIVITY_LIST_BYTES: usize = 4 * 1024 * 1024;
/// The largest activity detail read, bytes (segment efforts and laps included).
pub const MAX_ACTIVITY_BYTES: usize = 4 * 1024 * 1024;
/// The largest streams body read, bytes (48 h at 1 Hz with every stream is about 12 MiB).
pub const MAX_STREAMS_BYTES: usize = 24 * 1024 * 1024;
/// The most points a stream may hold (48 hours at 1 Hz).
pub const MAX_STREAM_POINTS: usize = 172_800;
/// The most pages one backfill or delta run asks for (100,000 activities): a provider
/// that never sends a short page cannot keep a job running forever.
pub const MAX_PAGES: u32 = 500;
/// How far back a delta sync looks before the newest start it has seen, s (3 days):
/// activities uploaded late (a watch synced days after the run) are still found; those
/// already imported are the same copy and change nothing.
pub const DELTA_OVERLAP_S: i64 = 3 * 86_400;
/// The default backfill window, days.
pub const DEFAULT_BACKFILL_DAYS: u32 = 90;
/// The streams asked for, in the order `keys=` names them.
pub const STREAM_KEYS: &str =
    "time,heartrate,watts,cadence,distance,altitude,latlng,velocity_smooth";

/// A Strava body that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StravaError {
    /// Bigger than its cap.
    #[error("the {what} is {bytes} bytes; at most {max} are read")]
    TooLarge {
        /// Which body.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// Not the JSON Strava documents.
    #[error("the {what} is malformed: {reason}")]
    Malformed {
        /// Which body.
        what: &'static str,
        /// What the JSON reader said.
        reason: String,
    },
    /// A field with an impossible value.
    #[error("activity {id}: {field} is {value}, which is not plausible")]
    Implausible {
        /// The activity.
        id: u64,
        /// The field.
        field: &'static str,
        /// What it said.
        value: String,
    },
    /// A stream whose length differs from the `time` stream's.
    #[error("the {stream} stream has {len} points, the time stream {expected}")]
    StreamLength {
        /// The stream.
        stream: &'static str,
        /// Its length.
        len: usize,
        /// The time stream's.
        expected: usize,
    },
    /// More than [`MAX_STREAM_POINTS`] points, or no `time` stream.
    #[error("the streams have {0} points (1 to 172,800 time points are read)")]
    StreamSize(usize),
    /// A stream value out of range, or time going backwards.
    #[error("the {stream} stream's point {index} is {value}, out of range")]
    OutOfRange {
        /// The stream.
        stream: &'static str,
        /// The point's index.
        index: usize,
        /// Its value.
        value: f64,
    },
}

/// The athlete an activity belongs to, as Strava references it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AthleteRef {
    /// Strava's athlete id (the webhook's `owner_id`).
    pub id: u64,
}

/// One activity of `GET /api/v3/athlete/activities` (Strava's SummaryActivity, the
/// fields Paceline reads; others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryActivity {
    /// Strava's activity id.
    pub id: u64,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete: Option<AthleteRef>,
    /// The title.
    #[serde(default)]
    pub name: String,
    /// The legacy type (`Ride`, `Run`, …).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    /// The sport type (`Ride`, `MountainBikeRide`, `VirtualRide`, `TrailRun`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport_type: Option<String>,
    /// Start, ISO 8601 in UTC (`2018-02-16T14:52:54Z`).
    pub start_date: String,
    /// Start in the athlete's local time, written with a `Z` as Strava does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_local: Option<String>,
    /// The local time's offset from UTC, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<f64>,
    /// Elapsed time, s.
    pub elapsed_time: u32,
    /// Moving time, s.
    #[serde(default)]
    pub moving_time: u32,
    /// Distance, m.
    #[serde(default)]
    pub distance: f64,
    /// Elevation gain, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_elevation_gain: Option<f64>,
    /// Mean heart rate, bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_heartrate: Option<f64>,
    /// Highest heart rate, bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_heartrate: Option<f64>,
    /// Mean power, W (estimated unless `device_watts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_watts: Option<f64>,
    /// Whether the power came from a power meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_watts: Option<bool>,
    /// Work, kJ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kilojoules: Option<f64>,
    /// Whether it was ridden on a trainer.
    #[serde(default)]
    pub trainer: bool,
    /// Whether it was typed in by hand (no streams).
    #[serde(default)]
    pub manual: bool,
    /// The uploaded file's name, if it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `GET /api/v3/activities/{id}` (Strava's DetailedActivity): the summary's fields and a
/// few more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailedActivity {
    /// What the summary holds.
    #[serde(flatten)]
    pub summary: SummaryActivity,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Energy, kcal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calories: Option<f64>,
    /// The recording device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// One stream of `GET /api/v3/activities/{id}/streams?key_by_type=true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream<T> {
    /// The values, one per point (`null` where the sensor had none).
    pub data: Vec<Option<T>>,
    /// What the points are indexed by (`time` or `distance`).
    #[serde(default)]
    pub series_type: String,
    /// Points before any downsampling.
    #[serde(default)]
    pub original_size: u64,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub resolution: String,
}

/// The streams of one activity, keyed by type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamSet {
    /// Seconds since the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Stream<f64>>,
    /// Heart rate, bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartrate: Option<Stream<f64>>,
    /// Power, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watts: Option<Stream<f64>>,
    /// Cadence, rpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Stream<f64>>,
    /// Distance since the start, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<Stream<f64>>,
    /// Altitude, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<Stream<f64>>,
    /// `[latitude, longitude]`, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latlng: Option<Stream<[f64; 2]>>,
    /// Smoothed speed, m/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity_smooth: Option<Stream<f64>>,
}

fn bounded<'a, T: Deserialize<'a>>(
    what: &'static str,
    body: &'a [u8],
    max: usize,
) -> Result<T, StravaError> {
    if body.len() > max {
        return Err(StravaError::TooLarge {
            what,
            bytes: body.len(),
            max,
        });
    }
    serde_json::from_slice(body).map_err(|e| StravaError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Reads one page of the activity list. Only the shape is checked here: one implausible
/// activity must not fail the page (and with it the whole backfill), so each one is
/// checked ([`SummaryActivity::check`]) by the job that imports it.
pub fn parse_activity_list(body: &[u8]) -> Result<Vec<SummaryActivity>, StravaError> {
    let list: Vec<SummaryActivity> = bounded("activity list", body, MAX_ACTIVITY_LIST_BYTES)?;
    if list.len() > PER_PAGE as usize {
        return Err(StravaError::Malformed {
            what: "activity list",
            reason: format!("{} activities on a page of {PER_PAGE}", list.len()),
        });
    }
    Ok(list)
}

/// Reads an activity's detail, checked.
pub fn parse_activity(body: &[u8]) -> Result<DetailedActivity, StravaError> {
    let activity: DetailedActivity = bounded("activity", body, MAX_ACTIVITY_BYTES)?;
    activity.summary.check()?;
    if let Some(kcal) = activity.calories {
        plausible(activity.summary.id, "calories", kcal, 0.0, 50_000.0)?;
    }
    Ok(activity)
}

/// Reads an activity's streams (`key_by_type=true`); [`recording`] checks them.
pub fn parse_streams(body: &[u8]) -> Result<StreamSet, StravaError> {
    bounded("streams", body, MAX_STREAMS_BYTES)
}

fn plausible(
    id: u64,
    field: &'static str,
    value: f64,
    low: f64,
    high: f64,
) -> Result<(), StravaError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(StravaError::Implausible {
            id,
            field,
            value: value.to_string(),
        })
    }
}

/// The earliest start accepted (1990-01-01T00:00:00Z), ms.
const EARLIEST_START_MS: i64 = 631_152_000_000;
/// The longest activity accepted, s (14 days).
const MAX_ELAPSED_S: u32 = 14 * 86_400;

impl SummaryActivity {
    /// The start, ms since the Unix epoch, checked: ISO 8601 in UTC, from 1990 on.
    pub fn start_ms(&self) -> Result<i64, StravaError> {
        let implausible = || StravaError::Implausible {
            id: self.id,
            field: "start_date",
            value: format!("{:?}", self.start_date.chars().take(40).collect::<String>()),
        };
        let start = OffsetDateTime::parse(&self.start_date, &Rfc3339).map_err(|_| implausible())?;
        let start_ms =
            i64::try_from(start.unix_timestamp_nanos() / 1_000_000).map_err(|_| implausible())?;
        if start_ms < EARLIEST_START_MS {
            return Err(implausible());
        }
        Ok(start_ms)
    }

    /// The Paceline sport: `sport_type` first, the legacy `type` otherwise.
    pub fn sport(&self) -> Sport {
        sport(
            self.sport_type
                .as_deref()
                .or(self.activity_type.as_deref())
                .unwrap_or(""),
            self.trainer,
        )
    }

    /// Every value is plausible: a start from 1990 on, at most 14 days long, distance
    /// under 10,000 km, heart rate 20–250 bpm, power
    /// 0–3,000 W.
    pub fn check(&self) -> Result<(), StravaError> {
        self.start_ms()?;
        let id = self.id;
        plausible(
            id,
            "elapsed_time",
            f64::from(self.elapsed_time),
            0.0,
            f64::from(MAX_ELAPSED_S),
        )?;
        plausible(id, "distance", self.distance, 0.0, 1.0e7)?;
        for (field, value, low, high) in [
            (
                "total_elevation_gain",
                self.total_elevation_gain,
                0.0,
                100_000.0,
            ),
            ("average_heartrate", self.average_heartrate, 20.0, 250.0),
            ("max_heartrate", self.max_heartrate, 20.0, 255.0),
            ("average_watts", self.average_watts, 0.0, 3_000.0),
            ("kilojoules", self.kilojoules, 0.0, 100_000.0),
            ("utc_offset", self.utc_offset, -50_400.0, 50_400.0),
        ] {
            if let Some(value) = value {
                plausible(id, field, value, low, high)?;
            }
        }
        Ok(())
    }
}

/// The Paceline sport for a Strava `sport_type` (or legacy `type`); a ride on a trainer is
/// indoor cycling. Names the file readers know are shared with them
/// ([`Sport::from_name`]); Strava's newer types are added here.
pub fn sport(sport_type: &str, trainer: bool) -> Sport {
    let sport = match sport_type {
        "EMountainBikeRide" | "Velomobile" | "Handcycle" => Sport::Cycling,
        "VirtualRow" => Sport::Rowing,
        "Crossfit" | "HighIntensityIntervalTraining" => Sport::Strength,
        other => Sport::from_name(other),
    };
    if trainer && sport == Sport::Cycling {
        Sport::IndoorCycling
    } else {
        sport
    }
}

/// An activity's detail and streams as the library's [`Recording`]: one point per
/// recorded second of the `time` stream (Strava's times are whole seconds; pauses stay
/// gaps, as in a FIT file). Every stream present must have the `time` stream's length
/// and plausible values: heart rate 0–255 bpm (0 is no reading), power 0–4,000 W,
/// cadence 0–300 rpm, distance 0–10,000 km never decreasing by more than 1 m, altitude
/// −500–9,000 m, latitude ±90°, longitude ±180°, speed 0–100 m/s, time strictly
/// increasing within 14 days. A manual activity without streams gives no points.
pub fn recording(
    activity: &DetailedActivity,
    streams: &StreamSet,
) -> Result<Recording, StravaError> {
    let summary = &activity.summary;
    summary.check()?;
    let points = points(streams)?;
    Ok(Recording {
        sport: summary.sport(),
        start_ms: summary.start_ms()?,
        local_offset_s: summary.utc_offset.map(|s| {
            // Checked to ±14 h above, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let offset = s.round() as i32;
            offset
        }),
        name: (!summary.name.is_empty()).then(|| summary.name.chars().take(200).collect()),
        device: activity.device_name.clone(),
        totals: Totals {
            elapsed_s: Some(f64::from(summary.elapsed_time)),
            // Strava now and then reports more moving than elapsed time.
            moving_s: Some(f64::from(summary.moving_time.min(summary.elapsed_time))),
            distance_m: Some(summary.distance),
            energy_kcal: activity.calories,
            ascent_m: summary.total_elevation_gain,
        },
        points,
    })
}

fn same_length<T>(
    name: &'static str,
    stream: &Option<Stream<T>>,
    expected: usize,
) -> Result<(), StravaError> {
    match stream {
        Some(s) if s.data.len() != expected => Err(StravaError::StreamLength {
            stream: name,
            len: s.data.len(),
            expected,
        }),
        _ => Ok(()),
    }
}

fn value_at(
    name: &'static str,
    stream: &Option<Stream<f64>>,
    index: usize,
    low: f64,
    high: f64,
) -> Result<Option<f64>, StravaError> {
    let Some(value) = stream.as_ref().and_then(|s| s.data[index]) else {
        return Ok(None);
    };
    if (low..=high).contains(&value) {
        Ok(Some(value))
    } else {
        Err(StravaError::OutOfRange {
            stream: name,
            index,
            value,
        })
    }
}

// Every value is range-checked before it is cast, so the casts cannot truncate.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn points(streams: &StreamSet) -> Result<Vec<Point>, StravaError> {
    let Some(time) = &streams.time else {
        let any = streams.heartrate.is_some()
            || streams.watts.is_some()
            || streams.latlng.is_some()
            || streams.distance.is_some();
        return if any {
            Err(StravaError::StreamSize(0))
        } else {
            Ok(Vec::new())
        };
    };
    let n = time.data.len();
    if n == 0 || n > MAX_STREAM_POINTS {
        return Err(StravaError::StreamSize(n));
    }
    same_length("heartrate", &streams.heartrate, n)?;
    same_length("watts", &streams.watts, n)?;
    same_length("cadence", &streams.cadence, n)?;
    same_length("distance", &streams.distance, n)?;
    same_length("altitude", &streams.altitude, n)?;
    same_length("latlng", &streams.latlng, n)?;
    same_length("velocity_smooth", &streams.velocity_smooth, n)?;

    let mut points = Vec::with_capacity(n);
    let mut last_t_s = -1.0;
    let mut last_distance_m = 0.0;
    for i in 0..n {
        let t_s = match time.data[i] {
            Some(t) if t > last_t_s && t <= f64::from(MAX_ELAPSED_S) && t.fract() == 0.0 => t,
            other => {
                return Err(StravaError::OutOfRange {
                    stream: "time",
                    index: i,
                    value: other.unwrap_or(f64::NAN),
                });
            }
        };
        last_t_s = t_s;
        let distance_m = value_at("distance", &streams.distance, i, 0.0, 1.0e7)?;
        if let Some(d) = distance_m {
            if d < last_distance_m - 1.0 {
                return Err(StravaError::OutOfRange {
                    stream: "distance",
                    index: i,
                    value: d,
                });
            }
            last_distance_m = last_distance_m.max(d);
        }
        let (lat_deg, lon_deg) = match streams.latlng.as_ref().and_then(|s| s.data[i]) {
            None => (None, None),
            Some([lat, lon])
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                (Some(lat), Some(lon))
            }
            Some([lat, lon]) => {
                return Err(StravaError::OutOfRange {
                    stream: "latlng",
                    index: i,
                    value: if (-90.0..=90.0).contains(&lat) {
                        lon
                    } else {
                        lat
                    },
                });
            }
        };
        points.push(Point {
            t_ms: (t_s as u64) * 1000,
            heart_rate_bpm: value_at("heartrate", &streams.heartrate, i, 0.0, 255.0)?
                .filter(|hr| *hr > 0.0)
                .map(|hr| hr.round() as u16),
            power_w: value_at("watts", &streams.watts, i, 0.0, 4_000.0)?.map(|w| w.round() as u16),
            cadence_rpm: value_at("cadence", &streams.cadence, i, 0.0, 300.0)?.map(|c| c as f32),
            speed_mps: value_at("velocity_smooth", &streams.velocity_smooth, i, 0.0, 100.0)?
                .map(|v| v as f32),
            distance_m,
            lat_deg,
            lon_deg,
            altitude_m: value_at("altitude", &streams.altitude, i, -500.0, 9_000.0)?
                .map(|a| a as f32),
        });
    }
    Ok(points)
}

/// `GET` path of an activity's detail.
pub fn activity_path(activity_id: u64) -> String {
    format!("/api/v3/activities/{activity_id}")
}

/// `GET` path of an activity's streams, every stream Paceline reads, keyed by type.
pub fn streams_path(activity_id: u64) -> String {
    format!("/api/v3/activities/{activity_id}/streams?keys={STREAM_KEYS}&key_by_type=true")
}

/// Where a backfill or delta sync is: plain data, stored in the job's payload after every
/// page so a restart resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityPager {
    /// Activities that started after this, s since the Unix epoch.
    pub after_s: i64,
    /// The next page to ask for, from 1.
    pub page: u32,
    /// The newest start seen so far, s (the next delta sync starts from it).
    pub newest_start_s: Option<i64>,
    /// Whether the last page has been read.
    pub done: bool,
}

/// What a pager says after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStep {
    /// Ask for the next page ([`ActivityPager::path`]).
    Next,
    /// That was the last page.
    Done,
    /// [`MAX_PAGES`] pages were read and the provider still sends full pages: stop, and
    /// tell the admin.
    TooManyPages,
}

impl ActivityPager {
    /// A backfill of the `days` before `now_s`: `after = now_s − days × 86,400`.
    pub fn backfill(now_s: i64, days: u32) -> ActivityPager {
        ActivityPager::from_after(now_s.saturating_sub(i64::from(days) * 86_400))
    }

    /// A delta sync after the newest start a previous run saw, looking back
    /// [`DELTA_OVERLAP_S`] for late uploads.
    pub fn delta(newest_start_s: i64) -> ActivityPager {
        let mut pager = ActivityPager::from_after(newest_start_s.saturating_sub(DELTA_OVERLAP_S));
        pager.newest_start_s = Some(newest_start_s);
        pager
    }

    fn from_after(after_s: i64) -> ActivityPager {
        ActivityPager {
            after_s,
            page: 1,
            newest_start_s: None,
            done: false,
        }
    }

    /// The `GET` path of the next page (`None` once done).
    pub fn path(&self) -> Option<String> {
        (!self.done).then(|| {
            format!(
                "/api/v3/athlete/activities?after={}&page={}&per_page={PER_PAGE}",
                self.after_s, self.page
            )
        })
    }

    /// Takes in the page just read: a full page means there may be more.
    pub fn record_page(&mut self, page: &[SummaryActivity]) -> PageStep {
        if self.done {
            return PageStep::Done;
        }
        for activity in page {
            if let Ok(start_ms) = activity.start_ms() {
                let start_s = start_ms.div_euclid(1000);
                self.newest_start_s = Some(self.newest_start_s.map_or(start_s, |n| n.max(start_s)));
            }
        }
        if page.len() < PER_PAGE as usize {
            self.done = true;
            return PageStep::Done;
        }
        if self.page >= MAX_PAGES {
            self.done = true;
            return PageStep::TooManyPages;
        }
        self.page += 1;
        PageStep::Next
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A summary as Strava's API reference shows one (trimmed to the fields read, plus a
    /// few it ignores).
    const SUMMARY: &str = r#"{
        "resource_state": 2, "athlete": {"id": 134815, "resource_state": 1},
        "name": "Happy Friday", "distance": 24931.4, "moving_time": 4500,
        "elapsed_time": 4500, "total_elevation_gain": 0, "type": "Ride",
        "sport_type": "MountainBikeRide", "workout_type": null, "id": 154504250376823,
        "external_id": "garmin_push_12345678987654321", "upload_id": 987654321234567900000,
        "start_date": "2018-05-02T12:15:09Z", "start_date_local": "2018-05-02T05:15:09Z",
        "timezone": "(GMT-08:00) America/Los_Angeles", "utc_offset": -25200,
        "achievement_count": 0, "trainer": false, "commute": false, "manual": false,
        "private": false, "flagged": false, "gear_id": "b12345678987654321",
        "average_speed": 5.54, "max_speed": 11, "device_watts": false,
        "has_heartrate": false, "average_watts": 175.8, "kilojoules": 791.1
    }"#;

    #[test]
    fn summary_list_from_the_api_reference() {
        let body = format!("[{SUMMARY}]");
        let list = parse_activity_list(body.as_bytes()).unwrap();
        let a = &list[0];
        assert_eq!(a.id, 154_504_250_376_823);
        assert_eq!(a.athlete, Some(AthleteRef { id: 134_815 }));
        assert_eq!(a.sport(), Sport::Cycling);
        // 2018-05-02T12:15:09Z: 17,653 days after 1970-01-01 → 1,525,219,200 s, plus
        // 12 h 15 min 9 s = 44,109 s → 1,525,263,309 s.
        assert_eq!(a.start_ms().unwrap(), 1_525_263_309_000);
        assert_eq!(a.average_watts, Some(175.8));
        assert_eq!(a.device_watts, Some(false));
        assert_eq!(parse_activity_list(b"[]").unwrap(), Vec::new());
    }

    #[test]
    fn implausible_summaries_are_refused() {
        for (from, to, field) in [
            (
                r#""elapsed_time": 4500"#,
                r#""elapsed_time": 1300000"#,
                "elapsed_time",
            ),
            (
                r#""average_watts": 175.8"#,
                r#""average_watts": 175.8, "max_heartrate": 256"#,
                "max_heartrate",
            ),
            (r#""distance": 24931.4"#, r#""distance": -1"#, "distance"),
            (
                r#""average_watts": 175.8"#,
                r#""average_watts": 3001"#,
                "average_watts",
            ),
            (
                r#""start_date": "2018-05-02T12:15:09Z""#,
                r#""start_date": "1989-12-31T23:59:59Z""#,
                "start_date",
            ),
            (
                r#""start_date": "2018-05-02T12:15:09Z""#,
                r#""start_date": "yesterday""#,
                "start_date",
            ),
        ] {
            // The page reads (one bad activity does not fail it); the activity does not.
            let body = format!("[{SUMMARY}, {}]", SUMMARY.replace(from, to));
            let page = parse_activity_list(body.as_bytes()).unwrap();
            assert_eq!(page[0].check(), Ok(()));
            match page[1].check() {
                Err(StravaError::Implausible { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{to}: {other:?}"),
            }
            match parse_activity(SUMMARY.replace(from, to).as_bytes()) {
                Err(StravaError::Implausible { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{to}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_activity_list(br#"{"message":"Authorization Error"}"#),
            Err(StravaError::Malformed {
                what: "activity list",
                ..
            })
        ));
        let big = vec![b' '; MAX_ACTIVITY_LIST_BYTES + 1];
        assert!(matches!(
            parse_activity_list(&big),
            Err(StravaError::TooLarge { .. })
        ));
    }

    #[test]
    fn sports_map_to_the_library_names() {
        for (name, trainer, expected) in [
            ("Ride", false, Sport::Cycling),
            ("Ride", true, Sport::IndoorCycling),
            ("VirtualRide", false, Sport::IndoorCycling),
            ("GravelRide", false, Sport::Cycling),
            ("EMountainBikeRide", false, Sport::Cycling),
            ("TrailRun", false, Sport::Running),
            ("VirtualRun", false, Sport::TreadmillRunning),
            ("Swim", false, Sport::Swimming),
            ("VirtualRow", false, Sport::Rowing),
            ("WeightTraining", false, Sport::Strength),
            ("Kitesurf", false, Sport::Other),
        ] {
            assert_eq!(sport(name, trainer), expected, "{name}");
        }
    }

    fn detail() -> DetailedActivity {
        let body = SUMMARY.replacen(
            '{',
            r#"{"calories": 870.2, "device_name": "Garmin Edge 530","#,
            1,
        );
        parse_activity(body.as_bytes()).unwrap()
    }

    #[test]
    fn streams_become_points() {
        let streams = parse_streams(
            br#"{
            "time": {"data": [0, 1, 2, 5], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "heartrate": {"data": [0, 121, 122.4, 130], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "watts": {"data": [null, 200, 210, 0], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "distance": {"data": [0, 5.5, 11.0, 26.0], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "latlng": {"data": [[37.77, -122.42], [37.7701, -122.42], null, [37.7702, -122.4201]], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "velocity_smooth": {"data": [0, 5.5, 5.5, 5.0], "series_type": "distance", "original_size": 4, "resolution": "high"}
        }"#,
        )
        .unwrap();
        let recording = recording(&detail(), &streams).unwrap();
        assert_eq!(recording.sport, Sport::Cycling);
        assert_eq!(recording.start_ms, 1_525_263_309_000);
        assert_eq!(recording.local_offset_s, Some(-25_200));
        assert_eq!(recording.device.as_deref(), Some("Garmin Edge 530"));
        assert_eq!(recording.totals.energy_kcal, Some(870.2));
        let p = &recording.points;
        assert_eq!(p.len(), 4);
        // Seconds 0, 1, 2, 5 → 0, 1,000, 2,000, 5,000 ms; the pause of 3 s stays a gap.
        assert_eq!(
            p.iter().map(|p| p.t_ms).collect::<Vec<_>>(),
            [0, 1000, 2000, 5000]
        );
        // A heart rate of 0 is no reading; 122.4 rounds to 122.
        assert_eq!(
            p.iter().map(|p| p.heart_rate_bpm).collect::<Vec<_>>(),
            [None, Some(121), Some(122), Some(130)]
        );
        assert_eq!(p[0].power_w, None);
        assert_eq!(p[3].power_w, Some(0));
        assert_eq!(p[2].lat_deg, None);
        assert_eq!(p[3].lon_deg, Some(-122.4201));
        assert_eq!(p[1].speed_mps, Some(5.5));
        assert_eq!(p[0].cadence_rpm, None);
    }

    #[test]
    fn bad_streams_are_errors() {
        let check = |json: &str| recording(&detail(), &parse_streams(json.as_bytes()).unwrap());
        assert_eq!(
            check(r#"{"time":{"data":[0,1,2]},"heartrate":{"data":[100,101]}}"#).unwrap_err(),
            StravaError::StreamLength {
                stream: "heartrate",
                len: 2,
                expected: 3
            }
        );
        assert_eq!(
            check(r#"{"time":{"data":[0,2,2]}}"#).unwrap_err(),
            StravaError::OutOfRange {
                stream: "time",
                index: 2,
                value: 2.0
            }
        );
        assert_eq!(
            check(r#"{"time":{"data":[0,1]},"watts":{"data":[100,4001]}}"#).unwrap_err(),
            StravaError::OutOfRange {
                stream: "watts",
                index: 1,
                value: 4001.0
            }
        );
        assert_eq!(
            check(r#"{"time":{"data":[0,1]},"latlng":{"data":[[91,0],[0,0]]}}"#).unwrap_err(),
            StravaError::OutOfRange {
                stream: "latlng",
                index: 0,
                value: 91.0
            }
        );
        assert_eq!(
            check(r#"{"time":{"data":[0,1]},"distance":{"data":[10,8]}}"#).unwrap_err(),
            StravaError::OutOfRange {
                stream: "distance",
                index: 1,
                value: 8.0
            }
        );
        assert_eq!(
            check(r#"{"heartrate":{"data":[100]}}"#).unwrap_err(),
            StravaError::StreamSize(0)
        );
        // A manual activity has no streams at all: no points.
        assert_eq!(check("{}").unwrap().points, Vec::new());
    }

    #[test]
    fn paging_until_a_short_page() {
        // A backfill of 90 days on 2026-12-06T00:00:00Z (1,796,515,200 s):
        // 1,796,515,200 − 90 × 86,400 (7,776,000) = 1,788,739,200.
        let mut pager = ActivityPager::backfill(1_796_515_200, DEFAULT_BACKFILL_DAYS);
        assert_eq!(
            pager.path().unwrap(),
            "/api/v3/athlete/activities?after=1788739200&page=1&per_page=200"
        );
        let one: SummaryActivity = serde_json::from_str(SUMMARY).unwrap();
        let full = vec![one.clone(); 200];
        assert_eq!(pager.record_page(&full), PageStep::Next);
        assert_eq!(
            pager.path().unwrap(),
            "/api/v3/athlete/activities?after=1788739200&page=2&per_page=200"
        );
        let mut later = one.clone();
        later.start_date = "2018-05-03T12:15:09Z".to_owned();
        assert_eq!(pager.record_page(&[later]), PageStep::Done);
        assert_eq!(pager.path(), None);
        // The newest start: 1,525,263,309 + 86,400 = 1,525,349,709.
        assert_eq!(pager.newest_start_s, Some(1_525_349_709));
        // The next delta looks back 3 days: 1,525,349,709 − 259,200 = 1,525,090,509.
        let delta = ActivityPager::delta(1_525_349_709);
        assert_eq!(delta.after_s, 1_525_090_509);
        // Stored and read back, it resumes at the same page.
        let stored = serde_json::to_string(&pager).unwrap();
        assert_eq!(
            serde_json::from_str::<ActivityPager>(&stored).unwrap(),
            pager
        );

        let mut endless = ActivityPager::delta(0);
        endless.page = MAX_PAGES;
        assert_eq!(endless.record_page(&full), PageStep::TooManyPages);
        assert!(endless.done);
    }

    #[test]
    fn paths() {
        assert_eq!(activity_path(42), "/api/v3/activities/42");
        assert_eq!(
            streams_path(42),
            "/api/v3/activities/42/streams?keys=time,heartrate,watts,cadence,distance,altitude,latlng,velocity_smooth&key_by_type=true"
        );
    }

    #[test]
    fn served_json_reads_back() {
        let detail = detail();
        let served = serde_json::to_vec(&detail).unwrap();
        assert_eq!(parse_activity(&served).unwrap(), detail);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_activity_list(&body);
            let _ = parse_activity(&body);
            if let Ok(streams) = parse_streams(&body) {
                let _ = recording(&detail(), &streams);
            }
        }

        #[test]
        fn any_stream_values_give_points_or_an_error(
            time in proptest::collection::vec(proptest::option::of(-10.0f64..2.0e6), 0..20),
            hr in proptest::collection::vec(proptest::option::of(-10.0f64..400.0), 0..20),
            latlng in proptest::collection::vec(proptest::option::of(any::<[f64; 2]>()), 0..20),
        ) {
            let stream = |data| Some(Stream { data, series_type: String::new(), original_size: 0, resolution: String::new() });
            let streams = StreamSet {
                time: stream(time),
                heartrate: stream(hr),
                latlng: Some(Stream { data: latlng, series_type: String::new(), original_size: 0, resolution: String::new() }),
                ..StreamSet::default()
            };
            if let Ok(r) = recording(&detail(), &streams) {
                prop_assert!(r.points.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
            }
        }
    }
}
