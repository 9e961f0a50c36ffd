//! The data export ("give me everything you hold about me"): a zip with one JSON and one
//! CSV file per table of the data registry that holds the person's rows (or the tenant's,
//! for a gym-admin's tenant export), without the columns the registry never exports
//! (password hashes, sealed keys and tokens, digests), every stored activity recording as
//! a FIT file, and a README describing the files.
//!
//! Which rows are the person's is what a deletion would remove ([`crate::privacy::deletion`]), so
//! an export and a deletion cannot disagree about what is held. The zip is written to the
//! data folder's `exports/` (mode 0700 like the folder), entry by entry, deflated, and
//! bounded: past [`MAX_EXPORT_BYTES`] of content the export fails rather than filling
//! the disk. Not the session exports of [`crate::privacy::export`] (one session as CSV or FIT).

use std::io::Write;
use std::path::{Path, PathBuf};

use paceline_privacy::{Export, REGISTRY, Table};
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::privacy::deletion::{Person, bind, person_predicates};
use crate::store::{Store, StoreError};

/// The folder of the data folder that holds export zips.
pub const EXPORTS_DIR: &str = "exports";
/// The most content (uncompressed) an export holds, bytes: 2 GiB.
pub const MAX_EXPORT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One person's data.
    User(Person),
    /// A whole tenant's (a gym-admin's export).
    Tenant(i64),
}

impl Scope {
    /// `user` or `tenant`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User(_) => "user",
            Scope::Tenant(_) => "tenant",
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The zip could not be written.
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// The file could not be written.
    #[error("writing the export file: {0}")]
    Io(#[from] std::io::Error),
    /// Over [`MAX_EXPORT_BYTES`].
    #[error("the export is larger than {0} bytes")]
    TooLarge(u64),
}

impl From<rusqlite::Error> for ExportError {
    fn from(err: rusqlite::Error) -> ExportError {
        ExportError::Store(StoreError::from(err))
    }
}

/// The data folder's export folder, created (owner only) if missing.
pub fn exports_dir(store: &Store) -> std::io::Result<PathBuf> {
    let dir = store
        .path()
        .parent()
        .map_or_else(|| PathBuf::from(EXPORTS_DIR), |d| d.join(EXPORTS_DIR));
    crate::store::prepare_data_dir(&dir)?;
    Ok(dir)
}

/// The export files that hold a user's data (their own zips, and the tenant's exports not
/// yet downloaded), for their deletion.
pub fn files_of_user(store: &Store, person: Person) -> Result<Vec<PathBuf>, StoreError> {
    let names: Vec<String> = store.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT file_name FROM privacy_exports
             WHERE tenant_id = ?1 AND file_name IS NOT NULL AND (user_id = ?2 OR scope = 'tenant')",
        )?;
        let names = stmt
            .query_map(rusqlite::params![person.tenant_row, person.user_row], |r| {
                r.get(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(names)
    })?;
    let dir = store
        .path()
        .parent()
        .map_or_else(|| PathBuf::from(EXPORTS_DIR), |d| d.join(EXPORTS_DIR));
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Named SQL parameters with their values.
type Parameters = Vec<(&'static str, Value)>;

/// The rows of each exported table in `scope`: `(table, predicate, parameters)`.
fn selections(
    conn: &Connection,
    scope: Scope,
) -> Result<Vec<(&'static Table, String, Parameters)>, StoreError> {
    match scope {
        Scope::User(person) => Ok(person_predicates(conn, person)?
            .into_iter()
            .filter(|(t, _)| matches!(t.export, Export::Rows { .. }))
            .map(|(t, p)| {
                let values = bind(&p, &person);
                (t, p, values)
            })
            .collect()),
        Scope::Tenant(tenant_row) => {
            let mut out = Vec::new();
            for table in REGISTRY {
                if !matches!(table.export, Export::Rows { .. }) {
                    continue;
                }
                let predicate = if table.name == "tenants" {
                    "id = :tenant".to_owned()
                } else if conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'tenant_id')",
                    [table.name],
                    |r| r.get::<_, bool>(0),
                )? {
                    "tenant_id = :tenant".to_owned()
                } else {
                    continue;
                };
                out.push((
                    table,
                    predicate,
                    vec![(":tenant", Value::Integer(tenant_row))],
                ));
            }
            Ok(out)
        }
    }
}

/// Counts what goes into the zip and refuses more than the bound.
struct Bounded<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Bounded<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len() as u64;
        if self.written > MAX_EXPORT_BYTES {
            return Err(std::io::Error::other("export too large"));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => hex::encode(b).into(),
    }
}

