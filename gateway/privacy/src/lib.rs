//! The data registry: every table of the gateway's store, declared once, with the key that
//! ties its rows to a person or a tenant and what export, deletion and retention do with
//! them.
//!
//! Athletes own their data; gym owners and admins run the service. Export ("give me
//! everything you hold about me"), deletion ("forget me") and retention ("keep raw samples
//! two years") are only as good as their list of tables: a table that is not on it is
//! data that silently survives a deletion or is missing from an export. So the list is
//! here, in one place, and the gateway's test `store::privacy_registry` compares it with
//! the store's own `sqlite_master` after every migration: a table that is not declared,
//! or declared but gone, fails the build.
//!
//! - [`REGISTRY`]: one [`Table`] per table, in migration order.
//! - [`undeclared`] / [`stale`]: the comparison with what the store has.
//! - [`Retention::cutoff_ms`]: where a retention period ends, from `now` (an argument).
//!
//! **This crate does no I/O**: it names tables and columns; the gateway writes the SQL
//! (scoped by tenant, as every query is).

/// Whose a row is: the person or organisation a deletion or an export follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A tenant (gym, team): the row goes with the tenant.
    Tenant,
    /// A user account (login, password, tokens, what they typed).
    User,
    /// An athlete (their activities, sessions, health data).
    Athlete,
    /// Nobody: the service's own rows (keys, counters). Never personal.
    Service,
}

/// How a table's rows are found for an owner: the column holding the owner's row id, or
/// the path through another table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A column of the table itself (`athlete_id`, `user_id`, `tenant_id`).
    Column(&'static str),
    /// A column naming a row of another table that is itself keyed
    /// (`column` → `table.id`), e.g. a session's samples by `session_row`.
    Through {
        /// This table's column.
        column: &'static str,
        /// The table it points into.
        table: &'static str,
    },
    /// Not tied to anyone ([`Owner::Service`] tables).
    None,
}

/// What an export of the owner's data does with the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Every row, as JSON and CSV, without the listed columns (secrets, digests).
    Rows {
        /// Columns never exported (sealed keys, password hashes, token digests).
        omit: &'static [&'static str],
    },
    /// Not exported, and why (a secret, or not the owner's data).
    No(&'static str),
}

/// What deleting the owner does with the table's rows.
///
/// A deletion follows the store's foreign keys: a row goes when any of its columns
/// names the person (`users.id`, `athletes.id`) or a row that goes itself (a session's
/// samples, a conversation's messages), so a coach's link to a deleted athlete goes with
/// the athlete even though it is keyed by the coach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The rows are deleted.
    Delete,
    /// The rows are deleted when a JSON column names a deleted row of another table (a
    /// job queue's payload naming a connection).
    DeleteNamed {
        /// The JSON column.
        json_column: &'static str,
        /// `(field, table, column)`: the payload's `field` holds `table.column` of a row.
        refs: &'static [(&'static str, &'static str, &'static str)],
    },
    /// The rows stay (the record must: an audit trail) with these columns cleared of
    /// anything personal.
    Scrub {
        /// Columns set to NULL.
        columns: &'static [&'static str],
        /// A text column naming its subject as `user:{id}` or `athlete:{id}`: rows
        /// naming the person are scrubbed too.
        naming: Option<&'static str>,
    },
    /// Nothing personal is in it; the rows stay, and why.
    Keep(&'static str),
}

/// How long rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// As long as their owner's account (deleted with it).
    WithOwner,
    /// Pruned once older than a number of days (a tenant setting may change it).
    Days {
        /// The default period, days.
        default_days: u32,
        /// The column with the row's time, ms since the epoch.
        time_column: &'static str,
    },
}

/// The length of a day, ms.
const DAY_MS: u64 = 86_400_000;

impl Retention {
    /// Raw samples kept by default: two years. Summaries and load stay.
    pub const RAW_SAMPLES_DAYS: u32 = 730;

    /// Rows with a time before this (ms) are past the period at `now_ms` over `days`
    /// (`None` for rows kept with their owner).
    pub fn cutoff_ms(self, now_ms: u64, days: Option<u32>) -> Option<u64> {
        match self {
            Retention::WithOwner => None,
            Retention::Days { default_days, .. } => {
                let days = u64::from(days.unwrap_or(default_days));
                Some(now_ms.saturating_sub(days.saturating_mul(DAY_MS)))
            }
        }
    }
}

