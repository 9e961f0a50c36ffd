//! Synthetic athletes: the stand-in for sensors in demos, tests and benchmarks.
//!
//! A [`SimulatedAthlete`] is deterministic (seeded) and has no clock: it is driven by
//! virtual time through [`SimulatedAthlete::samples_at`], which returns every sample due up
//! to that time. Power follows a target — a [`Scenario`]'s built-in script or a
//! [`WorkoutPlan`]'s steps resolved against the athlete's FTP — with noise; heart rate
//! follows power with first-order kinetics towards a power-driven steady state, plus
//! cardiac drift, noise, artifact spikes and dropouts.
//!
//! Scenarios: `steady` (70 % FTP), `intervals` (warm-up, 5 × 3 min at 110 % / 3 min easy,
//! cool-down), `overheat` (steady work while heat drives heart rate through the cap
//! towards the athlete's maximum), `dropout` (steady, with the strap and the power meter
//! going silent for 20 s every 3 min, and the strap losing contact).

use paceline_schemas::plan::{PlanStep, Step, Target};
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate, IndoorBike, SpeedCadence};
use paceline_schemas::{AthleteProfile, Sample, SampleValue, SensorKind, WorkoutPlan};

/// How fast a simulated sensor's battery runs down: one percent per this much ride time, ms.
/// Far faster than a real coin cell, so that demos and tests see it move.
pub const BATTERY_MS_PER_PCT: u64 = 120_000;

/// A scripted ride.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scenario {
    /// Steady endurance work at 70 % FTP.
    #[default]
    Steady,
    /// Warm-up, 5 × (3 min at 110 % FTP, 3 min at 50 %), cool-down.
    Intervals,
    /// Steady work at 75 % FTP while heat drives heart rate through the cap.
    Overheat,
    /// Steady work with sensor dropouts (20 s of silence every 3 min) and contact loss.
    Dropout,
}

impl Scenario {
    /// Every scenario, with its name.
    pub const ALL: [(Scenario, &'static str); 4] = [
        (Scenario::Steady, "steady"),
        (Scenario::Intervals, "intervals"),
        (Scenario::Overheat, "overheat"),
        (Scenario::Dropout, "dropout"),
    ];

    /// The scenario's name (as in config files and on the command line).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(scenario, _)| *scenario == self)
            .map_or("steady", |(_, name)| name)
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(scenario, _)| *scenario)
            .ok_or_else(|| {
                format!("unknown scenario {text:?} (steady, intervals, overheat, dropout)")
            })
    }
}

/// Which sensors the athlete wears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedSensors {
    /// A heart-rate strap (0x2A37).
    pub heart_rate: bool,
    /// A power meter (0x2A63) with crank revolution data.
    pub power: bool,
    /// A speed and cadence sensor (0x2A5B).
    pub speed_cadence: bool,
    /// A smart trainer (FTMS 0x2AD2).
    pub indoor_bike: bool,
}

impl Default for SimulatedSensors {
    fn default() -> Self {
        Self {
            heart_rate: true,
            power: true,
            speed_cadence: false,
            indoor_bike: false,
        }
    }
}

impl SimulatedSensors {
    /// Strap, power meter, speed/cadence sensor and smart trainer.
    pub const ALL: Self = Self {
        heart_rate: true,
        power: true,
        speed_cadence: true,
        indoor_bike: true,
    };
}

/// How a simulated athlete rides.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Seed of the noise; same seed, same ride.
    pub seed: u64,
    /// Functional threshold power, W.
    pub ftp_w: u16,
    /// Resting heart rate, bpm.
    pub hr_rest_bpm: u16,
    /// Maximum heart rate, bpm.
    pub hr_max_bpm: u16,
    /// The scripted ride when no plan is given; also sets drift, dropouts and heat.
    pub scenario: Scenario,
    /// A plan to ride instead of the scenario's script (power follows its targets).
    pub plan: Option<WorkoutPlan>,
    /// The athlete's profile: where set, its FTP and heart rates override the above.
    pub profile: Option<AthleteProfile>,
    /// Sensors worn.
    pub sensors: SimulatedSensors,
    /// Heart-rate notification period, ms (1 Hz by default).
    pub hr_period_ms: u64,
    /// Power notification period, ms (4 Hz by default); also the trainer's and CSC's.
    pub power_period_ms: u64,
    /// Length of the ride, s; `None`: the plan's or the scenario's length.
    pub duration_s: Option<u32>,
    /// Cardiac drift, bpm per hour of riding (the overheat scenario adds heat on top).
    pub drift_bpm_per_h: f64,
    /// Standard deviation of heart-rate noise, bpm.
    pub hr_noise_bpm: f64,
    /// Relative standard deviation of power noise (0.04 = 4 %).
    pub power_noise: f64,
    /// Chance per heart-rate sample of an artifact spike (+30..50 bpm for one reading).
    pub artifact_rate: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            ftp_w: 250,
            hr_rest_bpm: 55,
            hr_max_bpm: 185,
            scenario: Scenario::Steady,
            plan: None,
            profile: None,
            sensors: SimulatedSensors::default(),
            hr_period_ms: 1_000,
            power_period_ms: 250,
            duration_s: None,
            drift_bpm_per_h: 6.0,
            hr_noise_bpm: 1.0,
            power_noise: 0.04,
            artifact_rate: 0.002,
        }
    }
}

