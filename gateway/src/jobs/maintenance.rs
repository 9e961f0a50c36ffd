//! Retention: rows past their period are removed, and the space they took is given back.
//!
//! What is kept how long is the data registry's (`paceline-privacy`): raw samples and
//! the sealed frames they came in 730 days by default, the audit 730 days; activity and
//! session summaries and the training load computed from them stay. `paceline maintenance
//! run` does a pass by hand, printing its progress; the gateway runs one a day
//! ([`run_job`]).
//!
//! **Invariants.** Rows go in batches of [`BATCH_ROWS`], each its own transaction through
//! the store's writer, so live writes wait at most one batch. Only tables the registry
//! gives a period are touched, only rows whose time column is older than the cutoff.
//! Space comes back by `PRAGMA incremental_vacuum` in steps (stores created since this
//! module have `auto_vacuum = INCREMENTAL`; an older store is converted by one full
//! `VACUUM` when asked with `--vacuum`, which needs as much free disk as the database).

use paceline_privacy::{REGISTRY, Retention};
use rusqlite::params;

use crate::store::{Store, StoreError, to_i64};

/// Rows removed per transaction.
pub const BATCH_ROWS: i64 = 10_000;
/// Free pages given back per `incremental_vacuum` step.
const VACUUM_STEP_PAGES: i64 = 2_000;

/// The periods in force, days (`None`: the registry's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionDays {
    /// Raw samples and frames.
    pub raw: Option<u32>,
    /// The audit log.
    pub audit: Option<u32>,
}

/// What a pass did, or is doing (as progress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Rows of a table removed so far, older than `cutoff_ms`.
    Pruned {
        /// The table.
        table: &'static str,
        /// Rows removed so far in this pass.
        rows: u64,
        /// The cutoff, ms since the epoch.
        cutoff_ms: u64,
    },
    /// Free pages given back so far, of those free when it began.
    Vacuumed {
        /// Given back so far.
        pages: i64,
        /// Free at the start.
        of: i64,
        /// The page size, bytes.
        page_size: i64,
    },
    /// The store has no incremental vacuum (created before it): run with `--vacuum` once.
    NeedsFullVacuum {
        /// Free pages that a full `VACUUM` would give back.
        free_pages: i64,
        /// The page size, bytes.
        page_size: i64,
    },
}

/// One pass: rows past their period removed, table by table, then free space given back;
/// `progress` hears about each batch. Returns the rows removed per table.
pub fn run_pass(
    store: &Store,
    now_ms: u64,
    days: RetentionDays,
    full_vacuum: bool,
    mut progress: impl FnMut(&Progress),
) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let mut removed = Vec::new();
    // Each tenant's raw-sample period: its own setting, else the pass's, else the
    // registry's default.
    let tenants: Vec<(i64, Option<u32>)> = store.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT t.id, s.raw_samples_days FROM tenants t
             LEFT JOIN tenant_privacy_settings s ON s.tenant_id = t.id ORDER BY t.id",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    for table in REGISTRY {
        let Retention::Days { time_column, .. } = table.retention else {
            continue;
        };
        let raw = matches!(table.name, "frames" | "samples");
        let override_days = match table.name {
            "frames" | "samples" => days.raw,
            "audit_log" => days.audit,
            _ => None,
        };
        let mut rows = 0u64;
        if raw {
            for (tenant_row, tenant_days) in &tenants {
                let Some(cutoff_ms) = table
                    .retention
                    .cutoff_ms(now_ms, tenant_days.or(override_days))
                else {
                    continue;
                };
                // Names from the registry (constants), never from input.
                let sql = format!(
                    "DELETE FROM {name} WHERE rowid IN
                         (SELECT rowid FROM {name} WHERE tenant_id = ?3 AND {time_column} < ?1 LIMIT ?2)",
                    name = table.name
                );
                rows += prune(
                    store,
                    &sql,
                    cutoff_ms,
                    Some(*tenant_row),
                    table.name,
                    rows,
                    &mut progress,
                )?;
            }
        } else {
            let Some(cutoff_ms) = table.retention.cutoff_ms(now_ms, override_days) else {
                continue;
            };
            let sql = format!(
                "DELETE FROM {name} WHERE rowid IN
                     (SELECT rowid FROM {name} WHERE {time_column} < ?1 LIMIT ?2)",
                name = table.name
            );
            rows += prune(
                store,
                &sql,
                cutoff_ms,
                None,
                table.name,
                rows,
                &mut progress,
            )?;
        }
        removed.push((table.name, rows));
    }
    // Raw recordings kept in a column of a table that stays (an activity copy's samples
    // as FIT): cleared after each tenant's raw-sample period; the summaries stay.
    for column in paceline_privacy::RAW_COLUMNS {
        let mut rows = 0u64;
        for (tenant_row, tenant_days) in &tenants {
            let Some(cutoff_ms) = Retention::Days {
                default_days: Retention::RAW_SAMPLES_DAYS,
                time_column: column.time_column,
            }
            .cutoff_ms(now_ms, tenant_days.or(days.raw)) else {
                continue;
            };
            let sql = format!(
                "UPDATE {table} SET {name} = NULL WHERE rowid IN
                     (SELECT rowid FROM {table} WHERE tenant_id = ?3 AND {time} < ?1
                        AND {name} IS NOT NULL LIMIT ?2)",
                table = column.table,
                name = column.column,
                time = column.time_column,
            );
            rows += prune(
                store,
                &sql,
                cutoff_ms,
                Some(*tenant_row),
                column.label,
                rows,
                &mut progress,
            )?;
        }
        removed.push((column.label, rows));
    }
    let expired = crate::privacy::data_export::sweep(store, now_ms, false)?;
    removed.push(("privacy_exports", u64::try_from(expired).unwrap_or(0)));
    give_back_space(store, full_vacuum, &mut progress)?;
    Ok(removed)
}