fn csv_value(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => hex::encode(b),
    }
}

/// Writes the export of `scope` to `out` (a new file); its size, bytes.
pub fn write_export(conn: &Connection, scope: Scope, out: &Path) -> Result<u64, ExportError> {
    use zip::write::SimpleFileOptions;
    let file = std::fs::File::create(out)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let mut readme = String::from(README_HEAD);
    let mut total: u64 = 0;
    for (table, predicate, values) in selections(conn, scope)? {
        let Export::Rows { omit } = table.export else {
            continue;
        };
        let sql = format!(
            "SELECT * FROM {} WHERE {predicate} ORDER BY rowid",
            table.name
        );
        let mut stmt = conn.prepare(&sql)?;
        let columns: Vec<(usize, String)> = stmt
            .column_names()
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !omit.contains(c))
            .map(|(i, c)| (i, c.to_owned()))
            .collect();
        let params = crate::api::named(&values);
        // JSON: an array of objects, a row at a time.
        zip.start_file(format!("data/{}.json", table.name), options)?;
        let mut rows_written = 0u64;
        {
            let mut sink = Bounded {
                inner: &mut zip,
                written: total,
            };
            sink.write_all(b"[")?;
            let mut rows = stmt.query(params.as_slice())?;
            while let Some(row) = rows.next()? {
                let mut object = serde_json::Map::new();
                for (i, name) in &columns {
                    object.insert(name.clone(), json_value(row.get_ref(*i)?));
                }
                if rows_written > 0 {
                    sink.write_all(b",")?;
                }
                sink.write_all(b"\n")?;
                serde_json::to_writer(&mut sink, &object).map_err(std::io::Error::other)?;
                rows_written += 1;
            }
            sink.write_all(b"\n]\n")?;
            total = sink.written;
        }
        zip.start_file(format!("data/{}.csv", table.name), options)?;
        {
            let sink = Bounded {
                inner: &mut zip,
                written: total,
            };
            let mut csv = csv::Writer::from_writer(sink);
            csv.write_record(columns.iter().map(|(_, c)| c.as_str()))
                .map_err(std::io::Error::other)?;
            let mut rows = stmt.query(params.as_slice())?;
            while let Some(row) = rows.next()? {
                let record = columns
                    .iter()
                    .map(|(i, _)| row.get_ref(*i).map(csv_value))
                    .collect::<Result<Vec<_>, _>>()?;
                csv.write_record(&record).map_err(std::io::Error::other)?;
            }
            let sink = csv
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            total = sink.written;
        }
        readme.push_str(&format!(
            "data/{name}.json, data/{name}.csv: {rows_written} rows of the table {name}{omitted}.\n",
            name = table.name,
            omitted = if omit.is_empty() {
                String::new()
            } else {
                format!(" (never exported: {})", omit.join(", "))
            }
        ));
    }
    // Every stored recording (each source copy of each activity) as FIT.
    let fits = fit_selection(conn, scope)?;
    let mut fit_count = 0u64;
    {
        let (sql, values) = fits;
        let mut stmt = conn.prepare(&sql)?;
        let params = crate::api::named(&values);
        let mut rows = stmt.query(params.as_slice())?;
        while let Some(row) = rows.next()? {
            let (activity, source, kind): (i64, i64, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            let bytes: Vec<u8> = row.get(3)?;
            let kind: String = kind.chars().filter(char::is_ascii_alphanumeric).collect();
            zip.start_file(
                format!("activities/{activity}-{source}-{kind}.fit"),
                options,
            )?;
            let mut sink = Bounded {
                inner: &mut zip,
                written: total,
            };
            sink.write_all(&bytes)?;
            total = sink.written;
            fit_count += 1;
        }
    }
    readme.push_str(&format!(
        "activities/<activity id>-<source id>-<source kind>.fit: {fit_count} recordings, one \
         per stored copy of an activity (an uploaded file, a provider's copy, a live \
         session), written as FIT from the samples kept. Uploaded files are kept as these \
         samples, not byte for byte: the FIT files are the originals' contents. Activities \
         entered by hand have no recording; their values are in data/activities.*.\n"
    ));
    zip.start_file("README.txt", options)?;
    zip.write_all(readme.as_bytes())?;
    let file = zip.finish()?;
    let bytes = file.metadata()?.len();
    if total > MAX_EXPORT_BYTES {
        return Err(ExportError::TooLarge(MAX_EXPORT_BYTES));
    }
    Ok(bytes)
}

