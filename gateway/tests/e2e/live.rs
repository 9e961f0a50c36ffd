//! A whole ride, over MQTT and over QUIC.

use paceline_testkit::ports::{free_tcp_port, free_udp_port};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_over_mqtt_is_coached_stored_and_summarised() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ana");
    gateway.assign_plan("gym-1", "ana", SHORT_PLAN);
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("mqtt-ride");

    // 12 s of riding, heart rate above the 176 bpm cap from the fourth second.
    let next = ride_mqtt(&device, &session, 1, 12, through_the_cap).await;
    let cap = device.inbox.wait_cue("hr_above_cap").await;
    assert_eq!(
        cap.session, session,
        "the cue names the device's own session id"
    );
    assert!(
        cap.t_s >= 3.0 && cap.t_s <= 12.0,
        "cap cue at {} s",
        cap.t_s
    );
    device.inbox.wait_ack(&session, next - 1).await;

    device.send(&session, next, &end()).await;
    device.inbox.wait_ack(&session, next).await;
    let conn = gateway.db();
    let (status, summary) = wait_until("the session to end with a summary", DEADLINE, async || {
        session_status(&conn, &session)
            .filter(|(status, summary)| status == "ended" && summary.is_some())
    })
    .await;
    assert_eq!(status, "ended");
    let summary: serde_json::Value = serde_json::from_str(&summary.unwrap()).unwrap();
    assert_eq!(summary["max_hr_bpm"], 182, "summary: {summary}");
    assert_eq!(summary["session"], session.as_str());
    assert_eq!(summary["avg_power_w"], 200.0);
    let duration_s = summary["duration_s"].as_f64().unwrap();
    assert!(
        (9.0..=13.0).contains(&duration_s),
        "duration {duration_s} s"
    );

    let (frames, distinct, samples) = stored_counts(&conn, &session);
    assert_eq!(
        (frames, distinct),
        (13, 13),
        "12 sample frames and the end command"
    );
    assert_eq!(samples, 24, "a heart-rate and a power sample per frame");
    let stored_cues: Vec<String> = conn
        .prepare("SELECT c.code FROM cues c JOIN sessions s ON s.id = c.session_row WHERE s.session_id = ?1 ORDER BY c.output_seq")
        .unwrap()
        .query_map([session.as_str()], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        stored_cues.contains(&"hr_above_cap".to_owned()),
        "{stored_cues:?}"
    );
    let heard: Vec<String> = device.inbox.cues().iter().map(code_of).collect();
    for code in &heard {
        assert!(
            stored_cues.contains(code),
            "heard {code} but it is not stored: {stored_cues:?}"
        );
    }
    let modifications: i64 = conn
        .query_row("SELECT count(*) FROM modifications", [], |row| row.get(0))
        .unwrap();
    assert!(
        modifications >= 1,
        "the cap cue lowers intensity: a modification is stored"
    );
    assert!(gateway.counter("paceline_frames_stored_total", "").await >= 13.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_over_quic_is_coached_and_acknowledged() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ben");
    let mut device = QuicDevice::connect(&gateway, &creds, &creds.token).await;
    let session = session_id("quic-ride");
    let start = tokio::time::Instant::now();
    for i in 0..10u64 {
        tokio::time::sleep_until(start + std::time::Duration::from_secs(i)).await;
        device
            .send(
                &session,
                i + 1,
                &ride_batch(i * 1000, through_the_cap(i), 180),
            )
            .await;
    }
    let cap = device.inbox.wait_cue("hr_above_cap").await;
    assert_eq!(cap.session, session);
    device.inbox.wait_ack(&session, 10).await;
    device.send(&session, 11, &end()).await;
    device.inbox.wait_ack(&session, 11).await;
    let conn = gateway.db();
    wait_until("the QUIC session to end", DEADLINE, async || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;
    assert_eq!(stored_counts(&conn, &session), (11, 11, 20));
    assert!(
        gateway
            .counter("paceline_frames_received_total", "transport=\"Quic\"")
            .await
            >= 11.0
    );
}

/// After a frame on the stream has been acked, frames sent as QUIC datagrams are stored,
/// coached and acknowledged on that stream; a datagram on a connection with no stream
/// whose hello checked out is refused, and the connection is not closed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_in_quic_datagrams_are_coached_and_acknowledged_on_the_stream() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "dee");
    let (_endpoint, stranger) = quic_connection(&gateway).await;
    stranger
        .send_datagram(
            creds
                .frame(&session_id("no-hello"), 1, &ride_batch(0, 150, 180))
                .into(),
        )
        .unwrap();
    wait_until(
        "the datagram without a hello to be refused",
        DEADLINE,
        async || {
            let refused = gateway
                .counter("paceline_frames_rejected_total", "BadCredentials")
                .await;
            (refused >= 1.0).then_some(())
        },
    )
    .await;
    assert!(
        stranger.close_reason().is_none(),
        "the connection stays open"
    );

    let mut device = QuicDevice::connect(&gateway, &creds, &creds.token).await;
    let session = session_id("datagram-ride");
    device.send(&session, 1, &ride_batch(0, 150, 180)).await;
    device.inbox.wait_ack(&session, 1).await;
    let start = tokio::time::Instant::now();
    for i in 1..10u64 {
        tokio::time::sleep_until(start + std::time::Duration::from_secs(i)).await;
        device.send_datagram(
            &session,
            i + 1,
            &ride_batch(i * 1000, through_the_cap(i), 180),
        );
    }
    let cap = device.inbox.wait_cue("hr_above_cap").await;
    assert_eq!(cap.session, session);
    device.inbox.wait_ack(&session, 10).await;
    device.send_datagram(&session, 11, &end());
    device.inbox.wait_ack(&session, 11).await;
    let conn = gateway.db();
    wait_until("the datagram session to end", DEADLINE, async || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;
    assert_eq!(stored_counts(&conn, &session), (11, 11, 20));
    assert_eq!(
        gateway
            .counter(
                "paceline_frames_received_total",
                "transport=\"QuicDatagram\""
            )
            .await,
        10.0,
        "frames 2 to 11 came in datagrams"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_hello_with_a_wrong_token_is_refused() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "cleo");
    let wrong = paceline_schemas::hello::DeviceToken::generate();
    let device = QuicDevice::connect(&gateway, &creds, &wrong).await;
    let reason = tokio::time::timeout(DEADLINE, device.connection.closed())
        .await
        .expect("the gateway closes the connection");
    assert!(
        matches!(&reason, quinn::ConnectionError::ApplicationClosed(close) if close.error_code == quinn::VarInt::from_u32(1)),
        "{reason:?}"
    );
    assert!(
        gateway
            .counter("paceline_frames_rejected_total", "BadCredentials")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_session_is_closed_after_the_idle_time() {
    let gateway = paceline().args(&["--session-idle-s", "2"]).start().await;
    let creds = gateway.pair("gym-1", "dev");
    let device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("idle");
    ride_mqtt(&device, &session, 1, 3, |_| 140).await;
    let conn = gateway.db();
    let (_, summary) = wait_until("the silent session to be ended", DEADLINE, async || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;
    assert!(
        summary.is_some(),
        "an idle-ended session still gets its summary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_health_answers_before() {
    let mut gateway = paceline().start().await;
    assert_eq!(
        http_get(gateway.http, "/health/live").await.map(|(s, _)| s),
        Some(200)
    );
    let (status, body) = http_get(gateway.http, "/no/such/route").await.unwrap();
    assert_eq!(status, 404);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    let exit = gateway.terminate().await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_gym_rides_and_is_coached() {
    let dir = tempfile::tempdir().unwrap();
    let (http, mqtt, quic) = (free_tcp_port(), free_tcp_port(), free_udp_port());
    let out = tokio::task::spawn_blocking({
        let data_dir = dir.path().to_owned();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_paceline"))
                .arg("demo")
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["--http", &format!("127.0.0.1:{http}")])
                .args(["--mqtt", &format!("127.0.0.1:{mqtt}")])
                .args(["--quic", &format!("127.0.0.1:{quic}")])
                .args(["--athletes", "3", "--duration-s", "8"])
                .env("PACELINE_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Demo gym demo-gym: 3 simulated athletes"),
        "{stdout}"
    );
    for name in ["Ana", "Ben", "Chloe"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(name) && line.contains("Warm-up")),
            "{name} hears the warm-up cue:\n{stdout}"
        );
    }
    let conn = rusqlite::Connection::open(dir.path().join("paceline.db")).unwrap();
    let (sessions, samples, cues): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM stored_samples),
                    (SELECT count(*) FROM cues)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(sessions, 3);
    assert!(
        samples >= 3 * 5 * 4,
        "8 s of HR at 1 Hz and power at 4 Hz each: {samples}"
    );
    assert!(cues >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_open_by_a_killed_gateway_is_ended_after_the_restart() {
    let mut gateway = paceline().args(&["--session-idle-s", "1"]).start().await;
    let creds = gateway.pair("gym-1", "elif");
    let session = session_id("orphan");
    {
        let mut device = MqttDevice::connect(&gateway, &creds).await;
        device.send(&session, 1, &ride_batch(0, 140, 150)).await;
        device.inbox.wait_ack(&session, 1).await;
    }
    gateway.kill();
    let conn = gateway.db();
    assert_eq!(
        session_status(&conn, &session).map(|(s, _)| s),
        Some("open".to_owned())
    );
    drop(conn);
    gateway.restart().await;
    let conn = gateway.db();
    wait_until("the orphaned session to be ended", DEADLINE, async || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_shows_the_batteries_its_device_last_reported() {
    use paceline_schemas::{DeviceStatus, Payload, SensorKind, SensorReport};

    use paceline_testkit::api::{Api, access};

    let mut gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("head@battery.example", "Battery Gym")
            .await,
    );
    let athlete = api.create_athlete(&admin, "Bea Battery").await;
    let creds = api.pair(&admin, athlete).await;
    let session = session_id("battery-resume");
    let status = Payload::DeviceStatus(DeviceStatus {
        t_ms: 1_000,
        sensors: vec![SensorReport {
            kind: SensorKind::HeartRate,
            connected: true,
            battery_pct: Some(37),
        }],
    });
    {
        let mut device = MqttDevice::connect(&gateway, &creds).await;
        device.send(&session, 1, &ride_batch(0, 130, 150)).await;
        device.send(&session, 2, &status).await;
        device.send(&session, 3, &ride_batch(1_000, 131, 150)).await;
        device.inbox.wait_ack(&session, 3).await;
    }
    gateway.restart().await; // SIGKILL, then start again on the same data and ports

    // The device goes on with samples only: its sensors did not change, so it has no
    // reason to send its status again.
    let mut board = api.live("/live/board", &admin).await;
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    for seq in 4..=8u64 {
        device
            .send(&session, seq, &ride_batch(seq * 1_000, 132, 150))
            .await;
    }
    device.inbox.wait_ack(&session, 8).await;
    let reported = |m: &serde_json::Value| {
        m["sensors"].as_array().is_some_and(|sensors| {
            sensors
                .iter()
                .any(|s| s["kind"] == "heart_rate" && s["battery_pct"] == 37)
        })
    };
    let seen = board
        .wait_for("the resumed session's strap battery on the board", |m| {
            m["type"] == "status" && reported(m)
        })
        .await;
    assert_eq!(seen["athlete_id"], athlete, "{seen}");
}
