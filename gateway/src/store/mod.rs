//! Persistence in SQLite: the schema, the read side (a small pool of connections), the
//! administrative writes of the command line, and the one writer thread of the server
//! ([`writer`]). The live path's SQL, each statement held to its query plan by a test, is
//! in `queries`.
//!
//! Every connection runs in WAL mode with `synchronous = FULL` (a committed frame survives
//! a power cut, not only a killed process), foreign keys on and a busy timeout, so the
//! `paceline device add` command can write while the server runs. Every query that reads
//! tenant data names its tenant.

pub mod activities;
pub mod chat;
pub mod digest;
pub mod insights;
pub mod migrations;
pub mod planning;
pub mod preferences;
pub(crate) mod queries;
pub mod secrets;
pub mod sms;
pub mod sync;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paceline_schemas::hello::DeviceToken;
use paceline_schemas::{
    AthleteProfile, DeviceId, DeviceKey, DeviceStatus, TenantId, WorkoutPlan, codec,
};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use self::secrets::{SecretError, ServerKey, token_digest};

/// File name of the database in the data folder.
pub const DATABASE_FILE: &str = "paceline.db";
/// Read connections kept open.
const READERS: usize = 4;
/// Prepared statements kept per connection.
const STATEMENTS_CACHED: usize = 128;

/// The most a WAL file keeps on disk after a checkpoint, bytes (64 MiB): without a limit
/// it stays as large as the longest burst made it.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A secret could not be kept or read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The database was written by a newer Paceline.
    #[error(
        "the database is at schema version {found}, newer than this build's {known}: upgrade Paceline"
    )]
    NewerSchema {
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: usize,
    },
    /// A stored value does not decode.
    #[error("stored {what} of row {row} is unreadable: {reason}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The row.
        row: i64,
        /// What the decoder said.
        reason: String,
    },
    /// A name that must exist does not.
    #[error("{what} {name:?} does not exist")]
    Missing {
        /// What kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The writer thread has stopped.
    #[error("the database writer has stopped")]
    WriterGone,
}

/// Creates the data folder if needed, readable by its owner only (it holds the database,
/// the server key and the QUIC private key).
pub fn prepare_data_dir(data_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data_dir)?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
}

/// Opens a connection to the database at `path` with Paceline's settings.
pub fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A deleted or rewritten row's bytes are zeroed in its page where that costs no
    // extra I/O (a deletion sets ON: every freed byte): what a user deletes leaves the file.
    conn.pragma_update(None, "secure_delete", "FAST")?;
    // Checkpoint often enough that the WAL stays small under a steady stream of commits.
    conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
    // And truncate it back after a checkpoint once a burst has made it large.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    // Without the query planner stability guarantee SQLite plans `LIMIT :limit` with the
    // value bound, and so prepares the statement again on every run: 14 % of the server's
    // CPU under the session-list bench. The schema has no ANALYZE statistics for bound
    // values to improve on anyway.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // The API's filtered queries are built from the filters given; keep all their shapes.
    conn.set_prepared_statement_cache_capacity(STATEMENTS_CACHED);
    Ok(conn)
}

/// Brings the schema up to date.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = migrations::MIGRATIONS.len();
    let done = usize::try_from(version).unwrap_or(usize::MAX);
    if done > known {
        return Err(StoreError::NewerSchema {
            found: version,
            known,
        });
    }
    if done == 0 {
        // A new database: free pages can be given back a step at a time
        // (`crate::jobs::maintenance`). SQLite takes this only before the first table, and
        // (the file already being in WAL mode) with a VACUUM of the empty file.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
    }
    for (index, sql) in migrations::MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

// The live path's rows are the core's inputs: defined in the core crate, returned as they are.
pub use paceline_live::{AthleteSetup, DeviceRecord, SessionRecord};

/// What pairing hands to a new device, once.
#[derive(Debug)]
pub struct NewDevice {
    /// The tenant.
    pub tenant: TenantId,
    /// The device id.
    pub device: DeviceId,
    /// Its sealing key.
    pub key: DeviceKey,
    /// Its connection token.
    pub token: DeviceToken,
    /// The athlete's row.
    pub athlete_row: i64,
}

