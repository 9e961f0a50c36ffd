//! Acknowledgements: after the commit, only over contiguous seqs, resumed after a crash,
//! and duplicates stored once.

use crate::harness::*;
use paceline_testkit::api::{Api, access};

/// Frames 1..=n of `session` are all in the database, each once.
fn all_stored_up_to(
    conn: &rusqlite::Connection,
    session: &paceline_schemas::SessionId,
    n: u64,
) -> bool {
    let count: i64 = conn
        .query_row(
            "SELECT count(DISTINCT f.seq) FROM stored_frames f JOIN sessions s ON s.id = f.session_row
             WHERE s.session_id = ?1 AND f.seq BETWEEN 1 AND ?2",
            rusqlite::params![session.as_str(), i64::try_from(n).unwrap()],
            |row| row.get(0),
        )
        .unwrap();
    count == i64::try_from(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_never_runs_ahead_of_the_commit() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("ack-order");
    let conn = gateway.db();
    // The distinct acks checked against the database while frames were still being sent.
    let mut checked = std::collections::BTreeSet::new();
    for seq in 1..=200u64 {
        device
            .send(&session, seq, &ride_batch(seq * 250, 140, 150))
            .await;
        // Paced (as a device is), so acks arrive while frames are still being sent.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        // Every ack heard so far must already be backed by the database.
        for heard in device.inbox.heard.clone() {
            if let Heard::Ack(s, n) = heard
                && s == session
            {
                assert!(
                    all_stored_up_to(&conn, &session, n),
                    "ack {n} before its frames were stored"
                );
                checked.insert(n);
            }
        }
        device.inbox.acked(&session);
    }
    device.inbox.wait_ack(&session, 200).await;
    assert!(all_stored_up_to(&conn, &session, 200));
    // The case was exercised: acks kept arriving (and were checked) while the device was
    // still sending, not only once at the end.
    assert!(
        checked.len() >= 3,
        "only {} distinct acks arrived while frames were still being sent: {checked:?}",
        checked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_holds_the_ack_back_until_it_is_filled() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ben");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("gap");
    for seq in [1, 2, 4, 5] {
        device
            .send(&session, seq, &ride_batch(seq * 1000, 140, 150))
            .await;
    }
    device.inbox.wait_ack(&session, 2).await;
    // Frames 4 and 5 are stored, but 3 is missing: the ack stays at 2.
    let conn = gateway.db();
    wait_until("frames 4 and 5 stored", DEADLINE, async || {
        (stored_counts(&conn, &session).0 == 4).then_some(())
    })
    .await;
    device.send(&session, 1, &ride_batch(1000, 140, 150)).await; // a resend: answered with the ack
    wait_until("the duplicate to be counted", DEADLINE, async || {
        (gateway.counter("paceline_frames_duplicate_total", "").await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(device.inbox.acked(&session), 2);
    device.send(&session, 3, &ride_batch(3000, 140, 150)).await;
    device.inbox.wait_ack(&session, 5).await;
    assert_eq!(stored_counts(&conn, &session), (5, 5, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_resumes_acking_and_stores_resent_frames_once() {
    let mut gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "cleo");
    let session = session_id("restart");
    {
        let mut device = MqttDevice::connect(&gateway, &creds).await;
        for seq in 1..=10u64 {
            device
                .send(&session, seq, &ride_batch(seq * 1000, 140, 150))
                .await;
        }
        device.inbox.wait_ack(&session, 10).await;
    }
    gateway.restart().await; // SIGKILL, then start again on the same data and ports
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    // The device did not hear acks for 8..=10 (say) and resends them, then goes on.
    for seq in 8..=15u64 {
        device
            .send(&session, seq, &ride_batch(seq * 1000, 140, 150))
            .await;
    }
    device.inbox.wait_ack(&session, 15).await;
    let conn = gateway.db();
    assert_eq!(
        stored_counts(&conn, &session),
        (15, 15, 30),
        "each frame stored once"
    );
    wait_until(
        "the resent frames to be counted as duplicates",
        DEADLINE,
        async || {
            (gateway.counter("paceline_frames_duplicate_total", "").await >= 3.0).then_some(())
        },
    )
    .await;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_bigger_than_the_brokers_link_buffer_is_all_stored_and_acknowledged() {
    // 300 frames at once, each opening a session (a database round trip apiece), so that
    // rumqttd buffers more than 200 notifications for the gateway's link and unschedules
    // it: the link must tell the router it is ready again, or ingest stops for good. (300
    // sessions of one device: over the default sessions-per-day quota, so it is raised.)
    let gateway = paceline()
        .args(&["--device-sessions-per-day", "300"])
        .start()
        .await;
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let base = session_id("burst");
    let sessions: Vec<_> = (0..300)
        .map(|i| paceline_schemas::SessionId::new(format!("{base}-{i}")).unwrap())
        .collect();
    for session in &sessions {
        device.send(session, 1, &ride_batch(0, 140, 150)).await;
    }
    for session in &sessions {
        device.inbox.wait_ack(session, 1).await;
    }
    // And the link keeps flowing afterwards.
    device
        .send(&sessions[0], 2, &ride_batch(1000, 140, 150))
        .await;
    device.inbox.wait_ack(&sessions[0], 2).await;
}

/// A live session's frames wait in the writer's inbox (here up to 10 s) before they move
/// into the indexed tables; they are stored and acknowledged from there, and the API's
/// reads of the open session still hold every one of them (the read flushes the writer
/// first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_sessions_reads_hold_every_acked_frame_still_in_the_inbox() {
    let gateway = paceline()
        .env("PACELINE_INBOX_MOVE_MS", "10000")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@inbox.example", "Gym Inbox").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("inbox");
    for seq in 1..=20u64 {
        device
            .send(&session, seq, &ride_batch(seq * 250, 140, 150))
            .await;
    }
    device.inbox.wait_ack(&session, 20).await;
    let conn = gateway.db();
    let (row, moved, waiting, samples): (i64, i64, i64, i64) = conn
        .query_row(
            "SELECT s.id,
                    (SELECT count(*) FROM frames f WHERE f.session_row = s.id),
                    (SELECT count(*) FROM frames_inbox f WHERE f.session_row = s.id),
                    (SELECT count(*) FROM stored_samples x WHERE x.session_row = s.id)
             FROM sessions s WHERE s.session_id = ?1",
            [session.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    // Acked, stored, and not moved yet: the case this test is about.
    assert_eq!((moved, waiting), (0, 20));
    assert!(samples >= 20, "{samples} samples");
    let detail = api.get(&format!("/sessions/{row}"), &admin).await;
    assert_eq!(detail.json["status"], "open", "{}", detail.json);
    assert_eq!(detail.json["samples"], samples, "{}", detail.json);
    let page = api
        .get(&format!("/sessions/{row}/samples?limit=10000"), &admin)
        .await;
    assert_eq!(
        page.json["items"].as_array().map(Vec::len),
        Some(usize::try_from(samples).unwrap()),
        "{}",
        page.json
    );
    let moved: i64 = conn
        .query_row(
            "SELECT count(*) FROM frames WHERE session_row = ?1",
            [row],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(moved, 20, "the read moved the inbox");
}
