//! Planning's routes: daily metrics and check-ins, training load (CTL, ATL, TSB, ACWR),
//! the recovery score, and an athlete's planning settings. The rules are
//! `paceline-planning`'s, the day reading in [`crate::jobs::planning`], the SQL in
//! [`crate::store::planning`]; these handlers parse, check the athlete is visible to the
//! caller (another tenant's, or an unlinked coach's, is 404) and answer.
//!
//! Dates are the athlete's local days, `YYYY-MM-DD`; "today" is the athlete's (the offset
//! of their latest activity that names one, else UTC).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paceline_insights::daily::ExtraField;
use paceline_planning::plan::sport_name;
use paceline_planning::recovery::{check_date, check_metrics};
use paceline_planning::{
    CalendarEvent, CheckIn, DailyMetrics, Equipment, Goal as PlanGoal, LifeKind, MetricError,
    parse_ics_events,
};
use paceline_schemas::plan::Sport;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::{Date, Duration};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, athlete_visible, audit};
use crate::accounts::Principal;
use crate::jobs::planning::{self as days, PlanSettings, format_date, parse_date};
use crate::outbound::OutboundError;
use crate::store::planning::{self as rows, DailyPatch, DailyRecord, MetricSource};

/// The longest window a range query may ask for, days (ten years).
pub const MAX_RANGE_DAYS: i64 = 3660;
/// The earliest day metrics may be entered for.
const EARLIEST_YEAR: i32 = 1990;

/// A value refused: 400 `invalid_field`, the message starting with the field's name.
fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {reason}"))
}

fn metric_error(e: &MetricError) -> ApiError {
    invalid(e.field, &e.reason)
}

/// 404 unless the caller may see the athlete.
fn visible(conn: &rusqlite::Connection, p: &Principal, athlete_row: i64) -> Result<(), ApiError> {
    if athlete_visible(conn, p, athlete_row)? {
        Ok(())
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// 404 unless the caller may see the athlete's health data (daily metrics, check-ins,
/// recovery): a coach only if the athlete shares it.
fn visible_health(
    conn: &rusqlite::Connection,
    p: &Principal,
    athlete_row: i64,
) -> Result<(), ApiError> {
    visible(conn, p, athlete_row)?;
    super::sharing::require_shared(conn, p, athlete_row, super::sharing::Shared::Health)
}

/// `Some(value)` for a field that is present (`null` included), so `null` clears.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `PUT /athletes/{id}/daily/{date}`: any of the fields; a field left out keeps its value,
/// `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyBody {
    /// Resting heart rate, bpm (25–150).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub resting_hr_bpm: Option<Option<f64>>,
    /// Heart-rate variability (rMSSD), ms (1–300).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub hrv_ms: Option<Option<f64>>,
    /// Sleep, s (0–86,400).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub sleep_s: Option<Option<f64>>,
    /// Sleep score, 0–100.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub sleep_score: Option<Option<f64>>,
    /// Stress, 0–100.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub stress: Option<Option<f64>>,
    /// Check-in energy, 1 (none) – 5 (plenty).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub energy: Option<Option<i64>>,
    /// Check-in mood, 1 (bad) – 5 (great).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub mood: Option<Option<i64>>,
    /// Check-in soreness, 1 (none) – 5 (very sore).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub soreness: Option<Option<i64>>,
    /// Check-in note (≤ 2,000 bytes).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    /// Food energy, kcal (0–15,000).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub energy_kcal: Option<Option<f64>>,
    /// Carbohydrate, g (0–2,000).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub carbohydrate_g: Option<Option<f64>>,
    /// Protein, g (0–1,000).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub protein_g: Option<Option<f64>>,
    /// Caffeine, mg (0–3,000).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub caffeine_mg: Option<Option<f64>>,
    /// Alcohol, units (0–50).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub alcohol_units: Option<Option<f64>>,
    /// Body weight, kg (20–400).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub body_weight_kg: Option<Option<f64>>,
    /// Body fat, % (2–75).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub body_fat_pct: Option<Option<f64>>,
    /// Work, h (0–24).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub work_hours: Option<Option<f64>>,
    /// Work stress, 0–10.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub work_stress: Option<Option<f64>>,
}

impl DailyBody {
    /// The change, once every value given passes the core's checks.
    pub(super) fn patch(self) -> Result<DailyPatch, ApiError> {
        let scale = |field: &'static str, value: Option<Option<i64>>| {
            value
                .map(|v| {
                    v.map(|n| {
                        u8::try_from(n)
                            .ok()
                            .filter(|n| (1..=5).contains(n))
                            .ok_or_else(|| invalid(field, format!("{n}: must be from 1 to 5")))
                    })
                    .transpose()
                })
                .transpose()
        };
        let extras = [
            (ExtraField::EnergyKcal, self.energy_kcal),
            (ExtraField::CarbohydrateG, self.carbohydrate_g),
            (ExtraField::ProteinG, self.protein_g),
            (ExtraField::CaffeineMg, self.caffeine_mg),
            (ExtraField::AlcoholUnits, self.alcohol_units),
            (ExtraField::BodyWeightKg, self.body_weight_kg),
            (ExtraField::BodyFatPct, self.body_fat_pct),
            (ExtraField::WorkHours, self.work_hours),
            (ExtraField::WorkStress, self.work_stress),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| (field, v)))
        .map(|(field, value)| {
            value
                .map(|v| field.check(v))
                .transpose()
                .map(|checked| (field, checked))
                .map_err(|e| invalid(e.field, &e.reason))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
        let patch = DailyPatch {
            resting_hr_bpm: self.resting_hr_bpm,
            hrv_ms: self.hrv_ms,
            sleep_s: self.sleep_s,
            sleep_score: self.sleep_score,
            stress: self.stress,
            energy: scale("energy", self.energy)?,
            mood: scale("mood", self.mood)?,
            soreness: scale("soreness", self.soreness)?,
            note: self.note,
            extras,
        };
        let given = |v: Option<Option<f64>>| v.flatten();
        check_metrics(&DailyMetrics {
            resting_hr_bpm: given(patch.resting_hr_bpm),
            hrv_ms: given(patch.hrv_ms),
            sleep_s: given(patch.sleep_s),
            sleep_score: given(patch.sleep_score),
            stress: given(patch.stress),
        })
        .map_err(|e| metric_error(&e))?;
        CheckIn {
            energy: patch.energy.flatten(),
            mood: patch.mood.flatten(),
            soreness: patch.soreness.flatten(),
            note: patch.note.clone().flatten(),
        }
        .check()
        .map_err(|e| metric_error(&e))?;
        Ok(patch)
    }
}

/// One day's metrics and check-in from one source.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyView {
    /// The athlete's local day, `YYYY-MM-DD`.
    pub date: String,
    /// `manual` (entered here) or `garmin` (synced).
    pub source: String,
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<f64>,
    /// HRV (rMSSD), ms.
    pub hrv_ms: Option<f64>,
    /// Sleep, s.
    pub sleep_s: Option<f64>,
    /// Sleep score, 0–100.
    pub sleep_score: Option<f64>,
    /// Stress, 0–100.
    pub stress: Option<f64>,
    /// Energy, 1–5.
    pub energy: Option<u8>,
    /// Mood, 1–5.
    pub mood: Option<u8>,
    /// Soreness, 1–5.
    pub soreness: Option<u8>,
    /// Note.
    pub note: Option<String>,
    /// Food energy, kcal.
    pub energy_kcal: Option<f64>,
    /// Carbohydrate, g.
    pub carbohydrate_g: Option<f64>,
    /// Protein, g.
    pub protein_g: Option<f64>,
    /// Caffeine, mg.
    pub caffeine_mg: Option<f64>,
    /// Alcohol, units.
    pub alcohol_units: Option<f64>,
    /// Body weight, kg.
    pub body_weight_kg: Option<f64>,
    /// Body fat, %.
    pub body_fat_pct: Option<f64>,
    /// Work, h.
    pub work_hours: Option<f64>,
    /// Work stress, 0–10.
    pub work_stress: Option<f64>,
    /// VO2max, ml/kg/min (Garmin's user metrics; read-only).
    pub vo2max_ml_kg_min: Option<f64>,
    /// Fitness age, years (Garmin's user metrics; read-only).
    pub fitness_age_years: Option<f64>,
    /// Last changed, ms since the epoch.
    pub updated_ms: i64,
}