/// The query of the recordings in `scope`: activity, source, kind, FIT bytes.
fn fit_selection(conn: &Connection, scope: Scope) -> Result<(String, Parameters), StoreError> {
    let (predicate, values) = match scope {
        Scope::User(person) => {
            let predicate = person_predicates(conn, person)?
                .into_iter()
                .find(|(t, _)| t.name == "activity_sources")
                .map_or_else(|| "0".to_owned(), |(_, p)| p);
            let values = bind(&predicate, &person);
            (predicate, values)
        }
        Scope::Tenant(tenant_row) => (
            "tenant_id = :tenant".to_owned(),
            vec![(":tenant", Value::Integer(tenant_row))],
        ),
    };
    Ok((
        format!(
            "SELECT activity_id, id, kind, samples_fit FROM activity_sources
             WHERE {predicate} AND samples_fit IS NOT NULL ORDER BY activity_id, id"
        ),
        values,
    ))
}

const README_HEAD: &str = "Paceline data export\n\
====================\n\
\n\
Everything this Paceline server holds about you (or, for a gym's export, about the gym \
and its members), as of the export's time.\n\
\n\
- data/<table>.json: the rows of one table, an array of objects (column: value).\n\
- data/<table>.csv: the same rows as CSV with a header line.\n\
  Times are milliseconds since 1970-01-01 UTC (columns ending in _ms) or seconds (_s);\n\
  binary values (digests of uploaded files) are hexadecimal.\n\
  Secrets are never exported: password hashes, device keys, provider tokens and the\n\
  digests of tokens and invitation codes are left out.\n\
- activities/*.fit: your recordings as FIT activity files, which training tools import.\n\
\n\
The files of this export:\n\
\n";

/// Exports a stopped gateway left `queued` or `running` are marked failed (ask again), and
/// ready exports past their expiry are expired with their files removed: at start and on
/// every retention pass. The service's own pass over every tenant. Returns how many rows
/// changed.
pub fn sweep(store: &Store, now_ms: u64, at_start: bool) -> Result<usize, StoreError> {
    let now = crate::store::to_i64(now_ms);
    let (changed, files) = store.write(|tx| -> Result<(usize, Vec<String>), StoreError> {
        let mut changed = 0;
        if at_start {
            changed += tx.execute(
                "UPDATE privacy_exports SET state = 'failed',
                   error = 'the server stopped during the export: ask again', updated_ms = ?1
                 WHERE state IN ('queued', 'running')",
                [now],
            )?;
        }
        let files: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT file_name FROM privacy_exports
                 WHERE state = 'ready' AND expires_ms <= ?1 AND file_name IS NOT NULL",
            )?;
            stmt.query_map([now], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        changed += tx.execute(
            "UPDATE privacy_exports SET state = 'expired', file_name = NULL, updated_ms = ?1
             WHERE state = 'ready' AND expires_ms <= ?1",
            [now],
        )?;
        Ok((changed, files))
    })?;
    if let Some(dir) = store.path().parent() {
        for file in files {
            let _ = std::fs::remove_file(dir.join(EXPORTS_DIR).join(file));
        }
    }
    Ok(changed)
}
