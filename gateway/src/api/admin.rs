//! The tenant, its users, invitations and audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{TenantView, UserView, user_view};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, audit, require_admin};
use crate::accounts::Role;
use crate::accounts::tokens::{digest, new_refresh_token};
use crate::store::to_i64;

/// The caller's tenant.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant",
    responses((status = 200, body = TenantView)), security(("bearer" = [])))]
pub async fn tenant(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<TenantView>, ApiError> {
    let (_, tenant) = state.read(move |conn| user_view(conn, p.user_row)).await?;
    Ok(Json(tenant))
}

/// One quota's use: how much is used and the limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaUse {
    /// Used now.
    pub used: u64,
    /// The limit.
    pub limit: u64,
}

/// `GET /tenant/usage`: the tenant's use of its quotas, and the per-device limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantUsage {
    /// Devices not revoked, against `tenant_devices`.
    pub devices: QuotaUse,
    /// Bytes of stored frames, against `tenant_storage_bytes`.
    pub storage_bytes: QuotaUse,
    /// Whether the tenant's new frames are refused for storage (not acknowledged: devices
    /// keep them until there is room).
    pub storage_full: bool,
    /// Most sessions a device opens in 24 h.
    pub device_sessions_per_day: u32,
    /// Sustained samples per second of a device.
    pub device_samples_per_s: u32,
    /// A device's burst, in seconds' worth of samples.
    pub device_samples_burst_s: u32,
}

/// The caller's tenant's use of its quotas (gym-admins).
#[utoipa::path(get, path = "/api/v1/tenant/usage", tag = "tenant",
    responses((status = 200, body = TenantUsage), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn tenant_usage(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<TenantUsage>, ApiError> {
    require_admin(&p)?;
    let tenant_row = p.tenant_row;
    let (devices, stored) = state
        .read(move |conn| {
            Ok((
                crate::store::active_devices(conn, tenant_row)?,
                crate::store::stored_bytes(conn, tenant_row)?,
            ))
        })
        .await?;
    let quotas = state.live.quotas();
    let limits = *quotas.limits();
    Ok(Json(TenantUsage {
        devices: QuotaUse {
            used: devices,
            limit: u64::from(limits.tenant_devices),
        },
        storage_bytes: QuotaUse {
            used: stored,
            limit: limits.tenant_storage_bytes,
        },
        storage_full: stored >= limits.tenant_storage_bytes || quotas.storage_refused(tenant_row),
        device_sessions_per_day: limits.device_sessions_per_day,
        device_samples_per_s: limits.device_samples_per_s,
        device_samples_burst_s: limits.device_samples_burst_s,
    }))
}

/// `POST /invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// The role the invited person gets. Coaches may invite athletes only.
    pub role: Role,
    /// For an athlete: the existing athlete record the account will own (else one is made).
    pub athlete_id: Option<i64>,
    /// Lifetime, s (default 7 days, at most 30 days).
    pub expires_in_s: Option<u64>,
}

/// An invitation as created: the code is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewInvitation {
    /// Id.
    pub id: i64,
    /// The code to give to the invited person (for `POST /auth/register`).
    pub code: String,
    /// Role.
    pub role: Role,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
}

/// An invitation, listed (without its code).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    /// Id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Athlete record, if any.
    pub athlete_id: Option<i64>,
    /// Created, ms.
    pub created_ms: i64,
    /// Expiry, ms.
    pub expires_ms: i64,
    /// Used, ms.
    pub used_ms: Option<i64>,
    /// Revoked, ms.
    pub revoked_ms: Option<i64>,
    /// `open`, `used`, `revoked` or `expired` (as of the request).
    pub state: InvitationState,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    /// Can still be used to register.
    Open,
    /// Someone registered with it.
    Used,
    /// A gym-admin revoked it.
    Revoked,
    /// Its lifetime ran out.
    Expired,
}

impl InvitationState {
    fn of(used_ms: Option<i64>, revoked_ms: Option<i64>, expires_ms: i64, now_ms: i64) -> Self {
        match (used_ms, revoked_ms) {
            (Some(_), _) => InvitationState::Used,
            (None, Some(_)) => InvitationState::Revoked,
            (None, None) if expires_ms <= now_ms => InvitationState::Expired,
            (None, None) => InvitationState::Open,
        }
    }
}

/// The checks an invitation's body must pass whoever sends it; its lifetime, s.
pub(super) fn invitation_lifetime_s(body: &InvitationRequest) -> Result<u64, ApiError> {
    if body.athlete_id.is_some() && body.role != Role::Athlete {
        return Err(ApiError::bad_request(
            "invalid_invitation",
            "only an athlete invitation names an athlete",
        ));
    }
    Ok(body
        .expires_in_s
        .unwrap_or(7 * 24 * 3600)
        .clamp(60, 30 * 24 * 3600))
}

/// Invite someone into the tenant (gym-admin; coaches may invite athletes).
#[utoipa::path(post, path = "/api/v1/invitations", tag = "tenant",
    request_body = InvitationRequest,
    responses((status = 201, body = NewInvitation), (status = 403, description = "role too low")),
    security(("bearer" = [])))]
