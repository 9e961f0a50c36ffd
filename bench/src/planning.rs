//! The planning crate's cost, CPU only (`paceline_planning`, no database, no gateway):
//!
//! - **Load and recovery, 10 years**: one athlete's 3,650 days of load and daily metrics
//!   recomputed from scratch: `fitness` over every day, then `recovery` of every day
//!   against its 7 days before and its ACWR. Timed per recomputation, many runs; the
//!   issue's target is ≤ 10 ms.
//! - **Daily plan**: `daily_plan` for one athlete (42 days of fitness, a recovery, a
//!   check-in, the week's plans so far), timed per call.
//! - **Nightly pass**: 10,000 athletes, each with a year of daily load and 14 days of
//!   metrics, on one thread: per athlete `fitness` over the year, today's `recovery` and
//!   `daily_plan`, as a nightly job would run after reading the rows (reading and writing
//!   them is not measured here). The athletes differ (availability, equipment, sport, load,
//!   metrics, check-in) from a fixed seed, so the same run gives the same plans.
//!
//! Inputs are built before the clock starts; results go through `black_box`.

use std::hint::black_box;
use std::time::Instant;

use paceline_planning::{
    CheckIn, DailyMetrics, DayKind, DayLoad, Equipment, FitnessDay, Goal, LifeEvent, LifeKind,
    PlanInputs, PlannedDay, daily_plan, fitness, recovery,
};
use paceline_schemas::plan::Sport;
use time::{Date, Duration};

use crate::stats::Spread;

/// Days of the long history: 10 years.
pub const HISTORY_DAYS: usize = 3650;
/// Athletes of the nightly pass.
pub const NIGHTLY_ATHLETES: usize = 10_000;
/// Days of load per athlete in the nightly pass: a year.
pub const NIGHTLY_LOAD_DAYS: usize = 365;
/// Days of metrics per athlete in the nightly pass.
pub const NIGHTLY_METRIC_DAYS: usize = 14;

/// The day every bench athlete is planned for (a Wednesday).
const TODAY: Date = time::macros::date!(2026 - 12 - 09);

/// Median and 99th percentile of timed calls, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Calls timed.
    pub runs: usize,
    /// Median, s.
    pub median_s: f64,
    /// 99th percentile (nearest rank), s.
    pub p99_s: f64,
    /// Slowest, s.
    pub max_s: f64,
}

impl Timing {
    /// The figures of these call times, s.
    pub fn of(mut seconds: Vec<f64>) -> Timing {
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        // Nearest rank: the smallest value with at least `percent` % of the calls at or
        // below it.
        let rank = |percent: usize| seconds[(percent * n).div_ceil(100).clamp(1, n) - 1];
        Timing {
            runs: n,
            median_s: rank(50),
            p99_s: rank(99),
            max_s: seconds[n - 1],
        }
    }

    /// The same figures as JSON, in ms.
    pub fn json_ms(&self) -> serde_json::Value {
        serde_json::json!({"runs": self.runs, "median_ms": self.median_s * 1e3, "p99_ms": self.p99_s * 1e3, "max_ms": self.max_s * 1e3})
    }
}

/// The nightly pass's figures.
#[derive(Debug, Clone)]
pub struct NightlyFigures {
    /// Seconds per pass over every athlete (median, min, max of the runs).
    pub seconds: Spread,
    /// Passes run.
    pub runs: usize,
    /// How many athletes got each kind of day (the same in every run), by name.
    pub kinds: Vec<(&'static str, usize)>,
}

/// Everything the planning bench measured.
#[derive(Debug, Clone)]
pub struct PlanningFigures {
    /// Fitness + recovery of 3,650 days, per recomputation.
    pub load_recovery: Timing,
    /// `fitness` alone over the 3,650 days.
    pub fitness_only: Timing,
    /// One `daily_plan`.
    pub plan: Timing,
    /// The kind and load of the plan timed.
    pub plan_made: (DayKind, f64),
    /// The nightly pass.
    pub nightly: NightlyFigures,
}

/// SplitMix64: a fixed, seeded stream of numbers for varied but repeatable athletes.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high)`.
    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Uniform in `0..n` (n small).
    fn below(&mut self, n: u8) -> u8 {
        u8::try_from(self.next() % u64::from(n)).unwrap_or(0)
    }
}

