//! An athlete's preferences with how sure we are of them: stated in the chat ("no workouts
//! before 7"; also written into the planning settings) or observed from the sessions they
//! skip, and whether the athlete confirmed or corrected them. Keyed by the preference's
//! own JSON (one row per preference); every query names its tenant and athlete.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{StoreError, to_i64};

/// One preference row.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceRecord {
    /// The preference (`paceline_chat::preferences::Preference`'s JSON).
    pub preference: Value,
    /// `stated` or `observed`.
    pub source: String,
    /// 0.0–1.0.
    pub confidence: f64,
    /// `proposed` (observed, not answered), `confirmed` or `corrected`.
    pub status: String,
    /// Last changed, ms.
    pub updated_ms: i64,
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<PreferenceRecord> {
    let text: String = r.get(0)?;
    Ok(PreferenceRecord {
        preference: serde_json::from_str(&text).unwrap_or(Value::Null),
        source: r.get(1)?,
        confidence: r.get(2)?,
        status: r.get(3)?,
        updated_ms: r.get(4)?,
    })
}

/// The athlete's preferences, stated first, then by preference.
pub fn list(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Vec<PreferenceRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT preference, source, confidence, status, updated_ms FROM athlete_preferences
             WHERE tenant_id = ?1 AND athlete_id = ?2 ORDER BY source DESC, preference",
        )?
        .query_map(params![tenant_row, athlete_row], record)?
        .collect::<Result<_, _>>()?)
}

/// One preference, by its JSON.
pub fn get(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    preference: &Value,
) -> Result<Option<PreferenceRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT preference, source, confidence, status, updated_ms FROM athlete_preferences
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND preference = ?3",
        )?
        .query_row(
            params![tenant_row, athlete_row, preference.to_string()],
            record,
        )
        .optional()?)
}

/// The first observed preference still only proposed (not answered), by preference.
pub fn first_proposed(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<PreferenceRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT preference, source, confidence, status, updated_ms FROM athlete_preferences
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND source = 'observed'
               AND status = 'proposed'
             ORDER BY preference LIMIT 1",
        )?
        .query_row(params![tenant_row, athlete_row], record)
        .optional()?)
}

/// Sets a preference (inserted or replaced).
pub fn put(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    p: &PreferenceRecord,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO athlete_preferences
             (tenant_id, athlete_id, preference, source, confidence, status, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, athlete_id, preference) DO UPDATE SET
             source = excluded.source, confidence = excluded.confidence,
             status = excluded.status, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        tenant_row,
        athlete_row,
        p.preference.to_string(),
        p.source,
        p.confidence,
        p.status,
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// Forgets observed preferences still only proposed (before they are observed again).
pub fn forget_proposed(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM athlete_preferences
         WHERE tenant_id = ?1 AND athlete_id = ?2 AND source = 'observed' AND status = 'proposed'",
    )?
    .execute(params![tenant_row, athlete_row])?;
    Ok(())
}