pub(super) fn daily_view(r: DailyRecord) -> DailyView {
    DailyView {
        date: r.date,
        source: r.source,
        resting_hr_bpm: r.resting_hr_bpm,
        hrv_ms: r.hrv_ms,
        sleep_s: r.sleep_s,
        sleep_score: r.sleep_score,
        stress: r.stress,
        energy: r.energy,
        mood: r.mood,
        soreness: r.soreness,
        note: r.note,
        energy_kcal: r.extras.energy_kcal,
        carbohydrate_g: r.extras.carbohydrate_g,
        protein_g: r.extras.protein_g,
        caffeine_mg: r.extras.caffeine_mg,
        alcohol_units: r.extras.alcohol_units,
        body_weight_kg: r.extras.body_weight_kg,
        body_fat_pct: r.extras.body_fat_pct,
        work_hours: r.extras.work_hours,
        work_stress: r.extras.work_stress,
        vo2max_ml_kg_min: r.vo2max_ml_kg_min,
        fitness_age_years: r.fitness_age_years,
        updated_ms: r.updated_ms,
    }
}

/// Daily metrics, by date then source.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyList {
    /// One per day and source that has any.
    pub days: Vec<DailyView>,
}

/// A window of days.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default: a window ending `to`).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: the athlete's today).
    pub to: Option<String>,
}

/// `GET /athletes/{id}/recovery` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    /// The day, `YYYY-MM-DD` (default: the athlete's today).
    pub date: Option<String>,
}

fn query_date(field: &str, text: &str) -> Result<Date, ApiError> {
    parse_date(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("{field}: {text:?} is not a date: give YYYY-MM-DD"),
        )
    })
}

