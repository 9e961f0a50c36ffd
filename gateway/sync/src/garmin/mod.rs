//! Garmin's push and ping notifications, and what its callbacks return.
//!
//! Garmin posts one body per change, keyed by summary type: `activities`,
//! `activityDetails`, `dailies`, `sleeps`, `hrv`, `stressDetails`, `userMetrics`, plus
//! `deregistrations` and `userPermissionsChange`. A *push* item carries the summary
//! itself; a *ping* item carries a `callbackURL` to fetch with the user's token
//! ([`GarminItem::Ping`] → [`Job::FetchCallback`]). A callback answers with a plain array
//! of the same summaries ([`parse_callback`]).
//!
//! Read as untrusted input: bounded ([`MAX_NOTIFICATION_BYTES`], [`MAX_ITEMS`],
//! [`MAX_SAMPLES`]); a structural fault (no `userId`, a bad `calendarDate`) refuses the
//! body; a value outside its plausible range (a resting heart rate of 400, a stress level
//! of −1 meaning "not enough data") is simply absent, as bad sensor data is not an error.
//! A callback URL must be on Garmin's API origin: Paceline never fetches a URL an
//! unsigned body chose elsewhere with a user's token.
//!
//! Health summaries become [`DailyMetrics`] per user and calendar date
//! ([`daily_metrics`]): resting heart rate and stress from `dailies` (stress from
//! `stressDetails` when the daily has none), HRV from `hrv` (`lastNightAvg`), sleep time
//! (deep + light + REM, else the duration) and score from `sleeps`; the fields planning's
//! recovery score reads. The gateway folds each notification into the stored row with
//! [`DailyMetrics::apply`], so the order notifications arrive in does not matter.

pub mod body;

use std::collections::BTreeMap;

use paceline_formats::{Point, Recording, Sport, Totals};
use serde_json::Value;
use thiserror::Error;
use time::Date;
use time::macros::format_description;
use url::Url;

use crate::jobs::{Job, SummaryType};
use crate::provider::Provider;

pub use body::{
    ActivityBody, ActivityDetailBody, DailyBody, HrvBody, PermissionsBody, PingBody, SampleBody,
    ScoreBody, SleepBody, StressDetailsBody, UserBody, UserMetricsBody,
};

/// The largest notification or callback body read, bytes (activity details carry every
/// sample).
pub const MAX_NOTIFICATION_BYTES: usize = 16 * 1024 * 1024;
/// The most items read from one body.
pub const MAX_ITEMS: usize = 1000;
/// The most samples of one activity, or stress values of one day.
pub const MAX_SAMPLES: usize = 172_800;

/// A Garmin body that is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GarminError {
    /// Bigger than [`MAX_NOTIFICATION_BYTES`].
    #[error("the body is {0} bytes; at most 16 MiB are read")]
    TooLarge(usize),
    /// More than [`MAX_ITEMS`] items or [`MAX_SAMPLES`] samples.
    #[error("the {what} has {count} entries; at most {max} are read")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// Not the JSON Garmin documents.
    #[error("the {what} is malformed: {reason}")]
    Malformed {
        /// Which summary type or body.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A ping's callback URL is not on Garmin's API origin.
    #[error("a callback URL is not on the configured Garmin API origin")]
    ForeignCallback,
}

/// A day's health values, as planning's recovery score reads them. Absent values are
/// `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DailyMetrics {
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<f64>,
    /// Overnight heart-rate variability (rMSSD), ms.
    pub hrv_ms: Option<f64>,
    /// Sleep, s.
    pub sleep_s: Option<f64>,
    /// Sleep score, 0–100.
    pub sleep_score: Option<f64>,
    /// Stress, 0–100.
    pub stress: Option<f64>,
}

impl DailyMetrics {
    /// Takes in what one summary says of the day, as the stored row or a batch folds it:
    /// a `stressDetails` mean only fills a stress the day lacks (Garmin's own daily
    /// average, from `dailies`, is believed first, whichever arrives first); every other
    /// summary's present values replace the day's ([`DailyMetrics::merge`]).
    pub fn apply(&mut self, summary: SummaryType, metrics: &DailyMetrics) {
        if summary == SummaryType::StressDetails {
            if self.stress.is_none() {
                self.stress = metrics.stress;
            }
        } else {
            self.merge(metrics);
        }
    }

