//! Provider sync with real processes: a gateway whose `PACELINE_STRAVA_BASE_URL` is the
//! local provider servers (`paceline-providers`, seeded with 10 activities from the shared
//! FIT files, access tokens living 60 s so every job refreshes first). Connect through the
//! authorize page's redirect to the callback (the state single use), the backfill job
//! filling the athlete's library with `strava` copies, a second sync adding nothing, a
//! scripted `invalid_grant` leaving the connection `needs_reauth` and its job dead (no
//! retries), disconnect calling Strava's deauthorize, and another gym seeing none of it.
//!
//! **Where `paceline-providers` comes from**: an integration test only gets
//! `CARGO_BIN_EXE_*` for its own package, so [`providers_bin`] does what the test kit does
//! for the gateway: `PACELINE_PROVIDERS_BIN` if set, else `cargo build -p
//! paceline-providers` into the test binary's own target folder and profile (a no-op after
//! `cargo test --workspace`, which has built it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use paceline_testkit::api::*;

/// The `paceline-providers` binary (module docs).
fn providers_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("PACELINE_PROVIDERS_BIN") {
            return PathBuf::from(path);
        }
        // The test binary is <target>/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target folder");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "paceline-providers",
                "--bin",
                "paceline-providers",
            ])
            .args(["--profile", &profile])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build for paceline-providers");
        assert!(status.success(), "building paceline-providers failed");
        let bin = profile_dir.join(format!(
            "paceline-providers{}",
            std::env::consts::EXE_SUFFIX
        ));
        assert!(bin.exists(), "no paceline-providers at {}", bin.display());
        bin
    })
}

/// The local provider servers, killed when dropped.
pub(crate) struct Providers {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Providers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Providers {
    pub(crate) fn start(args: &[&str]) -> Providers {
        let mut child = Command::new(providers_bin())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start paceline-providers");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("its address line");
        let announced: Value = serde_json::from_str(&line).expect("one JSON line");
        let base = announced["strava_base_url"]
            .as_str()
            .expect("strava_base_url")
            .to_owned();
        Providers { child, base }
    }

