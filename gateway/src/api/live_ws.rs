//! The live WebSockets: `/live/sessions/{id}` (one session) and `/live/board` (every
//! session the caller may see).
//!
//! Authentication, two ways, never with the token in the URL (a query naming
//! `access_token` is refused with 400 `token_in_url` before the upgrade, since URLs end up
//! in logs and browser histories):
//! - `Authorization: Bearer <access token>` (non-browser clients): every check is
//!   answered before the upgrade — 401, 404 for a session the caller may not see, 429
//!   `too_many_live_sockets` past 8 sockets per user;
//! - no header (browsers cannot set one on a WebSocket): the socket is upgraded and its
//!   first text message must be `{"type":"auth","access_token":"…"}` within 5 s. Nothing is
//!   sent before that succeeds. Otherwise it is closed with 1008 and a reason
//!   (`authenticate with a first message …`, `authentication timed out`,
//!   `invalid or expired token`, `access revoked …` for a login that has ended,
//!   `not visible: …` for a session the caller may not see), or 1013
//!   `too many live sockets …` past the per-user cap (`too many requests …` past the
//!   request budget). At most 256 sockets may be waiting for their auth message at once
//!   (more get 429 `too_many_unauthenticated_sockets` before the upgrade).
//!
//! A session the board shows may not have its row in the database yet (the live loop
//! shows it from its first frame; the row comes with the writer's next commit): when the
//! live loop holds the session, a miss waits for that commit and looks again, so a coach
//! who opens a session they just saw appear never gets a 404 for it.
//!
//! Either way the socket then re-checks its caller on every grant change and closes with
//! 1008 at the access token's expiry. Its events come from its tenant's own channel
//! ([`crate::live::channels`]): another tenant's events never reach it; within the tenant
//! it passes on only the athletes (or the session) the caller may see.
//!
//! Server → client, JSON text messages with a `type`:
//! - `hello`: the open sessions in view (`sessions: [{session_id, athlete_id, athlete_name}]`);
//! - `sample`: the latest values of a session (`t_ms`, `heart_rate`, `power_w`, `cadence`,
//!   `speed_mps`), thinned to `rate_hz` per session (default 2, 0.2–10);
//! - `status`: the coach's state (zones, % HRmax, W′ balance, step, target, quality), with
//!   `sensors`: the device's latest sensor list (`kind`, `connected`, `battery_pct`) or
//!   null if it sent none;
//! - `sensors`: the device's sensors changed (a sensor connected or dropped, a new battery
//!   level): `t_ms` and `sensors`, at once;
//! - `cue`: a cue (`severity`, `code`, `text`, `t_s`), sent at once, never thinned;
//! - `ended`: the session ended.
//!
//! Every message names `session_id` and `athlete_id`. Messages ready together go out
//! together: the events waiting in the channel (up to 256) and a flush's
//! samples are queued on the socket and written with one flush, not one write each (a
//! board of a thousand riders would otherwise cost a system call per rider per tick).
//! A client that cannot keep up (its
//! socket does not take a message within 2 s, or it falls behind the live event buffer)
//! is sent `{"type":"lagged"}` when possible and disconnected: the engine never waits for
//! a browser.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use utoipa::IntoParams;

use super::sessions::{SessionView, visible_session};
use super::{
    ATHLETE_VISIBLE, ApiError, ApiPath, ApiQuery, ApiState, LiveAuth, LiveSlot, authenticate_token,
    load_principal, named, visibility,
};
use crate::accounts::Principal;
use crate::live::{LiveEvent, LiveEventBody};
use crate::store::queries;

