//! The safety governor: it overrides everything and cannot be configured off.
//!
//! - Heart rate at or above the cap for 5 s → a safety cue and a lower target; for 10 s →
//!   the interval ends (or, outside work, a recovery is inserted); while it stays up, the
//!   governor acts again every 30 s. An episode ends only when heart rate falls 3 bpm
//!   below the cap, so hovering on the cap does not reset the clock.
//! - While heart rate is unknown, stale, lost, contact-off or artifact-suspect, or within
//!   5 bpm of the cap, or during an above-cap episode, nothing may raise intensity:
//!   [`SafetyGovernor::raise_block`] says why, and the coach holds the current target.
//! - W′ balance below 10 % → warning (re-armed above 20 %); at or below 0 → the work
//!   interval ends.
//!
//! The thresholds live in [`SafetyConfig`]; [`crate::config::CoachConfig::sanitized`]
//! keeps them in ranges where the governor still protects.

use crate::config::SafetyConfig;
use crate::signal::HrQuality;

/// What the governor asks the coach to do about a heart rate over the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapAction {
    /// Lower the current target by `pct` for `duration_s`.
    ReduceTarget {
        /// How much lower, %.
        pct: u8,
        /// For how long, s.
        duration_s: u32,
    },
    /// End the current work interval.
    EndInterval,
    /// Insert a recovery of `s` seconds now.
    InsertRecovery {
        /// Length, s.
        s: u32,
    },
    /// Lengthen the current recovery by `s` seconds.
    ExtendRecovery {
        /// Extra time, s.
        s: u32,
    },
}

/// Why a raise of intensity is not allowed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaiseBlock {
    /// Heart rate cannot be trusted.
    HrUntrusted(HrQuality),
    /// Heart rate is within the margin of the cap (or over it).
    NearCap,
}

/// W′ balance alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WbalAlarm {
    /// Below the low fraction of W′.
    Low,
    /// At or below zero: the interval must end.
    Empty,
}

/// The governor's state for one session.
#[derive(Debug, Clone)]
pub struct SafetyGovernor {
    config: SafetyConfig,
    hr_cap_bpm: u16,
    above_cap_since_ms: Option<u64>,
    level: u32,
    wbal_low_armed: bool,
    wbal_empty_armed: bool,
}

/// Where the athlete is in the plan, as far as the governor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A work interval (it can be ended).
    Work,
    /// A recovery (it can be lengthened).
    Recovery,
    /// Anything else: warm-up, cool-down, free riding, no plan.
    Other,
}

impl SafetyGovernor {
    /// The governor for an athlete with this heart-rate cap.
    pub fn new(config: &SafetyConfig, hr_cap_bpm: u16) -> Self {
        SafetyGovernor {
            config: config.clone(),
            hr_cap_bpm,
            above_cap_since_ms: None,
            level: 0,
            wbal_low_armed: true,
            wbal_empty_armed: true,
        }
    }

    /// The cap, bpm.
    pub fn hr_cap_bpm(&self) -> u16 {
        self.hr_cap_bpm
    }

    /// Takes a usable heart rate that arrived at `now_ms`.
    pub fn on_heart_rate(&mut self, now_ms: u64, bpm: f64) {
        let cap = f64::from(self.hr_cap_bpm);
        if bpm >= cap {
            self.above_cap_since_ms.get_or_insert(now_ms);
        } else if bpm < cap - f64::from(self.config.cap_clear_bpm) {
            self.above_cap_since_ms = None;
            self.level = 0;
        }
    }

    /// Since when heart rate has been over the cap (the current episode), if it has.
    pub fn above_cap_since_ms(&self) -> Option<u64> {
        self.above_cap_since_ms
    }

    /// The action due at `now_ms`, if any; each is returned once.
    pub fn cap_action(&mut self, now_ms: u64, step: StepKind) -> Option<CapAction> {
        let due = self.next_cap_deadline_ms()?;
        if now_ms < due {
            return None;
        }
        self.level += 1;
        let recovery_s = self.config.cap_recovery_s;
        Some(match (self.level, step) {
            (1, _) => CapAction::ReduceTarget {
                pct: self.config.cap_reduce_pct,
                duration_s: self.config.cap_reduce_s,
            },
            (2, StepKind::Work) => CapAction::EndInterval,
            (_, StepKind::Recovery) => CapAction::ExtendRecovery { s: recovery_s },
            (_, StepKind::Work) => CapAction::EndInterval,
            (_, StepKind::Other) => CapAction::InsertRecovery { s: recovery_s },
        })
    }

    /// When the next cap action falls due, if heart rate stays where it is.
    pub fn next_cap_deadline_ms(&self) -> Option<u64> {
        let since = self.above_cap_since_ms?;
        let c = &self.config;
        let after = match self.level {
            0 => c.cap_sustain_ms,
            1 => c.cap_end_ms,
            n => c
                .cap_end_ms
                .saturating_add(u64::from(n - 1).saturating_mul(c.cap_repeat_ms)),
        };
        Some(since.saturating_add(after))
    }

    /// Why intensity may not rise at `now_ms`, or `None` if it may.
    pub fn raise_block(&self, quality: HrQuality, bpm: Option<f64>) -> Option<RaiseBlock> {
        if !quality.is_trusted() {
            return Some(RaiseBlock::HrUntrusted(quality));
        }
        let near = f64::from(self.hr_cap_bpm) - f64::from(self.config.cap_margin_bpm);
        if self.above_cap_since_ms.is_some() || bpm.is_none_or(|b| b >= near) {
            return Some(RaiseBlock::NearCap);
        }
        None
    }

    /// Checks W′ balance (as a fraction of W′); returns an alarm when one is due.
    pub fn on_wbal(&mut self, fraction: f64) -> Option<WbalAlarm> {
        if fraction > self.config.wbal_rearm_fraction {
            self.wbal_low_armed = true;
        }
        if fraction > self.config.wbal_low_fraction {
            self.wbal_empty_armed = true;
        }
        if fraction <= 0.0 && self.wbal_empty_armed {
            self.wbal_empty_armed = false;
            self.wbal_low_armed = false;
            return Some(WbalAlarm::Empty);
        }
        if fraction < self.config.wbal_low_fraction && self.wbal_low_armed {
            self.wbal_low_armed = false;
            return Some(WbalAlarm::Low);
        }
        None
    }
}
