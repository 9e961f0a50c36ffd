//! The coach chat's routes: `POST /chat` (one message, its reply and what it did) and the
//! caller's learned terms (`GET`/`PUT`/`DELETE /me/terms`). The rules are
//! `paceline-chat`'s, the turn in [`crate::chat`], the SQL in [`crate::store::chat`].
//!
//! An athlete user talks about themself; a coach or gym-admin names the athlete
//! (`athlete_id`; 404 when they may not see that athlete, as everywhere). The chat's tools
//! run here, in [`run_tool`], through the functions the API's own routes call (planning's
//! fitness and today's plan, a busy life event with the minutes, the daily check-in's
//! patch and checks, the library's manual entry, life events), for that one athlete only.
//! A tool the product has no service for yet answers an error the reply shows.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paceline_activities::ManualEntry;
use paceline_chat::actions::{Level, Tool};
use paceline_chat::engine::{ActivityFigures, ToolOutput};
use paceline_chat::entities::{MAX_MESSAGE_CHARS, PartOfDay, Sport as ChatSport};
use paceline_chat::intent::LifeKind as ChatLifeKind;
use paceline_chat::terms::{Meaning, Term, TermBook, normalise};
use paceline_formats::Sport as LibrarySport;
use paceline_planning::recovery::check_date;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, Duration};
use utoipa::{IntoParams, ToSchema};

use super::planning::{DailyBody, LifeEventBody, life_record};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, athlete_visible, audit};
use crate::accounts::{Principal, Role};
use crate::chat::{self, ChatError, Speaker};
use crate::jobs::library::{self, Owner};
use crate::jobs::planning::{self as days, format_date, local_day};
use crate::store::activities::{self as library_rows, CopyExtras, ListFilter};
use crate::store::chat::{self as rows, ms_time, time_ms};
use crate::store::planning::{self as plan_rows, MetricSource};

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {reason}"))
}

/// `POST /chat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    /// What the user writes (at most 4,000 characters).
    pub message: String,
    /// The conversation to continue (its last reply's question is answered by yes/no);
    /// none starts a new one.
    pub conversation_id: Option<i64>,
    /// The athlete talked about: required for a coach or gym-admin, an athlete's own by
    /// default for an athlete user.
    pub athlete_id: Option<i64>,
}

