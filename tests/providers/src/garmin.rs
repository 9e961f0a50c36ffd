//! Garmin's OAuth 2.0 with PKCE and the Health API parts Paceline uses: the consent
//! page, the token endpoint (both grants, the S256 verifier checked), the user id,
//! permissions and deregistration, ping callbacks, and (from `/admin/garmin/notify`)
//! push, ping and deregistration notifications sent to the gateway.
//!
//! Garmin's user id is the athlete id written as a string.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use paceline_sync::garmin::body::{
    ActivityBody, ActivityDetailBody, DailyBody, HrvBody, PingBody, SampleBody, ScoreBody,
    SleepBody, StressDetailsBody, UserBody, UserMetricsBody,
};
use paceline_sync::oauth::{PkceVerifier, TokenBody};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::world::{Shared, World, lock, now_s};

/// Garmin's OAuth error body.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

type Params = Query<BTreeMap<String, String>>;

/// `GET /oauth2Confirm`: the consent page, granted at once: redirects back with `code`
/// and `state`. PKCE S256 is required.
pub async fn authorize(State(world): State<Shared>, Query(q): Params) -> Response {
    let mut world = lock(&world);
    if q.get("client_id") != Some(&world.client_id) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let Some(challenge) = q
        .get("code_challenge")
        .filter(|_| q.get("code_challenge_method").map(String::as_str) == Some("S256"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "PKCE S256 is required",
        );
    };
    let Some(Ok(mut redirect)) = q.get("redirect_uri").map(|u| Url::parse(u)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri");
    };
    let athlete_id = q
        .get("athlete_id")
        .and_then(|a| a.parse().ok())
        .unwrap_or(world.default_athlete_id);
    let code = world.fresh("garmin-code");
    world
        .codes
        .insert(code.clone(), (athlete_id, Some(challenge.clone())));
    {
        let mut pairs = redirect.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    Redirect::to(redirect.as_str()).into_response()
}

fn tokens(world: &mut World, athlete_id: u64) -> Response {
    let (access, refresh, _) = world.grant(athlete_id);
    Json(TokenBody {
        token_type: Some("bearer".to_owned()),
        access_token: access,
        refresh_token: refresh,
        expires_at: None,
        expires_in: Some(world.token_lifetime_s),
        scope: Some("ACTIVITY_EXPORT HEALTH_EXPORT".to_owned()),
        athlete: None,
    })
    .into_response()
}

/// `POST /di-oauth2-service/oauth/token`: `authorization_code` (the `code_verifier`'s
/// S256 must match the challenge) and `refresh_token`.
pub async fn token(
    State(world): State<Shared>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut world = lock(&world);
    if form.get("client_id") != Some(&world.client_id)
        || form.get("client_secret") != Some(&world.client_secret)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((athlete_id, challenge)) = world.codes.remove(&code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                );
            };
            let verified = form
                .get("code_verifier")
                .and_then(|v| PkceVerifier::parse(v).ok())
                .is_some_and(|v| Some(v.challenge_s256()) == challenge);
            if !verified {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code_verifier does not match",
                );
            }
            tokens(&mut world, athlete_id)
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            match world.refresh.remove(&refresh) {
                Some(athlete_id) => tokens(&mut world, athlete_id),
                None => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown refresh token",
                ),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type",
        ),
    }
}

fn user(world: &World, headers: &HeaderMap) -> Option<u64> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    world
        .access
        .get(token)
        .filter(|g| g.expires_at_s > now_s())
        .map(|g| g.athlete_id)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errorMessage": "Unauthorized"})),
    )
        .into_response()
}

/// `GET /wellness-api/rest/user/id`.
pub async fn user_id(State(world): State<Shared>, headers: HeaderMap) -> Response {
    match user(&lock(&world), &headers) {
        Some(athlete_id) => Json(json!({ "userId": athlete_id.to_string() })).into_response(),
        None => unauthorized(),
    }
}

/// `GET /wellness-api/rest/user/permissions`.
pub async fn permissions(State(world): State<Shared>, headers: HeaderMap) -> Response {
    match user(&lock(&world), &headers) {
        Some(_) => Json(json!(["ACTIVITY_EXPORT", "HEALTH_EXPORT"])).into_response(),
        None => unauthorized(),
    }
}

/// `DELETE /wellness-api/rest/user/registration`: the user's tokens stop working.
pub async fn deregister(State(world): State<Shared>, headers: HeaderMap) -> Response {
    let mut world = lock(&world);
    match user(&world, &headers) {
        Some(athlete_id) => {
            world.revoke(athlete_id);
            StatusCode::NO_CONTENT.into_response()
        }
        None => unauthorized(),
    }
}