/// Runs `sql` (binding the cutoff, the batch size and the tenant) batch by batch until a
/// batch is short; the rows it changed. `before` rows were counted for `label` already.
fn prune(
    store: &Store,
    sql: &str,
    cutoff_ms: u64,
    tenant_row: Option<i64>,
    label: &'static str,
    before: u64,
    progress: &mut impl FnMut(&Progress),
) -> Result<u64, StoreError> {
    let mut rows = 0u64;
    loop {
        let batch = store.write(|tx| -> Result<usize, StoreError> {
            Ok(match tenant_row {
                Some(tenant) => tx.execute(sql, params![to_i64(cutoff_ms), BATCH_ROWS, tenant])?,
                None => tx.execute(sql, params![to_i64(cutoff_ms), BATCH_ROWS])?,
            })
        })?;
        rows += batch as u64;
        progress(&Progress::Pruned {
            table: label,
            rows: before + rows,
            cutoff_ms,
        });
        if i64::try_from(batch).unwrap_or(i64::MAX) < BATCH_ROWS {
            return Ok(rows);
        }
    }
}

/// Free pages back to the file system: incrementally when the store allows it, by one
/// full `VACUUM` when asked, else a note that it is needed. On a connection of its own
/// (`VACUUM` cannot run inside the writer's transactions); it waits for the writer's
/// lock like any writer (the busy timeout).
fn give_back_space(
    store: &Store,
    full_vacuum: bool,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), StoreError> {
    let conn = crate::store::connect(store.path())?;
    let pragma = |name: &str| -> Result<i64, StoreError> {
        Ok(conn.pragma_query_value(None, name, |r| r.get(0))?)
    };
    let page_size = pragma("page_size")?;
    let free = pragma("freelist_count")?;
    // 2 = INCREMENTAL.
    if pragma("auto_vacuum")? != 2 {
        if full_vacuum {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
            progress(&Progress::Vacuumed {
                pages: free,
                of: free,
                page_size,
            });
        } else if free > 0 {
            progress(&Progress::NeedsFullVacuum {
                free_pages: free,
                page_size,
            });
        }
        return Ok(());
    }
    let mut given = 0;
    while given < free {
        let mut statement =
            conn.prepare(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))?;
        let mut rows = statement.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        let now_given = free - pragma("freelist_count")?;
        if now_given <= given {
            break;
        }
        given = now_given;
        progress(&Progress::Vacuumed {
            pages: given,
            of: free,
            page_size,
        });
    }
    Ok(())
}

