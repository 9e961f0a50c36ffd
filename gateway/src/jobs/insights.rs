//! Insights in the gateway: the athlete's activities and days as `paceline-insights` wants
//! them, read from the rows. The rules (efficiency, Spearman, Benjamini-Hochberg, the
//! sentences, the charts, the playlists) are the core's; this module turns stored samples
//! into 1 Hz channels, fills a [`DailySeries`] and keeps the correlation report cached.
//!
//! - **Samples at 1 Hz** ([`recording_samples`]): an activity's samples are its stored FIT
//!   copy (the one provenance names for samples, as `GET /activities/{id}/samples` reads
//!   it) laid on whole seconds since the start: the last point of a second stands for it,
//!   and a point's values hold until the next one when that comes within 10 s
//!   (`paceline_activities`' `MAX_GAP_S`, as the summary does); a longer gap is a pause
//!   and adds no seconds.
//! - **Sport**: cycling (indoors or out) is a ride, running (treadmill too) a run; other
//!   sports (walking and hiking included) have no efficiency.
//! - **Output at a fixed HR** defaults to 90 % of the athlete's threshold HR (LTHR),
//!   rounded: the top of Friel's zone 2 (81–89 % of LTHR), near the aerobic threshold,
//!   where a steady ride or run spends its time. Without an LTHR, 75 % of the maximum HR;
//!   without either, the activity's mean HR.
//! - **The daily series** for correlations, per local day of the window: sleep, HRV,
//!   resting HR and stress (each from the `manual` row before another source's, as
//!   planning merges them), the nutrition, body and work values likewise; the day's load
//!   (TSS summed by `planning::day_loads`' local days, 0 on a rest day once the athlete
//!   has load); the hour of day (local, fractional) the day's first activity started;
//!   check-in energy and mood (the `manual` row); the recovery score (the core's
//!   `recovery` over the day and its 7 days before with the day's ACWR, exactly as
//!   `planning::recovery`, read once for the window rather than once per day); and the
//!   efficiency factor and decoupling of the day's activities of **one sport**: the sport
//!   with the most activities whose efficiency computes in the window (rides on a tie),
//!   as a ride's W/bpm and a run's (m/min)/bpm are different scales; several activities
//!   on one day are averaged.
//! - **Cache**: a report is cached per athlete and window with the SHA-256 of its inputs'
//!   state (count and latest change of the athlete's daily rows, count, latest change and
//!   row sum of their activities, the athlete's today, the window): a read whose digest
//!   matches is answered from the cache, any new or changed day or activity recomputes
//!   it. The insights job ([`run_job`]) keeps the default window's reports fresh in the
//!   background ([`refresh_reports`]: every athlete whose digest moved, at most
//!   [`REFRESH_MAX_COMPUTED`] computed per pass, the walk resuming where it stopped), so
//!   reads and the weekly digest are served from the cache; a read that finds it stale
//!   (new data since the last pass) still computes and caches it itself.

use std::collections::BTreeMap;

use paceline_activities::{Field, LoadThresholds};
use paceline_formats::Recording;
use paceline_insights::correlations::{Input, Output};
use paceline_insights::daily::DayExtras;
use paceline_insights::{
    CorrelationReport, DailySeries, Efficiency, NotComputable, Samples, Sport,
};
use paceline_planning::DailyMetrics;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use time::{Date, Duration};

use crate::jobs::planning::{self as days, format_date, local_day};
use crate::store::StoreError;
use crate::store::activities::{self as library_rows, ActivityRecord, ListFilter};
use crate::store::planning::{self as planning_rows, DailyRecord};

/// A point's values hold this long at most, s (the library summary's rule).
const MAX_GAP_S: u64 = paceline_activities::summary::MAX_GAP_S;
/// Bumped when the series or the report changes shape, so old cached reports are not
/// served.
const REPORT_VERSION: u32 = 1;

/// The efficiency sport of a library sport (module docs), if it has one.
pub fn efficiency_sport(sport: paceline_formats::Sport) -> Option<Sport> {
    use paceline_formats::Sport as Library;
    match sport {
        Library::Cycling | Library::IndoorCycling => Some(Sport::Ride),
        Library::Running | Library::TreadmillRunning => Some(Sport::Run),
        _ => None,
    }
}

