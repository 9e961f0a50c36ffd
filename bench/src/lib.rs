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
//! | [`edge`] | the edge agent's CPU time and peak memory: one athlete's 4 sensors, 200 athletes |
//! | [`dataflow`] | 10,000 concurrent sessions through the live engine, 1 and 2 workers |
//! | [`e2e`] | frame → cue latency and capacity against a `paceline serve` process, MQTT and QUIC, N swept |
//! | [`brokers`] | the embedded broker (rumqttd) against Mosquitto on the same ingest harness |
//! | [`gateway`] | frame → cue latency with the gateway in the bench's own process (the first harness) |
//!
//! `paceline-bench all` runs them all and writes one `<date>-<machine>.{md,json}` with
//! plots ([`plot`]) next to it.

pub mod brokers;
pub mod coach;
pub mod dataflow;
pub mod e2e;
pub mod edge;
pub mod gateway;
pub mod machine;
pub mod plot;
pub mod process;
pub mod replay;
pub mod stats;

/// Wall clock, ms since the Unix epoch (what frames carry as `sent_ms`).
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
