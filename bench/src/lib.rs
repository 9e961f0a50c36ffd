//! Paceline benchmarks: the harnesses behind every performance figure Paceline quotes.
//!
//! Run them with `cargo run --release -p paceline-bench -- <bench>`; each writes
//! `bench/results/<date>-<machine>-<bench>.{md,json}` with the command, the machine and the
//! figures (medians of several runs with min and max). Benchmarks measure; tests assert
//! behaviour: no test fails on a time.
//!
//! | bench | what it measures |
//! |---|---|
//! | [`coach`] | the Coach's cost per sample on a realistic hour of riding |
//! | [`replay`] | replay (decode + coach) against Python fitdecode decoding the same file |
//! | [`import`] | import without the database (read + summarise) against fitdecode, per file and a 1,000-file zip |
//! | [`edge`] | the edge agent's CPU time and peak memory: one athlete's 4 sensors, 200 athletes |
//! | [`dataflow`] | 10,000 concurrent sessions through the live engine, 1 and 2 workers |
//! | [`e2e`] | frame → cue latency and capacity against a `paceline serve` process, MQTT and QUIC, N swept |
//! | [`brokers`] | the embedded broker (rumqttd) against Mosquitto on the same ingest harness |
//! | [`gateway`] | frame → cue latency with the gateway in the bench's own process (the first harness) |
//! | [`planning`] | load and recovery over 10 years of one athlete, one daily plan, a nightly pass over 10,000 athletes (CPU only) |
//! | [`sync`] | a 1,000-activity Strava backfill into a `paceline serve` process with live riders, and webhooks at 100/s (`--bin sync-bench`) |
//!
//! `paceline-bench all` runs them all and writes one `<date>-<machine>.{md,json}` with
//! plots ([`plot`]) next to it.

pub mod brokers;
pub mod chat;
pub mod coach;
pub mod dataflow;
pub mod e2e;
pub mod edge;
pub mod gateway;
pub mod import;
pub mod machine;
pub mod mqtt_client;
pub mod planning;
pub mod plot;
pub mod process;
pub mod replay;
pub mod stats;
pub mod sync;

/// The sensor period of a bench athlete: power at 4 Hz, heart rate on every fourth tick.
pub const SENSOR_PERIOD: std::time::Duration = std::time::Duration::from_millis(250);

/// Where in [`SENSOR_PERIOD`] bench athlete `index` sends its frames. Real athletes'
/// sensors run on their own clocks, so their frames arrive spread over the period; the
/// phases here are spread the same way (the golden-ratio sequence, so no two devices and
/// no command offset line up). With `PACELINE_BENCH_ALIGNED_TICKS=1` every device sends at
/// the same instants instead: a burst of N frames every 250 ms, the worst case (and how
/// the runs before 2026-12-01 evening were made).
pub fn sensor_phase(index: usize) -> std::time::Duration {
    if aligned_ticks() {
        return std::time::Duration::ZERO;
    }
    let golden = 0.618_033_988_749_894_9_f64;
    SENSOR_PERIOD.mul_f64((index as f64 * golden).fract())
}

/// Whether `PACELINE_BENCH_ALIGNED_TICKS=1` asks for every device's frames at once.
pub fn aligned_ticks() -> bool {
    std::env::var("PACELINE_BENCH_ALIGNED_TICKS").is_ok_and(|v| v == "1")
}

/// Wall clock, ms since the Unix epoch (what frames carry as `sent_ms`).
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
