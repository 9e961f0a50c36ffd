//! Aerobic efficiency of one activity, and its trend over weeks.
//!
//! Why: the same heart rate buying more power (or more pace) over the weeks is the plainest
//! sign that aerobic fitness is improving, and a heart rate that drifts up while the output
//! stays level (decoupling) says the athlete's endurance ran out before the workout did.
//!
//! - **Samples** arrive as 1 Hz channels ([`Samples`]); a channel that was not recorded is
//!   an empty vector, a gap inside one is `None`. A sample is *valid* when its heart rate is
//!   in 30–240 bpm and, for rides, its power is in 0–3,000 W (coasting at 0 W counts) or,
//!   for runs, its speed is in 0.5–12 m/s (standing still does not count). Everything below
//!   is computed over the valid samples in order, the invalid ones skipped.
//! - **Minimum data**: at least [`MIN_VALID_SAMPLES`] valid samples (20 min); otherwise
//!   [`NotComputable`] says why.
//! - **Efficiency factor (EF)**: rides `NP ÷ mean HR` (W/bpm), NP being the fourth-power
//!   mean of the 30-sample rolling mean of power; runs `mean grade-adjusted speed ÷ mean HR`
//!   with the speed in m/min ((m/min)/bpm, the usual scale, about 1–2).
//! - **Grade-adjusted speed (GAP)**: Minetti et al. (2002), energy cost of running on a
//!   grade `i` (rise ÷ run), J/kg/m:
//!   `C(i) = 155.4 i⁵ − 30.4 i⁴ − 43.3 i³ + 46.3 i² + 19.5 i + 3.6`, so a speed `v` on grade
//!   `i` costs what `v · C(i) ÷ C(0)` costs on the flat. The grade of a sample is the
//!   altitude change over a centred window of ±5 samples (trimmed at the ends) divided by
//!   the distance run in it (speed × Δt), clamped to ±0.45 (the range the polynomial was
//!   fitted on); 0 when altitude is missing at either end or under 1 m was covered. Without
//!   altitude a run is taken as flat and [`Efficiency::grade_adjusted`] is false.
//! - **Aerobic decoupling**: the valid samples split in two halves by count; each half's EF
//!   as above; `(EF₁ − EF₂) ÷ EF₁ × 100` %. Positive means the heart rate drifted up (or the
//!   output down) in the second half; under 5 % is the usual mark of good endurance.
//! - **Output at a fixed HR** ([`output_at_hr`]): the median power (W) or grade-adjusted
//!   speed (m/min) over the valid samples whose HR is within ±[`AT_HR_TOLERANCE_BPM`] of the
//!   given HR, needing [`MIN_AT_HR_SAMPLES`] of them.
//! - **Trend** ([`weekly_trend`]): the mean EF of each ISO week (Monday start) that has
//!   activities, and the least-squares slope of those means against the week number, EF per
//!   week (weeks without activities are left out, not counted as zero); [`trend_svg`] draws
//!   it as a line chart.

use time::{Date, Duration};

/// Fewest valid samples (seconds at 1 Hz) an activity needs for its efficiency: 20 min.
pub const MIN_VALID_SAMPLES: usize = 20 * 60;
/// Most samples one activity may have: 24 h at 1 Hz.
pub const MAX_SAMPLES: usize = 24 * 3600;
/// Samples in NP's rolling mean.
pub const NP_WINDOW_SAMPLES: usize = 30;
/// Half-width of the grade window, samples.
pub const GRADE_HALF_WINDOW: usize = 5;
/// Grades beyond this are clamped (Minetti's fitted range).
pub const MAX_GRADE: f64 = 0.45;
/// Tolerance of [`output_at_hr`], bpm either side.
pub const AT_HR_TOLERANCE_BPM: f64 = 3.0;
/// Fewest samples within the tolerance [`output_at_hr`] needs: one minute.
pub const MIN_AT_HR_SAMPLES: usize = 60;

/// The sport an activity's efficiency is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sport {
    /// Cycling, with power.
    Ride,
    /// Running, with speed (and altitude for the grade).
    Run,
}

