//! The weekly digest's rows (migration 12): who gets one, which (user, week) was sent or
//! is being sent, and who unsubscribed.
//!
//! **Claimed before sent**: [`claim`] inserts the (user, week) row in the job's own
//! transaction before any byte goes to the SMTP server, so a second tick, a second
//! gateway or a restart finds it and sends nothing. A row left `claimed` (the process died
//! while sending: the server may or may not have taken the mail) is never claimed again:
//! the digest is at most once per week. A send the SMTP server refused is `failed` and
//! may be claimed again after its `retry_at_ms`, up to the job's attempt limit.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, to_i64};

/// One athlete account that gets the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user's tenant.
    pub tenant_row: i64,
    /// The user.
    pub user_row: i64,
    /// Their athlete.
    pub athlete_row: i64,
    /// Where the mail goes.
    pub email: String,
    /// Their name.
    pub name: String,
}

/// Athlete accounts (enabled, linked to an athlete, not unsubscribed) of every tenant
/// with a user row above `after`, in row order: the digest job's walk.
pub const RECIPIENTS_SQL: &str = "SELECT u.tenant_id, u.id, u.athlete_id, u.email, u.name
     FROM users u
     WHERE u.id > ?1 AND u.role = 'athlete' AND u.athlete_id IS NOT NULL
       AND u.disabled_ms IS NULL
       AND NOT EXISTS (SELECT 1 FROM digest_optouts o
                       WHERE o.tenant_id = u.tenant_id AND o.user_id = u.id)
     ORDER BY u.id LIMIT ?2";

/// Up to `limit` recipients after the user row `after` (see [`RECIPIENTS_SQL`]).
pub fn recipients_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<Recipient>, StoreError> {
    let rows = conn
        .prepare_cached(RECIPIENTS_SQL)?
        .query_map(
            params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(Recipient {
                    tenant_row: r.get(0)?,
                    user_row: r.get(1)?,
                    athlete_row: r.get(2)?,
                    email: r.get(3)?,
                    name: r.get(4)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// When the user's latest digest was sent, ms (`updated_ms` of their latest `sent` row).
pub fn last_sent_ms(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT max(updated_ms) FROM digest_sends
             WHERE tenant_id = ?1 AND user_id = ?2 AND state = 'sent'",
        )?
        .query_row(params![tenant_row, user_row], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Claims the (user, week) send: true when this caller may send it now (no row yet, or a
/// `failed` one due again with fewer than `max_attempts`). See the module docs.
pub fn claim(
    conn: &Connection,
    recipient: &Recipient,
    week_start: &str,
    now_ms: u64,
    max_attempts: u32,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO digest_sends (tenant_id, user_id, athlete_id, week_start, state,
                 attempts, retry_at_ms, last_error, updated_ms)
             VALUES (?1, ?2, ?3, ?4, 'claimed', 1, 0, NULL, ?5)
             ON CONFLICT (tenant_id, user_id, week_start) DO UPDATE SET
                 state = 'claimed', attempts = digest_sends.attempts + 1, updated_ms = ?5
             WHERE digest_sends.state = 'failed' AND digest_sends.attempts < ?6
               AND digest_sends.retry_at_ms <= ?5",
        )?
        .execute(params![
            recipient.tenant_row,
            recipient.user_row,
            recipient.athlete_row,
            week_start,
            to_i64(now_ms),
            max_attempts
        ])?;
    Ok(changed == 1)
}

/// Records how a claimed send ended: `Ok` sent; `Err(reason)` failed, to be tried again
/// `retry_after_ms` × its attempts from now.
pub fn finish(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    week_start: &str,
    outcome: Result<(), &str>,
    now_ms: u64,
    retry_after_ms: u64,
) -> Result<(), StoreError> {
    let (state, error) = match outcome {
        Ok(()) => ("sent", None),
        Err(reason) => ("failed", Some(reason)),
    };
    conn.prepare_cached(
        "UPDATE digest_sends SET state = ?4, last_error = ?5,
             retry_at_ms = ?7 + ?6 * attempts, updated_ms = ?7
         WHERE tenant_id = ?1 AND user_id = ?2 AND week_start = ?3",
    )?
    .execute(params![
        tenant_row,
        user_row,
        week_start,
        state,
        error,
        to_i64(retry_after_ms),
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// The tenant of a user row, if it exists (an unsubscribe token names the user only).
pub fn user_tenant(conn: &Connection, user_row: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT tenant_id FROM users WHERE id = ?1")?
        .query_row(params![user_row], |r| r.get(0))
        .optional()?)
}

/// Unsubscribes the user from the digest (idempotent).
pub fn opt_out(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO digest_optouts (tenant_id, user_id, created_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )?
    .execute(params![tenant_row, user_row, to_i64(now_ms)])?;
    Ok(())
}

/// Whether the user unsubscribed.
pub fn opted_out(conn: &Connection, tenant_row: i64, user_row: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM digest_optouts WHERE tenant_id = ?1 AND user_id = ?2")?
        .query_row(params![tenant_row, user_row], |_| Ok(()))
        .optional()?
        .is_some())
}
