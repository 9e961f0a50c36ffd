//! Privacy through the API of one running gateway (issue 25), its log at debug level: a
//! scripted day (a gym, two athletes signing up by invitation, logins and a failed one,
//! a paired device, FIT uploads, check-ins, planning settings, the chat, exports, the
//! deletions) with the athlete's data in every table of the data registry (through the
//! API where a route writes it, SQL for the rest; the test fails naming any registry
//! table left without a row of hers).
//!
//! - Export: `POST /me/export` → ready → a zip with README.txt, one JSON and one CSV per
//!   table holding her rows, her recordings as FIT that fitparser reads; no password hash,
//!   sealed token or digest column anywhere; the link works once (410 after) and not after
//!   the export expired (`PACELINE_EXPORT_TTL_S=3`); a gym-admin's tenant export holds both
//!   athletes.
//! - Deletion: the wrong password 401; the right one 204, her token then 401 and her login
//!   refused; every text and blob column of every table and every file of the data folder
//!   (database and WAL after the checkpoint, logs) scanned for her email and name, every
//!   column referencing a user or an athlete for her ids, the audit for `user:`/`athlete:`
//!   targets: nothing; the other athlete's rows all there; a gym-admin deletes a coach
//!   watching the live board (the socket closes) and the other athlete.
//! - Audit: `GET /admin/audit` by action, family, actor, text and page, each entry with
//!   the client's address; the deletion's entry without personal data.
//! - Logs: no line of the day's log holds an email, a name, the password or any token
//!   handed out.
//!
//! The FIT files come from `shared/data/fit` beside the repository, or
//! `$PACELINE_SHARED_DATA/fit` for a checkout elsewhere.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use paceline_gateway::privacy::deletion::{Person, count_person_rows};
use paceline_testkit::api::*;
use paceline_testkit::wait::{DEADLINE, wait_until};

const HER_EMAIL: &str = "zephyrine.quoll@example.org";
const HER_NAME: &str = "Zephyrine Quoll";
const HIS_EMAIL: &str = "bartholomew.ostrander@example.org";
const HIS_NAME: &str = "Bartholomew Ostrander";
const ADMIN_EMAIL: &str = "owner@privacy-gym.example";

