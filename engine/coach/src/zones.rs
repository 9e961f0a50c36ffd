//! Physiology and training zones: an [`AthleteProfile`] with its gaps filled in, and the
//! heart-rate and power zones built from it.
//!
//! [`Physiology::from_profile`] fills every missing field from [`PhysiologyDefaults`] and
//! records which values are estimates, then checks that the whole is consistent
//! ([`ProfileError`] names the field and the values when it is not).
//!
//! **Defaults** (each can be changed in [`PhysiologyDefaults`]):
//! - `hr_max` missing: Tanaka, `208 − 0.7 · age`, rounded to the nearest bpm (age missing:
//!   40 years). Source: Tanaka, Monahan & Seals, "Age-predicted maximal heart rate
//!   revisited", J Am Coll Cardiol 37 (2001) 153–156.
//! - `hr_cap` missing: 92 % of `hr_max`, or 88 % when `hr_max` is an estimate; rounded down.
//!   A `hr_cap` given in the profile is used as given.
//! - `hr_rest` missing: 60 bpm. `lthr` missing: 90 % of `hr_max`, rounded.
//! - `cp` missing: `cp = ftp`. `ftp` missing: `ftp = round(0.95 · cp)`. Both missing: no
//!   power zones, no power limit and no W′ balance. `w_prime_j` missing: 20 000 J.
//! - The highest power any output may set: `max_power_w = ⌊ftp · 150 / 100⌋`.
//!
//! **Zones.** Each model gives the upper bound of every zone but the last. A value exactly on
//! a bound belongs to the lower zone; a value below zone 1 is zone 1, one above the last
//! bound is the last zone.
//!
//! | model | upper bounds of zones 1–4 (or 1–6) |
//! |---|---|
//! | [`HrZoneModel::PctHrMax`] (default) | 60 / 70 / 80 / 90 % of `hr_max` |
//! | [`HrZoneModel::Karvonen`] | `hr_rest` + 60 / 70 / 80 / 90 % of (`hr_max` − `hr_rest`) |
//! | [`HrZoneModel::Lthr`] | 81 / 89 / 93 / 99 % of `lthr` |
//! | power (Coggan) | 55 / 75 / 90 / 105 / 120 / 150 % of `ftp` |
//!
//! The LTHR model is Joe Friel's cycling table (*The Cyclist's Training Bible*; *Total
//! Heart Rate Training*, 2006): Z1 < 81 %, Z2 81–89 %, Z3 90–93 %, Z4 94–99 %, Z5 ≥ 100 %
//! of LTHR (Friel's 5a–5c are one zone here). Friel's table is in whole percent; taking its
//! upper bounds with the lower-zone rule agrees with it everywhere except at exactly 81 %,
//! which Friel calls Z2 and we call Z1. The power zones are Coggan's levels 1–7 (Allen &
//! Coggan, *Training and Racing with a Power Meter*). `zone_overrides` in the profile replace
//! the computed bounds.

use paceline_schemas::AthleteProfile;
use paceline_schemas::profile::{HrZoneModel, Sex};

/// Upper bounds of HR zones 1–4 as % of HRmax (and as % of HR reserve for Karvonen).
const HR_MAX_UPPER_PCT: [f64; 4] = [60.0, 70.0, 80.0, 90.0];
/// Upper bounds of HR zones 1–4 as % of LTHR (Friel, cycling).
const LTHR_UPPER_PCT: [f64; 4] = [81.0, 89.0, 93.0, 99.0];
/// Upper bounds of power zones 1–6 as % of FTP (Coggan).
const FTP_UPPER_PCT: [f64; 6] = [55.0, 75.0, 90.0, 105.0, 120.0, 150.0];

/// The values [`Physiology::from_profile`] uses where the profile is silent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhysiologyDefaults {
    /// Default heart-rate cap, % of a known `hr_max` (92).
    pub hr_cap_pct: f64,
    /// Default heart-rate cap when `hr_max` is estimated from age, % of the estimate (88).
    pub hr_cap_pct_estimated: f64,
    /// Age used for the Tanaka estimate when both `age` and `hr_max` are missing (40).
    pub default_age: u8,
    /// Resting heart rate when `hr_rest` is missing, bpm (60).
    pub default_hr_rest_bpm: u16,
    /// LTHR when `lthr` is missing, % of `hr_max` (90).
    pub lthr_pct_hr_max: f64,
    /// W′ when `w_prime_j` is missing, J (20 000).
    pub default_w_prime_j: u32,
    /// The highest power target any output may set, % of FTP (150).
    pub max_power_pct_ftp: f64,
}

