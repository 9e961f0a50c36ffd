//! An athlete's preferences with their confidence: `GET /athletes/{id}/preferences` lists
//! the stated ones (said in the chat, confidence 0.9) and the observed ones, observed
//! afresh on each read from the last [`OBSERVED_DAYS`] days of stored plans against the
//! activities done (`paceline_chat::preferences::observe`: a planned session is skipped
//! when no activity started that day in the part of the day it was planned for);
//! `PUT /athletes/{id}/preferences` confirms or corrects one.
//!
//! The planner reads the observed preferences that are not corrected and have a
//! confidence of at least [`PLANNER_CONFIDENCE`] ([`observed_times`]): an avoided part of
//! the day joins the planning settings' `times.avoid`. A corrected preference is never
//! proposed again; a confirmed one is kept at [`CONFIRMED_CONFIDENCE`].

use axum::Json;
use axum::extract::State;
use paceline_chat::preferences::{
    Preference, PreferenceSource, STATED_CONFIDENCE, SessionFact, observe,
};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, Duration};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiPath, ApiState, Auth, athlete_visible, audit};
use crate::jobs::planning::{athlete_today, format_date, local_day, parse_date};
use crate::store::StoreError;
use crate::store::activities::{self as library_rows, ListFilter};
use crate::store::planning as plan_rows;
use crate::store::preferences::{self as rows, PreferenceRecord};

/// Days of plans an observation reads.
pub const OBSERVED_DAYS: i64 = 28;
/// The least confidence of an observed preference the planner reads.
pub const PLANNER_CONFIDENCE: f64 = 0.5;
/// The confidence of a preference the athlete confirmed.
pub const CONFIRMED_CONFIDENCE: f64 = STATED_CONFIDENCE;

/// One preference as the athlete sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferenceView {
    /// The preference: `{"kind": "avoid_part_of_day", "part": "morning"}`,
    /// `{"kind": "no_workouts_before", "hour": 7}`, …
    #[schema(value_type = Object)]
    pub preference: Value,
    /// `stated` (said in the chat) or `observed` (seen in skipped sessions).
    pub source: String,
    /// 0.0–1.0.
    pub confidence: f64,
    /// `proposed` (observed, not answered yet), `confirmed` or `corrected`.
    pub status: String,
    /// Whether the planner reads it.
    pub planned_with: bool,
    /// Last changed, ms since the epoch.
    pub updated_ms: i64,
}

/// `GET /athletes/{id}/preferences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    /// Stated first.
    pub preferences: Vec<PreferenceView>,
}

/// `PUT /athletes/{id}/preferences`: the athlete's answer to a preference.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceAnswer {
    /// The preference as listed.
    #[schema(value_type = Object)]
    pub preference: Value,
    /// True: right (kept at confidence 0.9); false: wrong (ignored from now on).
    pub confirmed: bool,
}

fn planned_with(r: &PreferenceRecord) -> bool {
    r.source == "observed" && r.status != "corrected" && r.confidence >= PLANNER_CONFIDENCE
}

fn view(r: PreferenceRecord) -> PreferenceView {
    PreferencesView::one(r)
}

impl PreferencesView {
    fn one(r: PreferenceRecord) -> PreferenceView {
        let planned = planned_with(&r) || r.source == "stated" && r.status != "corrected";
        PreferenceView {
            preference: r.preference,
            source: r.source,
            confidence: (r.confidence * 100.0).round() / 100.0,
            status: r.status,
            planned_with: planned,
            updated_ms: r.updated_ms,
        }
    }
}

fn source_name(source: PreferenceSource) -> &'static str {
    match source {
        PreferenceSource::Stated => "stated",
        PreferenceSource::Observed => "observed",
    }
}

/// Records a preference the athlete stated (the chat), confirmed at
/// [`STATED_CONFIDENCE`].
pub fn record_stated(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    preference: &Preference,
    now_ms: u64,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(preference).unwrap_or(Value::Null);
    rows::put(
        conn,
        tenant_row,
        athlete_row,
        &PreferenceRecord {
            preference: value,
            source: source_name(PreferenceSource::Stated).to_owned(),
            confidence: STATED_CONFIDENCE,
            status: "confirmed".to_owned(),
            updated_ms: 0,
        },
        now_ms,
    )
}

