//! Provider sync's routes: an athlete's connections (connect with OAuth, the provider's
//! callback, sync now, disconnect, status) and the admin's view of the job runner's dead
//! letters. The runner and the provider calls are [`crate::jobs::sync`]'s, the SQL
//! [`crate::store::sync`]'s; these handlers parse, check the athlete is visible to the
//! caller (another tenant's, or an unlinked coach's, is 404) and answer.
//!
//! The OAuth `state` is 256 random bits, stored by its SHA-256, bound to the user who
//! asked for the authorize URL (the callback needs that user's token), single use and
//! valid 10 minutes. Tokens are sealed with the server key and never logged.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use paceline_sync::garmin::{MAX_USER_BODY_BYTES, USER_ID_PATH, backfill_paths, parse_user_id};
use paceline_sync::jobs::SummaryType;
use paceline_sync::jobs::{self, Job};
use paceline_sync::oauth::{
    DeauthorizeRequest, OAuthState, PKCE_RANDOM_BYTES, PendingState, PkceVerifier, ProviderConfig,
    STATE_RANDOM_BYTES, Secret,
};
use paceline_sync::strava::ActivityPager;
use paceline_sync::{ConnectionStatus, Provider};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, LiveAuth, athlete_visible, audit,
    require_admin,
};
use crate::accounts::Principal;
use crate::jobs::sync::{ProviderSync, open_tokens, post_token, seal_tokens};
use crate::outbound::Method;
use crate::store::sync::{self as rows, ConnectionRow, JobRow};

/// The most jobs `GET /admin/jobs` lists.
const MAX_JOBS_LISTED: usize = 500;

fn sync_of(state: &ApiState) -> Result<std::sync::Arc<ProviderSync>, ApiError> {
    state.sync.clone().ok_or_else(|| {
        // A 4xx: the request names something this server does not offer (no provider
        // app is configured), not a failure of the server.
        ApiError::new(
            StatusCode::NOT_FOUND,
            "sync_not_configured",
            "provider sync is not configured on this server (PACELINE_STRAVA_CLIENT_ID, …)",
        )
    })
}

/// The provider of a path, if it is one this server is configured for.
fn provider_of(state: &ApiState, name: &str) -> Result<Provider, ApiError> {
    let sync = sync_of(state)?;
    match Provider::parse(name) {
        Some(p) if sync.settings.providers().contains(&p) => Ok(p),
        Some(_) => Err(ApiError::bad_request(
            "provider_not_configured",
            format!("provider: {name} is not configured on this server"),
        )),
        None => Err(ApiError::not_found("provider")),
    }
}

/// The OAuth endpoints of a configured provider.
fn config_of(sync: &ProviderSync, provider: Provider) -> Result<&ProviderConfig, ApiError> {
    match provider {
        Provider::Strava => sync.settings.strava.as_ref().map(|s| &s.config),
        Provider::Garmin => sync.settings.garmin.as_ref().map(|g| &g.config),
    }
    .ok_or_else(ApiError::internal)
}

/// The name a pending connect's PKCE verifier is sealed under (its state's digest).
fn pkce_seal_name(digest: &[u8; 32]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("oauth-pkce:{hex}")
}

fn visible(conn: &rusqlite::Connection, p: &Principal, athlete_row: i64) -> Result<(), ApiError> {
    if athlete_visible(conn, p, athlete_row)? {
        Ok(())
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// `POST /connections/{provider}` and `POST /connections/{provider}/sync`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    /// The athlete whose library the connection fills.
    pub athlete_id: i64,
}

/// Where to send the browser.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// The provider's authorize page, with `state` and the exact redirect URI.
    pub authorize_url: String,
    /// What the connection may read, to show before sending the browser there.
    pub permissions: Vec<Permission>,
}

/// One permission a provider connection asks for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Permission {
    /// As the provider names it (`activity:read_all`).
    pub scope: &'static str,
    /// In plain words.
    pub meaning: &'static str,
}

/// Begin connecting an athlete's provider account: the authorize URL to send the browser
/// to (its `state` is single use, bound to the caller, valid 10 minutes) and what the
/// connection may read, in plain words, to show first.
#[utoipa::path(post, path = "/api/v1/connections/{provider}", tag = "sync",
    params(("provider" = String, Path, description = "strava")),
    request_body = ConnectBody,
    responses((status = 200, body = AuthorizeUrl),
        (status = 404, description = "athlete not visible, or sync not configured on this server (`sync_not_configured`)")),
    security(("bearer" = [])))]
