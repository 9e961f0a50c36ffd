//! The activity library's writes: a copy imported (deduplicated, merged or new), an
//! activity split, a tenant's precedence applied, and an ended live session taken in.
//! The rules are `paceline-activities`'; the rows are [`crate::store::activities`]'; the
//! API, the `paceline import` command and the library job all call these functions, each
//! inside one transaction per copy (a failure stores nothing of that copy).
//!
//! **Duplicate.** A copy is a duplicate, and nothing is stored, when it is the same copy
//! as one stored (same source and external id, or the same SHA-256 of its content), or
//! when it is a *file* copy that would merge into an activity already holding a file copy
//! of the same format that is the same workout (same sport family, start ±5 min, duration
//! ±5 %): our own FIT export of an activity imported from a FIT file hashes differently
//! from the original but is the same recording again. A file of another format (a TCX
//! made from the FIT) merges as a new copy. And a file Paceline exported (its device
//! field says `Paceline export of activity N`, see [`export_device`]) that matches
//! activity `N` is a duplicate of it, whatever its format: exporting an activity and
//! importing the file again changes nothing.
//!
//! **A file that names no sport** (a GPX without `<type>`, as gpsbabel writes it) reads as
//! sport `other`; before matching, it takes the sport of a stored copy it matches by start
//! (±5 min) and duration (±5 %), so it merges like any other copy of that workout.

use std::time::Duration;

use paceline_activities::FileFormat;
use paceline_activities::matching::{START_TOLERANCE_MS, same_workout};
use paceline_activities::{
    ActivityCopies, ActivityId, CopyId, LoadThresholds, MatchDecision, Precedence, SourceCopy,
    SourceKind, merge, merge_candidate, unmerge,
};
use paceline_formats::{FileEntry, Format, Limits, Point, Recording, Sport, Totals};
use rusqlite::Connection;

use crate::store::activities::{self as rows, CopyExtras};
use crate::store::{Store, StoreError};

/// The size caps of imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Largest file (and largest file decompressed, also inside an archive), bytes. A zip
    /// archive itself may be as large as an upload.
    pub max_file_bytes: u64,
    /// Largest upload (all its files together, as sent), bytes.
    pub max_upload_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> ImportLimits {
        ImportLimits {
            max_file_bytes: 64 * 1024 * 1024,
            max_upload_bytes: 256 * 1024 * 1024,
        }
    }
}

impl ImportLimits {
    /// The cap of a file that starts with `head`: an upload's for a zip archive (a bulk
    /// export), a file's otherwise.
    pub fn cap_of(&self, head: &[u8]) -> u64 {
        if head.starts_with(b"PK") {
            self.max_upload_bytes.max(self.max_file_bytes)
        } else {
            self.max_file_bytes
        }
    }
}

/// What became of one imported copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// A new activity.
    Imported,
    /// Another copy of an existing activity.
    Merged,
    /// A copy already stored: nothing changed.
    Duplicate,
    /// A new activity whose clock is not believed, never merged automatically.
    Flagged,
}

impl ImportStatus {
    /// The status's name in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Imported => "imported",
            ImportStatus::Merged => "merged",
            ImportStatus::Duplicate => "duplicate",
            ImportStatus::Flagged => "flagged",
        }
    }
}

/// The outcome of importing one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// What became of it.
    pub status: ImportStatus,
    /// The activity holding it (or the one it duplicates).
    pub activity_id: i64,
}

/// Whose library a copy goes into.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The athlete's row.
    pub athlete_row: i64,
}

/// The athlete's load numbers, or `None` if the athlete is not the tenant's.
pub fn thresholds(conn: &Connection, owner: Owner) -> Result<Option<LoadThresholds>, StoreError> {
    rows::athlete_thresholds(conn, owner.tenant_row, owner.athlete_row)
}

/// The samples of a recording as stored with its copy: a FIT file.
pub fn samples_fit(recording: &Recording) -> Option<Vec<u8>> {
    (!recording.points.is_empty()).then(|| paceline_formats::fit::write::write_recording(recording))
}

