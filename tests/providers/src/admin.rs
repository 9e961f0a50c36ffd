//! The admin endpoints tests script the servers with (under `/admin`, never faulted or
//! rate-limited): faults, rate-limit counters, token lifetime, activities added,
//! renamed and deleted, athletes revoking access, and webhook deliveries (duplicated and
//! reordered on request).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paceline_sync::webhook::EventBody;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::seed;
use crate::world::{Fault, Shared, lock, now_s};

/// `GET /admin/state`: counts, the subscription, the rate counters, the pending faults
/// and the requests served per path.
pub async fn state(State(world): State<Shared>) -> Response {
    let world = lock(&world);
    Json(json!({
        "activities": world.activities.len(),
        "activity_ids": world.activities.keys().collect::<Vec<_>>(),
        "live_access_tokens": world.access.len(),
        "subscription": world.subscription,
        "rate": world.rate,
        "faults": world.faults,
        "hits": world.hits,
    }))
    .into_response()
}

/// Faults to add.
#[derive(Deserialize)]
pub struct Faults {
    faults: Vec<Fault>,
}

/// `POST /admin/faults {"faults": [{"kind": "status", "status": 503, "path_prefix":
/// "/api/v3", "times": 2}, {"kind": "too_many_requests"}, {"kind": "delay", "ms":
/// 3000}, {"kind": "invalid_grant"}, {"kind": "access_denied"}]}`: appended in order.
pub async fn add_faults(State(world): State<Shared>, Json(faults): Json<Faults>) -> Response {
    let mut world = lock(&world);
    world.faults.extend(faults.faults);
    Json(json!({ "pending": world.faults.len() })).into_response()
}

