//! The web's security rules against a real gateway: every page, asset, API answer and error
//! carries the security headers; the login page drops a `next` that leaves the site;
//! invitations can be revoked, tenant-scoped and audited, and a revoked one admits no one;
//! an athlete cannot raise their own heart-rate limits, nor their device give a coach's
//! command.

use paceline_schemas::{Command, Payload};
use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

/// The headers every response must carry, and a part of each value that must be there.
const HEADERS: [(&str, &[&str]); 4] = [
    (
        "content-security-policy",
        &[
            "default-src 'self'",
            "script-src 'self';",
            "style-src 'self';",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ],
    ),
    ("x-frame-options", &["DENY"]),
    ("referrer-policy", &["no-referrer"]),
    ("x-content-type-options", &["nosniff"]),
];

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_asset_and_api_answer_carries_the_security_headers() {
    let gateway = paceline().start().await;
    let client = plain_client();
    let mut checked = 0;
    for (path, status) in [
        ("/", 307),
        ("/login", 200),
        ("/board", 200),
        ("/live/s-1", 200),
        ("/plans", 200),
        ("/library", 200),
        ("/activities/1", 200),
        ("/assets/app.js", 200),
        ("/api/v1/openapi.json", 200),
        ("/api/v1/athletes", 401),
        ("/health/ready", 200),
        ("/no/such/page", 404),
    ] {
        let reply = client
            .get(format!("http://{}{path}", gateway.http))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), status, "GET {path}");
        for (name, parts) in HEADERS {
            let value = reply
                .headers()
                .get(name)
                .unwrap_or_else(|| panic!("GET {path}: no {name}"))
                .to_str()
                .unwrap();
            for part in parts {
                assert!(value.contains(part), "GET {path}: {name}: {value}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 48);
    // The pages load their script and styles from files: inline ones would be refused.
    for page in [
        "/login",
        "/board",
        "/live/s-1",
        "/sessions",
        "/sessions/1",
        "/plans",
        "/library",
        "/athletes/1/library",
        "/activities/1",
    ] {
        let html = client
            .get(format!("http://{}{page}", gateway.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"<script src="/assets/app.js"></script>"#),
            "{page}"
        );
        assert_eq!(html.matches("<script").count(), 1, "{page}: {html}");
        for inline in ["style=", "<style", " onclick=", " onload=", "javascript:"] {
            assert!(!html.contains(inline), "{page} has {inline}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_drops_a_next_that_leaves_the_site() {
    let gateway = paceline().start().await;
    let client = plain_client();
    let get = async |query: &str| {
        client
            .get(format!("http://{}/login?{query}", gateway.http))
            .send()
            .await
            .unwrap()
    };
    for query in [
        "next=%2F%5Cevil.example", // /\evil.example
        "next=%2F%2Fevil.example", // //evil.example
        "next=https%3A%2F%2Fevil.example",
        "next=%2F%5C%2Fevil",         // /\/evil
        "next=%2F%09%2Fevil.example", // /<tab>/evil.example
        "next=/board&next=//evil.example",
    ] {
        let reply = get(query).await;
        assert_eq!(reply.status().as_u16(), 303, "/login?{query}");
        assert_eq!(
            reply.headers()["location"].to_str().unwrap(),
            "/login",
            "/login?{query}"
        );
    }
    for query in ["", "next=%2Fboard", "next=%2Flive%2Fs-1%3Frate%3D2"] {
        let reply = get(query).await;
        assert_eq!(reply.status().as_u16(), 200, "/login?{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_invitation_admits_no_one_and_only_its_gym_admin_revokes_it() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("admin@revoke-inv.example", "Revoking Gym")
            .await,
    );
    let other_admin = access(&api.register_gym("admin@other.example", "Other Gym").await);
    let coach = access(
        &api.invite_and_register(&admin, "coach", "coach@revoke-inv.example", None)
            .await,
    );
    let invite = api
        .post("/invitations", Some(&admin), json!({"role": "athlete"}))
        .await;
    assert_eq!(invite.status, 201, "{}", invite.json);
    let id = invite.json["id"].as_i64().unwrap();
    let path = format!("/invitations/{id}");

    // Another tenant's admin does not see it; a coach may not revoke.
    let foreign = api
        .call(Method::DELETE, &path, Some(&other_admin), None)
        .await;
    assert_eq!((foreign.status, code(&foreign)), (404, "not_found"));
    let by_coach = api.call(Method::DELETE, &path, Some(&coach), None).await;
    assert_eq!((by_coach.status, code(&by_coach)), (403, "forbidden"));

    let revoked = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.json);
    let again = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(again.status, 204, "revoking twice changes nothing");

    let register = api
        .post(
            "/auth/register",
            None,
            json!({"email": "late@revoke-inv.example", "password": PASSWORD,
                "name": "Late", "invitation": invite.json["code"]}),
        )
        .await;
    assert_eq!(register.status, 400, "{}", register.json);
    assert_eq!(code(&register), "invitation_revoked");
    let users = api.get("/users", &admin).await;
    assert!(
        !users.json.to_string().contains("late@revoke-inv.example"),
        "{}",
        users.json
    );

    // The list shows its state; the audit log names who revoked it, once.
    let list = api.get("/invitations", &admin).await;
    let listed = list.json.as_array().unwrap();
    let mine = listed.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(mine["state"], "revoked", "{mine}");
    assert!(mine["revoked_ms"].as_i64().is_some(), "{mine}");
    assert!(
        listed.iter().any(|i| i["state"] == "used"),
        "the coach's invitation: {}",
        list.json
    );
    let audit = api.get("/audit", &admin).await;
    let revokes: Vec<_> = audit.json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("audit: {}", audit.json))
        .iter()
        .filter(|e| e["action"] == "invitation.revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "{}", audit.json);
    assert_eq!(revokes[0]["target"], format!("invitation:{id}"));

    // A used invitation cannot be revoked.
    let used = listed.iter().find(|i| i["state"] == "used").unwrap();
    let late = api
        .call(
            Method::DELETE,
            &format!("/invitations/{}", used["id"]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((late.status, code(&late)), (409, "invitation_used"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_may_lower_but_not_raise_their_heart_rate_limits() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@limits.example", "Limits Gym").await);
    let created = api
        .post(
            "/athletes",
            Some(&admin),
            json!({"name": "Ana", "profile": {"hr_max": 190, "hr_cap": 175}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let athlete = created.json["id"].as_i64().unwrap();
    let ana = access(
        &api.invite_and_register(&admin, "athlete", "ana@limits.example", Some(athlete))
            .await,
    );
    let path = format!("/athletes/{athlete}/profile");
    let put = async |token: &str, profile: serde_json::Value| {
        api.call(Method::PUT, &path, Some(token), Some(profile))
            .await
    };
    for raised in [
        json!({"hr_max": 190, "hr_cap": 185}),
        json!({"hr_max": 200, "hr_cap": 175}),
    ] {
        let reply = put(&ana, raised.clone()).await;
        assert_eq!(
            (reply.status, code(&reply)),
            (403, "safety_limit"),
            "{raised}"
        );
    }
    let lowered = put(
        &ana,
        json!({"hr_max": 190, "hr_cap": 170, "weight_kg": 60.0}),
    )
    .await;
    assert_eq!(lowered.status, 200, "{}", lowered.json);
    // Leaving the cap out would put the default (92 % of 190 = 174) above the 170 in force.
    let unset = put(&ana, json!({"hr_max": 190})).await;
    assert_eq!((unset.status, code(&unset)), (403, "safety_limit"));
    // The gym-admin may raise them.
    let by_admin = put(&admin, json!({"hr_max": 190, "hr_cap": 180})).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.json);
    let stored = api.get(&format!("/athletes/{athlete}"), &admin).await;
    assert_eq!(stored.json["profile"]["hr_cap"], 180, "{}", stored.json);

    // Both changes that went through are audited with the limits before and after.
    let audit = api.get("/audit", &admin).await;
    let changes: Vec<_> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "athlete.profile")
        .collect();
    assert_eq!(changes.len(), 2, "{}", audit.json);
    assert_eq!(changes[0]["detail"]["before"]["hr_cap_bpm"], 170);
    assert_eq!(changes[0]["detail"]["after"]["hr_cap_bpm"], 180);
    assert_eq!(changes[1]["detail"]["before"]["hr_cap_bpm"], 175);
    assert_eq!(changes[1]["detail"]["after"]["hr_cap_bpm"], 170);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_give_a_coach_only_command() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ana");
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("override");
    device.send(&session, 1, &ride_batch(0, 150, 200)).await;
    device.inbox.wait_ack(&session, 1).await;
    let command: Command = serde_json::from_value(json!({
        "kind": "override_target",
        "target": {"kind": "power_w", "low_w": 400, "high_w": 420},
        "duration_s": 600,
    }))
    .unwrap();
    device.send(&session, 2, &Payload::Command(command)).await;
    wait_until("the override to be refused", DEADLINE, async || {
        let refused = gateway
            .counter(
                "paceline_frames_rejected_total",
                "reason=\"CoachOnlyCommand\"",
            )
            .await;
        refused >= 1.0
    })
    .await;
    let commands: i64 = gateway
        .db()
        .query_row(
            "SELECT count(*) FROM stored_frames f JOIN sessions s ON s.id = f.session_row
             WHERE s.session_id = ?1 AND f.kind = 'command'",
            [session.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(commands, 0, "the override is not stored");
    assert_eq!(device.inbox.acked(&session), 1, "nor acknowledged");
}
