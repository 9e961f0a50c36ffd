//! The durable job runner's policy: what a job is, when it runs again, when it is dead.
//!
//! The gateway keeps jobs in SQLite (kind, payload as JSON, dedup key, run-at, attempts,
//! last error, state) and runs them on a bounded worker pool; this module decides
//! everything that does not need the database:
//!
//! - [`Job`]: the work, as a serde value stored in the payload column; [`Job::kind`]
//!   names it, [`Job::dedup_key`] makes duplicate webhook deliveries collapse (a new job
//!   whose key is already queued is dropped: the queued one does the same work, since
//!   every job re-fetches from the provider rather than trusting the event).
//! - [`JobState`] and [`next_state`]: a run's [`Outcome`] → the next state. At most
//!   [`MAX_ATTEMPTS`] runs; between them full-jitter exponential backoff
//!   ([`backoff_s`]: a uniform draw in `[0, min(cap, base · 2^(n−1))]`, base 2 s, cap 10
//!   minutes) from a random `u64` the caller draws, so tests are exact. A rate-limit
//!   pause waits without spending an attempt; `needs_reauth` is dead at once.
//! - [`recover_on_start`]: a job found `running` when the gateway starts was cut off by
//!   a crash: it runs again (the attempt counted), so a backfill resumes from the pager
//!   stored in its payload and nothing is skipped.
//! - [`concurrency_limit`]: how many jobs of one provider run at once.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::provider::Provider;
use crate::strava::ActivityPager;

/// The most runs a job gets.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first backoff's ceiling, s.
pub const BACKOFF_BASE_S: u64 = 2;
/// The largest backoff, s (10 minutes).
pub const BACKOFF_CAP_S: u64 = 600;
/// Worker threads for all providers together.
pub const WORKERS: usize = 4;
/// The largest payload read back from a row, bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The longest error kept in a row, characters.
pub const MAX_ERROR_CHARS: usize = 500;

/// How many jobs of `provider` may run at once: Strava's quota is per application, so
/// two at a time (the rate limiter paces them); Garmin's callbacks are per user, so
/// four.
pub fn concurrency_limit(provider: Provider) -> usize {
    match provider {
        Provider::Strava => 2,
        Provider::Garmin => 4,
    }
}

/// A Garmin summary type a ping or push names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SummaryType {
    /// Activity summaries.
    Activities,
    /// Activity details (samples).
    ActivityDetails,
    /// Daily summaries (resting heart rate, stress).
    Dailies,
    /// Sleep summaries.
    Sleeps,
    /// Overnight HRV.
    Hrv,
    /// Stress details.
    StressDetails,
    /// User metrics (VO2max, fitness age).
    UserMetrics,
}

impl SummaryType {
    /// Every type.
    pub const ALL: [SummaryType; 7] = [
        SummaryType::Activities,
        SummaryType::ActivityDetails,
        SummaryType::Dailies,
        SummaryType::Sleeps,
        SummaryType::Hrv,
        SummaryType::StressDetails,
        SummaryType::UserMetrics,
    ];

    /// The name Garmin gives it in notification bodies: `activities`, `activityDetails`,
    /// `dailies`, `sleeps`, `hrv`, `stressDetails`, `userMetrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryType::Activities => "activities",
            SummaryType::ActivityDetails => "activityDetails",
            SummaryType::Dailies => "dailies",
            SummaryType::Sleeps => "sleeps",
            SummaryType::Hrv => "hrv",
            SummaryType::StressDetails => "stressDetails",
            SummaryType::UserMetrics => "userMetrics",
        }
    }

    /// The type named `name` (as [`SummaryType::as_str`] spells it).
    pub fn parse(name: &str) -> Option<SummaryType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One piece of sync work. JSON: an object with `kind` and the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Page through a connection's Strava activities (backfill or delta), fetching each
    /// new one's detail and streams; the pager is rewritten after every page.
    SyncActivities {
        /// The connection (its row id).
        connection_id: i64,
        /// Where the paging is.
        pager: ActivityPager,
    },
    /// Fetch one activity (detail and streams) with the owner's token and import it; a
    /// 404 means it was deleted meanwhile: done.
    FetchActivity {
        /// The provider.
        provider: Provider,
        /// The provider's id of the owner (Strava `owner_id`, Garmin `userId`).
        owner_id: String,
        /// The provider's id of the activity.
        activity_id: String,
    },
    /// Remove that provider's copy of an activity from the library.
    DeleteActivity {
        /// The provider.
        provider: Provider,
        /// The owner.
        owner_id: String,
        /// The activity.
        activity_id: String,
    },
    /// The owner revoked access (Strava `authorized: "false"`, a Garmin deregistration):
    /// delete the tokens, mark the connection revoked.
    Revoke {
        /// The provider.
        provider: Provider,
        /// The owner.
        owner_id: String,
    },
    /// Fetch a Garmin ping's callback URL with the user's token and import what it
    /// returns.
    FetchCallback {
        /// The Garmin user.
        owner_id: String,
        /// What the callback returns.
        summary: SummaryType,
        /// The URL (checked to be on Garmin's API origin when the ping was read).
        callback_url: String,
    },
}