impl Default for PhysiologyDefaults {
    fn default() -> Self {
        Self {
            hr_cap_pct: 92.0,
            hr_cap_pct_estimated: 88.0,
            default_age: 40,
            default_hr_rest_bpm: 60,
            lthr_pct_hr_max: 90.0,
            default_w_prime_j: 20_000,
            max_power_pct_ftp: 150.0,
        }
    }
}

/// An athlete's physiology with every gap filled: what the coach works from.
///
/// Built by [`Physiology::from_profile`], which guarantees
/// `0 < hr_rest < lthr ≤ hr_max`, `hr_rest < hr_cap ≤ hr_max`, `ftp`, `cp` and `w_prime_j`
/// above 0, and strictly increasing zone bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Physiology {
    /// Maximum heart rate, bpm.
    pub hr_max_bpm: u16,
    /// `hr_max_bpm` is the Tanaka estimate, not the athlete's own value.
    pub hr_max_estimated: bool,
    /// Resting heart rate, bpm.
    pub hr_rest_bpm: u16,
    /// `hr_rest_bpm` is the default, not the athlete's own value.
    pub hr_rest_estimated: bool,
    /// Lactate-threshold heart rate, bpm.
    pub lthr_bpm: u16,
    /// `lthr_bpm` is derived from `hr_max_bpm`, not the athlete's own value.
    pub lthr_estimated: bool,
    /// The heart rate the coach keeps the athlete below, bpm.
    pub hr_cap_bpm: u16,
    /// Functional threshold power, W (`None`: the profile has neither FTP nor CP).
    pub ftp_w: Option<u16>,
    /// Critical power, W (`None`: the profile has neither FTP nor CP).
    pub cp_w: Option<u16>,
    /// Work capacity above CP, J.
    pub w_prime_j: u32,
    /// Sex, for sex-specific formulas (TRIMP).
    pub sex: Option<Sex>,
    /// Coach by perceived exertion only: heart rate is unreliable for this athlete.
    pub rpe_only: bool,
    /// Heart-rate zones 1–5.
    pub hr_zones: HrZones,
    /// Power zones 1–7 (`None` without FTP or CP).
    pub power_zones: Option<PowerZones>,
    /// The highest power target any output may set, W (`None` without FTP or CP).
    pub max_power_w: Option<u16>,
}