pub async fn connect(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<ConnectBody>,
) -> Result<Json<AuthorizeUrl>, ApiError> {
    let provider = provider_of(&state, &provider)?;
    let sync = sync_of(&state)?;
    let config = config_of(&sync, provider)?;
    let mut bytes = [0u8; STATE_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
    let oauth_state = OAuthState::from_random_bytes(bytes);
    let verifier = if config.pkce {
        let mut bytes = [0u8; PKCE_RANDOM_BYTES];
        getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
        Some(PkceVerifier::from_random_bytes(bytes))
    } else {
        None
    };
    let url = config
        .authorize_url(
            &sync.settings.redirect_uri(provider),
            &oauth_state,
            verifier.as_ref(),
        )
        .map_err(|_| ApiError::internal())?;
    let digest: [u8; 32] = Sha256::digest(oauth_state.as_str().as_bytes()).into();
    let pkce_sealed = match &verifier {
        Some(v) => Some(
            state
                .live
                .store()
                .server_key()
                .seal_secret(&pkce_seal_name(&digest), v.as_str().as_bytes())
                .map_err(crate::store::StoreError::from)?,
        ),
        None => None,
    };
    let now_s = crate::store::to_i64(state.now_ms() / 1000);
    state
        .write(move |tx| {
            visible(tx, &p, body.athlete_id)?;
            rows::add_oauth_state(
                tx,
                p.tenant_row,
                &digest,
                p.user_row,
                body.athlete_id,
                provider,
                now_s,
                now_s - paceline_sync::oauth::STATE_TTL_S,
                pkce_sealed.as_deref(),
            )?;
            Ok(())
        })
        .await?;
    let permissions = provider
        .permissions()
        .iter()
        .map(|&(scope, meaning)| Permission { scope, meaning })
        .collect();
    Ok(Json(AuthorizeUrl {
        authorize_url: url,
        permissions,
    }))
}

/// The provider's redirect back.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` the authorize URL carried.
    pub state: Option<String>,
    /// The provider's error (`access_denied` when the athlete said no).
    pub error: Option<String>,
    /// The scopes granted (Strava).
    pub scope: Option<String>,
}

/// A connection, as its athlete and the staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// The athlete.
    pub athlete_id: i64,
    /// `strava`.
    pub provider: String,
    /// `connected`, `needs_reauth` (connect again), `revoked`.
    pub status: String,
    /// The last sync that finished, ms since the epoch.
    pub last_sync_ms: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// Jobs of this connection waiting or running.
    pub pending_jobs: i64,
    /// Activity copies from this provider in the athlete's library.
    pub activities_imported: i64,
    /// The provider app's quota as its last answer told it (shared by every connection
    /// to that provider); `null` before the first answer.
    pub quota: Option<QuotaView>,
}

/// A provider app's rate-limit quota.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuotaView {
    /// `strava`.
    pub provider: String,
    /// Requests made in this 15-minute window (`X-RateLimit-Usage`, or the read-specific
    /// header when it is the fuller one).
    pub short_usage: u32,
    /// Requests allowed per 15 minutes.
    pub short_limit: u32,
    /// Requests made today (UTC).
    pub daily_usage: u32,
    /// Requests allowed per day.
    pub daily_limit: u32,
    /// The highest share of any window used, %.
    pub used_percent: Option<u64>,
    /// When it was seen, s since the epoch.
    pub seen_s: i64,
    /// Sync of this provider is paused until then (over 80 % of a window, or a 429), s.
    pub paused_until_s: Option<i64>,
}

