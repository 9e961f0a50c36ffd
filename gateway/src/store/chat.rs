//! The coach chat's rows (migration 10): conversations per athlete with what the last
//! reply waits for (`pending_json`, the chat core's `Pending`), their messages, and each
//! user's learned terms, one row per meaning. Every query names its tenant; a
//! conversation is also found only by the user and athlete it belongs to.

use paceline_chat::terms::{Meaning, Term};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::{StoreError, to_i64};

fn corrupt(what: &'static str, row: i64, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        row,
        reason: reason.to_string(),
    }
}

/// An instant as ms since the epoch.
pub fn time_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// ms since the epoch as an instant (the epoch itself when out of range).
pub fn ms_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// How many messages `user_row` has sent since `since_ms`.
pub fn messages_sent_since(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    since_ms: i64,
) -> Result<u32, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM chat_messages
             WHERE tenant_id = ?1 AND user_id = ?2 AND role = 'user' AND created_ms >= ?3",
        )?
        .query_row(params![tenant_row, user_row, since_ms], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A conversation: its id and what its last reply waits for (JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// Its id.
    pub id: i64,
    /// The chat core's `Pending`, as JSON.
    pub pending_json: String,
}

/// The conversation `id` of `user_row` about `athlete_row`, if it is theirs.
pub fn conversation(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    athlete_row: i64,
    id: i64,
) -> Result<Option<ConversationRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, pending_json FROM chat_conversations
             WHERE tenant_id = ?1 AND user_id = ?2 AND athlete_id = ?3 AND id = ?4",
        )?
        .query_row(params![tenant_row, user_row, athlete_row, id], |r| {
            Ok(ConversationRecord {
                id: r.get(0)?,
                pending_json: r.get(1)?,
            })
        })
        .optional()?)
}

/// Starts a conversation of `user_row` about `athlete_row`; its id.
pub fn start_conversation(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    athlete_row: i64,
    now_ms: u64,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO chat_conversations
             (tenant_id, athlete_id, user_id, pending_json, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, '{}', ?4, ?4)",
    )?
    .execute(params![tenant_row, athlete_row, user_row, to_i64(now_ms)])?;
    Ok(conn.last_insert_rowid())
}

/// Stores what the conversation's last reply waits for.
pub fn set_pending(
    conn: &Connection,
    tenant_row: i64,
    conversation_id: i64,
    pending_json: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE chat_conversations SET pending_json = ?3, updated_ms = ?4
         WHERE tenant_id = ?1 AND id = ?2",
    )?
    .execute(params![
        tenant_row,
        conversation_id,
        pending_json,
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// The athlete's (user's) last message in the conversation.
pub fn last_user_message(
    conn: &Connection,
    tenant_row: i64,
    conversation_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT text FROM chat_messages
             WHERE tenant_id = ?1 AND conversation_id = ?2 AND role = 'user'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![tenant_row, conversation_id], |r| r.get(0))
        .optional()?)
}

