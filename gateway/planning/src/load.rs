//! Training load over time: fitness (CTL), fatigue (ATL), form (TSB) and the acute:chronic
//! workload ratio (ACWR), from the daily training load in TSS.
//!
//! - A day's load is the sum of every entry dated that day (an athlete may train twice);
//!   a day without an entry is a rest day, 0. An entry that is negative or not finite
//!   counts as 0.
//! - CTL and ATL are exponentially weighted moving averages with time constants of 42 and
//!   7 days: `CTL_d = CTL_{d−1} + (TSS_d − CTL_{d−1})·(1 − e^{−1/42})`, ATL likewise with 7.
//!   Both are 0 before the first day that has load, and the recurrence starts on that day,
//!   so a window that opens later still carries the right history.
//! - TSB = CTL − ATL of the same day (today's load included).
//! - ACWR = mean daily load over the last 7 days ÷ mean over the last 28 days, both
//!   windows ending today and counting days before the first load as 0; `None` when the
//!   28-day mean is 0.
//!
//! Checks (unit tests): 42 days of 100 TSS → CTL 63.21, ATL 99.75, TSB −36.54; 21 days of
//! 50 then 7 of 100 → ACWR 1.60.
//!
//! **Cost**: O(days from the first load to `to`) time and memory, one pass; ten years of
//! daily data is about 3,650 steps of a few float operations each (the bench measures it;
//! the issue asks for ≤ 10 ms). The caller bounds the window it asks for.

use time::{Date, Duration};

/// Time constant of fitness (CTL), days.
pub const CTL_DAYS: f64 = 42.0;
/// Time constant of fatigue (ATL), days.
pub const ATL_DAYS: f64 = 7.0;
/// Length of the acute window of the ACWR, days.
pub const ACUTE_DAYS: usize = 7;
/// Length of the chronic window of the ACWR, days.
pub const CHRONIC_DAYS: usize = 28;

/// Training load on one day (one entry: several may share a date).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayLoad {
    /// The athlete's local date.
    pub date: Date,
    /// Training load, TSS.
    pub tss: f64,
}

/// Load, fitness, fatigue and form on one day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitnessDay {
    /// The athlete's local date.
    pub date: Date,
    /// The day's total load, TSS (0 on a rest day).
    pub tss: f64,
    /// Chronic training load (fitness), TSS/day, 42-day EWMA.
    pub ctl: f64,
    /// Acute training load (fatigue), TSS/day, 7-day EWMA.
    pub atl: f64,
    /// Training stress balance (form): `ctl − atl`.
    pub tsb: f64,
    /// Acute:chronic workload ratio (7-day mean ÷ 28-day mean), `None` when the 28-day
    /// mean is 0.
    pub acwr: Option<f64>,
}

/// The weight of today's load in an EWMA with time constant `days`: `1 − e^{−1/days}`.
pub fn ewma_weight(days: f64) -> f64 {
    1.0 - (-1.0 / days).exp()
}

/// Fitness, fatigue, form and ACWR for every day from `from` to `to` inclusive (empty when
/// `from > to`). `loads` may be sparse, unsorted and hold several entries per date; entries
/// after `to` are ignored. See the module docs for the formulas.
pub fn fitness(loads: &[DayLoad], from: Date, to: Date) -> Vec<FitnessDay> {
    if from > to {
        return Vec::new();
    }
    let first_load = loads
        .iter()
        .filter(|l| l.date <= to && counted(l.tss) > 0.0)
        .map(|l| l.date)
        .min();
    let start = first_load.map_or(from, |first| first.min(from));
    let days = day_index(start, to) + 1;
    let mut daily = vec![0.0; days];
    for load in loads {
        if load.date >= start && load.date <= to {
            daily[day_index(start, load.date)] += counted(load.tss);
        }
    }

    let (ctl_weight, atl_weight) = (ewma_weight(CTL_DAYS), ewma_weight(ATL_DAYS));
    let skip = day_index(start, from);
    let mut out = Vec::with_capacity(days - skip);
    let (mut ctl, mut atl) = (0.0, 0.0);
    for (i, &tss) in daily.iter().enumerate() {
        ctl += (tss - ctl) * ctl_weight;
        atl += (tss - atl) * atl_weight;
        if i < skip {
            continue;
        }
        let window = |len: usize| daily[i.saturating_sub(len - 1)..=i].iter().sum::<f64>();
        let chronic_mean = window(CHRONIC_DAYS) / CHRONIC_DAYS as f64;
        let acute_mean = window(ACUTE_DAYS) / ACUTE_DAYS as f64;
        out.push(FitnessDay {
            date: start + Duration::days(i64::try_from(i).unwrap_or(i64::MAX)),
            tss,
            ctl,
            atl,
            tsb: ctl - atl,
            acwr: (chronic_mean > 0.0).then(|| acute_mean / chronic_mean),
        });
    }
    out
}

