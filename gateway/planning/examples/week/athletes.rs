//! Three example athletes and a week of their daily plans, as Markdown.
//!
//! Shared by the `week` example (which prints the Markdown that is committed as
//! `docs/planning/week-of-plans.md`) and the `week_of_plans` test (which regenerates it and
//! compares), so the document cannot drift from what the rules do.
//!
//! Each athlete has 6 weeks of daily load before the week (so CTL starts from 0 six weeks
//! back, as for an athlete whose library holds 6 weeks), daily metrics for the 7 days
//! before the week and for each day of it, a morning check-in each day, and life events.
//! The week is driven as the gateway drives it each morning: fitness of the 42 days before
//! today, today's recovery against the 7 days before with today's ACWR (today's load not
//! yet done), the check-in, the week's plans so far; then the athlete does exactly what was
//! planned, and that load is today's.
//!
//! - **Test Rider** (the profile in shared data): a cyclist with a power meter, general
//!   fitness; a poor check-in on Thursday, an excellent one on Saturday.
//! - **Maya**: a runner training for a half marathon with a treadmill and an HR strap,
//!   45-60 minutes on weekdays; "only 35 minutes" on Wednesday (a team offsite).
//! - **Jonas**: a triathlete back from an Achilles injury (no running, nothing above
//!   tempo), pool and bike; a red recovery morning on Tuesday and a work trip from his
//!   calendar (ICS) on Thursday and Friday.

use std::fmt::Write as _;

use paceline_planning::{
    CheckIn, DailyMetrics, DailyPlan, DayLoad, Equipment, Goal, LifeEvent, LifeKind, PlanInputs,
    PlannedDay, Recovery, daily_plan, fitness, parse_ics, recovery,
};
use paceline_schemas::AthleteProfile;
use paceline_schemas::plan::{PlanStep, Sport, Step, Target, WorkoutPlan};
use time::macros::date;
use time::{Date, Duration};

/// The Monday of the week planned.
pub const WEEK_MONDAY: Date = date!(2026 - 12 - 07);
/// Weeks of load history before it.
const HISTORY_WEEKS: usize = 6;
/// The command that refreshes the committed document.
pub const REFRESH: &str =
    "cargo run -p paceline-planning --example week > docs/planning/week-of-plans.md";

