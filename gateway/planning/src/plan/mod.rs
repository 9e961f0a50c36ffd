//! The daily plan: what to do today and why, as a structured workout the live Coach runs.
//!
//! [`daily_plan`] is a pure function of [`PlanInputs`]: the same inputs give the same plan
//! (no clock, no randomness, no hash-map order), and [`inputs_digest`] names the inputs so
//! a stored plan can be regenerated and compared. Each rule that shapes the day adds one
//! sentence, with its numbers, to the plan's `why`. The rules, in the order applied:
//!
//! 1. **Event day.** On the goal event's date: the event, no workout.
//! 2. **Week.** Weeks run Monday to Sunday. With an event ahead, the 7 days before it are
//!    the **taper**; the weeks before are counted back from the taper and every 4th (the
//!    4th, 8th, … before the taper) is a **recovery week**. For general fitness (or an
//!    event past) the weeks are counted from Monday 2024-01-01 and every 4th is a recovery
//!    week. So the same date always falls in the same kind of week.
//! 3. **Weekly load with a capped ramp.** Set from the CTL coming into Monday, a build
//!    week aims at a daily mean load that raises CTL by [`RAMP_CTL_PER_WEEK`] = 5 per week and no more (mean = CTL + 5 ÷
//!    (1 − e^{−7/42}) ≈ CTL + 32.6 TSS; 5 is the low end of the 5–8 CTL/week usually
//!    called safe); a recovery week aims at 0.6 × CTL, the taper at 0.5 × CTL (at least
//!    20 TSS/day). What is left of the week's load after the days already done (their
//!    load in `recent`) is shared over the days left by their available minutes; a hard
//!    day takes 1.3 × its share, an endurance day 1 ×, an easy day 0.6 ×.
//! 4. **Availability.** A day with 0 minutes is a rest day; no workout is longer than the
//!    day's minutes.
//! 5. **Hard/easy alternation.** A hard day (tempo, threshold, VO2max) only follows a day
//!    that was not hard (`planned_before`); at most 3 hard days in a build week, 1 in the
//!    taper, none in a recovery week; none when TSB < −30 or with fewer than 45 minutes.
//!    Hard days cycle threshold, VO2max, tempo by their number in the week (VO2max in the
//!    taper; the day before an event is easy).
//! 6. **Recovery.** Red → a recovery ride of at most 45 minutes, or rest when the score is
//!    below 30 or the check-in is poor; yellow → nothing above tempo.
//! 7. **Constraints.** An injury noted → nothing above tempo. The primary sport in
//!    `avoid_sports` → bike, else run, else other.
//! 8. **Life.** Illness covering today → rest; illness that ended in the last 2 days →
//!    at most easy. Travel → no trainer, treadmill or pool. A travel, busy or other event
//!    with minutes available (travel without: 45, busy without: 30) shorter than the
//!    workout → the workout is compressed to them by the live Coach's own time-budget
//!    compression ([`fit_to_minutes`]).
//! 9. **ACWR cap.** Today's load is capped so that the ACWR it causes (7-day mean ÷ 28-day
//!    mean, today included) stays ≤ 1.5: `tss ≤ (1.5 · C₂₇ − 4 · A₆) ÷ 2.5`, with A₆ and
//!    C₂₇ the loads of the 6 and 27 days before today. With no load in those 27 days the
//!    ratio means nothing (any load gives 4): a fresh start is capped at 40 TSS instead.
//! 10. **Check-in.** Poor (energy or mood ≤ 2, or soreness ≥ 4) → nothing hard and at most
//!     0.9 × the load the same inputs plan without a check-in. Excellent (energy and mood ≥
//!     4, soreness ≤ 2) with a green recovery → at least 1.1 × that load, unless the day's
//!     minutes or the ACWR cap stop it (the `why` says which). Safety first: rules 4–9
//!     are never overridden by the check-in.
//!
//! Targets: % of FTP with a power meter, else heart rate with a strap, else RPE (see
//! the table in `plan/workouts.rs`). The load of a workout is the Coach's own estimate,
//! `seconds / 3600 · IF² · 100` per step at the middle of its range, and the workout's
//! length is the longest whole number of minutes whose load is within the day's target.

