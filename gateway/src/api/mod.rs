//! The HTTP API under `/api/v1`: accounts, athletes, devices, plans, sessions, the audit
//! log, and the live WebSockets. Its OpenAPI document is generated from these handlers
//! ([`openapi`]) and served at `/api/v1/openapi.json`.
//!
//! Every handler that reads tenant data takes an [`Auth`] and names the caller's tenant in
//! each query; an id of another tenant (or of an athlete the caller may not see) is
//! answered 404, exactly like an id that does not exist. Errors are JSON
//! `{"error":{"code","message"}}`; request bodies are limited in size; each user has a
//! request budget per minute, and logins are limited per account and per address.

pub mod activities;
pub mod admin;
pub mod athletes;
pub mod auth;
pub mod bodies;
pub mod charts;
pub mod chat;
pub mod console;
pub mod devices;
pub mod digest;
pub mod impersonation;
pub mod insights;
pub mod live_ws;
pub mod openapi;
pub mod passwords;
pub mod planning;
pub mod plans;
pub mod preferences;
pub mod privacy;
pub mod sessions;
pub mod sharing;
pub mod sms;
pub mod sync;
pub mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::accounts::limiter::WindowLimiter;
use crate::accounts::tokens::{TokenError, TokenKeys};
use crate::accounts::{Principal, Role};
use crate::live::Live;
use crate::store::StoreError;

/// Largest request body, bytes (plans are the largest bodies).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Requests one user may make per minute.
pub const USER_REQUESTS_PER_MINUTE: u32 = 1200;
/// Failed logins per account per 15 minutes before the account is locked for the rest
/// of the window.
pub const ACCOUNT_FAILURES: u32 = 5;
/// Login attempts per address per minute.
pub const ADDRESS_ATTEMPTS_PER_MINUTE: u32 = 30;
/// Registration attempts per address per hour (a gym's invitees may share one address).
pub const ADDRESS_REGISTRATIONS_PER_HOUR: u32 = 30;

/// Where devices connect, handed out with a pairing.
#[derive(Debug, Clone)]
pub struct Connectivity {
    /// MQTT address.
    pub mqtt: SocketAddr,
    /// QUIC address.
    pub quic: SocketAddr,
    /// The QUIC certificate's SHA-256 fingerprint.
    pub quic_cert_sha256: String,
}

/// What the API handlers share.
pub struct Api {
    /// The live loop (store, commands, live events).
    pub live: Arc<Live>,
    /// The token keys.
    pub keys: TokenKeys,
    /// Access-token lifetime, s.
    pub access_ttl_s: u64,
    /// Where devices connect.
    pub connectivity: Connectivity,
    /// The size caps of activity imports.
    pub import_limits: activities::ImportLimits,
    /// HTTP to the outside world (calendars by URL).
    pub outbound: crate::outbound::Outbound,
    /// Provider sync, when a provider is configured.
    pub sync: Option<Arc<crate::jobs::sync::ProviderSync>>,
    /// The coach chat's daily limit and LLM client.
    pub chat: crate::chat::ChatRuntime,
    /// SMS through Twilio, when configured.
    pub sms: Option<crate::chat::sms::Twilio>,
    account_failures: WindowLimiter<String>,
    address_attempts: WindowLimiter<IpAddr>,
    address_registrations: WindowLimiter<IpAddr>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<crate::accounts::address::IpBlock>,
    user_requests: WindowLimiter<i64>,
    /// Callers recently read from the database, by (user, login). Every change to users
    /// or logins goes through this process's API, which clears it ([`Api::forget_logins`]),
    /// so a revoked login or a changed role applies at the next request all the same.
    principals:
        std::sync::Mutex<std::collections::HashMap<(i64, i64), (Principal, std::time::Instant)>>,
    /// Bumped whenever users, logins or coach links change: every live socket listens and
    /// re-checks its caller's access.
    grants: tokio::sync::watch::Sender<u64>,
    /// The process's health, metrics and broker state, for the console's health page.
    pub runtime: Option<console::Runtime>,
    /// Open live sockets per user.
    live_sockets: Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>,
    /// Live sockets upgraded but not yet authenticated by their first message.
    live_awaiting_auth: Arc<tokio::sync::Semaphore>,
}