/// The kind of a job, for the `kind` column and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// [`Job::SyncActivities`].
    SyncActivities,
    /// [`Job::FetchActivity`].
    FetchActivity,
    /// [`Job::DeleteActivity`].
    DeleteActivity,
    /// [`Job::Revoke`].
    Revoke,
    /// [`Job::FetchCallback`].
    FetchCallback,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 5] = [
        JobKind::SyncActivities,
        JobKind::FetchActivity,
        JobKind::DeleteActivity,
        JobKind::Revoke,
        JobKind::FetchCallback,
    ];

    /// Its name, as the payload's `kind` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::SyncActivities => "sync_activities",
            JobKind::FetchActivity => "fetch_activity",
            JobKind::DeleteActivity => "delete_activity",
            JobKind::Revoke => "revoke",
            JobKind::FetchCallback => "fetch_callback",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<JobKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A payload that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Bigger than [`MAX_PAYLOAD_BYTES`].
    #[error("the job payload is {0} bytes; at most 65,536 are read")]
    TooLarge(usize),
    /// Not a job.
    #[error("the job payload is not a job: {0}")]
    Malformed(String),
}

impl Job {
    /// Its kind.
    pub fn kind(&self) -> JobKind {
        match self {
            Job::SyncActivities { .. } => JobKind::SyncActivities,
            Job::FetchActivity { .. } => JobKind::FetchActivity,
            Job::DeleteActivity { .. } => JobKind::DeleteActivity,
            Job::Revoke { .. } => JobKind::Revoke,
            Job::FetchCallback { .. } => JobKind::FetchCallback,
        }
    }

    /// The provider whose quota and concurrency it uses.
    pub fn provider(&self) -> Provider {
        match self {
            Job::SyncActivities { .. } => Provider::Strava,
            Job::FetchActivity { provider, .. }
            | Job::DeleteActivity { provider, .. }
            | Job::Revoke { provider, .. } => *provider,
            Job::FetchCallback { .. } => Provider::Garmin,
        }
    }

    /// The key under which duplicates collapse: one queued job per key. A Strava
    /// `create` and an `update` of one activity are both one fetch
    /// (`strava:fetch:<owner>:<activity>`); a delete is its own key, so a delete is
    /// never swallowed by a pending fetch (which then finds the activity gone).
    pub fn dedup_key(&self) -> String {
        match self {
            Job::SyncActivities { connection_id, .. } => format!("strava:sync:{connection_id}"),
            Job::FetchActivity {
                provider,
                owner_id,
                activity_id,
            } => format!("{}:fetch:{owner_id}:{activity_id}", provider.as_str()),
            Job::DeleteActivity {
                provider,
                owner_id,
                activity_id,
            } => format!("{}:delete:{owner_id}:{activity_id}", provider.as_str()),
            Job::Revoke { provider, owner_id } => {
                format!("{}:revoke:{owner_id}", provider.as_str())
            }
            Job::FetchCallback { callback_url, .. } => format!("garmin:callback:{callback_url}"),
        }
    }

