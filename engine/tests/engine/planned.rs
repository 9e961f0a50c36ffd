//! A workout the daily plan generates is a plan `paceline-engine replay` runs: written as
//! Paceline JSON (as the gateway hands it to the athlete), replayed over a real ride, and
//! every one of its steps is cued in order with its label, length, target and text.

use std::process::Command;

use paceline_planning::{
    CheckIn, DailyMetrics, DayKind, DayLoad, Equipment, Goal, PlanInputs, PlannedDay, daily_plan,
    fitness, recovery,
};
use paceline_schemas::WorkoutPlan;
use paceline_schemas::plan::{PlanStep, Sport, Step, StepIntent, Target};
use time::Duration;
use time::macros::date;

use crate::{profile, shared};

/// The shared profile's rider on a Tuesday of a build week, after an endurance Monday:
/// 60 days of 60 TSS, a green morning, 75 minutes (the ride replayed lasts 78).
fn inputs() -> PlanInputs {
    let today = date!(2026 - 12 - 08);
    let loads: Vec<DayLoad> = (1..=60)
        .map(|back| DayLoad {
            date: today - Duration::days(back),
            tss: 60.0,
        })
        .collect();
    let usual = DailyMetrics {
        resting_hr_bpm: Some(52.0),
        hrv_ms: Some(60.0),
        sleep_s: Some(7.5 * 3600.0),
        sleep_score: Some(85.0),
        stress: Some(20.0),
    };
    // HRV 10 % above and resting HR 5 % below the week before: 100 and 100; sleep
    // 0.6 × 100 + 0.4 × 85 = 94; stress 80: 0.4·100 + 0.3·100 + 0.2·94 + 0.1·80 = 96.8,
    // green.
    let morning = DailyMetrics {
        resting_hr_bpm: Some(49.4),
        hrv_ms: Some(66.0),
        ..usual
    };
    let recent = fitness(&loads, today - Duration::days(42), today);
    let acwr = recent.last().and_then(|d| d.acwr);
    let profile = profile();
    PlanInputs {
        today,
        goal: Goal::GeneralFitness,
        availability_min: [60, 75, 60, 90, 0, 180, 120],
        equipment: Equipment {
            trainer: true,
            power_meter: true,
            hr_strap: true,
            ..Equipment::default()
        },
        avoid_sports: vec![],
        injuries: vec![],
        sport: Sport::Bike,
        ftp_w: profile.ftp.map(f64::from),
        threshold_hr_bpm: profile.lthr.map(f64::from),
        recent,
        recovery: Some(recovery(&morning, &[usual; 7], acwr)),
        check_in: Some(CheckIn {
            energy: Some(3),
            mood: Some(4),
            soreness: Some(2),
            note: None,
        }),
        planned_before: vec![PlannedDay {
            date: today - Duration::days(1),
            kind: DayKind::Endurance,
            target_tss: 55.0,
        }],
        life: vec![],
    }
}

/// The steps as the Coach rides them: repeats expanded, with the work intervals' numbers.
fn ridden(plan: &WorkoutPlan) -> Vec<(String, &Step)> {
    let mut out = Vec::new();
    for entry in &plan.steps {
        match entry {
            PlanStep::Step(step) => out.push((label(step.intent, None), step)),
            PlanStep::Repeat(block) => {
                for rep in 0..block.count {
                    for step in &block.steps {
                        out.push((label(step.intent, Some((rep + 1, block.count))), step));
                    }
                }
            }
        }
    }
    out
}

fn label(intent: StepIntent, repeat: Option<(u32, u32)>) -> String {
    let name = match intent {
        StepIntent::Warmup => "Warm-up",
        StepIntent::Work => "Work",
        StepIntent::Recovery => "Recovery",
        StepIntent::Cooldown => "Cool-down",
        StepIntent::Free => "Free ride",
    };
    match (intent, repeat) {
        (StepIntent::Work, Some((rep, reps))) => format!("{name} {rep} of {reps}"),
        _ => name.to_owned(),
    }
}

