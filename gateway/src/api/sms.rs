//! The coach chat by SMS: an athlete user links their phone (`PUT /me/phone` sends a code
//! by SMS through Twilio's REST API, `POST /me/phone/confirm` takes it back), and
//! `POST /webhooks/sms` takes Twilio's form webhook and answers as TwiML.
//!
//! The webhook, in order: SMS configured (else 404); the form read (bounded); its
//! `X-Twilio-Signature` checked against the configured public URL and auth token (else
//! 403, nothing read further); a repeated `MessageSid` answered with an empty response;
//! the number's limits (its messages this hour past `sms_inbound_per_hour`: one notice,
//! then nothing; its replies today at `sms_outbound_per_day`: nothing, and the message is
//! not acted on), counted under the number's digest; an unlinked number gets nothing at all
//! (an empty `<Response/>`, no notice, nothing through the REST API: a stranger learns
//! nothing, not even that the number is Paceline's); STOP/START/HELP handled before the chat; a number that sent STOP gets nothing; anything else is one
//! chat turn as the number's user, about their own athlete, in their SMS conversation,
//! the reply cut into SMS segments. Numbers and texts are never logged.
//!
//! The webhook is Twilio's protocol (form-encoded, signed), not the JSON API: it lives
//! outside `/api/v1` and its OpenAPI document.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paceline_chat::sms::{self as core, Inbound, Keyword};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::chat::{ChatBody, take_turn};
use super::{ApiError, ApiJson, ApiState, Auth};
use crate::accounts::{Principal, Role};
use crate::chat::sms::{
    CODE_TRIES, CODE_TTL_MS, Twilio, code_digest, day_start_ms, e164, hour_start_ms, new_code,
    number_digest,
};
use crate::store::sms::{self as rows, Direction, PhoneRecord};

/// Between two codes to the same user, ms.
const CODE_INTERVAL_MS: u64 = 60_000;
/// What a number past its hour's limit is told, once that hour.
pub const INBOUND_LIMIT_NOTICE: &str =
    "Paceline: that's a lot of messages from this number. I'll read your texts again next hour.";

fn sms_of(state: &ApiState) -> Result<Twilio, ApiError> {
    state.sms.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "sms_not_configured",
            "SMS is not configured on this server (PACELINE_TWILIO_ACCOUNT_SID, …)",
        )
    })
}

/// A user's phone as they see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneView {
    /// The number, E.164.
    pub phone: String,
    /// Whether its code was confirmed: messages from it reach the chat.
    pub linked: bool,
    /// Whether it sent STOP.
    pub opted_out: bool,
}

fn view(p: &PhoneRecord) -> PhoneView {
    PhoneView {
        phone: p.phone.clone(),
        linked: p.verified_ms.is_some(),
        opted_out: p.opted_out,
    }
}

/// `PUT /me/phone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    /// The number, E.164 (`+15550104477`; spaces and dashes are fine).
    pub phone: String,
}

/// `POST /me/phone/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The six-digit code sent to the phone.
    pub code: String,
}

/// The caller's athlete: SMS is for athlete users talking about themselves.
fn own_athlete(p: &Principal) -> Result<i64, ApiError> {
    match (p.role, p.athlete_row) {
        (Role::Athlete, Some(athlete)) => Ok(athlete),
        _ => Err(ApiError::forbidden(
            "only an athlete user links a phone to the coach chat",
        )),
    }
}

/// The caller's phone.
#[utoipa::path(get, path = "/api/v1/me/phone", tag = "chat",
    responses((status = 200, body = PhoneView), (status = 404, description = "no phone")),
    security(("bearer" = [])))]
