//! A person's data going out and going away: the whole data export ([`data_export`]),
//! deleting a person ([`deletion`]), both driven by `paceline-privacy`'s data registry,
//! and one session's samples exported as CSV or FIT ([`export`]). The routes are
//! [`crate::api::privacy`]'s and [`crate::api::sessions`]'; retention is
//! [`crate::jobs::maintenance`]'s.

pub mod data_export;
pub mod deletion;
pub mod export;