/// The database: its path, the server key, and a pool of read connections.
pub struct Store {
    path: PathBuf,
    server_key: Arc<ServerKey>,
    readers: Mutex<Vec<Connection>>,
    /// The connection the API's writes share (the frame writer has its own thread).
    api_writer: Mutex<Option<Connection>>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let server_key = Arc::new(ServerKey::load_or_create(data_dir)?);
        let path = data_dir.join(DATABASE_FILE);
        let mut conn = connect(&path)?;
        migrate(&mut conn)?;
        // Frames a stopped (or killed) writer left in its inbox join the indexed tables
        // before anyone reads them.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        writer::move_inbox(&tx)?;
        tx.commit()?;
        secrets::restrict_to_owner(&path).map_err(|source| SecretError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Store {
            path,
            server_key,
            readers: Mutex::new(vec![conn]),
            api_writer: Mutex::new(None),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The server key.
    pub fn server_key(&self) -> Arc<ServerKey> {
        Arc::clone(&self.server_key)
    }

    /// Runs `read` on a pooled read connection.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_as(read)
    }

    /// Runs `read` on a pooled read connection, with the caller's error type.
    pub fn read_as<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = read(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < READERS
        {
            pool.push(conn);
        }
        result
    }

    /// Runs `write` in an IMMEDIATE transaction on the API's write connection, committing
    /// if it returns `Ok` (administrative writes: accounts, pairings, plans; frames go
    /// through [`writer`]).
    pub fn write<T, E: From<StoreError>>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut slot = self.api_writer.lock().map_err(|_| StoreError::WriterGone)?;
        if slot.is_none() {
            *slot = Some(connect(&self.path)?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::WriterGone.into());
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = write(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Looks a device up by id (ids are unique across tenants).
    pub fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let found = self.read(|conn| {
            conn.query_row(queries::DEVICE_BY_ID, params![device.as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                    row.get::<_, bool>(6)?,
                ))
            })
            .optional()
            .map_err(StoreError::from)
        })?;
        let Some((row, tenant_row, slug, athlete_row, sealed, token_sha256, revoked)) = found
        else {
            return Ok(None);
        };
        let tenant = TenantId::new(slug).map_err(|e| StoreError::Corrupt {
            what: "tenant slug",
            row: tenant_row,
            reason: e.to_string(),
        })?;
        let key = self.server_key.open_device_key(device.as_str(), &sealed)?;
        Ok(Some(DeviceRecord {
            row,
            tenant_row,
            tenant,
            device: device.clone(),
            athlete_row,
            key,
            token_sha256,
            revoked,
        }))
    }

    /// The highest session row stored, 0 if there is none: the live loop numbers new
    /// sessions from the next one (it is the only place that creates sessions).
    pub fn max_session_row(&self) -> Result<i64, StoreError> {
        self.read(|conn| Ok(conn.query_row(queries::MAX_SESSION_ROW, [], |row| row.get(0))?))
    }

    /// A device's session by the id the device gave it.
    pub fn session(
        &self,
        tenant_row: i64,
        device_row: i64,
        session: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|conn| {
            let found = conn
                .query_row(
                    queries::SESSION_BY_DEVICE,
                    params![tenant_row, device_row, session],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, bool>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()?;
            let Some((row, open, acked_seq)) = found else {
                return Ok(None);
            };
            // Both through UNIQUE(device_row, session_row, seq): a resume reads only this
            // session's frames, never the table.
            let mut above = conn.prepare_cached(queries::STORED_SEQS_ABOVE)?;
            let stored_above = above
                .query_map(params![device_row, row, acked_seq, tenant_row], |r| {
                    r.get::<_, i64>(0)
                })?
                .map(|seq| seq.map(to_u64))
                .collect::<Result<Vec<_>, _>>()?;
            let latest_status = conn
                .prepare_cached(queries::LATEST_DEVICE_STATUS)?
                .query_row(params![device_row, row, tenant_row], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?
                .and_then(|(seq, body)| match codec::decode_binary::<DeviceStatus>(&body) {
                    Ok(status) => Some((to_u64(seq), status)),
                    Err(err) => {
                        tracing::warn!(error = %err, session_row = row, "a stored device status does not decode");
                        None
                    }
                });
            Ok(Some(SessionRecord {
                row,
                open,
                acked_seq: to_u64(acked_seq),
                stored_above,
                latest_status,
            }))
        })
    }

    /// When a device's sessions opened since `since_ms` (for the sessions-per-day quota).
    pub fn sessions_opened_since(
        &self,
        tenant_row: i64,
        device_row: i64,
        since_ms: u64,
    ) -> Result<Vec<u64>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(queries::SESSIONS_OPENED_SINCE)?;
            let opened = stmt
                .query_map(params![tenant_row, device_row, to_i64(since_ms)], |r| {
                    r.get::<_, i64>(0)
                })?
                .map(|t| t.map(to_u64))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(opened)
        })
    }

    /// The bytes of frames a tenant stores (for the tenant-storage quota).
    pub fn tenant_stored_bytes(&self, tenant_row: i64) -> Result<u64, StoreError> {
        self.read(|conn| stored_bytes(conn, tenant_row))
    }

    /// The profile of an athlete and the plan assigned to their next session.
    pub fn athlete_setup(
        &self,
        tenant_row: i64,
        athlete_row: i64,
    ) -> Result<AthleteSetup, StoreError> {
        self.read(|conn| {
            let (profile_json, next_plan) = conn.query_row(
                queries::ATHLETE_PROFILE_AND_NEXT_PLAN,
                params![tenant_row, athlete_row],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?)),
            )?;
            let profile: AthleteProfile =
                codec::from_json(profile_json.as_bytes()).map_err(|e| StoreError::Corrupt {
                    what: "athlete profile",
                    row: athlete_row,
                    reason: e.to_string(),
                })?;
            let next_plan = match next_plan {
                None => None,
                Some(plan_row) => {
                    let plan_json: String =
                        conn.query_row(queries::PLAN_JSON, params![tenant_row, plan_row], |row| {
                            row.get(0)
                        })?;
                    let plan: WorkoutPlan =
                        codec::from_json(plan_json.as_bytes()).map_err(|e| {
                            StoreError::Corrupt {
                                what: "plan",
                                row: plan_row,
                                reason: e.to_string(),
                            }
                        })?;
                    Some((plan_row, plan))
                }
            };
            Ok(AthleteSetup { profile, next_plan })
        })
    }
}