/// A recording's points on a timeline of whole seconds (module docs).
pub fn recording_samples(recording: &Recording) -> Samples {
    let mut seconds: Vec<(u64, &paceline_formats::Point)> = Vec::new();
    for point in &recording.points {
        let second = point.t_ms / 1000;
        match seconds.last_mut() {
            Some(last) if last.0 == second => last.1 = point,
            Some(last) if last.0 > second => {}
            _ => seconds.push((second, point)),
        }
    }
    let mut samples = Samples::default();
    let has = |f: fn(&paceline_formats::Point) -> bool| recording.points.iter().any(f);
    let (power, hr, speed, altitude) = (
        has(|p| p.power_w.is_some()),
        has(|p| p.heart_rate_bpm.is_some()),
        has(|p| p.speed_mps.is_some()),
        has(|p| p.altitude_m.is_some()),
    );
    for (i, (second, point)) in seconds.iter().enumerate() {
        let span = seconds
            .get(i + 1)
            .map(|(next, _)| next - second)
            .filter(|gap| *gap <= MAX_GAP_S)
            .unwrap_or(1);
        for k in 0..span {
            let Ok(t) = u32::try_from(second + k) else {
                return samples;
            };
            samples.time_s.push(t);
            if power {
                samples.power_w.push(point.power_w.map(f64::from));
            }
            if hr {
                samples
                    .hr_bpm
                    .push(point.heart_rate_bpm.filter(|h| *h > 0).map(f64::from));
            }
            if speed {
                samples.speed_m_s.push(point.speed_mps.map(f64::from));
            }
            if altitude {
                samples.altitude_m.push(point.altitude_m.map(f64::from));
            }
        }
    }
    samples
}

/// The recording of the copy provenance names for the activity's samples, if it has one.
pub fn activity_recording(
    conn: &Connection,
    tenant_row: i64,
    record: &ActivityRecord,
) -> Result<Option<Recording>, StoreError> {
    let Some(source) = record.merged.provenance.get(&Field::Samples) else {
        return Ok(None);
    };
    let Some(fit) = library_rows::source_samples(conn, tenant_row, source.0)? else {
        return Ok(None);
    };
    paceline_formats::fit::activity::read_recording(&fit)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            what: "activity samples",
            row: source.0,
            reason: e.to_string(),
        })
}

/// The heart rate output is read at by default (module docs), bpm.
pub fn default_hr(thresholds: Option<&LoadThresholds>, mean_hr_bpm: f64) -> f64 {
    let lthr = thresholds
        .and_then(|t| t.threshold_hr_bpm)
        .filter(|h| *h > 0);
    let max = thresholds.and_then(|t| t.max_hr_bpm).filter(|h| *h > 0);
    match (lthr, max) {
        (Some(lthr), _) => (0.9 * f64::from(lthr)).round(),
        (None, Some(max)) => (0.75 * f64::from(max)).round(),
        (None, None) => mean_hr_bpm.round(),
    }
}

/// One activity's efficiency, as the routes and the series use it.
#[derive(Debug, Clone)]
pub struct ActivityEfficiency {
    /// The activity's row.
    pub activity_id: i64,
    /// Its local day.
    pub date: Date,
    /// The hour of day it started, local.
    pub start_hour: f64,
    /// Its efficiency sport, if it has one.
    pub sport: Option<Sport>,
    /// Its samples at 1 Hz, if it has samples and a sport.
    pub samples: Option<Samples>,
    /// The efficiency, or why not.
    pub efficiency: Result<Efficiency, NotComputable>,
}

fn no_samples() -> NotComputable {
    NotComputable::MissingChannel { channel: "samples" }
}

/// The efficiency of one activity (its samples read and laid at 1 Hz).
pub fn activity_efficiency(
    conn: &Connection,
    tenant_row: i64,
    record: &ActivityRecord,
) -> Result<ActivityEfficiency, StoreError> {
    let start_ms = record.merged.start_ms;
    let offset = record.merged.local_offset_s;
    let local_ms = start_ms.saturating_add(i64::from(offset.unwrap_or(0)) * 1000);
    let start_hour = local_ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    let sport = efficiency_sport(record.merged.sport);
    let samples = match sport {
        Some(_) => activity_recording(conn, tenant_row, record)?.map(|r| recording_samples(&r)),
        None => None,
    };
    let efficiency = match (sport, &samples) {
        (Some(sport), Some(samples)) => paceline_insights::efficiency(sport, samples),
        (None, _) => Err(NotComputable::MissingChannel {
            channel: "ride or run",
        }),
        (_, None) => Err(no_samples()),
    };
    Ok(ActivityEfficiency {
        activity_id: record.id,
        date: local_day(start_ms, offset),
        start_hour,
        sport,
        samples,
        efficiency,
    })
}