/// How long one message may take to go out before the client counts as too slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Events taken from the channel for one write to the socket, at most.
const EVENTS_PER_WRITE: usize = 256;
/// How often a board re-reads which athletes its user may see.
const VISIBILITY_REFRESH: Duration = Duration::from_secs(5);
/// Live sockets one user may have open at once.
pub const LIVE_SOCKETS_PER_USER: usize = 8;
/// The largest message (and frame) a client may send on a live socket, bytes.
pub const MAX_INCOMING_BYTES: usize = 4096;
/// How long a socket opened without `Authorization` has to send its auth message.
pub const AUTH_MESSAGE_WITHIN: Duration = Duration::from_secs(5);
/// Sockets that may wait for their auth message at once (in the whole gateway); more are
/// refused with 429 before the upgrade.
pub const LIVE_SOCKETS_AWAITING_AUTH: usize = 256;
/// The close code when access is refused or lost (RFC 6455: policy violation).
const POLICY_VIOLATION: u16 = 1008;
/// The close code when a limit is reached (RFC 6455: try again later).
const TRY_AGAIN_LATER: u16 = 1013;
/// The close code when the server failed (RFC 6455: internal error).
const INTERNAL_ERROR: u16 = 1011;
/// The close for a first message that is not an auth message.
const FIRST_MESSAGE: (u16, &str) = (
    POLICY_VIOLATION,
    "authenticate with a first message {type:auth,access_token}",
);

/// Live stream options. The access token is never taken from the URL: a request with
/// `access_token` in its query is refused (400 `token_in_url`).
#[derive(Debug, Deserialize, IntoParams)]
pub struct LiveQuery {
    /// Sample messages per session per second (0.2–10, default 2).
    pub rate_hz: Option<f64>,
}

/// What a client sends first on a socket opened without `Authorization`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FirstMessage {
    Auth { access_token: String },
}

/// What a socket asks to watch.
#[derive(Debug, Clone, Copy)]
enum Target {
    Session(i64),
    Board,
}

enum Scope {
    Session(i64),
    Board(HashSet<i64>),
}

fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    ws.map(|ws| {
        ws.max_message_size(MAX_INCOMING_BYTES)
            .max_frame_size(MAX_INCOMING_BYTES)
    })
    .map_err(|_| ApiError::bad_request("websocket_required", "open this route as a WebSocket"))
}

/// A slot for one more live socket of this user, or 429.
fn slot(state: &ApiState, user_row: i64) -> Result<LiveSlot, ApiError> {
    state
        .live_slot(user_row, LIVE_SOCKETS_PER_USER)
        .ok_or_else(|| {
            ApiError::too_many(
                "too_many_live_sockets",
                format!("at most {LIVE_SOCKETS_PER_USER} live sockets per user: close one"),
                Duration::from_secs(1),
            )
        })
}

/// What an open socket holds of its caller.
struct Caller {
    principal: Principal,
    /// The access token's expiry, s since the epoch.
    exp_s: u64,
    _slot: LiveSlot,
    grants: tokio::sync::watch::Receiver<u64>,
}

/// A socket's caller admitted to its target: what it sees and its first message.
struct Admitted {
    caller: Caller,
    scope: Scope,
    hello: Value,
}

/// The checks every socket passes once its caller is known, whichever way they
/// authenticated: the session is visible (else 404), the user has a socket slot left
/// (else 429). `grants` must have been taken before the caller was read, so a change
/// in between is not missed.
async fn admit_caller(
    state: &ApiState,
    principal: Principal,
    exp_s: u64,
    target: Target,
    grants: tokio::sync::watch::Receiver<u64>,
) -> Result<Admitted, ApiError> {
    let (scope, hello) = match target {
        Target::Session(id) => {
            let session = session_seen_live(state, &principal, id).await?;
            let hello = json!({"type": "hello", "sessions": if session.status == "open" {
                vec![json!({"session_id": session.id, "athlete_id": session.athlete_id, "athlete_name": session.athlete_name})]
            } else { Vec::new() }});
            (Scope::Session(id), hello)
        }
        Target::Board => {
            let (visible, open) = board_view(state, &principal).await?;
            (
                Scope::Board(visible),
                json!({"type": "hello", "sessions": open}),
            )
        }
    };
    let caller = Caller {
        _slot: slot(state, principal.user_row)?,
        principal,
        exp_s,
        grants,
    };
    Ok(Admitted {
        caller,
        scope,
        hello,
    })
}

