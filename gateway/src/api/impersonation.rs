//! Read-only impersonation ("view as"): a gym-admin sees the service as one user of their
//! tenant to help them, without being able to change anything.
//!
//! Starting one issues an access token for the viewed user that names the impersonation
//! (`imp`) and the admin's own login (`fam`): logging the admin out ends it too. It has no
//! refresh token and lives at most [`MAX_MINUTES`]. The auth extractor refuses every
//! request but reads made with it ([`allowed`]), so no handler has to remember to; the
//! impersonation's row is read on every request, so ending it applies at once. The start
//! and each end (stopped, or expired, noticed when the token or the next start shows it)
//! go to the audit log with who viewed whom, until when, and from which address.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{UserView, user_view};
use super::{ApiError, ApiJson, ApiState, Auth, audit, require_admin};
use crate::accounts::tokens::{AUDIENCE, Claims, ISSUER};
use crate::accounts::{Impersonation, Principal, Role};
use crate::store::to_i64;

/// Longest "view as", minutes.
pub const MAX_MINUTES: u32 = 30;
/// A "view as" without `minutes`, minutes.
pub const DEFAULT_MINUTES: u32 = 15;

/// The one write an impersonation token may make: ending itself.
const END_PATH: &str = "/admin/impersonations/current";

/// Whether a request made with an impersonation token may go on: reads, and ending it.
pub fn allowed(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (*method == Method::DELETE && path.ends_with(END_PATH))
}

/// Start a "view as".
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartImpersonation {
    /// The user of your tenant to view as.
    pub user_id: i64,
    /// How long, 1 to 30 minutes (15 when left out).
    pub minutes: Option<u32>,
}

/// A started "view as": a read-only access token for the user viewed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonationView {
    /// The impersonation's id.
    pub id: i64,
    /// Bearer token acting as `user` for reads only; it cannot be refreshed.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it ends.
    pub expires_in: u64,
    /// When it ends, ms since the epoch.
    pub expires_ms: i64,
    /// The user viewed.
    pub user: UserView,
}

/// Who is viewing as the caller, in `GET /me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImpersonatedBy {
    /// The gym-admin's user id.
    pub user_id: i64,
    /// Their name.
    pub name: String,
    /// When the view ends, ms since the epoch.
    pub expires_ms: i64,
}

/// View the service as a user of your tenant, read-only, for at most 30 minutes
/// (gym-admin). Every write made with the token returned is refused 403
/// `read_only_impersonation`; `DELETE /api/v1/admin/impersonations/current` ends it.
#[utoipa::path(post, path = "/api/v1/admin/impersonations", tag = "privacy",
    request_body = StartImpersonation,
    responses((status = 201, body = ImpersonationView),
        (status = 400, description = "minutes out of range, or yourself"),
        (status = 403, description = "not a gym-admin, or already viewing as someone"),
        (status = 404, description = "no such user in this tenant")),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<StartImpersonation>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    if p.impersonation.is_some() {
        return Err(ApiError::forbidden("a view as cannot start another"));
    }
    let minutes = body.minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::bad_request(
            "invalid_minutes",
            "minutes must be 1 to 30",
        ));
    }
    if body.user_id == p.user_row {
        return Err(ApiError::bad_request(
            "invalid_user",
            "you cannot view as yourself",
        ));
    }
    let now = state.now_ms();
    let expires_ms = now.saturating_add(u64::from(minutes) * 60_000);
    let target = body.user_id;
    let (row, user) = state
        .write(move |tx| {
            close_expired_in(tx, p.tenant_row, None, now)?;
            let found: Option<i64> = tx
                .query_row(
                    "SELECT id FROM users
                     WHERE tenant_id = ?1 AND id = ?2 AND disabled_ms IS NULL",
                    params![p.tenant_row, target],
                    |r| r.get(0),
                )
                .optional()?;
            if found.is_none() {
                return Err(ApiError::not_found("user"));
            }
            tx.execute(
                "INSERT INTO impersonations
                     (tenant_id, admin_user_id, family_id, user_id, started_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    p.tenant_row,
                    p.user_row,
                    p.family_row,
                    target,
                    to_i64(now),
                    to_i64(expires_ms)
                ],
            )?;
            let row = tx.last_insert_rowid();
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "impersonation.start",
                Some(&format!("user:{target}")),
                Some(&json!({ "impersonation": row, "until_ms": expires_ms })),
                now,
            )?;
            let (user, _) = user_view(tx, target)?;
            Ok((row, user))
        })
        .await?;
    let now_s = now / 1000;
    let access_token = state
        .keys
        .issue(&Claims {
            sub: target.to_string(),
            tid: p.tenant_row,
            role: user.role,
            fam: p.family_row,
            iat: now_s,
            exp: expires_ms / 1000,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            imp: Some(row),
        })
        .map_err(|_| ApiError::internal())?;
    let view = ImpersonationView {
        id: row,
        access_token,
        token_type: "Bearer",
        expires_in: (expires_ms - now) / 1000,
        expires_ms: to_i64(expires_ms),
        user,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// End the "view as" the token belongs to (made with the impersonation token).
#[utoipa::path(delete, path = "/api/v1/admin/impersonations/current", tag = "privacy",
    responses((status = 204, description = "ended"),
        (status = 404, description = "this token is not a view as")),
    security(("bearer" = [])))]
