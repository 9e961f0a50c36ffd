//! Insights' routes: the day's extra values from a CSV, efficiency per activity and its
//! weekly trend, the athlete's correlations ("what works") with a scatter plot per
//! finding and "was this helpful?" feedback, and a BPM-matched playlist per workout from
//! the caller's own music library. The rules are `paceline-insights`', the reading in
//! [`crate::jobs::insights`], the SQL in [`crate::store::insights`] (and
//! [`crate::store::planning`] for the day's values); these handlers parse, check the
//! athlete is visible to the caller (another tenant's, or an unlinked coach's, is 404) and
//! answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paceline_insights::correlations::{Finding, Input, Output, finding_scatter_svg};
use paceline_insights::daily::{DailyCsvError, DayExtras, parse_daily_csv};
use paceline_insights::efficiency::{trend_svg, weekly_trend};
use paceline_insights::music::{LibraryError, Track, parse_csv, parse_m3u, phases_from_plan};
use paceline_insights::{CorrelationReport, Sport};
use paceline_planning::recovery::check_date;
use paceline_schemas::plan::WorkoutPlan;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, athlete_visible, audit};
use crate::accounts::Principal;
use crate::jobs::insights::{self as reads, ActivityEfficiency};
use crate::jobs::planning::{self as days, format_date};
use crate::store::insights::{self as rows, FeedbackRecord};
use crate::store::planning::{self as planning_rows, DailyPatch, MetricSource};

/// The default window of the correlations, days.
pub const DEFAULT_DAYS: u32 = 90;
/// The longest window of the correlations, days.
pub const MAX_DAYS: u32 = 730;
/// The default and longest efficiency trend, weeks.
pub const DEFAULT_WEEKS: u32 = 12;
/// The longest efficiency trend, weeks.
pub const MAX_WEEKS: u32 = 104;
/// The most feedback answers `GET /insights/feedback` lists.
pub const MAX_FEEDBACK: u32 = 500;
/// The earliest day values may be entered for (as for the daily metrics).
const EARLIEST_YEAR: i32 = 1990;

/// 404 unless the caller may see the athlete.
fn visible(conn: &rusqlite::Connection, p: &Principal, athlete_row: i64) -> Result<(), ApiError> {
    if athlete_visible(conn, p, athlete_row)? {
        // Insights are health data: a coach sees them only if the athlete shares it.
        super::sharing::require_shared(conn, p, athlete_row, super::sharing::Shared::Health)
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// A raw body, or the JSON error for one over the limit or cut off.
fn raw_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request bodies are limited to {} bytes",
                    super::MAX_BODY_BYTES
                ),
            )
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {reason}"))
}

fn csv_error(e: &DailyCsvError) -> ApiError {
    match e {
        DailyCsvError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            e.to_string(),
        ),
        _ => ApiError::bad_request("invalid_csv", e.to_string()),
    }
}

/// The days of a daily CSV, as the handler reads them before the database.
pub(super) fn daily_csv_days(bytes: &[u8]) -> Result<Vec<(time::Date, DayExtras)>, ApiError> {
    parse_daily_csv(bytes).map_err(|e| csv_error(&e))
}

/// What a daily CSV import stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyImport {
    /// Days written.
    pub days: usize,
    /// The first and last day, `YYYY-MM-DD` (null for a file without days).
    pub from: Option<String>,
    /// The last day.
    pub to: Option<String>,
}

