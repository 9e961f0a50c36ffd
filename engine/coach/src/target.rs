//! Targets as the coach applies them: plan targets resolved against the athlete's
//! physiology, clamped to the profile's limits, and ordered by intensity.
//!
//! A plan says "88–92 % FTP" or "HR zone 2"; the coach turns that into watts or beats per
//! minute once, when the plan is loaded, so every later comparison is plain arithmetic.
//! [`EffectiveTarget::intensity`] puts all kinds on one scale (a fraction of threshold) so
//! the safety governor can tell whether a change raises intensity.

use std::fmt;

use paceline_schemas::plan::Target;

use crate::zones::Physiology;

/// FTP assumed for ordering power targets when the profile has none (never used to
/// compute a target, only to compare two targets in watts).
const NOMINAL_FTP_W: f64 = 200.0;
/// RPE taken as threshold effort on Borg's CR10 scale.
const THRESHOLD_RPE: f64 = 7.0;

/// A target in the units the athlete is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveTarget {
    /// Hold power within a range, W.
    Power {
        /// Lower bound, W.
        low_w: u16,
        /// Upper bound, W.
        high_w: u16,
    },
    /// Power moving linearly from `start_w` to `end_w` over the step.
    PowerRamp {
        /// Power at the start of the step, W.
        start_w: u16,
        /// Power at the end of the step, W.
        end_w: u16,
    },
    /// Hold heart rate within a range, bpm.
    HeartRate {
        /// Lower bound, bpm.
        low_bpm: u16,
        /// Upper bound, bpm.
        high_bpm: u16,
    },
    /// Ride by feel: at the given rating of perceived exertion (CR10), or as the athlete
    /// likes (`None`).
    Open {
        /// Rating of perceived exertion, 1–10.
        rpe: Option<u8>,
    },
}

/// The limits no target may exceed, taken from the profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetLimits {
    /// Highest power target, W (`None` without an FTP).
    pub max_power_w: Option<u16>,
    /// Highest heart-rate target: the cap, bpm.
    pub hr_cap_bpm: u16,
    /// FTP used to order power targets, W.
    ftp_ref_w: f64,
    /// LTHR used to order heart-rate targets, bpm.
    lthr_bpm: f64,
}

impl TargetLimits {
    /// The limits of one athlete.
    pub fn of(phys: &Physiology) -> TargetLimits {
        TargetLimits {
            max_power_w: phys.max_power_w,
            hr_cap_bpm: phys.hr_cap_bpm,
            ftp_ref_w: phys.ftp_w.map_or(NOMINAL_FTP_W, f64::from).max(1.0),
            lthr_bpm: f64::from(phys.lthr_bpm).max(1.0),
        }
    }

    /// Whether a target stays within these limits.
    pub fn allows(&self, target: &EffectiveTarget) -> bool {
        let power_ok = |w: u16| self.max_power_w.is_none_or(|max| w <= max);
        match *target {
            EffectiveTarget::Power { low_w, high_w } => low_w <= high_w && power_ok(high_w),
            EffectiveTarget::PowerRamp { start_w, end_w } => power_ok(start_w) && power_ok(end_w),
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                low_bpm <= high_bpm && high_bpm <= self.hr_cap_bpm
            }
            EffectiveTarget::Open { rpe } => rpe.is_none_or(|r| (1..=10).contains(&r)),
        }
    }
}

