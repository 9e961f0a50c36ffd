//! The gateway on an external broker: a real Mosquitto process (the Debian package) on a
//! free port, the gateway subscribed through a shared subscription, a device publishing
//! to Mosquitto; and the authentication hooks the broker would call.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use paceline_testkit::ports::{free_tcp_port, listening, loopback};
use serde_json::{Value, json};

use crate::harness::*;

const HOOK_SECRET: &str = "hook-secret-for-the-e2e-tests-0123";
const GATEWAY_PASSWORD: &str = "gateway-password-for-the-e2e-tests";

/// A Mosquitto broker on a free loopback port, stopped when dropped.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
}

impl Mosquitto {
    async fn start(dir: &std::path::Path) -> Mosquitto {
        let port = free_tcp_port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_type error\nlog_dest stderr\n"
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto (the Debian package `mosquitto`)");
        let addr = loopback(port);
        wait_until("mosquitto to listen", DEADLINE, async || {
            listening(addr).await
        })
        .await;
        Mosquitto { child, addr }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway on `broker`, with the hook secret and its broker password in a config file.
async fn gateway_on(dir: &std::path::Path, broker: SocketAddr) -> Gateway {
    let config = dir.join("paceline.toml");
    std::fs::write(
        &config,
        format!(
            "mqtt_broker = \"{broker}\"\nmqtt_broker_password = \"{GATEWAY_PASSWORD}\"\n\
             mqtt_hook_secret = \"{HOOK_SECRET}\"\n"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    paceline()
        .data_dir(dir.join("gateway"))
        .args(&["--config", &config])
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_through_an_external_mosquitto_is_coached_stored_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(dir.path()).await;
    // Ready only once subscribed at the broker (the harness waits for /health/ready).
    let gateway = gateway_on(dir.path(), mosquitto.addr).await;
    // The banner is printed once the gateway serves, so it may trail readiness a little.
    let banner = format!("external broker {}", mosquitto.addr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gateway.stdout().contains(&banner) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        gateway.stdout().contains(&banner),
        "the banner names the external broker: {}",
        gateway.stdout()
    );
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect_with(
        mosquitto.addr,
        &creds,
        creds.device.as_str(),
        &creds.token.expose_hex(),
    )
    .await;
    let session = session_id("external-ride");
    let next = ride_mqtt(&device, &session, 1, 12, through_the_cap).await;
    let cap = device.inbox.wait_cue("hr_above_cap").await;
    assert_eq!(cap.session, session);
    device.inbox.wait_ack(&session, next - 1).await;
    let conn = gateway.db();
    assert_eq!(
        stored_counts(&conn, &session),
        (12, 12, 24),
        "every frame stored once, a heart-rate and a power sample each"
    );
    // A frame sealed with another key, published straight to the broker, is refused by
    // the gateway all the same.
    let wrong_key = paceline_schemas::DeviceKey::generate();
    device
        .publish_raw(creds.frame_as(
            &wrong_key,
            &session,
            next,
            &ride_batch(next * 1000, 150, 200),
        ))
        .await;
    wait_until("the forged frame to be refused", DEADLINE, async || {
        (gateway
            .counter("paceline_frames_rejected_total", "reason=\"BadSeal\"")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(stored_counts(&conn, &session).0, 12);
}

async fn hook(gateway: &Gateway, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", gateway.http))
        .json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn result(answer: &(u16, Value)) -> &str {
    assert_eq!(answer.0, 200, "{answer:?}");
    answer.1["result"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_hooks_let_a_device_in_to_its_own_topics_only() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(dir.path()).await;
    let gateway = gateway_on(dir.path(), mosquitto.addr).await;
    let ana = gateway.pair("gym-1", "ana");
    let ben = gateway.pair("gym-1", "ben");
    let device = ana.device.as_str();
    let token = ana.token.expose_hex();
    let auth = |clientid: &str, username: &str, password: &str| json!({"clientid": clientid, "username": username, "password": password});

    // The broker must prove itself; a bad body is a JSON error.
    for bearer in [None, Some("not-the-secret")] {
        let (status, body) = hook(
            &gateway,
            "/internal/mqtt/auth",
            bearer,
            auth(device, device, &token),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, body) = hook(
        &gateway,
        "/internal/mqtt/auth",
        Some(HOOK_SECRET),
        json!({"clientid": device}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "malformed_body");

    // CONNECT: the device with its token and its own id as client id; the gateway's user
    // with its password.
    let connect = |body| hook(&gateway, "/internal/mqtt/auth", Some(HOOK_SECRET), body);
    assert_eq!(
        result(&connect(auth(device, device, &token)).await),
        "allow"
    );
    let wrong_token = ben.token.expose_hex();
    assert_eq!(
        result(&connect(auth(device, device, &wrong_token)).await),
        "deny"
    );
    assert_eq!(
        result(&connect(auth(ben.device.as_str(), device, &token)).await),
        "deny",
        "another client id"
    );
    assert_eq!(
        result(&connect(auth("x", "paceline-gateway", GATEWAY_PASSWORD)).await),
        "allow"
    );
    assert_eq!(
        result(&connect(auth("x", "paceline-gateway", "guess")).await),
        "deny"
    );
    // A device of no tenant here is left to the broker's next hook (another gateway).
    assert_eq!(
        result(&connect(auth("d-000000000000", "d-000000000000", &token)).await),
        "ignore"
    );

    // Topics: publish on its own uplink, subscribe to its own downlink, nothing else.
    let acl = |topic: String, action: &str| {
        let body =
            json!({"clientid": device, "username": device, "topic": topic, "action": action});
        hook(&gateway, "/internal/mqtt/acl", Some(HOOK_SECRET), body)
    };
    let up = |c: &Creds| paceline_schemas::Topic::up(&c.tenant, &c.device).to_string();
    let down = |c: &Creds| paceline_schemas::Topic::down(&c.tenant, &c.device).to_string();
    assert_eq!(result(&acl(up(&ana), "publish").await), "allow");
    assert_eq!(result(&acl(down(&ana), "subscribe").await), "allow");
    assert_eq!(result(&acl(down(&ana), "publish").await), "deny");
    assert_eq!(result(&acl(up(&ana), "subscribe").await), "deny");
    assert_eq!(result(&acl(up(&ben), "publish").await), "deny");
    assert_eq!(result(&acl(down(&ben), "subscribe").await), "deny");
    assert_eq!(
        result(&acl("pl/v1/+/+/up".to_owned(), "subscribe").await),
        "deny"
    );
    let stranger = json!({"clientid": "d-000000000000", "username": "d-000000000000",
        "topic": up(&ana), "action": "publish"});
    assert_eq!(
        result(&hook(&gateway, "/internal/mqtt/acl", Some(HOOK_SECRET), stranger).await),
        "ignore"
    );
    let gateway_acl = json!({"clientid": "x", "username": "paceline-gateway",
        "topic": "$share/paceline/pl/v1/+/+/up", "action": "subscribe"});
    assert_eq!(
        result(
            &hook(
                &gateway,
                "/internal/mqtt/acl",
                Some(HOOK_SECRET),
                gateway_acl
            )
            .await
        ),
        "allow"
    );
}
