//! Quotas (issue 19, hole 7), on a gateway started with small ones: a device over its
//! samples per second or its sessions per day, and a tenant over its storage, has its
//! frames refused — not acknowledged, so nothing is lost: sent again later they are
//! taken — and counted by quota, while another tenant's device is acknowledged as usual;
//! a pairing over the tenant's device quota gets a clear JSON error; `GET /tenant/usage`
//! shows the tenant's use; the CSV export is streamed (chunked) and byte-identical to the
//! whole-session export, the FIT export reads back.

use paceline_schemas::sample::{Contact, HeartRate};
use paceline_schemas::{Payload, Sample, SampleBatch, SampleValue, SessionId};
use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

/// `paceline_quota_exceeded_total` of one quota.
async fn over_quota(gateway: &Gateway, quota: &str) -> f64 {
    gateway
        .counter(
            "paceline_quota_exceeded_total",
            &format!("quota=\"{quota}\""),
        )
        .await
}

/// `paceline_frames_rejected_total{reason="OverQuota"}`.
async fn rejected_over_quota(gateway: &Gateway) -> f64 {
    gateway
        .counter("paceline_frames_rejected_total", "reason=\"OverQuota\"")
        .await
}

/// Waits until `quota`'s counter reaches `at_least`.
async fn wait_over_quota(gateway: &Gateway, quota: &str, at_least: f64) {
    wait_until(
        format!("{at_least} refusals over {quota}"),
        DEADLINE,
        async || {
            let n = over_quota(gateway, quota).await;
            (n >= at_least)
                .then_some(())
                .ok_or_else(|| format!("{n} so far"))
        },
    )
    .await;
}

