//! Provider sync in the gateway: the durable job runner and the jobs it runs.
//!
//! The rules are `paceline-sync`'s (no I/O there); this module is their driver: it keeps
//! jobs in SQLite ([`crate::store::sync`]), calls the providers through
//! [`crate::outbound`], seals tokens with the server key, and imports activities into the
//! library ([`crate::jobs::library::import_copy`], source `strava`).
//!
//! - [`run`]: the runner task. At start it recovers jobs a killed gateway left `running`
//!   ([`jobs::recover_on_start`]); then it takes due jobs, oldest first, onto a bounded
//!   pool ([`jobs::WORKERS`]) with a per-provider limit ([`jobs::concurrency_limit`]).
//!   A run's [`Outcome`] goes through [`jobs::next_state`] (≤ 5 runs, full-jitter
//!   backoff from the OS random source; dead letters for the admin).
//! - A Strava backfill or delta ([`Job::SyncActivities`]) pages through the activity list,
//!   fetches each activity's detail and streams and imports it; the pager is written to
//!   the job's payload after every page, so a restart resumes at the page it was on, and
//!   a page read twice changes nothing (the library's same-copy rule). The access token
//!   is refreshed before expiry and once on a 401, by one run of a connection at a time
//!   (refresh tokens rotate; a run that waited takes the tokens the other stored);
//!   `invalid_grant` marks the connection `needs_reauth` and the job dead. Rate-limit headers pause the job (no attempt spent)
//!   until the window resets.
//!
//! - Finished jobs are deleted after `PACELINE_SYNC_KEEP_DONE_DAYS` (default 7), checked
//!   at start and hourly ([`prune`]); dead ones stay for the admin.
//! - Webhook jobs: [`Job::FetchActivity`] fetches one activity with the owner's token and
//!   imports it (a stored Strava copy is rewritten and merged afresh),
//!   [`Job::DeleteActivity`] removes the Strava copy (and the activity with its last
//!   copy), [`Job::Revoke`] first tries the owner's token (an unsigned event proves
//!   nothing) and, when Strava refuses the grant, marks the connection `revoked` and
//!   deletes its tokens.
//! - Quotas: each provider app's last rate-limit headers and pause ([`QuotaSeen`]) are
//!   kept in memory for `GET /connections` and `GET /admin/jobs`; a new run starts from
//!   them within the same 15-minute window. A pause is also stored (`sync_quotas`) and
//!   read back at start, and the runner takes no job of a paused provider until the
//!   pause ends, so neither a new job nor a restart asks a paused provider again.
//!
//! **Tokens never reach a log**: they live in [`Secret`]s, sealed at rest, and errors
//! name statuses and paths only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paceline_activities::{SourceCopy, SourceKind};
use paceline_sync::garmin::{DailyMetrics, GarminItem, parse_callback};
use paceline_sync::jobs::SummaryType;
use paceline_sync::jobs::{self, Job, JobState, Outcome};
use paceline_sync::oauth::{FormRequest, Secret, TokenSet, parse_token_response, should_refresh};
use paceline_sync::rate_limit::{
    RateDecision, RateLimits, WindowUsage, after_too_many_requests, decide,
};
use paceline_sync::strava::{self, ActivityPager, PageStep};
use paceline_sync::{ConnectionStatus, Provider, SyncSettings};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::GatewayClock;
use crate::jobs::library::{self, Owner};
use crate::outbound::{Answer, Method, Outbound};
use crate::store::activities::CopyExtras;
use crate::store::sync::{self as rows, ConnectionRow, JobRow};
use crate::store::{Store, StoreError};

/// Strava's short rate-limit window, s.
const QUARTER_HOUR_S: i64 = 900;

/// How often the runner looks for due jobs when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// Provider sync: its settings, the outbound client, the store, and the runner's bell.
pub struct ProviderSync {
    /// The providers' settings.
    pub settings: SyncSettings,
    outbound: Outbound,
    store: Arc<Store>,
    clock: GatewayClock,
    wake: tokio::sync::Notify,
    quota: std::sync::Mutex<BTreeMap<Provider, QuotaSeen>>,
    /// One lock per connection that some run is refreshing ([`Session::refresh`]).
    refreshing: std::sync::Mutex<BTreeMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// A provider app's quota as its last answer told it (the quota is per application, so
/// one for all connections), and the pause it caused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaSeen {
    /// The last answer's `X-RateLimit-*` / `X-ReadRateLimit-*`.
    pub limits: RateLimits,
    /// When it was seen, s.
    pub seen_s: i64,
    /// Until when jobs of this provider are paused, s (`None`: not paused).
    pub paused_until_s: Option<i64>,
}

impl std::fmt::Debug for ProviderSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSync")
            .field("providers", &self.settings.providers())
            .finish_non_exhaustive()
    }
}

/// The sync settings from the environment (`PACELINE_STRAVA_…`, `PACELINE_GARMIN_…`,
/// `PACELINE_PUBLIC_URL`, `PACELINE_SYNC_…`), each falling back to the config file's key
/// of the same name (`strava_client_id`, …, in `file`); `None` when no provider has a
/// client id (sync is off).
pub fn settings_from(file: &crate::settings::SyncKeys) -> anyhow::Result<Option<SyncSettings>> {
    let lookup = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| file.0.get(name).cloned())
    };
    let configured = ["PACELINE_STRAVA_CLIENT_ID", "PACELINE_GARMIN_CLIENT_ID"]
        .into_iter()
        .any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()));
    if !configured {
        return Ok(None);
    }
    Ok(Some(SyncSettings::from_lookup(lookup)?))
}

/// One window pair of [`RateLimits`] as stored in `sync_quotas.limits_json`.
#[derive(Serialize, Deserialize)]
struct StoredWindows {
    short_limit: u32,
    short_usage: u32,
    daily_limit: u32,
    daily_usage: u32,
}

