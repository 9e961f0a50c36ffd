//! The coach chat in the gateway: one turn of a conversation, around `paceline-chat`'s
//! two phases. The rules (intents, entities, learned terms, the safety gate, the reply)
//! are the core's; this module reads what the core needs from the rows (the athlete's
//! today, FTP and heart-rate cap, today's stored plan, the
//! caller's learned terms, the conversation's pending question and previous message),
//! hands the core's tools to a runner, applies the learned terms and stores the turn.
//!
//! **The runner is the API's**: [`converse`] never decides how a tool is carried out; the
//! API passes a runner that calls the same functions its own routes call, for the one
//! athlete the caller was already allowed to see. No tool names an athlete, so a chat can
//! never reach data the same user could not reach through the API. Each tool runs inside
//! a savepoint: one that fails leaves nothing behind, and the others still count.
//!
//! The chat's two channels to outside services are here too: [`llm`], the optional
//! OpenAI-compatible model, and [`sms`], the chat by SMS through Twilio.

pub mod llm;
pub mod sms;

use paceline_chat::actions::Tool;
use paceline_chat::engine::{
    self, AthleteContext, LoadFigures, Pending, PlannedWorkout, Reply, ToolOutcome, ToolOutput,
    Turn,
};
use paceline_chat::entities::{EntityError, Sport as ChatSport};
use paceline_chat::llm::{HistoryTurn, LlmAnswer, Role as LlmRole};
use paceline_chat::terms::TermBook;
use paceline_schemas::plan::{PlanStep, Sport as PlanSport, WorkoutPlan};
use rusqlite::Connection;
use time::{Date, Duration};

use crate::jobs::planning::{self as days, format_date};
use crate::store::StoreError;
use crate::store::chat::{self as rows, NewMessage, ms_time};
use crate::store::planning as plan_rows;

/// Messages one user may send a day (UTC), by default.
pub const MESSAGES_PER_DAY: u32 = 200;
/// The most earlier messages handed to the LLM (its request then bounds them to 10,000
/// tokens, summarising the older ones).
pub const LLM_HISTORY_MESSAGES: u32 = 40;

/// The chat as the API runs it: the daily limit and the LLM client, if configured.
#[derive(Debug, Clone)]
pub struct ChatRuntime {
    /// Messages one user may send a day (UTC).
    pub messages_per_day: u32,
    /// The LLM; none: the offline engine answers alone.
    pub llm: Option<crate::chat::llm::LlmClient>,
}

impl Default for ChatRuntime {
    fn default() -> Self {
        ChatRuntime {
            messages_per_day: MESSAGES_PER_DAY,
            llm: None,
        }
    }
}

impl ChatRuntime {
    /// The runtime for these settings (the LLM's HTTP client built once).
    pub fn new(settings: &crate::settings::ChatSettings) -> Result<ChatRuntime, reqwest::Error> {
        Ok(ChatRuntime {
            messages_per_day: settings.messages_per_day,
            llm: settings
                .llm
                .as_ref()
                .map(crate::chat::llm::LlmClient::new)
                .transpose()?,
        })
    }
}

/// The conversation's recent messages as the LLM's request takes them, oldest first.
pub fn llm_history(
    conn: &Connection,
    tenant_row: i64,
    conversation_id: i64,
) -> Result<Vec<HistoryTurn>, StoreError> {
    Ok(
        rows::recent_messages(conn, tenant_row, conversation_id, LLM_HISTORY_MESSAGES)?
            .into_iter()
            .map(|(role, text)| HistoryTurn {
                role: if role == "user" {
                    LlmRole::User
                } else {
                    LlmRole::Assistant
                },
                text,
            })
            .collect(),
    )
}
/// How far back the context's load comparison reaches, days.
pub const CONTEXT_LOAD_DAYS: i64 = engine::DEFAULT_LOOKBACK_DAYS;
const DAY_MS: u64 = 86_400_000;

/// Whether one more message fits in the day: `Err(wait)` until the next UTC day when
/// `sent_today` has reached `per_day`.
pub fn daily_allowance(sent_today: u32, per_day: u32, now_ms: u64) -> Result<(), Duration> {
    if sent_today < per_day {
        return Ok(());
    }
    let left_ms = DAY_MS - now_ms % DAY_MS;
    Err(Duration::milliseconds(
        i64::try_from(left_ms).unwrap_or(i64::MAX),
    ))
}

