//! How long a record takes from `LiveSender::send` to its first output, per worker count.
//! A quick check, not a benchmark (those live in `bench/`).
#![allow(clippy::print_stdout, reason = "an example reports on the terminal")]

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use paceline_engine::dataflow::{LiveConfig, LiveEngine};
use paceline_schemas::engine::{EngineRecord, SessionEvent, SessionInput, SessionSetup};
use paceline_schemas::sample::{Contact, HeartRate, Sample, SampleValue};
use paceline_schemas::{AthleteProfile, SessionId};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

fn main() {
    for workers in [1, 2, 4] {
        let config = LiveConfig {
            workers,
            ..LiveConfig::default()
        };
        let (engine, outputs) = LiveEngine::start(config, Arc::new(now_ms)).expect("engine starts");
        let sender = engine.sender().expect("sender");
        let mut latencies = Vec::new();
        for i in 0..200 {
            let session = SessionId::new(format!("lat-{i}")).expect("id");
            let now = now_ms();
            let open = SessionEvent::Open(SessionSetup {
                profile: AthleteProfile::default(),
                plan: None,
            });
            let hr = SessionEvent::Sample(Sample {
                t_ms: now,
                value: SampleValue::HeartRate(HeartRate {
                    bpm: 120,
                    contact: Contact::On,
                    energy_kj: None,
                    rr_1024: vec![],
                }),
            });
            let end = SessionEvent::Command(paceline_schemas::engine::SessionCommand {
                command: paceline_schemas::command::Command::End,
            });
            let started = Instant::now();
            for event in [open, hr, end] {
                sender.send(EngineRecord::Session(SessionInput {
                    session: session.clone(),
                    now_ms: now,
                    event,
                }));
            }
            // The session's end gives a cue and its summary at once.
            outputs.recv().expect("an output");
            latencies.push(started.elapsed().as_micros());
            while outputs.try_recv().is_ok() {}
        }
        latencies.sort_unstable();
        println!(
            "{workers} worker(s): first output after p50 {} µs, p99 {} µs, max {} µs",
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100],
            latencies[latencies.len() - 1]
        );
        drop(sender);
        engine.shutdown().expect("stops");
    }
}