pub(super) fn quota_view(sync: &ProviderSync, provider: Provider) -> Option<QuotaView> {
    let seen = sync.quota(provider)?;
    let limits = seen.limits;
    // The fuller of the overall and the read window.
    let share = |w: &paceline_sync::rate_limit::WindowUsage| {
        (u64::from(w.short_usage) * 1000)
            .checked_div(u64::from(w.short_limit))
            .unwrap_or(0)
            .max(
                (u64::from(w.daily_usage) * 1000)
                    .checked_div(u64::from(w.daily_limit))
                    .unwrap_or(0),
            )
    };
    let window = [limits.overall, limits.read]
        .into_iter()
        .flatten()
        .max_by_key(share);
    Some(QuotaView {
        provider: provider.as_str().to_owned(),
        short_usage: window.map_or(0, |w| w.short_usage),
        short_limit: window.map_or(0, |w| w.short_limit),
        daily_usage: window.map_or(0, |w| w.daily_usage),
        daily_limit: window.map_or(0, |w| w.daily_limit),
        used_percent: limits.used_percent(),
        seen_s: seen.seen_s,
        paused_until_s: seen.paused_until_s,
    })
}

fn connection_view(row: ConnectionRow, pending_jobs: i64, imported: i64) -> ConnectionView {
    ConnectionView {
        activities_imported: imported,
        athlete_id: row.athlete_row,
        provider: row.provider,
        status: row.status,
        last_sync_ms: row.last_sync_ms,
        last_error: row.last_error,
        pending_jobs,
        quota: None,
    }
}

/// The provider redirects the browser here with `code` and `state`: the code is traded for
/// tokens (sealed at rest), the connection stored and a backfill queued. Needs the token of
/// the user who began the connect. A browser arriving from the provider sends no token
/// (the web UI keeps it in `sessionStorage`): it is sent on, with the same query, to the
/// Connections page (`303` to `/connections?provider=…&code=…&state=…`), whose script
/// calls this route again with the logged-in user's token, so the state stays bound to
/// that user.
#[utoipa::path(get, path = "/api/v1/connections/{provider}/callback", tag = "sync",
    params(("provider" = String, Path, description = "strava or garmin"), CallbackQuery),
    responses((status = 200, body = ConnectionView),
        (status = 303, description = "no Authorization header (a browser back from the provider): on to the Connections page"),
        (status = 400, description = "bad, used or expired state; provider refused")),
    security(("bearer" = [])))]
pub async fn callback(
    State(state): State<ApiState>,
    LiveAuth(caller): LiveAuth,
    ApiPath(provider): ApiPath<String>,
    RawQuery(raw): RawQuery,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let provider = provider_of(&state, &provider)?;
    let Some((p, _)) = caller else {
        let mut page = format!("/connections?provider={}", provider.as_str());
        if let Some(raw) = raw.filter(|r| r.len() <= 4096) {
            page.push('&');
            page.push_str(&raw);
        }
        return Ok(Redirect::to(&page).into_response());
    };
    complete(state, p, provider, q)
        .await
        .map(IntoResponse::into_response)
}

