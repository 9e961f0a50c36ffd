//! The web UI in a real headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini): a coach logs in, watches the live board while four athletes ride (one
//! through the heart-rate cap), sees the tiles update and the safety cue appear, opens an
//! athlete's screen and gives "5 minutes left" and a target override, sees the board go
//! stale when the riders stop, then opens the finished session with its chart and summary
//! and the plan library with its step chart. Every tile shows its strap's battery (one
//! low). An edge agent's simulated rider's battery reaches its tile, and a plan uploaded
//! through the page's file input shows its chart. An athlete sees only their own ride,
//! no plans and no coach controls, and another athlete's session is not found; her
//! library is her own and another's is not found. A coach chooses among their linked
//! athletes and fills one's activity library through the page: two shared FIT files
//! through the file input (listed with a `file` badge), one again (`duplicate`), a dropped
//! file that is no activity (`failed`, with the reason), an entry by hand (a field-named
//! error, then a `manual` badge), the sport filter and "Load more"; then opens the ride:
//! summary, chart, sources with what each gave, export links, a hand-typed copy merged
//! into it split back out with "Unmerge", and that copy deleted after the confirmation.
//!
//! Screenshots go to `$CARGO_TARGET_TMPDIR/screenshots/`; with
//! `PACELINE_UPDATE_SCREENSHOTS=1` they also replace the ones in `docs/screenshots/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::Locator;
use paceline_schemas::{DeviceStatus, Payload, SensorKind, SensorReport, SessionId};
use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use paceline_testkit::riders;
use reqwest::Method;
use serde_json::json;

use crate::harness::*;

/// Takes a screenshot into `$CARGO_TARGET_TMPDIR/screenshots/`, and into
/// `docs/screenshots/` too with `PACELINE_UPDATE_SCREENSHOTS=1`.
pub(crate) async fn screenshot(browser: &Browser, name: &str) {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    if std::env::var_os("PACELINE_UPDATE_SCREENSHOTS").is_some() {
        browser.screenshot(name, &[&tmp, &docs]).await;
    } else {
        browser.screenshot(name, &[&tmp]).await;
    }
}

/// Logs in at `/login` and waits for the live board.
pub(crate) async fn log_in(browser: &Browser, base: &str, email: &str) {
    browser.client.goto(&format!("{base}/login")).await.unwrap();
    browser
        .wait_js(
            "the login page",
            "return !!document.getElementById('email')",
        )
        .await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser
        .wait_js(
            "the board, live",
            "return location.pathname === '/board' && document.getElementById('conn').textContent === 'live'",
        )
        .await;
}

/// A strap and a power meter, connected, the strap's battery at `hr_battery_pct`.
fn sensors(hr_battery_pct: u8) -> Payload {
    Payload::DeviceStatus(DeviceStatus {
        t_ms: 0,
        sensors: vec![
            SensorReport {
                kind: SensorKind::HeartRate,
                connected: true,
                battery_pct: Some(hr_battery_pct),
            },
            SensorReport {
                kind: SensorKind::Power,
                connected: true,
                battery_pct: None,
            },
        ],
    })
}

/// Sends the device's sensor status as seq 1, then rides one second at a time until
/// `stop` (at most 5 minutes); the next seq.
async fn ride(
    device: &MqttDevice,
    session: &SessionId,
    stop: &AtomicBool,
    hr_battery_pct: u8,
    bpm: impl Fn(u64) -> u16,
    power_w: impl Fn(u64) -> i16,
) -> u64 {
    device.send(session, 1, &sensors(hr_battery_pct)).await;
    let start = tokio::time::Instant::now();
    let mut seq = 2;
    for i in 0..300 {
        tokio::time::sleep_until(start + Duration::from_secs(i)).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        device
            .send(session, seq, &ride_batch(i * 1000, bpm(i), power_w(i)))
            .await;
        seq += 1;
    }
    seq
}

