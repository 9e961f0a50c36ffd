//! The activity library's rows: activities (the merged view of their copies), their
//! source copies with the samples, a tenant's source precedence, and the ended live
//! sessions the library job has not taken yet.
//!
//! Every query names its tenant; the athlete's ones name the athlete too, and each runs
//! through an index of migration 7 (the tests hold the query plans): the list by
//! `(tenant, athlete, start DESC, id DESC)`, the dedup lookups by `(tenant, athlete, kind,
//! external id)` and `(tenant, athlete, SHA-256)`, the merge window by `(tenant, athlete,
//! start)`. The rules (what merges, which copy gives a field) are `paceline-activities`';
//! this module only reads and writes their values.

use std::collections::BTreeMap;

use paceline_activities::{
    ActivityCopies, ActivityId, CopyId, Field, FieldValues, FileFormat, Load, LoadMethod,
    LoadThresholds, MergedActivity, Precedence, SourceCopy, SourceKind, StoredCopy,
};
use paceline_formats::Sport;
use paceline_schemas::{AthleteProfile, codec};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::{StoreError, queries, to_i64};

/// The dedup lookup by source and external id.
pub const SAME_EXTERNAL_ID_SQL: &str = "SELECT activity_id, id FROM activity_sources
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND kind = ?3 AND external_id = ?4
     LIMIT 1";
/// The dedup lookup by content hash.
pub const SAME_SHA256_SQL: &str = "SELECT activity_id, id FROM activity_sources
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND content_sha256 = ?3
     LIMIT 1";
/// The activities holding a copy that starts in a window (the merge candidates).
pub const WINDOW_SQL: &str = "SELECT DISTINCT activity_id FROM activity_sources
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND start_ms BETWEEN ?3 AND ?4";
/// A page of an athlete's activities, newest first, after a cursor `(start_ms, id)`.
pub const LIST_SQL: &str = "SELECT id FROM activities
     WHERE tenant_id = :tenant AND athlete_id = :athlete
       AND start_ms >= :from AND start_ms < :to
       AND (start_ms < :cursor_start OR (start_ms = :cursor_start AND id < :cursor_id))
       AND (:sport IS NULL OR sport = :sport)
     ORDER BY start_ms DESC, id DESC
     LIMIT :limit";

/// An activity as stored.
#[derive(Debug, Clone)]
pub struct ActivityRecord {
    /// Its row.
    pub id: i64,
    /// The athlete's row.
    pub athlete_id: i64,
    /// The merged values.
    pub merged: MergedActivity,
    /// Why its clock is not believed, if it is not.
    pub flagged_reason: Option<String>,
    /// The kinds of its copies (`file`, `paceline`, …), each once.
    pub source_kinds: Vec<String>,
    /// Created, ms.
    pub created_ms: i64,
    /// Last changed, ms.
    pub updated_ms: i64,
}

/// A source copy as stored, without its samples.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// The copy with its row id.
    pub stored: StoredCopy,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// A manual entry's values as typed.
    pub manual_original: Option<Value>,
    /// Whether it holds samples.
    pub has_samples: bool,
}

/// An ended live session not yet in the library.
#[derive(Debug, Clone, Copy)]
pub struct EndedSession {
    /// Its row.
    pub row: i64,
    /// Its tenant's row.
    pub tenant_row: i64,
    /// Its athlete's row.
    pub athlete_row: i64,
    /// When it started, ms.
    pub started_ms: i64,
}

/// What a new source copy row holds beyond the copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyExtras<'a> {
    /// The uploaded file's name.
    pub file_name: Option<&'a str>,
    /// A manual entry's values as typed.
    pub manual_original: Option<&'a Value>,
    /// The samples, as a FIT file.
    pub samples_fit: Option<&'a [u8]>,
    /// The activity this file is Paceline's export of, as its device field says (not
    /// stored: it decides `duplicate`).
    pub exported_from: Option<i64>,
}

fn corrupt(what: &'static str, row: i64, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        row,
        reason: reason.to_string(),
    }
}