/// The callback with the caller's token: trades the code and stores the connection.
async fn complete(
    state: ApiState,
    p: Principal,
    provider: Provider,
    q: CallbackQuery,
) -> Result<Json<ConnectionView>, ApiError> {
    let sync = sync_of(&state)?;
    let presented = OAuthState::parse(q.state.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_state", format!("state: {e}")))?;
    let digest: [u8; 32] = Sha256::digest(presented.as_str().as_bytes()).into();
    let tenant = p.tenant_row;
    let pending = state
        .write(move |tx| Ok(rows::take_oauth_state(tx, tenant, &digest)?))
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid_state", "state: unknown or already used"))?;
    let row_provider = Provider::parse(&pending.provider).ok_or_else(ApiError::internal)?;
    let verifier = match &pending.pkce_verifier_sealed {
        Some(sealed) => {
            let plain = state
                .live
                .store()
                .server_key()
                .open_secret(&pkce_seal_name(&digest), sealed)
                .map_err(crate::store::StoreError::from)?;
            let text = String::from_utf8(plain.to_vec()).map_err(|_| ApiError::internal())?;
            Some(PkceVerifier::parse(&text).map_err(|_| ApiError::internal())?)
        }
        None => None,
    };
    PendingState {
        state: presented.clone(),
        user_id: pending.user_row,
        athlete_id: pending.athlete_row,
        provider: row_provider,
        pkce_verifier: verifier.clone(),
        created_at_s: pending.created_s,
    }
    .check(
        &presented,
        p.user_row,
        provider,
        crate::store::to_i64(state.now_ms() / 1000),
    )
    .map_err(|e| ApiError::bad_request("invalid_state", format!("state: {e}")))?;
    if let Some(error) = q.error {
        let error: String = error.chars().take(100).collect();
        return Err(ApiError::bad_request(
            "provider_refused",
            format!("the provider answered {error}: the athlete did not connect"),
        ));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 512)
        .ok_or_else(|| ApiError::bad_request("invalid_field", "code: missing"))?;
    let request = config_of(&sync, provider)?
        .code_request(
            &code,
            &sync.settings.redirect_uri(provider),
            verifier.as_ref(),
        )
        .map_err(|_| ApiError::internal())?;
    let now_s = crate::store::to_i64(state.now_ms() / 1000);
    let tokens = post_token(&sync, &request, now_s)
        .await
        .map_err(|outcome| {
            tracing::warn!(provider = provider.as_str(), "a token exchange failed");
            let why = match outcome {
                jobs::Outcome::Transient(e)
                | jobs::Outcome::Permanent(e)
                | jobs::Outcome::NeedsReauth(e) => e,
                _ => "no tokens".to_owned(),
            };
            ApiError::new(StatusCode::BAD_GATEWAY, "provider_failed", why)
        })?;
    // Garmin's token answer names no user: its user id comes from the Health API.
    let provider_user_id = match provider {
        Provider::Strava => tokens.provider_user_id.clone(),
        Provider::Garmin => Some(garmin_user_id(&sync, &tokens.access_token).await?),
    };
    let athlete = pending.athlete_row;
    let seal_name = rows::tokens_seal_name(p.tenant_row, athlete, provider);
    let sealed = seal_tokens(state.live.store(), &seal_name, &tokens)?;
    let now_ms = state.now_ms();
    let backfill_days = sync.settings.backfill_days;
    let view = state
        .write(move |tx| {
            // The athlete may have become invisible in the 10 minutes.
            visible(tx, &p, athlete)?;
            let id = rows::upsert_connection(
                tx,
                p.tenant_row,
                athlete,
                p.user_row,
                provider,
                provider_user_id.as_deref(),
                &sealed,
                tokens.expires_at_s,
                now_ms,
            )?;
            // Garmin pushes and pings what is new; Strava is asked for the backfill.
            let pending_jobs = if provider == Provider::Strava {
                let job = Job::SyncActivities {
                    connection_id: id,
                    pager: ActivityPager::backfill(now_s, backfill_days),
                };
                rows::enqueue_job(tx, p.tenant_row, &job, now_s, now_ms)?;
                1
            } else {
                0
            };
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "connection.connect",
                Some(&format!("athlete:{athlete}")),
                Some(&json!({"provider": provider.as_str()})),
                now_ms,
            )?;
            let row = rows::connection(tx, p.tenant_row, id)?.ok_or_else(ApiError::internal)?;
            let imported = rows::imported_copies(tx, p.tenant_row, athlete, provider)?;
            Ok(connection_view(row, pending_jobs, imported))
        })
        .await?;
    sync.wake();
    if provider == Provider::Garmin {
        tokio::spawn(request_garmin_backfill(
            std::sync::Arc::clone(&sync),
            tokens.access_token.clone(),
            now_s,
        ));
    }
    Ok(Json(view))
}

/// Asks Garmin for the backfill window's summaries of a new connection (every summary
/// type, in 90-day ranges); Garmin answers 202 and sends them later as pushes or pings.
/// Best effort: a refusal is logged, the connection works without it.
async fn request_garmin_backfill(sync: std::sync::Arc<ProviderSync>, access: Secret, now_s: i64) {
    let Some(garmin) = sync.settings.garmin.as_ref() else {
        return;
    };
    let start_s = now_s - i64::from(sync.settings.backfill_days) * 86_400;
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", access.expose()));
    for summary in SummaryType::ALL {
        for path in backfill_paths(summary, start_s, now_s) {
            let answer = sync
                .outbound()
                .call(
                    Method::Get,
                    &format!("{}{path}", garmin.api_base_url),
                    &[("authorization", bearer.as_str())],
                    None,
                    4096,
                )
                .await;
            if !answer
                .as_ref()
                .is_ok_and(|a| (200..300).contains(&a.status))
            {
                tracing::warn!(
                    summary = summary.as_str(),
                    "a Garmin backfill request was not accepted"
                );
            }
        }
    }
}

