//! Provider sync's rows: the durable jobs, the athletes' provider connections (tokens
//! sealed with the server key) and the pending OAuth `state`s.
//!
//! Every query names its tenant, but two: the job runner's claim of the next due jobs
//! and its restart recovery, which are the service's own work across tenants (each job
//! then runs scoped by the tenant of its row). The rules (dedup keys, backoff, what a
//! run's outcome means) are `paceline-sync`'s; this module only reads and writes them.

use paceline_sync::jobs::{Job, JobState, Transition};
use paceline_sync::{ConnectionStatus, Provider};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One job row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Its row.
    pub id: i64,
    /// Its tenant's row.
    pub tenant_row: i64,
    /// The provider whose quota it uses.
    pub provider: String,
    /// Its kind (`sync_activities`, …).
    pub kind: String,
    /// The job as JSON.
    pub payload: String,
    /// `queued`, `running`, `done`, `retry`, `dead`.
    pub state: String,
    /// When it may run, s since the epoch.
    pub run_at_s: i64,
    /// Runs spent.
    pub attempts: u32,
    /// Why the last run failed.
    pub last_error: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, tenant_id, provider, kind, payload, state, run_at_s, attempts, last_error";

fn job_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: row.get(0)?,
        tenant_row: row.get(1)?,
        provider: row.get(2)?,
        kind: row.get(3)?,
        payload: row.get(4)?,
        state: row.get(5)?,
        run_at_s: row.get(6)?,
        attempts: row.get(7)?,
        last_error: row.get(8)?,
    })
}

/// Enqueues `job` for the tenant to run at `run_at_s`, unless a job with the same dedup
/// key is already waiting (queued or retry): then that one's row is answered and nothing
/// is added (it does the same work). `Ok((row, added))`.
pub fn enqueue_job(
    conn: &Connection,
    tenant_row: i64,
    job: &Job,
    run_at_s: i64,
    now_ms: u64,
) -> Result<(i64, bool), StoreError> {
    let key = job.dedup_key();
    let waiting: Option<i64> = conn
        .query_row(
            "SELECT id FROM sync_jobs
             WHERE tenant_id = ?1 AND dedup_key = ?2 AND state IN ('queued', 'retry')",
            params![tenant_row, key],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = waiting {
        return Ok((id, false));
    }
    conn.execute(
        "INSERT INTO sync_jobs (tenant_id, provider, kind, payload, dedup_key, state, run_at_s,
                                attempts, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, 0, ?7, ?7)",
        params![
            tenant_row,
            job.provider().as_str(),
            job.kind().as_str(),
            job.to_payload(),
            key,
            run_at_s,
            super::to_i64(now_ms)
        ],
    )?;
    Ok((conn.last_insert_rowid(), true))
}

/// The due jobs (queued or retry with `run_at_s ≤ now_s`), oldest first, at most `limit`
/// of `provider`, across tenants (the runner's own work).
pub fn due_jobs(
    conn: &Connection,
    provider: Provider,
    now_s: i64,
    limit: usize,
) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM sync_jobs
         WHERE state IN ('queued', 'retry') AND provider = ?1 AND run_at_s <= ?2
         ORDER BY run_at_s, id LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![provider.as_str(), now_s, i64::try_from(limit).unwrap_or(0)],
            job_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Marks a job `running` and counts the run, if it is still waiting (`false` if another
/// worker took it or an admin changed it).
pub fn claim_job(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE sync_jobs SET state = 'running', attempts = attempts + 1, updated_ms = ?3
         WHERE tenant_id = ?1 AND id = ?2 AND state IN ('queued', 'retry')",
        params![tenant_row, id, super::to_i64(now_ms)],
    )?;
    Ok(changed == 1)
}

/// Rewrites a running job's payload (a backfill's pager after each page).
pub fn save_job_payload(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    job: &Job,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_jobs SET payload = ?3 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, id, job.to_payload()],
    )?;
    Ok(())
}