pub async fn get_phone(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<PhoneView>, ApiError> {
    let found = state
        .read(move |conn| Ok(rows::phone_of(conn, p.tenant_row, p.user_row)?))
        .await?;
    found
        .map(|r| Json(view(&r)))
        .ok_or_else(|| ApiError::not_found("phone"))
}

/// Add (or change) the caller's phone: a six-digit code is sent to it by SMS, good for ten
/// minutes; the phone is linked once `POST /me/phone/confirm` gets it back.
#[utoipa::path(put, path = "/api/v1/me/phone", tag = "chat",
    request_body = PhoneBody,
    responses((status = 202, body = PhoneView, description = "the code is on its way"),
        (status = 400, description = "not an E.164 number"),
        (status = 403, description = "not an athlete user"),
        (status = 404, description = "SMS not configured (`sms_not_configured`)"),
        (status = 409, description = "the number is linked to another account"),
        (status = 429, description = "a code was sent less than a minute ago, or the number had all its messages today (`sms_limit`)"),
        (status = 502, description = "the SMS provider did not take the message")),
    security(("bearer" = [])))]
pub async fn put_phone(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<PhoneBody>,
) -> Result<(StatusCode, Json<PhoneView>), ApiError> {
    let phone = e164(&body.phone).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_field",
            "phone: an international number starting with + (E.164)",
        )
    })?;
    let twilio = sms_of(&state)?;
    let athlete = own_athlete(&p)?;
    let code = new_code().map_err(|_| ApiError::internal())?;
    let now = state.now_ms();
    let record = PhoneRecord {
        tenant_row: p.tenant_row,
        user_row: p.user_row,
        athlete_row: athlete,
        phone: phone.clone(),
        code_sha256: Some(code_digest(p.user_row, &phone, &code)),
        code_expires_ms: Some(crate::store::to_i64(now + CODE_TTL_MS)),
        code_attempts: 0,
        verified_ms: None,
        opted_out: false,
        conversation_id: None,
    };
    let stored = record.clone();
    let per_day = twilio.settings().outbound_per_day;
    state
        .write(move |tx| {
            if let Some(other) = rows::linked(tx, &stored.phone)?
                && other.user_row != stored.user_row
            {
                return Err(ApiError::conflict(
                    "phone_taken",
                    "this number is linked to another account",
                ));
            }
            if let Some(earlier) = rows::phone_of(tx, stored.tenant_row, stored.user_row)?
                && let Some(expires) = earlier.code_expires_ms
                && crate::store::to_i64(now)
                    < expires - crate::store::to_i64(CODE_TTL_MS)
                        + crate::store::to_i64(CODE_INTERVAL_MS)
            {
                return Err(ApiError::too_many(
                    "code_interval",
                    "a code was sent less than a minute ago",
                    std::time::Duration::from_secs(60),
                ));
            }
            let (_, allowed) = rows::count_messages(
                tx,
                &number_digest(&stored.phone),
                Direction::Outbound,
                day_start_ms(now),
                1,
                Some(per_day),
            )?;
            if !allowed {
                return Err(ApiError::too_many(
                    "sms_limit",
                    "this number has had all the messages it gets today",
                    std::time::Duration::from_millis(day_start_ms(now) + 86_400_000 - now),
                ));
            }
            rows::set_pending_phone(tx, &stored, now)?;
            Ok(())
        })
        .await?;
    twilio
        .send(
            &phone,
            &format!("Paceline: your code is {code}. It works for 10 minutes."),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the linking code was not sent");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "sms_failed",
                "the SMS provider did not take the message: try again later",
            )
        })?;
    Ok((StatusCode::ACCEPTED, Json(view(&record))))
}

/// Confirm the caller's phone with the code sent to it (five tries, ten minutes).
#[utoipa::path(post, path = "/api/v1/me/phone/confirm", tag = "chat",
    request_body = CodeBody,
    responses((status = 200, body = PhoneView),
        (status = 400, description = "a wrong code"),
        (status = 404, description = "no phone waiting for a code"),
        (status = 409, description = "the code expired or was tried five times: ask for a new one")),
    security(("bearer" = [])))]
