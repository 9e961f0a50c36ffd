//! What an athlete shares with linked coaches (issue 25), through the API of one gateway:
//! everything by default; with `health` off for all coaches her coach gets 404 on her
//! daily metrics, recovery and insights but still sees her activities; a coach's own
//! setting wins over the one for all coaches (history off hides her activities from that
//! coach only); turning it back on restores it; her gym-admin always sees; only an
//! athlete sets it, and only for a coach linked to her.

use reqwest::Method;
use serde_json::{Value, json};

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

/// The statuses `token` gets on her daily metrics, recovery, insights and activities.
async fn seen(api: &Api, token: &str, athlete: i64) -> [u16; 4] {
    let mut out = [0; 4];
    for (i, path) in [
        format!("/athletes/{athlete}/daily?from=2025-12-20&to=2026-01-10"),
        format!("/athletes/{athlete}/recovery"),
        format!("/athletes/{athlete}/insights/efficiency"),
        format!("/athletes/{athlete}/activities"),
    ]
    .iter()
    .enumerate()
    {
        out[i] = api.get(path, token).await.status;
    }
    out
}

async fn share(api: &Api, token: &str, body: Value) -> Reply {
    api.call(Method::PUT, "/me/sharing", Some(token), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_decides_what_her_coaches_see() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("owner@share-gym.example", "Share Gym")
            .await,
    );
    let athlete = api.create_athlete(&admin, "Hana Shares").await;
    let her = access(
        &api.invite_and_register(&admin, "athlete", "hana@share-gym.example", Some(athlete))
            .await,
    );
    let mut coaches = Vec::new();
    for email in ["c1@share-gym.example", "c2@share-gym.example"] {
        let pair = api.invite_and_register(&admin, "coach", email, None).await;
        let id = pair["user"]["id"].as_i64().unwrap();
        let linked = api
            .call(
                Method::PUT,
                &format!("/athletes/{athlete}/coaches/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert!(linked.status < 300, "{}", linked.json);
        coaches.push((id, access(&pair)));
    }
    let (c1_id, c1) = coaches[0].clone();
    let (_, c2) = coaches[1].clone();
    let file = "activity-small-fenix2-run.fit";
    let r = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename={file}"),
            &her,
            fit_bytes(file),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .call(
            Method::PUT,
            &format!("/athletes/{athlete}/daily/2026-01-01"),
            Some(&her),
            Some(json!({"hrv_ms": 61})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // An ended session of hers (a paired device, the row by SQL).
    api.pair(&admin, athlete).await;
    let session_row = {
        let conn = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute(
            "INSERT INTO sessions (tenant_id, device_row, athlete_id, session_id, status, started_ms, last_frame_ms)
             SELECT tenant_id, id, athlete_id, 's-shared', 'ended', 1, 1 FROM devices WHERE athlete_id = ?1",
            [athlete],
        )
        .unwrap();
        conn.last_insert_rowid()
    };
    let sessions_seen = |token: String| {
        let api = &api;
        async move {
            let list = api.get("/sessions", &token).await;
            assert_eq!(list.status, 200, "{}", list.json);
            let one = api.get(&format!("/sessions/{session_row}"), &token).await;
            (list.json["items"].as_array().unwrap().len(), one.status)
        }
    };

    // Everything shared by default.
    let view = api.get("/me/sharing", &her).await;
    assert_eq!(view.status, 200, "{}", view.json);
    assert_eq!(
        view.json["all_coaches"],
        json!({"live": true, "history": true, "health": true})
    );
    assert_eq!(view.json["coaches"].as_array().unwrap().len(), 2);
    assert_eq!(seen(&api, &c1, athlete).await, [200; 4]);

    // Health off for all coaches: no daily metrics, recovery or insights; activities still.
    let r = share(
        &api,
        &her,
        json!({"live": true, "history": true, "health": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["coaches"][0]["health"], false, "{}", r.json);
    for coach in [&c1, &c2] {
        assert_eq!(seen(&api, coach, athlete).await, [404, 404, 404, 200]);
    }
    assert_eq!(seen(&api, &admin, athlete).await, [200; 4], "her gym-admin");
    assert_eq!(seen(&api, &her, athlete).await, [200; 4], "herself");

    // Coach 1's own setting wins: health on, history off, for coach 1 only.
    let r = share(
        &api,
        &her,
        json!({"coach_user_id": c1_id, "live": true, "history": false, "health": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(seen(&api, &c1, athlete).await, [200, 200, 200, 404]);
    assert_eq!(seen(&api, &c2, athlete).await, [404, 404, 404, 200]);
    assert_eq!(
        sessions_seen(c1.clone()).await,
        (0, 404),
        "history off for coach 1"
    );
    assert_eq!(sessions_seen(c2.clone()).await, (1, 200));

    // Back on for everyone.
    for body in [
        json!({"coach_user_id": c1_id, "live": true, "history": true, "health": true}),
        json!({"live": true, "history": true, "health": true}),
    ] {
        assert_eq!(share(&api, &her, body).await.status, 200);
    }
    for coach in [&c1, &c2] {
        assert_eq!(seen(&api, coach, athlete).await, [200; 4]);
        assert_eq!(sessions_seen(coach.clone()).await, (1, 200));
    }

    // Only an athlete, only for a coach linked to her.
    let all = json!({"live": true, "history": true, "health": true});
    assert_eq!(share(&api, &c1, all.clone()).await.status, 403);
    assert_eq!(api.get("/me/sharing", &admin).await.status, 403);
    let mut unlinked = all.clone();
    unlinked["coach_user_id"] = json!(999_999);
    assert_eq!(share(&api, &her, unlinked).await.status, 404);
    let audit = api.get("/admin/audit?action=sharing.change", &admin).await;
    assert_eq!(
        audit.json["items"].as_array().unwrap().len(),
        4,
        "{}",
        audit.json
    );
}
