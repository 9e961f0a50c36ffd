//! While the proxy delays, drops or blackholes the uplink (heart-rate frames among it), no
//! cue raises intensity.
//!
//! Every athlete rides a ramp: a warm-up (its length staggered per athlete, so step
//! changes fall at different moments), then 16 s steps, each harder than the one before.
//! So every `step_start` after the first raises intensity unless the coach holds the
//! current target ("Holding …", SPEC §4: no raise while heart rate is stale or lost), as
//! do `below_target` and a modification that ends or skips a step.
//!
//! Whether heart rate was safe when a cue was made is judged by a witness of our own from
//! the database, not by the coach: fresh means the newest reading the gateway had received
//! was *measured* at most 3 s before (SPEC §4: "fresh: sample ≤ 3 s old"), so a burst of
//! old readings resent after an outage does not count; and clear of the cap by 5 bpm. No
//! raising cue may come while it is not. The test also requires that some step change was
//! held while heart rate was stale and that some was raised while it was fresh, so it
//! cannot pass by never looking. Frames are checked exactly once, as everywhere.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use paceline_edge::agent::GatewayConfig;
use paceline_edge::simulator::SimulatorConfig;
use paceline_schemas::{Cue, CueCode, Modification, WorkoutPlan, codec};

use paceline_testkit::Gateway;

use crate::DEADLINE;
use crate::network_faults::PROFILE;
use crate::proxy::{Fault, FaultProxy};
use crate::queue;
use crate::riders::Riders;

const ATHLETES: usize = 10;
/// Ride length, s.
const RIDE_S: u32 = 84;
/// Heart rate is fresh while its newest reading is at most 3 s old (SPEC §4); the
/// witness allows this much more for the time between a reading and its frame's seal and
/// between the coach's decision and the cue frame's seal.
const FRESH_MS: u64 = 3_000 + 250;
/// The riders' heart-rate cap (the profile's).
const CAP_BPM: u16 = 176;

/// Heart rate as the gateway received it, judged on its own (not by the coach): per
/// device, each heart-rate reading's arrival (`samples.received_ms`) and measurement (its
/// frame's `sent_ms`, sealed as the reading was taken; one clock on this machine).
struct HrWitness {
    /// Per device: (received_ms, measured_ms, bpm), by arrival.
    readings: HashMap<String, Vec<(u64, u64, u16)>>,
}

impl HrWitness {
    fn read(conn: &rusqlite::Connection) -> Self {
        let mut stmt = conn
            .prepare(
                "SELECT d.device_id, x.received_ms, f.sent_ms, x.heart_rate
                 FROM stored_samples x
                 JOIN stored_frames f ON f.session_row = x.session_row AND f.seq = x.frame_seq
                 JOIN devices d ON d.id = f.device_row
                 WHERE x.kind = 'heart_rate'
                 ORDER BY x.received_ms",
            )
            .unwrap();
        let mut readings: HashMap<String, Vec<(u64, u64, u16)>> = HashMap::new();
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u64>(1)?,
                    row.get::<_, u64>(2)?,
                    row.get::<_, Option<u16>>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (device, received, measured, bpm) = row.unwrap();
            readings
                .entry(device)
                .or_default()
                .push((received, measured, bpm.unwrap_or(0)));
        }
        Self { readings }
    }

    /// The newest measurement received by `at_ms`, and the bpm last received.
    fn newest(&self, device: &str, at_ms: u64) -> Option<(u64, u16)> {
        let readings = self.readings.get(device)?;
        let received = readings.iter().take_while(|(r, _, _)| *r <= at_ms);
        let newest = received.clone().map(|(_, m, _)| *m).max()?;
        let last_bpm = received.last().map(|(_, _, b)| *b)?;
        Some((newest, last_bpm))
    }

    /// Whether heart rate was fresh and clear of the cap at `at_ms` (gateway clock).
    fn safe_at(&self, device: &str, at_ms: u64) -> bool {
        self.newest(device, at_ms).is_some_and(|(measured, bpm)| {
            at_ms.saturating_sub(measured) <= FRESH_MS && bpm + 5 < CAP_BPM
        })
    }

    fn explain(&self, device: &str, at_ms: u64) -> String {
        match self.newest(device, at_ms) {
            None => "no heart rate received yet".to_owned(),
            Some((measured, bpm)) => format!(
                "newest reading received was measured {} ms before, {bpm} bpm",
                at_ms.saturating_sub(measured)
            ),
        }
    }
}

