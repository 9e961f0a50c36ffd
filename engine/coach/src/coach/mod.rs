//! The [`Coach`]: one session's state machine.
//!
//! Drive it with [`Coach::handle_sample`], [`Coach::handle_command`] and
//! [`Coach::handle_timeout`], all taking `now_ms` (milliseconds on the driver's clock; the
//! replay job passes sample times, the live operator its own clock). Drain
//! [`Coach::poll_output`] after each call, and call `handle_timeout` at
//! [`Coach::poll_timeout`] so that a session with no samples still hears "signal lost" and
//! its steps still change. Time never goes backwards: an earlier `now_ms` counts as the
//! latest one seen.
//!
//! Every change of target goes through one function, `reconcile`, which asks the
//! [`SafetyGovernor`] whether a raise is allowed; when it is not, the current target is
//! held (and a climbing ramp frozen) until heart rate can be trusted again.
//!
//! The state machine is one struct split by what each part watches over:
//!
//! | module | what it holds |
//! |---|---|
//! | this one | the state, the public entry points, and time (`advance`, expiries) |
//! | `outputs` | what comes out: [`Output`], [`TargetUpdate`], [`StepStatus`], [`LiveStatus`], [`CoachError`] |
//! | `plan` | the steps: progress, inserted recoveries, the time budget |
//! | `targets` | `reconcile` (the one place the target changes) and the heart-rate cap |
//! | `sensors` | readings in: heart rate (and its signal lost/back cues), power |
//! | `seconds` | the per-second bins: load, W′ balance, decoupling, moving power means |
//! | `off_target` | the hysteresis of the above/below-target cues |
//! | `speech` | cues through the rate limit, and the end of the session with its summary |

mod off_target;
mod outputs;
mod plan;
mod seconds;
mod sensors;
mod speech;
mod targets;

use std::collections::{BTreeMap, VecDeque};

use paceline_schemas::command::Command;
use paceline_schemas::sample::{Sample, SampleValue};
use paceline_schemas::{AthleteProfile, CueCode, Modification, SessionId, Severity, WorkoutPlan};

use crate::config::CoachConfig;
use crate::cues::{CueLimiter, spoken_duration};
use crate::decoupling::Decoupling;
use crate::load::SessionLoad;
use crate::safety::{RaiseBlock, SafetyGovernor};
use crate::signal::{HeartRateSignal, HrQuality, SensorClock};
use crate::target::{EffectiveTarget, TargetLimits};
use crate::wbal::WPrimeBalance;
use crate::workout::Workout;
use crate::zones::Physiology;

use off_target::OffTarget;
pub use outputs::{CoachError, LiveStatus, Output, StepStatus, TargetUpdate};
use targets::block_reason;

/// Longest window of per-second power kept for the moving means, s.
const POWER_WINDOW_S: usize = 30;

#[derive(Debug, Clone, Copy)]
struct Override {
    target: EffectiveTarget,
    until_active_ms: Option<u64>,
    step_index: usize,
}

#[derive(Debug, Clone, Copy)]
struct Reduction {
    pct: u8,
    until_ms: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct SecondBin {
    power_sum: f64,
    power_n: u32,
    hr_sum: f64,
    hr_n: u32,
}

/// One session's coach. See the module docs.
#[derive(Debug, Clone)]
pub struct Coach {
    session: SessionId,
    config: CoachConfig,
    phys: Physiology,
    limits: TargetLimits,
    workout: Workout,
    /// Whether the session has a plan (inserted recoveries do not make one).
    planned: bool,

    origin_ms: Option<u64>,
    last_now_ms: u64,
    active_ms: u64,
    paused: bool,
    ended: bool,

    step_index: usize,
    step_started_active_ms: u64,
    started: bool,
    plan_end_spoken: bool,

    effective: EffectiveTarget,
    held: Option<RaiseBlock>,
    target_dirty: bool,
    override_target: Option<Override>,
    reduction: Option<Reduction>,

    hr: HeartRateSignal,
    strap_clock: SensorClock,
    power: SensorClock,
    cadence: SensorClock,
    running_cadence: SensorClock,
    hr_loss_spoken: bool,
    /// Whether the loss being judged was announced (its cue passed the rate limit).
    hr_loss_heard: bool,