    /// Each field of `newer` that is present replaces this one's.
    pub fn merge(&mut self, newer: &DailyMetrics) {
        let fields = [
            (&mut self.resting_hr_bpm, newer.resting_hr_bpm),
            (&mut self.hrv_ms, newer.hrv_ms),
            (&mut self.sleep_s, newer.sleep_s),
            (&mut self.sleep_score, newer.sleep_score),
            (&mut self.stress, newer.stress),
        ];
        for (field, value) in fields {
            if value.is_some() {
                *field = value;
            }
        }
    }
}

/// One item of a notification or callback.
#[derive(Debug, Clone, PartialEq)]
pub enum GarminItem {
    /// Fetch `callback_url` with the user's token for `summary`s.
    Ping {
        /// What the callback returns.
        summary: SummaryType,
        /// Garmin's user id.
        user_id: String,
        /// The URL, checked to be on the API origin.
        callback_url: String,
    },
    /// An activity: its summary, and its samples when it came as `activityDetails`.
    Activity {
        /// Garmin's user id.
        user_id: String,
        /// Garmin's summary id (the library's external id for source `garmin`).
        summary_id: String,
        /// The activity as the library reads it.
        recording: Recording,
    },
    /// A day's health values from one summary (`dailies`, `sleeps`, `hrv`,
    /// `stressDetails`).
    Daily {
        /// Garmin's user id.
        user_id: String,
        /// The calendar date the summary is for.
        date: Date,
        /// Which summary it came from.
        summary: SummaryType,
        /// What it says.
        metrics: DailyMetrics,
    },
    /// User metrics.
    UserMetrics {
        /// Garmin's user id.
        user_id: String,
        /// The calendar date.
        date: Date,
        /// VO2max, ml/kg/min.
        vo2max_ml_kg_min: Option<f64>,
        /// Fitness age, years.
        fitness_age_years: Option<f64>,
    },
    /// The user disconnected Paceline in Garmin Connect.
    Deregistration {
        /// Garmin's user id.
        user_id: String,
    },
    /// The user changed what Paceline may read.
    PermissionsChange {
        /// Garmin's user id.
        user_id: String,
        /// The permissions now granted (`ACTIVITY_EXPORT`, `HEALTH_EXPORT`, …).
        permissions: Vec<String>,
    },
}

impl GarminItem {
    /// Garmin's user id the item is for.
    pub fn user_id(&self) -> &str {
        match self {
            GarminItem::Ping { user_id, .. }
            | GarminItem::Activity { user_id, .. }
            | GarminItem::Daily { user_id, .. }
            | GarminItem::UserMetrics { user_id, .. }
            | GarminItem::Deregistration { user_id }
            | GarminItem::PermissionsChange { user_id, .. } => user_id,
        }
    }

    /// The job the item asks for: a ping → fetch its callback, a deregistration →
    /// revoke. Push items carry their data and need none.
    pub fn job(&self) -> Option<Job> {
        match self {
            GarminItem::Ping {
                summary,
                user_id,
                callback_url,
            } => Some(Job::FetchCallback {
                owner_id: user_id.clone(),
                summary: *summary,
                callback_url: callback_url.clone(),
            }),
            GarminItem::Deregistration { user_id } => Some(Job::Revoke {
                provider: Provider::Garmin,
                owner_id: user_id.clone(),
            }),
            _ => None,
        }
    }
}

