//! Every threshold the coach uses, in one place, with the defaults of SPEC §4.
//!
//! A deployment may tune these (a gym may want a longer cue interval), but the safety
//! governor cannot be configured off: there is no switch for it, and its thresholds are
//! clamped to safe ranges by [`CoachConfig::sanitized`].

use paceline_schemas::CompressStrategy;

use crate::budget::BudgetFloors;
use crate::zones::PhysiologyDefaults;

/// All coach settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CoachConfig {
    /// Defaults for missing profile fields.
    pub physiology: PhysiologyDefaults,
    /// Sensor freshness, artifacts and smoothing.
    pub signal: SignalConfig,
    /// The safety governor's thresholds.
    pub safety: SafetyConfig,
    /// Target checks, hysteresis and the cue rate limit.
    pub cues: CueConfig,
    /// Aerobic decoupling alerts within steady steps.
    pub decoupling: DecouplingConfig,
    /// Floors that time-budget compression keeps.
    pub budget: BudgetFloors,
    /// The strategy used when a "minutes left" command arrives.
    pub compress_strategy: CompressStrategy,
}

impl Default for CoachConfig {
    fn default() -> Self {
        CoachConfig {
            physiology: PhysiologyDefaults::default(),
            signal: SignalConfig::default(),
            safety: SafetyConfig::default(),
            cues: CueConfig::default(),
            decoupling: DecouplingConfig::default(),
            budget: BudgetFloors::default(),
            compress_strategy: CompressStrategy::Hybrid,
        }
    }
}

impl CoachConfig {
    /// The same settings with the safety thresholds clamped to ranges that keep the
    /// governor meaningful (e.g. the cap must be acted on within 30 s). The coach always
    /// runs on a sanitized copy.
    pub fn sanitized(mut self) -> CoachConfig {
        let s = &mut self.safety;
        s.cap_sustain_ms = s.cap_sustain_ms.clamp(1_000, 30_000);
        s.cap_end_ms = s.cap_end_ms.clamp(s.cap_sustain_ms, 60_000);
        s.cap_margin_bpm = s.cap_margin_bpm.clamp(5, 30);
        s.cap_reduce_pct = s.cap_reduce_pct.clamp(5, 50);
        s.cap_recovery_s = s.cap_recovery_s.clamp(30, 600);
        s.cap_repeat_ms = s.cap_repeat_ms.clamp(5_000, 120_000);
        s.wbal_low_fraction = s.wbal_low_fraction.clamp(0.0, 0.5);
        s.wbal_rearm_fraction = s.wbal_rearm_fraction.max(s.wbal_low_fraction);
        let g = &mut self.signal;
        g.fresh_ms = g.fresh_ms.clamp(500, 10_000);
        g.lost_ms = g.lost_ms.clamp(g.fresh_ms, 30_000);
        g.artifact_hold_ms = g.artifact_hold_ms.max(1_000);
        self.cues.repeat_ms = self.cues.repeat_ms.max(1_000);
        self
    }
}

/// Sensor freshness, artifact detection and smoothing.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalConfig {
    /// A sensor is fresh while its last sample is at most this old.
    pub fresh_ms: u64,
    /// A sensor is lost once its last sample is older than this (stale in between).
    pub lost_ms: u64,
    /// A heart-rate jump larger than this …
    pub artifact_jump_bpm: u16,
    /// … within this time is suspect until the next samples confirm it.
    pub artifact_window_ms: u64,
    /// How many following samples must agree with a jump to confirm it.
    pub artifact_confirm_samples: u8,
    /// Two readings within this many bpm agree (used to confirm a jump).
    pub artifact_agree_bpm: u16,
    /// After a suspect reading, heart rate counts as artifact-suspect for this long.
    pub artifact_hold_ms: u64,
    /// Heart rate within this many bpm of running cadence (steps/min) …
    pub cadence_lock_bpm: u16,
    /// … for this long is taken to be the optical sensor locked onto cadence.
    pub cadence_lock_ms: u64,
    /// Time constant of the heart-rate exponential moving average, s.
    pub hr_ema_tau_s: f64,
    /// Short power mean window, s (checks against the target).
    pub power_short_s: usize,
    /// Long power mean window, s (shown on the board; also NP's window).
    pub power_long_s: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            fresh_ms: 3_000,
            lost_ms: 5_000,
            artifact_jump_bpm: 25,
            artifact_window_ms: 1_000,
            artifact_confirm_samples: 2,
            artifact_agree_bpm: 10,
            artifact_hold_ms: 5_000,
            cadence_lock_bpm: 3,
            cadence_lock_ms: 30_000,
            hr_ema_tau_s: 5.0,
            power_short_s: 3,
            power_long_s: 30,
        }
    }
}

