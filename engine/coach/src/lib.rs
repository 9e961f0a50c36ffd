//! The coaching core: one deterministic [`Coach`] per session.
//!
//! Samples, commands and time go in; cues, target changes and a summary come out. Given
//! the same inputs in the same order, a `Coach` produces byte-identical outputs, so the live
//! dataflow operator, the replay job and the tests all drive this one state machine.
//!
//! | module | what it holds |
//! |---|---|
//! | [`coach`] | the state machine and its outputs |
//! | [`config`] | every threshold, with SPEC §4's defaults |
//! | [`zones`] | profile → physiology (defaults filled in), HR and power zones |
//! | [`workout`], [`target`] | the plan expanded and resolved for the athlete; intensity order |
//! | [`signal`] | sensor freshness, heart-rate artifacts, smoothing |
//! | [`safety`] | the safety governor |
//! | [`wbal`], [`decoupling`], [`load`] | W′ balance, aerobic decoupling, NP/IF/TSS/TRIMP |
//! | [`budget`] | time-budget compression |
//! | [`cues`] | the cue rate limit |
//!
//! **Invariants**
//! - This crate knows nothing of the world: no clock, no threads, no sockets, no files.
//!   Time is an argument (`now_ms`); plans arrive as values (`paceline-formats` imports
//!   them from files).
//! - No output raises intensity while heart rate is unknown, stale, lost, contact-off,
//!   artifact-suspect or within 5 bpm of the cap, and no target ever exceeds the profile's
//!   limits (see [`safety`] and `Coach::reconcile`).
//! - Safety cues are never rate-limited; every other cue code speaks at most once per 15 s.

pub mod budget;
pub mod coach;
pub mod config;
pub mod cues;
pub mod decoupling;
pub mod load;
pub mod safety;
pub mod signal;
pub mod target;
pub mod wbal;
pub mod workout;
pub mod zones;

pub use coach::{Coach, CoachError, LiveStatus, Output, StepStatus, TargetUpdate};
pub use config::CoachConfig;
pub use signal::HrQuality;
pub use target::EffectiveTarget;
