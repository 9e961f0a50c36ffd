//! The Coach's cost per sample.
//!
//! An hour of riding a VO2 session (heart rate at 1 Hz, power at 4 Hz, the way a strap and
//! a power meter send them) is generated once, then fed through a fresh `Coach` the way the
//! live operator drives it: fire due timeouts, hand over the sample, drain the outputs.
//! Two shapes are timed: one session on its own, and 1,000 sessions interleaved sample by
//! sample (each coach's state cold in cache, as in a busy worker).

use std::time::Instant;

use paceline_coach::{Coach, CoachConfig};
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate, Sample, SampleValue};
use paceline_schemas::{AthleteProfile, SessionId, WorkoutPlan};

/// The plan ridden: warm-up, 5 × (3 min at 115 % FTP, 3 min easy), then steady and cool-down.
pub const PLAN_JSON: &str = r#"{"name":"VO2 5x3","sport":"bike","steps":[
  {"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"power_ftp_ramp","start_pct":45,"end_pct":75}},
  {"kind":"repeat","count":5,"steps":[
    {"intent":"work","duration_s":180,"target":{"kind":"power_ftp","low_pct":115,"high_pct":115}},
    {"intent":"recovery","duration_s":180,"target":{"kind":"power_ftp","low_pct":50,"high_pct":50}}]},
  {"kind":"step","intent":"work","duration_s":900,"target":{"kind":"power_ftp","low_pct":85,"high_pct":90}},
  {"kind":"step","intent":"cooldown","duration_s":300,"target":{"kind":"power_ftp_ramp","start_pct":55,"end_pct":40}}]}"#;

/// The athlete (the shared example profile's numbers).
pub const PROFILE_JSON: &str = r#"{"age":38,"sex":"female","weight_kg":64.0,"hr_max":186,"hr_rest":52,
  "lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000}"#;

/// One timed shape's figures.
#[derive(Debug, Clone)]
pub struct CoachFigures {
    /// What was timed.
    pub shape: &'static str,
    /// Samples per run.
    pub samples: usize,
    /// Outputs per run (cues and target changes), a check that the coach was working.
    pub outputs: usize,
    /// Nanoseconds per sample: median, min and max over the runs.
    pub ns_per_sample: [f64; 3],
}

/// A generated session: `(now_ms, sample)` in arrival order.
pub fn hour_of_riding(seconds: u64) -> Vec<(u64, Sample)> {
    let mut stream = Vec::with_capacity(usize::try_from(seconds * 5).unwrap_or(0));
    let start_ms = 1_700_000_000_000;
    for s in 0..seconds {
        // Heart rate wanders between ~120 and ~165 with the intervals; power follows the plan
        // loosely with some noise from a fixed pseudo-random sequence.
        let phase = (s % 360) as f64 / 360.0;
        let hr = 120.0 + 40.0 * (phase * std::f64::consts::PI).sin() + (s % 7) as f64;
        let t = start_ms + s * 1000;
        stream.push((t, heart_rate_sample(t, hr)));
        for q in 0..4 {
            let w = 150.0
                + 120.0 * (phase * std::f64::consts::TAU).sin().max(0.0)
                + ((s * 4 + q) % 13) as f64;
            let tq = t + q * 250 + 10;
            stream.push((tq, power_sample(tq, w)));
        }
    }
    stream
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "generated values are within range"
)]
fn heart_rate_sample(t_ms: u64, bpm: f64) -> Sample {
    Sample {
        t_ms,
        value: SampleValue::HeartRate(HeartRate {
            bpm: bpm as u16,
            contact: Contact::On,
            energy_kj: None,
            rr_1024: vec![],
        }),
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "generated values are within range"
)]
fn power_sample(t_ms: u64, power_w: f64) -> Sample {
    Sample {
        t_ms,
        value: SampleValue::CyclingPower(CyclingPower {
            power_w: power_w as i16,
            cadence_rpm: Some(90.0),
            ..Default::default()
        }),
    }
}

fn new_coach(index: usize, profile: &AthleteProfile, plan: &WorkoutPlan) -> anyhow::Result<Coach> {
    let session = SessionId::new(format!("bench-{index}"))?;
    Ok(Coach::new(
        session,
        profile,
        Some(plan),
        CoachConfig::default(),
    )?)
}

/// Drives one coach with one input the way the live operator does; returns outputs seen.
fn feed(coach: &mut Coach, now_ms: u64, sample: &Sample) -> usize {
    let mut outputs = 0;
    while let Some(due) = coach.poll_timeout().filter(|&t| t <= now_ms) {
        coach.handle_timeout(due);
        while coach.poll_output().is_some() {
            outputs += 1;
        }
    }
    coach.handle_sample(now_ms, sample);
    while coach.poll_output().is_some() {
        outputs += 1;
    }
    outputs
}

fn stats(mut values: Vec<f64>) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    [median, values[0], values[values.len() - 1]]
}

/// Times both shapes over `runs` runs each.
pub fn run(runs: usize) -> anyhow::Result<Vec<CoachFigures>> {
    let profile: AthleteProfile = paceline_schemas::codec::from_json(PROFILE_JSON.as_bytes())?;
    let plan: WorkoutPlan = paceline_schemas::codec::from_json(PLAN_JSON.as_bytes())?;
    let mut figures = Vec::new();

    // One session, one hour.
    let stream = hour_of_riding(3600);
    let mut per_sample = Vec::with_capacity(runs);
    let mut outputs = 0;
    for run in 0..runs + 2 {
        let mut coach = new_coach(0, &profile, &plan)?;
        let started = Instant::now();
        let mut seen = 0;
        for (now, sample) in &stream {
            seen += feed(&mut coach, *now, std::hint::black_box(sample));
        }
        let elapsed = started.elapsed();
        outputs = seen;
        if run >= 2 {
            per_sample.push(elapsed.as_nanos() as f64 / stream.len() as f64);
        }
    }
    figures.push(CoachFigures {
        shape: "one session, 1 h",
        samples: stream.len(),
        outputs,
        ns_per_sample: stats(per_sample),
    });

    // 1,000 sessions of 10 minutes, interleaved sample by sample.
    let sessions = 1_000;
    let stream = hour_of_riding(600);
    let mut per_sample = Vec::with_capacity(runs);
    for run in 0..runs.div_ceil(3) + 1 {
        let mut coaches = (0..sessions)
            .map(|i| new_coach(i, &profile, &plan))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let started = Instant::now();
        let mut seen = 0;
        for (now, sample) in &stream {
            for coach in &mut coaches {
                seen += feed(coach, *now, std::hint::black_box(sample));
            }
        }
        let elapsed = started.elapsed();
        outputs = seen;
        if run >= 1 {
            per_sample.push(elapsed.as_nanos() as f64 / (stream.len() * sessions) as f64);
        }
    }
    figures.push(CoachFigures {
        shape: "1,000 sessions interleaved, 10 min each",
        samples: stream.len() * sessions,
        outputs,
        ns_per_sample: stats(per_sample),
    });
    Ok(figures)
}