/// Sends seqs `from..=to` of `session` again until the gateway has acknowledged `to`
/// (what an edge agent does when acks stall).
async fn resend_until_acked(device: &mut MqttDevice, session: &SessionId, to: u64) {
    wait_until(
        format!("an ack of {to} for {session}"),
        DEADLINE,
        async || {
            let acked = device.inbox.acked(session);
            if acked >= to {
                return Ok(());
            }
            for seq in acked + 1..=to {
                device
                    .send(session, seq, &ride_batch(seq * 1000, 140, 200))
                    .await;
            }
            Err(format!("acked {acked}"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_samples_per_second_is_not_acked_until_it_slows_and_another_tenant_rides_on()
 {
    // 10 samples of burst, then 10 a second: five two-sample frames at once.
    let gateway = paceline()
        .args(&[
            "--device-samples-per-s",
            "10",
            "--device-samples-burst-s",
            "1",
        ])
        .start()
        .await;
    let ana = gateway.pair("gym-1", "ana");
    let olga = gateway.pair("gym-2", "olga");
    let mut fast = MqttDevice::connect(&gateway, &ana).await;
    let mut other = MqttDevice::connect(&gateway, &olga).await;
    let flood = session_id("flood");
    let calm = session_id("calm");

    for seq in 1..=20 {
        fast.send(&flood, seq, &ride_batch(seq * 1000, 140, 200))
            .await;
    }
    // The other tenant's device, within its own quota (the same limits, its own bucket):
    // every frame taken and acknowledged.
    for seq in 1..=5 {
        other
            .send(&calm, seq, &ride_batch(seq * 1000, 140, 200))
            .await;
    }
    other.inbox.wait_ack(&calm, 5).await;
    // The flood: the burst taken, most of the rest refused, counted and not acked.
    fast.inbox.wait_ack(&flood, 5).await;
    wait_over_quota(&gateway, "samples_per_s", 10.0).await;
    let (stored, _, _) = stored_counts(&gateway.db(), &flood);
    assert!(
        (5..20).contains(&stored),
        "{stored} of 20 flooded frames stored"
    );
    assert!(
        fast.inbox.acked(&flood) < 20,
        "the refused frames are not acked"
    );
    let refused = over_quota(&gateway, "samples_per_s").await;
    assert_eq!(rejected_over_quota(&gateway).await, refused);
    assert_eq!(over_quota(&gateway, "tenant_storage").await, 0.0);

    // Nothing is lost: sent again at the pace the quota allows, every frame is taken.
    resend_until_acked(&mut fast, &flood, 20).await;
    let (stored, distinct, samples) = stored_counts(&gateway.db(), &flood);
    assert_eq!((stored, distinct, samples), (20, 20, 40));
    let log = gateway.log_tail(1);
    assert!(
        log.contains("over quota") && log.contains("samples_per_s"),
        "the refusals are logged: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_sessions_per_day_has_its_new_session_refused() {
    let gateway = paceline()
        .args(&["--device-sessions-per-day", "1"])
        .start()
        .await;
    let ana = gateway.pair("gym-1", "ana");
    let bob = gateway.pair("gym-1", "bob");
    let mut device = MqttDevice::connect(&gateway, &ana).await;
    let first = session_id("first");
    device.send(&first, 1, &ride_batch(0, 140, 200)).await;
    device.inbox.wait_ack(&first, 1).await;

    // Its second session of the day: refused, counted, never opened nor acked.
    let second = session_id("second");
    device.send(&second, 1, &ride_batch(0, 140, 200)).await;
    wait_over_quota(&gateway, "sessions_per_day", 1.0).await;
    // Frames of the session already open are still taken.
    device.send(&first, 2, &ride_batch(1000, 140, 200)).await;
    device.inbox.wait_ack(&first, 2).await;
    assert_eq!(device.inbox.acked(&second), 0);
    assert_eq!(session_status(&gateway.db(), &second), None);
    // The quota is the device's: another device of the tenant opens its session.
    let mut other = MqttDevice::connect(&gateway, &bob).await;
    let bobs = session_id("bobs");
    other.send(&bobs, 1, &ride_batch(0, 140, 200)).await;
    other.inbox.wait_ack(&bobs, 1).await;
    assert_eq!(over_quota(&gateway, "sessions_per_day").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_storage_is_refused_and_told_while_another_tenant_stores() {
    let gateway = paceline()
        .args(&["--tenant-storage-bytes", "2000"])
        .start()
        .await;
    let api = Api::of(&gateway);
    let full = access(&api.register_gym("admin@full.example", "Full Gym").await);
    let roomy = access(&api.register_gym("admin@roomy.example", "Roomy Gym").await);
    let ana = api
        .pair(&full, api.create_athlete(&full, "Ana").await)
        .await;
    let olga = api
        .pair(&roomy, api.create_athlete(&roomy, "Olga").await)
        .await;
    let mut filling = MqttDevice::connect(&gateway, &ana).await;
    let mut other = MqttDevice::connect(&gateway, &olga).await;
    let big = session_id("big");
    let small = session_id("small");

    for seq in 1..=40 {
        filling
            .send(&big, seq, &ride_batch(seq * 1000, 140, 200))
            .await;
    }
    // Every frame stored or refused (each refusal counted once), most refused.
    let stored = wait_until(
        "the 40 frames to be stored or refused",
        DEADLINE,
        async || {
            let (stored, _, _) = stored_counts(&gateway.db(), &big);
            let refused = over_quota(&gateway, "tenant_storage").await;
            (stored as f64 + refused == 40.0)
                .then_some(stored)
                .ok_or_else(|| format!("{stored} stored, {refused} refused"))
        },
    )
    .await;
    assert!((1..30).contains(&stored), "{stored} of 40 frames stored");
    assert!(filling.inbox.acked(&big) < 40);
    // The other tenant's device is not affected.
    for seq in 1..=5 {
        other
            .send(&small, seq, &ride_batch(seq * 1000, 140, 200))
            .await;
    }
    other.inbox.wait_ack(&small, 5).await;

    // The API shows it: the full tenant's bytes (what the writer counted, equal to its
    // stored frame bodies) against its limit.
    let usage = wait_until("the stored bytes to be counted", DEADLINE, async || {
        let reply = api.get("/tenant/usage", &full).await;
        let used = reply.json["storage_bytes"]["used"].as_i64().unwrap_or(0);
        (used > 0).then_some(reply.json.clone())
    })
    .await;
    let body_bytes: i64 = gateway
        .db()
        .query_row(
            "SELECT sum(length(f.body)) FROM stored_frames f JOIN sessions s ON s.id = f.session_row
             WHERE s.session_id = ?1",
            [big.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(usage["storage_bytes"]["used"], json!(body_bytes));
    assert_eq!(usage["storage_bytes"]["limit"], json!(2000));
    assert_eq!(usage["storage_full"], json!(true), "{usage}");
    assert_eq!(usage["devices"], json!({"used": 1, "limit": 500}));
    let roomy_usage = api.get("/tenant/usage", &roomy).await;
    assert_eq!(roomy_usage.status, 200);
    assert_eq!(roomy_usage.json["storage_full"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_over_the_tenant_device_quota_gets_a_clear_error_and_other_tenants_pair() {
    let gateway = paceline().args(&["--tenant-devices", "1"]).start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("admin@one.example", "One Device Gym")
            .await,
    );
    let other = access(&api.register_gym("admin@other.example", "Other Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let first = api.pair(&admin, ana).await;

    let refused = api
        .post(&format!("/athletes/{ana}/devices"), Some(&admin), json!({}))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(code(&refused), "quota_exceeded");
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tenant_devices = 1") && message.contains("1 devices"),
        "{message}"
    );
    assert_eq!(over_quota(&gateway, "tenant_devices").await, 1.0);
    let usage = api.get("/tenant/usage", &admin).await;
    assert_eq!(usage.json["devices"], json!({"used": 1, "limit": 1}));

    // Another tenant pairs its own device.
    let olga = api.create_athlete(&other, "Olga").await;
    api.pair(&other, olga).await;
    // A revoked device frees its place.
    let revoked = api
        .call(
            reqwest::Method::DELETE,
            &format!("/devices/{}", first.device),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204);
    api.pair(&admin, ana).await;
}

/// A batch of `n` heart-rate samples from `t0_ms`, 100 ms apart.
fn heart_rates(t0_ms: u64, n: u64) -> Payload {
    let samples = (0..n)
        .map(|i| Sample {
            t_ms: t0_ms + i * 100,
            value: SampleValue::HeartRate(HeartRate {
                bpm: 120 + u16::try_from(i % 50).unwrap(),
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![],
            }),
        })
        .collect();
    Payload::Samples(SampleBatch::new(samples).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_streams_the_session_a_page_at_a_time_and_matches_the_whole() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@export.example", "Export Gym").await);
    let creds = api
        .pair(&admin, api.create_athlete(&admin, "Ana").await)
        .await;
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("export");
    // 2,500 samples: more than one page of the export (2,048 rows).
    for seq in 1..=10 {
        device
            .send(&session, seq, &heart_rates((seq - 1) * 25_000, 250))
            .await;
    }
    device.inbox.wait_ack(&session, 10).await;
    let (row, tenant_row): (i64, i64) = gateway
        .db()
        .query_row(
            "SELECT id, tenant_id FROM sessions WHERE session_id = ?1",
            [session.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();

    let csv = api
        .get(&format!("/sessions/{row}/export.csv"), &admin)
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers.get("content-length").is_none(),
        "streamed, not sized up front: {:?}",
        csv.headers
    );
    assert_eq!(
        csv.headers
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("chunked")
    );
    // Byte for byte what the whole-session export makes of the stored rows.
    let conn = gateway.db();
    let rows = paceline_gateway::privacy::export::load_samples(&conn, tenant_row, row).unwrap();
    assert_eq!(rows.len(), 2500);
    let whole = paceline_gateway::privacy::export::samples_csv(&rows).unwrap();
    assert_eq!(String::from_utf8(csv.bytes).unwrap(), whole);

    let fit = api
        .get(&format!("/sessions/{row}/export.fit"), &admin)
        .await;
    assert_eq!(fit.status, 200);
    let started_ms: i64 = conn
        .query_row(
            "SELECT started_ms FROM sessions WHERE id = ?1",
            [row],
            |r| r.get(0),
        )
        .unwrap();
    let expected =
        paceline_gateway::privacy::export::activity_fit(u64::try_from(started_ms).unwrap(), &rows);
    assert_eq!(fit.bytes, expected);
    let records = fitparser::from_bytes(&fit.bytes)
        .unwrap()
        .iter()
        .filter(|m| m.kind() == fitparser::profile::MesgNum::Record)
        .count();
    assert_eq!(records, 250, "one record per second of the ride");
}
