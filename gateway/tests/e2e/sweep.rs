//! The cross-tenant sweep of issue 19, scripted: with a 100-athlete demo gym riding,
//! another tenant's device subscribed to everything (with the stock `mosquitto_sub`)
//! hears none of it; and a hundred live sockets whose users are revoked all close within
//! a second. (The thousand replayed frames are `replay`.)

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::time::Instant;

use crate::harness::*;
use paceline_testkit::api::*;

const DEMO_ATHLETES: usize = 100;
/// Coaches, each with this many board sockets: a hundred sockets in all.
const COACHES: usize = 20;
const SOCKETS_PER_COACH: usize = 5;
/// What the issue allows between a revocation and its sockets' close.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// `mosquitto_sub` with the device's login (and id) on `filter`, writing what it hears to `heard`.
fn listen(
    gateway: &Gateway,
    creds: &Creds,
    filter: &str,
    heard: &std::fs::File,
) -> std::process::Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &gateway.mqtt.port().to_string()])
        .args(["-i", creds.device.as_str()])
        .args(["-u", creds.device.as_str(), "-P", &creds.token.expose_hex()])
        .args(["-t", filter, "-v", "-q", "1"])
        .stdout(Stdio::from(heard.try_clone().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (Debian mosquitto-clients) is installed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_device_hears_nothing_of_a_100_athlete_demo() {
    let gateway = paceline().demo(DEMO_ATHLETES).start().await;
    wait_until(
        "the demo gym's riders to be coached",
        DEADLINE * 2,
        async || {
            let open = gateway.counter("paceline_sessions_open", "").await;
            if open >= DEMO_ATHLETES as f64 {
                Ok(())
            } else {
                Err(format!("{open} sessions open"))
            }
        },
    )
    .await;
    let bob = gateway.pair("gym-b", "bob");
    let bea = gateway.pair("gym-b", "bea");
    let stored_before = gateway.counter("paceline_frames_stored_total", "").await;

    let everything = tempfile::tempfile().unwrap();
    let demo_downlinks = tempfile::tempfile().unwrap();
    let mut listeners = vec![
        listen(&gateway, &bob, "#", &everything),
        listen(&gateway, &bea, "pl/v1/demo-gym/+/down", &demo_downlinks),
    ];
    // Listen while the demo gym sends at least two frames per rider.
    wait_until("the demo gym to go on riding", DEADLINE, async || {
        let stored = gateway.counter("paceline_frames_stored_total", "").await - stored_before;
        let denied = gateway
            .counter(
                "paceline_mqtt_acl_denied_total",
                "reason=\"SubscribeFilter\"",
            )
            .await;
        if stored >= 2.0 * DEMO_ATHLETES as f64 && denied >= 2.0 {
            Ok(())
        } else {
            Err(format!(
                "{stored} frames stored meanwhile, {denied} subscriptions denied"
            ))
        }
    })
    .await;
    for listener in &mut listeners {
        let _ = listener.kill();
        let _ = listener.wait();
    }
    for (filter, mut file) in [("#", everything), ("demo downlinks", demo_downlinks)] {
        let mut heard = String::new();
        std::io::Read::read_to_string(&mut file, &mut heard).unwrap();
        assert_eq!(heard, "", "bob's {filter} subscription heard the demo gym");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::print_stderr,
    reason = "the measured close times are reported beside the verdict"
)]
async fn a_hundred_revoked_live_sockets_all_close_within_a_second() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@sweep.example", "Gym Sweep").await);
    let mut coaches = Vec::new();
    for n in 0..COACHES {
        let pair = api
            .invite_and_register(&admin, "coach", &format!("coach{n}@sweep.example"), None)
            .await;
        coaches.push((pair["user"]["id"].as_i64().unwrap(), access(&pair)));
    }
    let mut boards = Vec::new();
    for (id, token) in &coaches {
        let mut sockets = Vec::new();
        for _ in 0..SOCKETS_PER_COACH {
            let mut board = api.live("/live/board", token).await;
            board
                .wait_for("the board's hello", |m| m["type"] == "hello")
                .await;
            sockets.push(board);
        }
        boards.push((*id, sockets));
    }

    // Every coach disabled at once; each socket timed from its own revocation's reply.
    let mut closing = Vec::new();
    for (id, mut sockets) in boards {
        let api = api.clone();
        let admin = admin.clone();
        closing.push(tokio::spawn(async move {
            let reply = api
                .call(
                    Method::PATCH,
                    &format!("/users/{id}"),
                    Some(&admin),
                    Some(json!({"disabled": true})),
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.json);
            let revoked = Instant::now();
            let mut closes = Vec::new();
            for socket in &mut sockets {
                let close = socket
                    .wait_closed("a revoked coach's board to close", DEADLINE)
                    .await;
                closes.push((close, revoked.elapsed()));
            }
            closes
        }));
    }
    let mut latencies = Vec::new();
    for task in closing {
        for (close, latency) in task.await.unwrap() {
            let (code, reason) = close.expect("a close frame");
            assert_eq!(code, 1008, "{reason}");
            latencies.push(latency);
        }
    }
    latencies.sort();
    let slowest = latencies.last().copied().unwrap_or_default();
    eprintln!(
        "{} revoked sockets closed: median {:?}, slowest {slowest:?}",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    assert_eq!(latencies.len(), COACHES * SOCKETS_PER_COACH);
    assert!(
        slowest <= CLOSE_WITHIN,
        "the slowest revoked socket closed {slowest:?} after its revocation"
    );
}
