//! Activities seeded from real FIT files: each file's recording becomes Strava's detail
//! and streams (paceline-sync's own serde types), copied as often as asked with starts
//! spread over the days before now.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use paceline_formats::{Limits, Recording, Sport, read_file};
use paceline_sync::strava::{AthleteRef, DetailedActivity, Stream, StreamSet, SummaryActivity};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One stored activity.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// What `GET /api/v3/activities/{id}` answers.
    pub detail: DetailedActivity,
    /// What its streams answer (shared by the copies of one seed file).
    pub streams: Arc<StreamSet>,
}

/// Reads every FIT file of `dir` that holds an activity with points, in name order.
pub fn read_fit_dir(dir: &Path) -> anyhow::Result<Vec<Recording>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the FIT folder {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("fit")))
        .collect();
    names.sort();
    let mut recordings = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(entries) = read_file(&name, &bytes, &Limits::default()) else {
            continue;
        };
        for entry in entries {
            if let Ok(recording) = entry.result
                && recording.points.len() >= 2
            {
                recordings.push(recording);
            }
        }
    }
    if recordings.is_empty() {
        bail!("no FIT activity with points in {}", dir.display());
    }
    Ok(recordings)
}

fn iso(start_s: i64) -> String {
    OffsetDateTime::from_unix_timestamp(start_s)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

fn strava_type(sport: Sport) -> &'static str {
    match sport {
        Sport::Cycling => "Ride",
        Sport::IndoorCycling => "VirtualRide",
        Sport::Running => "Run",
        Sport::TreadmillRunning => "VirtualRun",
        Sport::Walking => "Walk",
        Sport::Hiking => "Hike",
        Sport::Swimming => "Swim",
        Sport::Rowing => "Rowing",
        Sport::Strength => "WeightTraining",
        Sport::Other => "Workout",
    }
}

fn stream<T>(data: Vec<Option<T>>) -> Option<Stream<T>> {
    data.iter().any(Option::is_some).then(|| Stream {
        original_size: u64::try_from(data.len()).unwrap_or(u64::MAX),
        data,
        series_type: "distance".to_owned(),
        resolution: "high".to_owned(),
    })
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| (sum / f64::from(n) * 10.0).round() / 10.0)
}

// Seconds and FIT totals are small and non-negative: the casts cannot truncate.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
/// Strava's view of `recording` as activity `id` of `athlete_id`, started at `start_s`.
/// Points are kept one per whole second (the first of each), as Strava's time stream is.
pub fn activity(recording: &Recording, id: u64, athlete_id: u64, start_s: i64) -> Seeded {
    let mut points = Vec::with_capacity(recording.points.len());
    let mut last_s = None;
    for p in &recording.points {
        let t_s = p.t_ms / 1000;
        if last_s.is_none_or(|last| t_s > last) {
            points.push((t_s, p));
            last_s = Some(t_s);
        }
    }
    let elapsed_s = points.last().map_or(0, |(t, _)| *t);
    let distance_m = points
        .iter()
        .filter_map(|(_, p)| p.distance_m)
        .fold(0.0, f64::max);
    let has_power = points.iter().any(|(_, p)| p.power_w.is_some());
    let streams = StreamSet {
        time: stream(points.iter().map(|(t, _)| Some(*t as f64)).collect()),
        heartrate: stream(
            points
                .iter()
                .map(|(_, p)| p.heart_rate_bpm.map(f64::from))
                .collect(),
        ),
        watts: stream(
            points
                .iter()
                .map(|(_, p)| p.power_w.map(f64::from))
                .collect(),
        ),
        cadence: stream(
            points
                .iter()
                .map(|(_, p)| p.cadence_rpm.map(f64::from))
                .collect(),
        ),
        distance: stream(points.iter().map(|(_, p)| p.distance_m).collect()),
        altitude: stream(
            points
                .iter()
                .map(|(_, p)| p.altitude_m.map(f64::from))
                .collect(),
        ),
        latlng: stream(
            points
                .iter()
                .map(|(_, p)| Some([p.lat_deg?, p.lon_deg?]))
                .collect(),
        ),
        velocity_smooth: stream(
            points
                .iter()
                .map(|(_, p)| p.speed_mps.map(f64::from))
                .collect(),
        ),
    };
    let elapsed_time = u32::try_from(elapsed_s).unwrap_or(u32::MAX);
    let summary = SummaryActivity {
        id,
        athlete: Some(AthleteRef { id: athlete_id }),
        name: recording
            .name
            .clone()
            .unwrap_or_else(|| format!("Seeded activity {id}")),
        activity_type: Some(strava_type(recording.sport).to_owned()),
        sport_type: Some(strava_type(recording.sport).to_owned()),
        start_date: iso(start_s),
        start_date_local: Some(iso(start_s)),
        utc_offset: Some(0.0),
        elapsed_time,
        moving_time: recording.totals.moving_s.map_or(elapsed_time, |m| {
            u32::try_from(m as u64)
                .unwrap_or(elapsed_time)
                .min(elapsed_time)
        }),
        distance: distance_m,
        total_elevation_gain: recording.totals.ascent_m,
        average_heartrate: mean(
            points
                .iter()
                .filter_map(|(_, p)| p.heart_rate_bpm.map(f64::from)),
        ),
        max_heartrate: points
            .iter()
            .filter_map(|(_, p)| p.heart_rate_bpm)
            .max()
            .map(f64::from),
        average_watts: mean(points.iter().filter_map(|(_, p)| p.power_w.map(f64::from))),
        device_watts: Some(has_power),
        kilojoules: None,
        trainer: recording.sport == Sport::IndoorCycling,
        manual: false,
        external_id: Some(format!("seed-{id}.fit")),
    };
    Seeded {
        detail: DetailedActivity {
            summary,
            description: None,
            calories: recording.totals.energy_kcal,
            device_name: recording.device.clone(),
        },
        streams: Arc::new(streams),
    }
}