/// The window `from..=to` a query asks for, `default_days` long ending on `today` when
/// not given; at most [`MAX_RANGE_DAYS`].
fn window(q: &RangeQuery, today: Date, default_days: i64) -> Result<(Date, Date), ApiError> {
    let to =
        q.to.as_deref()
            .map(|t| query_date("to", t))
            .transpose()?
            .unwrap_or(today);
    let from = q
        .from
        .as_deref()
        .map(|t| query_date("from", t))
        .transpose()?
        .unwrap_or_else(|| to - Duration::days(default_days - 1));
    if from > to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "from: after to".to_owned(),
        ));
    }
    if (to - from).whole_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("from: a window is at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// Enter (or correct) a day's metrics and morning check-in by hand. Impossible values, and
/// a date that does not read or is more than a day ahead of the athlete's today, are 400
/// `invalid_field` naming the field.
#[utoipa::path(put, path = "/api/v1/athletes/{id}/daily/{date}", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"),
        ("date" = String, Path, description = "the athlete's local day, YYYY-MM-DD")),
    request_body = DailyBody,
    responses((status = 200, body = DailyView),
        (status = 400, description = "an impossible value or date; the message names the field"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn put_daily(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath((id, date)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<DailyBody>,
) -> Result<Json<DailyView>, ApiError> {
    let now = state.now_ms();
    let stored = state
        .write(move |tx| {
            visible_health(tx, &p, id)?;
            let day = parse_date(&date)
                .ok_or_else(|| invalid("date", format!("{date:?}: expected YYYY-MM-DD")))?;
            let today = days::athlete_today(tx, p.tenant_row, id, now)?;
            check_date(day, today).map_err(|e| metric_error(&e))?;
            if day.year() < EARLIEST_YEAR {
                return Err(invalid("date", format!("{date}: before {EARLIEST_YEAR}")));
            }
            let patch = body.patch()?;
            let name = format_date(day);
            let row = rows::upsert_daily(
                tx,
                p.tenant_row,
                id,
                &name,
                MetricSource::Manual,
                patch,
                now,
            )?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "daily.put",
                Some(&format!("athlete:{id}")),
                Some(&json!({"date": name})),
                now,
            )?;
            Ok(row)
        })
        .await?;
    Ok(Json(daily_view(stored)))
}

/// An athlete's daily metrics and check-ins from `from` to `to` (default: the 28 days to
/// today), by date then source.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/daily", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), RangeQuery),
    responses((status = 200, body = DailyList), (status = 400, description = "a date that does not read"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn list_daily(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<DailyList>, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible_health(conn, &p, id)?;
            let today = days::athlete_today(conn, p.tenant_row, id, now)?;
            let (from, to) = window(&q, today, 28)?;
            Ok(rows::daily_between(
                conn,
                p.tenant_row,
                id,
                &format_date(from),
                &format_date(to),
            )?)
        })
        .await?;
    Ok(Json(DailyList {
        days: found.into_iter().map(daily_view).collect(),
    }))
}

/// One day of training load.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadDay {
    /// The athlete's local day, `YYYY-MM-DD`.
    pub date: String,
    /// The day's load, TSS (the sum of its activities'; 0 on a rest day).
    pub tss: f64,
    /// Fitness: 42-day EWMA of the daily load.
    pub ctl: f64,
    /// Fatigue: 7-day EWMA.
    pub atl: f64,
    /// Form: CTL − ATL.
    pub tsb: f64,
    /// Mean load of the last 7 days ÷ mean of the last 28 (null when that is 0).
    pub acwr: Option<f64>,
}

/// Training load per day.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadDays {
    /// From `from` to `to`, every day.
    pub days: Vec<LoadDay>,
}

/// An athlete's training load per local day from `from` to `to` (default: the 42 days to
/// today): the day's TSS summed from the activity library, CTL and ATL (EWMAs with time
/// constants 42 and 7 days from the first day with load), TSB and ACWR. Computed on read,
/// so an activity added, merged or deleted counts at once.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/load", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), RangeQuery),
    responses((status = 200, body = LoadDays), (status = 400, description = "a date that does not read, or a window over 3,660 days"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn get_load(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<LoadDays>, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            let today = days::athlete_today(conn, p.tenant_row, id, now)?;
            let (from, to) = window(&q, today, 42)?;
            Ok(days::fitness(conn, p.tenant_row, id, from, to)?)
        })
        .await?;
    Ok(Json(LoadDays {
        days: found
            .into_iter()
            .map(|d| LoadDay {
                date: format_date(d.date),
                tss: d.tss,
                ctl: d.ctl,
                atl: d.atl,
                tsb: d.tsb,
                acwr: d.acwr,
            })
            .collect(),
    }))
}

/// An athlete's fitness chart from `from` to `to` (default: the 90 days to today), drawn
/// on the server like the session charts: CTL, ATL and TSB as lines, each day's load as
/// bars. Computed on read from the activity library, like `GET /load`.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/fitness.svg", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), RangeQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 400, description = "a date that does not read, or a window over 3,660 days"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn fitness_chart(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::response::Response, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            let today = days::athlete_today(conn, p.tenant_row, id, now)?;
            let (from, to) = window(&q, today, 90)?;
            Ok(days::fitness(conn, p.tenant_row, id, from, to)?)
        })
        .await?;
    let svg = tokio::task::spawn_blocking(move || super::charts::draw_fitness(&found))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "fitness chart");
            ApiError::internal()
        })?;
    Ok(super::charts::svg_response(svg))
}

/// The recovery score's components, each 0–100, null when missing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentsView {
    /// HRV vs the previous 7 days' mean.
    pub hrv: Option<f64>,
    /// Resting HR vs the previous 7 days' mean.
    pub resting_hr: Option<f64>,
    /// 0.6 sleep duration + 0.4 sleep score.
    pub sleep: Option<f64>,
    /// 100 − stress.
    pub stress: Option<f64>,
}

/// A day's recovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryView {
    /// The athlete's local day, `YYYY-MM-DD`.
    pub date: String,
    /// 0–100 (to 0.1), null when no component has data.
    pub score: Option<f64>,
    /// `green` (≥ 80), `yellow` (50–79.9), `red` (< 50), null with the score.
    pub band: Option<String>,
    /// The components.
    pub components: ComponentsView,
    /// The day's ACWR, from the activity library.
    pub acwr: Option<f64>,
    /// 0.8 when ACWR > 1.5, 0.9 when > 1.3, else 1.
    pub multiplier: f64,
    /// The components left out for lack of data (the others' weights renormalised).
    pub missing: Vec<String>,
}

