//! The coaching core: one deterministic [`Coach`] per session.
//!
//! Samples, commands and time go in; cues, target changes and a summary come out. Given
//! the same inputs in the same order, a `Coach` produces byte-identical outputs, so the live
//! dataflow operator, the replay job and the tests all drive this one state machine.
//!
//! **Invariants**
//! - This crate knows nothing of the world: no clock, no threads, no sockets, no files.
//!   Time is an argument (`now_ms`); plan files arrive as bytes with a name for errors.
//! - No output raises intensity while heart rate is stale, lost, contact-off, artifact-
//!   suspect or within 5 bpm of the cap, and no target ever exceeds the profile's limits
//!   (see [`safety`]).
//! - Safety cues are never rate-limited; every other cue code speaks at most once per 15 s.

pub mod budget;
pub mod decoupling;
pub mod load;
pub mod plan_import;
pub mod wbal;
pub mod zones;
