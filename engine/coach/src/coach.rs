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

use std::collections::{BTreeMap, VecDeque};

use paceline_schemas::command::Command;
use paceline_schemas::cue::{
    CompressRemaining, ExtendRecovery, InsertRecovery, MAX_CUE_TEXT_BYTES, ReduceTarget,
};
use paceline_schemas::plan::StepIntent;
use paceline_schemas::sample::{Contact, Sample, SampleValue};
use paceline_schemas::{
    AthleteProfile, Cue, CueCode, Modification, SessionId, SessionSummary, Severity, WorkoutPlan,
};

use crate::budget::{self, BudgetStep};
use crate::config::CoachConfig;
use crate::cues::{CueLimiter, spoken_duration};
use crate::decoupling::Decoupling;
use crate::load::SessionLoad;
use crate::safety::{CapAction, RaiseBlock, SafetyGovernor, StepKind, WbalAlarm};
use crate::signal::{HeartRateSignal, HrQuality, HrReading, SensorClock};
use crate::target::{EffectiveTarget, TargetLimits};
use crate::wbal::WPrimeBalance;
use crate::workout::{Workout, WorkoutError, WorkoutStep};
use crate::zones::{Physiology, ProfileError};

/// Power readings above this are sensor glitches, W.
const MAX_PLAUSIBLE_POWER_W: f64 = 3_000.0;
/// Longest window of per-second power kept for the moving means, s.
const POWER_WINDOW_S: usize = 30;
/// Steady steps are checked for decoupling this often, s.
const DECOUPLING_CHECK_EVERY_S: u64 = 60;

/// Why a coach could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoachError {
    /// The athlete profile is inconsistent.
    #[error("athlete profile: {0}")]
    Profile(#[from] ProfileError),
    /// The plan cannot be ridden.
    #[error("workout plan: {0}")]
    Workout(#[from] WorkoutError),
}

/// What the coach says or changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A cue for the athlete (and the coach's screen).
    Cue(Cue),
    /// The target or the step changed.
    Target(TargetUpdate),
    /// The session ended; its summary. Always the last output.
    Summary(SessionSummary),
}

/// The target in force from now on.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetUpdate {
    /// Seconds since the session's first input.
    pub t_s: f64,
    /// The target the athlete should hold.
    pub target: EffectiveTarget,
    /// The step it belongs to (`None` without a plan or after its end).
    pub step: Option<StepStatus>,
    /// Set when the plan asks for more but safety holds the target down.
    pub held: Option<RaiseBlock>,
}

/// Where the athlete is in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStatus {
    /// Index in the expanded workout.
    pub index: usize,
    /// What the step is for.
    pub intent: StepIntent,
    /// Spoken name, e.g. "Work 2 of 5".
    pub label: String,
    /// Its length now, s.
    pub duration_s: u32,
    /// Time spent in it, s.
    pub elapsed_s: u32,
}

/// A snapshot of the session for live boards.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    /// Seconds since the session's first input.
    pub t_s: f64,
    /// Last usable heart rate, bpm.
    pub hr_bpm: Option<f64>,
    /// Smoothed heart rate, bpm.
    pub hr_ema_bpm: Option<f64>,
    /// Heart-rate signal quality.
    pub hr_quality: HrQuality,
    /// Heart-rate zone (1–5).
    pub hr_zone: Option<u8>,
    /// Heart rate as a percentage of HRmax.
    pub hr_pct_max: Option<f64>,
    /// 3-second mean power, W.
    pub power_3s_w: Option<f64>,
    /// 30-second mean power, W.
    pub power_30s_w: Option<f64>,
    /// Power zone (1–7) of the 3-second mean.
    pub power_zone: Option<u8>,
    /// Last cadence, rpm (or steps/min running).
    pub cadence: Option<f64>,
    /// W′ balance, J.
    pub wbal_j: Option<f64>,
    /// W′ balance as a fraction of W′.
    pub wbal_fraction: Option<f64>,
    /// The current step.
    pub step: Option<StepStatus>,
    /// The target in force.
    pub target: EffectiveTarget,
    /// Why a raise is held back, if it is.
    pub raise_block: Option<RaiseBlock>,
    /// Whether the plan clock is paused.
    pub paused: bool,
    /// Time left in the plan, s.
    pub remaining_plan_s: u64,
    /// Whether the session has ended.
    pub ended: bool,
}

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