/// An athlete's recovery on a day (default: today): 0.4 HRV + 0.3 resting HR + 0.2 sleep
/// + 0.1 stress, each against the previous 7 days, × 0.9 above ACWR 1.3, × 0.8 above 1.5.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/recovery", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), DayQuery),
    responses((status = 200, body = RecoveryView), (status = 400, description = "a date that does not read"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn get_recovery(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Json<RecoveryView>, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible_health(conn, &p, id)?;
            let date = match q.date.as_deref() {
                Some(text) => query_date("date", text)?,
                None => days::athlete_today(conn, p.tenant_row, id, now)?,
            };
            Ok(days::recovery(conn, p.tenant_row, id, date)?)
        })
        .await?;
    let r = found.recovery;
    Ok(Json(RecoveryView {
        date: format_date(found.date),
        score: r.score,
        band: r.band.map(|b| b.as_str().to_owned()),
        components: ComponentsView {
            hrv: r.components.hrv,
            resting_hr: r.components.resting_hr,
            sleep: r.components.sleep,
            stress: r.components.stress,
        },
        acwr: found.acwr,
        multiplier: r.multiplier,
        missing: r.missing.into_iter().map(str::to_owned).collect(),
    }))
}

/// What the athlete trains for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// `general_fitness` or `event`.
    pub kind: String,
    /// The event's name (with `event`).
    #[serde(default)]
    pub event: Option<String>,
    /// The event's day, `YYYY-MM-DD` (with `event`).
    #[serde(default)]
    pub date: Option<String>,
}

/// Minutes available for training on each weekday (0–1,440).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Availability {
    pub mon: u16,
    pub tue: u16,
    pub wed: u16,
    pub thu: u16,
    pub fri: u16,
    pub sat: u16,
    pub sun: u16,
}

/// What the plan must respect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Injuries, as the athlete names them (`knee`, `achilles`, …).
    #[serde(default)]
    pub injuries: Vec<String>,
    /// Sports to leave out (`running`, `swimming`, …).
    #[serde(default)]
    pub avoid_sports: Vec<String>,
}

/// When in the day workouts go (the coach chat's "no workouts before 7", "I prefer
/// evenings"): each day's minutes are capped to the hours, and the day's plan gets a
/// `start_hour` keeping them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Times {
    /// No workout starts before this hour (0–23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_hour: Option<u8>,
    /// No workout goes on after this hour (1–24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_hour: Option<u8>,
    /// `morning`, `afternoon` or `evening`: trained in when the workout fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer: Option<String>,
    /// Parts of the day kept free when another fits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid: Vec<String>,
}

impl Times {
    fn is_empty(&self) -> bool {
        *self == Times::default()
    }

    /// The planner's form (names checked by `PlanningSettings::check`; unknown ones
    /// are left out).
    pub fn for_plan(&self) -> paceline_planning::TimesOfDay {
        use paceline_planning::time_of_day::PartOfDay;
        paceline_planning::TimesOfDay {
            earliest_hour: self.earliest_hour,
            latest_hour: self.latest_hour,
            prefer: self.prefer.as_deref().and_then(PartOfDay::parse),
            avoid: self
                .avoid
                .iter()
                .filter_map(|p| PartOfDay::parse(p))
                .collect(),
        }
    }
}

/// An athlete's planning settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanningSettings {
    /// What they train for (default: general fitness).
    #[serde(default = "general_fitness")]
    pub goal: Goal,
    /// Minutes per weekday (default: 60 each day).
    #[serde(default = "hour_a_day")]
    pub availability_min: Availability,
    /// `trainer`, `power_meter`, `hr_strap`, `treadmill`, `pool`.
    #[serde(default)]
    pub equipment: Vec<String>,
    /// Injuries and sports to avoid.
    #[serde(default)]
    pub constraints: Constraints,
    /// The primary sport the plan is for: `bike` (default) or `run`.
    #[serde(default = "bike")]
    pub sport: String,
    /// When in the day workouts go (none said: any time).
    #[serde(default, skip_serializing_if = "Times::is_empty")]
    pub times: Times,
}

fn bike() -> String {
    "bike".to_owned()
}

/// The equipment a plan can use.
pub const EQUIPMENT: [&str; 5] = ["trainer", "power_meter", "hr_strap", "treadmill", "pool"];
/// The most entries a list of the settings holds, and the longest text, bytes.
const MAX_LIST: usize = 20;
const MAX_TEXT: usize = 200;

fn general_fitness() -> Goal {
    Goal {
        kind: "general_fitness".to_owned(),
        event: None,
        date: None,
    }
}

fn hour_a_day() -> Availability {
    Availability {
        mon: 60,
        tue: 60,
        wed: 60,
        thu: 60,
        fri: 60,
        sat: 60,
        sun: 60,
    }
}

impl Default for PlanningSettings {
    fn default() -> Self {
        PlanningSettings {
            goal: general_fitness(),
            availability_min: hour_a_day(),
            equipment: Vec::new(),
            constraints: Constraints::default(),
            sport: bike(),
            times: Times::default(),
        }
    }
}

fn settings_field(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field}: {reason}"),
    )
}

fn sport_of(name: &str) -> Option<Sport> {
    match name.trim().to_ascii_lowercase().as_str() {
        "bike" | "cycling" | "ride" => Some(Sport::Bike),
        "run" | "running" => Some(Sport::Run),
        "other" => Some(Sport::Other),
        _ => None,
    }
}