/// `days` of daily load ending the day before `today`: a weekly pattern around `mean_tss`
/// with a rest day, every 4th week lighter, and noise.
fn loads(rng: &mut Seeded, today: Date, days: usize, mean_tss: f64) -> Vec<DayLoad> {
    const WEEK: [f64; 7] = [0.6, 1.2, 0.8, 1.3, 0.0, 1.9, 1.2];
    let first = today - Duration::days(days as i64);
    (0..days)
        .map(|i| {
            let date = first + Duration::days(i as i64);
            let weekday = usize::from(date.weekday().number_days_from_monday());
            let block = if (i / 7) % 4 == 3 { 0.6 } else { 1.0 };
            DayLoad {
                date,
                tss: (mean_tss * WEEK[weekday] * block * rng.between(0.8, 1.2)).round(),
            }
        })
        .collect()
}

/// `days` mornings of metrics around an athlete's usual values.
fn metrics(rng: &mut Seeded, days: usize) -> Vec<DailyMetrics> {
    let hrv = rng.between(35.0, 90.0);
    let rhr = rng.between(42.0, 62.0);
    (0..days)
        .map(|_| DailyMetrics {
            resting_hr_bpm: Some(rhr * rng.between(0.95, 1.06)),
            hrv_ms: Some(hrv * rng.between(0.8, 1.12)),
            sleep_s: Some(rng.between(5.0, 9.0) * 3600.0),
            sleep_score: Some(rng.between(50.0, 95.0)),
            stress: Some(rng.between(10.0, 70.0)),
        })
        .collect()
}

/// One athlete of the nightly pass, as read from the rows.
struct NightlyAthlete {
    loads: Vec<DayLoad>,
    /// Oldest first; the last is today's.
    metrics: Vec<DailyMetrics>,
    settings: PlanInputs,
}

fn nightly_athlete(rng: &mut Seeded) -> NightlyAthlete {
    let mean_tss = rng.between(25.0, 110.0);
    let loads = loads(rng, TODAY, NIGHTLY_LOAD_DAYS, mean_tss);
    let metrics = metrics(rng, NIGHTLY_METRIC_DAYS);
    let mut availability_min = [0u32; 7];
    for minutes in &mut availability_min {
        *minutes = [0, 30, 45, 60, 75, 90, 120, 180][usize::from(rng.below(8))];
    }
    let sport = if rng.unit() < 0.7 {
        Sport::Bike
    } else {
        Sport::Run
    };
    let power = sport == Sport::Bike && rng.unit() < 0.7;
    let check_in = (rng.unit() < 0.6).then(|| CheckIn {
        energy: Some(1 + rng.below(5)),
        mood: Some(1 + rng.below(5)),
        soreness: Some(1 + rng.below(5)),
        note: None,
    });
    let busy = (rng.unit() < 0.1).then(|| LifeEvent {
        kind: LifeKind::Busy,
        from: TODAY,
        to: TODAY,
        minutes_available: Some(35),
        summary: "Only 35 minutes".into(),
    });
    let settings = PlanInputs {
        today: TODAY,
        goal: Goal::GeneralFitness,
        availability_min,
        equipment: Equipment {
            trainer: sport == Sport::Bike,
            power_meter: power,
            hr_strap: rng.unit() < 0.8,
            treadmill: sport == Sport::Run && rng.unit() < 0.5,
            pool: false,
        },
        avoid_sports: vec![],
        injuries: vec![],
        sport,
        ftp_w: power.then(|| rng.between(150.0, 330.0).round()),
        threshold_hr_bpm: Some(rng.between(150.0, 180.0).round()),
        recent: vec![],
        recovery: None,
        check_in,
        planned_before: vec![
            PlannedDay {
                date: TODAY - Duration::days(2),
                kind: DayKind::Threshold,
                target_tss: 80.0,
            },
            PlannedDay {
                date: TODAY - Duration::days(1),
                kind: DayKind::Endurance,
                target_tss: 60.0,
            },
        ],
        life: busy.into_iter().collect(),
    };
    NightlyAthlete {
        loads,
        metrics,
        settings,
    }
}

/// Recomputes one athlete's whole history: fitness of every day, then the recovery of
/// every day. Returns a checksum so nothing is optimised away.
fn load_and_recovery(loads: &[DayLoad], metrics: &[DailyMetrics]) -> f64 {
    let first = loads[0].date;
    let last = loads[loads.len() - 1].date;
    let days: Vec<FitnessDay> = fitness(loads, first, last);
    let mut sum = 0.0;
    for (i, day) in days.iter().enumerate() {
        let previous = &metrics[i.saturating_sub(7)..i];
        let r = recovery(&metrics[i], previous, day.acwr);
        sum += r.score.unwrap_or(0.0) + day.ctl;
    }
    sum
}

