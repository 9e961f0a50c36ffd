//! The data registry (`paceline-privacy`) against the store itself: after every migration,
//! each table of `sqlite_master` is declared there (its owner, key, export, deletion and
//! retention rules) and each declared table exists. A table added without its rules fails
//! here, so no later table slips past export and deletion.

use super::*;

/// The product's tables of a migrated store, by name.
fn tables(conn: &Connection) -> Vec<String> {
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_table_of_the_store_is_in_the_privacy_registry_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    prepare_data_dir(dir.path()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let names = store.read(|conn| Ok(tables(conn))).unwrap();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(names.len() >= 30, "a migrated store: {names:?}");
    assert_eq!(
        paceline_privacy::undeclared(&names),
        Vec::<&str>::new(),
        "declare these tables in gateway/privacy/src/lib.rs (owner, key, export, deletion, retention)"
    );
    assert_eq!(
        paceline_privacy::stale(&names),
        Vec::<&str>::new(),
        "declared in gateway/privacy but not in the store"
    );
}

/// Every key the registry names is a column of its table, and every `Through` points at a
/// column that exists: the registry describes the store as it is.
#[test]
fn every_key_column_the_registry_names_exists() {
    let dir = tempfile::tempdir().unwrap();
    prepare_data_dir(dir.path()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let columns = |conn: &Connection, table: &str| -> Vec<String> {
        let mut statement = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    store
        .read(|conn| {
            for table in paceline_privacy::REGISTRY {
                let have = columns(conn, table.name);
                let mut named: Vec<&str> = Vec::new();
                match table.key {
                    paceline_privacy::Key::Column(c) => named.push(c),
                    paceline_privacy::Key::Through { column, .. } => named.push(column),
                    paceline_privacy::Key::None => {}
                }
                if let paceline_privacy::Export::Rows { omit } = table.export {
                    named.extend(omit);
                }
                match table.deletion {
                    paceline_privacy::Deletion::Scrub { columns, naming } => {
                        named.extend(columns);
                        named.extend(naming);
                    }
                    paceline_privacy::Deletion::DeleteNamed { json_column, refs } => {
                        named.push(json_column);
                        for (_, other, column) in refs {
                            assert!(
                                columns(conn, other).iter().any(|c| c == column),
                                "{}: {other}.{column} is not a column",
                                table.name
                            );
                        }
                    }
                    _ => {}
                }
                if let paceline_privacy::Retention::Days { time_column, .. } = table.retention {
                    named.push(time_column);
                }
                for column in named {
                    assert!(
                        have.iter().any(|h| h == column),
                        "{}.{column} is not a column: {have:?}",
                        table.name
                    );
                }
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

/// The audit log is append-only: an entry's action, tenant and time cannot change (a
/// deletion may clear its personal columns; retention removes whole old entries).
#[test]
fn the_audit_log_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    prepare_data_dir(dir.path()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| -> Result<(), StoreError> {
            tx.execute_batch(
                "INSERT INTO tenants (slug, name, created_ms) VALUES ('gym', 'Gym', 1);
                 INSERT INTO audit_log (tenant_id, action, target, ip, at_ms)
                     VALUES (1, 'login', 'user:1', '192.0.2.7', 5);",
            )?;
            Ok(())
        })
        .unwrap();
    for rewrite in [
        "UPDATE audit_log SET action = 'nothing'",
        "UPDATE audit_log SET at_ms = 6",
        "UPDATE audit_log SET tenant_id = 2",
    ] {
        let refused = store.write(|tx| -> Result<(), StoreError> {
            tx.execute(rewrite, [])?;
            Ok(())
        });
        assert!(
            refused.is_err_and(|e| e.to_string().contains("append-only")),
            "{rewrite}"
        );
    }
    store
        .write(|tx| -> Result<(), StoreError> {
            tx.execute("UPDATE audit_log SET target = NULL, ip = NULL", [])?;
            tx.execute("DELETE FROM audit_log WHERE at_ms < 10", [])?;
            Ok(())
        })
        .unwrap();
}
