//! The coach chat's offline path through the gateway's own code (issue 24's numbers): one
//! athlete with 10,000 stored activities in a real store on disk, and a fixed round of
//! messages (questions over the library and the load, a run logged, a check-in, a life
//! event, "only 35 minutes today", a word taught, help) each taken as `POST /chat` takes it
//! without the HTTP layer: one write transaction around `chat::converse` with the API's
//! own tool runner (`api::chat::run_tool`), commit included. Timed per message; the
//! issue's target is a reply p99 ≤ 20 ms. Messages per second is the same loop's rate on
//! one thread.
//!
//! The store is built before the clock starts (10,000 manual entries through the
//! library's import, three a day going back); the daily limit is lifted.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use paceline_activities::ManualEntry;
use paceline_formats::Sport;
use paceline_gateway::accounts::{Principal, Role};
use paceline_gateway::api::ApiError;
use paceline_gateway::chat::{self, Speaker};
use paceline_gateway::jobs::library::{self, Owner};
use paceline_gateway::store::activities::CopyExtras;
use paceline_gateway::store::{Store, StoreError, ensure_athlete, ensure_tenant, prepare_data_dir};
use rusqlite::params;

use crate::planning::Timing;

/// Activities stored before the messages (issue 24's figure).
pub const ACTIVITIES: usize = 10_000;
/// Activities stored with `--quick` (a check of the harness, not the figure).
pub const QUICK_ACTIVITIES: usize = 500;

/// The round of messages, sent in order, over and over.
pub const MESSAGES: [&str; 10] = [
    "how's my fitness this month?",
    "how many km this week?",
    "what's my workout today?",
    "ran 5k this morning in 25:00",
    "only 35 minutes today",
    "feeling tired today, energy 2, soreness 4",
    "I'm travelling next week",
    "dhamaka is a dance workout",
    "had dhamaka practice for an hour, count it as a workout",
    "help",
];

/// What the bench measured.
#[derive(Debug, Clone)]
pub struct ChatFigures {
    /// Every message's reply time.
    pub reply: Timing,
    /// Messages per second on one thread (the timed loop).
    pub messages_per_s: f64,
    /// Activities in the store at the start.
    pub activities: usize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Builds the store in `dir` (which must be empty) with `activities` activities and times
/// `messages` turns.
pub fn run(dir: &Path, activities: usize, messages: usize) -> anyhow::Result<ChatFigures> {
    prepare_data_dir(dir).context("the bench's data folder")?;
    let store = Store::open(dir).context("the bench's store")?;
    let start = now_ms();
    let (tenant_row, athlete_row, user_row) = store
        .write(|tx| -> Result<(i64, i64, i64), StoreError> {
            let tenant = paceline_schemas::TenantId::new("bench".to_owned())
                .map_err(|e| StoreError::Corrupt {
                    what: "tenant",
                    row: 0,
                    reason: e.to_string(),
                })?;
            let tenant_row = ensure_tenant(tx, &tenant, start)?;
            let athlete_row = ensure_athlete(tx, tenant_row, "Ana", None, start)?;
            tx.execute(
                "INSERT INTO users (tenant_id, email, name, password_hash, role, athlete_id, created_ms)
                 VALUES (?1, 'ana@bench.example', 'Ana', 'x', 'athlete', ?2, ?3)",
                params![tenant_row, athlete_row, start],
            )?;
            Ok((tenant_row, athlete_row, tx.last_insert_rowid()))
        })
        .context("the bench's athlete")?;
    let owner = Owner {
        tenant_row,
        athlete_row,
    };
    let day_ms = 86_400_000_i64;
    let today_start = i64::try_from(start).unwrap_or(i64::MAX) / day_ms * day_ms;
    for chunk in (0..activities).collect::<Vec<_>>().chunks(1000) {
        store
            .write(|tx| -> Result<(), StoreError> {
                for &i in chunk {
                    let i = i64::try_from(i).unwrap_or(0);
                    let day = today_start - (i / 3 + 1) * day_ms;
                    let entry = ManualEntry {
                        sport: [Sport::Running, Sport::Cycling, Sport::Swimming]
                            [usize::try_from(i % 3).unwrap_or(0)],
                        start_ms: day + (6 + 5 * (i % 3)) * 3_600_000,
                        local_offset_s: None,
                        duration: "45 min".to_owned(),
                        distance: Some(format!("{} km", 5 + i % 20)),
                        energy: None,
                        ascent: None,
                        load_tss: Some(40.0 + f64::from(u8::try_from(i % 40).unwrap_or(0))),
                        rpe: None,
                        name: None,
                        note: None,
                    };
                    let valid = entry.validate().map_err(|e| StoreError::Corrupt {
                        what: "bench entry",
                        row: i,
                        reason: e.to_string(),
                    })?;
                    library::import_copy(tx, owner, &valid.copy, CopyExtras::default(), start)?;
                }
                Ok(())
            })
            .context("storing the bench's activities")?;
    }
    let principal = Principal {
        user_row,
        tenant_row,
        role: Role::Athlete,
        athlete_row: Some(athlete_row),
        family_row: 0,
        impersonation: None,
    };
    let who = Speaker {
        tenant_row,
        user_row,
        athlete_row,
    };
    let mut seconds = Vec::with_capacity(messages);
    let mut conversation = None;
    let started = Instant::now();
    for i in 0..messages {
        let message = MESSAGES[i % MESSAGES.len()];
        let now = now_ms();
        let t = Instant::now();
        let answer = store
            .write(|tx| -> Result<chat::Answer, ApiError> {
                chat::converse(
                    tx,
                    who,
                    message,
                    conversation,
                    now,
                    u32::MAX,
                    None,
                    |conn, tool, today| {
                        paceline_gateway::api::chat::run_tool(
                            conn,
                            &principal,
                            athlete_row,
                            tool,
                            today,
                            now,
                        )
                    },
                )
                .map_err(|e| ApiError::bad_request("chat", e.to_string()))
            })
            .map_err(|e| anyhow::anyhow!("{message:?}: {}", e.message))?;
        seconds.push(t.elapsed().as_secs_f64());
        // A new conversation each round, so pending questions do not pile up.
        conversation = if (i + 1) % MESSAGES.len() == 0 {
            None
        } else {
            Some(answer.conversation_id)
        };
        std::hint::black_box(&answer.reply.reply);
    }
    let total = started.elapsed().as_secs_f64();
    Ok(ChatFigures {
        reply: Timing::of(seconds),
        messages_per_s: messages as f64 / total,
        activities,
    })
}
