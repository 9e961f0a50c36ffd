//! Failures must not look like success: a database the writer cannot commit to acks
//! nothing and makes the gateway unready, until its commits succeed again.

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