/// A shared FIT file (`shared/data/fit`, or `$PACELINE_SHARED_DATA/fit` for a checkout
/// elsewhere).
fn fit_bytes(name: &str) -> Vec<u8> {
    let shared = std::env::var_os("PACELINE_SHARED_DATA").map_or_else(
        || Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).to_owned(),
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

/// Registers `name` by an athlete invitation for athlete record `athlete`; the token pair.
async fn sign_up(api: &Api, admin: &str, athlete: i64, email: &str, name: &str) -> Value {
    let invite = api
        .post(
            "/invitations",
            Some(admin),
            json!({"role": "athlete", "athlete_id": athlete}),
        )
        .await;
    assert_eq!(invite.status, 201, "{}", invite.json);
    let reply = api
        .post(
            "/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "name": name,
                "invitation": invite.json["code"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    reply.json
}

/// The user row of `email`.
fn user_row(conn: &rusqlite::Connection, email: &str) -> i64 {
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
        r.get(0)
    })
    .unwrap()
}

/// A writable connection to the running gateway's database.
fn writable(gateway: &paceline_testkit::gateway::Gateway) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(gateway.data_dir.join("paceline.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

/// Rows of hers in the tables no route of this day writes.
fn fill_by_sql(conn: &rusqlite::Connection, p: Person, device_row: i64, admin_row: i64) {
    let (t, u, a) = (p.tenant_row, p.user_row, p.athlete_row.unwrap());
    let now = now_ms();
    conn.execute(
        "INSERT INTO sessions (tenant_id, device_row, athlete_id, session_id, status, started_ms, last_frame_ms)
         VALUES (?1, ?2, ?3, 's-zq', 'ended', ?4, ?4)",
        rusqlite::params![t, device_row, a, now],
    )
    .unwrap();
    let s = conn.last_insert_rowid();
    let sql = [
        format!("INSERT INTO frames (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
                 VALUES ({t}, {device_row}, {s}, 1, 'samples', {now}, {now}, 'plausible', x'00')"),
        format!("INSERT INTO samples (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate)
                 VALUES ({s}, {t}, 1, 0, {now}, 'hr', 141)"),
        // The writer's inbox: a frame stored and not yet moved.
        format!("INSERT INTO frames_inbox (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
                 VALUES ({t}, {device_row}, {s}, 2, 'samples', {now}, {now}, 'plausible', x'00')"),
        format!("INSERT INTO samples_inbox (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate)
                 VALUES ({s}, {t}, 2, 1000, {now}, 'hr', 142)"),
        format!("INSERT INTO cues (session_row, tenant_id, output_seq, t_s, severity, code, text, created_ms)
                 VALUES ({s}, {t}, 1, 1.0, 'info', 'ease', 'Ease off, Zephyrine', {now})"),
        format!("INSERT INTO modifications (session_row, tenant_id, cue_id, kind, params_json, created_ms)
                 VALUES ({s}, {t}, last_insert_rowid(), 'ease', '{{}}', {now})"),
        format!("INSERT INTO session_commands (tenant_id, session_row, user_id, command_json, at_ms)
                 VALUES ({t}, {s}, {admin_row}, '{{}}', {now})"),
        format!("INSERT INTO coach_athletes (tenant_id, coach_user_id, athlete_id, created_ms)
                 VALUES ({t}, {admin_row}, {a}, {now})"),
        format!("INSERT INTO daily_plans (tenant_id, athlete_id, date, plan_json, why_json, inputs_json, inputs_digest, created_ms)
                 VALUES ({t}, {a}, '2026-01-02', '{{}}', '[]', '{{}}', 'd', {now})"),
        format!("INSERT INTO life_events (tenant_id, athlete_id, kind, from_date, to_date, summary, created_ms)
                 VALUES ({t}, {a}, 'travel', '2026-01-03', '2026-01-04', 'Quoll family visit', {now})"),
        format!("INSERT INTO insight_reports (tenant_id, athlete_id, days, inputs_digest, report_json, computed_ms)
                 VALUES ({t}, {a}, 60, 'd', '{{}}', {now})"),
        format!("INSERT INTO insight_feedback (tenant_id, athlete_id, user_id, input, output, lag_days, helpful, created_ms)
                 VALUES ({t}, {a}, {u}, 'sleep_s', 'ef', 1, 1, {now})"),
        format!("INSERT INTO music_libraries (tenant_id, user_id, format, tracks_json, updated_ms)
                 VALUES ({t}, {u}, 'm3u', '[{{\"title\": \"Zephyrine''s mix\"}}]', {now})"),
        format!("INSERT INTO chat_terms (tenant_id, user_id, seq, phrase, meaning_json, confidence_tenths, created_ms, last_used_ms)
                 VALUES ({t}, {u}, 1, 'quoll pace', '{{}}', 5, {now}, {now})"),
        format!("INSERT INTO athlete_preferences (tenant_id, athlete_id, preference, source, confidence, status, updated_ms)
                 VALUES ({t}, {a}, '{{\"kind\":\"avoid_part_of_day\",\"part\":\"morning\"}}', 'observed', 0.5, 'proposed', {now})"),
        format!("INSERT INTO provider_connections (tenant_id, athlete_id, user_id, provider, provider_user_id, status, tokens_sealed, created_ms, updated_ms)
                 VALUES ({t}, {a}, {u}, 'strava', 'zq-9001', 'connected', x'0102', {now}, {now})"),
        format!("INSERT INTO sync_jobs (tenant_id, provider, kind, payload, dedup_key, state, run_at_s, attempts, created_ms, updated_ms)
                 VALUES ({t}, 'strava', 'sync_activities',
                   json_object('kind', 'sync_activities', 'connection_id', last_insert_rowid()),
                   'zq-sync', 'dead', 0, 5, {now}, {now})"),
        format!("INSERT INTO sync_jobs (tenant_id, provider, kind, payload, dedup_key, state, run_at_s, attempts, created_ms, updated_ms)
                 VALUES ({t}, 'strava', 'fetch_activity',
                   json_object('kind', 'fetch_activity', 'provider', 'strava', 'owner_id', 'zq-9001', 'activity_id', '7'),
                   'zq-fetch', 'dead', 0, 5, {now}, {now})"),
        format!("INSERT INTO oauth_states (state_sha256, tenant_id, user_id, athlete_id, provider, created_s)
                 VALUES (x'0a0b', {t}, {u}, {a}, 'strava', {})", now / 1000),
        format!("INSERT INTO digest_sends (tenant_id, user_id, athlete_id, week_start, state, attempts, retry_at_ms, updated_ms)
                 VALUES ({t}, {u}, {a}, '2026-01-05', 'sent', 1, {now}, {now})"),
        format!("INSERT INTO digest_optouts (tenant_id, user_id, created_ms) VALUES ({t}, {u}, {now})"),
        format!("INSERT INTO sms_phones (tenant_id, user_id, athlete_id, phone, verified_ms, created_ms)
                 VALUES ({t}, {u}, {a}, '+15550109911', {now}, {now})"),
        format!("INSERT INTO coach_sharing (tenant_id, athlete_id, coach_user_id, live, history, health, updated_ms)
                 VALUES ({t}, {a}, {admin_row}, 1, 1, 0, {now})"),
        format!("INSERT INTO impersonations (tenant_id, admin_user_id, family_id, user_id, started_ms, expires_ms)
                 VALUES ({t}, {admin_row}, (SELECT id FROM auth_families WHERE user_id = {admin_row} LIMIT 1),
                   {u}, {now}, {now})"),
    ];
    for statement in sql {
        conn.execute_batch(&statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// Every (table, column, rowid) whose text or bytes hold one of `needles` (case-insensitive).
fn text_hits(conn: &rusqlite::Connection, needles: &[&str]) -> Vec<String> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut hits = Vec::new();
    for table in tables {
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for column in columns {
            for needle in needles {
                let n: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM {table}
                             WHERE instr(lower(CAST({column} AS TEXT)), lower(?1)) > 0"
                        ),
                        [needle],
                        |r| r.get(0),
                    )
                    .unwrap();
                if n > 0 {
                    hits.push(format!("{table}.{column} holds {needle:?} ({n} rows)"));
                }
            }
        }
    }
    hits
}

/// Every column that references `users` or `athletes` and holds `user` or `athlete`.
fn id_hits(conn: &rusqlite::Connection, user: i64, athlete: i64) -> Vec<String> {
    let mut hits = Vec::new();
    for table in paceline_privacy::REGISTRY {
        let keys: Vec<(String, String)> = conn
            .prepare("SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?1)")
            .unwrap()
            .query_map([table.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut checks: Vec<(String, i64)> = keys
            .into_iter()
            .filter_map(|(column, to)| match to.as_str() {
                "users" => Some((column, user)),
                "athletes" => Some((column, athlete)),
                _ => None,
            })
            .collect();
        match table.name {
            "users" => checks.push(("id".into(), user)),
            "athletes" => checks.push(("id".into(), athlete)),
            _ => {}
        }
        for (column, id) in checks {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {} WHERE {column} = ?1", table.name),
                    [id],
                    |r| r.get(0),
                )
                .unwrap();
            if n > 0 {
                hits.push(format!("{}.{column} = {id} ({n} rows)", table.name));
            }
        }
    }
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE target IN (?1, ?2)",
            [format!("user:{user}"), format!("athlete:{athlete}")],
            |r| r.get(0),
        )
        .unwrap();
    if n > 0 {
        hits.push(format!(
            "audit_log.target names user:{user} or athlete:{athlete} ({n} rows)"
        ));
    }
    hits
}

/// Every file under `dir` whose bytes hold one of `needles`.
fn file_hits(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(file_hits(&path, needles));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        for needle in needles {
            if bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            {
                hits.push(format!("{} holds {needle:?}", path.display()));
            }
        }
    }
    hits
}

/// Asks for an export (`path`) and waits until it is ready; its status.
async fn export_ready(api: &Api, token: &str, path: &str) -> Value {
    let reply = api.post(path, Some(token), json!({})).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let id = reply.json["id"].as_i64().unwrap();
    wait_until("the export is ready", DEADLINE, async || {
        let status = api.get(&format!("/me/exports/{id}"), token).await;
        assert_ne!(status.json["state"], "failed", "{}", status.json);
        (status.json["state"] == "ready").then_some(status.json)
    })
    .await
}

/// Downloads an export link (no token: the link is the credential).
async fn download(api: &Api, url: &str) -> Reply {
    let base = api.base.trim_end_matches("/api/v1");
    let response = reqwest::get(format!("{base}{url}")).await.unwrap();
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

/// The zip's entries by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        entries.insert(file.name().to_owned(), content);
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_delete_and_audit_over_a_day_with_data_in_every_table() {
    let gateway = paceline()
        .env("PACELINE_EXPORT_TTL_S", "3")
        .log_filter("debug,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info")
        .start()
        .await;
    let api = Api::of(&gateway);
    let mut tokens: Vec<String> = Vec::new();

    // The gym, two athletes signing up by invitation.
    let registered = api.register_gym(ADMIN_EMAIL, "Privacy Gym").await;
    let admin = access(&registered);
    tokens.push(registered["refresh_token"].as_str().unwrap().to_owned());
    let her_athlete = api.create_athlete(&admin, HER_NAME).await;
    let his_athlete = api.create_athlete(&admin, HIS_NAME).await;
    let her_pair = sign_up(&api, &admin, her_athlete, HER_EMAIL, HER_NAME).await;
    let his_pair = sign_up(&api, &admin, his_athlete, HIS_EMAIL, HIS_NAME).await;
    tokens.push(her_pair["refresh_token"].as_str().unwrap().to_owned());
    tokens.push(his_pair["refresh_token"].as_str().unwrap().to_owned());
    let wrong = api.login(HER_EMAIL, "not her password at all").await;
    assert_eq!(wrong.status, 401);
    let her_login = api.login(HER_EMAIL, PASSWORD).await;
    assert_eq!(her_login.status, 200, "{}", her_login.json);
    let her = access(&her_login.json);
    tokens.push(her_login.json["refresh_token"].as_str().unwrap().to_owned());
    let his = api.access_token(HIS_EMAIL, PASSWORD).await;
    tokens.extend([admin.clone(), her.clone(), his.clone()]);

    // Her day through the API: a device, two rides, a check-in, settings, the chat.
    let device = api.pair(&admin, her_athlete).await;
    tokens.push(device.token.expose_hex());
    for (token, athlete, file) in [
        (&her, her_athlete, "garmin-fenix-5-bike.fit"),
        (&her, her_athlete, "activity-small-fenix2-run.fit"),
        (&his, his_athlete, "garmin-fenix-5-run.fit"),
    ] {
        let reply = api
            .post_raw(
                &format!("/athletes/{athlete}/activities/import?filename={file}"),
                token,
                fit_bytes(file),
            )
            .await;
        assert_eq!(reply.status, 200, "{file}: {}", reply.json);
        assert_eq!(
            reply.json["results"][0]["status"], "imported",
            "{}",
            reply.json
        );
    }
    for (token, athlete) in [(&her, her_athlete), (&his, his_athlete)] {
        let r = api
            .call(
                Method::PUT,
                &format!("/athletes/{athlete}/daily/2026-01-01"),
                Some(token),
                Some(json!({"hrv_ms": 61, "note": "slept well"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = api
            .call(
                Method::PUT,
                &format!("/athletes/{athlete}/planning-settings"),
                Some(token),
                Some(json!({"availability_min": {"mon": 60, "tue": 60, "wed": 60, "thu": 60, "fri": 60, "sat": 60, "sun": 60}})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = api
            .post("/chat", Some(token), json!({"message": "how was my week?"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }

    // The rest of her rows by SQL; then every table the registry deletes from holds some.
    let conn = writable(&gateway);
    let her_row = user_row(&conn, HER_EMAIL);
    let his_row = user_row(&conn, HIS_EMAIL);
    let admin_row = user_row(&conn, ADMIN_EMAIL);
    let tenant_row: i64 = conn
        .query_row(
            "SELECT tenant_id FROM users WHERE id = ?1",
            [her_row],
            |r| r.get(0),
        )
        .unwrap();
    let device_row: i64 = conn
        .query_row(
            "SELECT id FROM devices WHERE athlete_id = ?1",
            [her_athlete],
            |r| r.get(0),
        )
        .unwrap();
    let her_person = Person {
        tenant_row,
        user_row: her_row,
        athlete_row: Some(her_athlete),
    };
    let his_person = Person {
        tenant_row,
        user_row: his_row,
        athlete_row: Some(his_athlete),
    };
    fill_by_sql(&conn, her_person, device_row, admin_row);

    // Export: her zip.
    let ready = export_ready(&api, &her, "/me/export").await;
    let url = ready["download_url"].as_str().unwrap().to_owned();
    tokens.push(url.rsplit('/').next().unwrap().to_owned());
    let zip = download(&api, &url).await;
    assert_eq!(zip.status, 200, "{}", zip.json);
    assert_eq!(zip.headers["content-type"], "application/zip");
    let entries = unzip(&zip.bytes);
    for name in [
        "README.txt",
        "data/users.json",
        "data/users.csv",
        "data/athletes.json",
        "data/activities.json",
        "data/activities.csv",
        "data/daily_metrics.csv",
        "data/chat_messages.json",
        "data/audit_log.json",
        "data/provider_connections.json",
    ] {
        assert!(
            entries.contains_key(name),
            "{name} missing: {:?}",
            entries.keys()
        );
    }
    let users: Value = serde_json::from_slice(&entries["data/users.json"]).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["email"], HER_EMAIL);
    assert!(users[0].get("password_hash").is_none(), "{users}");
    let activities: Value = serde_json::from_slice(&entries["data/activities.json"]).unwrap();
    // Her two rides (and the ended session once the library job took it), only hers.
    let rides = activities.as_array().unwrap().len();
    assert!((2..=3).contains(&rides), "{activities}");
    assert!(
        activities
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["athlete_id"] == her_athlete)
    );
    let connections: Value =
        serde_json::from_slice(&entries["data/provider_connections.json"]).unwrap();
    assert!(
        connections[0].get("tokens_sealed").is_none(),
        "{connections}"
    );
    let fits: Vec<&String> = entries
        .keys()
        .filter(|n| n.starts_with("activities/") && n.ends_with(".fit"))
        .collect();
    assert!(fits.len() >= 2, "{fits:?}");
    for name in fits {
        let records = fitparser::from_bytes(&entries[name]).expect("a FIT file");
        // The rides hold their whole recordings; the ended live session (seeded with one
        // heart-rate sample) becomes a recording too when the library job takes it first.
        let from_session = name.ends_with("-paceline.fit");
        let minimum = if from_session { 1 } else { 11 };
        let samples = records
            .iter()
            .filter(|r| r.kind() == fitparser::profile::MesgNum::Record)
            .count();
        assert!(samples >= minimum, "{name}: {samples} record messages");
    }
    let readme = String::from_utf8(entries["README.txt"].clone()).unwrap();
    assert!(
        readme.contains(&format!(
            "data/activities.json, data/activities.csv: {rides} rows"
        )),
        "{readme}"
    );
    for (name, content) in &entries {
        let text = String::from_utf8_lossy(content);
        assert!(!text.contains("$argon2"), "{name} holds a password hash");
        // The README names the columns left out; no data file has them.
        if name.starts_with("data/") {
            for secret in [
                "password_hash",
                "tokens_sealed",
                "key_sealed",
                "token_sha256",
                "code_sha256",
            ] {
                assert!(!text.contains(secret), "{name} holds {secret}");
            }
        }
        assert!(
            !text.contains(HIS_NAME) && !text.contains(HIS_EMAIL),
            "{name} holds his data"
        );
    }
    assert!(
        !entries
            .keys()
            .any(|n| n.contains("refresh_tokens") || n.contains("server_secrets"))
    );
    // The link works once.
    let again = download(&api, &url).await;
    assert_eq!(
        (again.status, code(&again)),
        (410, "export_link_used"),
        "{}",
        again.json
    );

    // A link not used before the export expires (3 s here) fails.
    let ready = export_ready(&api, &her, "/me/export").await;
    let id = ready["id"].as_i64().unwrap();
    let late_url = ready["download_url"].as_str().unwrap().to_owned();
    let expires_ms = ready["expires_ms"].as_i64().unwrap();
    wait_until("the export's expiry", DEADLINE, async || {
        now_ms() > expires_ms + 200
    })
    .await;
    let late = download(&api, &late_url).await;
    assert_eq!(
        (late.status, code(&late)),
        (410, "export_link_expired"),
        "{}",
        late.json
    );
    let status = api.get(&format!("/me/exports/{id}"), &her).await;
    assert_eq!(status.json["state"], "expired", "{}", status.json);
    assert_eq!(status.json["download_url"], Value::Null);

    // The gym-admin's export of the gym holds both athletes' rides.
    let ready = export_ready(&api, &admin, "/admin/export").await;
    assert_eq!(ready["scope"], "tenant");
    let tenant_zip = download(&api, ready["download_url"].as_str().unwrap()).await;
    assert_eq!(tenant_zip.status, 200);
    let tenant_entries = unzip(&tenant_zip.bytes);
    let all: Value = serde_json::from_slice(&tenant_entries["data/activities.json"]).unwrap();
    let athletes: std::collections::BTreeSet<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["athlete_id"].as_i64().unwrap())
        .collect();
    assert_eq!(athletes, [her_athlete, his_athlete].into_iter().collect());
    let users: Value = serde_json::from_slice(&tenant_entries["data/users.json"]).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 3);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("password_hash").is_none())
    );
    // An athlete cannot export the gym.
    let refused = api.post("/admin/export", Some(&her), json!({})).await;
    assert_eq!(refused.status, 403);
    // One export of hers left waiting on disk: deletion removes it.
    export_ready(&api, &her, "/me/export").await;
    let exports_dir = gateway.data_dir.join("exports");
    assert_eq!(std::fs::read_dir(&exports_dir).unwrap().count(), 1);

    let her_counts = count_person_rows(&conn, her_person).unwrap();
    let empty: Vec<&str> = her_counts
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| *t)
        .collect();
    assert!(empty.is_empty(), "tables without a row of hers: {empty:?}");
    let his_before = count_person_rows(&conn, his_person).unwrap();

    // Deletion: the password is checked.
    let r = api
        .call(
            Method::DELETE,
            "/me",
            Some(&her),
            Some(json!({"password": "guess"})),
        )
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (401, "invalid_credentials"),
        "{}",
        r.json
    );
    let r = api
        .call(
            Method::DELETE,
            "/me",
            Some(&her),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    let r = api.get("/auth/me", &her).await;
    assert_eq!(r.status, 401, "her token after the deletion: {}", r.json);
    assert_eq!(api.login(HER_EMAIL, PASSWORD).await.status, 401);
    assert_eq!(
        std::fs::read_dir(&exports_dir).unwrap().count(),
        0,
        "her export file"
    );

    // Nothing of hers is left: not in any column, not in any file of the data folder.
    let needles = [HER_EMAIL, "Zephyrine", "Quoll"];
    assert_eq!(text_hits(&conn, &needles), Vec::<String>::new());
    assert_eq!(id_hits(&conn, her_row, her_athlete), Vec::<String>::new());
    let wal = gateway.data_dir.join("paceline.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "the WAL is checkpointed"
    );
    assert_eq!(file_hits(&gateway.data_dir, &needles), Vec::<String>::new());
    // His rows are all there.
    assert_eq!(count_person_rows(&conn, his_person).unwrap(), his_before);
    let mine = api
        .get(&format!("/athletes/{his_athlete}/activities"), &his)
        .await;
    assert_eq!(mine.status, 200);

    // The audit: searchable, with the client's address; the deletion without her data.
    let page = api.get("/admin/audit?action=user.delete", &admin).await;
    assert_eq!(page.status, 200, "{}", page.json);
    let items = page.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", page.json);
    assert_eq!(items[0]["user_id"], Value::Null);
    assert_eq!(items[0]["detail"]["by"], "self");
    assert_eq!(items[0]["ip"], "127.0.0.1");
    assert!(
        items[0]["detail"]["rows_deleted"].as_u64().unwrap() > 30,
        "{}",
        items[0]
    );
    let logins = api.get("/admin/audit?action=login.*", &admin).await;
    let actions: Vec<&str> = logins.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"login"), "{actions:?}");
    assert!(
        actions.iter().all(|a| a.starts_with("login")),
        "{actions:?}"
    );
    let exports = api.get("/admin/audit?q=export&limit=2", &admin).await;
    assert_eq!(exports.json["items"].as_array().unwrap().len(), 2);
    let cursor = exports.json["next_cursor"].as_i64().unwrap();
    let next = api
        .get(
            &format!("/admin/audit?q=export&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert!(next.json["items"][0]["id"].as_i64().unwrap() < cursor);
    let by_admin = api
        .get(
            &format!("/admin/audit?actor={admin_row}&action=athlete.create"),
            &admin,
        )
        .await;
    // Hers was scrubbed with her (its target named her athlete): his is left.
    assert_eq!(
        by_admin.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        by_admin.json
    );
    assert_eq!(
        by_admin.json["items"][0]["target"],
        format!("athlete:{his_athlete}")
    );
    assert_eq!(api.get("/admin/audit", &his).await.status, 403);

    // A gym-admin deletes a coach watching the live board: the socket closes.
    let coach_pair = api
        .invite_and_register(&admin, "coach", "coach@privacy-gym.example", None)
        .await;
    let coach_row = coach_pair["user"]["id"].as_i64().unwrap();
    let mut board = api.live("/live/board", &access(&coach_pair)).await;
    board
        .wait_for("the board's hello", |m| m["type"] == "hello")
        .await;
    let r = api
        .call(
            Method::DELETE,
            &format!("/users/{coach_row}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    // (Fails the test if it stays open past the deadline.)
    let _close = board
        .wait_closed("the deleted coach's board to close", DEADLINE)
        .await;

    // A gym-admin deletes him.
    let r = api
        .call(
            Method::DELETE,
            &format!("/users/{his_row}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(api.get("/auth/me", &his).await.status, 401);
    let needles = [HIS_EMAIL, "Bartholomew", "Ostrander"];
    assert_eq!(text_hits(&conn, &needles), Vec::<String>::new());
    assert_eq!(id_hits(&conn, his_row, his_athlete), Vec::<String>::new());
    let r = api
        .call(
            Method::DELETE,
            &format!("/users/{admin_row}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "not yourself");
    let r = api
        .call(
            Method::DELETE,
            "/me",
            Some(&admin),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!((r.status, code(&r)), (409, "last_admin"), "{}", r.json);

    // The day's log: no email, name, password or token handed out.
    let mut secrets: Vec<String> = vec![
        HER_EMAIL.into(),
        HIS_EMAIL.into(),
        ADMIN_EMAIL.into(),
        "coach@privacy-gym.example".into(),
        HER_NAME.into(),
        HIS_NAME.into(),
        "Zephyrine".into(),
        "Ostrander".into(),
        PASSWORD.into(),
    ];
    secrets.extend(tokens);
    let mut lines = 0usize;
    for entry in std::fs::read_dir(&gateway.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let log = std::fs::read_to_string(&path).unwrap();
        for line in log.lines() {
            lines += 1;
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "{}: a log line holds {secret:?}: {line}",
                    path.display()
                );
            }
        }
    }
    assert!(lines > 50, "the debug log has {lines} lines");
}