impl EffectiveTarget {
    /// Resolves a plan target for one athlete, clamped to the profile's limits.
    ///
    /// Power targets need an FTP: without one they become open targets at the matching
    /// RPE. Athletes who train by RPE only get open targets throughout.
    pub fn resolve(target: &Target, phys: &Physiology) -> EffectiveTarget {
        let limits = TargetLimits::of(phys);
        let ftp = phys.ftp_w.map(f64::from);
        let resolved = match *target {
            Target::PowerW(r) => power_range(f64::from(r.low_w), f64::from(r.high_w)),
            Target::PowerFtp(r) => match ftp {
                Some(ftp) => power_range(
                    ftp * f64::from(r.low_pct) / 100.0,
                    ftp * f64::from(r.high_pct) / 100.0,
                ),
                None => open_at(f64::from(r.high_pct) / 100.0),
            },
            Target::PowerFtpRamp(r) => match ftp {
                Some(ftp) => EffectiveTarget::PowerRamp {
                    start_w: watts(ftp * f64::from(r.start_pct) / 100.0),
                    end_w: watts(ftp * f64::from(r.end_pct) / 100.0),
                },
                None => open_at(f64::from(r.start_pct.max(r.end_pct)) / 100.0),
            },
            Target::HeartRate(r) => {
                let (low, high) = ordered(r.low_bpm, r.high_bpm);
                EffectiveTarget::HeartRate {
                    low_bpm: low,
                    high_bpm: high,
                }
            }
            Target::HrZone(z) => {
                let (low, high) = phys.hr_zones.range_bpm(z.zone, f64::from(phys.hr_max_bpm));
                EffectiveTarget::HeartRate {
                    low_bpm: bpm(low),
                    high_bpm: bpm(high),
                }
            }
            Target::PowerZone(z) => match &phys.power_zones {
                Some(zones) => {
                    let (low, high) = zones.range_w(z.zone);
                    power_range(low, high)
                }
                None => open_at(POWER_ZONE_MID_FRACTION[usize::from(z.zone.clamp(1, 7)) - 1]),
            },
            Target::Open(o) => EffectiveTarget::Open {
                rpe: o.rpe.map(|r| r.clamp(1, 10)),
            },
        };
        let resolved = resolved.clamped(&limits);
        if phys.rpe_only {
            match resolved {
                EffectiveTarget::Open { .. } => resolved,
                other => open_at(other.intensity(&limits)),
            }
        } else {
            resolved
        }
    }

    /// The same target with every bound brought within the limits.
    pub fn clamped(self, limits: &TargetLimits) -> EffectiveTarget {
        let cap_w = |w: u16| limits.max_power_w.map_or(w, |max| w.min(max));
        match self {
            EffectiveTarget::Power { low_w, high_w } => {
                let (low, high) = ordered(low_w, high_w);
                EffectiveTarget::Power {
                    low_w: cap_w(low),
                    high_w: cap_w(high),
                }
            }
            EffectiveTarget::PowerRamp { start_w, end_w } => EffectiveTarget::PowerRamp {
                start_w: cap_w(start_w),
                end_w: cap_w(end_w),
            },
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                let high = high_bpm.min(limits.hr_cap_bpm);
                EffectiveTarget::HeartRate {
                    low_bpm: low_bpm.min(high),
                    high_bpm: high,
                }
            }
            EffectiveTarget::Open { rpe } => EffectiveTarget::Open {
                rpe: rpe.map(|r| r.clamp(1, 10)),
            },
        }
    }

    /// How hard this target lets the athlete go, as a fraction of threshold (FTP for
    /// power, LTHR for heart rate, RPE 7 for perceived exertion). An open target without
    /// an RPE has no ceiling: infinity.
    pub fn intensity(&self, limits: &TargetLimits) -> f64 {
        match *self {
            EffectiveTarget::Power { high_w, .. } => f64::from(high_w) / limits.ftp_ref_w,
            EffectiveTarget::PowerRamp { start_w, end_w } => {
                f64::from(start_w.max(end_w)) / limits.ftp_ref_w
            }
            EffectiveTarget::HeartRate { high_bpm, .. } => f64::from(high_bpm) / limits.lthr_bpm,
            EffectiveTarget::Open { rpe: Some(r) } => f64::from(r) / THRESHOLD_RPE,
            EffectiveTarget::Open { rpe: None } => f64::INFINITY,
        }
    }

    /// The intensity used for training-load estimates (an open target counts as easy).
    pub fn load_intensity(&self, limits: &TargetLimits) -> f64 {
        match *self {
            EffectiveTarget::Power { low_w, high_w } => {
                (f64::from(low_w) + f64::from(high_w)) / 2.0 / limits.ftp_ref_w
            }
            EffectiveTarget::PowerRamp { start_w, end_w } => {
                (f64::from(start_w) + f64::from(end_w)) / 2.0 / limits.ftp_ref_w
            }
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                (f64::from(low_bpm) + f64::from(high_bpm)) / 2.0 / limits.lthr_bpm
            }
            EffectiveTarget::Open { rpe: Some(r) } => f64::from(r) / THRESHOLD_RPE,
            EffectiveTarget::Open { rpe: None } => 0.65,
        }
    }

    /// The target lowered by `pct` percent (an open target drops to an easy RPE).
    pub fn reduced(self, pct: u8) -> EffectiveTarget {
        let keep = 1.0 - f64::from(pct.min(100)) / 100.0;
        let w = |v: u16| watts(f64::from(v) * keep);
        match self {
            EffectiveTarget::Power { low_w, high_w } => EffectiveTarget::Power {
                low_w: w(low_w),
                high_w: w(high_w),
            },
            EffectiveTarget::PowerRamp { start_w, end_w } => EffectiveTarget::PowerRamp {
                start_w: w(start_w),
                end_w: w(end_w),
            },
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => EffectiveTarget::HeartRate {
                low_bpm: w(low_bpm),
                high_bpm: w(high_bpm),
            },
            EffectiveTarget::Open { rpe: Some(r) } => {
                let lowered = (f64::from(r) * keep).floor().clamp(1.0, 10.0);
                EffectiveTarget::Open {
                    rpe: Some(rpe_value(lowered)),
                }
            }
            EffectiveTarget::Open { rpe: None } => EffectiveTarget::Open { rpe: Some(3) },
        }
    }

    /// A ramp frozen at the power it asks for `fraction` (0–1) of the way through its
    /// step; other targets unchanged.
    pub fn frozen_at(self, fraction: f64) -> EffectiveTarget {
        match self {
            EffectiveTarget::PowerRamp { start_w, end_w } => {
                let w = watts(ramp_at(start_w, end_w, fraction));
                EffectiveTarget::Power {
                    low_w: w,
                    high_w: w,
                }
            }
            other => other,
        }
    }

    /// The power range asked for at `fraction` (0–1) of the way through the step.
    pub fn power_range_at(&self, fraction: f64) -> Option<(f64, f64)> {
        match *self {
            EffectiveTarget::Power { low_w, high_w } => Some((f64::from(low_w), f64::from(high_w))),
            EffectiveTarget::PowerRamp { start_w, end_w } => {
                let w = ramp_at(start_w, end_w, fraction);
                Some((w, w))
            }
            _ => None,
        }
    }

    /// Whether this is a ramp that climbs.
    pub fn is_rising_ramp(&self) -> bool {
        matches!(*self, EffectiveTarget::PowerRamp { start_w, end_w } if end_w > start_w)
    }
}