impl ChatBody {
    /// The checks made before the caller or the database are read.
    pub(super) fn check(&self) -> Result<(), ApiError> {
        let chars = self.message.chars().take(MAX_MESSAGE_CHARS + 1).count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(invalid(
                "message",
                format!("longer than {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

/// A tool the chat ran and how it went.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolUsed {
    /// Its name (`compress_todays_plan`, `log_activity`, …).
    pub name: String,
    /// Its arguments, as the chat decided them (after the safety limits).
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// Whether it worked.
    pub ok: bool,
    /// Why not, as the reply says it.
    pub error: Option<String>,
}

/// A change the chat made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    /// The tool.
    pub tool: String,
    /// What changed, in words.
    pub summary: String,
}

/// The chat's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatReply {
    /// The text for the user.
    pub reply: String,
    /// `modify_workout`, `log_activity`, `log_checkin`, `history_question`, `life_event`,
    /// `preference`, `define_term`, `help` or `unknown`.
    pub intent: String,
    /// The entities read (durations in s, distances in m, paces in s/km, dates, sport,
    /// intensity).
    #[schema(value_type = Object)]
    pub entities: Value,
    /// The whole reading: the modification, confidence, learned terms used, preference,
    /// life event kind, check-in, teaching.
    #[schema(value_type = Object)]
    pub understanding: Value,
    /// The tools run, in order, each with how it went.
    pub tools_used: Vec<ToolUsed>,
    /// The changes made.
    pub actions: Vec<ActionView>,
    /// Changes to the caller's learned terms (`teach`, `confirm`, `correct`).
    #[schema(value_type = Vec<Object>)]
    pub learned: Vec<Value>,
    /// A destructive tool waiting for "yes" in this conversation.
    #[schema(value_type = Option<Object>)]
    pub confirmation: Option<Value>,
    /// The conversation, to continue it.
    pub conversation_id: i64,
    /// Which engine chose the tools: `llm` (the configured model, its answer validated
    /// and vetted) or `offline` (the rules).
    pub engine: String,
    /// Why the configured model's answer was not used (`timeout`, `network`, `status`,
    /// `too_large`, `refused`); absent when it was, or when no model is configured.
    pub llm_fallback: Option<String>,
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The athlete a chat is about: an athlete user's own unless named; named for staff.
fn chat_athlete(conn: &Connection, p: &Principal, named: Option<i64>) -> Result<i64, ApiError> {
    let id = match (named, p.role) {
        (Some(id), _) => id,
        (None, Role::Athlete) => p
            .athlete_row
            .ok_or_else(|| ApiError::not_found("athlete"))?,
        (None, Role::Coach | Role::GymAdmin) => {
            return Err(invalid(
                "athlete_id",
                "required: name the athlete you are talking about",
            ));
        }
    };
    if athlete_visible(conn, p, id)? {
        Ok(id)
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// Talk to the coach chat: one message about one athlete. The reply says what it
/// understood (`intent`, `entities`), which tools it ran as the caller (`tools_used`),
/// what changed (`actions`) and which of the caller's terms it learned (`learned`).
/// Destructive changes wait for "yes" in the same conversation.
#[utoipa::path(post, path = "/api/v1/chat", tag = "chat",
    request_body = ChatBody,
    responses((status = 200, body = ChatReply),
        (status = 400, description = "a message over 4,000 characters, or no athlete_id from a coach or gym-admin; the message names the field"),
        (status = 404, description = "no such athlete or conversation visible"),
        (status = 429, description = "200 messages a day used; Retry-After says until when")),
    security(("bearer" = [])))]
pub async fn post_chat(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ChatBody>,
) -> Result<Json<ChatReply>, ApiError> {
    body.check()?;
    let (answer, engine, llm_fallback) = take_turn(&state, p, body).await?;
    let r = answer.reply;
    Ok(Json(ChatReply {
        reply: r.reply.clone(),
        intent: r.intent.as_str().to_owned(),
        entities: to_value(&r.understanding.entities),
        understanding: to_value(&r.understanding),
        tools_used: answer
            .outcomes
            .iter()
            .map(|o| ToolUsed {
                name: o.tool.name().to_owned(),
                arguments: to_value(&o.tool)
                    .get("arguments")
                    .cloned()
                    .unwrap_or(Value::Null),
                ok: o.result.is_ok(),
                error: o.result.as_ref().err().cloned(),
            })
            .collect(),
        actions: r
            .actions
            .iter()
            .map(|a| ActionView {
                tool: a.tool.clone(),
                summary: a.summary.clone(),
            })
            .collect(),
        learned: r.learned.iter().map(to_value).collect(),
        confirmation: r.confirmation.as_ref().map(to_value),
        conversation_id: answer.conversation_id,
        engine: engine.to_owned(),
        llm_fallback,
    }))
}

/// One turn for `p` (the web's and the SMS webhook's alike): the model asked first when one
/// is configured, then the turn taken in one write transaction. Also answers which engine
/// chose the tools and, when the model was not used, why.
pub(super) async fn take_turn(
    state: &ApiState,
    p: Principal,
    body: ChatBody,
) -> Result<(chat::Answer, &'static str, Option<String>), ApiError> {
    let now = state.now_ms();
    let per_day = state.chat.messages_per_day;
    let model = match state.chat.llm.clone() {
        Some(client) => Some(ask_model(state, &client, &p, &body, now, per_day).await?),
        None => None,
    };
    let (engine, llm_fallback) = match &model {
        Some(Ok(_)) => ("llm", None),
        Some(Err(e)) => {
            tracing::warn!(
                failure = e.kind(),
                "the chat's model was not used: the offline engine answered"
            );
            ("offline", Some(e.kind().to_owned()))
        }
        None => ("offline", None),
    };
    let answer = state
        .write(move |tx| {
            let athlete = chat_athlete(tx, &p, body.athlete_id)?;
            let who = Speaker {
                tenant_row: p.tenant_row,
                user_row: p.user_row,
                athlete_row: athlete,
            };
            chat::converse(
                tx,
                who,
                &body.message,
                body.conversation_id,
                now,
                per_day,
                model.as_ref().and_then(|m| m.as_ref().ok()),
                |conn, tool, today| run_tool(conn, &p, athlete, tool, today, now),
            )
            .map_err(|e| chat_error(e, per_day))
        })
        .await?;
    Ok((answer, engine, llm_fallback))
}

fn chat_error(e: ChatError, per_day: u32) -> ApiError {
    match e {
        ChatError::Store(e) => ApiError::from(e),
        ChatError::NoConversation => ApiError::not_found("conversation"),
        ChatError::TooMany(wait) => ApiError::too_many(
            "chat_limit",
            format!("{per_day} messages a day: try again tomorrow (UTC)"),
            std::time::Duration::from_secs(u64::try_from(wait.whole_seconds()).unwrap_or(1)),
        ),
        ChatError::Message(e) => invalid("message", e),
    }
}

/// The model's answer for this turn: the caller's access, the conversation and the daily
/// limit checked first (nothing reaches the model that the turn would refuse), then the
/// request built from the conversation's recent messages and posted with the timeout.
/// `Err` inside: the model failed and the offline engine answers.
async fn ask_model(
    state: &ApiState,
    client: &crate::chat::llm::LlmClient,
    p: &Principal,
    body: &ChatBody,
    now_ms: u64,
    per_day: u32,
) -> Result<Result<paceline_chat::llm::LlmAnswer, crate::chat::llm::LlmFailure>, ApiError> {
    let (p2, named, conversation) = (p.clone(), body.athlete_id, body.conversation_id);
    let (today, history) = state
        .read(move |conn| {
            let athlete = chat_athlete(conn, &p2, named)?;
            let day_start = crate::store::to_i64(now_ms - now_ms % 86_400_000);
            let sent = rows::messages_sent_since(conn, p2.tenant_row, p2.user_row, day_start)?;
            chat::daily_allowance(sent, per_day, now_ms)
                .map_err(|wait| chat_error(ChatError::TooMany(wait), per_day))?;
            let history = match conversation {
                Some(id) => {
                    rows::conversation(conn, p2.tenant_row, p2.user_row, athlete, id)?
                        .ok_or_else(|| ApiError::not_found("conversation"))?;
                    chat::llm_history(conn, p2.tenant_row, id)?
                }
                None => Vec::new(),
            };
            let today = days::athlete_today(conn, p2.tenant_row, athlete, now_ms)?;
            Ok((today, history))
        })
        .await?;
    let request = paceline_chat::llm::build_request(client.model(), today, &history, &body.message);
    Ok(client.complete(&request).await)
}

/// A tool's failure, as the reply shows it.
fn tool_error(e: ApiError) -> String {
    if e.status.is_server_error() {
        "something went wrong on our side".to_owned()
    } else {
        e.message
    }
}

/// A tool the product has no service for yet: said so, never faked.
fn not_yet(what: &str) -> Result<ToolOutput, ApiError> {
    Err(ApiError::bad_request(
        "not_built",
        format!("{what} is not something Paceline can do yet"),
    ))
}

/// The library's sport for the chat's (`None`: the library's `other`).
fn library_sport(sport: Option<ChatSport>) -> LibrarySport {
    match sport {
        Some(ChatSport::Run) => LibrarySport::Running,
        Some(ChatSport::Ride) => LibrarySport::Cycling,
        Some(ChatSport::Swim) => LibrarySport::Swimming,
        Some(ChatSport::Walk) => LibrarySport::Walking,
        Some(ChatSport::Hike) => LibrarySport::Hiking,
        Some(ChatSport::Strength) => LibrarySport::Strength,
        Some(ChatSport::Row) => LibrarySport::Rowing,
        Some(ChatSport::Yoga | ChatSport::Dance | ChatSport::Ski) | None => LibrarySport::Other,
    }
}

/// The chat's sport for the library's (`None`: no word for it).
fn chat_sport(sport: LibrarySport) -> Option<ChatSport> {
    match sport {
        LibrarySport::Running | LibrarySport::TreadmillRunning => Some(ChatSport::Run),
        LibrarySport::Cycling | LibrarySport::IndoorCycling => Some(ChatSport::Ride),
        LibrarySport::Swimming => Some(ChatSport::Swim),
        LibrarySport::Walking => Some(ChatSport::Walk),
        LibrarySport::Hiking => Some(ChatSport::Hike),
        LibrarySport::Strength => Some(ChatSport::Strength),
        LibrarySport::Rowing => Some(ChatSport::Row),
        LibrarySport::Other => None,
    }
}

/// The athlete's activities whose local day is from `from` to `to`, newest first.
fn activities_between(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    from: Date,
    to: Date,
) -> Result<Vec<library_rows::ActivityRecord>, ApiError> {
    // Local days are at most 14 h either side of UTC: read a day more each side.
    let edge = |d: Date| time_ms(d.midnight().assume_utc());
    let mut filter = ListFilter {
        from_ms: edge(from - Duration::days(1)),
        to_ms: edge(to + Duration::days(2)),
        sport: None,
        after: None,
        limit: 500,
    };
    let mut out = Vec::new();
    loop {
        let page = library_rows::list_activities(conn, p.tenant_row, athlete, &filter)?;
        let full = page.len() == 500;
        filter.after = page.last().map(|a| (a.merged.start_ms, a.id));
        out.extend(page.into_iter().filter(|a| {
            let day = local_day(a.merged.start_ms, a.merged.local_offset_s);
            from <= day && day <= to
        }));
        if !full {
            return Ok(out);
        }
    }
}

/// Runs one of the chat's tools for `athlete` (visible to `p`, checked by the caller)
/// through the same functions the API's routes use; the error is what the reply shows.
pub fn run_tool(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    tool: &Tool,
    today: Date,
    now_ms: u64,
) -> Result<ToolOutput, String> {
    let run = || -> Result<ToolOutput, ApiError> {
        let tenant = p.tenant_row;
        match tool {
            Tool::LoadSummary { from, to } => {
                match chat::load_figures(conn, tenant, athlete, *from, *to)? {
                    Some(f) => Ok(ToolOutput::Load(f)),
                    None => Err(invalid("dates", "no days to read")),
                }
            }
            Tool::ActivitySummary { from, to, sport } => {
                let found: Vec<_> = activities_between(conn, p, athlete, *from, *to)?
                    .into_iter()
                    .filter(|a| sport.is_none() || chat_sport(a.merged.sport) == *sport)
                    .collect();
                let distance =
                    |a: &library_rows::ActivityRecord| a.merged.fields.distance_m.unwrap_or(0.0);
                Ok(ToolOutput::Activities(ActivityFigures {
                    from: *from,
                    to: *to,
                    sport: *sport,
                    count: u32::try_from(found.len()).unwrap_or(u32::MAX),
                    distance_m: found.iter().map(distance).sum(),
                    duration_s: found
                        .iter()
                        .map(|a| a.merged.duration_s.max(0.0).round())
                        // Whole seconds of a bounded duration.
                        .map(|s| {
                            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                            let s = s as u64;
                            s
                        })
                        .sum(),
                    longest_distance_m: found.iter().map(distance).fold(0.0, f64::max),
                }))
            }
            Tool::ShowPlan { date } => {
                let plan = if *date == today {
                    let settings = super::planning::plan_settings(conn, tenant, athlete)?;
                    Some(days::today_plan(conn, tenant, athlete, settings, now_ms, false)?.record)
                } else {
                    let name = format_date(*date);
                    plan_rows::plans_between(conn, tenant, athlete, &name, &name)?
                        .into_iter()
                        .next()
                };
                Ok(ToolOutput::Plan {
                    workout: plan.and_then(|r| chat::planned_workout(&r.plan)),
                })
            }
            Tool::CompressTodaysPlan { date, minutes } => {
                if *date < today {
                    return Err(invalid("date", "that day has passed"));
                }
                // "Only 35 minutes": a busy day with the minutes, as the planner reads it.
                let mut record = life_record(LifeEventBody {
                    kind: "busy".into(),
                    from: format_date(*date),
                    to: None,
                    minutes_available: Some(*minutes),
                    summary: Some(format!("Only {minutes} minutes (chat)")),
                })?;
                record.id = plan_rows::add_life_event(conn, tenant, athlete, &record, now_ms)?;
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "life_event.add",
                    Some(&format!("athlete:{athlete}")),
                    Some(&json!({"count": 1, "from": "chat"})),
                    now_ms,
                )?;
                let settings = super::planning::plan_settings(conn, tenant, athlete)?;
                if *date == today {
                    days::today_plan(conn, tenant, athlete, settings, now_ms, true)?;
                } else if check_ahead(*date, today).is_ok() && {
                    let name = format_date(*date);
                    !plan_rows::plans_between(conn, tenant, athlete, &name, &name)?.is_empty()
                } {
                    // A later day's stored plan (changed in the chat before) is kept by
                    // the morning's job: it is made again with the minutes now.
                    days::day_plan_with(
                        conn,
                        tenant,
                        athlete,
                        *date,
                        settings,
                        paceline_planning::DayChange::default(),
                        now_ms,
                    )?
                    .map_err(|refused| invalid("minutes", refused))?;
                }
                Ok(ToolOutput::Done)
            }
            Tool::AddLifeEvent {
                kind,
                from,
                to,
                note,
            } => {
                let kind = match kind {
                    ChatLifeKind::Travel => "travel",
                    ChatLifeKind::Illness => "illness",
                    ChatLifeKind::Busy => "busy",
                };
                let mut summary = note.clone();
                while summary.len() > 200 {
                    summary.pop();
                }
                let mut record = life_record(LifeEventBody {
                    kind: kind.into(),
                    from: format_date(*from),
                    to: Some(format_date(*to)),
                    minutes_available: None,
                    summary: Some(summary),
                })?;
                record.id = plan_rows::add_life_event(conn, tenant, athlete, &record, now_ms)?;
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "life_event.add",
                    Some(&format!("athlete:{athlete}")),
                    Some(&json!({"count": 1, "from": "chat"})),
                    now_ms,
                )?;
                Ok(ToolOutput::Done)
            }
            Tool::SetCheckin {
                date,
                energy,
                mood,
                soreness,
                note,
            } => {
                check_date(*date, today).map_err(|e| invalid(e.field, &e.reason))?;
                let patch = DailyBody {
                    energy: energy.map(|v| Some(i64::from(v))),
                    mood: mood.map(|v| Some(i64::from(v))),
                    soreness: soreness.map(|v| Some(i64::from(v))),
                    note: note.clone().map(Some),
                    ..DailyBody::default()
                }
                .patch()?;
                let name = format_date(*date);
                plan_rows::upsert_daily(
                    conn,
                    tenant,
                    athlete,
                    &name,
                    MetricSource::Manual,
                    patch,
                    now_ms,
                )?;
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "daily.put",
                    Some(&format!("athlete:{athlete}")),
                    Some(&json!({"date": name, "from": "chat"})),
                    now_ms,
                )?;
                Ok(ToolOutput::Done)
            }
            Tool::LogActivity {
                sport,
                date,
                part_of_day,
                duration_s,
                distance_m,
                note,
            } => log_activity(
                conn,
                p,
                athlete,
                LogRequest {
                    sport: *sport,
                    date: *date,
                    part_of_day: *part_of_day,
                    duration_s: *duration_s,
                    distance_m: *distance_m,
                    note: note.as_deref(),
                },
                today,
                now_ms,
            ),
            Tool::DeleteActivity { date, sport } => {
                let (from, to) = match date {
                    Some(d) => (*d, *d),
                    None => (today - Duration::days(366), today),
                };
                let found = activities_between(conn, p, athlete, from, to)?
                    .into_iter()
                    .find(|a| sport.is_none() || chat_sport(a.merged.sport) == *sport)
                    .ok_or_else(|| invalid("activity", "I found no such activity"))?;
                library_rows::delete_activity(conn, tenant, found.id)?;
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "activity.delete",
                    Some(&format!("activity:{}", found.id)),
                    Some(&json!({"athlete_id": athlete, "from": "chat"})),
                    now_ms,
                )?;
                Ok(ToolOutput::Done)
            }
            Tool::SetTodaysIntensity {
                date,
                level,
                power_w,
                hr_cap_bpm,
            } => {
                check_ahead(*date, today)?;
                let change = match level {
                    Level::Easy => paceline_planning::IntensityChange::Easier,
                    Level::Moderate | Level::Hard | Level::AllOut => {
                        paceline_planning::IntensityChange::Harder
                    }
                };
                let settings = super::planning::plan_settings(conn, tenant, athlete)?;
                let stored = days::day_plan_with(
                    conn,
                    tenant,
                    athlete,
                    *date,
                    settings,
                    paceline_planning::DayChange {
                        intensity: Some(paceline_planning::IntensityRequest {
                            change,
                            work_power_w: *power_w,
                            hr_cap_bpm: *hr_cap_bpm,
                        }),
                        sport: None,
                    },
                    now_ms,
                )?
                .map_err(|refused| invalid("intensity", day_refusal(refused, *date, today)))?;
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "plan.today",
                    Some(&format!("athlete:{athlete}")),
                    Some(&json!({"intensity": level.as_str(), "from": "chat"})),
                    now_ms,
                )?;
                // What the rules said about the request (kept, clamped, capped).
                let said: Vec<String> = stored
                    .why
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|w| {
                        w.starts_with("Asked ")
                            || w.contains("work intervals are set")
                            || w.contains("without an FTP")
                    })
                    .map(str::to_owned)
                    .collect();
                Ok(if said.is_empty() {
                    ToolOutput::Done
                } else {
                    ToolOutput::Changed {
                        said: said.join(" "),
                    }
                })
            }
            Tool::SwapTodaysSport { date, sport } => {
                // The planner plans rides and runs, and any other sport as a session by
                // time and feel ("other"): today's plan is made again for it, through the
                // same planner and rules, and named for the sport asked.
                let planned = match sport {
                    ChatSport::Ride => paceline_schemas::plan::Sport::Bike,
                    ChatSport::Run => paceline_schemas::plan::Sport::Run,
                    _ => paceline_schemas::plan::Sport::Other,
                };
                check_ahead(*date, today)?;
                let mut settings = super::planning::plan_settings(conn, tenant, athlete)?;
                settings.sport = planned;
                settings
                    .avoid_sports
                    .retain(|s| s != paceline_planning::plan::sport_name(planned));
                let made = if *date == today {
                    days::today_plan(conn, tenant, athlete, settings, now_ms, true)?.record
                } else {
                    days::day_plan_with(
                        conn,
                        tenant,
                        athlete,
                        *date,
                        settings,
                        // On top of the day's earlier changes (an easier day stays easier).
                        paceline_planning::DayChange {
                            intensity: None,
                            sport: Some(planned),
                        },
                        now_ms,
                    )?
                    .map_err(|refused| invalid("sport", refused))?
                };
                if made.plan["workout"].is_null() {
                    let day = if *date == today { "today" } else { "that day" };
                    return Err(invalid("sport", format!("{day} has no workout to change")));
                }
                if planned == paceline_schemas::plan::Sport::Other {
                    name_other_sport(conn, tenant, athlete, made, *sport, now_ms)?;
                }
                audit(
                    conn,
                    tenant,
                    Some(p.user_row),
                    "plan.today",
                    Some(&format!("athlete:{athlete}")),
                    Some(&json!({"sport": sport.as_str(), "from": "chat"})),
                    now_ms,
                )?;
                Ok(ToolOutput::Done)
            }
            Tool::MovePlannedWorkout { from, to } => {
                move_workout(conn, p, athlete, *from, *to, today, now_ms)
            }
            Tool::RemovePlannedWorkout { date } => {
                remove_workout(conn, p, athlete, *date, today, now_ms)
            }
            Tool::SavePreference { preference } => {
                save_preference(conn, p, athlete, preference, now_ms)
            }
            Tool::AnswerPreference {
                preference,
                confirmed,
            } => {
                let key = serde_json::to_value(preference).map_err(|_| ApiError::internal())?;
                super::preferences::answer_preference(conn, p, athlete, &key, *confirmed, now_ms)?;
                Ok(ToolOutput::Done)
            }
        }
    };
    run().map_err(tool_error)
}