/// Hysteresis for one off-target check: a reading must stay outside its band for the
/// sustain time before a cue, and come back inside before the same cue can speak again.
#[derive(Debug, Clone, Copy, Default)]
struct OffTarget {
    above_since_ms: Option<u64>,
    below_since_ms: Option<u64>,
    above_spoken: bool,
    below_spoken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OffBy {
    Above,
    Below,
}

impl OffTarget {
    /// Takes one reading; returns the side a cue is now due for, if any. Below-band
    /// readings only count when `may_urge`.
    fn observe(
        &mut self,
        now: u64,
        reading: f64,
        (low, high): (f64, f64),
        sustain_ms: u64,
        may_urge: bool,
    ) -> Option<OffBy> {
        let mut due = None;
        if reading > high {
            let since = *self.above_since_ms.get_or_insert(now);
            if !self.above_spoken && now - since >= sustain_ms {
                self.above_spoken = true;
                due = Some(OffBy::Above);
            }
        } else {
            self.above_since_ms = None;
            self.above_spoken = false;
        }
        if reading < low && may_urge {
            let since = *self.below_since_ms.get_or_insert(now);
            if !self.below_spoken && now - since >= sustain_ms {
                self.below_spoken = true;
                due = Some(OffBy::Below);
            }
        } else {
            self.below_since_ms = None;
            self.below_spoken = false;
        }
        due
    }
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

    // ---- the plan --------------------------------------------------------------------

    fn current_step(&self) -> Option<&WorkoutStep> {
        self.workout.steps.get(self.step_index)
    }

    fn step_elapsed_ms(&self) -> u64 {
        self.active_ms.saturating_sub(self.step_started_active_ms)
    }

    fn step_remaining_s(&self) -> u32 {
        let Some(step) = self.current_step() else {
            return 0;
        };
        let left_ms = (u64::from(step.duration_s) * 1000).saturating_sub(self.step_elapsed_ms());
        u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX)
    }

    fn step_fraction(&self) -> f64 {
        match self.current_step() {
            Some(step) if step.duration_s > 0 => {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "step times are far below 2^52 ms"
                )]
                let f = self.step_elapsed_ms() as f64 / (f64::from(step.duration_s) * 1000.0);
                f.clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }

