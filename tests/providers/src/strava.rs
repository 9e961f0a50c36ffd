//! Strava's OAuth and API v3, the parts Paceline uses: the authorize page, the token
//! endpoint (both grants), deauthorize, the activity list, an activity, its streams,
//! and push subscriptions (with the callback challenge).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use paceline_sync::oauth::{STRAVA_SCOPES, TokenAthlete, TokenBody};
use paceline_sync::strava::SummaryActivity;
use serde_json::json;
use url::Url;

use crate::world::{Shared, Subscription, lock, now_s};

/// A Strava-shaped error body.
pub fn fault(
    status: StatusCode,
    message: &str,
    resource: &str,
    field: &str,
    code: &str,
) -> Response {
    (
        status,
        Json(json!({
            "message": message,
            "errors": [{"resource": resource, "field": field, "code": code}],
        })),
    )
        .into_response()
}

type Params = Query<BTreeMap<String, String>>;

/// `GET /oauth/authorize`: logs the athlete in (the one `athlete_id` names, else the
/// default) and redirects back with `code`, `state` and the scopes granted.
pub async fn authorize(State(world): State<Shared>, Query(q): Params) -> Response {
    let mut world = lock(&world);
    if q.get("client_id") != Some(&world.client_id) {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Application",
            "client_id",
            "invalid",
        );
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Application",
            "response_type",
            "invalid",
        );
    }
    let Some(Ok(mut redirect)) = q.get("redirect_uri").map(|u| Url::parse(u)) else {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Application",
            "redirect_uri",
            "invalid",
        );
    };
    let athlete_id = q
        .get("athlete_id")
        .and_then(|a| a.parse().ok())
        .unwrap_or(world.default_athlete_id);
    let code = world.fresh("code");
    world.codes.insert(code.clone(), (athlete_id, None));
    {
        let mut pairs = redirect.query_pairs_mut();
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("code", &code).append_pair(
            "scope",
            q.get("scope").map_or(STRAVA_SCOPES, String::as_str),
        );
    }
    Redirect::to(redirect.as_str()).into_response()
}

fn token_answer(world: &mut crate::world::World, athlete_id: u64, with_athlete: bool) -> Response {
    let (access, refresh, expires_at) = world.grant(athlete_id);
    Json(TokenBody {
        token_type: Some("Bearer".to_owned()),
        access_token: access,
        refresh_token: refresh,
        expires_at: Some(expires_at),
        expires_in: Some(world.token_lifetime_s),
        scope: None,
        athlete: with_athlete.then(|| TokenAthlete {
            id: i64::try_from(athlete_id).unwrap_or(i64::MAX),
        }),
    })
    .into_response()
}

/// `POST /oauth/token`: `authorization_code` (single-use code) and `refresh_token`
/// (the refresh token rotates).
pub async fn token(
    State(world): State<Shared>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut world = lock(&world);
    if form.get("client_id") != Some(&world.client_id)
        || form.get("client_secret") != Some(&world.client_secret)
    {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "Application",
            "client_id",
            "invalid",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            match world.codes.remove(&code) {
                Some((athlete_id, _)) => token_answer(&mut world, athlete_id, true),
                None => fault(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "AuthorizationCode",
                    "code",
                    "invalid",
                ),
            }
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            match world.refresh.remove(&refresh) {
                Some(athlete_id) => token_answer(&mut world, athlete_id, false),
                None => fault(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "RefreshToken",
                    "refresh_token",
                    "invalid",
                ),
            }
        }
        _ => fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Application",
            "grant_type",
            "invalid",
        ),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// `POST /oauth/deauthorize`: the token (form `access_token` or bearer) and every other
/// token of its athlete stop working.
pub async fn deauthorize(
    State(world): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut world = lock(&world);
    let Some(token) = form
        .get("access_token")
        .cloned()
        .or_else(|| bearer(&headers))
    else {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "Athlete",
            "access_token",
            "invalid",
        );
    };
    let Some(grant) = world.access.get(&token).cloned() else {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "Athlete",
            "access_token",
            "invalid",
        );
    };
    world.revoke(grant.athlete_id);
    Json(json!({ "access_token": token })).into_response()
}

fn athlete(world: &crate::world::World, headers: &HeaderMap) -> Result<u64, Box<Response>> {
    let unauthorized = || {
        fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "Athlete",
            "access_token",
            "invalid",
        )
    };
    let token = bearer(headers).ok_or_else(|| Box::new(unauthorized()))?;
    match world.access.get(&token) {
        Some(grant) if grant.expires_at_s > now_s() => Ok(grant.athlete_id),
        _ => Err(Box::new(unauthorized())),
    }
}

fn record_not_found() -> Response {
    fault(
        StatusCode::NOT_FOUND,
        "Record Not Found",
        "Activity",
        "id",
        "not found",
    )
}