/// Athlete `i`'s ramp: warm-up of 4 + 1.5·i s, then 16 s steps from 50 % to 92 % FTP.
fn ramp(i: usize) -> String {
    let warmup_s = 4 + 3 * i / 2;
    let mut steps = vec![format!(
        r#"{{"kind":"step","intent":"warmup","duration_s":{warmup_s},"target":{{"kind":"power_ftp","low_pct":40,"high_pct":45}}}}"#
    )];
    for pct in (50..=92).step_by(6) {
        steps.push(format!(
            r#"{{"kind":"step","intent":"work","duration_s":16,"target":{{"kind":"power_ftp","low_pct":{pct},"high_pct":{}}}}}"#,
            pct + 4
        ));
    }
    format!(
        r#"{{"name":"Ramp {i}","sport":"bike","steps":[{}]}}"#,
        steps.join(",")
    )
}

/// Whether `cue` raises intensity on the ramp; `first_step` is whether it is the
/// session's first `step_start` (the warm-up, from nothing).
fn raises_intensity(cue: &Cue, first_step: bool) -> bool {
    match cue.code {
        CueCode::BelowTarget => true,
        CueCode::StepStart => !first_step && !cue.text.contains("Holding"),
        _ => matches!(
            cue.modification,
            Some(Modification::EndStep | Modification::SkipStep)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cue_raises_intensity_while_heart_rate_frames_are_delayed_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::builder().build();
    let mut athletes = Vec::new();
    for i in 0..ATHLETES {
        let name = format!("ramp-{i}");
        let creds = gateway.pair_with_profile("safe-gym", &name, PROFILE);
        let plan_json = ramp(i);
        let plan_path = dir.path().join(format!("{name}.json"));
        std::fs::write(&plan_path, &plan_json).unwrap();
        gateway.assign_plan_file("safe-gym", &name, &plan_path);
        let plan: WorkoutPlan = codec::from_json(plan_json.as_bytes()).unwrap();
        let config = SimulatorConfig {
            seed: 7_000 + i as u64,
            plan: Some(plan),
            duration_s: Some(RIDE_S),
            artifact_rate: 0.0,
            ..SimulatorConfig::default()
        };
        athletes.push((creds, config));
    }
    gateway.launch().await;
    let proxy = FaultProxy::start(gateway.mqtt).await;
    let mut riders = Riders::new();
    let started = Instant::now();
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

    // (when, the fault, how long it holds). The delay holds for 6 s, so for 6 s every
    // reading the gateway receives is 8 s old: the coach must not take it for fresh.
    let schedule = [
        (12, Fault::Delay(Duration::from_secs(8)), 6_000),
        (40, Fault::DropPublishes, 8_000),
        (60, Fault::Blackhole, 8_000),
    ];
    for (at_s, fault, hold_ms) in schedule {
        tokio::time::sleep_until((started + Duration::from_secs(at_s)).into()).await;
        proxy.set(fault);
        tokio::time::sleep(Duration::from_millis(hold_ms)).await;
        proxy.set(Fault::Pass);
        if fault == Fault::Blackhole {
            proxy.cut();
        }
    }

    let ledger = riders.shutdown().await;
    assert_eq!(ledger.lagged, 0, "the ledger missed events");
    let unacked: usize = ledger.stopped.values().sum();
    assert_eq!(unacked, 0, "frames left unacknowledged at the end");

    let witness = HrWitness::read(&gateway.db());
    let mut first_seen = std::collections::HashSet::new();
    let (mut held_while_unsafe, mut raised_while_safe, mut violations) = (0, 0, Vec::new());
    for heard in &ledger.cues {
        let first = heard.cue.code == CueCode::StepStart && first_seen.insert(&heard.device);
        let raises = raises_intensity(&heard.cue, first);
        let safe = witness.safe_at(&heard.device, heard.sent_ms);
        if raises && !safe {
            violations.push(format!(
                "{} at {:.1} s: {:?} {:?} ({})",
                heard.device,
                heard.at.duration_since(started).as_secs_f64(),
                heard.cue.code,
                heard.cue.text,
                witness.explain(&heard.device, heard.sent_ms),
            ));
        }
        if !safe && heard.cue.code == CueCode::StepStart && !first && !raises {
            held_while_unsafe += 1;
        }
        if safe && heard.cue.code == CueCode::StepStart && raises {
            raised_while_safe += 1;
        }
    }
    let report = queue::check(&ledger, &gateway.db());
    let stopped = gateway.terminate().await;
    assert!(stopped.success(), "the gateway stopped with {stopped}");
    let summary = format!(
        "safety under faults: {ATHLETES} athletes, {} cues heard, {} silences, \
         {held_while_unsafe} step changes held while heart rate was stale, \
         {raised_while_safe} raised while it was fresh, {} raising while stale; {report}",
        ledger.cues.len(),
        schedule.len(),
        violations.len()
    );
    crate::report(&summary);
    assert!(
        violations.is_empty(),
        "{summary}:\n{}",
        violations.join("\n")
    );
    assert!(
        held_while_unsafe > 0,
        "no step change fell in a silence: {summary}"
    );
    assert!(
        raised_while_safe > 0,
        "no step change was ever raised: {summary}"
    );
    assert!(report.exactly_once(), "{summary}");
}