pub async fn confirm_phone(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<PhoneView>, ApiError> {
    let now = crate::store::to_i64(state.now_ms());
    let now_ms = state.now_ms();
    let linked = state
        .write(move |tx| {
            let mut r = rows::phone_of(tx, p.tenant_row, p.user_row)?
                .filter(|r| r.verified_ms.is_none())
                .ok_or_else(|| ApiError::not_found("phone waiting for a code"))?;
            let (Some(digest), Some(expires)) = (&r.code_sha256, r.code_expires_ms) else {
                return Err(ApiError::not_found("phone waiting for a code"));
            };
            if now > expires || r.code_attempts >= CODE_TRIES {
                return Err(ApiError::conflict(
                    "code_expired",
                    "this code no longer works: ask for a new one",
                ));
            }
            let given = code_digest(p.user_row, &r.phone, &body.code);
            let same: bool = subtle_eq(&given, digest);
            if !same {
                rows::wrong_code(tx, p.tenant_row, p.user_row)?;
                return Ok(Err(r.code_attempts + 1));
            }
            if rows::linked(tx, &r.phone)?.is_some() {
                return Err(ApiError::conflict(
                    "phone_taken",
                    "this number is linked to another account",
                ));
            }
            rows::confirm(tx, p.tenant_row, p.user_row, now_ms)?;
            r.verified_ms = Some(now);
            Ok(Ok(r))
        })
        .await?;
    match linked {
        Ok(r) => Ok(Json(view(&r))),
        Err(tries) => Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "code: not the code sent ({} tries left)",
                CODE_TRIES.saturating_sub(tries)
            ),
        )),
    }
}

/// Constant-time equality of two digests.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Forget the caller's phone: its messages no longer reach the chat.
#[utoipa::path(delete, path = "/api/v1/me/phone", tag = "chat",
    responses((status = 204, description = "forgotten"), (status = 404, description = "no phone")),
    security(("bearer" = [])))]
pub async fn delete_phone(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<StatusCode, ApiError> {
    let gone = state
        .write(move |tx| Ok(rows::delete_phone(tx, p.tenant_row, p.user_row)?))
        .await?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("phone"))
    }
}

/// `POST /webhooks/sms`.
pub fn webhook_router(state: ApiState) -> Router {
    Router::new()
        .route("/webhooks/sms", post(webhook))
        .with_state(state)
}

fn twiml(messages: &[String]) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        core::twiml(messages),
    )
        .into_response()
}