mod change;
mod digest;
mod fit;
mod intensity;
mod workouts;

use paceline_schemas::plan::{Sport, WorkoutPlan};
use time::{Date, Duration, Weekday};

pub use change::{DayChange, daily_plan_with_change};
pub use digest::{RULES_VERSION, inputs_digest};
pub use fit::fit_to_minutes;
pub use intensity::{
    EASIER_FACTOR, HARDER_FACTOR, IntensityChange, IntensityRefused, IntensityRequest,
    MAX_FTP_FRACTION, daily_plan_with_intensity,
};

use crate::life::{LifeEvent, LifeKind};
use crate::load::{ATL_DAYS, CTL_DAYS, FitnessDay};
use crate::recovery::{Band, CheckIn, Recovery};
use paceline_coach::zones::Physiology;
use workouts::{TargetMode, build, min_minutes};

/// The most CTL may rise in a build week, per week.
pub const RAMP_CTL_PER_WEEK: f64 = 5.0;
/// Every this many weeks, one is a recovery week.
pub const RECOVERY_WEEK_EVERY: i64 = 4;
/// The ACWR no plan may cause.
pub const MAX_ACWR: f64 = 1.5;
/// The cap on a fresh start's load (no load in the 27 days before), TSS.
pub const FRESH_START_TSS: f64 = 40.0;
/// The longest recovery ride on a red day, minutes.
pub const RED_MAX_MINUTES: u32 = 45;
/// Below this TSB no hard day is planned.
pub const MIN_TSB_FOR_HARD: f64 = -30.0;
/// The fewest minutes of a hard day.
pub const MIN_MINUTES_FOR_HARD: u32 = 45;

/// What the athlete trains for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Goal {
    /// An event on a date.
    EventOn {
        /// Its name.
        name: String,
        /// Its date.
        date: Date,
        /// Its sport.
        sport: Sport,
    },
    /// No event: fitness.
    GeneralFitness,
}

/// What the athlete trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Equipment {
    /// An indoor trainer.
    pub trainer: bool,
    /// A power meter.
    pub power_meter: bool,
    /// A heart-rate strap.
    pub hr_strap: bool,
    /// A treadmill.
    pub treadmill: bool,
    /// A pool.
    pub pool: bool,
}

/// The kind of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DayKind {
    /// No training.
    Rest,
    /// A very easy ride or run.
    Recovery,
    /// Easy aerobic.
    Easy,
    /// Steady endurance.
    Endurance,
    /// Tempo intervals (hard).
    Tempo,
    /// Threshold intervals (hard).
    Threshold,
    /// VO2max intervals (hard).
    Vo2,
    /// The goal event.
    Event,
}

impl DayKind {
    const ALL: [DayKind; 8] = [
        DayKind::Rest,
        DayKind::Recovery,
        DayKind::Easy,
        DayKind::Endurance,
        DayKind::Tempo,
        DayKind::Threshold,
        DayKind::Vo2,
        DayKind::Event,
    ];

    /// Its name in rows and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Rest => "rest",
            DayKind::Recovery => "recovery",
            DayKind::Easy => "easy",
            DayKind::Endurance => "endurance",
            DayKind::Tempo => "tempo",
            DayKind::Threshold => "threshold",
            DayKind::Vo2 => "vo2",
            DayKind::Event => "event",
        }
    }

    /// The kind named `name` (see [`DayKind::as_str`]).
    pub fn parse(name: &str) -> Option<DayKind> {
        DayKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Tempo, threshold, VO2max and the event are hard.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            DayKind::Tempo | DayKind::Threshold | DayKind::Vo2 | DayKind::Event
        )
    }

    fn title(self) -> &'static str {
        match self {
            DayKind::Rest => "Rest",
            DayKind::Recovery => "Recovery",
            DayKind::Easy => "Easy",
            DayKind::Endurance => "Endurance",
            DayKind::Tempo => "Tempo",
            DayKind::Threshold => "Threshold",
            DayKind::Vo2 => "VO2max",
            DayKind::Event => "Event",
        }
    }

    /// The share of the day's load a day of this kind takes (rule 3).
    fn load_factor(self) -> f64 {
        match self {
            DayKind::Tempo | DayKind::Threshold | DayKind::Vo2 => 1.3,
            DayKind::Endurance => 1.0,
            DayKind::Easy | DayKind::Recovery => 0.6,
            DayKind::Rest | DayKind::Event => 0.0,
        }
    }
}

