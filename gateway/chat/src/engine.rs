//! The offline engine: a message in, a reply with the tools it wants, out — in two phases
//! so that every tool runs in the gateway with the caller's own authorization.
//!
//! ```text
//!  Turn ──► understand ──► Decision { understanding, tools, confirmation, learned }
//!                              │ the gateway runs `tools` as the caller (same code as the API),
//!                              ▼ applies `learned` to the TermBook, stores `pending`
//!           compose_reply(decision, ctx, outcomes) ──► Reply { reply, actions, … }
//! ```
//!
//! - [`understand`] classifies the message ([`crate::intent::classify`], with terms unused
//!   for 90 days left out), turns the intent into [`Tool`]s and passes them through
//!   [`crate::actions::vet`] (power clamped to 150 % of FTP, destructive tools turned into
//!   a [`Confirmation`]). A yes or no answers the previous reply's [`Pending`]: a yes runs
//!   the confirmed tool, confirms the terms read back and teaches a [`ProposedTerm`]; a no
//!   cancels, corrects and drops them. Terms are taught explicitly ("X means Y") or
//!   inferred: an unknown word in something done ("had dhamaka practice") is proposed as a
//!   workout and learned only on yes.
//! - [`compose_reply`] writes the reply from the decision and the tools' outcomes. Numbers
//!   in answers come only from [`ToolOutput`]s or from the [`AthleteContext`] the gateway
//!   filled: a question with neither gets "I can't see …", never a made-up figure.
//! - [`respond`] is both phases with no tools run (the outcomes come from the context
//!   only): what the tests and the benchmark drive, and what the offline fallback shows.
//!
//! With an LLM configured the gateway runs [`understand`] first anyway (the offline reading
//! is the fallback and gives the intent and entities), sends [`crate::llm::build_request`],
//! reads the answer with [`crate::llm::parse_response`] and merges it with
//! [`decide_with_llm`]: the model's tools pass the same [`crate::actions::vet`], run the
//! same way, and [`compose_reply`] writes the reply from their outcomes. Past 60 s or on
//! any error the offline decision is used as it is.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::actions::{self, Confirmation, Level, Limits, Tool};
use crate::entities::{self, EntityError, Intensity, Sport};
use crate::intent::{self, Answer, Intent, LifeKind, Modification, Understanding};
use crate::llm::LlmAnswer;
use crate::preferences::Preference;
use crate::terms::{Meaning, TermBook, TermUpdate};

/// How far back "a month ago" is for a load question with no dates, days.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 28;
/// The longest note copied from a message into a tool, characters.
pub const NOTE_CHARS: usize = 200;

/// What the previous reply is waiting for (stored with the conversation, given back).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pending {
    /// A destructive tool waiting for yes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    /// Learned terms read back, waiting for yes (confirm) or no (correct).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms_to_confirm: Vec<String>,
    /// A word the engine inferred, waiting for yes (taught, and its activity logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_term: Option<ProposedTerm>,
    /// An observed preference the reply asked about, waiting for yes (confirmed) or no
    /// (corrected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference_to_confirm: Option<Preference>,
}

/// An inferred term: "had dhamaka practice" → "Should I count \"dhamaka\" as a workout?".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedTerm {
    /// The athlete's word.
    pub phrase: String,
    /// What it would mean.
    pub meaning: Meaning,
    /// The activity to log on yes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<Tool>,
}

/// One message from the athlete with what the conversation carries.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Turn {
    /// The message.
    pub message: String,
    /// The previous reply's [`Pending`].
    #[serde(default)]
    pub pending: Pending,
    /// The athlete's previous message ("count this as a workout" refers to it).
    #[serde(default)]
    pub previous_message: Option<String>,
}

/// A planned workout as the gateway describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedWorkout {
    /// Its sport.
    pub sport: Sport,
    /// Its length, seconds.
    pub duration_s: u32,
    /// Its title.
    pub title: String,
}

/// Training load at both ends of a range (from the planning crate's fitness).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadFigures {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
    /// CTL on `from`.
    pub ctl_from: f64,
    /// CTL on `to`.
    pub ctl_to: f64,
    /// ATL on `to`.
    pub atl_to: f64,
    /// TSB on `to`.
    pub tsb_to: f64,
}

/// Activity totals over a range (from the activity library).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActivityFigures {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
    /// Only this sport.
    pub sport: Option<Sport>,
    /// How many activities.
    pub count: u32,
    /// Their distance, metres.
    pub distance_m: f64,
    /// Their duration, seconds.
    pub duration_s: u64,
    /// The longest one's distance, metres.
    pub longest_distance_m: f64,
}

/// What the gateway knows about the athlete before any tool runs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AthleteContext {
    /// FTP, watts.
    pub ftp_w: Option<u32>,
    /// Heart-rate cap, bpm.
    pub hr_cap_bpm: Option<u32>,
    /// Today's planned workout.
    pub todays_plan: Option<PlannedWorkout>,
    /// CTL now against a month ago (the last [`DEFAULT_LOOKBACK_DAYS`] days).
    pub load: Option<LoadFigures>,
    /// A preference observed from skipped sessions that the athlete has not answered yet
    /// (the first one): the chat asks about it when the talk is about the plan.
    #[serde(default)]
    pub observed_preference: Option<Preference>,
}

/// What a tool returned, as the gateway hands it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolOutput {
    /// A change was made.
    Done,
    /// A change was made, with what the rules said about it (a target lowered, a load
    /// capped), in the athlete's language.
    Changed {
        /// The rules' sentences.
        said: String,
    },
    /// Load figures.
    Load(LoadFigures),
    /// Activity totals.
    Activities(ActivityFigures),
    /// A day's plan (none when nothing is planned).
    Plan {
        /// The workout.
        workout: Option<PlannedWorkout>,
    },
}

/// One tool run by the gateway and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutcome {
    /// The tool as run.
    pub tool: Tool,
    /// Its output, or the error to show (already safe for the athlete to read).
    pub result: Result<ToolOutput, String>,
}

