//! Failures must not look like success: a database the writer cannot commit to acks
//! nothing and makes the gateway unready, until its commits succeed again; an engine
//! worker that panics makes it unready for good, and frames are refused, not acked.

use std::time::Duration;

use crate::harness::*;

/// Three commits time out on the database's lock (10 s each) before the gateway is unready.
const LOCKED_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_against_the_writer_acks_nothing_and_turns_unready_until_released() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("locked");
    device.send(&session, 1, &ride_batch(250, 140, 150)).await;
    device.inbox.wait_ack(&session, 1).await;

    // Another process holds the write lock: every commit of the writer times out.
    let lock = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut seq = 1u64;
    wait_until(
        "/health/ready answering 503 database_writer_failed",
        LOCKED_DEADLINE,
        async || {
            seq += 1;
            device
                .send(&session, seq, &ride_batch(seq * 250, 140, 150))
                .await;
            match http_get(gateway.http, "/health/ready").await {
                Some((503, body)) if body.contains("database_writer_failed") => Ok(()),
                other => Err(format!("/health/ready answered {other:?}")),
            }
        },
    )
    .await;
    assert_eq!(
        device.inbox.acked(&session),
        1,
        "nothing is acked while no commit succeeds"
    );

    // The lock is released: the device resends what is unacknowledged, the gateway stores
    // and acks it and is ready again.
    lock.execute_batch("ROLLBACK").unwrap();
    for resend in 2..=seq {
        device
            .send(&session, resend, &ride_batch(resend * 250, 140, 150))
            .await;
    }
    device.inbox.wait_ack(&session, seq).await;
    wait_until("/health/ready answering 200 again", DEADLINE, async || {
        matches!(
            http_get(gateway.http, "/health/ready").await,
            Some((200, _))
        )
    })
    .await;
}

/// The `paceline` binary of these tests has the engine's `fault-injection` feature (the
/// gateway's dev-dependency turns it on): a live worker panics once the file that
/// `PACELINE_FAULT_ENGINE_PANIC_FILE` names holds its index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicked_engine_worker_turns_unready_and_no_frame_is_acked_after_it() {
    let trigger_dir = tempfile::tempdir().unwrap();
    let trigger = trigger_dir.path().join("panic-worker");
    let gateway = paceline()
        .args(&["--engine-workers", "2"])
        .env(
            "PACELINE_FAULT_ENGINE_PANIC_FILE",
            trigger.to_str().unwrap(),
        )
        .start()
        .await;
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("panicked");
    device.send(&session, 1, &ride_batch(250, 140, 150)).await;
    device.inbox.wait_ack(&session, 1).await;

    std::fs::write(&trigger, "1").unwrap();
    wait_until(
        "/health/ready answering 503 engine_worker_panicked",
        DEADLINE,
        async || match http_get(gateway.http, "/health/ready").await {
            Some((503, body))
                if body.contains("engine_worker_panicked")
                    && body.contains("engine worker 1 panicked") =>
            {
                Ok(())
            }
            other => Err(format!("/health/ready answered {other:?}")),
        },
    )
    .await;

    // New frames reach no coach: refused before they are stored, never acked.
    let mut seq = 1u64;
    wait_until(
        "a frame refused as EngineUnavailable",
        DEADLINE,
        async || {
            seq += 1;
            device
                .send(&session, seq, &ride_batch(seq * 250, 140, 150))
                .await;
            let refused = gateway
                .counter(
                    "paceline_frames_rejected_total",
                    "reason=\"EngineUnavailable\"",
                )
                .await;
            (refused >= 1.0).then_some(())
        },
    )
    .await;
    wait_until("the panic counted", DEADLINE, async || {
        let panics = gateway
            .counter("paceline_engine_worker_panics_total", "")
            .await;
        (panics == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        device.inbox.acked(&session),
        1,
        "nothing is acked once a worker panicked"
    );
}
