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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ensure_athlete, ensure_tenant, migrate};

    #[test]
    fn a_week_is_claimed_once_failed_sends_are_retried_and_opt_outs_leave_the_walk() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let slug = paceline_schemas::TenantId::new("mail".to_owned()).unwrap();
        let tenant = ensure_tenant(&conn, &slug, 1).unwrap();
        let athlete = ensure_athlete(&conn, tenant, "Ana", None, 1).unwrap();
        conn.execute(
            "INSERT INTO users (tenant_id, email, name, password_hash, role, athlete_id, created_ms)
             VALUES (?1, 'ana@mail.example', 'Ana', 'x', 'athlete', ?2, 1),
                    (?1, 'coach@mail.example', 'Cy', 'x', 'coach', NULL, 1)",
            params![tenant, athlete],
        )
        .unwrap();
        let found = recipients_after(&conn, 0, 10).unwrap();
        assert_eq!(found.len(), 1, "the coach gets none: {found:?}");
        let ana = &found[0];
        let week = "2026-11-02";
        assert!(claim(&conn, ana, week, 1_000, 3).unwrap());
        // Claimed (sending, or the sender died): never claimed again.
        assert!(!claim(&conn, ana, week, 10_000_000, 3).unwrap());
        finish(
            &conn,
            tenant,
            ana.user_row,
            week,
            Err("451"),
            2_000,
            300_000,
        )
        .unwrap();
        // Failed after 1 attempt: again from 2,000 + 300,000 × 1.
        assert!(!claim(&conn, ana, week, 301_999, 3).unwrap());
        assert!(claim(&conn, ana, week, 302_000, 3).unwrap());
        finish(
            &conn,
            tenant,
            ana.user_row,
            week,
            Err("451"),
            303_000,
            300_000,
        )
        .unwrap();
        // After 2 attempts, the next is due at 303,000 + 600,000; the third is the last.
        assert!(claim(&conn, ana, week, 903_000, 3).unwrap());
        finish(
            &conn,
            tenant,
            ana.user_row,
            week,
            Err("451"),
            904_000,
            300_000,
        )
        .unwrap();
        assert!(!claim(&conn, ana, week, 99_000_000, 3).unwrap());
        assert_eq!(last_sent_ms(&conn, tenant, ana.user_row).unwrap(), None);
        // Another week, sent: never again.
        assert!(claim(&conn, ana, "2026-11-09", 5_000, 3).unwrap());
        finish(
            &conn,
            tenant,
            ana.user_row,
            "2026-11-09",
            Ok(()),
            6_000,
            300_000,
        )
        .unwrap();
        assert!(!claim(&conn, ana, "2026-11-09", 99_000_000, 3).unwrap());
        assert_eq!(
            last_sent_ms(&conn, tenant, ana.user_row).unwrap(),
            Some(6_000)
        );
        // Unsubscribed: out of the walk.
        assert!(!opted_out(&conn, tenant, ana.user_row).unwrap());
        opt_out(&conn, tenant, ana.user_row, 7_000).unwrap();
        opt_out(&conn, tenant, ana.user_row, 8_000).unwrap();
        assert!(opted_out(&conn, tenant, ana.user_row).unwrap());
        assert!(recipients_after(&conn, 0, 10).unwrap().is_empty());
        assert_eq!(user_tenant(&conn, ana.user_row).unwrap(), Some(tenant));
        assert_eq!(user_tenant(&conn, 999).unwrap(), None);
    }
}
