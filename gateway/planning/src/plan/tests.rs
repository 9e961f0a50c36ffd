use paceline_schemas::plan::{FtpRange, PlanStep, Step, StepIntent, Target};
use proptest::prelude::*;
use time::macros::date;

use super::*;
use crate::load::{DayLoad, fitness};
use crate::recovery::Components;

/// A Wednesday in a general-fitness build week (week 2 of its block).
const WEDNESDAY: Date = date!(2026 - 12 - 09);

fn history(today: Date, daily_tss: &[f64]) -> Vec<FitnessDay> {
    let first = today - Duration::days(daily_tss.len() as i64);
    let loads: Vec<DayLoad> = daily_tss
        .iter()
        .enumerate()
        .map(|(i, &tss)| DayLoad {
            date: first + Duration::days(i as i64),
            tss,
        })
        .collect();
    fitness(&loads, first, today - Duration::days(1))
}

fn recovery_of(score: f64) -> Recovery {
    Recovery {
        score: Some(score),
        band: Some(Band::of(score)),
        components: Components::default(),
        multiplier: 1.0,
        missing: vec![],
    }
}

fn inputs() -> PlanInputs {
    PlanInputs {
        today: WEDNESDAY,
        goal: Goal::GeneralFitness,
        availability_min: [60, 90, 90, 90, 60, 180, 120],
        equipment: Equipment {
            trainer: true,
            power_meter: true,
            hr_strap: true,
            ..Equipment::default()
        },
        avoid_sports: vec![],
        injuries: vec![],
        sport: Sport::Bike,
        ftp_w: Some(240.0),
        threshold_hr_bpm: Some(168.0),
        recent: history(WEDNESDAY, &[60.0; 60]),
        recovery: Some(recovery_of(85.0)),
        check_in: None,
        planned_before: vec![PlannedDay {
            date: WEDNESDAY - Duration::days(1),
            kind: DayKind::Endurance,
            target_tss: 60.0,
        }],
        life: vec![],
    }
}

fn steps(plan: &WorkoutPlan) -> Vec<&Step> {
    plan.steps
        .iter()
        .flat_map(|s| match s {
            PlanStep::Step(step) => vec![step],
            PlanStep::Repeat(r) => (0..r.count).flat_map(|_| r.steps.iter()).collect(),
        })
        .collect()
}

fn seconds(plan: &DailyPlan) -> u32 {
    plan.workout
        .as_ref()
        .map_or(0, |w| steps(w).iter().map(|s| s.duration_s).sum())
}

/// The highest % of FTP any step asks for (power targets).
fn peak_pct(plan: &DailyPlan) -> f32 {
    plan.workout.as_ref().map_or(0.0, |w| {
        steps(w)
            .iter()
            .map(|s| match s.target {
                Target::PowerFtp(r) => r.high_pct,
                _ => 0.0,
            })
            .fold(0.0, f32::max)
    })
}

#[test]
fn a_build_day_after_an_easy_one_is_threshold_in_percent_of_ftp_with_its_reasons() {
    let plan = daily_plan(&inputs());
    assert_eq!(plan.kind, DayKind::Threshold);
    assert_eq!(plan.date, WEDNESDAY);
    assert!(seconds(&plan) <= 90 * 60);
    assert!(peak_pct(&plan) >= 100.0);
    let workout = plan.workout.as_ref().unwrap();
    assert!(
        workout
            .steps
            .iter()
            .any(|s| matches!(s, PlanStep::Repeat(_)))
    );
    assert!((plan.target_tss - 0.0).abs() > 1.0);
    let why = plan.why.join("\n");
    for expected in ["week 2 of a 4-week block", "Weekly load", "Hard day 1 of 3"] {
        assert!(why.contains(expected), "{expected:?} not in\n{why}");
    }
}

#[test]
fn an_easy_day_follows_a_hard_one_and_zero_minutes_is_rest() {
    let mut i = inputs();
    i.planned_before[0].kind = DayKind::Vo2;
    let plan = daily_plan(&i);
    assert_eq!(plan.kind, DayKind::Endurance);
    assert!(plan.why.iter().any(|w| w.contains("Yesterday was vo2")));

    i.availability_min[2] = 0;
    let plan = daily_plan(&i);
    assert_eq!(
        (plan.kind, plan.target_tss, plan.workout),
        (DayKind::Rest, 0.0, None)
    );
    assert!(
        plan.why
            .iter()
            .any(|w| w.contains("No minutes available on Wednesday"))
    );
}