/// A day planned earlier this week.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedDay {
    /// Its date.
    pub date: Date,
    /// Its kind.
    pub kind: DayKind,
    /// Its load, TSS.
    pub target_tss: f64,
}

/// Everything a day's plan depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInputs {
    /// The athlete's local date.
    pub today: Date,
    /// The goal.
    pub goal: Goal,
    /// Minutes available on each weekday, Monday first.
    pub availability_min: [u32; 7],
    /// Equipment.
    pub equipment: Equipment,
    /// Sports to avoid (`bike`, `run`, `other`).
    pub avoid_sports: Vec<String>,
    /// Injuries, as the athlete wrote them.
    pub injuries: Vec<String>,
    /// The primary sport.
    pub sport: Sport,
    /// FTP, W.
    pub ftp_w: Option<f64>,
    /// Threshold heart rate, bpm.
    pub threshold_hr_bpm: Option<f64>,
    /// Fitness of the days before today (the last 42 or more; today's row, if any, is
    /// ignored).
    pub recent: Vec<FitnessDay>,
    /// Today's recovery.
    pub recovery: Option<Recovery>,
    /// Today's check-in.
    pub check_in: Option<CheckIn>,
    /// This week's plans of the days before today.
    pub planned_before: Vec<PlannedDay>,
    /// Life events.
    pub life: Vec<LifeEvent>,
}

/// Today's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyPlan {
    /// The date.
    pub date: Date,
    /// The kind of day.
    pub kind: DayKind,
    /// Its load, TSS (the workout's, as the Coach counts it; 0 without a workout).
    pub target_tss: f64,
    /// The workout, `None` on a rest or event day.
    pub workout: Option<WorkoutPlan>,
    /// One sentence per rule applied, with its numbers.
    pub why: Vec<String>,
    /// The hour the workout starts, local time, when the athlete's times of day place it
    /// ([`crate::time_of_day::schedule`]).
    pub start_hour: Option<u8>,
}

/// The name of a sport in `avoid_sports`.
pub fn sport_name(sport: Sport) -> &'static str {
    match sport {
        Sport::Bike => "bike",
        Sport::Run => "run",
        Sport::Other => "other",
    }
}

/// Today's plan (module docs).
pub fn daily_plan(inputs: &PlanInputs) -> DailyPlan {
    let neutral = draft(inputs, false);
    let Some(check_in) = inputs.check_in.as_ref() else {
        return neutral.finish();
    };
    let green = inputs.recovery.as_ref().and_then(|r| r.band) == Some(Band::Green);
    let felt = format!(
        "energy {}, mood {}, soreness {}",
        shown(check_in.energy),
        shown(check_in.mood),
        shown(check_in.soreness)
    );
    if check_in.is_poor() && neutral.kind != DayKind::Rest {
        let mut poor = draft(inputs, true);
        let limit = 0.9 * neutral.tss;
        poor.limit_to(limit);
        poor.why.push(format!(
            "Check-in poor ({felt}): nothing hard, and at most 0.9 × the planned {:.0} TSS = {limit:.0} TSS; planned {:.0} TSS.",
            neutral.tss, poor.tss
        ));
        return poor.finish();
    }
    if check_in.is_excellent() && green && neutral.chosen.is_some() {
        let mut excellent = neutral.clone();
        let want = 1.1 * neutral.tss;
        let got = excellent.raise_to(want);
        excellent.why.push(if got + 1e-9 >= want {
            format!(
                "Check-in excellent ({felt}) and recovery green: at least 1.1 × the planned {:.0} TSS → {:.0} TSS.",
                neutral.tss, excellent.tss
            )
        } else {
            format!(
                "Check-in excellent ({felt}) and recovery green: 1.1 × {:.0} = {want:.0} TSS was wanted, but {} stop it at {:.0} TSS.",
                neutral.tss,
                excellent.raise_limit_reason(),
                excellent.tss
            )
        });
        return excellent.finish();
    }
    neutral.finish()
}