/// One table of the store and its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The table's name.
    pub name: &'static str,
    /// Whose its rows are.
    pub owner: Owner,
    /// How they are found for their owner.
    pub key: Key,
    /// Whether a row can say something about a person (a name, an email, health data,
    /// where and when they trained, what they typed).
    pub personal: bool,
    /// In an export.
    pub export: Export,
    /// On deletion of the owner.
    pub deletion: Deletion,
    /// How long kept.
    pub retention: Retention,
}

const fn athlete(name: &'static str) -> Table {
    Table {
        name,
        owner: Owner::Athlete,
        key: Key::Column("athlete_id"),
        personal: true,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Delete,
        retention: Retention::WithOwner,
    }
}

const fn user(name: &'static str) -> Table {
    Table {
        name,
        owner: Owner::User,
        key: Key::Column("user_id"),
        personal: true,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Delete,
        retention: Retention::WithOwner,
    }
}

const fn through(name: &'static str, column: &'static str, table: &'static str) -> Table {
    Table {
        key: Key::Through { column, table },
        ..athlete(name)
    }
}

/// Every table of the store, in migration order.
pub const REGISTRY: &[Table] = &[
    Table {
        name: "tenants",
        owner: Owner::Tenant,
        key: Key::Column("id"),
        personal: true, // a gym's name can name its owner
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Keep(
            "the tenant outlives a member's deletion; a tenant export includes it",
        ),
        retention: Retention::WithOwner,
    },
    Table {
        name: "plans",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Keep("workout plans belong to the gym's library, not to a person"),
        retention: Retention::WithOwner,
    },
    Table {
        key: Key::Column("id"),
        ..athlete("athletes")
    },
    Table {
        export: Export::Rows {
            omit: &["key_sealed", "token_sha256"],
        },
        ..athlete("devices")
    },
    athlete("sessions"),
    Table {
        retention: Retention::Days {
            default_days: Retention::RAW_SAMPLES_DAYS,
            time_column: "received_ms",
        },
        export: Export::No("sealed wire frames: their contents are exported as samples"),
        ..through("frames", "session_row", "sessions")
    },
    Table {
        retention: Retention::Days {
            default_days: Retention::RAW_SAMPLES_DAYS,
            time_column: "received_ms",
        },
        ..through("samples", "session_row", "sessions")
    },
    through("cues", "session_row", "sessions"),
    through("modifications", "session_row", "sessions"),
    Table {
        key: Key::Column("id"),
        export: Export::Rows {
            omit: &["password_hash"],
        },
        ..user("users")
    },
    Table {
        name: "invitations",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::No("single-use codes, stored as digests"),
        // An invitation the person made, used or that names their athlete: the audit
        // log keeps that it happened.
        deletion: Deletion::Delete,
        retention: Retention::WithOwner,
    },
    Table {
        key: Key::Column("coach_user_id"),
        ..user("coach_athletes")
    },
    Table {
        export: Export::No("token families: secrets, not the user's data"),
        ..user("auth_families")
    },
    Table {
        owner: Owner::User,
        export: Export::No("refresh-token digests: secrets"),
        ..through("refresh_tokens", "family_id", "auth_families")
    },
    Table {
        name: "audit_log",
        owner: Owner::User,
        key: Key::Column("user_id"),
        personal: true,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Scrub {
            columns: &["user_id", "target", "detail_json", "ip"],
            naming: Some("target"),
        },
        retention: Retention::Days {
            default_days: 730,
            time_column: "at_ms",
        },
    },
    user("session_commands"),
    Table {
        name: "server_secrets",
        owner: Owner::Service,
        key: Key::None,
        personal: false,
        export: Export::No("the server's own keys, sealed"),
        deletion: Deletion::Keep("the server's keys"),
        retention: Retention::WithOwner,
    },
    Table {
        name: "tenant_usage",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::No("a counter of stored bytes"),
        deletion: Deletion::Keep("a counter of stored bytes"),
        retention: Retention::WithOwner,
    },
    athlete("activities"),
    Table {
        export: Export::Rows {
            omit: &["samples_fit"],
        },
        ..athlete("activity_sources")
    },
    Table {
        name: "activity_precedence",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Keep("the gym's source order"),
        retention: Retention::WithOwner,
    },
    athlete("daily_metrics"),
    athlete("daily_plans"),
    athlete("life_events"),
    athlete("planning_settings"),
    Table {
        export: Export::No("a cache, recomputed from the exported data"),
        ..athlete("insight_reports")
    },
    athlete("insight_feedback"),
    user("music_libraries"),
    athlete("chat_conversations"),
    through("chat_messages", "conversation_id", "chat_conversations"),
    user("chat_terms"),
    Table {
        name: "sync_jobs",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::No("the sync runner's work queue: provider ids, no athlete data"),
        deletion: Deletion::DeleteNamed {
            json_column: "payload",
            refs: &[
                ("connection_id", "provider_connections", "id"),
                ("owner_id", "provider_connections", "provider_user_id"),
            ],
        },
        retention: Retention::WithOwner,
    },
    Table {
        export: Export::Rows {
            omit: &["tokens_sealed"],
        },
        ..athlete("provider_connections")
    },
    Table {
        export: Export::No("single-use OAuth states: secrets for ten minutes"),
        ..user("oauth_states")
    },
    user("digest_sends"),
    user("digest_optouts"),
    Table {
        export: Export::No("the export jobs themselves: their links are stored as digests"),
        ..user("privacy_exports")
    },
    Table {
        name: "tenant_privacy_settings",
        owner: Owner::Tenant,
        key: Key::Column("tenant_id"),
        personal: false,
        export: Export::Rows { omit: &[] },
        deletion: Deletion::Keep("the gym's retention period"),
        retention: Retention::WithOwner,
    },
    Table {
        export: Export::Rows {
            omit: &["code_sha256"],
        },
        ..user("sms_phones")
    },
    Table {
        name: "sms_inbound",
        owner: Owner::Service,
        key: Key::None,
        personal: false,
        export: Export::No("Twilio message ids seen, to ignore repeats: no sender, no text"),
        deletion: Deletion::Keep("message ids only"),
        retention: Retention::Days {
            default_days: 30,
            time_column: "received_ms",
        },
    },
    Table {
        export: Export::Rows {
            omit: &["family_id"],
        },
        // Who viewed whom stays in the audit log; the row itself is only needed while
        // the view is open.
        retention: Retention::Days {
            default_days: 90,
            time_column: "started_ms",
        },
        ..user("impersonations")
    },
    athlete("coach_sharing"),
    Table {
        name: "sync_quotas",
        owner: Owner::Service,
        key: Key::None,
        personal: false,
        export: Export::No("a provider app's rate-limit counters and pause: no athlete"),
        deletion: Deletion::Keep("quota counters only"),
        retention: Retention::WithOwner,
    },
    Table {
        name: "sms_number_counts",
        owner: Owner::Service,
        key: Key::None,
        personal: false,
        export: Export::No("SMS counted per number digest and hour or day: no number, no text"),
        deletion: Deletion::Keep("counts under a number's digest only"),
        retention: Retention::Days {
            default_days: 2,
            time_column: "window_start_ms",
        },
    },
    athlete("athlete_preferences"),
    Table {
        export: Export::No("frames held a second or so before they move into frames"),
        ..through("frames_inbox", "session_row", "sessions")
    },
    Table {
        export: Export::No("samples held a second or so; an export moves them first"),
        ..through("samples_inbox", "session_row", "sessions")
    },
];

