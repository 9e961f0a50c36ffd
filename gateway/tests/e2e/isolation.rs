//! Tenant isolation and roles: a user of tenant B using tenant A's ids gets 404 on every
//! route; lists never show another tenant's rows; the live board never delivers another
//! tenant's data; athletes and unlinked coaches cannot exceed their rights.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use paceline_testkit::api::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_sees_nothing_and_roles_hold() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let a_admin = access(&api.register_gym("admin@a.example", "Gym A").await);
    let b_admin = access(&api.register_gym("admin@b.example", "Gym B").await);

    // Tenant A: an athlete with a device and a plan, a coach, an athlete account.
    let athlete = api.create_athlete(&a_admin, "Ana").await;
    let creds = api.pair(&a_admin, athlete).await;
    let plan = api
        .post_raw(
            "/plans?file_name=short.json",
            &a_admin,
            SHORT_PLAN.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(plan.status, 201, "{}", plan.json);
    let plan_id = plan.json["id"].as_i64().unwrap();
    let fit = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/fit/garmin-fenix-5-bike.fit"
    ))
    .unwrap();
    let imported = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename=bike.fit"),
            &a_admin,
            fit,
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.json);
    let activity = imported.json["results"][0]["activity_id"].as_i64().unwrap();
    let source = api
        .get(&format!("/activities/{activity}"), &a_admin)
        .await
        .json["sources"][0]["id"]
        .clone();
    let coach_pair = api
        .invite_and_register(&a_admin, "coach", "coach@a.example", None)
        .await;
    let coach = access(&coach_pair);
    let coach_id = coach_pair["user"]["id"].as_i64().unwrap();
    let athlete_user = access(
        &api.invite_and_register(&a_admin, "athlete", "ana@a.example", Some(athlete))
            .await,
    );

    // Boards of both admins are open while Ana rides through her cap.
    let mut a_board = api.live("/live/board", &a_admin).await;
    let mut b_board = api.live("/live/board", &b_admin).await;
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("iso");
    let next = ride_mqtt(&device, &session, 1, 8, through_the_cap).await;
    device.inbox.wait_cue("hr_above_cap").await;
    let cue = a_board
        .wait_for("A's board to show the cap cue", |m| {
            m["type"] == "cue" && m["code"] == "hr_above_cap"
        })
        .await;
    assert_eq!(cue["athlete_id"], athlete);
    assert_eq!(cue["severity"], "safety");
    a_board
        .wait_for("A's board to show a status", |m| m["type"] == "status")
        .await;
    a_board
        .wait_for("A's board to show a sample", |m| m["type"] == "sample")
        .await;
    let session_row = cue["session_id"].as_i64().unwrap();
    b_board
        .drain_for(std::time::Duration::from_millis(500))
        .await;
    assert!(
        b_board
            .seen
            .iter()
            .all(|m| m["type"] == "hello" && m["sessions"].as_array().is_some_and(Vec::is_empty)),
        "B's board got A's data: {:?}",
        b_board.seen
    );
    // Ana's own session stream, as the athlete.
    let mut own = api
        .live(&format!("/live/sessions/{session_row}"), &athlete_user)
        .await;
    own.wait_for("the athlete's own stream", |m| m["type"] == "hello")
        .await;
    device.send(&session, next, &end()).await;
    device.inbox.wait_ack(&session, next).await;
    let conn = gateway.db();
    wait_until("the session to end", DEADLINE, async || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;

    let life_event = api
        .post(
            &format!("/athletes/{athlete}/life-events"),
            Some(&a_admin),
            json!({"kind": "busy", "from": "2026-01-01"}),
        )
        .await;
    assert_eq!(life_event.status, 201, "{}", life_event.json);
    let life_event = life_event.json["events"][0]["id"].as_i64().unwrap();

    // B with A's ids: 404 on every route that takes an id.
    let device_id = creds.device.as_str();
    let id_routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/athletes/{athlete}"), None),
        (
            Method::PUT,
            format!("/athletes/{athlete}/profile"),
            Some(serde_json::from_str(PROFILE).unwrap()),
        ),
        (
            Method::PUT,
            format!("/athletes/{athlete}/next-plan"),
            Some(json!({"plan_id": plan_id})),
        ),
        (
            Method::PUT,
            format!("/athletes/{athlete}/coaches/{coach_id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/athletes/{athlete}/coaches/{coach_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/devices"),
            Some(json!({})),
        ),
        (Method::GET, format!("/athletes/{athlete}/devices"), None),
        (Method::DELETE, format!("/devices/{device_id}"), None),
        (Method::GET, format!("/plans/{plan_id}"), None),
        (Method::GET, format!("/plans/{plan_id}/chart.svg"), None),
        (Method::GET, format!("/sessions/{session_row}"), None),
        (
            Method::GET,
            format!("/sessions/{session_row}/samples"),
            None,
        ),
        (Method::GET, format!("/sessions/{session_row}/cues"), None),
        (
            Method::GET,
            format!("/sessions/{session_row}/summary"),
            None,
        ),
        (
            Method::GET,
            format!("/sessions/{session_row}/export.csv"),
            None,
        ),
        (
            Method::GET,
            format!("/sessions/{session_row}/export.fit"),
            None,
        ),
        (
            Method::GET,
            format!("/sessions/{session_row}/chart.svg"),
            None,
        ),
        (
            Method::POST,
            format!("/sessions/{session_row}/commands"),
            Some(json!({"kind": "pause"})),
        ),
        (
            Method::POST,
            format!("/users/{coach_id}/password-reset"),
            None,
        ),
        (
            Method::PATCH,
            format!("/users/{coach_id}"),
            Some(json!({"disabled": true})),
        ),
        (Method::GET, format!("/athletes/{athlete}/activities"), None),
        (
            Method::POST,
            format!("/athletes/{athlete}/activities"),
            Some(json!({"sport": "running", "start": 1_765_000_000_000_i64, "duration": "30 min"})),
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/activities/import?filename=x.fit"),
            Some(json!({})),
        ),
        (Method::GET, format!("/activities/{activity}"), None),
        (Method::GET, format!("/activities/{activity}/samples"), None),
        (
            Method::GET,
            format!("/activities/{activity}/export.fit"),
            None,
        ),
        (
            Method::GET,
            format!("/activities/{activity}/export.tcx"),
            None,
        ),
        (
            Method::GET,
            format!("/activities/{activity}/export.gpx"),
            None,
        ),
        (
            Method::GET,
            format!("/activities/{activity}/export.csv"),
            None,
        ),
        (
            Method::POST,
            format!("/activities/{activity}/unmerge"),
            Some(json!({"source_id": source})),
        ),
        (Method::DELETE, format!("/activities/{activity}"), None),
        (Method::GET, format!("/athletes/{athlete}/daily"), None),
        (
            Method::PUT,
            format!("/athletes/{athlete}/daily/2026-01-01"),
            Some(json!({"mood": 3})),
        ),
        (Method::GET, format!("/athletes/{athlete}/load"), None),
        (Method::GET, format!("/athletes/{athlete}/recovery"), None),
        (
            Method::GET,
            format!("/athletes/{athlete}/planning-settings"),
            None,
        ),
        (
            Method::PUT,
            format!("/athletes/{athlete}/planning-settings"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/plan/today"),
            None,
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/plan/today/start"),
            None,
        ),
        (Method::GET, format!("/athletes/{athlete}/plan"), None),
        (
            Method::GET,
            format!("/athletes/{athlete}/life-events"),
            None,
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/life-events"),
            Some(json!({"kind": "busy", "from": "2026-01-01"})),
        ),
        (Method::DELETE, format!("/life-events/{life_event}"), None),
        (Method::GET, format!("/live/sessions/{session_row}"), None),
    ];
    for (method, path, body) in &id_routes {
        let reply = api
            .call(method.clone(), path, Some(&b_admin), body.clone())
            .await;
        assert_eq!(
            reply.status, 404,
            "{method} {path} as tenant B: {}",
            reply.json
        );
        assert_eq!(code(&reply), "not_found", "{method} {path}");
        // A sees them (the ids are real).
        if *method == Method::GET && !path.starts_with("/live") {
            let own = api.get(path, &a_admin).await;
            assert_eq!(own.status, 200, "{path} as tenant A: {}", own.json);
        }
    }
    // B's own athlete cannot be given A's plan.
    let b_athlete = api.create_athlete(&b_admin, "Ben").await;
    let reply = api
        .call(
            Method::PUT,
            &format!("/athletes/{b_athlete}/next-plan"),
            Some(&b_admin),
            Some(json!({"plan_id": plan_id})),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.json);
    // Lists show only B's own rows.
    for path in ["/athletes", "/devices", "/plans", "/users", "/invitations"] {
        let reply = api.get(path, &b_admin).await;
        assert_eq!(reply.status, 200, "{path}");
        let text = reply.json.to_string();
        assert!(
            !text.contains("Ana") && !text.contains(device_id) && !text.contains("a.example"),
            "{path} leaks tenant A: {text}"
        );
    }
    let sessions = api.get("/sessions", &b_admin).await;
    assert_eq!(sessions.json["items"], json!([]));
    let audit = api.get("/audit", &b_admin).await;
    assert!(
        !audit
            .json
            .to_string()
            .contains(&format!("athlete:{athlete}"))
    );
    // The device is still A's: B's DELETE did nothing.
    assert_eq!(
        api.get(&format!("/athletes/{athlete}/devices"), &a_admin)
            .await
            .json[0]["revoked_ms"],
        Value::Null
    );

    // Roles inside A. The athlete account: its own athlete only, no staff actions.
    let mine = api.get("/athletes", &athlete_user).await;
    assert_eq!(mine.json.as_array().unwrap().len(), 1);
    assert_eq!(mine.json[0]["id"], athlete);
    let reply = api
        .post("/athletes", Some(&athlete_user), json!({"name": "Eve"}))
        .await;
    assert_eq!((reply.status, code(&reply)), (403, "forbidden"));
    let reply = api
        .post(
            "/invitations",
            Some(&athlete_user),
            json!({"role": "coach"}),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(api.get("/audit", &athlete_user).await.status, 403);
    assert_eq!(api.get("/users", &athlete_user).await.status, 403);
    assert_eq!(
        api.get(&format!("/sessions/{session_row}"), &athlete_user)
            .await
            .status,
        200
    );
    let reply = api
        .post(&format!("/sessions/{session_row}/commands"), Some(&athlete_user),
            json!({"kind": "override_target", "target": {"kind": "power_w", "low_w": 300, "high_w": 320}, "duration_s": 60}))
        .await;
    assert_eq!(
        reply.status, 403,
        "an athlete cannot override: {}",
        reply.json
    );
    // A coach may invite athletes but not coaches, and sees only linked athletes.
    let reply = api
        .post("/invitations", Some(&coach), json!({"role": "gym-admin"}))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        api.get(&format!("/athletes/{athlete}"), &coach)
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/sessions/{session_row}"), &coach)
            .await
            .status,
        404
    );
    let reply = api
        .call(
            Method::PUT,
            &format!("/athletes/{athlete}/coaches/{coach_id}"),
            Some(&a_admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(
        api.get(&format!("/athletes/{athlete}"), &coach)
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/sessions/{session_row}"), &coach)
            .await
            .status,
        200
    );
    // A coach cannot change users.
    let reply = api
        .call(
            Method::PATCH,
            &format!("/users/{coach_id}"),
            Some(&coach),
            Some(json!({"role": "gym-admin"})),
        )
        .await;
    assert_eq!(reply.status, 403);
    // A disabled account's tokens stop at once.
    let reply = api
        .call(
            Method::PATCH,
            &format!("/users/{coach_id}"),
            Some(&a_admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(api.get("/auth/me", &coach).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_codes_and_the_openapi_document_covers_every_route() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@errors.example", "Errors").await);
    // Unknown route, wrong method, malformed id, bad JSON, wrong field, too large.
    let reply = api.get("/nothing-here", &admin).await;
    assert_eq!((reply.status, code(&reply)), (404, "not_found"));
    let reply = api
        .call(Method::DELETE, "/athletes", Some(&admin), None)
        .await;
    assert_eq!((reply.status, code(&reply)), (405, "method_not_allowed"));
    let reply = api.get("/athletes/not-a-number", &admin).await;
    assert_eq!((reply.status, code(&reply)), (404, "not_found"));
    let reply = api
        .post("/athletes", Some(&admin), json!({"nme": "typo"}))
        .await;
    assert_eq!((reply.status, code(&reply)), (422, "invalid_body"));
    let reply = api
        .post(
            "/athletes",
            Some(&admin),
            json!({"name": "Bad", "profile": {"hr_max": "high"}}),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.json);
    // The server refuses on the announced length, but reads what the client is still
    // sending before it answers: the client gets the 413, not a reset connection.
    let big = vec![b'x'; 8 * 1024 * 1024];
    let reply = api.post_raw("/plans?file_name=big.zwo", &admin, big).await;
    assert_eq!((reply.status, code(&reply)), (413, "body_too_large"));
    // Announce 2 MiB and send none of it: the answer comes anyway (once the server has
    // waited a few seconds for the body).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
        let head = format!(
            "POST /api/v1/plans?file_name=big.zwo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            2 * 1024 * 1024
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("body_too_large"), "{answer}");
    }
    let reply = api
        .post_raw(
            "/plans?file_name=bad.zwo",
            &admin,
            b"<workout_file>".to_vec(),
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (422, "invalid_plan"));
    let reply = api.get("/sessions?status=sideways", &admin).await;
    assert_eq!((reply.status, code(&reply)), (400, "invalid_query"));
    // The server still serves.
    assert_eq!(api.get("/auth/me", &admin).await.status, 200);

    // The OpenAPI document lists every route the router serves, with its methods.
    let doc = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let paths = doc.json["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/tenant", "get"),
        ("/api/v1/tenant/usage", "get"),
        ("/api/v1/invitations", "post"),
        ("/api/v1/invitations", "get"),
        ("/api/v1/invitations/{id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}/password-reset", "post"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/audit", "get"),
        ("/api/v1/athletes", "get"),
        ("/api/v1/athletes", "post"),
        ("/api/v1/athletes/{id}", "get"),
        ("/api/v1/athletes/{id}/profile", "put"),
        ("/api/v1/athletes/{id}/next-plan", "put"),
        ("/api/v1/athletes/{id}/coaches/{user_id}", "put"),
        ("/api/v1/athletes/{id}/coaches/{user_id}", "delete"),
        ("/api/v1/athletes/{id}/devices", "post"),
        ("/api/v1/athletes/{id}/devices", "get"),
        ("/api/v1/devices", "get"),
        ("/api/v1/devices/{device_id}", "delete"),
        ("/api/v1/plans", "get"),
        ("/api/v1/plans", "post"),
        ("/api/v1/plans/{id}", "get"),
        ("/api/v1/plans/{id}/chart.svg", "get"),
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions/{id}", "get"),
        ("/api/v1/sessions/{id}/samples", "get"),
        ("/api/v1/sessions/{id}/cues", "get"),
        ("/api/v1/sessions/{id}/summary", "get"),
        ("/api/v1/sessions/{id}/commands", "post"),
        ("/api/v1/sessions/{id}/export.csv", "get"),
        ("/api/v1/sessions/{id}/export.fit", "get"),
        ("/api/v1/sessions/{id}/chart.svg", "get"),
        ("/api/v1/live/sessions/{id}", "get"),
        ("/api/v1/live/board", "get"),
        ("/api/v1/athletes/{id}/activities/import", "post"),
        ("/api/v1/athletes/{id}/activities", "get"),
        ("/api/v1/athletes/{id}/activities", "post"),
        ("/api/v1/activities/{id}", "get"),
        ("/api/v1/activities/{id}", "delete"),
        ("/api/v1/activities/{id}/unmerge", "post"),
        ("/api/v1/activities/{id}/samples", "get"),
        ("/api/v1/activities/{id}/export.fit", "get"),
        ("/api/v1/activities/{id}/export.tcx", "get"),
        ("/api/v1/activities/{id}/export.gpx", "get"),
        ("/api/v1/activities/{id}/export.csv", "get"),
        ("/api/v1/tenant/activity-precedence", "get"),
        ("/api/v1/tenant/activity-precedence", "put"),
        ("/api/v1/athletes/{id}/daily", "get"),
        ("/api/v1/athletes/{id}/daily/{date}", "put"),
        ("/api/v1/athletes/{id}/load", "get"),
        ("/api/v1/athletes/{id}/recovery", "get"),
        ("/api/v1/athletes/{id}/planning-settings", "get"),
        ("/api/v1/athletes/{id}/planning-settings", "put"),
        ("/api/v1/athletes/{id}/plan/today", "post"),
        ("/api/v1/athletes/{id}/plan/today/start", "post"),
        ("/api/v1/athletes/{id}/plan", "get"),
        ("/api/v1/athletes/{id}/life-events", "get"),
        ("/api/v1/athletes/{id}/life-events", "post"),
        ("/api/v1/life-events/{id}", "delete"),
        ("/api/v1/athletes/{id}/daily.csv", "post"),
        ("/api/v1/activities/{id}/efficiency", "get"),
        ("/api/v1/athletes/{id}/insights/efficiency", "get"),
        ("/api/v1/athletes/{id}/insights/efficiency.svg", "get"),
        ("/api/v1/athletes/{id}/insights/correlations", "get"),
        (
            "/api/v1/athletes/{id}/insights/correlations/{index}/scatter.svg",
            "get",
        ),
        ("/api/v1/athletes/{id}/insights/feedback", "post"),
        ("/api/v1/insights/feedback", "get"),
        ("/api/v1/me/music", "put"),
        ("/api/v1/athletes/{id}/fitness.svg", "get"),
        ("/api/v1/athletes/{id}/life-events/calendar", "post"),
        ("/api/v1/chat", "post"),
        ("/api/v1/chat/conversations", "get"),
        ("/api/v1/chat/conversations/{id}", "get"),
        ("/api/v1/me/phone", "get"),
        ("/api/v1/me/phone", "put"),
        ("/api/v1/me/phone", "delete"),
        ("/api/v1/me/phone/confirm", "post"),
        ("/api/v1/me/terms", "get"),
        ("/api/v1/me/terms", "put"),
        ("/api/v1/me/terms", "delete"),
        ("/api/v1/plans/{id}/playlist", "get"),
        ("/api/v1/digest/unsubscribe", "get"),
        ("/api/v1/digest/unsubscribe", "post"),
        ("/api/v1/connections", "get"),
        ("/api/v1/connections/{provider}", "post"),
        ("/api/v1/connections/{provider}", "delete"),
        ("/api/v1/connections/{provider}/callback", "get"),
        ("/api/v1/connections/{provider}/sync", "post"),
        ("/api/v1/admin/jobs", "get"),
        ("/api/v1/admin/jobs/{id}/retry", "post"),
        ("/api/v1/me", "delete"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/me/export", "post"),
        ("/api/v1/admin/export", "post"),
        ("/api/v1/me/exports/{id}", "get"),
        ("/api/v1/export-downloads/{token}", "get"),
        ("/api/v1/admin/privacy", "get"),
        ("/api/v1/admin/privacy", "put"),
        ("/api/v1/admin/audit", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/admin/impersonations", "post"),
        ("/api/v1/admin/impersonations/current", "delete"),
        ("/api/v1/me/sharing", "get"),
        ("/api/v1/me/sharing", "put"),
        ("/api/v1/admin/health", "get"),
        ("/api/v1/admin/data-quality", "get"),
        ("/webhooks/strava", "get"),
        ("/webhooks/strava", "post"),
        ("/webhooks/garmin", "post"),
        ("/api/v1/athletes/{id}/preferences", "get"),
        ("/api/v1/athletes/{id}/preferences", "put"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "every documented operation is in the list above"
    );
    // Every documented route exists: none answers "no such route".
    for (path, method) in expected {
        let concrete = path
            .trim_start_matches("/api/v1")
            .replace("{id}", "1")
            .replace("{user_id}", "1")
            .replace("{date}", "2026-01-01")
            .replace("{device_id}", "d-0")
            .replace("{index}", "0");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        if !path.starts_with("/api/v1") {
            // Outside the API (Strava's webhook): this server has no Strava, so a JSON 404
            // that names it, not the fallback's.
            let base = api.base.trim_end_matches("/api/v1");
            let answer = reqwest::Client::new()
                .request(m, format!("{base}{path}"))
                .send()
                .await
                .unwrap();
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error"]["code"], "sync_not_configured", "{path}");
            continue;
        }
        let reply = api.call(m, &concrete, Some(&admin), None).await;
        assert!(
            !(reply.status == 404 && reply.json["error"]["message"] == "no such route")
                && reply.status != 405,
            "{method} {path}: {} {}",
            reply.status,
            reply.json
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_closes_its_connections_and_refuses_it() {
    use std::sync::atomic::Ordering;
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@revoke.example", "Revoke").await);
    let athlete = api.create_athlete(&admin, "Rae").await;
    let creds = api.pair(&admin, athlete).await;
    let mut mqtt = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("revoke");
    mqtt.send(&session, 1, &ride_batch(0, 120, 150)).await;
    mqtt.inbox.wait_ack(&session, 1).await;
    let mut quic = QuicDevice::connect(&gateway, &creds, &creds.token).await;
    let quic_session = session_id("revoke-quic");
    quic.send(&quic_session, 1, &ride_batch(0, 120, 150)).await;
    quic.inbox.wait_ack(&quic_session, 1).await;
    assert_eq!(mqtt.connection_errors.load(Ordering::SeqCst), 0);

    let reply = api
        .call(
            Method::DELETE,
            &format!("/devices/{}", creds.device),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    wait_until("the MQTT connection to be closed", DEADLINE, async || {
        (mqtt.connection_errors.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    wait_until("the QUIC connection to be closed", DEADLINE, async || {
        quic.connection.close_reason()
    })
    .await;
    // It cannot come back: CONNECT is refused, and so are its frames.
    let before = gateway.counter("paceline_frames_stored_total", "").await;
    let again = MqttDevice::connect(&gateway, &creds).await;
    again.send(&session, 2, &ride_batch(1000, 121, 150)).await;
    wait_until("the reconnect to be refused", DEADLINE, async || {
        (again.connection_errors.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    assert_eq!(
        gateway.counter("paceline_frames_stored_total", "").await,
        before
    );
    let devices = api
        .get(&format!("/athletes/{athlete}/devices"), &admin)
        .await;
    assert!(devices.json[0]["revoked_ms"].is_i64(), "{}", devices.json);
}
