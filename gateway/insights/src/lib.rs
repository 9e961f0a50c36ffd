//! Insights, I/O-free: what the athlete's own data says works for them.
//!
//! - [`daily`]: the day's nutrition, body and work values (checked, imported from CSV)
//!   as correlation inputs.
//! - [`mod@efficiency`]: efficiency factor (NP or Minetti grade-adjusted speed per mean HR),
//!   aerobic decoupling and output at a fixed heart rate per activity; the weekly trend.
//! - [`stats`]: Spearman's rho (average ranks), its t-distribution p-value,
//!   Benjamini-Hochberg q-values.
//! - [`mod@correlations`]: every input × output × lag 0–3 test of an athlete's days, BH
//!   corrected together, q ≤ 0.10 reported as `what_works` / `what_doesnt` with a sentence.
//! - [`chart`]: a finding's scatter plot and the weekly trend's line as deterministic SVG.
//! - [`digest`]: the weekly digest's text and HTML from values, and when it is due (Sunday
//!   18:00 local, never twice for one week).
//! - [`unsubscribe`]: the signed unsubscribe token (HMAC-SHA256, base64url).
//! - [`music`]: the athlete's track library (M3U, CSV or read tags) and a BPM-matched
//!   playlist per workout, each phase filled within ±30 s, as JSON-able values and M3U.
//!
//! **This crate does no I/O**: no files, sockets, SQL, HTTP or clock (`now` is an
//! argument), and never iterates a hash map into its output: the same inputs give the same
//! outputs. The gateway reads rows and audio tags, runs the job and sends the mail.

pub mod chart;
pub mod correlations;
mod csv_line;
pub mod daily;
pub mod digest;
pub mod efficiency;
pub mod music;
pub mod stats;
pub mod unsubscribe;

pub use correlations::{CorrelationReport, DailySeries, Finding, Input, Output, correlations};
pub use digest::{
    DigestContent, DigestSlot, RenderedDigest, current_slot, digest_due, render_digest,
};
pub use efficiency::{
    Efficiency, EfficiencyTrend, NotComputable, Samples, Sport, efficiency, output_at_hr,
    weekly_trend,
};
pub use music::{Phase, PhaseKind, Playlist, Track, playlist, to_m3u};
pub use unsubscribe::{sign_unsubscribe, verify_unsubscribe};