/// How long a caller read from the database is trusted without reading it again.
const PRINCIPAL_TTL: Duration = Duration::from_secs(10);

/// One open live socket of a user, counted until dropped.
pub struct LiveSlot {
    user_row: i64,
    open: Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(count) = open.get_mut(&self.user_row)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_row);
            }
        }
    }
}

/// The API's state, cheap to clone.
#[derive(Clone)]
pub struct ApiState(pub Arc<Api>);

impl std::ops::Deref for ApiState {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.0
    }
}

impl Api {
    /// The API over the live loop.
    pub fn new(
        live: Arc<Live>,
        keys: TokenKeys,
        access_ttl_s: u64,
        connectivity: Connectivity,
        trusted_proxies: Vec<crate::accounts::address::IpBlock>,
        outbound: crate::outbound::Outbound,
    ) -> Api {
        Api {
            live,
            keys,
            access_ttl_s,
            connectivity,
            import_limits: activities::ImportLimits::default(),
            outbound,
            sync: None,
            chat: crate::chat::ChatRuntime::default(),
            sms: None,
            account_failures: WindowLimiter::new(ACCOUNT_FAILURES, Duration::from_secs(15 * 60)),
            address_attempts: WindowLimiter::new(
                ADDRESS_ATTEMPTS_PER_MINUTE,
                Duration::from_secs(60),
            ),
            address_registrations: WindowLimiter::new(
                ADDRESS_REGISTRATIONS_PER_HOUR,
                Duration::from_secs(60 * 60),
            ),
            user_requests: WindowLimiter::new(USER_REQUESTS_PER_MINUTE, Duration::from_secs(60)),
            trusted_proxies,
            principals: std::sync::Mutex::new(std::collections::HashMap::new()),
            grants: tokio::sync::watch::Sender::new(0),
            runtime: None,
            live_sockets: Arc::default(),
            live_awaiting_auth: Arc::new(tokio::sync::Semaphore::new(
                live_ws::LIVE_SOCKETS_AWAITING_AUTH,
            )),
        }
    }

    /// The API with these import size caps.
    pub fn with_import_limits(mut self, limits: activities::ImportLimits) -> Api {
        self.import_limits = limits;
        self
    }

    /// The API with these chat settings (limit, LLM).
    pub fn with_chat(mut self, chat: crate::chat::ChatRuntime) -> Api {
        self.chat = chat;
        self
    }

    /// The API with the process's health, metrics and broker state (the console's
    /// health page; without them it shows the store and the tenant's data only).
    pub fn with_runtime(mut self, runtime: console::Runtime) -> Api {
        self.runtime = Some(runtime);
        self
    }

    /// The API with SMS.
    pub fn with_sms(mut self, sms: Option<crate::chat::sms::Twilio>) -> Api {
        self.sms = sms;
        self
    }

    /// The API with provider sync.
    pub fn with_sync(mut self, sync: Option<Arc<crate::jobs::sync::ProviderSync>>) -> Api {
        self.sync = sync;
        self
    }

    /// The key a request's per-address limits count under: the client's address (the
    /// TCP peer, or what a trusted proxy forwarded for), an IPv6 one by its /64.
    pub fn address_key(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let forwarded_for: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        crate::accounts::address::limit_key(crate::accounts::address::client_address(
            peer,
            &forwarded_for,
            &self.trusted_proxies,
        ))
    }

    /// Forgets every cached caller: call after any change to users or logins.
    pub fn forget_logins(&self) {
        if let Ok(mut cache) = self.principals.lock() {
            cache.clear();
        }
        self.grants_changed();
    }

