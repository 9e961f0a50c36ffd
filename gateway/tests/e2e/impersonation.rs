//! Read-only impersonation ("view as", issue 25) through the API of one gateway: a
//! gym-admin views as an athlete of the gym, reads her activities, check-ins and `GET /me`
//! (which says `impersonated_by`); every write made with that token (a check-in, an
//! upload, the chat, `DELETE /me`, logging out, starting another view) is 403
//! `read_only_impersonation` and changes nothing; there is no refresh token; minutes
//! outside 1–30 are 400, another gym's user 404; ending it kills the token at once; a
//! view past its end is refused and closed; the audit has each start and end with the
//! address.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

fn fit_bytes(name: &str) -> Vec<u8> {
    let shared = std::env::var_os("PACELINE_SHARED_DATA").map_or_else(
        || {
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
                .to_owned()
        },
        std::path::PathBuf::from,
    );
    let path = shared.join("fit").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gym_admin_views_as_an_athlete_read_only_and_audited() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);

    let admin = access(&api.register_gym("owner@view-gym.example", "View Gym").await);
    let athlete = api.create_athlete(&admin, "Ada Viewed").await;
    let her = access(
        &api.invite_and_register(&admin, "athlete", "ada@view-gym.example", Some(athlete))
            .await,
    );
    let other_admin = access(
        &api.register_gym("owner@other-gym.example", "Other Gym")
            .await,
    );
    let other_athlete = api.create_athlete(&other_admin, "Olga Other").await;
    let other = access(
        &api.invite_and_register(
            &other_admin,
            "athlete",
            "olga@other-gym.example",
            Some(other_athlete),
        )
        .await,
    );
    let her_id = api.get("/me", &her).await.json["user"]["id"]
        .as_i64()
        .unwrap();
    let admin_id = api.get("/me", &admin).await.json["user"]["id"]
        .as_i64()
        .unwrap();
    let other_id = api.get("/me", &other).await.json["user"]["id"]
        .as_i64()
        .unwrap();

    let file = "activity-small-fenix2-run.fit";
    let reply = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename={file}"),
            &her,
            fit_bytes(file),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let r = api
        .call(
            Method::PUT,
            &format!("/athletes/{athlete}/daily/2026-01-01"),
            Some(&her),
            Some(json!({"hrv_ms": 61})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Out of range, yourself, another gym's user.
    for (body, status, error) in [
        (
            json!({"user_id": her_id, "minutes": 31}),
            400,
            "invalid_minutes",
        ),
        (
            json!({"user_id": her_id, "minutes": 0}),
            400,
            "invalid_minutes",
        ),
        (json!({"user_id": admin_id}), 400, "invalid_user"),
        (json!({"user_id": other_id}), 404, "not_found"),
    ] {
        let r = api
            .post("/admin/impersonations", Some(&admin), body.clone())
            .await;
        assert_eq!((r.status, code(&r)), (status, error), "{body}: {}", r.json);
    }
    let r = api
        .post(
            "/admin/impersonations",
            Some(&her),
            json!({"user_id": admin_id}),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "an athlete cannot view as anyone: {}",
        r.json
    );

    // The view: default 15 minutes, no refresh token.
    let before = now_ms();
    let started = api
        .post(
            "/admin/impersonations",
            Some(&admin),
            json!({"user_id": her_id}),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.json);
    assert!(
        started.json.get("refresh_token").is_none(),
        "{}",
        started.json
    );
    let expires_ms = started.json["expires_ms"].as_i64().unwrap();
    assert!(
        (before + 15 * 60_000 - 2_000..=now_ms() + 15 * 60_000).contains(&expires_ms),
        "{expires_ms}"
    );
    let view = started.json["access_token"].as_str().unwrap().to_owned();

    // Reads as her.
    let me = api.get("/me", &view).await;
    assert_eq!(me.status, 200, "{}", me.json);
    assert_eq!(me.json["user"]["id"], her_id);
    assert_eq!(me.json["impersonated_by"]["user_id"], admin_id);
    assert_eq!(me.json["impersonated_by"]["expires_ms"], expires_ms);
    assert!(
        api.get("/me", &her)
            .await
            .json
            .get("impersonated_by")
            .is_none()
    );
    let activities = api
        .get(&format!("/athletes/{athlete}/activities"), &view)
        .await;
    assert_eq!(activities.status, 200, "{}", activities.json);
    let listed = activities.json.to_string();
    assert!(listed.contains("\"id\""), "{listed}");
    let daily = api
        .get(
            &format!("/athletes/{athlete}/daily?from=2025-12-20&to=2026-01-10"),
            &view,
        )
        .await;
    assert_eq!(daily.status, 200, "{}", daily.json);
    assert!(
        daily.json.to_string().contains("2026-01-01"),
        "{}",
        daily.json
    );
    let r = api
        .get(&format!("/athletes/{other_athlete}/activities"), &view)
        .await;
    assert_eq!(r.status, 404, "another gym's athlete: {}", r.json);

    // Every write is refused and changes nothing.
    let writes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (
            Method::PUT,
            format!("/athletes/{athlete}/daily/2026-01-02"),
            Some(json!({"hrv_ms": 70})),
        ),
        (
            Method::POST,
            "/chat".into(),
            Some(json!({"message": "how was my week?"})),
        ),
        (
            Method::DELETE,
            "/me".into(),
            Some(json!({"password": PASSWORD})),
        ),
        (Method::POST, "/auth/logout".into(), Some(json!({}))),
        (Method::POST, "/me/export".into(), Some(json!({}))),
        (
            Method::POST,
            "/admin/impersonations".into(),
            Some(json!({"user_id": admin_id})),
        ),
        (
            Method::POST,
            format!("/athletes/{athlete}/plan/today"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in writes {
        let r = api.call(method.clone(), &path, Some(&view), body).await;
        assert_eq!(
            (r.status, code(&r)),
            (403, "read_only_impersonation"),
            "{method} {path}: {}",
            r.json
        );
    }
    let r = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename={file}"),
            &view,
            // Small: refused before the body is read, a large one would be cut off.
            b"not read".to_vec(),
        )
        .await;
    assert_eq!((r.status, code(&r)), (403, "read_only_impersonation"));
    // Nothing changed: her account, her activities, her check-ins, no chat, no export.
    assert_eq!(api.get("/me", &her).await.status, 200);
    let mine = api
        .get(&format!("/athletes/{athlete}/activities"), &her)
        .await;
    assert_eq!(mine.json, activities.json);
    let days = api
        .get(
            &format!("/athletes/{athlete}/daily?from=2025-12-20&to=2026-01-10"),
            &her,
        )
        .await;
    assert!(
        !days.json.to_string().contains("2026-01-02"),
        "{}",
        days.json
    );
    let conversations = api.get("/chat/conversations", &her).await;
    assert_eq!(conversations.status, 200, "{}", conversations.json);
    assert!(
        !conversations.json.to_string().contains("\"id\""),
        "{}",
        conversations.json
    );

    // Ending it from the view's own token; the admin's own token has no view to end.
    let r = api
        .call(
            Method::DELETE,
            "/admin/impersonations/current",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.json);
    let r = api
        .call(
            Method::DELETE,
            "/admin/impersonations/current",
            Some(&view),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    let r = api.get("/me", &view).await;
    assert_eq!(r.status, 401, "an ended view: {}", r.json);
    assert_eq!(api.get("/me", &admin).await.status, 200);

    // A view past its end (the row moved back, as a clock would) is refused and closed.
    let second = api
        .post(
            "/admin/impersonations",
            Some(&admin),
            json!({"user_id": her_id, "minutes": 1}),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.json);
    assert!(second.json["expires_in"].as_u64().unwrap() <= 60);
    let second_view = second.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/me", &second_view).await.status, 200);
    {
        let conn = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute(
            "UPDATE impersonations SET expires_ms = ?1 WHERE id = ?2",
            rusqlite::params![now_ms() - 1, second.json["id"].as_i64().unwrap()],
        )
        .unwrap();
    }
    let r = api.get("/me", &second_view).await;
    assert_eq!(r.status, 401, "a view past its end: {}", r.json);

    // The audit: two starts, one stopped, one expired; who, whom, until when, from where.
    let starts = api
        .get("/admin/audit?action=impersonation.start", &admin)
        .await;
    assert_eq!(starts.status, 200, "{}", starts.json);
    let starts = starts.json["items"].as_array().unwrap().clone();
    assert_eq!(starts.len(), 2, "{starts:?}");
    for entry in &starts {
        assert_eq!(entry["user_id"], admin_id);
        assert_eq!(entry["target"], format!("user:{her_id}"));
        assert!(entry["detail"]["until_ms"].as_i64().is_some(), "{entry}");
        assert!(
            entry["ip"].as_str().is_some_and(|ip| !ip.is_empty()),
            "{entry}"
        );
    }
    let ends = api
        .get("/admin/audit?action=impersonation.end", &admin)
        .await;
    let mut reasons: Vec<String> = ends.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["user_id"], admin_id);
            assert_eq!(e["target"], format!("user:{her_id}"));
            e["detail"]["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["expired", "stopped"]);
    // Another gym's audit shows none of it.
    let theirs = api
        .get("/admin/audit?action=impersonation.*", &other_admin)
        .await;
    assert_eq!(
        theirs.json["items"].as_array().unwrap().len(),
        0,
        "{}",
        theirs.json
    );
}

/// The web app's banner: a gym-admin logged in views as an athlete from the page, the
/// banner names her and the end, the page reads as her, "stop" ends the view (its token
/// then 401) and brings the admin's own login back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_the_view_as_banner_and_stops_it() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("owner@banner-gym.example", "Banner Gym")
            .await,
    );
    let athlete = api.create_athlete(&admin, "Bea Banner").await;
    let her = access(
        &api.invite_and_register(&admin, "athlete", "bea@banner-gym.example", Some(athlete))
            .await,
    );
    let her_id = api.get("/me", &her).await.json["user"]["id"]
        .as_i64()
        .unwrap();

    let browser = paceline_testkit::browser::Browser::start().await;
    let base = format!("http://{}", gateway.http);
    crate::browser::log_in(&browser, &base, "owner@banner-gym.example").await;
    browser
        .client
        .execute(
            &format!("pacelineViewAs({her_id}, 5); return true;"),
            Vec::new(),
        )
        .await
        .unwrap();
    let banner = browser
        .wait_js(
            "the view-as banner",
            "const b = document.getElementById('view-as'); return b && b.textContent",
        )
        .await;
    let banner = banner.as_str().unwrap().to_owned();
    assert!(
        banner.starts_with("Viewing as bea@banner-gym.example, read-only, ends "),
        "{banner}"
    );
    let view = browser
        .wait_js(
            "the view's token",
            "return sessionStorage.getItem('paceline.access')",
        )
        .await;
    let view = view.as_str().unwrap().to_owned();
    assert_eq!(api.get("/me", &view).await.json["user"]["id"], her_id);
    crate::browser::screenshot(&browser, "view-as-banner.png").await;

    browser.click("#stop-view-as").await;
    browser
        .wait_js(
            "the admin back, no banner",
            "const m = JSON.parse(sessionStorage.getItem('paceline.me') || 'null');
             return document.getElementById('top').textContent.includes('Log out') && !document.getElementById('view-as')
               && m && m.user.role === 'gym-admin'",
        )
        .await;
    assert_eq!(api.get("/me", &view).await.status, 401, "the view ended");
}
