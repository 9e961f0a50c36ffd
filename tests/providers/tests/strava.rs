//! The local Strava servers driven by paceline-sync's own core, as the gateway will
//! drive them: connect, page, fetch, streams, rate-limit headers, faults, refresh,
//! `invalid_grant`, deauthorize, and webhook deliveries to a callback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use paceline_sync::oauth::{OAuthStates, ProviderConfig, Secret, TokenError, parse_token_response};
use paceline_sync::rate_limit::{RateDecision, RateLimits, decide};
use paceline_sync::strava::{
    ActivityPager, PageStep, activity_path, parse_activity, parse_activity_list, parse_streams,
    recording, streams_path,
};
use paceline_sync::webhook::{
    WebhookEvent, answer_challenge, parse_event, parse_subscription, subscription_request,
};
use paceline_sync::{Job, Provider};
use serde_json::json;

/// The servers, killed when dropped.
struct Servers {
    child: Child,
    base: String,
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Servers {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paceline-providers"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start paceline-providers");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address line");
    let announced: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let base = announced["strava_base_url"]
        .as_str()
        .expect("strava_base_url")
        .to_owned();
    Servers { child, base }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn limits(response: &reqwest::Response) -> RateLimits {
    RateLimits::from_headers(
        response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    )
    .expect("rate-limit headers")
}

/// A counter posing as a random source.
struct Counter(u8);
impl rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self.0.wrapping_add(7);
            *b = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Counter {}

async fn connect(servers: &Servers, config: &ProviderConfig) -> paceline_sync::TokenSet {
    let http = client();
    let mut states = OAuthStates::new();
    let pending = states.begin(&mut Counter(0), config, 1, 10, 1_000).unwrap();
    let redirect_uri = "http://127.0.0.1:9/api/v1/connections/strava/callback";
    let url = config
        .authorize_url(redirect_uri, &pending.state, None)
        .unwrap();
    let answer = http.get(&url).send().await.unwrap();
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect_uri));
    let query: std::collections::BTreeMap<String, String> =
        location.query_pairs().into_owned().collect();
    let taken = states
        .take(&query["state"], 1, Provider::Strava, 1_010)
        .unwrap();
    assert_eq!(taken.athlete_id, 10);
    let request = config
        .code_request(&query["code"], redirect_uri, None)
        .unwrap();
    let answer = http
        .post(&request.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(request.body.expose().to_owned())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let tokens = parse_token_response(status, &answer.bytes().await.unwrap(), now_s()).unwrap();
    assert_eq!(tokens.provider_user_id.as_deref(), Some("134815"));
    let _ = servers;
    tokens
}

