//! "What works for you": lagged Spearman correlations between the athlete's days and their
//! training outcomes, corrected for the number of tests.
//!
//! Why this shape: an athlete asks "does sleeping more help?", and their own 60–120 days
//! are the only honest answer; but with 15 inputs × 5 outputs × 4 lags some correlation
//! will always look strong by chance. So every test is counted and Benjamini-Hochberg
//! corrected together, and only q ≤ [`FDR_Q`] is reported.
//!
//! - **Pairs**: input on day `d` with output on day `d + lag`, `lag` in 0–[`MAX_LAG_DAYS`],
//!   over the days both have a value (dates are the athlete's local days; a missing day is
//!   missing, never 0).
//! - **Tests**: each (input, output, lag) with at least [`MIN_PAIRS`] pairs and neither side
//!   constant gets Spearman's rho and its two-sided p ([`crate::stats`]); `tested` counts
//!   them. All of an athlete's p-values are BH-corrected in one family.
//! - **Findings**: q ≤ [`FDR_Q`], sorted by q, then p, then |rho| (largest first), then
//!   names. A finding goes to `what_works` when its direction is good for the output
//!   (more of the input → higher efficiency, recovery, energy or mood, or lower
//!   decoupling) and to `what_doesnt` otherwise.
//! - **Sentence**: the direction in words, rho and the number of days, then a median split
//!   computed from the same pairs: the output's mean on days whose input was above its
//!   median against the rest, with the relative difference (percentage points for
//!   decoupling, itself a percentage). The split is left out when every input sits on one
//!   side of the median (heavily tied data).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use time::{Date, Duration};

use crate::chart::scatter_svg;
use crate::stats::{benjamini_hochberg, spearman, spearman_p_value};

/// Fewest paired days a test needs.
pub const MIN_PAIRS: usize = 10;
/// Largest lag tested, days.
pub const MAX_LAG_DAYS: u8 = 3;
/// The false discovery rate a finding must pass.
pub const FDR_Q: f64 = 0.10;

/// A daily input: something about the athlete's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input {
    /// Sleep, s.
    SleepS,
    /// Heart-rate variability, ms.
    HrvMs,
    /// Resting heart rate, bpm.
    RestingHrBpm,
    /// Self-reported stress, 0–100.
    Stress,
    /// Food energy, kcal.
    EnergyKcal,
    /// Carbohydrate, g.
    CarbohydrateG,
    /// Protein, g.
    ProteinG,
    /// Caffeine, mg.
    CaffeineMg,
    /// Alcohol, units.
    AlcoholUnits,
    /// Body weight, kg.
    BodyWeightKg,
    /// Body fat, %.
    BodyFatPct,
    /// Work, h.
    WorkHours,
    /// Work stress, 0–10.
    WorkStress,
    /// Training load, TSS.
    LoadTss,
    /// The local hour of day training started (0–24, fractional).
    TrainingHour,
}

impl Input {
    /// Every input, in the order tests run.
    pub const ALL: [Input; 15] = [
        Input::SleepS,
        Input::HrvMs,
        Input::RestingHrBpm,
        Input::Stress,
        Input::EnergyKcal,
        Input::CarbohydrateG,
        Input::ProteinG,
        Input::CaffeineMg,
        Input::AlcoholUnits,
        Input::BodyWeightKg,
        Input::BodyFatPct,
        Input::WorkHours,
        Input::WorkStress,
        Input::LoadTss,
        Input::TrainingHour,
    ];