/// Imports `copy` into the owner's library (see the module docs for `duplicate`).
pub fn import_copy(
    conn: &Connection,
    owner: Owner,
    copy: &SourceCopy,
    extras: CopyExtras<'_>,
    now_ms: u64,
) -> Result<Imported, StoreError> {
    let Owner {
        tenant_row,
        athlete_row,
    } = owner;
    if let Some((activity, _)) = rows::find_same_copy(conn, tenant_row, athlete_row, copy)? {
        return Ok(Imported {
            status: ImportStatus::Duplicate,
            activity_id: activity.0,
        });
    }
    let near = rows::activities_near(
        conn,
        tenant_row,
        athlete_row,
        copy.start_ms.saturating_sub(START_TOLERANCE_MS),
        copy.start_ms.saturating_add(START_TOLERANCE_MS),
    )?;
    let copy = &with_sport_of_match(copy, &near);
    let now = crate::store::to_i64(now_ms);
    let (activity_id, status) = match merge_candidate(&near, copy, now) {
        MatchDecision::SameCopy { activity, .. } => {
            return Ok(Imported {
                status: ImportStatus::Duplicate,
                activity_id: activity.0,
            });
        }
        MatchDecision::MergeInto(activity) => {
            if extras.exported_from == Some(activity.0) || holds_same_file(&near, activity, copy) {
                return Ok(Imported {
                    status: ImportStatus::Duplicate,
                    activity_id: activity.0,
                });
            }
            (activity.0, ImportStatus::Merged)
        }
        MatchDecision::New => {
            let id =
                rows::insert_activity(conn, tenant_row, athlete_row, copy.start_ms, None, now_ms)?;
            (id, ImportStatus::Imported)
        }
        MatchDecision::Flagged(skew) => {
            let id = rows::insert_activity(
                conn,
                tenant_row,
                athlete_row,
                copy.start_ms,
                Some(skew.as_str()),
                now_ms,
            )?;
            (id, ImportStatus::Flagged)
        }
    };
    rows::insert_source(
        conn,
        tenant_row,
        athlete_row,
        activity_id,
        copy,
        extras,
        now_ms,
    )?;
    let precedence = rows::precedence(conn, tenant_row)?;
    refresh(conn, tenant_row, activity_id, &precedence, now_ms)?;
    Ok(Imported {
        status,
        activity_id,
    })
}

/// The device an export of activity `activity_id` names, after the device it was
/// recorded with: `Paceline export of activity 12 (Garmin Edge 810)`.
pub fn export_device(activity_id: i64, recorded_with: Option<&str>) -> String {
    match recorded_with {
        Some(device) if !device.starts_with(EXPORT_DEVICE) => {
            format!("{EXPORT_DEVICE}{activity_id} ({device})")
        }
        _ => format!("{EXPORT_DEVICE}{activity_id}"),
    }
}

const EXPORT_DEVICE: &str = "Paceline export of activity ";