/// Why a turn was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The conversation is not the caller's (or does not exist).
    #[error("no such conversation")]
    NoConversation,
    /// The day's messages are used up; wait this long.
    #[error("the day's messages are used up")]
    TooMany(Duration),
    /// The message does not read (too long).
    #[error(transparent)]
    Message(#[from] EntityError),
}

/// Who talks about whom: the caller and the athlete they were allowed to see.
#[derive(Debug, Clone, Copy)]
pub struct Speaker {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The user writing.
    pub user_row: i64,
    /// The athlete talked about (already checked visible to the user).
    pub athlete_row: i64,
}

/// One turn taken.
#[derive(Debug)]
pub struct Answer {
    /// The conversation (new or continued).
    pub conversation_id: i64,
    /// The core's reply.
    pub reply: Reply,
    /// Each tool run and how it went.
    pub outcomes: Vec<ToolOutcome>,
}

/// A planned workout's length, s (repeats counted).
fn plan_duration_s(plan: &WorkoutPlan) -> u32 {
    plan.steps
        .iter()
        .map(|s| match s {
            PlanStep::Step(step) => step.duration_s,
            PlanStep::Repeat(r) => r
                .count
                .saturating_mul(r.steps.iter().map(|s| s.duration_s).sum::<u32>()),
        })
        .fold(0u32, u32::saturating_add)
}

/// A stored plan's workout as the chat describes it (`None` on a rest day, or for a
/// sport the chat has no word for).
pub fn planned_workout(plan: &serde_json::Value) -> Option<PlannedWorkout> {
    let workout = plan.get("workout").filter(|w| !w.is_null())?;
    let text = serde_json::to_string(workout).ok()?;
    let w: WorkoutPlan = paceline_schemas::codec::from_json(text.as_bytes()).ok()?;
    let sport = match w.sport {
        PlanSport::Bike => ChatSport::Ride,
        PlanSport::Run => ChatSport::Run,
        PlanSport::Other => return None,
    };
    Some(PlannedWorkout {
        sport,
        duration_s: plan_duration_s(&w),
        title: w.name.clone(),
    })
}

/// Load figures from `from` to `to` (CTL at both ends; ATL and TSB at `to`).
pub fn load_figures(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: Date,
    to: Date,
) -> Result<Option<LoadFigures>, StoreError> {
    let days = days::fitness(conn, tenant_row, athlete_row, from, to)?;
    Ok(match (days.first(), days.last()) {
        (Some(first), Some(last)) => Some(LoadFigures {
            from: first.date,
            to: last.date,
            ctl_from: first.ctl,
            ctl_to: last.ctl,
            atl_to: last.atl,
            tsb_to: last.tsb,
        }),
        _ => None,
    })
}

/// What the core knows before any tool runs: the athlete's FTP and heart-rate cap (their
/// profile), today's stored plan, the first observed preference not answered yet, and —
/// only when `with_load` — CTL now against [`CONTEXT_LOAD_DAYS`] ago.
///
/// The load reads every activity's load of the athlete (10,000 rows for issue 24's bench)
/// and runs the fitness model over them: [`converse`] leaves it out, because it runs every
/// tool the engine asks for and the reply's figures then come from the tools' outputs
/// (the `load_summary` tool reads the load itself); the context's load serves only a reply
/// with no tool run ([`engine::respond`]).
pub fn athlete_context(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    today: Date,
    with_load: bool,
) -> Result<AthleteContext, StoreError> {
    let profile = rows::athlete_profile(conn, tenant_row, athlete_row)?;
    let name = format_date(today);
    let todays_plan = plan_rows::plans_between(conn, tenant_row, athlete_row, &name, &name)?
        .first()
        .and_then(|r| planned_workout(&r.plan));
    Ok(AthleteContext {
        ftp_w: profile.as_ref().and_then(|p| p.ftp).map(u32::from),
        hr_cap_bpm: profile.as_ref().and_then(|p| p.hr_cap).map(u32::from),
        todays_plan,
        load: if with_load {
            load_figures(
                conn,
                tenant_row,
                athlete_row,
                today - Duration::days(CONTEXT_LOAD_DAYS),
                today,
            )?
        } else {
            None
        },
        observed_preference: crate::api::preferences::first_proposed(
            conn,
            tenant_row,
            athlete_row,
        )?,
    })
}

