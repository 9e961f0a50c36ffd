//! The weekly digest's unsubscribe link: works without logging in (the token is the
//! HMAC-signed user id, see [`crate::jobs::digest`]). `GET` shows a page that asks to confirm (a
//! mail scanner following links unsubscribes no one); `POST`, from that page's button or
//! from a mail client's one-click `List-Unsubscribe-Post` (RFC 8058), unsubscribes.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use paceline_insights::chart::escape_xml;
use paceline_insights::unsubscribe::{DIGEST_PURPOSE, verify_unsubscribe};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiQuery, ApiState};
use crate::jobs::digest::{UNSUBSCRIBE_PATH, UNSUBSCRIBE_SECRET};
use crate::store::digest as rows;

/// The unsubscribe link's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UnsubscribeQuery {
    /// The signed token from the mail.
    pub t: Option<String>,
}

/// The user and tenant a token names, or 400 `invalid_token` / 404.
async fn token_user(state: &ApiState, token: Option<String>) -> Result<(i64, i64), ApiError> {
    let token = token.unwrap_or_default();
    let now = state.now_ms();
    let store = state.live.store().server_key();
    let key = state
        .write(move |tx| {
            Ok(crate::store::server_secret(
                tx,
                &store,
                UNSUBSCRIBE_SECRET,
                now,
            )?)
        })
        .await?;
    let user_row = verify_unsubscribe(&key, &token, DIGEST_PURPOSE)
        .map_err(|e| ApiError::bad_request("invalid_token", format!("t: {e}")))?;
    let tenant_row = state
        .read(move |conn| Ok(rows::user_tenant(conn, user_row)?))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok((tenant_row, user_row))
}

fn page(title: &str, body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{t}</title></head><body><main><h1>{t}</h1>{body}</main></body></html>",
            t = escape_xml(title)
        ),
    )
        .into_response()
}

/// The confirmation page of the digest's unsubscribe link (no login).
#[utoipa::path(get, path = "/api/v1/digest/unsubscribe", tag = "insights",
    params(UnsubscribeQuery),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 400, description = "a token that is not one of ours (`invalid_token`)"),
        (status = 404, description = "the user is gone")))]
pub async fn unsubscribe_page(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<UnsubscribeQuery>,
) -> Result<Response, ApiError> {
    let token = q.t.clone().unwrap_or_default();
    let (tenant_row, user_row) = token_user(&state, q.t).await?;
    let already = state
        .read(move |conn| Ok(rows::opted_out(conn, tenant_row, user_row)?))
        .await?;
    if already {
        return Ok(page(
            "You are unsubscribed",
            "<p>You no longer get the weekly digest.</p>",
        ));
    }
    Ok(page(
        "Unsubscribe from the weekly digest?",
        &format!(
            "<p>You will no longer get Paceline's weekly letter.</p>\
             <form method=\"post\" action=\"{path}?t={token}\">\
             <button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button></form>",
            path = UNSUBSCRIBE_PATH,
            token = escape_xml(&token)
        ),
    ))
}

/// Unsubscribe from the weekly digest (no login; the page's button or RFC 8058 one-click).
#[utoipa::path(post, path = "/api/v1/digest/unsubscribe", tag = "insights",
    params(UnsubscribeQuery),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 400, description = "a token that is not one of ours (`invalid_token`)"),
        (status = 404, description = "the user is gone")))]
pub async fn unsubscribe(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<UnsubscribeQuery>,
) -> Result<Response, ApiError> {
    let (tenant_row, user_row) = token_user(&state, q.t).await?;
    let now = state.now_ms();
    state
        .write(move |tx| Ok(rows::opt_out(tx, tenant_row, user_row, now)?))
        .await?;
    tracing::info!(user = user_row, "unsubscribed from the weekly digest");
    Ok(page(
        "You are unsubscribed",
        "<p>You no longer get the weekly digest.</p>",
    ))
}