/// A day whose plan the chat may change: today or later, up to
/// [`days::CHANGE_AHEAD_DAYS`] ahead (the planner plans from what is known now).
fn check_ahead(date: Date, today: Date) -> Result<(), ApiError> {
    if date < today {
        return Err(invalid("date", "that day has passed"));
    }
    if date > today + Duration::days(days::CHANGE_AHEAD_DAYS) {
        return Err(invalid(
            "date",
            format!(
                "I change plans up to {} days ahead",
                days::CHANGE_AHEAD_DAYS
            ),
        ));
    }
    Ok(())
}

/// The planner's refusal as said about `date`: its "today" is the day it planned.
fn day_refusal(refused: paceline_planning::IntensityRefused, date: Date, today: Date) -> String {
    if date == today {
        refused.0
    } else {
        refused.0.replace("today", "that day")
    }
}

/// A day's plan, made by the planner for "another sport", named for the one the athlete
/// asked (a swim, yoga, …): the workout's name and description say it, and its why.
fn name_other_sport(
    conn: &Connection,
    tenant: i64,
    athlete: i64,
    made: plan_rows::DailyPlanRecord,
    sport: ChatSport,
    now_ms: u64,
) -> Result<(), ApiError> {
    let mut plan = made.plan;
    let name = sport.as_str();
    let title = plan["workout"]["name"]
        .as_str()
        .unwrap_or("Session")
        .to_owned();
    plan["workout"]["name"] = json!(format!("{} ({title})", capitalised(name)));
    plan["workout"]["description"] = json!(format!(
        "A {name} session, by feel: the planned time and effort"
    ));
    let mut why = made.why.as_array().cloned().unwrap_or_default();
    why.push(json!(format!(
        "Swapped to {name} (chat): planned as a session by time and feel, with the day's minutes and load."
    )));
    plan_rows::store_plan(
        conn,
        tenant,
        athlete,
        plan_rows::NewDailyPlan {
            date: &made.date,
            plan: &plan,
            why: &Value::Array(why),
            inputs: &made.inputs,
            inputs_digest: &made.inputs_digest,
        },
        now_ms,
    )?;
    Ok(())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Moves the workout planned on `from` to `to` (both today or later): the two days' stored
/// plans change places, or `from` becomes a rest day when nothing was planned on `to`;
/// each keeps its why with a line saying it was moved. Today's plan is generated first
/// when none is stored yet.
fn move_workout(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    from: Date,
    to: Date,
    today: Date,
    now_ms: u64,
) -> Result<ToolOutput, ApiError> {
    let tenant = p.tenant_row;
    if from < today {
        return Err(invalid("from", "that day has passed"));
    }
    if to < today {
        return Err(invalid("to", "that day has passed"));
    }
    if from == to {
        return Err(invalid("to", "the workout is already on that day"));
    }
    let stored = |date: Date| -> Result<Option<plan_rows::DailyPlanRecord>, ApiError> {
        if date == today {
            let settings = super::planning::plan_settings(conn, tenant, athlete)?;
            return Ok(Some(
                days::today_plan(conn, tenant, athlete, settings, now_ms, false)?.record,
            ));
        }
        let name = format_date(date);
        Ok(
            plan_rows::plans_between(conn, tenant, athlete, &name, &name)?
                .into_iter()
                .next(),
        )
    };
    let source = stored(from)?
        .filter(|r| !r.plan["workout"].is_null())
        .ok_or_else(|| invalid("from", "no workout is planned that day"))?;
    let target = stored(to)?;
    let moved = |r: &plan_rows::DailyPlanRecord, date: Date, note: String| {
        let mut plan = r.plan.clone();
        plan["date"] = json!(format_date(date));
        let mut why = r.why.as_array().cloned().unwrap_or_default();
        why.push(json!(note));
        (plan, Value::Array(why))
    };
    let (to_plan, to_why) = moved(
        &source,
        to,
        format!("Moved from {} (chat).", format_date(from)),
    );
    let (from_plan, from_why, from_inputs, from_digest) = match &target {
        Some(t) => {
            let (plan, why) = moved(t, from, format!("Moved from {} (chat).", format_date(to)));
            (plan, why, t.inputs.clone(), t.inputs_digest.clone())
        }
        None => (
            json!({"date": format_date(from), "kind": "rest", "target_tss": 0.0, "workout": null}),
            json!([format!("The workout moved to {} (chat).", format_date(to))]),
            source.inputs.clone(),
            source.inputs_digest.clone(),
        ),
    };
    let (to_name, from_name) = (format_date(to), format_date(from));
    plan_rows::store_plan(
        conn,
        tenant,
        athlete,
        plan_rows::NewDailyPlan {
            date: &to_name,
            plan: &to_plan,
            why: &to_why,
            inputs: &source.inputs,
            inputs_digest: &source.inputs_digest,
        },
        now_ms,
    )?;
    plan_rows::store_plan(
        conn,
        tenant,
        athlete,
        plan_rows::NewDailyPlan {
            date: &from_name,
            plan: &from_plan,
            why: &from_why,
            inputs: &from_inputs,
            inputs_digest: &from_digest,
        },
        now_ms,
    )?;
    audit(
        conn,
        tenant,
        Some(p.user_row),
        "plan.move",
        Some(&format!("athlete:{athlete}")),
        Some(&json!({"from": from_name, "to": to_name, "by": "chat"})),
        now_ms,
    )?;
    Ok(ToolOutput::Done)
}

/// Makes `date` (today or later, up to [`days::CHANGE_AHEAD_DAYS`] ahead) a rest day: its
/// stored plan (today's generated first when none is stored yet; a later day's planned as
/// the weekly outlook sees it) is replaced by a rest day that keeps its inputs, with a line
/// in its why, as [`move_workout`] leaves one. Asked only after the athlete's yes (the
/// tool is destructive).
fn remove_workout(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    date: Date,
    today: Date,
    now_ms: u64,
) -> Result<ToolOutput, ApiError> {
    let tenant = p.tenant_row;
    check_ahead(date, today)?;
    let name = format_date(date);
    let stored = if date == today {
        let settings = super::planning::plan_settings(conn, tenant, athlete)?;
        Some(days::today_plan(conn, tenant, athlete, settings, now_ms, false)?.record)
    } else {
        match plan_rows::plans_between(conn, tenant, athlete, &name, &name)?
            .into_iter()
            .next()
        {
            Some(r) => Some(r),
            None => {
                let settings = super::planning::plan_settings(conn, tenant, athlete)?;
                days::day_plan_with(
                    conn,
                    tenant,
                    athlete,
                    date,
                    settings,
                    paceline_planning::DayChange::default(),
                    now_ms,
                )?
                .ok()
            }
        }
    };
    let planned = stored
        .filter(|r| !r.plan["workout"].is_null())
        .ok_or_else(|| invalid("date", "no workout is planned that day"))?;
    let mut why = planned.why.as_array().cloned().unwrap_or_default();
    why.push(json!("Skipped (chat): a rest day instead."));
    plan_rows::store_plan(
        conn,
        tenant,
        athlete,
        plan_rows::NewDailyPlan {
            date: &name,
            plan: &json!({"date": name, "kind": "rest", "target_tss": 0.0, "workout": null}),
            why: &Value::Array(why),
            inputs: &planned.inputs,
            inputs_digest: &planned.inputs_digest,
        },
        now_ms,
    )?;
    audit(
        conn,
        tenant,
        Some(p.user_row),
        "plan.skip",
        Some(&format!("athlete:{athlete}")),
        Some(&json!({"date": name, "by": "chat"})),
        now_ms,
    )?;
    Ok(ToolOutput::Done)
}

/// The planner's word for a sport (planning settings' `avoid_sports`).
fn planner_sport(sport: ChatSport) -> &'static str {
    match sport {
        ChatSport::Run => "running",
        ChatSport::Ride => "cycling",
        ChatSport::Swim => "swimming",
        ChatSport::Walk => "walking",
        ChatSport::Hike => "hiking",
        ChatSport::Strength => "strength",
        ChatSport::Row => "rowing",
        ChatSport::Yoga => "yoga",
        ChatSport::Dance => "dance",
        ChatSport::Ski => "skiing",
    }
}