/// The load numbers of an athlete of the tenant from their profile; `None` if the
/// athlete is not the tenant's.
pub fn athlete_thresholds(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<LoadThresholds>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT profile_json FROM athletes WHERE tenant_id = ?1 AND id = ?2")?
        .query_row(params![tenant_row, athlete_row], |r| r.get(0))
        .optional()?;
    let Some(json) = json else {
        return Ok(None);
    };
    let profile: AthleteProfile = codec::from_json(json.as_bytes())
        .map_err(|e| corrupt("athlete profile", athlete_row, e))?;
    Ok(Some(LoadThresholds {
        ftp_w: profile.ftp,
        threshold_hr_bpm: profile.lthr,
        resting_hr_bpm: profile.hr_rest,
        max_hr_bpm: profile.hr_max,
        sex: profile.sex,
    }))
}

/// The tenant of an athlete, by the athlete's row (for the `paceline import` command,
/// which names the athlete by id).
pub fn athlete_tenant(conn: &Connection, athlete_row: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT tenant_id FROM athletes WHERE id = ?1")?
        .query_row(params![athlete_row], |r| r.get(0))
        .optional()?)
}

/// The tenant's source precedence, the default if it set none.
pub fn precedence(conn: &Connection, tenant_row: i64) -> Result<Precedence, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT order_json FROM activity_precedence WHERE tenant_id = ?1")?
        .query_row(params![tenant_row], |r| r.get(0))
        .optional()?;
    let Some(json) = json else {
        return Ok(Precedence::default());
    };
    let names: Vec<String> =
        serde_json::from_str(&json).map_err(|e| corrupt("activity precedence", tenant_row, e))?;
    Precedence::parse(&names).map_err(|e| corrupt("activity precedence", tenant_row, e))
}

/// Sets the tenant's source precedence.
pub fn set_precedence(
    conn: &Connection,
    tenant_row: i64,
    precedence: &Precedence,
    now_ms: u64,
) -> Result<(), StoreError> {
    let json = json!(precedence.names()).to_string();
    conn.execute(
        "INSERT INTO activity_precedence (tenant_id, order_json, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET order_json = ?2, updated_ms = ?3",
        params![tenant_row, json, to_i64(now_ms)],
    )?;
    Ok(())
}

/// The copy of the athlete's that is the same copy as one of this kind and external id,
/// or these bytes: `(activity, copy)`.
pub fn find_same_copy(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    copy: &SourceCopy,
) -> Result<Option<(ActivityId, CopyId)>, StoreError> {
    let pair = |r: &rusqlite::Row<'_>| Ok((ActivityId(r.get(0)?), CopyId(r.get(1)?)));
    if let Some(external_id) = &copy.external_id {
        let found = conn
            .prepare_cached(SAME_EXTERNAL_ID_SQL)?
            .query_row(
                params![tenant_row, athlete_row, copy.kind.as_str(), external_id],
                pair,
            )
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if let Some(sha) = &copy.content_sha256 {
        return Ok(conn
            .prepare_cached(SAME_SHA256_SQL)?
            .query_row(params![tenant_row, athlete_row, &sha[..]], pair)
            .optional()?);
    }
    Ok(None)
}

/// The athlete's activities holding a copy that starts from `from_ms` to `to_ms`, each
/// with all its copies.
pub fn activities_near(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<ActivityCopies>, StoreError> {
    let ids = conn
        .prepare_cached(WINDOW_SQL)?
        .query_map(params![tenant_row, athlete_row, from_ms, to_ms], |r| {
            r.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    ids.into_iter()
        .map(|id| {
            Ok(ActivityCopies {
                activity: ActivityId(id),
                copies: copies_of(conn, tenant_row, id)?,
            })
        })
        .collect()
}

const SOURCE_COLUMNS: &str = "id, kind, format, external_id, content_sha256, sport, start_ms,
     local_offset_s, duration_s, fields_json, file_name, manual_original_json,
     samples_fit IS NOT NULL";

fn source_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<(SourceRecord, String, String)> {
    let id: i64 = r.get(0)?;
    let kind: String = r.get(1)?;
    let format: Option<String> = r.get(2)?;
    let sha: Option<Vec<u8>> = r.get(4)?;
    let sport: String = r.get(5)?;
    let fields_json: String = r.get(9)?;
    let manual: Option<String> = r.get(11)?;
    let copy = SourceCopy {
        kind: SourceKind::parse(&kind).unwrap_or(SourceKind::File),
        format: format.as_deref().and_then(FileFormat::parse),
        external_id: r.get(3)?,
        content_sha256: sha.and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok()),
        sport: Sport::from_name(&sport),
        start_ms: r.get(6)?,
        local_offset_s: r.get(7)?,
        duration_s: r.get(8)?,
        fields: FieldValues::default(),
    };
    Ok((
        SourceRecord {
            stored: StoredCopy {
                id: CopyId(id),
                copy,
            },
            file_name: r.get(10)?,
            manual_original: manual.and_then(|m| serde_json::from_str(&m).ok()),
            has_samples: r.get(12)?,
        },
        kind,
        fields_json,
    ))
}

/// The copies of an activity of the tenant, oldest first, without their samples.
pub fn sources_of(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
) -> Result<Vec<SourceRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SOURCE_COLUMNS} FROM activity_sources
         WHERE activity_id = ?1 AND tenant_id = ?2 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map(params![activity_id, tenant_row], source_record)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(mut record, kind, fields_json)| {
            let id = record.stored.id.0;
            if SourceKind::parse(&kind).is_none() {
                return Err(corrupt("source kind", id, kind));
            }
            record.stored.copy.fields = fields_from_json(&fields_json)
                .ok_or_else(|| corrupt("source fields", id, "not the fields JSON"))?;
            Ok(record)
        })
        .collect()
}

