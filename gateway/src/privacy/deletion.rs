//! Deleting a person ("forget me"), driven by the data registry (`paceline-privacy`).
//!
//! Each table's rule comes from the registry; which rows are the person's comes from the
//! store's own foreign keys: a row of a [`Deletion::Delete`] table goes when a column
//! names the person (`users.id`, `athletes.id`) or a row that goes itself (a session's
//! samples, a device's sessions, a conversation's messages). Tables are visited children
//! first, so a row is always found through parents that are still there; the whole runs
//! in the caller's one transaction. A table added later with a foreign key to a person is
//! covered without code here; a [`Deletion::Keep`] table that points at a deleted row
//! makes the transaction fail (the foreign key), never silently keeps the person.
//!
//! This module holds the SQL only: the API ([`crate::api::privacy`]) checks the password,
//! tells the providers, deletes the person's files, audits and checkpoints the WAL.

use std::collections::{BTreeMap, HashMap};

use paceline_privacy::{Deletion, REGISTRY, Table};
use rusqlite::{Connection, params};

use crate::store::StoreError;

/// Who is deleted: a user of a tenant, and the athlete record their account owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    /// The tenant.
    pub tenant_row: i64,
    /// The user account.
    pub user_row: i64,
    /// Their athlete record (athlete accounts).
    pub athlete_row: Option<i64>,
}

/// What a deletion did, per table (no personal data: counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Rows deleted per table.
    pub deleted: BTreeMap<&'static str, u64>,
    /// Rows scrubbed (kept with their personal columns cleared) per table.
    pub scrubbed: BTreeMap<&'static str, u64>,
}

impl Erased {
    /// Rows deleted in all.
    pub fn rows_deleted(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// A foreign key: `column` of a table references `to_table.to_column`.
#[derive(Debug, Clone)]
struct ForeignKey {
    column: String,
    to_table: String,
    to_column: String,
}

/// The user and athlete the person is, and the tables already described.
struct Plan<'c> {
    conn: &'c Connection,
    person: Person,
    foreign_keys: HashMap<&'static str, Vec<ForeignKey>>,
    has_tenant: HashMap<&'static str, bool>,
    predicates: HashMap<&'static str, Option<String>>,
}

fn foreign_keys(conn: &Connection, table: &str) -> Result<Vec<ForeignKey>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT \"from\", \"table\", coalesce(\"to\", 'rowid') FROM pragma_foreign_key_list(?1)",
    )?;
    let keys = stmt
        .query_map(params![table], |r| {
            Ok(ForeignKey {
                column: r.get(0)?,
                to_table: r.get(1)?,
                to_column: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys)
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        params![table, column],
        |r| r.get(0),
    )?)
}

/// Whether the table's rows go (rather than stay scrubbed or kept).
fn rows_go(table: &Table) -> bool {
    matches!(
        table.deletion,
        Deletion::Delete | Deletion::DeleteNamed { .. }
    )
}