fn malformed(what: &'static str, reason: impl ToString) -> GarminError {
    GarminError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

fn items_of(what: &'static str, value: Value) -> Result<Vec<Value>, GarminError> {
    let Value::Array(items) = value else {
        return Err(malformed(what, "not an array"));
    };
    if items.len() > MAX_ITEMS {
        return Err(GarminError::TooMany {
            what,
            count: items.len(),
            max: MAX_ITEMS,
        });
    }
    Ok(items)
}

fn parse_body(body: &[u8]) -> Result<Value, GarminError> {
    if body.len() > MAX_NOTIFICATION_BYTES {
        return Err(GarminError::TooLarge(body.len()));
    }
    serde_json::from_slice(body).map_err(|e| malformed("body", e))
}

/// Reads a push or ping notification body. `api_origin` is Garmin's API origin (e.g.
/// `https://apis.garmin.com`): every ping's `callbackURL` must be on it. Items come in
/// a fixed order: summary types as [`SummaryType::ALL`] lists them, then
/// deregistrations, then permission changes; unknown keys are ignored.
pub fn parse_notification(body: &[u8], api_origin: &str) -> Result<Vec<GarminItem>, GarminError> {
    let Value::Object(mut keys) = parse_body(body)? else {
        return Err(malformed("body", "not an object"));
    };
    let origin = Url::parse(api_origin).ok();
    let mut items = Vec::new();
    for summary in SummaryType::ALL {
        let Some(value) = keys.remove(summary.as_str()) else {
            continue;
        };
        for item in items_of(summary.as_str(), value)? {
            if item.get("callbackURL").is_some() {
                let origin = origin.as_ref().ok_or(GarminError::ForeignCallback)?;
                items.push(ping(summary, item, origin)?);
            } else {
                items.push(summary_item(summary, item)?);
            }
        }
    }
    if let Some(value) = keys.remove("deregistrations") {
        for item in items_of("deregistrations", value)? {
            let raw: UserBody =
                serde_json::from_value(item).map_err(|e| malformed("deregistrations", e))?;
            items.push(GarminItem::Deregistration {
                user_id: checked_user(raw.user_id, "deregistrations")?,
            });
        }
    }
    if let Some(value) = keys.remove("userPermissionsChange") {
        for item in items_of("userPermissionsChange", value)? {
            let raw: PermissionsBody =
                serde_json::from_value(item).map_err(|e| malformed("userPermissionsChange", e))?;
            if raw.permissions.len() > 32 {
                return Err(malformed(
                    "userPermissionsChange",
                    "more than 32 permissions",
                ));
            }
            items.push(GarminItem::PermissionsChange {
                user_id: checked_user(raw.user_id, "userPermissionsChange")?,
                permissions: raw.permissions,
            });
        }
    }
    Ok(items)
}

/// Reads what a ping's callback returned: a plain array of `summary`s (no pings in it).
pub fn parse_callback(summary: SummaryType, body: &[u8]) -> Result<Vec<GarminItem>, GarminError> {
    items_of(summary.as_str(), parse_body(body)?)?
        .into_iter()
        .map(|item| summary_item(summary, item))
        .collect()
}

/// The largest user-id or permissions answer read, bytes.
pub const MAX_USER_BODY_BYTES: usize = 4096;
/// The longest time range one backfill request asks for, s (90 days, Garmin's limit).
pub const BACKFILL_MAX_RANGE_S: i64 = 90 * 86_400;
/// Garmin's user-id path (`GET` with the user's token, right after the token exchange:
/// Garmin's token answer does not name the user).
pub const USER_ID_PATH: &str = "/wellness-api/rest/user/id";
/// Garmin's user-permissions path.
pub const USER_PERMISSIONS_PATH: &str = "/wellness-api/rest/user/permissions";

/// Reads `GET /wellness-api/rest/user/id`: `{"userId": "…"}`.
pub fn parse_user_id(body: &[u8]) -> Result<String, GarminError> {
    if body.len() > MAX_USER_BODY_BYTES {
        return Err(GarminError::TooLarge(body.len()));
    }
    let raw: UserBody = serde_json::from_slice(body).map_err(|e| malformed("user id", e))?;
    checked_user(raw.user_id, "user id")
}

/// Reads `GET /wellness-api/rest/user/permissions`: a list such as `["ACTIVITY_EXPORT",
/// "HEALTH_EXPORT"]`.
pub fn parse_permissions(body: &[u8]) -> Result<Vec<String>, GarminError> {
    if body.len() > MAX_USER_BODY_BYTES {
        return Err(GarminError::TooLarge(body.len()));
    }
    serde_json::from_slice(body).map_err(|e| malformed("permissions", e))
}

/// The backfill requests for `summary` over `[start_s, end_s)`: `GET` paths of at most
/// [`BACKFILL_MAX_RANGE_S`] each, oldest first. Garmin answers 202 and later sends the
/// summaries as pushes or pings, so a backfill is these requests and nothing to page.
pub fn backfill_paths(summary: SummaryType, start_s: i64, end_s: i64) -> Vec<String> {
    let mut paths = Vec::new();
    let mut from = start_s;
    while from < end_s {
        let to = from.saturating_add(BACKFILL_MAX_RANGE_S).min(end_s);
        paths.push(format!(
            "/wellness-api/rest/backfill/{}?summaryStartTimeInSeconds={from}&summaryEndTimeInSeconds={to}",
            summary.as_str()
        ));
        from = to;
    }
    paths
}

/// Folds the health items into one [`DailyMetrics`] per user and date with
/// [`DailyMetrics::apply`], in order.
pub fn daily_metrics(items: &[GarminItem]) -> BTreeMap<(String, Date), DailyMetrics> {
    let mut days: BTreeMap<(String, Date), DailyMetrics> = BTreeMap::new();
    for item in items {
        if let GarminItem::Daily {
            user_id,
            date,
            summary,
            metrics,
        } = item
        {
            days.entry((user_id.clone(), *date))
                .or_default()
                .apply(*summary, metrics);
        }
    }
    days
}

fn checked_user(user_id: String, what: &'static str) -> Result<String, GarminError> {
    if user_id.is_empty() || user_id.len() > 128 {
        return Err(malformed(what, "userId is empty or longer than 128 bytes"));
    }
    Ok(user_id)
}

fn ping(summary: SummaryType, item: Value, origin: &Url) -> Result<GarminItem, GarminError> {
    let raw: PingBody = serde_json::from_value(item).map_err(|e| malformed(summary.as_str(), e))?;
    let url = Url::parse(&raw.callback_url).map_err(|_| GarminError::ForeignCallback)?;
    if url.origin() != origin.origin() || raw.callback_url.len() > 2048 {
        return Err(GarminError::ForeignCallback);
    }
    Ok(GarminItem::Ping {
        summary,
        user_id: checked_user(raw.user_id, summary.as_str())?,
        callback_url: url.into(),
    })
}

fn in_range(value: Option<f64>, low: f64, high: f64) -> Option<f64> {
    value.filter(|v| (low..=high).contains(v))
}

fn calendar_date(value: &str, what: &'static str) -> Result<Date, GarminError> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| {
        malformed(
            what,
            format!(
                "calendarDate {:?}",
                value.chars().take(20).collect::<String>()
            ),
        )
    })
}

