//! The activity library through the API of a running gateway, with real files: every
//! activity FIT of `shared/data/fit` imported with the device's own totals, imported again
//! as duplicates, exported as FIT, TCX, GPX and CSV and imported again into the same
//! activity; TCX and GPX written by an independent tool (gpsbabel) merged with the FIT
//! copy, the FIT file named in the provenance, and unmerged; manual entries in the units
//! people type; a zip with good, damaged and hostile entries failing only the bad ones;
//! another tenant and an unlinked coach refused with 404 everywhere; `paceline import` on
//! a folder; and a live session that ends appearing as a `paceline` copy.

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use paceline_testkit::api::*;

/// The activity files of the shared data (the others are workouts, settings or damaged).
const ACTIVITY_FILES: [&str; 8] = [
    "Edge810-Vector-2013-08-16-15-35-10.fit",
    "sample-activity-indoor-trainer.fit",
    "developer-types-sample.fit",
    "activity-small-fenix2-run.fit",
    "garmin-edge-500-activity.fit",
    "garmin-fenix-5-bike.fit",
    "garmin-fenix-5-run.fit",
    "compressed-speed-distance.fit",
];

/// Files there that hold no activity Paceline can read.
const NOT_ACTIVITIES: [&str; 4] = [
    "activity-settings-corruptheader.fit",
    "activity-settings-nodata.fit",
    "Settings.fit",
    "WorkoutRepeatSteps.fit",
];

fn fit_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/fit"
    ))
}