/// The activity a recording's device names it an export of, if it does.
pub fn exported_from(recording: &Recording) -> Option<i64> {
    let rest = recording.device.as_deref()?.strip_prefix(EXPORT_DEVICE)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `copy`, with the sport of the first stored copy it matches by start and duration when
/// it is a file that names no sport.
fn with_sport_of_match(copy: &SourceCopy, near: &[ActivityCopies]) -> SourceCopy {
    let mut copy = copy.clone();
    if copy.kind == SourceKind::File && copy.sport == Sport::Other {
        let matched = near
            .iter()
            .flat_map(|a| &a.copies)
            .filter(|s| s.copy.sport != Sport::Other)
            .find(|s| {
                same_workout(
                    &s.copy,
                    &SourceCopy {
                        sport: s.copy.sport,
                        ..copy.clone()
                    },
                )
            });
        if let Some(stored) = matched {
            copy.sport = stored.copy.sport;
        }
    }
    copy
}

/// Whether `activity` already holds a file copy of `copy`'s format that is the same
/// workout.
fn holds_same_file(near: &[ActivityCopies], activity: ActivityId, copy: &SourceCopy) -> bool {
    copy.kind == SourceKind::File
        && near
            .iter()
            .filter(|a| a.activity == activity)
            .flat_map(|a| &a.copies)
            .any(|s| {
                s.copy.kind == SourceKind::File
                    && s.copy.format == copy.format
                    && same_workout(&s.copy, copy)
            })
}

/// Merges an activity's copies afresh and stores the result.
pub fn refresh(
    conn: &Connection,
    tenant_row: i64,
    activity_id: i64,
    precedence: &Precedence,
    now_ms: u64,
) -> Result<(), StoreError> {
    let copies = rows::copies_of(conn, tenant_row, activity_id)?;
    let merged = merge(&copies, precedence).map_err(|e| StoreError::Corrupt {
        what: "activity",
        row: activity_id,
        reason: e.to_string(),
    })?;
    rows::store_merged(conn, tenant_row, activity_id, &merged, now_ms)
}

/// Why a copy could not be split out of an activity.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The rules refused.
    #[error(transparent)]
    Rule(#[from] paceline_activities::UnmergeError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Splits copy `source_id` out of activity `activity_id` (of `athlete_row`) into a new
/// activity: returns the new activity's row.
pub fn split(
    conn: &Connection,
    owner: Owner,
    activity_id: i64,
    source_id: i64,
    now_ms: u64,
) -> Result<i64, SplitError> {
    let copies = rows::copies_of(conn, owner.tenant_row, activity_id)?;
    let precedence = rows::precedence(conn, owner.tenant_row)?;
    let parts = unmerge(&copies, CopyId(source_id), &precedence)?;
    let new_id = rows::insert_activity(
        conn,
        owner.tenant_row,
        owner.athlete_row,
        parts.split.start_ms,
        None,
        now_ms,
    )?;
    rows::move_source(conn, owner.tenant_row, source_id, new_id)?;
    refresh(conn, owner.tenant_row, activity_id, &precedence, now_ms)?;
    refresh(conn, owner.tenant_row, new_id, &precedence, now_ms)?;
    Ok(new_id)
}

/// Sets the tenant's precedence and merges every activity with several copies afresh.
pub fn set_precedence(
    conn: &Connection,
    tenant_row: i64,
    precedence: &Precedence,
    now_ms: u64,
) -> Result<(), StoreError> {
    rows::set_precedence(conn, tenant_row, precedence, now_ms)?;
    for activity_id in rows::merged_activities(conn, tenant_row)? {
        refresh(conn, tenant_row, activity_id, precedence, now_ms)?;
    }
    Ok(())
}

/// What became of one file, or one activity of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file's name (`export.zip/activities/1.fit.gz` for an archive's entry).
    pub file: String,
    /// Imported, or why not.
    pub result: Result<Imported, String>,
}

/// A copy of a file entry for the library.
fn entry_copy(entry: &FileEntry, recording: &Recording, thresholds: &LoadThresholds) -> SourceCopy {
    let format = entry.format.map(|f| match f {
        Format::Fit => FileFormat::Fit,
        Format::Tcx => FileFormat::Tcx,
        Format::Gpx => FileFormat::Gpx,
        Format::Csv => FileFormat::Csv,
    });
    SourceCopy::from_recording(
        SourceKind::File,
        format,
        entry.external_id.clone(),
        Some(entry.sha256),
        recording,
        thresholds,
    )
}

/// Reads one uploaded file (any format, gzip'd, or an archive of many) within `limits`
/// and imports each activity in it, each in its own transaction: one outcome per
/// activity, a bad one failing alone.
pub fn import_file(
    store: &Store,
    owner: Owner,
    name: &str,
    bytes: &[u8],
    limits: ImportLimits,
    now_ms: u64,
) -> Vec<FileOutcome> {
    let failed = |file: &str, error: String| FileOutcome {
        file: file.to_owned(),
        result: Err(error),
    };
    let format_limits = Limits {
        max_bytes: limits.cap_of(bytes),
        ..Limits::default()
    };
    let entries = match paceline_formats::read_file(name, bytes, &format_limits) {
        Ok(entries) => entries,
        Err(e) => return vec![failed(name, e.to_string())],
    };
    if entries.is_empty() {
        return vec![failed(name, "no activity file in it".to_owned())];
    }
    let thresholds = match store.read(|conn| thresholds(conn, owner)) {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => return vec![failed(name, e.to_string())],
    };
    entries
        .into_iter()
        .map(|entry| {
            let recording = match &entry.result {
                Ok(recording) if recording.points.is_empty() => {
                    return failed(&entry.name, "the file holds no recorded points".to_owned());
                }
                Ok(recording) => recording,
                Err(e) => return failed(&entry.name, e.to_string()),
            };
            let copy = entry_copy(&entry, recording, &thresholds);
            let fit = samples_fit(recording);
            let imported = store.write(|tx| {
                import_copy(
                    tx,
                    owner,
                    &copy,
                    CopyExtras {
                        file_name: Some(&entry.name),
                        manual_original: None,
                        samples_fit: fit.as_deref(),
                        exported_from: exported_from(recording),
                    },
                    now_ms,
                )
            });
            let result = imported.map_err(|e| {
                tracing::error!(error = %e, "an activity import failed");
                "the server could not store it".to_owned()
            });
            FileOutcome {
                file: entry.name,
                result,
            }
        })
        .collect()
}

/// Sessions the library job takes per pass.
pub const SESSIONS_PER_PASS: u32 = 20;
/// How often the library job looks for ended sessions.
pub const JOB_EVERY: Duration = Duration::from_secs(2);

/// A live session's stored samples as a recording: one point per sensor time, the values
/// of the samples at that time together.
pub fn session_recording(
    conn: &Connection,
    tenant_row: i64,
    session_row: i64,
    started_ms: i64,
) -> Result<Recording, StoreError> {
    let samples = crate::privacy::export::load_samples(conn, tenant_row, session_row)?;
    let mut points: Vec<Point> = Vec::new();
    for s in samples {
        let t_ms = u64::try_from(s.t_ms).unwrap_or(0);
        if points.last().is_none_or(|p| p.t_ms != t_ms) {
            points.push(Point {
                t_ms,
                ..Point::default()
            });
        }
        let Some(point) = points.last_mut() else {
            continue;
        };
        if let Some(hr) = s.heart_rate.and_then(|h| u16::try_from(h).ok()) {
            point.heart_rate_bpm = Some(hr);
        }
        if let Some(p) = s.power_w.filter(|p| p.is_finite() && *p >= 0.0) {
            #[allow(clippy::cast_possible_truncation, reason = "clamped to u16's range")]
            let watts = p.round().min(f64::from(u16::MAX)) as u16;
            point.power_w = Some(watts);
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "sensor values, f32 precision"
        )]
        {
            if let Some(c) = s.cadence.filter(|c| c.is_finite()) {
                point.cadence_rpm = Some(c as f32);
            }
            if let Some(v) = s.speed_mps.filter(|v| v.is_finite()) {
                point.speed_mps = Some(v as f32);
            }
        }
    }
    Ok(Recording {
        sport: Sport::Cycling,
        start_ms: started_ms,
        local_offset_s: None,
        name: Some("Paceline session".to_owned()),
        device: Some("Paceline".to_owned()),
        totals: Totals::default(),
        points,
    })
}