fn summary_item(summary: SummaryType, item: Value) -> Result<GarminItem, GarminError> {
    let what = summary.as_str();
    let read = |e: serde_json::Error| malformed(what, e);
    match summary {
        SummaryType::Activities => {
            let raw: ActivityBody = serde_json::from_value(item).map_err(read)?;
            let user_id = checked_user(raw.user_id.clone().unwrap_or_default(), what)?;
            let summary_id = raw.summary_id.clone();
            Ok(GarminItem::Activity {
                user_id,
                summary_id,
                recording: activity_recording(raw, Vec::new())?,
            })
        }
        SummaryType::ActivityDetails => {
            let raw: ActivityDetailBody = serde_json::from_value(item).map_err(read)?;
            if raw.samples.len() > MAX_SAMPLES {
                return Err(GarminError::TooMany {
                    what,
                    count: raw.samples.len(),
                    max: MAX_SAMPLES,
                });
            }
            Ok(GarminItem::Activity {
                user_id: checked_user(raw.user_id, what)?,
                summary_id: raw.summary_id,
                recording: activity_recording(raw.summary, raw.samples)?,
            })
        }
        SummaryType::Dailies => {
            let raw: DailyBody = serde_json::from_value(item).map_err(read)?;
            Ok(GarminItem::Daily {
                summary,
                date: calendar_date(&raw.calendar_date, what)?,
                user_id: checked_user(raw.user_id, what)?,
                metrics: DailyMetrics {
                    resting_hr_bpm: in_range(
                        raw.resting_heart_rate_in_beats_per_minute,
                        20.0,
                        150.0,
                    ),
                    stress: in_range(raw.average_stress_level, 0.0, 100.0),
                    ..DailyMetrics::default()
                },
            })
        }
        SummaryType::Sleeps => {
            let raw: SleepBody = serde_json::from_value(item).map_err(read)?;
            let stages = [
                raw.deep_sleep_duration_in_seconds,
                raw.light_sleep_duration_in_seconds,
                raw.rem_sleep_in_seconds,
            ];
            let asleep_s = if stages.iter().any(Option::is_some) {
                Some(stages.iter().flatten().sum())
            } else {
                raw.duration_in_seconds
            };
            Ok(GarminItem::Daily {
                summary,
                date: calendar_date(&raw.calendar_date, what)?,
                user_id: checked_user(raw.user_id, what)?,
                metrics: DailyMetrics {
                    sleep_s: in_range(asleep_s, 0.0, 86_400.0),
                    sleep_score: in_range(
                        raw.overall_sleep_score.and_then(|s| s.value),
                        0.0,
                        100.0,
                    ),
                    ..DailyMetrics::default()
                },
            })
        }
        SummaryType::Hrv => {
            let raw: HrvBody = serde_json::from_value(item).map_err(read)?;
            Ok(GarminItem::Daily {
                summary,
                date: calendar_date(&raw.calendar_date, what)?,
                user_id: checked_user(raw.user_id, what)?,
                metrics: DailyMetrics {
                    hrv_ms: in_range(raw.last_night_avg, 1.0, 300.0),
                    ..DailyMetrics::default()
                },
            })
        }
        SummaryType::StressDetails => {
            let raw: StressDetailsBody = serde_json::from_value(item).map_err(read)?;
            let values = &raw.time_offset_stress_level_values;
            if values.len() > MAX_SAMPLES {
                return Err(GarminError::TooMany {
                    what,
                    count: values.len(),
                    max: MAX_SAMPLES,
                });
            }
            // Negative levels mean "off wrist" or "too active to measure".
            let measured: Vec<f64> = values
                .values()
                .copied()
                .filter(|v| (0.0..=100.0).contains(v))
                .collect();
            let mean = (!measured.is_empty()).then(|| {
                measured.iter().sum::<f64>()
                    / f64::from(u32::try_from(measured.len()).unwrap_or(u32::MAX))
            });
            Ok(GarminItem::Daily {
                summary,
                date: calendar_date(&raw.calendar_date, what)?,
                user_id: checked_user(raw.user_id, what)?,
                metrics: DailyMetrics {
                    stress: mean,
                    ..DailyMetrics::default()
                },
            })
        }
        SummaryType::UserMetrics => {
            let raw: UserMetricsBody = serde_json::from_value(item).map_err(read)?;
            Ok(GarminItem::UserMetrics {
                date: calendar_date(&raw.calendar_date, what)?,
                user_id: checked_user(raw.user_id, what)?,
                vo2max_ml_kg_min: in_range(raw.vo2_max, 10.0, 100.0),
                fitness_age_years: in_range(raw.fitness_age, 10.0, 120.0),
            })
        }
    }
}