/// Stores a run's outcome: the new state, attempts, run-at and error.
pub fn finish_job(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    transition: &Transition,
    error: Option<&str>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let run_at_s = match &transition.state {
        JobState::Retry { run_at_s } => Some(*run_at_s),
        _ => None,
    };
    let error = match &transition.state {
        JobState::Dead { last_error } => Some(last_error.as_str()),
        _ => error,
    };
    conn.execute(
        "UPDATE sync_jobs SET state = ?3, attempts = ?4, run_at_s = coalesce(?5, run_at_s),
                last_error = ?6, updated_ms = ?7
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            tenant_row,
            id,
            transition.state.as_str(),
            transition.attempts,
            run_at_s,
            error,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(())
}

/// The jobs left `running` (by a gateway that was killed), across tenants: the runner
/// recovers them at start.
pub fn running_jobs(conn: &Connection) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM sync_jobs WHERE state = 'running' ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([], job_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A tenant's jobs in `state` (all states if `None`), newest first, at most `limit`.
pub fn tenant_jobs(
    conn: &Connection,
    tenant_row: i64,
    state: Option<&str>,
    limit: usize,
) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM sync_jobs
         WHERE tenant_id = ?1 AND (?2 IS NULL OR state = ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![tenant_row, state, i64::try_from(limit).unwrap_or(0)],
            job_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One of the tenant's jobs.
pub fn tenant_job(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<JobRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM sync_jobs WHERE tenant_id = ?1 AND id = ?2"),
            params![tenant_row, id],
            job_row,
        )
        .optional()?)
}

/// A provider connection, its tokens still sealed.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    /// Its row.
    pub id: i64,
    /// Its tenant's row.
    pub tenant_row: i64,
    /// The athlete whose library it fills.
    pub athlete_row: i64,
    /// The provider.
    pub provider: String,
    /// The provider's id of the athlete.
    pub provider_user_id: Option<String>,
    /// `connected`, `needs_reauth`, `revoked`.
    pub status: String,
    /// Access and refresh token, sealed (`None` once deleted).
    pub tokens_sealed: Option<Vec<u8>>,
    /// When the access token expires, s.
    pub expires_at_s: Option<i64>,
    /// The last sync that finished, ms.
    pub last_sync_ms: Option<i64>,
    /// The last error, for the athlete and admin.
    pub last_error: Option<String>,
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, athlete_id, provider, provider_user_id, status,
     tokens_sealed, expires_at_s, last_sync_ms, last_error";

fn connection_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConnectionRow> {
    Ok(ConnectionRow {
        id: row.get(0)?,
        tenant_row: row.get(1)?,
        athlete_row: row.get(2)?,
        provider: row.get(3)?,
        provider_user_id: row.get(4)?,
        status: row.get(5)?,
        tokens_sealed: row.get(6)?,
        expires_at_s: row.get(7)?,
        last_sync_ms: row.get(8)?,
        last_error: row.get(9)?,
    })
}

/// The name the server key seals a connection's tokens under (bound in as associated
/// data, so sealed tokens cannot be moved to another connection's row).
pub fn tokens_seal_name(tenant_row: i64, athlete_row: i64, provider: Provider) -> String {
    format!(
        "sync-tokens:{tenant_row}:{athlete_row}:{}",
        provider.as_str()
    )
}

/// Stores (or replaces) the athlete's connection to `provider`, connected, with sealed
/// tokens; answers its row.
#[allow(clippy::too_many_arguments)]
pub fn upsert_connection(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    user_row: i64,
    provider: Provider,
    provider_user_id: Option<&str>,
    tokens_sealed: &[u8],
    expires_at_s: i64,
    now_ms: u64,
) -> Result<i64, StoreError> {
    let now = super::to_i64(now_ms);
    conn.execute(
        "INSERT INTO provider_connections (tenant_id, athlete_id, user_id, provider,
             provider_user_id, status, tokens_sealed, expires_at_s, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'connected', ?6, ?7, ?8, ?8)
         ON CONFLICT (tenant_id, athlete_id, provider) DO UPDATE SET
             user_id = excluded.user_id, provider_user_id = excluded.provider_user_id,
             status = 'connected', tokens_sealed = excluded.tokens_sealed,
             expires_at_s = excluded.expires_at_s, last_error = NULL,
             updated_ms = excluded.updated_ms",
        params![
            tenant_row,
            athlete_row,
            user_row,
            provider.as_str(),
            provider_user_id,
            tokens_sealed,
            expires_at_s,
            now
        ],
    )?;
    Ok(conn.query_row(
        "SELECT id FROM provider_connections
         WHERE tenant_id = ?1 AND athlete_id = ?2 AND provider = ?3",
        params![tenant_row, athlete_row, provider.as_str()],
        |r| r.get(0),
    )?)
}