/// The tenant with this slug, created if new. Returns its row.
pub fn ensure_tenant(conn: &Connection, slug: &TenantId, now_ms: u64) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO tenants (slug, name, created_ms) VALUES (?1, ?1, ?2)
         ON CONFLICT (slug) DO NOTHING",
        params![slug.as_str(), to_i64(now_ms)],
    )?;
    Ok(conn.query_row(
        "SELECT id FROM tenants WHERE slug = ?1",
        params![slug.as_str()],
        |row| row.get(0),
    )?)
}

/// The athlete of this name in the tenant, created with `profile` if new (an existing
/// athlete's profile is replaced when `profile` is given). Returns its row.
pub fn ensure_athlete(
    conn: &Connection,
    tenant_row: i64,
    name: &str,
    profile: Option<&AthleteProfile>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    let existing: Option<i64> = conn
        .query_row(
            "SELECT id FROM athletes WHERE tenant_id = ?1 AND name = ?2",
            params![tenant_row, name],
            |row| row.get(0),
        )
        .optional()?;
    let json = |p: &AthleteProfile| {
        codec::to_json(p).map_err(|e| StoreError::Corrupt {
            what: "athlete profile",
            row: 0,
            reason: e.to_string(),
        })
    };
    match (existing, profile) {
        (Some(row), None) => Ok(row),
        (Some(row), Some(profile)) => {
            conn.execute(
                "UPDATE athletes SET profile_json = ?1 WHERE tenant_id = ?2 AND id = ?3",
                params![json(profile)?, tenant_row, row],
            )?;
            Ok(row)
        }
        (None, profile) => {
            let profile = profile.cloned().unwrap_or_else(|| AthleteProfile {
                name: Some(name.to_owned()),
                ..AthleteProfile::default()
            });
            conn.execute(
                "INSERT INTO athletes (tenant_id, name, profile_json, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![tenant_row, name, json(&profile)?, to_i64(now_ms)],
            )?;
            Ok(conn.last_insert_rowid())
        }
    }
}

/// Stores a plan for the tenant. Returns its row.
pub fn add_plan(
    conn: &Connection,
    tenant_row: i64,
    format: &str,
    plan: &WorkoutPlan,
    now_ms: u64,
) -> Result<i64, StoreError> {
    let plan_json = codec::to_json(plan).map_err(|e| StoreError::Corrupt {
        what: "plan",
        row: 0,
        reason: e.to_string(),
    })?;
    conn.execute(
        "INSERT INTO plans (tenant_id, name, format, plan_json, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant_row, plan.name, format, plan_json, to_i64(now_ms)],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Assigns a plan to an athlete's next session.
pub fn assign_plan(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    plan_row: i64,
) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE athletes SET next_plan_id = ?1
         WHERE tenant_id = ?2 AND id = ?3
           AND EXISTS (SELECT 1 FROM plans WHERE tenant_id = ?2 AND id = ?1)",
        params![plan_row, tenant_row, athlete_row],
    )?;
    if changed == 0 {
        return Err(StoreError::Missing {
            what: "plan or athlete in this tenant",
            name: format!("{plan_row}/{athlete_row}"),
        });
    }
    Ok(())
}