/// The Garmin user id of an access token (`GET /wellness-api/rest/user/id`).
async fn garmin_user_id(sync: &ProviderSync, access: &Secret) -> Result<String, ApiError> {
    let garmin = sync
        .settings
        .garmin
        .as_ref()
        .ok_or_else(ApiError::internal)?;
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", access.expose()));
    let failed = |why: String| ApiError::new(StatusCode::BAD_GATEWAY, "provider_failed", why);
    let answer = sync
        .outbound()
        .call(
            Method::Get,
            &format!("{}{USER_ID_PATH}", garmin.api_base_url),
            &[("authorization", bearer.as_str())],
            None,
            MAX_USER_BODY_BYTES,
        )
        .await
        .map_err(|e| failed(format!("Garmin's user id: {e}")))?;
    if !(200..300).contains(&answer.status) {
        return Err(failed(format!(
            "Garmin's user id answered {}",
            answer.status
        )));
    }
    parse_user_id(&answer.body).map_err(|e| failed(format!("Garmin's user id: {e}")))
}

/// The caller's visible connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connections {
    /// By athlete and provider.
    pub connections: Vec<ConnectionView>,
    /// The providers this server offers (configured with a client id), each with its
    /// app's quota; a provider not listed cannot be connected here.
    pub offered: Vec<OfferedProvider>,
}

/// A provider this server is configured for.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferedProvider {
    /// `strava`, `garmin`.
    pub provider: String,
    /// The app's quota as last seen (`null` before the first answer).
    pub quota: Option<QuotaView>,
}

fn pending_of(jobs: &[JobRow], connection_id: i64) -> i64 {
    let key = Job::SyncActivities {
        connection_id,
        pager: ActivityPager::backfill(0, 1),
    }
    .dedup_key();
    let count = jobs
        .iter()
        .filter(|j| {
            matches!(j.state.as_str(), "queued" | "retry" | "running")
                && Job::from_payload(&j.payload).is_ok_and(|job| job.dedup_key() == key)
        })
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The provider connections of the athletes the caller may see: status (`connected`,
/// `needs_reauth`, `revoked`), last sync, last error, jobs pending, the provider app's
/// quota (15-minute and daily usage and limit, and the pause it causes).
#[utoipa::path(get, path = "/api/v1/connections", tag = "sync",
    responses((status = 200, body = Connections)),
    security(("bearer" = [])))]
pub async fn list_connections(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Connections>, ApiError> {
    let connections = state
        .read(move |conn| {
            let jobs = rows::tenant_jobs(conn, p.tenant_row, None, MAX_JOBS_LISTED)?;
            let mut out = Vec::new();
            for row in rows::tenant_connections(conn, p.tenant_row)? {
                if athlete_visible(conn, &p, row.athlete_row)? {
                    let pending = pending_of(&jobs, row.id);
                    let imported = Provider::parse(&row.provider).map_or(Ok(0), |provider| {
                        rows::imported_copies(conn, p.tenant_row, row.athlete_row, provider)
                    })?;
                    out.push(connection_view(row, pending, imported));
                }
            }
            Ok(out)
        })
        .await?;
    let connections = connections
        .into_iter()
        .map(|mut view| {
            if let (Some(sync), Some(provider)) = (&state.sync, Provider::parse(&view.provider)) {
                view.quota = quota_view(sync, provider);
            }
            view
        })
        .collect();
    let offered = state.sync.as_ref().map_or_else(Vec::new, |sync| {
        sync.settings
            .providers()
            .iter()
            .map(|&provider| OfferedProvider {
                provider: provider.as_str().to_owned(),
                quota: quota_view(sync, provider),
            })
            .collect()
    });
    Ok(Json(Connections {
        connections,
        offered,
    }))
}

/// A queued job.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The job's row.
    pub job_id: i64,
    /// Whether it was added (`false`: the same work was already waiting).
    pub added: bool,
}

/// Sync now: a delta after the newest activity synced (a backfill if none was).
#[utoipa::path(post, path = "/api/v1/connections/{provider}/sync", tag = "sync",
    params(("provider" = String, Path, description = "strava")),
    request_body = ConnectBody,
    responses((status = 202, body = Queued), (status = 404, description = "no such connection"),
        (status = 409, description = "the connection needs reauthorization")),
    security(("bearer" = [])))]