/// The straps' battery levels of the four riders, %: Ben's is low.
const BATTERIES_PCT: [u8; 4] = [64, 15, 88, 41];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_watches_and_steers_a_class_in_the_browser() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("coach@browser.example", "Browser Cycling")
            .await,
    );
    let zwo = include_bytes!("../../src/demo/demo-intervals.zwo").to_vec();
    let plan = api
        .post_raw("/plans?file_name=demo-intervals.zwo", &admin, zwo)
        .await;
    assert_eq!(plan.status, 201, "{}", plan.json);
    let plan_id = plan.json["id"].as_i64().unwrap();

    // Four athletes, each with a paired trainer and the plan for their next session.
    let names = ["Ana Overheat", "Ben Steady", "Cleo Tempo", "Dev Easy"];
    let mut riders = Vec::new();
    for name in names {
        let athlete = api.create_athlete(&admin, name).await;
        let assigned = api
            .call(
                Method::PUT,
                &format!("/athletes/{athlete}/next-plan"),
                Some(&admin),
                Some(json!({"plan_id": plan_id})),
            )
            .await;
        assert_eq!(assigned.status, 200, "{}", assigned.json);
        let creds = api.pair(&admin, athlete).await;
        riders.push((athlete, MqttDevice::connect(&gateway, &creds).await));
    }

    // Log in.
    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    browser.client.goto(&format!("{base}/board")).await.unwrap();
    browser
        .wait_js(
            "the login page",
            "return location.pathname === '/login' && !!document.getElementById('email')",
        )
        .await;
    browser.fill("#email", "coach@browser.example").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser
        .wait_js(
            "the board, live",
            "return location.pathname === '/board' && document.getElementById('conn').textContent === 'live'",
        )
        .await;

    // They ride: Ana through the cap (176 bpm) from her 4th second, the others steady.
    let stop = Arc::new(AtomicBool::new(false));
    let mut rides = Vec::new();
    for (index, (_, device)) in riders.into_iter().enumerate() {
        let stop = Arc::clone(&stop);
        rides.push(tokio::spawn(async move {
            let session = session_id(&format!("browser-{index}"));
            let base_bpm = [150u16, 128, 146, 112][index];
            let power = [190i16, 150, 210, 110][index];
            let next = ride(
                &device,
                &session,
                &stop,
                BATTERIES_PCT[index],
                move |i| {
                    if index == 0 && (3..20).contains(&i) {
                        182
                    } else {
                        base_bpm + u16::try_from(i % 5).unwrap()
                    }
                },
                move |i| power + i16::try_from(i % 7).unwrap() * 3,
            )
            .await;
            (device, session, next)
        }));
    }
    let ana = names[0];
    let ben = names[1];

    // The tiles fill in and update; Ana's shows the safety cue.
    browser
        .wait_js(
            "four tiles with heart rate and power",
            "const tiles = [...document.querySelectorAll('.tile')];
             return tiles.length === 4 && tiles.every(t =>
                 /^\\d+$/.test(t.querySelector('.bpm').textContent)
                 && /^\\d+$/.test(t.querySelector('.power').textContent))",
        )
        .await;
    let first = browser
        .wait_js(
            "a heart rate on Ana's tile",
            &format!(
                "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === '{ana}');
                 return t && /^Z[1-5]$/.test(t.querySelector('.zone').textContent)
                     && t.querySelector('.bpm').textContent"
            ),
        )
        .await;
    let cue = browser
        .wait_js(
            "the safety cue on Ana's tile",
            &format!(
                "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === '{ana}');
                 const c = t && t.querySelector('.cue.safety');
                 return c && t.classList.contains('alert') && c.textContent"
            ),
        )
        .await;
    assert!(cue.as_str().unwrap().contains("SAFETY"), "{cue}");
    browser
        .wait_js(
            "Ana's heart rate to change on her tile",
            &format!(
                "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === '{ana}');
                 return t.querySelector('.bpm').textContent !== {first}"
            ),
        )
        .await;
    browser
        .wait_js(
            "steps with time left on every tile",
            "return [...document.querySelectorAll('.tile .step')].every(s => / left/.test(s.textContent))",
        )
        .await;
    // Each tile shows its strap's battery in words; Ben's, under 20 %, says it is low.
    for (name, pct) in names.iter().zip(BATTERIES_PCT) {
        let low = if pct < 20 { " (low)" } else { "" };
        let battery = browser
            .wait_js(
                &format!("{name}'s battery on the tile"),
                &format!(
                    "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === '{name}');
                     const b = t && t.querySelector('.battery');
                     return b && b.textContent.startsWith('HR battery {pct} %{low} · power connected')
                         && b.classList.contains('bad') === {bad} && b.textContent",
                    bad = pct < 20,
                ),
            )
            .await;
        assert_eq!(
            battery,
            format!("HR battery {pct} %{low} · power connected"),
            "{name}"
        );
    }
    assert!(BATTERIES_PCT[1] < 20, "{ben}'s strap is the low one");
    screenshot(&browser, "board.png").await;

    // Her screen, from her tile (keyboard: the tile is a link).
    let session_row: i64 = browser
        .wait_js(
            "Ana's session id",
            &format!(
                "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === '{ana}');
                 return t && Number(t.dataset.session)"
            ),
        )
        .await
        .as_i64()
        .unwrap();
    browser
        .click(&format!(".tile[data-session='{session_row}']"))
        .await;
    browser
        .wait_js(
            "her screen with live numbers and the coach's controls",
            &format!(
                "return location.pathname === '/live/{session_row}'
                 && document.getElementById('athlete-name').textContent === '{ana}'
                 && /^\\d+$/.test(document.getElementById('hr').textContent)
                 && / left$/.test(document.getElementById('plan-left').textContent)
                 && !document.getElementById('override').hidden
                 && document.querySelector('#cues li.safety[data-code=hr_above_cap]') !== null"
            ),
        )
        .await;
    browser.fill("#time-left-minutes", "5").await;
    browser.click("#time-left-submit").await;
    let compressed = browser
        .wait_js(
            "the coach's time budget to take effect",
            "const c = document.querySelector('#cues li[data-code=time_budget_compressed]');
             return c && c.textContent",
        )
        .await;
    assert!(
        compressed.as_str().unwrap().contains("5 minutes left"),
        "{compressed}"
    );
    browser
        .wait_js(
            "the plan clock at five minutes or less",
            "const [m, s] = document.getElementById('plan-left').textContent.split(' ')[0].split(':').map(Number);
             return m * 60 + s <= 300",
        )
        .await;
    browser.fill("#override-low", "120").await;
    browser.fill("#override-high", "130").await;
    browser.click("#override-submit").await;
    let overridden = browser
        .wait_js(
            "the coach's override to take effect",
            "const c = document.querySelector('#cues li[data-code=coach_override]');
             return c && document.getElementById('command-result').textContent.startsWith('Sent')
                 && c.textContent",
        )
        .await;
    assert!(overridden.as_str().unwrap().contains("120"), "{overridden}");
    screenshot(&browser, "athlete.png").await;

    // The riders stop: the board says so within seconds.
    stop.store(true, Ordering::Relaxed);
    let mut ended = Vec::new();
    for ride in rides {
        ended.push(ride.await.unwrap());
    }
    browser.client.goto(&format!("{base}/board")).await.unwrap();
    browser
        .wait_js(
            "every tile to show its sensor as stale or lost",
            "const tiles = [...document.querySelectorAll('.tile')];
             return tiles.length === 4 && tiles.every(t =>
                 /stale|lost/.test(t.querySelector('.sensor').textContent)
                 && t.querySelector('.sensor').classList.contains('bad'))",
        )
        .await;
    for (device, session, next) in &ended {
        device.send(session, *next, &end()).await;
    }
    let conn = gateway.db();
    for (device, session, next) in &mut ended {
        device.inbox.wait_ack(session, *next).await;
        wait_until("the session's summary", DEADLINE, async || {
            session_status(&conn, session)
                .filter(|(status, summary)| status == "ended" && summary.is_some())
        })
        .await;
    }

    // The finished session: in the list, with its summary, zones, chart and cues.
    browser
        .client
        .goto(&format!("{base}/sessions"))
        .await
        .unwrap();
    browser
        .wait_js(
            "the session in the list",
            &format!(
                "return document.querySelector('tr[data-session=\"{session_row}\"] a') !== null"
            ),
        )
        .await;
    browser
        .click(&format!("tr[data-session='{session_row}'] a"))
        .await;
    browser
        .wait_js(
            "the session's summary, zones and chart",
            "const img = document.querySelector('#chart img');
             return location.pathname.startsWith('/sessions/')
                 && document.querySelector('#summary [data-metric=max_hr_bpm] dd') !== null
                 && document.querySelectorAll('#zones .bar').length === 5
                 && document.querySelector('#cues li[data-code=hr_above_cap]') !== null
                 && img !== null && img.complete && img.naturalWidth > 0",
        )
        .await;
    let max_hr = browser
        .wait_js(
            "the max heart rate",
            "return document.querySelector('#summary [data-metric=max_hr_bpm] dd').textContent",
        )
        .await;
    assert_eq!(max_hr, "182 bpm");
    screenshot(&browser, "session.png").await;

    // The plan library: the step chart and assigning it.
    browser.client.goto(&format!("{base}/plans")).await.unwrap();
    browser
        .wait_js(
            "the plan in the library",
            &format!("return document.querySelector('button[data-plan=\"{plan_id}\"]') !== null"),
        )
        .await;
    browser
        .click(&format!("button[data-plan='{plan_id}']"))
        .await;
    browser
        .wait_js(
            "the plan's step chart and steps",
            "const img = document.querySelector('#plan-chart img');
             return img !== null && img.complete && img.naturalWidth > 0
                 && document.querySelectorAll('#plan-steps tr').length > 3",
        )
        .await;
    browser.click("#assign-submit").await;
    browser
        .wait_js(
            "the plan assigned",
            "return document.getElementById('assign-result').textContent.startsWith('Assigned')",
        )
        .await;
    screenshot(&browser, "plans.png").await;
    browser.client.clone().close().await.unwrap();
}