/// A column holding raw recordings in a table whose rows otherwise stay (their
/// summaries): cleared after the raw-sample period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawColumn {
    /// The table.
    pub table: &'static str,
    /// The column set to NULL.
    pub column: &'static str,
    /// The column with the row's time, ms since the epoch.
    pub time_column: &'static str,
    /// `table.column`, for progress and reports.
    pub label: &'static str,
}

/// The raw recordings kept in columns: an activity copy's samples as FIT go after
/// [`Retention::RAW_SAMPLES_DAYS`] (or the tenant's period) like raw samples; the
/// activity and its summary stay.
pub const RAW_COLUMNS: &[RawColumn] = &[RawColumn {
    table: "activity_sources",
    column: "samples_fit",
    time_column: "start_ms",
    label: "activity_sources.samples_fit",
}];

/// What a table holds, in a few words (README's privacy table); empty for a table not
/// described yet (a test fails then).
pub fn holds(name: &str) -> &'static str {
    match name {
        "tenants" => "each gym or team: its name and slug",
        "plans" => "the gym's workout plans",
        "athletes" => "each athlete's name and profile (FTP, heart-rate limits, zones)",
        "devices" => "paired edge agents: id, owner, sealed key, token digest",
        "sessions" => "live sessions: when, which device and plan, the summary",
        "frames" => "the sealed wire frames of live sessions, as received",
        "samples" => "raw sensor samples: heart rate, power, cadence, speed",
        "cues" => "the coach's cues of a session",
        "modifications" => "workout changes the coach made",
        "users" => "accounts: email, name, role, password hash",
        "invitations" => "invitation codes (as digests), who made and used them",
        "coach_athletes" => "which coach may see which athlete",
        "auth_families" => "logins (refresh-token families)",
        "refresh_tokens" => "refresh-token digests",
        "audit_log" => "who did what, when and from which address",
        "session_commands" => "commands a coach sent to a live session",
        "server_secrets" => "the server's own keys, sealed",
        "tenant_usage" => "bytes of frames a gym stores",
        "activities" => "the activity library: each workout's summary and load",
        "activity_sources" => {
            "each copy of an activity (file, provider, live) with its samples as FIT"
        }
        "activity_precedence" => "the gym's order of activity sources",
        "daily_metrics" => "check-ins and health values per day (HRV, sleep, weight, food)",
        "daily_plans" => "the daily plans generated, with their inputs",
        "life_events" => "travel, illness and busy days",
        "planning_settings" => "goals, availability, equipment",
        "insight_reports" => "cached correlation reports",
        "insight_feedback" => "'was this helpful?' answers",
        "music_libraries" => "a user's music tracks and tempos",
        "chat_conversations" => "coach-chat conversations",
        "chat_messages" => "what was typed in the chat and the replies",
        "chat_terms" => "words a user taught the chat",
        "sync_jobs" => "provider sync work queue (connection and provider ids)",
        "provider_connections" => "Strava and Garmin links: provider id, sealed tokens, status",
        "oauth_states" => "pending provider authorizations (digests, 10 minutes)",
        "digest_sends" => "which week's digest went to whom, and its send attempts",
        "digest_optouts" => "who unsubscribed from the weekly digest",
        "sms_phones" => "a user's linked phone number, its code digest, STOP",
        "sms_inbound" => "SMS message ids seen (no sender, no text), 30 days",
        "privacy_exports" => "data export jobs and their link digests",
        "tenant_privacy_settings" => "a gym's raw-sample retention period",
        "coach_sharing" => "what an athlete lets linked coaches see (live, history, health)",
        "sync_quotas" => "each provider app's last rate-limit headers and pause (no athlete)",
        "impersonations" => "read-only \"view as\" of a gym-admin: who, whom, until when, 90 days",
        "athlete_preferences" => {
            "an athlete's stated and observed preferences, their confidence and answers"
        }
        "sms_number_counts" => {
            "SMS in and out per number digest and hour or day (no number), 2 days"
        }
        "frames_inbox" => "live sessions' newest frames, for a second or so, before `frames`",
        "samples_inbox" => "live sessions' newest samples, for a second or so, before `samples`",
        _ => "",
    }
}

