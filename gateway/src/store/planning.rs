//! Planning's rows: daily metrics and check-ins, the daily plans generated with their
//! inputs, life events, an athlete's planning settings, and the loads of the athlete's
//! activities that training load is summed from.
//!
//! Every query names its tenant and athlete and runs through an index of migration 8 (or
//! migration 7's `activities_by_athlete_start` for the loads); the tests hold the query
//! plans. Dates are the athlete's local days as `YYYY-MM-DD` text, which sorts as the days
//! do. The rules (load, recovery, plans) are `paceline-planning`'s; this module only reads
//! and writes their values.

use paceline_insights::daily::{DayExtras, ExtraField};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{StoreError, to_i64};

/// The daily metrics of an athlete between two dates (inclusive).
pub const DAILY_SQL: &str = "SELECT date, source, resting_hr_bpm, hrv_ms, sleep_s, sleep_score,
            stress, energy, mood, soreness, note, updated_ms,
            energy_kcal, carbohydrate_g, protein_g, caffeine_mg, alcohol_units, body_weight_kg,
            body_fat_pct, work_hours, work_stress, vo2max_ml_kg_min, fitness_age_years
     FROM daily_metrics
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND date BETWEEN ?3 AND ?4
     ORDER BY date, source";
/// The loads of an athlete's activities (flagged ones, whose clock is not believed, are
/// left out).
pub const LOADS_SQL: &str = "SELECT start_ms, local_offset_s, tss FROM activities
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND tss IS NOT NULL AND flagged_reason IS NULL";
/// The daily plans of an athlete between two dates (inclusive).
pub const PLANS_SQL: &str = "SELECT id, date, plan_json, why_json, inputs_json, inputs_digest,
            plan_id, created_ms
     FROM daily_plans
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND date BETWEEN ?3 AND ?4
     ORDER BY date";
/// The life events of an athlete overlapping two dates (inclusive).
pub const LIFE_EVENTS_SQL: &str = "SELECT id, kind, from_date, to_date, minutes_available, summary,
            external_id, created_ms
     FROM life_events
     WHERE tenant_id = ?1 AND athlete_id = ?2 AND from_date <= ?4 AND to_date >= ?3
     ORDER BY from_date, id";

/// Where a day's metrics came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSource {
    /// Entered by hand (`PUT /athletes/{id}/daily/{date}`).
    Manual,
    /// Synced from Garmin.
    Garmin,
}

impl MetricSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricSource::Manual => "manual",
            MetricSource::Garmin => "garmin",
        }
    }
}

/// One day's metrics and check-in from one source, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyRecord {
    /// The athlete's local day, `YYYY-MM-DD`.
    pub date: String,
    /// `manual` or `garmin`.
    pub source: String,
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<f64>,
    /// Heart-rate variability (rMSSD), ms.
    pub hrv_ms: Option<f64>,
    /// Sleep, s.
    pub sleep_s: Option<f64>,
    /// Sleep score, 0–100.
    pub sleep_score: Option<f64>,
    /// Stress, 0–100.
    pub stress: Option<f64>,
    /// Check-in energy, 1–5.
    pub energy: Option<u8>,
    /// Check-in mood, 1–5.
    pub mood: Option<u8>,
    /// Check-in soreness, 1–5.
    pub soreness: Option<u8>,
    /// Check-in note.
    pub note: Option<String>,
    /// Last changed, ms.
    pub updated_ms: i64,
    /// Nutrition, body and work values (migration 9), in `paceline-insights`' ranges.
    pub extras: DayExtras,
    /// Garmin's VO2max, ml/kg/min (its `userMetrics`; set by sync only).
    pub vo2max_ml_kg_min: Option<f64>,
    /// Garmin's fitness age, years (its `userMetrics`; set by sync only).
    pub fitness_age_years: Option<f64>,
}

/// A change to one day's metrics: `None` keeps a value, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct DailyPatch {
    /// Resting heart rate, bpm.
    pub resting_hr_bpm: Option<Option<f64>>,
    /// HRV (rMSSD), ms.
    pub hrv_ms: Option<Option<f64>>,
    /// Sleep, s.
    pub sleep_s: Option<Option<f64>>,
    /// Sleep score, 0–100.
    pub sleep_score: Option<Option<f64>>,
    /// Stress, 0–100.
    pub stress: Option<Option<f64>>,
    /// Energy, 1–5.
    pub energy: Option<Option<u8>>,
    /// Mood, 1–5.
    pub mood: Option<Option<u8>>,
    /// Soreness, 1–5.
    pub soreness: Option<Option<u8>>,
    /// Note.
    pub note: Option<Option<String>>,
    /// Nutrition, body and work values to set (`Some`) or clear (`None`), each checked
    /// against its range by the caller; fields not listed keep their value.
    pub extras: Vec<(ExtraField, Option<f64>)>,
}