/// The shared example profile (`shared/data/plans/athlete-profile.json`).
pub fn shared_profile() -> AthleteProfile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/plans/athlete-profile.json"
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    paceline_schemas::codec::from_json(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One morning: metrics and check-in.
#[derive(Debug, Clone)]
pub struct Morning {
    /// HRV (rMSSD), ms.
    pub hrv_ms: f64,
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: f64,
    /// Sleep, hours.
    pub sleep_h: f64,
    /// Sleep score, 0-100.
    pub sleep_score: f64,
    /// Stress, 0-100.
    pub stress: f64,
    /// Energy, mood, soreness (1-5) and a note.
    pub check_in: (u8, u8, u8, &'static str),
}

const fn morning(
    hrv_ms: f64,
    resting_hr_bpm: f64,
    sleep_h: f64,
    sleep_score: f64,
    stress: f64,
    check_in: (u8, u8, u8, &'static str),
) -> Morning {
    Morning {
        hrv_ms,
        resting_hr_bpm,
        sleep_h,
        sleep_score,
        stress,
        check_in,
    }
}

impl Morning {
    fn metrics(&self) -> DailyMetrics {
        DailyMetrics {
            resting_hr_bpm: Some(self.resting_hr_bpm),
            hrv_ms: Some(self.hrv_ms),
            sleep_s: Some(self.sleep_h * 3600.0),
            sleep_score: Some(self.sleep_score),
            stress: Some(self.stress),
        }
    }

    fn check_in(&self) -> CheckIn {
        let (energy, mood, soreness, note) = self.check_in;
        CheckIn {
            energy: Some(energy),
            mood: Some(mood),
            soreness: Some(soreness),
            note: (!note.is_empty()).then(|| note.to_owned()),
        }
    }
}

/// An example athlete: who they are and everything their plans depend on.
#[derive(Debug, Clone)]
pub struct Athlete {
    /// Name.
    pub name: String,
    /// Who they are, one sentence.
    pub about: String,
    /// Goal.
    pub goal: Goal,
    /// Primary sport.
    pub sport: Sport,
    /// FTP, W.
    pub ftp_w: Option<f64>,
    /// Threshold heart rate, bpm.
    pub threshold_hr_bpm: Option<f64>,
    /// Minutes per weekday, Monday first.
    pub availability_min: [u32; 7],
    /// Equipment.
    pub equipment: Equipment,
    /// Sports to avoid.
    pub avoid_sports: Vec<String>,
    /// Injuries.
    pub injuries: Vec<String>,
    /// A typical week's load, TSS, Monday first.
    pub weekly_tss: [f64; 7],
    /// The scale of each of the 6 weeks of history, oldest first.
    pub history_scale: [f64; HISTORY_WEEKS],
    /// The usual morning (the 7 days before the week wobble around it).
    pub usual: Morning,
    /// The 7 mornings of the week.
    pub week: [Morning; 7],
    /// Life events.
    pub life: Vec<LifeEvent>,
    /// Where the life events came from.
    pub life_source: &'static str,
}

impl Athlete {
    /// The loads of the 6 weeks before the week, one entry a day (0 on rest days).
    pub fn history(&self) -> Vec<DayLoad> {
        let first = WEEK_MONDAY - Duration::weeks(HISTORY_WEEKS as i64);
        (0..HISTORY_WEEKS * 7)
            .map(|i| DayLoad {
                date: first + Duration::days(i as i64),
                tss: (self.weekly_tss[i % 7] * self.history_scale[i / 7]).round(),
            })
            .collect()
    }

    /// Metrics of the 7 days before the week: the usual morning with a small wobble.
    fn metrics_before(&self) -> Vec<(Date, DailyMetrics)> {
        const WOBBLE: [f64; 7] = [0.0, 2.0, -1.0, 1.0, -2.0, 1.0, -1.0];
        (0..7)
            .map(|i| {
                let date = WEEK_MONDAY - Duration::days(7 - i as i64);
                let w = WOBBLE[i];
                let u = &self.usual;
                let metrics = DailyMetrics {
                    resting_hr_bpm: Some(u.resting_hr_bpm - w / 2.0),
                    hrv_ms: Some(u.hrv_ms + w),
                    sleep_s: Some((u.sleep_h + w / 10.0) * 3600.0),
                    sleep_score: Some(u.sleep_score + 2.0 * w),
                    stress: Some(u.stress - 2.0 * w),
                };
                (date, metrics)
            })
            .collect()
    }
}

/// The example athletes, the shared profile's first.
pub fn athletes(profile: &AthleteProfile) -> Vec<Athlete> {
    let trip = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Paceline example//EN\r\n\
        BEGIN:VEVENT\r\nUID:lyon-1\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261212\r\n\
        SUMMARY:Work trip to Lyon\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let jonas_life = parse_ics(trip.as_bytes(), 10).expect("the example calendar parses");
    let neutral = (3, 4, 2, "");
    vec![
        Athlete {
            name: profile.name.clone().unwrap_or_else(|| "Test Rider".into()),
            about: format!(
                "The athlete profile in shared data (`shared/data/plans/athlete-profile.json`): \
                 {} years old, {:.0} kg, a cyclist training for general fitness on a smart \
                 trainer with a power meter and an HR strap; long rides at the weekend, no \
                 training on Fridays.",
                profile.age.unwrap_or(0),
                profile.weight_kg.unwrap_or(0.0)
            ),
            goal: Goal::GeneralFitness,
            sport: Sport::Bike,
            ftp_w: profile.ftp.map(f64::from),
            threshold_hr_bpm: profile.lthr.map(f64::from),
            availability_min: [60, 90, 60, 90, 0, 180, 120],
            equipment: Equipment {
                trainer: true,
                power_meter: true,
                hr_strap: true,
                ..Equipment::default()
            },
            avoid_sports: vec![],
            injuries: vec![],
            weekly_tss: [40.0, 85.0, 55.0, 90.0, 0.0, 150.0, 90.0],
            history_scale: [0.85, 0.9, 0.95, 0.6, 0.95, 1.0],
            usual: morning(62.0, 50.0, 7.6, 82.0, 25.0, neutral),
            week: [
                morning(63.0, 50.0, 7.8, 84.0, 22.0, (3, 4, 2, "")),
                morning(66.0, 49.0, 7.5, 80.0, 30.0, (4, 3, 2, "")),
                morning(60.0, 51.0, 7.0, 76.0, 35.0, (3, 3, 3, "")),
                morning(
                    60.0,
                    51.0,
                    6.8,
                    70.0,
                    40.0,
                    (2, 3, 4, "Legs heavy after Tuesday"),
                ),
                morning(63.0, 50.0, 8.2, 86.0, 20.0, (4, 4, 2, "")),
                morning(
                    67.0,
                    48.0,
                    8.4,
                    90.0,
                    15.0,
                    (5, 5, 1, "Feeling great, sunny day"),
                ),
                morning(61.0, 50.0, 7.4, 78.0, 25.0, neutral),
            ],
            life: vec![],
            life_source: "none",
        },
        Athlete {
            name: "Maya".into(),
            about: "A runner, 31, training for a half marathon at the end of February on a \
                    treadmill and outdoors with an HR strap (no power meter); weekdays are \
                    short (45-60 minutes, none on Monday and Friday), the long run is on \
                    Saturday."
                .into(),
            goal: Goal::EventOn {
                name: "City Half Marathon".into(),
                date: date!(2027 - 02 - 28),
                sport: Sport::Run,
            },
            sport: Sport::Run,
            ftp_w: None,
            threshold_hr_bpm: Some(172.0),
            availability_min: [0, 45, 60, 45, 0, 100, 60],
            equipment: Equipment {
                treadmill: true,
                hr_strap: true,
                ..Equipment::default()
            },
            avoid_sports: vec![],
            injuries: vec![],
            weekly_tss: [0.0, 45.0, 50.0, 45.0, 0.0, 90.0, 55.0],
            history_scale: [0.8, 0.85, 0.9, 0.95, 0.7, 1.0],
            usual: morning(48.0, 56.0, 7.2, 78.0, 35.0, neutral),
            week: [
                morning(49.0, 56.0, 7.4, 80.0, 30.0, neutral),
                morning(50.0, 55.0, 7.3, 79.0, 32.0, (3, 3, 2, "")),
                morning(
                    47.0,
                    57.0,
                    6.6,
                    70.0,
                    45.0,
                    (3, 3, 2, "Team offsite, only 35 minutes today"),
                ),
                morning(48.0, 56.0, 7.1, 77.0, 38.0, neutral),
                morning(50.0, 55.0, 7.9, 83.0, 25.0, neutral),
                morning(51.0, 54.0, 8.1, 85.0, 20.0, (4, 4, 1, "")),
                morning(49.0, 56.0, 7.5, 80.0, 28.0, neutral),
            ],
            life: vec![LifeEvent {
                kind: LifeKind::Busy,
                from: date!(2026 - 12 - 09),
                to: date!(2026 - 12 - 09),
                minutes_available: Some(35),
                summary: "Team offsite, only 35 minutes".into(),
            }],
            life_source: "entered by hand",
        },
        Athlete {
            name: "Jonas".into(),
            about: "A triathlete, 44, back to training after a left Achilles tendinopathy: \
                    no running yet and nothing above tempo; a bike with a power meter on a \
                    trainer, an HR strap and a pool; building back up over the last 6 weeks."
                .into(),
            goal: Goal::GeneralFitness,
            sport: Sport::Run,
            ftp_w: Some(265.0),
            threshold_hr_bpm: Some(162.0),
            availability_min: [60, 75, 60, 75, 45, 150, 90],
            equipment: Equipment {
                trainer: true,
                power_meter: true,
                hr_strap: true,
                pool: true,
                ..Equipment::default()
            },
            avoid_sports: vec!["run".into()],
            injuries: vec!["left Achilles tendinopathy".into()],
            weekly_tss: [35.0, 60.0, 45.0, 60.0, 30.0, 110.0, 70.0],
            history_scale: [0.4, 0.5, 0.6, 0.7, 0.8, 0.85],
            usual: morning(70.0, 46.0, 7.5, 80.0, 30.0, neutral),
            week: [
                morning(74.0, 45.0, 7.6, 81.0, 28.0, neutral),
                morning(
                    61.0,
                    48.0,
                    6.0,
                    55.0,
                    50.0,
                    (3, 3, 2, "Baby awake at night"),
                ),
                morning(68.0, 47.0, 7.2, 76.0, 35.0, neutral),
                morning(70.0, 46.0, 6.8, 72.0, 45.0, (3, 3, 2, "Train to Lyon")),
                morning(69.0, 47.0, 6.9, 70.0, 40.0, neutral),
                morning(72.0, 45.0, 8.0, 84.0, 20.0, neutral),
                morning(71.0, 46.0, 7.8, 82.0, 22.0, neutral),
            ],
            life: jonas_life,
            life_source: "from his calendar (ICS)",
        },
    ]
}

/// One planned day with what it was planned from.
#[derive(Debug, Clone)]
pub struct PlannedWeekDay {
    /// The inputs.
    pub inputs: PlanInputs,
    /// Today's ACWR (today's load not yet done), as the recovery used it.
    pub acwr: Option<f64>,
    /// The plan.
    pub plan: DailyPlan,
}

/// The athlete's week: 7 plans, each done as planned.
pub fn plan_week(athlete: &Athlete) -> Vec<PlannedWeekDay> {
    let mut loads = athlete.history();
    let mut metrics = athlete.metrics_before();
    let mut planned_before: Vec<PlannedDay> = Vec::new();
    let mut days = Vec::new();
    for (i, morning) in athlete.week.iter().enumerate() {
        let today = WEEK_MONDAY + Duration::days(i as i64);
        let recent = fitness(
            &loads,
            today - Duration::days(42),
            today - Duration::days(1),
        );
        let acwr = fitness(&loads, today, today).first().and_then(|d| d.acwr);
        let previous: Vec<DailyMetrics> = metrics[metrics.len() - 7..]
            .iter()
            .map(|(_, m)| *m)
            .collect();
        let today_metrics = morning.metrics();
        let inputs = PlanInputs {
            today,
            goal: athlete.goal.clone(),
            availability_min: athlete.availability_min,
            equipment: athlete.equipment,
            avoid_sports: athlete.avoid_sports.clone(),
            injuries: athlete.injuries.clone(),
            sport: athlete.sport,
            ftp_w: athlete.ftp_w,
            threshold_hr_bpm: athlete.threshold_hr_bpm,
            recent,
            recovery: Some(recovery(&today_metrics, &previous, acwr)),
            check_in: Some(morning.check_in()),
            planned_before: planned_before.clone(),
            life: athlete.life.clone(),
        };
        let plan = daily_plan(&inputs);
        metrics.push((today, today_metrics));
        planned_before.push(PlannedDay {
            date: today,
            kind: plan.kind,
            target_tss: plan.target_tss,
        });
        loads.push(DayLoad {
            date: today,
            tss: plan.target_tss,
        });
        days.push(PlannedWeekDay { inputs, acwr, plan });
    }
    days
}

/// The whole document.
pub fn markdown() -> String {
    let profile = shared_profile();
    let mut out = String::new();
    out.push_str("# A week of daily plans for three example athletes\n\n");
    let _ = writeln!(
        out,
        "Generated by `paceline_planning::daily_plan` for the week of Monday {WEEK_MONDAY}; \
         do not edit by hand. Refresh with\n`{REFRESH}`\n(the `week_of_plans` test fails \
         when this file and the rules disagree).\n"
    );
    out.push_str(
        "Each morning is planned as the gateway plans it: fitness of the 42 days before \
         today, today's recovery against the 7 mornings before with today's ACWR, today's \
         check-in, the week's plans so far and the life events. Each athlete then does \
         exactly what was planned, and that load is the day's. The history is 6 weeks \
         long, so CTL starts from 0 six weeks back. The `why` lines are the plan's own, \
         verbatim.\n",
    );
    for athlete in athletes(&profile) {
        athlete_section(&mut out, &athlete, &plan_week(&athlete));
    }
    out
}

fn athlete_section(out: &mut String, athlete: &Athlete, days: &[PlannedWeekDay]) {
    let _ = writeln!(out, "\n## {}\n\n{}\n", athlete.name, athlete.about);
    out.push_str("| input | value |\n|---|---|\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "| {name} | {value} |");
    };
    row("goal", goal_text(&athlete.goal));
    row("primary sport", sport_text(athlete.sport).into());
    row(
        "thresholds",
        match (athlete.ftp_w, athlete.threshold_hr_bpm) {
            (Some(ftp), Some(hr)) => format!("FTP {ftp:.0} W, threshold HR {hr:.0} bpm"),
            (None, Some(hr)) => format!("threshold HR {hr:.0} bpm (no FTP)"),
            (Some(ftp), None) => format!("FTP {ftp:.0} W"),
            (None, None) => "none".into(),
        },
    );
    row("equipment", equipment_text(athlete.equipment));
    row(
        "minutes available, Mon-Sun",
        athlete
            .availability_min
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
    );
    row(
        "constraints",
        if athlete.injuries.is_empty() && athlete.avoid_sports.is_empty() {
            "none".into()
        } else {
            format!(
                "injury: {}; avoid: {}",
                or_none(&athlete.injuries),
                or_none(&athlete.avoid_sports)
            )
        },
    );
    let history = athlete.history();
    let weekly: Vec<String> = history
        .chunks(7)
        .map(|w| format!("{:.0}", w.iter().map(|d| d.tss).sum::<f64>()))
        .collect();
    row("load, 6 weeks before (TSS per week)", weekly.join(", "));
    if let Some(day) = days.first().and_then(|d| d.inputs.recent.last()) {
        row(
            "coming into Monday",
            format!(
                "CTL {:.1}, ATL {:.1}, TSB {:.1}, ACWR {}",
                day.ctl,
                day.atl,
                day.tsb,
                day.acwr.map_or("-".into(), |a| format!("{a:.2}"))
            ),
        );
    }
    let u = &athlete.usual;
    row(
        "usual morning",
        format!(
            "HRV {:.0} ms, resting HR {:.0} bpm, sleep {:.1} h (score {:.0}), stress {:.0}",
            u.hrv_ms, u.resting_hr_bpm, u.sleep_h, u.sleep_score, u.stress
        ),
    );
    row(
        "life events",
        if athlete.life.is_empty() {
            "none".into()
        } else {
            let events: Vec<String> = athlete.life.iter().map(life_text).collect();
            format!("{} ({})", events.join("; "), athlete.life_source)
        },
    );

    out.push_str(
        "\n| day | morning | recovery | check-in | plan | min | TSS |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (day, morning) in days.iter().zip(&athlete.week) {
        let _ = writeln!(
            out,
            "| {} | HRV {:.0}, RHR {:.0}, sleep {:.1} h/{:.0}, stress {:.0} | {} | {} | {} | {} | {:.0} |",
            day_name(day.plan.date),
            morning.hrv_ms,
            morning.resting_hr_bpm,
            morning.sleep_h,
            morning.sleep_score,
            morning.stress,
            recovery_text(day.inputs.recovery.as_ref()),
            check_in_text(day.inputs.check_in.as_ref()),
            day.plan.kind.as_str(),
            day.plan.workout.as_ref().map_or(0, |w| seconds(w) / 60),
            day.plan.target_tss,
        );
    }
    for day in days {
        day_section(out, day);
    }
}

fn day_section(out: &mut String, day: &PlannedWeekDay) {
    let plan = &day.plan;
    let title = match &plan.workout {
        Some(w) => format!(
            "{}: {} ({}, {} min, {:.0} TSS)",
            day_name(plan.date),
            w.name,
            sport_text(w.sport),
            seconds(w) / 60,
            plan.target_tss
        ),
        None => format!("{}: {}", day_name(plan.date), plan.kind.as_str()),
    };
    let _ = writeln!(out, "\n### {title}\n");
    let yesterday = day.inputs.recent.last();
    let _ = writeln!(
        out,
        "Coming in: CTL {}, TSB {}, ACWR today {}; recovery {}; check-in {}.\n",
        yesterday.map_or("-".into(), |d| format!("{:.1}", d.ctl)),
        yesterday.map_or("-".into(), |d| format!("{:.1}", d.tsb)),
        day.acwr.map_or("-".into(), |a| format!("{a:.2}")),
        recovery_text(day.inputs.recovery.as_ref()),
        check_in_text(day.inputs.check_in.as_ref()),
    );
    if let Some(w) = &plan.workout {
        let steps: Vec<String> = w.steps.iter().map(step_text).collect();
        let _ = writeln!(out, "Steps: {}.\n", steps.join(" → "));
    }
    out.push_str("Why:\n");
    for line in &plan.why {
        let _ = writeln!(out, "- {line}");
    }
}

fn step_text(step: &PlanStep) -> String {
    match step {
        PlanStep::Step(s) => one_step(s),
        PlanStep::Repeat(r) => {
            let inner: Vec<String> = r.steps.iter().map(one_step).collect();
            format!("{} × ({})", r.count, inner.join(", "))
        }
    }
}

fn one_step(step: &Step) -> String {
    let text = step.text.as_deref().unwrap_or("");
    format!(
        "{} {} at {}",
        duration_text(step.duration_s),
        text,
        target_text(&step.target)
    )
}

fn target_text(target: &Target) -> String {
    match target {
        Target::PowerW(r) => format!("{}-{} W", r.low_w, r.high_w),
        Target::PowerFtp(r) => format!("{:.0}-{:.0} % FTP", r.low_pct, r.high_pct),
        Target::PowerFtpRamp(r) => format!("{:.0}→{:.0} % FTP", r.start_pct, r.end_pct),
        Target::HeartRate(r) => format!("{}-{} bpm", r.low_bpm, r.high_bpm),
        Target::HrZone(z) => format!("HR zone {}", z.zone),
        Target::PowerZone(z) => format!("power zone {}", z.zone),
        Target::Open(o) => o.rpe.map_or("feel".into(), |r| format!("RPE {r}")),
    }
}

fn duration_text(seconds: u32) -> String {
    match (seconds / 60, seconds % 60) {
        (m, 0) => format!("{m} min"),
        (0, s) => format!("{s} s"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The workout's length, s, repeats expanded.
pub fn seconds(plan: &WorkoutPlan) -> u32 {
    plan.steps
        .iter()
        .map(|s| match s {
            PlanStep::Step(step) => step.duration_s,
            PlanStep::Repeat(r) => r.count * r.steps.iter().map(|s| s.duration_s).sum::<u32>(),
        })
        .sum()
}

fn recovery_text(recovery: Option<&Recovery>) -> String {
    match recovery.and_then(|r| r.score.zip(r.band)) {
        Some((score, band)) => format!("{score:.1} {}", band.as_str()),
        None => "unknown".into(),
    }
}

fn check_in_text(check_in: Option<&CheckIn>) -> String {
    let Some(c) = check_in else {
        return "none".into();
    };
    let value = |v: Option<u8>| v.map_or("-".into(), |v| v.to_string());
    let verdict = if c.is_poor() {
        " (poor)"
    } else if c.is_excellent() {
        " (excellent)"
    } else {
        ""
    };
    let note = c
        .note
        .as_ref()
        .map_or(String::new(), |n| format!(", \"{n}\""));
    format!(
        "energy {} mood {} soreness {}{verdict}{note}",
        value(c.energy),
        value(c.mood),
        value(c.soreness)
    )
}

fn goal_text(goal: &Goal) -> String {
    match goal {
        Goal::EventOn { name, date, sport } => {
            format!("{name} ({}) on {date}", sport_text(*sport))
        }
        Goal::GeneralFitness => "general fitness".into(),
    }
}

fn sport_text(sport: Sport) -> &'static str {
    paceline_planning::plan::sport_name(sport)
}

fn equipment_text(e: Equipment) -> String {
    let names: Vec<&str> = [
        (e.trainer, "trainer"),
        (e.power_meter, "power meter"),
        (e.hr_strap, "HR strap"),
        (e.treadmill, "treadmill"),
        (e.pool, "pool"),
    ]
    .into_iter()
    .filter_map(|(has, name)| has.then_some(name))
    .collect();
    or_none(&names)
}

fn or_none<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn life_text(event: &LifeEvent) -> String {
    let days = if event.from == event.to {
        day_name(event.from)
    } else {
        format!("{} to {}", day_name(event.from), day_name(event.to))
    };
    let minutes = event
        .minutes_available
        .map_or(String::new(), |m| format!(", {m} minutes"));
    format!(
        "{} \"{}\", {days}{minutes}",
        event.kind.as_str(),
        event.summary
    )
}

fn day_name(date: Date) -> String {
    let weekday = match date.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    format!("{weekday} {date}")
}
