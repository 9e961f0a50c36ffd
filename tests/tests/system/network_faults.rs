//! Riders over MQTT through the [`FaultProxy`]: the uplink is delayed, its publishes are
//! dropped, the path is blackholed, and connections are cut, in turn.
//!
//! The same checks as a crash: every frame stored exactly once, the database sound, and
//! after each fault every session hears from its coach again (the `hr_signal_back` that
//! follows the `hr_signal_lost` of a silence longer than 5 s, or any later cue).
//!
//! After the blackhole this is asserted like after every other fault. It was once only
//! counted, as an open finding (5–6 of 24 sessions without a cue 20 s after a blackhole,
//! seen on a loaded machine at a50b09a), and failed again once at 9b48261 (1 of 24
//! silent for 60 s; it had reconnected 0.1 s after the heal and acks flowed). One way
//! to get there, since closed in the coach: the blackhole's signal-lost spoke (unheard,
//! in the blackhole) and its signal-back, falling within 15 s of an earlier one, was
//! dropped by the rate limit; a signal-back now always answers a loss that spoke. A wait
//! that fails says, for each silent session, every cue it heard and every connection it
//! made or lost from 30 s before the fault healed ([`Ledger::story_around`]) and every
//! cue the gateway stored for it, so a recurrence tells a coach that said nothing from a
//! downlink that lost what it said.
//!
//! [`Ledger::story_around`]: crate::riders::Ledger::story_around

use std::time::{Duration, Instant};

use paceline_edge::agent::GatewayConfig;

use crate::crash_restart::{Schedule, pair_many, rider};
use paceline_testkit::{Gateway, unix_ms, wait_until};

use crate::DEADLINE;
use crate::proxy::{Fault, FaultProxy};
use crate::queue;
use crate::riders::Riders;

/// A profile well clear of the riders' heart rate (cap 176).
pub const PROFILE: &str = r#"{"name":"Net Rider","age":38,"sex":"female","weight_kg":64.0,
"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000,
"rpe_only":false}"#;

const ATHLETES: usize = 24;

/// How far before a heal a failed wait's story starts.
const STORY_BEFORE: Duration = Duration::from_secs(30);

/// Waits until every device has heard a cue at or after `since` (`since_ms` on the
/// gateway's clock).
async fn cues_resume(
    gateway: &Gateway,
    riders: &Riders,
    since: Instant,
    since_ms: u64,
    what: &str,
) {
    wait_until(what, DEADLINE, async || {
        let ledger = riders.ledger();
        let silent = ledger.without_cue_since(&riders.devices, since);
        if silent.is_empty() {
            Ok(())
        } else {
            let stories: Vec<String> = silent
                .iter()
                .take(3)
                .map(|device| {
                    format!(
                        "{}; the gateway stored: [{}]",
                        ledger.story_around(device, since, STORY_BEFORE),
                        stored_cues(gateway, device, since_ms)
                    )
                })
                .collect();
            Err(format!(
                "{} sessions without one; heard (seconds after the heal): {}",
                silent.len(),
                stories.join("; ")
            ))
        }
    })
    .await;
}

/// The cues the gateway stored for `device` from `STORY_BEFORE` ahead of `since_ms` on,
/// in seconds after `since_ms`: whether the coach spoke and the device did not hear it,
/// or the coach said nothing.
fn stored_cues(gateway: &Gateway, device: &str, since_ms: u64) -> String {
    let from_ms = since_ms.saturating_sub(u64::try_from(STORY_BEFORE.as_millis()).unwrap_or(0));
    let db = gateway.db();
    let rows = db
        .prepare(
            "SELECT c.code, c.created_ms FROM cues c
               JOIN sessions s ON s.id = c.session_row
               JOIN devices d ON d.id = s.device_row
              WHERE d.device_id = ?1 AND c.created_ms >= ?2
              ORDER BY c.created_ms",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                rusqlite::params![device, i64::try_from(from_ms).unwrap_or(i64::MAX)],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()
        });
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|(code, at_ms)| {
                #[allow(clippy::cast_precision_loss, reason = "a few seconds")]
                let s = (*at_ms - i64::try_from(since_ms).unwrap_or(i64::MAX)) as f64 / 1000.0;
                format!("{s:+.1} s {code}")
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("(not read: {e})"),
    }
}