/// [`RateLimits`] as stored in `sync_quotas.limits_json`.
#[derive(Serialize, Deserialize)]
struct StoredLimits {
    overall: Option<StoredWindows>,
    read: Option<StoredWindows>,
}

impl From<RateLimits> for StoredLimits {
    fn from(limits: RateLimits) -> StoredLimits {
        let windows = |w: WindowUsage| StoredWindows {
            short_limit: w.short_limit,
            short_usage: w.short_usage,
            daily_limit: w.daily_limit,
            daily_usage: w.daily_usage,
        };
        StoredLimits {
            overall: limits.overall.map(windows),
            read: limits.read.map(windows),
        }
    }
}

impl From<StoredLimits> for RateLimits {
    fn from(stored: StoredLimits) -> RateLimits {
        let windows = |w: StoredWindows| WindowUsage {
            short_limit: w.short_limit,
            short_usage: w.short_usage,
            daily_limit: w.daily_limit,
            daily_usage: w.daily_usage,
        };
        RateLimits {
            overall: stored.overall.map(windows),
            read: stored.read.map(windows),
        }
    }
}

/// A connection's tokens as sealed together.
#[derive(Serialize, Deserialize)]
struct SealedTokens {
    access: String,
    refresh: String,
}

/// Seals a token pair with the server key under the connection's name.
pub fn seal_tokens(store: &Store, name: &str, tokens: &TokenSet) -> Result<Vec<u8>, StoreError> {
    let plain = Zeroizing::new(
        serde_json::to_vec(&SealedTokens {
            access: tokens.access_token.expose().to_owned(),
            refresh: tokens.refresh_token.expose().to_owned(),
        })
        .unwrap_or_default(),
    );
    Ok(store.server_key().seal_secret(name, &plain)?)
}

/// Opens a sealed token pair: (access, refresh).
pub fn open_tokens(
    store: &Store,
    name: &str,
    sealed: &[u8],
) -> Result<(Secret, Secret), StoreError> {
    let plain = store.server_key().open_secret(name, sealed)?;
    let tokens: SealedTokens = serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt {
        what: "sealed provider tokens",
        row: 0,
        reason: e.to_string(),
    })?;
    Ok((Secret::new(tokens.access), Secret::new(tokens.refresh)))
}

/// A random `u64` from the OS (the backoff's jitter).
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // The OS random source does not fail on the platforms the gateway runs on; a zero
    // jitter (retry at once) is the harmless fallback.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn now_s(clock: GatewayClock) -> i64 {
    crate::store::to_i64(clock.now_ms() / 1000)
}

impl ProviderSync {
    /// Sync with these settings.
    pub fn new(
        settings: SyncSettings,
        outbound: Outbound,
        store: Arc<Store>,
        clock: GatewayClock,
    ) -> Arc<ProviderSync> {
        Arc::new(ProviderSync {
            settings,
            outbound,
            store,
            clock,
            wake: tokio::sync::Notify::new(),
            quota: std::sync::Mutex::new(BTreeMap::new()),
            refreshing: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The lock that runs refreshing `connection_id`'s tokens take in turn; locks no run
    /// holds any more are dropped on the way.
    fn refresh_lock(&self, connection_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .refreshing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(connection_id).or_default())
    }

    /// Tells the runner a job was queued (call after the enqueue committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The provider's quota as last seen, its pause cleared once it passed.
    pub fn quota(&self, provider: Provider) -> Option<QuotaSeen> {
        let now = now_s(self.clock);
        let quota = self
            .quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        quota.get(&provider).map(|q| QuotaSeen {
            paused_until_s: q.paused_until_s.filter(|until| *until > now),
            ..*q
        })
    }

    /// Forgets the provider's quota and pause, in memory and stored (an admin runs a
    /// paused job now: the next answer tells the quota again).
    pub async fn forget_quota(&self, provider: Provider) {
        self.quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&provider);
        if let Err(e) = self.write(move |tx| rows::delete_quota(tx, provider)).await {
            tracing::error!(error = %e, "forgetting a provider's stored pause");
        }
    }

    /// Takes the pauses a previous run of the gateway stored ([`rows::quotas`]), so a
    /// restart does not ask a paused provider again before its pause ends.
    async fn load_quotas(&self) {
        let stored = match self.read(rows::quotas).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, "reading the providers' stored pauses");
                return;
            }
        };
        let mut quota = self
            .quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for row in stored {
            let Some(provider) = Provider::parse(&row.provider) else {
                continue;
            };
            let limits = serde_json::from_str::<StoredLimits>(&row.limits_json)
                .map(RateLimits::from)
                .unwrap_or_default();
            quota.insert(
                provider,
                QuotaSeen {
                    limits,
                    seen_s: row.seen_s,
                    paused_until_s: row.paused_until_s,
                },
            );
        }
    }

    /// Until when the provider's jobs wait (`None`: they run).
    fn paused_until(&self, provider: Provider) -> Option<i64> {
        self.quota(provider).and_then(|q| q.paused_until_s)
    }

    fn note_limits(&self, provider: Provider, limits: RateLimits) {
        let now = now_s(self.clock);
        let mut quota = self
            .quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = quota.entry(provider).or_default();
        seen.limits = limits;
        seen.seen_s = now;
    }

    /// Pauses the provider's jobs until `until_s`, in memory and stored (`sync_quotas`):
    /// a restarted gateway keeps the pause.
    async fn note_pause(&self, provider: Provider, until_s: i64) {
        let seen = {
            let mut quota = self
                .quota
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let seen = quota.entry(provider).or_default();
            seen.paused_until_s = Some(seen.paused_until_s.unwrap_or(0).max(until_s));
            *seen
        };
        let row = rows::QuotaRow {
            provider: provider.as_str().to_owned(),
            limits_json: serde_json::to_string(&StoredLimits::from(seen.limits))
                .unwrap_or_default(),
            seen_s: seen.seen_s,
            paused_until_s: seen.paused_until_s,
        };
        let now_ms = self.clock.now_ms();
        if let Err(e) = self
            .write(move |tx| rows::save_quota(tx, &row, now_ms))
            .await
        {
            tracing::error!(error = %e, "storing a provider's pause");
        }
    }

    /// The limits a new run starts from: the last answer's, if it came in this
    /// 15-minute window (an older one says nothing of the window now).
    fn current_limits(&self, provider: Provider) -> RateLimits {
        let now = now_s(self.clock);
        let quota = self
            .quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        quota
            .get(&provider)
            .filter(|q| q.seen_s.div_euclid(QUARTER_HOUR_S) == now.div_euclid(QUARTER_HOUR_S))
            .map(|q| q.limits)
            .unwrap_or_default()
    }

    /// The outbound client.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.read(read))
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.write(write))
            .await
            .map_err(|_| StoreError::WriterGone)?
    }
}