/// Import the day's nutrition, body and work values from a CSV: a header with `date`
/// (YYYY-MM-DD) and any of `energy_kcal`, `carbohydrate_g`, `protein_g`, `caffeine_mg`,
/// `alcohol_units`, `body_weight_kg`, `body_fat_pct`, `work_hours`, `work_stress`; an
/// empty cell keeps the stored value. All or nothing: a bad line (named by its number),
/// value or date stores no day.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/daily.csv", tag = "insights",
    params(("id" = i64, Path, description = "athlete id")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = DailyImport),
        (status = 400, description = "`invalid_csv` naming the line, or `invalid_field` naming a date"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn import_daily_csv(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DailyImport>, ApiError> {
    let body = raw_body(body)?;
    let now = state.now_ms();
    let imported = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            let parsed = daily_csv_days(&body)?;
            let today = days::athlete_today(tx, p.tenant_row, id, now)?;
            for (day, _) in &parsed {
                check_date(*day, today).map_err(|e| invalid(e.field, &e.reason))?;
                if day.year() < EARLIEST_YEAR {
                    return Err(invalid(
                        "date",
                        format!("{}: before {EARLIEST_YEAR}", format_date(*day)),
                    ));
                }
            }
            for (day, extras) in &parsed {
                let patch = DailyPatch {
                    extras: extras
                        .values()
                        .into_iter()
                        .map(|(f, v)| (f, Some(v)))
                        .collect(),
                    ..DailyPatch::default()
                };
                planning_rows::upsert_daily(
                    tx,
                    p.tenant_row,
                    id,
                    &format_date(*day),
                    MetricSource::Manual,
                    patch,
                    now,
                )?;
            }
            let from = parsed.iter().map(|(d, _)| *d).min().map(format_date);
            let to = parsed.iter().map(|(d, _)| *d).max().map(format_date);
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "daily.csv",
                Some(&format!("athlete:{id}")),
                Some(&json!({"days": parsed.len()})),
                now,
            )?;
            Ok(DailyImport {
                days: parsed.len(),
                from,
                to,
            })
        })
        .await?;
    Ok(Json(imported))
}

/// `GET /activities/{id}/efficiency` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyQuery {
    /// The heart rate to read the output at, bpm (30–240; default 90 % of the athlete's
    /// LTHR, else 75 % of their maximum, else the activity's mean).
    pub hr: Option<f64>,
}

/// The output at a fixed heart rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct AtHrView {
    /// The heart rate, bpm.
    pub hr_bpm: f64,
    /// The median power (W) or grade-adjusted speed (m/min) within ±3 bpm of it.
    pub output: Option<f64>,
    /// Why there is none.
    pub not_computable: Option<String>,
}

/// An activity's efficiency.
#[derive(Debug, Serialize, ToSchema)]
pub struct EfficiencyView {
    /// The activity.
    pub activity_id: i64,
    /// Its local day, `YYYY-MM-DD`.
    pub date: String,
    /// `ride` or `run` (null for another sport).
    pub sport: Option<String>,
    /// EF: NP ÷ mean HR (rides, W/bpm) or mean grade-adjusted speed ÷ mean HR (runs,
    /// (m/min)/bpm).
    pub efficiency_factor: Option<f64>,
    /// The EF's unit.
    pub unit: Option<String>,
    /// Aerobic decoupling, %: first half's EF vs the second's (positive: drift).
    pub decoupling_pct: Option<f64>,
    /// NP (W) or mean grade-adjusted speed (m/min).
    pub output: Option<f64>,
    /// Mean heart rate over the valid samples, bpm.
    pub mean_hr_bpm: Option<f64>,
    /// Valid samples used, s.
    pub valid_samples_s: Option<usize>,
    /// Runs: whether altitude adjusted the pace for grade.
    pub grade_adjusted: Option<bool>,
    /// Output at a fixed heart rate.
    pub at_hr: Option<AtHrView>,
    /// Why the efficiency could not be computed (null when it was).
    pub not_computable: Option<String>,
}

fn unit(sport: Sport) -> &'static str {
    match sport {
        Sport::Ride => "W/bpm",
        Sport::Run => "(m/min)/bpm",
    }
}

fn efficiency_view(e: &ActivityEfficiency, at_hr: Option<AtHrView>) -> EfficiencyView {
    let ok = e.efficiency.as_ref().ok();
    EfficiencyView {
        activity_id: e.activity_id,
        date: format_date(e.date),
        sport: e.sport.map(|s| s.as_str().to_owned()),
        efficiency_factor: ok.map(|x| x.efficiency_factor),
        unit: e.sport.map(|s| unit(s).to_owned()),
        decoupling_pct: ok.map(|x| x.decoupling_pct),
        output: ok.map(|x| x.output),
        mean_hr_bpm: ok.map(|x| x.mean_hr_bpm),
        valid_samples_s: ok.map(|x| x.valid_samples),
        grade_adjusted: ok.map(|x| x.grade_adjusted),
        at_hr,
        not_computable: e.efficiency.as_ref().err().map(ToString::to_string),
    }
}

