//! Replayed uplink frames (issue 19, hole 2): a capture of a device's genuine frames,
//! replayed a thousand times with the device's own broker login, moves no session's
//! downlink route (the coach's cue still reaches the device's QUIC connection), stores no
//! duplicate, and does not keep a silent session alive.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

const REPLAYS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_frames_move_no_route_store_nothing_and_keep_no_session_alive() {
    let gateway = paceline().args(&["--session-idle-s", "4"]).start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@replay.example", "Gym Replay").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let session = session_id("replayed");

    // The genuine ride, over QUIC; every frame captured on its way.
    let mut quic = QuicDevice::connect(&gateway, &creds, &creds.token).await;
    let mut captured = Vec::new();
    for seq in 1..=5u64 {
        let frame = creds.frame(&session, seq, &ride_batch((seq - 1) * 1000, 150, 180));
        quic.send_raw(&frame).await;
        captured.push(frame);
    }
    quic.inbox.wait_ack(&session, 5).await;
    let conn = gateway.db();
    let stored = stored_counts(&conn, &session);
    assert_eq!(stored.0, 5, "the genuine frames are stored");
    let duplicates = async || gateway.counter("paceline_frames_duplicate_total", "").await;
    let duplicates_before = duplicates().await;

    // The capture, replayed with the device's own login on the broker.
    let mut replayer = MqttDevice::connect(&gateway, &creds).await;
    for i in 0..REPLAYS {
        replayer
            .publish_raw(captured[i % captured.len()].clone())
            .await;
    }
    wait_until(
        "every replay to be counted a duplicate",
        DEADLINE,
        async || {
            let counted = duplicates().await - duplicates_before;
            if counted >= REPLAYS as f64 {
                Ok(())
            } else {
                Err(format!("{counted} counted"))
            }
        },
    )
    .await;
    assert_eq!(
        stored_counts(&conn, &session),
        stored,
        "no replay is stored"
    );

    // The route did not move: the coach's command's cue reaches the QUIC connection.
    let row: i64 = conn
        .query_row(
            "SELECT id FROM sessions WHERE session_id = ?1",
            [session.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    let reply = api
        .post(
            &format!("/sessions/{row}/commands"),
            Some(&admin),
            json!({"kind": "pause"}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let cue = quic.inbox.wait_cue("coach_override").await;
    assert!(cue.text.contains("Paused"), "{}", cue.text);
    assert!(
        replayer.inbox.cues().is_empty(),
        "the replaying connection hears no cue"
    );

    // Replays keep no session alive: with the device silent, the session ends after its
    // idle time although the replays go on.
    let replaying = tokio::spawn(async move {
        loop {
            for frame in &captured {
                replayer.publish_raw(frame.clone()).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    wait_until(
        "the silent session to end while replays go on",
        DEADLINE,
        async || match session_status(&conn, &session) {
            Some((status, _)) if status != "open" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    replaying.abort();
    assert_eq!(
        stored_counts(&conn, &session),
        stored,
        "no replay is stored"
    );
}