impl PlanningSettings {
    /// What the plan takes of them (checked settings: unknown names are left out).
    fn for_plan(&self) -> PlanSettings {
        let sport = sport_of(&self.sport).unwrap_or(Sport::Bike);
        let goal = match (
            self.goal.kind.as_str(),
            self.goal.date.as_deref().and_then(parse_date),
        ) {
            ("event", Some(date)) => PlanGoal::EventOn {
                name: self.goal.event.clone().unwrap_or_default(),
                date,
                sport,
            },
            _ => PlanGoal::GeneralFitness,
        };
        let a = self.availability_min;
        let has = |name: &str| self.equipment.iter().any(|e| e == name);
        PlanSettings {
            goal,
            availability_min: [a.mon, a.tue, a.wed, a.thu, a.fri, a.sat, a.sun].map(u32::from),
            equipment: Equipment {
                trainer: has("trainer"),
                power_meter: has("power_meter"),
                hr_strap: has("hr_strap"),
                treadmill: has("treadmill"),
                pool: has("pool"),
            },
            avoid_sports: self
                .constraints
                .avoid_sports
                .iter()
                .map(|s| {
                    sport_of(s).map_or_else(|| s.to_ascii_lowercase(), |s| sport_name(s).to_owned())
                })
                .collect(),
            injuries: self.constraints.injuries.clone(),
            sport,
            times: self.times.for_plan(),
        }
    }

