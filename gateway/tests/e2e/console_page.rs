//! The owner's console in a real headless Chromium, one gateway and one browser for all
//! its pages. A gym with an athlete user, ten coaches, an athlete without a profile, a
//! device aged to a week of silence (the gateway stopped, its database aged, started
//! again) and an activity whose file starts in 2099 (flagged for clock skew).
//!
//! - API: `GET /users` searches, filters and pages in the tenant only, refuses a bad role
//!   (400) and non-admins (403); `/admin/health` and `/admin/data-quality` answer admins
//!   only; `GET /audit` and `GET /admin/audit` give the same entries.
//! - Users: the navigation shows "Console" to the admin only; the page pages 10 at a time,
//!   searches, filters by role and status, changes a role (seen through the API).
//! - Invitations: one created (its code shown once, and it registers no one once revoked),
//!   listed open, revoked from the page.
//! - Health: store, writer, engine and embedded broker `ok`, job counts, the failed login
//!   counted among the errors.
//! - Data quality: the bare athlete and her missing values, the silent device, the skewed
//!   activity; the full athlete is not listed.
//! - Audit: searched by action family from the page.
//! - View as: the user's "View as" lands on her Today page with the banner, the stored plan
//!   shown read-only and no error (the page makes no write).
//!
//! Screenshots: `docs/screenshots/console-{users,invitations,health,data-quality,audit,view-as-today}.png`.

use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use serde_json::json;

use crate::browser::{log_in, screenshot};
use crate::harness::*;

/// A TCX ride whose clock says 2099.
const SKEWED_TCX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
 <Activities>
  <Activity Sport="Biking">
   <Id>2099-03-01T06:12:30Z</Id>
   <Lap StartTime="2099-03-01T06:12:30Z">
    <TotalTimeSeconds>600</TotalTimeSeconds><DistanceMeters>5000</DistanceMeters>
    <Track>
     <Trackpoint><Time>2099-03-01T06:12:31Z</Time><HeartRateBpm><Value>120</Value></HeartRateBpm></Trackpoint>
     <Trackpoint><Time>2099-03-01T06:22:30Z</Time><HeartRateBpm><Value>130</Value></HeartRateBpm></Trackpoint>
    </Track>
   </Lap>
  </Activity>
 </Activities>
</TrainingCenterDatabase>"#;

/// The rows' `data-*` and cell texts of a table body.
fn rows_js(tbody: &str) -> String {
    format!(
        "return [...document.querySelectorAll('#{tbody} tr')].map(r => [...r.querySelectorAll('td')].map(td => td.textContent));"
    )
}