pub async fn create_invitation(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<InvitationRequest>,
) -> Result<Response, ApiError> {
    match (p.role, body.role) {
        (Role::GymAdmin, _) | (Role::Coach, Role::Athlete) => {}
        _ => {
            return Err(ApiError::forbidden(
                "your role cannot invite into that role",
            ));
        }
    }
    let lifetime_s = invitation_lifetime_s(&body)?;
    let now = state.now_ms();
    let expires_ms = to_i64(now + lifetime_s * 1000);
    let code = new_refresh_token()
        .ok_or_else(ApiError::internal)?
        .replacen("plr_", "pli_", 1);
    let stored = digest(&code).to_vec();
    let role = body.role;
    let athlete_id = body.athlete_id;
    let id = state
        .write(move |tx| {
            if let Some(athlete) = athlete_id
                && !super::athlete_visible(tx, &p, athlete)?
            {
                return Err(ApiError::not_found("athlete"));
            }
            tx.execute(
                "INSERT INTO invitations (tenant_id, code_sha256, role, athlete_id, created_by, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![p.tenant_row, stored, role.as_str(), athlete_id, p.user_row, to_i64(now), expires_ms],
            )?;
            let id = tx.last_insert_rowid();
            audit(tx, p.tenant_row, Some(p.user_row), "invitation.create", Some(&format!("invitation:{id}")),
                Some(&serde_json::json!({"role": role.as_str()})), now)?;
            Ok(id)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewInvitation {
            id,
            code,
            role,
            expires_ms,
        }),
    )
        .into_response())
}

/// The tenant's invitations (gym-admin).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "tenant",
    responses((status = 200, body = [InvitationView])), security(("bearer" = [])))]
pub async fn list_invitations(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    require_admin(&p)?;
    let now = to_i64(state.now_ms());
    let list = state
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, role, athlete_id, created_ms, expires_ms, used_ms, revoked_ms
                 FROM invitations WHERE tenant_id = ?1 ORDER BY id DESC LIMIT 500",
            )?;
            let rows = stmt
                .query_map(params![p.tenant_row], |r| {
                    let (expires_ms, used_ms, revoked_ms) = (r.get(4)?, r.get(5)?, r.get(6)?);
                    Ok(InvitationView {
                        id: r.get(0)?,
                        role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Athlete),
                        athlete_id: r.get(2)?,
                        created_ms: r.get(3)?,
                        expires_ms,
                        used_ms,
                        revoked_ms,
                        state: InvitationState::of(used_ms, revoked_ms, expires_ms, now),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(list))
}

/// Revoke an invitation so no one can register with it (gym-admin). Revoking a revoked
/// invitation again changes nothing; a used one cannot be revoked (disable the account).
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "tenant",
    params(("id" = i64, Path, description = "invitation id")),
    responses((status = 204, description = "revoked"),
        (status = 403, description = "role too low"),
        (status = 404, description = "no such invitation in this tenant"),
        (status = 409, description = "already used")),
    security(("bearer" = [])))]