    /// The payload column's JSON.
    pub fn to_payload(&self) -> String {
        // A derived Serialize of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A job read back from its payload column.
    pub fn from_payload(payload: &str) -> Result<Job, PayloadError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge(payload.len()));
        }
        serde_json::from_str(payload).map_err(|e| PayloadError::Malformed(e.to_string()))
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its first run.
    Queued,
    /// A worker has it.
    Running,
    /// Finished.
    Done,
    /// Waiting to run again at `run_at_s`.
    Retry {
        /// When, s since the Unix epoch.
        run_at_s: i64,
    },
    /// Given up: on the dead-letter list the admin sees and may retry.
    Dead {
        /// Why the last run failed.
        last_error: String,
    },
}

impl JobState {
    /// Its name in the `state` column: `queued`, `running`, `done`, `retry`, `dead`.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Retry { .. } => "retry",
            JobState::Dead { .. } => "dead",
        }
    }

    /// Whether a worker may take it at `now_s` (for a queued job, `run_at` is its
    /// enqueue time; the caller keeps that column).
    pub fn is_due(&self, now_s: i64) -> bool {
        match self {
            JobState::Queued => true,
            JobState::Retry { run_at_s } => *run_at_s <= now_s,
            JobState::Running | JobState::Done | JobState::Dead { .. } => false,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The work is done (including "nothing to do": an activity already gone).
    Done,
    /// It failed and may succeed later (a timeout, a 5xx, a refused connection).
    Transient(String),
    /// It failed and never will (a malformed answer, an unknown owner): dead at once.
    Permanent(String),
    /// The provider refused the grant: the connection needs the athlete again.
    NeedsReauth(String),
    /// The rate limiter paused it until `until_s`: no attempt spent.
    Paused {
        /// When to run again.
        until_s: i64,
    },
}

/// The state after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new state.
    pub state: JobState,
    /// Runs spent so far, for the `attempts` column.
    pub attempts: u32,
}

/// The full-jitter backoff before run `attempt + 1`, after `attempt` failed runs
/// (`attempt` ≥ 1): uniform in `[0, min(BACKOFF_CAP_S, BACKOFF_BASE_S · 2^(attempt−1))]`,
/// drawn as `jitter % (ceiling + 1)`.
pub fn backoff_s(attempt: u32, jitter: u64) -> u64 {
    let exponent = attempt.saturating_sub(1).min(32);
    let ceiling = BACKOFF_BASE_S
        .saturating_mul(1u64 << exponent)
        .min(BACKOFF_CAP_S);
    jitter % (ceiling + 1)
}

fn clipped(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// The next state of a job whose run ended with `outcome` at `now_s`, `attempts` being
/// the runs spent including this one. `jitter` is a random `u64` the caller draws.
pub fn next_state(attempts: u32, outcome: &Outcome, now_s: i64, jitter: u64) -> Transition {
    let state = match outcome {
        Outcome::Done => JobState::Done,
        Outcome::Paused { until_s } => {
            // The pause spends no attempt: give this run back.
            return Transition {
                state: JobState::Retry {
                    run_at_s: (*until_s).max(now_s),
                },
                attempts: attempts.saturating_sub(1),
            };
        }
        Outcome::Permanent(error) => JobState::Dead {
            last_error: clipped(error),
        },
        Outcome::NeedsReauth(error) => JobState::Dead {
            last_error: clipped(&format!("needs_reauth: {error}")),
        },
        Outcome::Transient(error) if attempts >= MAX_ATTEMPTS => JobState::Dead {
            last_error: clipped(error),
        },
        Outcome::Transient(_) => {
            let delay_s = i64::try_from(backoff_s(attempts, jitter)).unwrap_or(i64::MAX);
            JobState::Retry {
                run_at_s: now_s.saturating_add(delay_s),
            }
        }
    };
    Transition { state, attempts }
}

/// What a job's state becomes when the gateway starts: one left `running` was cut off
/// by a crash and runs again at `now_s` (its attempt stays spent, so a job that kills
/// the process every time ends dead after [`MAX_ATTEMPTS`]). Others are unchanged.
pub fn recover_on_start(state: JobState, attempts: u32, now_s: i64) -> JobState {
    match state {
        JobState::Running if attempts >= MAX_ATTEMPTS => JobState::Dead {
            last_error: "interrupted by a restart on its last attempt".to_owned(),
        },
        JobState::Running => JobState::Retry { run_at_s: now_s },
        other => other,
    }
}

/// What a provider API answer's HTTP status means for the job that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAnswer {
    /// 2xx: read the body.
    Ok,
    /// 404 or 410: the object is gone (deleted meanwhile, or never the owner's): the job
    /// is done with nothing to import.
    Gone,
    /// 401: refresh the token once and retry; a second 401 (or the refresh's
    /// `invalid_grant`) is [`Outcome::NeedsReauth`].
    Unauthorized,
    /// 429: pause ([`after_too_many_requests`](crate::rate_limit::after_too_many_requests)).
    RateLimited,
    /// 5xx, 408: [`Outcome::Transient`].
    Transient,
    /// Any other status: [`Outcome::Permanent`].
    Permanent,
}

