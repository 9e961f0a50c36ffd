//! The platform's background jobs and the glue they run: each module wires one capability
//! crate to the store, and its job is a thread or task started by [`crate::server`].
//!
//! - [`library`] — imports, splits and precedence (`paceline-activities`); the library job
//!   takes ended live sessions in.
//! - [`planning`] — the athlete's days, load, recovery and daily plans
//!   (`paceline-planning`); the planning job plans every athlete's today.
//! - [`insights`] — the daily series and the correlation report (`paceline-insights`); the
//!   insights job keeps the reports cached.
//! - [`digest`] — the weekly digest by mail and its tick.
//! - [`maintenance`] — retention passes (`paceline-privacy`'s periods).
//! - [`sync`] — the durable job runner of provider sync (`paceline-sync`).
//!
//! The API and the `paceline` commands call the same functions the jobs call.

pub mod digest;
pub mod insights;
pub mod library;
pub mod maintenance;
pub mod planning;
pub mod sync;