/// Puts the jobs a killed gateway left `running` back in line
/// ([`jobs::recover_on_start`]); answers how many.
pub fn recover(store: &Store, now_s: i64, now_ms: u64) -> Result<usize, StoreError> {
    store.write(|tx| {
        let running = rows::running_jobs(tx)?;
        for row in &running {
            let state = jobs::recover_on_start(JobState::Running, row.attempts, now_s);
            let transition = jobs::Transition {
                state,
                attempts: row.attempts,
            };
            rows::finish_job(tx, row.tenant_row, row.id, &transition, None, now_ms)?;
        }
        Ok(running.len())
    })
}

/// How often the runner deletes old finished jobs, ms (and once at start).
const PRUNE_EVERY_MS: u64 = 3_600_000;

/// Deletes the jobs that finished (`done`) more than `keep_days` before `now_ms`;
/// answers how many. Dead jobs stay for the admin.
pub fn prune(store: &Store, now_ms: u64, keep_days: u32) -> Result<usize, StoreError> {
    let before_ms = now_ms.saturating_sub(u64::from(keep_days) * 86_400_000);
    store.write(|tx| rows::prune_done_jobs(tx, before_ms))
}

/// The runner (module docs): until `running` is cleared.
pub async fn run(sync: Arc<ProviderSync>, running: Arc<AtomicBool>) {
    let now_ms = sync.clock.now_ms();
    let store = Arc::clone(&sync.store);
    let recovered = tokio::task::spawn_blocking(move || {
        recover(&store, crate::store::to_i64(now_ms / 1000), now_ms)
    })
    .await;
    match recovered {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(jobs = n, "sync jobs interrupted by a restart run again"),
        Ok(Err(e)) => tracing::error!(error = %e, "recovering sync jobs"),
        Err(_) => tracing::error!("recovering sync jobs panicked"),
    }
    sync.load_quotas().await;
    let pool = Arc::new(tokio::sync::Semaphore::new(jobs::WORKERS));
    let per_provider: BTreeMap<Provider, Arc<tokio::sync::Semaphore>> = Provider::ALL
        .into_iter()
        .map(|p| {
            (
                p,
                Arc::new(tokio::sync::Semaphore::new(jobs::concurrency_limit(p))),
            )
        })
        .collect();
    let mut pruned_at_ms: Option<u64> = None;
    while running.load(Ordering::Relaxed) {
        let now_ms = sync.clock.now_ms();
        if pruned_at_ms.is_none_or(|at| now_ms.saturating_sub(at) >= PRUNE_EVERY_MS) {
            pruned_at_ms = Some(now_ms);
            let (store, keep_days) = (Arc::clone(&sync.store), sync.settings.keep_done_days);
            match tokio::task::spawn_blocking(move || prune(&store, now_ms, keep_days)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(jobs = n, "finished sync jobs pruned"),
                Ok(Err(e)) => tracing::error!(error = %e, "pruning finished sync jobs"),
                Err(_) => tracing::error!("pruning finished sync jobs panicked"),
            }
        }
        for (provider, slots) in &per_provider {
            let free = slots.available_permits().min(pool.available_permits());
            // A paused provider is not asked anything until its pause ends: its due jobs
            // wait in line.
            if free == 0 || sync.paused_until(*provider).is_some() {
                continue;
            }
            let now = now_s(sync.clock);
            let provider = *provider;
            let due = sync
                .read(move |conn| rows::due_jobs(conn, provider, now, free))
                .await;
            let due = match due {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "reading due sync jobs");
                    continue;
                }
            };
            for row in due {
                let (Ok(worker), Ok(slot)) = (
                    Arc::clone(&pool).try_acquire_owned(),
                    Arc::clone(slots).try_acquire_owned(),
                ) else {
                    break;
                };
                let (tenant, id, at) = (row.tenant_row, row.id, sync.clock.now_ms());
                match sync
                    .write(move |tx| rows::claim_job(tx, tenant, id, at))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, job = id, "claiming a sync job");
                        continue;
                    }
                }
                let sync = Arc::clone(&sync);
                tokio::spawn(async move {
                    run_one(&sync, row).await;
                    drop((worker, slot));
                    sync.wake();
                });
            }
        }
        let _ = tokio::time::timeout(POLL, sync.wake.notified()).await;
    }
}