/// One of the tenant's connections by row.
pub fn connection(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {CONNECTION_COLUMNS} FROM provider_connections
                 WHERE tenant_id = ?1 AND id = ?2"
            ),
            params![tenant_row, id],
            connection_row,
        )
        .optional()?)
}

/// The athlete's connection to `provider`.
pub fn athlete_connection(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    provider: Provider,
) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {CONNECTION_COLUMNS} FROM provider_connections
                 WHERE tenant_id = ?1 AND athlete_id = ?2 AND provider = ?3"
            ),
            params![tenant_row, athlete_row, provider.as_str()],
            connection_row,
        )
        .optional()?)
}

/// The tenant's connections, by athlete and provider.
pub fn tenant_connections(
    conn: &Connection,
    tenant_row: i64,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM provider_connections
         WHERE tenant_id = ?1 ORDER BY athlete_id, provider"
    ))?;
    let rows = stmt
        .query_map(params![tenant_row], connection_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Replaces a connection's sealed tokens after a refresh.
pub fn set_connection_tokens(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    tokens_sealed: &[u8],
    expires_at_s: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE provider_connections SET tokens_sealed = ?3, expires_at_s = ?4, updated_ms = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            tenant_row,
            id,
            tokens_sealed,
            expires_at_s,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(())
}

/// Sets a connection's status and error; a status that does not sync deletes its tokens
/// when `delete_tokens`.
pub fn set_connection_status(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    status: ConnectionStatus,
    error: Option<&str>,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE provider_connections SET status = ?3, last_error = ?4, updated_ms = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            tenant_row,
            id,
            status.as_str(),
            error,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(())
}

/// Records a finished sync: when, and the newest activity start seen (for deltas).
pub fn record_sync(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    newest_start_s: Option<i64>,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE provider_connections
         SET last_sync_ms = ?3, newest_start_s = max(coalesce(newest_start_s, ?4), coalesce(?4, newest_start_s)),
             last_error = NULL, updated_ms = ?3
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, id, super::to_i64(now_ms), newest_start_s],
    )?;
    Ok(())
}

/// The newest activity start a connection has synced, s.
pub fn newest_start(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT newest_start_s FROM provider_connections WHERE tenant_id = ?1 AND id = ?2",
            params![tenant_row, id],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// How many copies from `provider` the athlete's library holds (what sync imported).
pub fn imported_copies(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    provider: Provider,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM activity_sources
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND kind = ?3",
        )?
        .query_row(params![tenant_row, athlete_row, provider.as_str()], |r| {
            r.get(0)
        })?)
}

/// Deletes a connection (disconnect: its tokens go with it).
pub fn delete_connection(conn: &Connection, tenant_row: i64, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM provider_connections WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, id],
    )?;
    Ok(())
}

/// A pending OAuth `state`, stored by its SHA-256 (the value itself is in the browser).
#[derive(Debug, Clone)]
pub struct StateRow {
    /// The user who began the connect.
    pub user_row: i64,
    /// The athlete it connects.
    pub athlete_row: i64,
    /// The provider.
    pub provider: String,
    /// When it was made, s.
    pub created_s: i64,
    /// The PKCE verifier (Garmin), sealed with the server key.
    pub pkce_verifier_sealed: Option<Vec<u8>>,
}

/// Stores a pending state (and drops the tenant's expired ones).
#[allow(clippy::too_many_arguments)]
pub fn add_oauth_state(
    conn: &Connection,
    tenant_row: i64,
    state_sha256: &[u8; 32],
    user_row: i64,
    athlete_row: i64,
    provider: Provider,
    created_s: i64,
    expired_before_s: i64,
    pkce_verifier_sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM oauth_states WHERE tenant_id = ?1 AND created_s < ?2",
        params![tenant_row, expired_before_s],
    )?;
    conn.execute(
        "INSERT INTO oauth_states (state_sha256, tenant_id, user_id, athlete_id, provider, created_s,
                                   pkce_verifier_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            state_sha256.as_slice(),
            tenant_row,
            user_row,
            athlete_row,
            provider.as_str(),
            created_s,
            pkce_verifier_sealed
        ],
    )?;
    Ok(())
}

