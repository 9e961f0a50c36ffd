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

/// Starts a one-worker engine whose clock stands still before every record's time (so the
/// ticks fire nothing), feeds it with `feed`, and collects each session's outputs until
/// every session has its summary.
fn outputs_of(
    sessions: &[SessionId],
    feed: impl FnOnce(&paceline_engine::dataflow::LiveSender),
) -> std::collections::BTreeMap<SessionId, Vec<paceline_schemas::engine::SessionOutput>> {
    let config = LiveConfig {
        queue_capacity: 4,
        tick_ms: 10,
        ..LiveConfig::default()
    };
    let (engine, outputs) = LiveEngine::start(config, Arc::new(|| 0)).expect("starts");
    let sender = engine.sender().expect("a sender");
    feed(&sender);
    let mut by_session: std::collections::BTreeMap<_, Vec<_>> = Default::default();
    let mut summaries = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while summaries < sessions.len() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(
            !remaining.is_zero(),
            "{summaries} summaries of {}",
            sessions.len()
        );
        if let Ok(output) = outputs.recv_timeout(remaining) {
            if matches!(output.output, OutputBody::Summary(_)) {
                summaries += 1;
            }
            by_session
                .entry(output.session.clone())
                .or_default()
                .push(output);
        }
    }
    drop(sender);
    engine.shutdown().expect("workers stop cleanly");
    by_session
}

#[test]
fn records_sent_in_batches_are_coached_as_records_sent_one_by_one() {
    use paceline_schemas::Command;
    use paceline_schemas::engine::SessionCommand;

    let sessions: Vec<SessionId> = (0..5)
        .map(|i| SessionId::new(format!("batched-{i}")).expect("id"))
        .collect();
    let mut records = Vec::new();
    for session in &sessions {
        records.push(record(
            session,
            1_000,
            SessionEvent::Open(SessionSetup {
                profile: profile(),
                plan: None,
            }),
        ));
    }
    // Heart rate climbing past the athlete's limit, interleaved across the sessions, then
    // each session's end: cues and summaries depend on every record and on their order.
    for second in 0..40u64 {
        for (i, session) in sessions.iter().enumerate() {
            let t_ms = 1_000 + second * 1_000;
            let bpm = 110 + u16::try_from(second * 3 + i as u64).expect("small");
            records.push(record(session, t_ms, heart_rate(t_ms, bpm)));
        }
    }
    for session in &sessions {
        records.push(record(
            session,
            60_000,
            SessionEvent::Command(SessionCommand {
                command: Command::End,
            }),
        ));
    }
    assert!(records.len() > 3 * paceline_engine::dataflow::MAX_RECORDS_PER_SEND);

    let one_by_one = outputs_of(&sessions, |sender| {
        for record in records.clone() {
            assert!(sender.send(record));
        }
    });
    let batched = outputs_of(&sessions, |sender| {
        // Uneven batches, one larger than a place of the queue holds.
        let mut rest = records.clone();
        for size in [1, 7, 150, 64] {
            let tail = rest.split_off(size.min(rest.len()));
            assert!(sender.send_many(rest));
            rest = tail;
        }
        assert!(sender.send_many(rest));
    });
    assert_eq!(one_by_one.len(), sessions.len());
    let cues: usize = one_by_one
        .values()
        .flatten()
        .filter(|o| matches!(o.output, OutputBody::Cue(_)))
        .count();
    assert!(cues > 0, "the climbing heart rate gave no cue");
    assert_eq!(batched, one_by_one);
}