impl DailyPatch {
    /// `record` with this change applied.
    pub fn apply(self, mut record: DailyRecord) -> DailyRecord {
        fn set<T>(slot: &mut Option<T>, change: Option<Option<T>>) {
            if let Some(value) = change {
                *slot = value;
            }
        }
        set(&mut record.resting_hr_bpm, self.resting_hr_bpm);
        set(&mut record.hrv_ms, self.hrv_ms);
        set(&mut record.sleep_s, self.sleep_s);
        set(&mut record.sleep_score, self.sleep_score);
        set(&mut record.stress, self.stress);
        set(&mut record.energy, self.energy);
        set(&mut record.mood, self.mood);
        set(&mut record.soreness, self.soreness);
        set(&mut record.note, self.note);
        for (field, value) in self.extras {
            *extra_slot(&mut record.extras, field) = value;
        }
        record
    }
}

/// The stored value of `field` in `extras` (unchecked: the values were checked on entry).
fn extra_slot(extras: &mut DayExtras, field: ExtraField) -> &mut Option<f64> {
    match field {
        ExtraField::EnergyKcal => &mut extras.energy_kcal,
        ExtraField::CarbohydrateG => &mut extras.carbohydrate_g,
        ExtraField::ProteinG => &mut extras.protein_g,
        ExtraField::CaffeineMg => &mut extras.caffeine_mg,
        ExtraField::AlcoholUnits => &mut extras.alcohol_units,
        ExtraField::BodyWeightKg => &mut extras.body_weight_kg,
        ExtraField::BodyFatPct => &mut extras.body_fat_pct,
        ExtraField::WorkHours => &mut extras.work_hours,
        ExtraField::WorkStress => &mut extras.work_stress,
    }
}

fn daily_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DailyRecord> {
    let small = |i: usize| -> rusqlite::Result<Option<u8>> {
        Ok(r.get::<_, Option<i64>>(i)?
            .and_then(|n| u8::try_from(n).ok()))
    };
    Ok(DailyRecord {
        date: r.get(0)?,
        source: r.get(1)?,
        resting_hr_bpm: r.get(2)?,
        hrv_ms: r.get(3)?,
        sleep_s: r.get(4)?,
        sleep_score: r.get(5)?,
        stress: r.get(6)?,
        energy: small(7)?,
        mood: small(8)?,
        soreness: small(9)?,
        note: r.get(10)?,
        updated_ms: r.get(11)?,
        extras: DayExtras {
            energy_kcal: r.get(12)?,
            carbohydrate_g: r.get(13)?,
            protein_g: r.get(14)?,
            caffeine_mg: r.get(15)?,
            alcohol_units: r.get(16)?,
            body_weight_kg: r.get(17)?,
            body_fat_pct: r.get(18)?,
            work_hours: r.get(19)?,
            work_stress: r.get(20)?,
        },
        vo2max_ml_kg_min: r.get(21)?,
        fitness_age_years: r.get(22)?,
    })
}

