//! Hostile input while a well-behaved rider is coached: garbage and oversize payloads
//! from `mosquitto_pub`, a client without credentials, frames sealed with the wrong key or
//! naming another device on the sender's own topic; frames on another device's, an
//! unknown device's or another tenant's topic, and replays of another device's frames,
//! which the front door's topic ACLs refuse before the broker.

use std::process::Command;

use paceline_schemas::{DeviceId, DeviceKey, SessionId, TenantId, Topic};

use crate::harness::*;

/// Publishes `payload` with mosquitto_pub; true if it exited 0.
fn mosquitto_pub(gateway: &Gateway, creds: Option<&Creds>, topic: &str, payload: &[u8]) -> bool {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), payload).unwrap();
    let mut command = Command::new("mosquitto_pub");
    command
        .args(["-h", "127.0.0.1", "-p", &gateway.mqtt.port().to_string()])
        .args(["-t", topic, "-q", "1"])
        .arg("-f")
        .arg(file.path());
    if let Some(creds) = creds {
        command
            .args(["-i", creds.device.as_str(), "-u", creds.device.as_str()])
            .args(["-P", &creds.token.expose_hex()]);
    }
    command
        .output()
        .expect("mosquitto_pub (Debian mosquitto-clients) is installed")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_are_refused_and_counted_while_a_good_rider_is_coached() {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-1", "ana");
    let mallory = gateway.pair("gym-1", "mallory");
    let other_gym = gateway.pair("gym-2", "olga");
    let session = session_id("good");
    let evil = session_id("evil");

    let good = MqttDevice::connect(&gateway, &ana).await;
    let riding = {
        let session = session.clone();
        tokio::spawn(async move {
            let next = ride_mqtt(&good, &session, 1, 12, through_the_cap).await;
            (good, next)
        })
    };

    let mallory_up = Topic::up(&mallory.tenant, &mallory.device).to_string();
    let ana_up = Topic::up(&ana.tenant, &ana.device).to_string();
    // Garbage, and a payload larger than any frame may be, from an authenticated client.
    assert!(mosquitto_pub(
        &gateway,
        Some(&mallory),
        &mallory_up,
        b"\x01not a frame at all"
    ));
    assert!(mosquitto_pub(
        &gateway,
        Some(&mallory),
        &mallory_up,
        &vec![0x01; 66_000]
    ));
    // No credentials, or another device's token: refused at CONNECT.
    assert!(!mosquitto_pub(&gateway, None, &mallory_up, b"x"));
    let mut impostor = mallory.clone();
    impostor.token = ana.token.clone();
    assert!(!mosquitto_pub(&gateway, Some(&impostor), &mallory_up, b"x"));
    // Sealed with a key that is not the device's.
    let wrong_key = DeviceKey::generate();
    let frame = mallory.frame_as(&wrong_key, &evil, 1, &ride_batch(0, 150, 100));
    assert!(mosquitto_pub(&gateway, Some(&mallory), &mallory_up, &frame));
    // Naming ana, sealed with mallory's key, on ana's topic: the front door's topic ACLs
    // close mallory's connection before the frame reaches the broker (`broker_acl`).
    let mut as_ana = mallory.clone();
    as_ana.device = ana.device.clone();
    let frame = as_ana.frame_as(&mallory.key, &evil, 1, &ride_batch(0, 150, 100));
    assert!(!mosquitto_pub(&gateway, Some(&mallory), &ana_up, &frame));
    // Ana's own frame published on mallory's topic.
    let frame = ana.frame(&evil, 1, &ride_batch(0, 150, 100));
    assert!(mosquitto_pub(&gateway, Some(&mallory), &mallory_up, &frame));
    // A device that does not exist, and a device of another tenant claiming gym-1, each on
    // its own topic: refused at the front door likewise.
    let mut ghost = mallory.clone();
    ghost.device = DeviceId::new("d-ghost").unwrap();
    let ghost_up = Topic::up(&ghost.tenant, &ghost.device).to_string();
    let frame = ghost.frame(&evil, 1, &ride_batch(0, 150, 100));
    assert!(!mosquitto_pub(&gateway, Some(&mallory), &ghost_up, &frame));
    let mut cross = other_gym.clone();
    cross.tenant = TenantId::new("gym-1").unwrap();
    let cross_up = Topic::up(&cross.tenant, &cross.device).to_string();
    let frame = cross.frame(&evil, 1, &ride_batch(0, 150, 100));
    assert!(!mosquitto_pub(&gateway, Some(&mallory), &cross_up, &frame));
    // A replay of one of ana's genuine frames by mallory, on ana's topic: refused too.
    let replayed_session = SessionId::new(format!("{session}-replayed")).unwrap();
    let genuine = ana.frame(&replayed_session, 1, &ride_batch(0, 150, 100));
    assert!(!mosquitto_pub(&gateway, Some(&mallory), &ana_up, &genuine));

    let (mut good, next) = riding.await.unwrap();
    good.inbox.wait_cue("hr_above_cap").await;
    good.inbox.wait_ack(&session, next - 1).await;
    let heard: Vec<String> = good.inbox.cues().iter().map(code_of).collect();
    assert!(heard.contains(&"hr_above_cap".to_owned()), "{heard:?}");

    let count = async |reason: &str| {
        gateway
            .counter(
                "paceline_frames_rejected_total",
                &format!("reason=\"{reason}\""),
            )
            .await
    };
    // The impostor's CONNECT reaches the auth handler; one without credentials is refused
    // by rumqttd before it.
    wait_until("every refusal to be counted", DEADLINE, async || {
        let c = (
            count("Malformed").await,
            count("Oversize").await,
            count("BadCredentials").await,
            count("BadSeal").await,
            count("TopicMismatch").await,
            gateway
                .counter("paceline_mqtt_acl_denied_total", "reason=\"PublishTopic\"")
                .await,
        );
        if c.0 >= 1.0 && c.1 >= 1.0 && c.2 >= 1.0 && c.3 >= 1.0 && c.4 >= 1.0 && c.5 >= 4.0 {
            Ok(())
        } else {
            Err(format!(
                "(malformed, oversize, credentials, seal, topic, acl publish topic) = {c:?}"
            ))
        }
    })
    .await;
    let conn = gateway.db();
    assert_eq!(
        stored_counts(&conn, &evil),
        (0, 0, 0),
        "nothing of the hostile session is stored"
    );
    assert_eq!(
        stored_counts(&conn, &replayed_session),
        (0, 0, 0),
        "another device's replay is not stored"
    );
    assert_eq!(
        stored_counts(&conn, &session).1,
        12,
        "the good rider lost nothing"
    );
}
