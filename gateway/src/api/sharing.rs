//! What a linked coach may see of an athlete (issue 25): the athlete decides, for all
//! their coaches or for one, whether a coach sees them live (live board and sessions),
//! their history (activities and the library) and their health (daily metrics,
//! check-ins, recovery, insights). Everything is shared until the athlete says otherwise,
//! as before this existed; a coach's own setting wins over the one for all coaches.
//! Gym-admins are not coaches here: they run the service and see what they need.
//!
//! The handlers that read such data ask [`coach_may_see`] after the usual visibility
//! check and answer 404 when the athlete does not share it, like an athlete they may not
//! see.

use axum::Json;
use axum::extract::State;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiState, Auth, audit};
use crate::accounts::{Principal, Role};
use crate::store::to_i64;

/// A kind of data an athlete shares with coaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// The live board and live sessions.
    Live,
    /// Activities, the library, past sessions.
    History,
    /// Daily metrics, check-ins, recovery, insights.
    Health,
}

impl Shared {
    fn column(self) -> &'static str {
        match self {
            Shared::Live => "live",
            Shared::History => "history",
            Shared::Health => "health",
        }
    }
}

/// Whether the caller may see this kind of the athlete's data: always, unless they are a
/// coach and the athlete has turned it off for them (or for all coaches). The caller must
/// already see the athlete.
pub fn coach_may_see(
    conn: &Connection,
    p: &Principal,
    athlete_row: i64,
    kind: Shared,
) -> Result<bool, ApiError> {
    if p.role != Role::Coach {
        return Ok(true);
    }
    let column = kind.column();
    let found: Option<bool> = conn
        .query_row(
            &format!(
                "SELECT {column} FROM coach_sharing
                 WHERE tenant_id = ?1 AND athlete_id = ?2
                   AND (coach_user_id = ?3 OR coach_user_id IS NULL)
                 ORDER BY coach_user_id IS NULL LIMIT 1"
            ),
            params![p.tenant_row, athlete_row, p.user_row],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.unwrap_or(true))
}

/// For a coach, SQL true for the rows of sessions `s` whose athlete shares them (an
/// open session is live, an ended one history; uses `:tenant` and `:user`); `None` for
/// anyone else.
pub fn coach_session_filter(p: &Principal) -> Option<&'static str> {
    (p.role == Role::Coach).then_some(
        "COALESCE((SELECT CASE WHEN s.status = 'open' THEN cs.live ELSE cs.history END
                   FROM coach_sharing cs
                   WHERE cs.tenant_id = :tenant AND cs.athlete_id = s.athlete_id
                     AND (cs.coach_user_id = :user OR cs.coach_user_id IS NULL)
                   ORDER BY cs.coach_user_id IS NULL LIMIT 1), 1) = 1",
    )
}

/// 404 unless the caller may see this kind of the athlete's data.
pub fn require_shared(
    conn: &Connection,
    p: &Principal,
    athlete_row: i64,
    kind: Shared,
) -> Result<(), ApiError> {
    if coach_may_see(conn, p, athlete_row, kind)? {
        Ok(())
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// What is shared.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SharingFlags {
    /// The live board and live sessions.
    pub live: bool,
    /// Activities, the library, past sessions.
    pub history: bool,
    /// Daily metrics, check-ins, recovery, insights.
    pub health: bool,
}

const ALL_SHARED: SharingFlags = SharingFlags {
    live: true,
    history: true,
    health: true,
};

/// What one linked coach sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoachSharing {
    /// The coach's user id.
    pub coach_user_id: i64,
    /// Their name.
    pub name: String,
    /// What they see (their own setting, else the one for all coaches).
    #[serde(flatten)]
    pub flags: SharingFlags,
    /// Whether they have a setting of their own.
    pub own_setting: bool,
}

/// What your coaches see.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharingView {
    /// For all coaches (unless a coach has a setting of their own).
    pub all_coaches: SharingFlags,
    /// Each coach linked to you.
    pub coaches: Vec<CoachSharing>,
}

/// Change what coaches see.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSharing {
    /// One linked coach; absent: all coaches.
    pub coach_user_id: Option<i64>,
    /// The live board and live sessions.
    pub live: bool,
    /// Activities, the library, past sessions.
    pub history: bool,
    /// Daily metrics, check-ins, recovery, insights.
    pub health: bool,
}

