//! Training load: how much an activity counts, by whichever evidence it has.
//!
//! Three methods, best first (the same formulas as the live coach's `load.rs`, so a
//! Paceline session scores the same live and from its file):
//!
//! - **Power** (Allen & Coggan): NP is the 30 s rolling mean of the 1 s power series,
//!   raised to the 4th power, averaged, 4th root taken; `IF = NP / FTP`;
//!   `TSS = s · NP · IF / (FTP · 3600) · 100` with `s` the seconds with power, so one hour
//!   at exactly FTP scores 100 (200 W for an hour at FTP 200 W: NP 200, IF 1.0, TSS 100).
//! - **Heart rate** (hrTSS, Banister's TRIMP normalised): each second with heart rate
//!   weighs `HRr · a · e^(k·HRr)` with `HRr = (HR − HRrest) / (HRmax − HRrest)` clamped to
//!   [0, 1] and `(a, k)` = (0.64, 1.92) for men, (0.86, 1.67) for women, their means
//!   (0.75, 1.795) otherwise; `hrTSS = 100 · Σ weight / (3600 · weight(LTHR))`, so one
//!   hour at threshold heart rate scores 100, as an hour at FTP does.
//! - **Perceived exertion** (Foster's session-RPE): `duration_min × RPE` arbitrary units,
//!   scaled by 1/6 into TSS: `TSS = duration_min · RPE / 6`. Sixty minutes at RPE 7 is
//!   70; an all-out hour (RPE 10) is 100, as an hour at FTP is.
//!
//! A load typed by hand (`load_tss` of a manual entry) is taken as it is.

use paceline_schemas::profile::Sex;

/// The athlete's numbers the load formulas need, taken as plain values (from the profile
/// in force when the activity is summarised). Any may be unknown; the formulas that need
/// it then give no load.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadThresholds {
    /// Functional threshold power, W.
    pub ftp_w: Option<u16>,
    /// Lactate-threshold heart rate, bpm.
    pub threshold_hr_bpm: Option<u16>,
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<u16>,
    /// Maximum heart rate, bpm.
    pub max_hr_bpm: Option<u16>,
    /// Sex, for the TRIMP weighting.
    pub sex: Option<Sex>,
}

/// How a load was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadMethod {
    /// TSS from normalized power and FTP.
    Power,
    /// hrTSS from heart rate.
    HeartRate,
    /// Typed by the athlete or coach.
    Manual,
    /// Session-RPE.
    Rpe,
}

impl LoadMethod {
    /// Every method, in the order of [`LoadMethod::as_str`]'s names.
    pub const ALL: [LoadMethod; 4] = [
        LoadMethod::Power,
        LoadMethod::HeartRate,
        LoadMethod::Manual,
        LoadMethod::Rpe,
    ];

    /// The method's name in rows and the API: `power`, `heart_rate`, `manual`, `rpe`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMethod::Power => "power",
            LoadMethod::HeartRate => "heart_rate",
            LoadMethod::Manual => "manual",
            LoadMethod::Rpe => "rpe",
        }
    }

    /// The method named `name` (as [`LoadMethod::as_str`] spells it).
    pub fn parse(name: &str) -> Option<LoadMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// An activity's training load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Training stress score (or its heart-rate, manual or RPE equivalent).
    pub tss: f64,
    /// Intensity factor, `NP / FTP`, when the load came from power.
    pub intensity_factor: Option<f64>,
    /// How it was found.
    pub method: LoadMethod,
}

/// Power TSS: `s · NP · IF / (FTP · 3600) · 100`, `s` the seconds with power. `None`
/// without a positive FTP.
pub fn power_load(power_seconds: f64, np_w: f64, ftp_w: Option<u16>) -> Option<Load> {
    let ftp_w = f64::from(ftp_w.filter(|f| *f > 0)?);
    let intensity_factor = np_w / ftp_w;
    Some(Load {
        tss: power_seconds * np_w * intensity_factor / (ftp_w * 3600.0) * 100.0,
        intensity_factor: Some(intensity_factor),
        method: LoadMethod::Power,
    })
}

/// Session-RPE load: `duration_min · RPE / 6` (see the module docs).
pub fn rpe_load(duration_s: f64, rpe: u8) -> Load {
    Load {
        tss: duration_s / 60.0 * f64::from(rpe) / 6.0,
        intensity_factor: None,
        method: LoadMethod::Rpe,
    }
}

/// The TRIMP weighting of one second of heart rate, fixed for an athlete.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TrimpWeighting {
    resting_hr_bpm: f64,
    reserve_bpm: f64,
    a: f64,
    k: f64,
    /// One second's weight at threshold heart rate.
    threshold_weight: f64,
}