/// Classifies a provider API answer's status.
pub fn classify_status(status: u16) -> ApiAnswer {
    match status {
        200..=299 => ApiAnswer::Ok,
        404 | 410 => ApiAnswer::Gone,
        401 => ApiAnswer::Unauthorized,
        429 => ApiAnswer::RateLimited,
        408 | 500..=599 => ApiAnswer::Transient,
        _ => ApiAnswer::Permanent,
    }
}

/// The admin's "retry" on a dead job: queued again with its attempts reset to 0.
pub fn retry_dead() -> Transition {
    Transition {
        state: JobState::Queued,
        attempts: 0,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;

    fn fetch(activity_id: &str) -> Job {
        Job::FetchActivity {
            provider: Provider::Strava,
            owner_id: "134815".to_owned(),
            activity_id: activity_id.to_owned(),
        }
    }

    #[test]
    fn payloads_round_trip() {
        let job = fetch("1360128428");
        expect![[r#"{"kind":"fetch_activity","provider":"strava","owner_id":"134815","activity_id":"1360128428"}"#]]
            .assert_eq(&job.to_payload());
        assert_eq!(Job::from_payload(&job.to_payload()), Ok(job.clone()));
        assert_eq!(job.kind().as_str(), "fetch_activity");
        let sync = Job::SyncActivities {
            connection_id: 3,
            pager: ActivityPager::backfill(1_000_000, 1),
        };
        expect![[r#"{"kind":"sync_activities","connection_id":3,"pager":{"after_s":913600,"page":1,"newest_start_s":null,"done":false}}"#]]
            .assert_eq(&sync.to_payload());
        assert_eq!(Job::from_payload(&sync.to_payload()), Ok(sync));
        let ping = Job::FetchCallback {
            owner_id: "u".to_owned(),
            summary: SummaryType::StressDetails,
            callback_url: "https://apis.example/x".to_owned(),
        };
        assert_eq!(Job::from_payload(&ping.to_payload()), Ok(ping.clone()));
        assert_eq!(ping.provider(), Provider::Garmin);
        assert!(matches!(
            Job::from_payload(r#"{"kind":"mine_bitcoin"}"#),
            Err(PayloadError::Malformed(_))
        ));
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn dedup_keys() {
        assert_eq!(fetch("9").dedup_key(), "strava:fetch:134815:9");
        assert_eq!(fetch("9").dedup_key(), fetch("9").dedup_key());
        assert_ne!(fetch("9").dedup_key(), fetch("10").dedup_key());
        let delete = Job::DeleteActivity {
            provider: Provider::Strava,
            owner_id: "134815".to_owned(),
            activity_id: "9".to_owned(),
        };
        assert_eq!(delete.dedup_key(), "strava:delete:134815:9");
        let revoke = Job::Revoke {
            provider: Provider::Garmin,
            owner_id: "abc".to_owned(),
        };
        assert_eq!(revoke.dedup_key(), "garmin:revoke:abc");
    }

    #[test]
    fn backoff_ceilings() {
        // Ceiling 2 · 2^(n−1): 2, 4, 8, 16 s after runs 1–4, 2 · 2^8 = 512 after run 9,
        // 2 · 2^9 = 1,024 → capped at 600 after run 10. A jitter equal to the ceiling draws
        // the ceiling; one more wraps to 0.
        for (attempt, ceiling) in [
            (1, 2),
            (2, 4),
            (3, 8),
            (4, 16),
            (9, 512),
            (10, 600),
            (40, 600),
        ] {
            assert_eq!(backoff_s(attempt, ceiling), ceiling, "attempt {attempt}");
            assert_eq!(backoff_s(attempt, ceiling + 1), 0, "attempt {attempt}");
        }
        // 1,000 % (8 + 1) = 1 (9 × 111 = 999).
        assert_eq!(backoff_s(3, 1_000), 1);
    }

    #[test]
    fn transitions() {
        let now = 10_000;
        assert_eq!(
            next_state(1, &Outcome::Done, now, 0),
            Transition {
                state: JobState::Done,
                attempts: 1
            }
        );
        // After run 2 the ceiling is 4 s; jitter 7 → 7 % 5 = 2 s.
        assert_eq!(
            next_state(2, &Outcome::Transient("timeout".to_owned()), now, 7),
            Transition {
                state: JobState::Retry { run_at_s: 10_002 },
                attempts: 2
            }
        );
        assert_eq!(
            next_state(5, &Outcome::Transient("503".to_owned()), now, 7).state,
            JobState::Dead {
                last_error: "503".to_owned()
            }
        );
        assert_eq!(
            next_state(1, &Outcome::NeedsReauth("invalid_grant".to_owned()), now, 0).state,
            JobState::Dead {
                last_error: "needs_reauth: invalid_grant".to_owned()
            }
        );
        assert_eq!(
            next_state(3, &Outcome::Paused { until_s: 10_800 }, now, 0),
            Transition {
                state: JobState::Retry { run_at_s: 10_800 },
                attempts: 2
            }
        );
        assert_eq!(
            recover_on_start(JobState::Running, 2, now),
            JobState::Retry { run_at_s: now }
        );
        assert!(matches!(
            recover_on_start(JobState::Running, 5, now),
            JobState::Dead { .. }
        ));
        assert_eq!(recover_on_start(JobState::Done, 1, now), JobState::Done);
        assert!(JobState::Retry { run_at_s: now }.is_due(now));
        assert!(!JobState::Retry { run_at_s: now + 1 }.is_due(now));
        assert!(!JobState::Running.is_due(now));
        assert_eq!(retry_dead().state.as_str(), "queued");
        for (status, answer) in [
            (200, ApiAnswer::Ok),
            (404, ApiAnswer::Gone),
            (401, ApiAnswer::Unauthorized),
            (429, ApiAnswer::RateLimited),
            (503, ApiAnswer::Transient),
            (403, ApiAnswer::Permanent),
        ] {
            assert_eq!(classify_status(status), answer, "{status}");
        }
    }

    proptest! {
        #[test]
        fn backoff_within_cap(attempt in any::<u32>(), jitter in any::<u64>()) {
            prop_assert!(backoff_s(attempt, jitter) <= BACKOFF_CAP_S);
        }

        #[test]
        fn never_more_than_five_runs(jitters in proptest::collection::vec(any::<u64>(), 1..20), pauses in proptest::collection::vec(any::<bool>(), 1..20)) {
            // A worker loop: claim (attempts + 1), run, transition, until terminal.
            let mut attempts = 0;
            let mut now = 0i64;
            let mut state = JobState::Queued;
            for (i, jitter) in jitters.iter().enumerate() {
                if !state.is_due(now) {
                    if let JobState::Retry { run_at_s } = state { now = run_at_s; } else { break; }
                }
                attempts += 1;
                prop_assert!(attempts <= MAX_ATTEMPTS);
                let outcome = if pauses.get(i).copied().unwrap_or(false) {
                    Outcome::Paused { until_s: now + 900 }
                } else {
                    Outcome::Transient("x".to_owned())
                };
                let t = next_state(attempts, &outcome, now, *jitter);
                if let JobState::Retry { run_at_s } = t.state {
                    prop_assert!(run_at_s >= now && run_at_s - now <= 900);
                }
                attempts = t.attempts;
                state = t.state;
            }
        }

        #[test]
        fn payload_reading_never_panics(payload in ".{0,200}") {
            let _ = Job::from_payload(&payload);
        }
    }
}