/// A stated preference kept where the planner reads it: the athlete's planning settings
/// (equipment left out, a sport avoided or made the main one, a weekday without
/// training, the hours and parts of the day workouts go in), checked as
/// `PUT /planning-settings` checks them; today's plan is made again with them.
fn save_preference(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    preference: &paceline_chat::preferences::Preference,
    now_ms: u64,
) -> Result<ToolOutput, ApiError> {
    use paceline_chat::preferences::{Equipment, Preference};
    let tenant = p.tenant_row;
    let mut settings: super::planning::PlanningSettings =
        match plan_rows::settings(conn, tenant, athlete)? {
            Some(v) => serde_json::from_value(v).map_err(|_| ApiError::internal())?,
            None => serde_json::from_value(json!({})).map_err(|_| ApiError::internal())?,
        };
    match preference {
        Preference::AvoidEquipment { equipment } => {
            let name = match equipment {
                Equipment::Treadmill => "treadmill",
                Equipment::Trainer => "trainer",
                Equipment::Pool => "pool",
                Equipment::Gym => return not_yet("planning around a gym"),
            };
            settings.equipment.retain(|e| e != name);
        }
        Preference::DislikesSport { sport } => {
            let name = planner_sport(*sport).to_owned();
            if !settings.constraints.avoid_sports.contains(&name) {
                settings.constraints.avoid_sports.push(name);
            }
        }
        Preference::LikesSport { sport } => match sport {
            ChatSport::Run => settings.sport = "run".to_owned(),
            ChatSport::Ride => settings.sport = "bike".to_owned(),
            _ => return not_yet("planning that sport"),
        },
        Preference::RestDay { weekday } => {
            let a = &mut settings.availability_min;
            let day = match weekday.as_str() {
                "monday" => &mut a.mon,
                "tuesday" => &mut a.tue,
                "wednesday" => &mut a.wed,
                "thursday" => &mut a.thu,
                "friday" => &mut a.fri,
                "saturday" => &mut a.sat,
                "sunday" => &mut a.sun,
                _ => return Err(invalid("weekday", "not a day of the week")),
            };
            *day = 0;
        }
        Preference::NoWorkoutsBefore { hour } => settings.times.earliest_hour = Some(*hour),
        Preference::NoWorkoutsAfter { hour } => settings.times.latest_hour = Some(*hour),
        Preference::PreferPartOfDay { part } => {
            let name = part.as_str().to_owned();
            settings.times.avoid.retain(|p| *p != name);
            settings.times.prefer = Some(name);
        }
        Preference::AvoidPartOfDay { part } => {
            let name = part.as_str().to_owned();
            if settings.times.prefer.as_deref() == Some(name.as_str()) {
                settings.times.prefer = None;
            }
            if !settings.times.avoid.contains(&name) {
                settings.times.avoid.push(name);
            }
        }
    }
    settings.check()?;
    let value = serde_json::to_value(&settings).map_err(|_| ApiError::internal())?;
    plan_rows::set_settings(conn, tenant, athlete, &value, now_ms)?;
    super::preferences::record_stated(conn, tenant, athlete, preference, now_ms)?;
    audit(
        conn,
        tenant,
        Some(p.user_row),
        "planning.settings",
        Some(&format!("athlete:{athlete}")),
        Some(&json!({"from": "chat"})),
        now_ms,
    )?;
    let plan_settings = super::planning::plan_settings(conn, tenant, athlete)?;
    days::today_plan(conn, tenant, athlete, plan_settings, now_ms, true)?;
    Ok(ToolOutput::Done)
}