/// The text of the navigation links, in order.
const NAV_LINKS: &str =
    "return [...document.querySelectorAll('#top nav a')].map(a => a.textContent)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_riders_battery_on_the_board_and_a_plan_uploaded_through_the_page() {
    use paceline_edge::simulator::{SimulatedAthlete, SimulatorConfig};

    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    api.register_gym("coach@battery.example", "Battery Cycling")
        .await;
    let admin = access(&api.login("coach@battery.example", PASSWORD).await.json);
    let athlete = api.create_athlete(&admin, "Sim Rider").await;
    let creds = api.pair(&admin, athlete).await;

    // The edge agent's simulator, seeded so that its strap starts on a low battery.
    let config = (1..)
        .map(|seed| SimulatorConfig {
            seed,
            duration_s: Some(240),
            ..SimulatorConfig::default()
        })
        .find(|config| {
            SimulatedAthlete::new(config.clone())
                .batteries_at(0)
                .iter()
                .any(|&(kind, pct)| kind == SensorKind::HeartRate && pct < 20)
        })
        .unwrap();
    let batteries = SimulatedAthlete::new(config.clone()).batteries_at(0);
    let pct_of = |kind| {
        batteries
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, pct)| *pct)
            .unwrap()
    };
    let (hr_pct, power_pct) = (pct_of(SensorKind::HeartRate), pct_of(SensorKind::Power));
    let spool = gateway.data_dir.join("agent-spool");
    let sim = riders::simulated("sim", creds, config);
    let agent = riders::start_agent(gateway.mqtt_uplink(), &spool, vec![sim], |_| {}).await;

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "coach@battery.example").await;
    let expected = format!("HR battery {hr_pct} % (low) · power battery {power_pct} %");
    let battery = browser
        .wait_js(
            "the simulated rider's batteries on the tile",
            "const t = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === 'Sim Rider');
             const b = t && t.querySelector('.battery');
             return b && b.textContent !== '' && b.classList.contains('bad') && b.textContent",
        )
        .await;
    let battery = battery.as_str().unwrap().to_owned();
    assert!(
        battery.starts_with(&expected),
        "the tile reads {battery:?}, the simulator set {expected:?}"
    );
    // Stored like any other frame: the device status frame is in the session's frames.
    let conn = gateway.db();
    wait_until("the device status frame stored", DEADLINE, async || {
        conn.query_row(
            "SELECT count(*) FROM stored_frames WHERE kind = 'device_status'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .ok()
        .filter(|n| *n >= 1)
    })
    .await;
    agent.shutdown().await;

    // A plan uploaded through the page's file input, then its chart and steps.
    let plan_path = gateway.data_dir.join("threshold-upload.zwo");
    std::fs::write(
        &plan_path,
        include_bytes!("../../src/demo/demo-threshold.zwo"),
    )
    .unwrap();
    browser.client.goto(&format!("{base}/plans")).await.unwrap();
    browser
        .wait_js(
            "the plans page",
            "return !!document.getElementById('plan-file')",
        )
        .await;
    browser
        .client
        .find(Locator::Css("#plan-file"))
        .await
        .unwrap()
        .send_keys(&plan_path.display().to_string())
        .await
        .unwrap();
    browser.click("#upload-submit").await;
    let result = browser
        .wait_js(
            "the upload's result",
            "const r = document.getElementById('upload-result').textContent;
             return r !== '' && r !== 'Uploading…' && r",
        )
        .await;
    assert!(
        result.as_str().unwrap().starts_with("Uploaded "),
        "{result}"
    );
    browser
        .wait_js(
            "the uploaded plan's chart and steps",
            "const img = document.querySelector('#plan-chart img');
             return !document.getElementById('plan-detail').hidden
                 && document.querySelectorAll('#plans button[data-plan]').length === 1
                 && img !== null && img.complete && img.naturalWidth > 0
                 && document.querySelectorAll('#plan-steps tr').length > 1",
        )
        .await;
    let plans = api.get("/plans", &admin).await;
    assert_eq!(
        plans.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        plans.json
    );
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_sees_only_their_own_rides_and_no_coach_controls() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@own.example", "Own Rides").await);
    let ana = api.create_athlete(&admin, "Ana Own").await;
    let ben = api.create_athlete(&admin, "Ben Other").await;
    api.invite_and_register(&admin, "athlete", "ana@own.example", Some(ana))
        .await;
    api.invite_and_register(&admin, "athlete", "ben@own.example", Some(ben))
        .await;
    let ana_device = MqttDevice::connect(&gateway, &api.pair(&admin, ana).await).await;
    let mut ben_device = MqttDevice::connect(&gateway, &api.pair(&admin, ben).await).await;

    // Both ride; Ben's frames are stored before Ana looks at the board.
    let stop = Arc::new(AtomicBool::new(false));
    let ana_ride = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let session = session_id("own-ana");
            let next = ride(&ana_device, &session, &stop, 70, |_| 130, |_| 160).await;
            (ana_device, session, next)
        })
    };
    let ben_session = session_id("own-ben");
    let ben_next = ride_mqtt(&ben_device, &ben_session, 1, 3, |_| 140).await;
    ben_device.inbox.wait_ack(&ben_session, ben_next - 1).await;
    let conn = gateway.db();
    let ben_row: i64 = conn
        .query_row(
            "SELECT id FROM sessions WHERE session_id = ?1",
            [ben_session.as_str()],
            |row| row.get(0),
        )
        .unwrap();

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "ana@own.example").await;
    let nav = browser.wait_js("the navigation", NAV_LINKS).await;
    assert_eq!(
        nav,
        json!([
            "Today",
            "Insights",
            "Chat",
            "Live board",
            "Sessions",
            "Library",
            "Connections"
        ]),
        "no plans for an athlete"
    );
    let who = browser
        .wait_js(
            "who is logged in",
            "return document.querySelector('#top .who').textContent",
        )
        .await;
    assert!(who.as_str().unwrap().contains("athlete"), "{who}");
    browser
        .wait_js(
            "Ana's tile with her heart rate",
            "const tiles = [...document.querySelectorAll('.tile')];
             return tiles.length === 1 && tiles[0].querySelector('.name').textContent === 'Ana Own'
                 && tiles[0].querySelector('.bpm').textContent === '130'",
        )
        .await;
    // Ben keeps riding: his samples never reach her board.
    let ben_next = ride_mqtt(&ben_device, &ben_session, ben_next, 3, |_| 141).await;
    ben_device.inbox.wait_ack(&ben_session, ben_next - 1).await;
    let tiles = browser
        .wait_js(
            "the board's tiles",
            "return [...document.querySelectorAll('.tile .name')].map(n => n.textContent)",
        )
        .await;
    assert_eq!(tiles, json!(["Ana Own"]));

    // Her own screen: the live numbers, no coach controls.
    browser.click(".tile").await;
    browser
        .wait_js(
            "her screen without coach controls",
            "return location.pathname.startsWith('/live/')
                 && /^\\d+$/.test(document.getElementById('hr').textContent)
                 && document.querySelectorAll('.staff-only').length > 0
                 && [...document.querySelectorAll('.staff-only')].every(f => f.hidden)
                 && document.getElementById('override').hidden",
        )
        .await;
    let visible_buttons = browser
        .wait_js(
            "the buttons she can see",
            "return [...document.querySelectorAll('button')].filter(b => b.offsetParent !== null).map(b => b.id)",
        )
        .await;
    // Her own ride's controls (as from her device), not the coach's override or time
    // budget.
    assert_eq!(
        visible_buttons,
        json!(["logout", "pause", "resume", "skip", "end"]),
        "no coach controls"
    );
    let battery = browser
        .wait_js(
            "her coach's status and her strap's battery",
            "const b = document.getElementById('battery');
             return /^Z[1-5]$/.test(document.getElementById('hr-zone').textContent)
                 && !b.hidden && b.textContent",
        )
        .await;
    assert_eq!(battery, "HR battery 70 % · power connected");
    screenshot(&browser, "athlete-own.png").await;

    // Only her session in the history; Ben's session page is not found.
    browser
        .client
        .goto(&format!("{base}/sessions"))
        .await
        .unwrap();
    let rows = browser
        .wait_js(
            "her sessions",
            "const rows = [...document.querySelectorAll('tr[data-session]')];
             return rows.length > 0 && rows.map(r => r.textContent)",
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].as_str().unwrap().contains("Ana Own"), "{rows:?}");
    browser
        .client
        .goto(&format!("{base}/sessions/{ben_row}"))
        .await
        .unwrap();
    let title = browser
        .wait_js(
            "Ben's session page to answer",
            "const t = document.getElementById('title').textContent;
             return /\\(\\d{3}\\)$/.test(t) && t",
        )
        .await;
    assert!(
        title.as_str().unwrap().ends_with("(404)"),
        "another athlete's session is not found: {title}"
    );
    let page = browser
        .wait_js(
            "the page without the session's parts",
            "return [...document.querySelectorAll('main > :not(#title)')].every(p => p.offsetParent === null)
                && document.body.innerText",
        )
        .await;
    assert!(!page.as_str().unwrap().contains("Ben Other"), "{page}");
    assert!(!page.as_str().unwrap().contains("Export"), "{page}");

    // Her library is her own: the navigation's link goes there; Ben's is not found.
    browser.click("#top nav a[href='/library']").await;
    browser
        .wait_js(
            "her own library",
            &format!(
                "return location.pathname === '/athletes/{ana}/library'
                     && document.getElementById('title').textContent === 'Activity library — Ana Own'
                     && !document.getElementById('library').hidden"
            ),
        )
        .await;
    browser
        .client
        .goto(&format!("{base}/athletes/{ben}/library"))
        .await
        .unwrap();
    let refused = browser
        .wait_js(
            "Ben's library to answer",
            "const e = document.getElementById('library-error').textContent;
             return e !== '' && document.getElementById('library').hidden && e",
        )
        .await;
    assert!(refused.as_str().unwrap().ends_with("(404)"), "{refused}");

    stop.store(true, Ordering::Relaxed);
    let (ana_device, ana_session, next) = ana_ride.await.unwrap();
    ana_device.send(&ana_session, next, &end()).await;
    ben_device.send(&ben_session, ben_next, &end()).await;
    browser.client.clone().close().await.unwrap();
}