/// The athlete's activities (not flagged) on the local days `from..=to`, oldest first.
pub fn activities_between(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: Date,
    to: Date,
) -> Result<Vec<ActivityRecord>, StoreError> {
    // Local days reach 14 h either side of UTC.
    let margin_ms = 14 * 3_600_000;
    let day_ms = |d: Date| (i64::from(d.to_julian_day()) - 2_440_588) * 86_400_000;
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = library_rows::list_activities(
            conn,
            tenant_row,
            athlete_row,
            &ListFilter {
                from_ms: day_ms(from) - margin_ms,
                to_ms: day_ms(to) + 86_400_000 + margin_ms,
                sport: None,
                after,
                limit: 500,
            },
        )?;
        let Some(last) = page.last() else { break };
        after = Some((last.merged.start_ms, last.id));
        found.extend(page.into_iter().filter(|r| {
            let day = local_day(r.merged.start_ms, r.merged.local_offset_s);
            r.flagged_reason.is_none() && (from..=to).contains(&day)
        }));
    }
    found.reverse();
    Ok(found)
}

/// The efficiencies of the athlete's activities on `from..=to` that have a sport and
/// samples, oldest first.
pub fn efficiencies_between(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: Date,
    to: Date,
) -> Result<Vec<ActivityEfficiency>, StoreError> {
    activities_between(conn, tenant_row, athlete_row, from, to)?
        .iter()
        .filter(|r| efficiency_sport(r.merged.sport).is_some())
        .map(|r| activity_efficiency(conn, tenant_row, r))
        .collect()
}

/// Each field of a day's extra values from the `manual` row when it has it, else from
/// another source's (as [`days::merged_metrics`] does for the metrics).
pub fn merged_extras(rows_of_day: &[&DailyRecord]) -> DayExtras {
    let mut ordered: Vec<&DailyRecord> = rows_of_day.to_vec();
    ordered.sort_by_key(|r| r.source != "manual");
    let mut extras = DayExtras::default();
    for field in paceline_insights::daily::ExtraField::ALL {
        let value = ordered.iter().find_map(|r| r.extras.get(field));
        // Stored values were checked on entry; one out of range now is left out.
        let _ = extras.set(field, value);
    }
    extras
}

/// The sport the series' efficiency comes from (module docs).
pub fn series_sport(efficiencies: &[ActivityEfficiency]) -> Option<Sport> {
    let count = |sport: Sport| {
        efficiencies
            .iter()
            .filter(|e| e.sport == Some(sport) && e.efficiency.is_ok())
            .count()
    };
    let (rides, runs) = (count(Sport::Ride), count(Sport::Run));
    match (rides, runs) {
        (0, 0) => None,
        _ if rides >= runs => Some(Sport::Ride),
        _ => Some(Sport::Run),
    }
}