impl TrimpWeighting {
    /// The weighting for an athlete, `None` unless resting, maximum and threshold heart
    /// rate are known, rest < threshold ≤ max.
    pub(crate) fn new(thresholds: &LoadThresholds) -> Option<Self> {
        let resting = thresholds.resting_hr_bpm?;
        let max = thresholds.max_hr_bpm?;
        let threshold = thresholds.threshold_hr_bpm?;
        if !(resting < threshold && threshold <= max) {
            return None;
        }
        let (a, k) = match thresholds.sex {
            Some(Sex::Male) => (0.64, 1.92),
            Some(Sex::Female) => (0.86, 1.67),
            Some(Sex::Other) | None => (0.75, 1.795),
        };
        let mut weighting = TrimpWeighting {
            resting_hr_bpm: f64::from(resting),
            reserve_bpm: f64::from(max) - f64::from(resting),
            a,
            k,
            threshold_weight: 0.0,
        };
        weighting.threshold_weight = weighting.weight(f64::from(threshold));
        Some(weighting)
    }

    /// One second at `hr_bpm`: `HRr · a · e^(k·HRr)`, `HRr` clamped to [0, 1].
    pub(crate) fn weight(&self, hr_bpm: f64) -> f64 {
        let reserve_fraction = ((hr_bpm - self.resting_hr_bpm) / self.reserve_bpm).clamp(0.0, 1.0);
        reserve_fraction * self.a * (self.k * reserve_fraction).exp()
    }

    /// hrTSS of seconds whose weights sum to `weight_sum`.
    pub(crate) fn hr_load(&self, weight_sum: f64) -> Load {
        Load {
            tss: 100.0 * weight_sum / (3600.0 * self.threshold_weight),
            intensity_factor: None,
            method: LoadMethod::HeartRate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_at_ftp_is_100() {
        let load = power_load(3600.0, 250.0, Some(250)).unwrap();
        assert_eq!(load.tss, 100.0);
        assert_eq!(load.intensity_factor, Some(1.0));
        assert_eq!(power_load(3600.0, 250.0, None), None);
        assert_eq!(power_load(3600.0, 250.0, Some(0)), None);
    }

    #[test]
    fn an_hour_at_threshold_heart_rate_is_100() {
        for sex in [None, Some(Sex::Male), Some(Sex::Female), Some(Sex::Other)] {
            let weighting = TrimpWeighting::new(&LoadThresholds {
                threshold_hr_bpm: Some(165),
                resting_hr_bpm: Some(50),
                max_hr_bpm: Some(190),
                sex,
                ..LoadThresholds::default()
            })
            .unwrap();
            let sum: f64 = (0..3600).map(|_| weighting.weight(165.0)).sum();
            let tss = weighting.hr_load(sum).tss;
            assert!((tss - 100.0).abs() < 1e-9, "{sex:?}: {tss}");
            // Easier is less, harder is more.
            assert!(weighting.hr_load(3600.0 * weighting.weight(140.0)).tss < 100.0);
            assert!(weighting.hr_load(3600.0 * weighting.weight(180.0)).tss > 100.0);
        }
    }

    #[test]
    fn heart_rate_load_needs_consistent_thresholds() {
        let complete = LoadThresholds {
            threshold_hr_bpm: Some(165),
            resting_hr_bpm: Some(50),
            max_hr_bpm: Some(190),
            ..LoadThresholds::default()
        };
        assert!(TrimpWeighting::new(&complete).is_some());
        for broken in [
            LoadThresholds {
                threshold_hr_bpm: None,
                ..complete
            },
            LoadThresholds {
                resting_hr_bpm: None,
                ..complete
            },
            LoadThresholds {
                max_hr_bpm: None,
                ..complete
            },
            LoadThresholds {
                threshold_hr_bpm: Some(195),
                ..complete
            },
            LoadThresholds {
                resting_hr_bpm: Some(170),
                ..complete
            },
        ] {
            assert_eq!(TrimpWeighting::new(&broken), None, "{broken:?}");
        }
    }

    #[test]
    fn sixty_minutes_at_rpe_7_is_70() {
        let load = rpe_load(3600.0, 7);
        assert!((load.tss - 70.0).abs() < 1e-9);
        assert_eq!(load.method, LoadMethod::Rpe);
        assert!((rpe_load(3600.0, 10).tss - 100.0).abs() < 1e-9);
    }

    #[test]
    fn method_names_round_trip() {
        for method in LoadMethod::ALL {
            assert_eq!(LoadMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(LoadMethod::parse("guess"), None);
    }
}
