//! The Today page in a real headless Chromium: a coach chooses an athlete with five weeks
//! of training and a week of morning data, and sees the recovery dial with the issue's
//! numbers (components 100/50/94/70 → 81, green), today's workout with the rules that made
//! it, the week with today's plan in it and the fitness chart drawn by the server. A
//! check-in with an impossible resting HR is refused naming the field; a poor check-in
//! plans the day again (changed, with the check-in's rule in the why); the workout is
//! started as the athlete's next plan.

use paceline_gateway::jobs::planning::{format_date, local_day};
use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use reqwest::Method;
use serde_json::json;
use time::Duration;

use crate::browser::{log_in, screenshot};
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_reads_an_athletes_morning_and_plans_the_day_again_after_a_poor_check_in() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("coach@today.example", "Today Cycling")
            .await,
    );
    let tess = api.create_athlete(&admin, "Tess Today").await;
    api.create_athlete(&admin, "Otto Other").await;
    let today = local_day(i64::try_from(now_ms()).unwrap(), None);

    // Five weeks of 60 TSS rides ending yesterday (ACWR 1.0, so no multiplier).
    for back in 1..=35 {
        let date = format_date(today - Duration::days(back));
        let reply = api
            .post(
                &format!("/athletes/{tess}/activities"),
                Some(&admin),
                json!({"sport": "cycling", "start": format!("{date}T06:00:00Z"),
                    "duration": "1:00:00", "load_tss": 60}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.json);
    }
    let settings = api
        .call(
            Method::PUT,
            &format!("/athletes/{tess}/planning-settings"),
            Some(&admin),
            Some(json!({"availability_min": {"mon": 60, "tue": 60, "wed": 60, "thu": 60,
                "fri": 60, "sat": 90, "sun": 90}, "equipment": ["trainer", "power_meter", "hr_strap"],
                "sport": "bike"})),
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.json);
    // A week of HRV 50 ms and resting HR 50 bpm, then the morning: HRV 55 (→ 100),
    // resting HR 50 (→ 50), 8 h of sleep scored 85 (→ 94), stress 30 (→ 70):
    // 0.4·100 + 0.3·50 + 0.2·94 + 0.1·70 = 80.8.
    for back in 1..=7 {
        let date = format_date(today - Duration::days(back));
        let reply = api
            .call(
                Method::PUT,
                &format!("/athletes/{tess}/daily/{date}"),
                Some(&admin),
                Some(json!({"hrv_ms": 50, "resting_hr_bpm": 50})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let reply = api
        .call(
            Method::PUT,
            &format!("/athletes/{tess}/daily/{}", format_date(today)),
            Some(&admin),
            Some(
                json!({"hrv_ms": 55, "resting_hr_bpm": 50, "sleep_s": 28_800,
                "sleep_score": 85, "stress": 30}),
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "coach@today.example").await;
    browser.click("#top nav a[href='/today']").await;
    browser
        .wait_js(
            "the athletes to choose",
            "return document.querySelectorAll('#choose a[data-athlete]').length === 2",
        )
        .await;
    browser
        .click(&format!("#choose a[data-athlete='{tess}']"))
        .await;

    // The dial and its components.
    let dial = browser
        .wait_js(
            "the recovery dial",
            "const t = document.querySelector('#dial svg .score');
             const arc = document.querySelector('#dial svg .arc');
             return t && t.textContent !== '' && arc && [t.textContent, arc.getAttribute('class'),
                 [...document.querySelectorAll('#components dd')].map(d => [d.dataset.component, d.textContent])]",
        )
        .await;
    assert_eq!(
        dial,
        json!([
            "81",
            "arc green",
            [
                ["hrv", "100 / 100"],
                ["resting_hr", "50 / 100"],
                ["sleep", "94 / 100"],
                ["stress", "70 / 100"]
            ]
        ])
    );

    // Today's workout with its why, the week with today's plan, the server's chart.
    let workout = browser
        .wait_js(
            "today's workout and why",
            "const s = document.getElementById('workout-summary');
             const why = [...document.querySelectorAll('#why li')].map(li => li.textContent);
             return s.dataset.kind && why.length > 0 && [s.dataset.kind, s.textContent, why]",
        )
        .await;
    let kind = workout[0].as_str().unwrap().to_owned();
    assert!(
        workout[1].as_str().unwrap().contains("TSS") || kind == "rest",
        "{workout}"
    );
    let stored = api.get(&format!("/athletes/{tess}/plan"), &admin).await;
    assert_eq!(
        stored.json["plans"][0]["kind"],
        kind.as_str(),
        "{}",
        stored.json
    );
    assert_eq!(
        json!(workout[2]),
        stored.json["plans"][0]["why"],
        "the page shows the stored why, line by line"
    );
    let week = browser
        .wait_js(
            "the week",
            "const days = [...document.querySelectorAll('#week li')];
             const t = document.querySelector('#week li.today');
             return days.length === 7 && t && t.dataset.kind && [t.dataset.date, t.dataset.kind]",
        )
        .await;
    assert_eq!(week, json!([format_date(today), kind]));
    let chart = browser
        .wait_js(
            "the fitness chart",
            "const img = document.querySelector('#fitness-chart img');
             return img && img.complete && img.naturalWidth > 0 && img.naturalWidth",
        )
        .await;
    assert_eq!(chart, json!(1000));
    screenshot(&browser, "today.png").await;

    // An impossible resting HR names its field; nothing is stored.
    browser.fill("#checkin-rhr", "300").await;
    browser.click("#checkin-submit").await;
    let refused = browser
        .wait_js(
            "the field-named error",
            "const e = document.getElementById('checkin-error').textContent;
             return e !== '' && document.getElementById('checkin-rhr').getAttribute('aria-invalid') === 'true' && e",
        )
        .await;
    assert!(
        refused.as_str().unwrap().contains("resting_hr_bpm"),
        "{refused}"
    );

    // A poor check-in: the day is planned again and says why.
    browser.fill("#checkin-rhr", "").await;
    browser
        .client
        .execute(
            "document.getElementById('checkin-energy').value = '1';
             document.getElementById('checkin-mood').value = '2';
             document.getElementById('checkin-soreness').value = '4';",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.click("#checkin-submit").await;
    let replanned = browser
        .wait_js(
            "the day planned again",
            "const r = document.getElementById('workout-result').textContent;
             const why = [...document.querySelectorAll('#why li')].map(li => li.textContent);
             return r.startsWith('Planned again') && document.getElementById('checkin-error').textContent === ''
                 && [r, why.some(w => w.startsWith('Check-in poor'))]",
        )
        .await;
    let daily = api
        .get(
            &format!("/athletes/{tess}/daily?from={0}&to={0}", format_date(today)),
            &admin,
        )
        .await;
    assert_eq!(daily.json["days"][0]["energy"], 1, "{}", daily.json);
    assert_eq!(
        daily.json["days"][0]["resting_hr_bpm"], 50.0,
        "{}",
        daily.json
    );
    if kind == "rest" {
        assert_eq!(replanned[1], json!(false), "{replanned}");
    } else {
        assert_eq!(
            replanned,
            json!([
                "Planned again: the workout changed with today's data.",
                true
            ])
        );
    }

    // Started: the workout is Tess's next plan.
    if browser
        .wait_js(
            "the start button's state",
            "return [!document.getElementById('start').hidden]",
        )
        .await
        == json!([true])
    {
        browser.click("#start").await;
        let started = browser
            .wait_js(
                "started",
                "const a = document.querySelector('#workout-result a[data-plan]');
                 return a && Number(a.dataset.plan)",
            )
            .await;
        let athlete = api.get(&format!("/athletes/{tess}"), &admin).await;
        assert_eq!(athlete.json["next_plan_id"], started, "{}", athlete.json);
    }
}