pub async fn revoke_invitation(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    let now = state.now_ms();
    state
        .write(move |tx| {
            let found = tx
                .query_row(
                    "SELECT used_ms IS NOT NULL, revoked_ms IS NOT NULL FROM invitations
                     WHERE tenant_id = ?1 AND id = ?2",
                    params![p.tenant_row, id],
                    |r| Ok((r.get::<_, bool>(0)?, r.get::<_, bool>(1)?)),
                )
                .optional()?;
            match found {
                None => Err(ApiError::not_found("invitation")),
                Some((true, _)) => Err(ApiError::conflict(
                    "invitation_used",
                    "the invitation was used already: disable the account instead",
                )),
                Some((false, true)) => Ok(()),
                Some((false, false)) => {
                    tx.execute(
                        "UPDATE invitations SET revoked_ms = ?1 WHERE tenant_id = ?2 AND id = ?3",
                        params![to_i64(now), p.tenant_row, id],
                    )?;
                    audit(
                        tx,
                        p.tenant_row,
                        Some(p.user_row),
                        "invitation.revoke",
                        Some(&format!("invitation:{id}")),
                        None,
                        now,
                    )
                }
            }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether an account can log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Can log in.
    Active,
    /// Disabled by a gym-admin.
    Disabled,
}

/// `GET /users` query: every filter optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Text found in the name or the email (case-insensitive, at most 200 bytes).
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only active or only disabled accounts.
    #[param(inline)]
    pub status: Option<UserStatus>,
    /// Page size, 1–5000 (default 5000).
    pub limit: Option<u32>,
    /// Users to skip (the page's start), at most 1 000 000.
    pub offset: Option<u32>,
}

/// The tenant's users (gym-admin), by id: searched by name or email, filtered by role
/// and status, paged by `limit` and `offset`.
#[utoipa::path(get, path = "/api/v1/users", tag = "tenant", params(UsersQuery),
    responses((status = 200, body = [UserView]), (status = 400, description = "bad query"),
        (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    use rusqlite::types::Value;
    require_admin(&p)?;
    let limit = q.limit.unwrap_or(5000).clamp(1, 5000);
    let offset = q.offset.unwrap_or(0).min(1_000_000);
    let mut sql = String::from(
        "SELECT id, email, name, role, tenant_id, athlete_id, disabled_ms IS NOT NULL
         FROM users WHERE tenant_id = :tenant",
    );
    let mut values: Vec<(&'static str, Value)> = vec![
        (":tenant", Value::Integer(p.tenant_row)),
        (":limit", Value::Integer(i64::from(limit))),
        (":offset", Value::Integer(i64::from(offset))),
    ];
    if let Some(text) = q.q.filter(|t| !t.trim().is_empty()) {
        if text.len() > 200 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "q: at most 200 characters",
            ));
        }
        sql.push_str(
            " AND (instr(lower(email), lower(:q)) > 0 OR instr(lower(name), lower(:q)) > 0)",
        );
        values.push((":q", Value::Text(text.trim().to_owned())));
    }
    if let Some(role) = q.role {
        sql.push_str(" AND role = :role");
        values.push((":role", Value::Text(role.as_str().to_owned())));
    }
    match q.status {
        Some(UserStatus::Active) => sql.push_str(" AND disabled_ms IS NULL"),
        Some(UserStatus::Disabled) => sql.push_str(" AND disabled_ms IS NOT NULL"),
        None => {}
    }
    sql.push_str(" ORDER BY id LIMIT :limit OFFSET :offset");
    let users = state
        .read(move |conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(super::named(&values).as_slice(), |r| {
                    Ok(UserView {
                        id: r.get(0)?,
                        email: r.get(1)?,
                        name: r.get(2)?,
                        role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Athlete),
                        tenant_id: r.get(4)?,
                        athlete_id: r.get(5)?,
                        disabled: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(users))
}

/// `PATCH /users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// A new role (an athlete account stays tied to its athlete record).
    pub role: Option<Role>,
    /// Disable (true) or enable (false) the account; disabling ends its logins.
    pub disabled: Option<bool>,
}

/// Change a user's role or disable the account (gym-admin; not yourself).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "tenant",
    params(("id" = i64, Path, description = "user id")),
    request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 404, description = "no such user in this tenant")),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    require_admin(&p)?;
    if id == p.user_row {
        return Err(ApiError::bad_request(
            "own_account",
            "a gym-admin cannot change their own account here",
        ));
    }
    let now = state.now_ms();
    let user = state
        .write(move |tx| {
            let exists = tx
                .query_row(
                    "SELECT id FROM users WHERE tenant_id = ?1 AND id = ?2",
                    params![p.tenant_row, id],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(ApiError::not_found("user"));
            }
            if let Some(role) = body.role {
                tx.execute(
                    "UPDATE users SET role = ?1 WHERE tenant_id = ?2 AND id = ?3",
                    params![role.as_str(), p.tenant_row, id],
                )?;
            }
            if let Some(disabled) = body.disabled {
                tx.execute(
                    "UPDATE users SET disabled_ms = CASE WHEN ?1 THEN ?2 ELSE NULL END
                     WHERE tenant_id = ?3 AND id = ?4",
                    params![disabled, to_i64(now), p.tenant_row, id],
                )?;
                if disabled {
                    tx.execute(
                        "UPDATE auth_families SET revoked_ms = ?1, revoked_why = 'account disabled'
                         WHERE user_id = ?2 AND revoked_ms IS NULL",
                        params![to_i64(now), id],
                    )?;
                }
            }
            audit(tx, p.tenant_row, Some(p.user_row), "user.update", Some(&format!("user:{id}")),
                Some(&serde_json::json!({"role": body.role.map(Role::as_str), "disabled": body.disabled})), now)?;
            Ok(user_view(tx, id)?.0)
        })
        .await?;
    state.forget_logins();
    Ok(Json(user))
}

/// `GET /audit` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries with ids below this (the `next_before_id` of the previous page).
    pub before_id: Option<i64>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<u32>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<super::privacy::AuditRecord>,
    /// Pass as `before_id` for the next page; absent at the end.
    pub next_before_id: Option<i64>,
}

/// The tenant's audit log (gym-admin), paged by `before_id`: the same reading as
/// `GET /admin/audit` without its filters (which the console's Audit page uses).
#[utoipa::path(get, path = "/api/v1/audit", tag = "tenant", params(AuditQuery),
    responses((status = 200, body = AuditPage)), security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    require_admin(&p)?;
    let search = super::privacy::AuditSearch {
        cursor: q.before_id,
        limit: q.limit,
        ..super::privacy::AuditSearch::default()
    };
    let results = super::privacy::audit_results(&state, p.tenant_row, search).await?;
    Ok(Json(AuditPage {
        items: results.items,
        next_before_id: results.next_cursor,
    }))
}
