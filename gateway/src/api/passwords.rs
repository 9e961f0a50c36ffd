//! Passwords after registration: a user changes their own (`POST /me/password`), and a
//! gym-admin resets a user's (`POST /users/{id}/password-reset`) to a temporary password
//! that is shown once and expires. Both end every login of the user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiPath, ApiState, Auth, audit, require_admin};
use crate::accounts::password::{
    generate_password, hash_password, policy_violation, verify_password,
};
use crate::store::to_i64;

/// How long a temporary password from a reset works, ms.
pub const TEMPORARY_PASSWORD_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// `POST /me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use now.
    pub current_password: String,
    /// The new one: at least 10 characters.
    pub new_password: String,
}

/// A temporary password from `POST /users/{id}/password-reset`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordReset {
    /// The user.
    pub user_id: i64,
    /// Log in with it before `expires_ms`, then change it; shown only in this answer.
    pub temporary_password: String,
    /// When it stops working, Unix ms.
    pub expires_ms: u64,
}

/// Ends every login of `user_row` (each refresh-token family; their access tokens are
/// refused at the next request).
fn revoke_logins(
    conn: &rusqlite::Connection,
    user_row: i64,
    why: &str,
    now_ms: u64,
) -> Result<usize, ApiError> {
    Ok(conn.execute(
        "UPDATE auth_families SET revoked_ms = ?1, revoked_why = ?2
         WHERE user_id = ?3 AND revoked_ms IS NULL",
        params![to_i64(now_ms), why, user_row],
    )?)
}

/// Change your password: the current one is checked (failures count towards the
/// account's lockout); every login of yours ends, this one too, so log in again.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    request_body = PasswordChange,
    responses((status = 204, description = "changed; every login ended"),
        (status = 400, description = "the new password is too weak"),
        (status = 401, description = "the current password is wrong"),
        (status = 429, description = "too many failed attempts for this account")),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    if let Some(why) = policy_violation(&body.new_password) {
        return Err(ApiError::bad_request("weak_password", why));
    }
    let user_row = p.user_row;
    let (email, stored): (String, String) = state
        .read(move |conn| {
            Ok(conn.query_row(
                "SELECT email, password_hash FROM users WHERE id = ?1",
                params![user_row],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await?;
    if let Err(wait) = state.account_failures.hit(&email) {
        return Err(ApiError::too_many(
            "account_locked",
            "too many failed password checks for this account: wait and try again",
            wait,
        ));
    }
    let PasswordChange {
        current_password,
        new_password,
    } = body;
    let hash = tokio::task::spawn_blocking(move || {
        verify_password(&current_password, &stored).then(|| hash_password(&new_password))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let Some(hash) = hash else {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the current password is wrong",
        ));
    };
    let hash = hash.map_err(|_| ApiError::internal())?;
    state.account_failures.clear(&email);
    let now = state.now_ms();
    state
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET password_hash = ?1, password_expires_ms = NULL WHERE id = ?2",
                params![hash, p.user_row],
            )?;
            let ended = revoke_logins(tx, p.user_row, "password changed", now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "user.password_changed",
                Some(&format!("user:{}", p.user_row)),
                Some(&serde_json::json!({"logins_ended": ended})),
                now,
            )
        })
        .await?;
    state.forget_logins();
    Ok(StatusCode::NO_CONTENT)
}

/// Reset a user's password (gym-admin; not your own: use `POST /me/password`): a
/// temporary password, shown only in this answer, that works for 24 hours; the user's
/// logins end. Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "tenant",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = PasswordReset),
        (status = 404, description = "no such user in this tenant")),
    security(("bearer" = [])))]
pub async fn reset_password(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PasswordReset>, ApiError> {
    require_admin(&p)?;
    let tenant_row = p.tenant_row;
    let exists = state
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id FROM users WHERE tenant_id = ?1 AND id = ?2",
                    params![tenant_row, id],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?)
        })
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if id == p.user_row {
        return Err(ApiError::bad_request(
            "own_account",
            "change your own password with POST /me/password",
        ));
    }
    let temporary = generate_password();
    let clear = temporary.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&clear))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    let now = state.now_ms();
    let expires_ms = now.saturating_add(TEMPORARY_PASSWORD_TTL_MS);
    state
        .write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?1, password_expires_ms = ?2
                 WHERE tenant_id = ?3 AND id = ?4",
                params![hash, to_i64(expires_ms), p.tenant_row, id],
            )?;
            if changed == 0 {
                return Err(ApiError::not_found("user"));
            }
            let ended = revoke_logins(tx, id, "password reset", now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "user.password_reset",
                Some(&format!("user:{id}")),
                Some(&serde_json::json!({"expires_ms": expires_ms, "logins_ended": ended})),
                now,
            )
        })
        .await?;
    state.forget_logins();
    Ok(Json(PasswordReset {
        user_id: id,
        temporary_password: temporary,
        expires_ms,
    }))
}