    pub(super) fn check(&self) -> Result<(), ApiError> {
        let t = &self.times;
        if t.earliest_hour.is_some_and(|h| h > 23) {
            return Err(settings_field("times.earliest_hour", "an hour, 0–23"));
        }
        if t.latest_hour.is_some_and(|h| h == 0 || h > 24) {
            return Err(settings_field("times.latest_hour", "an hour, 1–24"));
        }
        if let (Some(a), Some(b)) = (t.earliest_hour, t.latest_hour)
            && a >= b
        {
            return Err(settings_field(
                "times",
                "the earliest hour must come before the latest",
            ));
        }
        let part = |p: &str| paceline_planning::time_of_day::PartOfDay::parse(p).is_some();
        if let Some(p) = &t.prefer
            && !part(p)
        {
            return Err(settings_field(
                "times.prefer",
                "morning, afternoon or evening",
            ));
        }
        if t.avoid.len() > 3 || !t.avoid.iter().all(|p| part(p)) {
            return Err(settings_field(
                "times.avoid",
                "up to three of morning, afternoon and evening",
            ));
        }
        if sport_of(&self.sport).is_none_or(|s| s == Sport::Other) {
            return Err(settings_field(
                "sport",
                format!("{:?}: bike or run", self.sport),
            ));
        }
        match self.goal.kind.as_str() {
            "general_fitness" => {}
            "event" => {
                let date = self
                    .goal
                    .date
                    .as_deref()
                    .ok_or_else(|| settings_field("goal.date", "an event needs its day"))?;
                parse_date(date).ok_or_else(|| {
                    settings_field("goal.date", format!("{date:?}: expected YYYY-MM-DD"))
                })?;
            }
            other => {
                return Err(settings_field(
                    "goal.kind",
                    format!("{other:?}: general_fitness or event"),
                ));
            }
        }
        if self.goal.event.as_ref().is_some_and(|e| e.len() > MAX_TEXT) {
            return Err(settings_field(
                "goal.event",
                format!("longer than {MAX_TEXT} bytes"),
            ));
        }
        let a = self.availability_min;
        for (day, minutes) in [
            ("mon", a.mon),
            ("tue", a.tue),
            ("wed", a.wed),
            ("thu", a.thu),
            ("fri", a.fri),
            ("sat", a.sat),
            ("sun", a.sun),
        ] {
            if minutes > 1440 {
                return Err(settings_field(
                    &format!("availability_min.{day}"),
                    format!("{minutes}: a day has 1440 minutes"),
                ));
            }
        }
        if let Some(unknown) = self
            .equipment
            .iter()
            .find(|e| !EQUIPMENT.contains(&e.as_str()))
        {
            return Err(settings_field(
                "equipment",
                format!("{unknown:?}: one of {}", EQUIPMENT.join(", ")),
            ));
        }
        for (field, list) in [
            ("equipment", &self.equipment),
            ("constraints.injuries", &self.constraints.injuries),
            ("constraints.avoid_sports", &self.constraints.avoid_sports),
        ] {
            if list.len() > MAX_LIST {
                return Err(settings_field(field, format!("at most {MAX_LIST} entries")));
            }
            if list.iter().any(|t| t.len() > MAX_TEXT) {
                return Err(settings_field(
                    field,
                    format!("an entry longer than {MAX_TEXT} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// An athlete's planning settings (the defaults until some are set).
#[utoipa::path(get, path = "/api/v1/athletes/{id}/planning-settings", tag = "planning",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 200, body = PlanningSettings), (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanningSettings>, ApiError> {
    let stored = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            Ok(rows::settings(conn, p.tenant_row, id)?)
        })
        .await?;
    let settings = match stored {
        Some(value) => serde_json::from_value(value).map_err(|e| {
            tracing::error!(error = %e, athlete = id, "stored planning settings do not read");
            ApiError::internal()
        })?,
        None => PlanningSettings::default(),
    };
    Ok(Json(settings))
}

/// Set an athlete's planning settings: goal, minutes per weekday, equipment, constraints
/// (fields left out take their defaults).
#[utoipa::path(put, path = "/api/v1/athletes/{id}/planning-settings", tag = "planning",
    params(("id" = i64, Path, description = "athlete id")),
    request_body = PlanningSettings,
    responses((status = 200, body = PlanningSettings), (status = 404, description = "no such athlete visible"),
        (status = 422, description = "a value that does not fit; the message names the field")),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PlanningSettings>,
) -> Result<Json<PlanningSettings>, ApiError> {
    let now = state.now_ms();
    let value = serde_json::to_value(&body).map_err(|_| ApiError::internal())?;
    state
        .write(move |tx| {
            visible(tx, &p, id)?;
            body.check()?;
            rows::set_settings(tx, p.tenant_row, id, &value, now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "planning.settings",
                Some(&format!("athlete:{id}")),
                None,
                now,
            )?;
            Ok(body)
        })
        .await
        .map(Json)
}

/// The athlete's settings, the defaults until some are set.
fn stored_settings(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<PlanningSettings, ApiError> {
    match rows::settings(conn, tenant_row, athlete_row)? {
        Some(value) => serde_json::from_value(value).map_err(|e| {
            tracing::error!(error = %e, athlete = athlete_row, "stored planning settings do not read");
            ApiError::internal()
        }),
        None => Ok(PlanningSettings::default()),
    }
}

/// What the planner takes of an athlete's stored settings (the defaults when none were
/// set), for the planning job.
pub fn plan_settings(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<PlanSettings, crate::store::StoreError> {
    let settings = match rows::settings(conn, tenant_row, athlete_row)? {
        Some(value) => serde_json::from_value::<PlanningSettings>(value).map_err(|e| {
            crate::store::StoreError::Corrupt {
                what: "planning settings",
                row: athlete_row,
                reason: e.to_string(),
            }
        })?,
        None => PlanningSettings::default(),
    };
    let mut plan = settings.for_plan();
    // Observed preferences not corrected (the coach chat's, issue 24): parts of the day
    // the athlete keeps skipping are kept free.
    for name in super::preferences::observed_times(conn, tenant_row, athlete_row)? {
        if let Some(part) = paceline_planning::time_of_day::PartOfDay::parse(&name)
            && !plan.times.avoid.contains(&part)
            && plan.times.prefer != Some(part)
        {
            plan.times.avoid.push(part);
        }
    }
    Ok(plan)
}

/// A daily plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyPlanView {
    /// The athlete's local day, `YYYY-MM-DD`.
    pub date: String,
    /// `rest`, `recovery`, `easy`, `endurance`, `tempo`, `threshold`, `vo2`, `event`.
    pub kind: String,
    /// The workout's load, TSS.
    pub target_tss: f64,
    /// The workout in Paceline's plan format (null on a rest or event day).
    #[schema(value_type = Option<Object>)]
    pub workout: Option<serde_json::Value>,
    /// One sentence per rule applied, with its numbers.
    pub why: Vec<String>,
    /// The hour the workout starts (local, 0–23) when the athlete's times of day
    /// (planning settings `times`) place it.
    pub start_hour: Option<u8>,
    /// The inputs it was generated from.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
    /// SHA-256 of the inputs' canonical text (and the rules' version).
    pub inputs_digest: String,
    /// The workout plan made of it when the athlete started it.
    pub plan_id: Option<i64>,
    /// Generated, ms since the epoch.
    pub created_ms: i64,
}

fn plan_view(r: rows::DailyPlanRecord) -> DailyPlanView {
    let field = |name: &str| r.plan.get(name).cloned().unwrap_or_default();
    DailyPlanView {
        date: r.date.clone(),
        kind: field("kind").as_str().unwrap_or_default().to_owned(),
        target_tss: field("target_tss").as_f64().unwrap_or_default(),
        workout: Some(field("workout")).filter(|w| !w.is_null()),
        why: serde_json::from_value(r.why.clone()).unwrap_or_default(),
        start_hour: field("start_hour")
            .as_u64()
            .and_then(|h| u8::try_from(h).ok()),
        inputs: r.inputs,
        inputs_digest: r.inputs_digest,
        plan_id: r.plan_id,
        created_ms: r.created_ms,
    }
}

/// `POST /athletes/{id}/plan/today` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TodayQuery {
    /// Generate it again from today's inputs, replacing the stored one.
    pub regenerate: Option<bool>,
}

/// Today's plan and how it came.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodayPlan {
    /// The plan.
    pub plan: DailyPlanView,
    /// Whether it was generated by this call (false: the stored one).
    pub generated: bool,
    /// With `regenerate`: whether the plan or its inputs differ from the one it replaced.
    pub changed: Option<bool>,
}

/// Today's plan: generated from the athlete's settings, load, recovery, check-in, the
/// week's plans and life events, and stored with its inputs and their digest; or the one
/// stored already. `?regenerate=true` generates it again and says whether it changed.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/plan/today", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), TodayQuery),
    responses((status = 200, body = TodayPlan), (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn plan_today(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TodayQuery>,
) -> Result<Json<TodayPlan>, ApiError> {
    let now = state.now_ms();
    let regenerate = q.regenerate.unwrap_or(false);
    let answer = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            let settings = stored_settings(tx, p.tenant_row, id)?.for_plan();
            let outcome = days::today_plan(tx, p.tenant_row, id, settings, now, regenerate)?;
            Ok(TodayPlan {
                plan: plan_view(outcome.record),
                generated: outcome.generated,
                changed: outcome.changed,
            })
        })
        .await?;
    Ok(Json(answer))
}

/// Daily plans, by date.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyPlans {
    /// The stored plans of the window.
    pub plans: Vec<DailyPlanView>,
}

/// An athlete's stored daily plans from `from` to `to` (default: this week, Monday to
/// Sunday).
#[utoipa::path(get, path = "/api/v1/athletes/{id}/plan", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), RangeQuery),
    responses((status = 200, body = DailyPlans), (status = 400, description = "a date that does not read"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<DailyPlans>, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            let today = days::athlete_today(conn, p.tenant_row, id, now)?;
            let sunday =
                today + Duration::days(i64::from(6 - today.weekday().number_days_from_monday()));
            let (from, to) = window(&q, sunday, 7)?;
            Ok(rows::plans_between(
                conn,
                p.tenant_row,
                id,
                &format_date(from),
                &format_date(to),
            )?)
        })
        .await?;
    Ok(Json(DailyPlans {
        plans: found.into_iter().map(plan_view).collect(),
    }))
}

/// Today's workout as the athlete's next plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedPlan {
    /// The workout plan made of today's plan (see `/plans/{id}`).
    pub plan_id: i64,
    /// The athlete whose next live session runs it.
    pub athlete_id: i64,
}