    second_index: u64,
    bin: SecondBin,
    power_window: VecDeque<f64>,
    load: SessionLoad,
    wbal: Option<WPrimeBalance>,
    session_decoupling: Decoupling,
    step_decoupling: Decoupling,
    step_decoupling_spoken: bool,
    off_target: OffTarget,
    off_cadence: OffTarget,

    safety: SafetyGovernor,
    limiter: CueLimiter,
    cue_counts: BTreeMap<CueCode, u32>,
    outputs: VecDeque<Output>,
}

impl Coach {
    /// A coach for one session: the athlete's profile, an optional plan (without one the
    /// athlete rides free, still watched by the safety governor) and the settings.
    pub fn new(
        session: SessionId,
        profile: &AthleteProfile,
        plan: Option<&WorkoutPlan>,
        config: CoachConfig,
    ) -> Result<Coach, CoachError> {
        let config = config.sanitized();
        let phys = Physiology::from_profile(profile, &config.physiology)?;
        let workout = match plan {
            Some(plan) => Workout::from_plan(plan, &phys)?,
            None => Workout::default(),
        };
        let limits = TargetLimits::of(&phys);
        let wbal = phys
            .cp_w
            .map(|cp| WPrimeBalance::new(f64::from(cp), f64::from(phys.w_prime_j)));
        Ok(Coach {
            session,
            hr: HeartRateSignal::new(&config.signal),
            safety: SafetyGovernor::new(&config.safety, phys.hr_cap_bpm),
            limiter: CueLimiter::new(config.cues.repeat_ms),
            load: SessionLoad::new(&phys),
            config,
            phys,
            limits,
            planned: !workout.steps.is_empty(),
            workout,
            origin_ms: None,
            last_now_ms: 0,
            active_ms: 0,
            paused: false,
            ended: false,
            step_index: 0,
            step_started_active_ms: 0,
            started: false,
            plan_end_spoken: false,
            effective: EffectiveTarget::Open { rpe: None },
            held: None,
            target_dirty: true,
            override_target: None,
            reduction: None,
            strap_clock: SensorClock::default(),
            power: SensorClock::default(),
            cadence: SensorClock::default(),
            running_cadence: SensorClock::default(),
            hr_loss_spoken: false,
            hr_loss_heard: false,
            second_index: 0,
            bin: SecondBin::default(),
            power_window: VecDeque::with_capacity(POWER_WINDOW_S),
            wbal,
            session_decoupling: Decoupling::new(),
            step_decoupling: Decoupling::new(),
            step_decoupling_spoken: false,
            off_target: OffTarget::default(),
            off_cadence: OffTarget::default(),
            cue_counts: BTreeMap::new(),
            outputs: VecDeque::new(),
        })
    }

    /// The athlete's physiology as the coach uses it (defaults filled in).
    pub fn physiology(&self) -> &Physiology {
        &self.phys
    }

    /// The limits no target exceeds.
    pub fn limits(&self) -> &TargetLimits {
        &self.limits
    }

    /// The workout as it stands (after any compression or inserted recoveries).
    pub fn workout(&self) -> &Workout {
        &self.workout
    }