/// How often the gateway runs a pass.
pub const JOB_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The retention job: a pass a day (the first a day after start) while `running` holds,
/// checked every second; never a full `VACUUM` (that is by hand).
pub fn run_job(
    live: &crate::live::Live,
    days: RetentionDays,
    running: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    loop {
        let mut waited = std::time::Duration::ZERO;
        while waited < JOB_EVERY {
            if !running.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            waited += std::time::Duration::from_secs(1);
        }
        match run_pass(live.store(), live.clock().now_ms(), days, false, |_| {}) {
            Ok(removed) => {
                for (table, rows) in removed {
                    tracing::info!(table, rows, "retention pass");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the retention pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ensure_athlete, ensure_tenant, prepare_data_dir};

    const DAY_MS: u64 = 86_400_000;

    /// A store with 3 samples and 3 frames of an old session (800 days ago), 2 of a recent
    /// one (10 days ago), and audit rows either side of 730 days.
    fn store_with_old_and_new_rows(now_ms: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| -> Result<(), StoreError> {
                let tenant = paceline_schemas::TenantId::new("gym".to_owned()).unwrap();
                let t = ensure_tenant(tx, &tenant, 1)?;
                let a = ensure_athlete(tx, t, "Ana", None, 1)?;
                tx.execute(
                    "INSERT INTO devices (tenant_id, device_id, athlete_id, key_sealed, token_sha256, created_ms)
                     VALUES (?1, 'dev-1', ?2, x'00', x'00', 1)",
                    params![t, a],
                )?;
                let device = tx.last_insert_rowid();
                for (session, age_days, count) in [("old", 800, 3), ("new", 10, 2)] {
                    let at = to_i64(now_ms - age_days * DAY_MS);
                    tx.execute(
                        "INSERT INTO sessions (tenant_id, device_row, athlete_id, session_id, status,
                             started_ms, last_frame_ms, acked_seq)
                         VALUES (?1, ?2, ?3, ?4, 'ended', ?5, ?5, 0)",
                        params![t, device, a, session, at],
                    )?;
                    let s = tx.last_insert_rowid();
                    for seq in 0..count {
                        tx.execute(
                            "INSERT INTO frames (tenant_id, device_row, session_row, seq, kind, sent_ms,
                                 received_ms, send_time, body)
                             VALUES (?1, ?2, ?3, ?4, 'samples', ?5, ?5, 'plausible', x'00')",
                            params![t, device, s, seq, at + seq],
                        )?;
                        tx.execute(
                            "INSERT INTO samples (session_row, tenant_id, frame_seq, t_ms, received_ms,
                                 kind, heart_rate)
                             VALUES (?1, ?2, ?3, ?4, ?5, 'hr', 140)",
                            params![s, t, seq, seq * 1000, at + seq],
                        )?;
                    }
                }
                for age_days in [731, 729] {
                    tx.execute(
                        "INSERT INTO audit_log (tenant_id, action, at_ms) VALUES (?1, 'login', ?2)",
                        params![t, to_i64(now_ms - age_days * DAY_MS)],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    /// The rows removed from the tables these tests fill.
    fn raw_and_audit(removed: Vec<(&'static str, u64)>) -> Vec<(&'static str, u64)> {
        removed
            .into_iter()
            .filter(|(t, _)| matches!(*t, "frames" | "samples" | "audit_log"))
            .collect()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .read(|c| {
                Ok::<i64, StoreError>(c.query_row(
                    &format!("SELECT COUNT(*) FROM {table}"),
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    }

    #[test]
    fn rows_past_their_period_go_and_the_rest_and_the_summaries_stay() {
        let now_ms = 2_000 * DAY_MS;
        let (_dir, store) = store_with_old_and_new_rows(now_ms);
        let mut heard = Vec::new();
        let removed = raw_and_audit(
            run_pass(&store, now_ms, RetentionDays::default(), false, |p| {
                heard.push(p.clone());
            })
            .unwrap(),
        );
        assert_eq!(
            removed,
            [("frames", 3), ("samples", 3), ("audit_log", 1)],
            "the old session's frames and samples, the audit row past 730 days"
        );
        assert_eq!(
            (
                count(&store, "frames"),
                count(&store, "samples"),
                count(&store, "audit_log")
            ),
            (2, 2, 1)
        );
        assert_eq!(
            count(&store, "sessions"),
            2,
            "sessions (and their summaries) stay"
        );
        assert!(heard.contains(&Progress::Pruned {
            table: "samples",
            rows: 3,
            cutoff_ms: (2_000 - 730) * DAY_MS
        }));
        // A shorter period set by hand takes the new session's rows too.
        let removed = raw_and_audit(
            run_pass(
                &store,
                now_ms,
                RetentionDays {
                    raw: Some(5),
                    audit: None,
                },
                false,
                |_| {},
            )
            .unwrap(),
        );
        assert_eq!(removed, [("frames", 2), ("samples", 2), ("audit_log", 0)]);
    }

    #[test]
    fn a_new_store_gives_space_back_incrementally() {
        let now_ms = 2_000 * DAY_MS;
        let (_dir, store) = store_with_old_and_new_rows(now_ms);
        let auto_vacuum: i64 = store
            .read(|c| {
                Ok::<i64, StoreError>(c.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(auto_vacuum, 2, "INCREMENTAL from the first migration");
        // Enough old rows to fill pages: 20,000 samples of the old session.
        store
            .write(|tx| -> Result<(), StoreError> {
                let s: i64 = tx.query_row("SELECT id FROM sessions WHERE session_id = 'old'", [], |r| r.get(0))?;
                let mut insert = tx.prepare(
                    "INSERT INTO samples (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate)
                     VALUES (?1, 1, ?2, ?2, ?3, 'hr', 140)",
                )?;
                for seq in 10..20_010 {
                    insert.execute(params![s, seq, to_i64(now_ms - 800 * DAY_MS)])?;
                }
                Ok(())
            })
            .unwrap();
        let pages = |store: &Store| {
            store
                .read(|c| {
                    Ok::<i64, StoreError>(c.pragma_query_value(None, "page_count", |r| r.get(0))?)
                })
                .unwrap()
        };
        let before = pages(&store);
        let mut vacuumed = None;
        run_pass(&store, now_ms, RetentionDays::default(), false, |p| {
            if let Progress::Vacuumed { pages, of, .. } = p {
                vacuumed = Some((*pages, *of));
            }
        })
        .unwrap();
        let (given, of) = vacuumed.expect("space given back");
        assert!(given > 0 && given == of, "{given} of {of}");
        assert_eq!(
            pages(&store),
            before - given,
            "the file shrank by the pages given"
        );
    }

    #[test]
    fn a_tenant_setting_shortens_its_raw_period_and_old_recordings_lose_their_samples() {
        let now_ms = 1000 * DAY_MS;
        let (_dir, store) = store_with_old_and_new_rows(now_ms);
        store
            .write(|tx| -> Result<(), StoreError> {
                for age_days in [800, 10] {
                    let at = to_i64(now_ms - age_days * DAY_MS);
                    tx.execute(
                        "INSERT INTO activities (tenant_id, athlete_id, sport, start_ms, duration_s,
                             tss, provenance_json, created_ms, updated_ms)
                         VALUES (1, 1, 'ride', ?1, 3600, 80, '{}', ?1, ?1)",
                        params![at],
                    )?;
                    tx.execute(
                        "INSERT INTO activity_sources (activity_id, tenant_id, athlete_id, kind, sport,
                             start_ms, duration_s, fields_json, samples_fit, created_ms)
                         VALUES (last_insert_rowid(), 1, 1, 'file', 'ride', ?1, 3600, '{}', x'0e10', ?1)",
                        params![at],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let fits = |store: &Store| -> i64 {
            store
                .read(|c| {
                    Ok(c.query_row(
                        "SELECT count(*) FROM activity_sources WHERE samples_fit IS NOT NULL",
                        [],
                        |r| r.get(0),
                    )?)
                })
                .unwrap()
        };
        let removed = run_pass(&store, now_ms, RetentionDays::default(), false, |_| {}).unwrap();
        assert!(
            removed.contains(&("activity_sources.samples_fit", 1)),
            "{removed:?}"
        );
        assert_eq!((count(&store, "samples"), fits(&store)), (2, 1));
        // The gym keeps raw samples 5 days: the 10-day-old ride's go too; summaries stay.
        store
            .write(|tx| -> Result<(), StoreError> {
                tx.execute(
                    "INSERT INTO tenant_privacy_settings (tenant_id, raw_samples_days, updated_ms)
                     VALUES (1, 5, 0)",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let removed = run_pass(&store, now_ms, RetentionDays::default(), false, |_| {}).unwrap();
        assert!(removed.contains(&("samples", 2)), "{removed:?}");
        assert_eq!(
            (
                count(&store, "samples"),
                count(&store, "frames"),
                fits(&store)
            ),
            (0, 0, 0)
        );
        assert_eq!(count(&store, "activities"), 2, "the summaries stay");
    }
}