/// The safety governor's thresholds. None of them can switch it off.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyConfig {
    /// Heart rate at or above the cap this long → safety cue and a lower target.
    pub cap_sustain_ms: u64,
    /// … this long → the interval ends (or a recovery is inserted).
    pub cap_end_ms: u64,
    /// While still above the cap, the governor acts again at this interval.
    pub cap_repeat_ms: u64,
    /// An above-cap episode ends when heart rate falls this far below the cap.
    pub cap_clear_bpm: u16,
    /// No raise while heart rate is within this many bpm of the cap.
    pub cap_margin_bpm: u16,
    /// How much the first reaction lowers the target, %.
    pub cap_reduce_pct: u8,
    /// For how long the first reaction lowers it, s.
    pub cap_reduce_s: u32,
    /// Length of a recovery the governor inserts, s.
    pub cap_recovery_s: u32,
    /// W′ balance below this fraction of W′ → warning.
    pub wbal_low_fraction: f64,
    /// The W′ warning re-arms once the balance is back above this fraction.
    pub wbal_rearm_fraction: f64,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            cap_sustain_ms: 5_000,
            cap_end_ms: 10_000,
            cap_repeat_ms: 30_000,
            cap_clear_bpm: 3,
            cap_margin_bpm: 5,
            cap_reduce_pct: 15,
            cap_reduce_s: 120,
            cap_recovery_s: 120,
            wbal_low_fraction: 0.10,
            wbal_rearm_fraction: 0.20,
        }
    }
}

/// Target checks, hysteresis and the cue rate limit.
#[derive(Debug, Clone, PartialEq)]
pub struct CueConfig {
    /// No non-safety cue code speaks twice within this time.
    pub repeat_ms: u64,
    /// Power this far outside the target range (% of the bound) counts as off target
    /// (twice this in warm-up and cool-down).
    pub power_tolerance_pct: f64,
    /// Heart rate this far outside the target range counts as off target.
    pub hr_tolerance_bpm: f64,
    /// Cadence this far outside a step's cadence range counts as off target, rpm.
    pub cadence_tolerance_rpm: f64,
    /// Power (and cadence) must be off target this long before a cue …
    pub power_sustain_ms: u64,
    /// … and heart rate this long (it responds slowly).
    pub hr_sustain_ms: u64,
    /// No target checks in the first seconds of a step, while the athlete adjusts.
    pub step_grace_ms: u64,
}

impl Default for CueConfig {
    fn default() -> Self {
        CueConfig {
            repeat_ms: 15_000,
            power_tolerance_pct: 5.0,
            hr_tolerance_bpm: 3.0,
            cadence_tolerance_rpm: 5.0,
            power_sustain_ms: 10_000,
            hr_sustain_ms: 20_000,
            step_grace_ms: 15_000,
        }
    }
}

/// Aerobic decoupling alerts within steady steps.
#[derive(Debug, Clone, PartialEq)]
pub struct DecouplingConfig {
    /// Alert when decoupling exceeds this, %.
    pub alert_pct: f64,
    /// Only steps planned at least this long count as steady.
    pub min_step_s: u32,
    /// Evaluate once this much of the step has data, s.
    pub min_elapsed_s: u32,
}

impl Default for DecouplingConfig {
    fn default() -> Self {
        DecouplingConfig {
            alert_pct: 5.0,
            min_step_s: 600,
            min_elapsed_s: 360,
        }
    }
}