/// A load as it counts: negative or non-finite → 0.
fn counted(tss: f64) -> f64 {
    if tss.is_finite() && tss > 0.0 {
        tss
    } else {
        0.0
    }
}

/// Days from `start` to `date` (`date ≥ start`).
fn day_index(start: Date, date: Date) -> usize {
    usize::try_from((date - start).whole_days()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    fn daily(from: Date, tss: &[f64]) -> Vec<DayLoad> {
        tss.iter()
            .enumerate()
            .map(|(i, &tss)| DayLoad {
                date: from + Duration::days(i as i64),
                tss,
            })
            .collect()
    }

    fn round2(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    #[test]
    fn forty_two_days_of_100_give_the_issues_ctl_atl_and_tsb() {
        let from = date!(2026 - 01 - 01);
        let loads = daily(from, &[100.0; 42]);
        let days = fitness(&loads, from, from + Duration::days(41));
        let last = days.last().unwrap();
        assert_eq!(days.len(), 42);
        assert_eq!(
            (round2(last.ctl), round2(last.atl), round2(last.tsb)),
            (63.21, 99.75, -36.54)
        );
    }

    #[test]
    fn twenty_one_days_of_50_then_seven_of_100_give_acwr_1_60() {
        let from = date!(2026 - 03 - 01);
        let mut tss = vec![50.0; 21];
        tss.extend([100.0; 7]);
        let days = fitness(&daily(from, &tss), from, from + Duration::days(27));
        assert_eq!(round2(days.last().unwrap().acwr.unwrap()), 1.60);
    }

    #[test]
    fn sparse_unsorted_entries_add_up_per_day_and_rest_days_are_zero() {
        let d = date!(2026 - 05 - 10);
        let loads = [
            DayLoad {
                date: d + Duration::days(2),
                tss: 30.0,
            },
            DayLoad { date: d, tss: 40.0 },
            DayLoad { date: d, tss: 20.0 },
            DayLoad {
                date: d + Duration::days(9),
                tss: 500.0,
            },
        ];
        let days = fitness(&loads, d, d + Duration::days(3));
        let tss: Vec<f64> = days.iter().map(|f| f.tss).collect();
        assert_eq!(tss, [60.0, 0.0, 30.0, 0.0]);
        assert_eq!(days[0].ctl, 60.0 * ewma_weight(CTL_DAYS));
        assert_eq!(days[0].acwr, Some(4.0));
    }

    #[test]
    fn a_window_opening_after_the_first_load_keeps_its_history() {
        let from = date!(2026 - 01 - 01);
        let loads = daily(from, &[80.0; 60]);
        let all = fitness(&loads, from, from + Duration::days(59));
        let later = fitness(&loads, from + Duration::days(50), from + Duration::days(59));
        assert_eq!(later.as_slice(), &all[50..]);
    }

    #[test]
    fn before_any_load_everything_is_zero_and_acwr_unknown() {
        let d = date!(2026 - 01 - 01);
        let loads = [DayLoad {
            date: d + Duration::days(5),
            tss: 50.0,
        }];
        let days = fitness(&loads, d, d + Duration::days(5));
        assert_eq!(days.len(), 6);
        assert!(
            days[..5]
                .iter()
                .all(|f| f.ctl == 0.0 && f.atl == 0.0 && f.acwr.is_none())
        );
        assert!(days[5].ctl > 0.0);
        assert!(fitness(&loads, d + Duration::days(1), d).is_empty());
    }

    proptest! {
        #[test]
        fn fitness_is_one_finite_row_per_day(
            tss in proptest::collection::vec(prop_oneof![Just(f64::NAN), -50.0..400.0f64], 0..400),
            offset in 0i64..500,
            len in 0i64..400,
        ) {
            let start = date!(2020 - 01 - 01);
            let loads = daily(start, &tss);
            let from = start + Duration::days(offset);
            let days = fitness(&loads, from, from + Duration::days(len));
            prop_assert_eq!(days.len() as i64, len + 1);
            for (i, day) in days.iter().enumerate() {
                prop_assert_eq!(day.date, from + Duration::days(i as i64));
                prop_assert!(day.ctl.is_finite() && day.atl.is_finite() && day.tsb.is_finite());
                prop_assert!(day.ctl >= 0.0 && day.atl >= 0.0);
                prop_assert!(day.acwr.is_none_or(|a| a.is_finite() && (0.0..=4.0 + 1e-9).contains(&a)));
            }
        }
    }
}