fn shown(value: Option<u8>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// A day's plan while the rules shape it.
#[derive(Clone)]
struct Draft {
    date: Date,
    kind: DayKind,
    sport: Sport,
    mode: TargetMode,
    /// Minutes the workout may last (availability, red cap).
    max_minutes: u32,
    /// Minutes a life event leaves, when fewer than the day's availability, and the event.
    life_minutes: Option<(u32, String)>,
    /// The ACWR (or fresh-start) cap on today's load, TSS.
    load_cap: f64,
    /// The athlete as the Coach sees them, for the time-budget compression.
    phys: Physiology,
    chosen: Option<Candidate>,
    tss: f64,
    why: Vec<String>,
}

/// A workout considered for the day, after any compression for a life event.
#[derive(Clone)]
struct Candidate {
    workout: WorkoutPlan,
    /// Its load as ridden (compressed or not), TSS.
    tss: f64,
    /// Its length before compression, minutes, and its load then.
    full: (u32, f64),
    /// The minutes it was compressed to, if it was.
    compressed_to: Option<u32>,
}

/// What the load history says about today.
struct History {
    /// CTL coming into this week's Monday: the weekly load is set from it.
    ctl_week_start: f64,
    /// TSB coming into today.
    tsb: f64,
    /// Load of the 6 days before today.
    acute_6: f64,
    /// Load of the 27 days before today.
    chronic_27: f64,
    /// Load done this week before today.
    done_this_week: f64,
}

impl History {
    fn of(recent: &[FitnessDay], today: Date, monday: Date) -> History {
        let before: Vec<&FitnessDay> = recent.iter().filter(|d| d.date < today).collect();
        let window = |since: Date| {
            // `+ 0.0`: an empty sum is −0.
            before
                .iter()
                .filter(|d| d.date >= since)
                .map(|d| finite_load(d.tss))
                .sum::<f64>()
                + 0.0
        };
        let (ctl, atl) = fitness_on(&before, today);
        History {
            ctl_week_start: fitness_on(&before, monday).0,
            tsb: ctl - atl,
            acute_6: window(today - Duration::days(6)),
            chronic_27: window(today - Duration::days(27)),
            done_this_week: window(monday),
        }
    }
}

/// CTL and ATL coming into `date` (after the day before it): the last row before `date`,
/// decayed over the rest days between (rows missing count as rest).
fn fitness_on(before: &[&FitnessDay], date: Date) -> (f64, f64) {
    let Some(last) = before
        .iter()
        .filter(|d| d.date < date)
        .max_by_key(|d| d.date)
    else {
        return (0.0, 0.0);
    };
    let gap = ((date - last.date).whole_days() - 1).clamp(0, 3650) as f64;
    (
        finite_load(last.ctl) * (-gap / CTL_DAYS).exp(),
        finite_load(last.atl) * (-gap / ATL_DAYS).exp(),
    )
}

fn finite_load(value: f64) -> f64 {
    if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    }
}

/// Which kind of week today is in.
enum Week {
    Build,
    Recovery,
    Taper,
}

fn weekday_index(date: Date) -> usize {
    usize::from(date.weekday().number_days_from_monday())
}

fn monday_of(date: Date) -> Date {
    date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
}