/// Start today's plan: its workout becomes a plan of the tenant and the athlete's next
/// plan (as `PUT /athletes/{id}/next-plan` does), so their next live session runs it.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/plan/today/start", tag = "planning",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 200, body = StartedPlan),
        (status = 404, description = "no such athlete visible, or no plan today (`no_plan`: generate it first)"),
        (status = 409, description = "today's plan has no workout (`no_workout`: a rest or event day)")),
    security(("bearer" = [])))]
pub async fn start_plan_today(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<StartedPlan>, ApiError> {
    let now = state.now_ms();
    let started = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            let today = days::athlete_today(tx, p.tenant_row, id, now)?;
            let name = format_date(today);
            let stored = rows::plans_between(tx, p.tenant_row, id, &name, &name)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "no_plan",
                        "no plan today: POST /athletes/{id}/plan/today first",
                    )
                })?;
            let workout = stored
                .plan
                .get("workout")
                .filter(|w| !w.is_null())
                .ok_or_else(|| {
                    ApiError::conflict("no_workout", "today's plan has no workout (rest or event day)")
                })?;
            let workout: paceline_schemas::WorkoutPlan =
                paceline_schemas::codec::from_json(workout.to_string().as_bytes()).map_err(|e| {
                    tracing::error!(error = %e, athlete = id, "a stored daily plan's workout does not read");
                    ApiError::internal()
                })?;
            let plan_row = crate::store::add_plan(tx, p.tenant_row, "paceline", &workout, now)?;
            crate::store::assign_plan(tx, p.tenant_row, id, plan_row)?;
            rows::set_plan_row(tx, p.tenant_row, id, &name, plan_row)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "plan.assign",
                Some(&format!("athlete:{id}")),
                Some(&json!({"plan_id": plan_row, "daily_plan": name})),
                now,
            )?;
            Ok(StartedPlan {
                plan_id: plan_row,
                athlete_id: id,
            })
        })
        .await?;
    Ok(Json(started))
}

/// The most events one calendar upload may hold.
pub const MAX_CALENDAR_EVENTS: usize = 500;

