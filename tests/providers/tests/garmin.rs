//! The local Garmin servers driven by paceline-sync's core: connect with PKCE, the user
//! id, push and ping notifications (the ping's callback fetched with the user's token),
//! activity details, `invalid_grant`, deregistration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use paceline_sync::garmin::{GarminItem, daily_metrics, parse_callback, parse_notification};
use paceline_sync::oauth::{
    PendingState, ProviderConfig, Secret, TokenError, parse_token_response,
};
use paceline_sync::{Job, Provider};
use serde_json::json;

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

fn start() -> Servers {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paceline-providers"))
        .args(["--listen", "127.0.0.1:0", "--activities", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start paceline-providers");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address line");
    let announced: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let base = announced["garmin_base_url"]
        .as_str()
        .expect("garmin_base_url")
        .to_owned();
    Servers { child, base }
}

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
            self.0 = self.0.wrapping_add(13);
            *b = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Counter {}

fn now_s() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

type Received = Arc<Mutex<Vec<Vec<GarminItem>>>>;

#[tokio::test]
async fn connect_push_ping_deregister() {
    let servers = start();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let config = ProviderConfig::garmin(
        &servers.base,
        "paceline-test-client",
        Secret::new("paceline-test-secret"),
    );

    // Connect with PKCE.
    let pending = PendingState::new(&mut Counter(0), &config, 1, 10, now_s());
    let verifier = pending.pkce_verifier.clone().unwrap();
    let redirect_uri = "http://127.0.0.1:9/api/v1/connections/garmin/callback";
    let url = config
        .authorize_url(redirect_uri, &pending.state, Some(&verifier))
        .unwrap();
    let answer = http.get(&url).send().await.unwrap();
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::BTreeMap<String, String> =
        location.query_pairs().into_owned().collect();
    let state = paceline_sync::OAuthState::parse(&query["state"]).unwrap();
    pending.check(&state, 1, Provider::Garmin, now_s()).unwrap();
    let post_form = |url: String, body: String| {
        http.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // A wrong verifier is refused as invalid_grant.
    let wrong = paceline_sync::PkceVerifier::from_random_bytes([9; 32]);
    let request = config
        .code_request(&query["code"], redirect_uri, Some(&wrong))
        .unwrap();
    let answer = post_form(request.url.clone(), request.body.expose().to_owned())
        .await
        .unwrap();
    let refused = parse_token_response(
        answer.status().as_u16(),
        &answer.bytes().await.unwrap(),
        now_s(),
    )
    .unwrap_err();
    assert!(refused.needs_reauth(), "{refused:?}");
    // The code was used up by that attempt: connect again, with the right verifier.
    let answer = http.get(&url).send().await.unwrap();
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let request = config
        .code_request(&code, redirect_uri, Some(&verifier))
        .unwrap();
    let answer = post_form(request.url.clone(), request.body.expose().to_owned())
        .await
        .unwrap();
    let tokens = parse_token_response(
        answer.status().as_u16(),
        &answer.bytes().await.unwrap(),
        now_s(),
    )
    .unwrap();
    let bearer = format!("Bearer {}", tokens.access_token.expose());
    let id: serde_json::Value = http
        .get(format!("{}/wellness-api/rest/user/id", servers.base))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(id, json!({"userId": "134815"}));

    // The gateway's notification endpoint, reading with paceline-sync.
    let received: Received = Arc::default();
    let origin = servers.base.clone();
    let app =
        axum::Router::new()
            .route(
                "/webhooks/garmin",
                post(
                    |State((received, origin)): State<(Received, String)>,
                     body: axum::body::Bytes| async move {
                        match parse_notification(&body, &origin) {
                            Ok(items) => {
                                received.lock().unwrap().push(items);
                                StatusCode::OK
                            }
                            Err(_) => StatusCode::BAD_REQUEST,
                        }
                    },
                ),
            )
            .with_state((received.clone(), origin));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/webhooks/garmin", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let notify = |body: serde_json::Value| {
        let mut body = body;
        body["callback_url"] = json!(callback);
        http.post(format!("{}/admin/garmin/notify", servers.base))
            .json(&body)
            .send()
    };

    for summary in ["dailies", "sleeps", "hrv"] {
        let sent: serde_json::Value =
            notify(json!({"mode": "push", "summary": summary, "date": "2026-12-05"}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(sent["statuses"], json!([200]), "{summary}");
    }
    let sent: serde_json::Value =
        notify(json!({"mode": "ping", "summary": "stressDetails", "date": "2026-12-05"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(sent["statuses"], json!([200]));
    let pushed: Vec<GarminItem> = received.lock().unwrap().iter().flatten().cloned().collect();
    let Some(Job::FetchCallback {
        callback_url,
        summary,
        owner_id,
    }) = pushed.last().and_then(GarminItem::job)
    else {
        panic!("the ping asks for a callback fetch: {pushed:?}");
    };
    assert_eq!(owner_id, "134815");
    let fetched = http
        .get(&callback_url)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    let mut items = pushed[..3].to_vec();
    items.extend(parse_callback(summary, &fetched.bytes().await.unwrap()).unwrap());
    let days = daily_metrics(&items);
    let day = days[&("134815".to_owned(), time::macros::date!(2026 - 12 - 05))];
    assert_eq!(day.resting_hr_bpm, Some(48.0));
    assert_eq!(day.hrv_ms, Some(62.0));
    // 5,400 + 14,400 + 5,040 s of sleep stages.
    assert_eq!(day.sleep_s, Some(24_840.0));
    assert_eq!(day.sleep_score, Some(84.0));
    // The daily's own stress (31) wins over the details' mean.
    assert_eq!(day.stress, Some(31.0));

    // Activity details, pushed twice: the same summary id both times.
    let sent: serde_json::Value =
        notify(json!({"mode": "push", "summary": "activityDetails", "duplicates": 2}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(sent["statuses"], json!([200, 200]));
    let activities: Vec<(String, usize)> = received
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter_map(|i| match i {
            GarminItem::Activity {
                summary_id,
                recording,
                ..
            } => Some((summary_id.clone(), recording.points.len())),
            _ => None,
        })
        .collect();
    assert_eq!(activities.len(), 2);
    assert_eq!(activities[0], activities[1]);
    assert!(activities[0].1 >= 2);

    // A scripted invalid_grant on refresh, Garmin's shape.
    http.post(format!("{}/admin/faults", servers.base))
        .json(&json!({"faults": [{"kind": "invalid_grant"}]}))
        .send()
        .await
        .unwrap();
    let refresh = config.refresh_request(&tokens.refresh_token);
    let answer = post_form(refresh.url.clone(), refresh.body.expose().to_owned())
        .await
        .unwrap();
    assert!(matches!(
        parse_token_response(
            answer.status().as_u16(),
            &answer.bytes().await.unwrap(),
            now_s()
        ),
        Err(TokenError::InvalidGrant { .. })
    ));

    // Deregistration from Garmin's side: the notice asks for a revoke, the token is dead.
    notify(json!({"mode": "deregistration"})).await.unwrap();
    let last = received.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last[0].job(),
        Some(Job::Revoke {
            provider: Provider::Garmin,
            owner_id: "134815".to_owned()
        })
    );
    let answer = http
        .get(format!("{}/wellness-api/rest/user/id", servers.base))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}