/// The athlete's days `from..=to` as correlation inputs and outputs (module docs).
pub fn daily_series(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: Date,
    to: Date,
) -> Result<DailySeries, StoreError> {
    let mut series = DailySeries::default();
    let first = from - Duration::days(7);
    let stored = planning_rows::daily_between(
        conn,
        tenant_row,
        athlete_row,
        &format_date(first),
        &format_date(to),
    )?;
    let mut by_day: BTreeMap<&str, Vec<&DailyRecord>> = BTreeMap::new();
    for row in &stored {
        by_day.entry(row.date.as_str()).or_default().push(row);
    }
    let metrics_of = |day: Date| -> DailyMetrics {
        by_day
            .get(format_date(day).as_str())
            .map_or_else(DailyMetrics::default, |rows| days::merged_metrics(rows))
    };
    let acwr: BTreeMap<Date, Option<f64>> = days::fitness(conn, tenant_row, athlete_row, from, to)?
        .into_iter()
        .map(|d| (d.date, d.acwr))
        .collect();
    let loads = days::day_loads(conn, tenant_row, athlete_row)?;
    let first_load = loads.iter().map(|l| l.date).min();
    let mut load_of: BTreeMap<Date, f64> = BTreeMap::new();
    for l in &loads {
        *load_of.entry(l.date).or_default() += l.tss;
    }
    let mut day = from;
    while day <= to {
        let metrics = metrics_of(day);
        for (input, value) in [
            (Input::SleepS, metrics.sleep_s),
            (Input::HrvMs, metrics.hrv_ms),
            (Input::RestingHrBpm, metrics.resting_hr_bpm),
            (Input::Stress, metrics.stress),
        ] {
            if let Some(v) = value {
                series.set_input(input, day, v);
            }
        }
        if let Some(rows) = by_day.get(format_date(day).as_str()) {
            merged_extras(rows).add_to(&mut series, day);
            if let Some(manual) = rows.iter().find(|r| r.source == "manual") {
                if let Some(e) = manual.energy {
                    series.set_output(Output::CheckInEnergy, day, f64::from(e));
                }
                if let Some(m) = manual.mood {
                    series.set_output(Output::CheckInMood, day, f64::from(m));
                }
            }
        }
        if first_load.is_some_and(|f| f <= day) {
            let tss = load_of.get(&day).copied().unwrap_or(0.0);
            series.set_input(Input::LoadTss, day, tss);
        }
        let previous: Vec<DailyMetrics> = (1..=7)
            .rev()
            .map(|back| metrics_of(day - Duration::days(back)))
            .collect();
        let recovery =
            paceline_planning::recovery(&metrics, &previous, acwr.get(&day).copied().flatten());
        if let Some(score) = recovery.score {
            series.set_output(Output::RecoveryScore, day, score);
        }
        day = match day.next_day() {
            Some(next) => next,
            None => break,
        };
    }
    let activities = activities_between(conn, tenant_row, athlete_row, from, to)?;
    let mut efficiencies = Vec::new();
    // Oldest first: the first activity of a day is the one its start hour comes from.
    let mut first_start: BTreeMap<Date, f64> = BTreeMap::new();
    for record in &activities {
        let e = activity_efficiency(conn, tenant_row, record)?;
        first_start.entry(e.date).or_insert(e.start_hour);
        efficiencies.push(e);
    }
    for (date, hour) in &first_start {
        series.set_input(Input::TrainingHour, *date, *hour);
    }
    if let Some(sport) = series_sport(&efficiencies) {
        let mut per_day: BTreeMap<Date, (f64, f64, f64)> = BTreeMap::new();
        for e in efficiencies.iter().filter(|e| e.sport == Some(sport)) {
            if let Ok(eff) = &e.efficiency {
                let entry = per_day.entry(e.date).or_default();
                entry.0 += eff.efficiency_factor;
                entry.1 += eff.decoupling_pct;
                entry.2 += 1.0;
            }
        }
        for (date, (ef, decoupling, n)) in per_day {
            series.set_output(Output::EfficiencyFactor, date, ef / n);
            series.set_output(Output::DecouplingPct, date, decoupling / n);
        }
    }
    Ok(series)
}

/// The digest the cached report of a window is kept under (module docs).
pub fn report_digest(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    today: Date,
    days: u32,
) -> Result<String, StoreError> {
    let state = crate::store::insights::inputs_state(conn, tenant_row, athlete_row)?;
    let text = format!(
        "insights v{REPORT_VERSION}; today {}; days {days}; {state}",
        format_date(today)
    );
    Ok(hex::encode(Sha256::digest(text.as_bytes())))
}

/// The window of `days` local days ending on `today`.
pub fn window(today: Date, days: u32) -> (Date, Date) {
    (today - Duration::days(i64::from(days) - 1), today)
}

/// The report over a series.
pub fn report(series: &DailySeries) -> CorrelationReport {
    paceline_insights::correlations(series)
}

/// The most reports one refresh pass computes (the rest wait for the next pass).
pub const REFRESH_MAX_COMPUTED: usize = 50;
/// Athletes read per batch of a refresh pass.
const REFRESH_BATCH: usize = 200;
/// How often the insights job runs a refresh pass.
pub const INSIGHTS_JOB_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// The first pass, this long after the gateway starts.
pub const INSIGHTS_JOB_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