fn now_s() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn connect_backfill_streams_and_limits() {
    let servers = start(&["--activities", "5"]);
    let config = ProviderConfig::strava(
        &servers.base,
        "paceline-test-client",
        Secret::new("paceline-test-secret"),
    );
    let tokens = connect(&servers, &config).await;
    let http = client();
    let bearer = format!("Bearer {}", tokens.access_token.expose());

    // A backfill of 90 days pages until a short page: 5 activities, one page.
    let mut pager = ActivityPager::backfill(now_s(), 90);
    let mut ids = Vec::new();
    while let Some(path) = pager.path() {
        let answer = http
            .get(format!("{}{path}", servers.base))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(decide(&limits(&answer), now_s()), RateDecision::Go);
        let page = parse_activity_list(&answer.bytes().await.unwrap()).unwrap();
        ids.extend(page.iter().map(|a| a.id));
        if pager.record_page(&page) != PageStep::Next {
            break;
        }
    }
    assert_eq!(ids, [1_000_001, 1_000_002, 1_000_003, 1_000_004, 1_000_005]);

    // Every activity's detail and streams make a recording.
    for id in &ids {
        let detail = http
            .get(format!("{}{}", servers.base, activity_path(*id)))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        let detail = parse_activity(&detail.bytes().await.unwrap()).unwrap();
        let streams = http
            .get(format!("{}{}", servers.base, streams_path(*id)))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        let streams = parse_streams(&streams.bytes().await.unwrap()).unwrap();
        let recording = recording(&detail, &streams).unwrap();
        assert!(recording.points.len() >= 2, "{id}");
    }

    // Usage pushed to 80 % of the read window: the next answer says pause.
    let set = http
        .post(format!("{}/admin/rate", servers.base))
        .json(&json!({"read_short_usage": 79}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let answer = http
        .get(format!("{}{}", servers.base, activity_path(ids[0])))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        decide(&limits(&answer), now_s()),
        RateDecision::Pause { .. }
    ));

    // A scripted 429, then a 503, then the answer.
    http.post(format!("{}/admin/faults", servers.base))
        .json(&json!({"faults": [{"kind": "too_many_requests", "path_prefix": "/api/v3"}, {"kind": "status", "status": 503}]}))
        .send()
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = http
            .get(format!("{}{}", servers.base, activity_path(ids[0])))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [429, 503, 200]);

    // Refresh rotates the refresh token; a scripted invalid_grant means needs_reauth.
    let refresh = config.refresh_request(&tokens.refresh_token);
    let post = |body: String| {
        http.post(&refresh.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let answer = post(refresh.body.expose().to_owned()).await.unwrap();
    let refreshed = parse_token_response(
        answer.status().as_u16(),
        &answer.bytes().await.unwrap(),
        now_s(),
    )
    .unwrap();
    assert_ne!(
        refreshed.refresh_token.expose(),
        tokens.refresh_token.expose()
    );
    let answer = post(refresh.body.expose().to_owned()).await.unwrap();
    let reused = parse_token_response(
        answer.status().as_u16(),
        &answer.bytes().await.unwrap(),
        now_s(),
    )
    .unwrap_err();
    assert!(reused.needs_reauth(), "{reused:?}");
    http.post(format!("{}/admin/faults", servers.base))
        .json(&json!({"faults": [{"kind": "invalid_grant"}]}))
        .send()
        .await
        .unwrap();
    let again = config.refresh_request(&refreshed.refresh_token);
    let answer = post(again.body.expose().to_owned()).await.unwrap();
    assert!(matches!(
        parse_token_response(
            answer.status().as_u16(),
            &answer.bytes().await.unwrap(),
            now_s()
        ),
        Err(TokenError::InvalidGrant { .. })
    ));

    // Deauthorize: the token stops working.
    let paceline_sync::DeauthorizeRequest::Post(form) =
        config.deauthorize_request(&refreshed.access_token)
    else {
        panic!("Strava deauthorizes with a POST");
    };
    let answer = http
        .post(&form.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.body.expose().to_owned())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let answer = http
        .get(format!("{}{}", servers.base, activity_path(ids[0])))
        .header(
            "authorization",
            format!("Bearer {}", refreshed.access_token.expose()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}

type Received = Arc<Mutex<Vec<WebhookEvent>>>;

async fn challenge(RawQuery(query): RawQuery) -> Result<String, StatusCode> {
    answer_challenge(&query.unwrap_or_default(), "verify-me").map_err(|_| StatusCode::FORBIDDEN)
}

async fn event(State(received): State<Received>, body: axum::body::Bytes) -> StatusCode {
    match parse_event(&body) {
        Ok(event) => {
            received.lock().unwrap().push(event);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[tokio::test]
async fn webhooks_subscribe_and_deliver() {
    let servers = start(&["--activities", "1"]);
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route("/webhooks/strava", get(challenge).post(event))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/webhooks/strava", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = client();

    let config = ProviderConfig::strava(
        &servers.base,
        "paceline-test-client",
        Secret::new("paceline-test-secret"),
    );
    let subscribe = |token: &str| {
        let request = subscription_request(&config, &servers.base, &callback, &Secret::new(token));
        http.post(request.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(request.body.expose().to_owned())
            .send()
    };
    assert_eq!(subscribe("wrong").await.unwrap().status().as_u16(), 400);
    let created = subscribe("verify-me").await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert!(
        parse_subscription(&created.bytes().await.unwrap())
            .unwrap()
            .is_some()
    );

    // A new activity with its create event, a rename, a delete; then a duplicated,
    // reordered pair; then the athlete revokes.
    let added: serde_json::Value = http
        .post(format!("{}/admin/strava/activities", servers.base))
        .json(&json!({"event": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = added["id"].as_u64().unwrap();
    assert_eq!(added["statuses"], json!([200]));
    http.post(format!(
        "{}/admin/strava/activities/{id}/rename",
        servers.base
    ))
    .json(&json!({"name": "Messy", "event": true}))
    .send()
    .await
    .unwrap();
    http.delete(format!(
        "{}/admin/strava/activities/{id}?event=true",
        servers.base
    ))
    .send()
    .await
    .unwrap();
    let delivered: serde_json::Value = http
        .post(format!("{}/admin/strava/deliver", servers.base))
        .json(&json!({"duplicates": 2, "reverse": true, "events": [
            {"object_type": "activity", "object_id": 7, "aspect_type": "create", "owner_id": 134815},
            {"object_type": "activity", "object_id": 7, "aspect_type": "delete", "owner_id": 134815}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(delivered["statuses"], json!([200, 200, 200, 200]));
    http.post(format!("{}/admin/strava/revoke", servers.base))
        .json(&json!({"athlete_id": 134815}))
        .send()
        .await
        .unwrap();

    let jobs: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.job())
        .map(|j| j.dedup_key())
        .collect();
    assert_eq!(
        jobs,
        [
            format!("strava:fetch:134815:{id}"),
            format!("strava:fetch:134815:{id}"),
            format!("strava:delete:134815:{id}"),
            "strava:delete:134815:7".to_owned(),
            "strava:delete:134815:7".to_owned(),
            "strava:fetch:134815:7".to_owned(),
            "strava:fetch:134815:7".to_owned(),
            "strava:revoke:134815".to_owned(),
        ]
    );
    let revoke = received.lock().unwrap().last().and_then(WebhookEvent::job);
    assert_eq!(
        revoke,
        Some(Job::Revoke {
            provider: Provider::Strava,
            owner_id: "134815".to_owned()
        })
    );
}