impl Sport {
    /// The stored name: `ride`, `run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Ride => "ride",
            Sport::Run => "run",
        }
    }

    /// The sport named `name` (see [`Sport::as_str`]).
    pub fn parse(name: &str) -> Option<Sport> {
        [Sport::Ride, Sport::Run]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One activity's samples at 1 Hz. Every recorded channel has the length of `time_s`; a
/// channel that was not recorded is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Seconds since the start, one per sample, non-decreasing.
    pub time_s: Vec<u32>,
    /// Power, W.
    pub power_w: Vec<Option<f64>>,
    /// Heart rate, bpm.
    pub hr_bpm: Vec<Option<f64>>,
    /// Speed, m/s.
    pub speed_m_s: Vec<Option<f64>>,
    /// Altitude, m.
    pub altitude_m: Vec<Option<f64>>,
}

/// Why an activity's efficiency (or its output at a fixed HR) could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotComputable {
    /// More samples than [`MAX_SAMPLES`].
    #[error("the activity has {samples} samples, more than the {max} (24 h) allowed")]
    TooLong {
        /// Samples given.
        samples: usize,
        /// The cap.
        max: usize,
    },
    /// A recorded channel's length differs from `time_s`.
    #[error("the {channel} channel has {len} samples but time_s has {expected}")]
    LengthMismatch {
        /// The channel's name.
        channel: &'static str,
        /// Its length.
        len: usize,
        /// The length of `time_s`.
        expected: usize,
    },
    /// A channel the sport needs was not recorded.
    #[error("no {channel} was recorded")]
    MissingChannel {
        /// The channel's name.
        channel: &'static str,
    },
    /// Too few valid samples.
    #[error("only {valid_s} s of valid samples; at least {required_s} s are needed")]
    TooFewValidSamples {
        /// Valid samples found (s).
        valid_s: usize,
        /// The minimum (s).
        required_s: usize,
    },
    /// Too few samples near the asked heart rate.
    #[error("only {found} s within ±3 bpm of {hr_bpm} bpm; at least {required} s are needed")]
    TooFewAtHr {
        /// The asked heart rate.
        hr_bpm: f64,
        /// Samples within the tolerance.
        found: usize,
        /// The minimum.
        required: usize,
    },
}

/// An activity's efficiency (module docs give the formulas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiency {
    /// The sport it was computed for.
    pub sport: Sport,
    /// EF: W/bpm for rides, (m/min)/bpm for runs.
    pub efficiency_factor: f64,
    /// Aerobic decoupling, %: positive = drift.
    pub decoupling_pct: f64,
    /// NP (W) for rides, mean grade-adjusted speed (m/min) for runs.
    pub output: f64,
    /// Mean heart rate over the valid samples, bpm.
    pub mean_hr_bpm: f64,
    /// Valid samples used (s).
    pub valid_samples: usize,
    /// Runs: whether altitude was there to adjust for grade (always false for rides).
    pub grade_adjusted: bool,
}

/// One valid sample: the output it counts (W, or grade-adjusted m/min) and its HR.
#[derive(Debug, Clone, Copy)]
struct Point {
    output: f64,
    hr_bpm: f64,
}

/// The activity's efficiency factor and decoupling, or why they cannot be computed.
pub fn efficiency(sport: Sport, samples: &Samples) -> Result<Efficiency, NotComputable> {
    let (points, grade_adjusted) = valid_points(sport, samples)?;
    if points.len() < MIN_VALID_SAMPLES {
        return Err(NotComputable::TooFewValidSamples {
            valid_s: points.len(),
            required_s: MIN_VALID_SAMPLES,
        });
    }
    let half = points.len() / 2;
    let (whole, mean_hr_bpm, output) = ef(sport, &points);
    let (first, _, _) = ef(sport, &points[..half]);
    let (second, _, _) = ef(sport, &points[half..]);
    Ok(Efficiency {
        sport,
        efficiency_factor: whole,
        decoupling_pct: (first - second) / first * 100.0,
        output,
        mean_hr_bpm,
        valid_samples: points.len(),
        grade_adjusted,
    })
}