/// Phase one's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the message means.
    pub understanding: Understanding,
    /// Tools to run now, vetted.
    pub tools: Vec<Tool>,
    /// A destructive tool to confirm instead of running.
    pub confirmation: Option<Confirmation>,
    /// Changes to the athlete's terms.
    pub learned: Vec<TermUpdate>,
    /// What the safety rules changed.
    pub notes: Vec<String>,
    /// A question to ask instead of acting (something is missing).
    pub ask: Option<String>,
    /// Terms to read back for a yes/no.
    pub terms_to_confirm: Vec<String>,
    /// What to say about an answer to the previous reply.
    pub answered: Option<String>,
    /// The LLM's own text ([`decide_with_llm`]), shown only when nothing else is said.
    pub model_text: Option<String>,
    /// A term inferred from an unknown word, proposed for a yes.
    pub proposed_term: Option<ProposedTerm>,
    /// An observed preference asked about, for a yes or no.
    pub preference_to_confirm: Option<Preference>,
}

/// A change made, for the reply's `actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The tool's name.
    pub tool: String,
    /// What changed, in words.
    pub summary: String,
}

/// The answer to one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The text for the athlete.
    pub reply: String,
    /// The intent.
    pub intent: Intent,
    /// The whole reading (entities, confidence, details).
    pub understanding: Understanding,
    /// The tools wanted (vetted).
    pub tools: Vec<Tool>,
    /// The changes made (tools that ran and succeeded).
    pub actions: Vec<Action>,
    /// A destructive tool waiting for yes.
    pub confirmation: Option<Confirmation>,
    /// Changes to the athlete's terms.
    pub learned: Vec<TermUpdate>,
    /// What the next turn should carry in [`Turn::pending`].
    pub pending: Pending,
}

fn cut(text: &str) -> String {
    text.chars().take(NOTE_CHARS).collect()
}

/// Phase one: reads the turn and decides the tools (module doc).
pub fn understand(
    turn: &Turn,
    ctx: &AthleteContext,
    terms: &TermBook,
    today: Date,
    now: OffsetDateTime,
) -> Result<Decision, EntityError> {
    // Terms unused for 90 days are as good as pruned.
    let mut book = terms.clone();
    book.prune(now);
    let u = intent::classify(&turn.message, &book, today)?;
    let limits = Limits {
        ftp_w: ctx.ftp_w,
        hr_cap_bpm: ctx.hr_cap_bpm,
    };
    let mut d = Decision {
        understanding: u.clone(),
        tools: Vec::new(),
        confirmation: None,
        learned: Vec::new(),
        notes: Vec::new(),
        ask: None,
        terms_to_confirm: Vec::new(),
        answered: None,
        model_text: None,
        proposed_term: None,
        preference_to_confirm: None,
    };
    // A yes or no answers the previous reply.
    if let Some(answer) = u.answer {
        answer_pending(&mut d, answer, &turn.pending, limits);
        return Ok(d);
    }
    let day = u.entities.dates.first().map_or(today, |s| s.from);
    let mut wanted = Vec::new();
    match u.intent {
        Intent::Help | Intent::Unknown => {}
        Intent::DefineTerm => {
            if let Some(t) = &u.teaching {
                let phrase = t.phrase.clone().or_else(|| {
                    turn.previous_message.as_deref().and_then(|m| {
                        let w = entities::words(m);
                        let w: Vec<&str> = w.iter().map(String::as_str).collect();
                        intent::unknown_run(&w, today)
                    })
                });
                match phrase {
                    Some(phrase) if crate::terms::normalise(&phrase).is_ok() => {
                        d.learned.push(TermUpdate::Teach {
                            phrase: phrase.clone(),
                            meaning: t.meaning.clone(),
                        });
                        // "had dhamaka practice, count it as a workout": log it too.
                        let said_done = entities::words(&turn.message)
                            .iter()
                            .any(|w| intent::PAST_VERBS.contains(&w.as_str()));
                        if let (Meaning::Workout { sport }, true) = (&t.meaning, said_done) {
                            wanted.push(Tool::LogActivity {
                                sport: *sport,
                                date: day,
                                part_of_day: u.entities.dates.first().and_then(|s| s.part_of_day),
                                duration_s: u.entities.duration_s,
                                distance_m: u.entities.distance_m,
                                note: Some(phrase),
                            });
                        }
                    }
                    _ => d.ask = Some(
                        "Which word do you mean? Say, for example, \"dhamaka is a dance workout\"."
                            .into(),
                    ),
                }
            }
        }
        Intent::Preference => {
            if let Some(p) = &u.preference {
                wanted.push(Tool::SavePreference {
                    preference: p.clone(),
                });
            }
        }
        Intent::LogActivity if u.delete_activity => {
            wanted.push(Tool::DeleteActivity {
                date: u.entities.dates.first().map(|s| s.from),
                sport: u.entities.sport,
            });
        }
        Intent::LogActivity => {
            let e = &u.entities;
            let term_note = u.terms_used.first().cloned();
            if e.sport.is_none()
                && e.duration_s.is_none()
                && e.distance_m.is_none()
                && term_note.is_none()
            {
                let w = entities::words(&turn.message);
                let w: Vec<&str> = w.iter().map(String::as_str).collect();
                match intent::unknown_run(&w, today).filter(|p| crate::terms::normalise(p).is_ok())
                {
                    // An unknown word for something done: infer a term, confirm it first.
                    Some(phrase) => {
                        d.ask = Some(format!(
                            "Should I count \"{phrase}\" as a workout? Reply yes and I'll log it and remember the word."
                        ));
                        d.proposed_term = Some(ProposedTerm {
                            log: Some(Tool::LogActivity {
                                sport: None,
                                date: day,
                                part_of_day: e.dates.first().and_then(|s| s.part_of_day),
                                duration_s: None,
                                distance_m: None,
                                note: Some(phrase.clone()),
                            }),
                            phrase,
                            meaning: Meaning::Workout { sport: None },
                        });
                    }
                    None => {
                        d.ask = Some(
                            "What did you do, and for how long? For example \"ran 5k in 25:00\"."
                                .into(),
                        );
                    }
                }
            } else {
                wanted.push(Tool::LogActivity {
                    sport: e.sport,
                    date: day,
                    part_of_day: e.dates.first().and_then(|s| s.part_of_day),
                    duration_s: e.duration_s,
                    distance_m: e.distance_m,
                    note: term_note,
                });
            }
        }
        Intent::LogCheckin => {
            let c = u.checkin.clone().unwrap_or_default();
            wanted.push(Tool::SetCheckin {
                date: today,
                energy: c.energy,
                mood: c.mood,
                soreness: c.soreness,
                note: Some(cut(&turn.message)),
            });
        }
        Intent::LifeEvent => {
            let span = u.entities.dates.first().copied();
            // "on holiday until Sunday": from today.
            let until = entities::words(&turn.message)
                .iter()
                .any(|w| matches!(w.as_str(), "until" | "till" | "til" | "through"));
            wanted.push(Tool::AddLifeEvent {
                kind: u.life_kind.unwrap_or(LifeKind::Busy),
                from: span.map_or(today, |s| if until { today.min(s.from) } else { s.from }),
                to: span.map_or(today, |s| s.to),
                note: cut(&turn.message),
            });
        }
        Intent::HistoryQuestion => wanted.push(history_tool(&u, &turn.message, today)),
        Intent::ModifyWorkout => modify(&mut d, &mut wanted, &u, ctx, today, day),
    }
    if !u.terms_used.is_empty() && u.intent != Intent::DefineTerm {
        d.terms_to_confirm = u.terms_used.clone();
    }
    let vetted = actions::vet(wanted, limits, false);
    d.tools = vetted.tools;
    d.confirmation = vetted.confirmation;
    d.notes = vetted.notes;
    d.notes.extend(
        vetted
            .refused
            .into_iter()
            .map(|(_, e)| format!("I couldn't do that: {e}.")),
    );
    d.preference_to_confirm = preference_question(&d, ctx);
    Ok(d)
}

