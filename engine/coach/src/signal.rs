//! Signal quality: is each sensor's reading fresh, stale or lost, and can its heart rate be
//! trusted?
//!
//! Bad sensor data is not an error here: it is a state the coach reports and the safety
//! governor acts on. Heart rate is suspect when the strap reports no skin contact, when it
//! jumps faster than 25 bpm/s and the next readings do not confirm the jump, and when it
//! sits within ±3 of the running cadence for 30 s (an optical sensor locked onto the
//! footfalls). A suspect reading is never used; it also keeps heart rate "artifact-suspect"
//! for a hold time, during which nothing may raise intensity.

use paceline_schemas::sample::Contact;

use crate::config::SignalConfig;

/// Readings outside this range are not heart rates.
const PLAUSIBLE_BPM: std::ops::RangeInclusive<u16> = 25..=250;

/// How far heart rate can be trusted right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HrQuality {
    /// Never seen a reading.
    Unknown,
    /// The last usable reading is at most `fresh_ms` old.
    Fresh,
    /// The last usable reading is older than `fresh_ms`.
    Stale,
    /// Nothing from the sensor for more than `lost_ms`.
    Lost,
    /// The strap says it has no skin contact.
    ContactOff,
    /// Readings are suspected artifacts (spike, or locked to running cadence).
    Artifact,
}

impl HrQuality {
    /// Whether heart rate can be relied on for decisions that raise intensity.
    pub fn is_trusted(self) -> bool {
        self == HrQuality::Fresh
    }

    /// A short name for logs and the board.
    pub fn as_str(self) -> &'static str {
        match self {
            HrQuality::Unknown => "unknown",
            HrQuality::Fresh => "fresh",
            HrQuality::Stale => "stale",
            HrQuality::Lost => "lost",
            HrQuality::ContactOff => "contact_off",
            HrQuality::Artifact => "artifact",
        }
    }
}

/// What one heart-rate reading turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HrReading {
    /// A usable reading, bpm.
    Accepted(f64),
    /// A jump the next readings must confirm; not used yet.
    Suspect,
    /// A suspect jump the next readings contradicted: an artifact. The reading that
    /// contradicted it is usable, bpm.
    ArtifactRejected(f64),
    /// The strap reports no skin contact.
    NoContact,
}

#[derive(Debug, Clone, Copy)]
struct PendingJump {
    bpm: f64,
    agreeing: u8,
}

/// The heart-rate sensor's state.
#[derive(Debug, Clone)]
pub struct HeartRateSignal {
    config: SignalConfig,
    last_arrival_ms: Option<u64>,
    last_usable_arrival_ms: Option<u64>,
    /// The smallest lead of coach time over sensor time seen (`now_ms − t_ms`): the
    /// clock offset plus the quickest transit.
    min_lead_ms: Option<i128>,
    contact_off: bool,
    accepted_bpm: Option<f64>,
    accepted_t_ms: u64,
    pending: Option<PendingJump>,
    artifact_until_ms: u64,
    ema_bpm: Option<f64>,
    ema_t_ms: u64,
    cadence_match_since_ms: Option<u64>,
    cadence_locked: bool,
}

impl HeartRateSignal {
    /// A sensor not heard from yet.
    pub fn new(config: &SignalConfig) -> Self {
        HeartRateSignal {
            config: config.clone(),
            last_arrival_ms: None,
            last_usable_arrival_ms: None,
            min_lead_ms: None,
            contact_off: false,
            accepted_bpm: None,
            accepted_t_ms: 0,
            pending: None,
            artifact_until_ms: 0,
            ema_bpm: None,
            ema_t_ms: 0,
            cadence_match_since_ms: None,
            cadence_locked: false,
        }
    }

    /// When a reading measured at sensor time `t_ms` would have arrived without a hold-up
    /// on the way, in coach time: `t_ms` plus the smallest lead seen, never after `now_ms`.
    /// A reading that was delayed (a resend after an outage, a slow network) is as old as
    /// its measurement, not as its arrival: it cannot make the signal fresh (SPEC §4,
    /// "fresh: sample ≤ 3 s old").
    fn measured_arrival_ms(&mut self, now_ms: u64, t_ms: u64) -> u64 {
        let lead = i128::from(now_ms) - i128::from(t_ms);
        let min_lead = self.min_lead_ms.map_or(lead, |seen| seen.min(lead));
        self.min_lead_ms = Some(min_lead);
        let at = (i128::from(t_ms) + min_lead).clamp(0, i128::from(now_ms));
        u64::try_from(at).unwrap_or(now_ms)
    }

