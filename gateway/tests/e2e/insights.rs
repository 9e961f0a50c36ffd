//! Insights through the API of a running gateway: the day's nutrition, body and work
//! values by hand and from a CSV (impossible values and bad lines refused with 400 naming
//! the field or line, all or nothing); a real FIT ride's efficiency against the core
//! computed here from the file; the weekly efficiency trend and its chart from generated
//! rides; correlations over 60 days with a planted lag-1 relation (sleep drives the next
//! day's check-in energy) found with its sentence, cached until a day changes, its
//! scatter plot, feedback shown to the gym-admin; a playlist for a shared plan from an
//! uploaded M3U, as JSON and M3U; and another gym's admin answered 404 on every route.

use std::path::PathBuf;

use paceline_formats::{Point, Recording};
use paceline_gateway::jobs::planning::{format_date, local_day};
use paceline_insights::correlations::{Input, Output, sentence};
use paceline_insights::{Samples, Sport};
use reqwest::Method;
use serde_json::{Value, json};
use time::{Date, Duration};

use crate::harness::*;
use paceline_testkit::api::*;

fn shared(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).join(path)
}

fn read(path: &str) -> Vec<u8> {
    let path = shared(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Yesterday, UTC: the last day of every series, so nothing is in the future.
pub(crate) fn yesterday() -> Date {
    local_day(i64::try_from(now_ms()).unwrap(), None) - Duration::days(1)
}

pub(crate) async fn put_daily(
    api: &Api,
    token: &str,
    athlete: i64,
    date: Date,
    body: Value,
) -> Reply {
    api.call(
        Method::PUT,
        &format!("/athletes/{athlete}/daily/{}", format_date(date)),
        Some(token),
        Some(body),
    )
    .await
}

async fn import(api: &Api, token: &str, athlete: i64, name: &str, bytes: Vec<u8>) -> i64 {
    let reply = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename={name}"),
            token,
            bytes,
        )
        .await;
    assert_eq!(reply.status, 200, "{name}: {}", reply.json);
    let result = &reply.json["results"][0];
    assert_eq!(result["status"], "imported", "{name}: {result}");
    result["activity_id"].as_i64().unwrap()
}

/// A request with a raw body of a content type, or a GET with an `Accept` header.
async fn raw(
    api: &Api,
    method: Method,
    path: &str,
    token: &str,
    header: (&str, &str),
    body: Option<Vec<u8>>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", api.base))
        .bearer_auth(token)
        .header(header.0, header.1);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        json,
        bytes,
        headers,
    }
}

async fn put_music(api: &Api, token: &str, m3u: Vec<u8>) -> Reply {
    raw(
        api,
        Method::PUT,
        "/me/music",
        token,
        ("content-type", "audio/x-mpegurl"),
        Some(m3u),
    )
    .await
}

