//! Readings reaching the coach: heart rate (from a strap or relayed by a trainer) with the
//! signal's lost/back cues, and power.

use paceline_schemas::sample::Contact;
use paceline_schemas::{CueCode, Severity};

use super::Coach;
use crate::signal::{HrQuality, HrReading};

/// Power readings above this are sensor glitches, W.
const MAX_PLAUSIBLE_POWER_W: f64 = 3_000.0;

impl Coach {
    pub(super) fn on_relayed_heart_rate(&mut self, now: u64, t_ms: u64, bpm: u8) {
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

    pub(super) fn on_heart_rate(&mut self, now: u64, t_ms: u64, bpm: u16, contact: Contact) {
        let reading = self.hr.on_reading(now, t_ms, bpm, contact);
        self.on_heart_rate_reading(now, reading);
    }

    pub(super) fn on_heart_rate_reading(&mut self, now: u64, reading: HrReading) {
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

    pub(super) fn on_power(&mut self, now: u64, power_w: f64) {
        // Negative readings (calibration drift) count as zero; absurd ones are ignored.
        if !power_w.is_finite() || power_w > MAX_PLAUSIBLE_POWER_W {
            return;
        }
        let power_w = power_w.max(0.0);
        self.power.on_reading(now, power_w);
        self.bin.power_sum += power_w;
        self.bin.power_n += 1;
    }

    pub(super) fn check_heart_rate_signal(&mut self, now: u64) {
        let quality = self.hr.quality(now);
        let waited = now.saturating_sub(self.origin_ms.unwrap_or(now)) > self.config.signal.lost_ms;
        let lost = matches!(quality, HrQuality::Lost | HrQuality::ContactOff)
            || (quality == HrQuality::Unknown && waited);
        if lost && !self.hr_loss_spoken {
            // Judged once per loss; whether the athlete heard it decides whether the
            // signal's return is announced.
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
            self.hr_loss_heard = self.cue(
                now,
                Severity::Warn,
                CueCode::HrSignalLost,
                text.to_owned(),
                None,
            );
        } else if quality == HrQuality::Fresh && self.hr_loss_spoken {
            self.hr_loss_spoken = false;
            // A loss the rate limit kept quiet ends quietly; one the athlete heard is
            // always answered, however soon the last signal-back was.
            if std::mem::take(&mut self.hr_loss_heard) {
                let bpm = self.hr.bpm().unwrap_or_default();
                let text = format!("Heart-rate signal back: {bpm:.0} bpm.");
                self.answer(now, Severity::Info, CueCode::HrSignalBack, text);
            }
        }
    }
}
