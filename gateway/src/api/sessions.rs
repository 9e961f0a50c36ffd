//! Sessions: list with filters and pagination, detail, samples, cues, summary, exports,
//! and commands to a live session's coach.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paceline_schemas::{Command, codec};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, athlete_scope, audit, named};
use crate::accounts::{Principal, Role};
use crate::privacy::export;
use crate::store::{queries, to_i64};

/// A session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Id.
    pub id: i64,
    /// The athlete.
    pub athlete_id: i64,
    /// Their name.
    pub athlete_name: String,
    /// The device that streamed it.
    pub device: String,
    /// The id the device gave the session.
    pub session_id: String,
    /// `open`, `ended` or `rejected`.
    pub status: String,
    /// First frame, ms since the epoch.
    pub started_ms: i64,
    /// Latest frame, ms.
    pub last_frame_ms: i64,
    /// Ended, ms.
    pub ended_ms: Option<i64>,
    /// The plan it followed.
    pub plan_id: Option<i64>,
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// Newest first.
    pub items: Vec<SessionView>,
    /// Pass as `before_id` for the next page; absent on the last page.
    pub next_before_id: Option<i64>,
}

/// `GET /sessions` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// Only this athlete's.
    pub athlete_id: Option<i64>,
    /// Only sessions in this state: `open`, `ended`, `rejected`.
    pub status: Option<String>,
    /// Started at or after, ms since the epoch.
    pub since_ms: Option<i64>,
    /// Started before, ms.
    pub until_ms: Option<i64>,
    /// Sessions with ids below this (the previous page's `next_before_id`).
    pub before_id: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionView> {
    Ok(SessionView {
        id: r.get(0)?,
        athlete_id: r.get(1)?,
        athlete_name: r.get(2)?,
        device: r.get(3)?,
        session_id: r.get(4)?,
        status: r.get(5)?,
        started_ms: r.get(6)?,
        last_frame_ms: r.get(7)?,
        ended_ms: r.get(8)?,
        plan_id: r.get(9)?,
    })
}

/// The session `id` if the caller may see it.
/// The session if the caller may see it, once its stored rows are all where reads find
/// them: an open session's newest frames and samples may still be in the writer's inbox,
/// so the writer moves them first; an ended session's moved with its end.
pub(crate) async fn settled_session(
    state: &ApiState,
    p: &Principal,
    id: i64,
) -> Result<SessionView, ApiError> {
    let caller = p.clone();
    let session = state
        .read(move |conn| visible_session(conn, &caller, id))
        .await?;
    if session.status == "open" {
        state.flush_writes().await?;
    }
    Ok(session)
}

pub(crate) fn visible_session(
    conn: &Connection,
    p: &Principal,
    id: i64,
) -> Result<SessionView, ApiError> {
    let (scope, mut values) = athlete_scope(p, "s.athlete_id");
    values.push((":id", rusqlite::types::Value::Integer(id)));
    let sql = queries::visible_session(&scope);
    let view = conn
        .prepare_cached(&sql)?
        .query_row(named(&values).as_slice(), session_row)
        .optional()?
        .ok_or_else(|| ApiError::not_found("session"))?;
    // An open session is live data; an ended one is history: a coach sees each only if
    // the athlete shares it.
    let kind = if view.status == "open" {
        super::sharing::Shared::Live
    } else {
        super::sharing::Shared::History
    };
    if super::sharing::coach_may_see(conn, p, view.athlete_id, kind)? {
        Ok(view)
    } else {
        Err(ApiError::not_found("session"))
    }
}

