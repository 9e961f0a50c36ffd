//! Cadence and speed derived from the revolution counters of CSC (0x2A5B) and cycling
//! power (0x2A63) notifications.
//!
//! A sensor reports a cumulative revolution count and the time of the last revolution
//! event; the rate is the change in count over the change in event time between two
//! notifications. Counters roll over (crank revolutions at 2^16, wheel revolutions at 2^32,
//! event times at 2^16 ticks) and the differences are taken modulo those widths. A repeated
//! event time means no new revolution: the last rate holds until no event has come for
//! [`Revolutions::STOPPED_AFTER_MS`], then the rate is zero. Implausible jumps (a counter
//! reset, a sensor swap) restart the derivation instead of producing a wild value.

use paceline_schemas::SampleValue;

/// The rate of one revolution counter.
#[derive(Debug, Clone, Default)]
pub struct RevolutionRate {
    last: Option<Reading>,
    rate_rev_per_s: Option<f64>,
    last_event_at_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    revs: u32,
    event_ticks: u16,
}

impl RevolutionRate {
    /// Feeds one reading: cumulative `revs` (counting modulo `2^rev_bits`), the last event
    /// time in ticks of `1/ticks_per_s` seconds, and the agent's time of the notification.
    /// Returns revolutions per second, or `None` until two readings have been seen.
    pub fn update(
        &mut self,
        revs: u32,
        rev_bits: u32,
        event_ticks: u16,
        ticks_per_s: f64,
        max_rev_per_s: f64,
        now_ms: u64,
    ) -> Option<f64> {
        let reading = Reading { revs, event_ticks };
        let Some(previous) = self.last.replace(reading) else {
            self.last_event_at_ms = now_ms;
            return None;
        };
        let rev_mask: u64 = if rev_bits >= 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << rev_bits) - 1
        };
        let d_revs = (u64::from(revs).wrapping_sub(u64::from(previous.revs))) & rev_mask;
        let d_ticks = event_ticks.wrapping_sub(previous.event_ticks);
        if d_ticks == 0 {
            if d_revs != 0 {
                // Revolutions without time: inconsistent; start again from this reading.
                self.rate_rev_per_s = None;
                self.last_event_at_ms = now_ms;
                return None;
            }
            if now_ms.saturating_sub(self.last_event_at_ms) >= Revolutions::STOPPED_AFTER_MS {
                self.rate_rev_per_s = Some(0.0);
            }
            return self.rate_rev_per_s;
        }
        self.last_event_at_ms = now_ms;
        #[allow(clippy::cast_precision_loss, reason = "d_revs < 2^32 is exact in f64")]
        let rate = d_revs as f64 * ticks_per_s / f64::from(d_ticks);
        if rate > max_rev_per_s {
            self.rate_rev_per_s = None;
            return None;
        }
        self.rate_rev_per_s = Some(rate);
        self.rate_rev_per_s
    }
}

/// The derivation state of one sensor: crank cadence and wheel speed.
#[derive(Debug, Clone)]
pub struct Revolutions {
    crank: RevolutionRate,
    wheel: RevolutionRate,
    wheel_circumference_m: f64,
}

impl Default for Revolutions {
    fn default() -> Self {
        Self::new(Self::DEFAULT_WHEEL_CIRCUMFERENCE_M)
    }
}

impl Revolutions {
    /// No new revolution event for this long means the crank or wheel has stopped.
    pub const STOPPED_AFTER_MS: u64 = 3_000;
    /// A 700×25c road wheel.
    pub const DEFAULT_WHEEL_CIRCUMFERENCE_M: f64 = 2.105;
    /// Cadence above this is taken for a glitch (250 rpm).
    pub const MAX_CRANK_REV_PER_S: f64 = 250.0 / 60.0;
    /// Wheel speed above this is taken for a glitch (about 130 km/h on a road wheel).
    pub const MAX_WHEEL_REV_PER_S: f64 = 17.0;

    /// A derivation for a wheel of the given circumference.
    pub fn new(wheel_circumference_m: f64) -> Self {
        Self {
            crank: RevolutionRate::default(),
            wheel: RevolutionRate::default(),
            wheel_circumference_m,
        }
    }

    /// Fills `cadence_rpm` and `speed_mps` of a cycling power or CSC value from its
    /// counters, given the agent's time of the notification. Other values pass unchanged.
    pub fn fill(&mut self, now_ms: u64, value: &mut SampleValue) {
        match value {
            SampleValue::CyclingPower(power) => {
                if let (Some(revs), Some(ticks)) = (power.crank_revs, power.crank_event_1024) {
                    power.cadence_rpm = self.cadence_rpm(u32::from(revs), ticks, now_ms);
                }
                if let (Some(revs), Some(ticks)) = (power.wheel_revs, power.wheel_event_2048) {
                    power.speed_mps = self.speed_mps(revs, ticks, 2048.0, now_ms);
                }
            }
            SampleValue::SpeedCadence(csc) => {
                if let (Some(revs), Some(ticks)) = (csc.crank_revs, csc.crank_event_1024) {
                    csc.cadence_rpm = self.cadence_rpm(u32::from(revs), ticks, now_ms);
                }
                if let (Some(revs), Some(ticks)) = (csc.wheel_revs, csc.wheel_event_1024) {
                    csc.speed_mps = self.speed_mps(revs, ticks, 1024.0, now_ms);
                }
            }
            _ => {}
        }
    }

    fn cadence_rpm(&mut self, revs: u32, ticks: u16, now_ms: u64) -> Option<f32> {
        let rate = self
            .crank
            .update(revs, 16, ticks, 1024.0, Self::MAX_CRANK_REV_PER_S, now_ms)?;
        #[allow(clippy::cast_possible_truncation, reason = "f32 is the schema's type")]
        Some((rate * 60.0) as f32)
    }

    fn speed_mps(&mut self, revs: u32, ticks: u16, ticks_per_s: f64, now_ms: u64) -> Option<f32> {
        let rate = self.wheel.update(
            revs,
            32,
            ticks,
            ticks_per_s,
            Self::MAX_WHEEL_REV_PER_S,
            now_ms,
        )?;
        #[allow(clippy::cast_possible_truncation, reason = "f32 is the schema's type")]
        Some((rate * self.wheel_circumference_m) as f32)
    }
}