impl Physiology {
    /// Fills the gaps of `profile` from `defaults` (see the module docs) and checks the
    /// result.
    ///
    /// # Errors
    /// [`ProfileError`] when a value is 0, when `hr_rest`, `lthr`, `hr_cap` and `hr_max` are
    /// out of order (estimated values included: the message says which are estimates), or
    /// when zone overrides are not strictly increasing or cannot be used.
    pub fn from_profile(
        profile: &AthleteProfile,
        defaults: &PhysiologyDefaults,
    ) -> Result<Physiology, ProfileError> {
        for (field, value) in [
            ("hr_max", profile.hr_max),
            ("hr_rest", profile.hr_rest),
            ("lthr", profile.lthr),
            ("hr_cap", profile.hr_cap),
            ("ftp", profile.ftp),
            ("cp", profile.cp),
        ] {
            if value == Some(0) {
                return Err(ProfileError::Zero { field });
            }
        }
        if profile.w_prime_j == Some(0) {
            return Err(ProfileError::Zero { field: "w_prime_j" });
        }

        let (hr_max_bpm, hr_max_estimated) = match profile.hr_max {
            Some(bpm) => (bpm, false),
            None => {
                let age = profile.age.unwrap_or(defaults.default_age);
                // 208 − 0.7·age, as (2080 − 7·age) / 10 so that the product is exact.
                let tanaka = (2080.0 - 7.0 * f64::from(age)) / 10.0;
                (clamp_to_u16(tanaka.round()), true)
            }
        };
        let hr_max = f64::from(hr_max_bpm);

        let (hr_rest_bpm, hr_rest_estimated) = match profile.hr_rest {
            Some(bpm) => (bpm, false),
            None => (defaults.default_hr_rest_bpm, true),
        };
        if hr_rest_bpm == 0 || hr_rest_bpm >= hr_max_bpm {
            return Err(ProfileError::HrRestNotBelowHrMax {
                hr_rest_bpm,
                hr_rest_estimated,
                hr_max_bpm,
                hr_max_estimated,
            });
        }

        let (lthr_bpm, lthr_estimated) = match profile.lthr {
            Some(bpm) => (bpm, false),
            None => (
                clamp_to_u16((hr_max * defaults.lthr_pct_hr_max / 100.0).round()),
                true,
            ),
        };
        if lthr_bpm <= hr_rest_bpm || lthr_bpm > hr_max_bpm {
            return Err(ProfileError::LthrOutOfRange {
                lthr_bpm,
                lthr_estimated,
                hr_rest_bpm,
                hr_max_bpm,
                hr_max_estimated,
            });
        }

        let (hr_cap_bpm, hr_cap_estimated) = match profile.hr_cap {
            Some(bpm) => (bpm, false),
            None => {
                let pct = if hr_max_estimated {
                    defaults.hr_cap_pct_estimated
                } else {
                    defaults.hr_cap_pct
                };
                (clamp_to_u16((hr_max * pct / 100.0).floor()), true)
            }
        };
        if hr_cap_bpm <= hr_rest_bpm || hr_cap_bpm > hr_max_bpm {
            return Err(ProfileError::HrCapOutOfRange {
                hr_cap_bpm,
                hr_cap_estimated,
                hr_rest_bpm,
                hr_max_bpm,
                hr_max_estimated,
            });
        }

        let overrides = profile.zone_overrides.as_ref();
        let hr_upper_bpm = match overrides.and_then(|o| o.hr_upper_bpm) {
            Some(upper_bpm) => {
                if !strictly_increasing_from_zero(&upper_bpm) {
                    return Err(ProfileError::HrOverridesNotIncreasing { upper_bpm });
                }
                if upper_bpm[3] >= hr_max_bpm {
                    return Err(ProfileError::HrOverridesReachHrMax {
                        upper_bpm,
                        hr_max_bpm,
                        hr_max_estimated,
                    });
                }
                upper_bpm.map(f64::from)
            }
            None => {
                let hr_rest = f64::from(hr_rest_bpm);
                let lthr = f64::from(lthr_bpm);
                match profile.hr_zone_model.unwrap_or_default() {
                    HrZoneModel::PctHrMax => HR_MAX_UPPER_PCT.map(|pct| hr_max * pct / 100.0),
                    HrZoneModel::Karvonen => {
                        HR_MAX_UPPER_PCT.map(|pct| hr_rest + (hr_max - hr_rest) * pct / 100.0)
                    }
                    HrZoneModel::Lthr => LTHR_UPPER_PCT.map(|pct| lthr * pct / 100.0),
                }
            }
        };

        let (ftp_w, cp_w) = match (profile.ftp, profile.cp) {
            (Some(ftp), Some(cp)) => (Some(ftp), Some(cp)),
            (Some(ftp), None) => (Some(ftp), Some(ftp)),
            // 0.95·cp, as 95·cp / 100 so that the product is exact.
            (None, Some(cp)) => (
                Some(clamp_to_u16((95.0 * f64::from(cp) / 100.0).round())),
                Some(cp),
            ),
            (None, None) => (None, None),
        };

        let power_upper_override = overrides.and_then(|o| o.power_upper_w);
        if let Some(upper_w) = power_upper_override
            && !strictly_increasing_from_zero(&upper_w)
        {
            return Err(ProfileError::PowerOverridesNotIncreasing { upper_w });
        }
        let (power_zones, max_power_w) = match ftp_w {
            Some(ftp) => {
                let ftp = f64::from(ftp);
                let max_power_w = clamp_to_u16((ftp * defaults.max_power_pct_ftp / 100.0).floor());
                let upper_w = match power_upper_override {
                    Some(upper_w) => upper_w.map(f64::from),
                    None => FTP_UPPER_PCT.map(|pct| ftp * pct / 100.0),
                };
                let zones = PowerZones {
                    upper_w,
                    max_power_w: f64::from(max_power_w),
                };
                (Some(zones), Some(max_power_w))
            }
            None => {
                if let Some(upper_w) = power_upper_override {
                    return Err(ProfileError::PowerOverridesWithoutFtp { upper_w });
                }
                (None, None)
            }
        };

        Ok(Physiology {
            hr_max_bpm,
            hr_max_estimated,
            hr_rest_bpm,
            hr_rest_estimated,
            lthr_bpm,
            lthr_estimated,
            hr_cap_bpm,
            ftp_w,
            cp_w,
            w_prime_j: profile.w_prime_j.unwrap_or(defaults.default_w_prime_j),
            sex: profile.sex,
            rpe_only: profile.rpe_only,
            hr_zones: HrZones {
                upper_bpm: hr_upper_bpm,
            },
            power_zones,
            max_power_w,
        })
    }
}