/// The planned sessions of the [`OBSERVED_DAYS`] days before `today` that had a start
/// hour, each skipped when no activity started that local day in the same part of it.
pub fn session_facts(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    today: Date,
) -> Result<Vec<SessionFact>, StoreError> {
    use paceline_chat::entities::PartOfDay;
    let (from, to) = (
        today - Duration::days(OBSERVED_DAYS),
        today - Duration::days(1),
    );
    let plans = plan_rows::plans_between(
        conn,
        tenant_row,
        athlete_row,
        &format_date(from),
        &format_date(to),
    )?;
    let edge = |d: Date| crate::store::chat::time_ms(d.midnight().assume_utc());
    let mut filter = ListFilter {
        from_ms: edge(from - Duration::days(1)),
        to_ms: edge(to + Duration::days(2)),
        sport: None,
        after: None,
        limit: 500,
    };
    // (local day, part of the day) of each activity.
    let mut done: Vec<(Date, PartOfDay)> = Vec::new();
    loop {
        let page = library_rows::list_activities(conn, tenant_row, athlete_row, &filter)?;
        let full = page.len() == 500;
        filter.after = page.last().map(|a| (a.merged.start_ms, a.id));
        for a in &page {
            let offset_ms = i64::from(a.merged.local_offset_s.unwrap_or(0)) * 1000;
            let local_ms = a.merged.start_ms.saturating_add(offset_ms);
            let hour = u8::try_from(local_ms.rem_euclid(86_400_000) / 3_600_000).unwrap_or(0);
            done.push((
                local_day(a.merged.start_ms, a.merged.local_offset_s),
                PartOfDay::of_hour(hour),
            ));
        }
        if !full {
            break;
        }
    }
    Ok(plans
        .iter()
        .filter(|p| !p.plan["workout"].is_null())
        .filter_map(|p| {
            let date = parse_date(&p.date)?;
            let hour = u8::try_from(p.plan["start_hour"].as_u64()?).ok()?;
            let part = PartOfDay::of_hour(hour);
            Some(SessionFact {
                date,
                planned_hour: hour,
                skipped: !done.contains(&(date, part)),
            })
        })
        .collect())
}

/// Observes the athlete's preferences afresh (module doc) and stores them beside the
/// stated ones; confirmed and corrected ones keep their answer.
pub fn observe_preferences(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    today: Date,
    now_ms: u64,
) -> Result<(), StoreError> {
    let facts = session_facts(conn, tenant_row, athlete_row, today)?;
    rows::forget_proposed(conn, tenant_row, athlete_row)?;
    for held in observe(&facts) {
        let value = serde_json::to_value(&held.preference).unwrap_or(Value::Null);
        if rows::get(conn, tenant_row, athlete_row, &value)?.is_some() {
            continue;
        }
        rows::put(
            conn,
            tenant_row,
            athlete_row,
            &PreferenceRecord {
                preference: value,
                source: source_name(held.source).to_owned(),
                confidence: held.confidence,
                status: "proposed".to_owned(),
                updated_ms: 0,
            },
            now_ms,
        )?;
    }
    Ok(())
}

/// The parts of the day the planner keeps free for the athlete's observed preferences
/// (module doc), by name.
pub fn observed_times(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(rows::list(conn, tenant_row, athlete_row)?
        .into_iter()
        .filter(planned_with)
        .filter_map(|r| match serde_json::from_value(r.preference) {
            Ok(Preference::AvoidPartOfDay { part }) => Some(part.as_str().to_owned()),
            _ => None,
        })
        .collect())
}

fn visible(conn: &Connection, p: &crate::accounts::Principal, id: i64) -> Result<(), ApiError> {
    if athlete_visible(conn, p, id)? {
        Ok(())
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// An athlete's preferences: stated, and observed afresh from the last 28 days' plans
/// against the activities done, with their confidence and whether the planner reads them.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/preferences", tag = "chat",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 200, body = PreferencesView), (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn get_preferences(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PreferencesView>, ApiError> {
    let now = state.now_ms();
    let found = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            let today = athlete_today(tx, p.tenant_row, id, now)?;
            observe_preferences(tx, p.tenant_row, id, today, now)?;
            Ok(rows::list(tx, p.tenant_row, id)?)
        })
        .await?;
    Ok(Json(PreferencesView {
        preferences: found.into_iter().map(view).collect(),
    }))
}