/// Runs one claimed job and stores its outcome.
async fn run_one(sync: &Arc<ProviderSync>, row: JobRow) {
    let attempts = row.attempts.saturating_add(1);
    let outcome = match Job::from_payload(&row.payload) {
        Err(e) => Outcome::Permanent(e.to_string()),
        Ok(Job::SyncActivities {
            connection_id,
            pager,
        }) => sync_activities(sync, &row, connection_id, pager).await,
        Ok(Job::FetchActivity {
            provider: Provider::Strava,
            owner_id,
            activity_id,
        }) => fetch_activity(sync, &row, &owner_id, &activity_id).await,
        Ok(Job::DeleteActivity {
            provider: Provider::Strava,
            owner_id,
            activity_id,
        }) => delete_activity(sync, &row, &owner_id, &activity_id).await,
        Ok(Job::Revoke {
            provider: Provider::Strava,
            owner_id,
        }) => revoke(sync, &row, &owner_id).await,
        Ok(Job::Revoke {
            provider: Provider::Garmin,
            owner_id,
        }) => garmin_deregistered(sync, &row, &owner_id).await,
        Ok(Job::FetchCallback {
            owner_id,
            summary,
            callback_url,
        }) => fetch_callback(sync, &row, &owner_id, summary, &callback_url).await,
        Ok(other) => Outcome::Permanent(format!(
            "{} jobs are not run by this gateway yet",
            other.kind().as_str()
        )),
    };
    let transition = jobs::next_state(attempts, &outcome, now_s(sync.clock), random_u64());
    let error = match &outcome {
        Outcome::Transient(e) | Outcome::Permanent(e) | Outcome::NeedsReauth(e) => Some(e.clone()),
        Outcome::Paused { until_s } => Some(format!(
            "rate_limited: paused until {until_s} (the provider's quota is over 80 %, or it answered 429)"
        )),
        Outcome::Done => None,
    };
    if let JobState::Dead { last_error } = &transition.state {
        tracing::warn!(job = row.id, kind = %row.kind, error = %last_error, "a sync job is dead");
    }
    let (tenant, id, now_ms) = (row.tenant_row, row.id, sync.clock.now_ms());
    let stored = sync
        .write(move |tx| rows::finish_job(tx, tenant, id, &transition, error.as_deref(), now_ms))
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, job = id, "storing a sync job's outcome");
    }
}

/// Why a call did not give a body to read: the run's outcome.
type Halt = Outcome;

fn store_failed(e: &StoreError) -> Halt {
    Outcome::Transient(format!("the database: {e}"))
}

/// The tokens of one connection during one run.
struct Session<'a> {
    sync: &'a Arc<ProviderSync>,
    connection: ConnectionRow,
    seal_name: String,
    access: Secret,
    refresh: Secret,
    limits: RateLimits,
}

impl Session<'_> {
    /// Trades the refresh token for new tokens and stores them sealed.
    ///
    /// Providers rotate refresh tokens (a spent one is refused), so two runs of one
    /// connection must not both trade the same one: they take the connection's lock in
    /// turn, and a run that finds tokens stored since it opened its own takes those
    /// instead of refreshing again.
    async fn refresh(&mut self) -> Result<(), Halt> {
        let lock = self.sync.refresh_lock(self.connection.id);
        let _turn = lock.lock().await;
        let stored = connected(self.sync, self.connection.tenant_row, self.connection.id).await?;
        if let Some(sealed) = &stored.tokens_sealed
            && stored.tokens_sealed != self.connection.tokens_sealed
        {
            let (access, refresh) = open_tokens(&self.sync.store, &self.seal_name, sealed)
                .map_err(|e| store_failed(&e))?;
            self.access = access;
            self.refresh = refresh;
            self.connection = stored;
            return Ok(());
        }
        let config = match Provider::parse(&self.connection.provider) {
            Some(Provider::Garmin) => self.sync.settings.garmin.as_ref().map(|g| &g.config),
            _ => self.sync.settings.strava.as_ref().map(|s| &s.config),
        };
        let Some(config) = config else {
            return Err(Outcome::Permanent(format!(
                "{} is not configured",
                self.connection.provider
            )));
        };
        let request = config.refresh_request(&self.refresh);
        let tokens = post_token(self.sync, &request, now_s(self.sync.clock)).await?;
        let sealed = seal_tokens(&self.sync.store, &self.seal_name, &tokens)
            .map_err(|e| store_failed(&e))?;
        let (tenant, id, expires, now_ms) = (
            self.connection.tenant_row,
            self.connection.id,
            tokens.expires_at_s,
            self.sync.clock.now_ms(),
        );
        let stored = sealed.clone();
        self.sync
            .write(move |tx| rows::set_connection_tokens(tx, tenant, id, &stored, expires, now_ms))
            .await
            .map_err(|e| store_failed(&e))?;
        self.connection.tokens_sealed = Some(sealed);
        self.connection.expires_at_s = Some(tokens.expires_at_s);
        self.access = tokens.access_token;
        self.refresh = tokens.refresh_token;
        Ok(())
    }

    /// `GET {api}{path}` with the access token: the body of a 2xx, `Ok(None)` for a 404
    /// or 410, a refresh and one more try on a 401.
    async fn get(&mut self, path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, Halt> {
        let Some(strava) = &self.sync.settings.strava else {
            return Err(Outcome::Permanent("Strava is not configured".to_owned()));
        };
        let url = format!("{}{path}", strava.api_base_url);
        let mut refreshed = false;
        loop {
            if let RateDecision::Pause { until_s, .. } =
                decide(&self.limits, now_s(self.sync.clock))
            {
                self.sync.note_pause(Provider::Strava, until_s).await;
                tracing::warn!(until_s, "Strava's quota is over 80 %: sync pauses");
                return Err(Outcome::Paused { until_s });
            }
            let bearer = Zeroizing::new(format!("Bearer {}", self.access.expose()));
            let answer = self
                .sync
                .outbound
                .call(
                    Method::Get,
                    &url,
                    &[("authorization", bearer.as_str())],
                    None,
                    max_bytes,
                )
                .await
                .map_err(|e| Outcome::Transient(format!("GET {}: {e}", path_only(path))))?;
            if let Ok(limits) = rate_limits(&answer)
                && limits != RateLimits::default()
            {
                self.limits = limits;
                self.sync.note_limits(Provider::Strava, limits);
            }
            match jobs::classify_status(answer.status) {
                jobs::ApiAnswer::Ok => return Ok(Some(answer.body)),
                jobs::ApiAnswer::Gone => return Ok(None),
                jobs::ApiAnswer::Unauthorized if !refreshed => {
                    refreshed = true;
                    self.refresh().await?;
                }
                jobs::ApiAnswer::Unauthorized => {
                    return Err(Outcome::NeedsReauth(
                        "Strava refused a freshly refreshed token".to_owned(),
                    ));
                }
                jobs::ApiAnswer::RateLimited => {
                    let until_s =
                        match after_too_many_requests(&self.limits, now_s(self.sync.clock)) {
                            RateDecision::Pause { until_s, .. } => until_s,
                            RateDecision::Go => now_s(self.sync.clock) + 60,
                        };
                    self.sync.note_pause(Provider::Strava, until_s).await;
                    tracing::warn!(until_s, "Strava answered 429: sync pauses");
                    return Err(Outcome::Paused { until_s });
                }
                jobs::ApiAnswer::Transient => {
                    return Err(Outcome::Transient(format!(
                        "GET {} answered {}",
                        path_only(path),
                        answer.status
                    )));
                }
                jobs::ApiAnswer::Permanent => {
                    return Err(Outcome::Permanent(format!(
                        "GET {} answered {}",
                        path_only(path),
                        answer.status
                    )));
                }
            }
        }
    }
}