    /// Tells every live socket to re-check its caller's access (a user, login or coach
    /// link changed).
    pub fn grants_changed(&self) {
        self.grants
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A receiver that sees every later [`Api::grants_changed`].
    pub fn watch_grants(&self) -> tokio::sync::watch::Receiver<u64> {
        self.grants.subscribe()
    }

    /// A live-socket slot for `user_row`, or `None` when the user has `cap` open already.
    pub fn live_slot(&self, user_row: i64, cap: usize) -> Option<LiveSlot> {
        let mut open = self.live_sockets.lock().ok()?;
        let count = open.entry(user_row).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(LiveSlot {
            user_row,
            open: Arc::clone(&self.live_sockets),
        })
    }

    /// A slot for one more live socket awaiting its first-message authentication, or
    /// `None` when [`live_ws::LIVE_SOCKETS_AWAITING_AUTH`] are already waiting.
    pub fn live_auth_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.live_awaiting_auth)
            .try_acquire_owned()
            .ok()
    }

    fn cached_principal(&self, user_row: i64, family_row: i64) -> Option<Principal> {
        let cache = self.principals.lock().ok()?;
        let (principal, at) = cache.get(&(user_row, family_row))?;
        (at.elapsed() < PRINCIPAL_TTL).then(|| principal.clone())
    }

    fn cache_principal(&self, principal: &Principal) {
        if let Ok(mut cache) = self.principals.lock() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(
                (principal.user_row, principal.family_row),
                (principal.clone(), std::time::Instant::now()),
            );
        }
    }

    /// Now, ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.live.clock().now_ms()
    }
}

impl ApiState {
    /// Runs a read on a pooled connection, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let api = self.clone();
        tokio::task::spawn_blocking(move || api.live.store().read_as(read))
            .await
            .map_err(|_| ApiError::internal())?
    }

    /// Waits until the database writer has committed what was queued before, and moved
    /// its inbox (live sessions' newest frames and samples, module docs of
    /// `store::writer`) into the indexed tables that reads use.
    pub async fn flush_writes(&self) -> Result<(), ApiError> {
        let api = self.clone();
        tokio::task::spawn_blocking(move || api.live.flush_writes())
            .await
            .map_err(|_| ApiError::internal())??;
        Ok(())
    }

    /// Runs a write transaction, off the async threads.
    pub async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let api = self.clone();
        let address = CLIENT_ADDRESS.try_with(Clone::clone).ok().flatten();
        tokio::task::spawn_blocking(move || {
            AUDIT_ADDRESS.with(|a| *a.borrow_mut() = address);
            let written = api.live.store().write(write);
            AUDIT_ADDRESS.with(|a| a.borrow_mut().take());
            written
        })
        .await
        .map_err(|_| ApiError::internal())?
    }
}

