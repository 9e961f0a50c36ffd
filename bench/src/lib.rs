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
//! | [`gateway`] | frame → cue latency at the device through gateway and edge agent, 100 and 2,000 athletes |

pub mod coach;
pub mod dataflow;
pub mod edge;
pub mod gateway;
pub mod machine;
pub mod replay;
pub mod stats;
