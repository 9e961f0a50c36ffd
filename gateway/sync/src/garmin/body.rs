//! Garmin's notification and callback items as they travel: the JSON
//! [`parse_notification`](super::parse_notification) and
//! [`parse_callback`](super::parse_callback) read, and the local provider servers write.
//! Only the fields Paceline reads; others are ignored when read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A deregistration notice's item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    /// Garmin's user id.
    pub user_id: String,
}

/// A `userPermissionsChange` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The permissions now granted.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A ping item: fetch the callback with the user's token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingBody {
    /// Garmin's user id.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// Where the summaries wait.
    #[serde(rename = "callbackURL")]
    pub callback_url: String,
}

/// An activity summary (`activities`, and the `summary` of `activityDetails`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityBody {
    /// Garmin's user id (absent inside `activityDetails`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Garmin's summary id.
    pub summary_id: String,
    /// The title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_name: Option<String>,
    /// `RUNNING`, `ROAD_BIKING`, `LAP_SWIMMING`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    /// Start, s since the Unix epoch.
    pub start_time_in_seconds: i64,
    /// Local time's offset from UTC, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_offset_in_seconds: Option<i32>,
    /// Duration, s.
    pub duration_in_seconds: f64,
    /// Moving time, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_duration_in_seconds: Option<f64>,
    /// Distance, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_in_meters: Option<f64>,
    /// Energy, kcal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_kilocalories: Option<f64>,
    /// Ascent, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_elevation_gain_in_meters: Option<f64>,
    /// The device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// An `activityDetails` item: the summary and the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityDetailBody {
    /// Garmin's user id.
    pub user_id: String,
    /// Garmin's summary id of the details.
    pub summary_id: String,
    /// The activity summary.
    pub summary: ActivityBody,
    /// The samples, in time order.
    #[serde(default)]
    pub samples: Vec<SampleBody>,
}

/// One sample of an activity's details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleBody {
    /// When, s since the Unix epoch.
    pub start_time_in_seconds: i64,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude_in_degree: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude_in_degree: Option<f64>,
    /// Altitude, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elevation_in_meters: Option<f64>,
    /// Heart rate, bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate: Option<f64>,
    /// Speed, m/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_meters_per_second: Option<f64>,
    /// Distance since the start, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_distance_in_meters: Option<f64>,
    /// Power, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_in_watts: Option<f64>,
    /// Cadence on a bike, rpm.
    #[serde(
        default,
        rename = "bikeCadenceInRPM",
        skip_serializing_if = "Option::is_none"
    )]
    pub bike_cadence_in_rpm: Option<f64>,
    /// Cadence on foot, steps/min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_minute: Option<f64>,
}

/// A `dailies` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The day, `YYYY-MM-DD`.
    pub calendar_date: String,
    /// Resting heart rate, bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resting_heart_rate_in_beats_per_minute: Option<f64>,
    /// Mean stress, 0–100 (−1: not enough data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_stress_level: Option<f64>,
}

/// A `sleeps` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The day, `YYYY-MM-DD`.
    pub calendar_date: String,
    /// Time in bed, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<f64>,
    /// Deep sleep, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_sleep_duration_in_seconds: Option<f64>,
    /// Light sleep, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_sleep_duration_in_seconds: Option<f64>,
    /// REM sleep, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rem_sleep_in_seconds: Option<f64>,
    /// Awake, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awake_duration_in_seconds: Option<f64>,
    /// The sleep score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall_sleep_score: Option<ScoreBody>,
}

/// A score with its qualifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBody {
    /// 0–100.
    pub value: Option<f64>,
    /// `EXCELLENT`, `GOOD`, `FAIR`, `POOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier_key: Option<String>,
}

/// An `hrv` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HrvBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The day, `YYYY-MM-DD`.
    pub calendar_date: String,
    /// Last night's mean HRV (rMSSD), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_night_avg: Option<f64>,
}

/// A `stressDetails` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StressDetailsBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The day, `YYYY-MM-DD`.
    pub calendar_date: String,
    /// Stress levels by offset from the day's start, s (negative: not measured).
    #[serde(default)]
    pub time_offset_stress_level_values: BTreeMap<String, f64>,
}

/// A `userMetrics` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserMetricsBody {
    /// Garmin's user id.
    pub user_id: String,
    /// The day, `YYYY-MM-DD`.
    pub calendar_date: String,
    /// VO2max, ml/kg/min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vo2_max: Option<f64>,
    /// Fitness age, years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitness_age: Option<f64>,
}
