//! The SMS rows: each user's phone with its pending code (a SHA-256 digest), whether it is
//! linked (confirmed) and opted out, and the SMS conversation; the Twilio message ids
//! seen. Every query of a user's row names its tenant; an incoming number finds only a
//! linked (confirmed) phone. Phone numbers are personal data: never logged.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, to_i64};

/// A user's phone.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneRecord {
    /// The tenant.
    pub tenant_row: i64,
    /// The user.
    pub user_row: i64,
    /// The athlete the user talks about (their own).
    pub athlete_row: i64,
    /// The number, E.164.
    pub phone: String,
    /// The pending code's digest.
    pub code_sha256: Option<Vec<u8>>,
    /// When the code stops working, ms.
    pub code_expires_ms: Option<i64>,
    /// Wrong codes entered.
    pub code_attempts: u32,
    /// Confirmed, ms (none: not linked yet).
    pub verified_ms: Option<i64>,
    /// STOP received.
    pub opted_out: bool,
    /// The SMS conversation.
    pub conversation_id: Option<i64>,
}

const COLUMNS: &str = "tenant_id, user_id, athlete_id, phone, code_sha256, code_expires_ms,
    code_attempts, verified_ms, opted_out, conversation_id";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhoneRecord> {
    Ok(PhoneRecord {
        tenant_row: r.get(0)?,
        user_row: r.get(1)?,
        athlete_row: r.get(2)?,
        phone: r.get(3)?,
        code_sha256: r.get(4)?,
        code_expires_ms: r.get(5)?,
        code_attempts: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(u32::MAX),
        verified_ms: r.get(7)?,
        opted_out: r.get(8)?,
        conversation_id: r.get(9)?,
    })
}

/// The user's phone, if any.
pub fn phone_of(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
) -> Result<Option<PhoneRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sms_phones WHERE tenant_id = ?1 AND user_id = ?2"
        ))?
        .query_row(params![tenant_row, user_row], record)
        .optional()?)
}

/// The linked (confirmed) phone with this number, whoever's it is.
pub fn linked(conn: &Connection, phone: &str) -> Result<Option<PhoneRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sms_phones WHERE phone = ?1 AND verified_ms IS NOT NULL"
        ))?
        .query_row(params![phone], record)
        .optional()?)
}

/// Sets the user's phone (unlinked) with a new code, replacing any earlier one.
pub fn set_pending_phone(
    conn: &Connection,
    p: &PhoneRecord,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO sms_phones (tenant_id, user_id, athlete_id, phone, code_sha256,
             code_expires_ms, code_attempts, verified_ms, opted_out, conversation_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL, 0, NULL, ?7)",
    )?
    .execute(params![
        p.tenant_row,
        p.user_row,
        p.athlete_row,
        p.phone,
        p.code_sha256,
        p.code_expires_ms,
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// Counts a wrong code.
pub fn wrong_code(conn: &Connection, tenant_row: i64, user_row: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sms_phones SET code_attempts = code_attempts + 1
         WHERE tenant_id = ?1 AND user_id = ?2",
    )?
    .execute(params![tenant_row, user_row])?;
    Ok(())
}

/// Links the user's phone (the code confirmed); the code is gone.
pub fn confirm(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sms_phones SET verified_ms = ?3, code_sha256 = NULL, code_expires_ms = NULL
         WHERE tenant_id = ?1 AND user_id = ?2",
    )?
    .execute(params![tenant_row, user_row, to_i64(now_ms)])?;
    Ok(())
}

/// Forgets the user's phone; whether there was one.
pub fn delete_phone(conn: &Connection, tenant_row: i64, user_row: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM sms_phones WHERE tenant_id = ?1 AND user_id = ?2")?
        .execute(params![tenant_row, user_row])?
        > 0)
}

/// STOP (true) or START (false) for the user's phone.
pub fn set_opted_out(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    opted_out: bool,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sms_phones SET opted_out = ?3 WHERE tenant_id = ?1 AND user_id = ?2",
    )?
    .execute(params![tenant_row, user_row, opted_out])?;
    Ok(())
}

/// The conversation SMS turns continue.
pub fn set_conversation(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    conversation_id: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sms_phones SET conversation_id = ?3 WHERE tenant_id = ?1 AND user_id = ?2",
    )?
    .execute(params![tenant_row, user_row, conversation_id])?;
    Ok(())
}

/// Records a message id; false when it was seen before.
pub fn first_sighting(
    conn: &Connection,
    message_sid: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO sms_inbound (message_sid, received_ms) VALUES (?1, ?2)",
        )?
        .execute(params![message_sid, to_i64(now_ms)])?
        > 0)
}

/// Which way a counted message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the number to us (counted per hour).
    Inbound,
    /// From us to the number (counted per UTC day).
    Outbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "in",
            Direction::Outbound => "out",
        }
    }
}

/// Counts `n` messages for the number (by digest) in the window starting at
/// `window_start_ms` unless that would pass `cap`; the window's count after the call and
/// whether they were counted. `cap` `None`: always counted.
pub fn count_messages(
    conn: &Connection,
    number_sha256: &[u8],
    direction: Direction,
    window_start_ms: u64,
    n: u32,
    cap: Option<u32>,
) -> Result<(u32, bool), StoreError> {
    let window = to_i64(window_start_ms);
    let before: i64 = conn
        .prepare_cached(
            "SELECT count FROM sms_number_counts
             WHERE number_sha256 = ?1 AND direction = ?2 AND window_start_ms = ?3",
        )?
        .query_row(params![number_sha256, direction.as_str(), window], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0);
    let before = u32::try_from(before).unwrap_or(u32::MAX);
    let after = before.saturating_add(n);
    if cap.is_some_and(|cap| after > cap) {
        return Ok((before, false));
    }
    conn.prepare_cached(
        "INSERT INTO sms_number_counts (number_sha256, direction, window_start_ms, count)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (number_sha256, direction, window_start_ms)
         DO UPDATE SET count = excluded.count",
    )?
    .execute(params![
        number_sha256,
        direction.as_str(),
        window,
        i64::from(after)
    ])?;
    Ok((after, true))
}