/// The observed preference to ask about in this reply: only when the talk is about the
/// plan (a change to a workout, a plan question, a preference said) and the reply asks
/// nothing else, so that a yes or no has one thing to answer.
fn preference_question(d: &Decision, ctx: &AthleteContext) -> Option<Preference> {
    let about_plan = match d.understanding.intent {
        Intent::ModifyWorkout | Intent::Preference => true,
        Intent::HistoryQuestion => d.tools.iter().any(|t| matches!(t, Tool::ShowPlan { .. })),
        _ => false,
    };
    let asks_already = d.ask.is_some()
        || d.confirmation.is_some()
        || d.proposed_term.is_some()
        || !d.terms_to_confirm.is_empty();
    let p = ctx.observed_preference.clone()?;
    // A preference just said in this message is not asked back.
    let said = d
        .tools
        .iter()
        .any(|t| matches!(t, Tool::SavePreference { preference } if *preference == p));
    (about_plan && !asks_already && !said).then_some(p)
}

/// The question about an observed preference.
fn preference_prompt(p: &Preference) -> String {
    match p {
        Preference::AvoidPartOfDay { part } => format!(
            "I noticed you often skip {0} sessions — should I keep {0}s free? (yes/no)",
            part.as_str()
        ),
        other => format!(
            "I noticed {} in what you skip — is that right? (yes/no)",
            describe_preference(other)
        ),
    }
}

fn answer_pending(d: &mut Decision, answer: Answer, pending: &Pending, limits: Limits) {
    match answer {
        Answer::Yes => {
            for phrase in &pending.terms_to_confirm {
                d.learned.push(TermUpdate::Confirm {
                    phrase: phrase.clone(),
                });
            }
            if let Some(c) = &pending.confirmation {
                let vetted = actions::vet(vec![c.tool.clone()], limits, true);
                d.understanding.intent = intent_of(&c.tool);
                d.tools = vetted.tools;
                d.notes = vetted.notes;
            }
            if let Some(preference) = &pending.preference_to_confirm {
                d.understanding.intent = Intent::Preference;
                d.tools.push(Tool::AnswerPreference {
                    preference: preference.clone(),
                    confirmed: true,
                });
            }
            if let Some(p) = &pending.proposed_term {
                d.understanding.intent = Intent::DefineTerm;
                d.learned.push(TermUpdate::Teach {
                    phrase: p.phrase.clone(),
                    meaning: p.meaning.clone(),
                });
                let vetted = actions::vet(p.log.iter().cloned().collect(), limits, false);
                d.tools.extend(vetted.tools);
            }
            d.answered = Some(
                if pending.confirmation.is_some()
                    || pending.proposed_term.is_some()
                    || pending.preference_to_confirm.is_some()
                {
                    "OK.".into()
                } else if !pending.terms_to_confirm.is_empty() {
                    "Thanks, I'll remember that.".into()
                } else {
                    "Yes to what? Tell me what you'd like to do, or say help.".into()
                },
            );
        }
        Answer::No => {
            for phrase in &pending.terms_to_confirm {
                d.learned.push(TermUpdate::Correct {
                    phrase: phrase.clone(),
                });
            }
            if let Some(preference) = &pending.preference_to_confirm {
                d.understanding.intent = Intent::Preference;
                d.tools.push(Tool::AnswerPreference {
                    preference: preference.clone(),
                    confirmed: false,
                });
            }
            d.answered = Some(if pending.confirmation.is_some() {
                "OK, I won't.".into()
            } else if let Some(p) = &pending.proposed_term {
                format!("OK, I won't count \"{}\".", p.phrase)
            } else if let Some(p) = pending.terms_to_confirm.first() {
                format!("Sorry. What does \"{p}\" mean? Say \"{p} means …\".")
            } else {
                "OK.".into()
            });
        }
    }
}