    pub(crate) async fn admin(&self, path: &str, body: Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("the providers' admin answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }

    pub(crate) async fn hits(&self, path: &str) -> u64 {
        let state: Value = reqwest::get(format!("{}/admin/state", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        state["hits"][path].as_u64().unwrap_or(0)
    }
}

const PUBLIC_URL: &str = "http://paceline.test";

/// A gateway syncing with `providers`.
async fn gateway_for(providers: &Providers) -> paceline_testkit::Gateway {
    paceline()
        .env("PACELINE_STRAVA_BASE_URL", &providers.base)
        .env("PACELINE_STRAVA_CLIENT_ID", "paceline-test-client")
        .env("PACELINE_STRAVA_CLIENT_SECRET", "paceline-test-secret")
        .env("PACELINE_STRAVA_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("PACELINE_GARMIN_BASE_URL", &providers.base)
        .env("PACELINE_GARMIN_CLIENT_ID", "paceline-test-client")
        .env("PACELINE_GARMIN_CLIENT_SECRET", "paceline-test-secret")
        .env("PACELINE_PUBLIC_URL", PUBLIC_URL)
        .env("PACELINE_OUTBOUND_ALLOW_PRIVATE", "true")
        .start()
        .await
}

pub(crate) const VERIFY_TOKEN: &str = "verify-me";

/// Begins connecting `athlete` to Strava and follows the authorize page's redirect: the
/// callback path (under `/api/v1`) the browser would open.
async fn authorize(api: &Api, providers: &Providers, token: &str, athlete: i64) -> String {
    let reply = api
        .post(
            "/connections/strava",
            Some(token),
            json!({"athlete_id": athlete}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    // What the connection reads, before connecting: the scopes the URL asks for.
    let scopes: Vec<&str> = reply.json["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["read", "activity:read_all"], "{}", reply.json);
    assert!(
        reply.json["permissions"][1]["meaning"]
            .as_str()
            .unwrap()
            .contains("private"),
        "{}",
        reply.json
    );
    let authorize = reply.json["authorize_url"].as_str().unwrap().to_owned();
    assert!(
        authorize.contains("scope=read%2Cactivity%3Aread_all")
            || authorize.contains("scope=read,activity:read_all"),
        "{authorize}"
    );
    assert!(
        authorize.starts_with(&format!("{}/oauth/authorize?", providers.base)),
        "{authorize}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(&authorize).send().await.unwrap();
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let callback = location
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("the redirect goes to the public URL: {location}"))
        .strip_prefix("/api/v1")
        .expect("the callback route")
        .to_owned();
    assert!(
        callback.starts_with("/connections/strava/callback?"),
        "{callback}"
    );
    callback
}

/// The athlete's activities (up to 200) with their source kinds.
async fn activities(api: &Api, token: &str, athlete: i64) -> Vec<Value> {
    let reply = api
        .get(&format!("/athletes/{athlete}/activities?limit=200"), token)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["items"].as_array().unwrap().clone()
}

async fn connection(api: &Api, token: &str) -> Value {
    let reply = api.get("/connections", token).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["connections"][0].clone()
}

async fn jobs(api: &Api, token: &str, state: &str) -> Vec<Value> {
    let reply = api.get(&format!("/admin/jobs?state={state}"), token).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["jobs"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_backfill_resync_needs_reauth_and_disconnect_against_local_strava() {
    let providers = Providers::start(&["--activities", "10", "--token-lifetime-s", "60"]);
    let gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@sync.example", "Sync Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;

    // Connect: the authorize URL names the exact redirect URI and a fresh state.
    let callback = authorize(&api, &providers, &admin, ana).await;
    // Only the user who began the connect completes it.
    let other_gym = access(&api.register_gym("admin@other.example", "Other Gym").await);
    let stolen = api.get(&callback, &other_gym).await;
    assert_eq!(stolen.status, 400, "{}", stolen.json);
    // The stolen attempt used nothing up: the state is the tenant's, unknown elsewhere.
    let connected = api.get(&callback, &admin).await;
    assert_eq!(connected.status, 200, "{}", connected.json);
    assert_eq!(connected.json["status"], "connected");
    assert_eq!(connected.json["athlete_id"], ana);
    let replayed = api.get(&callback, &admin).await;
    assert_eq!(replayed.status, 400, "{}", replayed.json);
    assert_eq!(code(&replayed), "invalid_state");

    // The backfill fills the library: 10 activities, each with a strava copy.
    let library = paceline_testkit::wait_until(
        "the backfill to import 10 activities",
        paceline_testkit::DEADLINE * 4,
        async || {
            let items = activities(&api, &admin, ana).await;
            let from_strava = items
                .iter()
                .filter(|a| {
                    a["source_kinds"]
                        .as_array()
                        .unwrap()
                        .contains(&json!("strava"))
                })
                .count();
            if from_strava == 10 {
                Ok(items)
            } else {
                Err(format!("{from_strava} of 10 so far"))
            }
        },
    )
    .await;
    assert_eq!(library.len(), 10);
    assert!(
        library
            .iter()
            .all(|a| a["duration_s"].as_f64().unwrap() > 0.0)
    );
    let status = paceline_testkit::wait_until(
        "the backfill to finish",
        paceline_testkit::DEADLINE,
        async || {
            let c = connection(&api, &admin).await;
            (c["pending_jobs"] == 0 && c["last_sync_ms"].is_i64()).then_some(c)
        },
    )
    .await;
    assert_eq!(status["status"], "connected");
    assert_eq!(jobs(&api, &admin, "done").await.len(), 1);
    // Every job refreshed the 60-second token before using it.
    assert!(providers.hits("/oauth/token").await >= 2);

    // A second sync finds the same activities and adds nothing.
    let reply = api
        .post(
            "/connections/strava/sync",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    paceline_testkit::wait_until(
        "the second sync to finish",
        paceline_testkit::DEADLINE * 2,
        async || jobs(&api, &admin, "done").await.len() == 2,
    )
    .await;
    assert_eq!(activities(&api, &admin, ana).await.len(), 10);

    // Another gym sees no connection, cannot connect, sync or disconnect this athlete, and
    // sees none of these jobs.
    assert_eq!(
        api.get("/connections", &other_gym).await.json["connections"],
        json!([])
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/connections/strava".to_owned(),
            Some(json!({"athlete_id": ana})),
        ),
        (
            Method::POST,
            "/connections/strava/sync".to_owned(),
            Some(json!({"athlete_id": ana})),
        ),
        (
            Method::DELETE,
            format!("/connections/strava?athlete_id={ana}"),
            None,
        ),
    ] {
        let reply = api.call(method, &path, Some(&other_gym), body).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.json);
    }
    assert!(jobs(&api, &other_gym, "done").await.is_empty());

    // Strava refuses the refresh: needs_reauth, the job dead after one run.
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "invalid_grant", "path_prefix": "/oauth/token"}]}),
        )
        .await;
    let reply = api
        .post(
            "/connections/strava/sync",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let refused = paceline_testkit::wait_until(
        "the connection to need reauthorization",
        paceline_testkit::DEADLINE,
        async || {
            let c = connection(&api, &admin).await;
            (c["status"] == "needs_reauth").then_some(c)
        },
    )
    .await;
    assert!(
        refused["last_error"]
            .as_str()
            .unwrap()
            .contains("refused the grant"),
        "{refused}"
    );
    // The connection is marked before the job's outcome is stored.
    let dead = paceline_testkit::wait_until(
        "the refused job to be dead",
        paceline_testkit::DEADLINE,
        async || {
            let dead = jobs(&api, &admin, "dead").await;
            (!dead.is_empty()).then_some(dead)
        },
    )
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["attempts"], 1);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("needs_reauth")
    );
    assert!(jobs(&api, &other_gym, "dead").await.is_empty());
    let reply = api
        .post(
            "/connections/strava/sync",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.json);

    // Disconnect: Strava is told, the connection and its tokens are gone.
    let deauthorized = providers.hits("/oauth/deauthorize").await;
    let reply = api
        .call(
            Method::DELETE,
            &format!("/connections/strava?athlete_id={ana}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(providers.hits("/oauth/deauthorize").await, deauthorized + 1);
    assert_eq!(
        api.get("/connections", &admin).await.json["connections"],
        json!([])
    );
    // The library keeps what was synced.
    assert_eq!(activities(&api, &admin, ana).await.len(), 10);
}

/// The tenant's jobs not finished yet (queued, retry, running).
async fn unfinished_jobs(api: &Api, token: &str) -> usize {
    let mut n = 0;
    for state in ["queued", "retry", "running"] {
        n += jobs(api, token, state).await.len();
    }
    n
}

/// Waits until every job of the tenant has finished.
async fn settle(api: &Api, token: &str) {
    paceline_testkit::wait_until(
        "the sync jobs to finish",
        paceline_testkit::DEADLINE * 2,
        async || unfinished_jobs(api, token).await == 0,
    )
    .await;
}

/// The athlete's activities' Strava ids → names (from the library's list).
async fn strava_names(api: &Api, token: &str, athlete: i64) -> Vec<String> {
    let mut names: Vec<String> = activities(api, token, athlete)
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    names
}

/// One line of the gateway's Prometheus text: the webhook counter for `outcome`.
async fn webhook_count(gateway: &paceline_testkit::Gateway, outcome: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", gateway.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("paceline_sync_webhook_events_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strava_webhooks_create_update_delete_duplicates_out_of_order_and_deauthorization() {
    let providers = Providers::start(&["--activities", "2"]);
    let gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@hooks.example", "Hook Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let callback = authorize(&api, &providers, &admin, ana).await;
    assert_eq!(api.get(&callback, &admin).await.status, 200);
    settle(&api, &admin).await;
    assert_eq!(activities(&api, &admin, ana).await.len(), 2);

    // The subscription: Strava's challenge reaches the gateway, which echoes it for our
    // verify token only.
    let webhook_url = format!("http://{}/webhooks/strava", gateway.http);
    let wrong = reqwest::get(format!(
        "{webhook_url}?hub.mode=subscribe&hub.challenge=abc&hub.verify_token=not-ours"
    ))
    .await
    .unwrap();
    assert_eq!(wrong.status(), 403);
    let subscribed = reqwest::Client::new()
        .post(format!("{}/api/v3/push_subscriptions", providers.base))
        .form(&[
            ("client_id", "paceline-test-client"),
            ("client_secret", "paceline-test-secret"),
            ("callback_url", webhook_url.as_str()),
            ("verify_token", VERIFY_TOKEN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), 201, "{:?}", subscribed.text().await);

    // Create: a new upload arrives through its event, answered 200 at once.
    let now_s = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let added: Value = reqwest::Client::new()
        .post(format!("{}/admin/strava/activities", providers.base))
        .json(&json!({"start_s": now_s - 3600, "event": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["statuses"], json!([200]), "{added}");
    let created = added["id"].as_u64().unwrap();
    paceline_testkit::wait_until(
        "the created activity to be imported",
        paceline_testkit::DEADLINE,
        async || activities(&api, &admin, ana).await.len() == 3,
    )
    .await;

    // The same create delivered three more times: harmless.
    let delivered: Value = reqwest::Client::new()
        .post(format!("{}/admin/strava/deliver", providers.base))
        .json(
            &json!({"events": [{"object_type": "activity", "object_id": created,
            "aspect_type": "create", "owner_id": 134_815}], "duplicates": 3}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(delivered["statuses"], json!([200, 200, 200]), "{delivered}");
    settle(&api, &admin).await;
    assert_eq!(activities(&api, &admin, ana).await.len(), 3);

    // Update: the title changes in the library (re-fetched, the Strava copy rewritten).
    providers
        .admin(
            &format!("/admin/strava/activities/{created}/rename"),
            json!({"name": "Renamed on Strava", "event": true}),
        )
        .await;
    paceline_testkit::wait_until(
        "the rename to reach the library",
        paceline_testkit::DEADLINE,
        async || {
            strava_names(&api, &admin, ana)
                .await
                .contains(&"Renamed on Strava".to_owned())
        },
    )
    .await;
    assert_eq!(activities(&api, &admin, ana).await.len(), 3);

    // Out of order: B was created and deleted, C created and renamed, and the four
    // events arrive last first. B never appears; C does, once.
    let mut ids = Vec::new();
    for offset_h in [5, 7] {
        let added: Value = reqwest::Client::new()
            .post(format!("{}/admin/strava/activities", providers.base))
            .json(&json!({"start_s": now_s - offset_h * 3600, "seed": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(added["id"].as_u64().unwrap());
    }
    let (gone, kept) = (ids[0], ids[1]);
    let removed = reqwest::Client::new()
        .delete(format!("{}/admin/strava/activities/{gone}", providers.base))
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    let event = |id: u64, aspect: &str| {
        json!({"object_type": "activity", "object_id": id, "aspect_type": aspect,
            "owner_id": 134_815, "updates": if aspect == "update" { json!({"title": "C"}) } else { json!({}) }})
    };
    let delivered: Value = reqwest::Client::new()
        .post(format!("{}/admin/strava/deliver", providers.base))
        .json(
            &json!({"events": [event(gone, "create"), event(gone, "delete"),
            event(kept, "create"), event(kept, "update")], "reverse": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        delivered["statuses"],
        json!([200, 200, 200, 200]),
        "{delivered}"
    );
    paceline_testkit::wait_until(
        "the out-of-order events to settle",
        paceline_testkit::DEADLINE,
        async || {
            unfinished_jobs(&api, &admin).await == 0
                && activities(&api, &admin, ana).await.len() == 4
        },
    )
    .await;

    // Delete: the Strava-only activity leaves the library.
    let removed: Value = reqwest::Client::new()
        .delete(format!(
            "{}/admin/strava/activities/{created}?event=true",
            providers.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed["statuses"], json!([200]), "{removed}");
    paceline_testkit::wait_until(
        "the deleted activity to leave the library",
        paceline_testkit::DEADLINE,
        async || {
            let names = strava_names(&api, &admin, ana).await;
            (names.len() == 3 && !names.contains(&"Renamed on Strava".to_owned())).then_some(())
        },
    )
    .await;

    // Untrusted bytes: an unknown owner is ignored and counted; a malformed or oversized
    // body is a 400 or 413 and counted; nothing is queued for them.
    let unknown_before = webhook_count(&gateway, "UnknownOwner").await;
    let malformed_before = webhook_count(&gateway, "Malformed").await;
    let client = reqwest::Client::new();
    let unknown = client
        .post(&webhook_url)
        .json(
            &json!({"object_type": "activity", "object_id": 1, "aspect_type": "create",
            "owner_id": 999_999, "subscription_id": 1, "event_time": now_s}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["outcome"],
        "unknown_owner"
    );
    for (body, status) in [
        (b"{\"object_type\": ".to_vec(), 400),
        (br#"{"object_type": "club", "object_id": 1, "aspect_type": "create", "owner_id": 134815, "subscription_id": 1, "event_time": 1}"#.to_vec(), 400),
        (vec![b' '; 20_000], 413),
    ] {
        let answer = client
            .post(&webhook_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
        let error: Value = answer.json().await.unwrap();
        assert!(error["error"]["code"].is_string(), "{error}");
    }
    assert_eq!(
        webhook_count(&gateway, "UnknownOwner").await,
        unknown_before + 1
    );
    assert_eq!(
        webhook_count(&gateway, "Malformed").await,
        malformed_before + 3
    );
    assert_eq!(unfinished_jobs(&api, &admin).await, 0);

    // A forged deauthorization (Strava still honours the token) changes nothing.
    let forged: Value = reqwest::Client::new()
        .post(format!("{}/admin/strava/deliver", providers.base))
        .json(
            &json!({"events": [{"object_type": "athlete", "object_id": 134_815,
            "aspect_type": "update", "owner_id": 134_815,
            "updates": {"authorized": "false"}}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forged["statuses"], json!([200]), "{forged}");
    settle(&api, &admin).await;
    assert_eq!(connection(&api, &admin).await["status"], "connected");

    // The athlete revokes Paceline on Strava: the connection is revoked, its tokens gone.
    providers
        .admin("/admin/strava/revoke", json!({"athlete_id": 134_815}))
        .await;
    let revoked = paceline_testkit::wait_until(
        "the connection to be revoked",
        paceline_testkit::DEADLINE,
        async || {
            let c = connection(&api, &admin).await;
            (c["status"] == "revoked").then_some(c)
        },
    )
    .await;
    assert!(
        revoked["last_error"].as_str().unwrap().contains("revoked"),
        "{revoked}"
    );
    // A revoked connection does not sync, and events for it do nothing.
    let reply = api
        .post(
            "/connections/strava/sync",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.json);
    assert_eq!(activities(&api, &admin, ana).await.len(), 3);
}

/// How many of the athlete's activities hold a Strava copy, and how many activities.
async fn strava_count(api: &Api, token: &str, athlete: i64) -> (usize, usize) {
    let items = activities(api, token, athlete).await;
    let from_strava = items
        .iter()
        .filter(|a| {
            a["source_kinds"]
                .as_array()
                .unwrap()
                .contains(&json!("strava"))
        })
        .count();
    (from_strava, items.len())
}

fn unix_now_s() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backfill_resumes_without_duplicates_and_rate_limits_pause_sync() {
    let providers = Providers::start(&[
        "--activities",
        "40",
        "--rate-limit",
        "2000,20000",
        "--read-rate-limit",
        "1000,10000",
    ]);
    // Every API answer takes 30 ms, so the backfill is still running when it is killed.
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "delay", "ms": 30, "path_prefix": "/api/v3/activities", "times": 100_000}]}),
        )
        .await;
    let mut gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@kill.example", "Kill Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let callback = authorize(&api, &providers, &admin, ana).await;
    assert_eq!(api.get(&callback, &admin).await.status, 200);

    // SIGKILL in the middle of the backfill.
    let before_kill = paceline_testkit::wait_until(
        "the backfill to be under way",
        paceline_testkit::DEADLINE,
        async || {
            let (n, _) = strava_count(&api, &admin, ana).await;
            (n >= 3).then_some(n)
        },
    )
    .await;
    gateway.kill();
    assert!(before_kill < 40, "{before_kill}");
    gateway.launch().await;
    let after_kill = strava_count(&api, &admin, ana).await.0;
    assert!(
        (before_kill..40).contains(&after_kill),
        "{after_kill} after the kill"
    );
    // The restarted runner takes the job up again and finishes: every activity once.
    paceline_testkit::wait_until(
        "the resumed backfill to finish",
        paceline_testkit::DEADLINE * 4,
        async || unfinished_jobs(&api, &admin).await == 0,
    )
    .await;
    assert_eq!(strava_count(&api, &admin, ana).await, (40, 40));
    let done = jobs(&api, &admin, "done").await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["attempts"], 2, "the killed run and the resumed one");
    let mut starts: Vec<String> = activities(&api, &admin, ana)
        .await
        .iter()
        .map(|a| a["start_ms"].to_string())
        .collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 40, "no activity twice");
    let cleared = reqwest::Client::new()
        .delete(format!("{}/admin/faults", providers.base))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());

    // Strava's headers say the read quota is at 85 %: the next sync pauses until the next
    // 15-minute boundary, spending no attempt, and the quota and the pause show.
    providers
        .admin("/admin/rate", json!({"read_short_usage": 850}))
        .await;
    let add = async |hours_ago: i64| {
        let added: Value = reqwest::Client::new()
            .post(format!("{}/admin/strava/activities", providers.base))
            .json(&json!({"start_s": unix_now_s() - hours_ago * 3600}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        added["id"].as_u64().unwrap()
    };
    add(1).await;
    let sync_now = async || {
        let reply = api
            .post(
                "/connections/strava/sync",
                Some(&admin),
                json!({"athlete_id": ana}),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.json);
        reply.json["job_id"].as_i64().unwrap()
    };
    let paused_job = sync_now().await;
    let paused = paceline_testkit::wait_until(
        "the sync to pause",
        paceline_testkit::DEADLINE,
        async || {
            jobs(&api, &admin, "retry")
                .await
                .into_iter()
                .find(|j| j["id"] == paused_job)
        },
    )
    .await;
    let now = unix_now_s();
    let run_at = paused["run_at_s"].as_i64().unwrap();
    assert_eq!(run_at % 900, 0, "a quarter-hour boundary: {paused}");
    assert!(run_at > now - 2 && run_at <= now + 900, "{run_at} vs {now}");
    assert_eq!(paused["attempts"], 0, "a pause spends no attempt");
    assert!(
        paused["last_error"]
            .as_str()
            .unwrap()
            .starts_with("rate_limited"),
        "{paused}"
    );
    let quota = connection(&api, &admin).await["quota"].clone();
    assert_eq!(quota["short_limit"], 1000, "{quota}");
    assert!(quota["short_usage"].as_u64().unwrap() >= 851, "{quota}");
    assert!(quota["used_percent"].as_u64().unwrap() >= 85, "{quota}");
    assert_eq!(quota["paused_until_s"], run_at, "{quota}");
    let listed = api.get("/admin/jobs", &admin).await;
    assert_eq!(
        listed.json["quota"][0]["paused_until_s"], run_at,
        "{}",
        listed.json
    );
    assert_eq!(strava_count(&api, &admin, ana).await.0, 40);

    // The window resets (here: the server's counters, and the admin runs the job now
    // instead of waiting for the boundary): the sync resumes and imports the new ride.
    providers
        .admin(
            "/admin/rate",
            json!({"read_short_usage": 0, "short_usage": 0}),
        )
        .await;
    let reply = api
        .post(
            &format!("/admin/jobs/{paused_job}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    paceline_testkit::wait_until(
        "the resumed sync to import the new ride",
        paceline_testkit::DEADLINE,
        async || strava_count(&api, &admin, ana).await.0 == 41,
    )
    .await;

    // A 429: the sync backs off to the next boundary rather than retrying at once.
    add(2).await;
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "too_many_requests", "path_prefix": "/api/v3", "times": 1}]}),
        )
        .await;
    let limited_job = sync_now().await;
    let limited = paceline_testkit::wait_until(
        "the sync to back off after a 429",
        paceline_testkit::DEADLINE,
        async || {
            jobs(&api, &admin, "retry")
                .await
                .into_iter()
                .find(|j| j["id"] == limited_job)
        },
    )
    .await;
    assert_eq!(limited["run_at_s"].as_i64().unwrap() % 900, 0, "{limited}");
    assert!(connection(&api, &admin).await["quota"]["paused_until_s"].is_i64());
    assert_eq!(strava_count(&api, &admin, ana).await.0, 41);
}

/// Every call the gateway made to Strava's API (`/api/v3/…`), by any path.
async fn strava_api_calls(providers: &Providers) -> u64 {
    let state: Value = reqwest::get(format!("{}/admin/state", providers.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["hits"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/api/v3/"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_pause_survives_a_restart() {
    let providers = Providers::start(&[
        "--activities",
        "3",
        "--rate-limit",
        "2000,20000",
        "--read-rate-limit",
        "1000,10000",
    ]);
    // The read quota is at 85 % from the start: the backfill's first answer pauses it.
    providers
        .admin("/admin/rate", json!({"read_short_usage": 850}))
        .await;
    let mut gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@pause.example", "Pause Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let callback = authorize(&api, &providers, &admin, ana).await;
    assert_eq!(api.get(&callback, &admin).await.status, 200);
    let paused = paceline_testkit::wait_until(
        "the backfill to pause",
        paceline_testkit::DEADLINE,
        async || jobs(&api, &admin, "retry").await.into_iter().next(),
    )
    .await;
    let run_at = paused["run_at_s"].as_i64().unwrap();
    assert_eq!(run_at % 900, 0, "a quarter-hour boundary: {paused}");
    assert_eq!(strava_count(&api, &admin, ana).await.0, 0);
    gateway.kill();

    // The pause is stored with its resume time.
    let db = gateway.data_dir.join("paceline.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: (String, i64) = conn
        .query_row(
            "SELECT provider, paused_until_s FROM sync_quotas",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored, ("strava".to_owned(), run_at));
    // Time passes while the gateway is down (the rows as they would read near the
    // boundary): the pause ends in a few seconds, the limits were seen in the window
    // before it, and the paused job is due at once (as a webhook's new job would be).
    let resume_s = unix_now_s() + 6;
    conn.execute(
        "UPDATE sync_quotas SET paused_until_s = ?1, seen_s = seen_s - 900",
        [resume_s],
    )
    .unwrap();
    conn.execute(
        "UPDATE sync_jobs SET run_at_s = ?1 WHERE state = 'retry'",
        [unix_now_s() - 1],
    )
    .unwrap();
    drop(conn);
    providers
        .admin(
            "/admin/rate",
            json!({"read_short_usage": 0, "short_usage": 0}),
        )
        .await;
    let calls_before = strava_api_calls(&providers).await;

    gateway.launch().await;
    // The restarted gateway shows the pause and asks Strava nothing before it ends,
    // though the job is due.
    let quota = connection(&api, &admin).await["quota"].clone();
    assert_eq!(quota["paused_until_s"], resume_s, "{quota}");
    while unix_now_s() < resume_s {
        assert_eq!(
            strava_api_calls(&providers).await,
            calls_before,
            "a call to Strava during the pause"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Then it resumes: the backfill finishes, every activity once.
    paceline_testkit::wait_until(
        "the backfill to resume after the pause",
        paceline_testkit::DEADLINE,
        async || unfinished_jobs(&api, &admin).await == 0,
    )
    .await;
    assert_eq!(strava_count(&api, &admin, ana).await, (3, 3));
    assert!(strava_api_calls(&providers).await > calls_before);
    let done = jobs(&api, &admin, "done").await;
    assert_eq!(
        (done.len(), &done[0]["attempts"]),
        (1, &json!(1)),
        "a pause spends no attempt: {done:?}"
    );
    assert!(connection(&api, &admin).await["quota"]["paused_until_s"].is_null());
}

/// Connects `athlete` to Garmin through the consent page (PKCE S256): the callback's
/// reply.
async fn connect_garmin(api: &Api, providers: &Providers, admin: &str, ana: i64) -> Reply {
    let reply = api
        .post(
            "/connections/garmin",
            Some(admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json["permissions"][0]["scope"], "ACTIVITY_EXPORT",
        "{}",
        reply.json
    );
    let authorize = reply.json["authorize_url"].as_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/oauth2Confirm?", providers.base))
            && authorize.contains("code_challenge_method=S256")
            && authorize.contains("code_challenge="),
        "{authorize}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(&authorize).send().await.unwrap();
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let callback = location
        .strip_prefix(&format!("{PUBLIC_URL}/api/v1"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    assert!(
        callback.starts_with("/connections/garmin/callback?"),
        "{callback}"
    );
    // The token endpoint checks the S256 verifier the gateway kept sealed with the state.
    let connected = api.get(&callback, admin).await;
    assert_eq!(connected.status, 200, "{}", connected.json);
    connected
}

/// Sends a Garmin notification from the local servers to the gateway.
async fn garmin_notify(providers: &Providers, webhook: &str, body: Value) -> Value {
    let mut body = body;
    body["callback_url"] = json!(webhook);
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/admin/garmin/notify", providers.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garmin_connects_with_pkce_and_disconnect_deregisters() {
    // Tokens living 60 s: the ping's job refreshes before it fetches.
    let providers = Providers::start(&["--activities", "1", "--token-lifetime-s", "60"]);
    let gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@garmin.example", "Garmin Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;

    let connected = connect_garmin(&api, &providers, &admin, ana).await;
    assert_eq!(connected.json["provider"], "garmin");
    assert_eq!(connected.json["status"], "connected");
    assert_eq!(connected.json["pending_jobs"], 0);
    assert_eq!(providers.hits("/wellness-api/rest/user/id").await, 1);
    // The backfill window (90 days) is asked of Garmin for every summary type.
    for summary in ["activities", "dailies", "sleeps", "hrv", "stressDetails"] {
        let path = format!("/wellness-api/rest/backfill/{summary}");
        paceline_testkit::wait_until(
            "the backfill requests",
            paceline_testkit::DEADLINE,
            async || providers.hits(&path).await == 1,
        )
        .await;
    }
    let listed = connection(&api, &admin).await;
    assert_eq!(
        (listed["provider"].as_str(), listed["athlete_id"].as_i64()),
        (Some("garmin"), Some(ana))
    );
    // Garmin pushes; there is nothing to ask for.
    let reply = api
        .post(
            "/connections/garmin/sync",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (400, "pushed_by_provider"));

    // Pushed health summaries land in the athlete's daily metrics, as source garmin.
    let webhook = format!("http://{}/webhooks/garmin", gateway.http);
    // stressDetails after dailies: Garmin's own daily average (31) stays the day's stress.
    for summary in ["dailies", "sleeps", "hrv", "userMetrics", "stressDetails"] {
        let sent = garmin_notify(
            &providers,
            &webhook,
            json!({"mode": "push", "summary": summary, "date": "2026-11-30"}),
        )
        .await;
        assert_eq!(sent["statuses"], json!([200]), "{summary}: {sent}");
    }
    let days = api
        .get(
            &format!("/athletes/{ana}/daily?from=2026-11-30&to=2026-11-30"),
            &admin,
        )
        .await;
    assert_eq!(days.status, 200, "{}", days.json);
    let day = &days.json["days"][0];
    assert_eq!(day["source"], "garmin", "{day}");
    assert_eq!(day["resting_hr_bpm"], 48.0, "{day}");
    assert_eq!(day["stress"], 31.0, "{day}");
    assert_eq!(day["hrv_ms"], 62.0, "{day}");
    assert_eq!(day["sleep_s"], 24_840.0, "deep + light + REM: {day}");
    assert_eq!(day["sleep_score"], 84.0, "{day}");
    assert_eq!(day["vo2max_ml_kg_min"], 52.0, "userMetrics: {day}");
    assert_eq!(day["fitness_age_years"], 38.0, "userMetrics: {day}");
    // User metrics pinged for a day with nothing yet: fetched and stored alone.
    let sent = garmin_notify(
        &providers,
        &webhook,
        json!({"mode": "ping", "summary": "userMetrics", "date": "2026-11-28"}),
    )
    .await;
    assert_eq!(sent["statuses"], json!([200]), "{sent}");
    let pinged = paceline_testkit::wait_until(
        "the pinged user metrics",
        paceline_testkit::DEADLINE,
        async || {
            let days = api
                .get(
                    &format!("/athletes/{ana}/daily?from=2026-11-28&to=2026-11-28"),
                    &admin,
                )
                .await;
            let day = days.json["days"][0].clone();
            (day["vo2max_ml_kg_min"] == 52.0).then_some(day)
        },
    )
    .await;
    assert_eq!(
        (
            &pinged["source"],
            &pinged["fitness_age_years"],
            &pinged["hrv_ms"]
        ),
        (&json!("garmin"), &json!(38.0), &Value::Null),
        "{pinged}"
    );
    assert_eq!(providers.hits("/wellness-api/rest/userMetrics").await, 1);
    // Stress details pinged for that day (no dailies): the day's stress is the mean of the
    // measured levels, 10 and 20 (−1 off wrist and −2 too much motion left out).
    let sent = garmin_notify(
        &providers,
        &webhook,
        json!({"mode": "ping", "summary": "stressDetails", "date": "2026-11-28"}),
    )
    .await;
    assert_eq!(sent["statuses"], json!([200]), "{sent}");
    let stressed = paceline_testkit::wait_until(
        "the pinged stress details",
        paceline_testkit::DEADLINE,
        async || {
            let days = api
                .get(
                    &format!("/athletes/{ana}/daily?from=2026-11-28&to=2026-11-28"),
                    &admin,
                )
                .await;
            let day = days.json["days"][0].clone();
            (!day["stress"].is_null()).then_some(day)
        },
    )
    .await;
    assert_eq!(
        (
            &stressed["source"],
            &stressed["stress"],
            &stressed["vo2max_ml_kg_min"]
        ),
        (&json!("garmin"), &json!(15.0), &json!(52.0)),
        "{stressed}"
    );
    assert_eq!(providers.hits("/wellness-api/rest/stressDetails").await, 1);
    // Pushed for a day with nothing yet: stored alone, synchronously like every push.
    let sent = garmin_notify(
        &providers,
        &webhook,
        json!({"mode": "push", "summary": "stressDetails", "date": "2026-11-27"}),
    )
    .await;
    assert_eq!(sent["statuses"], json!([200]), "{sent}");
    let days = api
        .get(
            &format!("/athletes/{ana}/daily?from=2026-11-27&to=2026-11-27"),
            &admin,
        )
        .await;
    let day = &days.json["days"][0];
    assert_eq!(
        (&day["source"], &day["stress"], &day["resting_hr_bpm"]),
        (&json!("garmin"), &json!(15.0), &Value::Null),
        "{day}"
    );

    // A ping: the gateway fetches the callback with the user's token; the activity
    // arrives in the library as source garmin, once however often the ping comes.
    let sent = garmin_notify(
        &providers,
        &webhook,
        json!({"mode": "ping", "summary": "activities", "duplicates": 2}),
    )
    .await;
    assert_eq!(sent["statuses"], json!([200, 200]), "{sent}");
    paceline_testkit::wait_until(
        "the pinged activity to be imported",
        paceline_testkit::DEADLINE,
        async || {
            let items = activities(&api, &admin, ana).await;
            items.len() == 1
                && items[0]["source_kinds"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("garmin"))
        },
    )
    .await;
    settle(&api, &admin).await;
    assert_eq!(activities(&api, &admin, ana).await.len(), 1);
    assert!(
        providers.hits("/di-oauth2-service/oauth/token").await >= 2,
        "the code, then a refresh"
    );
    // Garmin answers a ping's fetch with 401 once: one refresh and one more try, and the
    // connection stays connected.
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "status", "status": 401,
                "path_prefix": "/wellness-api/rest/dailies"}]}),
        )
        .await;
    let refreshes = providers.hits("/di-oauth2-service/oauth/token").await;
    let sent = garmin_notify(
        &providers,
        &webhook,
        json!({"mode": "ping", "summary": "dailies", "date": "2026-11-29"}),
    )
    .await;
    assert_eq!(sent["statuses"], json!([200]), "{sent}");
    paceline_testkit::wait_until(
        "the pinged day after a refresh",
        paceline_testkit::DEADLINE,
        async || {
            let days = api
                .get(
                    &format!("/athletes/{ana}/daily?from=2026-11-29&to=2026-11-29"),
                    &admin,
                )
                .await;
            days.json["days"][0]["resting_hr_bpm"] == 48.0
        },
    )
    .await;
    assert_eq!(providers.hits("/wellness-api/rest/dailies").await, 2);
    // Tokens living 60 s: one refresh before the fetch, one after the 401.
    assert!(providers.hits("/di-oauth2-service/oauth/token").await >= refreshes + 2);
    assert_eq!(connection(&api, &admin).await["status"], "connected");
    // A callback URL off Garmin's API origin is refused before anything is fetched.
    let foreign = reqwest::Client::new()
        .post(&webhook)
        .json(&json!({"activities": [{"userId": "134815",
            "callbackURL": "http://evil.example/wellness-api/rest/activities"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);

    // Disconnect deletes the user's registration at Garmin and the tokens here.
    let reply = api
        .call(
            Method::DELETE,
            &format!("/connections/garmin?athlete_id={ana}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(
        providers.hits("/wellness-api/rest/user/registration").await,
        1
    );
    assert_eq!(
        api.get("/connections", &admin).await.json["connections"],
        json!([])
    );

    // Connected again, the user disconnects Paceline in Garmin Connect: the
    // deregistration notice, checked against Garmin, revokes the connection.
    assert_eq!(
        connect_garmin(&api, &providers, &admin, ana).await.status,
        200
    );
    let sent = garmin_notify(&providers, &webhook, json!({"mode": "deregistration"})).await;
    assert_eq!(sent["statuses"], json!([200]), "{sent}");
    let revoked = paceline_testkit::wait_until(
        "the Garmin connection to be revoked",
        paceline_testkit::DEADLINE,
        async || {
            let c = connection(&api, &admin).await;
            (c["status"] == "revoked").then_some(c)
        },
    )
    .await;
    assert!(
        revoked["last_error"].as_str().unwrap().contains("Garmin"),
        "{revoked}"
    );
}

/// Two runs of one connection that both find its token about to expire: Garmin rotates
/// refresh tokens, so only one of them may trade it; the other waits and takes the new
/// tokens. (Without the per-connection turn, the second trade is refused as a spent
/// token and the connection drops to `needs_reauth`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_garmin_runs_refresh_the_rotating_token_once() {
    const TOKEN: &str = "/di-oauth2-service/oauth/token";
    // Tokens living 60 s: every run refreshes before it fetches.
    let providers = Providers::start(&["--activities", "1", "--token-lifetime-s", "60"]);
    let gateway = gateway_for(&providers).await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@rotate.example", "Rotate Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    connect_garmin(&api, &providers, &admin, ana).await;
    settle(&api, &admin).await;
    let refreshes = providers.hits(TOKEN).await;
    // The first refresh is held at Garmin for 1.5 s: the second run needs one meanwhile.
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "delay", "ms": 1500, "path_prefix": TOKEN}]}),
        )
        .await;
    let webhook = format!("http://{}/webhooks/garmin", gateway.http);
    for (summary, date) in [("dailies", "2026-11-29"), ("userMetrics", "2026-11-28")] {
        let sent = garmin_notify(
            &providers,
            &webhook,
            json!({"mode": "ping", "summary": summary, "date": date}),
        )
        .await;
        assert_eq!(sent["statuses"], json!([200]), "{summary}: {sent}");
    }
    settle(&api, &admin).await;
    let days = api
        .get(
            &format!("/athletes/{ana}/daily?from=2026-11-28&to=2026-11-29"),
            &admin,
        )
        .await;
    assert_eq!(days.status, 200, "{}", days.json);
    let fetched: Vec<(Value, Value)> = days.json["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["date"].clone(), d["source"].clone()))
        .collect();
    assert_eq!(
        fetched,
        [
            (json!("2026-11-28"), json!("garmin")),
            (json!("2026-11-29"), json!("garmin"))
        ],
        "both pinged days: {}",
        days.json
    );
    assert_eq!(connection(&api, &admin).await["status"], "connected");
    assert_eq!(
        providers.hits(TOKEN).await,
        refreshes + 1,
        "one refresh for both runs"
    );
    assert!(jobs(&api, &admin, "dead").await.is_empty());
}