/// One session's live stream.
#[utoipa::path(get, path = "/api/v1/live/sessions/{id}", tag = "live",
    params(("id" = i64, Path, description = "session id"), LiveQuery),
    responses((status = 101, description = "WebSocket: hello, sample, status, sensors, cue, ended messages. Without Authorization, the first message must be {\"type\":\"auth\",\"access_token\":…} within 5 s"),
        (status = 400, description = "not a WebSocket request, or a token in the URL (token_in_url)"),
        (status = 401, description = "the Authorization header's token is not valid"),
        (status = 404, description = "not visible"),
        (status = 429, description = "too many live sockets open for this user, or awaiting authentication")),
    security(("bearer" = []), ()))]
pub async fn live_session(
    State(state): State<ApiState>,
    LiveAuth(caller): LiveAuth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<LiveQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    connect(state, caller, Target::Session(id), &q, ws).await
}

/// Every live session the caller may see.
#[utoipa::path(get, path = "/api/v1/live/board", tag = "live", params(LiveQuery),
    responses((status = 101, description = "WebSocket: hello, sample, status, sensors, cue, ended messages. Without Authorization, the first message must be {\"type\":\"auth\",\"access_token\":…} within 5 s"),
        (status = 400, description = "not a WebSocket request, or a token in the URL (token_in_url)"),
        (status = 401, description = "the Authorization header's token is not valid"),
        (status = 429, description = "too many live sockets open for this user, or awaiting authentication")),
    security(("bearer" = []), ()))]
pub async fn live_board(
    State(state): State<ApiState>,
    LiveAuth(caller): LiveAuth,
    ApiQuery(q): ApiQuery<LiveQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    connect(state, caller, Target::Board, &q, ws).await
}

/// With an `Authorization` header every check is answered before the upgrade; without
/// one the socket is upgraded and must authenticate with its first message.
async fn connect(
    state: ApiState,
    caller: Option<(Principal, u64)>,
    target: Target,
    q: &LiveQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let rate = rate_of(q);
    match caller {
        Some((principal, exp_s)) => {
            let grants = state.watch_grants();
            let admitted = admit_caller(&state, principal, exp_s, target, grants).await?;
            let ws = upgrade(ws)?;
            Ok(ws.on_upgrade(move |socket| serve(socket, state, admitted, rate)))
        }
        None => {
            let ws = upgrade(ws)?;
            let waiting = state.live_auth_slot().ok_or_else(|| {
                ApiError::too_many(
                    "too_many_unauthenticated_sockets",
                    "too many live sockets are waiting to authenticate: try again",
                    Duration::from_secs(1),
                )
            })?;
            Ok(ws.on_upgrade(move |socket| {
                authenticate_then_serve(socket, state, target, rate, waiting)
            }))
        }
    }
}

/// Waits for the first message's token, then admits the caller like a header would have;
/// sends nothing before that, and closes with a reason if refused.
async fn authenticate_then_serve(
    mut socket: WebSocket,
    state: ApiState,
    target: Target,
    rate: Duration,
    waiting: OwnedSemaphorePermit,
) {
    let grants = state.watch_grants();
    let admitted = match first_message(&mut socket, &state, target, grants).await {
        Ok(admitted) => admitted,
        Err(Some((code, reason))) => {
            close_with(&mut socket, code, reason).await;
            return;
        }
        Err(None) => return,
    };
    drop(waiting);
    serve(socket, state, admitted, rate).await;
}