/// Why a profile cannot be used. Every message names the profile field and the values, and
/// says which values were estimated rather than given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A value that must be positive is 0.
    #[error("{field} must be greater than 0")]
    Zero {
        /// The profile field.
        field: &'static str,
    },
    /// `hr_rest` is not below `hr_max`.
    #[error(
        "hr_rest ({hr_rest_bpm} bpm{}) must be below hr_max ({hr_max_bpm} bpm{})",
        note(*.hr_rest_estimated, "the default"),
        note(*.hr_max_estimated, "estimated from age")
    )]
    HrRestNotBelowHrMax {
        /// Resting heart rate, bpm.
        hr_rest_bpm: u16,
        /// `hr_rest_bpm` is the default.
        hr_rest_estimated: bool,
        /// Maximum heart rate, bpm.
        hr_max_bpm: u16,
        /// `hr_max_bpm` is estimated from age.
        hr_max_estimated: bool,
    },
    /// `lthr` is not above `hr_rest` and at most `hr_max`.
    #[error(
        "lthr ({lthr_bpm} bpm{}) must be above hr_rest ({hr_rest_bpm} bpm) \
         and at most hr_max ({hr_max_bpm} bpm{})",
        note(*.lthr_estimated, "estimated from hr_max"),
        note(*.hr_max_estimated, "estimated from age")
    )]
    LthrOutOfRange {
        /// Lactate-threshold heart rate, bpm.
        lthr_bpm: u16,
        /// `lthr_bpm` is estimated from `hr_max`.
        lthr_estimated: bool,
        /// Resting heart rate, bpm.
        hr_rest_bpm: u16,
        /// Maximum heart rate, bpm.
        hr_max_bpm: u16,
        /// `hr_max_bpm` is estimated from age.
        hr_max_estimated: bool,
    },
    /// `hr_cap` is not above `hr_rest` and at most `hr_max`.
    #[error(
        "hr_cap ({hr_cap_bpm} bpm{}) must be above hr_rest ({hr_rest_bpm} bpm) \
         and at most hr_max ({hr_max_bpm} bpm{})",
        note(*.hr_cap_estimated, "the default share of hr_max"),
        note(*.hr_max_estimated, "estimated from age")
    )]
    HrCapOutOfRange {
        /// Heart-rate cap, bpm.
        hr_cap_bpm: u16,
        /// `hr_cap_bpm` is the default share of `hr_max`.
        hr_cap_estimated: bool,
        /// Resting heart rate, bpm.
        hr_rest_bpm: u16,
        /// Maximum heart rate, bpm.
        hr_max_bpm: u16,
        /// `hr_max_bpm` is estimated from age.
        hr_max_estimated: bool,
    },
    /// `zone_overrides.hr_upper_bpm` does not start above 0 and rise strictly.
    #[error("zone_overrides.hr_upper_bpm {upper_bpm:?} must be above 0 and strictly increasing")]
    HrOverridesNotIncreasing {
        /// The overrides as given, bpm.
        upper_bpm: [u16; 4],
    },
    /// `zone_overrides.hr_upper_bpm` leaves no room for zone 5 below `hr_max`.
    #[error(
        "zone_overrides.hr_upper_bpm {upper_bpm:?} must end below hr_max ({hr_max_bpm} bpm{}), \
         which is where zone 5 ends",
        note(*.hr_max_estimated, "estimated from age")
    )]
    HrOverridesReachHrMax {
        /// The overrides as given, bpm.
        upper_bpm: [u16; 4],
        /// Maximum heart rate, bpm.
        hr_max_bpm: u16,
        /// `hr_max_bpm` is estimated from age.
        hr_max_estimated: bool,
    },
    /// `zone_overrides.power_upper_w` does not start above 0 and rise strictly.
    #[error("zone_overrides.power_upper_w {upper_w:?} must be above 0 and strictly increasing")]
    PowerOverridesNotIncreasing {
        /// The overrides as given, W.
        upper_w: [u16; 6],
    },
    /// `zone_overrides.power_upper_w` is set but there is no FTP to limit power targets by.
    #[error(
        "zone_overrides.power_upper_w {upper_w:?} needs ftp or cp in the profile, \
         which set the highest power target"
    )]
    PowerOverridesWithoutFtp {
        /// The overrides as given, W.
        upper_w: [u16; 6],
    },
}

