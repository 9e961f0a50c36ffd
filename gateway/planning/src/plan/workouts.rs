//! The workout of each [`DayKind`] at a given length, in Paceline's plan format.
//!
//! Every workout is a warm-up, a main set and a cool-down; intensities are written as a
//! range of % of FTP (the nominal intensity) and turned into the athlete's target kind:
//!
//! | kind | warm-up | main set | cool-down |
//! |---|---|---|---|
//! | recovery | 5 min 40–50 % | free 45–55 % | 5 min 40–50 % |
//! | easy | 5 min 45–55 % | free 56–65 % | 5 min 45–55 % |
//! | endurance | 10 min 50–60 % | free 65–75 % | 5 min 45–55 % |
//! | tempo | 10 min 50–65 % | 2–4 × (10 min 80–87 %, 3 min 50–55 %) | 5 min 45–55 % |
//! | threshold | 12 min 50–70 % | 2–5 × (8 min 95–100 %, 4 min 50–55 %) | 6 min 45–55 % |
//! | VO2max | 12 min 50–70 % | 2–6 × (3 min 110–118 %, 3 min 45–55 %) | 6 min 45–55 % |
//!
//! Minutes left after the repetitions are ridden at endurance (65–75 %) after them, or
//! added to the cool-down when under a minute. So a longer workout never carries less
//! load. Targets: % of FTP with a power meter; else heart rate (bpm from the threshold
//! heart rate through 40 → 65, 55 → 80, 75 → 89, 90 → 94, 105 → 100, 120 → 106 % of LTHR,
//! or the zone without one) with a strap; else RPE (`% FTP × 7 / 100`, rounded, as the
//! Coach reads RPE: 7 is threshold).
//!
//! Load is the live Coach's: `seconds / 3600 · IF² · 100` per step at the middle of its
//! range (`paceline_coach::budget::load`).

use paceline_coach::budget;
use paceline_schemas::plan::{
    FtpRange, HeartRateRange, Open, PlanStep, RepeatBlock, Sport, Step, StepIntent, Target,
    WorkoutPlan, Zone,
};

use super::DayKind;

/// How targets are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TargetMode {
    /// % of FTP.
    Power,
    /// Heart rate: bpm from the threshold heart rate, or zones without one.
    HeartRate { lthr_bpm: Option<f64> },
    /// Perceived exertion.
    Rpe,
}

/// One step at a nominal intensity.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    intent: StepIntent,
    duration_s: u32,
    low_pct: f64,
    high_pct: f64,
    text: &'static str,
}

impl Segment {
    fn mid(&self) -> f64 {
        (self.low_pct + self.high_pct) / 200.0
    }
}

enum Block {
    One(Segment),
    Repeat(u32, Vec<Segment>),
}

/// A workout built for a kind and a length: its blocks and their load.
pub(crate) struct Built {
    blocks: Vec<Block>,
}

const fn seg(
    intent: StepIntent,
    duration_s: u32,
    low_pct: f64,
    high_pct: f64,
    text: &'static str,
) -> Segment {
    Segment {
        intent,
        duration_s,
        low_pct,
        high_pct,
        text,
    }
}

const FILL: Segment = seg(StepIntent::Free, 0, 65.0, 75.0, "Steady endurance");

/// Warm-up, main intensity (free) or repetition, max repetitions, cool-down.
fn shape(kind: DayKind) -> Option<(Segment, Vec<Segment>, u32, Segment)> {
    use StepIntent::{Cooldown, Free, Recovery, Warmup, Work};
    let cool = |s| seg(Cooldown, s, 45.0, 55.0, "Cool down easy");
    Some(match kind {
        DayKind::Rest | DayKind::Event => return None,
        DayKind::Recovery => (
            seg(Warmup, 300, 40.0, 50.0, "Warm up very easy"),
            vec![seg(
                Free,
                0,
                45.0,
                55.0,
                "Recovery spin: easy, conversational",
            )],
            0,
            seg(Cooldown, 300, 40.0, 50.0, "Cool down"),
        ),
        DayKind::Easy => (
            seg(Warmup, 300, 45.0, 55.0, "Warm up easy"),
            vec![seg(Free, 0, 56.0, 65.0, "Easy aerobic")],
            0,
            cool(300),
        ),
        DayKind::Endurance => (
            seg(Warmup, 600, 50.0, 60.0, "Warm up"),
            vec![FILL],
            0,
            cool(300),
        ),
        DayKind::Tempo => (
            seg(Warmup, 600, 50.0, 65.0, "Warm up, building"),
            vec![
                seg(Work, 600, 80.0, 87.0, "Tempo: strong but steady"),
                seg(Recovery, 180, 50.0, 55.0, "Easy"),
            ],
            4,
            cool(300),
        ),
        DayKind::Threshold => (
            seg(Warmup, 720, 50.0, 70.0, "Warm up, building"),
            vec![
                seg(Work, 480, 95.0, 100.0, "Threshold: hard, controlled"),
                seg(Recovery, 240, 50.0, 55.0, "Easy"),
            ],
            5,
            cool(360),
        ),
        DayKind::Vo2 => (
            seg(Warmup, 720, 50.0, 70.0, "Warm up, building"),
            vec![
                seg(Work, 180, 110.0, 118.0, "VO2max: very hard"),
                seg(Recovery, 180, 45.0, 55.0, "Easy"),
            ],
            6,
            cool(360),
        ),
    })
}

/// The fewest minutes a workout of `kind` takes (two repetitions for the hard kinds; 20
/// minutes for the others).
pub(crate) fn min_minutes(kind: DayKind) -> u32 {
    match shape(kind) {
        Some((warmup, rep, reps, cool)) if reps > 0 => {
            let rep_s: u32 = rep.iter().map(|s| s.duration_s).sum();
            (warmup.duration_s + cool.duration_s + 2 * rep_s).div_ceil(60)
        }
        _ => 20,
    }
}