/// The conversation's last `limit` messages, oldest first: (role, text).
pub fn recent_messages(
    conn: &Connection,
    tenant_row: i64,
    conversation_id: i64,
    limit: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, text FROM chat_messages
         WHERE tenant_id = ?1 AND conversation_id = ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let mut out = stmt
        .query_map(params![tenant_row, conversation_id, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    out.reverse();
    Ok(out)
}

/// A conversation as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    /// Its id.
    pub id: i64,
    /// The athlete it is about.
    pub athlete_row: i64,
    /// Started, ms since the epoch.
    pub created_ms: i64,
    /// Last message, ms since the epoch.
    pub updated_ms: i64,
    /// Its messages (both sides).
    pub messages: u32,
    /// Its last message's text.
    pub last_text: Option<String>,
}

/// `user_row`'s conversations (about `athlete_row` only, if given), newest first, with
/// an id below `before`; at most `limit`.
pub fn conversations(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    athlete_row: Option<i64>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<ConversationSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.athlete_id, c.created_ms, c.updated_ms,
             (SELECT COUNT(*) FROM chat_messages m
              WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id),
             (SELECT m.text FROM chat_messages m
              WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
              ORDER BY m.id DESC LIMIT 1)
         FROM chat_conversations c
         WHERE c.tenant_id = ?1 AND c.user_id = ?2 AND (?3 IS NULL OR c.athlete_id = ?3)
           AND c.id < ?4
         ORDER BY c.id DESC LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                tenant_row,
                user_row,
                athlete_row,
                before.unwrap_or(i64::MAX),
                limit
            ],
            |r| {
                Ok(ConversationSummary {
                    id: r.get(0)?,
                    athlete_row: r.get(1)?,
                    created_ms: r.get(2)?,
                    updated_ms: r.get(3)?,
                    messages: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                    last_text: r.get(5)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The conversation `id` of `user_row`, whoever it is about.
pub fn own_conversation(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    id: i64,
) -> Result<Option<ConversationSummary>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id, c.athlete_id, c.created_ms, c.updated_ms,
                 (SELECT COUNT(*) FROM chat_messages m
                  WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id)
             FROM chat_conversations c WHERE c.tenant_id = ?1 AND c.user_id = ?2 AND c.id = ?3",
        )?
        .query_row(params![tenant_row, user_row, id], |r| {
            Ok(ConversationSummary {
                id: r.get(0)?,
                athlete_row: r.get(1)?,
                created_ms: r.get(2)?,
                updated_ms: r.get(3)?,
                messages: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                last_text: None,
            })
        })
        .optional()?)
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Its id.
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub text: String,
    /// The intent read (the user's messages).
    pub intent: Option<String>,
    /// What the reply did (JSON; the assistant's).
    pub details_json: Option<String>,
    /// Written, ms since the epoch.
    pub created_ms: i64,
}

/// The conversation's messages with an id above `after`, oldest first; at most `limit`.
pub fn messages(
    conn: &Connection,
    tenant_row: i64,
    conversation_id: i64,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<MessageRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, role, text, intent, details_json, created_ms FROM chat_messages
         WHERE tenant_id = ?1 AND conversation_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![tenant_row, conversation_id, after.unwrap_or(0), limit],
            |r| {
                Ok(MessageRecord {
                    id: r.get(0)?,
                    role: r.get(1)?,
                    text: r.get(2)?,
                    intent: r.get(3)?,
                    details_json: r.get(4)?,
                    created_ms: r.get(5)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One message to store.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The conversation.
    pub conversation_id: i64,
    /// The athlete it is about.
    pub athlete_row: i64,
    /// The user who wrote it (or was answered).
    pub user_row: i64,
    /// `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub text: &'a str,
    /// The intent read (for the athlete's messages).
    pub intent: Option<&'a str>,
    /// What the reply did (JSON), for the assistant's.
    pub details_json: Option<&'a str>,
}

/// Stores a message.
pub fn add_message(
    conn: &Connection,
    tenant_row: i64,
    m: NewMessage<'_>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO chat_messages (tenant_id, conversation_id, athlete_id, user_id, role, text,
             intent, details_json, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        tenant_row,
        m.conversation_id,
        m.athlete_row,
        m.user_row,
        m.role,
        m.text,
        m.intent,
        m.details_json,
        to_i64(now_ms)
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A user's learned terms, every meaning.
pub fn terms(conn: &Connection, tenant_row: i64, user_row: i64) -> Result<Vec<Term>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, phrase, meaning_json, confidence_tenths, created_ms, last_used_ms
         FROM chat_terms WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY phrase, seq",
    )?;
    let rows = stmt.query_map(params![tenant_row, user_row], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, phrase, meaning, tenths, created, used) = row?;
        let meaning: Meaning =
            serde_json::from_str(&meaning).map_err(|e| corrupt("chat term meaning", seq, e))?;
        out.push(Term {
            phrase,
            meaning,
            confidence_tenths: u8::try_from(tenths)
                .map_err(|e| corrupt("chat term confidence", seq, e))?,
            seq: u64::try_from(seq).map_err(|e| corrupt("chat term seq", seq, e))?,
            created_at: ms_time(created),
            last_used_at: ms_time(used),
        });
    }
    Ok(out)
}

/// Replaces a user's learned terms with `terms` (the book after a change).
pub fn replace_terms(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    terms: &[Term],
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM chat_terms WHERE tenant_id = ?1 AND user_id = ?2")?
        .execute(params![tenant_row, user_row])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO chat_terms (tenant_id, user_id, seq, phrase, meaning_json,
             confidence_tenths, created_ms, last_used_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for t in terms {
        let meaning =
            serde_json::to_string(&t.meaning).map_err(|e| corrupt("chat term meaning", 0, e))?;
        insert.execute(params![
            tenant_row,
            user_row,
            i64::try_from(t.seq).unwrap_or(i64::MAX),
            t.phrase,
            meaning,
            t.confidence_tenths,
            time_ms(t.created_at),
            time_ms(t.last_used_at)
        ])?;
    }
    Ok(())
}

/// The athlete's profile (FTP and heart-rate cap for the chat's safety limits).
pub fn athlete_profile(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<paceline_schemas::profile::AthleteProfile>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT profile_json FROM athletes WHERE tenant_id = ?1 AND id = ?2")?
        .query_row(params![tenant_row, athlete_row], |r| r.get(0))
        .optional()?;
    json.map(|j| {
        paceline_schemas::codec::from_json(j.as_bytes())
            .map_err(|e| corrupt("athlete profile", athlete_row, e))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreError, ensure_athlete, ensure_tenant, prepare_data_dir};

    /// Terms round-trip through their rows; a conversation is found only by its own
    /// tenant, user and athlete; messages are counted per user.
    #[test]
    fn rows_round_trip_and_stay_with_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| -> Result<(), StoreError> {
                let tenant = paceline_schemas::TenantId::new("one".to_owned()).unwrap();
                let t = ensure_tenant(tx, &tenant, 1)?;
                let a = ensure_athlete(tx, t, "Ana", None, 1)?;
                tx.execute(
                    "INSERT INTO users (tenant_id, email, name, role, password_hash, created_ms)
                     VALUES (?1, 'u@x.example', 'U', 'coach', 'x', 1)",
                    params![t],
                )?;
                let u = tx.last_insert_rowid();
                let mut book = paceline_chat::terms::TermBook::new();
                let now = ms_time(1_796_513_400_000);
                book.teach("Dhamaka", Meaning::Workout { sport: None }, now)
                    .unwrap();
                replace_terms(tx, t, u, book.terms())?;
                assert_eq!(terms(tx, t, u)?, book.terms());
                assert!(terms(tx, t + 1, u)?.is_empty());
                let c = start_conversation(tx, t, u, a, 5)?;
                assert!(conversation(tx, t, u, a, c)?.is_some());
                assert!(conversation(tx, t, u, a + 1, c)?.is_none());
                assert!(conversation(tx, t + 1, u, a, c)?.is_none());
                add_message(
                    tx,
                    t,
                    NewMessage {
                        conversation_id: c,
                        athlete_row: a,
                        user_row: u,
                        role: "user",
                        text: "hi",
                        intent: Some("unknown"),
                        details_json: None,
                    },
                    10,
                )?;
                assert_eq!(messages_sent_since(tx, t, u, 10)?, 1);
                assert_eq!(messages_sent_since(tx, t, u, 11)?, 0);
                assert_eq!(last_user_message(tx, t, c)?.as_deref(), Some("hi"));
                Ok(())
            })
            .unwrap();
    }
}