/// A path without its query (errors name where, not what was asked).
fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn rate_limits(answer: &Answer) -> Result<RateLimits, paceline_sync::RateLimitError> {
    RateLimits::from_headers(answer.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Posts a token request (code or refresh) and reads the answer.
pub async fn post_token(
    sync: &ProviderSync,
    request: &FormRequest,
    now_s: i64,
) -> Result<TokenSet, Halt> {
    let answer = sync
        .outbound
        .call(
            Method::Post,
            &request.url,
            &[],
            Some((
                "application/x-www-form-urlencoded",
                request.body.expose().to_owned(),
            )),
            paceline_sync::oauth::MAX_TOKEN_RESPONSE_BYTES,
        )
        .await
        .map_err(|e| Outcome::Transient(format!("the token endpoint: {e}")))?;
    parse_token_response(answer.status, &answer.body, now_s).map_err(|e| {
        if e.needs_reauth() {
            Outcome::NeedsReauth(e.to_string())
        } else if e.is_retryable() {
            Outcome::Transient(e.to_string())
        } else {
            Outcome::Permanent(e.to_string())
        }
    })
}

/// A backfill or delta of one Strava connection (module docs).
async fn sync_activities(
    sync: &Arc<ProviderSync>,
    job: &JobRow,
    connection_id: i64,
    pager: ActivityPager,
) -> Outcome {
    match page_through(sync, job, connection_id, pager).await {
        Ok(()) => Outcome::Done,
        Err(Outcome::NeedsReauth(error)) => {
            mark_needs_reauth(sync, job.tenant_row, connection_id, &error).await;
            Outcome::NeedsReauth(error)
        }
        Err(halt) => halt,
    }
}

/// Marks a connection `needs_reauth` with the error the athlete sees.
async fn mark_needs_reauth(sync: &Arc<ProviderSync>, tenant: i64, connection_id: i64, error: &str) {
    let (now_ms, message) = (sync.clock.now_ms(), error.to_owned());
    let marked = sync
        .write(move |tx| {
            rows::set_connection_status(
                tx,
                tenant,
                connection_id,
                ConnectionStatus::NeedsReauth,
                Some(&message),
                now_ms,
            )
        })
        .await;
    if let Err(e) = marked {
        tracing::error!(error = %e, "marking a connection needs_reauth");
    }
    tracing::warn!(
        connection = connection_id,
        "a Strava connection needs reauthorization"
    );
}

/// The connection as stored now, if it is still connected (a run stops otherwise).
async fn connected(
    sync: &Arc<ProviderSync>,
    tenant: i64,
    connection_id: i64,
) -> Result<ConnectionRow, Halt> {
    let connection = sync
        .read(move |conn| rows::connection(conn, tenant, connection_id))
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| Outcome::Permanent("the connection was deleted".to_owned()))?;
    if connection.status != ConnectionStatus::Connected.as_str() {
        return Err(Outcome::Permanent(format!(
            "the connection is {}",
            connection.status
        )));
    }
    Ok(connection)
}

/// Opens a connection's tokens for one run, refreshed first when they expire soon.
async fn open_session(
    sync: &Arc<ProviderSync>,
    connection: ConnectionRow,
) -> Result<Session<'_>, Halt> {
    let tenant = connection.tenant_row;
    let sealed = connection
        .tokens_sealed
        .clone()
        .ok_or_else(|| Outcome::Permanent("the connection has no tokens".to_owned()))?;
    let provider = Provider::parse(&connection.provider).unwrap_or(Provider::Strava);
    let seal_name = rows::tokens_seal_name(tenant, connection.athlete_row, provider);
    let (access, refresh) =
        open_tokens(&sync.store, &seal_name, &sealed).map_err(|e| store_failed(&e))?;
    let mut session = Session {
        sync,
        connection,
        seal_name,
        access,
        refresh,
        limits: sync.current_limits(Provider::Strava),
    };
    if should_refresh(
        session.connection.expires_at_s.unwrap_or(0),
        now_s(sync.clock),
    ) {
        session.refresh().await?;
    }
    Ok(session)
}

async fn page_through(
    sync: &Arc<ProviderSync>,
    job: &JobRow,
    connection_id: i64,
    mut pager: ActivityPager,
) -> Result<(), Halt> {
    let tenant = job.tenant_row;
    let connection = connected(sync, tenant, connection_id).await?;
    let owner = Owner {
        tenant_row: tenant,
        athlete_row: connection.athlete_row,
    };
    let mut session = open_session(sync, connection).await?;
    while let Some(path) = pager.path() {
        let Some(body) = session.get(&path, strava::MAX_ACTIVITY_LIST_BYTES).await? else {
            return Err(Outcome::Permanent(
                "the activity list is gone (404)".to_owned(),
            ));
        };
        let page =
            strava::parse_activity_list(&body).map_err(|e| Outcome::Permanent(e.to_string()))?;
        for summary in &page {
            import_activity(&mut session, owner, summary.id, false).await?;
        }
        let step = pager.record_page(&page);
        let saved = Job::SyncActivities {
            connection_id,
            pager: pager.clone(),
        };
        let id = job.id;
        sync.write(move |tx| rows::save_job_payload(tx, tenant, id, &saved))
            .await
            .map_err(|e| store_failed(&e))?;
        if step == PageStep::TooManyPages {
            tracing::warn!(
                connection = connection_id,
                "a Strava sync stopped at its page cap"
            );
        }
    }
    let (newest, now_ms) = (pager.newest_start_s, sync.clock.now_ms());
    sync.write(move |tx| rows::record_sync(tx, tenant, connection_id, newest, now_ms))
        .await
        .map_err(|e| store_failed(&e))
}