/// The nightly job for one athlete: fitness over the year (the last 42 days before today
/// and today's ACWR), today's recovery, today's plan.
fn nightly_one(athlete: &NightlyAthlete) -> (DayKind, f64) {
    let days = fitness(&athlete.loads, TODAY - Duration::days(42), TODAY);
    let acwr = days.last().and_then(|d| d.acwr);
    let (today, previous) = athlete
        .metrics
        .split_last()
        .expect("metrics are never empty");
    let inputs = PlanInputs {
        recent: days,
        recovery: Some(recovery(today, previous, acwr)),
        ..athlete.settings.clone()
    };
    let plan = daily_plan(&inputs);
    (plan.kind, plan.target_tss)
}

fn time_calls(runs: usize, mut call: impl FnMut()) -> Timing {
    let mut seconds = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call();
        seconds.push(started.elapsed().as_secs_f64());
    }
    Timing::of(seconds)
}

/// Runs the three measurements: `runs` recomputations and plans (after a few warm-up
/// calls), `nightly_runs` nightly passes.
pub fn run(runs: usize, nightly_runs: usize) -> PlanningFigures {
    let mut rng = Seeded(0x5EED_0023);

    // (a) 10 years of one athlete.
    let history = loads(&mut rng, TODAY, HISTORY_DAYS, 70.0);
    let history_metrics = metrics(&mut rng, HISTORY_DAYS);
    for _ in 0..3 {
        black_box(load_and_recovery(&history, &history_metrics));
    }
    let load_recovery = time_calls(runs, || {
        black_box(load_and_recovery(
            black_box(&history),
            black_box(&history_metrics),
        ));
    });
    let (first, last) = (history[0].date, history[HISTORY_DAYS - 1].date);
    let fitness_only = time_calls(runs, || {
        black_box(fitness(black_box(&history), first, last));
    });

    // (b) One daily plan.
    let one = nightly_athlete(&mut Seeded(7));
    let days = fitness(&history, TODAY - Duration::days(42), TODAY);
    let acwr = days.last().and_then(|d| d.acwr);
    let (today, previous) = history_metrics.split_last().expect("not empty");
    let inputs = PlanInputs {
        availability_min: [60, 90, 90, 90, 60, 180, 120],
        equipment: Equipment {
            trainer: true,
            power_meter: true,
            hr_strap: true,
            ..Equipment::default()
        },
        sport: Sport::Bike,
        ftp_w: Some(240.0),
        threshold_hr_bpm: Some(168.0),
        recent: days,
        recovery: Some(recovery(today, &previous[previous.len() - 7..], acwr)),
        check_in: Some(CheckIn {
            energy: Some(3),
            mood: Some(4),
            soreness: Some(2),
            note: None,
        }),
        life: vec![],
        ..one.settings
    };
    let made = daily_plan(&inputs);
    for _ in 0..3 {
        black_box(daily_plan(&inputs));
    }
    let plan = time_calls(runs, || {
        black_box(daily_plan(black_box(&inputs)));
    });

    // (c) The nightly pass.
    let athletes: Vec<NightlyAthlete> = (0..NIGHTLY_ATHLETES)
        .map(|i| nightly_athlete(&mut Seeded(1000 + i as u64)))
        .collect();
    let mut seconds = Vec::new();
    let mut kinds = std::collections::BTreeMap::new();
    for run in 0..nightly_runs {
        let started = Instant::now();
        let planned: Vec<(DayKind, f64)> = athletes.iter().map(nightly_one).collect();
        seconds.push(started.elapsed().as_secs_f64());
        if run == 0 {
            for (kind, _) in &planned {
                *kinds.entry(*kind).or_insert(0) += 1;
            }
        }
        black_box(planned);
    }

    PlanningFigures {
        load_recovery,
        fitness_only,
        plan,
        plan_made: (made.kind, made.target_tss),
        nightly: NightlyFigures {
            seconds: Spread::of(seconds),
            runs: nightly_runs,
            kinds: kinds.into_iter().map(|(k, n)| (k.as_str(), n)).collect(),
        },
    }
}