/// The day's row of `GET /daily` for `date` (the manual source).
async fn daily_row(api: &Api, token: &str, athlete: i64, date: Date) -> Value {
    let d = format_date(date);
    let reply = api
        .get(&format!("/athletes/{athlete}/daily?from={d}&to={d}"), token)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "manual")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_extra_values_by_hand_and_from_csv() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@extras.example", "Extras Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let last = yesterday();

    let reply = put_daily(
        &api,
        &admin,
        ana,
        last,
        json!({"hrv_ms": 55, "caffeine_mg": 150, "work_stress": 4, "body_weight_kg": 64.5}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        (
            &reply.json["caffeine_mg"],
            &reply.json["work_stress"],
            &reply.json["body_weight_kg"],
            &reply.json["hrv_ms"],
            &reply.json["protein_g"],
        ),
        (
            &json!(150.0),
            &json!(4.0),
            &json!(64.5),
            &json!(55.0),
            &Value::Null
        )
    );
    // Out of range: 400 naming the field, nothing changed.
    for (body, field) in [
        (json!({"body_fat_pct": 90}), "body_fat_pct"),
        (json!({"work_hours": 25}), "work_hours"),
        (json!({"alcohol_units": -1}), "alcohol_units"),
    ] {
        let reply = put_daily(&api, &admin, ana, last, body).await;
        assert_eq!((reply.status, code(&reply)), (400, "invalid_field"));
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
    }
    // null clears one value and keeps the others.
    let reply = put_daily(&api, &admin, ana, last, json!({"caffeine_mg": null})).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let row = daily_row(&api, &admin, ana, last).await;
    assert_eq!(
        (&row["caffeine_mg"], &row["work_stress"], &row["hrv_ms"]),
        (&Value::Null, &json!(4.0), &json!(55.0)),
        "{row}"
    );

    // A CSV: three days; an empty cell keeps the stored value.
    let (d1, d2) = (last - Duration::days(2), last - Duration::days(1));
    let csv = format!(
        "date,energy_kcal,carbohydrate_g,protein_g,caffeine_mg,alcohol_units,work_hours,work_stress\n\
         {},2400,310,120,200,0,8,3\n{},2100,,95,,1.5,9.5,6\n{},,,,80,,,\n",
        format_date(d1),
        format_date(d2),
        format_date(last)
    );
    let reply = api
        .post_raw(
            &format!("/athletes/{ana}/daily.csv"),
            &admin,
            csv.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({"days": 3, "from": format_date(d1), "to": format_date(last)})
    );
    let row = daily_row(&api, &admin, ana, d1).await;
    assert_eq!(
        (
            &row["energy_kcal"],
            &row["carbohydrate_g"],
            &row["work_hours"]
        ),
        (&json!(2400.0), &json!(310.0), &json!(8.0)),
        "{row}"
    );
    let row = daily_row(&api, &admin, ana, d2).await;
    assert_eq!(
        (
            &row["carbohydrate_g"],
            &row["alcohol_units"],
            &row["work_stress"]
        ),
        (&Value::Null, &json!(1.5), &json!(6.0)),
        "{row}"
    );
    let row = daily_row(&api, &admin, ana, last).await;
    assert_eq!(
        (&row["caffeine_mg"], &row["work_stress"], &row["hrv_ms"]),
        (&json!(80.0), &json!(4.0), &json!(55.0)),
        "{row}"
    );

    // A bad line, a bad value, a day in the future: 400, and no day of the file stored.
    let tomorrow_plus = last + Duration::days(5);
    for (csv, code_wanted, starts) in [
        (
            format!(
                "date,protein_g\n{},111\n{},abc\n",
                format_date(d1),
                format_date(d2)
            ),
            "invalid_csv",
            "line 3: ",
        ),
        (
            format!("date,body_fat_pct\n{},111\n", format_date(d1)),
            "invalid_csv",
            "line 2: ",
        ),
        (
            format!(
                "date,protein_g\n{},111\n{},112\n",
                format_date(d1),
                format_date(tomorrow_plus)
            ),
            "invalid_field",
            "date: ",
        ),
        ("date,coffee\n".to_owned(), "invalid_csv", "line 1: "),
    ] {
        let reply = api
            .post_raw(
                &format!("/athletes/{ana}/daily.csv"),
                &admin,
                csv.into_bytes(),
            )
            .await;
        assert_eq!(
            (reply.status, code(&reply)),
            (400, code_wanted),
            "{}",
            reply.json
        );
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts), "{message}");
    }
    let row = daily_row(&api, &admin, ana, d1).await;
    assert_eq!(row["protein_g"], json!(120.0), "{row}");
}

/// Samples of a recording whose points are one per second, none missing, as the core
/// wants them.
fn one_hz(recording: &Recording) -> Samples {
    let points = &recording.points;
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p.t_ms / 1000, i as u64, "the file is not 1 Hz without gaps");
    }
    Samples {
        time_s: (0..points.len())
            .map(|i| u32::try_from(i).unwrap())
            .collect(),
        power_w: points.iter().map(|p| p.power_w.map(f64::from)).collect(),
        hr_bpm: points
            .iter()
            .map(|p| p.heart_rate_bpm.filter(|h| *h > 0).map(f64::from))
            .collect(),
        speed_m_s: points.iter().map(|p| p.speed_mps.map(f64::from)).collect(),
        altitude_m: points.iter().map(|p| p.altitude_m.map(f64::from)).collect(),
    }
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