pub async fn sync_now(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<ConnectBody>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let provider = provider_of(&state, &provider)?;
    let sync = sync_of(&state)?;
    if provider != Provider::Strava {
        return Err(ApiError::bad_request(
            "pushed_by_provider",
            "provider: Garmin sends what is new itself (push and ping); there is nothing to ask for",
        ));
    }
    let now_ms = state.now_ms();
    let now_s = crate::store::to_i64(now_ms / 1000);
    let backfill_days = sync.settings.backfill_days;
    let queued = state
        .write(move |tx| {
            visible(tx, &p, body.athlete_id)?;
            let row = rows::athlete_connection(tx, p.tenant_row, body.athlete_id, provider)?
                .ok_or_else(|| ApiError::not_found("connection"))?;
            if row.status != ConnectionStatus::Connected.as_str() {
                return Err(ApiError::conflict(
                    "needs_reauth",
                    format!("the connection is {}: connect again", row.status),
                ));
            }
            let pager = match rows::newest_start(tx, p.tenant_row, row.id)? {
                Some(newest) => ActivityPager::delta(newest),
                None => ActivityPager::backfill(now_s, backfill_days),
            };
            let job = Job::SyncActivities {
                connection_id: row.id,
                pager,
            };
            let (job_id, added) = rows::enqueue_job(tx, p.tenant_row, &job, now_s, now_ms)?;
            Ok(Queued { job_id, added })
        })
        .await?;
    sync.wake();
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// `DELETE /connections/{provider}` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AthleteQuery {
    /// The athlete.
    pub athlete_id: i64,
}

/// Disconnect: the provider is told (Strava's deauthorize) and the tokens deleted.
#[utoipa::path(delete, path = "/api/v1/connections/{provider}", tag = "sync",
    params(("provider" = String, Path, description = "strava or garmin"), AthleteQuery),
    responses((status = 204, description = "disconnected"), (status = 404, description = "no such connection")),
    security(("bearer" = [])))]