/// What the chat asks the library to log.
struct LogRequest<'a> {
    sport: Option<ChatSport>,
    date: Date,
    part_of_day: Option<PartOfDay>,
    duration_s: Option<u32>,
    distance_m: Option<f64>,
    note: Option<&'a str>,
}

/// A manual entry in the library, as `POST /athletes/{id}/activities` makes it: started at
/// the part of the day said (07:00, 13:00, 18:00; noon by default) in the athlete's local
/// time, never ending after now.
fn log_activity(
    conn: &Connection,
    p: &Principal,
    athlete: i64,
    r: LogRequest<'_>,
    today: Date,
    now_ms: u64,
) -> Result<ToolOutput, ApiError> {
    if r.date > today {
        return Err(invalid("date", "that day has not come yet"));
    }
    let duration_s = r.duration_s.ok_or_else(|| {
        invalid(
            "duration",
            "I need to know how long it took (say, for example, \"45 min\")",
        )
    })?;
    let offset = plan_rows::latest_local_offset(conn, p.tenant_row, athlete)?;
    let hour = match r.part_of_day {
        Some(PartOfDay::Morning) => 7,
        Some(PartOfDay::Afternoon) => 13,
        Some(PartOfDay::Evening) => 18,
        None => 12,
    };
    let local_midnight_ms =
        time_ms(r.date.midnight().assume_utc()) - i64::from(offset.unwrap_or(0)) * 1000;
    // Ended by now if it can be, but always on the day the athlete named: a 30-minute run
    // logged for today at 00:20 starts at midnight, not yesterday.
    let start_ms = (local_midnight_ms + hour * 3_600_000)
        .min(crate::store::to_i64(now_ms) - i64::from(duration_s) * 1000)
        .max(local_midnight_ms);
    let sport = library_sport(r.sport);
    let entry = ManualEntry {
        sport,
        start_ms,
        local_offset_s: offset,
        duration: format!("{duration_s} s"),
        distance: r.distance_m.map(|m| format!("{m:.2} m")),
        energy: None,
        ascent: None,
        load_tss: None,
        rpe: None,
        name: Some(format!(
            "{} (chat)",
            r.sport.map_or("Workout", ChatSport::as_str)
        )),
        note: r.note.map(str::to_owned),
    };
    let valid = entry
        .validate()
        .map_err(|e| invalid("activity", e.to_string()))?;
    let original = json!({"duration": format!("{duration_s} s"),
        "distance": r.distance_m.map(|m| format!("{m:.2} m")), "from": "chat"});
    library::import_copy(
        conn,
        Owner {
            tenant_row: p.tenant_row,
            athlete_row: athlete,
        },
        &valid.copy,
        CopyExtras {
            manual_original: Some(&original),
            ..CopyExtras::default()
        },
        now_ms,
    )?;
    Ok(ToolOutput::Done)
}

