//! The morning recovery score (0–100) from daily metrics, and the checks a metric or a
//! check-in must pass before it is stored.
//!
//! # Components (each 0–100, linear between the points, clamped outside them)
//! - **HRV** (rMSSD) vs the mean of the previous 7 days: +10 % → 100, −10 % → 50,
//!   −20 % → 0.
//! - **Resting HR** vs the mean of the previous 7 days: −5 % → 100, 0 % → 50, +10 % → 0.
//! - **Sleep** = 0.6 duration + 0.4 sleep score; duration ≤ 5 h → 30, 6 h → 70,
//!   7–9 h (and longer) → 100. With only one of the two, that one alone.
//! - **Stress** = 100 − stress.
//!
//! A baseline needs at least 3 values among the previous 7 days (the last 7 entries of
//! `previous_7_days`); without it, or without today's value, the component is missing.
//! Values that are not finite count as missing.
//!
//! # Score
//! `0.4 HRV + 0.3 resting HR + 0.2 sleep + 0.1 stress`, the weights renormalised over the
//! components present; no component → the score is unknown (`None`), not a number. Then
//! × 0.9 when ACWR > 1.3, × 0.8 when ACWR > 1.5, rounded to 0.1. Bands on the rounded
//! score: green ≥ 80, yellow 50–79.9, red < 50.
//!
//! Checks (unit tests): components 100/50/94/70 → 80.8, green; with ACWR 1.6 → 64.6.
//!
//! # Checks
//! [`check_metrics`] refuses impossible values, naming the field: resting HR outside
//! 25–150 bpm, HRV outside 1–300 ms, sleep outside 0–24 h, a sleep score or stress outside
//! 0–100, anything not finite. [`check_date`] refuses a day more than 1 day after today
//! (time zones). [`CheckIn::check`] refuses energy, mood or soreness outside 1–5 and a
//! note past 2,000 bytes.

use thiserror::Error;
use time::Date;

/// Weight of the HRV component.
pub const HRV_WEIGHT: f64 = 0.4;
/// Weight of the resting-HR component.
pub const RESTING_HR_WEIGHT: f64 = 0.3;
/// Weight of the sleep component.
pub const SLEEP_WEIGHT: f64 = 0.2;
/// Weight of the stress component.
pub const STRESS_WEIGHT: f64 = 0.1;
/// Fewest values among the previous 7 days that make a baseline.
pub const MIN_BASELINE_DAYS: usize = 3;
/// The longest check-in note, bytes.
pub const MAX_NOTE_BYTES: usize = 2000;

/// HRV change from baseline, %, → component.
const HRV_POINTS: [(f64, f64); 3] = [(-20.0, 0.0), (-10.0, 50.0), (10.0, 100.0)];
/// Resting-HR change from baseline, %, → component.
const RESTING_HR_POINTS: [(f64, f64); 3] = [(-5.0, 100.0), (0.0, 50.0), (10.0, 0.0)];
/// Sleep duration, h, → duration part of the sleep component.
const SLEEP_HOURS_POINTS: [(f64, f64); 3] = [(5.0, 30.0), (6.0, 70.0), (7.0, 100.0)];

/// One day's metrics, as measured by a watch or typed by hand. Any may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DailyMetrics {
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<f64>,
    /// Heart-rate variability (rMSSD), ms.
    pub hrv_ms: Option<f64>,
    /// Sleep duration, s.
    pub sleep_s: Option<f64>,
    /// Sleep score, 0–100.
    pub sleep_score: Option<f64>,
    /// Stress, 0–100.
    pub stress: Option<f64>,
}

/// Recovery band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    /// Score ≥ 80: ready.
    Green,
    /// Score 50–79.9: train, with care.
    Yellow,
    /// Score < 50: rest or easy only.
    Red,
}

impl Band {
    /// The band of a score (0–100).
    pub fn of(score: f64) -> Band {
        if score >= 80.0 {
            Band::Green
        } else if score >= 50.0 {
            Band::Yellow
        } else {
            Band::Red
        }
    }