/// An activity's aerobic efficiency from its stored samples: efficiency factor, aerobic
/// decoupling, and the output at a fixed heart rate (`?hr=`, default 90 % of the
/// athlete's LTHR). An activity too short, without heart rate or power (speed for a run),
/// or of another sport answers 200 with `not_computable` saying why.
#[utoipa::path(get, path = "/api/v1/activities/{id}/efficiency", tag = "insights",
    params(("id" = i64, Path, description = "activity id"), EfficiencyQuery),
    responses((status = 200, body = EfficiencyView), (status = 400, description = "an impossible `hr`"),
        (status = 404, description = "no such activity visible")),
    security(("bearer" = [])))]
pub async fn activity_efficiency(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<EfficiencyQuery>,
) -> Result<Json<EfficiencyView>, ApiError> {
    if let Some(hr) = q.hr
        && !(30.0..=240.0).contains(&hr)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("hr: {hr}: must be from 30 to 240"),
        ));
    }
    let view = state
        .read(move |conn| {
            let record = crate::store::activities::activity(conn, p.tenant_row, id)?
                .ok_or_else(|| ApiError::not_found("activity"))?;
            if !athlete_visible(conn, &p, record.athlete_id)? {
                return Err(ApiError::not_found("activity"));
            }
            let e = reads::activity_efficiency(conn, p.tenant_row, &record)?;
            let thresholds = crate::store::activities::athlete_thresholds(
                conn,
                p.tenant_row,
                record.athlete_id,
            )?;
            let at_hr = match (e.sport, &e.samples, &e.efficiency) {
                (Some(sport), Some(samples), Ok(eff)) => {
                    let hr = q
                        .hr
                        .unwrap_or_else(|| reads::default_hr(thresholds.as_ref(), eff.mean_hr_bpm));
                    let found = paceline_insights::output_at_hr(sport, samples, hr);
                    Some(AtHrView {
                        hr_bpm: hr,
                        output: found.as_ref().ok().copied(),
                        not_computable: found.err().map(|e| e.to_string()),
                    })
                }
                _ => None,
            };
            Ok(efficiency_view(&e, at_hr))
        })
        .await?;
    Ok(Json(view))
}

/// `GET /athletes/{id}/insights/efficiency` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrendQuery {
    /// Weeks back from the athlete's week, 1–104 (default 12).
    pub weeks: Option<u32>,
    /// `ride` or `run` (default: the one with more activities whose efficiency computes).
    pub sport: Option<String>,
}

/// One week's mean EF.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekView {
    /// The Monday it starts on, `YYYY-MM-DD`.
    pub week_start: String,
    /// Mean EF of its activities.
    pub mean_ef: f64,
    /// Activities that week.
    pub activities: usize,
}

/// The weekly efficiency trend.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendView {
    /// `ride` or `run` (null: no activity's efficiency computes in the window).
    pub sport: Option<String>,
    /// The EF's unit.
    pub unit: Option<String>,
    /// First day of the window, `YYYY-MM-DD`.
    pub from: String,
    /// Last day (the athlete's today).
    pub to: String,
    /// Weeks with activities, oldest first.
    pub weeks: Vec<WeekView>,
    /// EF change per week (least squares; null under two weeks).
    pub slope_per_week: Option<f64>,
    /// Each activity of the sport whose efficiency computes.
    pub activities: Vec<EfficiencyView>,
}