/// A generated ride: `minutes` at `power_w` and `hr_bpm`, starting `start_ms`.
fn ride(start_ms: i64, minutes: u64, power_w: u16, hr_bpm: u16) -> Vec<u8> {
    let points = (0..minutes * 60)
        .map(|s| Point {
            t_ms: s * 1000,
            heart_rate_bpm: Some(hr_bpm),
            power_w: Some(power_w),
            cadence_rpm: Some(90.0),
            speed_mps: Some(8.0),
            distance_m: Some(s as f64 * 8.0),
            lat_deg: None,
            lon_deg: None,
            altitude_m: None,
        })
        .collect();
    let recording = Recording {
        sport: paceline_formats::Sport::Cycling,
        start_ms,
        local_offset_s: Some(0),
        name: None,
        device: None,
        totals: Default::default(),
        points,
    };
    paceline_formats::fit::write::write_recording(&recording)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_rides_efficiency_and_the_weekly_trend() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@ef.example", "EF Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;

    let name = "Edge810-Vector-2013-08-16-15-35-10.fit";
    let bytes = read(&format!("fit/{name}"));
    let activity = import(&api, &admin, ana, name, bytes.clone()).await;
    let recording = paceline_formats::fit::activity::read_recording(&bytes).unwrap();
    let samples = one_hz(&recording);
    let expected = paceline_insights::efficiency(Sport::Ride, &samples).unwrap();
    // The test profile's LTHR is 168: the default heart rate is 90 % of it.
    let at_151 = paceline_insights::output_at_hr(Sport::Ride, &samples, 151.0).unwrap();
    let at_160 = paceline_insights::output_at_hr(Sport::Ride, &samples, 160.0).unwrap();

    let reply = api
        .get(&format!("/activities/{activity}/efficiency"), &admin)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let e = &reply.json;
    assert_eq!(
        (&e["sport"], &e["unit"]),
        (&json!("ride"), &json!("W/bpm")),
        "{e}"
    );
    assert!(
        close(&e["efficiency_factor"], expected.efficiency_factor),
        "{e} vs {expected:?}"
    );
    assert!(
        close(&e["decoupling_pct"], expected.decoupling_pct),
        "{e} vs {expected:?}"
    );
    assert!(close(&e["output"], expected.output), "{e}");
    assert!(close(&e["mean_hr_bpm"], expected.mean_hr_bpm), "{e}");
    assert_eq!(e["valid_samples_s"], json!(expected.valid_samples));
    assert_eq!(e["at_hr"]["hr_bpm"], json!(151.0), "{e}");
    assert!(close(&e["at_hr"]["output"], at_151), "{e}");
    assert_eq!(e["not_computable"], Value::Null);
    // The numbers are the ride's own: NP about 301 W over a mean HR about 154 bpm.
    assert!(
        (1.8..2.1).contains(&expected.efficiency_factor),
        "{expected:?}"
    );
    let reply = api
        .get(&format!("/activities/{activity}/efficiency?hr=160"), &admin)
        .await;
    assert!(
        close(&reply.json["at_hr"]["output"], at_160),
        "{}",
        reply.json
    );
    let reply = api
        .get(&format!("/activities/{activity}/efficiency?hr=400"), &admin)
        .await;
    assert_eq!((reply.status, code(&reply)), (400, "invalid_query"));

    // An activity without samples: 200 with the reason.
    let manual = api
        .post(
            &format!("/athletes/{ana}/activities"),
            Some(&admin),
            json!({"sport": "cycling", "start": format!("{}T06:00:00Z", format_date(yesterday())),
                "duration": "1:00:00"}),
        )
        .await;
    assert_eq!(manual.status, 201, "{}", manual.json);
    let manual = manual.json["activity"]["id"].as_i64().unwrap();
    let reply = api
        .get(&format!("/activities/{manual}/efficiency"), &admin)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["efficiency_factor"], Value::Null);
    assert!(
        reply.json["not_computable"]
            .as_str()
            .is_some_and(|r| r.contains("samples")),
        "{}",
        reply.json
    );

    // Three generated rides, one a week: EF 200/140, 210/140, 220/140 W/bpm.
    let day_ms = 86_400_000_i64;
    let today_ms = i64::try_from(now_ms()).unwrap() / day_ms * day_ms;
    for (weeks_back, power) in [(2_i64, 200_u16), (1, 210), (0, 220)] {
        let start = today_ms - weeks_back * 7 * day_ms - day_ms + 8 * 3_600_000;
        import(
            &api,
            &admin,
            ana,
            &format!("ride-{power}.fit"),
            ride(start, 25, power, 140),
        )
        .await;
    }
    let reply = api
        .get(
            &format!("/athletes/{ana}/insights/efficiency?weeks=4"),
            &admin,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let t = &reply.json;
    assert_eq!(t["sport"], "ride", "{t}");
    let efs: Vec<f64> = t["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["efficiency_factor"].as_f64().unwrap())
        .collect();
    assert_eq!(efs.len(), 3, "{t}");
    for (ef, power) in efs.iter().zip([200.0, 210.0, 220.0]) {
        assert!((ef - power / 140.0).abs() < 1e-9, "{ef} vs {power}/140");
    }
    let weeks = t["weeks"].as_array().unwrap();
    let means: f64 = weeks.iter().map(|w| w["mean_ef"].as_f64().unwrap()).sum();
    assert!((means - 630.0 / 140.0).abs() < 1e-9, "{t}");
    // One ride a week, 10 W more each: the slope is 10/140 per week whatever the weekdays.
    let slope = t["slope_per_week"].as_f64().unwrap();
    assert!(slope > 0.0, "{t}");
    let chart = api
        .get(
            &format!("/athletes/{ana}/insights/efficiency.svg?weeks=4"),
            &admin,
        )
        .await;
    assert_eq!(chart.status, 200);
    assert!(
        chart.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = String::from_utf8(chart.bytes).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("W/bpm"), "{svg}");
    let reply = api
        .get(
            &format!("/athletes/{ana}/insights/efficiency?weeks=0"),
            &admin,
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (400, "invalid_query"));
}

/// A fixed pseudo-random sleep level 0–4 for day `d`.
fn level(d: u64) -> u64 {
    let mut z = d.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x5eed);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (z ^ (z >> 29)) % 5
}