fn athlete_of(p: &Principal) -> Result<i64, ApiError> {
    match (p.role, p.athlete_row) {
        (Role::Athlete, Some(row)) => Ok(row),
        _ => Err(ApiError::forbidden(
            "only an athlete decides what their coaches see",
        )),
    }
}

fn flags(
    conn: &Connection,
    tenant: i64,
    athlete: i64,
    coach: Option<i64>,
) -> Result<Option<SharingFlags>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT live, history, health FROM coach_sharing
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND coach_user_id IS ?3",
            params![tenant, athlete, coach],
            |r| {
                Ok(SharingFlags {
                    live: r.get(0)?,
                    history: r.get(1)?,
                    health: r.get(2)?,
                })
            },
        )
        .optional()?)
}

fn view(conn: &Connection, tenant: i64, athlete: i64) -> Result<SharingView, ApiError> {
    let all_coaches = flags(conn, tenant, athlete, None)?.unwrap_or(ALL_SHARED);
    let mut stmt = conn.prepare(
        "SELECT u.id, u.name FROM coach_athletes ca JOIN users u ON u.id = ca.coach_user_id
         WHERE ca.tenant_id = ?1 AND ca.athlete_id = ?2 AND u.tenant_id = ?1 ORDER BY u.id",
    )?;
    let linked = stmt
        .query_map(params![tenant, athlete], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut coaches = Vec::with_capacity(linked.len());
    for (coach, name) in linked {
        let own = flags(conn, tenant, athlete, Some(coach))?;
        coaches.push(CoachSharing {
            coach_user_id: coach,
            name,
            flags: own.unwrap_or(all_coaches),
            own_setting: own.is_some(),
        });
    }
    Ok(SharingView {
        all_coaches,
        coaches,
    })
}

/// What your linked coaches may see of you: live, history, health (athlete).
#[utoipa::path(get, path = "/api/v1/me/sharing", tag = "privacy",
    responses((status = 200, body = SharingView),
        (status = 403, description = "not an athlete")),
    security(("bearer" = [])))]
pub async fn get_sharing(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<SharingView>, ApiError> {
    let athlete = athlete_of(&p)?;
    let view = state
        .read(move |conn| view(conn, p.tenant_row, athlete))
        .await?;
    Ok(Json(view))
}

/// Decide what one linked coach (`coach_user_id`) or all coaches may see of you
/// (athlete). A coach's own setting wins over the one for all coaches.
#[utoipa::path(put, path = "/api/v1/me/sharing", tag = "privacy",
    request_body = PutSharing,
    responses((status = 200, body = SharingView),
        (status = 403, description = "not an athlete"),
        (status = 404, description = "no such coach linked to you")),
    security(("bearer" = [])))]
pub async fn put_sharing(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<PutSharing>,
) -> Result<Json<SharingView>, ApiError> {
    let athlete = athlete_of(&p)?;
    let now = state.now_ms();
    let view = state
        .write(move |tx| {
            if let Some(coach) = body.coach_user_id {
                let linked: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM coach_athletes
                     WHERE tenant_id = ?1 AND athlete_id = ?2 AND coach_user_id = ?3)",
                    params![p.tenant_row, athlete, coach],
                    |r| r.get(0),
                )?;
                if !linked {
                    return Err(ApiError::not_found("coach"));
                }
            }
            tx.execute(
                "DELETE FROM coach_sharing
                 WHERE tenant_id = ?1 AND athlete_id = ?2 AND coach_user_id IS ?3",
                params![p.tenant_row, athlete, body.coach_user_id],
            )?;
            tx.execute(
                "INSERT INTO coach_sharing
                     (tenant_id, athlete_id, coach_user_id, live, history, health, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    p.tenant_row,
                    athlete,
                    body.coach_user_id,
                    body.live,
                    body.history,
                    body.health,
                    to_i64(now)
                ],
            )?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "sharing.change",
                Some(&format!("athlete:{athlete}")),
                Some(&json!({
                    "coach": body.coach_user_id,
                    "live": body.live, "history": body.history, "health": body.health,
                })),
                now,
            )?;
            view(tx, p.tenant_row, athlete)
        })
        .await?;
    state.grants_changed();
    Ok(Json(view))
}