/// Builds the day by rules 2–9; `poor` applies the check-in's "nothing hard".
fn draft(inputs: &PlanInputs, poor: bool) -> Draft {
    let today = inputs.today;
    let monday = monday_of(today);
    let history = History::of(&inputs.recent, today, monday);
    let mut why = Vec::new();

    // 1. Event day.
    let event = match &inputs.goal {
        Goal::EventOn { name, date, sport } if *date >= today => Some((name, *date, *sport)),
        _ => None,
    };
    let mut sport = event.map_or(inputs.sport, |(_, _, sport)| sport);
    let mut draft = Draft {
        date: today,
        kind: DayKind::Rest,
        sport,
        mode: TargetMode::Rpe,
        max_minutes: 0,
        life_minutes: None,
        load_cap: f64::INFINITY,
        phys: fit::physiology(inputs.ftp_w, inputs.threshold_hr_bpm),
        chosen: None,
        tss: 0.0,
        why: Vec::new(),
    };
    if let Some((name, date, _)) = event
        && date == today
    {
        draft.kind = DayKind::Event;
        draft
            .why
            .push(format!("Today is {name}: race day, no workout planned."));
        return draft;
    }

    // 2. Week.
    let week = match event {
        Some((name, date, _)) => {
            let days = (date - today).whole_days();
            if days <= 7 {
                why.push(format!("{name} is in {days} days: taper week."));
                Week::Taper
            } else {
                let weeks_out = (days - 8) / 7;
                let recovery = weeks_out % RECOVERY_WEEK_EVERY == RECOVERY_WEEK_EVERY - 1;
                why.push(format!(
                    "{name} is in {days} days: week {} before the taper, {} (every {RECOVERY_WEEK_EVERY}th week counted back from the taper is a recovery week).",
                    weeks_out + 1,
                    if recovery { "a recovery week" } else { "a build week" }
                ));
                if recovery {
                    Week::Recovery
                } else {
                    Week::Build
                }
            }
        }
        None => {
            let epoch = time::macros::date!(2024 - 01 - 01);
            let index = (monday - epoch).whole_days().div_euclid(7);
            let recovery = index.rem_euclid(RECOVERY_WEEK_EVERY) == RECOVERY_WEEK_EVERY - 1;
            why.push(format!(
                "General fitness: week {} of a {RECOVERY_WEEK_EVERY}-week block, {}.",
                index.rem_euclid(RECOVERY_WEEK_EVERY) + 1,
                if recovery {
                    "the recovery week"
                } else {
                    "a build week"
                }
            ));
            if recovery {
                Week::Recovery
            } else {
                Week::Build
            }
        }
    };

    // 3. Weekly load.
    let ramp_mean = RAMP_CTL_PER_WEEK / (1.0 - (-7.0 / CTL_DAYS).exp());
    let daily_mean = match week {
        Week::Build => history.ctl_week_start + ramp_mean,
        Week::Recovery => (0.6 * history.ctl_week_start).max(20.0),
        Week::Taper => (0.5 * history.ctl_week_start).max(20.0),
    };
    let weekly = 7.0 * daily_mean;
    let left = (weekly - history.done_this_week).max(0.0);
    let weekday = weekday_index(today);
    let available = inputs.availability_min[weekday];
    let minutes_left: u32 = inputs.availability_min[weekday..].iter().sum();
    let share = if minutes_left == 0 {
        0.0
    } else {
        left * f64::from(available) / f64::from(minutes_left)
    };
    why.push(match week {
        Week::Build => format!(
            "Weekly load {weekly:.0} TSS: CTL {:.1} on Monday plus a ramp capped at {RAMP_CTL_PER_WEEK} CTL/week; {:.0} done, {left:.0} left, today's share {share:.0} TSS.",
            history.ctl_week_start, history.done_this_week
        ),
        Week::Recovery | Week::Taper => format!(
            "Weekly load {weekly:.0} TSS ({} × CTL {:.1} on Monday); {:.0} done, {left:.0} left, today's share {share:.0} TSS.",
            if matches!(week, Week::Taper) { "0.5" } else { "0.6" },
            history.ctl_week_start,
            history.done_this_week
        ),
    });

    // 4. Availability.
    if available == 0 {
        why.push(format!(
            "No minutes available on {}: rest day.",
            weekday_name(today.weekday())
        ));
        draft.why = why;
        return draft;
    }

    // 8 (first part). Illness.
    let covering = |kind: LifeKind| {
        inputs
            .life
            .iter()
            .find(|e| e.kind == kind && e.covers(today))
    };
    if let Some(ill) = covering(LifeKind::Illness) {
        why.push(format!(
            "Illness ({}): rest until it has passed.",
            ill.summary
        ));
        draft.why = why;
        return draft;
    }

    // 5. Hard/easy alternation.
    let yesterday = today - Duration::days(1);
    let planned_yesterday = inputs.planned_before.iter().find(|p| p.date == yesterday);
    let hard_so_far = inputs
        .planned_before
        .iter()
        .filter(|p| p.date >= monday && p.date < today && p.kind.is_hard())
        .count();
    let allowed_hard = match week {
        Week::Build => 3,
        Week::Taper => 1,
        Week::Recovery => 0,
    };
    let day_before_event = event.is_some_and(|(_, date, _)| date == today + Duration::days(1));
    let mut kind = if let Some(p) = planned_yesterday.filter(|p| p.kind.is_hard()) {
        why.push(format!(
            "Yesterday was {}: an easy day follows a hard one.",
            p.kind.as_str()
        ));
        DayKind::Endurance
    } else if day_before_event {
        why.push("The event is tomorrow: easy, to arrive fresh.".to_owned());
        DayKind::Easy
    } else if hard_so_far >= allowed_hard {
        why.push(format!(
            "{hard_so_far} hard days this week already, {allowed_hard} allowed this week: endurance."
        ));
        if matches!(week, Week::Recovery) {
            DayKind::Easy
        } else {
            DayKind::Endurance
        }
    } else if history.tsb < MIN_TSB_FOR_HARD {
        why.push(format!(
            "TSB {:.1} is below {MIN_TSB_FOR_HARD}: too tired for intensity, endurance.",
            history.tsb
        ));
        DayKind::Endurance
    } else if available < MIN_MINUTES_FOR_HARD {
        why.push(format!(
            "{available} minutes is less than the {MIN_MINUTES_FOR_HARD} a hard session needs: endurance."
        ));
        DayKind::Endurance
    } else {
        let kind = match week {
            Week::Taper => DayKind::Vo2,
            _ => [DayKind::Threshold, DayKind::Vo2, DayKind::Tempo][hard_so_far % 3],
        };
        why.push(format!(
            "Hard day {} of {allowed_hard} this week, after a day that was not hard: {}.",
            hard_so_far + 1,
            kind.as_str()
        ));
        kind
    };

    // 6. Recovery.
    let mut max_minutes = available;
    if let Some(r) = &inputs.recovery
        && let (Some(score), Some(band)) = (r.score, r.band)
    {
        match band {
            Band::Red if score < 30.0 || inputs.check_in.as_ref().is_some_and(CheckIn::is_poor) => {
                why.push(format!(
                    "Recovery {score:.1} (red){}: rest.",
                    if score < 30.0 {
                        ", below 30"
                    } else {
                        " and a poor check-in"
                    }
                ));
                draft.why = why;
                return draft;
            }
            Band::Red => {
                kind = DayKind::Recovery;
                max_minutes = max_minutes.min(RED_MAX_MINUTES);
                why.push(format!(
                    "Recovery {score:.1} (red): easy only, a recovery session of at most {RED_MAX_MINUTES} minutes."
                ));
            }
            Band::Yellow if kind > DayKind::Tempo => {
                kind = DayKind::Tempo;
                why.push(format!(
                    "Recovery {score:.1} (yellow): nothing above tempo."
                ));
            }
            Band::Yellow | Band::Green => {}
        }
    }

    // 7. Constraints.
    if !inputs.injuries.is_empty() && kind > DayKind::Tempo {
        kind = DayKind::Tempo;
        why.push(format!(
            "Injury noted ({}): nothing above tempo.",
            inputs.injuries.join(", ")
        ));
    }
    let avoided = |s: Sport| {
        inputs
            .avoid_sports
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(sport_name(s)))
    };
    if avoided(sport) {
        let instead = [Sport::Bike, Sport::Run, Sport::Other]
            .into_iter()
            .find(|s| !avoided(*s))
            .unwrap_or(Sport::Other);
        why.push(format!(
            "{} is to be avoided: {} instead.",
            sport_name(sport),
            sport_name(instead)
        ));
        sport = instead;
    }
    if poor && kind.is_hard() {
        kind = DayKind::Endurance;
    }

    // 8. Life.
    let yesterday_2 = today - Duration::days(2);
    if let Some(ill) = inputs
        .life
        .iter()
        .find(|e| e.kind == LifeKind::Illness && e.to < today && e.to >= yesterday_2)
        && kind > DayKind::Easy
    {
        kind = DayKind::Easy;
        why.push(format!(
            "Back from illness ({}, until {}): easy.",
            ill.summary, ill.to
        ));
    }
    let mut equipment = inputs.equipment;
    let mut life_minutes = None;
    for event in inputs.life.iter().filter(|e| e.covers(today)) {
        let minutes = match event.kind {
            LifeKind::Travel => {
                equipment.trainer = false;
                equipment.treadmill = false;
                equipment.pool = false;
                why.push(format!(
                    "Travel ({}): no trainer, treadmill or pool.",
                    event.summary
                ));
                Some(event.minutes_available.unwrap_or(45))
            }
            LifeKind::Busy => Some(event.minutes_available.unwrap_or(30)),
            LifeKind::Other => event.minutes_available,
            LifeKind::Illness => None,
        };
        if let Some(m) = minutes
            && m < available
            && life_minutes.as_ref().is_none_or(|(least, _)| m < *least)
        {
            life_minutes = Some((m, format!("{} ({})", event.kind.as_str(), event.summary)));
        }
    }
    if life_minutes.as_ref().is_some_and(|(m, _)| *m < 10) {
        let (m, what) = life_minutes.unwrap_or_default();
        why.push(format!("{what}: only {m} minutes, rest."));
        draft.why = why;
        return draft;
    }

    draft.mode = if equipment.power_meter {
        TargetMode::Power
    } else if equipment.hr_strap {
        TargetMode::HeartRate {
            lthr_bpm: inputs
                .threshold_hr_bpm
                .filter(|l| l.is_finite() && (80.0..=220.0).contains(l)),
        }
    } else {
        TargetMode::Rpe
    };
    draft.sport = sport;
    draft.max_minutes = max_minutes;
    draft.life_minutes = life_minutes;

    // 9. ACWR cap.
    draft.load_cap = if history.chronic_27 > 0.0 {
        ((MAX_ACWR * history.chronic_27 - 4.0 * history.acute_6) / 2.5).max(0.0)
    } else {
        FRESH_START_TSS
    };

    // The workout.
    let desired = share * kind.load_factor();
    draft.kind = kind;
    draft.choose(desired);
    if draft.chosen.is_none() {
        why.push(format!(
            "Today's target of {desired:.0} TSS is less than the shortest workout: rest."
        ));
    }
    if draft.load_cap < desired {
        why.push(if history.chronic_27 > 0.0 {
            format!(
                "ACWR capped at {MAX_ACWR}: with {:.0} TSS in the last 6 days and {:.0} in the last 27, today may carry at most {:.0} TSS.",
                history.acute_6, history.chronic_27, draft.load_cap
            )
        } else {
            format!(
                "No load in the last 27 days: a fresh start, at most {FRESH_START_TSS} TSS today."
            )
        });
    }
    if let Some(c) = &draft.chosen
        && c.full.0 >= max_minutes
        && desired.min(draft.load_cap) > c.full.1
    {
        why.push(format!(
            "{max_minutes} minutes available: the workout fills them ({:.0} of the {desired:.0} TSS wanted).",
            draft.tss
        ));
    }
    draft.why = why;
    draft
}

