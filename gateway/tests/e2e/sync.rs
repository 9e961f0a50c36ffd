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
struct Providers {
    child: Child,
    base: String,
}

impl Drop for Providers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Providers {
    fn start(args: &[&str]) -> Providers {
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

    async fn admin(&self, path: &str, body: Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("the providers' admin answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }

    async fn hits(&self, path: &str) -> u64 {
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
    let gateway = paceline()
        .env("PACELINE_STRAVA_BASE_URL", &providers.base)
        .env("PACELINE_STRAVA_CLIENT_ID", "paceline-test-client")
        .env("PACELINE_STRAVA_CLIENT_SECRET", "paceline-test-secret")
        .env("PACELINE_STRAVA_VERIFY_TOKEN", "verify-me")
        .env("PACELINE_PUBLIC_URL", PUBLIC_URL)
        .env("PACELINE_OUTBOUND_ALLOW_PRIVATE", "true")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@sync.example", "Sync Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;

    // Connect: the authorize URL names the exact redirect URI and a fresh state.
    let reply = api
        .post(
            "/connections/strava",
            Some(&admin),
            json!({"athlete_id": ana}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let authorize = reply.json["authorize_url"].as_str().unwrap().to_owned();
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
    let dead = jobs(&api, &admin, "dead").await;
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