/// The workout of `kind` lasting `minutes` (at least [`min_minutes`]).
pub(crate) fn build(kind: DayKind, minutes: u32) -> Option<Built> {
    let (warmup, rep, max_reps, mut cool) = shape(kind)?;
    let total_s = minutes.max(min_minutes(kind)) * 60;
    let main_s = total_s - warmup.duration_s - cool.duration_s;
    let mut blocks = vec![Block::One(warmup)];
    let mut fill_s = main_s;
    let mut fill = FILL;
    if max_reps > 0 {
        let rep_s: u32 = rep.iter().map(|s| s.duration_s).sum();
        let reps = (main_s / rep_s).min(max_reps);
        fill_s -= reps * rep_s;
        blocks.push(Block::Repeat(reps, rep));
    } else {
        fill = rep[0];
    }
    if fill_s >= 60 {
        blocks.push(Block::One(Segment {
            duration_s: fill_s,
            ..fill
        }));
    } else {
        cool.duration_s += fill_s;
    }
    blocks.push(Block::One(cool));
    Some(Built { blocks })
}

impl Built {
    /// The nominal intensity (fraction of FTP) of each step, repeat blocks expanded, in
    /// the order the Coach rides them.
    pub(crate) fn intensities(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for block in &self.blocks {
            match block {
                Block::One(s) => out.push(s.mid()),
                Block::Repeat(count, steps) => {
                    for _ in 0..*count {
                        out.extend(steps.iter().map(Segment::mid));
                    }
                }
            }
        }
        out
    }

    /// Its load, TSS, as the Coach counts it.
    pub(crate) fn tss(&self) -> f64 {
        let mut tss = 0.0;
        for block in &self.blocks {
            match block {
                Block::One(s) => tss += budget::load(s.duration_s, s.mid()),
                Block::Repeat(count, steps) => {
                    let one: f64 = steps
                        .iter()
                        .map(|s| budget::load(s.duration_s, s.mid()))
                        .sum();
                    tss += f64::from(*count) * one;
                }
            }
        }
        tss
    }

    /// Its length, s.
    pub(crate) fn duration_s(&self) -> u32 {
        self.blocks
            .iter()
            .map(|b| match b {
                Block::One(s) => s.duration_s,
                Block::Repeat(count, steps) => {
                    count * steps.iter().map(|s| s.duration_s).sum::<u32>()
                }
            })
            .sum()
    }

    /// The plan, with targets of `mode`.
    pub(crate) fn plan(
        &self,
        kind: DayKind,
        sport: Sport,
        mode: TargetMode,
        description: String,
    ) -> WorkoutPlan {
        let step = |s: &Segment| Step {
            intent: s.intent,
            duration_s: s.duration_s,
            target: target(s, mode),
            cadence_rpm: None,
            text: Some(s.text.to_owned()),
        };
        let steps = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::One(s) => PlanStep::Step(step(s)),
                Block::Repeat(count, steps) => PlanStep::Repeat(RepeatBlock {
                    count: *count,
                    steps: steps.iter().map(step).collect(),
                }),
            })
            .collect();
        WorkoutPlan {
            name: format!("{} {} min", kind.title(), self.duration_s() / 60),
            description: Some(description),
            sport,
            steps,
        }
    }
}

fn target(s: &Segment, mode: TargetMode) -> Target {
    match mode {
        TargetMode::Power => Target::PowerFtp(FtpRange {
            low_pct: pct_f32(s.low_pct),
            high_pct: pct_f32(s.high_pct),
        }),
        TargetMode::HeartRate {
            lthr_bpm: Some(lthr),
        } => Target::HeartRate(HeartRateRange {
            low_bpm: bpm(lthr * hr_pct(s.low_pct) / 100.0),
            high_bpm: bpm(lthr * hr_pct(s.high_pct) / 100.0),
        }),
        TargetMode::HeartRate { lthr_bpm: None } => {
            let mid = s.mid() * 100.0;
            let zone = [55.0, 75.0, 90.0, 105.0]
                .iter()
                .take_while(|&&upper| mid > upper)
                .count();
            Target::HrZone(Zone {
                zone: u8::try_from(zone + 1).unwrap_or(5),
            })
        }
        TargetMode::Rpe => Target::Open(Open {
            rpe: Some(rpe(s.mid())),
        }),
    }
}

/// % of FTP → % of LTHR (module docs).
fn hr_pct(ftp_pct: f64) -> f64 {
    const POINTS: [(f64, f64); 6] = [
        (40.0, 65.0),
        (55.0, 80.0),
        (75.0, 89.0),
        (90.0, 94.0),
        (105.0, 100.0),
        (120.0, 106.0),
    ];
    let x = ftp_pct.clamp(POINTS[0].0, POINTS[5].0);
    POINTS
        .windows(2)
        .find(|w| x <= w[1].0)
        .map_or(POINTS[5].1, |w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        })
}

fn rpe(fraction: f64) -> u8 {
    let r = (fraction * 7.0).round().clamp(1.0, 10.0);
    (1..=10u8).find(|&v| f64::from(v) >= r).unwrap_or(10)
}

fn bpm(value: f64) -> u16 {
    let v = value.round().clamp(30.0, 230.0);
    (30..=230u16).find(|&b| f64::from(b) >= v).unwrap_or(230)
}

#[allow(clippy::cast_possible_truncation)] // Percentages of FTP, 40 to 118: exact in f32.
fn pct_f32(pct: f64) -> f32 {
    pct as f32
}