/// A shared FIT file, by name (`shared/data/fit`).
const EDGE_810_FIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/fit/Edge810-Vector-2013-08-16-15-35-10.fit"
);
const FENIX_2_RUN_FIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/fit/activity-small-fenix2-run.fit"
);

/// Chooses `paths` in the file input `css` (canonical, one per line, as chromedriver
/// takes several).
async fn choose_files(browser: &Browser, css: &str, paths: &[&str]) {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|e| panic!("{p}: {e}"))
                .display()
                .to_string()
        })
        .collect();
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no file input {css}: {e}"))
        .send_keys(&paths.join("\n"))
        .await
        .expect("choose the files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_fills_an_athletes_activity_library_in_the_browser() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("admin@library.example", "Library Cycling")
            .await,
    );
    let athlete = api.create_athlete(&admin, "Lia Library").await;
    api.create_athlete(&admin, "Olek Unlinked").await;
    // A coach linked to Lia only.
    let coach = api
        .invite_and_register(&admin, "coach", "coach@library.example", None)
        .await;
    let coach_id = coach["user"]["id"].as_i64().unwrap();
    let linked = api
        .call(
            Method::PUT,
            &format!("/athletes/{athlete}/coaches/{coach_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(linked.status < 300, "{}", linked.json);

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "coach@library.example").await;

    // The navigation's library: the coach chooses among their linked athletes; an empty
    // library says so.
    browser.click("#top nav a[href='/library']").await;
    let choices = browser
        .wait_js(
            "the athletes to choose",
            "const links = [...document.querySelectorAll('#choose a[data-athlete]')];
             return links.length > 0 && links.map(a => a.textContent)",
        )
        .await;
    assert_eq!(choices, json!(["Lia Library"]), "linked athletes only");
    browser
        .click(&format!("#choose a[data-athlete='{athlete}']"))
        .await;
    let empty = browser
        .wait_js(
            "the empty library",
            &format!(
                "return location.pathname === '/athletes/{athlete}/library'
                     && !document.getElementById('library').hidden
                     && !document.getElementById('library-empty').hidden
                     && document.getElementById('title').textContent"
            ),
        )
        .await;
    assert_eq!(empty, "Activity library — Lia Library");

    // Two FIT files through the file input: each imported, listed with a `file` badge.
    choose_files(
        &browser,
        "#activity-files",
        &[EDGE_810_FIT, FENIX_2_RUN_FIT],
    )
    .await;
    let imported = browser
        .wait_js(
            "both files imported",
            "const done = [...document.querySelectorAll('#upload-results > li[data-state=done]')];
             return done.length === 2
                 && done.every(li => li.querySelectorAll('.result[data-status=imported]').length === 1)
                 && done.map(li => li.dataset.file).sort()",
        )
        .await;
    assert_eq!(
        imported,
        json!([
            "Edge810-Vector-2013-08-16-15-35-10.fit",
            "activity-small-fenix2-run.fit"
        ])
    );
    let rows = browser
        .wait_js(
            "the two activities listed with a file badge",
            "const rows = [...document.querySelectorAll('#activities tr[data-activity]')];
             return rows.length === 2 && document.getElementById('library-empty').hidden
                 && rows.map(r => [...r.querySelectorAll('.badge.source')].map(b => b.dataset.source))",
        )
        .await;
    assert_eq!(rows, json!([["file"], ["file"]]));
    let ride: i64 = browser
        .wait_js(
            "the ride's activity id",
            "const li = document.querySelector('#upload-results > li[data-file=\"Edge810-Vector-2013-08-16-15-35-10.fit\"]');
             const a = li && li.querySelector('.result a');
             return a && Number(a.getAttribute('href').split('/').pop())",
        )
        .await
        .as_i64()
        .unwrap();

    // The ride again: a duplicate, nothing new in the list.
    choose_files(&browser, "#activity-files", &[EDGE_810_FIT]).await;
    let again = browser
        .wait_js(
            "the second upload's result",
            "const first = document.querySelector('#upload-results > li');
             return document.querySelectorAll('#upload-results > li').length === 3
                 && first.dataset.state === 'done'
                 && [...first.querySelectorAll('.result')].map(r => r.dataset.status)",
        )
        .await;
    assert_eq!(again, json!(["duplicate"]));
    browser
        .wait_js(
            "still two activities",
            "return document.querySelectorAll('#activities tr[data-activity]').length === 2",
        )
        .await;

    // A file dropped on the page that is not an activity fails alone, with the reason.
    browser
        .client
        .execute(
            "const files = new DataTransfer();
             files.items.add(new File(['not a ride'], 'notes.fit'));
             document.querySelector('main').dispatchEvent(
                 new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true}))",
            Vec::new(),
        )
        .await
        .unwrap();
    let dropped = browser
        .wait_js(
            "the dropped file's result",
            "const li = document.querySelector('#upload-results > li[data-file=\"notes.fit\"][data-state=done]');
             const r = li && li.querySelector('.result[data-status=failed] .error');
             return r && r.textContent",
        )
        .await;
    assert!(!dropped.as_str().unwrap().is_empty(), "a reason: {dropped}");

    // By hand: a duration that does not read names its field; then one that does.
    browser
        .client
        .execute(
            "document.getElementById('manual-sport').value = 'running'",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.fill("#manual-duration", "soon").await;
    browser.fill("#manual-distance", "10 mi").await;
    browser.fill("#manual-rpe", "6").await;
    browser.fill("#manual-name", "Lunch run").await;
    browser.click("#manual-submit").await;
    let error = browser
        .wait_js(
            "the field-named error",
            "const e = document.getElementById('manual-error').textContent;
             return e !== ''
                 && document.getElementById('manual-duration').getAttribute('aria-invalid') === 'true'
                 && e",
        )
        .await;
    assert!(error.as_str().unwrap().starts_with("duration:"), "{error}");
    browser.fill("#manual-duration", "45 min").await;
    browser.click("#manual-submit").await;
    let manual = browser
        .wait_js(
            "the manual entry listed with a manual badge",
            "const rows = [...document.querySelectorAll('#activities tr[data-activity]')];
             const m = rows.find(r => r.querySelector('.badge.source[data-source=manual]'));
             return rows.length === 3 && m
                 && document.getElementById('manual-error').textContent === ''
                 && [...m.querySelectorAll('td')].slice(1, 6).map(td => td.textContent)",
        )
        .await;
    assert_eq!(
        manual,
        json!(["running", "Lunch run", "45:00", "16.09 km", "45 TSS (rpe)"])
    );
    screenshot(&browser, "library.png").await;

    // Filtered by sport: the two runs.
    browser
        .client
        .execute(
            "document.getElementById('filter-sport').value = 'running'",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#filters button[type=submit]").await;
    let runs = browser
        .wait_js(
            "only the runs",
            "const rows = [...document.querySelectorAll('#activities tr[data-activity]')];
             return rows.length === 2 && rows.map(r => r.children[1].textContent)",
        )
        .await;
    assert_eq!(runs, json!(["running", "running"]));
    browser
        .client
        .execute(
            "document.getElementById('filter-sport').value = 'swimming'",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#filters button[type=submit]").await;
    let none = browser
        .wait_js(
            "no swims",
            "const e = document.getElementById('library-empty');
             return document.querySelectorAll('#activities tr[data-activity]').length === 0
                 && !e.hidden && e.textContent",
        )
        .await;
    assert_eq!(none, "No activities match these filters.");
    browser
        .client
        .execute(
            "document.getElementById('filter-sport').value = '';
             document.getElementById('activities').dataset.pageSize = '2'",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#filters button[type=submit]").await;
    // Two a page: "Load more" follows the cursor to the third, the last.
    browser
        .wait_js(
            "the first page of two",
            "return document.querySelectorAll('#activities tr[data-activity]').length === 2
                 && !document.getElementById('more').hidden",
        )
        .await;
    browser.click("#more").await;
    let dates = browser
        .wait_js(
            "all three, newest first",
            "const rows = [...document.querySelectorAll('#activities tr[data-activity]')];
             return rows.length === 3 && document.getElementById('more').hidden
                 && rows.map(r => r.children[0].textContent)",
        )
        .await;
    let dates: Vec<&str> = dates
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] > w[1]), "{dates:?}");

    // The ride: summary, chart of heart rate and power, its one source and what it gave,
    // the export links.
    browser
        .click(&format!("#activities tr[data-activity='{ride}'] a"))
        .await;
    let chart = browser
        .wait_js(
            "the ride's summary, chart and source",
            &format!(
                "const hr = document.querySelector('#activity-chart svg path.line.hr');
                 const power = document.querySelector('#activity-chart svg path.line.power');
                 const sources = [...document.querySelectorAll('#sources tr[data-source-id]')];
                 return location.pathname === '/activities/{ride}'
                     && document.querySelector('#summary [data-metric=np_w] dd') !== null
                     && hr && power && sources.length === 1
                     && [Number(hr.dataset.points) > 500, Number(power.dataset.points) > 500,
                         sources[0].dataset.kind, sources[0].querySelector('.gave').textContent.includes('samples')]"
            ),
        )
        .await;
    assert_eq!(chart, json!([true, true, "file", true]));
    let exports = browser
        .wait_js(
            "the export links",
            "return [...document.querySelectorAll('#exports a[data-format]')]
                 .filter(a => !a.hidden).map(a => a.getAttribute('href'))",
        )
        .await;
    assert_eq!(
        exports,
        json!(
            ["fit", "tcx", "gpx", "csv"].map(|f| format!("/api/v1/activities/{ride}/export.{f}"))
        )
    );
    let unmerge = browser
        .wait_js(
            "no unmerge for an activity of one copy",
            "return String(document.querySelectorAll('#sources button.unmerge').length)",
        )
        .await;
    assert_eq!(unmerge, "0");

    // The same ride typed by hand merges into it as a second copy; unmerged from the page,
    // it becomes an activity of its own.
    let detail = api.get(&format!("/activities/{ride}"), &admin).await;
    let typed = api
        .post(
            &format!("/athletes/{athlete}/activities"),
            Some(&admin),
            json!({
                "sport": "cycling",
                "start": detail.json["start_ms"],
                "duration": format!("{} s", detail.json["duration_s"].as_f64().unwrap().round()),
                "rpe": 7,
                "name": "Vector test ride",
            }),
        )
        .await;
    assert_eq!(typed.status, 201, "{}", typed.json);
    assert_eq!(typed.json["status"], "merged", "{}", typed.json);
    browser.client.refresh().await.unwrap();
    let copies = browser
        .wait_js(
            "two copies, each with an unmerge button",
            "const sources = [...document.querySelectorAll('#sources tr[data-source-id]')];
             return sources.length === 2
                 && sources.every(s => s.querySelector('button.unmerge') !== null)
                 && document.querySelector('#activity-chart svg path.line.hr') !== null
                 && sources.map(s => [s.dataset.kind, s.querySelector('.gave').textContent])",
        )
        .await;
    let copies = copies.as_array().unwrap();
    assert_eq!(copies[0][0], "file");
    assert_eq!(copies[1][0], "manual");
    assert!(
        copies[1][1].as_str().unwrap().contains("rpe"),
        "the manual copy gives what the file lacks: {copies:?}"
    );
    screenshot(&browser, "activity.png").await;
    browser
        .click("#sources tr[data-kind='manual'] button.unmerge")
        .await;
    let split = browser
        .wait_js(
            "the manual copy split out",
            "const r = document.getElementById('action-result').textContent;
             return document.querySelectorAll('#sources tr[data-source-id]').length === 1
                 && document.querySelectorAll('#sources button.unmerge').length === 0
                 && r.startsWith('Split out') && r",
        )
        .await;
    assert!(split.as_str().unwrap().contains("activity "), "{split}");

    // The split-out copy, deleted after its confirmation: back to the library, one fewer.
    let split_page = browser
        .wait_js(
            "the link to the split-out activity",
            "const a = document.querySelector('#action-result a');
             return a && a.getAttribute('href')",
        )
        .await;
    browser.click("#action-result a").await;
    browser
        .wait_js(
            "the split-out activity",
            &format!(
                "return location.pathname === {split_page}
                     && !document.getElementById('activity').hidden
                     && document.querySelectorAll('#sources tr[data-kind=manual]').length === 1"
            ),
        )
        .await;
    browser
        .client
        .execute("window.confirm = () => true", Vec::new())
        .await
        .unwrap();
    browser.click("#delete").await;
    browser
        .wait_js(
            "the library without it",
            &format!(
                "return location.pathname === '/athletes/{athlete}/library'
                     && document.querySelectorAll('#activities tr[data-activity]').length === 3"
            ),
        )
        .await;
    browser.client.clone().close().await.unwrap();
}
