//! Strava's rate limits, read from its response headers, and when to pause.
//!
//! Strava limits each application (not each athlete) per 15 minutes and per UTC day, and
//! reports both windows on every answer: `X-RateLimit-Limit: 200,2000` and
//! `X-RateLimit-Usage: 150,1500` ("15-minute,daily"), plus `X-ReadRateLimit-Limit` /
//! `X-ReadRateLimit-Usage` for reads when present. Its 15-minute windows start at :00,
//! :15, :30 and :45 of the UTC clock; the daily window at UTC midnight.
//!
//! Sync is a background guest of the same quota the athletes' web pages use, so it
//! pauses early: at [`PAUSE_AT_PERCENT`] % of either window, of either the overall or
//! the read limits (every call sync makes is a read), until the window resets
//! ([`decide`]). A 429 pauses the same way ([`after_too_many_requests`]).

use thiserror::Error;

/// Sync pauses once usage reaches this share of a limit, %.
pub const PAUSE_AT_PERCENT: u64 = 80;
/// Strava's short window, s.
pub const SHORT_WINDOW_S: i64 = 900;
/// A UTC day, s.
pub const DAY_S: i64 = 86_400;
/// The longest rate-limit header value read, bytes.
pub const MAX_HEADER_BYTES: usize = 64;

/// Which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Window {
    /// The 15-minute window.
    FifteenMinutes,
    /// The UTC day.
    Daily,
}

impl Window {
    /// Its name for the admin: `15-minute`, `daily`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::FifteenMinutes => "15-minute",
            Window::Daily => "daily",
        }
    }
}

/// Limit and usage of both windows, as one pair of headers says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    /// Requests allowed per 15 minutes.
    pub short_limit: u32,
    /// Requests made in this 15 minutes.
    pub short_usage: u32,
    /// Requests allowed per UTC day.
    pub daily_limit: u32,
    /// Requests made today.
    pub daily_usage: u32,
}

/// What an answer's headers say of the quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// `X-RateLimit-*`.
    pub overall: Option<WindowUsage>,
    /// `X-ReadRateLimit-*`, when present.
    pub read: Option<WindowUsage>,
}

/// Rate-limit headers that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateLimitError {
    /// Not two comma-separated whole numbers.
    #[error("{header} is not \"15-minute,daily\" whole numbers: {value:?}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// Its value (cut to [`MAX_HEADER_BYTES`]).
        value: String,
    },
    /// A limit header without its usage header, or the reverse.
    #[error("{0} came without its pair")]
    Unpaired(&'static str),
}

/// Whether to make the next call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Go ahead.
    Go,
    /// Wait until `until_s` (s since the Unix epoch), when `window` resets.
    Pause {
        /// When to resume.
        until_s: i64,
        /// The window that is (nearly) spent.
        window: Window,
    },
}

fn pair(header: &'static str, value: &str) -> Result<(u32, u32), RateLimitError> {
    let malformed = || RateLimitError::Malformed {
        header,
        value: value.chars().take(MAX_HEADER_BYTES).collect(),
    };
    if value.len() > MAX_HEADER_BYTES {
        return Err(malformed());
    }
    let (short, daily) = value.split_once(',').ok_or_else(malformed)?;
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| malformed());
    Ok((number(short)?, number(daily)?))
}

fn windows(
    limit_name: &'static str,
    usage_name: &'static str,
    limit: Option<&str>,
    usage: Option<&str>,
) -> Result<Option<WindowUsage>, RateLimitError> {
    match (limit, usage) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(RateLimitError::Unpaired(limit_name)),
        (None, Some(_)) => Err(RateLimitError::Unpaired(usage_name)),
        (Some(limit), Some(usage)) => {
            let (short_limit, daily_limit) = pair(limit_name, limit)?;
            let (short_usage, daily_usage) = pair(usage_name, usage)?;
            Ok(Some(WindowUsage {
                short_limit,
                short_usage,
                daily_limit,
                daily_usage,
            }))
        }
    }
}

impl RateLimits {
    /// Reads the four headers from an answer's `(name, value)` pairs (names in any case;
    /// others ignored). No headers at all is no information, not an error.
    pub fn from_headers<'h>(
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    ) -> Result<RateLimits, RateLimitError> {
        let mut found: [Option<&str>; 4] = [None; 4];
        const NAMES: [&str; 4] = [
            "X-RateLimit-Limit",
            "X-RateLimit-Usage",
            "X-ReadRateLimit-Limit",
            "X-ReadRateLimit-Usage",
        ];
        for (name, value) in headers {
            if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                found[i] = Some(value);
            }
        }
        Ok(RateLimits {
            overall: windows(NAMES[0], NAMES[1], found[0], found[1])?,
            read: windows(NAMES[2], NAMES[3], found[2], found[3])?,
        })
    }

    /// The highest share of any limit used, % (for the connections page), rounded down.
    pub fn used_percent(&self) -> Option<u64> {
        [self.overall, self.read]
            .into_iter()
            .flatten()
            .flat_map(|w| {
                [
                    (w.short_usage, w.short_limit),
                    (w.daily_usage, w.daily_limit),
                ]
            })
            .map(|(usage, limit)| {
                (u64::from(usage) * 100)
                    .checked_div(u64::from(limit))
                    .unwrap_or(100)
            })
            .max()
    }
}