/// The Paceline sport for a Garmin `activityType` (`RUNNING`, `ROAD_BIKING`,
/// `LAP_SWIMMING`, …).
pub fn sport(activity_type: &str) -> Sport {
    match activity_type {
        "ROAD_BIKING" | "GRAVEL_CYCLING" | "CYCLOCROSS" | "TRACK_CYCLING" | "BMX" => Sport::Cycling,
        "LAP_SWIMMING" => Sport::Swimming,
        "STREET_RUNNING" | "TRACK_RUNNING" => Sport::Running,
        other => Sport::from_name(other),
    }
}

/// The earliest start accepted (1990-01-01T00:00:00Z), s.
const EARLIEST_START_S: i64 = 631_152_000;

// Values are range-checked before every cast.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn activity_recording(
    raw: ActivityBody,
    samples: Vec<SampleBody>,
) -> Result<Recording, GarminError> {
    let what = "activity";
    if raw.start_time_in_seconds < EARLIEST_START_S || raw.start_time_in_seconds > 10_000_000_000 {
        return Err(malformed(
            what,
            "startTimeInSeconds before 1990 or absurdly late",
        ));
    }
    if !(0.0..=14.0 * 86_400.0).contains(&raw.duration_in_seconds) {
        return Err(malformed(what, "durationInSeconds outside 0 to 14 days"));
    }
    let mut points = Vec::with_capacity(samples.len());
    let mut last_offset_s = -1;
    for sample in samples {
        let offset_s = sample
            .start_time_in_seconds
            .saturating_sub(raw.start_time_in_seconds);
        if offset_s <= last_offset_s || offset_s > 14 * 86_400 {
            return Err(malformed(
                what,
                "sample times out of order or outside the activity",
            ));
        }
        last_offset_s = offset_s;
        let position = match (sample.latitude_in_degree, sample.longitude_in_degree) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                (Some(lat), Some(lon))
            }
            _ => (None, None),
        };
        points.push(Point {
            t_ms: (offset_s as u64) * 1000,
            heart_rate_bpm: in_range(sample.heart_rate, 1.0, 255.0).map(|hr| hr.round() as u16),
            power_w: in_range(sample.power_in_watts, 0.0, 4_000.0).map(|w| w.round() as u16),
            cadence_rpm: in_range(
                sample.bike_cadence_in_rpm.or(sample.steps_per_minute),
                0.0,
                300.0,
            )
            .map(|c| c as f32),
            speed_mps: in_range(sample.speed_meters_per_second, 0.0, 100.0).map(|v| v as f32),
            distance_m: in_range(sample.total_distance_in_meters, 0.0, 1.0e7),
            lat_deg: position.0,
            lon_deg: position.1,
            altitude_m: in_range(sample.elevation_in_meters, -500.0, 9_000.0).map(|a| a as f32),
        });
    }
    Ok(Recording {
        sport: sport(raw.activity_type.as_deref().unwrap_or("")),
        start_ms: raw.start_time_in_seconds * 1000,
        local_offset_s: raw
            .start_time_offset_in_seconds
            .filter(|s| s.abs() <= 50_400),
        name: raw.activity_name.map(|n| n.chars().take(200).collect()),
        device: raw.device_name.map(|n| n.chars().take(100).collect()),
        totals: Totals {
            elapsed_s: Some(raw.duration_in_seconds),
            moving_s: in_range(raw.moving_duration_in_seconds, 0.0, raw.duration_in_seconds),
            distance_m: in_range(raw.distance_in_meters, 0.0, 1.0e7),
            energy_kcal: in_range(raw.active_kilocalories, 0.0, 50_000.0),
            ascent_m: in_range(raw.total_elevation_gain_in_meters, 0.0, 100_000.0),
        },
        points,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    const ORIGIN: &str = "https://apis.garmin.com";

    #[test]
    fn pings_become_callback_jobs() {
        let body = br#"{"dailies":[{"userId":"4aacafe82427c251df9c9592d0c06768","userAccessToken":"8f57a6f1-26ba-4b05-a7cd-c6b525a4c7a2","uploadStartTimeInSeconds":1444937651,"uploadEndTimeInSeconds":1444937902,"callbackURL":"https://apis.garmin.com/wellness-api/rest/dailies?uploadStartTimeInSeconds=1444937651&uploadEndTimeInSeconds=1444937902"}]}"#;
        let items = parse_notification(body, ORIGIN).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].job(),
            Some(Job::FetchCallback {
                owner_id: "4aacafe82427c251df9c9592d0c06768".to_owned(),
                summary: SummaryType::Dailies,
                callback_url: "https://apis.garmin.com/wellness-api/rest/dailies?uploadStartTimeInSeconds=1444937651&uploadEndTimeInSeconds=1444937902".to_owned(),
            })
        );
        let foreign = String::from_utf8_lossy(body).replace("apis.garmin.com", "evil.example");
        assert_eq!(
            parse_notification(foreign.as_bytes(), ORIGIN),
            Err(GarminError::ForeignCallback)
        );
        let other_port =
            String::from_utf8_lossy(body).replace("apis.garmin.com/", "apis.garmin.com:8443/");
        assert_eq!(
            parse_notification(other_port.as_bytes(), ORIGIN),
            Err(GarminError::ForeignCallback)
        );
    }

    #[test]
    fn health_summaries_become_daily_metrics() {
        let body = br#"{
          "dailies": [{"userId": "u1", "summaryId": "x", "calendarDate": "2026-12-05",
             "restingHeartRateInBeatsPerMinute": 48, "averageStressLevel": 31, "steps": 4210}],
          "sleeps": [{"userId": "u1", "summaryId": "s", "calendarDate": "2026-12-05",
             "durationInSeconds": 27000, "deepSleepDurationInSeconds": 5400,
             "lightSleepDurationInSeconds": 14400, "remSleepInSeconds": 5040,
             "awakeDurationInSeconds": 2160, "overallSleepScore": {"value": 84, "qualifierKey": "GOOD"}}],
          "hrv": [{"userId": "u1", "summaryId": "h", "calendarDate": "2026-12-05", "lastNightAvg": 62, "lastNight5MinHigh": 90}],
          "stressDetails": [
             {"userId": "u1", "summaryId": "d", "calendarDate": "2026-12-05", "timeOffsetStressLevelValues": {"0": 10, "180": 20}},
             {"userId": "u2", "summaryId": "e", "calendarDate": "2026-12-05", "timeOffsetStressLevelValues": {"0": 10, "180": 21, "360": -1, "540": -2}}],
          "dailies_unknown_key": 3
        }"#;
        let items = parse_notification(body, ORIGIN).unwrap();
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(|i| i.job().is_none()));
        let days = daily_metrics(&items);
        assert_eq!(
            days[&("u1".to_owned(), date!(2026 - 12 - 05))],
            DailyMetrics {
                resting_hr_bpm: Some(48.0),
                hrv_ms: Some(62.0),
                // Deep + light + REM: 5,400 + 14,400 + 5,040 = 24,840 s (the 27,000 s
                // duration includes 2,160 s awake).
                sleep_s: Some(24_840.0),
                sleep_score: Some(84.0),
                // The daily's own 31 wins over the details' mean (10 + 20) / 2 = 15.
                stress: Some(31.0),
            }
        );
        // u2 has only details: the mean of the measured values, (10 + 21) / 2 = 15.5.
        assert_eq!(
            days[&("u2".to_owned(), date!(2026 - 12 - 05))],
            DailyMetrics {
                stress: Some(15.5),
                ..DailyMetrics::default()
            }
        );
    }

    #[test]
    fn stress_details_only_fill_a_missing_stress_whatever_the_order() {
        let daily = DailyMetrics {
            resting_hr_bpm: Some(50.0),
            stress: Some(31.0),
            ..DailyMetrics::default()
        };
        let details = DailyMetrics {
            stress: Some(15.0),
            ..DailyMetrics::default()
        };
        let mut daily_first = DailyMetrics::default();
        daily_first.apply(SummaryType::Dailies, &daily);
        daily_first.apply(SummaryType::StressDetails, &details);
        let mut details_first = DailyMetrics::default();
        details_first.apply(SummaryType::StressDetails, &details);
        assert_eq!(details_first.stress, Some(15.0));
        details_first.apply(SummaryType::Dailies, &daily);
        assert_eq!(daily_first, daily);
        assert_eq!(details_first, daily);
    }

    #[test]
    fn implausible_values_are_absent_and_structure_errors_refuse() {
        let body = br#"{"dailies": [{"userId": "u", "calendarDate": "2026-12-05", "restingHeartRateInBeatsPerMinute": 400, "averageStressLevel": -1}]}"#;
        let items = parse_notification(body, ORIGIN).unwrap();
        assert_eq!(
            items,
            vec![GarminItem::Daily {
                summary: SummaryType::Dailies,
                user_id: "u".to_owned(),
                date: date!(2026 - 12 - 05),
                metrics: DailyMetrics::default()
            }]
        );
        assert!(matches!(
            parse_notification(
                br#"{"dailies": [{"userId": "u", "calendarDate": "2026-13-05"}]}"#,
                ORIGIN
            ),
            Err(GarminError::Malformed {
                what: "dailies",
                ..
            })
        ));
        assert!(matches!(
            parse_notification(br#"{"sleeps": [{"calendarDate": "2026-12-05"}]}"#, ORIGIN),
            Err(GarminError::Malformed { what: "sleeps", .. })
        ));
        assert!(matches!(
            parse_notification(br#"{"hrv": {"userId": "u"}}"#, ORIGIN),
            Err(GarminError::Malformed { what: "hrv", .. })
        ));
        assert!(matches!(
            parse_notification(b"[]", ORIGIN),
            Err(GarminError::Malformed { .. })
        ));
        let many = format!(
            r#"{{"deregistrations": [{}]}}"#,
            vec![r#"{"userId":"u"}"#; MAX_ITEMS + 1].join(",")
        );
        assert_eq!(
            parse_notification(many.as_bytes(), ORIGIN),
            Err(GarminError::TooMany {
                what: "deregistrations",
                count: MAX_ITEMS + 1,
                max: MAX_ITEMS
            })
        );
    }

    #[test]
    fn deregistrations_and_permissions() {
        let body = br#"{"deregistrations": [{"userId": "u9", "userAccessToken": "t"}],
            "userPermissionsChange": [{"userId": "u9", "summaryId": "p", "permissions": ["ACTIVITY_EXPORT"], "changeTimeInSeconds": 1}]}"#;
        let items = parse_notification(body, ORIGIN).unwrap();
        assert_eq!(
            items[0].job(),
            Some(Job::Revoke {
                provider: Provider::Garmin,
                owner_id: "u9".to_owned()
            })
        );
        assert_eq!(
            items[1],
            GarminItem::PermissionsChange {
                user_id: "u9".to_owned(),
                permissions: vec!["ACTIVITY_EXPORT".to_owned()]
            }
        );
    }

    #[test]
    fn activities_and_details() {
        let body = br#"{"activityDetails": [{"userId": "u", "summaryId": "5001968355-detail", "activityId": 5001968355,
            "summary": {"summaryId": "5001968355", "activityType": "ROAD_BIKING", "activityName": "Morning ride",
              "startTimeInSeconds": 1765000000, "startTimeOffsetInSeconds": 3600, "durationInSeconds": 3600,
              "distanceInMeters": 30000.5, "activeKilocalories": 800, "deviceName": "edge530"},
            "samples": [
              {"startTimeInSeconds": 1765000000, "heartRate": 120, "powerInWatts": 180, "bikeCadenceInRPM": 85,
               "latitudeInDegree": 45.5, "longitudeInDegree": 6.1, "elevationInMeters": 410.5, "totalDistanceInMeters": 0},
              {"startTimeInSeconds": 1765000003, "heartRate": 900, "speedMetersPerSecond": 8.25}]}]}"#;
        let items = parse_notification(body, ORIGIN).unwrap();
        let GarminItem::Activity {
            user_id,
            summary_id,
            recording,
        } = &items[0]
        else {
            panic!("{items:?}");
        };
        assert_eq!(
            (user_id.as_str(), summary_id.as_str()),
            ("u", "5001968355-detail")
        );
        assert_eq!(recording.sport, Sport::Cycling);
        assert_eq!(recording.start_ms, 1_765_000_000_000);
        assert_eq!(recording.local_offset_s, Some(3600));
        assert_eq!(recording.totals.distance_m, Some(30_000.5));
        assert_eq!(recording.points.len(), 2);
        // 1,765,000,003 − 1,765,000,000 = 3 s → 3,000 ms; the heart rate of 900 is absent.
        assert_eq!(recording.points[1].t_ms, 3000);
        assert_eq!(recording.points[1].heart_rate_bpm, None);
        assert_eq!(recording.points[0].power_w, Some(180));
        assert_eq!(recording.points[0].cadence_rpm, Some(85.0));
        assert_eq!(recording.points[0].lat_deg, Some(45.5));
        let callback = br#"[{"userId": "u", "summaryId": "a1", "activityType": "LAP_SWIMMING", "startTimeInSeconds": 1765000000, "durationInSeconds": 1800}]"#;
        let items = parse_callback(SummaryType::Activities, callback).unwrap();
        let GarminItem::Activity { recording, .. } = &items[0] else {
            panic!("{items:?}");
        };
        assert_eq!(recording.sport, Sport::Swimming);
        assert!(recording.points.is_empty());
        let backwards = String::from_utf8_lossy(body).replace("1765000003", "1764999999");
        assert!(matches!(
            parse_notification(backwards.as_bytes(), ORIGIN),
            Err(GarminError::Malformed {
                what: "activity",
                ..
            })
        ));
    }

    #[test]
    fn user_id_permissions_and_backfill() {
        assert_eq!(
            parse_user_id(br#"{"userId": "4aacafe82427c251df9c9592d0c06768"}"#).unwrap(),
            "4aacafe82427c251df9c9592d0c06768"
        );
        assert!(matches!(
            parse_user_id(br#"{"userId": ""}"#),
            Err(GarminError::Malformed { .. })
        ));
        assert_eq!(
            parse_permissions(br#"["ACTIVITY_EXPORT", "HEALTH_EXPORT"]"#).unwrap(),
            ["ACTIVITY_EXPORT", "HEALTH_EXPORT"]
        );
        // 100 days from 0: one request of 90 days (7,776,000 s), one of 10 (864,000 s).
        assert_eq!(
            backfill_paths(SummaryType::Dailies, 0, 100 * 86_400),
            [
                "/wellness-api/rest/backfill/dailies?summaryStartTimeInSeconds=0&summaryEndTimeInSeconds=7776000",
                "/wellness-api/rest/backfill/dailies?summaryStartTimeInSeconds=7776000&summaryEndTimeInSeconds=8640000",
            ]
        );
        assert!(backfill_paths(SummaryType::Sleeps, 5, 5).is_empty());
    }

    proptest! {
        #[test]
        fn user_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_user_id(&body);
            let _ = parse_permissions(&body);
        }

        #[test]
        fn backfill_ranges_cover_the_window(start in -1_000_000_000i64..4_000_000_000, days in 0i64..1000) {
            let end = start + days * 86_400;
            let paths = backfill_paths(SummaryType::Hrv, start, end);
            // ⌈days / 90⌉ requests.
            prop_assert_eq!(i64::try_from(paths.len()).unwrap(), (days + 89) / 90);
        }

        #[test]
        fn notifications_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_notification(&body, ORIGIN);
            let _ = parse_callback(SummaryType::ActivityDetails, &body);
        }

        #[test]
        fn shaped_notifications_never_panic(
            key in proptest::sample::select(vec!["activities", "activityDetails", "dailies", "sleeps", "hrv", "stressDetails", "userMetrics", "deregistrations"]),
            start in any::<i64>(),
            number in any::<f64>(),
            text in ".{0,12}",
        ) {
            let item = serde_json::json!({
                "userId": text, "summaryId": "s", "calendarDate": text, "startTimeInSeconds": start,
                "durationInSeconds": number, "restingHeartRateInBeatsPerMinute": number,
                "lastNightAvg": number, "summary": {"summaryId": "s", "startTimeInSeconds": start, "durationInSeconds": number},
                "samples": [{"startTimeInSeconds": start, "heartRate": number}],
                "timeOffsetStressLevelValues": {"0": number},
            });
            let body = serde_json::json!({ key: [item] }).to_string();
            let _ = parse_notification(body.as_bytes(), ORIGIN);
        }
    }
}