/// A small deterministic generator (SplitMix64): enough for noise, seeded per athlete.
#[derive(Debug, Clone)]
struct Noise(u64);

impl Noise {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "53 bits are exact in f64")]
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }

    /// Roughly normal (Irwin–Hall of 4), mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        let sum: f64 = (0..4).map(|_| self.uniform()).sum();
        (sum - 2.0) * (3.0f64).sqrt()
    }
}

/// One segment of the power script: from `start_s` for `duration_s`, a fraction of FTP
/// (ramping from `from` to `to`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start_s: f64,
    duration_s: f64,
    from_ftp: f64,
    to_ftp: f64,
}

/// A deterministic synthetic athlete.
#[derive(Debug, Clone)]
pub struct SimulatedAthlete {
    config: SimulatorConfig,
    ftp_w: f64,
    hr_rest: f64,
    hr_max: f64,
    script: Vec<Segment>,
    duration_ms: u64,
    noise: Noise,
    hr_bpm: f64,
    power_w: f64,
    last_hr_step_ms: u64,
    next_hr_ms: u64,
    next_power_ms: u64,
    crank_revs: f64,
    wheel_revs: f64,
    distance_m: f64,
}

impl SimulatedAthlete {
    /// An athlete at rest at time 0.
    pub fn new(config: SimulatorConfig) -> Self {
        let profile = config.profile.clone().unwrap_or_default();
        let ftp_w = f64::from(profile.ftp.unwrap_or(config.ftp_w).max(50));
        let hr_rest = f64::from(profile.hr_rest.unwrap_or(config.hr_rest_bpm).clamp(30, 120));
        let hr_max = f64::from(profile.hr_max.unwrap_or(config.hr_max_bpm)).max(hr_rest + 40.0);
        let script = match &config.plan {
            Some(plan) => plan_script(plan, ftp_w, hr_rest, hr_max),
            None => scenario_script(config.scenario),
        };
        let script_s = script.last().map_or(0.0, |s| s.start_s + s.duration_s);
        let duration_s = config.duration_s.map_or(script_s, f64::from);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a ride is shorter than 2^64 ms"
        )]
        let duration_ms = (duration_s.max(1.0) * 1000.0) as u64;
        let noise = Noise(config.seed ^ 0x5EED_0FA7_41E7_E5ED);
        Self {
            ftp_w,
            hr_rest,
            hr_max,
            script,
            duration_ms,
            noise,
            hr_bpm: hr_rest + 10.0,
            power_w: 0.0,
            last_hr_step_ms: 0,
            next_hr_ms: 0,
            next_power_ms: 0,
            crank_revs: 0.0,
            wheel_revs: 0.0,
            distance_m: 0.0,
            config,
        }
    }

    /// The ride's length, ms.
    pub fn duration_ms(&self) -> u64 {
        self.duration_ms
    }

    /// Whether the ride is over at `t_ms`.
    pub fn is_finished(&self, t_ms: u64) -> bool {
        t_ms >= self.duration_ms
    }

    /// When the next sample is due, ms; `None` once the ride is over.
    pub fn next_due_ms(&self) -> Option<u64> {
        let sensors = self.config.sensors;
        let power_like = sensors.power || sensors.speed_cadence || sensors.indoor_bike;
        let mut due = None::<u64>;
        if sensors.heart_rate {
            due = Some(self.next_hr_ms);
        }
        if power_like {
            due = Some(due.map_or(self.next_power_ms, |d| d.min(self.next_power_ms)));
        }
        due.filter(|&t| t < self.duration_ms)
    }

    /// The sensors worn, by kind, each with its battery level at `t_ms`, %: it starts
    /// between 10 and 100 % (from the seed, per sensor) and loses one percent every
    /// [`BATTERY_MS_PER_PCT`] of ride time, down to 1 %.
    pub fn batteries_at(&self, t_ms: u64) -> Vec<(SensorKind, u8)> {
        let sensors = self.config.sensors;
        [
            (SensorKind::HeartRate, sensors.heart_rate),
            (SensorKind::Power, sensors.power),
            (SensorKind::Cadence, sensors.speed_cadence),
            (SensorKind::Trainer, sensors.indoor_bike),
        ]
        .into_iter()
        .zip(1u64..)
        .filter(|((_, worn), _)| *worn)
        .map(|((kind, _), index)| {
            let mut draw = Noise(self.config.seed ^ index.wrapping_mul(0xBA77_E4F0_0D5E_ED01));
            let start_pct = 10 + draw.next_u64() % 91;
            let used_pct = t_ms / BATTERY_MS_PER_PCT;
            let pct = start_pct.saturating_sub(used_pct).max(1);
            (kind, u8::try_from(pct).unwrap_or(100))
        })
        .collect()
    }

    /// The athlete's true (noise-free) heart rate now, bpm.
    pub fn heart_rate_bpm(&self) -> f64 {
        self.hr_bpm
    }

    /// The target power at `t_ms`, W.
    pub fn target_power_w(&self, t_ms: u64) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "ms of a ride are exact in f64")]
        let t_s = t_ms as f64 / 1000.0;
        let segment = self
            .script
            .iter()
            .find(|s| t_s < s.start_s + s.duration_s)
            .or(self.script.last());
        let Some(segment) = segment else {
            return 0.5 * self.ftp_w;
        };
        let progress = ((t_s - segment.start_s) / segment.duration_s.max(1.0)).clamp(0.0, 1.0);
        self.ftp_w * (segment.from_ftp + (segment.to_ftp - segment.from_ftp) * progress)
    }

    /// Every sample due up to and including `t_ms`, in time order. Calls must not go back
    /// in time; samples after the ride's end are never produced.
    pub fn samples_at(&mut self, t_ms: u64) -> Vec<Sample> {
        let mut out = Vec::new();
        let end = t_ms.min(self.duration_ms.saturating_sub(1));
        while let Some(due) = self.next_due_ms() {
            if due > end {
                break;
            }
            if self.config.sensors.heart_rate && self.next_hr_ms == due {
                self.step_physiology(due);
                if let Some(sample) = self.heart_rate_sample(due) {
                    out.push(sample);
                }
                self.next_hr_ms += self.config.hr_period_ms.max(1);
            }
            let power_like = self.config.sensors.power
                || self.config.sensors.speed_cadence
                || self.config.sensors.indoor_bike;
            if power_like && self.next_power_ms == due {
                self.step_physiology(due);
                out.extend(self.power_samples(due));
                self.next_power_ms += self.config.power_period_ms.max(1);
            }
        }
        out
    }

    fn dropped_out(&self, t_ms: u64) -> bool {
        // 20 s of silence starting at 60 s past every third minute.
        self.config.scenario == Scenario::Dropout
            && t_ms >= 60_000
            && (t_ms - 60_000) % 180_000 < 20_000
    }

    fn heat_bpm(&self, t_ms: u64) -> f64 {
        if self.config.scenario != Scenario::Overheat {
            return 0.0;
        }
        // After 2 min, heat adds 1 bpm every 4 s to the steady state, up to 60 bpm.
        #[allow(clippy::cast_precision_loss, reason = "ms of a ride are exact in f64")]
        let heated_s = t_ms.saturating_sub(120_000) as f64 / 1000.0;
        (heated_s / 4.0).min(60.0)
    }

    /// Advances power and heart rate to `t_ms` (first-order kinetics, 1 s steps or less).
    fn step_physiology(&mut self, t_ms: u64) {
        if t_ms <= self.last_hr_step_ms && t_ms != 0 {
            return;
        }
        let target = self.target_power_w(t_ms);
        let noise = self.noise.normal() * self.config.power_noise;
        self.power_w = (target * (1.0 + noise)).max(0.0);
        #[allow(clippy::cast_precision_loss, reason = "ms of a ride are exact in f64")]
        let dt_s = (t_ms - self.last_hr_step_ms) as f64 / 1000.0;
        self.last_hr_step_ms = t_ms;
        let intensity = target / self.ftp_w;
        let reserve = self.hr_max - self.hr_rest;
        #[allow(clippy::cast_precision_loss, reason = "ms of a ride are exact in f64")]
        let hours = t_ms as f64 / 3_600_000.0;
        let steady = self.hr_rest
            + reserve * (0.15 + 0.7 * intensity).clamp(0.0, 1.0)
            + self.config.drift_bpm_per_h * hours
            + self.heat_bpm(t_ms);
        let steady = steady.min(self.hr_max + 2.0);
        let tau_s = if steady > self.hr_bpm { 25.0 } else { 40.0 };
        self.hr_bpm += (steady - self.hr_bpm) * (1.0 - (-dt_s / tau_s).exp());
        // Revolutions for the counters: cadence ~ 85..95 rpm with power, wheel from speed.
        let cadence_rpm = if target > 1.0 {
            85.0 + 10.0 * intensity.min(1.2)
        } else {
            0.0
        };
        self.crank_revs += cadence_rpm / 60.0 * dt_s;
        let speed_mps = self.speed_mps();
        self.wheel_revs += speed_mps / 2.105 * dt_s;
        self.distance_m += speed_mps * dt_s;
    }

    fn speed_mps(&self) -> f64 {
        // Flat road, no wind: P ≈ 0.3·v³ + 4·v. Good enough to move a wheel.
        let power = self.power_w.max(0.0);
        let mut v = 8.0;
        for _ in 0..8 {
            let f = 0.3 * v * v * v + 4.0 * v - power;
            let df = 0.9 * v * v + 4.0;
            v = (v - f / df).max(0.0);
        }
        v
    }

    fn cadence_rpm(&self) -> f64 {
        let intensity = self.power_w / self.ftp_w;
        if self.power_w > 1.0 {
            85.0 + 10.0 * intensity.min(1.2)
        } else {
            0.0
        }
    }

    fn heart_rate_sample(&mut self, t_ms: u64) -> Option<Sample> {
        if self.dropped_out(t_ms) {
            return None;
        }
        let spike = self.noise.uniform() < self.config.artifact_rate;
        let mut bpm = self.hr_bpm + self.noise.normal() * self.config.hr_noise_bpm;
        if spike {
            bpm += 30.0 + 20.0 * self.noise.uniform();
        }
        let contact = if self.config.scenario == Scenario::Dropout
            && t_ms >= 150_000
            && (t_ms - 150_000) % 300_000 < 8_000
        {
            Contact::Off
        } else {
            Contact::On
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 30..=240 first"
        )]
        let bpm = bpm.round().clamp(30.0, 240.0) as u16;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "60/30..60/240 s is 256..2048 ticks"
        )]
        let rr = (60.0 / f64::from(bpm) * 1024.0).round() as u16;
        Some(Sample {
            t_ms,
            value: SampleValue::HeartRate(HeartRate {
                bpm,
                contact,
                energy_kj: None,
                rr_1024: vec![rr],
            }),
        })
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "values are clamped to their field's range; counters roll over as sensors do"
    )]
    fn power_samples(&mut self, t_ms: u64) -> Vec<Sample> {
        if self.dropped_out(t_ms) {
            return Vec::new();
        }
        let sensors = self.config.sensors;
        let power_w = self.power_w.round().clamp(0.0, 3000.0) as i16;
        let cadence = self.cadence_rpm();
        // Event times: the last whole revolution, in 1/1024 s and 1/2048 s ticks.
        let t_s = t_ms as f64 / 1000.0;
        let crank_revs = self.crank_revs.floor();
        let crank_event_1024 = ((t_s * 1024.0) as u64 & 0xFFFF) as u16;
        let wheel_revs = self.wheel_revs.floor();
        let mut out = Vec::new();
        if sensors.power {
            out.push(Sample {
                t_ms,
                value: SampleValue::CyclingPower(CyclingPower {
                    power_w,
                    crank_revs: Some((crank_revs as u64 & 0xFFFF) as u16),
                    crank_event_1024: Some(crank_event_1024),
                    cadence_rpm: Some(cadence as f32),
                    ..CyclingPower::default()
                }),
            });
        }
        if sensors.speed_cadence {
            out.push(Sample {
                t_ms,
                value: SampleValue::SpeedCadence(SpeedCadence {
                    wheel_revs: Some((wheel_revs as u64 & 0xFFFF_FFFF) as u32),
                    wheel_event_1024: Some(crank_event_1024),
                    crank_revs: Some((crank_revs as u64 & 0xFFFF) as u16),
                    crank_event_1024: Some(crank_event_1024),
                    speed_mps: Some(self.speed_mps() as f32),
                    cadence_rpm: Some(cadence as f32),
                }),
            });
        }
        if sensors.indoor_bike {
            out.push(Sample {
                t_ms,
                value: SampleValue::IndoorBike(IndoorBike {
                    speed_kmh: Some((self.speed_mps() * 3.6) as f32),
                    cadence_rpm: Some(((cadence * 2.0).round() / 2.0) as f32),
                    total_distance_m: Some(self.distance_m.clamp(0.0, 16_777_215.0) as u32),
                    power_w: Some(power_w),
                    elapsed_s: Some((t_ms / 1000).min(u64::from(u16::MAX)) as u16),
                    ..IndoorBike::default()
                }),
            });
        }
        out
    }
}