/// Sessions the caller may see, newest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionQuery),
    responses((status = 200, body = SessionPage), (status = 400, description = "bad filter")),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    if let Some(status) = &q.status
        && !matches!(status.as_str(), "open" | "ended" | "rejected")
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "status is one of open, ended, rejected",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let page = state
        .read(move |conn| {
            use rusqlite::types::Value;
            // Only the filters given go into the SQL, so the planner can use the
            // (tenant, athlete, id) and (tenant, id) indexes.
            let (scope, mut values) = athlete_scope(&p, "s.athlete_id");
            let mut clauses = vec![scope, "s.id < :before".to_owned()];
            // A coach's scope names `:user` already.
            if let Some(shared) = super::sharing::coach_session_filter(&p) {
                clauses.push(shared.to_owned());
            }
            values.push((":before", Value::Integer(q.before_id.unwrap_or(i64::MAX))));
            values.push((":limit", Value::Integer(i64::from(limit))));
            if let Some(athlete) = q.athlete_id {
                clauses.push("s.athlete_id = :athlete_id".to_owned());
                values.push((":athlete_id", Value::Integer(athlete)));
            }
            if let Some(status) = q.status.clone() {
                clauses.push("s.status = :status".to_owned());
                values.push((":status", Value::Text(status)));
            }
            if let Some(since) = q.since_ms {
                clauses.push("s.started_ms >= :since".to_owned());
                values.push((":since", Value::Integer(since)));
            }
            if let Some(until) = q.until_ms {
                clauses.push("s.started_ms < :until".to_owned());
                values.push((":until", Value::Integer(until)));
            }
            let sql = queries::session_page(&clauses.join(" AND "));
            let mut stmt = conn.prepare_cached(&sql)?;
            let items = stmt
                .query_map(named(&values).as_slice(), session_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let next_before_id = if items.len() == limit as usize {
                items.last().map(|s| s.id)
            } else {
                None
            };
            Ok(SessionPage {
                items,
                next_before_id,
            })
        })
        .await?;
    Ok(Json(page))
}

/// A session with its summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: SessionView,
    /// The summary once it ended (SPEC §4 metrics).
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    /// Samples stored.
    pub samples: i64,
    /// Cues given.
    pub cues: i64,
}

/// One session.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = SessionDetail), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn get_session(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SessionDetail>, ApiError> {
    let session = settled_session(&state, &p, id).await?;
    let detail = state
        .read(move |conn| {
            let (summary, samples, cues) =
                conn.query_row(queries::SESSION_DETAIL, params![p.tenant_row, id], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get(1)?, r.get(2)?))
                })?;
            Ok(SessionDetail {
                session,
                summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                samples,
                cues,
            })
        })
        .await?;
    Ok(Json(detail))
}

/// One stored sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleView {
    /// Sensor time, ms from the session's start on the device.
    pub t_ms: i64,
    /// `heart_rate`, `cycling_power`, `running_speed_cadence`, `speed_cadence`,
    /// `indoor_bike`, `treadmill`.
    pub kind: String,
    /// bpm.
    pub heart_rate: Option<i64>,
    /// W.
    pub power_w: Option<f64>,
    /// rpm or steps/min.
    pub cadence: Option<f64>,
    /// m/s.
    pub speed_mps: Option<f64>,
}

/// A page of samples.
#[derive(Debug, Serialize, ToSchema)]
pub struct SamplePage {
    /// In storage order.
    pub items: Vec<SampleView>,
    /// Pass as `after` for the next page; absent at the end.
    pub next_after: Option<i64>,
}

/// `GET /sessions/{id}/samples` paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    /// The previous page's `next_after`.
    pub after: Option<i64>,
    /// Page size, 1–10000 (default 5000).
    pub limit: Option<u32>,
}