/// Fetches one activity's detail and streams and imports it (a duplicate is harmless).
/// With `replace` (a webhook's `create` or `update`), a Strava copy already stored is
/// rewritten with what Strava answers now and its activity merged afresh.
async fn import_activity(
    session: &mut Session<'_>,
    owner: Owner,
    activity_id: u64,
    replace: bool,
) -> Result<(), Halt> {
    let Some(detail) = session
        .get(
            &strava::activity_path(activity_id),
            strava::MAX_ACTIVITY_BYTES,
        )
        .await?
    else {
        return Ok(());
    };
    let activity =
        strava::parse_activity(&detail).map_err(|e| Outcome::Permanent(e.to_string()))?;
    let streams = if activity.summary.manual {
        strava::StreamSet::default()
    } else {
        match session
            .get(
                &strava::streams_path(activity_id),
                strava::MAX_STREAMS_BYTES,
            )
            .await?
        {
            Some(body) => {
                strava::parse_streams(&body).map_err(|e| Outcome::Permanent(e.to_string()))?
            }
            None => strava::StreamSet::default(),
        }
    };
    let recording =
        strava::recording(&activity, &streams).map_err(|e| Outcome::Permanent(e.to_string()))?;
    let now_ms = session.sync.clock.now_ms();
    session
        .sync
        .write(move |tx| {
            let thresholds = library::thresholds(tx, owner)?.unwrap_or_default();
            let copy = SourceCopy::from_recording(
                SourceKind::Strava,
                None,
                Some(activity_id.to_string()),
                None,
                &recording,
                &thresholds,
            );
            let fit = library::samples_fit(&recording);
            if replace
                && let Some((activity, source)) = rows::provider_copy(
                    tx,
                    owner.tenant_row,
                    owner.athlete_row,
                    SourceKind::Strava,
                    &activity_id.to_string(),
                )?
            {
                rows::update_provider_copy(tx, owner.tenant_row, source, &copy, fit.as_deref())?;
                let precedence = crate::store::activities::precedence(tx, owner.tenant_row)?;
                library::refresh(tx, owner.tenant_row, activity, &precedence, now_ms)?;
                return Ok(());
            }
            library::import_copy(
                tx,
                owner,
                &copy,
                CopyExtras {
                    samples_fit: fit.as_deref(),
                    ..CopyExtras::default()
                },
                now_ms,
            )?;
            Ok(())
        })
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(())
}

/// The tenant's connection of a webhook event's owner, if it still syncs (a revoked or
/// `needs_reauth` one, or an owner disconnected since, has nothing to do).
async fn owner_connection(
    sync: &Arc<ProviderSync>,
    tenant: i64,
    provider: Provider,
    owner_id: &str,
) -> Result<Option<ConnectionRow>, Halt> {
    let owner_id = owner_id.to_owned();
    let found = sync
        .read(move |conn| rows::owner_connection(conn, tenant, provider, &owner_id))
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(found.filter(|c| c.status == ConnectionStatus::Connected.as_str()))
}

/// A webhook's `create` or `update`: the activity fetched with the owner's token (the
/// event itself is not trusted) and imported or its Strava copy rewritten; gone (404)
/// meanwhile → nothing to do.
async fn fetch_activity(
    sync: &Arc<ProviderSync>,
    job: &JobRow,
    owner_id: &str,
    activity_id: &str,
) -> Outcome {
    let Ok(activity_id) = activity_id.parse::<u64>() else {
        return Outcome::Permanent("the activity id is not a number".to_owned());
    };
    let connection = match owner_connection(sync, job.tenant_row, Provider::Strava, owner_id).await
    {
        Ok(Some(connection)) => connection,
        Ok(None) => return Outcome::Done,
        Err(halt) => return halt,
    };
    let (connection_id, owner) = (
        connection.id,
        Owner {
            tenant_row: job.tenant_row,
            athlete_row: connection.athlete_row,
        },
    );
    let run = async {
        let mut session = open_session(sync, connection).await?;
        import_activity(&mut session, owner, activity_id, true).await
    };
    match run.await {
        Ok(()) => Outcome::Done,
        Err(Outcome::NeedsReauth(error)) => {
            mark_needs_reauth(sync, job.tenant_row, connection_id, &error).await;
            Outcome::NeedsReauth(error)
        }
        Err(halt) => halt,
    }
}

/// A webhook's `delete`: the athlete's Strava copy of that activity is removed (the
/// activity too when it was its only copy; other copies, a FIT upload, stay and merge
/// afresh). Deleting what is not there is done.
async fn delete_activity(
    sync: &Arc<ProviderSync>,
    job: &JobRow,
    owner_id: &str,
    activity_id: &str,
) -> Outcome {
    let tenant = job.tenant_row;
    let (owner_id, activity_id, now_ms) = (
        owner_id.to_owned(),
        activity_id.to_owned(),
        sync.clock.now_ms(),
    );
    let removed = sync
        .write(move |tx| {
            let Some(connection) = rows::owner_connection(tx, tenant, Provider::Strava, &owner_id)?
            else {
                return Ok(());
            };
            let Some((activity, source)) = rows::provider_copy(
                tx,
                tenant,
                connection.athlete_row,
                SourceKind::Strava,
                &activity_id,
            )?
            else {
                return Ok(());
            };
            if rows::remove_copy(tx, tenant, activity, source)? {
                let precedence = crate::store::activities::precedence(tx, tenant)?;
                library::refresh(tx, tenant, activity, &precedence, now_ms)?;
            }
            Ok(())
        })
        .await;
    match removed {
        Ok(()) => Outcome::Done,
        Err(e) => store_failed(&e),
    }
}