fn segment(start_s: f64, duration_s: f64, from_ftp: f64, to_ftp: f64) -> Segment {
    Segment {
        start_s,
        duration_s,
        from_ftp,
        to_ftp,
    }
}

fn scenario_script(scenario: Scenario) -> Vec<Segment> {
    match scenario {
        Scenario::Steady => vec![segment(0.0, 3_600.0, 0.7, 0.7)],
        Scenario::Overheat => vec![segment(0.0, 1_800.0, 0.75, 0.75)],
        Scenario::Dropout => vec![segment(0.0, 1_800.0, 0.7, 0.7)],
        Scenario::Intervals => {
            let mut script = vec![segment(0.0, 600.0, 0.45, 0.65)];
            let mut start_s = 600.0;
            for _ in 0..5 {
                script.push(segment(start_s, 180.0, 1.1, 1.1));
                script.push(segment(start_s + 180.0, 180.0, 0.5, 0.5));
                start_s += 360.0;
            }
            script.push(segment(start_s, 300.0, 0.5, 0.4));
            script
        }
    }
}

/// The fraction of FTP that holds a heart rate (inverse of the steady-state model).
fn ftp_fraction_for_hr(bpm: f64, hr_rest: f64, hr_max: f64) -> f64 {
    let reserve = (bpm - hr_rest) / (hr_max - hr_rest).max(1.0);
    ((reserve - 0.15) / 0.7).clamp(0.3, 1.3)
}