/// A session's samples.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/samples", tag = "sessions",
    params(("id" = i64, Path, description = "session id"), SampleQuery),
    responses((status = 200, body = SamplePage), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn session_samples(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SampleQuery>,
) -> Result<Json<SamplePage>, ApiError> {
    let limit = q.limit.unwrap_or(5000).clamp(1, 10_000);
    settled_session(&state, &p, id).await?;
    let page = state
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(queries::SESSION_SAMPLES_PAGE)?;
            let mut last = None;
            let items = stmt
                .query_map(
                    params![p.tenant_row, id, q.after.unwrap_or(0), limit],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            SampleView {
                                t_ms: r.get(1)?,
                                kind: r.get(2)?,
                                heart_rate: r.get(3)?,
                                power_w: r.get(4)?,
                                cadence: r.get(5)?,
                                speed_mps: r.get(6)?,
                            },
                        ))
                    },
                )?
                .map(|row| {
                    row.map(|(rowid, sample)| {
                        last = Some(rowid);
                        sample
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let next_after = if items.len() == limit as usize {
                last
            } else {
                None
            };
            Ok(SamplePage { items, next_after })
        })
        .await?;
    Ok(Json(page))
}

/// A cue the coach gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct CueView {
    /// Position among the session's outputs.
    pub output_seq: i64,
    /// Seconds into the session.
    pub t_s: f64,
    /// `info`, `advice`, `warning`, `safety`.
    pub severity: String,
    /// Stable cue code.
    pub code: String,
    /// What the athlete heard.
    pub text: String,
    /// The workout change it carried, if any.
    #[schema(value_type = Option<Object>)]
    pub modification: Option<serde_json::Value>,
    /// Stored, ms since the epoch.
    pub created_ms: i64,
}

/// A session's cues, in order.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/cues", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = [CueView]), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn session_cues(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<CueView>>, ApiError> {
    let cues = state
        .read(move |conn| {
            visible_session(conn, &p, id)?;
            load_cues(conn, p.tenant_row, id)
        })
        .await?;
    Ok(Json(cues))
}

pub(crate) fn load_cues(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Vec<CueView>, ApiError> {
    let mut stmt = conn.prepare_cached(queries::SESSION_CUES)?;
    let cues = stmt
        .query_map(params![tenant_row, id], |r| {
            Ok(CueView {
                output_seq: r.get(0)?,
                t_s: r.get(1)?,
                severity: r.get(2)?,
                code: r.get(3)?,
                text: r.get(4)?,
                modification: r
                    .get::<_, Option<String>>(5)?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                created_ms: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cues)
}

/// A finished session's summary.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/summary", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = Object, description = "the summary (SPEC §4 metrics)"),
        (status = 404, description = "not visible, or not ended yet")),
    security(("bearer" = [])))]
pub async fn session_summary(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let summary = state
        .read(move |conn| {
            visible_session(conn, &p, id)?;
            let text: Option<String> =
                conn.query_row(queries::SESSION_SUMMARY, params![p.tenant_row, id], |r| {
                    r.get(0)
                })?;
            text.and_then(|s| serde_json::from_str(&s).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "no_summary",
                        "the session has not ended yet",
                    )
                })
        })
        .await?;
    Ok(Json(summary))
}

/// What became of a command.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandReceipt {
    /// The command's log id.
    pub id: i64,
    /// Whether the live coach took it (false only if the session closed meanwhile).
    pub delivered: bool,
}

/// A command body as `send_command` reads it.
pub(super) fn parse_command(body: &serde_json::Value) -> Result<Command, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    codec::from_json(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_command",
            e.to_string(),
        )
    })
}

/// Send a command to a live session's coach: `{"kind":"override_target","target":…,
/// "duration_s":…}`, `{"kind":"time_left","minutes":35}`, `{"kind":"pause"}`,
/// `{"kind":"resume"}`, `{"kind":"skip_step"}`, `{"kind":"end"}`. Coaches and gym-admins
/// may send any; the athlete every one but `override_target`. The safety governor applies
/// to overrides like to the plan.

#[utoipa::path(post, path = "/api/v1/sessions/{id}/commands", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    request_body(content = Object, description = "a command"),
    responses((status = 202, body = CommandReceipt), (status = 409, description = "the session is not live"),
        (status = 422, description = "not a command")),
    security(("bearer" = [])))]