    /// The stored and serialized name, e.g. `sleep_s`.
    pub fn as_str(self) -> &'static str {
        match self {
            Input::SleepS => "sleep_s",
            Input::HrvMs => "hrv_ms",
            Input::RestingHrBpm => "resting_hr_bpm",
            Input::Stress => "stress",
            Input::EnergyKcal => "energy_kcal",
            Input::CarbohydrateG => "carbohydrate_g",
            Input::ProteinG => "protein_g",
            Input::CaffeineMg => "caffeine_mg",
            Input::AlcoholUnits => "alcohol_units",
            Input::BodyWeightKg => "body_weight_kg",
            Input::BodyFatPct => "body_fat_pct",
            Input::WorkHours => "work_hours",
            Input::WorkStress => "work_stress",
            Input::LoadTss => "load_tss",
            Input::TrainingHour => "training_hour",
        }
    }

    /// The input named `name` (see [`Input::as_str`]).
    pub fn parse(name: &str) -> Option<Input> {
        Input::ALL.into_iter().find(|i| i.as_str() == name)
    }

    /// A noun for it: "sleep".
    pub fn label(self) -> &'static str {
        match self {
            Input::SleepS => "sleep",
            Input::HrvMs => "HRV",
            Input::RestingHrBpm => "resting heart rate",
            Input::Stress => "stress",
            Input::EnergyKcal => "food energy",
            Input::CarbohydrateG => "carbohydrate",
            Input::ProteinG => "protein",
            Input::CaffeineMg => "caffeine",
            Input::AlcoholUnits => "alcohol",
            Input::BodyWeightKg => "body weight",
            Input::BodyFatPct => "body fat",
            Input::WorkHours => "work",
            Input::WorkStress => "work stress",
            Input::LoadTss => "training load",
            Input::TrainingHour => "training start time",
        }
    }

    /// "More of it", as a clause: "you sleep more".
    fn more(self) -> &'static str {
        match self {
            Input::SleepS => "you sleep more",
            Input::HrvMs => "your HRV is higher",
            Input::RestingHrBpm => "your resting heart rate is higher",
            Input::Stress => "you feel more stressed",
            Input::EnergyKcal => "you eat more",
            Input::CarbohydrateG => "you eat more carbohydrate",
            Input::ProteinG => "you eat more protein",
            Input::CaffeineMg => "you have more caffeine",
            Input::AlcoholUnits => "you drink more alcohol",
            Input::BodyWeightKg => "you weigh more",
            Input::BodyFatPct => "your body fat is higher",
            Input::WorkHours => "you work longer",
            Input::WorkStress => "work is more stressful",
            Input::LoadTss => "you train harder",
            Input::TrainingHour => "you train later in the day",
        }
    }

    /// The value in the unit people read (sleep in hours), for sentences and plots.
    pub fn display_value(self, value: f64) -> f64 {
        match self {
            Input::SleepS => value / 3600.0,
            _ => value,
        }
    }

    /// The axis label of a plot: "sleep (h)".
    pub fn axis_label(self) -> String {
        let unit = match self {
            Input::SleepS | Input::WorkHours => "h",
            Input::HrvMs => "ms",
            Input::RestingHrBpm => "bpm",
            Input::Stress | Input::WorkStress => "score",
            Input::EnergyKcal => "kcal",
            Input::CarbohydrateG | Input::ProteinG => "g",
            Input::CaffeineMg => "mg",
            Input::AlcoholUnits => "units",
            Input::BodyWeightKg => "kg",
            Input::BodyFatPct => "%",
            Input::LoadTss => "TSS",
            Input::TrainingHour => "hour of day",
        };
        format!("{} ({unit})", self.label())
    }

    /// A value with its unit: "8.3 h", "120 mg", "17:30".
    pub fn format_value(self, value: f64) -> String {
        let v = self.display_value(value);
        match self {
            Input::SleepS | Input::WorkHours => format!("{v:.1} h"),
            Input::HrvMs => format!("{v:.0} ms"),
            Input::RestingHrBpm => format!("{v:.0} bpm"),
            Input::Stress | Input::WorkStress => format!("{v:.0}"),
            Input::EnergyKcal => format!("{v:.0} kcal"),
            Input::CarbohydrateG | Input::ProteinG => format!("{v:.0} g"),
            Input::CaffeineMg => format!("{v:.0} mg"),
            Input::AlcoholUnits => format!("{v:.1} units"),
            Input::BodyWeightKg => format!("{v:.1} kg"),
            Input::BodyFatPct => format!("{v:.1} %"),
            Input::LoadTss => format!("{v:.0} TSS"),
            Input::TrainingHour => {
                let minutes = (v.clamp(0.0, 24.0) * 60.0).round();
                format!("{:02.0}:{:02.0}", (minutes / 60.0).floor(), minutes % 60.0)
            }
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Input {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A training outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Output {
    /// The day's efficiency factor ([`mod@crate::efficiency`]).
    EfficiencyFactor,
    /// The day's aerobic decoupling, %.
    DecouplingPct,
    /// The morning recovery score, 0–100.
    RecoveryScore,
    /// Energy reported at check-in.
    CheckInEnergy,
    /// Mood reported at check-in.
    CheckInMood,
}

impl Output {
    /// Every output, in the order tests run.
    pub const ALL: [Output; 5] = [
        Output::EfficiencyFactor,
        Output::DecouplingPct,
        Output::RecoveryScore,
        Output::CheckInEnergy,
        Output::CheckInMood,
    ];

    /// The stored and serialized name, e.g. `efficiency_factor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Output::EfficiencyFactor => "efficiency_factor",
            Output::DecouplingPct => "decoupling_pct",
            Output::RecoveryScore => "recovery_score",
            Output::CheckInEnergy => "check_in_energy",
            Output::CheckInMood => "check_in_mood",
        }
    }

    /// The output named `name` (see [`Output::as_str`]).
    pub fn parse(name: &str) -> Option<Output> {
        Output::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether a higher value is better (false only for decoupling).
    pub fn higher_is_good(self) -> bool {
        !matches!(self, Output::DecouplingPct)
    }

    /// A noun for it: "aerobic efficiency".
    pub fn label(self) -> &'static str {
        match self {
            Output::EfficiencyFactor => "aerobic efficiency",
            Output::DecouplingPct => "aerobic decoupling",
            Output::RecoveryScore => "recovery score",
            Output::CheckInEnergy => "check-in energy",
            Output::CheckInMood => "check-in mood",
        }
    }

    /// A value as people read it.
    pub fn format_value(self, value: f64) -> String {
        match self {
            Output::EfficiencyFactor => format!("{value:.2}"),
            Output::DecouplingPct => format!("{value:.1} %"),
            Output::RecoveryScore => format!("{value:.0}"),
            Output::CheckInEnergy | Output::CheckInMood => format!("{value:.1}"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Output {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An athlete's days: each input's and output's value by local date. Non-finite values are
/// not stored; setting a date again replaces its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailySeries {
    /// Inputs by date.
    pub inputs: BTreeMap<Input, BTreeMap<Date, f64>>,
    /// Outputs by date.
    pub outputs: BTreeMap<Output, BTreeMap<Date, f64>>,
}

impl DailySeries {
    /// Records `input` on `date`.
    pub fn set_input(&mut self, input: Input, date: Date, value: f64) {
        if value.is_finite() {
            self.inputs.entry(input).or_default().insert(date, value);
        }
    }

    /// Records `output` on `date`.
    pub fn set_output(&mut self, output: Output, date: Date, value: f64) {
        if value.is_finite() {
            self.outputs.entry(output).or_default().insert(date, value);
        }
    }

    /// Only the days from `from` to `to` inclusive (the endpoint's `?days=` window).
    pub fn window(&self, from: Date, to: Date) -> DailySeries {
        let keep = |m: &BTreeMap<Date, f64>| -> BTreeMap<Date, f64> {
            m.range(from..=to).map(|(d, v)| (*d, *v)).collect()
        };
        if from > to {
            return DailySeries::default();
        }
        DailySeries {
            inputs: self.inputs.iter().map(|(k, m)| (*k, keep(m))).collect(),
            outputs: self.outputs.iter().map(|(k, m)| (*k, keep(m))).collect(),
        }
    }

    /// The pairs `(input on d, output on d + lag)`, by input date.
    pub fn pairs(&self, input: Input, output: Output, lag_days: u8) -> Vec<(f64, f64)> {
        let (Some(xs), Some(ys)) = (self.inputs.get(&input), self.outputs.get(&output)) else {
            return Vec::new();
        };
        xs.iter()
            .filter_map(|(d, x)| {
                let day = d.checked_add(Duration::days(i64::from(lag_days)))?;
                ys.get(&day).map(|y| (*x, *y))
            })
            .collect()
    }
}

/// One reported relation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The input.
    pub input: Input,
    /// The output.
    pub output: Output,
    /// Days from the input to the output.
    pub lag_days: u8,
    /// Spearman's rho.
    pub rho: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Benjamini-Hochberg q-value across the athlete's tests.
    pub q: f64,
    /// Paired days.
    pub n: usize,
    /// The finding in plain English (module docs).
    pub sentence: String,
}

impl Finding {
    /// Whether its direction is good for the output.
    pub fn works(&self) -> bool {
        (self.rho > 0.0) == self.output.higher_is_good()
    }
}

/// An athlete's correlations: what helps, what hurts, and how many tests were run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CorrelationReport {
    /// Findings whose direction is good for the output.
    pub what_works: Vec<Finding>,
    /// Findings whose direction is bad for the output.
    pub what_doesnt: Vec<Finding>,
    /// Tests run (each with ≥ 10 pairs, neither side constant).
    pub tested: usize,
}

/// Runs every (input, output, lag) test on `series`, corrects them together and reports
/// q ≤ [`FDR_Q`] (module docs).
pub fn correlations(series: &DailySeries) -> CorrelationReport {
    struct Test {
        input: Input,
        output: Output,
        lag_days: u8,
        rho: f64,
        p: f64,
        pairs: Vec<(f64, f64)>,
    }
    let mut tests = Vec::new();
    for &input in series.inputs.keys() {
        for &output in series.outputs.keys() {
            for lag_days in 0..=MAX_LAG_DAYS {
                let pairs = series.pairs(input, output, lag_days);
                if pairs.len() < MIN_PAIRS {
                    continue;
                }
                let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
                let Some(rho) = spearman(&x, &y) else {
                    continue;
                };
                let Some(p) = spearman_p_value(rho, pairs.len()) else {
                    continue;
                };
                tests.push(Test {
                    input,
                    output,
                    lag_days,
                    rho,
                    p,
                    pairs,
                });
            }
        }
    }
    let q = benjamini_hochberg(&tests.iter().map(|t| t.p).collect::<Vec<_>>());
    let mut findings: Vec<Finding> = tests
        .iter()
        .zip(&q)
        .filter(|(t, q)| **q <= FDR_Q && t.rho != 0.0)
        .map(|(t, &q)| Finding {
            input: t.input,
            output: t.output,
            lag_days: t.lag_days,
            rho: t.rho,
            p: t.p,
            q,
            n: t.pairs.len(),
            sentence: sentence(t.input, t.output, t.lag_days, t.rho, &t.pairs),
        })
        .collect();
    findings.sort_by(|a, b| {
        a.q.total_cmp(&b.q)
            .then(a.p.total_cmp(&b.p))
            .then(b.rho.abs().total_cmp(&a.rho.abs()))
            .then((a.input, a.output, a.lag_days).cmp(&(b.input, b.output, b.lag_days)))
    });
    let (what_works, what_doesnt) = findings.into_iter().partition(Finding::works);
    CorrelationReport {
        what_works,
        what_doesnt,
        tested: tests.len(),
    }
}

/// The output's means above and at-or-below the input's median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianSplit {
    /// The input's median.
    pub median: f64,
    /// Mean output on days with the input above the median.
    pub above_mean: f64,
    /// Mean output on the other days.
    pub rest_mean: f64,
}

/// The median split of `pairs` (module docs); `None` when one side is empty.
pub fn median_split(pairs: &[(f64, f64)]) -> Option<MedianSplit> {
    let mut xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    let median = match xs.len() {
        0 => return None,
        n if n % 2 == 0 => (xs[mid - 1] + xs[mid]) / 2.0,
        _ => xs[mid],
    };
    let mean = |above: bool| {
        let ys: Vec<f64> = pairs
            .iter()
            .filter(|p| (p.0 > median) == above)
            .map(|p| p.1)
            .collect();
        (!ys.is_empty()).then(|| ys.iter().sum::<f64>() / ys.len() as f64)
    };
    Some(MedianSplit {
        median,
        above_mean: mean(true)?,
        rest_mean: mean(false)?,
    })
}

/// The plain-English sentence of a finding (module docs).
pub fn sentence(
    input: Input,
    output: Output,
    lag_days: u8,
    rho: f64,
    pairs: &[(f64, f64)],
) -> String {
    let when = match lag_days {
        0 => format!("On days when {}", input.more()),
        1 => format!("On days after {}", input.more()),
        k => format!("{k} days after {}", input.more()),
    };
    let direction = if rho > 0.0 { "higher" } else { "lower" };
    let mut s = format!(
        "{when}, your {} is {direction} (rho {rho:.2}, {} days).",
        output.label(),
        pairs.len()
    );
    if let Some(split) = median_split(pairs) {
        let later = match lag_days {
            0 => "the same day".to_owned(),
            1 => "the next day".to_owned(),
            k => format!("{k} days later"),
        };
        let diff = split.above_mean - split.rest_mean;
        let change = if output == Output::DecouplingPct {
            Some(format!("{:.1} points", diff.abs()))
        } else if split.rest_mean != 0.0 {
            Some(format!(
                "{:.1} %",
                (diff / split.rest_mean.abs() * 100.0).abs()
            ))
        } else {
            None
        };
        s.push_str(&format!(
            " When {} was over {}, {} {later} averaged {} against {} otherwise",
            input.label(),
            input.format_value(split.median),
            output.label(),
            output.format_value(split.above_mean),
            output.format_value(split.rest_mean),
        ));
        match change {
            Some(c) if diff != 0.0 => {
                let word = if diff > 0.0 { "higher" } else { "lower" };
                s.push_str(&format!(" ({c} {word})."));
            }
            _ => s.push('.'),
        }
    }
    s
}

/// The scatter plot of a finding's pairs from `series` (input in display units across,
/// output up).
pub fn finding_scatter_svg(series: &DailySeries, finding: &Finding) -> String {
    let points: Vec<(f64, f64)> = series
        .pairs(finding.input, finding.output, finding.lag_days)
        .into_iter()
        .map(|(x, y)| (finding.input.display_value(x), y))
        .collect();
    let later = match finding.lag_days {
        0 => "same day".to_owned(),
        1 => "next day".to_owned(),
        k => format!("{k} days later"),
    };
    scatter_svg(
        &format!(
            "{} vs {} ({later}), rho {:.2}",
            finding.input.label(),
            finding.output.label(),
            finding.rho
        ),
        &finding.input.axis_label(),
        &format!("{} ({later})", finding.output.label()),
        &points,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    /// splitmix64: a deterministic stream of uniform numbers in [0, 1) for the tests.
    struct Noise(u64);
    impl Noise {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn next(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A whole number in 0..n.
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next_u64() % n as u64).unwrap()
        }
    }

    fn day(i: i64) -> Date {
        date!(2026 - 08 - 01) + Duration::days(i)
    }

    /// Ten nights of sleep and the next day's EF = 1 + 0.04 × hours.
    fn sleep_and_ef() -> DailySeries {
        let hours = [6.0, 6.5, 7.0, 7.5, 8.0, 8.6, 9.0, 9.5, 10.0, 10.5];
        let mut s = DailySeries::default();
        for (i, h) in hours.iter().enumerate() {
            s.set_input(Input::SleepS, day(i as i64), h * 3600.0);
            s.set_output(Output::EfficiencyFactor, day(i as i64 + 1), 1.0 + 0.04 * h);
        }
        s
    }

    #[test]
    fn a_perfect_lag_one_relation_is_found_and_worded() {
        // Lag 1 pairs all ten nights (rho 1, p 0, q 0); lags 0 and 2 have 9 pairs and lag
        // 3 has 8, under the minimum of 10: one test.
        // Median split: sorted hours 6 … 8, 8.6 … 10.5, median (8 + 8.6)/2 = 8.3 h;
        // below: mean 7 h → EF 1.28; above: (8.6 + 9 + 9.5 + 10 + 10.5)/5 = 9.52 h →
        // EF 1.3808; difference 0.1008 ÷ 1.28 = 7.875 % → "7.9 %".
        let report = correlations(&sleep_and_ef());
        assert_eq!(report.tested, 1);
        assert!(report.what_doesnt.is_empty());
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            "{\"what_works\":[{\"input\":\"sleep_s\",\"output\":\"efficiency_factor\",\
             \"lag_days\":1,\"rho\":1.0,\"p\":0.0,\"q\":0.0,\"n\":10,\"sentence\":\
             \"On days after you sleep more, your aerobic efficiency is higher (rho 1.00, \
             10 days). When sleep was over 8.3 h, aerobic efficiency the next day averaged \
             1.38 against 1.28 otherwise (7.9 % higher).\"}],\"what_doesnt\":[],\"tested\":1}"
        );
    }

    #[test]
    fn direction_decides_works_or_not() {
        // Alcohol up → EF down: doesn't work. Sleep up → decoupling down: works.
        let mut s = DailySeries::default();
        for i in 0..12 {
            let x = f64::from(i);
            s.set_input(Input::AlcoholUnits, day(i.into()), x);
            s.set_output(Output::EfficiencyFactor, day(i.into()), 2.0 - 0.05 * x);
        }
        let report = correlations(&s);
        assert_eq!(report.what_works.len(), 0);
        let f = &report.what_doesnt[0];
        assert_eq!(
            (f.input, f.output, f.lag_days, f.rho),
            (Input::AlcoholUnits, Output::EfficiencyFactor, 0, -1.0)
        );
        assert!(f.sentence.starts_with("On days when you drink more alcohol, your aerobic efficiency is lower (rho -1.00, 12 days)."), "{}", f.sentence);

        let f = Finding {
            input: Input::SleepS,
            output: Output::DecouplingPct,
            lag_days: 0,
            rho: -0.6,
            p: 0.01,
            q: 0.05,
            n: 20,
            sentence: String::new(),
        };
        assert!(f.works());
    }

    #[test]
    fn decoupling_differences_are_in_points() {
        // x 1..10, decoupling 10 − x %: median 5.5; above (6..10) mean decoupling 2 %,
        // rest (1..5) 7 %: 5.0 points lower.
        let pairs: Vec<(f64, f64)> = (1..=10)
            .map(|i| (f64::from(i), 10.0 - f64::from(i)))
            .collect();
        assert_eq!(
            sentence(Input::WorkHours, Output::DecouplingPct, 2, -1.0, &pairs),
            "2 days after you work longer, your aerobic decoupling is lower (rho -1.00, 10 days). \
             When work was over 5.5 h, aerobic decoupling 2 days later averaged 2.0 % against \
             7.0 % otherwise (5.0 points lower)."
        );
    }

    #[test]
    fn too_few_pairs_and_constant_sides_are_not_tested() {
        let mut s = DailySeries::default();
        for i in 0..9 {
            s.set_input(Input::CaffeineMg, day(i), i as f64);
            s.set_output(Output::CheckInMood, day(i), i as f64);
        }
        assert_eq!(correlations(&s).tested, 0);
        // 12 days, but the mood is always 3: no rho.
        for i in 0..12 {
            s.set_input(Input::CaffeineMg, day(i), i as f64);
            s.set_output(Output::CheckInMood, day(i), 3.0);
        }
        assert_eq!(correlations(&s).tested, 0);
    }

    /// 120 days; `planted` makes EF on day d+1 follow HRV on day d (plus noise).
    fn generated(seed: u64, planted: bool) -> DailySeries {
        let mut noise = Noise(seed);
        let mut s = DailySeries::default();
        let inputs = [
            Input::SleepS,
            Input::HrvMs,
            Input::CaffeineMg,
            Input::LoadTss,
        ];
        let outputs = [
            Output::EfficiencyFactor,
            Output::RecoveryScore,
            Output::CheckInMood,
        ];
        let mut hrv = Vec::new();
        for d in 0..120 {
            for (k, input) in inputs.iter().enumerate() {
                let v = 50.0 + 40.0 * noise.next() + k as f64;
                if *input == Input::HrvMs {
                    hrv.push(v);
                }
                s.set_input(*input, day(d), v);
            }
        }
        for d in 0..120usize {
            for output in outputs {
                let mut v = noise.next();
                if planted && output == Output::EfficiencyFactor && d > 0 {
                    v = 0.01 * hrv[d - 1] + 0.3 * v;
                }
                s.set_output(output, day(d as i64), v);
            }
        }
        s
    }

    #[test]
    fn a_planted_lag_one_relation_is_found_with_its_sign_and_lag() {
        let report = correlations(&generated(7, true));
        // 4 inputs × 3 outputs × 4 lags, all with ≥ 116 pairs.
        assert_eq!(report.tested, 48);
        let planted = report
            .what_works
            .iter()
            .find(|f| f.input == Input::HrvMs && f.output == Output::EfficiencyFactor)
            .expect("the planted relation");
        assert_eq!(planted.lag_days, 1);
        assert!(planted.rho > 0.5 && planted.q <= FDR_Q, "{planted:?}");
        assert_eq!(planted.n, 119);
    }

    #[test]
    fn shuffled_data_reports_findings_no_more_often_than_the_fdr_allows() {
        // Under no relation at all BH bounds the chance of any finding by 0.10; over 40
        // independent athletes that is 4 expected. Allow up to 8 (P(≥ 9) ≈ 0.04 under
        // Binomial(40, 0.1)); the seeds are fixed, so the test is deterministic.
        let with_findings = (0..40)
            .filter(|seed| {
                let r = correlations(&generated(1000 + seed, false));
                !(r.what_works.is_empty() && r.what_doesnt.is_empty())
            })
            .count();
        assert!(
            with_findings <= 8,
            "{with_findings} of 40 null athletes had findings"
        );
    }

    #[test]
    fn shuffled_planted_data_reports_findings_no_more_often_than_the_fdr_allows() {
        // The planted athlete with EF's values shuffled across its days (Fisher-Yates,
        // 40 fixed shuffles): the relation is gone, so findings may appear in at most
        // about 10 % of the shuffles; allow 8 of 40 as above.
        let planted = generated(7, true);
        let ef = &planted.outputs[&Output::EfficiencyFactor];
        let dates: Vec<Date> = ef.keys().copied().collect();
        let with_findings = (0..40u64)
            .filter(|seed| {
                let mut values: Vec<f64> = ef.values().copied().collect();
                let mut noise = Noise(5000 + seed);
                for i in (1..values.len()).rev() {
                    let j = noise.below(i + 1);
                    values.swap(i, j);
                }
                let mut shuffled = planted.clone();
                shuffled.outputs.insert(
                    Output::EfficiencyFactor,
                    dates.iter().copied().zip(values).collect(),
                );
                let r = correlations(&shuffled);
                !(r.what_works.is_empty() && r.what_doesnt.is_empty())
            })
            .count();
        assert!(
            with_findings <= 8,
            "{with_findings} of 40 shuffles had findings"
        );
    }

    #[test]
    fn a_window_keeps_its_days() {
        // Days 0..10 of sleep_and_ef: inputs on days 0–9, outputs on 1–10. The window
        // 2..=6 keeps inputs 2–6 and outputs 2–6: lag-1 pairs (2,3) … (5,6) = 4.
        let s = sleep_and_ef().window(day(2), day(6));
        assert_eq!(s.inputs[&Input::SleepS].len(), 5);
        assert_eq!(s.pairs(Input::SleepS, Output::EfficiencyFactor, 1).len(), 4);
        assert!(sleep_and_ef().window(day(6), day(2)).inputs.is_empty());
    }

    #[test]
    fn names_round_trip() {
        for i in Input::ALL {
            assert_eq!(Input::parse(i.as_str()), Some(i));
        }
        for o in Output::ALL {
            assert_eq!(Output::parse(o.as_str()), Some(o));
        }
        assert_eq!(Input::TrainingHour.format_value(17.5), "17:30");
    }

    #[test]
    fn a_finding_has_a_plot() {
        let s = sleep_and_ef();
        let report = correlations(&s);
        let svg = finding_scatter_svg(&s, &report.what_works[0]);
        assert_eq!(svg.matches("<circle").count(), 10);
        assert!(svg.contains("sleep (h)"));
        assert!(svg.contains("sleep vs aerobic efficiency (next day), rho 1.00"));
    }

    proptest! {
        #[test]
        fn findings_are_consistent(values in proptest::collection::vec((0.0f64..10.0, 0.0f64..10.0), 0..40)) {
            let mut s = DailySeries::default();
            for (i, (x, y)) in values.iter().enumerate() {
                s.set_input(Input::Stress, day(i as i64), x.round());
                s.set_output(Output::CheckInEnergy, day(i as i64), y.round());
            }
            let r = correlations(&s);
            prop_assert!(r.tested <= 4);
            for f in r.what_works.iter().chain(&r.what_doesnt) {
                prop_assert!(f.q <= FDR_Q && f.q >= f.p && (-1.0..=1.0).contains(&f.rho));
                prop_assert!(f.n >= MIN_PAIRS);
            }
        }
    }
}