/// The bytes of frames a tenant stores: the writer adds each stored frame's body to
/// `tenant_usage` in the transaction that stores it.
pub fn stored_bytes(conn: &Connection, tenant_row: i64) -> Result<u64, StoreError> {
    let bytes = conn
        .prepare_cached(queries::TENANT_STORED_BYTES)?
        .query_row(params![tenant_row], |r| r.get::<_, i64>(0))
        .optional()?;
    Ok(bytes.map_or(0, to_u64))
}

/// The devices of a tenant that are not revoked (for the tenant-devices quota).
pub fn active_devices(conn: &Connection, tenant_row: i64) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(queries::ACTIVE_DEVICE_COUNT, params![tenant_row], |r| {
        r.get(0)
    })?;
    Ok(to_u64(count))
}

/// Creates a device for an athlete with a fresh id, key and token.
pub fn add_device(
    conn: &Connection,
    server_key: &ServerKey,
    tenant: &TenantId,
    tenant_row: i64,
    athlete_row: i64,
    now_ms: u64,
) -> Result<NewDevice, StoreError> {
    let key = DeviceKey::generate();
    let token = DeviceToken::generate();
    // 48 random bits in the id: unique in practice; the UNIQUE constraint is the guard.
    let suffix = hex::encode(&token_digest(&DeviceToken::generate())[..6]);
    let device = DeviceId::new(format!("d-{suffix}")).map_err(|e| StoreError::Corrupt {
        what: "device id",
        row: 0,
        reason: e.to_string(),
    })?;
    conn.execute(
        queries::INSERT_DEVICE,
        params![
            tenant_row,
            device.as_str(),
            athlete_row,
            server_key.seal_device_key(device.as_str(), &key)?,
            token_digest(&token).to_vec(),
            to_i64(now_ms)
        ],
    )?;
    Ok(NewDevice {
        tenant: tenant.clone(),
        device,
        key,
        token,
        athlete_row,
    })
}

/// The named server secret (32 random bytes), created and stored sealed on first use.
pub fn server_secret(
    conn: &Connection,
    server_key: &ServerKey,
    name: &str,
    now_ms: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT sealed FROM server_secrets WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(sealed) = stored {
        return Ok(server_key.open_secret(name, &sealed)?);
    }
    let mut secret = zeroize::Zeroizing::new(vec![0u8; 32]);
    getrandom::fill(secret.as_mut_slice()).map_err(|_| SecretError::Seal)?;
    let sealed = server_key.seal_secret(name, &secret)?;
    conn.execute(
        "INSERT INTO server_secrets (name, sealed, created_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![name, sealed, to_i64(now_ms)],
    )?;
    // Another process may have won the race: read back what is stored.
    let sealed: Vec<u8> = conn.query_row(
        "SELECT sealed FROM server_secrets WHERE name = ?1",
        params![name],
        |row| row.get(0),
    )?;
    Ok(server_key.open_secret(name, &sealed)?)
}

/// Creates a user account (the password already hashed). Returns its row.
#[allow(clippy::too_many_arguments)]
pub fn add_user(
    conn: &Connection,
    tenant_row: i64,
    email: &str,
    name: &str,
    password_hash: &str,
    role: &str,
    athlete_row: Option<i64>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO users (tenant_id, email, name, password_hash, role, athlete_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tenant_row,
            email,
            name,
            password_hash,
            role,
            athlete_row,
            to_i64(now_ms)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// An unsigned count or time as SQLite's integer (saturating).
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// SQLite's integer as an unsigned count (negative → 0).
pub fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn a_bound_limit_does_not_prepare_the_statement_again_on_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO t(v) VALUES ('a'), ('b'), ('c');",
        )
        .unwrap();
        let sql = "SELECT id FROM t WHERE id < :before ORDER BY id DESC LIMIT :limit";
        for limit in [1_i64, 2, 3, 2] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let ids: Vec<i64> = stmt
                .query_map(
                    rusqlite::named_params! {":before": 10, ":limit": limit},
                    |r| r.get(0),
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(ids.len(), usize::try_from(limit).unwrap());
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
        }
    }
}

#[cfg(test)]
mod privacy_registry;

#[cfg(test)]
mod journal_tests {
    use super::*;

    fn journal_size_limit(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "journal_size_limit", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn every_connection_caps_the_wal_left_on_disk_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let direct = connect(store.path()).unwrap();
        assert_eq!(journal_size_limit(&direct), JOURNAL_SIZE_LIMIT_BYTES);
        let pooled = store.read(|conn| Ok(journal_size_limit(conn))).unwrap();
        assert_eq!(pooled, JOURNAL_SIZE_LIMIT_BYTES);
    }
}