pub async fn end_current(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<StatusCode, ApiError> {
    let Some(imp) = p.impersonation else {
        return Err(ApiError::not_found("impersonation"));
    };
    let now = state.now_ms();
    state
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE impersonations SET ended_ms = ?1, end_reason = 'stopped'
                 WHERE tenant_id = ?2 AND id = ?3 AND ended_ms IS NULL",
                params![to_i64(now), p.tenant_row, imp.row],
            )?;
            if changed == 1 {
                audit(
                    tx,
                    p.tenant_row,
                    Some(imp.by_user_row),
                    "impersonation.end",
                    Some(&format!("user:{}", p.user_row)),
                    Some(&json!({ "impersonation": imp.row, "reason": "stopped" })),
                    now,
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends (and audits) the tenant's impersonations past their end: all of them, or only
/// `row`.
fn close_expired_in(
    tx: &rusqlite::Connection,
    tenant_row: i64,
    row: Option<i64>,
    now_ms: u64,
) -> Result<(), ApiError> {
    let mut stmt = tx.prepare(
        "SELECT id, admin_user_id, user_id, expires_ms FROM impersonations
         WHERE tenant_id = ?1 AND ended_ms IS NULL AND expires_ms <= ?2
           AND (?3 IS NULL OR id = ?3)",
    )?;
    let expired = stmt
        .query_map(params![tenant_row, to_i64(now_ms), row], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, admin, user, expires_ms) in expired {
        tx.execute(
            "UPDATE impersonations SET ended_ms = expires_ms, end_reason = 'expired'
             WHERE id = ?1",
            params![id],
        )?;
        audit(
            tx,
            tenant_row,
            Some(admin),
            "impersonation.end",
            Some(&format!("user:{user}")),
            Some(&json!({ "impersonation": id, "reason": "expired" })),
            u64::try_from(expires_ms).unwrap_or(now_ms),
        )?;
    }
    Ok(())
}

/// Ends (and audits) an impersonation whose token was presented after its end.
pub async fn close_expired(state: &ApiState, tenant_row: i64, row: i64) {
    let now = state.now_ms();
    if let Err(e) = state
        .write(move |tx| close_expired_in(tx, tenant_row, Some(row), now))
        .await
    {
        tracing::warn!(code = e.code, "closing an expired impersonation failed");
    }
}

/// The user viewed as, while the impersonation is open, the admin still a gym-admin of
/// the tenant and their login still valid; 401 otherwise.
pub async fn load_principal(
    state: &ApiState,
    user_row: i64,
    family_row: i64,
    token_tenant: i64,
    row: i64,
) -> Result<Principal, ApiError> {
    let now = to_i64(state.now_ms());
    let found = state
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT u.role, u.athlete_id, i.admin_user_id, i.expires_ms
                     FROM impersonations i
                     JOIN users u ON u.id = i.user_id AND u.tenant_id = i.tenant_id
                     JOIN users adm ON adm.id = i.admin_user_id AND adm.tenant_id = i.tenant_id
                     JOIN auth_families f ON f.id = i.family_id AND f.user_id = adm.id
                     WHERE i.id = ?1 AND i.user_id = ?2 AND i.family_id = ?3
                       AND i.tenant_id = ?4 AND i.ended_ms IS NULL AND i.expires_ms > ?5
                       AND u.disabled_ms IS NULL AND adm.disabled_ms IS NULL
                       AND adm.role = 'gym-admin' AND f.revoked_ms IS NULL",
                    params![row, user_row, family_row, token_tenant, now],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<i64>>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    },
                )
                .optional()?)
        })
        .await?;
    let Some((role, athlete_row, by_user_row, expires_ms)) = found else {
        return Err(ApiError::unauthorized(
            "session_revoked",
            "this view as has ended",
        ));
    };
    Ok(Principal {
        user_row,
        tenant_row: token_tenant,
        role: Role::parse(&role).ok_or_else(ApiError::internal)?,
        athlete_row,
        family_row,
        impersonation: Some(Impersonation {
            row,
            by_user_row,
            expires_ms: u64::try_from(expires_ms).unwrap_or(0),
        }),
    })
}

/// Who is viewing as the caller, for `GET /me`.
pub fn impersonated_by(
    conn: &rusqlite::Connection,
    p: &Principal,
) -> Result<Option<ImpersonatedBy>, ApiError> {
    let Some(imp) = p.impersonation else {
        return Ok(None);
    };
    let name: String = conn.query_row(
        "SELECT name FROM users WHERE tenant_id = ?1 AND id = ?2",
        params![p.tenant_row, imp.by_user_row],
        |r| r.get(0),
    )?;
    Ok(Some(ImpersonatedBy {
        user_id: imp.by_user_row,
        name,
        expires_ms: to_i64(imp.expires_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_ending_it_are_allowed() {
        assert!(allowed(&Method::GET, "/activities"));
        assert!(allowed(&Method::HEAD, "/me"));
        assert!(allowed(
            &Method::DELETE,
            "/api/v1/admin/impersonations/current"
        ));
        assert!(!allowed(&Method::DELETE, "/me"));
        assert!(!allowed(&Method::POST, "/chat"));
        assert!(!allowed(&Method::PUT, "/admin/impersonations/current"));
        assert!(!allowed(&Method::PATCH, "/users/3"));
    }
}
