//! The committed `docs/planning/week-of-plans.md` is what the rules give today, and each
//! example athlete's week shows the rule it was written for.

#[path = "../examples/week/athletes.rs"]
mod athletes;

use paceline_planning::{Band, DayKind};

use athletes::{Athlete, PlannedWeekDay, REFRESH, athletes, markdown, plan_week, seconds};

const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/planning/week-of-plans.md"
);

#[test]
fn the_committed_week_of_plans_is_what_the_rules_give() {
    let committed = std::fs::read_to_string(DOC)
        .unwrap_or_else(|e| panic!("{DOC}: {e}; write it with `{REFRESH}`"));
    let generated = markdown();
    if committed != generated {
        let (line, (old, new)) = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (old, new))| old != new)
            .map_or_else(
                || {
                    let n = committed.lines().count().min(generated.lines().count());
                    (n, ("(end of file)", "(end of file)"))
                },
                |(i, pair)| (i, pair),
            );
        panic!(
            "docs/planning/week-of-plans.md is stale: line {} reads\n  {old}\nbut the rules now give\n  {new}\nRefresh it from the workspace root with\n  {REFRESH}",
            line + 1
        );
    }
}

fn week_of(name: &str) -> (Athlete, Vec<PlannedWeekDay>) {
    let athlete = athletes(&athletes::shared_profile())
        .into_iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no example athlete {name}"));
    let days = plan_week(&athlete);
    (athlete, days)
}

fn why(day: &PlannedWeekDay) -> String {
    day.plan.why.join("\n")
}

/// Every day of every week: no workout longer than the day's minutes, and the week the
/// athlete rides never takes the ACWR past 1.5.
#[test]
fn every_example_day_fits_its_minutes_and_the_acwr_cap() {
    let profile = athletes::shared_profile();
    assert_eq!(profile.ftp, Some(240), "the shared profile changed");
    for athlete in athletes(&profile) {
        let days = plan_week(&athlete);
        assert_eq!(days.len(), 7);
        for day in &days {
            let weekday = usize::from(day.plan.date.weekday().number_days_from_monday());
            let minutes = day.plan.workout.as_ref().map_or(0, seconds) / 60;
            assert!(
                minutes <= athlete.availability_min[weekday],
                "{} {}: {minutes} min planned, {} available",
                athlete.name,
                day.plan.date,
                athlete.availability_min[weekday]
            );
            assert_eq!(
                day.plan.workout.is_none(),
                day.plan.kind == DayKind::Rest,
                "{} {}",
                athlete.name,
                day.plan.date
            );
        }
        // The ACWR of the last day (the whole week ridden as planned).
        let mut loads = athlete.history();
        loads.extend(days.iter().map(|d| paceline_planning::DayLoad {
            date: d.plan.date,
            tss: d.plan.target_tss,
        }));
        let sunday = days[6].plan.date;
        for day in paceline_planning::fitness(&loads, sunday - time::Duration::days(6), sunday) {
            let acwr = day.acwr.unwrap_or(0.0);
            assert!(
                acwr <= 1.5 + 1e-9,
                "{} {}: ACWR {acwr}",
                athlete.name,
                day.date
            );
        }
    }
}

#[test]
fn the_shared_profiles_poor_thursday_carries_at_most_nine_tenths_of_its_plan() {
    let (_, days) = week_of("Test Rider");
    let thursday = &days[3];
    let text = why(thursday);
    assert!(text.contains("Check-in poor"), "{text}");
    assert!(!thursday.plan.kind.is_hard(), "{:?}", thursday.plan.kind);
    // "at most 0.9 × the planned X TSS = Y TSS; planned Z TSS": Z ≤ Y.
    let line = thursday
        .plan
        .why
        .iter()
        .find(|l| l.starts_with("Check-in poor"))
        .expect("the check-in line");
    let limit: f64 = line
        .split(" = ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the limit in the line");
    assert!(
        thursday.plan.target_tss <= limit + 0.5,
        "{} TSS planned past the limit {limit}",
        thursday.plan.target_tss
    );
    // Saturday's excellent check-in with a green recovery raises the day.
    let saturday = &days[5];
    assert_eq!(
        saturday.inputs.recovery.as_ref().and_then(|r| r.band),
        Some(Band::Green)
    );
    assert!(
        why(saturday).contains("Check-in excellent"),
        "{}",
        why(saturday)
    );
}

#[test]
fn mayas_busy_wednesday_is_compressed_to_her_35_minutes() {
    let (athlete, days) = week_of("Maya");
    let wednesday = &days[2];
    let text = why(wednesday);
    assert!(text.contains("time-budget compression"), "{text}");
    let workout = wednesday.plan.workout.as_ref().expect("a workout");
    // 60 minutes available, the offsite leaves 35: the compressed workout fits them.
    assert_eq!(athlete.availability_min[2], 60);
    assert!(seconds(workout) <= 35 * 60, "{} s", seconds(workout));
    assert!(seconds(workout) >= 20 * 60, "{} s", seconds(workout));
    // A runner without a power meter: heart-rate targets.
    assert!(
        workout.steps.iter().all(|s| match s {
            paceline_schemas::plan::PlanStep::Step(step) => {
                matches!(step.target, paceline_schemas::plan::Target::HeartRate(_))
            }
            paceline_schemas::plan::PlanStep::Repeat(r) => r
                .steps
                .iter()
                .all(|s| matches!(s.target, paceline_schemas::plan::Target::HeartRate(_))),
        }),
        "{workout:?}"
    );
}

#[test]
fn jonas_red_tuesday_is_a_short_recovery_and_he_never_runs_or_goes_above_tempo() {
    let (_, days) = week_of("Jonas");
    let tuesday = &days[1];
    assert_eq!(
        tuesday.inputs.recovery.as_ref().and_then(|r| r.band),
        Some(Band::Red),
        "{:?}",
        tuesday.inputs.recovery
    );
    assert!(why(tuesday).contains("(red)"), "{}", why(tuesday));
    assert!(matches!(
        tuesday.plan.kind,
        DayKind::Recovery | DayKind::Rest
    ));
    assert!(tuesday.plan.workout.as_ref().map_or(0, seconds) <= 45 * 60);
    for day in &days {
        assert!(day.plan.kind <= DayKind::Tempo, "{:?}", day.plan.kind);
        if let Some(w) = &day.plan.workout {
            assert_eq!(
                w.sport,
                paceline_schemas::plan::Sport::Bike,
                "{}",
                day.plan.date
            );
        }
    }
    // The work trip from his calendar, Thursday and Friday: no trainer, 45 minutes.
    for day in &days[3..5] {
        assert!(
            why(day).contains("Travel (Work trip to Lyon)"),
            "{}",
            why(day)
        );
        assert!(day.plan.workout.as_ref().map_or(0, seconds) <= 45 * 60);
    }
}

#[test]
fn the_same_inputs_give_the_same_week() {
    let (athlete, days) = week_of("Maya");
    let again = plan_week(&athlete);
    for (a, b) in days.iter().zip(&again) {
        assert_eq!(a.plan, b.plan);
        assert_eq!(
            paceline_planning::inputs_digest(&a.inputs),
            paceline_planning::inputs_digest(&b.inputs)
        );
    }
}