/// One meaning of one of the caller's terms.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermView {
    /// The phrase, lower-case words.
    pub term: String,
    /// What it means: `{"kind":"workout","sport":"dance"}`, `{"kind":"intent",
    /// "intent":"log_activity"}` or `{"kind":"synonym","phrase":"…"}`.
    #[schema(value_type = Object)]
    pub meaning: Value,
    /// 0.0–1.0: starts at 0.5, +0.1 per confirmed use, −0.2 per correction.
    pub confidence: f64,
    /// Whether the chat uses it (its phrase's newest meaning at ≥ 0.3).
    pub active: bool,
    /// Taught, ms since the epoch.
    pub created_ms: i64,
    /// Last used, confirmed or corrected, ms since the epoch.
    pub last_used_ms: i64,
}

/// The caller's learned terms.
#[derive(Debug, Serialize, ToSchema)]
pub struct Terms {
    /// By phrase, then teaching order.
    pub terms: Vec<TermView>,
}

fn terms_view(book: &TermBook) -> Terms {
    Terms {
        terms: book
            .terms()
            .iter()
            .map(|t: &Term| TermView {
                term: t.phrase.clone(),
                meaning: to_value(&t.meaning),
                confidence: t.confidence(),
                active: book.active(&t.phrase).map(|a| a.seq) == Some(t.seq),
                created_ms: time_ms(t.created_at),
                last_used_ms: time_ms(t.last_used_at),
            })
            .collect(),
    }
}

