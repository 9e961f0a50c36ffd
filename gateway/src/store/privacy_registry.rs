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