fn fit_bytes(name: &str) -> Vec<u8> {
    let path = fit_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn import_raw(api: &Api, token: &str, athlete: i64, name: &str, bytes: Vec<u8>) -> Value {
    let reply = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename={name}"),
            token,
            bytes,
        )
        .await;
    assert_eq!(reply.status, 200, "{name}: {}", reply.json);
    let results = reply.json["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 1, "{name}: {results:?}");
    results[0].clone()
}

/// A multipart/form-data body of `files`, and its content type.
fn multipart(files: &[(&str, &[u8])]) -> (Vec<u8>, String) {
    let boundary = "paceline-test-boundary-7d9f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (body, format!("multipart/form-data; boundary={boundary}"))
}

async fn import_multipart(
    api: &Api,
    token: &str,
    athlete: i64,
    files: &[(&str, &[u8])],
) -> (u16, Value) {
    let (body, content_type) = multipart(files);
    let response = reqwest::Client::new()
        .post(format!("{}/athletes/{athlete}/activities/import", api.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gpsbabel(fit: &Path, format: &str, out: &Path) {
    let status = std::process::Command::new("gpsbabel")
        .args(["-i", "garmin_fit", "-f"])
        .arg(fit)
        .args(["-o", format, "-F"])
        .arg(out)
        .status()
        .expect("gpsbabel is installed (.ci/run installs it)");
    assert!(status.success(), "gpsbabel -o {format}: {status:?}");
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_files_import_deduplicate_export_merge_and_unmerge() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@lib.example", "Library Gym").await);
    let athlete = api.create_athlete(&admin, "Ana").await;

    // Every activity file: imported, with the device's own totals.
    let mut ids = Vec::new();
    for name in ACTIVITY_FILES {
        let bytes = fit_bytes(name);
        let result = import_raw(&api, &admin, athlete, name, bytes.clone()).await;
        assert_eq!(result["status"], "imported", "{name}: {result}");
        let id = result["activity_id"].as_i64().unwrap();
        let activity = api.get(&format!("/activities/{id}"), &admin).await;
        assert_eq!(activity.status, 200);
        let totals = paceline_formats::fit::activity::read_recording(&bytes)
            .unwrap()
            .totals;
        let duration = activity.json["duration_s"].as_f64().unwrap();
        assert!(
            (duration - totals.elapsed_s.unwrap()).abs() <= 3.0,
            "{name}: {duration} s vs {:?}",
            totals.elapsed_s
        );
        let distance = activity.json["distance_m"].as_f64().unwrap();
        let device = totals.distance_m.unwrap();
        assert!(
            (distance - device).abs() <= 0.001 * device + 0.01,
            "{name}: {distance} m vs {device} m"
        );
        assert_eq!(activity.json["source_kinds"], json!(["file"]));
        assert_eq!(activity.json["sources"][0]["format"], "fit");
        ids.push(id);
    }
    // Files with no activity fail alone, with a reason.
    for name in NOT_ACTIVITIES {
        let result = import_raw(&api, &admin, athlete, name, fit_bytes(name)).await;
        assert_eq!(result["status"], "failed", "{name}: {result}");
        assert!(
            result["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{result}"
        );
    }
    // Again: duplicates of the same activities, nothing new.
    for (name, id) in ACTIVITY_FILES.iter().zip(&ids) {
        let result = import_raw(&api, &admin, athlete, name, fit_bytes(name)).await;
        assert_eq!(result["status"], "duplicate", "{name}: {result}");
        assert_eq!(result["activity_id"], *id, "{name}");
    }
    let conn = gateway.db();
    assert_eq!(count(&conn, "SELECT count(*) FROM activities"), 8);
    assert_eq!(count(&conn, "SELECT count(*) FROM activity_sources"), 8);

    // The list: newest first, a page at a time, filtered by sport and date.
    let page = api
        .get(&format!("/athletes/{athlete}/activities?limit=5"), &admin)
        .await;
    assert_eq!(page.status, 200, "{}", page.json);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 5);
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    let rest = api
        .get(
            &format!("/athletes/{athlete}/activities?limit=5&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(rest.json["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest.json["next_cursor"], Value::Null);
    let starts: Vec<i64> = page.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.json["items"].as_array().unwrap())
        .map(|a| a["start_ms"].as_i64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");
    let runs = api
        .get(
            &format!("/athletes/{athlete}/activities?sport=running"),
            &admin,
        )
        .await;
    assert!(
        runs.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["sport"] == "running")
    );
    let in_2013 = api
        .get(
            &format!(
                "/athletes/{athlete}/activities?from=2013-01-01T00:00:00Z&to=2014-01-01T00:00:00Z"
            ),
            &admin,
        )
        .await;
    assert!(
        in_2013.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == ids[0]),
        "{}",
        in_2013.json
    );

    // Exported and imported again, in every format: a duplicate of the same activity.
    let edge = ids[0];
    for format in ["fit", "tcx", "gpx", "csv"] {
        let export = api
            .get(&format!("/activities/{edge}/export.{format}"), &admin)
            .await;
        assert_eq!(export.status, 200, "export.{format}");
        let result = import_raw(
            &api,
            &admin,
            athlete,
            &format!("again.{format}"),
            export.bytes,
        )
        .await;
        assert_eq!(result["status"], "duplicate", "export.{format}: {result}");
        assert_eq!(result["activity_id"], edge, "export.{format}");
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM activities"), 8);
    assert_eq!(count(&conn, "SELECT count(*) FROM activity_sources"), 8);
    let samples = api
        .get(&format!("/activities/{edge}/samples"), &admin)
        .await;
    assert_eq!(samples.status, 200);
    let points = samples.json["points"].as_array().unwrap();
    assert!(
        points.len() <= 2000 && points.len() > 1000,
        "{}",
        points.len()
    );
    assert!(points.iter().any(|p| p["power"].as_u64().is_some()));

    // TCX and GPX written by gpsbabel merge with the FIT copy; the FIT gives the fields.
    let bike = ids[5];
    let dir = tempfile::tempdir().unwrap();
    let fit_path = fit_dir().join(ACTIVITY_FILES[5]);
    let tcx_path = dir.path().join("bike.tcx");
    let gpx_path = dir.path().join("bike.gpx");
    gpsbabel(&fit_path, "gtrnctr,course=0,sport=Biking", &tcx_path);
    gpsbabel(&fit_path, "gpx", &gpx_path);
    let (status, body) = import_multipart(
        &api,
        &admin,
        athlete,
        &[
            ("bike.tcx", &std::fs::read(&tcx_path).unwrap()),
            ("bike.gpx", &std::fs::read(&gpx_path).unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for result in body["results"].as_array().unwrap() {
        assert_eq!(result["status"], "merged", "{result}");
        assert_eq!(result["activity_id"], bike, "{result}");
    }
    let merged = api.get(&format!("/activities/{bike}"), &admin).await.json;
    let sources = merged["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3, "{merged}");
    let fit_source = sources.iter().find(|s| s["format"] == "fit").unwrap()["id"].clone();
    for field in ["start", "duration", "distance", "hr_avg", "samples"] {
        assert_eq!(merged["provenance"][field], fit_source, "{field}: {merged}");
    }
    let tcx_source = sources.iter().find(|s| s["format"] == "tcx").unwrap()["id"]
        .as_i64()
        .unwrap();
    // Unmerged: the TCX copy is an activity of its own again.
    let split = api
        .post(
            &format!("/activities/{bike}/unmerge"),
            Some(&admin),
            json!({"source_id": tcx_source}),
        )
        .await;
    assert_eq!(split.status, 200, "{}", split.json);
    assert_eq!(
        split.json["activity"]["sources"].as_array().unwrap().len(),
        2
    );
    assert_eq!(split.json["split"]["sources"][0]["id"], tcx_source);
    let split_id = split.json["split"]["id"].as_i64().unwrap();
    assert_ne!(split_id, bike);
    // Its only copy cannot be split from it.
    let only = api
        .post(
            &format!("/activities/{split_id}/unmerge"),
            Some(&admin),
            json!({"source_id": tcx_source}),
        )
        .await;
    assert_eq!((only.status, code(&only)), (409, "only_copy"));

    // Precedence: TCX/GPX first makes the TCX-less activity take… the GPX's values.
    let bad = api
        .call(
            Method::PUT,
            "/tenant/activity-precedence",
            Some(&admin),
            Some(json!({"order": ["dropbox"]})),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.json);
    let set = api
        .call(
            Method::PUT,
            "/tenant/activity-precedence",
            Some(&admin),
            Some(json!({"order": ["file_xml"]})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json["order"][0], "file_xml");
    let reordered = api.get(&format!("/activities/{bike}"), &admin).await.json;
    assert_ne!(reordered["provenance"]["start"], fit_source, "{reordered}");

    // Delete: the activity and its copies, audited.
    let deleted = api
        .call(
            Method::DELETE,
            &format!("/activities/{split_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.get(&format!("/activities/{split_id}"), &admin)
            .await
            .status,
        404
    );
    let audit = api.get("/audit", &admin).await;
    assert!(
        audit.json.to_string().contains("activity.delete"),
        "{}",
        audit.json
    );

    // Another tenant, and a coach not linked to Ana: 404 on every activity route.
    let other = access(&api.register_gym("admin@other.example", "Other Gym").await);
    let coach = access(
        &api.invite_and_register(&admin, "coach", "coach@lib.example", None)
            .await,
    );
    let routes: Vec<(Method, String, Option<Value>)> = vec![
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
        (Method::GET, format!("/activities/{edge}"), None),
        (Method::GET, format!("/activities/{edge}/samples"), None),
        (Method::GET, format!("/activities/{edge}/export.fit"), None),
        (Method::GET, format!("/activities/{edge}/export.tcx"), None),
        (Method::GET, format!("/activities/{edge}/export.gpx"), None),
        (Method::GET, format!("/activities/{edge}/export.csv"), None),
        (
            Method::POST,
            format!("/activities/{bike}/unmerge"),
            Some(json!({"source_id": fit_source})),
        ),
        (Method::DELETE, format!("/activities/{edge}"), None),
    ];
    for token in [&other, &coach] {
        for (method, path, body) in &routes {
            let reply = api
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(reply.status, 404, "{method} {path}: {}", reply.json);
            assert_eq!(code(&reply), "not_found", "{method} {path}");
        }
    }
    assert_eq!(
        api.get(&format!("/activities/{edge}"), &admin).await.status,
        200,
        "the refused DELETEs deleted nothing"
    );
    let precedence = api
        .call(
            Method::PUT,
            "/tenant/activity-precedence",
            Some(&coach),
            Some(json!({"order": []})),
        )
        .await;
    assert_eq!(precedence.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_entries_are_stored_in_si_with_what_was_typed() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@manual.example", "Manual Gym").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let reply = api
        .post(
            &format!("/athletes/{athlete}/activities"),
            Some(&admin),
            json!({"sport": "running", "start": "2026-12-01T07:30:00+01:00",
                   "duration": "1:20:00", "distance": "10 mi", "rpe": 6, "name": "Long run"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["status"], "imported");
    let activity = &reply.json["activity"];
    assert_eq!(activity["distance_m"], 16093.44);
    assert_eq!(activity["duration_s"], 4800.0);
    assert_eq!(activity["local_offset_s"], 3600);
    assert_eq!(activity["start"], "2026-12-01T06:30:00Z");
    assert_eq!(activity["load_method"], "rpe");
    assert_eq!(activity["tss"], 80.0);
    assert_eq!(activity["source_kinds"], json!(["manual"]));
    let typed = &activity["sources"][0]["manual_original"];
    assert_eq!(typed["distance"]["original"], "10 mi");
    assert_eq!(typed["distance"]["unit"], "mi");
    assert_eq!(typed["duration"]["original"], "1:20:00");
    // No samples: no export.
    let id = activity["id"].as_i64().unwrap();
    let export = api
        .get(&format!("/activities/{id}/export.fit"), &admin)
        .await;
    assert_eq!((export.status, code(&export)), (404, "no_samples"));
    // Bad input: 422 naming the field.
    for (body, field) in [
        (
            json!({"sport": "running", "start": "2026-12-01T07:30:00Z", "duration": "fast"}),
            "duration",
        ),
        (
            json!({"sport": "running", "start": "2026-12-01T07:30:00Z", "duration": "45 min", "distance": "10 parsecs"}),
            "distance",
        ),
        (
            json!({"sport": "running", "start": "yesterday", "duration": "45 min"}),
            "start",
        ),
        (
            json!({"sport": "running", "start": "2026-12-01T07:30:00Z", "duration": "45 min", "rpe": 11}),
            "rpe",
        ),
        (
            json!({"sport": "quidditch", "start": "2026-12-01T07:30:00Z", "duration": "45 min"}),
            "sport",
        ),
    ] {
        let reply = api
            .post(
                &format!("/athletes/{athlete}/activities"),
                Some(&admin),
                body,
            )
            .await;
        assert_eq!(
            (reply.status, code(&reply)),
            (422, "invalid_field"),
            "{}",
            reply.json
        );
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{message}");
    }
}

/// A zip archive of `entries` (name, bytes), each deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_with_damaged_and_hostile_entries_fails_only_those() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@zip.example", "Zip Gym").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let good_a = fit_bytes("garmin-fenix-5-bike.fit");
    let good_b = fit_bytes("garmin-fenix-5-run.fit");
    let damaged = fit_bytes("activity-unexpected-eof.fit");
    let bomb = vec![0u8; 40 * 1024 * 1024];
    let archive = zip_of(&[
        ("export/bike.fit", &good_a),
        ("export/run.fit", &good_b),
        ("export/damaged.fit", &damaged[..damaged.len() / 2]),
        ("../../escape.fit", &good_a),
        ("export/bomb.fit", &bomb),
    ]);
    let (status, body) = import_multipart(&api, &admin, athlete, &[("export.zip", &archive)]).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    let by_name = |part: &str| {
        results
            .iter()
            .find(|r| r["file"].as_str().unwrap().contains(part))
            .unwrap_or_else(|| panic!("no result for {part}: {results:?}"))
            .clone()
    };
    assert_eq!(by_name("bike.fit")["status"], "imported");
    assert_eq!(by_name("run.fit")["status"], "imported");
    for bad in ["damaged.fit", "escape.fit", "bomb.fit"] {
        let result = by_name(bad);
        assert_eq!(result["status"], "failed", "{result}");
        assert!(
            result["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{result}"
        );
        assert_eq!(result["activity_id"], Value::Null);
    }
    // Nothing of the bad ones stored.
    let conn = gateway.db();
    assert_eq!(count(&conn, "SELECT count(*) FROM activities"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM activity_sources"), 2);
    // The size caps: a file over its cap fails alone; an upload over its cap is 413.
    uploads_over_their_caps().await;
}

/// A gateway with files capped at 5,000 bytes and uploads at 64 KiB.
async fn uploads_over_their_caps() {
    let gateway = paceline()
        .args(&[
            "--import-max-file-bytes",
            "5000",
            "--import-max-upload-bytes",
            "65536",
        ])
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@caps.example", "Caps").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let small = fit_bytes("garmin-fenix-5-bike.fit");
    let large = fit_bytes("garmin-fenix-5-run.fit");
    assert!(small.len() < 5000 && large.len() > 5000);
    let (status, body) = import_multipart(
        &api,
        &admin,
        athlete,
        &[("small.fit", &small), ("large.fit", &large)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "imported", "{body}");
    assert_eq!(body["results"][1]["status"], "failed", "{body}");
    assert!(
        body["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("larger than 5000 bytes"),
        "{body}"
    );
    // 8 MiB, more than the sockets hold: the gateway reads what is still coming before it
    // answers, so the client, still writing, gets the 413 and not a reset connection.
    let reply = api
        .post_raw(
            &format!("/athletes/{athlete}/activities/import?filename=big.fit"),
            &admin,
            vec![0u8; 8 * 1024 * 1024],
        )
        .await;
    assert_eq!(
        (reply.status, code(&reply)),
        (413, "upload_too_large"),
        "{}",
        reply.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_a_folder_one_line_per_file() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@cli.example", "Cli Gym").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("2017");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(
        dir.path().join("bike.fit"),
        fit_bytes("garmin-fenix-5-bike.fit"),
    )
    .unwrap();
    std::fs::write(nested.join("run.fit"), fit_bytes("garmin-fenix-5-run.fit")).unwrap();
    std::fs::write(nested.join("notes.txt"), b"not an activity").unwrap();
    let run = |paths: &[&Path]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paceline"))
            .args(["import", "--data-dir"])
            .arg(&gateway.data_dir)
            .args(["--athlete", &athlete.to_string()])
            .args(paths)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code_1, stdout) = run(&[dir.path()]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines.iter().any(|l| l.ends_with("bike.fit: imported")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("run.fit: imported")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains("notes.txt: failed: ")),
        "{stdout}"
    );
    assert_eq!(code_1, Some(1), "a failed file: exit 1");
    let (code_2, stdout) = run(&[&nested.join("run.fit"), &dir.path().join("bike.fit")]);
    assert_eq!(code_2, Some(0), "{stdout}");
    assert!(
        stdout.lines().all(|l| l.ends_with(": duplicate")),
        "{stdout}"
    );
    let (code_3, _) = run(&[&dir.path().join("missing.fit")]);
    assert_eq!(code_3, Some(2), "a usage error: exit 2");
    let list = api
        .get(&format!("/athletes/{athlete}/activities"), &admin)
        .await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_that_ends_appears_in_the_library() {
    let gateway = paceline().args(&["--session-idle-s", "2"]).start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@live.example", "Live Gym").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let mut device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("library");
    let next = ride_mqtt(&device, &session, 1, 4, |_| 140).await;
    device.send(&session, next, &end()).await;
    device.inbox.wait_ack(&session, next).await;
    let item = wait_until("the ended session in the library", DEADLINE, async || {
        let list = api
            .get(&format!("/athletes/{athlete}/activities"), &admin)
            .await;
        list.json["items"]
            .as_array()
            .and_then(|items| items.first().cloned())
            .ok_or_else(|| format!("not yet: {}", list.json))
    })
    .await;
    assert_eq!(item["source_kinds"], json!(["paceline"]));
    let id = item["id"].as_i64().unwrap();
    let detail = api.get(&format!("/activities/{id}"), &admin).await.json;
    assert_eq!(detail["sources"][0]["kind"], "paceline");
    assert!(detail["power_avg_w"].as_f64().is_some(), "{detail}");
    let samples = api.get(&format!("/activities/{id}/samples"), &admin).await;
    assert_eq!(samples.status, 200, "{}", samples.json);
    assert!(!samples.json["points"].as_array().unwrap().is_empty());
}
