//! The coach chat with an LLM configured (issue 24, point 5), against a local server that
//! speaks the OpenAI-compatible protocol ([`crate::fake_llm`]). One gateway, one athlete's
//! conversation, each turn scripting what the model answers: the model's tools are data,
//! put through the same safety gate as the offline engine's and run as the caller; every
//! refusal, garbage answer, error status or slow answer is answered by the offline engine
//! and the reply says so (`engine`, `llm_fallback`).

use std::time::{Duration, Instant};

use serde_json::json;
use time::Duration as Days;

use crate::chat::{activity, chat, corpus_athlete};
use crate::fake_llm::{FakeLlm, Scripted, text, tool_call};
use crate::harness::*;
use paceline_gateway::jobs::planning::format_date;
use paceline_testkit::api::*;

const KEY: &str = "sk-test-paceline-4f9a2c";

fn engine(r: &Reply) -> (&str, Option<&str>) {
    (
        r.json["engine"].as_str().unwrap_or("?"),
        r.json["llm_fallback"].as_str(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_answers_are_vetted_run_as_the_caller_or_replaced_by_the_offline_engine() {
    let llm = FakeLlm::start().await;
    let gateway = paceline()
        .env("PACELINE_LLM_BASE_URL", &llm.base_url)
        .env("PACELINE_LLM_MODEL", "fake-coach")
        .env("PACELINE_LLM_API_KEY", KEY)
        .env("PACELINE_LLM_TIMEOUT_MS", "1500")
        .env("PACELINE_CHAT_MESSAGES_PER_DAY", "12")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@llm.example", "LLM Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let ben = corpus_athlete(&api, &admin, "Ben").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@llm.example", Some(ana))
            .await,
    );
    let utc_today =
        paceline_gateway::jobs::planning::local_day(i64::try_from(now_ms()).unwrap(), None);
    let today = format_date(utc_today);
    for back in 1..=7 {
        activity(&api, &admin, ben, utc_today - Days::days(back), 150.0).await;
    }

    // Plain text: shown as the reply; the request is the protocol's, with the key.
    llm.then(text("Nice work, keep the easy days easy."));
    let r = chat(&api, &me, json!({"message": "thanks coach"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(engine(&r), ("llm", None), "{}", r.json);
    assert_eq!(r.json["reply"], "Nice work, keep the easy days easy.");
    let conversation = r.json["conversation_id"].as_i64().unwrap();
    let sent = &llm.received()[0];
    assert_eq!(
        sent.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.body["model"], "fake-coach");
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(
        sent.body["messages"].as_array().unwrap().last().unwrap(),
        &json!({"role": "user", "content": "thanks coach"})
    );
    let tools: Vec<&str> = sent.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"set_todays_intensity"), "{tools:?}");

    // A 400 W request from the model: clamped to 150 % of the 250 W FTP, under the cap.
    llm.then(tool_call(
        "set_todays_intensity",
        json!({"date": today, "level": "hard", "power_w": 400}),
    ));
    let r = chat(
        &api,
        &me,
        json!({"message": "give me something spicy", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(engine(&r), ("llm", None), "{}", r.json);
    let used = &r.json["tools_used"][0];
    assert_eq!(used["name"], "set_todays_intensity", "{}", r.json);
    assert_eq!(
        (
            &used["arguments"]["power_w"],
            &used["arguments"]["hr_cap_bpm"]
        ),
        (&json!(375), &json!(172)),
        "{}",
        r.json
    );
    let reply = r.json["reply"].as_str().unwrap();
    assert!(
        reply.contains("400 W is above 150 % of your FTP (250 W), so I set 375 W."),
        "{reply}"
    );
    // The conversation's earlier turns went with the request.
    let history = &llm.received()[1].body["messages"];
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "assistant"
                && m["content"] == "Nice work, keep the easy days easy."),
        "{history}"
    );

    // A model's log_activity runs as the caller, for her own athlete.
    llm.then(tool_call(
        "log_activity",
        json!({"sport": "run", "date": today, "duration_s": 1800, "distance_m": 5000.0}),
    ));
    let r = chat(&api, &me, json!({"message": "did my thing"})).await;
    assert_eq!(engine(&r), ("llm", None), "{}", r.json);
    assert_eq!(
        (
            &r.json["tools_used"][0]["name"],
            &r.json["tools_used"][0]["ok"]
        ),
        (&json!("log_activity"), &json!(true)),
        "{}",
        r.json
    );
    assert_eq!(r.json["actions"][0]["tool"], "log_activity");
    let listed = api.get(&format!("/athletes/{ana}/activities"), &me).await;
    assert_eq!(
        listed.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.json
    );

    // A destructive tool from the model waits for yes: nothing deleted.
    llm.then(tool_call("delete_activity", json!({"date": today})));
    let r = chat(&api, &me, json!({"message": "clean up"})).await;
    assert_eq!(engine(&r), ("llm", None), "{}", r.json);
    assert_eq!(r.json["tools_used"], json!([]), "{}", r.json);
    assert_eq!(r.json["confirmation"]["tool"]["name"], "delete_activity");
    let listed = api.get(&format!("/athletes/{ana}/activities"), &me).await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);

    // A tool call naming another athlete: refused whole; the offline engine answers
    // about Ana, exactly as it does when the model only talks.
    let from = format_date(utc_today - Days::days(28));
    llm.then(tool_call(
        "load_summary",
        json!({"from": from, "to": today, "athlete_id": ben}),
    ));
    let refused = chat(
        &api,
        &me,
        json!({"message": "how's my fitness this month?"}),
    )
    .await;
    assert_eq!(refused.status, 200, "{}", refused.json);
    assert_eq!(
        engine(&refused),
        ("offline", Some("refused")),
        "{}",
        refused.json
    );
    let args = refused.json["tools_used"][0]["arguments"]
        .as_object()
        .unwrap();
    assert_eq!(
        args.keys().collect::<Vec<_>>(),
        ["from", "to"],
        "{}",
        refused.json
    );
    llm.then(text("Ben's CTL is 99, by the way."));
    let own = chat(
        &api,
        &me,
        json!({"message": "how's my fitness this month?"}),
    )
    .await;
    assert_eq!(engine(&own), ("llm", None), "{}", own.json);
    assert_eq!(refused.json["reply"], own.json["reply"]);
    assert!(!own.json["reply"].as_str().unwrap().contains("Ben"));

    // Garbage and an error status: the offline engine answers, with Ana's real totals.
    llm.then(Scripted::Raw("<html>502 Bad Gateway</html>"));
    let r = chat(&api, &me, json!({"message": "how many km this week?"})).await;
    assert_eq!(engine(&r), ("offline", Some("refused")), "{}", r.json);
    assert!(
        r.json["reply"].as_str().unwrap().contains("5.00 km"),
        "{}",
        r.json
    );
    llm.then(Scripted::Status(500));
    let r = chat(&api, &me, json!({"message": "help"})).await;
    assert_eq!(engine(&r), ("offline", Some("status")), "{}", r.json);

    // A slow model: cut at the configured 1.5 s, the offline engine answers.
    llm.then(Scripted::Slow(
        Duration::from_secs(20),
        Box::new(text("too late")),
    ));
    let started = Instant::now();
    let r = chat(&api, &me, json!({"message": "help"})).await;
    let took = started.elapsed();
    assert_eq!(engine(&r), ("offline", Some("timeout")), "{}", r.json);
    assert!(
        r.json["reply"]
            .as_str()
            .unwrap()
            .starts_with("I can change today's workout"),
        "{}",
        r.json
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // The configured daily limit (12): 9 sent, 3 more; the 13th is refused before the
    // model is asked.
    for _ in 0..3 {
        let r = chat(&api, &me, json!({"message": "thanks"})).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let asked = llm.received().len();
    let r = chat(&api, &me, json!({"message": "thanks"})).await;
    assert_eq!((r.status, code(&r)), (429, "chat_limit"), "{}", r.json);
    assert_eq!(llm.received().len(), asked);

    // The history: the caller's conversations, newest first; one read in pages.
    let list = api.get("/chat/conversations", &me).await;
    assert_eq!(list.status, 200, "{}", list.json);
    let conversations = list.json["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 11, "{}", list.json);
    let first = conversations.last().unwrap();
    assert_eq!(
        (&first["id"], &first["athlete_id"], &first["messages"]),
        (&json!(conversation), &json!(ana), &json!(4)),
        "{}",
        list.json
    );
    let page = api
        .get(
            &format!("/chat/conversations?limit=5&athlete_id={ana}"),
            &me,
        )
        .await;
    assert_eq!(page.json["conversations"].as_array().unwrap().len(), 5);
    let cursor = page.json["next_cursor"].as_i64().unwrap();
    let rest = api
        .get(
            &format!("/chat/conversations?limit=10&cursor={cursor}"),
            &me,
        )
        .await;
    assert_eq!(rest.json["conversations"].as_array().unwrap().len(), 6);
    assert!(rest.json["next_cursor"].is_null(), "{}", rest.json);
    let one = api
        .get(&format!("/chat/conversations/{conversation}?limit=3"), &me)
        .await;
    assert_eq!(one.status, 200, "{}", one.json);
    let messages = one.json["messages"].as_array().unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["text"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("user", "thanks coach"),
            ("assistant", "Nice work, keep the easy days easy."),
            ("user", "give me something spicy"),
        ]
    );
    assert_eq!(messages[1]["details"]["engine"], "llm");
    let cursor = one.json["next_cursor"].as_i64().unwrap();
    let last = api
        .get(
            &format!("/chat/conversations/{conversation}?cursor={cursor}"),
            &me,
        )
        .await;
    assert_eq!(last.json["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        last.json["messages"][0]["details"]["tools"][0]["name"],
        "set_todays_intensity"
    );
    // Nobody else's: the gym-admin has none and gets 404 on hers; a bad limit is 400.
    let theirs = api.get("/chat/conversations", &admin).await;
    assert_eq!(theirs.json["conversations"], json!([]), "{}", theirs.json);
    let r = api
        .get(&format!("/chat/conversations/{conversation}"), &admin)
        .await;
    assert_eq!((r.status, code(&r)), (404, "not_found"), "{}", r.json);
    let r = api
        .get(&format!("/chat/conversations?athlete_id={ben}"), &me)
        .await;
    assert_eq!((r.status, code(&r)), (404, "not_found"), "{}", r.json);
    let r = api.get("/chat/conversations?limit=0", &me).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_field"), "{}", r.json);

    // The key is never logged.
    let log = gateway.log_tail(100_000);
    assert!(!log.contains(KEY), "the API key is in the log");
}
