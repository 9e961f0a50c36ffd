//! Strava and Garmin sync, I/O-free: the rules the gateway's connection routes, webhook
//! handlers and job runner follow, with every byte from a provider treated as untrusted.
//!
//! - [`garmin`]: Garmin push and ping notifications and callback answers (bounded; a
//!   ping's callback URL must be on Garmin's API origin) → activities as
//!   [`Recording`](paceline_formats::Recording)s, daily metrics per user and date
//!   (resting HR, HRV, sleep time and score, stress), deregistrations; the user id and
//!   permissions answers; backfill requests in 90-day ranges.
//! - [`jobs`]: the durable job runner's policy: [`Job`] payloads (serde JSON), dedup
//!   keys, at most 5 runs with full-jitter exponential backoff (2 s base, 10 min cap),
//!   outcome → next state, restart recovery, per-provider concurrency.
//! - [`oauth`]: provider endpoints, authorize URLs, `state` (256 random bits, bound to the
//!   user, single use, 10 minutes), PKCE S256, token requests and answers
//!   (`invalid_grant` → needs reauthorization), refresh 5 minutes before expiry; tokens in
//!   a [`Secret`] that never prints.
//! - [`provider`]: [`Provider`] and [`ConnectionStatus`] names.
//! - [`rate_limit`]: `X-RateLimit-*` and `X-ReadRateLimit-*` headers; pause at 80 % of
//!   either window until the next UTC quarter hour or midnight; the same after a 429.
//! - [`settings`]: the `PACELINE_STRAVA_…`, `PACELINE_GARMIN_…` and `PACELINE_PUBLIC_URL`
//!   settings through a lookup function; redirect and webhook URLs.
//! - [`strava`]: Strava's activity list, detail and streams (bounded, range-checked) into
//!   the library's [`Recording`](paceline_formats::Recording), sports mapped to the
//!   library's, and the backfill/delta [`ActivityPager`].
//! - [`webhook`]: Strava's subscription (request, challenge with the verify token in
//!   constant time) and events (bounded to 16 KiB) → the [`Job`] each asks for.
//!
//! **This crate does no I/O**: no sockets, SQL, files or HTTP clients, and no clock or
//! global random source: `now` and random bytes are arguments, responses arrive as bytes.
//! It never iterates a hash map into its output, so the same inputs give the same outputs.

pub mod garmin;
pub mod jobs;
pub mod oauth;
pub mod provider;
pub mod rate_limit;
pub mod settings;
pub mod strava;
pub mod webhook;

pub use garmin::{
    DailyMetrics, GarminError, GarminItem, backfill_paths, daily_metrics, parse_callback,
    parse_notification, parse_permissions, parse_user_id,
};
pub use jobs::{
    ApiAnswer, Job, JobKind, JobState, Outcome, PayloadError, SummaryType, Transition, backoff_s,
    classify_status, concurrency_limit, next_state, recover_on_start,
};
pub use oauth::{
    ConfigError, DeauthorizeRequest, FormRequest, OAuthState, OAuthStates, PendingState, PkceError,
    PkceVerifier, ProviderConfig, Secret, StateError, TokenBody, TokenError, TokenSet,
    parse_token_response, should_refresh,
};
pub use provider::{ConnectionStatus, Provider};
pub use rate_limit::{
    RateDecision, RateLimitError, RateLimits, Window, after_too_many_requests, decide,
};
pub use settings::{GarminSettings, SettingsError, StravaSettings, SyncSettings};
pub use strava::{
    ActivityPager, DetailedActivity, PageStep, StravaError, StreamSet, SummaryActivity,
    parse_activity, parse_activity_list, parse_streams, recording,
};
pub use webhook::{
    ChallengeError, EventBody, WebhookError, WebhookEvent, answer_challenge, parse_event,
};