/// The `/api/v1` router (paths relative to it).
pub fn router(state: ApiState) -> Router {
    use axum::routing::{delete, get, post, put};
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/me/password", post(passwords::change_password))
        .route("/tenant", get(admin::tenant))
        .route("/tenant/usage", get(admin::tenant_usage))
        .route(
            "/invitations",
            post(admin::create_invitation).get(admin::list_invitations),
        )
        .route("/invitations/{id}", delete(admin::revoke_invitation))
        .route("/users", get(admin::list_users))
        .route(
            "/users/{id}",
            axum::routing::patch(admin::update_user).delete(privacy::delete_user),
        )
        .route("/me", get(auth::me_here).delete(privacy::delete_me))
        .route(
            "/me/sharing",
            get(sharing::get_sharing).put(sharing::put_sharing),
        )
        .route("/admin/impersonations", post(impersonation::start))
        .route(
            "/admin/impersonations/current",
            delete(impersonation::end_current),
        )
        .route("/me/export", post(privacy::export_me))
        .route("/me/exports/{id}", get(privacy::get_export))
        .route("/export-downloads/{token}", get(privacy::download_export))
        .route("/admin/export", post(privacy::export_tenant))
        .route(
            "/admin/privacy",
            get(privacy::get_privacy).put(privacy::put_privacy),
        )
        .route("/admin/audit", get(privacy::search_audit))
        .route(
            "/users/{id}/password-reset",
            post(passwords::reset_password),
        )
        .route("/audit", get(admin::audit_log))
        .route("/admin/health", get(console::health))
        .route("/admin/data-quality", get(console::data_quality))
        .route(
            "/athletes",
            get(athletes::list_athletes).post(athletes::create_athlete),
        )
        .route("/athletes/{id}", get(athletes::get_athlete))
        .route("/athletes/{id}/profile", put(athletes::put_profile))
        .route("/athletes/{id}/next-plan", put(athletes::assign_next_plan))
        .route(
            "/athletes/{id}/coaches/{user_id}",
            put(athletes::link_coach).delete(athletes::unlink_coach),
        )
        .route(
            "/athletes/{id}/devices",
            post(devices::pair_device).get(devices::list_athlete_devices),
        )
        .route("/devices", get(devices::list_devices))
        .route("/devices/{device_id}", delete(devices::revoke_device))
        .route("/plans", get(plans::list_plans).post(plans::upload_plan))
        .route("/plans/{id}", get(plans::get_plan))
        .route("/plans/{id}/chart.svg", get(charts::plan_chart))
        .route("/sessions", get(sessions::list_sessions))
        .route("/sessions/{id}", get(sessions::get_session))
        .route("/sessions/{id}/samples", get(sessions::session_samples))
        .route("/sessions/{id}/cues", get(sessions::session_cues))
        .route("/sessions/{id}/summary", get(sessions::session_summary))
        .route("/sessions/{id}/commands", post(sessions::send_command))
        .route("/sessions/{id}/export.csv", get(sessions::export_csv))
        .route("/sessions/{id}/export.fit", get(sessions::export_fit))
        .route("/sessions/{id}/chart.svg", get(charts::session_chart))
        .route(
            "/athletes/{id}/activities",
            get(activities::list_activities).post(activities::create_manual),
        )
        .route(
            "/athletes/{id}/activities/import",
            // Imports have their own size caps (settings), checked by the handler.
            post(activities::import_activities).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/activities/{id}",
            get(activities::get_activity).delete(activities::delete_activity),
        )
        .route(
            "/activities/{id}/unmerge",
            post(activities::unmerge_activity),
        )
        .route(
            "/activities/{id}/samples",
            get(activities::activity_samples),
        )
        .route("/activities/{id}/export.fit", get(activities::export_fit))
        .route("/activities/{id}/export.tcx", get(activities::export_tcx))
        .route("/activities/{id}/export.gpx", get(activities::export_gpx))
        .route("/activities/{id}/export.csv", get(activities::export_csv))
        .route(
            "/tenant/activity-precedence",
            get(activities::get_precedence).put(activities::put_precedence),
        )
        .route("/athletes/{id}/daily", get(planning::list_daily))
        .route("/athletes/{id}/daily/{date}", put(planning::put_daily))
        .route("/athletes/{id}/load", get(planning::get_load))
        .route("/athletes/{id}/fitness.svg", get(planning::fitness_chart))
        .route("/athletes/{id}/recovery", get(planning::get_recovery))
        .route(
            "/athletes/{id}/planning-settings",
            get(planning::get_settings).put(planning::put_settings),
        )
        .route("/athletes/{id}/plan/today", post(planning::plan_today))
        .route(
            "/athletes/{id}/preferences",
            get(preferences::get_preferences).put(preferences::put_preference),
        )
        .route(
            "/athletes/{id}/plan/today/start",
            post(planning::start_plan_today),
        )
        .route("/athletes/{id}/plan", get(planning::list_plans))
        .route(
            "/athletes/{id}/life-events",
            get(planning::list_life_events).post(planning::create_life_events),
        )
        .route(
            "/athletes/{id}/life-events/calendar",
            post(planning::import_calendar_url),
        )
        .route("/life-events/{id}", delete(planning::delete_life_event))
        .route("/chat", post(chat::post_chat))
        .route("/chat/conversations", get(chat::list_conversations))
        .route(
            "/me/phone",
            get(sms::get_phone)
                .put(sms::put_phone)
                .delete(sms::delete_phone),
        )
        .route("/me/phone/confirm", post(sms::confirm_phone))
        .route("/chat/conversations/{id}", get(chat::get_conversation))
        .route(
            "/me/terms",
            get(chat::get_terms)
                .put(chat::put_term)
                .delete(chat::delete_term),
        )
        .route("/athletes/{id}/daily.csv", post(insights::import_daily_csv))
        .route(
            "/activities/{id}/efficiency",
            get(insights::activity_efficiency),
        )
        .route(
            "/athletes/{id}/insights/efficiency",
            get(insights::efficiency_trend),
        )
        .route(
            "/athletes/{id}/insights/efficiency.svg",
            get(insights::efficiency_chart),
        )
        .route(
            "/athletes/{id}/insights/correlations",
            get(insights::get_correlations),
        )
        .route(
            "/athletes/{id}/insights/correlations/{index}/scatter.svg",
            get(insights::correlation_scatter),
        )
        .route(
            "/athletes/{id}/insights/feedback",
            post(insights::post_feedback),
        )
        .route("/insights/feedback", get(insights::list_feedback))
        .route("/me/music", put(insights::put_music))
        .route("/plans/{id}/playlist", get(insights::plan_playlist))
        .route(
            "/digest/unsubscribe",
            get(digest::unsubscribe_page).post(digest::unsubscribe),
        )
        .route("/connections", get(sync::list_connections))
        .route(
            "/connections/{provider}",
            post(sync::connect).delete(sync::disconnect),
        )
        .route("/connections/{provider}/callback", get(sync::callback))
        .route("/connections/{provider}/sync", post(sync::sync_now))
        .route("/admin/jobs", get(sync::list_jobs))
        .route("/admin/jobs/{id}/retry", post(sync::retry_job))
        .route("/live/sessions/{id}", get(live_ws::live_session))
        .route("/live/board", get(live_ws::live_board))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_announced_oversize))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            remember_client,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One debug line per request: the method, the route as declared (`/me/exports/{id}`,
/// never the path as sent: an export link's token is in its path), the status and the
/// time taken. Never a query, a header or a body.
async fn log_request(request: Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        route,
        status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "api request"
    );
    response
}