/// Twilio's webhook (module doc).
async fn webhook(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    match answer(&state, &headers, &body).await {
        Ok(messages) => twiml(&messages),
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &ApiState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<String>, ApiError> {
    let twilio = sms_of(state)?;
    let params =
        core::parse_form(body).map_err(|e| ApiError::bad_request("invalid_form", e.to_string()))?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let settings = twilio.settings();
    if !core::verify_signature(
        &settings.webhook_url,
        &params,
        settings.auth_token.expose(),
        signature,
    ) {
        return Err(ApiError::forbidden(
            "the request's signature does not match",
        ));
    }
    let inbound = Inbound::from_params(&params)
        .map_err(|e| ApiError::bad_request("invalid_form", e.to_string()))?;
    let now = state.now_ms();
    let Inbound {
        from,
        body: text,
        message_sid,
        ..
    } = inbound;
    let number = number_digest(&from);
    let (per_hour, per_day) = (settings.inbound_per_hour, settings.outbound_per_day);
    let counted = number.clone();
    let (first, phone, inbound_count, sent_today) = state
        .write(move |tx| {
            if !rows::first_sighting(tx, &message_sid, now)? {
                return Ok((false, None, 0, 0));
            }
            let (inbound, _) = rows::count_messages(
                tx,
                &counted,
                Direction::Inbound,
                hour_start_ms(now),
                1,
                None,
            )?;
            let (sent, _) = rows::count_messages(
                tx,
                &counted,
                Direction::Outbound,
                day_start_ms(now),
                0,
                None,
            )?;
            Ok((true, rows::linked(tx, &from)?, inbound, sent))
        })
        .await?;
    // A repeated MessageSid, or a number linked to no one: nothing.
    let Some(phone) = phone.filter(|_| first) else {
        return Ok(Vec::new());
    };
    let replies = if inbound_count > per_hour {
        // Past the hour's limit: one notice, then nothing; STOP and START still count.
        if let Some(keyword @ (Keyword::Stop | Keyword::Start)) = Keyword::parse(&text) {
            let (tenant, user) = (phone.tenant_row, phone.user_row);
            let out = keyword == Keyword::Stop;
            state
                .write(move |tx| Ok(rows::set_opted_out(tx, tenant, user, out)?))
                .await?;
        }
        if inbound_count == per_hour + 1 {
            vec![INBOUND_LIMIT_NOTICE.to_owned()]
        } else {
            Vec::new()
        }
    } else if sent_today >= per_day {
        // Nothing more goes to this number today: the message is not read either, so
        // nothing is done that the athlete would not hear about.
        Vec::new()
    } else {
        reply(state, phone, text).await?
    };
    if replies.is_empty() {
        return Ok(replies);
    }
    let n = u32::try_from(replies.len()).unwrap_or(u32::MAX);
    let (_, allowed) = state
        .write(move |tx| {
            Ok(rows::count_messages(
                tx,
                &number,
                Direction::Outbound,
                day_start_ms(now),
                n,
                Some(per_day),
            )?)
        })
        .await?;
    Ok(if allowed { replies } else { Vec::new() })
}

/// The answer to a linked number's message within the limits: STOP/START/HELP, or one
/// chat turn.
async fn reply(
    state: &ApiState,
    phone: PhoneRecord,
    text: String,
) -> Result<Vec<String>, ApiError> {
    if let Some(keyword) = Keyword::parse(&text) {
        if matches!(keyword, Keyword::Stop | Keyword::Start) {
            let (tenant, user) = (phone.tenant_row, phone.user_row);
            let out = keyword == Keyword::Stop;
            state
                .write(move |tx| Ok(rows::set_opted_out(tx, tenant, user, out)?))
                .await?;
        }
        return Ok(core::segments(keyword.reply()));
    }
    if phone.opted_out {
        return Ok(Vec::new());
    }
    let (tenant, user) = (phone.tenant_row, phone.user_row);
    let active: bool = state
        .read(move |conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM users WHERE tenant_id = ?1 AND id = ?2 AND disabled_ms IS NULL",
                rusqlite::params![tenant, user],
                |r| r.get::<_, i64>(0),
            )? == 1)
        })
        .await?;
    if !active {
        return Ok(Vec::new());
    }
    let principal = Principal {
        user_row: phone.user_row,
        tenant_row: phone.tenant_row,
        role: Role::Athlete,
        athlete_row: Some(phone.athlete_row),
        // No login: the number is the credential, linked by a confirmed code.
        family_row: 0,
        impersonation: None,
    };
    let message: String = text
        .chars()
        .take(paceline_chat::entities::MAX_MESSAGE_CHARS)
        .collect();
    let turn = ChatBody {
        message,
        conversation_id: phone.conversation_id,
        athlete_id: Some(phone.athlete_row),
    };
    let taken = match take_turn(state, principal.clone(), turn).await {
        Err(e) if e.code == "not_found" && phone.conversation_id.is_some() => {
            // The conversation is gone: start another.
            let again = ChatBody {
                message: text
                    .chars()
                    .take(paceline_chat::entities::MAX_MESSAGE_CHARS)
                    .collect(),
                conversation_id: None,
                athlete_id: Some(phone.athlete_row),
            };
            take_turn(state, principal, again).await
        }
        other => other,
    };
    let (answer, _, _) = match taken {
        Ok(t) => t,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            return Ok(core::segments(
                "Paceline: that's all the messages for today. Talk tomorrow!",
            ));
        }
        Err(e) => return Err(e),
    };
    if phone.conversation_id != Some(answer.conversation_id) {
        let id = answer.conversation_id;
        state
            .write(move |tx| Ok(rows::set_conversation(tx, tenant, user, id)?))
            .await?;
    }
    Ok(core::segments(&answer.reply.reply))
}
