//! The Paceline coaching engine: the [`Coach`](paceline_coach::Coach) in a timely dataflow,
//! live and in batch, on one machine or many; and the replay job behind
//! `paceline-engine replay` (its recordings read by `paceline_formats::samples`).
//!
//! - [`dataflow`] — the dataflow and its two drivers, [`dataflow::run_batch`] and
//!   [`dataflow::LiveEngine`].
//! - [`pool`] — one worker's coaches; the driver shared by the dataflow and the parity tests.
//! - [`routing`] — which worker owns a session (a stable hash of its id).
//! - [`replay`] — the replay job: inputs to records, outputs to files.
//! - [`progress`] — the replay job's progress ticker, woken (not waited out) at exit.
//!
//! **Invariants.** The coaching rules live in `paceline-coach` and nowhere else: this crate
//! only moves records to the right coach and outputs to the right place. Per-session order
//! is kept end to end (one reader per session, FIFO channels, outputs numbered per
//! session), so cues are identical whatever the number of workers or processes.

pub mod dataflow;
pub mod pool;
pub mod progress;
pub mod replay;
pub mod routing;