/// A deauthorization event (`updates.authorized = "false"`). The event is unsigned, so
/// the owner's token is tried first: if Strava still honours it (or its refresh), the
/// event was not Strava's and nothing changes; if Strava refuses the grant, the
/// connection is `revoked` and its tokens deleted.
async fn revoke(sync: &Arc<ProviderSync>, job: &JobRow, owner_id: &str) -> Outcome {
    let connection = match owner_connection(sync, job.tenant_row, Provider::Strava, owner_id).await
    {
        Ok(Some(connection)) => connection,
        Ok(None) => return Outcome::Done,
        Err(halt) => return halt,
    };
    let connection_id = connection.id;
    let probe = async {
        let mut session = open_session(sync, connection).await?;
        session
            .get(REVOKE_PROBE_PATH, strava::MAX_ACTIVITY_LIST_BYTES)
            .await
    };
    match probe.await {
        Ok(_) => {
            tracing::warn!(
                connection = connection_id,
                "a deauthorization event for a token Strava still honours is ignored"
            );
            Outcome::Done
        }
        Err(Outcome::NeedsReauth(_)) => {
            let (tenant, now_ms) = (job.tenant_row, sync.clock.now_ms());
            let revoked = sync
                .write(move |tx| {
                    rows::revoke_connection(
                        tx,
                        tenant,
                        connection_id,
                        "the athlete revoked Paceline's access on Strava: connect again to sync",
                        now_ms,
                    )
                })
                .await;
            match revoked {
                Ok(()) => {
                    tracing::info!(
                        connection = connection_id,
                        "a Strava connection was revoked"
                    );
                    Outcome::Done
                }
                Err(e) => store_failed(&e),
            }
        }
        Err(halt) => halt,
    }
}

/// What Garmin items did to the library and the daily metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GarminApplied {
    /// Activities imported or merged (duplicates not counted).
    pub activities: usize,
    /// Days whose metrics changed.
    pub days: usize,
}

/// Applies the data items of a Garmin push or callback for one athlete: activities into
/// the library as source `garmin` (external id: Garmin's summary id, so a repeat is a
/// duplicate), health summaries folded into the athlete's `garmin` row of
/// `daily_metrics` ([`DailyMetrics::apply`]: arrival order does not matter). Pings,
/// deregistrations and permission changes are not data: skipped here.
pub fn apply_garmin_items(
    tx: &rusqlite::Connection,
    owner: Owner,
    items: &[GarminItem],
    now_ms: u64,
) -> Result<GarminApplied, StoreError> {
    use crate::store::planning::{self as days, DailyPatch, MetricSource};
    let mut applied = GarminApplied::default();
    for item in items {
        match item {
            GarminItem::Activity {
                summary_id,
                recording,
                ..
            } => {
                let thresholds = library::thresholds(tx, owner)?.unwrap_or_default();
                let copy = SourceCopy::from_recording(
                    SourceKind::Garmin,
                    None,
                    Some(summary_id.clone()),
                    None,
                    recording,
                    &thresholds,
                );
                let fit = library::samples_fit(recording);
                let imported = library::import_copy(
                    tx,
                    owner,
                    &copy,
                    CopyExtras {
                        samples_fit: fit.as_deref(),
                        ..CopyExtras::default()
                    },
                    now_ms,
                )?;
                if imported.status != library::ImportStatus::Duplicate {
                    applied.activities += 1;
                }
            }
            GarminItem::Daily {
                date,
                summary,
                metrics,
                ..
            } => {
                let date = format!(
                    "{:04}-{:02}-{:02}",
                    date.year(),
                    u8::from(date.month()),
                    date.day()
                );
                let stored =
                    days::daily_between(tx, owner.tenant_row, owner.athlete_row, &date, &date)?
                        .into_iter()
                        .find(|r| r.source == MetricSource::Garmin.as_str());
                let mut day =
                    stored
                        .as_ref()
                        .map_or_else(DailyMetrics::default, |r| DailyMetrics {
                            resting_hr_bpm: r.resting_hr_bpm,
                            hrv_ms: r.hrv_ms,
                            sleep_s: r.sleep_s,
                            sleep_score: r.sleep_score,
                            stress: r.stress,
                        });
                let before = day;
                day.apply(*summary, metrics);
                if stored.is_some() && day == before {
                    continue;
                }
                days::upsert_daily(
                    tx,
                    owner.tenant_row,
                    owner.athlete_row,
                    &date,
                    MetricSource::Garmin,
                    DailyPatch {
                        resting_hr_bpm: Some(day.resting_hr_bpm),
                        hrv_ms: Some(day.hrv_ms),
                        sleep_s: Some(day.sleep_s),
                        sleep_score: Some(day.sleep_score),
                        stress: Some(day.stress),
                        ..DailyPatch::default()
                    },
                    now_ms,
                )?;
                applied.days += 1;
            }
            GarminItem::UserMetrics {
                date,
                vo2max_ml_kg_min,
                fitness_age_years,
                ..
            } => {
                let date = format!(
                    "{:04}-{:02}-{:02}",
                    date.year(),
                    u8::from(date.month()),
                    date.day()
                );
                if rows::set_user_metrics(
                    tx,
                    owner.tenant_row,
                    owner.athlete_row,
                    &date,
                    *vo2max_ml_kg_min,
                    *fitness_age_years,
                    now_ms,
                )? {
                    applied.days += 1;
                }
            }
            GarminItem::Ping { .. }
            | GarminItem::Deregistration { .. }
            | GarminItem::PermissionsChange { .. } => {}
        }
    }
    Ok(applied)
}

