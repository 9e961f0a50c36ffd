//! Where one file's replay time goes: decode, then the session's records through the coach. Made to be
//! run under a profiler (`valgrind --tool=callgrind`, `perf record`); the figures it prints
//! are a quick check, not a benchmark (that is `paceline-bench replay`).
//!
//! `cargo run --release -p paceline-engine --example replay_cost -- FILE [RUNS]`
#![allow(clippy::print_stdout, reason = "an example reports on the terminal")]

use std::time::Instant;

use paceline_coach::CoachConfig;
use paceline_engine::pool::CoachPool;
use paceline_engine::replay::session_records;
use paceline_formats::samples::decode_activity;
use paceline_schemas::{AthleteProfile, SessionId};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/fit/garmin-edge-500-activity.fit"
        )
        .to_owned()
    });
    let runs: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let bytes = std::fs::read(&path)?;
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/plans/");
    let profile: AthleteProfile = paceline_schemas::codec::from_json(&std::fs::read(format!(
        "{shared}athlete-profile.json"
    ))?)?;
    let plan_bytes = std::fs::read(format!("{shared}vo2-intervals-45.zwo"))?;
    let plan = paceline_formats::plan_import::import_plan("vo2-intervals-45.zwo", &plan_bytes)?;
    let session = SessionId::new("cost")?;
    for _ in 0..runs {
        let started = Instant::now();
        let samples = decode_activity(&bytes).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        let decoded = started.elapsed();
        let count = samples.len();
        let mut pool = CoachPool::new(CoachConfig::default());
        let mut outputs = 0usize;
        for record in session_records(&session, &profile, Some(&plan), None, samples) {
            pool.handle(record, &mut |_| outputs += 1);
        }
        let total = started.elapsed();
        println!(
            "{count} samples: decode {:.2} ms, records and coach {:.2} ms ({outputs} outputs)",
            decoded.as_secs_f64() * 1e3,
            (total - decoded).as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
