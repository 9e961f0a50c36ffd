//! The coach chat through the API of a running gateway (issue 24): the chat crate's whole
//! corpus (`gateway/chat/tests/corpus.json`, ≥ 150 utterances) sent to `POST /chat` by
//! an athlete and by their gym-admin, with the context the corpus assumes set up first
//! (FTP 250 W and a 172 bpm cap in the profile, load history, today's plan, the corpus's
//! learned terms); learned-term confidence over a scripted conversation, read back with
//! `GET /me/terms`, edited and deleted; "only 35 minutes today" shortening today's stored
//! plan; another gym's athlete, another athlete and another user's conversation answered
//! 404; the 4,000-character limit.
//!
//! The corpus is written for `today` = 2026-12-02; the gateway's today is the real one.
//! Intents, modifications, actions and entities that do not depend on the day are checked
//! exactly as the corpus has them. Dates ("yesterday", "Thursday", "this month") — and
//! any value that depends on the weekday — are checked against the offline engine run
//! in-process on the gateway's today with the corpus's context and terms (the crate's own
//! corpus test pins those at 2026-12-02). Replies that carry dates or figures are checked
//! against what the gateway knows (its today, its load, its plan): over HTTP the tools
//! run, so "The workout … fitted into 35 min." becomes "Done: the workout … fitted into
//! 35 min.", and a question the corpus answers with "I can't see your activities" gets the
//! athlete's real totals.

use reqwest::Method;
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use crate::harness::*;
use paceline_chat::engine::{AthleteContext, Reply as CoreReply, Turn, respond};
use paceline_chat::terms::{Meaning, TermBook};
use paceline_gateway::jobs::planning::{format_date, parse_date};
use paceline_testkit::api::*;

const CORPUS: &str = include_str!("../../chat/tests/corpus.json");
/// Keys whose values are days.
const DATE_KEYS: [&str; 5] = ["date", "date_to", "move_to", "event_from", "event_to"];

pub(crate) async fn chat(api: &Api, token: &str, body: Value) -> Reply {
    api.post("/chat", Some(token), body).await
}

async fn put_term(api: &Api, token: &str, body: Value) -> Reply {
    api.call(Method::PUT, "/me/terms", Some(token), Some(body))
        .await
}