/// The intent a tool serves (for a confirmed tool).
fn intent_of(tool: &Tool) -> Intent {
    match tool {
        Tool::LogActivity { .. } | Tool::DeleteActivity { .. } => Intent::LogActivity,
        Tool::LoadSummary { .. } | Tool::ActivitySummary { .. } | Tool::ShowPlan { .. } => {
            Intent::HistoryQuestion
        }
        Tool::AddLifeEvent { .. } => Intent::LifeEvent,
        Tool::SetCheckin { .. } => Intent::LogCheckin,
        Tool::SavePreference { .. } | Tool::AnswerPreference { .. } => Intent::Preference,
        Tool::CompressTodaysPlan { .. }
        | Tool::SetTodaysIntensity { .. }
        | Tool::SwapTodaysSport { .. }
        | Tool::MovePlannedWorkout { .. }
        | Tool::RemovePlannedWorkout { .. } => Intent::ModifyWorkout,
    }
}

fn history_tool(u: &Understanding, message: &str, today: Date) -> Tool {
    let w = entities::words(message);
    let has = |xs: &[&str]| w.iter().any(|x| xs.contains(&x.as_str()));
    let span = u.entities.dates.first().copied();
    if has(&["plan", "planned", "scheduled", "workout", "should"])
        && !has(&["workouts", "week", "month"])
    {
        return Tool::ShowPlan {
            date: span.map_or(today, |s| s.from),
        };
    }
    let (from, to) = match span {
        Some(s) if !s.is_day() => (s.from, s.to.min(today).max(s.from)),
        Some(s) => (s.from, s.to),
        None => (
            today.saturating_sub(Duration::days(DEFAULT_LOOKBACK_DAYS)),
            today,
        ),
    };
    let distance = has(&[
        "miles",
        "mile",
        "km",
        "kilometres",
        "kilometers",
        "distance",
        "far",
        "longest",
        "mileage",
        "many",
        "total",
        "runs",
        "rides",
        "swims",
        "activities",
        "volume",
        "hours",
        "often",
    ]) || u.entities.sport.is_some()
        && !has(&["fitness", "ctl", "form", "fatigue", "load"]);
    if distance {
        Tool::ActivitySummary {
            from,
            to,
            sport: u.entities.sport,
        }
    } else {
        Tool::LoadSummary { from, to }
    }
}

fn modify(
    d: &mut Decision,
    wanted: &mut Vec<Tool>,
    u: &Understanding,
    ctx: &AthleteContext,
    today: Date,
    day: Date,
) {
    let e = &u.entities;
    match u.modification {
        Some(Modification::Shorter) => match e.duration_s {
            Some(s) => wanted.push(Tool::CompressTodaysPlan {
                date: day,
                minutes: (s / 60).max(1),
            }),
            None => d.ask = Some("How many minutes do you have?".into()),
        },
        Some(Modification::Easier) => wanted.push(Tool::SetTodaysIntensity {
            date: day,
            level: Level::Easy,
            power_w: None,
            hr_cap_bpm: None,
        }),
        Some(Modification::Harder) => {
            let power_w = match (e.intensity, ctx.ftp_w) {
                (Some(Intensity::PowerW(p)), _) => Some(p),
                (Some(Intensity::PercentFtp(pct)), Some(ftp)) => {
                    Some(u32::try_from(u64::from(ftp) * u64::from(pct) / 100).unwrap_or(u32::MAX))
                }
                (Some(Intensity::PercentFtp(pct)), None) => {
                    d.notes.push(format!(
                        "I don't know your FTP, so I can't turn {pct} % into watts; I set the level without a power target."
                    ));
                    None
                }
                _ => None,
            };
            let level = if e.intensity == Some(Intensity::AllOut) {
                Level::AllOut
            } else {
                Level::Hard
            };
            wanted.push(Tool::SetTodaysIntensity {
                date: day,
                level,
                power_w,
                hr_cap_bpm: None,
            });
        }
        Some(Modification::SwapSport) => match e.sport {
            Some(sport) => wanted.push(Tool::SwapTodaysSport { date: day, sport }),
            None => d.ask = Some("Which sport would you like instead?".into()),
        },
        Some(Modification::MoveDay) => {
            let (from, to) = match e.dates.as_slice() {
                [a, b, ..] => (a.from, b.from),
                [b] => (today, b.from),
                [] => (today, today),
            };
            if from == to {
                d.ask = Some("Which day should it move to?".into());
            } else {
                wanted.push(Tool::MovePlannedWorkout { from, to });
            }
        }
        Some(Modification::Skip) => wanted.push(Tool::RemovePlannedWorkout { date: day }),
        None => d.ask = Some("What would you like to change about the workout?".into()),
    }
    if ctx.todays_plan.is_none()
        && day == today
        && !matches!(u.modification, Some(Modification::MoveDay) | None)
        && d.ask.is_none()
    {
        // The planner refuses too; saying so first is kinder.
        d.notes
            .push("You have no workout planned today, so there may be nothing to change.".into());
    }
}

