//! Athletes, their profiles, their next plan, and their coaches.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paceline_schemas::{AthleteProfile, codec};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::check_name;
use super::{
    ATHLETE_VISIBLE, ApiError, ApiJson, ApiPath, ApiState, Auth, athlete_visible, audit, named,
    require_admin, require_staff, visibility,
};
use crate::accounts::Role;
use crate::store::{assign_plan, ensure_athlete, to_i64};

/// An athlete.
#[derive(Debug, Serialize, ToSchema)]
pub struct AthleteView {
    /// Id.
    pub id: i64,
    /// Name (unique in the tenant).
    pub name: String,
    /// The profile the coach uses (SPEC §4: HRmax, LTHR, cap, FTP, CP, W′ …).
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    /// The plan their next session will follow.
    pub next_plan_id: Option<i64>,
    /// Created, ms since the epoch.
    pub created_ms: i64,
}

/// `POST /athletes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAthlete {
    /// Name, unique in the tenant.
    pub name: String,
    /// Profile (defaults apply to what is missing).
    #[schema(value_type = Option<Object>)]
    pub profile: Option<serde_json::Value>,
}

/// `PUT /athletes/{id}/next-plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NextPlan {
    /// A plan of the tenant.
    pub plan_id: i64,
}

pub(super) fn parse_profile(value: &serde_json::Value) -> Result<AthleteProfile, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::internal())?;
    codec::from_json::<AthleteProfile>(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_profile",
            e.to_string(),
        )
    })
}

pub(super) fn athlete_view(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<AthleteView>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, name, profile_json, next_plan_id, created_ms FROM athletes
             WHERE tenant_id = ?1 AND id = ?2",
            params![tenant_row, id],
            |r| {
                Ok(AthleteView {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    profile: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    next_plan_id: r.get(3)?,
                    created_ms: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// The athletes the caller may see (all of the tenant for a gym-admin, linked ones for a
/// coach, themself for an athlete).
#[utoipa::path(get, path = "/api/v1/athletes", tag = "athletes",
    responses((status = 200, body = [AthleteView])), security(("bearer" = [])))]
pub async fn list_athletes(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Vec<AthleteView>>, ApiError> {
    let list = state
        .read(move |conn| {
            let values = visibility(&p);
            let sql = format!(
                "SELECT a.id, a.name, a.profile_json, a.next_plan_id, a.created_ms FROM athletes a
                 WHERE {ATHLETE_VISIBLE} ORDER BY a.name LIMIT 5000"
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(named(&values).as_slice(), |r| {
                    Ok(AthleteView {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        profile: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                        next_plan_id: r.get(3)?,
                        created_ms: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(list))
}

/// Create an athlete (coach or gym-admin; a coach is linked to the athletes they create).
#[utoipa::path(post, path = "/api/v1/athletes", tag = "athletes", request_body = CreateAthlete,
    responses((status = 201, body = AthleteView), (status = 409, description = "name taken")),
    security(("bearer" = [])))]
pub async fn create_athlete(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<CreateAthlete>,
) -> Result<Response, ApiError> {
    require_staff(&p)?;
    let name = check_name(&body.name, "name")?;
    let profile = match &body.profile {
        Some(value) => Some(parse_profile(value)?),
        None => None,
    };
    let now = state.now_ms();
    let view = state
        .write(move |tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM athletes WHERE tenant_id = ?1 AND name = ?2)",
                params![p.tenant_row, name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(ApiError::conflict("name_taken", "an athlete of this name exists in the tenant"));
            }
            let id = ensure_athlete(tx, p.tenant_row, &name, profile.as_ref(), now)?;
            if p.role == Role::Coach {
                tx.execute(
                    "INSERT OR IGNORE INTO coach_athletes (tenant_id, coach_user_id, athlete_id, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![p.tenant_row, p.user_row, id, to_i64(now)],
                )?;
            }
            audit(tx, p.tenant_row, Some(p.user_row), "athlete.create", Some(&format!("athlete:{id}")), None, now)?;
            athlete_view(tx, p.tenant_row, id)?.ok_or_else(ApiError::internal)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One athlete.
#[utoipa::path(get, path = "/api/v1/athletes/{id}", tag = "athletes",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 200, body = AthleteView), (status = 404, description = "not visible to you")),
    security(("bearer" = [])))]
pub async fn get_athlete(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AthleteView>, ApiError> {
    let view = state
        .read(move |conn| {
            if !athlete_visible(conn, &p, id)? {
                return Err(ApiError::not_found("athlete"));
            }
            athlete_view(conn, p.tenant_row, id)?.ok_or_else(|| ApiError::not_found("athlete"))
        })
        .await?;
    Ok(Json(view))
}

/// The heart-rate limits a profile puts in force, bpm: (cap, maximum), as the coach derives
/// them (a missing value from the others, e.g. `hr_max` from age); `None` for a profile the
/// coach would refuse.
fn heart_rate_limits(profile: &AthleteProfile) -> Option<(u16, u16)> {
    let physiology = paceline_coach::zones::Physiology::from_profile(
        profile,
        &paceline_coach::zones::PhysiologyDefaults::default(),
    )
    .ok()?;
    Some((physiology.hr_cap_bpm, physiology.hr_max_bpm))
}

/// Replace an athlete's profile (their coach, a gym-admin, or the athlete themself). The
/// heart-rate cap and maximum are safety limits their coach or gym set: an athlete may
/// lower them but not raise them (403 `safety_limit`). Every change is audited with the
/// limits before and after.
#[utoipa::path(put, path = "/api/v1/athletes/{id}/profile", tag = "athletes",
    params(("id" = i64, Path, description = "athlete id")),
    request_body(content = Object, description = "the athlete profile (SPEC §4)"),
    responses((status = 200, body = AthleteView),
        (status = 403, description = "an athlete raising their heart-rate cap or maximum"),
        (status = 422, description = "inconsistent profile")),
    security(("bearer" = [])))]
pub async fn put_profile(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<AthleteView>, ApiError> {
    let profile = parse_profile(&body)?;
    let now = state.now_ms();
    let view = state
        .write(move |tx| {
            if !athlete_visible(tx, &p, id)? {
                return Err(ApiError::not_found("athlete"));
            }
            let stored: String = tx.query_row(
                "SELECT profile_json FROM athletes WHERE tenant_id = ?1 AND id = ?2",
                params![p.tenant_row, id],
                |r| r.get(0),
            )?;
            let before = codec::from_json::<AthleteProfile>(stored.as_bytes())
                .ok()
                .and_then(|old| heart_rate_limits(&old));
            let after = heart_rate_limits(&profile);
            if p.role == Role::Athlete {
                let raises = match (before, after) {
                    (Some((cap, max)), Some((new_cap, new_max))) => new_cap > cap || new_max > max,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if raises {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "safety_limit",
                        "an athlete cannot raise their own heart-rate cap or maximum: ask your coach",
                    ));
                }
            }
            let json = codec::to_json(&profile).map_err(|_| ApiError::internal())?;
            tx.execute(
                "UPDATE athletes SET profile_json = ?1 WHERE tenant_id = ?2 AND id = ?3",
                params![json, p.tenant_row, id],
            )?;
            let limits = |l: Option<(u16, u16)>| {
                l.map(|(cap, max)| serde_json::json!({"hr_cap_bpm": cap, "hr_max_bpm": max}))
            };
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "athlete.profile",
                Some(&format!("athlete:{id}")),
                Some(&serde_json::json!({"before": limits(before), "after": limits(after)})),
                now,
            )?;
            athlete_view(tx, p.tenant_row, id)?.ok_or_else(|| ApiError::not_found("athlete"))
        })
        .await?;
    Ok(Json(view))
}

/// Give a plan to an athlete's next session (coach or gym-admin).
#[utoipa::path(put, path = "/api/v1/athletes/{id}/next-plan", tag = "athletes",
    params(("id" = i64, Path, description = "athlete id")), request_body = NextPlan,
    responses((status = 200, body = AthleteView), (status = 404, description = "athlete or plan not found")),
    security(("bearer" = [])))]
pub async fn assign_next_plan(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NextPlan>,
) -> Result<Json<AthleteView>, ApiError> {
    require_staff(&p)?;
    let now = state.now_ms();
    let view = state
        .write(move |tx| {
            if !athlete_visible(tx, &p, id)? {
                return Err(ApiError::not_found("athlete"));
            }
            assign_plan(tx, p.tenant_row, id, body.plan_id).map_err(|e| match e {
                crate::store::StoreError::Missing { .. } => ApiError::not_found("plan"),
                other => ApiError::from(other),
            })?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "plan.assign",
                Some(&format!("athlete:{id}")),
                Some(&serde_json::json!({"plan_id": body.plan_id})),
                now,
            )?;
            athlete_view(tx, p.tenant_row, id)?.ok_or_else(|| ApiError::not_found("athlete"))
        })
        .await?;
    Ok(Json(view))
}

/// Link a coach to an athlete (gym-admin).
#[utoipa::path(put, path = "/api/v1/athletes/{id}/coaches/{user_id}", tag = "athletes",
    params(("id" = i64, Path, description = "athlete id"), ("user_id" = i64, Path, description = "a coach's user id")),
    responses((status = 204, description = "linked"), (status = 404, description = "athlete or coach not found")),
    security(("bearer" = [])))]
