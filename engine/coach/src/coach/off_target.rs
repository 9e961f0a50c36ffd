//! The above/below-target cues: a reading must stay outside its band (with tolerance) for
//! the sustain time before a cue, and come back inside before the same cue can speak again.

use paceline_schemas::plan::StepIntent;
use paceline_schemas::{CueCode, Severity};

use super::Coach;
use crate::target::EffectiveTarget;

/// Hysteresis for one off-target check: a reading must stay outside its band for the
/// sustain time before a cue, and come back inside before the same cue can speak again.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OffTarget {
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

impl Coach {
    pub(super) fn check_off_target(&mut self, now: u64) {
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
    pub(super) fn target_band(&self, now: u64) -> Option<(f64, f64, f64, u64, &'static str)> {
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
}