fn trend_of(
    conn: &rusqlite::Connection,
    p: &Principal,
    id: i64,
    q: &TrendQuery,
    now: u64,
) -> Result<TrendView, ApiError> {
    visible(conn, p, id)?;
    let weeks = q.weeks.unwrap_or(DEFAULT_WEEKS);
    if !(1..=MAX_WEEKS).contains(&weeks) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("weeks: {weeks}: must be from 1 to {MAX_WEEKS}"),
        ));
    }
    let asked = q
        .sport
        .as_deref()
        .map(|s| {
            Sport::parse(s).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("sport: {s:?}: ride or run"))
            })
        })
        .transpose()?;
    let today = days::athlete_today(conn, p.tenant_row, id, now)?;
    let from =
        paceline_insights::efficiency::week_start(today) - Duration::weeks(i64::from(weeks) - 1);
    let all = reads::efficiencies_between(conn, p.tenant_row, id, from, today)?;
    let sport = asked.or_else(|| reads::series_sport(&all));
    let chosen: Vec<&ActivityEfficiency> = all
        .iter()
        .filter(|e| e.sport.is_some() && e.sport == sport && e.efficiency.is_ok())
        .collect();
    let points: Vec<(time::Date, f64)> = chosen
        .iter()
        .filter_map(|e| Some((e.date, e.efficiency.as_ref().ok()?.efficiency_factor)))
        .collect();
    let trend = weekly_trend(&points);
    Ok(TrendView {
        sport: sport.map(|s| s.as_str().to_owned()),
        unit: sport.map(|s| unit(s).to_owned()),
        from: format_date(from),
        to: format_date(today),
        weeks: trend
            .weeks
            .iter()
            .map(|w| WeekView {
                week_start: format_date(w.week_start),
                mean_ef: w.mean_ef,
                activities: w.activities,
            })
            .collect(),
        slope_per_week: trend.slope_per_week,
        activities: chosen.iter().map(|e| efficiency_view(e, None)).collect(),
    })
}