tokio::task_local! {
    /// The client address of the request being handled (for the audit log).
    static CLIENT_ADDRESS: Option<String>;
}

thread_local! {
    /// The client address of the request whose write runs on this thread.
    static AUDIT_ADDRESS: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps the request's client address (the TCP peer, or what a trusted proxy forwarded
/// for) while it is handled: [`audit`] records it.
async fn remember_client(
    axum::extract::State(state): axum::extract::State<ApiState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|axum::extract::ConnectInfo(peer)| {
            let forwarded_for: Vec<&str> = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect();
            crate::accounts::address::client_address(
                peer.ip(),
                &forwarded_for,
                &state.trusted_proxies,
            )
            .to_string()
        });
    CLIENT_ADDRESS.scope(address, next.run(request)).await
}

/// The most of a refused body still read (and thrown away) before the refusal goes out,
/// bytes. Answering while the client is still sending, and closing with its bytes unread,
/// makes the kernel reset the connection, and a client that is still writing then gets
/// the reset instead of the answer. Further over its cap, a body is answered at once.
pub(crate) const DRAIN_REFUSED_BYTES: u64 = 16 * 1024 * 1024;

/// How long a refused body is read at most before the refusal goes out.
const DRAIN_REFUSED_WITHIN: Duration = Duration::from_secs(5);

