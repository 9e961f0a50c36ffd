//! The gateway is SIGKILLed at random moments while 200 athletes ride, and restarted each
//! time on the same data. Half the hubs ride over MQTT, half over QUIC.
//!
//! At the end every frame any agent spooled is stored exactly once, the database passes
//! `PRAGMA integrity_check`, every session heard a cue from each new gateway process, and
//! the write-ahead log stayed bounded.
//!
//! Sizes: `PACELINE_CRASH_ATHLETES` (default 200) and `PACELINE_CRASH_KILLS` (default 20).
//! The long run is `PACELINE_CRASH_KILLS=100 cargo test -p paceline-tests --test system
//! crash_restart -- --nocapture`. `PACELINE_CRASH_SEED` replays a schedule.

use std::time::{Duration, Instant};

use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatorConfig};

use paceline_testkit::{Gateway, unix_ms, wait_until};

use crate::DEADLINE;
use crate::queue;
use crate::riders::Riders;

/// A profile whose cap sits below the simulated riders' heart rate after their first few
/// seconds, so every new coach says `hr_above_cap` within ~5 s of its first samples: the
/// evidence that cues resumed after a restart.
pub const LOW_CAP_PROFILE: &str = r#"{"name":"Crash Rider","age":35,"sex":"male",
"weight_kg":72.0,"hr_max":185,"hr_rest":50,"lthr":165,"hr_cap":80,"ftp":250,"cp":260,
"w_prime_j":20000,"rpe_only":false}"#;

/// Athletes per hub (agent process stand-in).
const PER_HUB: usize = 50;

/// A small deterministic generator for the kill schedule (SplitMix64).
pub struct Schedule(u64);

impl Schedule {
    /// From `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// A simulated rider: steady work, seeded per athlete, no end of its own.
pub fn rider(seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        scenario: Scenario::Steady,
        artifact_rate: 0.0,
        ..SimulatorConfig::default()
    }
}

/// Pairs `count` devices in `tenant`, each for its own athlete.
pub fn pair_many(
    gateway: &Gateway,
    tenant: &str,
    count: usize,
    profile: &str,
) -> Vec<DeviceCredentials> {
    (0..count)
        .map(|i| gateway.pair_with_profile(tenant, &format!("rider-{i:03}"), profile))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_is_stored_once_across_repeated_sigkills() {
    let athletes = usize::try_from(env_number("PACELINE_CRASH_ATHLETES", 200)).unwrap();
    let kills = env_number("PACELINE_CRASH_KILLS", 20);
    let seed = env_number("PACELINE_CRASH_SEED", unix_ms());
    let mut schedule = Schedule::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::builder().build();
    let creds = pair_many(&gateway, "crash-gym", athletes, LOW_CAP_PROFILE);
    gateway.launch().await;

    let mut riders = Riders::new();
    for (hub, chunk) in creds.chunks(PER_HUB).enumerate() {
        let config = if hub % 2 == 0 {
            gateway.mqtt_uplink()
        } else {
            gateway.quic_uplink()
        };
        let athletes = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), rider((hub * PER_HUB + i) as u64)))
            .collect();
        riders
            .add_hub(
                config,
                &dir.path().join(format!("hub-{hub}")),
                athletes,
                |c| {
                    c.batch_ms = 500;
                    c.resend_after_ms = 2_000;
                    c.reconnect_min_ms = 50;
                    c.reconnect_max_ms = 1_000;
                    c.shutdown_wait_ms = u64::try_from(DEADLINE.as_millis()).unwrap();
                },
            )
            .await;
    }
    let devices = riders.devices.clone();
    let mut restarted_at = Instant::now();
    for kill in 0..=kills {
        // Cues from this process reach every session before the next kill.
        wait_until(
            &format!("a cue for every session from gateway process {}", kill + 1),
            DEADLINE,
            async || {
                let ledger = riders.ledger();
                let silent = ledger.without_cue_since(&devices, restarted_at);
                if silent.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} sessions without one, e.g. {}",
                        silent.len(),
                        silent[0]
                    ))
                }
            },
        )
        .await;
        if kill == kills {
            break;
        }
        // Then a random moment while frames keep flowing: 0–2 s on.
        tokio::time::sleep(Duration::from_millis(schedule.below(2_000))).await;
        gateway.wal_bytes();
        gateway.kill();
        gateway.wal_bytes();
        gateway.launch().await;
        restarted_at = Instant::now();
    }

    let ledger = riders.shutdown().await;
    assert_eq!(ledger.lagged, 0, "the ledger missed events");
    assert_eq!(ledger.spooled_twice, 0, "an agent spooled a seq twice");
    let unacked: usize = ledger.stopped.values().sum();
    assert_eq!(ledger.stopped.len(), athletes, "every uplink stopped");
    assert_eq!(unacked, 0, "frames left unacknowledged at the end");
    gateway.wal_bytes();
    let conn = gateway.db();
    let report = queue::check(&ledger, &conn);
    drop(conn);
    let stopped = gateway.terminate().await;
    assert!(stopped.success(), "the gateway stopped with {stopped}");
    let integrity = gateway.integrity_check();
    let summary = format!(
        "crash/restart (seed {seed}): {athletes} athletes, {kills} SIGKILLs survived, \
         {} sends (resends included), {} connects; {report}; WAL max {} KiB; integrity {integrity}",
        ledger.sends,
        ledger.connects,
        gateway.max_wal_bytes / 1024,
    );
    crate::report(&summary);
    assert!(report.exactly_once(), "{summary}");
    assert!(
        ledger.sends > report.sent,
        "no frame was ever resent, so no kill hit frames in flight: {summary}"
    );
    assert_eq!(integrity, "ok", "{summary}");
    assert!(
        gateway.max_wal_bytes <= 64 * 1024 * 1024,
        "the WAL grew past 64 MiB: {summary}"
    );
}
