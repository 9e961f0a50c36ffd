//! The summary of a finished (or replayed) session.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cue::CueCode;
use crate::ids::SessionId;

/// What a session amounted to. Metrics that need data the session did not have (power for
/// NP, a profile FTP for TSS) are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSummary {
    /// The session.
    pub session: SessionId,
    /// From the first sample to the last, s.
    #[serde(with = "crate::bounded::finite")]
    pub duration_s: f64,
    /// Seconds spent in heart-rate zones 1–5.
    pub time_in_hr_zone_s: [u32; 5],
    /// Seconds spent in power zones 1–7.
    pub time_in_power_zone_s: [u32; 7],
    /// Mean heart rate, bpm.
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_hr_bpm: Option<f64>,
    /// Highest heart rate, bpm.
    pub max_hr_bpm: Option<u16>,
    /// Mean power, W.
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_power_w: Option<f64>,
    /// Normalized power, W.
    #[serde(with = "crate::bounded::finite_opt")]
    pub np_w: Option<f64>,
    /// Intensity factor (NP / FTP).
    #[serde(with = "crate::bounded::finite_opt")]
    pub intensity_factor: Option<f64>,
    /// Training stress score (power based).
    #[serde(with = "crate::bounded::finite_opt")]
    pub tss: Option<f64>,
    /// Heart-rate training stress score.
    #[serde(with = "crate::bounded::finite_opt")]
    pub hr_tss: Option<f64>,
    /// Banister TRIMP.
    #[serde(with = "crate::bounded::finite_opt")]
    pub trimp: Option<f64>,
    /// Lowest W′ balance, J.
    #[serde(with = "crate::bounded::finite_opt")]
    pub wbal_min_j: Option<f64>,
    /// Aerobic decoupling (Pw:HR first half vs second half), %.
    #[serde(with = "crate::bounded::finite_opt")]
    pub decoupling_pct: Option<f64>,
    /// How many cues of each code were given.
    pub cue_counts: BTreeMap<CueCode, u32>,
}