    /// Its name in rows and JSON: `green`, `yellow`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Green => "green",
            Band::Yellow => "yellow",
            Band::Red => "red",
        }
    }

    /// The band named `name` (see [`Band::as_str`]).
    pub fn parse(name: &str) -> Option<Band> {
        [Band::Green, Band::Yellow, Band::Red]
            .into_iter()
            .find(|b| b.as_str() == name)
    }
}

/// Each component, 0–100, `None` when missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Components {
    /// HRV vs its 7-day baseline.
    pub hrv: Option<f64>,
    /// Resting HR vs its 7-day baseline.
    pub resting_hr: Option<f64>,
    /// Sleep duration and score.
    pub sleep: Option<f64>,
    /// 100 − stress.
    pub stress: Option<f64>,
}

/// Today's recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Score 0–100 (rounded to 0.1), `None` when no component has data.
    pub score: Option<f64>,
    /// Band of the score.
    pub band: Option<Band>,
    /// The components.
    pub components: Components,
    /// The ACWR multiplier applied: 1.0, 0.9 (ACWR > 1.3) or 0.8 (ACWR > 1.5).
    pub multiplier: f64,
    /// The components left out for lack of data: `hrv`, `resting_hr`, `sleep`, `stress`.
    pub missing: Vec<&'static str>,
}

/// Today's recovery from today's metrics, the previous days' (the last 7 entries are used,
/// in any order) and today's ACWR. See the module docs.
pub fn recovery(
    today: &DailyMetrics,
    previous_7_days: &[DailyMetrics],
    acwr: Option<f64>,
) -> Recovery {
    let previous = &previous_7_days[previous_7_days.len().saturating_sub(7)..];
    let change_pct = |field: fn(&DailyMetrics) -> Option<f64>| {
        let today = finite(field(today))?;
        let values: Vec<f64> = previous.iter().filter_map(|d| finite(field(d))).collect();
        if values.len() < MIN_BASELINE_DAYS {
            return None;
        }
        let baseline = values.iter().sum::<f64>() / values.len() as f64;
        (baseline > 0.0).then(|| (today - baseline) / baseline * 100.0)
    };
    let components = Components {
        hrv: change_pct(|d| d.hrv_ms).map(|pct| piecewise(&HRV_POINTS, pct)),
        resting_hr: change_pct(|d| d.resting_hr_bpm).map(|pct| piecewise(&RESTING_HR_POINTS, pct)),
        sleep: sleep_component(today),
        stress: finite(today.stress).map(|s| (100.0 - s).clamp(0.0, 100.0)),
    };
    let weighted = [
        ("hrv", components.hrv, HRV_WEIGHT),
        ("resting_hr", components.resting_hr, RESTING_HR_WEIGHT),
        ("sleep", components.sleep, SLEEP_WEIGHT),
        ("stress", components.stress, STRESS_WEIGHT),
    ];
    let missing = weighted
        .iter()
        .filter(|(_, value, _)| value.is_none())
        .map(|(name, _, _)| *name)
        .collect();
    let weight: f64 = weighted.iter().filter_map(|(_, v, w)| v.map(|_| w)).sum();
    let sum: f64 = weighted
        .iter()
        .filter_map(|(_, v, w)| v.map(|v| v * w))
        .sum();
    let multiplier = acwr_multiplier(acwr);
    let score = (weight > 0.0).then(|| (sum / weight * multiplier * 10.0).round() / 10.0);
    Recovery {
        score,
        band: score.map(Band::of),
        components,
        multiplier,
        missing,
    }
}

/// The multiplier for today's ACWR: 0.8 above 1.5, 0.9 above 1.3, else 1.
pub fn acwr_multiplier(acwr: Option<f64>) -> f64 {
    match acwr {
        Some(a) if a > 1.5 => 0.8,
        Some(a) if a > 1.3 => 0.9,
        _ => 1.0,
    }
}