/// Before a 413: reads what is left of a refused body and throws it away, when what was
/// announced is at most [`DRAIN_REFUSED_BYTES`] over `cap` (or nothing was announced),
/// for at most [`DRAIN_REFUSED_WITHIN`] and [`DRAIN_REFUSED_BYTES`] (see there).
pub(crate) async fn drain_refused(
    mut body: axum::body::BodyDataStream,
    announced: Option<u64>,
    cap: u64,
) {
    use futures_util::StreamExt;
    if announced.is_some_and(|n| n.saturating_sub(cap) > DRAIN_REFUSED_BYTES) {
        return;
    }
    let reading = async {
        let mut read: u64 = 0;
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_REFUSED_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_REFUSED_WITHIN, reading).await;
}

/// Answers 413 to a request whose `Content-Length` is over the limit, without handing it
/// on: once what is still coming of it is read ([`drain_refused`]; bodies without a
/// length are cut off by the body limit as they arrive).
async fn refuse_announced_oversize(request: Request, next: axum::middleware::Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Imports have their own, larger caps, checked by their handler.
    let import = request.uri().path().ends_with("/activities/import");
    if !import && announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let body = request.into_body().into_data_stream();
        drain_refused(body, announced, MAX_BODY_BYTES as u64).await;
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// An API error: a status and a JSON body `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Seconds to wait, for 429.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 404 for `what` (also for other tenants' ids).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 403: the caller's role does not allow this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(code: &'static str, message: impl Into<String>, wait: Duration) -> ApiError {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message);
        e.retry_after_s = Some(wait.as_secs().max(1));
        e
    }

    /// 500 (the cause is logged, not sent).
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if let Some(wait) = self.retry_after_s
            && let Ok(value) = HeaderValue::from_str(&wait.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        tracing::error!(error = %err, "API database error");
        ApiError::internal()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> ApiError {
        ApiError::from(StoreError::from(err))
    }
}

/// A JSON body whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        _ => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            rejection.body_text(),
        ),
    }
}

/// Path parameters whose rejection is an [`ApiError`].
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e: PathRejection| {
                // A malformed id cannot name anything.
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.body_text())
            })
    }
}

/// Query parameters whose rejection is an [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// The authenticated caller, from `Authorization: Bearer <access token>` (never from the
/// URL).
pub struct Auth(pub Principal);

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(|(p, _)| Auth(p))
    }
}

/// The caller of a live WebSocket who sent `Authorization: Bearer`, and when their access
/// token expires (s since the epoch), at which the socket closes; `None` without the
/// header: the socket is then authenticated by its first message (browsers cannot set
/// headers on a WebSocket). A token in the URL (`?access_token=`) is refused with 400
/// `token_in_url` before anything else: URLs end up in logs and histories.
pub struct LiveAuth(pub Option<(Principal, u64)>);

impl FromRequestParts<ApiState> for LiveAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if token_in_url(parts) {
            return Err(ApiError::bad_request(
                "token_in_url",
                "never put the access token in the URL: send it in the first message \
                 {\"type\":\"auth\",\"access_token\":\"…\"} or in Authorization: Bearer",
            ));
        }
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(LiveAuth(None));
        }
        authenticate(parts, state)
            .await
            .map(|caller| LiveAuth(Some(caller)))
    }
}

/// Whether the query names an `access_token` (however it is encoded).
fn token_in_url(parts: &Parts) -> bool {
    let Some(query) = parts.uri.query() else {
        return false;
    };
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or("");
        let key = key.replace('+', " ");
        let decoded = percent_decode(&key);
        decoded.trim().eq_ignore_ascii_case("access_token")
    })
}

