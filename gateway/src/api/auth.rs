//! `/auth`: register, login, refresh, logout, me.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiState, Auth, audit};
use crate::accounts::Role;
use crate::accounts::password::{hash_password, policy_violation, verify_dummy, verify_password};
use crate::accounts::tokens::{AUDIENCE, Claims, ISSUER, REFRESH_TTL_S, digest, new_refresh_token};
use crate::store::{ensure_athlete, to_i64};

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Login email (compared case-insensitively).
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    /// Display name.
    pub name: String,
    /// A new gym or team of this name, with the registrant as its gym-admin.
    pub tenant: Option<String>,
    /// An invitation code, to join an existing tenant in the invited role.
    pub invitation: Option<String>,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// A user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Tenant id.
    pub tenant_id: i64,
    /// For an athlete user: their athlete id.
    pub athlete_id: Option<i64>,
    /// Whether the account is disabled.
    pub disabled: bool,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    /// Id.
    pub id: i64,
    /// The slug devices use in their topics.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// A token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Bearer token for API requests.
    pub access_token: String,
    /// Use once at `POST /auth/refresh` for the next pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The user.
    pub user: UserView,
    /// Their tenant.
    pub tenant: TenantView,
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: UserView,
    /// Their tenant.
    pub tenant: TenantView,
    /// When a gym-admin is viewing as this user (read-only): who, and until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_by: Option<super::impersonation::ImpersonatedBy>,
}

pub(super) fn user_view(
    conn: &Connection,
    user_row: i64,
) -> Result<(UserView, TenantView), ApiError> {
    let found = conn
        .query_row(
            "SELECT u.id, u.email, u.name, u.role, u.tenant_id, u.athlete_id, u.disabled_ms IS NOT NULL,
                    t.slug, t.name
             FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = ?1",
            params![user_row],
            |row| {
                Ok((
                    UserView {
                        id: row.get(0)?,
                        email: row.get(1)?,
                        name: row.get(2)?,
                        role: Role::parse(&row.get::<_, String>(3)?).unwrap_or(Role::Athlete),
                        tenant_id: row.get(4)?,
                        athlete_id: row.get(5)?,
                        disabled: row.get(6)?,
                    },
                    TenantView {
                        id: row.get(4)?,
                        slug: row.get(7)?,
                        name: row.get(8)?,
                    },
                ))
            },
        )
        .optional()?;
    found.ok_or_else(|| ApiError::not_found("user"))
}

/// A registration's fields as checked before anything is stored.
pub(super) struct CheckedRegistration {
    /// The normalised email.
    pub email: String,
    /// The display name, trimmed.
    pub name: String,
    /// The new tenant's name (`None`: joining by invitation).
    pub tenant_name: Option<String>,
}

/// The checks `register` makes on its body before it touches the database.
pub(super) fn check_registration(body: &RegisterRequest) -> Result<CheckedRegistration, ApiError> {
    let email = normalize_email(&body.email)?;
    let name = check_name(&body.name, "name")?;
    if let Some(why) = policy_violation(&body.password) {
        return Err(ApiError::bad_request("weak_password", why));
    }
    let tenant_name = match (&body.tenant, &body.invitation) {
        (Some(t), None) => Some(check_name(t, "tenant")?),
        (None, Some(_)) => None,
        _ => {
            return Err(ApiError::bad_request(
                "tenant_or_invitation",
                "give either `tenant` (to create a gym) or `invitation` (to join one)",
            ));
        }
    };
    Ok(CheckedRegistration {
        email,
        name,
        tenant_name,
    })
}

fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(ApiError::bad_request(
            "invalid_email",
            "that is not an email address",
        ))
    }
}