/// An athlete's efficiency factor by ISO week (Monday first) over the last `weeks`, with
/// its least-squares slope, from the activities of one sport (`?sport=`, default the one
/// with more activities whose efficiency computes).
#[utoipa::path(get, path = "/api/v1/athletes/{id}/insights/efficiency", tag = "insights",
    params(("id" = i64, Path, description = "athlete id"), TrendQuery),
    responses((status = 200, body = TrendView), (status = 400, description = "weeks out of 1–104, or an unknown sport"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn efficiency_trend(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> Result<Json<TrendView>, ApiError> {
    let now = state.now_ms();
    let view = state
        .read(move |conn| trend_of(conn, &p, id, &q, now))
        .await?;
    Ok(Json(view))
}

/// The weekly efficiency trend as a line chart (SVG), as `GET …/insights/efficiency`.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/insights/efficiency.svg", tag = "insights",
    params(("id" = i64, Path, description = "athlete id"), TrendQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 400, description = "weeks out of 1–104, or an unknown sport"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn efficiency_chart(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> Result<Response, ApiError> {
    let now = state.now_ms();
    let view = state
        .read(move |conn| trend_of(conn, &p, id, &q, now))
        .await?;
    let trend = paceline_insights::EfficiencyTrend {
        weeks: view
            .weeks
            .iter()
            .filter_map(|w| {
                Some(paceline_insights::efficiency::WeekEfficiency {
                    week_start: crate::jobs::planning::parse_date(&w.week_start)?,
                    mean_ef: w.mean_ef,
                    activities: w.activities,
                })
            })
            .collect(),
        slope_per_week: view.slope_per_week,
    };
    let svg = trend_svg(&trend, view.unit.as_deref().unwrap_or("no activities"));
    Ok(super::charts::svg_response(svg))
}

/// `GET /athletes/{id}/insights/correlations` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CorrelationsQuery {
    /// Days back from the athlete's today, 1–730 (default 90).
    pub days: Option<u32>,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    /// The input (`sleep_s`, `hrv_ms`, `resting_hr_bpm`, `stress`, `energy_kcal`,
    /// `carbohydrate_g`, `protein_g`, `caffeine_mg`, `alcohol_units`, `body_weight_kg`,
    /// `body_fat_pct`, `work_hours`, `work_stress`, `load_tss`, `training_hour`).
    pub input: String,
    /// The output (`efficiency_factor`, `decoupling_pct`, `recovery_score`,
    /// `check_in_energy`, `check_in_mood`).
    pub output: String,
    /// Days from the input to the output, 0–3.
    pub lag_days: u8,
    /// Spearman's rho.
    pub rho: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Benjamini-Hochberg q-value across every test of the athlete (reported when ≤ 0.10).
    pub q: f64,
    /// Paired days.
    pub n: usize,
    /// The finding in plain English.
    pub sentence: String,
}

/// What works and what doesn't.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CorrelationsView {
    /// Findings good for the output, by q.
    pub what_works: Vec<FindingView>,
    /// Findings bad for the output, by q.
    pub what_doesnt: Vec<FindingView>,
    /// Tests run (each with ≥ 10 pairs).
    pub tested: usize,
}

fn finding_view(f: &Finding) -> FindingView {
    FindingView {
        input: f.input.as_str().to_owned(),
        output: f.output.as_str().to_owned(),
        lag_days: f.lag_days,
        rho: f.rho,
        p: f.p,
        q: f.q,
        n: f.n,
        sentence: f.sentence.clone(),
    }
}

fn correlations_view(r: &CorrelationReport) -> CorrelationsView {
    CorrelationsView {
        what_works: r.what_works.iter().map(finding_view).collect(),
        what_doesnt: r.what_doesnt.iter().map(finding_view).collect(),
        tested: r.tested,
    }
}

/// A report as cached (the JSON of [`CorrelationsView`]).
pub fn report_json(r: &CorrelationReport) -> String {
    serde_json::to_string(&correlations_view(r)).unwrap_or_default()
}

fn finding_of(view: &FindingView) -> Option<Finding> {
    Some(Finding {
        input: Input::parse(&view.input)?,
        output: Output::parse(&view.output)?,
        lag_days: view.lag_days,
        rho: view.rho,
        p: view.p,
        q: view.q,
        n: view.n,
        sentence: view.sentence.clone(),
    })
}

/// A cached report read back; `None` when the JSON is not one (an older shape).
pub fn report_of_json(json: &str) -> Option<CorrelationReport> {
    let view: CorrelationsView = serde_json::from_str(json).ok()?;
    Some(CorrelationReport {
        what_works: view
            .what_works
            .iter()
            .map(finding_of)
            .collect::<Option<_>>()?,
        what_doesnt: view
            .what_doesnt
            .iter()
            .map(finding_of)
            .collect::<Option<_>>()?,
        tested: view.tested,
    })
}

/// The report of the athlete's window: the cached one when its inputs have not changed,
/// else computed and cached (see [`crate::jobs::insights`]).
async fn correlations_of(
    state: &ApiState,
    p: Principal,
    id: i64,
    days: Option<u32>,
) -> Result<(CorrelationsView, time::Date, u32), ApiError> {
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("days: {days}: must be from 1 to {MAX_DAYS}"),
        ));
    }
    let now = state.now_ms();
    let tenant_row = p.tenant_row;
    let (today, digest, cached) = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            let today = days::athlete_today(conn, tenant_row, id, now)?;
            let digest = reads::report_digest(conn, tenant_row, id, today, days)?;
            let cached = rows::cached_report(conn, tenant_row, id, days)?
                .filter(|(d, _)| *d == digest)
                .and_then(|(_, json)| serde_json::from_str::<CorrelationsView>(&json).ok());
            Ok((today, digest, cached))
        })
        .await?;
    if let Some(view) = cached {
        return Ok((view, today, days));
    }
    let view = state
        .read(move |conn| {
            let (from, to) = reads::window(today, days);
            let series = reads::daily_series(conn, tenant_row, id, from, to)?;
            Ok(correlations_view(&reads::report(&series)))
        })
        .await?;
    let json = serde_json::to_string(&view).map_err(|_| ApiError::internal())?;
    state
        .write(move |tx| {
            rows::store_report(tx, tenant_row, id, days, &digest, &json, now)?;
            Ok(())
        })
        .await?;
    Ok((view, today, days))
}