/// `GET /api/v3/athlete/activities?after=&before=&page=&per_page=`: the athlete's
/// activities; oldest first when `after` is given (as Strava does), newest first
/// otherwise.
pub async fn activities(
    State(world): State<Shared>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let world = lock(&world);
    let athlete_id = match athlete(&world, &headers) {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let number = |name: &str| q.get(name).and_then(|v| v.parse::<i64>().ok());
    let after = number("after");
    let before = number("before");
    let page = usize::try_from(number("page").unwrap_or(1).max(1)).unwrap_or(1);
    let per_page = usize::try_from(number("per_page").unwrap_or(30).clamp(1, 200)).unwrap_or(30);
    let mut list: Vec<(i64, &SummaryActivity)> = world
        .activities
        .values()
        .map(|s| &s.detail.summary)
        .filter(|a| a.athlete.as_ref().is_some_and(|r| r.id == athlete_id))
        .filter_map(|a| Some((a.start_ms().ok()?.div_euclid(1000), a)))
        .filter(|(start, _)| {
            after.is_none_or(|after| *start > after) && before.is_none_or(|b| *start < b)
        })
        .collect();
    list.sort_by_key(|(start, a)| (*start, a.id));
    if after.is_none() {
        list.reverse();
    }
    let page: Vec<&SummaryActivity> = list
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(_, a)| a)
        .collect();
    Json(page).into_response()
}

/// `GET /api/v3/activities/{id}`.
pub async fn activity(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let world = lock(&world);
    let athlete_id = match athlete(&world, &headers) {
        Ok(a) => a,
        Err(response) => return *response,
    };
    match world.activities.get(&id) {
        Some(s)
            if s.detail
                .summary
                .athlete
                .as_ref()
                .is_some_and(|a| a.id == athlete_id) =>
        {
            Json(&s.detail).into_response()
        }
        _ => record_not_found(),
    }
}

/// `GET /api/v3/activities/{id}/streams?keys=…&key_by_type=true`: the streams asked
/// for that the activity has.
pub async fn streams(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Query(q): Params,
) -> Response {
    let world = lock(&world);
    let athlete_id = match athlete(&world, &headers) {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let Some(seeded) = world.activities.get(&id).filter(|s| {
        s.detail
            .summary
            .athlete
            .as_ref()
            .is_some_and(|a| a.id == athlete_id)
    }) else {
        return record_not_found();
    };
    if q.get("key_by_type").map(String::as_str) != Some("true") {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Stream",
            "key_by_type",
            "only true is served",
        );
    }
    let keys: Vec<&str> = q
        .get("keys")
        .map(|k| k.split(',').collect())
        .unwrap_or_default();
    let mut streams = (*seeded.streams).clone();
    let wanted = |key: &str| keys.is_empty() || keys.contains(&key);
    // Strava always sends the time stream.
    if !wanted("heartrate") {
        streams.heartrate = None;
    }
    if !wanted("watts") {
        streams.watts = None;
    }
    if !wanted("cadence") {
        streams.cadence = None;
    }
    if !wanted("distance") {
        streams.distance = None;
    }
    if !wanted("altitude") {
        streams.altitude = None;
    }
    if !wanted("latlng") {
        streams.latlng = None;
    }
    if !wanted("velocity_smooth") {
        streams.velocity_smooth = None;
    }
    Json(streams).into_response()
}

/// `POST /api/v3/push_subscriptions`: checks the app, then Strava's challenge against
/// `callback_url` (a GET with `hub.mode`, `hub.challenge`, `hub.verify_token`; the
/// answer must echo the challenge), then remembers the subscription.
pub async fn subscribe(
    State(world): State<Shared>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let (challenge, id) = {
        let mut world = lock(&world);
        if form.get("client_id") != Some(&world.client_id)
            || form.get("client_secret") != Some(&world.client_secret)
        {
            return fault(
                StatusCode::UNAUTHORIZED,
                "Authorization Error",
                "Application",
                "client_id",
                "invalid",
            );
        }
        if world.subscription.is_some() {
            return fault(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "PushSubscription",
                "",
                "already exists",
            );
        }
        let challenge = world.fresh("challenge");
        let id = world.counter;
        (challenge, id)
    };
    let (Some(callback_url), Some(verify_token)) =
        (form.get("callback_url"), form.get("verify_token"))
    else {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "PushSubscription",
            "callback_url",
            "missing",
        );
    };
    let Ok(mut url) = Url::parse(callback_url) else {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "PushSubscription",
            "callback_url",
            "invalid",
        );
    };
    url.query_pairs_mut()
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.challenge", &challenge)
        .append_pair("hub.verify_token", verify_token);
    let echoed = async {
        let response = reqwest::get(url).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: serde_json::Value = response.json().await.ok()?;
        Some(body.get("hub.challenge")?.as_str()? == challenge)
    }
    .await;
    if echoed != Some(true) {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "PushSubscription",
            "callback_url",
            "not verifiable",
        );
    }
    lock(&world).subscription = Some(Subscription {
        id,
        callback_url: callback_url.clone(),
    });
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

/// `GET /api/v3/push_subscriptions`.
pub async fn subscriptions(State(world): State<Shared>) -> Response {
    let world = lock(&world);
    Json(world.subscription.iter().collect::<Vec<_>>()).into_response()
}

/// `DELETE /api/v3/push_subscriptions/{id}`.
pub async fn unsubscribe(State(world): State<Shared>, Path(id): Path<u64>) -> Response {
    let mut world = lock(&world);
    if world.subscription.as_ref().is_some_and(|s| s.id == id) {
        world.subscription = None;
        StatusCode::NO_CONTENT.into_response()
    } else {
        fault(
            StatusCode::NOT_FOUND,
            "Record Not Found",
            "PushSubscription",
            "id",
            "not found",
        )
    }
}
