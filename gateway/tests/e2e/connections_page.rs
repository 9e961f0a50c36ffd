//! The Connections page in a real headless Chromium against a gateway and the local
//! provider servers (`paceline-providers`, 5 seeded activities, tokens living 60 s so each
//! job refreshes first; Strava configured, Garmin not): an athlete opens Connections (Garmin "not offered by this server"), reads what
//! Paceline will read before leaving, connects Strava through the provider's authorize
//! page and the browser's redirect back (the callback without a token sends the browser
//! to the page, whose script completes it with the athlete's token), sees "connected"
//! and the activities arriving, syncs now, sees a refused refresh as "needs
//! re-authorization" with a Re-authorize button, and disconnects after confirming.

use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use serde_json::json;

use crate::browser::{log_in, screenshot};
use crate::harness::*;
use crate::sync::{Providers, VERIFY_TOKEN};

/// The card of `provider`: `[status, status text, imported text, buttons]`.
fn card_js(provider: &str) -> String {
    format!(
        "const c = document.querySelector(\"article.connection[data-provider='{provider}']\");
         if (!c) return null;
         const text = (sel) => {{ const n = c.querySelector(sel); return n ? n.textContent : null; }};
         const state = [c.dataset.status, text('.conn-status'), text('.conn-imported'),
             [...c.querySelectorAll('button')].map(b => b.textContent), text('.conn-message')];"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_reads_the_consent_connects_strava_syncs_sees_reauth_and_disconnects() {
    let providers = Providers::start(&["--activities", "5", "--token-lifetime-s", "60"]);
    let mut gateway = paceline()
        .env("PACELINE_STRAVA_BASE_URL", &providers.base)
        .env("PACELINE_STRAVA_CLIENT_ID", "paceline-test-client")
        .env("PACELINE_STRAVA_CLIENT_SECRET", "paceline-test-secret")
        .env("PACELINE_STRAVA_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("PACELINE_OUTBOUND_ALLOW_PRIVATE", "true")
        .build();
    let base = format!("http://{}", gateway.http);
    // The provider sends the browser back to this very gateway.
    gateway.set_env("PACELINE_PUBLIC_URL", &base);
    gateway.launch().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@conn.example", "Conn Gym").await);
    let ana = api.create_athlete(&admin, "Ana Connect").await;
    api.invite_and_register(&admin, "athlete", "ana@conn.example", Some(ana))
        .await;

    let browser = Browser::start().await;
    log_in(&browser, &base, "ana@conn.example").await;
    let nav = browser
        .wait_js(
            "the navigation",
            "return [...document.querySelectorAll('#top nav a')].map(a => a.textContent)",
        )
        .await;
    assert!(
        nav.as_array().unwrap().contains(&json!("Connections")),
        "{nav}"
    );
    browser.click("#top nav a[href='/connections']").await;
    let strava = card_js("strava");
    let garmin = card_js("garmin");
    let cards = browser
        .wait_js(
            "the provider cards",
            &format!(
                "{garmin} const g = state; {{ {strava}
                 return location.pathname === '/athletes/{ana}/connections' && [state, g]; }}"
            ),
        )
        .await;
    assert_eq!(
        cards,
        json!([
            ["not_connected", "Not connected", null, ["Connect"], ""],
            ["not_offered", "Not offered by this server", null, [], ""]
        ])
    );

    // Connect: first what Paceline will read, and the page has not left.
    browser
        .click("article.connection[data-provider='strava'] .conn-connect")
        .await;
    let consent = browser
        .wait_js(
            "the consent text",
            "const s = document.getElementById('consent');
             return !s.hidden && [location.pathname, document.getElementById('consent-text').textContent,
                 [...document.querySelectorAll('#consent-reads li')].map(li => li.textContent),
                 document.getElementById('consent-go').textContent]",
        )
        .await;
    assert_eq!(consent[0], json!(format!("/athletes/{ana}/connections")));
    assert!(
        consent[1]
            .as_str()
            .unwrap()
            .contains("read,activity:read_all"),
        "{consent}"
    );
    assert!(
        consent[2][0]
            .as_str()
            .unwrap()
            .starts_with("your activities (all of them, private ones too) and their streams"),
        "{consent}"
    );
    assert_eq!(consent[3], "Continue to Strava");
    assert_eq!(providers.hits("/oauth/authorize").await, 0);
    browser.click("#consent-go").await;

    // The provider's page approves and redirects back; the page completes the connect
    // and the backfill brings the 5 activities.
    let connected = browser
        .wait_js(
            "Strava connected with 5 activities",
            &format!(
                "{strava} return location.pathname === '/athletes/{ana}/connections' &&
                 state[0] === 'connected' && state[2] === 'Activities imported: 5' &&
                 [state, document.getElementById('connections-notice').textContent]"
            ),
        )
        .await;
    assert_eq!(providers.hits("/oauth/authorize").await, 1);
    assert_eq!(
        connected,
        json!([
            [
                "connected",
                "Connected",
                "Activities imported: 5",
                ["Sync now", "Disconnect"],
                ""
            ],
            "Strava is connected: your history is being imported."
        ])
    );
    let url = browser.client.current_url().await.unwrap();
    assert!(
        !url.as_str().contains("code="),
        "the code is not kept: {url}"
    );
    screenshot(&browser, "connections.png").await;
    let listed = api.get("/connections", &admin).await.json;
    assert_eq!(listed["connections"][0]["athlete_id"], ana);
    assert_eq!(listed["connections"][0]["activities_imported"], 5);

    // Sync now.
    browser
        .click("article.connection[data-provider='strava'] .conn-sync-now")
        .await;
    let message = browser
        .wait_js(
            "the sync queued",
            &format!("{strava} return !state[4].endsWith('…') && state[4]"),
        )
        .await;
    assert!(
        message == json!("Sync queued.") || message == json!("A sync is already waiting."),
        "{message}"
    );

    // Strava refuses the refresh: the page says so and offers to re-authorize.
    providers
        .admin(
            "/admin/faults",
            json!({"faults": [{"kind": "invalid_grant", "path_prefix": "/oauth/token"}]}),
        )
        .await;
    // Wait for the athlete's sync to finish, then ask again (the refresh is refused).
    paceline_testkit::wait_until(
        "the sync to be refused",
        paceline_testkit::DEADLINE * 2,
        async || {
            let reply = api
                .post(
                    "/connections/strava/sync",
                    Some(&admin),
                    json!({"athlete_id": ana}),
                )
                .await;
            reply.status == 409
        },
    )
    .await;
    let reauth = browser
        .wait_js(
            "the re-authorize button",
            &format!("{strava} return state[0] === 'needs_reauth' && state"),
        )
        .await;
    assert_eq!(
        (&reauth[1], &reauth[3]),
        (
            &json!("Needs re-authorization"),
            &json!(["Re-authorize", "Disconnect"])
        )
    );

    // Disconnect, after confirming.
    let deauthorized = providers.hits("/oauth/deauthorize").await;
    browser
        .click("article.connection[data-provider='strava'] .conn-disconnect")
        .await;
    let confirm = browser
        .wait_js(
            "the confirmation",
            &format!("{strava} return state[3].includes('Yes, disconnect') && state[3]"),
        )
        .await;
    assert_eq!(confirm, json!(["Re-authorize", "Yes, disconnect", "Keep"]));
    assert_eq!(
        api.get("/connections", &admin).await.json["connections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    browser
        .click("article.connection[data-provider='strava'] .conn-disconnect-yes")
        .await;
    let gone = browser
        .wait_js(
            "Strava disconnected",
            &format!("{strava} return state[0] === 'not_connected' && state"),
        )
        .await;
    assert_eq!(
        gone,
        json!([
            "not_connected",
            "Not connected",
            null,
            ["Connect"],
            "Strava is disconnected."
        ])
    );
    assert_eq!(
        api.get("/connections", &admin).await.json["connections"],
        json!([])
    );
    assert_eq!(providers.hits("/oauth/deauthorize").await, deauthorized + 1);
}