/// `GET /wellness-api/rest/{summary}?uploadStartTimeInSeconds=&uploadEndTimeInSeconds=`:
/// what a ping announced, for its user only.
pub async fn callback(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(summary): Path<String>,
    Query(q): Params,
) -> Response {
    let world = lock(&world);
    let Some(athlete_id) = user(&world, &headers) else {
        return unauthorized();
    };
    let key = callback_key(
        &summary,
        &athlete_id.to_string(),
        q.get("uploadStartTimeInSeconds").map_or("", String::as_str),
    );
    Json(
        world
            .garmin_callbacks
            .get(&key)
            .cloned()
            .unwrap_or(json!([])),
    )
    .into_response()
}

/// `GET /wellness-api/rest/backfill/{summary}?summaryStartTimeInSeconds=&summaryEndTimeInSeconds=`:
/// accepted (202) for a known summary type and a range of at most 90 days, as Garmin
/// answers before it sends the summaries later; nothing is sent here.
pub async fn backfill(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(summary): Path<String>,
    Query(q): Params,
) -> Response {
    if user(&lock(&world), &headers).is_none() {
        return unauthorized();
    }
    let known = paceline_sync::jobs::SummaryType::parse(&summary).is_some();
    let range = |name: &str| q.get(name).and_then(|v| v.parse::<i64>().ok());
    let ok_range = matches!(
        (range("summaryStartTimeInSeconds"), range("summaryEndTimeInSeconds")),
        (Some(start), Some(end)) if start < end && end - start <= 90 * 86_400
    );
    if !known || !ok_range {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "backfill range");
    }
    StatusCode::ACCEPTED.into_response()
}

fn callback_key(summary: &str, user_id: &str, start: &str) -> String {
    format!("{summary}|{user_id}|{start}")
}

/// A notification to send.
#[derive(Deserialize)]
pub struct Notify {
    /// Where the gateway takes Garmin notifications.
    callback_url: String,
    /// `push`, `ping` or `deregistration`.
    mode: String,
    /// `activities`, `activityDetails`, `dailies`, `sleeps`, `hrv`, `stressDetails`,
    /// `userMetrics` (not for deregistrations).
    #[serde(default)]
    summary: String,
    /// The athlete (default: the default athlete).
    athlete_id: Option<u64>,
    /// The calendar date of health summaries (default: today, UTC).
    date: Option<String>,
    /// Which seed recording an activity is (default: the first).
    seed: Option<usize>,
    /// Each notification is sent this many times.
    duplicates: Option<u32>,
}