/// The term named `phrase` in a `GET /me/terms` answer: (meaning, confidence, active) of
/// each of its meanings, oldest first.
async fn term(api: &Api, token: &str, phrase: &str) -> Vec<(Value, f64, bool)> {
    let reply = api.get("/me/terms", token).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["terms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["term"] == phrase)
        .map(|t| {
            (
                t["meaning"].clone(),
                (t["confidence"].as_f64().unwrap() * 10.0).round() / 10.0,
                t["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The action as the corpus names it: the first tool, `confirm <tool>`, `learn`, `none`.
fn action(view: &Value) -> String {
    if let Some(t) = view["tools_used"].as_array().and_then(|t| t.first()) {
        return t["name"].as_str().unwrap().to_owned();
    }
    if !view["confirmation"].is_null() {
        return format!(
            "confirm {}",
            view["confirmation"]["tool"]["name"].as_str().unwrap()
        );
    }
    if view["learned"]
        .as_array()
        .is_some_and(|l| l.iter().any(|u| u["op"] == "teach"))
    {
        return "learn".to_owned();
    }
    "none".to_owned()
}

/// The value the corpus's `key` names in a chat answer (the API's JSON shape).
fn actual(view: &Value, key: &str) -> Value {
    let u = &view["understanding"];
    let e = &view["entities"];
    let first = &e["dates"][0];
    let tool_arg = |name: &str, arg: &str| -> Value {
        view["tools_used"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .map_or(Value::Null, |t| t["arguments"][arg].clone())
    };
    match key {
        "duration_s" | "distance_m" | "pace_s_per_km" | "sport" | "intensity" => e[key].clone(),
        "date" => first["from"].clone(),
        "date_to" => first["to"].clone(),
        "part_of_day" => first["part_of_day"].clone(),
        "life_kind" | "preference" => u[key].clone(),
        "terms_used" => match &u["terms_used"] {
            Value::Null => json!([]),
            v => v.clone(),
        },
        "energy" | "mood" | "soreness" => u["checkin"][key].clone(),
        "learned" => view["learned"]
            .as_array()
            .and_then(|l| l.iter().find(|u| u["op"] == "teach"))
            .map_or(Value::Null, |u| u["phrase"].clone()),
        "move_to" => tool_arg("move_planned_workout", "to"),
        "power_w" => tool_arg("set_todays_intensity", "power_w"),
        "event_from" => tool_arg("add_life_event", "from"),
        "event_to" => tool_arg("add_life_event", "to"),
        other => panic!("the corpus names an unknown key {other:?}"),
    }
}

/// The offline engine's reply in the API's JSON shape.
fn view_of(reply: &CoreReply) -> Value {
    json!({
        "intent": reply.intent.as_str(),
        "entities": reply.understanding.entities,
        "understanding": reply.understanding,
        "tools_used": reply.tools.iter().map(|t| {
            let v = serde_json::to_value(t).unwrap();
            json!({"name": v["name"], "arguments": v["arguments"]})
        }).collect::<Vec<_>>(),
        "learned": reply.learned,
        "confirmation": reply.confirmation,
    })
}

fn same(expected: &Value, got: &Value) -> bool {
    match (expected.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-3,
        _ => expected == got,
    }
}

/// A workout's length in the plan format, s.
/// The day's stored plan.
async fn stored_plan(api: &Api, token: &str, athlete: i64, day: &str) -> Value {
    let plans = api
        .get(
            &format!("/athletes/{athlete}/plan?from={day}&to={day}"),
            token,
        )
        .await;
    assert_eq!(plans.status, 200, "{}", plans.json);
    plans.json["plans"][0].clone()
}

fn workout_s(workout: &Value) -> u64 {
    let step = |s: &Value| s["duration_s"].as_u64().unwrap_or(0);
    workout["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| match s["kind"].as_str() {
                    Some("repeat") => {
                        s["count"].as_u64().unwrap_or(0)
                            * s["steps"]
                                .as_array()
                                .map_or(0, |r| r.iter().map(step).sum())
                    }
                    _ => step(s),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// One manual activity of `tss` on `date` at 06:00 UTC.
pub(crate) async fn activity(api: &Api, token: &str, athlete: i64, date: Date, tss: f64) {
    let reply = api
        .post(
            &format!("/athletes/{athlete}/activities"),
            Some(token),
            json!({"sport": "running", "start": format!("{}T06:00:00Z", format_date(date)),
                "duration": "1:00:00", "distance": "10 km", "load_tss": tss}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
}

/// An athlete with the corpus's thresholds: FTP 250 W, heart-rate cap 172 bpm.
pub(crate) async fn corpus_athlete(api: &Api, admin: &str, name: &str) -> i64 {
    let id = api.create_athlete(admin, name).await;
    let mut profile: Value = serde_json::from_str(PROFILE).unwrap();
    profile["name"] = json!(name);
    profile["ftp"] = json!(250);
    profile["hr_cap"] = json!(172);
    let reply = api
        .call(
            Method::PUT,
            &format!("/athletes/{id}/profile"),
            Some(admin),
            Some(profile),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    id
}

#[derive(serde::Deserialize)]
struct Corpus {
    context: AthleteContext,
    terms: Vec<Seed>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Seed {
    phrase: String,
    meaning: Meaning,
}

#[derive(serde::Deserialize)]
struct Case {
    message: String,
    intent: String,
    #[serde(default)]
    modification: Option<String>,
    #[serde(default)]
    entities: std::collections::BTreeMap<String, Value>,
    action: String,
    #[serde(default)]
    reply_contains: Option<String>,
}

/// Gives `token`'s user exactly the corpus's terms.
async fn seed_terms(api: &Api, token: &str, seeds: &[Seed]) {
    for seed in seeds {
        let reply = put_term(
            api,
            token,
            json!({"term": seed.phrase, "meaning": seed.meaning}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_corpus_reads_the_same_through_the_api() {
    let corpus: Corpus = serde_json::from_str(CORPUS).unwrap();
    assert!(corpus.cases.len() >= 150, "{}", corpus.cases.len());
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@chat.example", "Chat Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let athlete = access(
        &api.invite_and_register(&admin, "athlete", "ana@chat.example", Some(ana))
            .await,
    );
    // Load history (14 days of 80 TSS before today) and today's plan.
    let utc_today =
        paceline_gateway::jobs::planning::local_day(i64::try_from(now_ms()).unwrap(), None);
    for back in 1..=14 {
        activity(&api, &admin, ana, utc_today - Duration::days(back), 80.0).await;
    }
    let plan = api
        .post(
            &format!("/athletes/{ana}/plan/today"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(plan.status, 200, "{}", plan.json);
    // The corpus's learned terms, for both users who talk.
    seed_terms(&api, &athlete, &corpus.terms).await;
    seed_terms(&api, &admin, &corpus.terms).await;
    let mut book = TermBook::new();
    let now = OffsetDateTime::now_utc();
    for seed in &corpus.terms {
        book.teach(&seed.phrase, seed.meaning.clone(), now).unwrap();
    }

    let mut today: Option<Date> = None;
    let mut failures = Vec::new();
    let mut day_dependent = Vec::new();
    for (i, case) in corpus.cases.iter().enumerate() {
        // The first 150 from the athlete about themself, the rest from their gym-admin
        // (each user has 200 messages a day).
        let (token, body) = if i < 150 {
            (&athlete, json!({"message": case.message}))
        } else {
            (&admin, json!({"message": case.message, "athlete_id": ana}))
        };
        let reply = chat(&api, token, body).await;
        assert_eq!(reply.status, 200, "{:?}: {}", case.message, reply.json);
        let view = &reply.json;
        // The gateway's today: the day of "only 35 minutes today", the corpus's first case.
        let today = *today.get_or_insert_with(|| {
            parse_date(view["entities"]["dates"][0]["from"].as_str().unwrap()).unwrap()
        });
        let turn = Turn {
            message: case.message.clone(),
            ..Turn::default()
        };
        let offline = view_of(&respond(&turn, &corpus.context, &book, today, now).unwrap());
        let mut wrong = Vec::new();
        let mut expect = |key: &str, corpus_value: Value, got: Value, offline_value: Value| {
            let want = if DATE_KEYS.contains(&key) || !same(&corpus_value, &offline_value) {
                if !DATE_KEYS.contains(&key) {
                    day_dependent.push(format!("{:?} {key}", case.message));
                }
                offline_value
            } else {
                corpus_value
            };
            if !same(&want, &got) {
                wrong.push(format!("{key} {got} (want {want})"));
            }
        };
        expect(
            "intent",
            json!(case.intent),
            view["intent"].clone(),
            offline["intent"].clone(),
        );
        expect(
            "modification",
            json!(case.modification),
            view["understanding"]["modification"].clone(),
            offline["understanding"]["modification"].clone(),
        );
        expect(
            "action",
            json!(case.action),
            json!(action(view)),
            json!(action(&offline)),
        );
        for (key, value) in &case.entities {
            expect(key, value.clone(), actual(view, key), actual(&offline, key));
        }
        let text = view["reply"].as_str().unwrap();
        if let Some(part) = &case.reply_contains {
            let part = reply_over_http(&api, &admin, ana, &case.message, part, today).await;
            if !part.iter().any(|p| text.contains(p.as_str())) {
                wrong.push(format!("reply {text:?} (want one of {part:?})"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("{:?}: {}", case.message, wrong.join("; ")));
        }
        // A term taught is forgotten again, so every case reads the corpus's terms.
        let taught: Vec<String> = view["learned"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["phrase"].as_str().map(str::to_owned))
            .collect();
        if !taught.is_empty() {
            for phrase in &taught {
                let gone = api
                    .call(
                        Method::DELETE,
                        &format!("/me/terms?term={}", phrase.replace(' ', "%20")),
                        Some(token),
                        None,
                    )
                    .await;
                assert_eq!(gone.status, 204, "{}", gone.json);
            }
            seed_terms(&api, token, &corpus.terms).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ through the API (today {}; values that depend on the \
         weekday, checked against the offline engine: {day_dependent:?}):\n{}",
        failures.len(),
        corpus.cases.len(),
        today.map(format_date).unwrap_or_default(),
        failures.join("\n")
    );
}

/// What a corpus reply becomes over HTTP, where the tools run and today is the real day:
/// one of these must be in the reply.
async fn reply_over_http(
    api: &Api,
    token: &str,
    athlete: i64,
    message: &str,
    offline: &str,
    today: Date,
) -> Vec<String> {
    let day = format_date(today);
    let yesterday = format_date(today - Duration::days(1));
    match message {
        "only 35 minutes today" => vec![format!("Done: the workout on {day} fitted into 35 min.")],
        "skip today" | "I can't train today" | "rest day today" => vec![format!(
            "Remove the workout planned for {day}? Reply yes to confirm."
        )],
        "skip tomorrow" => vec![format!(
            "Remove the workout planned for {}? Reply yes to confirm.",
            format_date(today + Duration::days(1))
        )],
        "ran 10 miles this morning in 1:20" => vec![format!(
            "Done: logged run, 16.09 km in 1:20:00 on {day} (morning)."
        )],
        "delete yesterday's run" => vec![format!(
            "Delete your run from {yesterday}? Reply yes to confirm."
        )],
        "how's my fitness this month?" => {
            let first = today.replace_day(1).unwrap();
            let load = api
                .get(
                    &format!(
                        "/athletes/{athlete}/load?from={}&to={day}",
                        format_date(first)
                    ),
                    token,
                )
                .await;
            let days = load.json["days"].as_array().unwrap();
            let ctl = days.last().unwrap()["ctl"].as_f64().unwrap();
            vec![format!("Your fitness (CTL) is {ctl:.1} on {day}")]
        }
        // The corpus has no activities to see; the gateway has the athlete's.
        "how many miles did I run last week?" => vec!["run activities from ".to_owned()],
        "what's my workout today?" => vec![
            format!("On {day}: "),
            format!("Nothing is planned for {day}."),
        ],
        // Over HTTP the planner makes today's plan again for the sport or the intensity;
        // on a day the athlete's settings (taught earlier in the corpus) leave without
        // training there is nothing to change, and the reply says so.
        "swap today's ride for a swim" => vec![
            format!("Done: the workout on {day} changed to swim."),
            "today has no workout to change".to_owned(),
        ],
        "make today easier" => vec![
            format!("Done: the workout on {day} set to easy. Asked for easier: nothing hard"),
            "today has no workout to change".to_owned(),
        ],
        _ => vec![offline.to_owned()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_terms_follow_the_confidence_rules_over_a_conversation() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@terms.example", "Terms Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@terms.example", Some(ana))
            .await,
    );
    let dance = json!({"kind": "workout", "sport": "dance"});
    // Taught explicitly: 0.5.
    let r = chat(&api, &me, json!({"message": "dhamaka is a dance workout"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["intent"], "define_term");
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.5, true)]
    );
    // Used and confirmed in one conversation: +0.1 per yes.
    let r = chat(&api, &me, json!({"message": "had dhamaka for an hour"})).await;
    assert_eq!(
        r.json["understanding"]["terms_used"],
        json!(["dhamaka"]),
        "{}",
        r.json
    );
    assert_eq!(r.json["tools_used"][0]["name"], "log_activity");
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    assert!(
        r.json["reply"]
            .as_str()
            .unwrap()
            .contains("(I read \"dhamaka\" the way you taught me — right?)"),
        "{}",
        r.json
    );
    let conversation = r.json["conversation_id"].as_i64().unwrap();
    let say = |message: &str| json!({"message": message, "conversation_id": conversation});
    let r = chat(&api, &me, say("yes")).await;
    assert_eq!(
        r.json["learned"],
        json!([{"op": "confirm", "phrase": "dhamaka"}])
    );
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.6, true)]
    );
    // A "no" corrects it: −0.2.
    chat(&api, &me, say("had dhamaka for 30 min")).await;
    let r = chat(&api, &me, say("no")).await;
    assert_eq!(
        r.json["learned"],
        json!([{"op": "correct", "phrase": "dhamaka"}])
    );
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.4, true)]
    );
    // A "yes" with nothing asked changes nothing.
    let r = chat(&api, &me, say("yes")).await;
    assert_eq!(r.json["learned"], json!([]), "{}", r.json);
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.4, true)]
    );
    // A newer meaning wins and both are kept.
    chat(&api, &me, json!({"message": "dhamaka means a run workout"})).await;
    let run = json!({"kind": "workout", "sport": "run"});
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.4, false), (run.clone(), 0.5, true)]
    );
    // Corrected twice (0.5 → 0.1 < 0.3): ignored, the older meaning is used again; a
    // correction below 0.2 prunes it at the next change.
    for _ in 0..2 {
        chat(&api, &me, say("did dhamaka for 20 min")).await;
        chat(&api, &me, say("no")).await;
    }
    let r = chat(&api, &me, json!({"message": "had dhamaka for an hour"})).await;
    assert_eq!(r.json["entities"]["sport"], "dance", "{}", r.json);
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.4, true)]
    );
    // An inferred term is proposed, and learned on yes.
    let r = chat(&api, &me, json!({"message": "had bhangra practice"})).await;
    assert!(
        r.json["learned"].as_array().unwrap().is_empty(),
        "{}",
        r.json
    );
    assert!(term(&api, &me, "bhangra").await.is_empty());
    let proposal = r.json["conversation_id"].as_i64().unwrap();
    let r = chat(
        &api,
        &me,
        json!({"message": "yes", "conversation_id": proposal}),
    )
    .await;
    assert_eq!(r.json["intent"], "define_term", "{}", r.json);
    assert_eq!(
        term(&api, &me, "bhangra").await,
        [(json!({"kind": "workout"}), 0.5, true)]
    );
    // Edited and deleted by hand; another user's terms are their own.
    let r = put_term(
        &api,
        &me,
        json!({"term": "Dhamaka", "meaning": "a dance workout", "confidence": 0.9}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        term(&api, &me, "dhamaka").await,
        [(dance.clone(), 0.9, true)]
    );
    let r = put_term(
        &api,
        &me,
        json!({"term": "one two three four five", "meaning": "dance"}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "invalid_field"), "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("term: ")
    );
    let r = put_term(
        &api,
        &me,
        json!({"term": "x", "meaning": "dance", "confidence": 2}),
    )
    .await;
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("confidence: ")
    );
    assert!(term(&api, &admin, "dhamaka").await.is_empty());
    let gone = api
        .call(Method::DELETE, "/me/terms?term=dhamaka", Some(&me), None)
        .await;
    assert_eq!(gone.status, 204, "{}", gone.json);
    assert!(term(&api, &me, "dhamaka").await.is_empty());
    let again = api
        .call(Method::DELETE, "/me/terms?term=dhamaka", Some(&me), None)
        .await;
    assert_eq!((again.status, code(&again)), (404, "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_35_minutes_today_shortens_todays_stored_plan() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@short.example", "Short Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@short.example", Some(ana))
            .await,
    );
    // Two hours a day and fitness, so today's plan is a workout longer than 35 min.
    let week =
        json!({"mon": 120, "tue": 120, "wed": 120, "thu": 120, "fri": 120, "sat": 120, "sun": 120});
    let r = api
        .call(
            Method::PUT,
            &format!("/athletes/{ana}/planning-settings"),
            Some(&admin),
            Some(json!({"availability_min": week})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let utc_today =
        paceline_gateway::jobs::planning::local_day(i64::try_from(now_ms()).unwrap(), None);
    // Fitness built before this week (its Monday is at most 6 days back), none done this
    // week: the week's load is still to do.
    for back in 7..=42 {
        activity(&api, &admin, ana, utc_today - Duration::days(back), 60.0).await;
    }
    let before = api
        .post(&format!("/athletes/{ana}/plan/today"), Some(&me), json!({}))
        .await;
    assert_eq!(before.status, 200, "{}", before.json);
    let before_s = workout_s(&before.json["plan"]["workout"]);
    assert!(before_s > 35 * 60, "{}", before.json);
    let day = before.json["plan"]["date"].as_str().unwrap().to_owned();

    let r = chat(&api, &me, json!({"message": "only 35 minutes today"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("compress_todays_plan"), &json!(true)),
        "{}",
        r.json
    );
    assert_eq!(
        r.json["actions"][0]["summary"],
        format!("the workout on {day} fitted into 35 min")
    );
    // The stored plan is today's, regenerated within 35 minutes.
    let plans = api
        .get(&format!("/athletes/{ana}/plan?from={day}&to={day}"), &admin)
        .await;
    assert_eq!(plans.status, 200, "{}", plans.json);
    let after = &plans.json["plans"][0];
    let after_s = workout_s(&after["workout"]);
    assert!(
        after_s > 0 && after_s <= 35 * 60 && after_s < before_s,
        "{before_s} s → {after_s} s: {after}"
    );
    // Through the same life event the planner reads.
    let events = api
        .get(
            &format!("/athletes/{ana}/life-events?from={day}&to={day}"),
            &admin,
        )
        .await;
    assert_eq!(
        (
            &events.json["events"][0]["kind"],
            &events.json["events"][0]["minutes_available"]
        ),
        (&json!("busy"), &json!(35)),
        "{}",
        events.json
    );
    // And the chat sees the new plan.
    let r = chat(&api, &me, json!({"message": "what's my workout today?"})).await;
    let text = r.json["reply"].as_str().unwrap();
    assert!(text.starts_with(&format!("On {day}: ")), "{text}");

    // "Make it easier": today's stored plan made again by the planner's own rules with
    // nothing hard and at most 0.8 × its load; the reply says what the rules did.
    let planned = stored_plan(&api, &admin, ana, &day).await;
    let r = chat(&api, &me, json!({"message": "make it easier"})).await;
    let text = r.json["reply"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "Done: the workout on {day} set to easy. Asked for easier: nothing hard"
        )),
        "{}",
        r.json
    );
    let easier = stored_plan(&api, &admin, ana, &day).await;
    assert!(
        !["tempo", "threshold", "vo2"].contains(&easier["kind"].as_str().unwrap())
            && easier["target_tss"].as_f64().unwrap()
                <= 0.8 * planned["target_tss"].as_f64().unwrap() + 1e-6,
        "{planned} → {easier}"
    );
    // "Do 400 W intervals": clamped to 150 % of FTP (250 W) before the planner, which sets
    // the work steps to it and keeps heart rate under the 172 bpm cap; the reply says so.
    let r = chat(&api, &me, json!({"message": "do 400 W intervals"})).await;
    let text = r.json["reply"].as_str().unwrap();
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    for said in [
        "400 W is above 150 % of your FTP (250 W), so I set 375 W.",
        "The work intervals are set to 375 W.",
        "Heart rate stays below your cap of 172 bpm.",
    ] {
        assert!(text.contains(said), "{said:?} not in {text:?}");
    }
    let harder = stored_plan(&api, &admin, ana, &day).await;
    let work: Vec<Value> = harder["workout"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match s["steps"].as_array() {
            Some(inner) => inner.clone(),
            None => vec![s.clone()],
        })
        .filter(|s| s["intent"] == "work")
        .collect();
    for step in &work {
        assert_eq!(
            (&step["target"], &step["text"]),
            (
                &json!({"kind": "power_w", "low_w": 357, "high_w": 375}),
                &json!("Keep heart rate below 172 bpm")
            ),
            "{harder}"
        );
    }
    assert!(
        harder["why"]
            .as_array()
            .unwrap()
            .contains(&json!("The work intervals are set to 375 W.")),
        "{harder}"
    );

    // Swapped to a run: today's plan made again by the planner as a run.
    let r = chat(
        &api,
        &me,
        json!({"message": "swap today's workout for a run"}),
    )
    .await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("swap_todays_sport"), &json!(true)),
        "{}",
        r.json
    );
    let plans = api
        .get(&format!("/athletes/{ana}/plan?from={day}&to={day}"), &admin)
        .await;
    let after = plans.json["plans"][0].clone();
    assert_eq!(after["workout"]["sport"], "run", "{}", plans.json);

    // Moved to tomorrow: tomorrow has today's workout, today is a rest day.
    let r = chat(&api, &me, json!({"message": "move it to tomorrow"})).await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("move_planned_workout"), &json!(true)),
        "{}",
        r.json
    );
    let tomorrow = format_date(parse_date(&day).unwrap() + Duration::days(1));
    let plans = api
        .get(
            &format!("/athletes/{ana}/plan?from={day}&to={tomorrow}"),
            &admin,
        )
        .await;
    assert_eq!(
        (
            &plans.json["plans"][0]["kind"],
            &plans.json["plans"][1]["workout"]
        ),
        (&json!("rest"), &after["workout"]),
        "{}",
        plans.json
    );

    // Another day's intensity and sport: tomorrow's stored plan made again by the
    // planner's rules for tomorrow, easier, then as a swim by time and feel.
    let r = chat(&api, &me, json!({"message": "make tomorrow easier"})).await;
    let text = r.json["reply"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "Done: the workout on {tomorrow} set to easy. Asked for easier: nothing hard"
        )),
        "{}",
        r.json
    );
    // The planner's easier day for tomorrow (its own base, not the moved workout's):
    // nothing hard, and its why says what the rules did.
    let easier = stored_plan(&api, &admin, ana, &tomorrow).await;
    assert!(
        easier["date"] == json!(tomorrow)
            && !["tempo", "threshold", "vo2"].contains(&easier["kind"].as_str().unwrap())
            && easier["why"].as_array().unwrap().iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with("Asked for easier: nothing hard")),
        "{easier}"
    );
    let r = chat(
        &api,
        &me,
        json!({"message": "swap tomorrow's workout for a swim"}),
    )
    .await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"],
            &r.json["actions"][0]["summary"]
        ),
        (
            &json!("swap_todays_sport"),
            &json!(true),
            &json!(format!("the workout on {tomorrow} changed to swim"))
        ),
        "{}",
        r.json
    );
    let swim = stored_plan(&api, &admin, ana, &tomorrow).await;
    assert!(
        swim["workout"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Swim ("),
        "{swim}"
    );
    // The swap went on top of the earlier change: still the easier day, now a swim.
    assert!(
        swim["why"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("Asked for easier: nothing hard"))
            && !["tempo", "threshold", "vo2"].contains(&swim["kind"].as_str().unwrap()),
        "{swim}"
    );
    // Today's plan (the rest day after the move) is left as it is.
    assert_eq!(stored_plan(&api, &admin, ana, &day).await["kind"], "rest");

    // "Skip tomorrow" asks first (removing a workout is destructive); yes makes tomorrow a
    // rest day, stored with a line in its why.
    let r = chat(&api, &me, json!({"message": "skip tomorrow"})).await;
    assert_eq!(
        (
            &r.json["tools_used"],
            &r.json["confirmation"]["tool"]["name"]
        ),
        (&json!([]), &json!("remove_planned_workout")),
        "{}",
        r.json
    );
    assert_eq!(stored_plan(&api, &admin, ana, &tomorrow).await, swim);
    let r = chat(
        &api,
        &me,
        json!({"message": "yes", "conversation_id": r.json["conversation_id"]}),
    )
    .await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"],
            &r.json["reply"]
        ),
        (
            &json!("remove_planned_workout"),
            &json!(true),
            &json!(format!(
                "OK. Done: the workout on {tomorrow} removed: a rest day."
            ))
        ),
        "{}",
        r.json
    );
    let rest = stored_plan(&api, &admin, ana, &tomorrow).await;
    assert_eq!(
        (
            &rest["kind"],
            &rest["workout"],
            rest["why"].as_array().unwrap().last()
        ),
        (
            &json!("rest"),
            &Value::Null,
            Some(&json!("Skipped (chat): a rest day instead."))
        ),
        "{rest}"
    );
    // Nothing planned any more: skipping it again is refused, and the reply says why.
    let r = chat(&api, &me, json!({"message": "skip tomorrow"})).await;
    let r = chat(
        &api,
        &me,
        json!({"message": "yes", "conversation_id": r.json["conversation_id"]}),
    )
    .await;
    assert_eq!(r.json["tools_used"][0]["ok"], false, "{}", r.json);

    // Times of day the planner reads: no workouts before 7 and evenings preferred put
    // today's workout at 17:00 (the plan made again with them) and cap each day's minutes
    // to the hours.
    for message in ["no workouts before 7", "I prefer evenings"] {
        let r = chat(&api, &me, json!({"message": message})).await;
        assert_eq!(
            (
                &r.json["tools_used"][0]["name"],
                &r.json["tools_used"][0]["ok"]
            ),
            (&json!("save_preference"), &json!(true)),
            "{}",
            r.json
        );
    }
    let settings = api
        .get(&format!("/athletes/{ana}/planning-settings"), &admin)
        .await;
    assert_eq!(
        settings.json["times"],
        json!({"earliest_hour": 7, "prefer": "evening"}),
        "{}",
        settings.json
    );
    let plans = api
        .get(&format!("/athletes/{ana}/plan?from={day}&to={day}"), &admin)
        .await;
    let timed = &plans.json["plans"][0];
    assert_eq!(timed["start_hour"], 17, "{timed}");
    assert!(
        timed["why"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("Times of day (no workouts before 07:00, evenings preferred): the ")),
        "{timed}"
    );
    // 19:00 to 20:00 only: an hour a day at most.
    let r = chat(&api, &me, json!({"message": "nothing after 8pm"})).await;
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    let r = chat(&api, &me, json!({"message": "no workouts before 7pm"})).await;
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    let plans = api
        .get(&format!("/athletes/{ana}/plan?from={day}&to={day}"), &admin)
        .await;
    let narrow = &plans.json["plans"][0];
    assert!(workout_s(&narrow["workout"]) <= 60 * 60, "{narrow}");
    assert_eq!(narrow["start_hour"], 19, "{narrow}");
    // The planner refuses hours that leave nothing: the reply says why.
    let r = chat(&api, &me, json!({"message": "no workouts before 21:00"})).await;
    assert_eq!(r.json["tools_used"][0]["ok"], false, "{}", r.json);

    // Preferences the planner reads: today's weekday without training makes today a rest
    // day; a disliked sport is avoided.
    let weekday = paceline_gateway::jobs::planning::parse_date(&day)
        .unwrap()
        .weekday()
        .to_string();
    let r = chat(
        &api,
        &me,
        json!({"message": format!("I can't train on {weekday}s")}),
    )
    .await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("save_preference"), &json!(true)),
        "{}",
        r.json
    );
    let r = chat(&api, &me, json!({"message": "I don't like swimming"})).await;
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    let settings = api
        .get(&format!("/athletes/{ana}/planning-settings"), &admin)
        .await;
    let short = &weekday[..3].to_lowercase();
    assert_eq!(
        settings.json["availability_min"][short.as_str()],
        0,
        "{}",
        settings.json
    );
    assert_eq!(
        settings.json["constraints"]["avoid_sports"],
        json!(["swimming"]),
        "{}",
        settings.json
    );
    let plans = api
        .get(&format!("/athletes/{ana}/plan?from={day}&to={day}"), &admin)
        .await;
    assert_eq!(plans.json["plans"][0]["kind"], "rest", "{}", plans.json);

    // An observed preference (as `GET /preferences` stores one from skipped sessions) is
    // asked about when the talk is about the plan, and the answer in the conversation
    // confirms or corrects it.
    observed(
        &gateway,
        ana,
        json!({"kind": "avoid_part_of_day", "part": "morning"}),
    );
    let r = chat(&api, &me, json!({"message": "what's my workout today?"})).await;
    let text = r.json["reply"].as_str().unwrap();
    assert!(
        text.ends_with(
            "I noticed you often skip morning sessions — should I keep mornings free? (yes/no)"
        ),
        "{text}"
    );
    let conversation = r.json["conversation_id"].clone();
    let r = chat(
        &api,
        &me,
        json!({"message": "yep", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("answer_preference"), &json!(true)),
        "{}",
        r.json
    );
    // A second yes has nothing to answer: nothing changes.
    let r = chat(
        &api,
        &me,
        json!({"message": "yes", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(r.json["tools_used"], json!([]), "{}", r.json);
    observed(
        &gateway,
        ana,
        json!({"kind": "avoid_part_of_day", "part": "afternoon"}),
    );
    let r = chat(
        &api,
        &me,
        json!({"message": "what's planned tomorrow?", "conversation_id": conversation}),
    )
    .await;
    assert!(
        r.json["reply"]
            .as_str()
            .unwrap()
            .contains("should I keep afternoons free?"),
        "{}",
        r.json
    );
    let r = chat(
        &api,
        &me,
        json!({"message": "wrong", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(r.json["tools_used"][0]["ok"], true, "{}", r.json);
    let prefs = api.get(&format!("/athletes/{ana}/preferences"), &me).await;
    let status = |part: &str| {
        prefs.json["preferences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["preference"]["part"] == part)
            .map(|p| (p["status"].clone(), p["confidence"].clone()))
    };
    assert_eq!(
        (status("morning"), status("afternoon")),
        (
            Some((json!("confirmed"), json!(0.9))),
            Some((json!("corrected"), json!(0.0)))
        ),
        "{}",
        prefs.json
    );
}

/// Stores `preference` for `athlete` as observed and not answered yet (confidence 0.5),
/// the row `GET /athletes/{id}/preferences` writes when it sees three skipped sessions.
pub(crate) fn observed(gateway: &Gateway, athlete: i64, preference: Value) {
    let conn = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute(
        "INSERT INTO athlete_preferences
             (tenant_id, athlete_id, preference, source, confidence, status, updated_ms)
         SELECT tenant_id, id, ?2, 'observed', 0.5, 'proposed', 0 FROM athletes WHERE id = ?1",
        rusqlite::params![athlete, preference.to_string()],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_reveals_nothing_across_gyms_or_athletes() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@one.example", "One Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let ben = corpus_athlete(&api, &admin, "Ben").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@one.example", Some(ana))
            .await,
    );
    let other = access(&api.register_gym("admin@two.example", "Two Gym").await);
    // Ben has load; Ana has none.
    let utc_today =
        paceline_gateway::jobs::planning::local_day(i64::try_from(now_ms()).unwrap(), None);
    for back in 1..=7 {
        activity(&api, &admin, ben, utc_today - Duration::days(back), 150.0).await;
    }
    // Another gym's admin naming Ana: 404, as if she did not exist.
    let r = chat(
        &api,
        &other,
        json!({"message": "how's my fitness?", "athlete_id": ana}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "not_found"), "{}", r.json);
    // Ana's user naming Ben: 404.
    let r = chat(
        &api,
        &me,
        json!({"message": "how's my fitness?", "athlete_id": ben}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "not_found"), "{}", r.json);
    // Staff must name the athlete.
    let r = chat(&api, &admin, json!({"message": "how's my fitness?"})).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_field"), "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("athlete_id: ")
    );
    // Asking about Ben answers about Ana: the tools have no athlete to name.
    let r = chat(&api, &me, json!({"message": "what is Ben's CTL?"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json["reply"]
            .as_str()
            .unwrap()
            .starts_with("Your fitness (CTL) is 0.0 on "),
        "{}",
        r.json
    );
    let r = chat(
        &api,
        &me,
        json!({"message": "how many miles did I run last week?"}),
    )
    .await;
    assert_eq!(
        r.json["tools_used"][0]["name"], "activity_summary",
        "{}",
        r.json
    );
    assert!(
        r.json["reply"]
            .as_str()
            .unwrap()
            .starts_with("No run activities from "),
        "{}",
        r.json
    );
    // A conversation is its user's only: the gym-admin and the other gym get 404.
    let conversation = r.json["conversation_id"].as_i64().unwrap();
    for (token, athlete) in [(&admin, ana), (&other, ana)] {
        let r = chat(
            &api,
            token,
            json!({"message": "yes", "conversation_id": conversation, "athlete_id": athlete}),
        )
        .await;
        assert_eq!((r.status, code(&r)), (404, "not_found"), "{}", r.json);
    }
    // The gym-admin naming Ben sees Ben's load.
    let r = chat(
        &api,
        &admin,
        json!({"message": "how's my fitness?", "athlete_id": ben}),
    )
    .await;
    assert!(
        !r.json["reply"]
            .as_str()
            .unwrap()
            .starts_with("Your fitness (CTL) is 0.0"),
        "{}",
        r.json
    );
    // 4,000 characters at most; the limit counts characters, not bytes.
    let r = chat(&api, &me, json!({"message": "é".repeat(4_000)})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = chat(&api, &me, json!({"message": "a".repeat(4_001)})).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_field"), "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("message: ")
    );
    // No token, no chat.
    let r = api.post("/chat", None, json!({"message": "help"})).await;
    assert_eq!(r.status, 401);
}