/// `PUT /me/terms`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermBody {
    /// The phrase (at most 4 words, 80 characters).
    pub term: String,
    /// What it means: words ("a dance workout", "log_activity", "sunday run 90 minutes")
    /// or the meaning as `GET` shows it.
    #[schema(value_type = Object)]
    pub meaning: Value,
    /// Its confidence, 0.0–1.0 (default: taught as new, 0.5, or a confirmed use of the
    /// same meaning).
    pub confidence: Option<f64>,
}

impl TermBody {
    /// The phrase and meaning, checked.
    pub(super) fn check(&self) -> Result<(String, Meaning), ApiError> {
        let phrase = normalise(&self.term).map_err(|e| invalid("term", e))?;
        let meaning = match &self.meaning {
            Value::String(words) if !words.trim().is_empty() => Meaning::from_words(words),
            Value::Object(_) => serde_json::from_value::<Meaning>(self.meaning.clone())
                .map_err(|e| invalid("meaning", e))?,
            _ => {
                return Err(invalid(
                    "meaning",
                    "words, or {\"kind\":\"workout\"|\"intent\"|\"synonym\", …}",
                ));
            }
        };
        if let Meaning::Synonym { phrase: s } = &meaning
            && s.is_empty()
        {
            return Err(invalid("meaning", "an empty synonym"));
        }
        if let Some(c) = self.confidence
            && !(c.is_finite() && (0.0..=1.0).contains(&c))
        {
            return Err(invalid("confidence", format!("{c}: from 0 to 1")));
        }
        Ok((phrase, meaning))
    }
}

/// `DELETE /me/terms` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TermQuery {
    /// The phrase whose every meaning is forgotten.
    pub term: String,
}

/// The caller's learned terms: every meaning of every phrase with its confidence.
#[utoipa::path(get, path = "/api/v1/me/terms", tag = "chat",
    responses((status = 200, body = Terms)),
    security(("bearer" = [])))]
pub async fn get_terms(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Terms>, ApiError> {
    let book = state
        .read(move |conn| {
            Ok(TermBook::from_terms(rows::terms(
                conn,
                p.tenant_row,
                p.user_row,
            )?))
        })
        .await?;
    Ok(Json(terms_view(&book)))
}

/// Teach or edit a term: a new meaning becomes the phrase's newest (older ones are
/// kept); `confidence` sets it by hand. Answers the caller's terms.
#[utoipa::path(put, path = "/api/v1/me/terms", tag = "chat",
    request_body = TermBody,
    responses((status = 200, body = Terms),
        (status = 400, description = "a term or meaning that does not read; the message names the field"),
        (status = 409, description = "500 terms already kept")),
    security(("bearer" = [])))]