/// Runs `f` in a savepoint: kept when it succeeds, rolled back when it fails.
fn in_savepoint<T, E>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<Result<T, E>, StoreError> {
    // Cached statements: parsed once per connection, not once per tool.
    conn.prepare_cached("SAVEPOINT chat_tool")?.execute([])?;
    let out = f();
    if out.is_err() {
        conn.prepare_cached("ROLLBACK TO chat_tool")?.execute([])?;
    }
    conn.prepare_cached("RELEASE chat_tool")?.execute([])?;
    Ok(out)
}

/// One turn: the daily limit, the conversation (the caller's own, or a new one), the core's
/// reading, the tools through `run` (each in a savepoint; its error is shown to the user
/// and must be safe to show), the learned terms applied (pruned as the rules say) and the
/// turn stored. Runs in the caller's write transaction, so the turn is all or nothing.
/// `model` is the LLM's validated answer when one came in time: its tools replace the
/// offline engine's after the same safety gate ([`engine::decide_with_llm`]).
#[allow(clippy::too_many_arguments)]
pub fn converse(
    tx: &Connection,
    who: Speaker,
    message: &str,
    conversation_id: Option<i64>,
    now_ms: u64,
    per_day: u32,
    model: Option<&LlmAnswer>,
    mut run: impl FnMut(&Connection, &Tool, Date) -> Result<ToolOutput, String>,
) -> Result<Answer, ChatError> {
    paceline_chat::entities::check_length(message)?;
    let day_start = crate::store::to_i64(now_ms - now_ms % DAY_MS);
    let sent = rows::messages_sent_since(tx, who.tenant_row, who.user_row, day_start)?;
    daily_allowance(sent, per_day, now_ms).map_err(ChatError::TooMany)?;
    let (conversation, pending) = match conversation_id {
        Some(id) => {
            let c = rows::conversation(tx, who.tenant_row, who.user_row, who.athlete_row, id)?
                .ok_or(ChatError::NoConversation)?;
            let pending: Pending =
                serde_json::from_str(&c.pending_json).map_err(|e| StoreError::Corrupt {
                    what: "chat pending",
                    row: id,
                    reason: e.to_string(),
                })?;
            (id, pending)
        }
        None => (
            rows::start_conversation(tx, who.tenant_row, who.user_row, who.athlete_row, now_ms)?,
            Pending::default(),
        ),
    };
    let previous_message = rows::last_user_message(tx, who.tenant_row, conversation)?;
    let today = days::athlete_today(tx, who.tenant_row, who.athlete_row, now_ms)?;
    let now = ms_time(crate::store::to_i64(now_ms));
    // No load in the context: every tool runs below, and `load_summary` reads it itself.
    let ctx = athlete_context(tx, who.tenant_row, who.athlete_row, today, false)?;
    let mut book = TermBook::from_terms(rows::terms(tx, who.tenant_row, who.user_row)?);
    let turn = Turn {
        message: message.to_owned(),
        pending,
        previous_message,
    };
    let decision = engine::understand(&turn, &ctx, &book, today, now)?;
    let decision = match model {
        Some(answer) => engine::decide_with_llm(decision, answer, &ctx),
        None => decision,
    };
    let mut outcomes = Vec::with_capacity(decision.tools.len());
    for tool in &decision.tools {
        let result = in_savepoint(tx, || run(tx, tool, today))?;
        outcomes.push(ToolOutcome {
            tool: tool.clone(),
            result,
        });
    }
    if !decision.learned.is_empty() {
        for update in &decision.learned {
            // A full book or a phrase no longer there: the reply still stands; the
            // update is dropped.
            let _ = book.apply(update, now);
        }
        book.prune(now);
        rows::replace_terms(tx, who.tenant_row, who.user_row, book.terms())?;
    }
    let reply = engine::compose_reply(&decision, &ctx, &outcomes);
    rows::add_message(
        tx,
        who.tenant_row,
        NewMessage {
            conversation_id: conversation,
            athlete_row: who.athlete_row,
            user_row: who.user_row,
            role: "user",
            text: message,
            intent: Some(reply.intent.as_str()),
            details_json: None,
        },
        now_ms,
    )?;
    let details = serde_json::json!({
        "engine": if model.is_some() { "llm" } else { "offline" },
        "tools": outcomes.iter().map(|o| serde_json::json!({
            "name": o.tool.name(), "ok": o.result.is_ok()})).collect::<Vec<_>>(),
        "actions": reply.actions,
        "learned": reply.learned,
    })
    .to_string();
    rows::add_message(
        tx,
        who.tenant_row,
        NewMessage {
            conversation_id: conversation,
            athlete_row: who.athlete_row,
            user_row: who.user_row,
            role: "assistant",
            text: &reply.reply,
            intent: None,
            details_json: Some(&details),
        },
        now_ms,
    )?;
    let pending = serde_json::to_string(&reply.pending).map_err(|e| StoreError::Corrupt {
        what: "chat pending",
        row: conversation,
        reason: e.to_string(),
    })?;
    rows::set_pending(tx, who.tenant_row, conversation, &pending, now_ms)?;
    Ok(Answer {
        conversation_id: conversation,
        reply,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn's context without the load reads no activity: with issue 24's 10,000 stored
    /// activities the load is nearly all of the context's cost (the two timings are
    /// printed with `--nocapture`). Everything else in the context is the same.
    #[test]
    #[allow(
        clippy::print_stdout,
        reason = "the two timings are reported beside the verdict"
    )]
    fn the_turns_context_leaves_the_library_alone() {
        use crate::jobs::library::{self, Owner};
        use crate::store::activities::CopyExtras;
        use crate::store::{Store, ensure_athlete, ensure_tenant, prepare_data_dir};
        use paceline_activities::ManualEntry;
        use paceline_formats::Sport;
        const ACTIVITIES: i64 = 10_000;
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now_ms: u64 = 1_796_558_400_000; // 2026-12-06T12:00Z
        let today = days::local_day(crate::store::to_i64(now_ms), None);
        store
            .write(|tx| -> Result<(), StoreError> {
                let slug = paceline_schemas::TenantId::new("ctx".to_owned()).unwrap();
                let tenant = ensure_tenant(tx, &slug, now_ms)?;
                let athlete = ensure_athlete(tx, tenant, "Ana", None, now_ms)?;
                let owner = Owner {
                    tenant_row: tenant,
                    athlete_row: athlete,
                };
                for i in 0..ACTIVITIES {
                    let entry = ManualEntry {
                        sport: Sport::Cycling,
                        // Three a day, going back from yesterday.
                        start_ms: crate::store::to_i64(now_ms) - (i / 3 + 1) * 86_400_000
                            + (i % 3) * 3_600_000,
                        local_offset_s: None,
                        duration: "45 min".to_owned(),
                        distance: None,
                        energy: None,
                        ascent: None,
                        load_tss: Some(40.0),
                        rpe: None,
                        name: None,
                        note: None,
                    };
                    let valid = entry.validate().unwrap();
                    library::import_copy(tx, owner, &valid.copy, CopyExtras::default(), now_ms)
                        .unwrap();
                }
                let loads: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM activities WHERE tss IS NOT NULL AND flagged_reason IS NULL",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(loads, ACTIVITIES);
                let timed = |with_load: bool| {
                    let t = std::time::Instant::now();
                    let mut ctx = None;
                    for _ in 0..20 {
                        ctx = Some(athlete_context(tx, tenant, athlete, today, with_load));
                    }
                    (t.elapsed() / 20, ctx.unwrap())
                };
                let (with, full) = timed(true);
                let (without, lean) = timed(false);
                let (full, lean) = (full?, lean?);
                println!(
                    "athlete_context with {ACTIVITIES} activities: {:.3} ms with the load, {:.3} ms without",
                    with.as_secs_f64() * 1e3,
                    without.as_secs_f64() * 1e3
                );
                // 3 × 40 TSS a day for 28+ days: the load is there when asked for.
                assert!(full.load.is_some_and(|l| l.ctl_to > 50.0), "{:?}", full.load);
                assert_eq!(lean.load, None);
                assert_eq!(
                    AthleteContext {
                        load: None,
                        ..full
                    },
                    lean
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_daily_limit_counts_to_the_next_utc_day() {
        let noon = 1_796_558_400_000; // 2026-12-06T12:00Z
        assert!(daily_allowance(0, MESSAGES_PER_DAY, noon).is_ok());
        assert!(daily_allowance(199, MESSAGES_PER_DAY, noon).is_ok());
        // The 201st message of the day waits 12 h, until midnight UTC.
        assert_eq!(
            daily_allowance(200, MESSAGES_PER_DAY, noon),
            Err(Duration::hours(12))
        );
        assert_eq!(
            daily_allowance(250, MESSAGES_PER_DAY, noon + DAY_MS / 2 - 1),
            Err(Duration::milliseconds(1))
        );
    }
}
