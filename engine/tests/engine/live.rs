//! The live engine: samples pushed in, cues out on the channel; a session that goes silent
//! still hears "signal lost" from the ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use paceline_engine::dataflow::{LiveConfig, LiveEngine};
use paceline_schemas::engine::{
    EngineRecord, OutputBody, SessionEvent, SessionInput, SessionSetup,
};
use paceline_schemas::sample::{Contact, HeartRate, Sample, SampleValue};
use paceline_schemas::{CueCode, SessionId};

use crate::profile;

fn record(session: &SessionId, now_ms: u64, event: SessionEvent) -> EngineRecord {
    EngineRecord::Session(SessionInput {
        session: session.clone(),
        now_ms,
        event,
    })
}

fn heart_rate(t_ms: u64, bpm: u16) -> SessionEvent {
    SessionEvent::Sample(Sample {
        t_ms,
        value: SampleValue::HeartRate(HeartRate {
            bpm,
            contact: Contact::On,
            energy_kj: None,
            rr_1024: vec![],
        }),
    })
}

#[test]
fn silent_sessions_time_out_and_busy_ones_are_coached_across_workers() {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let engine_clock = Arc::clone(&clock);
    let config = LiveConfig {
        workers: 3,
        queue_capacity: 16,
        tick_ms: 10,
        ..LiveConfig::default()
    };
    let (engine, outputs) = LiveEngine::start(
        config,
        Arc::new(move || engine_clock.load(Ordering::SeqCst)),
    )
    .expect("starts");
    let sender = engine.sender().expect("a sender");
    let sessions: Vec<SessionId> = (0..12)
        .map(|i| SessionId::new(format!("live-{i}")).expect("id"))
        .collect();
    let setup = SessionEvent::Open(SessionSetup {
        profile: profile(),
        plan: None,
    });
    for session in &sessions {
        assert!(sender.send(record(session, 1_000_000, setup.clone())));
        // One heart-rate reading, then silence.
        assert!(sender.send(record(session, 1_000_000, heart_rate(1_000_000, 120))));
    }
    // Time passes on the engine's clock with no samples: every session must hear that its
    // heart-rate signal is lost (5 s), carried by ticks alone.
    clock.store(1_010_000, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lost = std::collections::BTreeSet::new();
    while lost.len() < sessions.len() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(
            !remaining.is_zero(),
            "only {} of {} sessions heard 'signal lost'",
            lost.len(),
            sessions.len()
        );
        if let Ok(output) = outputs.recv_timeout(remaining)
            && let OutputBody::Cue(cue) = &output.output
            && cue.code == CueCode::HrSignalLost
        {
            lost.insert(output.session.clone());
        }
    }
    drop(sender);
    engine.shutdown().expect("workers stop cleanly");
}
