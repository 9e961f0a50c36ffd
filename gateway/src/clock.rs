//! The gateway's clock: milliseconds since the Unix epoch, read once at start and then
//! advanced by the monotonic clock, so it never goes backwards while the process runs (the
//! coaches require that) and stays close to wall time (frames carry wall-clock send
//! times, and downlink seqs start from it).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock in Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct GatewayClock {
    base_ms: u64,
    start: Instant,
}

impl GatewayClock {
    /// A clock that reads the wall time now.
    pub fn start() -> GatewayClock {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        GatewayClock {
            base_ms,
            start: Instant::now(),
        }
    }

    /// Now, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base_ms.saturating_add(elapsed)
    }

    /// Now, µs since the Unix epoch (the live core's time: [`GatewayClock::now_ms`] is
    /// this divided by 1000).
    pub fn now_us(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(1000).saturating_add(elapsed)
    }

    /// The clock in the form the engine takes.
    pub fn for_engine(self) -> paceline_engine::dataflow::Clock {
        Arc::new(move || self.now_ms())
    }
}