pub async fn put_term(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<TermBody>,
) -> Result<Json<Terms>, ApiError> {
    let (phrase, meaning) = body.check()?;
    let now_ms = state.now_ms();
    let book = state
        .write(move |tx| {
            let mut book = TermBook::from_terms(rows::terms(tx, p.tenant_row, p.user_row)?);
            let now = ms_time(crate::store::to_i64(now_ms));
            let taught = match body.confidence {
                Some(c) => book.set(&phrase, meaning, c, now).map(|_| ()),
                None => book.teach(&phrase, meaning, now).map(|_| ()),
            };
            taught.map_err(|e| ApiError::conflict("terms_full", e.to_string()))?;
            rows::replace_terms(tx, p.tenant_row, p.user_row, book.terms())?;
            Ok(book)
        })
        .await?;
    Ok(Json(terms_view(&book)))
}

/// Forget a term (every meaning of the phrase).
#[utoipa::path(delete, path = "/api/v1/me/terms", tag = "chat",
    params(TermQuery),
    responses((status = 204, description = "forgotten"), (status = 404, description = "no such term")),
    security(("bearer" = [])))]
pub async fn delete_term(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<TermQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .write(move |tx| {
            let mut book = TermBook::from_terms(rows::terms(tx, p.tenant_row, p.user_row)?);
            if book.delete(&q.term) == 0 {
                return Err(ApiError::not_found("term"));
            }
            rows::replace_terms(tx, p.tenant_row, p.user_row, book.terms())?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The most conversations or messages on one page.
pub const MAX_PAGE: u32 = 200;
/// Conversations or messages on a page by default.
pub const DEFAULT_PAGE: u32 = 50;

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(invalid("limit", format!("{n}: from 1 to {MAX_PAGE}"))),
    }
}

/// `GET /chat/conversations` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConversationsQuery {
    /// Only the conversations about this athlete (visible to the caller).
    pub athlete_id: Option<i64>,
    /// Conversations older than this one (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// One of the caller's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// Its id (`conversation_id` in `POST /chat`).
    pub id: i64,
    /// The athlete it is about.
    pub athlete_id: i64,
    /// Started, ms since the epoch.
    pub created_ms: i64,
    /// Last message, ms since the epoch.
    pub updated_ms: i64,
    /// Messages in it, both sides.
    pub messages: u32,
    /// Its last message's text.
    pub last_message: Option<String>,
}

/// A page of the caller's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    /// Newest first.
    pub conversations: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// The caller's own conversations with the coach chat, newest first (only those about
/// athletes they may still see).
#[utoipa::path(get, path = "/api/v1/chat/conversations", tag = "chat",
    params(ConversationsQuery),
    responses((status = 200, body = ConversationPage),
        (status = 400, description = "a limit out of range"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn list_conversations(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ConversationsQuery>,
) -> Result<Json<ConversationPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let page = state
        .read(move |conn| {
            if let Some(id) = q.athlete_id
                && !athlete_visible(conn, &p, id)?
            {
                return Err(ApiError::not_found("athlete"));
            }
            let found = rows::conversations(
                conn,
                p.tenant_row,
                p.user_row,
                q.athlete_id,
                q.cursor,
                limit,
            )?;
            let next_cursor = if found.len() == limit as usize {
                found.last().map(|c| c.id)
            } else {
                None
            };
            let mut visible = std::collections::BTreeMap::new();
            let mut conversations = Vec::with_capacity(found.len());
            for c in found {
                let seen = match visible.get(&c.athlete_row) {
                    Some(v) => *v,
                    None => {
                        let v = athlete_visible(conn, &p, c.athlete_row)?;
                        visible.insert(c.athlete_row, v);
                        v
                    }
                };
                if seen {
                    conversations.push(ConversationView {
                        id: c.id,
                        athlete_id: c.athlete_row,
                        created_ms: c.created_ms,
                        updated_ms: c.updated_ms,
                        messages: c.messages,
                        last_message: c.last_text,
                    });
                }
            }
            Ok(ConversationPage {
                conversations,
                next_cursor,
            })
        })
        .await?;
    Ok(Json(page))
}

/// `GET /chat/conversations/{id}` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Messages after this one (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// One message of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// Its id.
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub text: String,
    /// The intent read (the user's messages).
    pub intent: Option<String>,
    /// What the reply did (the assistant's): `engine`, `tools` (name, ok), `actions`,
    /// `learned`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// Written, ms since the epoch.
    pub created_ms: i64,
}

/// A conversation and a page of its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationMessages {
    /// The conversation.
    pub conversation: ConversationView,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// One of the caller's conversations, its messages oldest first.
#[utoipa::path(get, path = "/api/v1/chat/conversations/{id}", tag = "chat",
    params(("id" = i64, Path, description = "the conversation"), MessagesQuery),
    responses((status = 200, body = ConversationMessages),
        (status = 400, description = "a limit out of range"),
        (status = 404, description = "not the caller's conversation, or about an athlete they no longer see")),
    security(("bearer" = [])))]
pub async fn get_conversation(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<ConversationMessages>, ApiError> {
    let limit = page_limit(q.limit)?;
    let page = state
        .read(move |conn| {
            let c = rows::own_conversation(conn, p.tenant_row, p.user_row, id)?
                .ok_or_else(|| ApiError::not_found("conversation"))?;
            if !athlete_visible(conn, &p, c.athlete_row)? {
                return Err(ApiError::not_found("conversation"));
            }
            let found = rows::messages(conn, p.tenant_row, id, q.cursor, limit)?;
            let next_cursor = if found.len() == limit as usize {
                found.last().map(|m| m.id)
            } else {
                None
            };
            Ok(ConversationMessages {
                conversation: ConversationView {
                    id: c.id,
                    athlete_id: c.athlete_row,
                    created_ms: c.created_ms,
                    updated_ms: c.updated_ms,
                    messages: c.messages,
                    last_message: None,
                },
                messages: found
                    .into_iter()
                    .map(|m| MessageView {
                        id: m.id,
                        role: m.role,
                        text: m.text,
                        intent: m.intent,
                        details: m.details_json.and_then(|d| serde_json::from_str(&d).ok()),
                        created_ms: m.created_ms,
                    })
                    .collect(),
                next_cursor,
            })
        })
        .await?;
    Ok(Json(page))
}