/// The copies of an activity of the tenant, as the merge rules take them.
pub fn copies_of(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
) -> Result<Vec<StoredCopy>, StoreError> {
    Ok(sources_of(conn, tenant_row, activity_id)?
        .into_iter()
        .map(|s| s.stored)
        .collect())
}

/// The samples (a FIT file) of a copy of the tenant's.
pub fn source_samples(
    conn: &Connection,
    tenant_row: i64,
    source_id: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT samples_fit FROM activity_sources WHERE id = ?1 AND tenant_id = ?2",
        )?
        .query_row(params![source_id, tenant_row], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .optional()?
        .flatten())
}

/// A new activity of the athlete, empty until [`store_merged`] fills it: returns its row.
pub fn insert_activity(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    start_ms: i64,
    flagged_reason: Option<&str>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO activities (tenant_id, athlete_id, sport, start_ms, duration_s,
             flagged_reason, provenance_json, created_ms, updated_ms)
         VALUES (?1, ?2, 'other', ?3, 0, ?4, '{}', ?5, ?5)",
        params![
            tenant_row,
            athlete_row,
            start_ms,
            flagged_reason,
            to_i64(now_ms)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Stores a copy into an activity of the athlete: returns its row.
pub fn insert_source(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    activity_id: i64,
    copy: &SourceCopy,
    extras: CopyExtras<'_>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO activity_sources (activity_id, tenant_id, athlete_id, kind, format,
             external_id, content_sha256, sport, start_ms, local_offset_s, duration_s,
             fields_json, file_name, manual_original_json, samples_fit, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            activity_id,
            tenant_row,
            athlete_row,
            copy.kind.as_str(),
            copy.format.map(FileFormat::as_str),
            copy.external_id,
            copy.content_sha256.map(|s| s.to_vec()),
            copy.sport.name(),
            copy.start_ms,
            copy.local_offset_s,
            copy.duration_s,
            fields_to_json(&copy.fields).to_string(),
            extras.file_name,
            extras.manual_original.map(Value::to_string),
            extras.samples_fit,
            to_i64(now_ms),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Moves a copy of the tenant's to another activity.
pub fn move_source(
    conn: &Connection,
    tenant_row: i64,
    source_id: i64,
    activity_id: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE activity_sources SET activity_id = ?1 WHERE id = ?2 AND tenant_id = ?3",
        params![activity_id, source_id, tenant_row],
    )?;
    Ok(())
}

/// Writes an activity's merged values.
pub fn store_merged(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
    merged: &MergedActivity,
    now_ms: u64,
) -> Result<(), StoreError> {
    let f = &merged.fields;
    let provenance: serde_json::Map<String, Value> = merged
        .provenance
        .iter()
        .map(|(field, copy)| (field.as_str().to_owned(), json!(copy.0)))
        .collect();
    conn.execute(
        "UPDATE activities SET sport = ?1, start_ms = ?2, local_offset_s = ?3, duration_s = ?4,
             moving_s = ?5, distance_m = ?6, ascent_m = ?7, hr_avg_bpm = ?8, hr_max_bpm = ?9,
             power_avg_w = ?10, power_max_w = ?11, np_w = ?12, tss = ?13,
             intensity_factor = ?14, load_method = ?15, energy_kcal = ?16, name = ?17,
             rpe = ?18, note = ?19, provenance_json = ?20, updated_ms = ?21
         WHERE id = ?22 AND tenant_id = ?23",
        params![
            merged.sport.name(),
            merged.start_ms,
            merged.local_offset_s,
            merged.duration_s,
            f.moving_s,
            f.distance_m,
            f.ascent_m,
            f.hr_avg_bpm,
            f.hr_max_bpm,
            f.power_avg_w,
            f.power_max_w,
            f.np_w,
            f.load.map(|l| l.tss),
            f.load.and_then(|l| l.intensity_factor),
            f.load.map(|l| l.method.as_str()),
            f.energy_kcal,
            f.name,
            f.rpe,
            f.note,
            Value::Object(provenance).to_string(),
            to_i64(now_ms),
            activity_id,
            tenant_row,
        ],
    )?;
    Ok(())
}

/// Deletes an activity of the tenant and its copies; whether it existed.
pub fn delete_activity(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
) -> Result<bool, StoreError> {
    conn.execute(
        "DELETE FROM activity_sources WHERE activity_id = ?1 AND tenant_id = ?2",
        params![activity_id, tenant_row],
    )?;
    let deleted = conn.execute(
        "DELETE FROM activities WHERE id = ?1 AND tenant_id = ?2",
        params![activity_id, tenant_row],
    )?;
    Ok(deleted > 0)
}

const ACTIVITY_COLUMNS: &str = "a.id, a.athlete_id, a.sport, a.start_ms, a.local_offset_s,
     a.duration_s, a.moving_s, a.distance_m, a.ascent_m, a.hr_avg_bpm, a.hr_max_bpm,
     a.power_avg_w, a.power_max_w, a.np_w, a.tss, a.intensity_factor, a.load_method,
     a.energy_kcal, a.name, a.rpe, a.note, a.flagged_reason, a.provenance_json,
     a.created_ms, a.updated_ms,
     (SELECT group_concat(DISTINCT s.kind) FROM activity_sources s WHERE s.activity_id = a.id)";

fn activity_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActivityRecord> {
    let load = match (
        r.get::<_, Option<f64>>(14)?,
        r.get::<_, Option<String>>(16)?,
    ) {
        (Some(tss), Some(method)) => LoadMethod::parse(&method).map(|method| Load {
            tss,
            intensity_factor: r.get(15).ok().flatten(),
            method,
        }),
        _ => None,
    };
    let provenance_json: String = r.get(22)?;
    let provenance: BTreeMap<Field, CopyId> =
        serde_json::from_str::<BTreeMap<String, i64>>(&provenance_json)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, copy)| Some((Field::parse(&name)?, CopyId(copy))))
            .collect();
    let kinds: Option<String> = r.get(25)?;
    let mut source_kinds: Vec<String> = kinds
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    source_kinds.sort();
    Ok(ActivityRecord {
        id: r.get(0)?,
        athlete_id: r.get(1)?,
        merged: MergedActivity {
            sport: Sport::from_name(&r.get::<_, String>(2)?),
            start_ms: r.get(3)?,
            local_offset_s: r.get(4)?,
            duration_s: r.get(5)?,
            fields: FieldValues {
                moving_s: r.get(6)?,
                distance_m: r.get(7)?,
                ascent_m: r.get(8)?,
                hr_avg_bpm: r.get(9)?,
                hr_max_bpm: r.get(10)?,
                power_avg_w: r.get(11)?,
                power_max_w: r.get(12)?,
                np_w: r.get(13)?,
                load,
                energy_kcal: r.get(17)?,
                name: r.get(18)?,
                rpe: r.get(19)?,
                note: r.get(20)?,
                sample_count: None,
            },
            provenance,
        },
        flagged_reason: r.get(21)?,
        source_kinds,
        created_ms: r.get(23)?,
        updated_ms: r.get(24)?,
    })
}

