//! Dataflow throughput: many concurrent synthetic sessions through the live engine.
//!
//! `sessions` sessions ride at once for `seconds` seconds (heart rate at 1 Hz, power at
//! 4 Hz, interleaved second by second across sessions, the way a busy gateway would feed
//! them). One producer thread pushes every record through the engine's bounded queue
//! (waiting when it is full); the clock stops when every session's summary is out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use paceline_engine::dataflow::{LiveConfig, LiveEngine};
use paceline_schemas::command::Command;
use paceline_schemas::engine::{
    EngineRecord, OutputBody, SessionCommand, SessionEvent, SessionInput, SessionSetup,
};
use paceline_schemas::{AthleteProfile, SessionId, WorkoutPlan};

use crate::coach::{PLAN_JSON, PROFILE_JSON, hour_of_riding};

/// One run's figures.
#[derive(Debug, Clone)]
pub struct DataflowFigures {
    /// Worker threads.
    pub workers: usize,
    /// Concurrent sessions.
    pub sessions: usize,
    /// Samples pushed.
    pub samples: u64,
    /// Wall time from the first record to the last summary, s.
    pub elapsed_s: f64,
}

impl DataflowFigures {
    /// Samples per second.
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.elapsed_s
    }
}

/// Runs `sessions` sessions of `seconds` seconds through a live engine with `workers`.
pub fn run(workers: usize, sessions: usize, seconds: u64) -> anyhow::Result<DataflowFigures> {
    let profile: AthleteProfile = paceline_schemas::codec::from_json(PROFILE_JSON.as_bytes())?;
    let plan: WorkoutPlan = paceline_schemas::codec::from_json(PLAN_JSON.as_bytes())?;
    let ride = hour_of_riding(seconds);
    let ids: Vec<SessionId> = (0..sessions)
        .map(|i| SessionId::new(format!("s{i}")))
        .collect::<Result<_, _>>()?;
    let clock = Arc::new(AtomicU64::new(ride.first().map_or(0, |r| r.0)));
    let engine_clock = Arc::clone(&clock);
    let config = LiveConfig {
        workers,
        queue_capacity: 65_536,
        tick_ms: 1_000,
        ..LiveConfig::default()
    };
    let (engine, outputs) = LiveEngine::start(
        config,
        Arc::new(move || engine_clock.load(Ordering::Relaxed)),
    )?;
    let sender = engine.sender().context("engine has a sender")?;
    let started = Instant::now();
    let record = |session: &SessionId, now_ms, event| {
        EngineRecord::Session(SessionInput {
            session: session.clone(),
            now_ms,
            event,
        })
    };
    let setup = SessionEvent::Open(SessionSetup {
        profile,
        plan: Some(plan),
    });
    for id in &ids {
        sender.send(record(id, ride[0].0, setup.clone()));
    }
    let mut samples = 0u64;
    for (now, sample) in &ride {
        clock.store(*now, Ordering::Relaxed);
        for id in &ids {
            if !sender.send(record(id, *now, SessionEvent::Sample(sample.clone()))) {
                bail!("the engine stopped early");
            }
            samples += 1;
        }
    }
    let end = ride.last().map_or(0, |r| r.0);
    for id in &ids {
        sender.send(record(
            id,
            end,
            SessionEvent::Command(SessionCommand {
                command: Command::End,
            }),
        ));
    }
    let mut summaries = 0;
    while summaries < sessions {
        let output = outputs
            .recv()
            .context("the engine stopped before every summary")?;
        if matches!(output.output, OutputBody::Summary(_)) {
            summaries += 1;
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    drop(sender);
    engine.shutdown()?;
    Ok(DataflowFigures {
        workers,
        sessions,
        samples,
        elapsed_s,
    })
}