/// One pass of the library job: up to [`SESSIONS_PER_PASS`] ended sessions taken into
/// their athletes' libraries as `paceline` copies (external id: the session's row), each
/// in its own transaction with the mark that it was taken, so a crash repeats a session
/// at most, and the repeat is a duplicate. Returns how many it took.
pub fn take_ended_sessions(store: &Store, now_ms: u64) -> Result<usize, StoreError> {
    let ended = store.read(|conn| rows::ended_sessions_for_library(conn, SESSIONS_PER_PASS))?;
    for session in &ended {
        store.write(|tx| -> Result<(), StoreError> {
            let owner = Owner {
                tenant_row: session.tenant_row,
                athlete_row: session.athlete_row,
            };
            let recording =
                session_recording(tx, session.tenant_row, session.row, session.started_ms)?;
            if !recording.points.is_empty() {
                let thresholds = thresholds(tx, owner)?.unwrap_or_default();
                let copy = SourceCopy::from_recording(
                    SourceKind::Paceline,
                    None,
                    Some(session.row.to_string()),
                    None,
                    &recording,
                    &thresholds,
                );
                let fit = samples_fit(&recording);
                import_copy(
                    tx,
                    owner,
                    &copy,
                    CopyExtras {
                        samples_fit: fit.as_deref(),
                        ..CopyExtras::default()
                    },
                    now_ms,
                )?;
            }
            rows::mark_session_in_library(tx, session.tenant_row, session.row, now_ms)
        })?;
    }
    Ok(ended.len())
}