/// An activity of the tenant.
pub fn activity(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
) -> Result<Option<ActivityRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.id = ?1 AND a.tenant_id = ?2"
        ))?
        .query_row(params![activity_id, tenant_row], activity_record)
        .optional()?)
}

/// Which of an athlete's activities a list page shows.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// Starting at or after, ms.
    pub from_ms: i64,
    /// Starting before, ms.
    pub to_ms: i64,
    /// Of this sport only (its name).
    pub sport: Option<String>,
    /// After this `(start_ms, id)` (the last of the previous page).
    pub after: Option<(i64, i64)>,
    /// At most this many.
    pub limit: u32,
}

/// A page of an athlete's activities, newest first.
pub fn list_activities(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    filter: &ListFilter,
) -> Result<Vec<ActivityRecord>, StoreError> {
    let (cursor_start, cursor_id) = filter.after.unwrap_or((i64::MAX, i64::MAX));
    let ids = conn
        .prepare_cached(LIST_SQL)?
        .query_map(
            rusqlite::named_params! {
                ":tenant": tenant_row,
                ":athlete": athlete_row,
                ":from": filter.from_ms,
                ":to": filter.to_ms,
                ":cursor_start": cursor_start,
                ":cursor_id": cursor_id,
                ":sport": filter.sport,
                ":limit": filter.limit,
            },
            |r| r.get::<_, i64>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let mut page = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(record) = activity(conn, tenant_row, id)? {
            page.push(record);
        }
    }
    Ok(page)
}