/// `", {how}"` for an estimated value, nothing for a given one.
fn note(estimated: bool, how: &str) -> String {
    if estimated {
        format!(", {how}")
    } else {
        String::new()
    }
}

/// Heart-rate zones 1–5, as the upper bounds of zones 1–4.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HrZones {
    upper_bpm: [f64; 4],
}

impl HrZones {
    /// The zone (1–5) of a heart rate. A rate exactly on a bound is in the lower zone; below
    /// zone 1's range is zone 1, above zone 4's bound is zone 5. NaN is zone 1.
    pub fn zone_of(&self, bpm: f64) -> u8 {
        zone_of(&self.upper_bpm, bpm)
    }

    /// The upper bounds of zones 1–4, bpm, strictly increasing.
    pub fn upper_bpm(&self) -> [f64; 4] {
        self.upper_bpm
    }

    /// The `(low, high)` heart rates of `zone`, bpm: zone 1 starts at 0, zone 5 ends at
    /// `phys_hr_max`. A zone outside 1–5 is clamped into it.
    pub fn range_bpm(&self, zone: u8, phys_hr_max: f64) -> (f64, f64) {
        let (low, high) = range_of(&self.upper_bpm, zone);
        (low, high.unwrap_or(phys_hr_max))
    }
}

/// Power zones 1–7 (Coggan), as the upper bounds of zones 1–6 and the power limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerZones {
    upper_w: [f64; 6],
    max_power_w: f64,
}

impl PowerZones {
    /// The zone (1–7) of a power. A power exactly on a bound is in the lower zone; above
    /// zone 6's bound is zone 7. NaN is zone 1.
    pub fn zone_of(&self, power_w: f64) -> u8 {
        zone_of(&self.upper_w, power_w)
    }

    /// The upper bounds of zones 1–6, W, strictly increasing.
    pub fn upper_w(&self) -> [f64; 6] {
        self.upper_w
    }

    /// The `(low, high)` power of `zone` as a target range, W: zone 1 starts at 0, zone 7
    /// ends at [`Physiology::max_power_w`], and both ends of every range are clipped to that
    /// limit, since no output may set a target above it. With the default limit (150 % of
    /// FTP, which is also zone 6's upper bound) zone 7 is the single point `max_power_w`. A
    /// zone outside 1–7 is clamped into it.
    pub fn range_w(&self, zone: u8) -> (f64, f64) {
        let (low, high) = range_of(&self.upper_w, zone);
        let high = high.unwrap_or(self.max_power_w);
        (low.min(self.max_power_w), high.min(self.max_power_w))
    }
}

/// 1 + the number of bounds strictly below `value`: bounds are strictly increasing, so a
/// value on a bound stays in the lower zone.
fn zone_of(upper: &[f64], value: f64) -> u8 {
    let mut zone = 1;
    for &bound in upper {
        if value > bound {
            zone += 1;
        }
    }
    zone
}

/// The low bound of `zone` (clamped to 1..=upper.len() + 1) and its high bound, `None` for
/// the open last zone.
fn range_of(upper: &[f64], zone: u8) -> (f64, Option<f64>) {
    let index = usize::from(zone.max(1) - 1).min(upper.len());
    let low = if index == 0 { 0.0 } else { upper[index - 1] };
    (low, upper.get(index).copied())
}

fn strictly_increasing_from_zero(values: &[u16]) -> bool {
    let mut previous = 0;
    for &value in values {
        if value <= previous {
            return false;
        }
        previous = value;
    }
    true
}

/// A whole number of bpm or W (already rounded by the caller) as `u16`, clamped into range.
#[allow(
    clippy::cast_possible_truncation,
    reason = "the value is a whole number clamped into the u16 range, so the cast is exact"
)]
fn clamp_to_u16(whole: f64) -> u16 {
    whole.clamp(0.0, f64::from(u16::MAX)) as u16
}