/// Confirm (`confirmed: true`, kept at confidence 0.9) or correct (`false`: ignored by
/// the planner and never proposed again) one of the athlete's preferences.
#[utoipa::path(put, path = "/api/v1/athletes/{id}/preferences", tag = "chat",
    params(("id" = i64, Path, description = "athlete id")),
    request_body = PreferenceAnswer,
    responses((status = 200, body = PreferenceView),
        (status = 400, description = "not a preference"),
        (status = 404, description = "no such athlete visible, or no such preference")),
    security(("bearer" = [])))]
pub async fn put_preference(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PreferenceAnswer>,
) -> Result<Json<PreferenceView>, ApiError> {
    let preference: Preference = serde_json::from_value(body.preference)
        .map_err(|e| ApiError::bad_request("invalid_field", format!("preference: {e}")))?;
    let key = serde_json::to_value(&preference).map_err(|_| ApiError::internal())?;
    let now = state.now_ms();
    let answered = state
        .write(move |tx| {
            visible(tx, &p, id)?;
            answer_preference(tx, &p, id, &key, body.confirmed, now)
        })
        .await?;
    Ok(Json(view(answered)))
}

/// The athlete's answer to one of their preferences (the PUT route's and the chat's):
/// confirmed → kept at [`CONFIRMED_CONFIDENCE`], corrected → confidence 0 and ignored;
/// audited. `athlete` is already checked visible to `p`; 404 when there is no such
/// preference.
pub fn answer_preference(
    tx: &Connection,
    p: &crate::accounts::Principal,
    athlete: i64,
    key: &Value,
    confirmed: bool,
    now_ms: u64,
) -> Result<PreferenceRecord, ApiError> {
    let mut r = rows::get(tx, p.tenant_row, athlete, key)?
        .ok_or_else(|| ApiError::not_found("preference"))?;
    if confirmed {
        r.status = "confirmed".to_owned();
        r.confidence = r.confidence.max(CONFIRMED_CONFIDENCE);
    } else {
        r.status = "corrected".to_owned();
        r.confidence = 0.0;
    }
    rows::put(tx, p.tenant_row, athlete, &r, now_ms)?;
    audit(
        tx,
        p.tenant_row,
        Some(p.user_row),
        "preference.answer",
        Some(&format!("athlete:{athlete}")),
        Some(&json!({"confirmed": confirmed})),
        now_ms,
    )?;
    r.updated_ms = crate::store::to_i64(now_ms);
    Ok(r)
}