#[test]
fn red_recovery_is_a_short_recovery_ride_or_rest() {
    let mut i = inputs();
    i.recovery = Some(recovery_of(42.0));
    let plan = daily_plan(&i);
    assert_eq!(plan.kind, DayKind::Recovery);
    assert!(seconds(&plan) <= RED_MAX_MINUTES * 60);
    assert!(peak_pct(&plan) <= 55.0);
    i.recovery = Some(recovery_of(25.0));
    assert_eq!(daily_plan(&i).kind, DayKind::Rest);
}

#[test]
fn a_poor_check_in_lowers_the_load_and_an_excellent_one_raises_it() {
    let neutral = daily_plan(&inputs());
    let mut poor = inputs();
    poor.check_in = Some(CheckIn {
        energy: Some(2),
        mood: Some(4),
        soreness: Some(2),
        note: None,
    });
    let poor = daily_plan(&poor);
    assert!(poor.target_tss <= 0.9 * neutral.target_tss, "{poor:?}");
    assert!(!poor.kind.is_hard());
    assert!(
        poor.why
            .last()
            .unwrap()
            .starts_with("Check-in poor (energy 2, mood 4, soreness 2)")
    );

    // An endurance day with room to grow (180 minutes on Saturday).
    let mut base = inputs();
    base.today = date!(2026 - 12 - 12);
    base.planned_before = vec![PlannedDay {
        date: date!(2026 - 12 - 11),
        kind: DayKind::Threshold,
        target_tss: 80.0,
    }];
    base.availability_min[5] = 300;
    base.availability_min[6] = 300;
    base.recent = history(base.today, &[30.0; 60]);
    let neutral = daily_plan(&base);
    let mut excellent = base.clone();
    excellent.check_in = Some(CheckIn {
        energy: Some(5),
        mood: Some(4),
        soreness: Some(1),
        note: Some("great sleep".into()),
    });
    let excellent = daily_plan(&excellent);
    assert_eq!(neutral.kind, DayKind::Endurance);
    assert!(
        excellent.target_tss >= 1.1 * neutral.target_tss,
        "{excellent:?}\n{neutral:?}"
    );
    assert!(excellent.why.last().unwrap().contains("at least 1.1 ×"));
}

#[test]
fn the_load_that_would_push_acwr_past_1_5_is_capped() {
    let mut i = inputs();
    // 21 days of 50 then 6 of 100: (1.5 · 1650 − 4 · 600) / 2.5 = 30 TSS left today.
    let mut tss = vec![50.0; 21];
    tss.extend([100.0; 6]);
    i.recent = history(WEDNESDAY, &tss);
    i.planned_before.clear();
    let plan = daily_plan(&i);
    let (acute_6, chronic_27) = (600.0, 1650.0);
    let acwr = (acute_6 + plan.target_tss) / 7.0 / ((chronic_27 + plan.target_tss) / 28.0);
    assert!(plan.target_tss > 0.0 && plan.target_tss <= 30.0, "{plan:?}");
    assert!(acwr <= MAX_ACWR + 1e-9, "{acwr} {plan:?}");
    assert!(
        plan.why
            .iter()
            .any(|w| w.contains("today may carry at most 30 TSS")),
        "{:#?}",
        plan.why
    );

    i.recent = history(WEDNESDAY, &[0.0; 42]);
    let fresh = daily_plan(&i);
    assert!(fresh.target_tss <= FRESH_START_TSS);
}

#[test]
fn every_fourth_week_of_general_fitness_is_a_recovery_week() {
    let mut i = inputs();
    // Monday 2026-12-14 is week 154 from 2024-01-01: 154 % 4 = 2, the third week; the
    // week of 2026-12-21 is the fourth.
    i.today = date!(2026 - 12 - 23);
    i.planned_before.clear();
    let plan = daily_plan(&i);
    assert!(plan.why[0].contains("the recovery week"), "{:?}", plan.why);
    assert!(!plan.kind.is_hard());
    i.today = date!(2026 - 12 - 30);
    assert!(daily_plan(&i).why[0].contains("week 1 of a 4-week block"));
}