/// `POST /athletes/{id}/life-events` (JSON).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifeEventBody {
    /// `travel`, `illness`, `busy` or `other`.
    pub kind: String,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD` (default: `from`).
    pub to: Option<String>,
    /// Minutes available for training on each of its days ("I only have 35 minutes").
    pub minutes_available: Option<u32>,
    /// What it is (≤ 200 bytes).
    pub summary: Option<String>,
}

/// A life event.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifeEventView {
    /// Id.
    pub id: i64,
    /// `travel`, `illness`, `busy` or `other`.
    pub kind: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Minutes available on each of its days.
    pub minutes_available: Option<u32>,
    /// What it is.
    pub summary: Option<String>,
}

fn life_view(r: rows::LifeEventRecord) -> LifeEventView {
    LifeEventView {
        id: r.id,
        kind: r.kind,
        from: r.from_date,
        to: r.to_date,
        minutes_available: r.minutes_available,
        summary: r.summary,
    }
}

/// Life events.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifeEvents {
    /// By first day.
    pub events: Vec<LifeEventView>,
}

pub(super) fn life_record(body: LifeEventBody) -> Result<rows::LifeEventRecord, ApiError> {
    let kind = LifeKind::parse(&body.kind).ok_or_else(|| {
        invalid(
            "kind",
            format!("{:?}: travel, illness, busy or other", body.kind),
        )
    })?;
    let from = parse_date(&body.from)
        .ok_or_else(|| invalid("from", format!("{:?}: expected YYYY-MM-DD", body.from)))?;
    let to = match &body.to {
        Some(t) => {
            parse_date(t).ok_or_else(|| invalid("to", format!("{t:?}: expected YYYY-MM-DD")))?
        }
        None => from,
    };
    if to < from || (to - from).whole_days() > 366 {
        return Err(invalid("to", "from 0 to 366 days after from"));
    }
    if body.minutes_available.is_some_and(|m| m > 1440) {
        return Err(invalid("minutes_available", "a day has 1440 minutes"));
    }
    if body.summary.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(invalid("summary", "longer than 200 bytes"));
    }
    Ok(rows::LifeEventRecord {
        id: 0,
        kind: kind.as_str().to_owned(),
        from_date: format_date(from),
        to_date: format_date(to),
        minutes_available: body.minutes_available,
        summary: body.summary,
        external_id: None,
        created_ms: 0,
    })
}

/// The life events of an iCalendar file, each with its external id: `ics:` and the
/// event's `UID`, or, for an event without one, `ics-sha256:` and a digest of its kind,
/// days and summary. Reading the same calendar again replaces its events (a moved event
/// with a `UID` moves; one without is added as new, as nothing says it is the same).
pub(super) fn calendar_records(bytes: &[u8]) -> Result<Vec<rows::LifeEventRecord>, ApiError> {
    use sha2::{Digest, Sha256};
    Ok(parse_ics_events(bytes, MAX_CALENDAR_EVENTS)
        .map_err(|e| invalid("calendar", e))?
        .into_iter()
        .map(|CalendarEvent { uid, event: e }| {
            let from_date = format_date(e.from);
            let to_date = format_date(e.to);
            let external_id = match uid {
                Some(uid) => format!("ics:{uid}"),
                None => {
                    let digest = Sha256::digest(
                        format!("{}|{from_date}|{to_date}|{}", e.kind.as_str(), e.summary)
                            .as_bytes(),
                    );
                    format!("ics-sha256:{}", hex::encode(&digest[..16]))
                }
            };
            rows::LifeEventRecord {
                id: 0,
                kind: e.kind.as_str().to_owned(),
                from_date,
                to_date,
                minutes_available: e.minutes_available,
                summary: Some(e.summary).filter(|s| !s.is_empty()),
                external_id: Some(external_id),
                created_ms: 0,
            }
        })
        .collect())
}

/// Stores `records` as the athlete's life events (replacing those with the same external
/// id) and audits it.
async fn add_life_events(
    state: &ApiState,
    p: Principal,
    athlete_row: i64,
    records: Vec<rows::LifeEventRecord>,
    source: &'static str,
) -> Result<Vec<LifeEventView>, ApiError> {
    let now = state.now_ms();
    state
        .write(move |tx| {
            visible(tx, &p, athlete_row)?;
            let mut events = Vec::with_capacity(records.len());
            for mut record in records {
                record.id = rows::add_life_event(tx, p.tenant_row, athlete_row, &record, now)?;
                record.created_ms = crate::store::to_i64(now);
                events.push(life_view(record));
            }
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "life_event.add",
                Some(&format!("athlete:{athlete_row}")),
                Some(&json!({"count": events.len(), "from": source})),
                now,
            )?;
            Ok(events)
        })
        .await
}

/// Add life events: one as JSON, or every event of an iCalendar file sent as the body
/// with `Content-Type: text/calendar` (kinds guessed from the summaries' words; sending
/// the calendar again replaces its events rather than adding them twice).
#[utoipa::path(post, path = "/api/v1/athletes/{id}/life-events", tag = "planning",
    params(("id" = i64, Path, description = "athlete id")),
    request_body(content = LifeEventBody, description = "one event as JSON, or an ICS file as text/calendar"),
    responses((status = 201, body = LifeEvents), (status = 400, description = "a value or calendar that does not read; the message names it"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn create_life_events(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<LifeEvents>), ApiError> {
    let calendar = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/calendar"));
    let (records, source) = if calendar {
        (calendar_records(&body)?, "calendar")
    } else {
        let parsed: LifeEventBody = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?;
        (vec![life_record(parsed)?], "hand")
    };
    let events = add_life_events(&state, p, id, records, source).await?;
    Ok((StatusCode::CREATED, Json(LifeEvents { events })))
}

/// `POST /athletes/{id}/life-events/calendar`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarUrlBody {
    /// An `http(s)` URL of an iCalendar file (a calendar app's "secret address in iCal
    /// format"); fetched once, now. Never stored.
    pub url: String,
}

/// Read life events from a calendar by URL: the server fetches the iCalendar file (public
/// addresses only, at most 1 MiB, 15 s) and adds its events as an upload would (the same
/// calendar read again replaces its events). The URL is not stored or logged: such
/// addresses often hold a secret.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/life-events/calendar", tag = "planning",
    params(("id" = i64, Path, description = "athlete id")),
    request_body = CalendarUrlBody,
    responses((status = 201, body = LifeEvents),
        (status = 400, description = "`invalid_field` url: not an http(s) URL, or not a public address; calendar: the file does not read"),
        (status = 404, description = "no such athlete visible"),
        (status = 502, description = "`calendar_unreachable`: the calendar's server could not be reached, answered an error, or sent too much")),
    security(("bearer" = [])))]
pub async fn import_calendar_url(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CalendarUrlBody>,
) -> Result<(StatusCode, Json<LifeEvents>), ApiError> {
    // Visible before the server fetches anything for the caller.
    let probe = p.clone();
    state.read(move |conn| visible(conn, &probe, id)).await?;
    let bytes = state
        .outbound
        .get_bounded(&body.url, paceline_planning::life::MAX_ICS_BYTES)
        .await
        .map_err(|e| match e {
            OutboundError::BadUrl(_) | OutboundError::NotPublic(_) => invalid("url", e),
            other => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "calendar_unreachable",
                format!("the calendar could not be read: {other}"),
            ),
        })?;
    let records = calendar_records(&bytes)?;
    let events = add_life_events(&state, p, id, records, "calendar_url").await?;
    Ok((StatusCode::CREATED, Json(LifeEvents { events })))
}

/// An athlete's life events overlapping `from`..`to` (default: the 28 days from today).
#[utoipa::path(get, path = "/api/v1/athletes/{id}/life-events", tag = "planning",
    params(("id" = i64, Path, description = "athlete id"), RangeQuery),
    responses((status = 200, body = LifeEvents), (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn list_life_events(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<LifeEvents>, ApiError> {
    let now = state.now_ms();
    let found = state
        .read(move |conn| {
            visible(conn, &p, id)?;
            let today = days::athlete_today(conn, p.tenant_row, id, now)?;
            let (from, to) = window(&q, today + Duration::days(27), 28)?;
            Ok(rows::life_events_between(
                conn,
                p.tenant_row,
                id,
                &format_date(from),
                &format_date(to),
            )?)
        })
        .await?;
    Ok(Json(LifeEvents {
        events: found.into_iter().map(life_view).collect(),
    }))
}

/// Delete a life event (audited).
#[utoipa::path(delete, path = "/api/v1/life-events/{id}", tag = "planning",
    params(("id" = i64, Path, description = "life event id")),
    responses((status = 204, description = "deleted"), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn delete_life_event(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let now = state.now_ms();
    state
        .write(move |tx| {
            let (athlete, _) = rows::life_event(tx, p.tenant_row, id)?
                .ok_or_else(|| ApiError::not_found("life event"))?;
            if !athlete_visible(tx, &p, athlete)? {
                return Err(ApiError::not_found("life event"));
            }
            rows::delete_life_event(tx, p.tenant_row, id)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "life_event.delete",
                Some(&format!("athlete:{athlete}")),
                Some(&json!({"life_event_id": id})),
                now,
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