fn value(body: &impl serde::Serialize) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// The items a notification of `summary` carries for `user_id` on `date`, written with
/// paceline-sync's own body types.
fn items(
    world: &World,
    summary: &str,
    user_id: &str,
    date: &str,
    seed: usize,
) -> Option<Vec<Value>> {
    let user_id = user_id.to_owned();
    let calendar_date = date.to_owned();
    let start_s = now_s() - 7_200;
    let item = match summary {
        "dailies" => value(&DailyBody {
            user_id,
            calendar_date,
            resting_heart_rate_in_beats_per_minute: Some(48.0),
            average_stress_level: Some(31.0),
        }),
        "sleeps" => value(&SleepBody {
            user_id,
            calendar_date,
            duration_in_seconds: Some(27_000.0),
            deep_sleep_duration_in_seconds: Some(5_400.0),
            light_sleep_duration_in_seconds: Some(14_400.0),
            rem_sleep_in_seconds: Some(5_040.0),
            awake_duration_in_seconds: Some(2_160.0),
            overall_sleep_score: Some(ScoreBody {
                value: Some(84.0),
                qualifier_key: Some("GOOD".to_owned()),
            }),
        }),
        "hrv" => value(&HrvBody {
            user_id,
            calendar_date,
            last_night_avg: Some(62.0),
        }),
        "stressDetails" => {
            // Garmin's shape: levels every 180 s, −1 off wrist, −2 too much motion; the
            // summary and body-battery fields paceline-sync does not read come along too.
            let mut item = value(&StressDetailsBody {
                user_id,
                calendar_date,
                time_offset_stress_level_values: [
                    ("0", 10.0),
                    ("180", 20.0),
                    ("360", -1.0),
                    ("540", -2.0),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            });
            if let Value::Object(fields) = &mut item {
                fields.insert("summaryId".to_owned(), json!(format!("s-{start_s}")));
                fields.insert("startTimeInSeconds".to_owned(), json!(start_s));
                fields.insert("startTimeOffsetInSeconds".to_owned(), json!(0));
                fields.insert("durationInSeconds".to_owned(), json!(720));
                fields.insert(
                    "timeOffsetBodyBatteryValues".to_owned(),
                    json!({"0": 55, "180": 56, "360": 59}),
                );
            }
            item
        }
        "userMetrics" => value(&UserMetricsBody {
            user_id,
            calendar_date,
            vo2_max: Some(52.0),
            fitness_age: Some(38.0),
        }),
        "activities" | "activityDetails" => {
            let recording = world.seeds.get(seed)?;
            let duration_s = recording.points.last().map_or(0, |p| p.t_ms / 1000);
            #[allow(clippy::cast_precision_loss)]
            let activity = ActivityBody {
                user_id: None,
                summary_id: format!("a-{start_s}"),
                activity_name: recording.name.clone(),
                activity_type: Some("ROAD_BIKING".to_owned()),
                start_time_in_seconds: start_s,
                start_time_offset_in_seconds: Some(0),
                duration_in_seconds: duration_s as f64,
                moving_duration_in_seconds: recording.totals.moving_s,
                distance_in_meters: recording.totals.distance_m,
                active_kilocalories: recording.totals.energy_kcal,
                total_elevation_gain_in_meters: recording.totals.ascent_m,
                device_name: recording.device.clone(),
            };
            if summary == "activities" {
                value(&ActivityBody {
                    user_id: Some(user_id),
                    ..activity
                })
            } else {
                let mut last_s = None;
                let samples = recording
                    .points
                    .iter()
                    .filter(|p| {
                        let t = p.t_ms / 1000;
                        let fresh = last_s.is_none_or(|l| t > l);
                        last_s = Some(t);
                        fresh
                    })
                    .map(|p| SampleBody {
                        start_time_in_seconds: start_s + i64::try_from(p.t_ms / 1000).unwrap_or(0),
                        latitude_in_degree: p.lat_deg,
                        longitude_in_degree: p.lon_deg,
                        elevation_in_meters: p.altitude_m.map(f64::from),
                        heart_rate: p.heart_rate_bpm.map(f64::from),
                        speed_meters_per_second: p.speed_mps.map(f64::from),
                        total_distance_in_meters: p.distance_m,
                        power_in_watts: p.power_w.map(f64::from),
                        bike_cadence_in_rpm: p.cadence_rpm.map(f64::from),
                        steps_per_minute: None,
                    })
                    .collect();
                value(&ActivityDetailBody {
                    user_id,
                    summary_id: format!("a-{start_s}-detail"),
                    summary: activity,
                    samples,
                })
            }
        }
        _ => return None,
    };
    Some(vec![item])
}

/// `POST /admin/garmin/notify {"callback_url", "mode": "push"|"ping"|"deregistration",
/// "summary", "athlete_id", "date", "seed", "duplicates"}` → `{"statuses"}`.
pub async fn notify(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(n): Json<Notify>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let body = {
        let mut world = lock(&shared);
        let athlete_id = n.athlete_id.unwrap_or(world.default_athlete_id);
        let user_id = athlete_id.to_string();
        let today = time::OffsetDateTime::now_utc().date();
        let date = n.date.clone().unwrap_or_else(|| {
            format!(
                "{:04}-{:02}-{:02}",
                today.year(),
                u8::from(today.month()),
                today.day()
            )
        });
        match n.mode.as_str() {
            "deregistration" => {
                world.revoke(athlete_id);
                json!({"deregistrations": [value(&UserBody { user_id })]})
            }
            "push" => match items(&world, &n.summary, &user_id, &date, n.seed.unwrap_or(0)) {
                Some(items) => json!({ n.summary.clone(): items }),
                None => return (StatusCode::BAD_REQUEST, "unknown summary").into_response(),
            },
            "ping" => {
                let Some(items) = items(&world, &n.summary, &user_id, &date, n.seed.unwrap_or(0))
                else {
                    return (StatusCode::BAD_REQUEST, "unknown summary").into_response();
                };
                world.counter += 1;
                let start = (now_s() + i64::try_from(world.counter).unwrap_or(0)).to_string();
                world.garmin_callbacks.insert(
                    callback_key(&n.summary, &user_id, &start),
                    Value::Array(items),
                );
                let callback = format!(
                    "http://{host}/wellness-api/rest/{}?uploadStartTimeInSeconds={start}&uploadEndTimeInSeconds={start}",
                    n.summary
                );
                json!({ n.summary.clone(): [value(&PingBody { user_id, callback_url: callback })] })
            }
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    "mode is push, ping or deregistration",
                )
                    .into_response();
            }
        }
    };
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..n.duplicates.unwrap_or(1).clamp(1, 100) {
        let status = client
            .post(&n.callback_url)
            .json(&body)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        statuses.push(status);
    }
    Json(json!({ "statuses": statuses })).into_response()
}