/// The caller admitted from the socket's first message; `Err(Some(close))` to refuse,
/// `Err(None)` if the client left.
async fn first_message(
    socket: &mut WebSocket,
    state: &ApiState,
    target: Target,
    grants: tokio::sync::watch::Receiver<u64>,
) -> Result<Admitted, Option<(u16, &'static str)>> {
    let deadline = tokio::time::Instant::now() + AUTH_MESSAGE_WITHIN;
    let token = loop {
        let incoming = tokio::time::timeout_at(deadline, socket.recv())
            .await
            .map_err(|_| Some((POLICY_VIOLATION, "authentication timed out")))?;
        match incoming {
            Some(Ok(Message::Text(text))) => {
                match serde_json::from_str::<FirstMessage>(text.as_str()) {
                    Ok(FirstMessage::Auth { access_token }) => break access_token,
                    Err(_) => return Err(Some(FIRST_MESSAGE)),
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => return Err(Some(FIRST_MESSAGE)),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(None),
        }
    };
    let (principal, exp_s) = authenticate_token(state, &token)
        .await
        .map_err(|e| Some(refusal(&e)))?;
    admit_caller(state, principal, exp_s, target, grants)
        .await
        .map_err(|e| Some(refusal(&e)))
}

/// The close code and reason for what the header path answers with `error`.
fn refusal(error: &ApiError) -> (u16, &'static str) {
    match error.code {
        "not_found" => (POLICY_VIOLATION, "not visible: no such session"),
        "too_many_live_sockets" => (
            TRY_AGAIN_LATER,
            "too many live sockets for this user: close one",
        ),
        "rate_limited" => (TRY_AGAIN_LATER, "too many requests: slow down"),
        "session_revoked" => (POLICY_VIOLATION, "access revoked: log in again"),
        "token_expired" | "invalid_token" => (POLICY_VIOLATION, "invalid or expired token"),
        _ => (INTERNAL_ERROR, "the server could not open the stream"),
    }
}

/// The session `id` as [`visible_session`] answers, for a session the caller may have
/// seen on the board a moment ago: the live loop shows a session from its first frame,
/// but its row reaches the database with the writer's next commit. When the row is not
/// there yet and the live loop holds the session, the writer's queue is flushed and the
/// row read once more (nothing is told a caller the session is not visible to: 404).
async fn session_seen_live(
    state: &ApiState,
    principal: &Principal,
    id: i64,
) -> Result<SessionView, ApiError> {
    let check = principal.clone();
    match state
        .read(move |conn| visible_session(conn, &check, id))
        .await
    {
        Err(e) if e.status == StatusCode::NOT_FOUND && state.live.holds_session(id) => {
            let live = std::sync::Arc::clone(&state.live);
            tokio::task::spawn_blocking(move || live.flush_writes())
                .await
                .map_err(|_| ApiError::internal())??;
            let check = principal.clone();
            state
                .read(move |conn| visible_session(conn, &check, id))
                .await
        }
        read => read,
    }
}

fn rate_of(q: &LiveQuery) -> Duration {
    let hz = q
        .rate_hz
        .filter(|r| r.is_finite())
        .unwrap_or(2.0)
        .clamp(0.2, 10.0);
    Duration::from_secs_f64(1.0 / hz)
}

async fn board_view(
    state: &ApiState,
    p: &Principal,
) -> Result<(HashSet<i64>, Vec<Value>), ApiError> {
    let p = p.clone();
    state
        .read(move |conn| {
            let values = visibility(&p);
            let sql = format!("SELECT a.id FROM athletes a WHERE {ATHLETE_VISIBLE}");
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut visible = stmt
                .query_map(named(&values).as_slice(), |r| r.get::<_, i64>(0))?
                .collect::<Result<HashSet<_>, _>>()?;
            // A coach sees on the board only the athletes who share their live data.
            let mut hidden = Vec::new();
            for &athlete in &visible {
                if !super::sharing::coach_may_see(conn, &p, athlete, super::sharing::Shared::Live)?
                {
                    hidden.push(athlete);
                }
            }
            for athlete in &hidden {
                visible.remove(athlete);
            }
            let sql = queries::open_sessions(ATHLETE_VISIBLE);
            let mut stmt = conn.prepare_cached(&sql)?;
            let open = stmt
                .query_map(named(&values).as_slice(), |r| {
                    Ok(
                        json!({"session_id": r.get::<_, i64>(0)?, "athlete_id": r.get::<_, i64>(1)?,
                        "athlete_name": r.get::<_, String>(2)?}),
                    )
                })?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|s| {
                    !s["athlete_id"]
                        .as_i64()
                        .is_some_and(|a| hidden.contains(&a))
                })
                .collect();
            Ok((visible, open))
        })
        .await
}

/// The latest values of a session, merged from its samples since the last message.
#[derive(Default)]
struct Pending {
    athlete_row: i64,
    t_ms: u64,
    heart_rate: Option<u16>,
    power_w: Option<f64>,
    cadence: Option<f64>,
    speed_mps: Option<f64>,
}

async fn send(socket: &mut WebSocket, value: &Value) -> bool {
    let text = value.to_string();
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// Queues `value` on the socket, to be written by the next [`flush_out`].
async fn feed(socket: &mut WebSocket, value: &Value) -> bool {
    let text = value.to_string();
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.feed(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// Writes out what [`feed`] queued.
async fn flush_out(socket: &mut WebSocket) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, SinkExt::flush(socket)).await,
        Ok(Ok(()))
    )
}

/// Closes the socket for a policy violation (lost access), with `reason`.
async fn close_for(socket: &mut WebSocket, reason: &'static str) {
    close_with(socket, POLICY_VIOLATION, reason).await;
}

/// Closes the socket with `code` and `reason`.
async fn close_with(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

/// Re-reads the caller and what the scope may see; the reason to close if access is lost.
async fn recheck(
    state: &ApiState,
    principal: &mut Principal,
    scope: &mut Scope,
) -> Result<(), &'static str> {
    let now = match principal.impersonation {
        Some(imp) => {
            super::impersonation::load_principal(
                state,
                principal.user_row,
                principal.family_row,
                principal.tenant_row,
                imp.row,
            )
            .await
        }
        None => {
            load_principal(
                state,
                principal.user_row,
                principal.family_row,
                principal.tenant_row,
            )
            .await
        }
    }
    .map_err(|_| "access revoked: log in again")?;
    match scope {
        Scope::Session(id) => {
            let (check, id) = (now.clone(), *id);
            state
                .read(move |conn| visible_session(conn, &check, id))
                .await
                .map_err(|_| "this session is no longer visible to you")?;
        }
        Scope::Board(visible) => {
            *visible = board_view(state, &now)
                .await
                .map_err(|_| "access revoked: log in again")?
                .0;
        }
    }
    *principal = now;
    Ok(())
}

async fn serve(mut socket: WebSocket, state: ApiState, admitted: Admitted, every: Duration) {
    let Admitted {
        caller:
            Caller {
                mut principal,
                exp_s,
                _slot,
                mut grants,
            },
        mut scope,
        hello,
    } = admitted;
    // Subscribe before the hello so nothing falls between them; only this tenant's
    // events ever arrive (each tenant has its own channel).
    let mut events = state.live.subscribe(principal.tenant_row);
    if !send(&mut socket, &hello).await {
        return;
    }
    let left_ms = exp_s.saturating_mul(1000).saturating_sub(state.now_ms());
    let expiry = tokio::time::sleep(Duration::from_millis(left_ms));
    tokio::pin!(expiry);
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    let mut flush = tokio::time::interval(every);
    let mut refresh = tokio::time::interval(VISIBILITY_REFRESH);
    refresh.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    // This event and those already waiting behind it, in one write.
                    let mut next = Ok(event);
                    let mut taken = 0;
                    let mut fed = false;
                    while let Ok(event) = next {
                        if let Some(message) = admit(&principal, &scope, &event, &mut pending) {
                            if !feed(&mut socket, &message).await {
                                return;
                            }
                            fed = true;
                        }
                        taken += 1;
                        if taken == EVENTS_PER_WRITE {
                            break;
                        }
                        next = match events.try_recv() {
                            Ok(event) => Ok(event),
                            Err(TryRecvError::Lagged(_)) => {
                                state.live.metrics().live_clients_dropped.inc();
                                let _ = send(&mut socket, &json!({"type": "lagged"})).await;
                                let _ = socket.send(Message::Close(None)).await;
                                return;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Closed) => Err(()),
                        };
                    }
                    if fed && !flush_out(&mut socket).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    state.live.metrics().live_clients_dropped.inc();
                    let _ = send(&mut socket, &json!({"type": "lagged"})).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            _ = flush.tick() => {
                let samples = !pending.is_empty();
                for (session_row, p) in pending.drain() {
                    let message = json!({"type": "sample", "session_id": session_row,
                        "athlete_id": p.athlete_row, "t_ms": p.t_ms, "heart_rate": p.heart_rate,
                        "power_w": p.power_w, "cadence": p.cadence, "speed_mps": p.speed_mps});
                    if !feed(&mut socket, &message).await {
                        return;
                    }
                }
                if samples && !flush_out(&mut socket).await {
                    return;
                }
            }
            changed = grants.changed() => {
                if changed.is_err() {
                    return;
                }
                grants.borrow_and_update();
                if let Err(reason) = recheck(&state, &mut principal, &mut scope).await {
                    close_for(&mut socket, reason).await;
                    return;
                }
                if let Scope::Board(visible) = &scope {
                    pending.retain(|_, p| visible.contains(&p.athlete_row));
                }
            }
            () = &mut expiry => {
                close_for(&mut socket, "the access token has expired: refresh it and reconnect").await;
                return;
            }
            _ = refresh.tick() => {
                if let Scope::Board(visible) = &mut scope {
                    match board_view(&state, &principal).await {
                        Ok((now_visible, _)) => *visible = now_visible,
                        Err(_) => return,
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The message for `event` if this client may see it (samples are merged into `pending`
/// instead, for the next flush).
fn admit(
    principal: &Principal,
    scope: &Scope,
    event: &LiveEvent,
    pending: &mut HashMap<i64, Pending>,
) -> Option<Value> {
    // The channel carries only the caller's tenant: this check is belt and braces.
    if event.tenant_row != principal.tenant_row {
        return None;
    }
    let in_scope = match scope {
        Scope::Session(row) => event.session_row == *row,
        Scope::Board(visible) => visible.contains(&event.athlete_row),
    };
    if !in_scope {
        return None;
    }
    let ids = |mut value: Value| {
        if let Some(object) = value.as_object_mut() {
            object.insert("session_id".into(), json!(event.session_row));
            object.insert("athlete_id".into(), json!(event.athlete_row));
        }
        value
    };
    match &event.body {
        LiveEventBody::Samples(samples) => {
            let p = pending.entry(event.session_row).or_default();
            p.athlete_row = event.athlete_row;
            for s in samples.iter() {
                p.t_ms = p.t_ms.max(s.t_ms);
                p.heart_rate = s.heart_rate.or(p.heart_rate);
                p.power_w = s.power_w.or(p.power_w);
                p.cadence = s.cadence.or(p.cadence);
                p.speed_mps = s.speed_mps.or(p.speed_mps);
            }
            None
        }
        LiveEventBody::Cue(cue) => {
            let severity = serde_json::to_value(cue.severity).unwrap_or(Value::Null);
            let code = serde_json::to_value(cue.code).unwrap_or(Value::Null);
            Some(ids(
                json!({"type": "cue", "severity": severity, "code": code,
                "text": cue.text, "t_s": cue.t_s}),
            ))
        }
        LiveEventBody::Status { coach, sensors } => {
            let mut value = serde_json::to_value(coach.as_ref()).unwrap_or(Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("type".into(), json!("status"));
                let sensors = sensors.as_ref().map(|s| &s.sensors);
                object.insert(
                    "sensors".into(),
                    serde_json::to_value(sensors).unwrap_or(Value::Null),
                );
            }
            Some(ids(value))
        }
        LiveEventBody::Sensors(status) => {
            let mut value = serde_json::to_value(status.as_ref()).unwrap_or(Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("type".into(), json!("sensors"));
            }
            Some(ids(value))
        }
        LiveEventBody::Ended => Some(ids(json!({"type": "ended"}))),
    }
}