    /// Takes one reading that arrived at `now_ms`, measured at `t_ms` (sensor time).
    pub fn on_reading(&mut self, now_ms: u64, t_ms: u64, bpm: u16, contact: Contact) -> HrReading {
        let arrived_ms = self.measured_arrival_ms(now_ms, t_ms);
        self.last_arrival_ms = Some(
            self.last_arrival_ms
                .map_or(arrived_ms, |at| at.max(arrived_ms)),
        );
        if contact == Contact::Off {
            self.contact_off = true;
            self.pending = None;
            return HrReading::NoContact;
        }
        self.contact_off = false;
        if !PLAUSIBLE_BPM.contains(&bpm) {
            self.artifact_until_ms = now_ms.saturating_add(self.config.artifact_hold_ms);
            return HrReading::Suspect;
        }
        let bpm = f64::from(bpm);
        let agree = f64::from(self.config.artifact_agree_bpm);

        if let Some(pending) = self.pending {
            if (bpm - pending.bpm).abs() <= agree {
                let agreeing = pending.agreeing.saturating_add(1);
                if agreeing >= self.config.artifact_confirm_samples {
                    self.pending = None;
                    return self.accept(now_ms, arrived_ms, t_ms, bpm);
                }
                self.pending = Some(PendingJump {
                    bpm: pending.bpm,
                    agreeing,
                });
                return HrReading::Suspect;
            }
            if let Some(before) = self.accepted_bpm
                && (bpm - before).abs() <= agree
            {
                self.pending = None;
                self.accept(now_ms, arrived_ms, t_ms, bpm);
                return HrReading::ArtifactRejected(bpm);
            }
            self.pending = Some(PendingJump { bpm, agreeing: 0 });
            self.artifact_until_ms = now_ms.saturating_add(self.config.artifact_hold_ms);
            return HrReading::Suspect;
        }

        if let Some(before) = self.accepted_bpm {
            let dt_ms = t_ms.saturating_sub(self.accepted_t_ms);
            let window = self.config.artifact_window_ms.max(1);
            #[allow(clippy::cast_precision_loss, reason = "a ratio of two small durations")]
            let windows = (dt_ms as f64 / window as f64).max(1.0);
            let recent = self
                .last_usable_arrival_ms
                .is_some_and(|at| now_ms.saturating_sub(at) <= self.config.lost_ms);
            if recent && (bpm - before).abs() > f64::from(self.config.artifact_jump_bpm) * windows {
                self.pending = Some(PendingJump { bpm, agreeing: 0 });
                self.artifact_until_ms = now_ms.saturating_add(self.config.artifact_hold_ms);
                return HrReading::Suspect;
            }
        }
        self.accept(now_ms, arrived_ms, t_ms, bpm)
    }

    fn accept(&mut self, now_ms: u64, arrived_ms: u64, t_ms: u64, bpm: f64) -> HrReading {
        let gap_ms = self
            .last_usable_arrival_ms
            .map_or(u64::MAX, |at| now_ms.saturating_sub(at));
        self.ema_bpm = match self.ema_bpm {
            Some(ema) if gap_ms <= self.config.lost_ms => {
                let dt_s = t_ms.saturating_sub(self.ema_t_ms).min(60_000);
                #[allow(clippy::cast_precision_loss, reason = "at most 60 000 ms")]
                let dt_s = dt_s as f64 / 1000.0;
                let alpha = 1.0 - (-dt_s / self.config.hr_ema_tau_s.max(0.1)).exp();
                Some(ema + alpha * (bpm - ema))
            }
            _ => Some(bpm),
        };
        self.ema_t_ms = t_ms;
        self.accepted_bpm = Some(bpm);
        self.accepted_t_ms = t_ms;
        self.last_usable_arrival_ms = Some(
            self.last_usable_arrival_ms
                .map_or(arrived_ms, |at| at.max(arrived_ms)),
        );
        HrReading::Accepted(bpm)
    }