fn clock(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn km(metres: f64) -> String {
    format!("{:.2} km", metres / 1_000.0)
}

fn describe_preference(p: &Preference) -> String {
    match p {
        Preference::NoWorkoutsBefore { hour } => format!("no workouts before {hour:02}:00"),
        Preference::NoWorkoutsAfter { hour } => format!("no workouts after {hour:02}:00"),
        Preference::PreferPartOfDay { part } => format!("you prefer the {}", part.as_str()),
        Preference::AvoidPartOfDay { part } => format!("avoid the {}", part.as_str()),
        Preference::AvoidEquipment { equipment } => {
            format!(
                "avoid the {}",
                serde_json::to_value(equipment)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        }
        Preference::LikesSport { sport } => format!("you like {}", sport.as_str()),
        Preference::DislikesSport { sport } => format!("you'd rather not {}", sport.as_str()),
        Preference::RestDay { weekday } => format!("{weekday}s are rest days"),
    }
}

/// A tool's change in words (for `actions` and the reply).
pub fn summary(tool: &Tool) -> String {
    match tool {
        Tool::CompressTodaysPlan { date, minutes } => {
            format!("the workout on {date} fitted into {minutes} min")
        }
        Tool::SetTodaysIntensity {
            date,
            level,
            power_w,
            ..
        } => match power_w {
            Some(p) => format!("the workout on {date} set to {} at {p} W", level.as_str()),
            None => format!("the workout on {date} set to {}", level.as_str()),
        },
        Tool::SwapTodaysSport { date, sport } => {
            format!("the workout on {date} changed to {}", sport.as_str())
        }
        Tool::MovePlannedWorkout { from, to } => format!("the workout moved from {from} to {to}"),
        Tool::RemovePlannedWorkout { date } => {
            format!("the workout on {date} removed: a rest day")
        }
        Tool::LogActivity {
            sport,
            date,
            part_of_day,
            duration_s,
            distance_m,
            note,
        } => {
            let mut s = format!("logged {}", sport.map_or("a workout", Sport::as_str));
            if let Some(n) = note {
                s.push_str(&format!(" ({n})"));
            }
            if let Some(m) = distance_m {
                s.push_str(&format!(", {}", km(*m)));
            }
            if let Some(t) = duration_s {
                s.push_str(&format!(" in {}", clock(u64::from(*t))));
            }
            s.push_str(&format!(" on {date}"));
            if let Some(p) = part_of_day {
                s.push_str(&format!(" ({})", p.as_str()));
            }
            s
        }
        Tool::DeleteActivity { date, sport } => {
            let what = sport.map_or("activity", Sport::as_str);
            match date {
                Some(d) => format!("deleted your {what} from {d}"),
                None => format!("deleted your latest {what}"),
            }
        }
        Tool::LoadSummary { from, to } => format!("read your training load from {from} to {to}"),
        Tool::ActivitySummary { from, to, .. } => {
            format!("read your activities from {from} to {to}")
        }
        Tool::ShowPlan { date } => format!("read the plan for {date}"),
        Tool::AddLifeEvent { kind, from, to, .. } => {
            let kind = match kind {
                LifeKind::Travel => "travel",
                LifeKind::Illness => "illness",
                LifeKind::Busy => "a busy time",
            };
            if from == to {
                format!("noted {kind} on {from}")
            } else {
                format!("noted {kind} from {from} to {to}")
            }
        }
        Tool::SetCheckin {
            date,
            energy,
            mood,
            soreness,
            ..
        } => {
            let parts: Vec<String> = [("energy", energy), ("mood", mood), ("soreness", soreness)]
                .into_iter()
                .filter_map(|(n, v)| v.map(|v| format!("{n} {v}/5")))
                .collect();
            if parts.is_empty() {
                format!("check-in saved for {date}")
            } else {
                format!("check-in saved for {date} ({})", parts.join(", "))
            }
        }
        Tool::SavePreference { preference } => {
            format!("noted: {}", describe_preference(preference))
        }
        Tool::AnswerPreference {
            preference,
            confirmed: true,
        } => format!("preference confirmed: {}", describe_preference(preference)),
        Tool::AnswerPreference {
            preference,
            confirmed: false,
        } => format!(
            "preference corrected: I won't plan for \"{}\" any more",
            describe_preference(preference)
        ),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn load_text(f: &LoadFigures) -> String {
    let delta = f.ctl_to - f.ctl_from;
    let direction = if delta > 0.05 {
        format!("up {delta:.1}")
    } else if delta < -0.05 {
        format!("down {:.1}", -delta)
    } else {
        "unchanged".to_owned()
    };
    format!(
        "Your fitness (CTL) is {:.1} on {}, {direction} from {:.1} on {}. Fatigue (ATL) {:.1}, form (TSB) {:.1}.",
        f.ctl_to, f.to, f.ctl_from, f.from, f.atl_to, f.tsb_to
    )
}

fn activities_text(f: &ActivityFigures) -> String {
    let what = f.sport.map_or("activities".to_owned(), |s| {
        format!("{} activities", s.as_str())
    });
    if f.count == 0 {
        return format!("No {what} from {} to {}.", f.from, f.to);
    }
    format!(
        "{} {what} from {} to {}: {} in {}; the longest {}.",
        f.count,
        f.from,
        f.to,
        km(f.distance_m),
        clock(f.duration_s),
        km(f.longest_distance_m)
    )
}

fn plan_text(date: Date, workout: Option<&PlannedWorkout>) -> String {
    match workout {
        Some(w) => format!(
            "On {date}: {} ({}, {}).",
            w.title,
            w.sport.as_str(),
            clock(u64::from(w.duration_s))
        ),
        None => format!("Nothing is planned for {date}."),
    }
}

const HELP_TEXT: &str = "I can change today's workout (\"only 35 minutes today\", \"make it easier\", \"swap to a swim\", \"move it to Thursday\"), log what you did (\"ran 10 miles in 1:20\"), note how you feel or life events (\"travelling next week\"), answer questions (\"how's my fitness this month?\"), remember preferences (\"no workouts before 7\") and learn your words (\"dhamaka is a dance workout\").";

/// Phase two: the reply from the decision and what the tools returned (module doc).
/// A tool with no outcome has not run: changes are described as intended and questions
/// are answered from the context when it holds the figures.
pub fn compose_reply(decision: &Decision, ctx: &AthleteContext, outcomes: &[ToolOutcome]) -> Reply {
    let u = &decision.understanding;
    let mut parts: Vec<String> = Vec::new();
    let mut actions = Vec::new();
    if let Some(a) = &decision.answered {
        parts.push(a.clone());
    }
    for t in &decision.learned {
        if let TermUpdate::Teach { phrase, meaning } = t {
            parts.push(format!(
                "Got it: \"{phrase}\" means {}.",
                meaning.describe()
            ));
        }
    }
    for tool in &decision.tools {
        let outcome = outcomes.iter().find(|o| &o.tool == tool);
        let text = match (tool, outcome.map(|o| &o.result)) {
            (_, Some(Err(e))) => format!("I couldn't do that ({}): {e}.", summary(tool)),
            (Tool::LoadSummary { .. }, Some(Ok(ToolOutput::Load(f)))) => load_text(f),
            (Tool::LoadSummary { .. }, _) => match &ctx.load {
                Some(f) => load_text(f),
                None => "I can't see your training load right now.".to_owned(),
            },
            (Tool::ActivitySummary { .. }, Some(Ok(ToolOutput::Activities(f)))) => {
                activities_text(f)
            }
            (Tool::ActivitySummary { .. }, _) => {
                "I can't see your activities right now.".to_owned()
            }
            (Tool::ShowPlan { date }, Some(Ok(ToolOutput::Plan { workout }))) => {
                plan_text(*date, workout.as_ref())
            }
            (Tool::ShowPlan { date }, _) => match &ctx.todays_plan {
                Some(w) if outcome.is_none() && ctx_is_today(u, *date) => plan_text(*date, Some(w)),
                _ => "I can't see your plan right now.".to_owned(),
            },
            (_, Some(Ok(ToolOutput::Changed { said }))) => {
                actions.push(Action {
                    tool: tool.name().to_owned(),
                    summary: summary(tool),
                });
                format!("Done: {}. {said}", summary(tool))
            }
            (_, Some(Ok(_))) => {
                actions.push(Action {
                    tool: tool.name().to_owned(),
                    summary: summary(tool),
                });
                format!("Done: {}.", summary(tool))
            }
            (_, None) => format!("{}.", capitalised(&summary(tool))),
        };
        parts.push(text);
    }
    parts.extend(decision.notes.iter().cloned());
    if let Some(c) = &decision.confirmation {
        parts.push(c.prompt.clone());
    }
    if let Some(q) = &decision.ask {
        parts.push(q.clone());
    }
    if let Some(p) = &decision.preference_to_confirm {
        parts.push(preference_prompt(p));
    }
    if !decision.terms_to_confirm.is_empty() && decision.answered.is_none() {
        let phrase = &decision.terms_to_confirm[0];
        parts.push(format!(
            "(I read \"{phrase}\" the way you taught me — right?)"
        ));
    }
    if parts.is_empty()
        && let Some(text) = &decision.model_text
    {
        parts.push(text.clone());
    }
    if parts.is_empty() {
        parts.push(match u.intent {
            Intent::Help => HELP_TEXT.to_owned(),
            _ => "Sorry, I didn't understand that. Try \"only 30 minutes today\", \"ran 5k this morning\" or \"help\".".to_owned(),
        });
    }
    Reply {
        reply: parts.join(" "),
        intent: u.intent,
        understanding: u.clone(),
        tools: decision.tools.clone(),
        actions,
        confirmation: decision.confirmation.clone(),
        learned: decision.learned.clone(),
        pending: Pending {
            proposed_term: decision.proposed_term.clone(),
            confirmation: decision.confirmation.clone(),
            terms_to_confirm: if decision.answered.is_none() {
                decision.terms_to_confirm.clone()
            } else {
                Vec::new()
            },
            preference_to_confirm: decision.preference_to_confirm.clone(),
        },
    }
}

/// Whether the context's "today's plan" is the plan asked about: the plan question has
/// no date or names today.
fn ctx_is_today(u: &Understanding, date: Date) -> bool {
    u.entities.dates.first().is_none_or(|s| s.from == date)
}

/// Phase one with the LLM's answer: the offline reading stays (intent, entities, learned
/// terms, and any yes/no answer, which the model never overrides); the model's tool calls,
/// when it made any, replace the offline tools after the same [`crate::actions::vet`]; its
/// text is kept as data, shown only when the reply has nothing else to say.
pub fn decide_with_llm(offline: Decision, answer: &LlmAnswer, ctx: &AthleteContext) -> Decision {
    if offline.understanding.answer.is_some() {
        return offline;
    }
    let mut d = offline;
    d.model_text = answer.text.clone();
    if !answer.calls.is_empty() {
        let limits = Limits {
            ftp_w: ctx.ftp_w,
            hr_cap_bpm: ctx.hr_cap_bpm,
        };
        let vetted = actions::vet(
            answer.calls.iter().map(|(_, t)| t.clone()).collect(),
            limits,
            false,
        );
        d.tools = vetted.tools;
        d.confirmation = vetted.confirmation;
        d.notes = vetted.notes;
        d.notes.extend(
            vetted
                .refused
                .into_iter()
                .map(|(_, e)| format!("I couldn't do that: {e}.")),
        );
        d.ask = None;
        d.preference_to_confirm = preference_question(&d, ctx);
    }
    d
}

/// Both phases with no tools run: the offline reply (module doc).
pub fn respond(
    turn: &Turn,
    ctx: &AthleteContext,
    terms: &TermBook,
    today: Date,
    now: OffsetDateTime,
) -> Result<Reply, EntityError> {
    let decision = understand(turn, ctx, terms, today, now)?;
    Ok(compose_reply(&decision, ctx, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const TODAY: Date = date!(2026 - 12 - 02);
    const NOW: OffsetDateTime = datetime!(2026-12-02 07:00 UTC);

    fn ctx() -> AthleteContext {
        AthleteContext {
            ftp_w: Some(250),
            hr_cap_bpm: Some(172),
            todays_plan: Some(PlannedWorkout {
                sport: Sport::Ride,
                duration_s: 3_600,
                title: "Sweet spot 3×10".into(),
            }),
            load: Some(LoadFigures {
                from: date!(2026 - 11 - 04),
                to: TODAY,
                ctl_from: 55.0,
                ctl_to: 63.21,
                atl_to: 99.75,
                tsb_to: -36.54,
            }),
            observed_preference: None,
        }
    }

    /// A turn of a conversation: `message` with the previous reply's pending question.
    fn reply_to(message: &str, pending: &Pending, context: &AthleteContext) -> Reply {
        let turn = Turn {
            message: message.into(),
            pending: pending.clone(),
            previous_message: None,
        };
        respond(&turn, context, &TermBook::new(), TODAY, NOW).unwrap()
    }

    #[test]
    fn an_observed_preference_is_confirmed_or_corrected_in_the_conversation() {
        use crate::entities::PartOfDay;
        let mornings = Preference::AvoidPartOfDay {
            part: PartOfDay::Morning,
        };
        let context = AthleteContext {
            observed_preference: Some(mornings.clone()),
            ..ctx()
        };
        // Talk about the plan: the reply asks about the observed preference.
        let asked = reply_to("make it easier", &Pending::default(), &context);
        assert!(
            asked.reply.ends_with(
                "I noticed you often skip morning sessions — should I keep mornings free? (yes/no)"
            ),
            "{}",
            asked.reply
        );
        assert_eq!(asked.pending.preference_to_confirm, Some(mornings.clone()));
        // Yes (and its other words) confirms it; no and wrong correct it.
        for (answer, confirmed) in [
            ("yes", true),
            ("yep", true),
            ("right", true),
            ("no", false),
            ("wrong", false),
        ] {
            let r = reply_to(answer, &asked.pending, &context);
            assert_eq!(
                r.tools,
                vec![Tool::AnswerPreference {
                    preference: mornings.clone(),
                    confirmed
                }],
                "{answer}"
            );
            assert_eq!(r.intent, Intent::Preference, "{answer}");
            // Answered: nothing is pending any more.
            assert_eq!(r.pending, Pending::default(), "{answer}");
        }
        let r = reply_to("yes", &asked.pending, &context);
        assert_eq!(r.reply, "OK. Preference confirmed: avoid the morning.");
        // A yes with nothing pending confirms nothing.
        let r = reply_to("yes", &Pending::default(), &context);
        assert!(r.tools.is_empty(), "{:?}", r.tools);
        assert_eq!(
            r.reply,
            "Yes to what? Tell me what you'd like to do, or say help."
        );
        // Talk that is not about the plan, or a reply that already asks something, does not
        // ask it.
        for message in [
            "how's my fitness this month?",
            "skip today",
            "ran 5k this morning",
        ] {
            let r = reply_to(message, &Pending::default(), &context);
            assert_eq!(r.pending.preference_to_confirm, None, "{message}");
            assert!(!r.reply.contains("I noticed"), "{message}: {}", r.reply);
        }
        // Without an observed preference nothing is asked.
        let r = reply_to("make it easier", &Pending::default(), &ctx());
        assert_eq!(r.pending.preference_to_confirm, None);
    }

    fn say(message: &str) -> Reply {
        let turn = Turn {
            message: message.into(),
            ..Turn::default()
        };
        respond(&turn, &ctx(), &TermBook::new(), TODAY, NOW).unwrap()
    }

    #[test]
    fn a_power_target_is_clamped_and_the_reply_says_so() {
        let r = say("do 400 W intervals today");
        assert_eq!(
            r.tools,
            vec![Tool::SetTodaysIntensity {
                date: TODAY,
                level: Level::Hard,
                power_w: Some(375), // 1.5 × 250
                hr_cap_bpm: Some(172),
            }]
        );
        assert_eq!(
            r.reply,
            "The workout on 2026-12-02 set to hard at 375 W. 400 W is above 150 % of your FTP (250 W), so I set 375 W. Heart rate stays below your cap of 172 bpm."
        );
    }

    #[test]
    fn a_question_is_answered_from_supplied_figures_only() {
        let r = say("how's my fitness this month?");
        assert_eq!(
            r.tools,
            vec![Tool::LoadSummary {
                from: date!(2026 - 12 - 01),
                to: TODAY
            }]
        );
        // From the context (no tool run): CTL 63.21 vs 55.0 = +8.21.
        assert_eq!(
            r.reply,
            "Your fitness (CTL) is 63.2 on 2026-12-02, up 8.2 from 55.0 on 2026-11-04. Fatigue (ATL) 99.8, form (TSB) -36.5."
        );
        let turn = Turn {
            message: "how's my fitness?".into(),
            ..Turn::default()
        };
        let bare = AthleteContext::default();
        let r = respond(&turn, &bare, &TermBook::new(), TODAY, NOW).unwrap();
        assert_eq!(r.reply, "I can't see your training load right now.");
        // Phase two with the tool's own figures.
        let d = understand(&turn, &bare, &TermBook::new(), TODAY, NOW).unwrap();
        let figures = LoadFigures {
            from: date!(2026 - 11 - 04),
            to: TODAY,
            ctl_from: 60.0,
            ctl_to: 58.5,
            atl_to: 40.0,
            tsb_to: 18.5,
        };
        let r = compose_reply(
            &d,
            &bare,
            &[ToolOutcome {
                tool: d.tools[0].clone(),
                result: Ok(ToolOutput::Load(figures)),
            }],
        );
        assert_eq!(
            r.reply,
            "Your fitness (CTL) is 58.5 on 2026-12-02, down 1.5 from 60.0 on 2026-11-04. Fatigue (ATL) 40.0, form (TSB) 18.5."
        );
    }

    #[test]
    fn destructive_actions_need_a_yes() {
        let r = say("delete yesterday's run");
        assert!(r.tools.is_empty());
        let c = r.confirmation.clone().unwrap();
        assert_eq!(
            c.tool,
            Tool::DeleteActivity {
                date: Some(date!(2026 - 12 - 01)),
                sport: Some(Sport::Run)
            }
        );
        assert_eq!(
            r.reply,
            "Delete your run from 2026-12-01? Reply yes to confirm."
        );
        let yes = Turn {
            message: "yes".into(),
            pending: r.pending.clone(),
            previous_message: None,
        };
        let d = understand(&yes, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        assert_eq!(d.tools, vec![c.tool.clone()]);
        let r2 = compose_reply(
            &d,
            &ctx(),
            &[ToolOutcome {
                tool: c.tool.clone(),
                result: Ok(ToolOutput::Done),
            }],
        );
        assert_eq!(r2.reply, "OK. Done: deleted your run from 2026-12-01.");
        assert_eq!(
            r2.actions,
            vec![Action {
                tool: "delete_activity".into(),
                summary: "deleted your run from 2026-12-01".into()
            }]
        );
        let no = Turn {
            message: "no".into(),
            pending: r.pending,
            previous_message: None,
        };
        let r3 = respond(&no, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        assert!(r3.tools.is_empty());
        assert_eq!(r3.reply, "OK, I won't.");
    }

    #[test]
    fn an_unknown_word_is_proposed_then_taught_on_yes() {
        let r = say("had dhamaka practice");
        assert_eq!(
            r.reply,
            "Should I count \"dhamaka\" as a workout? Reply yes and I'll log it and remember the word."
        );
        assert!(r.tools.is_empty() && r.learned.is_empty());
        let yes = Turn {
            message: "yes".into(),
            pending: r.pending,
            previous_message: None,
        };
        let r = respond(&yes, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        assert_eq!(r.intent, Intent::DefineTerm);
        assert_eq!(
            r.learned,
            vec![TermUpdate::Teach {
                phrase: "dhamaka".into(),
                meaning: Meaning::Workout { sport: None }
            }]
        );
        assert_eq!(
            r.tools.iter().map(Tool::name).collect::<Vec<_>>(),
            ["log_activity"]
        );
        assert_eq!(
            r.reply,
            "OK. Got it: \"dhamaka\" means a workout. Logged a workout (dhamaka) on 2026-12-02."
        );
        // No: nothing is learned.
        let first = say("had dhamaka practice");
        let no = Turn {
            message: "no".into(),
            pending: first.pending,
            previous_message: None,
        };
        let r = respond(&no, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        assert!(r.learned.is_empty() && r.tools.is_empty());
        assert_eq!(r.reply, "OK, I won't count \"dhamaka\".");
    }

    #[test]
    fn llm_tools_pass_the_same_gate() {
        let turn = Turn {
            message: "make it hard".into(),
            ..Turn::default()
        };
        let offline = understand(&turn, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        let answer = LlmAnswer {
            text: Some("Deleting everything as you asked.".into()),
            calls: vec![
                (
                    "c1".into(),
                    Tool::SetTodaysIntensity {
                        date: TODAY,
                        level: Level::AllOut,
                        power_w: Some(900),
                        hr_cap_bpm: None,
                    },
                ),
                (
                    "c2".into(),
                    Tool::DeleteActivity {
                        date: None,
                        sport: None,
                    },
                ),
            ],
        };
        let d = decide_with_llm(offline, &answer, &ctx());
        // 900 W → 375 W (1.5 × 250); the delete waits for a yes.
        assert_eq!(
            d.tools,
            vec![Tool::SetTodaysIntensity {
                date: TODAY,
                level: Level::AllOut,
                power_w: Some(375),
                hr_cap_bpm: Some(172)
            }]
        );
        assert_eq!(
            d.confirmation.as_ref().map(|c| c.tool.name()),
            Some("delete_activity")
        );
        let r = compose_reply(&d, &ctx(), &[]);
        // The model's text is not shown when the reply has its own.
        assert!(!r.reply.contains("Deleting everything"), "{}", r.reply);
        // Chit-chat with no tools: the model's text is the reply.
        let turn = Turn {
            message: "lol".into(),
            ..Turn::default()
        };
        let offline = understand(&turn, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        let answer = LlmAnswer {
            text: Some("Glad you're having fun!".into()),
            calls: vec![],
        };
        let r = compose_reply(&decide_with_llm(offline, &answer, &ctx()), &ctx(), &[]);
        assert_eq!(r.reply, "Glad you're having fun!");
    }

    proptest::proptest! {
        #[test]
        fn no_reply_sets_power_above_150_percent_of_ftp(
            watts in 1u32..=3_000,
            percent in 1u32..=300,
            ftp in 50u32..=500,
            form in 0usize..3,
        ) {
            let message = match form {
                0 => format!("do {watts} W intervals today"),
                1 => format!("crank it up to {watts} watts"),
                _ => format!("intervals at {percent}% FTP"),
            };
            let context = AthleteContext { ftp_w: Some(ftp), ..ctx() };
            let turn = Turn { message, ..Turn::default() };
            let r = respond(&turn, &context, &TermBook::new(), TODAY, NOW).unwrap();
            let targets: Vec<u32> = r
                .tools
                .iter()
                .filter_map(|t| match t {
                    Tool::SetTodaysIntensity { power_w, .. } => *power_w,
                    _ => None,
                })
                .collect();
            if form < 2 {
                // A watts target always gives a power target: the request, or the clamp.
                proptest::prop_assert_eq!(targets.len(), 1);
                proptest::prop_assert_eq!(targets[0], watts.min(ftp * 3 / 2));
            }
            for t in &r.tools {
                if let Tool::SetTodaysIntensity { power_w: Some(p), .. } = t {
                    // 100 × power ≤ 150 × FTP.
                    proptest::prop_assert!(u64::from(*p) * 100 <= u64::from(ftp) * 150);
                }
            }
        }
    }

    #[test]
    fn tool_errors_are_reported_not_hidden() {
        let turn = Turn {
            message: "only 35 minutes today".into(),
            ..Turn::default()
        };
        let d = understand(&turn, &ctx(), &TermBook::new(), TODAY, NOW).unwrap();
        assert_eq!(
            d.tools,
            vec![Tool::CompressTodaysPlan {
                date: TODAY,
                minutes: 35
            }]
        );
        let r = compose_reply(
            &d,
            &ctx(),
            &[ToolOutcome {
                tool: d.tools[0].clone(),
                result: Err("not allowed".into()),
            }],
        );
        assert_eq!(
            r.reply,
            "I couldn't do that (the workout on 2026-12-02 fitted into 35 min): not allowed."
        );
        assert!(r.actions.is_empty());
    }
}