/// Waits until every device's acks reach past what it had spooled at the call.
async fn acks_progress(riders: &Riders, what: &str) {
    let targets: Vec<((String, String), u64)> = {
        let ledger = riders.ledger();
        let mut highest = std::collections::HashMap::new();
        for (device, session, seq) in ledger.spooled.keys() {
            let entry = highest
                .entry((device.clone(), session.clone()))
                .or_insert(0);
            *entry = (*entry).max(*seq);
        }
        highest.into_iter().collect()
    };
    wait_until(what, DEADLINE, async || {
        let ledger = riders.ledger();
        let behind = targets
            .iter()
            .filter(|(key, seq)| ledger.acked.get(key).copied().unwrap_or(0) < *seq)
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!("{behind} sessions behind"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_is_stored_once_through_delays_drops_blackholes_and_cuts() {
    let seed = unix_ms();
    let mut schedule = Schedule::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::builder().build();
    let creds = pair_many(&gateway, "net-gym", ATHLETES, PROFILE);
    gateway.launch().await;
    let proxy = FaultProxy::start(gateway.mqtt).await;

    let mut riders = Riders::new();
    let athletes = creds
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), rider(1_000 + i as u64)))
        .collect();
    riders
        .add_hub(
            GatewayConfig::mqtt(proxy.addr),
            &dir.path().join("hub"),
            athletes,
            |c| {
                c.resend_after_ms = 2_000;
                c.reconnect_min_ms = 50;
                c.reconnect_max_ms = 1_000;
                c.shutdown_wait_ms = u64::try_from(DEADLINE.as_millis()).unwrap();
            },
        )
        .await;
    acks_progress(&riders, "the first acks").await;

    // Each long fault silences the uplink for more than the coach's 5 s "lost" limit. It
    // starts 16 s after the previous one healed: a code is spoken at most once per 15 s,
    // and the `hr_signal_back` of this one must not fall within 15 s of the last one.
    let faults = [
        ("a 7 s delay", Fault::Delay(Duration::from_secs(7)), 1_000),
        ("dropped publishes", Fault::DropPublishes, 7_000),
        ("a blackhole", Fault::Blackhole, 7_000),
        ("a 6 s delay", Fault::Delay(Duration::from_secs(6)), 1_000),
    ];
    let mut last_fault = Instant::now();
    for (name, fault, hold_ms) in faults {
        // A few cuts at random moments between the long faults.
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(500 + schedule.below(2_000))).await;
            proxy.cut();
            acks_progress(&riders, "acks after a cut").await;
        }
        if let Some(wait) = Duration::from_secs(16).checked_sub(last_fault.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        proxy.set(fault);
        tokio::time::sleep(Duration::from_millis(hold_ms)).await;
        proxy.set(Fault::Pass);
        if fault == Fault::Blackhole {
            // The network is back; the stale connections are gone (as a roaming client
            // finds them), so the agents reconnect.
            proxy.cut();
        }
        let healed = Instant::now();
        let healed_ms = unix_ms();
        last_fault = healed;
        acks_progress(&riders, &format!("acks after {name}")).await;
        let what = format!("a cue for every session after {name}");
        cues_resume(&gateway, &riders, healed, healed_ms, &what).await;
    }

    let ledger = riders.shutdown().await;
    assert_eq!(ledger.lagged, 0, "the ledger missed events");
    assert_eq!(ledger.spooled_twice, 0, "an agent spooled a seq twice");
    let unacked: usize = ledger.stopped.values().sum();
    assert_eq!(unacked, 0, "frames left unacknowledged at the end");
    let report = queue::check(&ledger, &gateway.db());
    let stopped = gateway.terminate().await;
    assert!(stopped.success(), "the gateway stopped with {stopped}");
    let integrity = gateway.integrity_check();
    let counters = &proxy.counters;
    let summary = format!(
        "network faults (seed {seed}): {ATHLETES} athletes, {} proxy connections, {} cut, {} \
         blackholed, {} publishes dropped, {} packets delayed; {} sends, {} connects; {report}; \
         integrity {integrity}; cues resumed after every fault",
        counters
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        counters.cut.load(std::sync::atomic::Ordering::Relaxed),
        counters
            .blackholed
            .load(std::sync::atomic::Ordering::Relaxed),
        counters
            .dropped_publishes
            .load(std::sync::atomic::Ordering::Relaxed),
        counters.delayed.load(std::sync::atomic::Ordering::Relaxed),
        ledger.sends,
        ledger.connects,
    );
    crate::report(&summary);
    assert!(report.exactly_once(), "{summary}");
    assert!(
        counters
            .dropped_publishes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "{summary}"
    );
    assert!(ledger.sends > report.sent, "nothing was resent: {summary}");
    assert_eq!(integrity, "ok", "{summary}");
}
