//! Everything the servers remember: the apps' credentials, the athletes' activities,
//! codes and tokens, the rate-limit counters, the scripted faults, the webhook
//! subscription. One mutex guards it; no lock is held across an await.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::seed::Seeded;

/// The shared state handed to every route.
pub type Shared = Arc<Mutex<World>>;

/// Locks the world; a panicked holder leaves it usable (this is a test server).
pub fn lock(shared: &Shared) -> MutexGuard<'_, World> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Now, s since the Unix epoch.
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a scripted fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer this status with a JSON error body.
    Status {
        /// The status.
        status: u16,
    },
    /// Answer 429 with the rate-limit headers.
    TooManyRequests,
    /// Wait this long, then answer normally.
    Delay {
        /// How long, ms.
        ms: u64,
    },
    /// The token endpoint refuses the grant (Strava's 400 naming the refresh token or
    /// code as invalid); Garmin's `{"error": "invalid_grant"}`.
    InvalidGrant,
    /// The authorize page redirects back with `error=access_denied`.
    AccessDenied,
}

/// One scripted fault: the next `times` requests whose path starts with `path_prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Which requests (empty: all but `/admin`).
    #[serde(default)]
    pub path_prefix: String,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// Strava's two windows, overall and for reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateState {
    /// Overall limit per 15 minutes.
    pub short_limit: u32,
    /// Overall limit per day.
    pub daily_limit: u32,
    /// Read limit per 15 minutes.
    pub read_short_limit: u32,
    /// Read limit per day.
    pub read_daily_limit: u32,
    /// Overall usage this quarter hour.
    pub short_usage: u32,
    /// Overall usage today.
    pub daily_usage: u32,
    /// Read usage this quarter hour.
    pub read_short_usage: u32,
    /// Read usage today.
    pub read_daily_usage: u32,
    /// The quarter hour the short counters are for (now / 900).
    #[serde(default)]
    pub quarter: i64,
    /// The day the daily counters are for (now / 86,400).
    #[serde(default)]
    pub day: i64,
}

impl RateState {
    /// Fresh counters with these limits.
    pub fn new(overall: (u32, u32), read: (u32, u32)) -> RateState {
        RateState {
            short_limit: overall.0,
            daily_limit: overall.1,
            read_short_limit: read.0,
            read_daily_limit: read.1,
            short_usage: 0,
            daily_usage: 0,
            read_short_usage: 0,
            read_daily_usage: 0,
            quarter: now_s().div_euclid(900),
            day: now_s().div_euclid(86_400),
        }
    }

    fn roll(&mut self, now_s: i64) {
        if now_s.div_euclid(900) != self.quarter {
            self.quarter = now_s.div_euclid(900);
            self.short_usage = 0;
            self.read_short_usage = 0;
        }
        if now_s.div_euclid(86_400) != self.day {
            self.day = now_s.div_euclid(86_400);
            self.daily_usage = 0;
            self.read_daily_usage = 0;
        }
    }

    /// Counts one read at `now_s`; whether it is over a limit (then it is answered 429
    /// and, as on Strava, still counted).
    pub fn count_read(&mut self, now_s: i64) -> bool {
        self.roll(now_s);
        self.short_usage += 1;
        self.daily_usage += 1;
        self.read_short_usage += 1;
        self.read_daily_usage += 1;
        self.short_usage > self.short_limit
            || self.daily_usage > self.daily_limit
            || self.read_short_usage > self.read_short_limit
            || self.read_daily_usage > self.read_daily_limit
    }

    /// The four headers.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (
                "X-RateLimit-Limit",
                format!("{},{}", self.short_limit, self.daily_limit),
            ),
            (
                "X-RateLimit-Usage",
                format!("{},{}", self.short_usage, self.daily_usage),
            ),
            (
                "X-ReadRateLimit-Limit",
                format!("{},{}", self.read_short_limit, self.read_daily_limit),
            ),
            (
                "X-ReadRateLimit-Usage",
                format!("{},{}", self.read_short_usage, self.read_daily_usage),
            ),
        ]
    }
}

/// A granted access token.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Whose.
    pub athlete_id: u64,
    /// Until when, s.
    pub expires_at_s: i64,
}

/// The webhook subscription the app made.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    /// Its id.
    pub id: u64,
    /// Where events go.
    pub callback_url: String,
}

/// The whole state.
#[derive(Debug)]
pub struct World {
    /// The app's client id (both providers).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The athlete the authorize page logs in when the URL names none.
    pub default_athlete_id: u64,
    /// Access-token lifetime, s (Strava: 6 hours).
    pub token_lifetime_s: i64,
    /// Strava activities by id.
    pub activities: BTreeMap<u64, Seeded>,
    /// The seed recordings, for activities added later.
    pub seeds: Vec<paceline_formats::Recording>,
    /// Codes not yet exchanged → (athlete, PKCE challenge for Garmin).
    pub codes: BTreeMap<String, (u64, Option<String>)>,
    /// Live access tokens.
    pub access: BTreeMap<String, Grant>,
    /// Live refresh tokens → athlete.
    pub refresh: BTreeMap<String, u64>,
    /// Counter for ids and tokens.
    pub counter: u64,
    /// Strava's rate-limit counters.
    pub rate: RateState,
    /// Scripted faults, first match first.
    pub faults: Vec<Fault>,
    /// The webhook subscription.
    pub subscription: Option<Subscription>,
    /// Requests served per path (for tests to count calls).
    pub hits: BTreeMap<String, u64>,
    /// What Garmin ping callbacks answer, by summary, user and upload start.
    pub garmin_callbacks: BTreeMap<String, serde_json::Value>,
}

impl World {
    /// A fresh value for a code or token.
    pub fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!(
            "{what}-{:06}-{:x}",
            self.counter,
            now_s().wrapping_mul(2_654_435_761)
        )
    }

    /// A new activity id.
    pub fn next_activity_id(&mut self) -> u64 {
        self.activities
            .keys()
            .next_back()
            .map_or(1_000_001, |id| id + 1)
    }

    /// Tokens for `athlete_id`: (access, refresh, expires_at).
    pub fn grant(&mut self, athlete_id: u64) -> (String, String, i64) {
        let access = self.fresh("access");
        let refresh = self.fresh("refresh");
        let expires_at_s = now_s() + self.token_lifetime_s;
        self.access.insert(
            access.clone(),
            Grant {
                athlete_id,
                expires_at_s,
            },
        );
        self.refresh.insert(refresh.clone(), athlete_id);
        (access, refresh, expires_at_s)
    }

    /// Forgets every token of `athlete_id`.
    pub fn revoke(&mut self, athlete_id: u64) {
        self.access.retain(|_, g| g.athlete_id != athlete_id);
        self.refresh.retain(|_, a| *a != athlete_id);
    }

    /// The first fault for `path`, spent once; faults whose kind does not fit the path
    /// (an `invalid_grant` anywhere but a token endpoint) are skipped.
    pub fn take_fault(&mut self, path: &str) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| {
            path.starts_with(&f.path_prefix)
                && match f.kind {
                    FaultKind::InvalidGrant => path.ends_with("/token"),
                    FaultKind::AccessDenied => {
                        path.ends_with("/authorize") || path.ends_with("oauth2Confirm")
                    }
                    _ => true,
                }
        })?;
        let fault = &mut self.faults[index];
        let kind = fault.kind.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}