/// The cue the Coach speaks at a step's start for a rider with `ftp_w`: label, length
/// (m:ss), target in watts, the step's text.
fn expected_cue(label: &str, step: &Step, ftp_w: f64) -> String {
    let Target::PowerFtp(range) = step.target else {
        panic!(
            "a rider with a power meter gets % FTP targets: {:?}",
            step.target
        );
    };
    let watts = |pct: f32| (ftp_w * f64::from(pct) / 100.0).round();
    let (m, s) = (step.duration_s / 60, step.duration_s % 60);
    format!(
        "{label}: {m}:{s:02} at {}–{} W. {}.",
        watts(range.low_pct),
        watts(range.high_pct),
        step.text.as_deref().unwrap_or_default()
    )
}

#[test]
fn a_generated_workout_replays_with_each_of_its_steps_cued_in_order() {
    let inputs = inputs();
    let plan = daily_plan(&inputs);
    assert_eq!(plan.kind, DayKind::Threshold, "why: {:#?}", plan.why);
    let workout = plan.workout.expect("a threshold day has a workout");
    assert!(
        workout
            .steps
            .iter()
            .any(|s| matches!(s, PlanStep::Repeat(r) if r.count >= 2)),
        "intervals as a repeat block: {workout:?}"
    );
    let steps = ridden(&workout);
    let total_s: u32 = steps.iter().map(|(_, s)| s.duration_s).sum();
    assert!(total_s <= 75 * 60, "{total_s} s");

    let dir = std::env::temp_dir().join(format!("paceline-planned-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let plan_path = dir.join("today.json");
    let json = paceline_schemas::codec::to_json(&workout).expect("the workout encodes");
    std::fs::write(&plan_path, json).expect("plan written");
    let out = Command::new(env!("CARGO_BIN_EXE_paceline-engine"))
        .arg("replay")
        .arg("--profile")
        .arg(shared("plans/athlete-profile.json"))
        .arg("--plan")
        .arg(&plan_path)
        .arg(shared("fit/Edge810-Vector-2013-08-16-15-35-10.fit"))
        .output()
        .expect("paceline-engine runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");

    // The step starts in order. The Coach may insert a step of its own: the real ride's
    // heart rate passes the profile's cap in the cool-down, and the safety rule inserts a
    // recovery (an `insert_recovery` modification, then that step's start).
    let mut starts: Vec<(f64, String)> = Vec::new();
    let mut inserted: Vec<String> = Vec::new();
    let mut insert_pending = false;
    for line in stdout.lines() {
        let cue: serde_json::Value = serde_json::from_str(line).expect("a cue is JSON");
        if cue["modification"]["kind"] == "insert_recovery" {
            insert_pending = true;
        }
        if cue["code"] != "step_start" {
            continue;
        }
        let text = cue["text"].as_str().unwrap_or_default().to_owned();
        if std::mem::take(&mut insert_pending) {
            inserted.push(text);
        } else {
            starts.push((cue["t_s"].as_f64().unwrap_or(-1.0), text));
        }
    }
    for text in &inserted {
        assert!(
            text.starts_with("Recovery: "),
            "the Coach's own step: {text}"
        );
    }
    let ftp_w = inputs.ftp_w.expect("the shared profile has an FTP");
    let expected: Vec<String> = steps
        .iter()
        .map(|(label, step)| expected_cue(label, step, ftp_w))
        .collect();
    let got: Vec<&str> = starts.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(got, expected, "all cues:\n{stdout}");

    // Each step starts when the ones before it are done: 0, 720, 1200 … s from the first
    // sample (the ride has no pause that would hold the Coach's clock).
    let mut planned_start_s = 0.0;
    for ((t_s, text), (_, step)) in starts.iter().zip(&steps) {
        assert!(
            (t_s - planned_start_s).abs() <= 1.0,
            "{text:?} at {t_s} s, planned at {planned_start_s} s"
        );
        planned_start_s += f64::from(step.duration_s);
    }
}