/// The library job: takes ended live sessions into the library at start and every
/// [`JOB_EVERY`] while `running` holds (a full pass goes again at once). A failed pass
/// is logged and tried again next time.
pub fn run_job(live: &crate::live::Live, running: &std::sync::atomic::AtomicBool) {
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        match take_ended_sessions(live.store(), live.clock().now_ms()) {
            Ok(n) if n == SESSIONS_PER_PASS as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the library job failed a pass"),
        }
        std::thread::sleep(JOB_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use paceline_activities::FieldValues;
    use rusqlite::params;

    use super::*;
    use crate::store::{ensure_athlete, ensure_tenant, prepare_data_dir};

    const START_MS: i64 = 1_765_000_000_000;
    const NOW_MS: u64 = 1_765_100_000_000;

    fn count(store: &Store, sql: &str) -> i64 {
        store
            .read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap()
    }

    /// A store with an athlete and one ended session of 60 s of heart rate and power.
    fn store_with_ended_session() -> (tempfile::TempDir, Store, Owner) {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let owner = store
            .write(|tx| -> Result<Owner, StoreError> {
                let tenant = paceline_schemas::TenantId::new("gym".to_owned()).unwrap();
                let tenant_row = ensure_tenant(tx, &tenant, 1)?;
                let athlete_row = ensure_athlete(tx, tenant_row, "Ana", None, 1)?;
                tx.execute(
                    "INSERT INTO devices (tenant_id, device_id, athlete_id, key_sealed, token_sha256, created_ms)
                     VALUES (?1, 'd-1', ?2, x'00', x'00', 1)",
                    params![tenant_row, athlete_row],
                )?;
                let device_row = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO sessions (tenant_id, device_row, athlete_id, session_id, status,
                         started_ms, last_frame_ms, ended_ms)
                     VALUES (?1, ?2, ?3, 's-1', 'ended', ?4, ?4, ?4)",
                    params![tenant_row, device_row, athlete_row, START_MS],
                )?;
                let session_row = tx.last_insert_rowid();
                for i in 0..60_i64 {
                    for (kind, hr, power) in [("heart_rate", Some(140), None), ("power", None, Some(200.0))] {
                        tx.execute(
                            "INSERT INTO samples (session_row, tenant_id, frame_seq, t_ms, received_ms,
                                 kind, heart_rate, power_w)
                             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
                            params![session_row, tenant_row, i, i * 1000, kind, hr, power],
                        )?;
                    }
                }
                Ok(Owner {
                    tenant_row,
                    athlete_row,
                })
            })
            .unwrap();
        (dir, store, owner)
    }

    #[test]
    fn an_archive_may_be_as_large_as_an_upload_a_file_only_as_a_file() {
        let limits = ImportLimits {
            max_file_bytes: 10,
            max_upload_bytes: 100,
        };
        assert_eq!(limits.cap_of(b"PK\x03\x04..."), 100);
        assert_eq!(limits.cap_of(b".FIT"), 10);
    }

    #[test]
    fn the_library_job_takes_an_ended_session_once() {
        let (_dir, store, _) = store_with_ended_session();
        assert_eq!(take_ended_sessions(&store, NOW_MS).unwrap(), 1);
        assert_eq!(take_ended_sessions(&store, NOW_MS).unwrap(), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM activities"), 1);
        let (kind, external_id, duration_s): (String, String, f64) = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT kind, external_id, duration_s FROM activity_sources",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .unwrap();
        assert_eq!((kind.as_str(), duration_s), ("paceline", 60.0));
        // Taken again (as if its mark were lost): a duplicate, nothing new.
        store
            .write(|tx| -> Result<(), StoreError> {
                tx.execute("UPDATE sessions SET library_ms = NULL", [])?;
                Ok(())
            })
            .unwrap();
        assert_eq!(take_ended_sessions(&store, NOW_MS).unwrap(), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM activities"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM activity_sources"), 1);
        assert!(external_id.parse::<i64>().is_ok());
    }

    fn file(format: FileFormat, sha: u8, sport: Sport) -> SourceCopy {
        SourceCopy {
            kind: SourceKind::File,
            format: Some(format),
            external_id: None,
            content_sha256: Some([sha; 32]),
            sport,
            start_ms: START_MS + 2000,
            local_offset_s: None,
            duration_s: 61.0,
            fields: FieldValues::default(),
        }
    }

    #[test]
    fn files_of_the_same_workout_merge_once_per_format_and_exports_are_duplicates() {
        let (_dir, store, owner) = store_with_ended_session();
        take_ended_sessions(&store, NOW_MS).unwrap();
        let import = |copy: SourceCopy, exported_from: Option<i64>| {
            store
                .write(|tx| {
                    import_copy(
                        tx,
                        owner,
                        &copy,
                        CopyExtras {
                            exported_from,
                            ..CopyExtras::default()
                        },
                        NOW_MS,
                    )
                })
                .unwrap()
        };
        let fit = import(file(FileFormat::Fit, 1, Sport::Cycling), None);
        assert_eq!(fit.status, ImportStatus::Merged);
        let table = [
            // The same bytes again.
            (
                file(FileFormat::Fit, 1, Sport::Cycling),
                None,
                ImportStatus::Duplicate,
            ),
            // Another FIT of the same workout.
            (
                file(FileFormat::Fit, 2, Sport::Cycling),
                None,
                ImportStatus::Duplicate,
            ),
            // A GPX naming no sport takes the ride's, and merges.
            (
                file(FileFormat::Gpx, 3, Sport::Other),
                None,
                ImportStatus::Merged,
            ),
            // Our own TCX export of this activity.
            (
                file(FileFormat::Tcx, 4, Sport::Cycling),
                Some(fit.activity_id),
                ImportStatus::Duplicate,
            ),
            // A TCX from elsewhere.
            (
                file(FileFormat::Tcx, 5, Sport::Cycling),
                None,
                ImportStatus::Merged,
            ),
        ];
        for (copy, exported_from, status) in table {
            let imported = import(copy.clone(), exported_from);
            assert_eq!(imported.status, status, "{copy:?}");
            assert_eq!(imported.activity_id, fit.activity_id);
        }
        assert_eq!(count(&store, "SELECT count(*) FROM activities"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM activity_sources"), 4);
        // A copy an hour in the future: flagged, its own activity, never merged.
        let future = SourceCopy {
            start_ms: crate::store::to_i64(NOW_MS) + 3_600_000,
            ..file(FileFormat::Fit, 6, Sport::Cycling)
        };
        let flagged = import(future.clone(), None);
        assert_eq!(flagged.status, ImportStatus::Flagged);
        assert_ne!(flagged.activity_id, fit.activity_id);
        let reason = store
            .read(|c| rows::activity(c, owner.tenant_row, flagged.activity_id))
            .unwrap()
            .unwrap()
            .flagged_reason;
        assert_eq!(reason.as_deref(), Some("starts_in_future"));
        let again = SourceCopy {
            content_sha256: Some([7; 32]),
            ..future
        };
        assert_eq!(import(again, None).status, ImportStatus::Flagged);
        assert_eq!(
            exported_from(&Recording {
                device: Some(export_device(12, Some("Garmin Edge 810"))),
                ..session_recording_stub()
            }),
            Some(12)
        );
    }

    fn session_recording_stub() -> Recording {
        Recording {
            sport: Sport::Cycling,
            start_ms: START_MS,
            local_offset_s: None,
            name: None,
            device: None,
            totals: Totals::default(),
            points: Vec::new(),
        }
    }
}
