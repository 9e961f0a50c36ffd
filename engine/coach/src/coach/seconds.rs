//! The per-second bins: each closed second feeds the session load, the moving power
//! means, W′ balance (and its alarms) and decoupling, then the off-target checks.

use paceline_schemas::plan::StepIntent;
use paceline_schemas::{CueCode, Modification, Severity};

use super::{Coach, POWER_WINDOW_S};
use crate::safety::{StepKind, WbalAlarm};
use crate::target::EffectiveTarget;

/// Steady steps are checked for decoupling this often, s.
const DECOUPLING_CHECK_EVERY_S: u64 = 60;

impl Coach {
    /// Closes every whole second before `now` (and the current one too when `flush`).
    pub(super) fn close_seconds(&mut self, now: u64, flush: bool) {
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

    pub(super) fn on_second(&mut self, end_ms: u64, power_w: Option<f64>, hr_bpm: Option<f64>) {
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

    pub(super) fn in_steady_step(&self) -> bool {
        self.current_step().is_some_and(|s| {
            matches!(s.intent, StepIntent::Work | StepIntent::Free)
                && !matches!(s.target, EffectiveTarget::PowerRamp { .. })
                && s.planned_s >= self.config.decoupling.min_step_s
        })
    }

    pub(super) fn check_step_decoupling(&mut self, now: u64) {
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

    pub(super) fn power_mean(&self, seconds: usize) -> Option<f64> {
        let n = seconds.min(self.power_window.len());
        if n == 0 {
            return None;
        }
        let sum: f64 = self.power_window.iter().rev().take(n).sum();
        #[allow(clippy::cast_precision_loss, reason = "at most 30")]
        let mean = sum / n as f64;
        Some(mean)
    }
}
