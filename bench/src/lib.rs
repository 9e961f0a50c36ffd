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

pub mod coach;
pub mod machine;