/// The median power (rides, W) or grade-adjusted speed (runs, m/min) over the valid samples
/// within ±[`AT_HR_TOLERANCE_BPM`] of `hr_bpm`.
pub fn output_at_hr(sport: Sport, samples: &Samples, hr_bpm: f64) -> Result<f64, NotComputable> {
    let (points, _) = valid_points(sport, samples)?;
    let mut near: Vec<f64> = points
        .iter()
        .filter(|p| (p.hr_bpm - hr_bpm).abs() <= AT_HR_TOLERANCE_BPM)
        .map(|p| p.output)
        .collect();
    if near.len() < MIN_AT_HR_SAMPLES {
        return Err(NotComputable::TooFewAtHr {
            hr_bpm,
            found: near.len(),
            required: MIN_AT_HR_SAMPLES,
        });
    }
    near.sort_by(f64::total_cmp);
    let mid = near.len() / 2;
    Ok(if near.len().is_multiple_of(2) {
        (near[mid - 1] + near[mid]) / 2.0
    } else {
        near[mid]
    })
}

/// Normalized power of a power series: the fourth-power mean of its 30-sample rolling mean.
/// `None` with fewer than 30 samples.
pub fn normalized_power(power_w: &[f64]) -> Option<f64> {
    if power_w.len() < NP_WINDOW_SAMPLES {
        return None;
    }
    let mut sum: f64 = power_w[..NP_WINDOW_SAMPLES].iter().sum();
    let mut fourth = (sum / NP_WINDOW_SAMPLES as f64).powi(4);
    for i in NP_WINDOW_SAMPLES..power_w.len() {
        sum += power_w[i] - power_w[i - NP_WINDOW_SAMPLES];
        fourth += (sum / NP_WINDOW_SAMPLES as f64).powi(4);
    }
    let windows = (power_w.len() - NP_WINDOW_SAMPLES + 1) as f64;
    Some((fourth / windows).powf(0.25))
}

/// Minetti's energy cost of running on `grade` (rise ÷ run), J/kg/m.
pub fn running_cost_j_per_kg_m(grade: f64) -> f64 {
    let i = grade.clamp(-MAX_GRADE, MAX_GRADE);
    155.4 * i.powi(5) - 30.4 * i.powi(4) - 43.3 * i.powi(3) + 46.3 * i.powi(2) + 19.5 * i + 3.6
}

/// The flat speed that costs what `speed_m_s` costs on `grade`: `v · C(i) ÷ C(0)`.
pub fn grade_adjusted_speed_m_s(speed_m_s: f64, grade: f64) -> f64 {
    speed_m_s * running_cost_j_per_kg_m(grade) / running_cost_j_per_kg_m(0.0)
}

/// EF, mean HR and output (NP or mean GAP) of a run of valid points (≥ 30 of them).
fn ef(sport: Sport, points: &[Point]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let mean_hr = points.iter().map(|p| p.hr_bpm).sum::<f64>() / n;
    let output = match sport {
        Sport::Ride => {
            let power: Vec<f64> = points.iter().map(|p| p.output).collect();
            normalized_power(&power).unwrap_or(0.0)
        }
        Sport::Run => points.iter().map(|p| p.output).sum::<f64>() / n,
    };
    (output / mean_hr, mean_hr, output)
}

fn check_channel<T>(
    channel: &'static str,
    values: &[T],
    expected: usize,
    required: bool,
) -> Result<bool, NotComputable> {
    if values.is_empty() {
        if required && expected > 0 {
            return Err(NotComputable::MissingChannel { channel });
        }
        return Ok(false);
    }
    if values.len() != expected {
        return Err(NotComputable::LengthMismatch {
            channel,
            len: values.len(),
            expected,
        });
    }
    Ok(true)
}

fn in_range(value: Option<f64>, low: f64, high: f64) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= low && *v <= high)
}