/// The athlete's report over the `days` ending on their today: the cached one when its
/// digest still matches, else computed. The second value is `(digest, json)` to cache
/// when it was computed.
pub fn current_report(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    now_ms: u64,
    days: u32,
) -> Result<(CorrelationReport, Option<(String, String)>), StoreError> {
    let today = days::athlete_today(conn, tenant_row, athlete_row, now_ms)?;
    let digest = report_digest(conn, tenant_row, athlete_row, today, days)?;
    let cached = crate::store::insights::cached_report(conn, tenant_row, athlete_row, days)?
        .filter(|(d, _)| *d == digest)
        .and_then(|(_, json)| crate::api::insights::report_of_json(&json));
    if let Some(report) = cached {
        return Ok((report, None));
    }
    let (from, to) = window(today, days);
    let report = report(&daily_series(conn, tenant_row, athlete_row, from, to)?);
    let json = crate::api::insights::report_json(&report);
    Ok((report, Some((digest, json))))
}

/// What a refresh pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshPass {
    /// Athletes looked at.
    pub athletes: usize,
    /// Reports computed and cached (the others were fresh).
    pub computed: usize,
    /// Where the next pass resumes (0: from the start).
    pub resume_after: i64,
}

/// Recomputes the default window's cached report of every athlete (from the row after
/// `after`) whose inputs changed since it was cached, at most [`REFRESH_MAX_COMPUTED`].
pub fn refresh_reports(
    store: &crate::store::Store,
    now_ms: u64,
    after: i64,
) -> Result<RefreshPass, StoreError> {
    let days = crate::api::insights::DEFAULT_DAYS;
    let mut pass = RefreshPass::default();
    let mut cursor = after;
    loop {
        let batch = store
            .read(|conn| crate::store::planning::athletes_after(conn, cursor, REFRESH_BATCH))?;
        let Some(&(_, last)) = batch.last() else {
            return Ok(pass);
        };
        for (tenant_row, athlete_row) in batch {
            pass.athletes += 1;
            let (_, computed) =
                store.read(|conn| current_report(conn, tenant_row, athlete_row, now_ms, days))?;
            if let Some((digest, json)) = computed {
                store.write(|tx| {
                    crate::store::insights::store_report(
                        tx,
                        tenant_row,
                        athlete_row,
                        days,
                        &digest,
                        &json,
                        now_ms,
                    )
                })?;
                pass.computed += 1;
                if pass.computed >= REFRESH_MAX_COMPUTED {
                    pass.resume_after = athlete_row;
                    return Ok(pass);
                }
            }
        }
        cursor = last;
    }
}