    /// Takes one sensor sample that reached the coach at `now_ms`.
    pub fn handle_sample(&mut self, now_ms: u64, sample: &Sample) {
        if self.ended {
            return;
        }
        // Heart rate's quality is updated before anything else happens at this instant, so
        // that nothing decided now (even for the second that just closed) relies on a
        // strap that has just lost contact or spiked.
        let now = now_ms.max(self.last_now_ms);
        let reading = match &sample.value {
            SampleValue::HeartRate(hr) => {
                self.strap_clock.on_reading(now, f64::from(hr.bpm));
                Some(self.hr.on_reading(now, sample.t_ms, hr.bpm, hr.contact))
            }
            _ => None,
        };
        let now = self.advance(now_ms);
        match &sample.value {
            SampleValue::HeartRate(_) => {
                if let Some(reading) = reading {
                    self.on_heart_rate_reading(now, reading);
                }
            }
            SampleValue::CyclingPower(p) => {
                self.on_power(now, f64::from(p.power_w));
                if let Some(rpm) = p.cadence_rpm {
                    self.cadence.on_reading(now, f64::from(rpm));
                }
            }
            SampleValue::IndoorBike(bike) => {
                if let Some(w) = bike.power_w {
                    self.on_power(now, f64::from(w));
                }
                if let Some(rpm) = bike.cadence_rpm {
                    self.cadence.on_reading(now, f64::from(rpm));
                }
                if let Some(bpm) = bike.heart_rate {
                    self.on_relayed_heart_rate(now, sample.t_ms, bpm);
                }
            }
            SampleValue::Treadmill(treadmill) => {
                if let Some(w) = treadmill.power_output_w {
                    self.on_power(now, f64::from(w));
                }
                if let Some(bpm) = treadmill.heart_rate {
                    self.on_relayed_heart_rate(now, sample.t_ms, bpm);
                }
            }
            SampleValue::RunningSpeedCadence(rsc) => {
                let spm = f64::from(rsc.cadence_spm);
                self.cadence.on_reading(now, spm);
                self.running_cadence.on_reading(now, spm);
                if self.hr.on_running_cadence(now, spm) {
                    let text = format!(
                        "Heart rate is following your running cadence ({spm:.0}): check the strap's fit. Holding intensity."
                    );
                    self.cue(now, Severity::Warn, CueCode::ArtifactSuspected, text, None);
                }
            }
            SampleValue::SpeedCadence(csc) => {
                if let Some(rpm) = csc.cadence_rpm {
                    self.cadence.on_reading(now, f64::from(rpm));
                }
            }
        }
        self.after_input(now);
    }

    /// Takes a command from the coach, the athlete or the platform.
    pub fn handle_command(&mut self, now_ms: u64, command: &Command) {
        if self.ended {
            return;
        }
        let now = self.advance(now_ms);
        match command {
            Command::OverrideTarget(o) => {
                let target = EffectiveTarget::resolve(&o.target, &self.phys);
                let until_active_ms = o
                    .duration_s
                    .map(|s| self.active_ms.saturating_add(u64::from(s) * 1000));
                self.override_target = Some(Override {
                    target,
                    until_active_ms,
                    step_index: self.step_index,
                });
                self.reconcile(now);
                let how_long = match o.duration_s {
                    Some(s) => format!(" for {}", spoken_duration(s)),
                    None => " for the rest of this step".to_owned(),
                };
                let text = match self.held {
                    Some(block) => format!(
                        "Your coach set {target}{how_long}; holding {} while {}.",
                        self.effective,
                        block_reason(block)
                    ),
                    None => format!("Your coach set a new target: {target}{how_long}."),
                };
                self.cue(now, Severity::Info, CueCode::CoachOverride, text, None);
            }
            Command::TimeLeft(t) => self.apply_time_budget(now, t.minutes),
            Command::Pause => {
                if !self.paused {
                    self.paused = true;
                    self.cue(
                        now,
                        Severity::Info,
                        CueCode::CoachOverride,
                        "Paused: the plan waits for you.".to_owned(),
                        Some(Modification::Pause),
                    );
                }
            }
            Command::Resume => {
                if self.paused {
                    self.paused = false;
                    let text = match self.current_step() {
                        Some(step) => format!(
                            "Resumed: {}, {} left at {}.",
                            step.label(),
                            spoken_duration(self.step_remaining_s()),
                            self.effective
                        ),
                        None => "Resumed.".to_owned(),
                    };
                    self.cue(now, Severity::Info, CueCode::CoachOverride, text, None);
                }
            }
            Command::SkipStep => {
                if let Some(step) = self.current_step() {
                    let text = format!("{} skipped.", step.label());
                    self.cue(
                        now,
                        Severity::Info,
                        CueCode::CoachOverride,
                        text,
                        Some(Modification::SkipStep),
                    );
                    self.enter_step(now, self.step_index + 1, self.active_ms);
                }
            }
            Command::End => {
                self.end_session(now);
                return;
            }
        }
        self.after_input(now);
    }

