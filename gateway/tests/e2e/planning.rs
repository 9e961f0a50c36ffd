//! Planning through the API of a running gateway: the issue's checks of training load
//! (42 days of 100 TSS → CTL 63.21, ATL 99.75, TSB −36.54; 21 days of 50 then 7 of 100 →
//! ACWR 1.60) from activities entered by hand, recomputed when one is deleted; the
//! recovery score from daily metrics (components 100/50/94/70 → 80.8 green, with ACWR 1.6
//! → 64.6 yellow; no data → unknown); impossible values and dates refused with 400 naming
//! the field; planning settings; today's plan stored with its inputs, the same when asked
//! again and when regenerated, started as the athlete's next plan; life events by hand
//! and from an ICS calendar; and another tenant or an unlinked coach answered 404.

use reqwest::Method;
use serde_json::{Value, json};
use time::{Date, Duration};

use crate::harness::*;
use paceline_gateway::jobs::planning::{format_date, local_day};
use paceline_testkit::api::*;

fn day(date: Date) -> String {
    format_date(date)
}

fn round2(x: &Value) -> f64 {
    (x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")) * 100.0).round() / 100.0
}

/// One manual activity of `tss` on `date` at 06:00 UTC; its id.
async fn activity(api: &Api, token: &str, athlete: i64, date: Date, tss: f64) -> i64 {
    let reply = api
        .post(
            &format!("/athletes/{athlete}/activities"),
            Some(token),
            json!({"sport": "running", "start": format!("{}T06:00:00Z", day(date)),
                "duration": "1:00:00", "load_tss": tss}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["status"], "imported", "{}", reply.json);
    reply.json["activity"]["id"].as_i64().unwrap()
}

async fn put_daily(api: &Api, token: &str, athlete: i64, date: &str, body: Value) -> Reply {
    api.call(
        Method::PUT,
        &format!("/athletes/{athlete}/daily/{date}"),
        Some(token),
        Some(body),
    )
    .await
}

/// A week of HRV 50 ms and resting HR 50 bpm before `today`, then the issue's morning:
/// HRV 55 (+10 % → 100), resting HR 50 (+0 % → 50), 8 h of sleep scored 85 (→ 94),
/// stress 30 (→ 70).
async fn the_issues_week(api: &Api, token: &str, athlete: i64, today: Date) {
    for back in 1..=7 {
        let reply = put_daily(
            api,
            token,
            athlete,
            &day(today - Duration::days(back)),
            json!({"hrv_ms": 50, "resting_hr_bpm": 50}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let reply = put_daily(
        api,
        token,
        athlete,
        &day(today),
        json!({"hrv_ms": 55, "resting_hr_bpm": 50, "sleep_s": 28_800, "sleep_score": 85,
            "stress": 30, "energy": 4, "mood": 5, "soreness": 2, "note": "slept well"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["source"], "manual");
    assert_eq!(reply.json["sleep_s"], 28_800.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_recovery_and_daily_metrics_hold_the_issues_numbers() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@plan.example", "Plan Gym").await);
    // Yesterday (UTC) is the last day of every series, so no entry is in the future.
    let last = local_day(i64::try_from(now_ms()).unwrap(), None) - Duration::days(1);

    // Ana: 42 days of 100 TSS ending `last`.
    let ana = api.create_athlete(&admin, "Ana").await;
    let mut ana_last_activity = 0;
    for back in (0..42).rev() {
        ana_last_activity = activity(&api, &admin, ana, last - Duration::days(back), 100.0).await;
    }
    let load = api
        .get(
            &format!("/athletes/{ana}/load?from={0}&to={0}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(load.status, 200, "{}", load.json);
    let d = &load.json["days"][0];
    assert_eq!(d["date"], day(last));
    assert_eq!(
        (
            round2(&d["tss"]),
            round2(&d["ctl"]),
            round2(&d["atl"]),
            round2(&d["tsb"])
        ),
        (100.0, 63.21, 99.75, -36.54),
        "{d}"
    );
    assert_eq!(round2(&d["acwr"]), 1.0);
    // The default window: the 42 days to today (today has no load yet).
    let window = api.get(&format!("/athletes/{ana}/load"), &admin).await;
    let days = window.json["days"].as_array().unwrap();
    assert_eq!(days.len(), 42, "{}", window.json);
    assert_eq!(days[40]["date"], day(last));
    assert_eq!(days[41]["tss"], 0.0);
    // Recomputed when an activity goes: the last day is a rest day now.
    let reply = api
        .call(
            Method::DELETE,
            &format!("/activities/{ana_last_activity}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    let load = api
        .get(
            &format!("/athletes/{ana}/load?from={0}&to={0}", day(last)),
            &admin,
        )
        .await;
    let d = &load.json["days"][0];
    assert_eq!((round2(&d["tss"]), round2(&d["ctl"])), (0.0, 60.86), "{d}");

    // Ben: 21 days of 50, then 7 of 100 → ACWR 1.60 on the last day.
    let ben = api.create_athlete(&admin, "Ben").await;
    for back in (0..28).rev() {
        let tss = if back < 7 { 100.0 } else { 50.0 };
        activity(&api, &admin, ben, last - Duration::days(back), tss).await;
    }
    let load = api
        .get(
            &format!("/athletes/{ben}/load?from={0}&to={0}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(round2(&load.json["days"][0]["acwr"]), 1.6, "{}", load.json);

    // Cleo (no training): the issue's morning → 80.8, green.
    let cleo = api.create_athlete(&admin, "Cleo").await;
    the_issues_week(&api, &admin, cleo, last).await;
    let recovery = api
        .get(
            &format!("/athletes/{cleo}/recovery?date={}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(recovery.status, 200, "{}", recovery.json);
    assert_eq!(
        recovery.json,
        json!({"date": day(last), "score": 80.8, "band": "green",
            "components": {"hrv": 100.0, "resting_hr": 50.0, "sleep": 94.0, "stress": 70.0},
            "acwr": null, "multiplier": 1.0, "missing": []})
    );
    // Ben, the same morning at ACWR 1.6: × 0.8 → 64.6, yellow.
    the_issues_week(&api, &admin, ben, last).await;
    let recovery = api
        .get(
            &format!("/athletes/{ben}/recovery?date={}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(
        (
            &recovery.json["score"],
            &recovery.json["band"],
            &recovery.json["multiplier"]
        ),
        (&json!(64.6), &json!("yellow"), &json!(0.8)),
        "{}",
        recovery.json
    );
    assert_eq!(round2(&recovery.json["acwr"]), 1.6);
    // A day without data: the score is unknown, every component missing.
    let recovery = api
        .get(
            &format!("/athletes/{ana}/recovery?date={}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(recovery.json["score"], Value::Null, "{}", recovery.json);
    assert_eq!(
        recovery.json["missing"],
        json!(["hrv", "resting_hr", "sleep", "stress"])
    );

    // The daily list; a change keeps what it does not name and `null` clears.
    let reply = put_daily(
        &api,
        &admin,
        cleo,
        &day(last),
        json!({"stress": 20, "note": null}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let listed = api
        .get(
            &format!(
                "/athletes/{cleo}/daily?from={}&to={}",
                day(last - Duration::days(1)),
                day(last)
            ),
            &admin,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    let rows = listed.json["days"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", listed.json);
    let today = &rows[1];
    assert_eq!(
        (
            &today["date"],
            &today["stress"],
            &today["hrv_ms"],
            &today["energy"],
            &today["note"]
        ),
        (
            &json!(day(last)),
            &json!(20.0),
            &json!(55.0),
            &json!(4),
            &Value::Null
        ),
        "{today}"
    );

    // Impossible values and dates: 400 naming the field; nothing stored.
    let tomorrow_plus = day(last + Duration::days(5));
    for (date, body, field) in [
        (day(last), json!({"resting_hr_bpm": 0}), "resting_hr_bpm"),
        (day(last), json!({"resting_hr_bpm": 300}), "resting_hr_bpm"),
        (day(last), json!({"sleep_s": 30 * 3600}), "sleep_s"),
        (day(last), json!({"hrv_ms": -4}), "hrv_ms"),
        (day(last), json!({"sleep_score": 101}), "sleep_score"),
        (day(last), json!({"stress": 250}), "stress"),
        (day(last), json!({"energy": 0}), "energy"),
        (day(last), json!({"mood": 6}), "mood"),
        (day(last), json!({"soreness": 300}), "soreness"),
        (day(last), json!({"note": "x".repeat(2001)}), "note"),
        (tomorrow_plus.clone(), json!({"hrv_ms": 50}), "date"),
        ("2026-13-01".to_owned(), json!({"hrv_ms": 50}), "date"),
        ("yesterday".to_owned(), json!({"hrv_ms": 50}), "date"),
        ("1989-12-31".to_owned(), json!({"hrv_ms": 50}), "date"),
    ] {
        let reply = put_daily(&api, &admin, cleo, &date, body.clone()).await;
        assert_eq!(
            (reply.status, code(&reply)),
            (400, "invalid_field"),
            "{date} {body}: {}",
            reply.json
        );
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    let after = api
        .get(
            &format!("/athletes/{cleo}/daily?from={0}&to={0}", day(last)),
            &admin,
        )
        .await;
    assert_eq!(after.json["days"][0]["resting_hr_bpm"], 50.0);
    // A day after tomorrow is too far; tomorrow (time zones ahead) is fine.
    let reply = put_daily(
        &api,
        &admin,
        cleo,
        &day(last + Duration::days(2)),
        json!({"mood": 3}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    for bad in [
        "from=2026-1-1",
        "to=someday",
        "from=2026-12-07&to=2026-12-01",
        "from=2000-01-01&to=2026-01-01",
    ] {
        let reply = api
            .get(&format!("/athletes/{cleo}/load?{bad}"), &admin)
            .await;
        assert_eq!(
            (reply.status, code(&reply)),
            (400, "invalid_query"),
            "{bad}"
        );
    }

    // Planning settings: the defaults, then set, read back; a bad value named.
    let path = format!("/athletes/{ana}/planning-settings");
    let defaults = api.get(&path, &admin).await;
    assert_eq!(defaults.status, 200, "{}", defaults.json);
    assert_eq!(defaults.json["goal"]["kind"], "general_fitness");
    assert_eq!(defaults.json["availability_min"]["mon"], 60);
    let settings = json!({
        "goal": {"kind": "event", "event": "Berlin Marathon", "date": "2027-09-26"},
        "availability_min": {"mon": 45, "tue": 60, "wed": 0, "thu": 60, "fri": 30, "sat": 120, "sun": 90},
        "equipment": ["hr_strap", "treadmill"],
        "constraints": {"injuries": ["left achilles"], "avoid_sports": ["swimming"]},
        "sport": "run"
    });
    let reply = api
        .call(Method::PUT, &path, Some(&admin), Some(settings.clone()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(api.get(&path, &admin).await.json, settings);
    for (body, field) in [
        (json!({"equipment": ["jetpack"]}), "equipment"),
        (
            json!({"goal": {"kind": "event", "event": "Race"}}),
            "goal.date",
        ),
        (
            json!({"availability_min": {"mon": 2000, "tue": 0, "wed": 0, "thu": 0, "fri": 0, "sat": 0, "sun": 0}}),
            "availability_min.mon",
        ),
    ] {
        let reply = api.call(Method::PUT, &path, Some(&admin), Some(body)).await;
        assert_eq!(
            (reply.status, code(&reply)),
            (422, "invalid_field"),
            "{}",
            reply.json
        );
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field)
        );
    }

    // Today's plan: generated once, stored with its inputs, the same when asked again and
    // when regenerated from the same inputs.
    let first = api
        .post(
            &format!("/athletes/{ana}/plan/today"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["generated"], true);
    let plan = &first.json["plan"];
    assert!(
        plan["why"].as_array().is_some_and(|why| !why.is_empty()),
        "{plan}"
    );
    assert_eq!(plan["inputs"]["goal"]["event"], "Berlin Marathon", "{plan}");
    assert_eq!(plan["inputs_digest"].as_str().map(str::len), Some(64));
    let again = api
        .post(
            &format!("/athletes/{ana}/plan/today"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.json["generated"], false);
    assert_eq!(again.json["plan"], first.json["plan"]);
    let regenerated = api
        .post(
            &format!("/athletes/{ana}/plan/today?regenerate=true"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.json);
    assert_eq!(
        (&regenerated.json["generated"], &regenerated.json["changed"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(regenerated.json["plan"], first.json["plan"]);
    let week = api.get(&format!("/athletes/{ana}/plan"), &admin).await;
    assert_eq!(week.status, 200, "{}", week.json);
    assert_eq!(
        week.json["plans"][0]["inputs_digest"],
        plan["inputs_digest"]
    );
    // Started, its workout is Ana's next plan.
    let started = api
        .post(
            &format!("/athletes/{ana}/plan/today/start"),
            Some(&admin),
            json!({}),
        )
        .await;
    if plan["workout"].is_null() {
        assert_eq!(
            (started.status, code(&started)),
            (409, "no_workout"),
            "{}",
            started.json
        );
    } else {
        assert_eq!(started.status, 200, "{}", started.json);
        let plan_id = started.json["plan_id"].as_i64().unwrap();
        let athlete = api.get(&format!("/athletes/{ana}"), &admin).await;
        assert_eq!(athlete.json["next_plan_id"], plan_id, "{}", athlete.json);
        let stored = api.get(&format!("/plans/{plan_id}"), &admin).await;
        assert_eq!(stored.status, 200, "{}", stored.json);
    }

    // Life events: by hand, and from a calendar.
    let trip = last + Duration::days(4);
    let reply = api
        .post(
            &format!("/athletes/{ana}/life-events"),
            Some(&admin),
            json!({"kind": "busy", "from": day(last + Duration::days(2)), "minutes_available": 35,
                "summary": "Only 35 minutes"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let busy = reply.json["events"][0]["id"].as_i64().unwrap();
    let ymd = |d: Date| day(d).replace('-', "");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:trip@test\r\n\
         DTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nSUMMARY:Flight to Berlin\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n",
        ymd(trip),
        ymd(trip + Duration::days(2))
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/athletes/{ana}/life-events", api.base))
        .bearer_auth(&admin)
        .header("content-type", "text/calendar")
        .body(ics)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let added: Value = reply.json().await.unwrap();
    assert_eq!(
        (
            &added["events"][0]["kind"],
            &added["events"][0]["from"],
            &added["events"][0]["to"]
        ),
        (
            &json!("travel"),
            &json!(day(trip)),
            &json!(day(trip + Duration::days(1)))
        ),
        "{added}"
    );
    let listed = api
        .get(
            &format!(
                "/athletes/{ana}/life-events?from={}&to={}",
                day(last),
                day(trip)
            ),
            &admin,
        )
        .await;
    assert_eq!(
        listed.json["events"].as_array().map(Vec::len),
        Some(2),
        "{}",
        listed.json
    );
    let reply = api
        .post(
            &format!("/athletes/{ana}/life-events"),
            Some(&admin),
            json!({"kind": "holiday", "from": day(last)}),
        )
        .await;
    assert_eq!(
        (reply.status, code(&reply)),
        (400, "invalid_field"),
        "{}",
        reply.json
    );

    // Another tenant, and a coach not linked to Ana: 404 on every planning route.
    let other = access(&api.register_gym("admin@other.example", "Other Gym").await);
    let coach = access(
        &api.invite_and_register(&admin, "coach", "coach@plan.example", None)
            .await,
    );
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/athletes/{ana}/daily"), None),
        (
            Method::PUT,
            format!("/athletes/{ana}/daily/{}", day(last)),
            Some(json!({"mood": 3})),
        ),
        (Method::GET, format!("/athletes/{ana}/load"), None),
        (Method::GET, format!("/athletes/{ana}/recovery"), None),
        (
            Method::GET,
            format!("/athletes/{ana}/planning-settings"),
            None,
        ),
        (
            Method::PUT,
            format!("/athletes/{ana}/planning-settings"),
            Some(json!({})),
        ),
        (Method::POST, format!("/athletes/{ana}/plan/today"), None),
        (
            Method::POST,
            format!("/athletes/{ana}/plan/today/start"),
            None,
        ),
        (Method::GET, format!("/athletes/{ana}/plan"), None),
        (Method::GET, format!("/athletes/{ana}/life-events"), None),
        (
            Method::POST,
            format!("/athletes/{ana}/life-events"),
            Some(json!({"kind": "busy", "from": day(last)})),
        ),
        (Method::DELETE, format!("/life-events/{busy}"), None),
    ];
    for token in [&other, &coach] {
        for (method, path, body) in &routes {
            let reply = api
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(
                (reply.status, code(&reply)),
                (404, "not_found"),
                "{method} {path}: {}",
                reply.json
            );
        }
    }
    // Nothing changed for Ana; her own admin deletes the event.
    assert_eq!(api.get(&path, &admin).await.json, settings);
    let reply = api
        .call(
            Method::DELETE,
            &format!("/life-events/{busy}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
}

/// A calendar by URL: fetched by the gateway from a local server (allowed to reach
/// loopback by `PACELINE_OUTBOUND_ALLOW_PRIVATE`), read again after an event moved
/// without doubling anything (by `UID`, and by content for an event without one), as is
/// the same file uploaded; a missing calendar is 502 `calendar_unreachable`, a `file:`
/// URL 400. A gateway on its defaults refuses the loopback address before any request
/// leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_by_url_is_read_again_without_doubles_and_private_addresses_are_refused() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let last = local_day(i64::try_from(now_ms()).unwrap(), None);
    let ymd = |d: Date| day(d).replace('-', "");
    let calendar = |trip: Date| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
             BEGIN:VEVENT\r\nUID:trip@test\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\n\
             SUMMARY:Flight to Lisbon\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nDTSTART:{}T090000Z\r\nDTEND:{}T170000Z\r\nSUMMARY:Board day\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n",
            ymd(trip),
            ymd(trip + Duration::days(2)),
            ymd(last + Duration::days(1)),
            ymd(last + Duration::days(1)),
        )
    };
    let served = Arc::new(Mutex::new(calendar(last + Duration::days(3))));
    let requests = Arc::new(AtomicUsize::new(0));
    let app = {
        let served = Arc::clone(&served);
        let requests = Arc::clone(&requests);
        axum::Router::new().route(
            "/private-token/basic.ics",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                requests.fetch_add(1, Ordering::SeqCst);
                async move { ([("content-type", "text/calendar")], body) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let calendar_server = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{calendar_server}/private-token/basic.ics");

    let gateway = paceline()
        .env("PACELINE_OUTBOUND_ALLOW_PRIVATE", "true")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@ics.example", "Ics Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let path = format!("/athletes/{ana}/life-events/calendar");
    let list = || async {
        let listed = api
            .get(
                &format!(
                    "/athletes/{ana}/life-events?from={}&to={}",
                    day(last),
                    day(last + Duration::days(10))
                ),
                &admin,
            )
            .await;
        assert_eq!(listed.status, 200, "{}", listed.json);
        let mut events: Vec<(String, String, String)> = listed.json["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["summary"].as_str().unwrap().to_owned(),
                    e["kind"].as_str().unwrap().to_owned(),
                    e["from"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        events.sort();
        events
    };

    let first = api.post(&path, Some(&admin), json!({"url": url})).await;
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(first.json["events"].as_array().map(Vec::len), Some(2));
    let board = || {
        (
            "Board day".to_owned(),
            "busy".to_owned(),
            day(last + Duration::days(1)),
        )
    };
    let trip = |from: Date| {
        (
            "Flight to Lisbon".to_owned(),
            "travel".to_owned(),
            day(from),
        )
    };
    assert_eq!(list().await, [board(), trip(last + Duration::days(3))]);

    // The trip moves a day; read again: moved, nothing doubled.
    *served.lock().unwrap() = calendar(last + Duration::days(4));
    let again = api.post(&path, Some(&admin), json!({"url": url})).await;
    assert_eq!(again.status, 201, "{}", again.json);
    assert_eq!(list().await, [board(), trip(last + Duration::days(4))]);
    // The same file uploaded: still the same two.
    let body = served.lock().unwrap().clone();
    let uploaded = reqwest::Client::new()
        .post(format!("{}/athletes/{ana}/life-events", api.base))
        .bearer_auth(&admin)
        .header("content-type", "text/calendar")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    assert_eq!(list().await, [board(), trip(last + Duration::days(4))]);
    assert_eq!(requests.load(Ordering::SeqCst), 2);

    let missing = api
        .post(
            &path,
            Some(&admin),
            json!({"url": format!("http://{calendar_server}/nothing.ics")}),
        )
        .await;
    assert_eq!(
        (missing.status, code(&missing)),
        (502, "calendar_unreachable"),
        "{}",
        missing.json
    );
    let file = api
        .post(&path, Some(&admin), json!({"url": "file:///etc/passwd"}))
        .await;
    assert_eq!(
        (file.status, code(&file)),
        (400, "invalid_field"),
        "{}",
        file.json
    );

    // On its defaults a gateway does not fetch from loopback: refused before any request.
    let strict = paceline().start().await;
    let strict_api = Api::of(&strict);
    let strict_admin = access(
        &strict_api
            .register_gym("admin@strict.example", "Strict Gym")
            .await,
    );
    let bo = strict_api.create_athlete(&strict_admin, "Bo").await;
    for target in [url.clone(), url.replace("127.0.0.1", "localhost")] {
        let refused = strict_api
            .post(
                &format!("/athletes/{bo}/life-events/calendar"),
                Some(&strict_admin),
                json!({"url": target}),
            )
            .await;
        assert_eq!(
            (refused.status, code(&refused)),
            (400, "invalid_field"),
            "{}",
            refused.json
        );
        assert!(
            refused.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{}",
            refused.json
        );
    }
    assert_eq!(requests.load(Ordering::SeqCst), 2, "no request reached it");
}
