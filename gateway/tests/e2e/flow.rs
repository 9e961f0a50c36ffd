//! The whole product through the API only: register a gym, create an athlete, pair a
//! device, upload and assign a plan, ride with the edge agent, watch live on the
//! WebSockets, command the session, read the session, its summary and its exports.

use paceline_edge::agent::AgentEvent;
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_testkit::riders;
use reqwest::Method;
use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_runs_a_ride_through_the_api_only() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("head@flow.example", "Flow Cycling").await);
    let coach = access(
        &api.invite_and_register(&admin, "coach", "coach@flow.example", None)
            .await,
    );

    // The coach creates the athlete (and is linked to her), pairs her trainer, uploads a
    // .zwo plan and gives it to her next session.
    let athlete = api.create_athlete(&coach, "Ana Flow").await;
    let creds = api.pair(&coach, athlete).await;
    let zwo = include_bytes!("../../src/demo/demo-intervals.zwo").to_vec();
    let plan = api
        .post_raw("/plans?file_name=demo-intervals.zwo", &coach, zwo)
        .await;
    assert_eq!(plan.status, 201, "{}", plan.json);
    assert_eq!(plan.json["format"], "zwo");
    assert!(
        plan.json["plan"]["steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let plan_id = plan.json["id"].as_i64().unwrap();
    let assigned = api
        .call(
            Method::PUT,
            &format!("/athletes/{athlete}/next-plan"),
            Some(&coach),
            Some(json!({"plan_id": plan_id})),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.json);
    assert_eq!(assigned.json["next_plan_id"], plan_id);

    // She rides with the edge agent over MQTT; the coach watches the board.
    let mut board = api.live("/live/board", &coach).await;
    board
        .wait_for("the board's hello", |m| m["type"] == "hello")
        .await;
    let ana = riders::simulated(
        "ana",
        creds,
        SimulatorConfig {
            scenario: Scenario::Overheat,
            duration_s: Some(14),
            ..SimulatorConfig::default()
        },
    );
    let spool = gateway.data_dir.join("spool");
    let mut agent = riders::start_agent(gateway.mqtt_uplink(), &spool, vec![ana], |_| {}).await;
    let mut agent_events = agent.subscribe();
    let status = board
        .wait_for("a status with a step of the plan", |m| {
            m["type"] == "status" && m["athlete_id"] == athlete && m["step"]["label"].is_string()
        })
        .await;
    assert!(status["hr_quality"].is_string(), "{status}");
    assert!(status["target"].is_object() || status["target"].is_null());
    let session = status["session_id"].as_i64().unwrap();
    let sample = board
        .wait_for("a sample", |m| {
            m["type"] == "sample" && m["session_id"] == session
        })
        .await;
    assert!(
        sample["heart_rate"].as_u64().is_some_and(|hr| hr > 40),
        "{sample}"
    );

    // The session's own stream, and a command from the coach.
    let mut stream = api.live(&format!("/live/sessions/{session}"), &coach).await;
    stream
        .wait_for("the session stream's hello", |m| m["type"] == "hello")
        .await;
    let command = api
        .post(
            &format!("/sessions/{session}/commands"),
            Some(&coach),
            json!({"kind": "time_left", "minutes": 1}),
        )
        .await;
    assert_eq!(command.status, 202, "{}", command.json);
    let bad = api
        .post(
            &format!("/sessions/{session}/commands"),
            Some(&coach),
            json!({"kind": "warp_speed"}),
        )
        .await;
    assert_eq!((bad.status, code(&bad)), (422, "invalid_command"));
    stream
        .wait_for("a status on the session stream", |m| {
            m["type"] == "status" && m["session_id"] == session
        })
        .await;
    // The command took effect: the coach compressed the rest of the plan into a minute.
    let cue = board
        .wait_for("the compression cue the command caused", |m| {
            m["type"] == "cue" && m["code"] == "time_budget_compressed"
        })
        .await;
    assert_eq!(cue["session_id"], session);
    assert!(
        cue["text"].as_str().unwrap().starts_with("1 minutes left"),
        "{cue}"
    );

    tokio::time::timeout(DEADLINE, agent.wait_finished())
        .await
        .expect("the ride ends and is acknowledged");
    let mut heard = 0;
    while let Ok(event) = agent_events.try_recv() {
        if matches!(event, AgentEvent::CueReceived { .. }) {
            heard += 1;
        }
    }
    assert!(heard >= 1, "the athlete heard the cues");
    board
        .wait_for("the session to end on the board", |m| {
            m["type"] == "ended" && m["session_id"] == session
        })
        .await;

    // The session, read back.
    let detail = wait_until("the session ended with its summary", DEADLINE, async || {
        let detail = api.get(&format!("/sessions/{session}"), &coach).await;
        if detail.json["status"] == "ended" && detail.json["summary"].is_object() {
            Ok(detail)
        } else {
            Err(format!("the session reads {}", detail.json))
        }
    })
    .await;
    assert_eq!(detail.json["athlete_id"], athlete);
    assert_eq!(detail.json["plan_id"], plan_id);
    assert!(
        detail.json["samples"].as_i64().unwrap() >= 20,
        "{}",
        detail.json
    );
    let list = api
        .get(
            &format!("/sessions?athlete_id={athlete}&status=ended"),
            &coach,
        )
        .await;
    assert_eq!(list.json["items"][0]["id"], session);
    let summary = api
        .get(&format!("/sessions/{session}/summary"), &coach)
        .await;
    assert!(
        summary.json["max_hr_bpm"]
            .as_u64()
            .is_some_and(|hr| hr > 60),
        "{}",
        summary.json
    );
    let duration_s = summary.json["duration_s"].as_f64().unwrap();
    assert!((12.0..=15.0).contains(&duration_s), "{}", summary.json);
    let cues = api.get(&format!("/sessions/{session}/cues"), &coach).await;
    let codes: Vec<&str> = cues
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"step_start") && codes.contains(&"time_budget_compressed"),
        "{codes:?}"
    );
    let samples = api
        .get(&format!("/sessions/{session}/samples?limit=5"), &coach)
        .await;
    assert_eq!(samples.json["items"].as_array().unwrap().len(), 5);
    let after = samples.json["next_after"].as_i64().unwrap();
    let page2 = api
        .get(
            &format!("/sessions/{session}/samples?after={after}&limit=10000"),
            &coach,
        )
        .await;
    assert_eq!(
        5 + page2.json["items"].as_array().unwrap().len() as i64,
        detail.json["samples"].as_i64().unwrap(),
        "the pages hold every sample once"
    );
    let commands: i64 = gateway
        .db()
        .query_row(
            "SELECT COUNT(*) FROM session_commands WHERE session_row = ?1",
            [session],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(commands, 1, "the command was logged");

    // Exports.
    let csv = api
        .get(&format!("/sessions/{session}/export.csv"), &coach)
        .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.bytes).unwrap();
    assert!(text.starts_with("t_ms,kind,heart_rate_bpm,power_w,cadence,speed_mps\n"));
    assert_eq!(
        text.lines().count() as i64,
        1 + detail.json["samples"].as_i64().unwrap()
    );
    let fit = api
        .get(&format!("/sessions/{session}/export.fit"), &coach)
        .await;
    assert_eq!(fit.status, 200);
    let messages = fitparser::from_bytes(&fit.bytes).expect("the export is a valid FIT file");
    let records = messages
        .iter()
        .filter(|m| m.kind() == fitparser::profile::MesgNum::Record)
        .count();
    assert!(records >= 10, "{records} records");
}