/// The registry as the README's markdown table: table, what it holds, whose, export,
/// deletion, how long kept.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Table | Holds | Whose | Export | On deletion | Kept |\n|---|---|---|---|---|---|\n",
    );
    for t in REGISTRY {
        let whose = match t.owner {
            Owner::Tenant => "gym",
            Owner::User => "user",
            Owner::Athlete => "athlete",
            Owner::Service => "server",
        };
        let export = match t.export {
            Export::Rows { omit: [] } => "JSON + CSV".to_owned(),
            Export::Rows { omit } => format!("JSON + CSV without {}", omit.join(", ")),
            Export::No(_) => "no".to_owned(),
        };
        let deletion = match t.deletion {
            Deletion::Delete => "deleted".to_owned(),
            Deletion::DeleteNamed { .. } => "those naming the person's rows deleted".to_owned(),
            Deletion::Scrub { columns, .. } => format!("kept, {} cleared", columns.join(", ")),
            Deletion::Keep(_) => "kept (not personal)".to_owned(),
        };
        let kept = match t.retention {
            Retention::WithOwner => "with its owner".to_owned(),
            Retention::Days { default_days, .. } if matches!(t.name, "frames" | "samples") => {
                format!("{default_days} days, or the gym's setting")
            }
            Retention::Days { default_days, .. } => format!("{default_days} days"),
        };
        let kept = match RAW_COLUMNS.iter().find(|c| c.table == t.name) {
            Some(c) => format!("{kept}; {} {} days", c.column, Retention::RAW_SAMPLES_DAYS),
            None => kept,
        };
        out.push_str(&format!(
            "| `{}` | {} | {whose} | {export} | {deletion} | {kept} |\n",
            t.name,
            holds(t.name)
        ));
    }
    out
}