/// The valid points of an activity in order, and whether runs were grade-adjusted.
fn valid_points(sport: Sport, s: &Samples) -> Result<(Vec<Point>, bool), NotComputable> {
    let n = s.time_s.len();
    if n > MAX_SAMPLES {
        return Err(NotComputable::TooLong {
            samples: n,
            max: MAX_SAMPLES,
        });
    }
    check_channel("heart rate", &s.hr_bpm, n, true)?;
    check_channel("power", &s.power_w, n, sport == Sport::Ride)?;
    check_channel("speed", &s.speed_m_s, n, sport == Sport::Run)?;
    let has_altitude = check_channel("altitude", &s.altitude_m, n, false)?;
    let grades = if sport == Sport::Run && has_altitude {
        grades(s)
    } else {
        vec![0.0; n]
    };
    let points = (0..n)
        .filter_map(|i| {
            let hr_bpm = in_range(s.hr_bpm[i], 30.0, 240.0)?;
            let output = match sport {
                Sport::Ride => in_range(s.power_w[i], 0.0, 3000.0)?,
                Sport::Run => {
                    let v = in_range(s.speed_m_s[i], 0.5, 12.0)?;
                    grade_adjusted_speed_m_s(v, grades[i]) * 60.0
                }
            };
            Some(Point { output, hr_bpm })
        })
        .collect();
    Ok((points, sport == Sport::Run && has_altitude))
}

/// The grade at each sample (module docs): altitude change over a centred ±5-sample window
/// divided by the distance covered in it.
fn grades(s: &Samples) -> Vec<f64> {
    let n = s.time_s.len();
    // distance_m[j]: cumulative distance at sample j (speed × Δt, Δt clamped to 0–10 s so a
    // pause in recording does not invent distance).
    let mut distance_m = vec![0.0; n];
    for j in 1..n {
        let dt = f64::from(s.time_s[j].saturating_sub(s.time_s[j - 1])).min(10.0);
        let v = in_range(s.speed_m_s[j], 0.0, 12.0).unwrap_or(0.0);
        distance_m[j] = distance_m[j - 1] + v * dt;
    }
    (0..n)
        .map(|i| {
            let a = i.saturating_sub(GRADE_HALF_WINDOW);
            let b = (i + GRADE_HALF_WINDOW).min(n - 1);
            let run_m = distance_m[b] - distance_m[a];
            match (s.altitude_m[a], s.altitude_m[b]) {
                (Some(lo), Some(hi)) if run_m >= 1.0 && lo.is_finite() && hi.is_finite() => {
                    ((hi - lo) / run_m).clamp(-MAX_GRADE, MAX_GRADE)
                }
                _ => 0.0,
            }
        })
        .collect()
}

/// One week's mean efficiency factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeekEfficiency {
    /// The Monday the week starts on.
    pub week_start: Date,
    /// Mean EF of the week's activities.
    pub mean_ef: f64,
    /// Activities that week.
    pub activities: usize,
}

/// Weekly mean EF and its least-squares slope.
#[derive(Debug, Clone, PartialEq)]
pub struct EfficiencyTrend {
    /// Weeks with at least one activity, oldest first.
    pub weeks: Vec<WeekEfficiency>,
    /// EF change per week (least squares over the weekly means); `None` under two weeks.
    pub slope_per_week: Option<f64>,
}

/// The Monday on or before `date`.
pub fn week_start(date: Date) -> Date {
    date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
}

/// The weekly trend of activities' EF (`(date, ef)` in any order; non-finite EF ignored).
/// Mix only one sport's EFs: a ride's W/bpm and a run's (m/min)/bpm are different scales.
pub fn weekly_trend(points: &[(Date, f64)]) -> EfficiencyTrend {
    let mut by_week: std::collections::BTreeMap<Date, (f64, usize)> = Default::default();
    for (date, ef) in points.iter().filter(|(_, ef)| ef.is_finite()) {
        let entry = by_week.entry(week_start(*date)).or_insert((0.0, 0));
        entry.0 += ef;
        entry.1 += 1;
    }
    let weeks: Vec<WeekEfficiency> = by_week
        .into_iter()
        .map(|(week_start, (sum, count))| WeekEfficiency {
            week_start,
            mean_ef: sum / count as f64,
            activities: count,
        })
        .collect();
    let slope_per_week = weeks.first().and_then(|first| {
        let xy: Vec<(f64, f64)> = weeks
            .iter()
            .map(|w| {
                (
                    (w.week_start - first.week_start).whole_weeks() as f64,
                    w.mean_ef,
                )
            })
            .collect();
        least_squares_slope(&xy)
    });
    EfficiencyTrend {
        weeks,
        slope_per_week,
    }
}