impl Draft {
    /// The workout of `kind` lasting `minutes`, compressed for the life event's minutes.
    fn candidate(&self, kind: DayKind, minutes: u32) -> Option<Candidate> {
        let built = build(kind, minutes)?;
        let description = format!(
            "{} day planned for {} by Paceline's daily plan.",
            kind.title(),
            self.date
        );
        let plan = built.plan(kind, self.sport, self.mode, description);
        let full_minutes = built.duration_s() / 60;
        let full = (full_minutes, built.tss());
        if let Some((life, _)) = &self.life_minutes
            && full_minutes > *life
        {
            let (mut fitted, compression) = fit::fit_for(&plan, *life, &self.phys);
            if let Some(c) = compression {
                // Named for what is ridden: "Endurance 35 min", not the 60 it was.
                fitted.name = format!("{} {} min", kind.title(), c.kept_total_s / 60);
                let tss = c
                    .kept_s
                    .iter()
                    .zip(built.intensities())
                    .map(|(&s, i)| paceline_coach::budget::load(s, i))
                    .sum();
                return Some(Candidate {
                    workout: fitted,
                    tss,
                    full,
                    compressed_to: Some(c.kept_total_s / 60),
                });
            }
        }
        Some(Candidate {
            workout: plan,
            tss: full.1,
            full,
            compressed_to: None,
        })
    }