/// A display name: 1 to 100 characters, no control characters.
pub fn check_name(name: &str, what: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("{what} must have 1 to 100 characters and no control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The topic-safe slug of a tenant name: lowercase letters, digits and dashes.
pub fn tenant_slug(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    paceline_schemas::TenantId::new(slug.clone())
        .ok()
        .map(|_| slug)
}

/// Opens a login: a token family, its first refresh token, and an access token.
pub(super) fn open_login(
    state: &ApiState,
    conn: &Connection,
    user_row: i64,
    now_ms: u64,
) -> Result<TokenPair, ApiError> {
    conn.execute(
        "INSERT INTO auth_families (user_id, created_ms) VALUES (?1, ?2)",
        params![user_row, to_i64(now_ms)],
    )?;
    let family = conn.last_insert_rowid();
    issue_pair(state, conn, user_row, family, now_ms)
}

fn issue_pair(
    state: &ApiState,
    conn: &Connection,
    user_row: i64,
    family: i64,
    now_ms: u64,
) -> Result<TokenPair, ApiError> {
    let refresh = new_refresh_token().ok_or_else(ApiError::internal)?;
    conn.execute(
        "INSERT INTO refresh_tokens (family_id, token_sha256, issued_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            family,
            digest(&refresh).to_vec(),
            to_i64(now_ms),
            to_i64(now_ms.saturating_add(REFRESH_TTL_S * 1000))
        ],
    )?;
    let (user, tenant) = user_view(conn, user_row)?;
    let now_s = now_ms / 1000;
    let access = state
        .keys
        .issue(&Claims {
            sub: user_row.to_string(),
            tid: user.tenant_id,
            role: user.role,
            fam: family,
            iat: now_s,
            exp: now_s + state.access_ttl_s,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            imp: None,
        })
        .map_err(|_| ApiError::internal())?;
    Ok(TokenPair {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.access_ttl_s,
        user,
        tenant,
    })
}

/// Register an account: with `tenant`, a new gym with you as its gym-admin; with
/// `invitation`, a place in the inviting tenant in the invited role.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses((status = 201, body = TokenPair), (status = 400, description = "invalid input"),
        (status = 409, description = "email or tenant taken"),
        (status = 429, description = "too many registrations from this address")))]
pub async fn register(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    // Every attempt counts, valid or not, before any work: this bounds both Argon2 work
    // and probing which emails have accounts.
    let address = state.address_key(peer.ip(), &headers);
    if let Err(wait) = state.address_registrations.hit(&address) {
        return Err(ApiError::too_many(
            "rate_limited",
            "too many registrations from this address: wait and try again",
            wait,
        ));
    }
    // The cheap checks come before the Argon2 hash; whether the email is taken is read
    // only after it, so a taken email costs the same time as a fresh one.
    let CheckedRegistration {
        email,
        name,
        tenant_name,
    } = check_registration(&body)?;
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    let invitation = body.invitation;
    let now = state.now_ms();
    let api = state.clone();
    let pair = state
        .write(move |tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
                params![email],
                |r| r.get(0),
            )?;
            if taken {
                return Err(ApiError::conflict("email_taken", "an account with this email exists"));
            }
            let (tenant_row, role, athlete_row, invite_row) = if let Some(tenant_name) = tenant_name {
                let slug = tenant_slug(&tenant_name).ok_or_else(|| {
                    ApiError::bad_request("invalid_name", "the tenant name needs letters or digits")
                })?;
                let inserted = tx.execute(
                    "INSERT INTO tenants (slug, name, created_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (slug) DO NOTHING",
                    params![slug, tenant_name, to_i64(now)],
                )?;
                if inserted == 0 {
                    return Err(ApiError::conflict(
                        "tenant_exists",
                        "a tenant of this name exists: ask its gym-admin for an invitation",
                    ));
                }
                (tx.last_insert_rowid(), Role::GymAdmin, None, None)
            } else {
                let code = invitation.unwrap_or_default();
                let found = tx
                    .query_row(
                        "SELECT id, tenant_id, role, athlete_id, revoked_ms IS NOT NULL FROM invitations
                         WHERE code_sha256 = ?1 AND used_ms IS NULL AND expires_ms > ?2",
                        params![digest(&code).to_vec(), to_i64(now)],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, Option<i64>>(3)?,
                                r.get::<_, bool>(4)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((invite_row, tenant_row, role, athlete_row, revoked)) = found else {
                    return Err(ApiError::bad_request(
                        "invalid_invitation",
                        "the invitation is unknown, used or expired",
                    ));
                };
                if revoked {
                    return Err(ApiError::bad_request(
                        "invitation_revoked",
                        "the invitation was revoked: ask the gym for a new one",
                    ));
                }
                tx.execute(
                    "UPDATE invitations SET used_ms = ?1 WHERE id = ?2",
                    params![to_i64(now), invite_row],
                )?;
                let role = Role::parse(&role).ok_or_else(ApiError::internal)?;
                let athlete_row = match (role, athlete_row) {
                    (Role::Athlete, None) => Some(new_athlete_for(tx, tenant_row, &name, now)?),
                    (_, a) => a,
                };
                (tenant_row, role, athlete_row, Some(invite_row))
            };
            tx.execute(
                "INSERT INTO users (tenant_id, email, name, password_hash, role, athlete_id, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![tenant_row, email, name, hash, role.as_str(), athlete_row, to_i64(now)],
            )?;
            let user_row = tx.last_insert_rowid();
            if let Some(invite_row) = invite_row {
                tx.execute(
                    "UPDATE invitations SET used_by = ?1 WHERE id = ?2",
                    params![user_row, invite_row],
                )?;
            }
            audit(tx, tenant_row, Some(user_row), "user.register", Some(&format!("user:{user_row}")),
                Some(&serde_json::json!({"role": role.as_str()})), now)?;
            open_login(&api, tx, user_row, now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(pair)).into_response())
}