    /// Lets time pass with no input (call at [`poll_timeout`](Self::poll_timeout)).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.ended || self.origin_ms.is_none() {
            return;
        }
        let now = self.advance(now_ms);
        self.after_input(now);
    }

    /// The next output, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.ended || self.origin_ms.is_none() {
            return None;
        }
        let now = self.last_now_ms;
        // The earliest deadline still ahead (called once per input: no allocation).
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| {
            if t > now && next.is_none_or(|n| t < n) {
                next = Some(t);
            }
        };
        if !self.paused {
            if let Some(step) = self.current_step() {
                let end_active = self.step_started_active_ms + u64::from(step.duration_s) * 1000;
                consider(now + end_active.saturating_sub(self.active_ms));
            }
            if let Some(until) = self.override_target.and_then(|o| o.until_active_ms) {
                consider(now + until.saturating_sub(self.active_ms));
            }
        }
        if let Some(r) = self.reduction {
            consider(r.until_ms);
        }
        if let Some(t) = self.hr.next_change_ms(now) {
            consider(t);
        }
        if !self.hr_loss_spoken && self.hr.quality(now) == HrQuality::Unknown {
            consider(self.origin_ms.unwrap_or(now) + self.config.signal.lost_ms + 1);
        }
        if let Some(t) = self.safety.next_cap_deadline_ms() {
            consider(t);
        }
        next
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// A snapshot for live boards.
    pub fn status(&self) -> LiveStatus {
        let now = self.last_now_ms;
        let hr_bpm = self.hr.bpm().filter(|_| self.hr.usable_at(now));
        let power_3s_w = self.power_mean(self.config.signal.power_short_s);
        LiveStatus {
            t_s: self.t_s(now),
            hr_bpm,
            hr_ema_bpm: self.hr.ema_bpm(),
            hr_quality: self.hr.quality(now),
            hr_zone: hr_bpm.map(|b| self.phys.hr_zones.zone_of(b)),
            hr_pct_max: hr_bpm.map(|b| b / f64::from(self.phys.hr_max_bpm) * 100.0),
            power_3s_w,
            power_30s_w: self.power_mean(self.config.signal.power_long_s),
            power_zone: power_3s_w
                .zip(self.phys.power_zones.as_ref())
                .map(|(w, z)| z.zone_of(w)),
            cadence: self.cadence.fresh_value(now, self.config.signal.fresh_ms),
            wbal_j: self.wbal.as_ref().map(WPrimeBalance::balance_j),
            wbal_fraction: self.wbal.as_ref().map(WPrimeBalance::fraction),
            step: self.step_status(),
            target: self.effective,
            raise_block: self.raise_block(now),
            paused: self.paused,
            remaining_plan_s: self.remaining_plan_s(),
            ended: self.ended,
        }
    }

    // ---- time ------------------------------------------------------------------------

    /// Moves the clocks to `now_ms` and does everything that time alone causes.
    fn advance(&mut self, now_ms: u64) -> u64 {
        let origin = *self.origin_ms.get_or_insert(now_ms);
        let now = now_ms.max(self.last_now_ms).max(origin);
        if !self.paused {
            self.active_ms += now - self.last_now_ms.max(origin);
        }
        self.last_now_ms = now;
        self.close_seconds(now, false);
        if self.started {
            self.progress_steps(now);
        }
        self.expire(now);
        // What fell due before this instant happens before the input is applied.
        if self.started {
            self.check_cap(now);
        }
        now
    }

    /// The checks that follow every input.
    fn after_input(&mut self, now: u64) {
        if !self.started {
            // The plan starts once the first input has been taken in, so its first
            // target is judged with that input's heart rate.
            self.started = true;
            self.enter_step(now, 0, self.active_ms);
        }
        self.check_heart_rate_signal(now);
        self.check_cap(now);
        self.reconcile(now);
    }

    fn t_s(&self, now: u64) -> f64 {
        let since = now.saturating_sub(self.origin_ms.unwrap_or(now));
        #[allow(
            clippy::cast_precision_loss,
            reason = "session times are far below 2^52 ms"
        )]
        let t = since as f64 / 1000.0;
        t
    }

    fn expire(&mut self, now: u64) {
        if self.reduction.is_some_and(|r| now >= r.until_ms) {
            self.reduction = None;
        }
        if let Some(o) = self.override_target {
            let expired = o
                .until_active_ms
                .is_some_and(|until| self.active_ms >= until);
            if expired || o.step_index != self.step_index {
                self.override_target = None;
            }
        }
    }
}