/// `%XX` sequences decoded (bytes that do not decode are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller of a request and their access token's expiry, s since the epoch.
async fn authenticate(parts: &Parts, state: &ApiState) -> Result<(Principal, u64), ApiError> {
    let token = bearer_token(parts).ok_or_else(|| {
        ApiError::unauthorized(
            "unauthenticated",
            "send an access token: Authorization: Bearer <token>",
        )
    })?;
    let (principal, exp) = authenticate_token(state, &token).await?;
    if principal.impersonation.is_some() && !impersonation::allowed(&parts.method, parts.uri.path())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only_impersonation",
            "you are viewing as another user: read-only, nothing can be changed",
        ));
    }
    Ok((principal, exp))
}

/// The caller an access token names, as the database has them now, and the token's
/// expiry, s since the epoch; counts against the caller's request budget.
pub async fn authenticate_token(
    state: &ApiState,
    token: &str,
) -> Result<(Principal, u64), ApiError> {
    let claims = match state.keys.verify(token) {
        Ok(claims) => claims,
        Err(TokenError::Expired) => {
            if let Some(expired) = state.keys.expired_claims(token)
                && let Some(row) = expired.imp
            {
                impersonation::close_expired(state, expired.tid, row).await;
            }
            return Err(ApiError::unauthorized(
                "token_expired",
                "the access token has expired: refresh it",
            ));
        }
        Err(_) => {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the access token is not valid",
            ));
        }
    };
    let user_row: i64 = claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("invalid_token", "the access token is not valid"))?;
    let family_row = claims.fam;
    let principal = match (claims.imp, state.cached_principal(user_row, family_row)) {
        // A "view as" is read from the database every time: ending it applies at once.
        (Some(row), _) => {
            match impersonation::load_principal(state, user_row, family_row, claims.tid, row).await
            {
                Ok(principal) => principal,
                Err(e) => {
                    // Past its end (the token may outlive the row by under a second):
                    // close it so the audit has the end.
                    impersonation::close_expired(state, claims.tid, row).await;
                    return Err(e);
                }
            }
        }
        (None, Some(principal)) if principal.tenant_row == claims.tid => principal,
        (None, _) => {
            let principal = load_principal(state, user_row, family_row, claims.tid).await?;
            state.cache_principal(&principal);
            principal
        }
    };
    if let Err(wait) = state.user_requests.hit(&user_row) {
        return Err(ApiError::too_many(
            "rate_limited",
            "too many requests: slow down",
            wait,
        ));
    }
    Ok((principal, claims.exp))
}

/// The caller as the database has them now, or 401.
async fn load_principal(
    state: &ApiState,
    user_row: i64,
    family_row: i64,
    token_tenant: i64,
) -> Result<Principal, ApiError> {
    let found = state
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT u.tenant_id, u.role, u.athlete_id,
                                u.disabled_ms IS NULL AND f.revoked_ms IS NULL
                         FROM users u JOIN auth_families f ON f.user_id = u.id
                         WHERE u.id = ?1 AND f.id = ?2",
                    params![user_row, family_row],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, Option<i64>>(2)?,
                            row.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?)
        })
        .await?;
    let revoked =
        || ApiError::unauthorized("session_revoked", "this login has ended: log in again");
    let Some((tenant_row, role, athlete_row, active)) = found else {
        return Err(revoked());
    };
    let role = Role::parse(&role).ok_or_else(ApiError::internal)?;
    if !active || tenant_row != token_tenant {
        return Err(revoked());
    }
    Ok(Principal {
        user_row,
        tenant_row,
        role,
        athlete_row,
        family_row,
        impersonation: None,
    })
}

fn bearer_token(parts: &Parts) -> Option<String> {
    let text = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// SQL that holds when the athlete `a` is visible to the caller. Uses the named
/// parameters `:tenant`, `:role`, `:user` and `:athlete` (see [`visibility`]).
pub const ATHLETE_VISIBLE: &str = "(a.tenant_id = :tenant AND (
        :role = 'gym-admin'
        OR (:role = 'coach' AND EXISTS (SELECT 1 FROM coach_athletes ca
            WHERE ca.tenant_id = :tenant AND ca.athlete_id = a.id AND ca.coach_user_id = :user))
        OR (:role = 'athlete' AND a.id = :athlete)))";