/// The athlete's daily metrics from `from` to `to` (inclusive, `YYYY-MM-DD`), by date then
/// source.
pub fn daily_between(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: &str,
    to: &str,
) -> Result<Vec<DailyRecord>, StoreError> {
    let rows = conn
        .prepare_cached(DAILY_SQL)?
        .query_map(params![tenant_row, athlete_row, from, to], daily_record)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Applies `patch` to the athlete's metrics of `date` from `source` (a new row if there is
/// none) and returns the row as stored.
pub fn upsert_daily(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    date: &str,
    source: MetricSource,
    patch: DailyPatch,
    now_ms: u64,
) -> Result<DailyRecord, StoreError> {
    let current = daily_between(conn, tenant_row, athlete_row, date, date)?
        .into_iter()
        .find(|r| r.source == source.as_str())
        .unwrap_or_else(|| DailyRecord {
            date: date.to_owned(),
            source: source.as_str().to_owned(),
            ..DailyRecord::default()
        });
    let mut row = patch.apply(current);
    row.updated_ms = to_i64(now_ms);
    conn.prepare_cached(
        "INSERT INTO daily_metrics (tenant_id, athlete_id, date, source, resting_hr_bpm, hrv_ms,
             sleep_s, sleep_score, stress, energy, mood, soreness, note, updated_ms,
             energy_kcal, carbohydrate_g, protein_g, caffeine_mg, alcohol_units, body_weight_kg,
             body_fat_pct, work_hours, work_stress)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
         ON CONFLICT (tenant_id, athlete_id, date, source) DO UPDATE SET
             resting_hr_bpm = ?5, hrv_ms = ?6, sleep_s = ?7, sleep_score = ?8, stress = ?9,
             energy = ?10, mood = ?11, soreness = ?12, note = ?13, updated_ms = ?14,
             energy_kcal = ?15, carbohydrate_g = ?16, protein_g = ?17, caffeine_mg = ?18,
             alcohol_units = ?19, body_weight_kg = ?20, body_fat_pct = ?21, work_hours = ?22,
             work_stress = ?23",
    )?
    .execute(params![
        tenant_row,
        athlete_row,
        row.date,
        row.source,
        row.resting_hr_bpm,
        row.hrv_ms,
        row.sleep_s,
        row.sleep_score,
        row.stress,
        row.energy,
        row.mood,
        row.soreness,
        row.note,
        row.updated_ms,
        row.extras.energy_kcal,
        row.extras.carbohydrate_g,
        row.extras.protein_g,
        row.extras.caffeine_mg,
        row.extras.alcohol_units,
        row.extras.body_weight_kg,
        row.extras.body_fat_pct,
        row.extras.work_hours,
        row.extras.work_stress,
    ])?;
    Ok(row)
}

/// One activity's load: when it started (ms, and its local offset, s, when known) and its
/// TSS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityLoad {
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// The local offset from UTC at the start, s.
    pub local_offset_s: Option<i32>,
    /// Training load (TSS or its equivalent).
    pub tss: f64,
}

/// The loads of all the athlete's activities that have one (not flagged ones).
pub fn activity_loads(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Vec<ActivityLoad>, StoreError> {
    let rows = conn
        .prepare_cached(LOADS_SQL)?
        .query_map(params![tenant_row, athlete_row], |r| {
            Ok(ActivityLoad {
                start_ms: r.get(0)?,
                local_offset_s: r.get(1)?,
                tss: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The local offset of the athlete's latest activity that names one (their time zone as
/// far as Paceline knows), s.
pub fn latest_local_offset(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<i32>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT local_offset_s FROM activities
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND local_offset_s IS NOT NULL
             ORDER BY start_ms DESC LIMIT 1",
        )?
        .query_row(params![tenant_row, athlete_row], |r| r.get(0))
        .optional()?)
}

/// Up to `limit` athletes of every tenant with a row above `after`, in row order, as
/// `(tenant row, athlete row)`: the planning job's walk.
pub fn athletes_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT tenant_id, id FROM athletes WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = statement.query_map(
        params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The athlete's planning settings as stored (JSON), if any were set.
pub fn settings(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Option<Value>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached(
            "SELECT settings_json FROM planning_settings WHERE tenant_id = ?1 AND athlete_id = ?2",
        )?
        .query_row(params![tenant_row, athlete_row], |r| r.get(0))
        .optional()?;
    json.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            what: "planning settings",
            row: athlete_row,
            reason: e.to_string(),
        })
    })
    .transpose()
}

/// Sets the athlete's planning settings.
pub fn set_settings(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    settings: &Value,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO planning_settings (tenant_id, athlete_id, settings_json, updated_ms)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, athlete_id) DO UPDATE SET settings_json = ?3, updated_ms = ?4",
        params![
            tenant_row,
            athlete_row,
            settings.to_string(),
            to_i64(now_ms)
        ],
    )?;
    Ok(())
}

/// A daily plan as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyPlanRecord {
    /// Its row.
    pub id: i64,
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// The plan (JSON).
    pub plan: Value,
    /// Why (JSON list of sentences).
    pub why: Value,
    /// The inputs it was generated from (JSON).
    pub inputs: Value,
    /// The inputs' digest.
    pub inputs_digest: String,
    /// The workout plan row made of it when the athlete started it.
    pub plan_id: Option<i64>,
    /// Generated, ms.
    pub created_ms: i64,
}