pub(crate) fn sleep_s(d: u64) -> f64 {
    6.0 * 3600.0 + level(d) as f64 * 1800.0
}

/// Energy on day `d`: the sleep level of the day before, plus one, except every seventh
/// day (a 3 whatever the night).
pub(crate) fn energy(d: u64) -> Option<u64> {
    (d > 0).then(|| {
        if d.is_multiple_of(7) {
            3
        } else {
            level(d - 1) + 1
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlations_find_a_planted_relation_and_are_cached_until_data_changes() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@corr.example", "Corr Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let days = 60_u64;
    let first = yesterday() - Duration::days(i64::try_from(days).unwrap() - 1);
    for d in 0..days {
        let date = first + Duration::days(i64::try_from(d).unwrap());
        let mut body = json!({"sleep_s": sleep_s(d)});
        if let Some(e) = energy(d) {
            body["energy"] = json!(e);
        }
        let reply = put_daily(&api, &admin, ana, date, body).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }

    let reply = api
        .get(&format!("/athletes/{ana}/insights/correlations"), &admin)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let report = reply.json.clone();
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["tested", "what_doesnt", "what_works"], "{report}");
    assert!(report["tested"].as_u64().unwrap() >= 4, "{report}");
    let works = report["what_works"].as_array().unwrap();
    let index = works
        .iter()
        .position(|f| {
            f["input"] == "sleep_s" && f["output"] == "check_in_energy" && f["lag_days"] == 1
        })
        .unwrap_or_else(|| panic!("the planted finding is missing: {report}"));
    let finding = &works[index];
    let item_keys: Vec<&String> = finding.as_object().unwrap().keys().collect();
    assert_eq!(
        item_keys,
        [
            "input", "lag_days", "n", "output", "p", "q", "rho", "sentence"
        ]
    );
    // The pairs, as planted: sleep on d, energy on d + 1.
    let pairs: Vec<(f64, f64)> = (0..days - 1)
        .filter_map(|d| Some((sleep_s(d), energy(d + 1)? as f64)))
        .collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let rho = paceline_insights::stats::spearman(&xs, &ys).unwrap();
    assert_eq!(finding["n"], json!(pairs.len()));
    assert!(
        close(&finding["rho"], rho) && rho > 0.8,
        "{finding} vs {rho}"
    );
    assert!(finding["q"].as_f64().unwrap() <= 0.10, "{finding}");
    let expected_sentence = sentence(Input::SleepS, Output::CheckInEnergy, 1, rho, &pairs);
    assert_eq!(finding["sentence"], json!(expected_sentence));
    assert!(
        expected_sentence
            .starts_with("On days after you sleep more, your check-in energy is higher"),
        "{expected_sentence}"
    );
    // Energy the same day as the sleep is not planted: never reported.
    let everything: Vec<&Value> = works
        .iter()
        .chain(report["what_doesnt"].as_array().unwrap())
        .collect();
    assert!(
        !everything.iter().any(|f| f["input"] == "sleep_s"
            && f["output"] == "check_in_energy"
            && f["lag_days"] == 0),
        "{report}"
    );

    // Cached: stored with its digest; the same answer again; a changed day recomputes it.
    let stored = |db: &rusqlite::Connection| -> (String, i64) {
        db.query_row(
            "SELECT inputs_digest, computed_ms FROM insight_reports WHERE athlete_id = ?1 AND days = 90",
            [ana],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (digest, computed) = stored(&gateway.db());
    let again = api
        .get(&format!("/athletes/{ana}/insights/correlations"), &admin)
        .await;
    assert_eq!(again.json, report);
    assert_eq!(stored(&gateway.db()), (digest.clone(), computed));
    let reply = put_daily(&api, &admin, ana, first, json!({"caffeine_mg": 100})).await;
    assert_eq!(reply.status, 200);
    let after = api
        .get(&format!("/athletes/{ana}/insights/correlations"), &admin)
        .await;
    assert_eq!(after.status, 200);
    assert_ne!(
        stored(&gateway.db()).0,
        digest,
        "a changed day recomputes the report"
    );
    let reply = api
        .get(
            &format!("/athletes/{ana}/insights/correlations?days=731"),
            &admin,
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (400, "invalid_query"));

    // The finding's scatter plot; an index past the findings is 404.
    let scatter = api
        .get(
            &format!("/athletes/{ana}/insights/correlations/{index}/scatter.svg"),
            &admin,
        )
        .await;
    assert_eq!(scatter.status, 200, "{}", scatter.json);
    assert!(
        scatter.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = String::from_utf8(scatter.bytes).unwrap();
    assert!(svg.contains("sleep vs check-in energy (next day)"), "{svg}");
    assert_eq!(
        svg.matches("<circle").count(),
        pairs.len(),
        "one point per pair"
    );
    let past = api
        .get(
            &format!("/athletes/{ana}/insights/correlations/999/scatter.svg"),
            &admin,
        )
        .await;
    assert_eq!((past.status, code(&past)), (404, "not_found"));

    // Feedback, shown to the gym-admin.
    let reply = api
        .post(
            &format!("/athletes/{ana}/insights/feedback"),
            Some(&admin),
            json!({"input": "sleep_s", "output": "check_in_energy", "lag_days": 1, "helpful": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let reply = api
        .post(
            &format!("/athletes/{ana}/insights/feedback"),
            Some(&admin),
            json!({"input": "sleep", "output": "check_in_energy", "lag_days": 1, "helpful": true}),
        )
        .await;
    assert_eq!(
        (reply.status, code(&reply)),
        (422, "invalid_field"),
        "{}",
        reply.json
    );
    let listed = api.get("/insights/feedback", &admin).await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(
        (
            listed.json["helpful"].as_u64(),
            listed.json["not_helpful"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let f = &listed.json["feedback"][0];
    assert_eq!(
        (
            &f["athlete_id"],
            &f["input"],
            &f["output"],
            &f["lag_days"],
            &f["helpful"]
        ),
        (
            &json!(ana),
            &json!("sleep_s"),
            &json!("check_in_energy"),
            &json!(1),
            &json!(true)
        )
    );
}

/// An M3U of 24 tracks in each phase's range, 1–4 minutes each.
fn music_library() -> String {
    let mut m3u = String::from("#EXTM3U\n");
    for (kind, low, high) in [
        ("warm", 100.0, 120.0),
        ("main", 130.0, 160.0),
        ("intervals", 160.0, 180.0),
        ("cool", 80.0, 100.0),
    ] {
        for i in 0..24_u32 {
            let bpm = low + (high - low) * f64::from(i) / 23.0;
            let duration = 60 + (i * 37) % 180;
            m3u.push_str(&format!(
                "#EXTINF:{duration},Band {kind} - Song {i}\n#EXTBPM:{bpm:.1}\nmusic/{kind}/{i:02}.mp3\n"
            ));
        }
    }
    m3u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_plans_playlist_from_an_uploaded_library() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@music.example", "Music Gym").await);
    let plan = api
        .post_raw(
            "/plans?file_name=vo2-intervals-45.zwo",
            &admin,
            read("plans/vo2-intervals-45.zwo"),
        )
        .await;
    assert_eq!(plan.status, 201, "{}", plan.json);
    let plan = plan.json["id"].as_i64().unwrap();

    let reply = api.get(&format!("/plans/{plan}/playlist"), &admin).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (404, "no_music"),
        "{}",
        reply.json
    );
    let bad = put_music(&api, &admin, b"#EXTM3U\nsong.mp3\n".to_vec()).await;
    assert_eq!(
        (bad.status, code(&bad)),
        (400, "invalid_library"),
        "{}",
        bad.json
    );
    assert!(
        bad.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        bad.json
    );
    let reply = put_music(&api, &admin, music_library().into_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({"format": "m3u", "tracks": 96, "with_bpm": 96})
    );

    let reply = api.get(&format!("/plans/{plan}/playlist"), &admin).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let playlist = &reply.json;
    assert_eq!(playlist["complete"], true, "{playlist}");
    let phases = playlist["phases"].as_array().unwrap();
    let kinds: Vec<&str> = phases.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"warm-up") && kinds.contains(&"cool-down"),
        "{kinds:?}"
    );
    let mut paths = Vec::new();
    for phase in phases {
        let (low, high) = match phase["kind"].as_str().unwrap() {
            "warm-up" => (100.0, 120.0),
            "main" => (130.0, 160.0),
            "intervals" => (160.0, 180.0),
            "cool-down" => (80.0, 100.0),
            other => panic!("{other}"),
        };
        let duration = phase["duration_s"].as_i64().unwrap();
        let tracks = phase["tracks"].as_array().unwrap();
        let total: i64 = tracks
            .iter()
            .map(|t| t["duration_s"].as_i64().unwrap())
            .sum();
        assert_eq!(phase["total_s"], json!(total));
        assert!((total - duration).abs() <= 30, "{phase}");
        for t in tracks {
            let bpm = t["bpm"].as_f64().unwrap();
            assert!((low..=high).contains(&bpm), "{t} in {phase}");
            paths.push(t["path"].as_str().unwrap().to_owned());
        }
    }

    for (path, accept) in [
        (format!("/plans/{plan}/playlist?format=m3u"), None),
        (format!("/plans/{plan}/playlist"), Some("audio/x-mpegurl")),
    ] {
        let accept = ("accept", accept.unwrap_or("application/json"));
        let m3u = raw(&api, Method::GET, &path, &admin, accept, None).await;
        assert_eq!(m3u.status, 200);
        assert!(
            m3u.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("audio/x-mpegurl"),
            "{:?}",
            m3u.headers
        );
        let text = String::from_utf8(m3u.bytes).unwrap();
        assert!(text.starts_with("#EXTM3U\n"), "{text}");
        let listed: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(listed, paths, "the M3U plays the JSON's tracks in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_gym_gets_404_on_every_insights_route() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@home.example", "Home Gym").await);
    let other = access(&api.register_gym("admin@away.example", "Away Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let name = "sample-activity-indoor-trainer.fit";
    let activity = import(&api, &admin, ana, name, read(&format!("fit/{name}"))).await;
    let plan = api
        .post_raw(
            "/plans?file_name=sweet-spot-60.zwo",
            &admin,
            read("plans/sweet-spot-60.zwo"),
        )
        .await;
    let plan = plan.json["id"].as_i64().unwrap();
    let feedback =
        json!({"input": "sleep_s", "output": "check_in_energy", "lag_days": 1, "helpful": false});
    let reply = api
        .post(
            &format!("/athletes/{ana}/insights/feedback"),
            Some(&admin),
            feedback.clone(),
        )
        .await;
    assert_eq!(reply.status, 201);
    // The other gym has a library of its own, so its 404 is the plan's.
    for token in [&admin, &other] {
        let reply = put_music(&api, token, music_library().into_bytes()).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    // Home sees each route answer.
    for path in [
        format!("/activities/{activity}/efficiency"),
        format!("/athletes/{ana}/insights/efficiency"),
        format!("/athletes/{ana}/insights/efficiency.svg"),
        format!("/athletes/{ana}/insights/correlations"),
        format!("/plans/{plan}/playlist"),
    ] {
        let reply = api.get(&path, &admin).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.json);
    }
    for path in [
        format!("/activities/{activity}/efficiency"),
        format!("/athletes/{ana}/insights/efficiency"),
        format!("/athletes/{ana}/insights/efficiency.svg"),
        format!("/athletes/{ana}/insights/correlations"),
        format!("/athletes/{ana}/insights/correlations/0/scatter.svg"),
        format!("/plans/{plan}/playlist"),
    ] {
        let reply = api.get(&path, &other).await;
        assert_eq!(
            (reply.status, code(&reply)),
            (404, "not_found"),
            "{path}: {}",
            reply.json
        );
    }
    let reply = api
        .post(
            &format!("/athletes/{ana}/insights/feedback"),
            Some(&other),
            feedback,
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (404, "not_found"));
    let reply = api
        .post_raw(
            &format!("/athletes/{ana}/daily.csv"),
            &other,
            b"date,protein_g\n2026-01-01,100\n".to_vec(),
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (404, "not_found"));
    // Each gym's feedback list holds its own answers only.
    let listed = api.get("/insights/feedback", &other).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["feedback"], json!([]));
    let listed = api.get("/insights/feedback", &admin).await;
    assert_eq!(listed.json["feedback"].as_array().unwrap().len(), 1);
    // Nothing was written for the other gym's calls.
    let rows: i64 = gateway
        .db()
        .query_row(
            "SELECT count(*) FROM daily_metrics WHERE athlete_id = ?1",
            [ana],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
}

/// A WAV file of `seconds` of 8 kHz mono 8-bit silence, tagged (ID3v2) with a BPM, a
/// title and an artist by `lofty`.
fn tagged_wav(path: &std::path::Path, seconds: u32, bpm: &str, title: &str) {
    use lofty::config::WriteOptions;
    use lofty::prelude::*;
    use lofty::tag::{Tag, TagType};
    let data_len = 8_000 * seconds;
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + data_len).to_le_bytes());
    b.extend(b"WAVEfmt ");
    for field in [16u32.to_le_bytes().to_vec(), vec![1, 0, 1, 0]] {
        b.extend(field);
    }
    b.extend(8_000u32.to_le_bytes());
    b.extend(8_000u32.to_le_bytes());
    b.extend([1, 0, 8, 0]);
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    b.resize(b.len() + data_len as usize, 0x80);
    std::fs::write(path, b).unwrap();
    let mut tag = Tag::new(TagType::Id3v2);
    tag.insert_text(ItemKey::IntegerBpm, bpm.to_owned());
    tag.set_title(title.to_owned());
    tag.set_artist("Test Band".to_owned());
    tag.save_to_path(path, WriteOptions::default()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn music_import_reads_bpm_tags_from_a_folder() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@folder.example", "Folder Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    api.invite_and_register(&admin, "athlete", "ana@folder.example", Some(ana))
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("warm")).unwrap();
    tagged_wav(&dir.path().join("warm/easy.wav"), 3, "112", "Easy Start");
    tagged_wav(&dir.path().join("fast.wav"), 2, "170", "Fast Lane");
    std::fs::write(dir.path().join("broken.mp3"), b"not audio at all").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();

    let out = std::process::Command::new(paceline_testkit::gateway::paceline_bin())
        .args([
            "music",
            "import",
            "--user",
            "Ana@Folder.example",
            "--data-dir",
        ])
        .arg(&gateway.data_dir)
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One file left out: exit status 1, every file named with its progress.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("[1/3] ") && lines[0].contains("broken.mp3: unreadable: "),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("[2/3] ") && lines[1].ends_with("fast.wav: 170 BPM, 2 s"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("[3/3] ") && lines[2].ends_with("easy.wav: 112 BPM, 3 s"),
        "{stdout}"
    );
    assert_eq!(
        lines[3],
        "stored 2 tracks (2 with a BPM); 1 of 3 audio files left out"
    );
    // Stored as an upload is: the user's library, its tracks with their BPM.
    let (format, tracks): (String, String) = gateway
        .db()
        .query_row(
            "SELECT m.format, m.tracks_json FROM music_libraries m
             JOIN users u ON u.id = m.user_id WHERE u.email = 'ana@folder.example'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(format, "folder");
    let tracks: Value = serde_json::from_str(&tracks).unwrap();
    let summary: Vec<(String, f64, i64)> = tracks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap().to_owned(),
                t["bpm"].as_f64().unwrap(),
                t["duration_s"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Fast Lane".to_owned(), 170.0, 2),
            ("Easy Start".to_owned(), 112.0, 3)
        ]
    );
    // A user who is not there: an error naming the flag, nothing stored.
    let out = std::process::Command::new(paceline_testkit::gateway::paceline_bin())
        .args([
            "music",
            "import",
            "--user",
            "nobody@folder.example",
            "--data-dir",
        ])
        .arg(&gateway.data_dir)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--user nobody@folder.example: no such user")
    );
}