/// Takes (reads and deletes: single use) the tenant's pending state with this digest.
pub fn take_oauth_state(
    conn: &Connection,
    tenant_row: i64,
    state_sha256: &[u8; 32],
) -> Result<Option<StateRow>, StoreError> {
    let found = conn
        .query_row(
            "SELECT user_id, athlete_id, provider, created_s, pkce_verifier_sealed FROM oauth_states
             WHERE tenant_id = ?1 AND state_sha256 = ?2",
            params![tenant_row, state_sha256.as_slice()],
            |r| {
                Ok(StateRow {
                    user_row: r.get(0)?,
                    athlete_row: r.get(1)?,
                    provider: r.get(2)?,
                    created_s: r.get(3)?,
                    pkce_verifier_sealed: r.get(4)?,
                })
            },
        )
        .optional()?;
    if found.is_some() {
        conn.execute(
            "DELETE FROM oauth_states WHERE tenant_id = ?1 AND state_sha256 = ?2",
            params![tenant_row, state_sha256.as_slice()],
        )?;
    }
    Ok(found)
}

/// The admin's retry of a dead job ([`paceline_sync::jobs::retry_dead`]): queued again
/// at `now_s` with its attempts reset (the last error is kept until the next run).
pub fn retry_job(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    now_s: i64,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let transition = paceline_sync::jobs::retry_dead();
    let changed = conn.execute(
        "UPDATE sync_jobs SET state = ?3, attempts = ?4, run_at_s = ?5, updated_ms = ?6
         WHERE tenant_id = ?1 AND id = ?2 AND state = 'dead'",
        params![
            tenant_row,
            id,
            transition.state.as_str(),
            transition.attempts,
            now_s,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(changed == 1)
}

/// The connections to `provider` of the provider's user `provider_user_id`, across
/// tenants: `(tenant, connection)` pairs. A webhook event names only the provider's
/// owner id, so this is the one lookup (besides the runner's) that no tenant scopes; each
/// job it queues then runs scoped by its tenant.
pub fn connections_of_owner(
    conn: &Connection,
    provider: Provider,
    provider_user_id: &str,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tenant_id, id FROM provider_connections
         WHERE provider = ?1 AND provider_user_id = ?2 ORDER BY tenant_id, id",
    )?;
    let rows = stmt
        .query_map(params![provider.as_str(), provider_user_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The tenant's connection to `provider` of the provider's user `provider_user_id`.
pub fn owner_connection(
    conn: &Connection,
    tenant_row: i64,
    provider: Provider,
    provider_user_id: &str,
) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {CONNECTION_COLUMNS} FROM provider_connections
                 WHERE tenant_id = ?1 AND provider = ?2 AND provider_user_id = ?3
                 ORDER BY id LIMIT 1"
            ),
            params![tenant_row, provider.as_str(), provider_user_id],
            connection_row,
        )
        .optional()?)
}

/// The owner revoked access at the provider: the connection is `revoked`, its tokens
/// deleted, `why` its last error.
pub fn revoke_connection(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    why: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE provider_connections
         SET status = 'revoked', tokens_sealed = NULL, expires_at_s = NULL, last_error = ?3,
             updated_ms = ?4
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, id, why, super::to_i64(now_ms)],
    )?;
    Ok(())
}

/// The athlete's copy from `kind` with the provider's `external_id`: `(activity, copy)`.
pub fn provider_copy(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    kind: paceline_activities::SourceKind,
    external_id: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(super::activities::SAME_EXTERNAL_ID_SQL)?
        .query_row(
            params![tenant_row, athlete_row, kind.as_str(), external_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Rewrites a provider copy with what the provider answers now (an `update` event: a new
/// title, sport or samples); the caller merges its activity afresh.
pub fn update_provider_copy(
    conn: &Connection,
    tenant_row: i64,
    source_id: i64,
    copy: &paceline_activities::SourceCopy,
    samples_fit: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE activity_sources
         SET sport = ?3, start_ms = ?4, local_offset_s = ?5, duration_s = ?6, fields_json = ?7,
             samples_fit = coalesce(?8, samples_fit)
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            tenant_row,
            source_id,
            copy.sport.name(),
            copy.start_ms,
            copy.local_offset_s,
            copy.duration_s,
            super::activities::fields_to_json(&copy.fields).to_string(),
            samples_fit,
        ],
    )?;
    Ok(())
}

/// Removes one copy of an activity (the provider deleted it); the activity goes too when
/// it was its last copy. Answers whether the activity is left (then the caller merges it
/// afresh).
pub fn remove_copy(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
    source_id: i64,
) -> Result<bool, StoreError> {
    conn.execute(
        "DELETE FROM activity_sources WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, source_id],
    )?;
    let left: i64 = conn.query_row(
        "SELECT count(*) FROM activity_sources WHERE tenant_id = ?1 AND activity_id = ?2",
        params![tenant_row, activity_id],
        |r| r.get(0),
    )?;
    if left == 0 {
        super::activities::delete_activity(conn, tenant_row, activity_id)?;
    }
    Ok(left > 0)
}

/// Deletes the jobs that finished (`done`) before `before_ms`, across tenants (the
/// runner's own housekeeping); answers how many.
pub fn prune_done_jobs(conn: &Connection, before_ms: u64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM sync_jobs WHERE state = 'done' AND updated_ms < ?1",
        params![super::to_i64(before_ms)],
    )?)
}