/// The first 15-minute boundary of the UTC clock strictly after `now_s`.
pub fn next_quarter_hour(now_s: i64) -> i64 {
    (now_s.div_euclid(SHORT_WINDOW_S) + 1) * SHORT_WINDOW_S
}

/// The first UTC midnight strictly after `now_s`.
pub fn next_utc_midnight(now_s: i64) -> i64 {
    (now_s.div_euclid(DAY_S) + 1) * DAY_S
}

fn spent(usage: u32, limit: u32) -> bool {
    u64::from(usage) * 100 >= u64::from(limit) * PAUSE_AT_PERCENT
}

/// Whether to call now, given the last answer's `limits`: a window whose usage reached
/// [`PAUSE_AT_PERCENT`] % of its limit (overall or read) pauses until it resets, the day
/// winning over the quarter hour.
pub fn decide(limits: &RateLimits, now_s: i64) -> RateDecision {
    let all = [limits.overall, limits.read];
    let windows = all.iter().flatten();
    if windows.clone().any(|w| spent(w.daily_usage, w.daily_limit)) {
        return RateDecision::Pause {
            until_s: next_utc_midnight(now_s),
            window: Window::Daily,
        };
    }
    if windows.clone().any(|w| spent(w.short_usage, w.short_limit)) {
        return RateDecision::Pause {
            until_s: next_quarter_hour(now_s),
            window: Window::FifteenMinutes,
        };
    }
    RateDecision::Go
}