impl fmt::Display for EffectiveTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EffectiveTarget::Power { low_w, high_w } if low_w == high_w => write!(f, "{high_w} W"),
            EffectiveTarget::Power { low_w, high_w } => write!(f, "{low_w}–{high_w} W"),
            EffectiveTarget::PowerRamp { start_w, end_w } => write!(f, "{start_w} → {end_w} W"),
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                write!(f, "{low_bpm}–{high_bpm} bpm")
            }
            EffectiveTarget::Open { rpe: Some(r) } => write!(f, "RPE {r}"),
            EffectiveTarget::Open { rpe: None } => f.write_str("your own pace"),
        }
    }
}

/// Middle of each Coggan power zone as a fraction of FTP, for zone targets without an FTP.
const POWER_ZONE_MID_FRACTION: [f64; 7] = [0.50, 0.65, 0.83, 0.98, 1.13, 1.35, 1.60];

fn power_range(low_w: f64, high_w: f64) -> EffectiveTarget {
    let (low, high) = ordered(watts(low_w), watts(high_w));
    EffectiveTarget::Power {
        low_w: low,
        high_w: high,
    }
}

fn open_at(fraction_of_threshold: f64) -> EffectiveTarget {
    let rpe = (fraction_of_threshold * THRESHOLD_RPE)
        .round()
        .clamp(1.0, 10.0);
    EffectiveTarget::Open {
        rpe: Some(rpe_value(rpe)),
    }
}

fn ramp_at(start_w: u16, end_w: u16, fraction: f64) -> f64 {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    f64::from(start_w) + (f64::from(end_w) - f64::from(start_w)) * f
}

fn ordered(a: u16, b: u16) -> (u16, u16) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Watts rounded to the nearest whole watt and kept within `u16`.
fn watts(w: f64) -> u16 {
    let w = if w.is_finite() {
        w.round().clamp(0.0, f64::from(u16::MAX))
    } else {
        0.0
    };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "rounded and clamped to u16's range"
    )]
    let w = w as u16;
    w
}

fn bpm(v: f64) -> u16 {
    watts(v)
}

fn rpe_value(v: f64) -> u8 {
    #[allow(clippy::cast_possible_truncation, reason = "callers clamp to 1..=10")]
    let r = v.clamp(1.0, 10.0) as u8;
    r
}
