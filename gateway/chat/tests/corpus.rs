//! The table-driven chat corpus (`tests/corpus.json`, issue 24): every message through the
//! offline engine, checking intent, modification, the listed entities and the action.
//!
//! The file is plain JSON so the gateway's end-to-end test can send the same messages
//! through `POST /api/v1/chat` (same `today`, context and learned terms) and check the
//! same fields; the `about` field in the file says what each key means.

use std::collections::BTreeMap;

use paceline_chat::actions::Tool;
use paceline_chat::engine::{AthleteContext, Reply, Turn, respond};
use paceline_chat::terms::{Meaning, TermBook, TermUpdate};
use serde::Deserialize;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Date, OffsetDateTime};

const CORPUS: &str = include_str!("corpus.json");
/// The time the corpus's terms are taught and read (the morning of `today`).
const NOW: OffsetDateTime = datetime!(2026-12-02 07:00 UTC);

#[derive(Deserialize)]
struct Corpus {
    today: Date,
    context: AthleteContext,
    terms: Vec<Seed>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Seed {
    phrase: String,
    meaning: Meaning,
}

#[derive(Deserialize)]
struct Case {
    message: String,
    intent: String,
    #[serde(default)]
    modification: Option<String>,
    #[serde(default)]
    entities: BTreeMap<String, Value>,
    action: String,
    #[serde(default)]
    reply_contains: Option<String>,
}

fn action(reply: &Reply) -> String {
    if let Some(t) = reply.tools.first() {
        return t.name().to_owned();
    }
    if let Some(c) = &reply.confirmation {
        return format!("confirm {}", c.tool.name());
    }
    if reply
        .learned
        .iter()
        .any(|l| matches!(l, TermUpdate::Teach { .. }))
    {
        return "learn".to_owned();
    }
    "none".to_owned()
}

/// The value the corpus's `key` names in a reply.
fn actual(reply: &Reply, key: &str) -> Value {
    let u = &reply.understanding;
    let e = &u.entities;
    let first = e.dates.first();
    let tool = |pick: &dyn Fn(&Tool) -> Option<Value>| -> Value {
        reply.tools.iter().find_map(pick).unwrap_or(Value::Null)
    };
    match key {
        "duration_s" => json!(e.duration_s),
        "distance_m" => json!(e.distance_m),
        "pace_s_per_km" => json!(e.pace_s_per_km),
        "sport" => json!(e.sport),
        "intensity" => json!(e.intensity),
        "date" => json!(first.map(|d| d.from)),
        "date_to" => json!(first.map(|d| d.to)),
        "part_of_day" => json!(first.and_then(|d| d.part_of_day)),
        "life_kind" => json!(u.life_kind),
        "preference" => json!(u.preference),
        "terms_used" => json!(u.terms_used),
        "energy" => json!(u.checkin.as_ref().and_then(|c| c.energy)),
        "mood" => json!(u.checkin.as_ref().and_then(|c| c.mood)),
        "soreness" => json!(u.checkin.as_ref().and_then(|c| c.soreness)),
        "learned" => json!(reply.learned.iter().find_map(|l| match l {
            TermUpdate::Teach { phrase, .. } => Some(phrase.clone()),
            _ => None,
        })),
        "move_to" => tool(&|t| match t {
            Tool::MovePlannedWorkout { to, .. } => Some(json!(to)),
            _ => None,
        }),
        "power_w" => tool(&|t| match t {
            Tool::SetTodaysIntensity { power_w, .. } => Some(json!(power_w)),
            _ => None,
        }),
        "event_from" => tool(&|t| match t {
            Tool::AddLifeEvent { from, .. } => Some(json!(from)),
            _ => None,
        }),
        "event_to" => tool(&|t| match t {
            Tool::AddLifeEvent { to, .. } => Some(json!(to)),
            _ => None,
        }),
        other => panic!("the corpus names an unknown key {other:?}"),
    }
}

fn same(expected: &Value, got: &Value) -> bool {
    match (expected.as_f64(), got.as_f64()) {
        // Distances and paces: to a millimetre or a millisecond.
        (Some(a), Some(b)) => (a - b).abs() < 1e-3,
        _ => expected == got,
    }
}

#[test]
fn the_corpus_reads_as_written() {
    let corpus: Corpus = serde_json::from_str(CORPUS).expect("corpus.json parses");
    assert!(
        corpus.cases.len() >= 150,
        "issue 24 asks for at least 150 utterances, the corpus has {}",
        corpus.cases.len()
    );
    let mut book = TermBook::new();
    for seed in corpus.terms {
        book.teach(&seed.phrase, seed.meaning, NOW)
            .expect("seed terms are valid");
    }
    let mut failures = Vec::new();
    for case in &corpus.cases {
        let turn = Turn {
            message: case.message.clone(),
            ..Turn::default()
        };
        let reply = match respond(&turn, &corpus.context, &book, corpus.today, NOW) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{:?}: error {e}", case.message));
                continue;
            }
        };
        let mut wrong = Vec::new();
        if reply.intent.as_str() != case.intent {
            wrong.push(format!(
                "intent {} (want {})",
                reply.intent.as_str(),
                case.intent
            ));
        }
        let modification = reply
            .understanding
            .modification
            .map(|m| m.as_str().to_owned());
        if modification != case.modification {
            wrong.push(format!(
                "modification {modification:?} (want {:?})",
                case.modification
            ));
        }
        for (key, expected) in &case.entities {
            let got = actual(&reply, key);
            if !same(expected, &got) {
                wrong.push(format!("{key} {got} (want {expected})"));
            }
        }
        let got_action = action(&reply);
        if got_action != case.action {
            wrong.push(format!("action {got_action} (want {})", case.action));
        }
        if let Some(part) = &case.reply_contains
            && !reply.reply.contains(part.as_str())
        {
            wrong.push(format!(
                "reply {:?} (want it to contain {part:?})",
                reply.reply
            ));
        }
        if !wrong.is_empty() {
            failures.push(format!("{:?}: {}", case.message, wrong.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n")
    );
}