    /// Checks the last usable heart rate against a running cadence (steps/min) that
    /// arrived at `now_ms`. Returns true when this reading makes the lock certain (once per
    /// lock).
    pub fn on_running_cadence(&mut self, now_ms: u64, cadence_spm: f64) -> bool {
        let matches = self.accepted_bpm.is_some_and(|bpm| {
            (bpm - cadence_spm).abs() <= f64::from(self.config.cadence_lock_bpm)
        }) && self.quality_ignoring_lock(now_ms) == HrQuality::Fresh;
        if !matches {
            self.cadence_match_since_ms = None;
            self.cadence_locked = false;
            return false;
        }
        let since = *self.cadence_match_since_ms.get_or_insert(now_ms);
        if !self.cadence_locked && now_ms.saturating_sub(since) >= self.config.cadence_lock_ms {
            self.cadence_locked = true;
            self.artifact_until_ms = now_ms.saturating_add(self.config.artifact_hold_ms);
            return true;
        }
        false
    }

    /// The sensor's state at `now_ms`.
    pub fn quality(&self, now_ms: u64) -> HrQuality {
        match self.quality_ignoring_lock(now_ms) {
            HrQuality::Fresh if self.cadence_locked => HrQuality::Artifact,
            q => q,
        }
    }

    fn quality_ignoring_lock(&self, now_ms: u64) -> HrQuality {
        let Some(last) = self.last_arrival_ms else {
            return HrQuality::Unknown;
        };
        if now_ms.saturating_sub(last) > self.config.lost_ms {
            return HrQuality::Lost;
        }
        if self.contact_off {
            return HrQuality::ContactOff;
        }
        match self.last_usable_arrival_ms {
            None => return HrQuality::Artifact,
            Some(at) if now_ms.saturating_sub(at) > self.config.fresh_ms => {
                return HrQuality::Stale;
            }
            Some(_) => {}
        }
        if self.pending.is_some() || now_ms < self.artifact_until_ms {
            return HrQuality::Artifact;
        }
        HrQuality::Fresh
    }

    /// The last usable heart rate, bpm.
    pub fn bpm(&self) -> Option<f64> {
        self.accepted_bpm
    }

    /// The smoothed heart rate (exponential moving average, ~5 s), bpm.
    pub fn ema_bpm(&self) -> Option<f64> {
        self.ema_bpm
    }

    /// Whether the last usable reading is still fresh at `now_ms` (for carrying it over a
    /// second with no reading).
    pub fn usable_at(&self, now_ms: u64) -> bool {
        self.quality(now_ms) == HrQuality::Fresh
    }

    /// The next time at which [`quality`](Self::quality) can change without a new reading.
    pub fn next_change_ms(&self, now_ms: u64) -> Option<u64> {
        let candidates = [
            self.last_usable_arrival_ms
                .map(|at| at + self.config.fresh_ms + 1),
            self.last_arrival_ms.map(|at| at + self.config.lost_ms + 1),
            Some(self.artifact_until_ms),
        ];
        candidates
            .into_iter()
            .flatten()
            .filter(|&t| t > now_ms)
            .min()
    }
}

/// Freshness of a sensor without quality states of its own (power, cadence).
#[derive(Debug, Clone, Default)]
pub struct SensorClock {
    last_arrival_ms: Option<u64>,
    last_value: f64,
}

impl SensorClock {
    /// Records a reading that arrived at `now_ms`.
    pub fn on_reading(&mut self, now_ms: u64, value: f64) {
        self.last_arrival_ms = Some(now_ms);
        self.last_value = value;
    }

    /// The last reading, if it is at most `fresh_ms` old at `now_ms`.
    pub fn fresh_value(&self, now_ms: u64, fresh_ms: u64) -> Option<f64> {
        let at = self.last_arrival_ms?;
        (now_ms.saturating_sub(at) <= fresh_ms).then_some(self.last_value)
    }

    /// The last reading, however old.
    pub fn last_value(&self) -> Option<f64> {
        self.last_arrival_ms.map(|_| self.last_value)
    }
}