fn sleep_component(today: &DailyMetrics) -> Option<f64> {
    let duration = finite(today.sleep_s).map(|s| piecewise(&SLEEP_HOURS_POINTS, s / 3600.0));
    let score = finite(today.sleep_score).map(|s| s.clamp(0.0, 100.0));
    match (duration, score) {
        (Some(d), Some(s)) => Some(0.6 * d + 0.4 * s),
        (one, other) => one.or(other),
    }
}

/// Linear between `points` (ascending x), clamped to the end values outside them.
fn piecewise(points: &[(f64, f64)], x: f64) -> f64 {
    let (first, last) = (points[0], points[points.len() - 1]);
    if x <= first.0 {
        return first.1;
    }
    if x >= last.0 {
        return last.1;
    }
    points.windows(2).find(|w| x <= w[1].0).map_or(last.1, |w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    })
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// A value refused, naming the field (as in the API) and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct MetricError {
    /// The field, as the API names it (`resting_hr_bpm`, `energy`, …).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl MetricError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        MetricError {
            field,
            reason: reason.into(),
        }
    }
}

/// Checks that every metric given is possible (module docs, "Checks").
pub fn check_metrics(metrics: &DailyMetrics) -> Result<(), MetricError> {
    let ranges = [
        ("resting_hr_bpm", metrics.resting_hr_bpm, 25.0, 150.0, "bpm"),
        ("hrv_ms", metrics.hrv_ms, 1.0, 300.0, "ms"),
        ("sleep_s", metrics.sleep_s, 0.0, 86_400.0, "s (24 h)"),
        ("sleep_score", metrics.sleep_score, 0.0, 100.0, ""),
        ("stress", metrics.stress, 0.0, 100.0, ""),
    ];
    for (field, value, low, high, unit) in ranges {
        match value {
            Some(v) if !v.is_finite() => return Err(MetricError::new(field, "must be a number")),
            Some(v) if !(low..=high).contains(&v) => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                return Err(MetricError::new(
                    field,
                    format!("{v} is impossible: must be from {low} to {high}{unit}"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that metrics may be entered for `date` when the athlete's today is `today`: not
/// more than one day ahead.
pub fn check_date(date: Date, today: Date) -> Result<(), MetricError> {
    if (date - today).whole_days() > 1 {
        return Err(MetricError::new(
            "date",
            format!("{date} is in the future (today is {today})"),
        ));
    }
    Ok(())
}

/// A morning check-in: how the athlete feels, 1 (worst) to 5 (best); soreness 1 (none) to
/// 5 (very sore).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct CheckIn {
    /// Energy, 1–5.
    pub energy: Option<u8>,
    /// Mood, 1–5.
    pub mood: Option<u8>,
    /// Soreness, 1–5 (5 = very sore).
    pub soreness: Option<u8>,
    /// A free note.
    pub note: Option<String>,
}

impl CheckIn {
    /// Checks the values (module docs, "Checks").
    pub fn check(&self) -> Result<(), MetricError> {
        for (field, value) in [
            ("energy", self.energy),
            ("mood", self.mood),
            ("soreness", self.soreness),
        ] {
            if let Some(v) = value.filter(|v| !(1..=5).contains(v)) {
                return Err(MetricError::new(field, format!("{v}: must be from 1 to 5")));
            }
        }
        if self.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
            return Err(MetricError::new("note", "longer than 2000 bytes"));
        }
        Ok(())
    }

    /// "Poor": energy or mood ≤ 2, or soreness ≥ 4.
    pub fn is_poor(&self) -> bool {
        self.energy.is_some_and(|v| v <= 2)
            || self.mood.is_some_and(|v| v <= 2)
            || self.soreness.is_some_and(|v| v >= 4)
    }

    /// "Excellent" as far as the check-in goes: energy and mood both given and ≥ 4,
    /// soreness ≤ 2 or not given. (The plan also asks for a green recovery.)
    pub fn is_excellent(&self) -> bool {
        self.energy.is_some_and(|v| v >= 4)
            && self.mood.is_some_and(|v| v >= 4)
            && self.soreness.is_none_or(|v| v <= 2)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    /// A week of HRV 50 ms and resting HR 50 bpm.
    fn week() -> Vec<DailyMetrics> {
        vec![
            DailyMetrics {
                hrv_ms: Some(50.0),
                resting_hr_bpm: Some(50.0),
                ..DailyMetrics::default()
            };
            7
        ]
    }

    /// HRV +10 % → 100, resting HR +0 % → 50, 8 h sleep with score 85 → 0.6·100 + 0.4·85 =
    /// 94, stress 30 → 70.
    fn the_issues_morning() -> DailyMetrics {
        DailyMetrics {
            hrv_ms: Some(55.0),
            resting_hr_bpm: Some(50.0),
            sleep_s: Some(8.0 * 3600.0),
            sleep_score: Some(85.0),
            stress: Some(30.0),
        }
    }

    #[test]
    fn components_100_50_94_70_score_80_8_green() {
        let r = recovery(&the_issues_morning(), &week(), Some(1.0));
        assert_eq!(
            r.components,
            Components {
                hrv: Some(100.0),
                resting_hr: Some(50.0),
                sleep: Some(94.0),
                stress: Some(70.0)
            }
        );
        assert_eq!(
            (r.score, r.band, r.multiplier),
            (Some(80.8), Some(Band::Green), 1.0)
        );
        assert!(r.missing.is_empty());
    }

    #[test]
    fn with_acwr_1_6_the_same_morning_scores_64_6() {
        let r = recovery(&the_issues_morning(), &week(), Some(1.6));
        assert_eq!(
            (r.score, r.band, r.multiplier),
            (Some(64.6), Some(Band::Yellow), 0.8)
        );
        let r = recovery(&the_issues_morning(), &week(), Some(1.4));
        assert_eq!((r.score, r.multiplier), (Some(72.7), 0.9));
    }

    #[test]
    fn components_follow_their_points_linearly_and_clamp() {
        let hrv = |ms| {
            let today = DailyMetrics {
                hrv_ms: Some(ms),
                ..DailyMetrics::default()
            };
            recovery(&today, &week(), None).components.hrv.unwrap()
        };
        assert_eq!(
            [
                hrv(40.0),
                hrv(45.0),
                hrv(50.0),
                hrv(55.0),
                hrv(80.0),
                hrv(10.0)
            ],
            [0.0, 50.0, 75.0, 100.0, 100.0, 0.0]
        );
        let rhr = |bpm| {
            let today = DailyMetrics {
                resting_hr_bpm: Some(bpm),
                ..DailyMetrics::default()
            };
            recovery(&today, &week(), None)
                .components
                .resting_hr
                .unwrap()
        };
        assert_eq!(
            [rhr(47.5), rhr(50.0), rhr(52.5), rhr(55.0), rhr(70.0)],
            [100.0, 50.0, 25.0, 0.0, 0.0]
        );
        let sleep = |h: f64| {
            let today = DailyMetrics {
                sleep_s: Some(h * 3600.0),
                ..DailyMetrics::default()
            };
            recovery(&today, &[], None).components.sleep.unwrap()
        };
        assert_eq!(
            [
                sleep(4.0),
                sleep(5.0),
                sleep(5.5),
                sleep(6.0),
                sleep(7.0),
                sleep(10.0)
            ],
            [30.0, 30.0, 50.0, 70.0, 100.0, 100.0]
        );
    }

    #[test]
    fn missing_components_renormalise_and_none_leaves_the_score_unknown() {
        let today = DailyMetrics {
            stress: Some(40.0),
            hrv_ms: Some(55.0),
            ..DailyMetrics::default()
        };
        let two_days = &week()[..2];
        let r = recovery(&today, two_days, None);
        assert_eq!(r.components.hrv, None, "two days are not a baseline");
        assert_eq!(r.score, Some(60.0));
        assert_eq!(r.missing, ["hrv", "resting_hr", "sleep"]);
        let nothing = recovery(&DailyMetrics::default(), &week(), Some(2.0));
        assert_eq!((nothing.score, nothing.band), (None, None));
        assert_eq!(nothing.missing.len(), 4);
    }

    #[test]
    fn impossible_metrics_name_their_field() {
        let bad = |m: DailyMetrics| check_metrics(&m).unwrap_err().field;
        let none = DailyMetrics::default();
        assert_eq!(
            bad(DailyMetrics {
                resting_hr_bpm: Some(0.0),
                ..none
            }),
            "resting_hr_bpm"
        );
        assert_eq!(
            bad(DailyMetrics {
                resting_hr_bpm: Some(300.0),
                ..none
            }),
            "resting_hr_bpm"
        );
        assert_eq!(
            bad(DailyMetrics {
                sleep_s: Some(30.0 * 3600.0),
                ..none
            }),
            "sleep_s"
        );
        assert_eq!(
            bad(DailyMetrics {
                hrv_ms: Some(f64::NAN),
                ..none
            }),
            "hrv_ms"
        );
        assert_eq!(
            bad(DailyMetrics {
                stress: Some(101.0),
                ..none
            }),
            "stress"
        );
        assert_eq!(
            bad(DailyMetrics {
                sleep_score: Some(-1.0),
                ..none
            }),
            "sleep_score"
        );
        assert!(check_metrics(&the_issues_morning()).is_ok());
        assert_eq!(
            check_metrics(&DailyMetrics {
                resting_hr_bpm: Some(300.0),
                ..none
            })
            .unwrap_err()
            .to_string(),
            "resting_hr_bpm: 300 is impossible: must be from 25 to 150 bpm"
        );
        let today = date!(2026 - 12 - 06);
        assert!(check_date(date!(2026 - 12 - 07), today).is_ok());
        assert_eq!(
            check_date(date!(2027 - 01 - 01), today).unwrap_err().field,
            "date"
        );
    }

    #[test]
    fn check_ins_are_checked_and_judged() {
        let c = |energy, mood, soreness| CheckIn {
            energy,
            mood,
            soreness,
            note: None,
        };
        assert_eq!(c(Some(0), None, None).check().unwrap_err().field, "energy");
        assert_eq!(
            c(None, None, Some(6)).check().unwrap_err().field,
            "soreness"
        );
        let long = CheckIn {
            note: Some("x".repeat(2001)),
            ..CheckIn::default()
        };
        assert_eq!(long.check().unwrap_err().field, "note");
        assert!(c(Some(2), Some(5), Some(1)).is_poor());
        assert!(c(Some(5), Some(5), Some(4)).is_poor());
        assert!(!c(Some(3), Some(3), Some(3)).is_poor());
        assert!(c(Some(4), Some(5), Some(2)).is_excellent());
        assert!(!c(Some(4), None, Some(1)).is_excellent());
        assert_eq!(Band::parse(Band::Yellow.as_str()), Some(Band::Yellow));
    }

    fn metric() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            (-50.0..400.0f64).prop_map(Some)
        ]
    }

    fn day() -> impl Strategy<Value = DailyMetrics> {
        (
            metric(),
            metric(),
            metric().prop_map(|s| s.map(|v| v * 300.0)),
            metric(),
            metric(),
        )
            .prop_map(|(resting_hr_bpm, hrv_ms, sleep_s, sleep_score, stress)| {
                DailyMetrics {
                    resting_hr_bpm,
                    hrv_ms,
                    sleep_s,
                    sleep_score,
                    stress,
                }
            })
    }

    proptest! {
        #[test]
        fn the_score_is_within_0_100_and_its_band_matches(
            today in day(),
            previous in proptest::collection::vec(day(), 0..10),
            acwr in prop_oneof![Just(None), (0.0..3.0f64).prop_map(Some)],
        ) {
            let r = recovery(&today, &previous, acwr);
            prop_assert_eq!(r.score.is_none(), r.missing.len() == 4);
            if let Some(score) = r.score {
                prop_assert!((0.0..=100.0).contains(&score));
                prop_assert_eq!(r.band, Some(Band::of(score)));
            }
        }
    }
}