/// `DELETE /admin/faults`.
pub async fn clear_faults(State(world): State<Shared>) -> Response {
    lock(&world).faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// Rate-limit settings; absent fields are unchanged.
#[derive(Deserialize)]
pub struct RateSettings {
    short_limit: Option<u32>,
    daily_limit: Option<u32>,
    read_short_limit: Option<u32>,
    read_daily_limit: Option<u32>,
    short_usage: Option<u32>,
    daily_usage: Option<u32>,
    read_short_usage: Option<u32>,
    read_daily_usage: Option<u32>,
}

/// `POST /admin/rate {"short_usage": 159, …}`: sets limits or usage (to reach a pause
/// without 160 requests).
pub async fn set_rate(State(world): State<Shared>, Json(s): Json<RateSettings>) -> Response {
    let mut world = lock(&world);
    let rate = &mut world.rate;
    for (field, value) in [
        (&mut rate.short_limit, s.short_limit),
        (&mut rate.daily_limit, s.daily_limit),
        (&mut rate.read_short_limit, s.read_short_limit),
        (&mut rate.read_daily_limit, s.read_daily_limit),
        (&mut rate.short_usage, s.short_usage),
        (&mut rate.daily_usage, s.daily_usage),
        (&mut rate.read_short_usage, s.read_short_usage),
        (&mut rate.read_daily_usage, s.read_daily_usage),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    Json(&world.rate).into_response()
}

/// A token lifetime.
#[derive(Deserialize)]
pub struct Lifetime {
    seconds: i64,
}

/// `POST /admin/token-lifetime {"seconds": 60}`: tokens granted from now on live this
/// long (a refresh test needs them to expire soon); `{"seconds": 0}` also expires every
/// live access token at once.
pub async fn token_lifetime(State(world): State<Shared>, Json(l): Json<Lifetime>) -> Response {
    let mut world = lock(&world);
    world.token_lifetime_s = l.seconds.max(1);
    if l.seconds <= 0 {
        for grant in world.access.values_mut() {
            grant.expires_at_s = 0;
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// A new activity.
#[derive(Deserialize)]
pub struct NewActivity {
    athlete_id: Option<u64>,
    /// Start, s since the Unix epoch (default: an hour ago).
    start_s: Option<i64>,
    /// Which seed recording (default: the first).
    seed: Option<usize>,
    /// Send the `create` event to the subscription.
    #[serde(default)]
    event: bool,
}

/// `POST /admin/strava/activities {"athlete_id", "start_s", "seed", "event": true}` →
/// `{"id", "statuses"}`: adds an activity, and with `event` delivers its `create`.
pub async fn add_activity(State(world): State<Shared>, Json(new): Json<NewActivity>) -> Response {
    let (id, athlete_id) = {
        let mut world = lock(&world);
        let athlete_id = new.athlete_id.unwrap_or(world.default_athlete_id);
        let Some(recording) = world.seeds.get(new.seed.unwrap_or(0)).cloned() else {
            return (StatusCode::BAD_REQUEST, "no such seed").into_response();
        };
        let id = world.next_activity_id();
        let seeded = seed::activity(
            &recording,
            id,
            athlete_id,
            new.start_s.unwrap_or(now_s() - 3600),
        );
        world.activities.insert(id, seeded);
        (id, athlete_id)
    };
    let statuses = if new.event {
        deliver(
            &world,
            None,
            vec![event("activity", id, "create", athlete_id, Value::Null)],
        )
        .await
    } else {
        Vec::new()
    };
    Json(json!({ "id": id, "statuses": statuses })).into_response()
}

/// A rename.
#[derive(Deserialize)]
pub struct Rename {
    name: String,
    #[serde(default)]
    event: bool,
}

/// `POST /admin/strava/activities/{id}/rename {"name", "event": true}`: renames it, and
/// with `event` delivers the `update` with `{"title": name}`.
pub async fn rename_activity(
    State(world): State<Shared>,
    Path(id): Path<u64>,
    Json(r): Json<Rename>,
) -> Response {
    let owner = {
        let mut world = lock(&world);
        let Some(seeded) = world.activities.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        seeded.detail.summary.name.clone_from(&r.name);
        seeded.detail.summary.athlete.as_ref().map_or(0, |a| a.id)
    };
    let statuses = if r.event {
        deliver(
            &world,
            None,
            vec![event(
                "activity",
                id,
                "update",
                owner,
                json!({ "title": r.name }),
            )],
        )
        .await
    } else {
        Vec::new()
    };
    Json(json!({ "statuses": statuses })).into_response()
}

/// Whether to send the event.
#[derive(Deserialize)]
pub struct EventFlag {
    #[serde(default)]
    event: bool,
}

/// `DELETE /admin/strava/activities/{id}?event=true`: deletes it, and with `event`
/// delivers the `delete`.
pub async fn delete_activity(
    State(world): State<Shared>,
    Path(id): Path<u64>,
    Query(flag): Query<EventFlag>,
) -> Response {
    let removed = lock(&world).activities.remove(&id);
    let Some(removed) = removed else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let owner = removed.detail.summary.athlete.as_ref().map_or(0, |a| a.id);
    let statuses = if flag.event {
        deliver(
            &world,
            None,
            vec![event("activity", id, "delete", owner, Value::Null)],
        )
        .await
    } else {
        Vec::new()
    };
    Json(json!({ "statuses": statuses })).into_response()
}

/// An athlete.
#[derive(Deserialize)]
pub struct AthleteOnly {
    athlete_id: u64,
}

/// `POST /admin/strava/revoke {"athlete_id"}`: the athlete revokes the app in Strava's
/// settings: their tokens stop working and the `authorized: "false"` event is delivered.
pub async fn revoke(State(world): State<Shared>, Json(a): Json<AthleteOnly>) -> Response {
    lock(&world).revoke(a.athlete_id);
    let statuses = deliver(
        &world,
        None,
        vec![event(
            "athlete",
            a.athlete_id,
            "update",
            a.athlete_id,
            json!({ "authorized": "false" }),
        )],
    )
    .await;
    Json(json!({ "statuses": statuses })).into_response()
}

/// An event to deliver, as a test writes it.
#[derive(Deserialize)]
pub struct ScriptedEvent {
    object_type: String,
    object_id: u64,
    aspect_type: String,
    owner_id: u64,
    #[serde(default)]
    updates: Value,
}

/// A delivery script.
#[derive(Deserialize)]
pub struct Delivery {
    events: Vec<ScriptedEvent>,
    /// Each event is sent this many times in a row (default 1).
    #[serde(default)]
    duplicates: Option<u32>,
    /// Send them last first.
    #[serde(default)]
    reverse: bool,
    /// Where to (default: the subscription's callback).
    #[serde(default)]
    callback_url: Option<String>,
}

/// `POST /admin/strava/deliver {"events": [...], "duplicates": 2, "reverse": true}` →
/// `{"statuses": [...]}` (0 where the callback could not be reached).
pub async fn deliver_events(State(world): State<Shared>, Json(d): Json<Delivery>) -> Response {
    let mut events: Vec<EventBody> = Vec::new();
    for e in d.events {
        let body = event(
            &e.object_type,
            e.object_id,
            &e.aspect_type,
            e.owner_id,
            e.updates,
        );
        for _ in 0..d.duplicates.unwrap_or(1).clamp(1, 100) {
            events.push(body.clone());
        }
    }
    if d.reverse {
        events.reverse();
    }
    let statuses = deliver(&world, d.callback_url, events).await;
    Json(json!({ "statuses": statuses })).into_response()
}

fn event(
    object_type: &str,
    object_id: u64,
    aspect_type: &str,
    owner_id: u64,
    updates: Value,
) -> EventBody {
    let updates = match updates {
        Value::Object(map) => map.into_iter().collect(),
        _ => Default::default(),
    };
    EventBody {
        object_type: object_type.to_owned(),
        object_id,
        aspect_type: aspect_type.to_owned(),
        updates,
        owner_id,
        // Filled from the subscription in `deliver`.
        subscription_id: 0,
        event_time: now_s(),
    }
}

/// Posts each event to `callback_url` (or the subscription's), in order, and returns
/// the statuses.
async fn deliver(world: &Shared, callback_url: Option<String>, events: Vec<EventBody>) -> Vec<u16> {
    let (url, subscription_id) = {
        let world = lock(world);
        let subscription = world.subscription.as_ref();
        (
            callback_url.or_else(|| subscription.map(|s| s.callback_url.clone())),
            subscription.map_or(0, |s| s.id),
        )
    };
    let Some(url) = url else {
        return Vec::new();
    };
    let client = reqwest::Client::new();
    let mut statuses = Vec::with_capacity(events.len());
    for mut event in events {
        event.subscription_id = subscription_id;
        let status = client
            .post(&url)
            .json(&event)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        statuses.push(status);
    }
    statuses
}