/// The declaration of `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    REGISTRY.iter().find(|t| t.name == name)
}

/// The tables the store has that the registry does not declare, sorted (SQLite's own
/// `sqlite_*` tables are not the product's).
pub fn undeclared<'a>(existing: &[&'a str]) -> Vec<&'a str> {
    let mut missing: Vec<&str> = existing
        .iter()
        .copied()
        .filter(|name| !name.starts_with("sqlite_") && table(name).is_none())
        .collect();
    missing.sort_unstable();
    missing
}

/// The declared tables the store does not have (dropped or renamed without the registry
/// following), sorted.
pub fn stale(existing: &[&str]) -> Vec<&'static str> {
    let mut gone: Vec<&'static str> = REGISTRY
        .iter()
        .map(|t| t.name)
        .filter(|name| !existing.contains(name))
        .collect();
    gone.sort_unstable();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_registry() {
        for t in REGISTRY {
            assert!(
                !holds(t.name).is_empty(),
                "say what {} holds in holds()",
                t.name
            );
        }
        let readme = include_str!("../../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's privacy table is not the registry's; put this there:\n{table}"
        );
    }

    #[test]
    fn every_table_is_declared_once() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table declared twice");
    }

    #[test]
    fn a_key_through_another_table_points_at_a_declared_keyed_table() {
        for t in REGISTRY {
            if let Key::Through { table: other, .. } = t.key {
                let target =
                    table(other).unwrap_or_else(|| panic!("{}: {other} undeclared", t.name));
                assert!(
                    matches!(target.key, Key::Column(_)),
                    "{} → {other}: one hop only",
                    t.name
                );
            }
        }
    }

    #[test]
    fn personal_tables_are_tied_to_someone_and_service_tables_to_no_one() {
        for t in REGISTRY {
            assert_eq!(t.owner == Owner::Service, t.key == Key::None, "{}", t.name);
            if t.personal {
                assert_ne!(t.owner, Owner::Service, "{}", t.name);
            }
        }
    }

    #[test]
    fn secrets_never_leave_in_an_export() {
        for (name, secret) in [
            ("devices", "key_sealed"),
            ("devices", "token_sha256"),
            ("users", "password_hash"),
        ] {
            let Export::Rows { omit } = table(name).unwrap().export else {
                panic!("{name} is exported");
            };
            assert!(omit.contains(&secret), "{name}.{secret}");
        }
        for name in [
            "refresh_tokens",
            "auth_families",
            "server_secrets",
            "invitations",
        ] {
            assert!(
                matches!(table(name).unwrap().export, Export::No(_)),
                "{name}"
            );
        }
    }

    #[test]
    fn raw_samples_go_after_730_days_and_a_tenant_setting_changes_it() {
        let samples = table("samples").unwrap().retention;
        let now_ms = 800 * DAY_MS;
        // 800 days − 730 days = day 70.
        assert_eq!(samples.cutoff_ms(now_ms, None), Some(70 * DAY_MS));
        assert_eq!(samples.cutoff_ms(now_ms, Some(365)), Some(435 * DAY_MS));
        assert_eq!(
            samples.cutoff_ms(DAY_MS, None),
            Some(0),
            "never before the epoch"
        );
        assert_eq!(
            table("activities")
                .unwrap()
                .retention
                .cutoff_ms(now_ms, None),
            None
        );
    }

    #[test]
    fn the_comparison_names_what_is_missing_either_way() {
        let mut existing: Vec<&str> = REGISTRY.iter().map(|t| t.name).collect();
        existing.push("sqlite_sequence");
        assert!(undeclared(&existing).is_empty());
        assert!(stale(&existing).is_empty());
        existing.push("new_table");
        existing.retain(|n| *n != "samples");
        assert_eq!(undeclared(&existing), ["new_table"]);
        assert_eq!(stale(&existing), ["samples"]);
    }
}