#[test]
fn an_event_shapes_the_weeks_before_it_and_its_day() {
    let mut i = inputs();
    i.goal = Goal::EventOn {
        name: "Gran Fondo".into(),
        date: date!(2026 - 12 - 13),
        sport: Sport::Bike,
    };
    let taper = daily_plan(&i);
    assert!(taper.why[0].contains("Gran Fondo is in 4 days: taper week"));
    i.today = date!(2026 - 12 - 13);
    let race = daily_plan(&i);
    assert_eq!((race.kind, race.workout), (DayKind::Event, None));
    i.today = date!(2026 - 12 - 12);
    assert_eq!(daily_plan(&i).kind, DayKind::Easy);
}

#[test]
fn life_events_reshape_the_day() {
    let mut i = inputs();
    i.life = vec![LifeEvent {
        kind: LifeKind::Busy,
        from: WEDNESDAY,
        to: WEDNESDAY,
        minutes_available: Some(35),
        summary: "Board meeting".into(),
    }];
    let busy = daily_plan(&i);
    assert!(seconds(&busy) <= 35 * 60);
    // Named for the minutes ridden, not the workout before compression.
    let name = &busy.workout.as_ref().unwrap().name;
    assert!(
        name.ends_with(&format!(" {} min", seconds(&busy) / 60)),
        "{name} for {} s",
        seconds(&busy)
    );
    assert!(busy.target_tss > 0.0);
    let why = busy.why.last().unwrap();
    assert!(
        why.starts_with("busy (Board meeting): 35 minutes available, so the"),
        "{why}"
    );
    assert!(why.contains("live Coach's time-budget compression"));

    i.life[0].kind = LifeKind::Illness;
    assert_eq!(daily_plan(&i).kind, DayKind::Rest);

    i.life[0].kind = LifeKind::Travel;
    i.life[0].minutes_available = None;
    i.equipment = Equipment {
        hr_strap: true,
        trainer: true,
        ..Equipment::default()
    };
    let travel = daily_plan(&i);
    assert!(seconds(&travel) <= 45 * 60);
    let targets = steps(travel.workout.as_ref().unwrap())
        .iter()
        .all(|s| matches!(s.target, Target::HeartRate(_)));
    assert!(targets, "heart-rate targets without a power meter");
}

#[test]
fn fit_to_minutes_is_the_coachs_hybrid_compression_on_the_sweet_spot_example() {
    let step = |intent, duration_s, low_pct, high_pct| {
        PlanStep::Step(Step {
            intent,
            duration_s,
            target: Target::PowerFtp(FtpRange { low_pct, high_pct }),
            cadence_rpm: None,
            text: None,
        })
    };
    let work = || step(StepIntent::Work, 720, 88.0, 92.0);
    let rest = || step(StepIntent::Recovery, 240, 50.0, 60.0);
    let plan = WorkoutPlan {
        name: "Sweet spot".into(),
        description: None,
        sport: Sport::Bike,
        steps: vec![
            step(StepIntent::Warmup, 600, 60.0, 65.0),
            work(),
            rest(),
            work(),
            rest(),
            work(),
            step(StepIntent::Cooldown, 360, 50.0, 60.0),
        ],
    };
    let fitted = fit_to_minutes(&plan, 35);
    let kept: Vec<(StepIntent, u32)> = steps(&fitted)
        .iter()
        .map(|s| (s.intent, s.duration_s))
        .collect();
    // The budget module's worked example: warm-up 360 s, two full reps, one 120 s
    // recovery, cool-down 180 s.
    assert_eq!(
        kept,
        [
            (StepIntent::Warmup, 360),
            (StepIntent::Work, 720),
            (StepIntent::Recovery, 120),
            (StepIntent::Work, 720),
            (StepIntent::Cooldown, 180),
        ]
    );
    assert_eq!(fit_to_minutes(&plan, 60), plan);
    assert_eq!(
        steps(&fit_to_minutes(&plan, 0))
            .iter()
            .map(|s| s.duration_s)
            .sum::<u32>(),
        0
    );
}

#[test]
fn the_inputs_digest_is_stable_and_follows_every_input() {
    let a = inputs_digest(&inputs());
    assert_eq!(a.len(), 64);
    assert_eq!(a, inputs_digest(&inputs()));
    let mut changed = inputs();
    changed.availability_min[6] += 1;
    assert_ne!(a, inputs_digest(&changed));
    let mut changed = inputs();
    changed.check_in = Some(CheckIn::default());
    assert_ne!(a, inputs_digest(&changed));
    assert_eq!(DayKind::parse(DayKind::Vo2.as_str()), Some(DayKind::Vo2));
}

