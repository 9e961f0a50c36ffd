//! The simulator: deterministic, on virtual time, physiologically plausible enough for
//! demos and the coach's safety scenarios.

use paceline_edge::simulator::{Scenario, SimulatedAthlete, SimulatedSensors, SimulatorConfig};
use paceline_schemas::plan::{FtpRange, PlanStep, Sport, Step, StepIntent, Target};
use paceline_schemas::sample::Contact;
use paceline_schemas::{SampleValue, WorkoutPlan};

fn ride(config: SimulatorConfig, until_ms: u64) -> Vec<paceline_schemas::Sample> {
    let mut athlete = SimulatedAthlete::new(config);
    let mut out = Vec::new();
    // Uneven steps of virtual time give the same samples as one big step.
    let mut t = 0;
    while t < until_ms {
        t += 777;
        out.extend(athlete.samples_at(t.min(until_ms)));
    }
    out
}

fn heart_rates(samples: &[paceline_schemas::Sample]) -> Vec<(u64, u16, Contact)> {
    samples
        .iter()
        .filter_map(|s| match &s.value {
            SampleValue::HeartRate(hr) => Some((s.t_ms, hr.bpm, hr.contact)),
            _ => None,
        })
        .collect()
}

fn powers(samples: &[paceline_schemas::Sample]) -> Vec<(u64, i16)> {
    samples
        .iter()
        .filter_map(|s| match &s.value {
            SampleValue::CyclingPower(p) => Some((s.t_ms, p.power_w)),
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_same_ride_and_rates_of_1_and_4_hz() {
    let config = SimulatorConfig {
        seed: 42,
        ..SimulatorConfig::default()
    };
    let a = ride(config.clone(), 60_000);
    let b = ride(config, 60_000);
    assert_eq!(a, b);
    // 0 ms to 60,000 ms inclusive.
    assert_eq!(heart_rates(&a).len(), 61);
    assert_eq!(powers(&a).len(), 241);
    let c = ride(
        SimulatorConfig {
            seed: 43,
            ..SimulatorConfig::default()
        },
        60_000,
    );
    assert_ne!(a, c);
    // Time never goes backwards.
    assert!(a.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
}

#[test]
fn heart_rate_follows_power_with_a_lag() {
    let samples = ride(
        SimulatorConfig {
            scenario: Scenario::Intervals,
            artifact_rate: 0.0,
            ..SimulatorConfig::default()
        },
        1_200_000,
    );
    let hr = heart_rates(&samples);
    let at = |t_s: u64| hr.iter().find(|(t, _, _)| *t >= t_s * 1000).unwrap().1;
    // Warm-up is easy; the first 110 % interval starts at 600 s and HR climbs over ~1 min.
    assert!(at(590) < at(760), "{} → {}", at(590), at(760));
    assert!(at(600) + 5 < at(770));
    // Recovery (780..960 s) brings it down again.
    assert!(at(950) < at(775));
}

#[test]
fn overheat_drives_heart_rate_through_the_cap() {
    let config = SimulatorConfig {
        scenario: Scenario::Overheat,
        hr_max_bpm: 185,
        artifact_rate: 0.0,
        ..SimulatorConfig::default()
    };
    let hr = heart_rates(&ride(config, 900_000));
    let cap = 185.0 * 0.92;
    let first_above = hr
        .iter()
        .find(|(_, bpm, _)| f64::from(*bpm) >= cap)
        .map(|(t, _, _)| *t);
    let first_above = first_above.expect("HR reaches the 92 % cap");
    assert!(first_above > 120_000, "heat builds after the first minutes");
    let sustained = hr
        .iter()
        .filter(|(t, bpm, _)| *t > first_above && f64::from(*bpm) >= cap)
        .count();
    assert!(sustained > 60, "and stays there ({sustained} s)");
}

#[test]
fn dropout_goes_silent_and_loses_contact() {
    let config = SimulatorConfig {
        scenario: Scenario::Dropout,
        ..SimulatorConfig::default()
    };
    let samples = ride(config, 400_000);
    let hr = heart_rates(&samples);
    let gaps = hr.windows(2).filter(|w| w[1].0 - w[0].0 > 15_000).count();
    assert!(gaps >= 2, "two 20 s silences in 400 s");
    assert!(hr.iter().any(|(_, _, contact)| *contact == Contact::Off));
}

#[test]
fn power_follows_the_plan() {
    let step = |duration_s: u32, pct: f32| {
        PlanStep::Step(Step {
            intent: StepIntent::Work,
            duration_s,
            target: Target::PowerFtp(FtpRange {
                low_pct: pct - 5.0,
                high_pct: pct + 5.0,
            }),
            cadence_rpm: None,
            text: None,
        })
    };
    let plan = WorkoutPlan {
        name: "two blocks".into(),
        description: None,
        sport: Sport::Bike,
        steps: vec![step(60, 50.0), step(60, 100.0)],
    };
    let samples = ride(
        SimulatorConfig {
            ftp_w: 300,
            plan: Some(plan),
            ..SimulatorConfig::default()
        },
        200_000,
    );
    let power = powers(&samples);
    let mean = |from: u64, to: u64| {
        let v: Vec<f64> = power
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, p)| f64::from(*p))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        (mean(0, 60_000) - 150.0).abs() < 15.0,
        "{}",
        mean(0, 60_000)
    );
    assert!(
        (mean(60_000, 120_000) - 300.0).abs() < 25.0,
        "{}",
        mean(60_000, 120_000)
    );
    // The ride ends with the plan.
    assert!(power.iter().all(|(t, _)| *t < 120_000));
}

#[test]
fn all_sensors_produce_their_kinds() {
    let samples = ride(
        SimulatorConfig {
            sensors: SimulatedSensors::ALL,
            ..SimulatorConfig::default()
        },
        10_000,
    );
    for kind in [
        "heart_rate",
        "cycling_power",
        "speed_cadence",
        "indoor_bike",
    ] {
        assert!(
            samples
                .iter()
                .any(|s| paceline_schemas::codec::to_json(&s.value)
                    .unwrap()
                    .contains(kind)),
            "{kind}"
        );
    }
}

#[test]
fn batteries_start_by_seed_and_fall_slowly() {
    use paceline_edge::simulator::BATTERY_MS_PER_PCT;
    use paceline_schemas::SensorKind;

    let athlete = |seed, sensors| {
        SimulatedAthlete::new(SimulatorConfig {
            seed,
            sensors,
            ..SimulatorConfig::default()
        })
    };
    let default = athlete(3, SimulatedSensors::default());
    let kinds: Vec<SensorKind> = default.batteries_at(0).iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [SensorKind::HeartRate, SensorKind::Power],
        "only what is worn"
    );
    let all = athlete(3, SimulatedSensors::ALL).batteries_at(0);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[..2],
        default.batteries_at(0)[..],
        "same seed, same batteries"
    );

    let mut starts = Vec::new();
    for seed in 0..200 {
        let rider = athlete(seed, SimulatedSensors::default());
        for (i, &(kind, start)) in rider.batteries_at(0).iter().enumerate() {
            assert!((10..=100).contains(&start), "{kind:?} starts at {start}");
            starts.push(start);
            // One percent per step of ride time, never below 1 %.
            let later = rider.batteries_at(5 * BATTERY_MS_PER_PCT + 1)[i].1;
            assert_eq!(later, start.saturating_sub(5).max(1));
            assert_eq!(rider.batteries_at(BATTERY_MS_PER_PCT - 1)[i].1, start);
            assert_eq!(rider.batteries_at(u64::MAX)[i].1, 1);
        }
    }
    assert!(starts.iter().any(|&s| s < 20), "some riders start low");
    assert!(starts.iter().any(|&s| s > 90), "and some full");
}
