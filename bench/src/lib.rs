//! Paceline benchmarks (not yet built; see the benchmark issue).
//!
//! It will hold the harnesses behind every performance figure Paceline quotes: per-sample
//! coaching cost, replay throughput against a peer decoder, frame-to-cue latency and
//! broker ingest. Results are written to `bench/results/<date>-<machine>.{md,json}` with
//! the command, the machine and hdrhistogram percentiles.
