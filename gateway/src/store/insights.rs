//! Insights' rows (migration 9): each athlete's cached correlation report with the digest
//! of the inputs it came from, "was this helpful?" feedback on findings, and each user's
//! music library. The day's extra values live in `daily_metrics` ([`super::planning`]).
//!
//! Every query names its tenant (and athlete or user) and runs through a primary key or
//! index of migration 9 (or of `daily_metrics` and `activities` for the inputs' state);
//! the tests hold the query plans. The rules are `paceline-insights`'; this module only
//! reads and writes their values.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, to_i64};

/// The state of an athlete's daily metrics: how many rows, the latest change.
pub const DAILY_STATE_SQL: &str = "SELECT count(*), coalesce(max(updated_ms), 0)
     FROM daily_metrics WHERE tenant_id = ?1 AND athlete_id = ?2";
/// The state of an athlete's activities: how many, the latest change, the sum of their
/// rows (so one deleted and another added still changes it).
pub const ACTIVITIES_STATE_SQL: &str =
    "SELECT count(*), coalesce(max(updated_ms), 0), coalesce(sum(id), 0)
     FROM activities WHERE tenant_id = ?1 AND athlete_id = ?2";
/// The tenant's feedback, newest first.
pub const FEEDBACK_SQL: &str = "SELECT id, athlete_id, user_id, input, output, lag_days, helpful,
            created_ms
     FROM insight_feedback WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2";