fn json_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Value> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn plan_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DailyPlanRecord> {
    Ok(DailyPlanRecord {
        id: r.get(0)?,
        date: r.get(1)?,
        plan: json_column(r, 2)?,
        why: json_column(r, 3)?,
        inputs: json_column(r, 4)?,
        inputs_digest: r.get(5)?,
        plan_id: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

/// The athlete's daily plans from `from` to `to` (inclusive), by date.
pub fn plans_between(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: &str,
    to: &str,
) -> Result<Vec<DailyPlanRecord>, StoreError> {
    let rows = conn
        .prepare_cached(PLANS_SQL)?
        .query_map(params![tenant_row, athlete_row, from, to], plan_record)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What a daily plan row holds.
#[derive(Debug, Clone, Copy)]
pub struct NewDailyPlan<'a> {
    /// The day, `YYYY-MM-DD`.
    pub date: &'a str,
    /// The plan.
    pub plan: &'a Value,
    /// Why.
    pub why: &'a Value,
    /// The inputs.
    pub inputs: &'a Value,
    /// The inputs' digest.
    pub inputs_digest: &'a str,
}

/// Stores the athlete's plan of a day, replacing the one stored for that day (and
/// forgetting the workout plan row made of that one).
pub fn store_plan(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    plan: NewDailyPlan<'_>,
    now_ms: u64,
) -> Result<DailyPlanRecord, StoreError> {
    conn.execute(
        "INSERT INTO daily_plans (tenant_id, athlete_id, date, plan_json, why_json, inputs_json,
             inputs_digest, plan_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)
         ON CONFLICT (tenant_id, athlete_id, date) DO UPDATE SET
             plan_json = ?4, why_json = ?5, inputs_json = ?6, inputs_digest = ?7,
             plan_id = NULL, created_ms = ?8",
        params![
            tenant_row,
            athlete_row,
            plan.date,
            plan.plan.to_string(),
            plan.why.to_string(),
            plan.inputs.to_string(),
            plan.inputs_digest,
            to_i64(now_ms)
        ],
    )?;
    plans_between(conn, tenant_row, athlete_row, plan.date, plan.date)?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Missing {
            what: "daily plan just stored",
            name: plan.date.to_owned(),
        })
}

/// Records the workout plan row made of the athlete's plan of `date`.
pub fn set_plan_row(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    date: &str,
    plan_row: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE daily_plans SET plan_id = ?4 WHERE tenant_id = ?1 AND athlete_id = ?2 AND date = ?3",
        params![tenant_row, athlete_row, date, plan_row],
    )?;
    Ok(())
}

/// A life event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LifeEventRecord {
    /// Its row.
    pub id: i64,
    /// `travel`, `illness`, `busy`, …
    pub kind: String,
    /// First day, `YYYY-MM-DD`.
    pub from_date: String,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to_date: String,
    /// Minutes available for training on each of its days, when limited.
    pub minutes_available: Option<u32>,
    /// What it is.
    pub summary: Option<String>,
    /// A calendar's id of it (an ICS `UID`).
    pub external_id: Option<String>,
    /// Created, ms.
    pub created_ms: i64,
}