/// What works for the athlete: every input (sleep, HRV, resting HR, stress, nutrition,
/// body and work values, daily load, training start time) × output (efficiency factor and
/// decoupling of one sport, recovery score, check-in energy and mood) × lag 0–3 days over
/// the last `days`, Spearman's rho with ≥ 10 pairs, Benjamini-Hochberg across all of the
/// athlete's tests, reported when q ≤ 0.10. Computed on read and cached until the
/// athlete's days or activities change.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/insights/correlations", tag = "insights",
    params(("id" = i64, Path, description = "athlete id"), CorrelationsQuery),
    responses((status = 200, body = CorrelationsView), (status = 400, description = "days out of 1–730"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn get_correlations(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<CorrelationsQuery>,
) -> Result<Json<CorrelationsView>, ApiError> {
    let (view, _, _) = correlations_of(&state, p, id, q.days).await?;
    Ok(Json(view))
}

/// A finding's scatter plot (SVG): its paired days, the input across (in hours for
/// sleep), the output up. `index` counts `what_works` then `what_doesnt` from 0, as
/// `GET …/insights/correlations` with the same `days` lists them.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/insights/correlations/{index}/scatter.svg", tag = "insights",
    params(("id" = i64, Path, description = "athlete id"),
        ("index" = usize, Path, description = "the finding: what_works then what_doesnt, from 0"),
        CorrelationsQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 400, description = "days out of 1–730"),
        (status = 404, description = "no such athlete visible, or no such finding")),
    security(("bearer" = [])))]
pub async fn correlation_scatter(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath((id, index)): ApiPath<(i64, usize)>,
    ApiQuery(q): ApiQuery<CorrelationsQuery>,
) -> Result<Response, ApiError> {
    let tenant_row = p.tenant_row;
    let (view, today, days) = correlations_of(&state, p, id, q.days).await?;
    let found = view
        .what_works
        .iter()
        .chain(&view.what_doesnt)
        .nth(index)
        .cloned()
        .ok_or_else(|| ApiError::not_found("finding"))?;
    let finding = Finding {
        input: Input::parse(&found.input).ok_or_else(ApiError::internal)?,
        output: Output::parse(&found.output).ok_or_else(ApiError::internal)?,
        lag_days: found.lag_days,
        rho: found.rho,
        p: found.p,
        q: found.q,
        n: found.n,
        sentence: found.sentence,
    };
    let svg = state
        .read(move |conn| {
            let (from, to) = reads::window(today, days);
            let series = reads::daily_series(conn, tenant_row, id, from, to)?;
            Ok(finding_scatter_svg(&series, &finding))
        })
        .await?;
    Ok(super::charts::svg_response(svg))
}

/// `POST /athletes/{id}/insights/feedback`: whether a finding helped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// The finding's input.
    pub input: String,
    /// The finding's output.
    pub output: String,
    /// The finding's lag, 0–3 days.
    pub lag_days: u8,
    /// Whether it helped.
    pub helpful: bool,
}

impl FeedbackBody {
    /// The names checked against the core's inputs, outputs and lags.
    pub(super) fn check(&self) -> Result<(), ApiError> {
        let unknown = |field: &str, name: &str| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("{field}: {name:?} is not one"),
            )
        };
        Input::parse(&self.input).ok_or_else(|| unknown("input", &self.input))?;
        Output::parse(&self.output).ok_or_else(|| unknown("output", &self.output))?;
        if self.lag_days > paceline_insights::correlations::MAX_LAG_DAYS {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("lag_days: {}: must be from 0 to 3", self.lag_days),
            ));
        }
        Ok(())
    }
}

/// A "was this helpful?" answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackView {
    /// Id.
    pub id: i64,
    /// The athlete.
    pub athlete_id: i64,
    /// Who answered.
    pub user_id: i64,
    /// The finding's input.
    pub input: String,
    /// The finding's output.
    pub output: String,
    /// The finding's lag, days.
    pub lag_days: u8,
    /// Whether it helped.
    pub helpful: bool,
    /// When, ms since the epoch.
    pub created_ms: i64,
}

fn feedback_view(r: FeedbackRecord) -> FeedbackView {
    FeedbackView {
        id: r.id,
        athlete_id: r.athlete_id,
        user_id: r.user_id,
        input: r.input,
        output: r.output,
        lag_days: r.lag_days,
        helpful: r.helpful,
        created_ms: r.created_ms,
    }
}

/// Say whether a finding was helpful (anyone who may see the athlete).
#[utoipa::path(post, path = "/api/v1/athletes/{id}/insights/feedback", tag = "insights",
    params(("id" = i64, Path, description = "athlete id")),
    request_body = FeedbackBody,
    responses((status = 201, body = FeedbackView), (status = 404, description = "no such athlete visible"),
        (status = 422, description = "an unknown input or output, or a lag over 3")),
    security(("bearer" = [])))]