fn arbitrary_inputs() -> impl Strategy<Value = PlanInputs> {
    (
        0i64..400,
        proptest::array::uniform7(prop_oneof![Just(0u32), 10u32..240]),
        proptest::collection::vec(prop_oneof![Just(0.0), 0.0..250.0f64], 0..70),
        prop_oneof![Just(None), (0.0..100.0f64).prop_map(Some)],
        proptest::option::of((1u8..=5, 1u8..=5, 1u8..=5)),
        proptest::option::of(0usize..7),
        proptest::option::of((
            0usize..4,
            prop_oneof![Just(None), (0u32..120).prop_map(Some)],
        )),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(day, availability, tss, score, check_in, yesterday, life, (power, strap, event))| {
                let today = date!(2026 - 01 - 01) + Duration::days(day);
                let kinds = [
                    DayKind::Rest,
                    DayKind::Recovery,
                    DayKind::Easy,
                    DayKind::Endurance,
                    DayKind::Tempo,
                    DayKind::Threshold,
                    DayKind::Vo2,
                ];
                let life_kinds = [
                    LifeKind::Travel,
                    LifeKind::Illness,
                    LifeKind::Busy,
                    LifeKind::Other,
                ];
                PlanInputs {
                    today,
                    goal: if event {
                        Goal::EventOn {
                            name: "Race".into(),
                            date: today + Duration::days(day % 90),
                            sport: Sport::Run,
                        }
                    } else {
                        Goal::GeneralFitness
                    },
                    availability_min: availability,
                    equipment: Equipment {
                        power_meter: power,
                        hr_strap: strap,
                        ..Equipment::default()
                    },
                    avoid_sports: vec![],
                    injuries: vec![],
                    sport: Sport::Bike,
                    ftp_w: Some(250.0),
                    threshold_hr_bpm: None,
                    recent: history(today, &tss),
                    recovery: score.map(recovery_of),
                    check_in: check_in.map(|(energy, mood, soreness)| CheckIn {
                        energy: Some(energy),
                        mood: Some(mood),
                        soreness: Some(soreness),
                        note: None,
                    }),
                    planned_before: yesterday
                        .map(|k| PlannedDay {
                            date: today - Duration::days(1),
                            kind: kinds[k],
                            target_tss: 50.0,
                        })
                        .into_iter()
                        .collect(),
                    life: life
                        .map(|(k, minutes)| LifeEvent {
                            kind: life_kinds[k],
                            from: today,
                            to: today,
                            minutes_available: minutes,
                            summary: "event".into(),
                        })
                        .into_iter()
                        .collect(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_plan_is_deterministic_fits_the_day_and_keeps_acwr_within_1_5(i in arbitrary_inputs()) {
        let plan = daily_plan(&i);
        prop_assert_eq!(&plan, &daily_plan(&i));
        prop_assert_eq!(inputs_digest(&i), inputs_digest(&i.clone()));
        let available = i.availability_min[usize::from(i.today.weekday().number_days_from_monday())];
        prop_assert!(seconds(&plan) <= available * 60);
        prop_assert_eq!(plan.workout.is_none(), plan.target_tss == 0.0);
        prop_assert!(plan.target_tss.is_finite() && plan.target_tss >= 0.0);
        prop_assert!(!plan.why.is_empty());
        let before = |days: i64| -> f64 {
            i.recent.iter().filter(|d| d.date >= i.today - Duration::days(days)).map(|d| d.tss).sum()
        };
        let (acute_6, chronic_27) = (before(6), before(27));
        if chronic_27 > 0.0 && plan.target_tss > 0.0 {
            let acwr = (acute_6 + plan.target_tss) / 7.0 / ((chronic_27 + plan.target_tss) / 28.0);
            prop_assert!(acwr <= MAX_ACWR + 1e-9, "ACWR {} with {:?}", acwr, plan);
        } else {
            prop_assert!(plan.target_tss <= FRESH_START_TSS);
        }
    }

    #[test]
    fn red_recovery_never_plans_intensity(mut i in arbitrary_inputs(), score in 0.0..49.9f64) {
        i.recovery = Some(recovery_of(score));
        i.equipment.power_meter = true;
        let plan = daily_plan(&i);
        prop_assert!(matches!(plan.kind, DayKind::Rest | DayKind::Recovery | DayKind::Event), "{:?}", plan);
        prop_assert!(peak_pct(&plan) <= 55.0);
        prop_assert!(seconds(&plan) <= RED_MAX_MINUTES * 60);
    }

    #[test]
    fn a_poor_check_in_never_plans_more_than_0_9_of_the_load(mut i in arbitrary_inputs(), energy in 1u8..=2) {
        i.check_in = None;
        let neutral = daily_plan(&i);
        i.check_in = Some(CheckIn { energy: Some(energy), mood: Some(3), soreness: Some(3), note: None });
        let poor = daily_plan(&i);
        prop_assert!(poor.target_tss <= 0.9 * neutral.target_tss + 1e-9, "{:?}\n{:?}", poor, neutral);
        prop_assert!(!poor.kind.is_hard() || poor.kind == DayKind::Event);
    }
}

/// A week as the athlete would live it: each day's plan ridden as planned, then the next
/// day planned with it in `recent` and `planned_before`. The shared profile (FTP 240 W,
/// LTHR 168 bpm), a steady 50 TSS a day before, a busy Thursday with 35 minutes.
fn simulated_week(monday: Date) -> String {
    let mut i = inputs();
    i.recent = history(monday, &[50.0; 60]);
    i.planned_before.clear();
    i.life = vec![LifeEvent {
        kind: LifeKind::Busy,
        from: monday + Duration::days(3),
        to: monday + Duration::days(3),
        minutes_available: Some(35),
        summary: "Board meeting".into(),
    }];
    let mut loads: Vec<DayLoad> = i
        .recent
        .iter()
        .map(|d| DayLoad {
            date: d.date,
            tss: d.tss,
        })
        .collect();
    let first = loads[0].date;
    let mut out = String::new();
    for day in 0..7 {
        i.today = monday + Duration::days(day);
        let plan = daily_plan(&i);
        out += &format!(
            "{} {} {:.0} TSS {} min\n",
            plan.date,
            plan.kind.as_str(),
            plan.target_tss,
            seconds(&plan) / 60
        );
        for why in &plan.why {
            out += &format!("  - {why}\n");
        }
        loads.push(DayLoad {
            date: plan.date,
            tss: plan.target_tss,
        });
        i.recent = fitness(&loads, first, plan.date);
        i.planned_before.push(PlannedDay {
            date: plan.date,
            kind: plan.kind,
            target_tss: plan.target_tss,
        });
    }
    out
}

#[test]
fn a_week_for_the_shared_profile_reads_as_planned() {
    expect_test::expect![[r#"
        2026-12-07 threshold 56 TSS 57 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 0 done, 494 left, today's share 43 TSS.
          - Hard day 1 of 3 this week, after a day that was not hard: threshold.
        2026-12-08 endurance 62 TSS 82 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 56 done, 438 left, today's share 63 TSS.
          - Yesterday was threshold: an easy day follows a hard one.
        2026-12-09 vo2 82 TSS 85 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 118 done, 377 left, today's share 63 TSS.
          - Hard day 2 of 3 this week, after a day that was not hard: vo2.
        2026-12-10 endurance 26 TSS 35 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 199 done, 295 left, today's share 59 TSS.
          - Yesterday was vo2: an easy day follows a hard one.
          - busy (Board meeting): 35 minutes available, so the 90-minute workout is compressed to 35 minutes by the live Coach's time-budget compression; 68 → 26 TSS.
        2026-12-11 tempo 51 TSS 60 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 225 done, 269 left, today's share 45 TSS.
          - Hard day 3 of 3 this week, after a day that was not hard: tempo.
          - 60 minutes available: the workout fills them (51 of the 58 TSS wanted).
        2026-12-12 endurance 130 TSS 166 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 276 done, 218 left, today's share 131 TSS.
          - Yesterday was tempo: an easy day follows a hard one.
        2026-12-13 endurance 87 TSS 113 min
          - General fitness: week 2 of a 4-week block, a build week.
          - Weekly load 494 TSS: CTL 38.0 on Monday plus a ramp capped at 5 CTL/week; 407 done, 87 left, today's share 87 TSS.
          - 3 hard days this week already, 3 allowed this week: endurance.
    "#]].assert_eq(&simulated_week(date!(2026 - 12 - 07)));
}

#[test]
fn easier_and_harder_go_through_the_same_rules() {
    use super::{IntensityChange, IntensityRequest, daily_plan_with_intensity};
    let base = daily_plan(&inputs());
    assert!(base.workout.is_some());
    let ask = |change, work_power_w, hr_cap_bpm| IntensityRequest {
        change,
        work_power_w,
        hr_cap_bpm,
    };
    let easier =
        daily_plan_with_intensity(&inputs(), ask(IntensityChange::Easier, None, None)).unwrap();
    assert!(!easier.kind.is_hard(), "{:?}", easier.kind);
    assert!(
        easier.target_tss <= 0.8 * base.target_tss + 1e-9,
        "{} vs {}",
        easier.target_tss,
        base.target_tss
    );
    assert!(
        easier.why.last().unwrap().starts_with("Asked for easier"),
        "{:?}",
        easier.why
    );
    let harder =
        daily_plan_with_intensity(&inputs(), ask(IntensityChange::Harder, None, None)).unwrap();
    assert!(harder.target_tss >= base.target_tss, "{harder:?}");
    assert!(
        harder.why.iter().any(|w| w.starts_with("Asked for harder")),
        "{:?}",
        harder.why
    );
    // 400 W on an FTP of 240 W: the work steps get at most 360 W, and why says so.
    let clamped = daily_plan_with_intensity(
        &inputs(),
        ask(IntensityChange::Harder, Some(400), Some(175)),
    )
    .unwrap();
    let work: Vec<&Step> = steps(clamped.workout.as_ref().unwrap())
        .into_iter()
        .filter(|s| s.intent == paceline_schemas::plan::StepIntent::Work)
        .collect();
    if !work.is_empty() {
        for s in &work {
            assert_eq!(
                s.target,
                paceline_schemas::plan::Target::PowerW(paceline_schemas::plan::PowerRange {
                    low_w: 342,
                    high_w: 360
                })
            );
            assert_eq!(s.text.as_deref(), Some("Keep heart rate below 175 bpm"));
        }
    }
    assert!(
        clamped
            .why
            .iter()
            .any(|w| w == "400 W is above 1.5 × FTP (240 W): the work intervals are set to 360 W."),
        "{:?}",
        clamped.why
    );
    // Red recovery: harder is refused, the plan stays what the rules made.
    let mut red = inputs();
    red.recovery = Some(recovery_of(20.0));
    let refused = daily_plan_with_intensity(&red, ask(IntensityChange::Harder, None, None))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("recovery is red") || refused.contains("no workout"),
        "{refused}"
    );
}

#[test]
fn a_new_change_to_a_day_goes_on_top_of_the_earlier_one() {
    use super::{DayChange, IntensityChange, IntensityRequest, daily_plan_with_change};
    let easier = DayChange {
        intensity: Some(IntensityRequest {
            change: IntensityChange::Easier,
            work_power_w: None,
            hr_cap_bpm: None,
        }),
        sport: None,
    };
    let run = DayChange {
        intensity: None,
        sport: Some(Sport::Run),
    };
    // Easier, then a run: both hold.
    let both = easier.then(run);
    assert_eq!(
        both,
        DayChange {
            intensity: easier.intensity,
            sport: Some(Sport::Run)
        }
    );
    let planners_run = daily_plan_with_change(&inputs(), run).unwrap();
    let easier_run = daily_plan_with_change(&inputs(), both).unwrap();
    assert_eq!(
        easier_run.workout.as_ref().map(|w| w.sport),
        Some(Sport::Run),
        "{easier_run:?}"
    );
    assert!(!easier_run.kind.is_hard(), "{:?}", easier_run.kind);
    assert!(
        easier_run.target_tss <= 0.8 * planners_run.target_tss + 1e-9,
        "{} vs {}",
        easier_run.target_tss,
        planners_run.target_tss
    );
    assert!(
        easier_run
            .why
            .iter()
            .any(|w| w.starts_with("Asked for easier")),
        "{:?}",
        easier_run.why
    );
    // A newer intensity replaces the earlier one; the sport stays.
    let harder = DayChange {
        intensity: Some(IntensityRequest {
            change: IntensityChange::Harder,
            work_power_w: None,
            hr_cap_bpm: None,
        }),
        sport: None,
    };
    assert_eq!(
        both.then(harder),
        DayChange {
            intensity: harder.intensity,
            sport: Some(Sport::Run)
        }
    );
    // Nothing new: the earlier changes as they were; a run avoided is planned when asked.
    assert_eq!(both.then(DayChange::default()), both);
    assert!(DayChange::default().is_empty() && !both.is_empty());
    let mut avoiding = inputs();
    avoiding.avoid_sports = vec!["run".to_owned()];
    let asked = daily_plan_with_change(&avoiding, run).unwrap();
    assert_eq!(asked.workout.map(|w| w.sport), Some(Sport::Run));
}