/// The weekly trend as a line chart: weeks since the first across, mean EF up, titled with
/// the slope. `unit` names the EF's unit ("W/bpm" for rides, "(m/min)/bpm" for runs).
pub fn trend_svg(trend: &EfficiencyTrend, unit: &str) -> String {
    let first = trend.weeks.first().map(|w| w.week_start);
    let points: Vec<(f64, f64)> = trend
        .weeks
        .iter()
        .map(|w| {
            let weeks = first.map_or(0, |f| (w.week_start - f).whole_weeks());
            (weeks as f64, w.mean_ef)
        })
        .collect();
    let title = match trend.slope_per_week {
        Some(slope) => format!("Efficiency factor by week ({slope:+.3} per week)"),
        None => "Efficiency factor by week".to_owned(),
    };
    let x_label = match first {
        Some(f) => format!("weeks since {f}"),
        None => "weeks".to_owned(),
    };
    crate::chart::line_svg(&title, &x_label, &format!("mean EF ({unit})"), &points)
}

/// The least-squares slope of `y` on `x`; `None` with under two points or no spread in `x`.
pub fn least_squares_slope(xy: &[(f64, f64)]) -> Option<f64> {
    if xy.len() < 2 {
        return None;
    }
    let n = xy.len() as f64;
    let mean_x = xy.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = xy.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = xy.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} is not within {tol} of {b}");
    }

    fn ride(power_w: impl Fn(usize) -> f64, hr: impl Fn(usize) -> f64, n: usize) -> Samples {
        Samples {
            time_s: (0..n).map(|i| u32::try_from(i).unwrap()).collect(),
            power_w: (0..n).map(|i| Some(power_w(i))).collect(),
            hr_bpm: (0..n).map(|i| Some(hr(i))).collect(),
            ..Samples::default()
        }
    }

    fn run(speed: f64, climb_m_per_s: f64, hr: f64, n: usize) -> Samples {
        Samples {
            time_s: (0..n).map(|i| u32::try_from(i).unwrap()).collect(),
            hr_bpm: vec![Some(hr); n],
            speed_m_s: vec![Some(speed); n],
            altitude_m: (0..n)
                .map(|i| Some(100.0 + climb_m_per_s * i as f64))
                .collect(),
            ..Samples::default()
        }
    }

    #[test]
    fn steady_ride_ef_is_power_over_hr_with_no_decoupling() {
        // 20 min at 200 W and 140 bpm: NP 200, EF = 200 / 140 = 1.428571, halves equal.
        let e = efficiency(Sport::Ride, &ride(|_| 200.0, |_| 140.0, 1200)).unwrap();
        close(e.efficiency_factor, 1.428_571, 1e-6);
        close(e.decoupling_pct, 0.0, 1e-9);
        assert_eq!(e.valid_samples, 1200);
    }

    #[test]
    fn heart_rate_drift_is_positive_decoupling() {
        // 200 W throughout; HR 140 for 600 s then 150: EF₁ = 200/140 = 1.428571,
        // EF₂ = 200/150 = 1.333333, decoupling = 1 − 140/150 = 6.6667 %;
        // whole EF = 200 / 145 = 1.379310.
        let e = efficiency(
            Sport::Ride,
            &ride(|_| 200.0, |i| if i < 600 { 140.0 } else { 150.0 }, 1200),
        )
        .unwrap();
        close(e.decoupling_pct, 6.666_667, 1e-5);
        close(e.efficiency_factor, 1.379_310, 1e-6);
        close(e.mean_hr_bpm, 145.0, 1e-9);
    }

    #[test]
    fn normalized_power_of_a_step() {
        // 30 s at 0 W then 30 s at 300 W: 31 windows, the k-th (k = 0..30) holding k
        // samples of 300 W, mean 10k W. Σ(10k)⁴ = 10⁴ · Σk⁴ = 10⁴ · 30·31·61·2789/30
        // = 10⁴ · 5,273,999; ÷ 31 = 1.701290e9; fourth root = 203.0925 W.
        let mut p = vec![0.0; 30];
        p.extend([300.0; 30]);
        close(normalized_power(&p).unwrap(), 203.0925, 1e-3);
        assert_eq!(normalized_power(&[100.0; 29]), None);
    }

    #[test]
    fn flat_run_ef_is_speed_in_m_per_min_over_hr() {
        // 3 m/s = 180 m/min at 150 bpm: EF 1.2.
        let e = efficiency(Sport::Run, &run(3.0, 0.0, 150.0, 1200)).unwrap();
        close(e.efficiency_factor, 1.2, 1e-9);
        assert!(e.grade_adjusted);
    }

    #[test]
    fn uphill_run_is_grade_adjusted_by_minetti() {
        // 3 m/s climbing 0.15 m/s: grade 0.05. C(0.05) = 155.4·0.05⁵ − 30.4·0.05⁴
        // − 43.3·0.05³ + 46.3·0.05² + 19.5·0.05 + 3.6 = 0.0000486 − 0.00019 − 0.0054125
        // + 0.11575 + 0.975 + 3.6 = 4.6851961; ÷ 3.6 = 1.3014434.
        // GAP = 3 · 1.3014434 · 60 = 234.2598 m/min; EF = ÷ 150 = 1.561732.
        close(running_cost_j_per_kg_m(0.05), 4.685_196_1, 1e-7);
        let e = efficiency(Sport::Run, &run(3.0, 0.15, 150.0, 1200)).unwrap();
        close(e.efficiency_factor, 1.561_732, 1e-5);
        // Downhill −0.05: C = −0.0000486 − 0.00019 + 0.0054125 + 0.11575 − 0.975 + 3.6
        // = 2.7459239, ratio 0.7627566.
        close(grade_adjusted_speed_m_s(1.0, -0.05), 0.762_756_6, 1e-6);
    }

    #[test]
    fn a_run_without_altitude_is_taken_as_flat() {
        let mut s = run(3.0, 0.15, 150.0, 1200);
        s.altitude_m.clear();
        let e = efficiency(Sport::Run, &s).unwrap();
        close(e.efficiency_factor, 1.2, 1e-9);
        assert!(!e.grade_adjusted);
    }

    #[test]
    fn reasons_when_not_computable() {
        // 19 min 59 s of data: one short.
        assert_eq!(
            efficiency(Sport::Ride, &ride(|_| 200.0, |_| 140.0, 1199)),
            Err(NotComputable::TooFewValidSamples {
                valid_s: 1199,
                required_s: 1200
            })
        );
        // 30 min, but HR drops out (None) for 11 min: 19 min valid.
        let mut s = ride(|_| 200.0, |_| 140.0, 1800);
        for hr in &mut s.hr_bpm[0..660] {
            *hr = None;
        }
        assert_eq!(
            efficiency(Sport::Ride, &s),
            Err(NotComputable::TooFewValidSamples {
                valid_s: 1140,
                required_s: 1200
            })
        );
        let mut s = ride(|_| 200.0, |_| 140.0, 1200);
        s.power_w.clear();
        assert_eq!(
            efficiency(Sport::Ride, &s),
            Err(NotComputable::MissingChannel { channel: "power" })
        );
        s.power_w = vec![Some(1.0); 3];
        assert_eq!(
            efficiency(Sport::Ride, &s).unwrap_err().to_string(),
            "the power channel has 3 samples but time_s has 1200"
        );
        // A run standing still (0.2 m/s) has no valid samples.
        assert!(matches!(
            efficiency(Sport::Run, &run(0.2, 0.0, 150.0, 1200)),
            Err(NotComputable::TooFewValidSamples { valid_s: 0, .. })
        ));
    }

    #[test]
    fn power_at_a_fixed_heart_rate_is_the_median_nearby() {
        // 600 s at 200 W / 140 bpm then 600 s at 250 W / 150 bpm.
        let s = ride(
            |i| if i < 600 { 200.0 } else { 250.0 },
            |i| if i < 600 { 140.0 } else { 150.0 },
            1200,
        );
        close(output_at_hr(Sport::Ride, &s, 141.0).unwrap(), 200.0, 1e-9);
        // 148 ± 3 = 145..151 holds only the 150-bpm samples.
        close(output_at_hr(Sport::Ride, &s, 148.0).unwrap(), 250.0, 1e-9);
        // 145 ± 3 = 142..148 holds none.
        assert_eq!(
            output_at_hr(Sport::Ride, &s, 145.0),
            Err(NotComputable::TooFewAtHr {
                hr_bpm: 145.0,
                found: 0,
                required: 60
            })
        );
        // An even count takes the mean of the middle two: HR 140 for samples 0..599 and
        // 143 for 600..1199 with powers 200 and 210, asked at 141.5 (138.5..144.5): all
        // 1,200 samples, middle two 200 and 210 → 205.
        let s = ride(
            |i| if i < 600 { 200.0 } else { 210.0 },
            |i| if i < 600 { 140.0 } else { 143.0 },
            1200,
        );
        close(output_at_hr(Sport::Ride, &s, 141.5).unwrap(), 205.0, 1e-9);
    }

    #[test]
    fn weekly_trend_means_and_slope() {
        // Week of Mon 2 Nov: 1.40, 1.42 → 1.41 (x 0); week of 9 Nov: 1.44 (x 1); none the
        // week of 16 Nov; week of 23 Nov: 1.50 (x 3). Means x̄ = 4/3, ȳ = 1.45;
        // Sxx = (16 + 1 + 25)/9 = 42/9; Sxy = (0.16 + 0.01 + 0.25)/3 = 0.14;
        // slope = 0.14 ÷ 42/9 = 0.03 EF per week.
        let t = weekly_trend(&[
            (date!(2026 - 11 - 04), 1.42),
            (date!(2026 - 11 - 02), 1.40),
            (date!(2026 - 11 - 15), 1.44),
            (date!(2026 - 11 - 26), 1.50),
        ]);
        assert_eq!(t.weeks.len(), 3);
        assert_eq!(t.weeks[1].week_start, date!(2026 - 11 - 09));
        close(t.weeks[0].mean_ef, 1.41, 1e-12);
        assert_eq!(t.weeks[0].activities, 2);
        close(t.slope_per_week.unwrap(), 0.03, 1e-12);
        assert_eq!(
            weekly_trend(&[(date!(2026 - 11 - 04), 1.4)]).slope_per_week,
            None
        );
    }

    proptest! {
        #[test]
        fn efficiency_never_panics(
            n in 0usize..1500,
            hr in proptest::option::of(-10.0f64..300.0),
            power in proptest::option::of(-10.0f64..4000.0),
            speed in proptest::option::of(-1.0f64..15.0),
            climb in -5.0f64..5.0,
            run_sport in any::<bool>(),
        ) {
            let s = Samples {
                time_s: (0..n).map(|i| u32::try_from(i).unwrap()).collect(),
                hr_bpm: vec![hr; n],
                power_w: vec![power; n],
                speed_m_s: vec![speed; n],
                altitude_m: (0..n).map(|i| Some(climb * i as f64)).collect(),
            };
            let sport = if run_sport { Sport::Run } else { Sport::Ride };
            if let Ok(e) = efficiency(sport, &s) {
                prop_assert!(e.efficiency_factor.is_finite());
                prop_assert!(e.valid_samples >= MIN_VALID_SAMPLES);
            }
            let _ = output_at_hr(sport, &s, 150.0);
        }
    }
}