/// Waits until the console's section `section` has loaded.
async fn open_section(browser: &Browser, base: &str, section: &str) {
    browser
        .client
        .goto(&format!("{base}/console/{section}"))
        .await
        .unwrap();
    browser
        .wait_js(
            &format!("the console's {section} page"),
            &format!(
                "return document.body.dataset.loaded === '{section}'
                   || document.getElementById('console-error').textContent || false"
            ),
        )
        .await;
    let error = browser
        .wait_js(
            "the console's error line",
            "return [document.getElementById('console-error').textContent]",
        )
        .await;
    assert_eq!(error, json!([""]), "{section}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_console_pages_work_in_the_browser() {
    let mut gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("owner@console.example", "Console Gym")
            .await,
    );
    let ana = api.create_athlete(&admin, "Ana Full").await;
    let ana_user = access(
        &api.invite_and_register(&admin, "athlete", "ana@console.example", Some(ana))
            .await,
    );
    let ana_id = api.get("/me", &ana_user).await.json["user"]["id"]
        .as_i64()
        .unwrap();
    let bare = api
        .post(
            "/athletes",
            Some(&admin),
            json!({"name": "Bea Bare", "profile": {}}),
        )
        .await;
    assert_eq!(bare.status, 201, "{}", bare.json);
    let bare = bare.json["id"].as_i64().unwrap();
    for i in 1..=10 {
        api.invite_and_register(
            &admin,
            "coach",
            &format!("coach{i:02}@console.example"),
            None,
        )
        .await;
    }
    // A gym elsewhere: none of its users shows.
    api.register_gym("owner@elsewhere.example", "Elsewhere")
        .await;
    let device = api.pair(&admin, bare).await;
    let skewed = api
        .post_raw(
            &format!("/athletes/{ana}/activities/import?filename=skewed.tcx"),
            &admin,
            SKEWED_TCX.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(skewed.status, 200, "{}", skewed.json);
    assert_eq!(
        skewed.json["results"][0]["status"], "flagged",
        "{}",
        skewed.json
    );
    let skewed_id = skewed.json["results"][0]["activity_id"].as_i64().unwrap();
    // Ana's plan for today, stored before anyone views as her.
    let planned = api
        .post(
            &format!("/athletes/{ana}/plan/today"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(planned.status, 200, "{}", planned.json);
    // A week passes for the device: the gateway stops, its pairing is aged, it starts again.
    gateway.terminate().await;
    {
        let conn = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
        let aged = conn
            .execute(
                "UPDATE devices SET created_ms = created_ms - 8 * 86400000 WHERE device_id = ?1",
                [device.device.as_str()],
            )
            .unwrap();
        assert_eq!(aged, 1);
    }
    gateway.launch().await;
    // A failed login, for the error counters (this process counts from its own start).
    assert_eq!(
        api.login("owner@console.example", "not the password")
            .await
            .status,
        401
    );

    // ---- The API under the pages -----------------------------------------------------
    let emails = |reply: &Reply| -> Vec<String> {
        assert_eq!(reply.status, 200, "{}", reply.json);
        reply
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = emails(&api.get("/users", &admin).await);
    assert_eq!(all.len(), 12, "{all:?}");
    assert!(!all.contains(&"owner@elsewhere.example".to_owned()));
    assert_eq!(
        emails(&api.get("/users?q=ANA%40", &admin).await),
        ["ana@console.example"]
    );
    assert_eq!(
        emails(&api.get("/users?role=coach", &admin).await).len(),
        10
    );
    assert_eq!(
        emails(&api.get("/users?role=coach&limit=3&offset=7", &admin).await),
        [
            "coach08@console.example",
            "coach09@console.example",
            "coach10@console.example"
        ]
    );
    assert_eq!(
        emails(&api.get("/users?status=disabled", &admin).await).len(),
        0
    );
    assert_eq!(api.get("/users?role=owner", &admin).await.status, 400);
    assert_eq!(api.get("/users?offset=-1", &admin).await.status, 400);
    for path in ["/users", "/admin/health", "/admin/data-quality"] {
        assert_eq!(api.get(path, &ana_user).await.status, 403, "{path}");
    }
    let old = api.get("/audit?limit=5", &admin).await;
    let new = api.get("/admin/audit?limit=5", &admin).await;
    assert_eq!(old.status, 200);
    assert_eq!(old.json["items"], new.json["items"], "one audit reading");
    assert_eq!(old.json["next_before_id"], new.json["next_cursor"]);
    let health = api.get("/admin/health", &admin).await;
    assert_eq!(health.status, 200, "{}", health.json);
    assert!(
        health.json["store"]["db_bytes"].as_u64().unwrap() > 0,
        "{}",
        health.json
    );

    // ---- Users ---------------------------------------------------------------------
    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "owner@console.example").await;
    let nav = browser
        .wait_js(
            "the navigation",
            "return [...document.querySelectorAll('#top nav a')].map(a => a.textContent)",
        )
        .await;
    assert_eq!(
        nav,
        json!([
            "Today",
            "Insights",
            "Chat",
            "Live board",
            "Sessions",
            "Library",
            "Connections",
            "Plans",
            "Console"
        ])
    );
    browser.click("#top nav a[href='/console/users']").await;
    browser
        .wait_js(
            "the users page",
            "return document.body.dataset.loaded === 'users'",
        )
        .await;
    let names = "return [...document.querySelectorAll('#users-list tr')].map(r => r.children[1].textContent)";
    let page1 = browser.wait_js("the first page", names).await;
    assert_eq!(page1.as_array().unwrap().len(), 10, "{page1}");
    assert_eq!(page1[0], "owner@console.example");
    assert_eq!(page1[1], "ana@console.example");
    screenshot(&browser, "console-users.png").await;
    browser.click("#users-next").await;
    browser
        .wait_js(
            "the second page",
            &format!("const n = (() => {{ {} }})(); return n.length === 2 && n[1] === 'coach10@console.example' && document.getElementById('users-next').disabled", names),
        )
        .await;
    browser.fill("#users-q", "coach0").await;
    browser
        .client
        .execute(
            "document.getElementById('users-role').value = 'coach'; document.getElementById('users-status').value = 'active'; return true;",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#users-submit").await;
    browser
        .wait_js(
            "the search",
            &format!("const n = (() => {{ {} }})(); return n.length === 9 && n[0] === 'coach01@console.example'", names),
        )
        .await;
    // coach01 becomes a gym-admin.
    let coach01 = browser
        .wait_js(
            "coach01's row",
            "return Number(document.querySelector('#users-list tr').dataset.user)",
        )
        .await
        .as_i64()
        .unwrap();
    browser
        .client
        .execute(
            "const s = document.querySelector('#users-list tr .user-role'); s.value = 'gym-admin'; s.dispatchEvent(new Event('change')); return true;",
            Vec::new(),
        )
        .await
        .unwrap();
    browser
        .wait_js(
            "the role changed",
            "return document.getElementById('console-notice').textContent.includes('is now gym-admin')",
        )
        .await;
    let users = api.get("/users?role=gym-admin", &admin).await;
    let admins: Vec<i64> = users
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert!(admins.contains(&coach01), "{}", users.json);

    // ---- Invitations ---------------------------------------------------------------
    open_section(&browser, &base, "invitations").await;
    browser
        .client
        .execute(
            "document.getElementById('invite-role').value = 'coach'; return true;",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#invite-submit").await;
    let code = browser
        .wait_js(
            "the new invitation's code",
            "const c = document.getElementById('invite-code'); return !c.hidden && c.dataset.code",
        )
        .await;
    let code = code.as_str().unwrap().to_owned();
    assert!(code.starts_with("pli_"), "{code}");
    let listed = browser
        .wait_js(
            "the open invitation listed first",
            "const r = document.querySelector('#invitations-list tr'); return r && r.dataset.state === 'open' && [...r.children].map(td => td.textContent)",
        )
        .await;
    assert_eq!(listed[1], "coach", "{listed}");
    assert_eq!(listed[4], "open", "{listed}");
    screenshot(&browser, "console-invitations.png").await;
    browser.click("#invitations-list tr .revoke").await;
    browser
        .wait_js(
            "the invitation revoked",
            "const r = document.querySelector('#invitations-list tr'); return r && r.dataset.state === 'revoked' && !r.querySelector('.revoke')",
        )
        .await;
    let refused = api
        .post(
            "/auth/register",
            None,
            json!({"email": "late@console.example", "password": PASSWORD, "name": "Late", "invitation": code}),
        )
        .await;
    assert_ne!(refused.status, 201, "a revoked invitation registers no one");

    // ---- System health -------------------------------------------------------------
    open_section(&browser, &base, "health").await;
    let parts = browser
        .wait_js(
            "the parts",
            "return [...document.querySelectorAll('#health-parts tr')].map(r => [r.dataset.part, r.children[1].textContent])",
        )
        .await;
    assert_eq!(
        parts,
        json!([
            ["store", "ok"],
            ["engine", "ok"],
            ["broker", "ok"],
            ["live", "0"]
        ])
    );
    let jobs = browser
        .wait_js("the job counts", &rows_js("health-jobs"))
        .await;
    assert_eq!(jobs, json!([["0"], ["0"], ["0"], ["0"], ["0"]]));
    let errors = browser
        .wait_js("the error counters", &rows_js("health-errors"))
        .await;
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 8, "{errors:?}");
    assert_eq!(errors[4][0], "login failures");
    assert_eq!(errors[4][1], "1", "the failed login");
    screenshot(&browser, "console-health.png").await;

    // ---- Data quality --------------------------------------------------------------
    open_section(&browser, &base, "data-quality").await;
    let profiles = browser
        .wait_js("the missing profiles", &rows_js("dq-profiles"))
        .await;
    assert_eq!(
        profiles,
        json!([["Bea Bare", "ftp, hr max, hr rest, weight kg"]])
    );
    let devices = browser
        .wait_js("the silent devices", &rows_js("dq-devices"))
        .await;
    assert_eq!(devices[0][0], device.device.as_str(), "{devices}");
    assert_eq!(devices[0][1], "Bea Bare");
    assert!(
        devices[0][2]
            .as_str()
            .unwrap()
            .starts_with("never (paired "),
        "{devices}"
    );
    assert_eq!(devices.as_array().unwrap().len(), 1);
    let skew = browser
        .wait_js("the skewed activities", &rows_js("dq-skew"))
        .await;
    assert_eq!(skew[0][0], format!("#{skewed_id}"), "{skew}");
    assert_eq!(skew[0][1], "Ana Full");
    assert_eq!(skew[0][3], "starts_in_future");
    screenshot(&browser, "console-data-quality.png").await;

    // ---- Audit ---------------------------------------------------------------------
    open_section(&browser, &base, "audit").await;
    browser.fill("#audit-action", "invitation.*").await;
    browser.click("#audit-submit").await;
    let actions = browser
        .wait_js(
            "the invitation entries",
            "const a = [...document.querySelectorAll('#audit-list tr')].map(r => r.dataset.action);
             return a.length > 0 && a.every(x => x.startsWith('invitation.')) && a",
        )
        .await;
    // Eleven invitations by the API, one from the page, and its revocation.
    assert_eq!(actions.as_array().unwrap().len(), 13, "{actions}");
    assert_eq!(actions[0], "invitation.revoke");
    screenshot(&browser, "console-audit.png").await;

    // ---- View as, from the users page, onto a read-only Today ------------------------
    open_section(&browser, &base, "users").await;
    browser.fill("#users-q", "ana@").await;
    browser.click("#users-submit").await;
    browser
        .wait_js(
            "Ana alone",
            &format!("const r = document.querySelectorAll('#users-list tr'); return r.length === 1 && r[0].dataset.user === '{ana_id}'"),
        )
        .await;
    browser.click("#users-list tr .view-as-user").await;
    let shown = browser
        .wait_js(
            "her Today, read-only",
            &format!(
                "const b = document.getElementById('view-as'); const s = document.getElementById('workout-result');
                 return location.pathname === '/athletes/{ana}/today' && b && s && s.textContent.length > 0
                   && [b.textContent.startsWith('Viewing as ana@console.example'), s.textContent,
                       document.getElementById('today-error').textContent,
                       document.getElementById('checkin-submit').disabled, document.getElementById('regenerate').hidden]"
            ),
        )
        .await;
    assert_eq!(
        shown,
        json!([true, "Read-only view: the plan as stored.", "", true, true])
    );
    screenshot(&browser, "console-view-as-today.png").await;
    let nav = browser
        .wait_js(
            "her navigation",
            "return [...document.querySelectorAll('#top nav a')].map(a => a.textContent)",
        )
        .await;
    assert!(
        !nav.as_array().unwrap().contains(&json!("Console")),
        "{nav}"
    );
    browser.click("#stop-view-as").await;
    browser
        .wait_js(
            "the admin back",
            "const m = JSON.parse(sessionStorage.getItem('paceline.me') || 'null'); return m && m.user.role === 'gym-admin' && !document.getElementById('view-as')",
        )
        .await;
}