pub async fn post_feedback(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<(StatusCode, Json<FeedbackView>), ApiError> {
    let now = state.now_ms();
    let stored = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            body.check()?;
            let record = FeedbackRecord {
                id: 0,
                athlete_id: id,
                user_id: p.user_row,
                input: body.input,
                output: body.output,
                lag_days: body.lag_days,
                helpful: body.helpful,
                created_ms: 0,
            };
            Ok(rows::add_feedback(tx, p.tenant_row, &record, now)?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(feedback_view(stored))))
}

/// The tenant's feedback on findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackList {
    /// Answers "helpful" among those listed.
    pub helpful: usize,
    /// Answers "not helpful" among those listed.
    pub not_helpful: usize,
    /// The latest 500, newest first.
    pub feedback: Vec<FeedbackView>,
}

/// The tenant's "was this helpful?" answers, newest first (gym-admins only).
#[utoipa::path(get, path = "/api/v1/insights/feedback", tag = "insights",
    responses((status = 200, body = FeedbackList), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn list_feedback(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<FeedbackList>, ApiError> {
    super::require_admin(&p)?;
    let found = state
        .read(move |conn| Ok(rows::feedback(conn, p.tenant_row, MAX_FEEDBACK)?))
        .await?;
    let helpful = found.iter().filter(|f| f.helpful).count();
    Ok(Json(FeedbackList {
        helpful,
        not_helpful: found.len() - helpful,
        feedback: found.into_iter().map(feedback_view).collect(),
    }))
}

/// A library's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibraryFormat {
    /// An M3U playlist with `#EXTINF` durations and `#EXTBPM`.
    M3u,
    /// A CSV with `path`, `title`, `duration_s` and `bpm`.
    Csv,
}

impl LibraryFormat {
    fn as_str(self) -> &'static str {
        match self {
            LibraryFormat::M3u => "m3u",
            LibraryFormat::Csv => "csv",
        }
    }

    /// The format a body is in: the content type's when it names one, else M3U when it
    /// starts like one (`#EXTM3U`, `#EXTINF`), else CSV.
    pub fn of(content_type: Option<&str>, bytes: &[u8]) -> LibraryFormat {
        let content_type = content_type.unwrap_or("").to_ascii_lowercase();
        if content_type.contains("mpegurl") {
            return LibraryFormat::M3u;
        }
        if content_type.contains("csv") {
            return LibraryFormat::Csv;
        }
        let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let start: Vec<u8> = text
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace)
            .take(7)
            .collect();
        if start.eq_ignore_ascii_case(b"#EXTM3U") || start.starts_with(b"#EXTINF") {
            LibraryFormat::M3u
        } else {
            LibraryFormat::Csv
        }
    }
}

fn library_error(e: &LibraryError) -> ApiError {
    ApiError::bad_request("invalid_library", e.to_string())
}

/// A music library's tracks, as the handler reads them before the database.
pub(super) fn library_tracks(format: LibraryFormat, bytes: &[u8]) -> Result<Vec<Track>, ApiError> {
    match format {
        LibraryFormat::M3u => parse_m3u(bytes),
        LibraryFormat::Csv => parse_csv(bytes),
    }
    .map_err(|e| library_error(&e))
}

/// A track as stored (the core's `Track`, which only serializes).
#[derive(Debug, Serialize, Deserialize)]
struct StoredTrack {
    path: String,
    title: String,
    artist: Option<String>,
    duration_s: u32,
    bpm: Option<f64>,
}

/// A library's tracks as stored (`music_libraries.tracks_json`): by this route and by
/// `paceline music import` alike.
pub fn library_json(tracks: &[Track]) -> String {
    let stored: Vec<StoredTrack> = tracks
        .iter()
        .map(|t| StoredTrack {
            path: t.path.clone(),
            title: t.title.clone(),
            artist: t.artist.clone(),
            duration_s: t.duration_s,
            bpm: t.bpm,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned())
}

/// What a library upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct MusicLibraryView {
    /// `m3u` or `csv`.
    pub format: String,
    /// Tracks read.
    pub tracks: usize,
    /// Of which with a BPM (only those can be chosen).
    pub with_bpm: usize,
}