/// The activities of the tenant with more than one copy (those a change of precedence
/// may change).
pub fn merged_activities(conn: &Connection, tenant_row: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT activity_id FROM activity_sources WHERE tenant_id = ?1
         GROUP BY activity_id HAVING count(*) > 1",
    )?;
    let ids = stmt
        .query_map(params![tenant_row], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// Up to `limit` ended live sessions the library has not taken, oldest first.
pub fn ended_sessions_for_library(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<EndedSession>, StoreError> {
    let mut stmt = conn.prepare_cached(queries::ENDED_SESSIONS_FOR_LIBRARY)?;
    let rows = stmt
        .query_map(params![limit], |r| {
            Ok(EndedSession {
                row: r.get(0)?,
                tenant_row: r.get(1)?,
                athlete_row: r.get(2)?,
                started_ms: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Marks a session of the tenant as taken into the library.
pub fn mark_session_in_library(
    conn: &Connection,
    tenant_row: i64,
    session_row: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        queries::MARK_SESSION_IN_LIBRARY,
        params![to_i64(now_ms), session_row, tenant_row],
    )?;
    Ok(())
}

/// A copy's fields as stored in `fields_json`.
pub fn fields_to_json(f: &FieldValues) -> Value {
    json!({
        "moving_s": f.moving_s,
        "distance_m": f.distance_m,
        "ascent_m": f.ascent_m,
        "hr_avg_bpm": f.hr_avg_bpm,
        "hr_max_bpm": f.hr_max_bpm,
        "power_avg_w": f.power_avg_w,
        "power_max_w": f.power_max_w,
        "np_w": f.np_w,
        "load": f.load.map(|l| json!({
            "tss": l.tss,
            "intensity_factor": l.intensity_factor,
            "method": l.method.as_str(),
        })),
        "energy_kcal": f.energy_kcal,
        "name": f.name,
        "rpe": f.rpe,
        "note": f.note,
        "sample_count": f.sample_count,
    })
}

fn fields_from_json(text: &str) -> Option<FieldValues> {
    let v: Value = serde_json::from_str(text).ok()?;
    let f = |name: &str| v.get(name).and_then(Value::as_f64);
    let u16_of = |name: &str| {
        v.get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
    };
    let text_of = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let load = v.get("load").filter(|l| !l.is_null()).and_then(|l| {
        Some(Load {
            tss: l.get("tss")?.as_f64()?,
            intensity_factor: l.get("intensity_factor").and_then(Value::as_f64),
            method: LoadMethod::parse(l.get("method")?.as_str()?)?,
        })
    });
    Some(FieldValues {
        moving_s: f("moving_s"),
        distance_m: f("distance_m"),
        ascent_m: f("ascent_m"),
        hr_avg_bpm: f("hr_avg_bpm"),
        hr_max_bpm: u16_of("hr_max_bpm"),
        power_avg_w: f("power_avg_w"),
        power_max_w: u16_of("power_max_w"),
        np_w: f("np_w"),
        load,
        energy_kcal: f("energy_kcal"),
        name: text_of("name"),
        rpe: v
            .get("rpe")
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok()),
        note: text_of("note"),
        sample_count: v
            .get("sample_count")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ensure_athlete, ensure_tenant, migrate};

    /// An in-memory database with every migration run.
    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn the_list_dedup_and_window_queries_use_their_indexes() {
        let conn = &database();
        for (sql, index) in [
            (LIST_SQL, "activities_by_athlete_start"),
            (SAME_EXTERNAL_ID_SQL, "activity_sources_by_external_id"),
            (SAME_SHA256_SQL, "activity_sources_by_sha256"),
            (WINDOW_SQL, "activity_sources_by_start"),
        ] {
            let steps = crate::store::queries::query_plan(conn, sql);
            assert!(
                steps.iter().all(|s| !s.starts_with("SCAN")),
                "{sql}: {steps:?}"
            );
            assert!(
                steps.iter().any(|s| s.contains(index)),
                "{sql}: {steps:?} does not use {index}"
            );
        }
    }

    fn copy(kind: SourceKind, start_ms: i64, sha: Option<u8>) -> SourceCopy {
        SourceCopy {
            kind,
            format: Some(FileFormat::Fit),
            external_id: Some("ext-1".into()),
            content_sha256: sha.map(|b| [b; 32]),
            sport: Sport::Cycling,
            start_ms,
            local_offset_s: Some(3600),
            duration_s: 3600.0,
            fields: FieldValues {
                np_w: Some(210.5),
                hr_max_bpm: Some(181),
                load: Some(Load {
                    tss: 80.0,
                    intensity_factor: Some(0.84),
                    method: LoadMethod::Power,
                }),
                name: Some("Hills".into()),
                sample_count: Some(3600),
                ..FieldValues::default()
            },
        }
    }

    #[test]
    fn copies_round_trip_and_are_found_by_id_hash_window_and_page() {
        let mut conn = database();
        let tx = conn.transaction().unwrap();
        let check = |tx: &Connection| -> Result<(), StoreError> {
            let tenant = ensure_tenant(
                tx,
                &paceline_schemas::TenantId::new("t".to_owned()).unwrap(),
                1,
            )?;
            let athlete = ensure_athlete(tx, tenant, "Ana", None, 1)?;
            let other = ensure_athlete(tx, tenant, "Ben", None, 1)?;
            let start = 1_765_000_000_000;
            let act = insert_activity(tx, tenant, athlete, start, None, 1)?;
            let new = copy(SourceKind::File, start, Some(7));
            let id = insert_source(tx, tenant, athlete, act, &new, CopyExtras::default(), 1)?;
            let copies = copies_of(tx, tenant, act)?;
            assert_eq!(copies.len(), 1);
            assert_eq!(copies[0].copy, new);
            let merged = paceline_activities::merge(&copies, &Precedence::default()).unwrap();
            store_merged(tx, tenant, act, &merged, 2)?;
            let record = activity(tx, tenant, act)?.unwrap();
            assert_eq!(record.merged.fields.np_w, Some(210.5));
            assert_eq!(record.merged.provenance[&Field::Np], CopyId(id));
            assert_eq!(record.source_kinds, vec!["file".to_owned()]);
            // Found again by hash, by external id, in the window; not for Ben.
            let mut by_id = new.clone();
            by_id.content_sha256 = None;
            assert_eq!(
                find_same_copy(tx, tenant, athlete, &by_id)?,
                Some((ActivityId(act), CopyId(id)))
            );
            let mut by_hash = new.clone();
            by_hash.external_id = None;
            assert!(find_same_copy(tx, tenant, athlete, &by_hash)?.is_some());
            assert!(find_same_copy(tx, tenant, other, &new)?.is_none());
            assert_eq!(
                activities_near(tx, tenant, athlete, start - 1, start + 1)?.len(),
                1
            );
            assert!(activities_near(tx, tenant, athlete, start + 1, start + 2)?.is_empty());
            let all = ListFilter {
                from_ms: 0,
                to_ms: i64::MAX,
                sport: None,
                after: None,
                limit: 10,
            };
            assert_eq!(list_activities(tx, tenant, athlete, &all)?.len(), 1);
            let running = ListFilter {
                sport: Some("running".into()),
                ..all.clone()
            };
            assert!(list_activities(tx, tenant, athlete, &running)?.is_empty());
            let after = ListFilter {
                after: Some((start, act)),
                ..all
            };
            assert!(list_activities(tx, tenant, athlete, &after)?.is_empty());
            assert!(delete_activity(tx, tenant, act)?);
            assert!(activity(tx, tenant, act)?.is_none());
            Ok(())
        };
        check(&tx).unwrap();
    }
}