    fn step_status(&self) -> Option<StepStatus> {
        let step = self.current_step()?;
        Some(StepStatus {
            index: self.step_index,
            intent: step.intent,
            label: step.label(),
            duration_s: step.duration_s,
            elapsed_s: u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX),
        })
    }

    fn step_kind(&self) -> StepKind {
        match self.current_step().map(|s| s.intent) {
            Some(StepIntent::Work) => StepKind::Work,
            Some(StepIntent::Recovery) => StepKind::Recovery,
            _ => StepKind::Other,
        }
    }

    fn remaining_plan_s(&self) -> u64 {
        if self.current_step().is_none() {
            return 0;
        }
        let later: u64 = self.workout.steps[self.step_index + 1..]
            .iter()
            .map(|s| u64::from(s.duration_s))
            .sum();
        later + u64::from(self.step_remaining_s())
    }

    fn progress_steps(&mut self, now: u64) {
        while let Some(step) = self.current_step() {
            let end_active = self.step_started_active_ms + u64::from(step.duration_s) * 1000;
            if self.active_ms < end_active {
                break;
            }
            self.enter_step(now, self.step_index + 1, end_active);
        }
    }

    /// Starts step `index` (or the end of the plan) as of `started_active_ms`.
    fn enter_step(&mut self, now: u64, index: usize, started_active_ms: u64) {
        self.step_index = index.min(self.workout.steps.len());
        self.step_started_active_ms = started_active_ms;
        self.off_target = OffTarget::default();
        self.off_cadence = OffTarget::default();
        self.step_decoupling.reset();
        self.step_decoupling_spoken = false;
        self.target_dirty = true;
        self.expire(now);
        self.reconcile(now);
        match self.current_step() {
            Some(step) => {
                let shown = if self.held.is_some() {
                    step.target
                } else {
                    self.effective
                };
                let mut text = format!(
                    "{}: {} at {shown}",
                    step.label(),
                    spoken_duration(step.duration_s)
                );
                if let Some(block) = self.held {
                    text.push_str(&format!(
                        ". Holding {} while {}",
                        self.effective,
                        block_reason(block)
                    ));
                }
                if let Some(extra) = &step.text {
                    text.push_str(". ");
                    text.push_str(extra);
                }
                text.push('.');
                self.cue(now, Severity::Info, CueCode::StepStart, text, None);
            }
            None if self.planned && !self.plan_end_spoken => {
                self.plan_end_spoken = true;
                let text = format!(
                    "{} complete. Well done: ride easy or end the session.",
                    self.workout.name
                );
                self.cue(now, Severity::Info, CueCode::StepEnd, text, None);
            }
            None => {}
        }
    }

    /// Ends the current step now (the rest of it is dropped).
    fn end_current_step(&mut self, now: u64) {
        if self.current_step().is_some() {
            self.enter_step(now, self.step_index + 1, self.active_ms);
        }
    }

    /// Puts a recovery of `s` seconds in front of whatever remains of the current step.
    fn insert_recovery(&mut self, now: u64, s: u32) {
        let elapsed_s = u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX);
        let at = self.step_index;
        let recovery = WorkoutStep::new(StepIntent::Recovery, s, self.recovery_target());
        if let Some(step) = self.workout.steps.get_mut(at) {
            let mut rest = step.clone();
            rest.duration_s = step.duration_s.saturating_sub(elapsed_s);
            step.duration_s = elapsed_s;
            if rest.duration_s > 0 {
                self.workout.steps.insert(at + 1, rest);
            }
            self.workout.steps.insert(at + 1, recovery);
            self.enter_step(now, at + 1, self.active_ms);
        } else {
            self.workout.steps.push(recovery);
            self.enter_step(now, at, self.active_ms);
        }
    }

    fn recovery_target(&self) -> EffectiveTarget {
        match (self.phys.ftp_w, self.phys.rpe_only) {
            (Some(ftp), false) => {
                let w = |pct: u32| u16::try_from(u32::from(ftp) * pct / 100).unwrap_or(u16::MAX);
                EffectiveTarget::Power {
                    low_w: w(40),
                    high_w: w(55),
                }
            }
            _ => EffectiveTarget::Open { rpe: Some(2) },
        }
    }

    fn apply_time_budget(&mut self, now: u64, minutes: u32) {
        let budget_s = minutes.saturating_mul(60);
        if self.current_step().is_none() {
            let text =
                format!("{minutes} minutes left: no planned steps remain, ride as you feel.");
            self.cue(
                now,
                Severity::Info,
                CueCode::TimeBudgetCompressed,
                text,
                None,
            );
            return;
        }
        let done_s = u32::try_from(self.step_elapsed_ms() / 1000).unwrap_or(u32::MAX);
        let steps: Vec<BudgetStep> = self.workout.steps[self.step_index..]
            .iter()
            .enumerate()
            .map(|(i, step)| BudgetStep {
                intent: step.intent,
                planned_s: step.duration_s,
                done_s: if i == 0 {
                    done_s.min(step.duration_s)
                } else {
                    0
                },
                intensity: step.target.load_intensity(&self.limits),
                repeat: step.repeat,
            })
            .collect();
        let strategy = self.config.compress_strategy;
        let result = budget::compress(&steps, budget_s, strategy, &self.config.budget);
        if result.kept_total_s >= result.planned_remaining_s {
            let text = format!(
                "{minutes} minutes left: the rest of the plan ({}) fits.",
                spoken_duration(result.planned_remaining_s)
            );
            self.cue(
                now,
                Severity::Info,
                CueCode::TimeBudgetCompressed,
                text,
                None,
            );
            return;
        }
        let first = self.step_index;
        let mut kept_steps = Vec::with_capacity(steps.len());
        for (i, (step, kept)) in self
            .workout
            .steps
            .drain(first..)
            .zip(result.kept_s.iter().copied())
            .enumerate()
        {
            if i == 0 {
                kept_steps.push(WorkoutStep {
                    duration_s: steps[0].done_s + kept,
                    ..step
                });
            } else if kept > 0 {
                kept_steps.push(WorkoutStep {
                    duration_s: kept,
                    ..step
                });
            }
        }
        self.workout.steps.extend(kept_steps);
        self.target_dirty = true;
        let text = format!(
            "{minutes} minutes left: the rest of the plan is compressed from {} to {} ({}; training load kept: {:.0} of {:.0} TSS).",
            spoken_duration(result.planned_remaining_s),
            spoken_duration(result.kept_total_s),
            strategy_name(strategy),
            result.kept_load,
            result.planned_load,
        );
        let modification = Modification::CompressRemaining(CompressRemaining {
            strategy,
            total_s: result.kept_total_s,
        });
        self.cue(
            now,
            Severity::Info,
            CueCode::TimeBudgetCompressed,
            text,
            Some(modification),
        );
        self.progress_steps(now);
    }

    // ---- targets and safety ------------------------------------------------------------

    fn raise_block(&self, now: u64) -> Option<RaiseBlock> {
        self.safety.raise_block(self.hr.quality(now), self.hr.bpm())
    }

    fn desired_target(&self, now: u64) -> EffectiveTarget {
        let base = match (self.override_target, self.current_step()) {
            (Some(o), _) => o.target,
            (None, Some(step)) => step.target,
            // After the plan: ride easy. Without a plan: ride as you like.
            (None, None) if self.planned => EffectiveTarget::Open { rpe: Some(3) },
            (None, None) => EffectiveTarget::Open { rpe: None },
        };
        let base = match self.reduction {
            Some(r) if now < r.until_ms => base.reduced(r.pct),
            _ => base,
        };
        base.clamped(&self.limits)
    }

    /// The one place the target in force changes. A change that would raise intensity
    /// while the governor blocks raises is held; a climbing ramp is frozen.
    fn reconcile(&mut self, now: u64) {
        let desired = self.desired_target(now);
        // `now` may be the end of a second closed a little late: a change made now must
        // also be safe at the latest instant seen.
        let block = self.raise_block(now).or(self.raise_block(self.last_now_ms));
        let current = self.effective;
        let mut next = desired;
        let mut held = None;
        if let Some(block) = block {
            if desired != current
                && desired.intensity(&self.limits) > current.intensity(&self.limits)
            {
                next = current;
                held = Some(block);
            }
            if next.is_rising_ramp() {
                next = next.frozen_at(self.step_fraction());
                held = Some(block);
            }
        }
        if next != current || held != self.held || self.target_dirty {
            self.effective = next;
            self.held = held;
            self.target_dirty = false;
            let update = TargetUpdate {
                t_s: self.t_s(now),
                target: next,
                step: self.step_status(),
                held,
            };
            self.outputs.push_back(Output::Target(update));
        }
    }

    fn check_cap(&mut self, now: u64) {
        while let Some(action) = self.safety.cap_action(now, self.step_kind()) {
            let cap = self.safety.hr_cap_bpm();
            let bpm = self
                .hr
                .bpm()
                .map_or_else(|| "high".to_owned(), |b| format!("{b:.0} bpm"));
            let (text, modification) = match action {
                CapAction::ReduceTarget { pct, duration_s } => {
                    self.reduction = Some(Reduction {
                        pct,
                        until_ms: now.saturating_add(u64::from(duration_s) * 1000),
                    });
                    (
                        format!(
                            "Heart rate {bpm} is over your cap of {cap}: ease off now. Target lowered {pct} % for {}.",
                            spoken_duration(duration_s)
                        ),
                        Modification::ReduceTarget(ReduceTarget { pct, duration_s }),
                    )
                }
                CapAction::EndInterval if self.current_step().is_some() => (
                    format!(
                        "Heart rate {bpm} is still over your cap of {cap}: this interval ends now. Recover."
                    ),
                    Modification::EndStep,
                ),
                CapAction::EndInterval | CapAction::InsertRecovery { .. } => {
                    let s = self.config.safety.cap_recovery_s;
                    (
                        format!(
                            "Heart rate {bpm} is still over your cap of {cap}: recover for {}.",
                            spoken_duration(s)
                        ),
                        Modification::InsertRecovery(InsertRecovery { s }),
                    )
                }
                CapAction::ExtendRecovery { s } => (
                    format!(
                        "Heart rate {bpm} is still over your cap of {cap}: recovery extended by {}.",
                        spoken_duration(s)
                    ),
                    Modification::ExtendRecovery(ExtendRecovery { s }),
                ),
            };
            self.cue(
                now,
                Severity::Safety,
                CueCode::HrAboveCap,
                text,
                Some(modification.clone()),
            );
            match modification {
                Modification::EndStep => self.end_current_step(now),
                Modification::InsertRecovery(r) => self.insert_recovery(now, r.s),
                Modification::ExtendRecovery(r) => {
                    if let Some(step) = self.workout.steps.get_mut(self.step_index) {
                        step.duration_s = step.duration_s.saturating_add(r.s);
                        self.target_dirty = true;
                    }
                }
                _ => {}
            }
            self.reconcile(now);
        }
    }

    // ---- signals ---------------------------------------------------------------------

    fn on_relayed_heart_rate(&mut self, now: u64, t_ms: u64, bpm: u8) {
        // A trainer or treadmill relays the strap's heart rate; a strap connected directly
        // is preferred, so the relayed value is used only while no strap is heard.
        if self
            .strap_clock
            .fresh_value(now, self.config.signal.lost_ms)
            .is_none()
        {
            self.on_heart_rate(now, t_ms, u16::from(bpm), Contact::Unsupported);
        }
    }

    fn on_heart_rate(&mut self, now: u64, t_ms: u64, bpm: u16, contact: Contact) {
        let reading = self.hr.on_reading(now, t_ms, bpm, contact);
        self.on_heart_rate_reading(now, reading);
    }

    fn on_heart_rate_reading(&mut self, now: u64, reading: HrReading) {
        match reading {
            HrReading::Accepted(bpm) => {
                self.bin.hr_sum += bpm;
                self.bin.hr_n += 1;
                self.safety.on_heart_rate(now, bpm);
            }
            HrReading::ArtifactRejected(bpm) => {
                self.bin.hr_sum += bpm;
                self.bin.hr_n += 1;
                self.safety.on_heart_rate(now, bpm);
                self.cue(
                    now,
                    Severity::Warn,
                    CueCode::ArtifactSuspected,
                    "Heart rate jumped and fell back: ignoring the spike. Holding intensity for a few seconds.".to_owned(),
                    None,
                );
            }
            HrReading::Suspect | HrReading::NoContact => {}
        }
    }

    fn on_power(&mut self, now: u64, power_w: f64) {
        // Negative readings (calibration drift) count as zero; absurd ones are ignored.
        if !power_w.is_finite() || power_w > MAX_PLAUSIBLE_POWER_W {
            return;
        }
        let power_w = power_w.max(0.0);
        self.power.on_reading(now, power_w);
        self.bin.power_sum += power_w;
        self.bin.power_n += 1;
    }

    fn check_heart_rate_signal(&mut self, now: u64) {
        let quality = self.hr.quality(now);
        let waited = now.saturating_sub(self.origin_ms.unwrap_or(now)) > self.config.signal.lost_ms;
        let lost = matches!(quality, HrQuality::Lost | HrQuality::ContactOff)
            || (quality == HrQuality::Unknown && waited);
        if lost && !self.hr_loss_spoken {
            self.hr_loss_spoken = true;
            let text = match quality {
                HrQuality::ContactOff => {
                    "Heart-rate strap has no skin contact: holding intensity until it reads again. Moisten the strap."
                }
                HrQuality::Unknown => {
                    "No heart-rate signal: intensity stays where it is until one arrives."
                }
                _ => "Heart-rate signal lost: holding intensity until it returns.",
            };
            self.cue(
                now,
                Severity::Warn,
                CueCode::HrSignalLost,
                text.to_owned(),
                None,
            );
        } else if quality == HrQuality::Fresh && self.hr_loss_spoken {
            self.hr_loss_spoken = false;
            let bpm = self.hr.bpm().unwrap_or_default();
            let text = format!("Heart-rate signal back: {bpm:.0} bpm.");
            self.cue(now, Severity::Info, CueCode::HrSignalBack, text, None);
        }
    }

    // ---- per-second work -----------------------------------------------------------------

    /// Closes every whole second before `now` (and the current one too when `flush`).
    fn close_seconds(&mut self, now: u64, flush: bool) {
        let origin = self.origin_ms.unwrap_or(now);
        let now_second = (now - origin) / 1000;
        let last = if flush { now_second + 1 } else { now_second };
        while self.second_index < last {
            let end_ms = origin + (self.second_index + 1) * 1000;
            let bin = std::mem::take(&mut self.bin);
            if flush && self.second_index == now_second {
                // The last, partial second counts only with data of its own.
                if bin.power_n > 0 || bin.hr_n > 0 {
                    let power = (bin.power_n > 0).then(|| bin.power_sum / f64::from(bin.power_n));
                    let hr = (bin.hr_n > 0).then(|| bin.hr_sum / f64::from(bin.hr_n));
                    self.on_second(now, power, hr);
                }
                self.second_index += 1;
                break;
            }
            let fresh = self.config.signal.fresh_ms;
            let power = if bin.power_n > 0 {
                Some(bin.power_sum / f64::from(bin.power_n))
            } else {
                self.power.fresh_value(end_ms, fresh)
            };
            let hr = if bin.hr_n > 0 {
                Some(bin.hr_sum / f64::from(bin.hr_n))
            } else {
                self.hr.bpm().filter(|_| self.hr.usable_at(end_ms))
            };
            if power.is_none() && hr.is_none() {
                // Nothing to carry: skip straight to the current second.
                self.second_index = last;
                self.power_window.clear();
                break;
            }
            self.on_second(end_ms, power, hr);
            self.second_index += 1;
        }
    }

    fn on_second(&mut self, end_ms: u64, power_w: Option<f64>, hr_bpm: Option<f64>) {
        self.load.add_second(power_w, hr_bpm);
        if let Some(p) = power_w {
            if self.power_window.len() == POWER_WINDOW_S {
                self.power_window.pop_front();
            }
            self.power_window.push_back(p);
        }
        if let (Some(p), Some(h)) = (power_w, hr_bpm) {
            // Decoupling means something only over steady riding: steady steps of a
            // plan, or the whole ride without one.
            if self.current_step().is_none() || self.in_steady_step() {
                self.session_decoupling.add_second(p, h);
            }
            if self.in_steady_step() {
                self.step_decoupling.add_second(p, h);
                self.check_step_decoupling(end_ms);
            }
        }
        if let (Some(p), Some(wbal)) = (power_w, self.wbal.as_mut()) {
            wbal.step(p, 1.0);
            let fraction = wbal.fraction();
            let balance = wbal.balance_j();
            match self.safety.on_wbal(fraction) {
                Some(WbalAlarm::Low) => {
                    let text = format!(
                        "W′ balance down to {:.0} % ({:.1} kJ): ease off to recover.",
                        fraction.max(0.0) * 100.0,
                        balance.max(0.0) / 1000.0
                    );
                    self.cue(end_ms, Severity::Warn, CueCode::WbalLow, text, None);
                }
                Some(WbalAlarm::Empty) => {
                    if self.step_kind() == StepKind::Work {
                        self.cue(
                            end_ms,
                            Severity::Safety,
                            CueCode::WbalEmpty,
                            "W′ is empty: this interval ends now. Recover.".to_owned(),
                            Some(Modification::EndStep),
                        );
                        self.end_current_step(end_ms);
                    } else {
                        self.cue(
                            end_ms,
                            Severity::Safety,
                            CueCode::WbalEmpty,
                            "W′ is empty: ease right off and recover.".to_owned(),
                            None,
                        );
                    }
                }
                None => {}
            }
        }
        self.check_off_target(end_ms);
    }

    fn in_steady_step(&self) -> bool {
        self.current_step().is_some_and(|s| {
            matches!(s.intent, StepIntent::Work | StepIntent::Free)
                && !matches!(s.target, EffectiveTarget::PowerRamp { .. })
                && s.planned_s >= self.config.decoupling.min_step_s
        })
    }

    fn check_step_decoupling(&mut self, now: u64) {
        let seconds = self.step_decoupling.seconds();
        if self.step_decoupling_spoken
            || seconds < self.config.decoupling.min_elapsed_s
            || u64::from(seconds) % DECOUPLING_CHECK_EVERY_S != 0
        {
            return;
        }
        if let Some(pct) = self
            .step_decoupling
            .decoupling_pct(self.config.decoupling.min_elapsed_s)
            && pct > self.config.decoupling.alert_pct
        {
            self.step_decoupling_spoken = true;
            let text = format!(
                "Heart rate is drifting up against your power ({pct:.1} % decoupling): keep it steady, drink, or ease off a little."
            );
            self.cue(now, Severity::Warn, CueCode::DecouplingHigh, text, None);
        }
    }

    fn power_mean(&self, seconds: usize) -> Option<f64> {
        let n = seconds.min(self.power_window.len());
        if n == 0 {
            return None;
        }
        let sum: f64 = self.power_window.iter().rev().take(n).sum();
        #[allow(clippy::cast_precision_loss, reason = "at most 30")]
        let mean = sum / n as f64;
        Some(mean)
    }

    fn check_off_target(&mut self, now: u64) {
        let grace = self.config.cues.step_grace_ms;
        if self.paused || self.current_step().is_none() || self.step_elapsed_ms() < grace {
            self.off_target = OffTarget::default();
            self.off_cadence = OffTarget::default();
            return;
        }
        // Urging the athlete on raises intensity: never while safety holds, or the target
        // is itself held down. Seconds close a little after they end, so judge heart rate
        // at both instants.
        let may_urge = self.raise_block(now).is_none()
            && self.raise_block(self.last_now_ms).is_none()
            && self.held.is_none();
        match self.target_band(now) {
            Some((reading, low, high, sustain_ms, unit)) => {
                let target = self.effective;
                match self
                    .off_target
                    .observe(now, reading, (low, high), sustain_ms, may_urge)
                {
                    Some(OffBy::Above) => {
                        let text = format!(
                            "Ease off: you are at {reading:.0} {unit}, the target is {target}."
                        );
                        self.cue(now, Severity::Info, CueCode::AboveTarget, text, None);
                    }
                    Some(OffBy::Below) => {
                        let text = format!(
                            "Bring it up a little: you are at {reading:.0} {unit}, the target is {target}."
                        );
                        self.cue(now, Severity::Info, CueCode::BelowTarget, text, None);
                    }
                    None => {}
                }
            }
            None => self.off_target = OffTarget::default(),
        }
        let cadence_target = self.current_step().and_then(|s| s.cadence_rpm);
        let cadence = self.cadence.fresh_value(now, self.config.signal.fresh_ms);
        let (Some(range), Some(rpm)) = (cadence_target, cadence) else {
            self.off_cadence = OffTarget::default();
            return;
        };
        let tol = self.config.cues.cadence_tolerance_rpm;
        let band = (f64::from(range.low) - tol, f64::from(range.high) + tol);
        let sustain_ms = self.config.cues.power_sustain_ms;
        let wanted = format!("{}–{} rpm", range.low, range.high);
        match self
            .off_cadence
            .observe(now, rpm, band, sustain_ms, may_urge)
        {
            Some(OffBy::Above) => {
                let text = format!("Cadence {rpm:.0} rpm: settle it to {wanted}.");
                self.cue(now, Severity::Info, CueCode::AboveTarget, text, None);
            }
            Some(OffBy::Below) => {
                let text = format!("Cadence {rpm:.0} rpm: spin up to {wanted}.");
                self.cue(now, Severity::Info, CueCode::BelowTarget, text, None);
            }
            None => {}
        }
    }

    /// The reading to hold against the target in force, and its band with tolerance:
    /// `(reading, low, high, sustain_ms, unit)`. `None` for open targets or no data.
    fn target_band(&self, now: u64) -> Option<(f64, f64, f64, u64, &'static str)> {
        let cues = &self.config.cues;
        match self.effective {
            EffectiveTarget::Power { .. } | EffectiveTarget::PowerRamp { .. } => {
                let mean = self.power_mean(self.config.signal.power_short_s)?;
                let (lo, hi) = self.effective.power_range_at(self.step_fraction())?;
                // Warm-up and cool-down are guidance: twice the tolerance.
                let easy = matches!(
                    self.current_step().map(|s| s.intent),
                    Some(StepIntent::Warmup | StepIntent::Cooldown)
                );
                let tol = cues.power_tolerance_pct / 100.0 * if easy { 2.0 } else { 1.0 };
                Some((
                    mean,
                    lo * (1.0 - tol),
                    hi * (1.0 + tol),
                    cues.power_sustain_ms,
                    "W",
                ))
            }
            EffectiveTarget::HeartRate { low_bpm, high_bpm } => {
                let ema = self.hr.ema_bpm().filter(|_| self.hr.usable_at(now))?;
                let tol = cues.hr_tolerance_bpm;
                Some((
                    ema,
                    f64::from(low_bpm) - tol,
                    f64::from(high_bpm) + tol,
                    cues.hr_sustain_ms,
                    "bpm",
                ))
            }
            EffectiveTarget::Open { .. } => None,
        }
    }

    // ---- output ----------------------------------------------------------------------

    fn cue(
        &mut self,
        now: u64,
        severity: Severity,
        code: CueCode,
        mut text: String,
        modification: Option<Modification>,
    ) {
        if !self.limiter.admit(now, code, severity) {
            return;
        }
        truncate_at_char_boundary(&mut text, MAX_CUE_TEXT_BYTES);
        *self.cue_counts.entry(code).or_default() += 1;
        self.outputs.push_back(Output::Cue(Cue {
            session: self.session.clone(),
            t_s: self.t_s(now),
            severity,
            code,
            text,
            modification,
        }));
    }

    fn end_session(&mut self, now: u64) {
        self.close_seconds(now, true);
        let duration_s = self.t_s(now);
        let text = format!(
            "Session over after {}. Well done.",
            spoken_duration(seconds_u32(duration_s))
        );
        // The last word is never dropped by the rate limit.
        self.limiter = CueLimiter::new(0);
        self.cue(now, Severity::Info, CueCode::SessionEnd, text, None);
        let min_s = self.config.decoupling.min_elapsed_s;
        let summary = SessionSummary {
            session: self.session.clone(),
            duration_s,
            time_in_hr_zone_s: self.load.time_in_hr_zone_s(),
            time_in_power_zone_s: self.load.time_in_power_zone_s(),
            avg_hr_bpm: self.load.avg_hr_bpm(),
            max_hr_bpm: self.load.max_hr_bpm(),
            avg_power_w: self.load.avg_power_w(),
            np_w: self.load.np_w(),
            intensity_factor: self.load.intensity_factor(),
            tss: self.load.tss(),
            hr_tss: self.load.hr_tss(),
            trimp: self.load.trimp(),
            wbal_min_j: self.wbal.as_ref().map(WPrimeBalance::min_j),
            decoupling_pct: self.session_decoupling.decoupling_pct(min_s),
            cue_counts: self.cue_counts.clone(),
        };
        self.outputs.push_back(Output::Summary(summary));
        self.ended = true;
    }
}

fn block_reason(block: RaiseBlock) -> &'static str {
    match block {
        RaiseBlock::HrUntrusted(HrQuality::Unknown) => "there is no heart-rate signal",
        RaiseBlock::HrUntrusted(HrQuality::Stale | HrQuality::Lost) => {
            "the heart-rate signal is lost"
        }
        RaiseBlock::HrUntrusted(HrQuality::ContactOff) => "the heart-rate strap has no contact",
        RaiseBlock::HrUntrusted(_) => "heart-rate readings look wrong",
        RaiseBlock::NearCap => "your heart rate is close to its cap",
    }
}

fn strategy_name(strategy: paceline_schemas::CompressStrategy) -> &'static str {
    match strategy {
        paceline_schemas::CompressStrategy::KeepIntensity => "every kept interval at full length",
        paceline_schemas::CompressStrategy::KeepVolume => "every interval kept, shorter",
        paceline_schemas::CompressStrategy::Hybrid => "hardest parts kept first",
    }
}

fn seconds_u32(s: f64) -> u32 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "clamped to u32's range first"
    )]
    let v = s.clamp(0.0, f64::from(u32::MAX)) as u32;
    v
}

fn truncate_at_char_boundary(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
