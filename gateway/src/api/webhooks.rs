//! Strava's webhook, at `/webhooks/strava` (outside `/api/v1`: Strava calls it, no user
//! token comes with it). The rules are `paceline-sync`'s [`paceline_sync::webhook`];
//! this is the thin HTTP shell:
//!
//! - `GET` answers the subscription challenge (`hub.mode=subscribe`, the verify token
//!   compared in constant time) with `{"hub.challenge": …}`; a wrong token is 403.
//! - `POST` reads at most [`MAX_EVENT_BYTES`], parses the event and queues the job it asks
//!   for on every connection of that Strava owner, then answers 200 at once: the work
//!   (a fetch with the owner's token, a delete, a checked revoke) is the runner's
//!   ([`crate::jobs::sync`]). Nothing in an event is trusted beyond *which* object to look at.
//!   A malformed body is a 400 and counts `sync_webhook_events{outcome="Malformed"}`;
//!   an owner no connection has is ignored with a 200 and counted (`UnknownOwner`); a
//!   delivery whose job is already waiting adds nothing (`Duplicate`).
//!
//! `POST /webhooks/garmin` takes Garmin's push and ping notifications (every summary
//! type's URL may point here; at most 16 MiB): push items (activities, dailies, sleeps,
//! HRV, stress) are applied at once for every connection of that Garmin user
//! ([`crate::jobs::sync::apply_garmin_items`]); pings (their `callbackURL` must be on the
//! configured Garmin API origin, else 400) and deregistrations become jobs.
//!
//! The owner lookup is the one query here no tenant scopes: an event names only Strava's
//! athlete id. Each job it queues belongs to the tenant of the connection it found.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paceline_sync::Provider;
use paceline_sync::webhook::{ChallengeError, MAX_EVENT_BYTES, answer_challenge, parse_event};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, ApiState};
use crate::metrics::WebhookOutcome;
use crate::store::sync as rows;

/// The webhook's routes (merged at the root, beside `/api/v1`).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/webhooks/strava",
            axum::routing::get(strava_challenge).post(strava_event),
        )
        .route("/webhooks/garmin", axum::routing::post(garmin_notification))
        .with_state(state)
}

fn strava_verify_token(state: &ApiState) -> Result<String, ApiError> {
    state
        .sync
        .as_ref()
        .and_then(|sync| sync.settings.strava.as_ref())
        .map(|strava| strava.verify_token.expose().to_owned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "sync_not_configured",
                "Strava is not configured on this server (PACELINE_STRAVA_CLIENT_ID, …)",
            )
        })
}

/// Strava's subscription challenge: `{"hub.challenge": "<the challenge>"}` when the
/// verify token is this server's.
#[utoipa::path(get, path = "/webhooks/strava", tag = "sync",
    params(
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.challenge" = Option<String>, Query, description = "echoed back"),
        ("hub.verify_token" = Option<String>, Query, description = "PACELINE_STRAVA_VERIFY_TOKEN"),
    ),
    responses((status = 200, description = "`{\"hub.challenge\": …}`"),
        (status = 400, description = "not a subscription challenge"),
        (status = 403, description = "the verify token does not match"),
        (status = 404, description = "Strava is not configured on this server")))]
pub async fn strava_challenge(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let verify_token = zeroize::Zeroizing::new(strava_verify_token(&state)?);
    match answer_challenge(query.as_deref().unwrap_or(""), &verify_token) {
        Ok(body) => Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response()),
        Err(ChallengeError::WrongToken) => Err(ApiError::forbidden(
            "hub.verify_token: not this server's verify token",
        )),
        Err(ChallengeError::NotAChallenge) => Err(ApiError::bad_request(
            "invalid_challenge",
            "a subscription challenge has hub.mode=subscribe, hub.challenge (≤ 256 bytes) and hub.verify_token",
        )),
    }
}

/// What became of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventReceipt {
    /// `queued`, `duplicate` (the same work was waiting), `unknown_owner`, `ignored`.
    pub outcome: String,
}

/// One Strava webhook event (`object_type`, `object_id`, `aspect_type`, `updates`,
/// `owner_id`, `subscription_id`, `event_time`; at most 16 KiB): the job it asks for is
/// queued and the answer is immediate.
#[utoipa::path(post, path = "/webhooks/strava", tag = "sync",
    request_body(content = String, content_type = "application/json",
        description = "a Strava event: {\"object_type\", \"object_id\", \"aspect_type\", \"updates\", \"owner_id\", \"subscription_id\", \"event_time\"}"),
    responses((status = 200, body = EventReceipt),
        (status = 400, description = "not an event Strava sends"),
        (status = 413, description = "over 16 KiB"),
        (status = 404, description = "Strava is not configured on this server")))]