    /// The longest workout of `self.kind` (then easy, then rest) within the minutes whose
    /// load, as ridden, is at most `limit` and the load cap.
    fn choose(&mut self, limit: f64) {
        let limit = limit.min(self.load_cap);
        let first = self.kind;
        for kind in [first, DayKind::Easy] {
            if kind > first {
                continue;
            }
            let lowest = min_minutes(kind);
            let found = (lowest..=self.max_minutes)
                .rev()
                .filter_map(|m| self.candidate(kind, m))
                .find(|c| c.tss <= limit);
            if let Some(candidate) = found {
                self.kind = kind;
                self.set(Some(candidate));
                return;
            }
        }
        self.kind = DayKind::Rest;
        self.set(None);
    }

    fn set(&mut self, chosen: Option<Candidate>) {
        self.tss = chosen.as_ref().map_or(0.0, |c| c.tss);
        self.chosen = chosen;
    }

    /// At most `limit` TSS: a shorter workout, an easy one, or rest.
    fn limit_to(&mut self, limit: f64) {
        if self.tss > limit {
            self.choose(limit);
        }
    }

    /// At least `want` TSS if the minutes and the load cap allow; else the most they
    /// allow. Returns the load reached.
    fn raise_to(&mut self, want: f64) -> f64 {
        let lowest = min_minutes(self.kind);
        let fitting: Vec<Candidate> = (lowest..=self.max_minutes)
            .filter_map(|m| self.candidate(self.kind, m))
            .filter(|c| c.tss <= self.load_cap)
            .collect();
        let best = fitting
            .iter()
            .find(|c| c.tss + 1e-9 >= want)
            .or_else(|| fitting.iter().max_by(|a, b| a.tss.total_cmp(&b.tss)));
        if let Some(best) = best
            && best.tss > self.tss
        {
            self.set(Some(best.clone()));
        }
        self.tss
    }

    fn raise_limit_reason(&self) -> String {
        let minutes = self
            .life_minutes
            .as_ref()
            .map_or(self.max_minutes, |(m, _)| (*m).min(self.max_minutes));
        format!(
            "the {minutes} minutes available and the load cap of {:.0} TSS",
            self.load_cap
        )
    }

    /// The plan, with the life event's compression explained.
    fn finish(mut self) -> DailyPlan {
        if let Some(c) = &self.chosen
            && let (Some(kept), Some((minutes, what))) = (c.compressed_to, &self.life_minutes)
        {
            self.why.push(format!(
                "{what}: {minutes} minutes available, so the {}-minute workout is compressed to {kept} minutes by the live Coach's time-budget compression; {:.0} → {:.0} TSS.",
                c.full.0, c.full.1, c.tss
            ));
        }
        DailyPlan {
            date: self.date,
            kind: self.kind,
            target_tss: self.tss,
            workout: self.chosen.map(|c| c.workout),
            why: self.why,
            start_hour: None,
        }
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

#[cfg(test)]
mod tests;
