//! The cue rate limit, and how durations are spoken.
//!
//! Athletes switch off a chatty coach. Apart from safety cues, which always go out, each
//! cue code speaks at most once per `repeat_ms` (15 s by default); a cue that would repeat
//! sooner is dropped (its modification, if any, has already been applied by the coach).
//! An answer to a cue the athlete heard (the heart-rate signal back after its loss) is
//! not dropped: it is as rare as the cue it answers, and a loss announced must not be
//! left standing.

use paceline_schemas::{CueCode, Severity};

/// Remembers when each cue code last spoke.
#[derive(Debug, Clone)]
pub struct CueLimiter {
    repeat_ms: u64,
    last_spoken_ms: [Option<u64>; CueCode::ALL.len()],
}

impl CueLimiter {
    /// A limiter that lets each non-safety code speak once per `repeat_ms`.
    pub fn new(repeat_ms: u64) -> Self {
        CueLimiter {
            repeat_ms,
            last_spoken_ms: [None; CueCode::ALL.len()],
        }
    }

    /// Whether a cue of this code and severity may speak at `now_ms`; if so, it is
    /// recorded as spoken. Safety cues always may.
    pub fn admit(&mut self, now_ms: u64, code: CueCode, severity: Severity) -> bool {
        let slot = &mut self.last_spoken_ms[code_index(code)];
        if severity == Severity::Safety {
            *slot = Some(now_ms);
            return true;
        }
        match *slot {
            Some(last) if now_ms.saturating_sub(last) < self.repeat_ms => false,
            _ => {
                *slot = Some(now_ms);
                true
            }
        }
    }

    /// Records a cue of this code as spoken at `now_ms` without asking (an answer to a
    /// cue that was admitted, such as a signal back after its loss).
    pub fn record(&mut self, now_ms: u64, code: CueCode) {
        self.last_spoken_ms[code_index(code)] = Some(now_ms);
    }
}

fn code_index(code: CueCode) -> usize {
    CueCode::ALL.iter().position(|&c| c == code).unwrap_or(0)
}

/// A duration as an athlete hears it: `45 s`, `3:00`, `1:02:30`.
pub fn spoken_duration(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else if m > 0 {
        format!("{m}:{s:02}")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(spoken_duration(45), "45 s");
        assert_eq!(spoken_duration(180), "3:00");
        assert_eq!(spoken_duration(3750), "1:02:30");
    }

    #[test]
    fn safety_always_speaks_and_others_wait() {
        let mut limiter = CueLimiter::new(15_000);
        assert!(limiter.admit(0, CueCode::AboveTarget, Severity::Info));
        assert!(!limiter.admit(14_999, CueCode::AboveTarget, Severity::Info));
        assert!(limiter.admit(14_999, CueCode::BelowTarget, Severity::Info));
        assert!(limiter.admit(15_000, CueCode::AboveTarget, Severity::Warn));
        assert!(limiter.admit(0, CueCode::HrAboveCap, Severity::Safety));
        assert!(limiter.admit(1, CueCode::HrAboveCap, Severity::Safety));
    }
}