pub async fn strava_event(State(state): State<ApiState>, body: Body) -> Result<Response, ApiError> {
    strava_verify_token(&state)?;
    let metrics = |outcome| state.live.metrics().webhook(outcome);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_EVENT_BYTES).await else {
        metrics(WebhookOutcome::Malformed);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a webhook event is at most {MAX_EVENT_BYTES} bytes"),
        ));
    };
    let event = match parse_event(&bytes) {
        Ok(event) => event,
        Err(e) => {
            metrics(WebhookOutcome::Malformed);
            return Err(ApiError::bad_request("invalid_event", e.to_string()));
        }
    };
    let Some(job) = event.job() else {
        metrics(WebhookOutcome::Ignored);
        return Ok(receipt(WebhookOutcome::Ignored));
    };
    let owner_id = event.owner_id.to_string();
    let now_ms = state.now_ms();
    let now_s = crate::store::to_i64(now_ms / 1000);
    let outcome = state
        .write(move |tx| {
            let owners = rows::connections_of_owner(tx, Provider::Strava, &owner_id)?;
            if owners.is_empty() {
                return Ok(WebhookOutcome::UnknownOwner);
            }
            let mut outcome = WebhookOutcome::Duplicate;
            let mut tenants: Vec<i64> = owners.into_iter().map(|(tenant, _)| tenant).collect();
            tenants.dedup();
            for tenant in tenants {
                let (_, added) = rows::enqueue_job(tx, tenant, &job, now_s, now_ms)?;
                if added {
                    outcome = WebhookOutcome::Queued;
                }
            }
            Ok(outcome)
        })
        .await?;
    metrics(outcome);
    if outcome == WebhookOutcome::Queued
        && let Some(sync) = &state.sync
    {
        sync.wake();
    }
    Ok(receipt(outcome))
}

fn receipt(outcome: WebhookOutcome) -> Response {
    let outcome = match outcome {
        WebhookOutcome::Queued => "queued",
        WebhookOutcome::Duplicate => "duplicate",
        WebhookOutcome::UnknownOwner => "unknown_owner",
        WebhookOutcome::Ignored => "ignored",
        WebhookOutcome::Malformed => "malformed",
    };
    axum::Json(EventReceipt {
        outcome: outcome.to_owned(),
    })
    .into_response()
}

/// What a Garmin notification did.
#[derive(Debug, Serialize, ToSchema)]
pub struct GarminReceipt {
    /// Activities imported (duplicates not counted).
    pub activities: usize,
    /// Days whose health metrics changed.
    pub days: usize,
    /// Jobs queued (pings to fetch, deregistrations to check).
    pub jobs_queued: usize,
    /// Items for Garmin users no connection has (ignored).
    pub unknown_owner_items: usize,
}

/// Garmin's push and ping notifications (`activities`, `activityDetails`, `dailies`,
/// `sleeps`, `hrv`, `stressDetails`, `userMetrics`, `deregistrations`,
/// `userPermissionsChange`): pushed data applied at once, pings and deregistrations
/// queued.
#[utoipa::path(post, path = "/webhooks/garmin", tag = "sync",
    request_body(content = String, content_type = "application/json",
        description = "a Garmin notification: {\"dailies\": [...], ...}"),
    responses((status = 200, body = GarminReceipt),
        (status = 400, description = "not a notification Garmin sends, or a callback URL off Garmin's API origin"),
        (status = 413, description = "over 16 MiB"),
        (status = 404, description = "Garmin is not configured on this server")))]
pub async fn garmin_notification(
    State(state): State<ApiState>,
    body: Body,
) -> Result<Response, ApiError> {
    let api_origin = state
        .sync
        .as_ref()
        .and_then(|sync| sync.settings.garmin.as_ref())
        .map(|g| g.api_base_url.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "sync_not_configured",
                "Garmin is not configured on this server (PACELINE_GARMIN_CLIENT_ID, …)",
            )
        })?;
    let metrics = |outcome| state.live.metrics().webhook(outcome);
    let max = paceline_sync::garmin::MAX_NOTIFICATION_BYTES;
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        metrics(WebhookOutcome::Malformed);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a Garmin notification is at most {max} bytes"),
        ));
    };
    let items = match paceline_sync::garmin::parse_notification(&bytes, &api_origin) {
        Ok(items) => items,
        Err(e) => {
            metrics(WebhookOutcome::Malformed);
            return Err(ApiError::bad_request("invalid_notification", e.to_string()));
        }
    };
    let now_ms = state.now_ms();
    let now_s = crate::store::to_i64(now_ms / 1000);
    let receipt = state
        .write(move |tx| {
            let mut receipt = GarminReceipt {
                activities: 0,
                days: 0,
                jobs_queued: 0,
                unknown_owner_items: 0,
            };
            for item in &items {
                let owners = rows::connections_of_owner(tx, Provider::Garmin, item.user_id())?;
                if owners.is_empty() {
                    receipt.unknown_owner_items += 1;
                    continue;
                }
                for (tenant, id) in owners {
                    if let Some(job) = item.job() {
                        let (_, added) = rows::enqueue_job(tx, tenant, &job, now_s, now_ms)?;
                        receipt.jobs_queued += usize::from(added);
                        continue;
                    }
                    let Some(connection) = rows::connection(tx, tenant, id)? else {
                        continue;
                    };
                    if connection.status != paceline_sync::ConnectionStatus::Connected.as_str() {
                        continue;
                    }
                    let owner = crate::jobs::library::Owner {
                        tenant_row: tenant,
                        athlete_row: connection.athlete_row,
                    };
                    let applied = crate::jobs::sync::apply_garmin_items(
                        tx,
                        owner,
                        std::slice::from_ref(item),
                        now_ms,
                    )?;
                    receipt.activities += applied.activities;
                    receipt.days += applied.days;
                }
            }
            Ok(receipt)
        })
        .await?;
    metrics(if receipt.unknown_owner_items > 0 {
        WebhookOutcome::UnknownOwner
    } else if receipt.jobs_queued > 0 || receipt.activities > 0 || receipt.days > 0 {
        WebhookOutcome::Queued
    } else {
        WebhookOutcome::Duplicate
    });
    if receipt.jobs_queued > 0
        && let Some(sync) = &state.sync
    {
        sync.wake();
    }
    Ok(axum::Json(receipt).into_response())
}