fn life_event_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<LifeEventRecord> {
    Ok(LifeEventRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        from_date: r.get(2)?,
        to_date: r.get(3)?,
        minutes_available: r
            .get::<_, Option<i64>>(4)?
            .and_then(|n| u32::try_from(n).ok()),
        summary: r.get(5)?,
        external_id: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

/// Adds a life event; one with the external id of one already stored replaces it.
/// Returns its row.
pub fn add_life_event(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    event: &LifeEventRecord,
    now_ms: u64,
) -> Result<i64, StoreError> {
    if let Some(external_id) = &event.external_id {
        conn.execute(
            "DELETE FROM life_events WHERE tenant_id = ?1 AND athlete_id = ?2 AND external_id = ?3",
            params![tenant_row, athlete_row, external_id],
        )?;
    }
    conn.execute(
        "INSERT INTO life_events (tenant_id, athlete_id, kind, from_date, to_date,
             minutes_available, summary, external_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            tenant_row,
            athlete_row,
            event.kind,
            event.from_date,
            event.to_date,
            event.minutes_available,
            event.summary,
            event.external_id,
            to_i64(now_ms)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The athlete's life events overlapping `from`..=`to`.
pub fn life_events_between(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: &str,
    to: &str,
) -> Result<Vec<LifeEventRecord>, StoreError> {
    let rows = conn
        .prepare_cached(LIFE_EVENTS_SQL)?
        .query_map(
            params![tenant_row, athlete_row, from, to],
            life_event_record,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A life event of the tenant, with its athlete's row.
pub fn life_event(
    conn: &Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<(i64, LifeEventRecord)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, kind, from_date, to_date, minutes_available, summary, external_id,
                    created_ms, athlete_id
             FROM life_events WHERE tenant_id = ?1 AND id = ?2",
        )?
        .query_row(params![tenant_row, id], |r| {
            Ok((r.get(8)?, life_event_record(r)?))
        })
        .optional()?)
}

/// Deletes a life event of the tenant; whether there was one.
pub fn delete_life_event(conn: &Connection, tenant_row: i64, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM life_events WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_row, id],
    )? > 0)
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
    fn the_range_queries_use_their_indexes() {
        let conn = &database();
        for (sql, index) in [
            (DAILY_SQL, "daily_metrics_by_day"),
            (LOADS_SQL, "activities_by_athlete_start"),
            (PLANS_SQL, "daily_plans_by_day"),
            (LIFE_EVENTS_SQL, "life_events_by_athlete"),
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

    fn setup(conn: &Connection) -> (i64, i64, i64) {
        let tenant = ensure_tenant(
            conn,
            &paceline_schemas::TenantId::new("t".to_owned()).unwrap(),
            1,
        )
        .unwrap();
        let ana = ensure_athlete(conn, tenant, "Ana", None, 1).unwrap();
        let ben = ensure_athlete(conn, tenant, "Ben", None, 1).unwrap();
        (tenant, ana, ben)
    }

    #[test]
    fn daily_metrics_are_patched_per_source_and_read_by_range() {
        let conn = &database();
        let (t, ana, ben) = setup(conn);
        let first = DailyPatch {
            resting_hr_bpm: Some(Some(48.0)),
            hrv_ms: Some(Some(62.5)),
            energy: Some(Some(4)),
            note: Some(Some("legs ok".into())),
            ..DailyPatch::default()
        };
        upsert_daily(conn, t, ana, "2026-12-05", MetricSource::Manual, first, 10).unwrap();
        // A second change keeps what it does not name and clears what it sets to null.
        let second = DailyPatch {
            hrv_ms: Some(Some(70.0)),
            note: Some(None),
            ..DailyPatch::default()
        };
        let row =
            upsert_daily(conn, t, ana, "2026-12-05", MetricSource::Manual, second, 20).unwrap();
        assert_eq!(
            row,
            DailyRecord {
                date: "2026-12-05".into(),
                source: "manual".into(),
                resting_hr_bpm: Some(48.0),
                hrv_ms: Some(70.0),
                energy: Some(4),
                updated_ms: 20,
                ..DailyRecord::default()
            }
        );
        let garmin = DailyPatch {
            sleep_s: Some(Some(27_000.0)),
            ..DailyPatch::default()
        };
        upsert_daily(conn, t, ana, "2026-12-05", MetricSource::Garmin, garmin, 30).unwrap();
        upsert_daily(
            conn,
            t,
            ana,
            "2026-12-07",
            MetricSource::Manual,
            DailyPatch::default(),
            30,
        )
        .unwrap();
        let days = daily_between(conn, t, ana, "2026-12-01", "2026-12-06").unwrap();
        assert_eq!(
            days.iter()
                .map(|d| (d.date.as_str(), d.source.as_str()))
                .collect::<Vec<_>>(),
            [("2026-12-05", "garmin"), ("2026-12-05", "manual")]
        );
        assert_eq!(days[1], row);
        assert!(
            daily_between(conn, t, ben, "2026-01-01", "2026-12-31")
                .unwrap()
                .is_empty()
        );
        assert!(
            daily_between(conn, t + 1, ana, "2026-01-01", "2026-12-31")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn loads_skip_flagged_activities_and_activities_without_load() {
        let conn = &database();
        let (t, ana, ben) = setup(conn);
        let insert = |athlete: i64, start: i64, offset: Option<i32>, tss: Option<f64>, flag| {
            conn.execute(
                "INSERT INTO activities (tenant_id, athlete_id, sport, start_ms, local_offset_s,
                     duration_s, tss, flagged_reason, provenance_json, created_ms, updated_ms)
                 VALUES (?1, ?2, 'running', ?3, ?4, 3600, ?5, ?6, '{}', 1, 1)",
                params![t, athlete, start, offset, tss, flag],
            )
            .unwrap();
        };
        insert(ana, 1_000, Some(3600), Some(50.0), None::<String>);
        insert(ana, 2_000, None, Some(70.0), None);
        insert(ana, 3_000, Some(-18_000), None, None);
        insert(
            ana,
            4_000,
            Some(7200),
            Some(90.0),
            Some("starts_in_future".into()),
        );
        insert(ben, 5_000, Some(0), Some(10.0), None);
        let mut loads = activity_loads(conn, t, ana).unwrap();
        loads.sort_by_key(|l| l.start_ms);
        assert_eq!(
            loads,
            [
                ActivityLoad {
                    start_ms: 1_000,
                    local_offset_s: Some(3600),
                    tss: 50.0
                },
                ActivityLoad {
                    start_ms: 2_000,
                    local_offset_s: None,
                    tss: 70.0
                },
            ]
        );
        assert_eq!(latest_local_offset(conn, t, ana).unwrap(), Some(7200));
        assert_eq!(latest_local_offset(conn, t, ben).unwrap(), Some(0));
        assert!(activity_loads(conn, t + 1, ana).unwrap().is_empty());
    }

    #[test]
    fn settings_plans_and_life_events_round_trip_per_athlete() {
        let conn = &database();
        let (t, ana, ben) = setup(conn);
        assert_eq!(settings(conn, t, ana).unwrap(), None);
        let value = serde_json::json!({"goal": {"kind": "general_fitness"}});
        set_settings(conn, t, ana, &value, 5).unwrap();
        set_settings(conn, t, ana, &value, 6).unwrap();
        assert_eq!(settings(conn, t, ana).unwrap(), Some(value.clone()));
        assert_eq!(settings(conn, t, ben).unwrap(), None);

        let plan_json = serde_json::json!({"kind": "easy"});
        let why = serde_json::json!(["recovery is red"]);
        let new = NewDailyPlan {
            date: "2026-12-06",
            plan: &plan_json,
            why: &why,
            inputs: &value,
            inputs_digest: "abc",
        };
        let stored = store_plan(conn, t, ana, new, 7).unwrap();
        assert_eq!((stored.plan_id, stored.created_ms), (None, 7));
        conn.execute(
            "INSERT INTO plans (tenant_id, name, format, plan_json, created_ms)
             VALUES (?1, 'Today', 'paceline', '{}', 1)",
            params![t],
        )
        .unwrap();
        let workout = conn.last_insert_rowid();
        set_plan_row(conn, t, ana, "2026-12-06", workout).unwrap();
        let started = plans_between(conn, t, ana, "2026-12-06", "2026-12-06").unwrap();
        assert_eq!(started[0].plan_id, Some(workout));
        // Regenerated, the plan forgets the workout made of the one it replaces.
        let again = store_plan(
            conn,
            t,
            ana,
            NewDailyPlan {
                inputs_digest: "def",
                ..new
            },
            8,
        )
        .unwrap();
        assert_eq!(
            (again.id, again.inputs_digest.as_str(), again.plan_id),
            (stored.id, "def", None)
        );
        assert_eq!(
            plans_between(conn, t, ana, "2026-12-01", "2026-12-07")
                .unwrap()
                .len(),
            1
        );
        assert!(
            plans_between(conn, t, ben, "2026-12-01", "2026-12-07")
                .unwrap()
                .is_empty()
        );

        let event = LifeEventRecord {
            id: 0,
            kind: "travel".into(),
            from_date: "2026-12-08".into(),
            to_date: "2026-12-10".into(),
            minutes_available: Some(35),
            summary: Some("Conference".into()),
            external_id: Some("uid-1@cal".into()),
            created_ms: 0,
        };
        add_life_event(conn, t, ana, &event, 9).unwrap();
        // The same calendar event again replaces it.
        let second = add_life_event(conn, t, ana, &event, 10).unwrap();
        let listed = life_events_between(conn, t, ana, "2026-12-10", "2026-12-12").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id, listed[0].created_ms), (second, 10));
        assert!(
            life_events_between(conn, t, ana, "2026-12-11", "2026-12-12")
                .unwrap()
                .is_empty()
        );
        assert_eq!(life_event(conn, t, second).unwrap().unwrap().0, ana);
        assert!(life_event(conn, t + 1, second).unwrap().is_none());
        assert!(!delete_life_event(conn, t + 1, second).unwrap());
        assert!(delete_life_event(conn, t, second).unwrap());
        assert!(life_event(conn, t, second).unwrap().is_none());
    }
}