fn step_segment(step: &Step, start_s: f64, ftp_w: f64, hr_rest: f64, hr_max: f64) -> Segment {
    let duration_s = f64::from(step.duration_s.max(1));
    let steady = |fraction: f64| segment(start_s, duration_s, fraction, fraction);
    match &step.target {
        Target::PowerW(range) => {
            steady((f64::from(range.low_w) + f64::from(range.high_w)) / 2.0 / ftp_w)
        }
        Target::PowerFtp(range) => {
            steady((f64::from(range.low_pct) + f64::from(range.high_pct)) / 200.0)
        }
        Target::PowerFtpRamp(ramp) => segment(
            start_s,
            duration_s,
            f64::from(ramp.start_pct) / 100.0,
            f64::from(ramp.end_pct) / 100.0,
        ),
        Target::HeartRate(range) => steady(ftp_fraction_for_hr(
            (f64::from(range.low_bpm) + f64::from(range.high_bpm)) / 2.0,
            hr_rest,
            hr_max,
        )),
        // Coggan power zones 1..7 at their middles, HR zones at 55..95 % of HRmax.
        Target::PowerZone(zone) => steady(
            [0.45, 0.65, 0.83, 0.98, 1.13, 1.35, 1.6][usize::from(zone.zone.clamp(1, 7) - 1)],
        ),
        Target::HrZone(zone) => {
            let pct = [0.55, 0.65, 0.75, 0.85, 0.95][usize::from(zone.zone.clamp(1, 5) - 1)];
            steady(ftp_fraction_for_hr(pct * hr_max, hr_rest, hr_max))
        }
        Target::Open(open) => steady(open.rpe.map_or(0.6, |rpe| 0.3 + 0.09 * f64::from(rpe))),
    }
}

fn plan_script(plan: &WorkoutPlan, ftp_w: f64, hr_rest: f64, hr_max: f64) -> Vec<Segment> {
    let mut script = Vec::new();
    let mut start_s = 0.0;
    let mut push = |step: &Step, script: &mut Vec<Segment>| {
        let segment = step_segment(step, start_s, ftp_w, hr_rest, hr_max);
        start_s += segment.duration_s;
        script.push(segment);
    };
    for plan_step in &plan.steps {
        match plan_step {
            PlanStep::Step(step) => push(step, &mut script),
            PlanStep::Repeat(block) => {
                // Bounded by the schema (≤ 200 repeats of ≤ 500 steps).
                for _ in 0..block.count {
                    for step in &block.steps {
                        push(step, &mut script);
                    }
                }
            }
        }
    }
    if script.is_empty() {
        script.push(segment(0.0, 600.0, 0.6, 0.6));
    }
    script
}