/// The first observed preference the athlete has not answered yet (the chat asks about
/// it).
pub fn first_proposed(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<Preference>, StoreError> {
    Ok(rows::first_proposed(conn, tenant_row, athlete_row)?
        .and_then(|r| serde_json::from_value(r.preference).ok()))
}

#[cfg(test)]
mod tests {
    use paceline_activities::ManualEntry;
    use paceline_formats::Sport;
    use serde_json::json;

    use super::*;
    use crate::jobs::library::{self, Owner};
    use crate::store::activities::CopyExtras;
    use crate::store::{Store, ensure_athlete, ensure_tenant, prepare_data_dir};

    /// A stored plan for `date` with a workout starting at `hour`.
    fn plan_at(conn: &Connection, tenant: i64, athlete: i64, date: Date, hour: u8) {
        let name = format_date(date);
        plan_rows::store_plan(
            conn,
            tenant,
            athlete,
            plan_rows::NewDailyPlan {
                date: &name,
                plan: &json!({"date": name, "kind": "endurance", "target_tss": 50.0,
                    "workout": {"name": "Endurance", "sport": "bike", "steps": []},
                    "start_hour": hour}),
                why: &json!([]),
                inputs: &json!({}),
                inputs_digest: "test",
            },
            0,
        )
        .unwrap();
    }

    fn ride_at(conn: &Connection, tenant: i64, athlete: i64, start_ms: i64) {
        let entry = ManualEntry {
            sport: Sport::Cycling,
            start_ms,
            local_offset_s: None,
            duration: "45 min".to_owned(),
            distance: None,
            energy: None,
            ascent: None,
            load_tss: Some(40.0),
            rpe: None,
            name: None,
            note: None,
        };
        let valid = entry.validate().unwrap();
        let owner = Owner {
            tenant_row: tenant,
            athlete_row: athlete,
        };
        library::import_copy(conn, owner, &valid.copy, CopyExtras::default(), 0).unwrap();
    }

    #[test]
    fn skipped_mornings_become_an_observed_preference_the_planner_reads() {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        // 2026-12-06 at noon UTC; the athlete has no local offset (UTC days).
        let now_ms: u64 = 1_796_558_400_000;
        let today = local_day(i64::try_from(now_ms).unwrap(), None);
        let midnight = |d: Date| crate::store::chat::time_ms(d.midnight().assume_utc());
        store
            .write(|tx| -> Result<(), StoreError> {
                let slug = paceline_schemas::TenantId::new("prefs".to_owned()).unwrap();
                let tenant = ensure_tenant(tx, &slug, now_ms)?;
                let athlete = ensure_athlete(tx, tenant, "Ana", None, now_ms)?;
                // Four mornings planned at 07:00: one ridden at 07:30, three skipped (one
                // of them ridden at 18:00 instead); one evening at 18:00, ridden.
                for back in 1..=4 {
                    plan_at(tx, tenant, athlete, today - Duration::days(back), 7);
                }
                ride_at(
                    tx,
                    tenant,
                    athlete,
                    midnight(today - Duration::days(1)) + 7 * 3_600_000 + 1_800_000,
                );
                ride_at(
                    tx,
                    tenant,
                    athlete,
                    midnight(today - Duration::days(2)) + 18 * 3_600_000,
                );
                plan_at(tx, tenant, athlete, today - Duration::days(5), 18);
                ride_at(
                    tx,
                    tenant,
                    athlete,
                    midnight(today - Duration::days(5)) + 18 * 3_600_000,
                );
                // Stated, for the list.
                record_stated(
                    tx,
                    tenant,
                    athlete,
                    &Preference::NoWorkoutsBefore { hour: 6 },
                    now_ms,
                )?;

                let facts = session_facts(tx, tenant, athlete, today)?;
                assert_eq!(
                    facts
                        .iter()
                        .filter(|f| f.skipped)
                        .map(|f| f.date)
                        .collect::<Vec<_>>(),
                    [4, 3, 2].map(|b| today - Duration::days(b)),
                );
                observe_preferences(tx, tenant, athlete, today, now_ms)?;
                let listed: Vec<(Value, String, f64, String)> = rows::list(tx, tenant, athlete)?
                    .into_iter()
                    .map(|r| (r.preference, r.source, r.confidence, r.status))
                    .collect();
                let mornings = json!({"kind": "avoid_part_of_day", "part": "morning"});
                assert_eq!(
                    listed,
                    [
                        (
                            json!({"kind": "no_workouts_before", "hour": 6}),
                            "stated".to_owned(),
                            0.9,
                            "confirmed".to_owned()
                        ),
                        (
                            mornings.clone(),
                            "observed".to_owned(),
                            0.5,
                            "proposed".to_owned()
                        ),
                    ]
                );
                // The planner keeps mornings free.
                let settings = crate::api::planning::plan_settings(tx, tenant, athlete)?;
                assert_eq!(
                    settings.times.avoid,
                    [paceline_planning::time_of_day::PartOfDay::Morning]
                );
                assert_eq!(paceline_planning::start_hour(&settings.times, 60), Some(12));
                // Corrected: ignored, and not proposed again.
                let mut corrected = rows::get(tx, tenant, athlete, &mornings)?.unwrap();
                corrected.status = "corrected".to_owned();
                corrected.confidence = 0.0;
                rows::put(tx, tenant, athlete, &corrected, now_ms)?;
                observe_preferences(tx, tenant, athlete, today, now_ms)?;
                assert_eq!(
                    rows::get(tx, tenant, athlete, &mornings)?.map(|r| r.status),
                    Some("corrected".to_owned())
                );
                assert!(observed_times(tx, tenant, athlete)?.is_empty());
                Ok(())
            })
            .unwrap();
    }
}