/// Runs a job waiting in `retry` (backing off, or paused by a rate limit) at `now_s`:
/// the admin's "run now"; its attempts are kept.
pub fn run_waiting_job_now(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
    now_s: i64,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE sync_jobs SET run_at_s = ?3, updated_ms = ?4
         WHERE tenant_id = ?1 AND id = ?2 AND state = 'retry'",
        params![tenant_row, id, now_s, super::to_i64(now_ms)],
    )?;
    Ok(changed == 1)
}

/// A provider app's rate-limit pause as stored (`sync_quotas`): the quota is per
/// application, so the row names no tenant and no athlete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    /// `strava`, `garmin`.
    pub provider: String,
    /// The last answer's rate-limit headers, as JSON (`crate::jobs::sync` reads and writes it).
    pub limits_json: String,
    /// When they were seen, s since the epoch.
    pub seen_s: i64,
    /// Until when the provider's jobs wait, s since the epoch.
    pub paused_until_s: Option<i64>,
}

/// Stores a provider's quota and pause (one row per provider; the service's own state,
/// across tenants).
pub fn save_quota(conn: &Connection, row: &QuotaRow, now_ms: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_quotas (provider, limits_json, seen_s, paused_until_s, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (provider) DO UPDATE SET limits_json = ?2, seen_s = ?3,
             paused_until_s = ?4, updated_ms = ?5",
        params![
            row.provider,
            row.limits_json,
            row.seen_s,
            row.paused_until_s,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(())
}

/// Every provider's stored quota (read at start).
pub fn quotas(conn: &Connection) -> Result<Vec<QuotaRow>, StoreError> {
    let rows = conn
        .prepare_cached("SELECT provider, limits_json, seen_s, paused_until_s FROM sync_quotas")?
        .query_map([], |r| {
            Ok(QuotaRow {
                provider: r.get(0)?,
                limits_json: r.get(1)?,
                seen_s: r.get(2)?,
                paused_until_s: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Forgets a provider's stored quota (the admin ran a paused job now).
pub fn delete_quota(conn: &Connection, provider: Provider) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM sync_quotas WHERE provider = ?1",
        params![provider.as_str()],
    )?;
    Ok(())
}

/// Sets Garmin's user metrics (VO2max, fitness age) on the athlete's `garmin` row of
/// `daily_metrics` for `date` (a new row if there is none); a value Garmin left out keeps
/// the stored one. Answers whether anything changed.
pub fn set_user_metrics(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    date: &str,
    vo2max_ml_kg_min: Option<f64>,
    fitness_age_years: Option<f64>,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let stored: Option<(Option<f64>, Option<f64>)> = conn
        .query_row(
            "SELECT vo2max_ml_kg_min, fitness_age_years FROM daily_metrics
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND date = ?3 AND source = 'garmin'",
            params![tenant_row, athlete_row, date],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (vo2, age) = stored.unwrap_or_default();
    let next = (vo2max_ml_kg_min.or(vo2), fitness_age_years.or(age));
    if stored.is_some() && next == (vo2, age) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO daily_metrics (tenant_id, athlete_id, date, source, vo2max_ml_kg_min,
             fitness_age_years, updated_ms)
         VALUES (?1, ?2, ?3, 'garmin', ?4, ?5, ?6)
         ON CONFLICT (tenant_id, athlete_id, date, source) DO UPDATE SET
             vo2max_ml_kg_min = ?4, fitness_age_years = ?5, updated_ms = ?6",
        params![
            tenant_row,
            athlete_row,
            date,
            next.0,
            next.1,
            super::to_i64(now_ms)
        ],
    )?;
    Ok(true)
}