pub async fn send_command(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let command = parse_command(&body)?;
    if p.role == Role::Athlete && matches!(command, Command::OverrideTarget(_)) {
        return Err(ApiError::forbidden("only a coach can override the target"));
    }
    let now = state.now_ms();
    let json = codec::to_json(&command).map_err(|_| ApiError::internal())?;
    let (session, log_id) = state
        .write(move |tx| {
            let session = visible_session(tx, &p, id)?;
            if session.status != "open" {
                return Err(ApiError::conflict(
                    "session_not_live",
                    "the session has ended",
                ));
            }
            tx.execute(
                "INSERT INTO session_commands (tenant_id, session_row, user_id, command_json, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.tenant_row, id, p.user_row, json, to_i64(now)],
            )?;
            let log_id = tx.last_insert_rowid();
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "session.command",
                Some(&format!("session:{id}")),
                serde_json::from_str::<serde_json::Value>(&json)
                    .ok()
                    .as_ref(),
                now,
            )?;
            Ok((session, log_id))
        })
        .await?;
    let delivered = state.live.command_session(session.id, command);
    if !delivered {
        return Err(ApiError::conflict(
            "session_not_live",
            "the session is not being coached right now (its device is silent)",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandReceipt {
            id: log_id,
            delivered,
        }),
    )
        .into_response())
}

/// The samples of a session as CSV: `t_ms,kind,heart_rate_bpm,power_w,cadence,speed_mps`,
/// streamed (chunked, without `Content-Length`) a page of rows at a time, so a long
/// session never sits whole in memory.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/export.csv", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn export_csv(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let tenant_row = p.tenant_row;
    let session = settled_session(&state, &p, id).await?;
    let csv = axum::body::Body::from_stream(csv_pages(state, tenant_row, id));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"paceline-session-{}.csv\"",
                    session.id
                ),
            ),
        ],
        csv,
    )
        .into_response())
}

/// The session as a FIT activity file (records of heart rate, power, cadence, speed).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/export.fit", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, content_type = "application/vnd.ant.fit", body = Vec<u8>),
        (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn export_fit(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let session = settled_session(&state, &p, id).await?;
    let start_ms = u64::try_from(session.started_ms).unwrap_or(0);
    let fit = state
        .read(move |conn| Ok(export::session_fit(conn, p.tenant_row, id, start_ms)?))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.ant.fit".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"paceline-session-{}.fit\"",
                    session.id
                ),
            ),
        ],
        fit,
    )
        .into_response())
}

/// The CSV export of a session, a page of rows per chunk: each page is read in its own
/// short read (no read transaction is held while the client is slow), the next only when
/// the client has taken the last. A failed read ends the body early (the client sees a
/// broken transfer, not a short file that looks whole).
fn csv_pages(
    state: ApiState,
    tenant_row: i64,
    session_row: i64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    // `Some(key)`: the next page starts after `key` (`None` inside: the first page).
    futures_util::stream::unfold(Some(None), move |next: Option<export::PageKey>| {
        let state = state.clone();
        async move {
            let after = next?;
            let page = state
                .read(move |conn| {
                    Ok(export::samples_page(
                        conn,
                        tenant_row,
                        session_row,
                        after,
                        export::EXPORT_PAGE_ROWS,
                    )?)
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(_) => {
                    tracing::error!(session_row, "a session export's read failed");
                    return Some((Err(std::io::Error::other("export read failed")), None));
                }
            };
            let last = page.last().map(|(key, _)| *key);
            let more = page.len() == export::EXPORT_PAGE_ROWS;
            let samples: Vec<export::ExportSample> =
                page.into_iter().map(|(_, sample)| sample).collect();
            let mut bytes = if after.is_none() {
                export::csv_header()
            } else {
                Vec::new()
            };
            match export::csv_rows(&samples) {
                Ok(rows) => bytes.extend(rows),
                Err(err) => return Some((Err(std::io::Error::other(err)), None)),
            }
            let next = if more { last.map(Some) } else { None };
            Some((Ok(bytes::Bytes::from(bytes)), next))
        }
    })
}