/// A new athlete record named after a registering athlete (made unique in the tenant).
fn new_athlete_for(
    conn: &Connection,
    tenant_row: i64,
    name: &str,
    now_ms: u64,
) -> Result<i64, ApiError> {
    let mut candidate = name.to_owned();
    for n in 2..1000 {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM athletes WHERE tenant_id = ?1 AND name = ?2)",
            params![tenant_row, candidate],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(ensure_athlete(conn, tenant_row, &candidate, None, now_ms)?);
        }
        candidate = format!("{name} ({n})");
    }
    Err(ApiError::conflict(
        "name_taken",
        "too many athletes of this name",
    ))
}

/// The account a login names: its row, tenant, password hash, and whether it is refused
/// whatever the password (disabled, or a temporary password past its time).
fn login_record(
    conn: &Connection,
    email: &str,
    now_ms: u64,
) -> rusqlite::Result<Option<(i64, i64, String, bool)>> {
    conn.query_row(
        "SELECT id, tenant_id, password_hash,
                disabled_ms IS NOT NULL OR COALESCE(password_expires_ms <= ?2, 0)
         FROM users WHERE email = ?1",
        params![email, to_i64(now_ms)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
}

/// Log in: a new token pair. Wrong password and unknown account answer alike, in the
/// same time.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong email or password"),
        (status = 429, description = "too many attempts for this account or address")))]
pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let address = state.address_key(peer.ip(), &headers);
    if let Err(wait) = state.address_attempts.hit(&address) {
        return Err(ApiError::too_many(
            "rate_limited",
            "too many login attempts from this address: wait and try again",
            wait,
        ));
    }
    let email = body.email.trim().to_lowercase();
    // The attempt is counted against the account before its password is checked, in the
    // same step as the limit is read: concurrent guesses cannot all pass a check made
    // before any of them was counted. A successful login clears the count.
    if let Err(wait) = state.account_failures.hit(&email) {
        return Err(ApiError::too_many(
            "account_locked",
            "too many failed logins for this account: wait and try again",
            wait,
        ));
    }
    let now = state.now_ms();
    let lookup = email.clone();
    let user = state
        .read(move |conn| Ok(login_record(conn, &lookup, now)?))
        .await?;
    let password = body.password;
    let checked = user.clone();
    state.live.metrics().login_password_checks.inc();
    let ok = tokio::task::spawn_blocking(move || match &checked {
        Some((_, _, hash, disabled)) => verify_password(&password, hash) && !disabled,
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let Some((user_row, tenant_row, _, _)) = user.clone().filter(|_| ok) else {
        state.live.metrics().login_failures.inc();
        if let Some((user_row, tenant_row, _, _)) = user {
            state
                .write(move |tx| {
                    audit(
                        tx,
                        tenant_row,
                        Some(user_row),
                        "login.failed",
                        None,
                        None,
                        now,
                    )
                })
                .await?;
        }
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the email or the password is wrong",
        ));
    };
    state.account_failures.clear(&email);
    let api = state.clone();
    let pair = state
        .write(move |tx| {
            audit(tx, tenant_row, Some(user_row), "login", None, None, now)?;
            open_login(&api, tx, user_row, now)
        })
        .await?;
    Ok(Json(pair))
}

/// Trade a refresh token for a new pair. A token used before revokes its whole login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "unknown, expired or reused refresh token")))]
pub async fn refresh(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let now = state.now_ms();
    let api = state.clone();
    let token_digest = digest(&body.refresh_token).to_vec();
    // The outcome is decided and recorded in one transaction (a reuse must revoke the
    // family even though the request fails).
    let outcome: Result<TokenPair, ApiError> = state
        .write(move |tx| {
            let found = tx
                .query_row(
                    "SELECT r.id, r.family_id, r.used_ms IS NOT NULL, r.expires_ms, f.revoked_ms IS NOT NULL,
                            f.user_id, u.tenant_id, u.disabled_ms IS NOT NULL
                     FROM refresh_tokens r JOIN auth_families f ON f.id = r.family_id
                     JOIN users u ON u.id = f.user_id
                     WHERE r.token_sha256 = ?1",
                    params![token_digest],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, bool>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, bool>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                            r.get::<_, bool>(7)?,
                        ))
                    },
                )
                .optional()?;
            let invalid = || {
                ApiError::unauthorized("invalid_refresh_token", "the refresh token is not valid: log in again")
            };
            let Some((row, family, used, expires_ms, family_revoked, user_row, tenant_row, disabled)) = found
            else {
                return Ok(Err(invalid()));
            };
            if family_revoked || disabled || expires_ms <= to_i64(now) {
                return Ok(Err(invalid()));
            }
            let claimed = tx.execute(
                "UPDATE refresh_tokens SET used_ms = ?1 WHERE id = ?2 AND used_ms IS NULL",
                params![to_i64(now), row],
            )?;
            if used || claimed == 0 {
                tx.execute(
                    "UPDATE auth_families SET revoked_ms = ?1, revoked_why = 'refresh token reused'
                     WHERE id = ?2 AND revoked_ms IS NULL",
                    params![to_i64(now), family],
                )?;
                audit(tx, tenant_row, Some(user_row), "auth.refresh_reuse_detected",
                    Some(&format!("family:{family}")), None, now)?;
                tracing::warn!(family, "a refresh token was used twice: its login is revoked");
                return Ok(Err(ApiError::unauthorized(
                    "refresh_token_reused",
                    "this refresh token was already used: the login is revoked, log in again",
                )));
            }
            Ok(issue_pair(&api, tx, user_row, family, now))
        })
        .await?;
    if outcome.is_err() {
        // A reuse revoked a login (an invalid token changed nothing; forgetting is cheap).
        state.forget_logins();
    }
    outcome.map(Json)
}

