//! Behaviour of the Coach, driven on a virtual clock.
//!
//! - `harness`: a virtual-clock driver that feeds samples and commands, fires timeouts
//!   exactly when the coach asks, and renders outputs as one line each for snapshots.
//! - `scenarios`: rides with snapshot expectations (`UPDATE_EXPECT=1` to regenerate).
//! - `properties`: the safety invariants over random profiles, plans and sample streams.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test data are small numbers"
)]

mod harness;
mod properties;
mod scenarios;
