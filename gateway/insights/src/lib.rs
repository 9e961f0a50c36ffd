//! Insights, I/O-free: what the athlete's own data says works for them.
//!
//! - [`efficiency`]: efficiency factor (NP or grade-adjusted speed per mean HR), aerobic
//!   decoupling and output at a fixed heart rate per activity; the weekly trend.
//!
//! **This crate does no I/O**: no files, sockets, SQL, HTTP or clock (`now` is an
//! argument), and never iterates a hash map into its output: the same inputs give the same
//! outputs. The gateway reads rows and audio tags, runs the job and sends the mail.

pub mod efficiency;
pub mod scatter;
pub mod stats;