pub async fn disconnect(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(q): ApiQuery<AthleteQuery>,
) -> Result<StatusCode, ApiError> {
    let provider = provider_of(&state, &provider)?;
    let sync = sync_of(&state)?;
    let athlete = q.athlete_id;
    let reader = p.clone();
    let found = state
        .read(move |conn| {
            visible(conn, &reader, athlete)?;
            Ok(rows::athlete_connection(
                conn,
                reader.tenant_row,
                athlete,
                provider,
            )?)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    if let Some(sealed) = &found.tokens_sealed {
        deauthorize(&state, &sync, p.tenant_row, athlete, provider, sealed).await?;
    }
    let now_ms = state.now_ms();
    state
        .write(move |tx| {
            rows::delete_connection(tx, p.tenant_row, found.id)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "connection.disconnect",
                Some(&format!("athlete:{athlete}")),
                Some(&json!({"provider": provider.as_str()})),
                now_ms,
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the provider the athlete's tokens are withdrawn (Strava's deauthorize); whether
/// it confirmed. Best effort: a token the provider no longer knows is disconnected
/// already, and the caller deletes the tokens whatever it answers.
pub(crate) async fn deauthorize(
    state: &ApiState,
    sync: &ProviderSync,
    tenant_row: i64,
    athlete: i64,
    provider: Provider,
    sealed: &[u8],
) -> Result<bool, ApiError> {
    let Ok(config) = config_of(sync, provider) else {
        return Ok(false);
    };
    let name = rows::tokens_seal_name(tenant_row, athlete, provider);
    let (access, _) = open_tokens(state.live.store(), &name, sealed)?;
    let answer = match config.deauthorize_request(&access) {
        DeauthorizeRequest::Post(form) => {
            sync.outbound()
                .call(
                    Method::Post,
                    &form.url,
                    &[],
                    Some((
                        "application/x-www-form-urlencoded",
                        form.body.expose().to_owned(),
                    )),
                    4096,
                )
                .await
        }
        DeauthorizeRequest::DeleteWithBearer { url, access_token } => {
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", access_token.expose()));
            sync.outbound()
                .call(
                    Method::Delete,
                    &url,
                    &[("authorization", bearer.as_str())],
                    None,
                    4096,
                )
                .await
        }
    };
    // A token the provider no longer knows is disconnected already: the tokens go
    // whatever it answers.
    let confirmed = answer
        .as_ref()
        .is_ok_and(|a| (200..300).contains(&a.status));
    if !confirmed {
        tracing::warn!(
            provider = provider.as_str(),
            "deauthorize was not confirmed"
        );
    }
    Ok(confirmed)
}

/// `GET /admin/jobs` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct JobsQuery {
    /// Only jobs in this state: `queued`, `running`, `done`, `retry`, `dead`.
    pub state: Option<String>,
}

/// A sync job, as the admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Its row.
    pub id: i64,
    /// `strava`, `garmin`.
    pub provider: String,
    /// `sync_activities`, `fetch_activity`, …
    pub kind: String,
    /// `queued`, `running`, `done`, `retry`, `dead`.
    pub state: String,
    /// Runs spent (at most 5).
    pub attempts: u32,
    /// When it runs (again), s since the epoch.
    pub run_at_s: i64,
    /// Why the last run failed.
    pub last_error: Option<String>,
}

/// The tenant's sync jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jobs {
    /// Newest first, at most 500.
    pub jobs: Vec<JobView>,
    /// Each provider app's quota as last seen: `paused_until_s` set while sync is paused
    /// by the rate limits (the admin's warning).
    pub quota: Vec<QuotaView>,
}

pub(super) fn job_view(row: JobRow) -> JobView {
    JobView {
        id: row.id,
        provider: row.provider,
        kind: row.kind,
        state: row.state,
        attempts: row.attempts,
        run_at_s: row.run_at_s,
        last_error: row.last_error,
    }
}

/// The tenant's sync jobs (gym-admin): `?state=dead` is the dead-letter list; `quota`
/// tells whether the providers' rate limits pause sync.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "sync",
    params(JobsQuery),
    responses((status = 200, body = Jobs), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn list_jobs(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<Jobs>, ApiError> {
    require_admin(&p)?;
    if let Some(s) = &q.state
        && !["queued", "running", "done", "retry", "dead"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            "state: one of queued, running, done, retry, dead",
        ));
    }
    let jobs = state
        .read(move |conn| {
            Ok(rows::tenant_jobs(
                conn,
                p.tenant_row,
                q.state.as_deref(),
                MAX_JOBS_LISTED,
            )?)
        })
        .await?;
    let quota = state.sync.as_ref().map_or_else(Vec::new, |sync| {
        Provider::ALL
            .into_iter()
            .filter_map(|p| quota_view(sync, p))
            .collect()
    });
    Ok(Json(Jobs {
        jobs: jobs.into_iter().map(job_view).collect(),
        quota,
    }))
}

/// Retry a dead job (gym-admin): queued again with its attempts reset; a job waiting in
/// `retry` (backing off, or paused by a provider's rate limit) runs now with its attempts
/// kept.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "sync",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, description = "no such job"),
        (status = 409, description = "the job is neither dead nor waiting to retry")),
    security(("bearer" = [])))]
pub async fn retry_job(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    require_admin(&p)?;
    let now_ms = state.now_ms();
    let now_s = crate::store::to_i64(now_ms / 1000);
    let view = state
        .write(move |tx| {
            let row = rows::tenant_job(tx, p.tenant_row, id)?
                .ok_or_else(|| ApiError::not_found("job"))?;
            match row.state.as_str() {
                "dead" => {
                    rows::retry_job(tx, p.tenant_row, id, now_s, now_ms)?;
                }
                "retry" => {
                    rows::run_waiting_job_now(tx, p.tenant_row, id, now_s, now_ms)?;
                }
                _ => {
                    return Err(ApiError::conflict(
                        "not_dead",
                        "only a dead job, or one waiting to retry, is run again",
                    ));
                }
            }
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "sync_job.retry",
                Some(&format!("job:{id}")),
                None,
                now_ms,
            )?;
            Ok(job_view(
                rows::tenant_job(tx, p.tenant_row, id)?.ok_or_else(ApiError::internal)?,
            ))
        })
        .await?;
    if let Some(sync) = &state.sync {
        // Running a paused job now overrides the provider's pause.
        if let Some(provider) = Provider::parse(&view.provider) {
            sync.forget_quota(provider).await;
        }
        sync.wake();
    }
    Ok(Json(view))
}