/// End this login: its refresh tokens and access tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out")), security(("bearer" = [])))]
pub async fn logout(State(state): State<ApiState>, Auth(p): Auth) -> Result<StatusCode, ApiError> {
    let now = state.now_ms();
    state
        .write(move |tx| {
            tx.execute(
                "UPDATE auth_families SET revoked_ms = ?1, revoked_why = 'logout'
                 WHERE id = ?2 AND user_id = ?3 AND revoked_ms IS NULL",
                params![to_i64(now), p.family_row, p.user_row],
            )?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "logout",
                None,
                None,
                now,
            )
        })
        .await?;
    state.forget_logins();
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account and tenant.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = MeView)), security(("bearer" = [])))]
pub async fn me(State(state): State<ApiState>, Auth(p): Auth) -> Result<Json<MeView>, ApiError> {
    me_view(&state, p).await
}

/// Who you are (the same as `GET /api/v1/auth/me`); `impersonated_by` says a gym-admin
/// is viewing as you, read-only.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeView), (status = 401, description = "not logged in")),
    security(("bearer" = [])))]
pub async fn me_here(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<MeView>, ApiError> {
    me_view(&state, p).await
}

async fn me_view(
    state: &ApiState,
    p: crate::accounts::Principal,
) -> Result<Json<MeView>, ApiError> {
    let (user, tenant, impersonated_by) = state
        .read(move |conn| {
            let (user, tenant) = user_view(conn, p.user_row)?;
            let by = super::impersonation::impersonated_by(conn, &p)?;
            Ok((user, tenant, by))
        })
        .await?;
    Ok(Json(MeView {
        user,
        tenant,
        impersonated_by,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs_are_topic_safe() {
        assert_eq!(
            tenant_slug("Riverside Gym!").as_deref(),
            Some("riverside-gym")
        );
        assert_eq!(tenant_slug("  ÄBC  12 ").as_deref(), Some("bc-12"));
        assert_eq!(tenant_slug("!!!"), None);
    }

    #[test]
    fn a_disabled_account_or_an_expired_temporary_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::prepare_data_dir(dir.path()).unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let tenant = paceline_schemas::TenantId::new("gym".to_owned()).unwrap();
        let refused = |set: &str| {
            let set = set.to_owned();
            store
                .write(|tx| -> Result<_, crate::store::StoreError> {
                    if tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? == 0
                    {
                        let tenant_row = crate::store::ensure_tenant(tx, &tenant, 0)?;
                        crate::store::add_user(
                            tx,
                            tenant_row,
                            "a@b.example",
                            "A",
                            "hash",
                            "coach",
                            None,
                            0,
                        )?;
                    }
                    tx.execute(&format!("UPDATE users SET {set}"), [])?;
                    Ok(login_record(tx, "a@b.example", 1_000)?.map(|found| found.3))
                })
                .unwrap()
        };
        assert_eq!(
            refused("password_expires_ms = NULL, disabled_ms = NULL"),
            Some(false)
        );
        assert_eq!(refused("password_expires_ms = 1001"), Some(false));
        assert_eq!(refused("password_expires_ms = 1000"), Some(true));
        assert_eq!(
            refused("password_expires_ms = NULL, disabled_ms = 5"),
            Some(true)
        );
        assert_eq!(
            store
                .read(|conn| Ok(login_record(conn, "nobody@b.example", 1_000)?))
                .unwrap(),
            None
        );
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email(" A@B.example ").unwrap(), "a@b.example");
        assert!(normalize_email("nobody").is_err());
        assert!(normalize_email("a b@c").is_err());
    }
}