/// The pause after a 429: until the next UTC midnight when the answer's headers show the
/// daily window spent (at its limit), otherwise until the next 15-minute boundary.
pub fn after_too_many_requests(limits: &RateLimits, now_s: i64) -> RateDecision {
    let daily_spent = [limits.overall, limits.read]
        .iter()
        .flatten()
        .any(|w| w.daily_usage >= w.daily_limit);
    if daily_spent {
        RateDecision::Pause {
            until_s: next_utc_midnight(now_s),
            window: Window::Daily,
        }
    } else {
        RateDecision::Pause {
            until_s: next_quarter_hour(now_s),
            window: Window::FifteenMinutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A UTC midnight: 2025-12-06T00:00:00Z, day 20,428 after 1970-01-01 (55 years of
    /// 365 days and 14 leap days = 20,089 days to 2025-01-01, plus 334 + 5), so
    /// 20,428 × 86,400 = 1,764,979,200 s.
    const DAY_START_S: i64 = 20_428 * DAY_S;

    fn limits(limit: &str, usage: &str) -> RateLimits {
        RateLimits::from_headers([("x-ratelimit-limit", limit), ("X-RateLimit-Usage", usage)])
            .unwrap()
    }

    #[test]
    fn headers_read() {
        let both = RateLimits::from_headers([
            ("X-RateLimit-Limit", "200,2000"),
            ("X-RateLimit-Usage", "150,1500"),
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "20, 30"),
            ("Content-Type", "application/json"),
        ])
        .unwrap();
        assert_eq!(
            both.overall,
            Some(WindowUsage {
                short_limit: 200,
                short_usage: 150,
                daily_limit: 2000,
                daily_usage: 1500
            })
        );
        assert_eq!(both.read.map(|r| r.daily_usage), Some(30));
        // 150 / 200 = 75 %, 1,500 / 2,000 = 75 %, 20 / 100 = 20 %, 30 / 1,000 = 3 %.
        assert_eq!(both.used_percent(), Some(75));
        assert_eq!(RateLimits::from_headers([]).unwrap(), RateLimits::default());
        assert_eq!(
            RateLimits::from_headers([("X-RateLimit-Limit", "200")]).unwrap_err(),
            RateLimitError::Unpaired("X-RateLimit-Limit")
        );
        assert!(matches!(
            RateLimits::from_headers([("X-RateLimit-Limit", "200"), ("X-RateLimit-Usage", "1,2")]),
            Err(RateLimitError::Malformed {
                header: "X-RateLimit-Limit",
                ..
            })
        ));
        assert!(matches!(
            RateLimits::from_headers([("X-RateLimit-Limit", "-1,2"), ("X-RateLimit-Usage", "1,2")]),
            Err(RateLimitError::Malformed { .. })
        ));
    }

    #[test]
    fn boundaries() {
        // 15:40:00 → 15:45:00; 15:44:59 → 15:45:00; exactly 15:45:00 → 16:00:00.
        let t = DAY_START_S + 15 * 3600;
        assert_eq!(next_quarter_hour(t + 40 * 60), t + 45 * 60);
        assert_eq!(next_quarter_hour(t + 45 * 60 - 1), t + 45 * 60);
        assert_eq!(next_quarter_hour(t + 45 * 60), t + 60 * 60);
        // 23:59:59 → the next midnight; midnight itself → the one after.
        assert_eq!(
            next_quarter_hour(DAY_START_S + DAY_S - 1),
            DAY_START_S + DAY_S
        );
        assert_eq!(
            next_utc_midnight(DAY_START_S + DAY_S - 1),
            DAY_START_S + DAY_S
        );
        assert_eq!(next_utc_midnight(DAY_START_S), DAY_START_S + DAY_S);
        // Before the epoch too: −1 s (1969-12-31T23:59:59Z) → 0.
        assert_eq!(next_quarter_hour(-1), 0);
        assert_eq!(next_utc_midnight(-1), 0);
    }

    #[test]
    fn pause_at_eighty_percent() {
        let now = DAY_START_S + 15 * 3600 + 40 * 60; // 15:40:00
        // 80 % of 200 is 160: 159 goes, 160 pauses until 15:45.
        assert_eq!(
            decide(&limits("200,2000", "159,1500"), now),
            RateDecision::Go
        );
        assert_eq!(
            decide(&limits("200,2000", "160,1500"), now),
            RateDecision::Pause {
                until_s: DAY_START_S + 15 * 3600 + 45 * 60,
                window: Window::FifteenMinutes
            }
        );
        // 80 % of 2,000 is 1,600: the day wins, until the next midnight.
        assert_eq!(
            decide(&limits("200,2000", "160,1600"), now),
            RateDecision::Pause {
                until_s: DAY_START_S + DAY_S,
                window: Window::Daily
            }
        );
        // The read limits are tighter: 80 of 100 reads (80 %) pauses though overall is at
        // 50 %.
        let read = RateLimits::from_headers([
            ("X-RateLimit-Limit", "200,2000"),
            ("X-RateLimit-Usage", "100,1000"),
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "80,500"),
        ])
        .unwrap();
        assert_eq!(
            decide(&read, now),
            RateDecision::Pause {
                until_s: DAY_START_S + 15 * 3600 + 45 * 60,
                window: Window::FifteenMinutes
            }
        );
        assert_eq!(decide(&RateLimits::default(), now), RateDecision::Go);
    }

    #[test]
    fn too_many_requests() {
        let now = DAY_START_S + 12 * 3600 + 7; // 12:00:07
        assert_eq!(
            after_too_many_requests(&limits("200,2000", "201,900"), now),
            RateDecision::Pause {
                until_s: DAY_START_S + 12 * 3600 + 15 * 60,
                window: Window::FifteenMinutes
            }
        );
        assert_eq!(
            after_too_many_requests(&limits("200,2000", "10,2000"), now),
            RateDecision::Pause {
                until_s: DAY_START_S + DAY_S,
                window: Window::Daily
            }
        );
        // No headers on the 429: the quarter hour.
        assert_eq!(
            after_too_many_requests(&RateLimits::default(), now),
            RateDecision::Pause {
                until_s: DAY_START_S + 12 * 3600 + 15 * 60,
                window: Window::FifteenMinutes
            }
        );
    }

    proptest! {
        #[test]
        fn headers_never_panic(a in ".{0,80}", b in ".{0,80}", c in ".{0,20}", d in ".{0,20}") {
            let _ = RateLimits::from_headers([
                ("X-RateLimit-Limit", a.as_str()),
                ("X-RateLimit-Usage", b.as_str()),
                ("X-ReadRateLimit-Limit", c.as_str()),
                ("X-ReadRateLimit-Usage", d.as_str()),
            ]);
        }

        #[test]
        fn pauses_end_on_a_boundary_after_now(
            now in -1_000_000_000i64..4_000_000_000,
            usage in any::<(u32, u32)>(),
            limit in any::<(u32, u32)>(),
        ) {
            let limits = RateLimits { overall: Some(WindowUsage {
                short_limit: limit.0, short_usage: usage.0, daily_limit: limit.1, daily_usage: usage.1,
            }), read: None };
            for decision in [decide(&limits, now), after_too_many_requests(&limits, now)] {
                if let RateDecision::Pause { until_s, window } = decision {
                    prop_assert!(until_s > now);
                    let period = if window == Window::Daily { DAY_S } else { SHORT_WINDOW_S };
                    prop_assert_eq!(until_s % period, 0);
                    prop_assert!(until_s - now <= period);
                }
            }
        }
    }
}