/// Upload the caller's music library (replacing theirs): an M3U
/// (`#EXTINF:<s>,<artist> - <title>`, `#EXTBPM:<bpm>`, then the path) or a CSV
/// (`path,title,duration_s,artist,bpm`),
/// told apart by `Content-Type` (`audio/x-mpegurl`, `text/csv`) or by its first line.
/// Bounded by the 1 MiB body limit and the core's 20,000 tracks; a bad line is 400
/// `invalid_library` naming it.
#[utoipa::path(put, path = "/api/v1/me/music", tag = "insights",
    request_body(content = String, content_type = "audio/x-mpegurl"),
    responses((status = 200, body = MusicLibraryView),
        (status = 400, description = "`invalid_library`: the line and what is wrong")),
    security(("bearer" = [])))]
pub async fn put_music(
    State(state): State<ApiState>,
    Auth(p): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MusicLibraryView>, ApiError> {
    let body = raw_body(body)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let format = LibraryFormat::of(content_type.as_deref(), &body);
    let tracks = library_tracks(format, &body)?;
    let json = library_json(&tracks);
    let now = state.now_ms();
    state
        .write(move |tx| {
            rows::set_music_library(tx, p.tenant_row, p.user_row, format.as_str(), &json, now)?;
            Ok(())
        })
        .await?;
    Ok(Json(MusicLibraryView {
        format: format.as_str().to_owned(),
        tracks: tracks.len(),
        with_bpm: tracks.iter().filter(|t| t.bpm.is_some()).count(),
    }))
}

/// `GET /plans/{id}/playlist` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlaylistQuery {
    /// `json` (default) or `m3u`; `Accept: audio/x-mpegurl` also asks for M3U.
    pub format: Option<String>,
}

/// A playlist for a workout from the caller's music library (`PUT /me/music`): per phase
/// (warm-up 100–120 BPM, main 130–160, intervals 160–180, cool-down 80–100; a run's
/// phases at its planned cadence, or half of it, ±3 %), tracks filling the phase to within
/// ±30 s, or the reason it could not. JSON, or M3U with `?format=m3u` or
/// `Accept: audio/x-mpegurl`.
#[utoipa::path(get, path = "/api/v1/plans/{id}/playlist", tag = "insights",
    params(("id" = i64, Path, description = "plan id"), PlaylistQuery),
    responses((status = 200, description = "the playlist: JSON (phases with tracks) or M3U"),
        (status = 400, description = "an unknown format"),
        (status = 404, description = "no such plan in this tenant, or no music library (`no_music`)")),
    security(("bearer" = [])))]
pub async fn plan_playlist(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PlaylistQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m3u = match q.format.as_deref() {
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.to_ascii_lowercase().contains("mpegurl")),
        Some("json") => false,
        Some("m3u") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("format: {other:?}: json or m3u"),
            ));
        }
    };
    let (plan_json, library_json) = state
        .read(move |conn| {
            let (_, plan) = rows::plan_json(conn, p.tenant_row, id)?
                .ok_or_else(|| ApiError::not_found("plan"))?;
            let library =
                rows::music_library(conn, p.tenant_row, p.user_row)?.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "no_music",
                        "no music library: upload one with PUT /api/v1/me/music",
                    )
                })?;
            Ok((plan, library))
        })
        .await?;
    let plan: WorkoutPlan =
        paceline_schemas::codec::from_json(plan_json.as_bytes()).map_err(|e| {
            tracing::error!(error = %e, plan = id, "stored plan does not read");
            ApiError::internal()
        })?;
    let library: Vec<Track> = serde_json::from_str::<Vec<StoredTrack>>(&library_json)
        .map_err(|e| {
            tracing::error!(error = %e, "stored music library does not read");
            ApiError::internal()
        })?
        .into_iter()
        .map(|t| Track {
            path: t.path,
            title: t.title,
            artist: t.artist,
            duration_s: t.duration_s,
            bpm: t.bpm,
        })
        .collect();
    let playlist = paceline_insights::playlist(&library, &phases_from_plan(&plan));
    if m3u {
        return Ok((
            [(header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8")],
            paceline_insights::to_m3u(&playlist),
        )
            .into_response());
    }
    Ok(Json(playlist).into_response())
}