/// The insights job: a refresh pass shortly after start, then every
/// [`INSIGHTS_JOB_EVERY`] (sooner while a pass stopped at its bound), until `running` is
/// cleared.
pub fn run_job(live: &crate::live::Live, running: &std::sync::atomic::AtomicBool) {
    use std::sync::atomic::Ordering;
    let mut wait = INSIGHTS_JOB_FIRST;
    let mut resume_after = 0;
    loop {
        let mut waited = std::time::Duration::ZERO;
        while waited < wait {
            if !running.load(Ordering::Relaxed) {
                return;
            }
            let step = std::time::Duration::from_millis(250);
            std::thread::sleep(step);
            waited += step;
        }
        match refresh_reports(live.store(), live.clock().now_ms(), resume_after) {
            Ok(pass) => {
                if pass.computed > 0 {
                    tracing::info!(
                        athletes = pass.athletes,
                        computed = pass.computed,
                        "insights job pass"
                    );
                }
                resume_after = pass.resume_after;
                wait = if resume_after > 0 {
                    std::time::Duration::from_secs(5)
                } else {
                    INSIGHTS_JOB_EVERY
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "the insights job failed a pass");
                wait = INSIGHTS_JOB_EVERY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paceline_formats::Point;

    fn point(t_ms: u64, hr: u16, power: u16) -> Point {
        Point {
            t_ms,
            heart_rate_bpm: Some(hr),
            power_w: Some(power),
            cadence_rpm: None,
            speed_mps: None,
            distance_m: None,
            lat_deg: None,
            lon_deg: None,
            altitude_m: None,
        }
    }

    #[test]
    fn samples_fill_short_gaps_take_a_seconds_last_point_and_skip_pauses() {
        let recording = Recording {
            sport: paceline_formats::Sport::Cycling,
            start_ms: 0,
            local_offset_s: None,
            name: None,
            device: None,
            totals: Default::default(),
            points: vec![
                point(0, 100, 200),
                point(400, 101, 210),
                point(3_000, 102, 220),
                point(30_000, 103, 230),
            ],
        };
        let s = recording_samples(&recording);
        assert_eq!(s.time_s, [0, 1, 2, 3, 30]);
        assert_eq!(
            s.hr_bpm,
            [
                Some(101.0),
                Some(101.0),
                Some(101.0),
                Some(102.0),
                Some(103.0)
            ]
        );
        assert_eq!(s.power_w.len(), 5);
        assert!(s.speed_m_s.is_empty() && s.altitude_m.is_empty());
    }

    #[test]
    fn the_insights_job_fills_the_cache_without_a_read_and_only_recomputes_what_changed() {
        use crate::store::planning::{DailyPatch, MetricSource, upsert_daily};
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        // 2026-12-06 12:00 UTC; 40 days of sleep and energy for Ana, nothing for Ben.
        let now_ms: u64 = 1_796_558_400_000;
        let today = local_day(crate::store::to_i64(now_ms), None);
        let (tenant, ana, ben) = store
            .write(|tx| {
                let slug = paceline_schemas::TenantId::new("jobs".to_owned()).unwrap();
                let tenant = crate::store::ensure_tenant(tx, &slug, now_ms)?;
                let ana = crate::store::ensure_athlete(tx, tenant, "Ana", None, now_ms)?;
                let ben = crate::store::ensure_athlete(tx, tenant, "Ben", None, now_ms)?;
                for back in 1..=40_i32 {
                    let patch = DailyPatch {
                        sleep_s: Some(Some(f64::from(25_000 + (back * 7919) % 7_000))),
                        energy: Some(Some(u8::try_from(1 + back % 5).unwrap())),
                        ..DailyPatch::default()
                    };
                    let date = format_date(today - Duration::days(i64::from(back)));
                    upsert_daily(tx, tenant, ana, &date, MetricSource::Manual, patch, now_ms)?;
                }
                Ok::<_, StoreError>((tenant, ana, ben))
            })
            .unwrap();
        let days = crate::api::insights::DEFAULT_DAYS;
        let cached = |athlete| {
            store
                .read(|conn| crate::store::insights::cached_report(conn, tenant, athlete, days))
                .unwrap()
        };
        assert_eq!(cached(ana), None);
        let pass = refresh_reports(&store, now_ms, 0).unwrap();
        assert_eq!(
            pass,
            RefreshPass {
                athletes: 2,
                computed: 2,
                resume_after: 0
            }
        );
        // Cached under the digest a read computes, with the report a read computes.
        let (digest, json) = cached(ana).unwrap();
        let expected_digest = store
            .read(|conn| report_digest(conn, tenant, ana, today, days))
            .unwrap();
        assert_eq!(digest, expected_digest);
        let series = store
            .read(|conn| daily_series(conn, tenant, ana, today - Duration::days(89), today))
            .unwrap();
        let computed = report(&series);
        assert!(computed.tested > 0, "sleep × energy at four lags at least");
        assert_eq!(json, crate::api::insights::report_json(&computed));
        assert!(cached(ben).is_some());
        // Nothing changed: nothing recomputed; the served report comes from the cache.
        assert_eq!(refresh_reports(&store, now_ms, 0).unwrap().computed, 0);
        let (served, to_store) = store
            .read(|conn| current_report(conn, tenant, ana, now_ms, days))
            .unwrap();
        assert!(to_store.is_none());
        assert_eq!(served.tested, computed.tested);
        // A new day for Ben: his report alone is recomputed.
        store
            .write(|tx| {
                let patch = DailyPatch {
                    sleep_s: Some(Some(28_000.0)),
                    ..DailyPatch::default()
                };
                let date = format_date(today);
                upsert_daily(
                    tx,
                    tenant,
                    ben,
                    &date,
                    MetricSource::Manual,
                    patch,
                    now_ms + 1,
                )
            })
            .unwrap();
        assert_eq!(refresh_reports(&store, now_ms, 0).unwrap().computed, 1);
    }

    #[test]
    fn the_default_heart_rate_is_ninety_percent_of_lthr_then_of_max_then_the_mean() {
        let thresholds = |lthr, max| LoadThresholds {
            ftp_w: None,
            threshold_hr_bpm: lthr,
            resting_hr_bpm: None,
            max_hr_bpm: max,
            sex: None,
        };
        assert_eq!(
            default_hr(Some(&thresholds(Some(168), Some(186))), 140.0),
            151.0
        );
        assert_eq!(default_hr(Some(&thresholds(None, Some(200))), 140.0), 150.0);
        assert_eq!(default_hr(Some(&thresholds(None, None)), 139.6), 140.0);
        assert_eq!(default_hr(None, 139.6), 140.0);
    }
}