/// What an athlete's correlations are computed from, as counts and latest changes: when
/// none of it moves, the cached report still holds.
pub fn inputs_state(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<String, StoreError> {
    let (daily_rows, daily_ms): (i64, i64) = conn
        .prepare_cached(DAILY_STATE_SQL)?
        .query_row(params![tenant_row, athlete_row], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (activities, activities_ms, activity_rows): (i64, i64, i64) = conn
        .prepare_cached(ACTIVITIES_STATE_SQL)?
        .query_row(params![tenant_row, athlete_row], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(format!(
        "daily {daily_rows} {daily_ms}; activities {activities} {activities_ms} {activity_rows}"
    ))
}

/// The cached report of an athlete for a window of `days`: its inputs' digest and JSON.
pub fn cached_report(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    days: u32,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT inputs_digest, report_json FROM insight_reports
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND days = ?3",
        )?
        .query_row(params![tenant_row, athlete_row, days], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// Stores an athlete's report for a window of `days`, replacing the one cached.
pub fn store_report(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    days: u32,
    inputs_digest: &str,
    report_json: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO insight_reports (tenant_id, athlete_id, days, inputs_digest, report_json,
             computed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, athlete_id, days) DO UPDATE SET
             inputs_digest = ?4, report_json = ?5, computed_ms = ?6",
    )?
    .execute(params![
        tenant_row,
        athlete_row,
        days,
        inputs_digest,
        report_json,
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// One "was this helpful?" answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRecord {
    /// Its row.
    pub id: i64,
    /// The athlete the finding is about.
    pub athlete_id: i64,
    /// Who answered.
    pub user_id: i64,
    /// The finding's input (`sleep_s`, …).
    pub input: String,
    /// The finding's output (`check_in_energy`, …).
    pub output: String,
    /// The finding's lag, days.
    pub lag_days: u8,
    /// Whether it helped.
    pub helpful: bool,
    /// When, ms.
    pub created_ms: i64,
}

/// Stores an answer; returns it as stored.
pub fn add_feedback(
    conn: &Connection,
    tenant_row: i64,
    feedback: &FeedbackRecord,
    now_ms: u64,
) -> Result<FeedbackRecord, StoreError> {
    conn.prepare_cached(
        "INSERT INTO insight_feedback (tenant_id, athlete_id, user_id, input, output, lag_days,
             helpful, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        tenant_row,
        feedback.athlete_id,
        feedback.user_id,
        feedback.input,
        feedback.output,
        feedback.lag_days,
        feedback.helpful,
        to_i64(now_ms)
    ])?;
    Ok(FeedbackRecord {
        id: conn.last_insert_rowid(),
        created_ms: to_i64(now_ms),
        ..feedback.clone()
    })
}

/// The tenant's latest `limit` answers, newest first.
pub fn feedback(
    conn: &Connection,
    tenant_row: i64,
    limit: u32,
) -> Result<Vec<FeedbackRecord>, StoreError> {
    let rows = conn
        .prepare_cached(FEEDBACK_SQL)?
        .query_map(params![tenant_row, limit], |r| {
            Ok(FeedbackRecord {
                id: r.get(0)?,
                athlete_id: r.get(1)?,
                user_id: r.get(2)?,
                input: r.get(3)?,
                output: r.get(4)?,
                lag_days: r.get(5)?,
                helpful: r.get(6)?,
                created_ms: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Stores a user's music library (its tracks as JSON), replacing the one they had.
pub fn set_music_library(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
    format: &str,
    tracks_json: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO music_libraries (tenant_id, user_id, format, tracks_json, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
             format = ?3, tracks_json = ?4, updated_ms = ?5",
    )?
    .execute(params![
        tenant_row,
        user_row,
        format,
        tracks_json,
        to_i64(now_ms)
    ])?;
    Ok(())
}

/// A user's music library's tracks (JSON), if they uploaded one.
pub fn music_library(
    conn: &Connection,
    tenant_row: i64,
    user_row: i64,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT tracks_json FROM music_libraries WHERE tenant_id = ?1 AND user_id = ?2",
        )?
        .query_row(params![tenant_row, user_row], |r| r.get(0))
        .optional()?)
}

/// A plan of the tenant: its name and its plan JSON (Paceline's format).
pub fn plan_json(
    conn: &Connection,
    tenant_row: i64,
    plan_row: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT name, plan_json FROM plans WHERE tenant_id = ?1 AND id = ?2")?
        .query_row(params![tenant_row, plan_row], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ensure_athlete, ensure_tenant, migrate};

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn the_state_and_feedback_queries_use_their_indexes() {
        let conn = &database();
        for (sql, index) in [
            (DAILY_STATE_SQL, "daily_metrics_by_day"),
            (ACTIVITIES_STATE_SQL, "activities_by_athlete_start"),
            (FEEDBACK_SQL, "insight_feedback_by_tenant"),
        ] {
            let steps = crate::store::queries::query_plan(conn, sql);
            assert!(
                steps.iter().any(|s| s.contains(index)),
                "{sql}: {steps:?} does not use {index}"
            );
        }
    }

    #[test]
    fn reports_feedback_and_libraries_stay_in_their_tenant() {
        let conn = &database();
        let tenant = |slug: &str| {
            ensure_tenant(
                conn,
                &paceline_schemas::TenantId::new(slug.to_owned()).unwrap(),
                1,
            )
            .unwrap()
        };
        let (one, two) = (tenant("one"), tenant("two"));
        let ana = ensure_athlete(conn, one, "Ana", None, 1).unwrap();
        let before = inputs_state(conn, one, ana).unwrap();
        conn.execute(
            "INSERT INTO daily_metrics (tenant_id, athlete_id, date, source, updated_ms)
             VALUES (?1, ?2, '2026-12-01', 'manual', 5)",
            params![one, ana],
        )
        .unwrap();
        assert_ne!(inputs_state(conn, one, ana).unwrap(), before);
        assert_eq!(inputs_state(conn, two, ana).unwrap(), before);

        store_report(conn, one, ana, 90, "d1", "{}", 1).unwrap();
        store_report(conn, one, ana, 90, "d2", "{\"tested\":0}", 2).unwrap();
        assert_eq!(
            cached_report(conn, one, ana, 90).unwrap(),
            Some(("d2".to_owned(), "{\"tested\":0}".to_owned()))
        );
        assert_eq!(cached_report(conn, one, ana, 30).unwrap(), None);
        assert_eq!(cached_report(conn, two, ana, 90).unwrap(), None);

        conn.execute(
            "INSERT INTO users (tenant_id, email, name, password_hash, role, created_ms)
             VALUES (?1, 'a@one.example', 'A', 'x', 'gym-admin', 1)",
            params![one],
        )
        .unwrap();
        let user = conn.last_insert_rowid();
        let answer = FeedbackRecord {
            id: 0,
            athlete_id: ana,
            user_id: user,
            input: "sleep_s".into(),
            output: "check_in_energy".into(),
            lag_days: 1,
            helpful: true,
            created_ms: 0,
        };
        let stored = add_feedback(conn, one, &answer, 7).unwrap();
        assert_eq!(feedback(conn, one, 10).unwrap(), [stored]);
        assert!(feedback(conn, two, 10).unwrap().is_empty());

        set_music_library(conn, one, user, "m3u", "[]", 1).unwrap();
        set_music_library(conn, one, user, "csv", "[1]", 2).unwrap();
        assert_eq!(
            music_library(conn, one, user).unwrap().as_deref(),
            Some("[1]")
        );
        assert_eq!(music_library(conn, two, user).unwrap(), None);
    }
}
