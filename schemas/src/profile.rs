//! The athlete profile (SPEC §4): the physiology the coach works from.
//!
//! Every field may be missing; the engine fills in documented defaults (Tanaka HRmax
//! `208 − 0.7·age`, `hr_cap` = 92 % of HRmax) and treats estimated values as uncertain.
//! Example: `../shared/data/plans/athlete-profile.json`.

use serde::{Deserialize, Serialize};

/// The longest athlete name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// An athlete's profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthleteProfile {
    /// Display name.
    #[serde(
        default,
        serialize_with = "crate::bounded::serialize_opt_str::<_, MAX_NAME_BYTES>",
        deserialize_with = "crate::bounded::deserialize_opt_str::<_, MAX_NAME_BYTES>"
    )]
    pub name: Option<String>,
    /// Age, years.
    #[serde(default)]
    pub age: Option<u8>,
    /// Sex, for the formulas that depend on it (TRIMP weighting).
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Body mass, kg.
    #[serde(default, with = "crate::bounded::finite_opt")]
    pub weight_kg: Option<f32>,
    /// Maximum heart rate, bpm.
    #[serde(default)]
    pub hr_max: Option<u16>,
    /// Resting heart rate, bpm.
    #[serde(default)]
    pub hr_rest: Option<u16>,
    /// Lactate-threshold heart rate, bpm.
    #[serde(default)]
    pub lthr: Option<u16>,
    /// Heart rate the coach must keep the athlete below, bpm.
    #[serde(default)]
    pub hr_cap: Option<u16>,
    /// Functional threshold power, W.
    #[serde(default)]
    pub ftp: Option<u16>,
    /// Critical power, W.
    #[serde(default)]
    pub cp: Option<u16>,
    /// Anaerobic work capacity above CP (W′), J.
    #[serde(default)]
    pub w_prime_j: Option<u32>,
    /// Coach by perceived exertion only (heart rate unreliable, e.g. on beta-blockers).
    #[serde(default)]
    pub rpe_only: bool,
    /// Which heart-rate zone model to use.
    #[serde(default)]
    pub hr_zone_model: Option<HrZoneModel>,
    /// Zone boundaries set by hand, overriding the computed ones.
    #[serde(default)]
    pub zone_overrides: Option<ZoneOverrides>,
}

/// Sex, as used by sex-specific formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other or not given: formulas use the mean of the two weightings.
    Other,
}

/// How heart-rate zones are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HrZoneModel {
    /// Percent of maximum heart rate.
    #[default]
    PctHrMax,
    /// Percent of heart-rate reserve (Karvonen).
    Karvonen,
    /// Percent of lactate-threshold heart rate.
    Lthr,
}

/// Zone boundaries set by hand: the upper bound of each zone but the last.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneOverrides {
    /// Upper bounds of heart-rate zones 1–4, bpm (zone 5 runs to HRmax).
    #[serde(default)]
    pub hr_upper_bpm: Option<[u16; 4]>,
    /// Upper bounds of power zones 1–6, W (zone 7 is open-ended).
    #[serde(default)]
    pub power_upper_w: Option<[u16; 6]>,
}