/// A Garmin ping: its callback URL (checked to be on Garmin's API origin when the ping
/// was read) fetched with the user's token, and what it returns applied
/// ([`apply_garmin_items`]). A 401 gets one token refresh and one more try; a 403, a
/// second 401 or a refused refresh means the user withdrew Paceline: `needs_reauth`.
async fn fetch_callback(
    sync: &Arc<ProviderSync>,
    job: &JobRow,
    owner_id: &str,
    summary: SummaryType,
    callback_url: &str,
) -> Outcome {
    let connection = match owner_connection(sync, job.tenant_row, Provider::Garmin, owner_id).await
    {
        Ok(Some(connection)) => connection,
        Ok(None) => return Outcome::Done,
        Err(halt) => return halt,
    };
    if connection.tokens_sealed.is_none() {
        return Outcome::Done;
    }
    let (connection_id, athlete_row) = (connection.id, connection.athlete_row);
    // Refreshed first when the token expires within 5 minutes.
    let mut session = match open_session(sync, connection).await {
        Ok(session) => session,
        Err(Outcome::NeedsReauth(error)) => {
            mark_needs_reauth(sync, job.tenant_row, connection_id, &error).await;
            return Outcome::NeedsReauth(error);
        }
        Err(halt) => return halt,
    };
    let mut refreshed = false;
    let answer = loop {
        let bearer = Zeroizing::new(format!("Bearer {}", session.access.expose()));
        let answer = match sync
            .outbound
            .call(
                Method::Get,
                callback_url,
                &[("authorization", bearer.as_str())],
                None,
                paceline_sync::garmin::MAX_NOTIFICATION_BYTES,
            )
            .await
        {
            Ok(answer) => answer,
            Err(e) => return Outcome::Transient(format!("Garmin's callback: {e}")),
        };
        match answer.status {
            200..=299 => break answer,
            // An access token Garmin no longer takes (revoked early, or the clocks
            // disagree): one refresh and one more try before asking the athlete.
            401 if !refreshed => {
                refreshed = true;
                match session.refresh().await {
                    Ok(()) => {}
                    Err(Outcome::NeedsReauth(error)) => {
                        mark_needs_reauth(sync, job.tenant_row, connection_id, &error).await;
                        return Outcome::NeedsReauth(error);
                    }
                    Err(halt) => return halt,
                }
            }
            401 | 403 => {
                let error = format!("Garmin refused the token ({})", answer.status);
                mark_needs_reauth(sync, job.tenant_row, connection_id, &error).await;
                return Outcome::NeedsReauth(error);
            }
            404 | 410 => return Outcome::Done,
            status => {
                return match jobs::classify_status(status) {
                    jobs::ApiAnswer::Transient | jobs::ApiAnswer::RateLimited => {
                        Outcome::Transient(format!("Garmin's callback answered {status}"))
                    }
                    _ => Outcome::Permanent(format!("Garmin's callback answered {status}")),
                };
            }
        }
    };
    let items = match parse_callback(summary, &answer.body) {
        Ok(items) => items,
        Err(e) => return Outcome::Permanent(e.to_string()),
    };
    let owner = Owner {
        tenant_row: job.tenant_row,
        athlete_row,
    };
    let now_ms = sync.clock.now_ms();
    match sync
        .write(move |tx| apply_garmin_items(tx, owner, &items, now_ms))
        .await
    {
        Ok(_) => Outcome::Done,
        Err(e) => store_failed(&e),
    }
}

/// A Garmin deregistration notice: the user disconnected Paceline in Garmin Connect.
/// The notice is unsigned, so the user's token is tried first (Garmin's user id): if
/// Garmin still honours it nothing changes; refused → `revoked`, tokens deleted.
async fn garmin_deregistered(sync: &Arc<ProviderSync>, job: &JobRow, owner_id: &str) -> Outcome {
    let connection = match owner_connection(sync, job.tenant_row, Provider::Garmin, owner_id).await
    {
        Ok(Some(connection)) => connection,
        Ok(None) => return Outcome::Done,
        Err(halt) => return halt,
    };
    let (Some(sealed), Some(garmin)) = (connection.tokens_sealed.clone(), &sync.settings.garmin)
    else {
        return Outcome::Done;
    };
    let seal_name =
        rows::tokens_seal_name(job.tenant_row, connection.athlete_row, Provider::Garmin);
    let (access, _) = match open_tokens(&sync.store, &seal_name, &sealed) {
        Ok(tokens) => tokens,
        Err(e) => return store_failed(&e),
    };
    let bearer = Zeroizing::new(format!("Bearer {}", access.expose()));
    let probe = sync
        .outbound
        .call(
            Method::Get,
            &format!(
                "{}{}",
                garmin.api_base_url,
                paceline_sync::garmin::USER_ID_PATH
            ),
            &[("authorization", bearer.as_str())],
            None,
            paceline_sync::garmin::MAX_USER_BODY_BYTES,
        )
        .await;
    match probe {
        Ok(answer) if matches!(answer.status, 401 | 403) => {
            let (tenant, id, now_ms) = (job.tenant_row, connection.id, sync.clock.now_ms());
            let revoked = sync
                .write(move |tx| {
                    rows::revoke_connection(
                        tx,
                        tenant,
                        id,
                        "the athlete disconnected Paceline in Garmin Connect: connect again to sync",
                        now_ms,
                    )
                })
                .await;
            match revoked {
                Ok(()) => Outcome::Done,
                Err(e) => store_failed(&e),
            }
        }
        Ok(answer) if (200..300).contains(&answer.status) => {
            tracing::warn!(
                connection = connection.id,
                "a deregistration notice for a token Garmin still honours is ignored"
            );
            Outcome::Done
        }
        Ok(answer) => Outcome::Transient(format!("Garmin's user id answered {}", answer.status)),
        Err(e) => Outcome::Transient(format!("Garmin's user id: {e}")),
    }
}

/// What a deauthorization's check asks Strava: one activity of the owner's list.
const REVOKE_PROBE_PATH: &str = "/api/v3/athlete/activities?per_page=1";

#[cfg(test)]
mod tests;