pub async fn link_coach(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    let now = state.now_ms();
    state
        .write(move |tx| {
            if !athlete_visible(tx, &p, id)? {
                return Err(ApiError::not_found("athlete"));
            }
            let coach: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND id = ?2 AND role = 'coach')",
                params![p.tenant_row, user_id],
                |r| r.get(0),
            )?;
            if !coach {
                return Err(ApiError::not_found("coach"));
            }
            tx.execute(
                "INSERT OR IGNORE INTO coach_athletes (tenant_id, coach_user_id, athlete_id, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![p.tenant_row, user_id, id, to_i64(now)],
            )?;
            audit(tx, p.tenant_row, Some(p.user_row), "coach.link", Some(&format!("athlete:{id}")),
                Some(&serde_json::json!({"coach": user_id})), now)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlink a coach from an athlete (gym-admin).
#[utoipa::path(delete, path = "/api/v1/athletes/{id}/coaches/{user_id}", tag = "athletes",
    params(("id" = i64, Path, description = "athlete id"), ("user_id" = i64, Path, description = "a coach's user id")),
    responses((status = 204, description = "unlinked"), (status = 404, description = "no such link")),
    security(("bearer" = [])))]
pub async fn unlink_coach(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    let now = state.now_ms();
    state
        .write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM coach_athletes WHERE tenant_id = ?1 AND athlete_id = ?2 AND coach_user_id = ?3",
                params![p.tenant_row, id, user_id],
            )?;
            if removed == 0 {
                return Err(ApiError::not_found("coach link"));
            }
            audit(tx, p.tenant_row, Some(p.user_row), "coach.unlink", Some(&format!("athlete:{id}")),
                Some(&serde_json::json!({"coach": user_id})), now)
        })
        .await?;
    state.grants_changed();
    Ok(StatusCode::NO_CONTENT)
}