/// The values of [`ATHLETE_VISIBLE`]'s parameters for a caller.
pub fn visibility(p: &Principal) -> [(&'static str, rusqlite::types::Value); 4] {
    use rusqlite::types::Value;
    [
        (":tenant", Value::Integer(p.tenant_row)),
        (":role", Value::Text(p.role.as_str().to_owned())),
        (":user", Value::Integer(p.user_row)),
        (
            ":athlete",
            p.athlete_row.map_or(Value::Null, Value::Integer),
        ),
    ]
}

/// Named parameters for rusqlite from owned values.
pub fn named<'a>(
    values: &'a [(&'static str, rusqlite::types::Value)],
) -> Vec<(&'a str, &'a dyn rusqlite::ToSql)> {
    values
        .iter()
        .map(|(name, value)| (*name, value as &dyn rusqlite::ToSql))
        .collect()
}

/// SQL saying that the athlete in column `column` is visible to the caller, specialised
/// to the caller's role so the planner can use the indexes (the caller adds
/// `tenant_id = :tenant`), with its named parameters (`:tenant` always among them).
/// Equivalent to [`ATHLETE_VISIBLE`] for athletes of the caller's tenant.
pub fn athlete_scope(
    p: &Principal,
    column: &str,
) -> (String, Vec<(&'static str, rusqlite::types::Value)>) {
    use rusqlite::types::Value;
    let mut values = vec![(":tenant", Value::Integer(p.tenant_row))];
    let sql = match p.role {
        Role::GymAdmin => "1 = 1".to_owned(),
        Role::Coach => {
            values.push((":user", Value::Integer(p.user_row)));
            format!(
                "{column} IN (SELECT athlete_id FROM coach_athletes
                   WHERE tenant_id = :tenant AND coach_user_id = :user)"
            )
        }
        Role::Athlete => {
            values.push((
                ":athlete",
                p.athlete_row.map_or(Value::Null, Value::Integer),
            ));
            format!("{column} = :athlete")
        }
    };
    (sql, values)
}

/// Whether the caller may see athlete `athlete_row`.
pub fn athlete_visible(
    conn: &Connection,
    p: &Principal,
    athlete_row: i64,
) -> Result<bool, ApiError> {
    let mut values = visibility(p).to_vec();
    values.push((":id", rusqlite::types::Value::Integer(athlete_row)));
    let sql =
        format!("SELECT EXISTS (SELECT 1 FROM athletes a WHERE a.id = :id AND {ATHLETE_VISIBLE})");
    Ok(conn.query_row(&sql, named(&values).as_slice(), |row| row.get(0))?)
}

/// Records an action in the tenant's audit log (no secrets, no personal data beyond ids),
/// with the client address of the request it is written for.
pub fn audit(
    conn: &Connection,
    tenant_row: i64,
    user_row: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: Option<&serde_json::Value>,
    now_ms: u64,
) -> Result<(), ApiError> {
    conn.execute(
        "INSERT INTO audit_log (tenant_id, user_id, action, target, detail_json, at_ms, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tenant_row,
            user_row,
            action,
            target,
            detail.map(serde_json::Value::to_string),
            crate::store::to_i64(now_ms),
            AUDIT_ADDRESS.with(|a| a.borrow().clone()),
        ],
    )?;
    Ok(())
}

/// Requires a staff role (coach or gym-admin).
pub fn require_staff(p: &Principal) -> Result<(), ApiError> {
    if p.role.is_staff() {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs a coach or gym-admin"))
    }
}

/// Requires the gym-admin role.
pub fn require_admin(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::GymAdmin {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs a gym-admin"))
    }
}