impl<'c> Plan<'c> {
    fn new(conn: &'c Connection, person: Person) -> Result<Plan<'c>, StoreError> {
        let mut foreign_keys = HashMap::new();
        let mut has_tenant = HashMap::new();
        for table in REGISTRY {
            foreign_keys.insert(table.name, self::foreign_keys(conn, table.name)?);
            has_tenant.insert(table.name, has_column(conn, table.name, "tenant_id")?);
        }
        Ok(Plan {
            conn,
            person,
            foreign_keys,
            has_tenant,
            predicates: HashMap::new(),
        })
    }

    /// SQL true for the person's rows of `table` (`None`: it has none), with the named
    /// parameters `:user`, `:athlete`, `:tenant`.
    fn predicate(&mut self, table: &'static Table) -> Option<String> {
        if let Some(known) = self.predicates.get(table.name) {
            return known.clone();
        }
        // A guard against a cycle of foreign keys: the table has none while described.
        self.predicates.insert(table.name, None);
        let mut parts: Vec<String> = Vec::new();
        match table.name {
            "users" => parts.push("id = :user".to_owned()),
            "athletes" if self.person.athlete_row.is_some() => {
                parts.push("id = :athlete".to_owned());
            }
            _ => {}
        }
        for key in self.foreign_keys[table.name].clone() {
            match key.to_table.as_str() {
                "users" => parts.push(format!("{} = :user", key.column)),
                "athletes" => {
                    if self.person.athlete_row.is_some() {
                        parts.push(format!("{} = :athlete", key.column));
                    }
                }
                other => {
                    let Some(parent) = paceline_privacy::table(other) else {
                        continue;
                    };
                    if parent.name == table.name || !rows_go(parent) {
                        continue;
                    }
                    if let Some(p) = self.predicate(parent) {
                        parts.push(format!(
                            "{} IN (SELECT {} FROM {} WHERE {p})",
                            key.column, key.to_column, parent.name
                        ));
                    }
                }
            }
        }
        match table.deletion {
            Deletion::DeleteNamed { json_column, refs } => {
                for (field, other, column) in refs {
                    let Some(parent) = paceline_privacy::table(other) else {
                        continue;
                    };
                    if let Some(p) = self.predicate(parent) {
                        parts.push(format!(
                            "json_extract({json_column}, '$.{field}') IN \
                             (SELECT {column} FROM {other} WHERE {p})"
                        ));
                    }
                }
            }
            Deletion::Scrub {
                naming: Some(column),
                ..
            } => {
                parts.push(format!("{column} = 'user:' || :user"));
                if self.person.athlete_row.is_some() {
                    parts.push(format!("{column} = 'athlete:' || :athlete"));
                }
            }
            _ => {}
        }
        let predicate = (!parts.is_empty()).then(|| {
            let any = parts.join(" OR ");
            if self.has_tenant[table.name] {
                format!("(tenant_id = :tenant AND ({any}))")
            } else {
                format!("({any})")
            }
        });
        self.predicates.insert(table.name, predicate.clone());
        predicate
    }

    /// The tables to visit, each after every table that points at it (children first).
    fn order(&self) -> Result<Vec<&'static Table>, StoreError> {
        let acting: Vec<&'static Table> = REGISTRY
            .iter()
            .filter(|t| !matches!(t.deletion, Deletion::Keep(_)))
            .collect();
        // Who must go before `t`: the acting tables whose foreign keys (or named
        // references) point at `t`.
        let before = |t: &Table| -> Vec<&'static str> {
            acting
                .iter()
                .filter(|c| c.name != t.name)
                .filter(|c| {
                    self.foreign_keys[c.name]
                        .iter()
                        .any(|k| k.to_table == t.name)
                        || matches!(c.deletion, Deletion::DeleteNamed { refs, .. }
                            if refs.iter().any(|(_, other, _)| *other == t.name))
                })
                .map(|c| c.name)
                .collect()
        };
        let mut done: Vec<&'static Table> = Vec::new();
        while done.len() < acting.len() {
            let next = acting.iter().find(|t| {
                !done.iter().any(|d| d.name == t.name)
                    && before(t).iter().all(|b| done.iter().any(|d| d.name == *b))
            });
            match next {
                Some(t) => done.push(t),
                None => {
                    return Err(StoreError::Missing {
                        what: "an order of deletion (the foreign keys form a cycle)",
                        name: acting
                            .iter()
                            .filter(|t| !done.iter().any(|d| d.name == t.name))
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(done)
    }

    fn execute(&self, sql: &str) -> Result<u64, StoreError> {
        let values: [(&str, &dyn rusqlite::ToSql); 3] = [
            (":user", &self.person.user_row),
            (":athlete", &self.person.athlete_row),
            (":tenant", &self.person.tenant_row),
        ];
        let used: Vec<(&str, &dyn rusqlite::ToSql)> = values
            .into_iter()
            .filter(|(name, _)| sql.contains(name))
            .collect();
        let changed = self.conn.execute(sql, used.as_slice())?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

/// Deletes the person's rows of every registered table (scrubbing those the registry
/// keeps), in the caller's transaction. The tenant's stored-bytes counter loses their
/// frames.
pub fn delete_person(conn: &Connection, person: Person) -> Result<Erased, StoreError> {
    let mut plan = Plan::new(conn, person)?;
    let mut erased = Erased::default();
    for table in plan.order()? {
        let Some(predicate) = plan.predicate(table) else {
            continue;
        };
        match table.deletion {
            Deletion::Delete | Deletion::DeleteNamed { .. } => {
                if matches!(table.name, "frames" | "frames_inbox") {
                    plan.execute(&format!(
                        "UPDATE tenant_usage SET stored_bytes = max(0, stored_bytes -
                           (SELECT coalesce(sum(length(body)), 0) FROM {} WHERE {predicate}))
                         WHERE tenant_id = :tenant",
                        table.name
                    ))?;
                }
                let n = plan.execute(&format!("DELETE FROM {} WHERE {predicate}", table.name))?;
                if n > 0 {
                    erased.deleted.insert(table.name, n);
                }
            }
            Deletion::Scrub { columns, .. } => {
                let set: Vec<String> = columns.iter().map(|c| format!("{c} = NULL")).collect();
                let n = plan.execute(&format!(
                    "UPDATE {} SET {} WHERE {predicate}",
                    table.name,
                    set.join(", ")
                ))?;
                if n > 0 {
                    erased.scrubbed.insert(table.name, n);
                }
            }
            Deletion::Keep(_) => {}
        }
    }
    Ok(erased)
}

/// The person's rows per table, before a deletion (what [`delete_person`] would touch):
/// for tests and for the deletion's own check.
pub fn count_person_rows(
    conn: &Connection,
    person: Person,
) -> Result<BTreeMap<&'static str, u64>, StoreError> {
    let mut plan = Plan::new(conn, person)?;
    let mut counts = BTreeMap::new();
    for table in REGISTRY {
        if matches!(table.deletion, Deletion::Keep(_)) {
            continue;
        }
        let Some(predicate) = plan.predicate(table) else {
            counts.insert(table.name, 0);
            continue;
        };
        let values: [(&str, &dyn rusqlite::ToSql); 3] = [
            (":user", &person.user_row),
            (":athlete", &person.athlete_row),
            (":tenant", &person.tenant_row),
        ];
        let sql = format!("SELECT count(*) FROM {} WHERE {predicate}", table.name);
        let used: Vec<(&str, &dyn rusqlite::ToSql)> = values
            .into_iter()
            .filter(|(name, _)| sql.contains(name))
            .collect();
        let n: i64 = conn.query_row(&sql, used.as_slice(), |r| r.get(0))?;
        counts.insert(table.name, crate::store::to_u64(n));
    }
    Ok(counts)
}

/// The person's rows of every table that has any, as `(table, SQL predicate)` with the
/// named parameters of [`bind`] (an export reads the rows a deletion would remove).
pub fn person_predicates(
    conn: &Connection,
    person: Person,
) -> Result<Vec<(&'static Table, String)>, StoreError> {
    let mut plan = Plan::new(conn, person)?;
    let mut out = Vec::new();
    for table in REGISTRY {
        if matches!(table.deletion, Deletion::Keep(_)) {
            continue;
        }
        if let Some(predicate) = plan.predicate(table) {
            out.push((table, predicate));
        }
    }
    Ok(out)
}

/// The named parameters a predicate of [`person_predicates`] uses, bound for `person`.
pub fn bind(sql: &str, person: &Person) -> Vec<(&'static str, rusqlite::types::Value)> {
    use rusqlite::types::Value;
    [
        (":user", Value::Integer(person.user_row)),
        (
            ":athlete",
            person.athlete_row.map_or(Value::Null, Value::Integer),
        ),
        (":tenant", Value::Integer(person.tenant_row)),
    ]
    .into_iter()
    .filter(|(name, _)| sql.contains(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, prepare_data_dir};

    /// Every table the registry deletes from or scrubs is visited, each after the tables
    /// that point at it.
    #[test]
    fn every_acting_table_is_visited_after_its_children() {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .read(|conn| {
                let person = Person {
                    tenant_row: 1,
                    user_row: 1,
                    athlete_row: Some(1),
                };
                let plan = Plan::new(conn, person)?;
                let order: Vec<&str> = plan.order()?.iter().map(|t| t.name).collect();
                let acting = REGISTRY
                    .iter()
                    .filter(|t| !matches!(t.deletion, Deletion::Keep(_)))
                    .count();
                assert_eq!(order.len(), acting);
                let at = |name: &str| order.iter().position(|n| *n == name).unwrap();
                for (child, parent) in [
                    ("samples", "sessions"),
                    ("sessions", "devices"),
                    ("devices", "athletes"),
                    ("refresh_tokens", "auth_families"),
                    ("auth_families", "users"),
                    ("users", "athletes"),
                    ("chat_messages", "chat_conversations"),
                    ("sync_jobs", "provider_connections"),
                    ("audit_log", "users"),
                ] {
                    assert!(at(child) < at(parent), "{child} before {parent}: {order:?}");
                }
                Ok(())
            })
            .unwrap();
    }
}
