//! `library-bench`: one athlete's activity list under load, against a real `paceline serve`.
//!
//! Seeds a fresh data folder with one athlete's 10,000 activities (plus another tenant's
//! athlete with 1,000, which must never show) through the gateway's own import path
//! (`paceline_gateway::jobs::library::import_copy`, one copy per activity, summarised from a
//! shared FIT file, no samples stored), and one coach login per client (the API allows a
//! user 1,200 requests a minute), each linked to the athlete; then starts
//! `target/release/paceline serve` on it and runs concurrent clients at a fixed rate
//! (open loop: a slow answer does not slow the offered load), asking
//! `GET /api/v1/athletes/{id}/activities` in four shapes: the first page, a date range, a
//! sport filter, and a deep cursor page. Latency from when a request was due to the end of
//! its body, hdrhistogram p50/p90/p99/p99.9/max per shape. The result file also holds
//! SQLite's `EXPLAIN QUERY PLAN` of the list query.
//!
//! Build the server first: `cargo build --release -p paceline-gateway`, then
//! `cargo run --release -p paceline-bench --bin library-bench [-- --clients 20 --rate-per-client 10 --seconds 20 --runs 3]`.
//! Writes `bench/results/<date>-<machine>-library.{md,json}`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_activities::{LoadThresholds, SourceCopy, SourceKind};
use paceline_bench::machine::Machine;
use paceline_bench::stats::Spread;
use paceline_formats::{Limits, Sport, read_file};
use paceline_gateway::accounts::Role;
use paceline_gateway::accounts::tokens::{AUDIENCE, Claims, ISSUER, SIGNING_KEY_NAME, TokenKeys};
use paceline_gateway::jobs::library::{ImportStatus, Owner, import_copy};
use paceline_gateway::store::activities::{CopyExtras, LIST_SQL};
use paceline_gateway::store::{self, Store};
use paceline_schemas::TenantId;
use rusqlite::params;
use serde_json::Value;

/// The athlete's activities.
const ACTIVITIES: i64 = 10_000;
/// The other tenant's athlete's.
const OTHER_ACTIVITIES: i64 = 1_000;
/// Between two activities' starts: 10,000 of them span about 6.8 years.
const SPACING_MS: i64 = 6 * 3_600_000;
/// The date-range shape's window: 14 days, 56 activities (a full page of 50).
const RANGE_MS: i64 = 14 * 24 * 3_600_000;
/// The sport filter's sport: one activity in 20 (the others: 12 in 20 cycling, 5 running,
/// 2 swimming), so a page of 50 walks about 1,000 of the athlete's index entries.
const RARE_SPORT: Sport = Sport::Rowing;

struct Options {
    clients: usize,
    rate_per_client: f64,
    seconds: u64,
    runs: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        clients: 20,
        rate_per_client: 10.0,
        seconds: 20,
        runs: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match arg.as_str() {
            "--clients" => options.clients = value()?.parse::<usize>()?.max(1),
            "--rate-per-client" => options.rate_per_client = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--runs" => options.runs = value()?.parse::<usize>()?.max(1),
            other => bail!(
                "unknown argument {other:?} (flags: --clients N --rate-per-client R --seconds S --runs N)"
            ),
        }
    }
    Ok(options)
}

fn sport_of(i: i64) -> Sport {
    match i % 20 {
        0..12 => Sport::Cycling,
        12..17 => Sport::Running,
        17..19 => Sport::Swimming,
        _ => RARE_SPORT,
    }
}

/// What the seeding leaves for the clients.
struct Seeded {
    /// One coach login's access token per client.
    tokens: Vec<String>,
    /// The athlete's row.
    athlete: i64,
    /// The other tenant's athlete's row.
    other_athlete: i64,
    /// The athlete's activities as `(start_ms, id)`, newest first.
    activities: Vec<(i64, i64)>,
    /// The list query's plan, one step a line.
    plan: Vec<String>,
    /// Seconds the seeding took.
    seed_s: f64,
}

/// A copy of a real ride to clone the activities from.
fn base_copy() -> anyhow::Result<SourceCopy> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fit/Edge810-Vector-2013-08-16-15-35-10.fit");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let entries = read_file("ride.fit", &bytes, &Limits::default())?;
    let recording = entries
        .first()
        .and_then(|e| e.result.as_ref().ok())
        .context("the shared ride does not read")?;
    let thresholds = LoadThresholds {
        ftp_w: Some(250),
        threshold_hr_bpm: Some(168),
        ..LoadThresholds::default()
    };
    Ok(SourceCopy::from_recording(
        SourceKind::File,
        None,
        None,
        None,
        recording,
        &thresholds,
    ))
}

/// Seeds the data folder.
fn seed(data_dir: &Path, clients: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    store::prepare_data_dir(data_dir)?;
    let db = Store::open(data_dir)?;
    let now_ms = paceline_gateway::clock::GatewayClock::start().now_ms();
    let key =
        db.write(|tx| store::server_secret(tx, &db.server_key(), SIGNING_KEY_NAME, now_ms))?;
    let keys = TokenKeys::from_secret(&key);
    let hash = paceline_gateway::accounts::password::hash_password("bench password 123")?;
    let base = base_copy()?;
    let newest_ms = store::to_i64(now_ms) - 24 * 3_600_000;
    let mut athletes = Vec::new();
    let mut activities = Vec::new();
    let mut coaches = Vec::new();
    let mut main_tenant = None;
    for (slug, count, users) in [
        ("bench-gym", ACTIVITIES, clients),
        ("other-gym", OTHER_ACTIVITIES, 1),
    ] {
        let seeded = db.write(|tx| -> Result<_, anyhow::Error> {
            let tenant = TenantId::new(slug)?;
            let tenant_row = store::ensure_tenant(tx, &tenant, now_ms)?;
            let athlete = store::ensure_athlete(tx, tenant_row, "Athlete", None, now_ms)?;
            let owner = Owner {
                tenant_row,
                athlete_row: athlete,
            };
            let mut rows = Vec::new();
            for i in 0..count {
                let mut copy = base.clone();
                // Newest first: activity 0 is a day ago, each next one 6 h earlier.
                copy.start_ms = newest_ms - i * SPACING_MS;
                copy.sport = sport_of(i);
                copy.content_sha256 = Some(sha_of(slug, i));
                copy.fields.name = Some(format!("Activity {i}"));
                let imported = import_copy(tx, owner, &copy, CopyExtras::default(), now_ms)?;
                if imported.status != ImportStatus::Imported {
                    bail!("activity {i} was {:?}, not a new activity", imported.status);
                }
                rows.push((copy.start_ms, imported.activity_id));
            }
            let mut logins = Vec::new();
            for u in 0..users {
                let user = store::add_user(
                    tx,
                    tenant_row,
                    &format!("coach{u}@{slug}.example"),
                    "Coach",
                    &hash,
                    Role::Coach.as_str(),
                    None,
                    now_ms,
                )?;
                tx.execute(
                    "INSERT INTO coach_athletes (tenant_id, coach_user_id, athlete_id, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![tenant_row, user, athlete, store::to_i64(now_ms)],
                )?;
                tx.execute(
                    "INSERT INTO auth_families (user_id, created_ms) VALUES (?1, ?2)",
                    params![user, store::to_i64(now_ms)],
                )?;
                logins.push((user, tx.last_insert_rowid()));
            }
            Ok((tenant_row, athlete, logins, rows))
        })?;
        let (tenant_row, athlete, logins, rows) = seeded;
        athletes.push(athlete);
        if main_tenant.is_none() {
            main_tenant = Some(tenant_row);
            coaches = logins;
            activities = rows;
        }
    }
    let tenant_row = main_tenant.context("no tenant seeded")?;
    let plan = db.read(|conn| {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {LIST_SQL}"))?;
        // A sport-filtered page after a cursor, within a range: every condition in play.
        let steps = stmt
            .query_map(
                rusqlite::named_params! {
                    ":tenant": tenant_row,
                    ":athlete": athletes[0],
                    ":from": 0_i64,
                    ":to": i64::MAX,
                    ":cursor_start": newest_ms,
                    ":cursor_id": i64::MAX,
                    ":sport": RARE_SPORT.name(),
                    ":limit": 50,
                },
                |r| r.get::<_, String>(3),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(steps)
    })?;
    let now_s = now_ms / 1000;
    let tokens = coaches
        .iter()
        .map(|&(user, family)| {
            keys.issue(&Claims {
                sub: user.to_string(),
                tid: tenant_row,
                role: Role::Coach,
                fam: family,
                iat: now_s,
                exp: now_s + 3 * 3600,
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                imp: None,
            })
            .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Seeded {
        tokens,
        athlete: athletes[0],
        other_athlete: athletes[1],
        activities,
        plan,
        seed_s: started.elapsed().as_secs_f64(),
    })
}

/// A distinct content hash per activity (the dedup lookup finds none).
fn sha_of(slug: &str, i: i64) -> [u8; 32] {
    let mut sha = [0u8; 32];
    sha[..8].copy_from_slice(&i.to_be_bytes());
    sha[8] = u8::from(slug.starts_with("other"));
    sha
}

/// Per shape, the median (min, max) of each figure over the runs.
fn summarise(results: &[Value]) -> Vec<Value> {
    Shape::ALL
        .iter()
        .map(|shape| {
            let runs: Vec<&Value> = results
                .iter()
                .filter(|r| r["shape"] == shape.name())
                .collect();
            let spread =
                |f: &dyn Fn(&Value) -> f64| Spread::of(runs.iter().map(|r| f(r)).collect()).json();
            let figure =
                |key: &'static str| spread(&|r: &Value| r[key].as_f64().unwrap_or(f64::NAN));
            let sum = |key: &str| runs.iter().filter_map(|r| r[key].as_u64()).sum::<u64>();
            serde_json::json!({
                "shape": shape.name(),
                "runs": runs.len(),
                "requests": sum("requests"),
                "errors": sum("errors"),
                "p50_ms": figure("p50_ms"),
                "p90_ms": figure("p90_ms"),
                "p99_ms": figure("p99_ms"),
                "p999_ms": figure("p999_ms"),
                "max_ms": figure("max_ms"),
                "server_cpu_us_per_request": spread(&|r: &Value| {
                    let requests = r["requests"].as_f64().unwrap_or(f64::NAN);
                    r["server_cpu_s"].as_f64().unwrap_or(f64::NAN) * 1e6 / requests
                }),
            })
        })
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_server(binary: &Path, data_dir: &Path) -> anyhow::Result<(Child, SocketAddr)> {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mqtt = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let quic_port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http", &http.to_string(), "--mqtt", &mqtt.to_string()])
        .args(["--quic", &format!("127.0.0.1:{quic_port}")])
        .env("PACELINE_LOG", paceline_bench::process::SERVER_LOG)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok((child, http))
}

#[derive(Clone, Copy)]
enum Shape {
    FirstPage,
    DateRange,
    Sport,
    DeepPage,
}

impl Shape {
    const ALL: [Shape; 4] = [
        Shape::FirstPage,
        Shape::DateRange,
        Shape::Sport,
        Shape::DeepPage,
    ];

    fn name(self) -> &'static str {
        match self {
            Shape::FirstPage => "first page (limit 50)",
            Shape::DateRange => "14-day range, from/to (limit 50)",
            Shape::Sport => "sport=rowing, 1 in 20 (limit 50)",
            Shape::DeepPage => "deep cursor page, 8,000–9,500 in (limit 50)",
        }
    }

    /// The query of request `i` (the range and the cursor move through the history).
    fn query(self, i: u64, activities: &[(i64, i64)]) -> String {
        let n = activities.len() as u64;
        let at = |k: u64| activities[usize::try_from(k % n).unwrap_or(0)];
        match self {
            Shape::FirstPage => "limit=50".to_owned(),
            Shape::DateRange => {
                let (start, _) = at(100 + (i * 37) % (n - 200));
                let to = start + 1;
                format!("from={}&to={to}&limit=50", to - RANGE_MS)
            }
            Shape::Sport => format!("sport={}&limit=50", RARE_SPORT.name()),
            Shape::DeepPage => {
                let (start, id) = at(8000 + (i * 37) % 1500);
                format!("cursor={start}_{id}&limit=50")
            }
        }
    }
}

/// Checks the seeded list before timing it: full pages of the athlete's only, the filters
/// holding, and the other tenant's athlete not found.
async fn check_pages(client: &reqwest::Client, base: &str, seeded: &Seeded) -> anyhow::Result<()> {
    let get = |query: String| {
        client
            .get(format!("{base}?{query}"))
            .bearer_auth(&seeded.tokens[0])
            .send()
    };
    for shape in Shape::ALL {
        let page: Value = get(shape.query(7, &seeded.activities))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let items = page["items"].as_array().context("an activity page")?;
        if items.len() != 50 {
            bail!("{}: expected a full page of 50, got {page}", shape.name());
        }
        if items
            .iter()
            .any(|a| a["athlete_id"].as_i64() != Some(seeded.athlete))
        {
            bail!("{}: a page holds another athlete's activity", shape.name());
        }
        if matches!(shape, Shape::Sport) && items.iter().any(|a| a["sport"] != RARE_SPORT.name()) {
            bail!("the sport filter let another sport through: {page}");
        }
    }
    let other = client
        .get(base.replace(
            &format!("/athletes/{}/", seeded.athlete),
            &format!("/athletes/{}/", seeded.other_athlete),
        ))
        .bearer_auth(&seeded.tokens[0])
        .send()
        .await?;
    if other.status() != reqwest::StatusCode::NOT_FOUND {
        bail!(
            "the other tenant's athlete answered {} instead of 404",
            other.status()
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let machine = Machine::detect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // `PACELINE_BIN` names another build of the server.
    let binary = std::env::var_os("PACELINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/paceline"));
    if !binary.exists() {
        bail!("build the server first: cargo build --release -p paceline-gateway");
    }
    let temp = std::env::temp_dir().join(format!("paceline-library-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    let seeded = tokio::task::spawn_blocking({
        let temp = temp.clone();
        let clients = options.clients;
        move || seed(&temp, clients)
    })
    .await??;
    let _ = writeln!(
        std::io::stdout().lock(),
        "seeded {} + {OTHER_ACTIVITIES} activities in {:.1} s; list plan: {:?}",
        seeded.activities.len(),
        seeded.seed_s,
        seeded.plan
    );
    let (mut child, http) = start_server(&binary, &temp)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients)
        .build()?;
    let ready = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("http://{http}/health/ready"))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        if ready.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("the server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!(
        "http://{http}/api/v1/athletes/{}/activities",
        seeded.athlete
    );
    if let Err(e) = check_pages(&client, &base, &seeded).await {
        let _ = child.kill();
        return Err(e);
    }
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let seeded = Arc::new(seeded);
    let mut results = Vec::new();
    // Runs interleave the shapes, so a burst of other work on the machine spreads over
    // all of them rather than spoiling one.
    for (run, shape) in (1..=options.runs).flat_map(|run| Shape::ALL.map(|shape| (run, shape))) {
        let interval = Duration::from_secs_f64(1.0 / options.rate_per_client);
        let mut tasks = Vec::new();
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let cpu_before = paceline_bench::process::cpu_ns(child.id()).unwrap_or(0);
        for c in 0..options.clients {
            let client = client.clone();
            let seeded = Arc::clone(&seeded);
            let base = base.clone();
            let seconds = options.seconds;
            let clients = options.clients;
            tasks.push(tokio::spawn(async move {
                let mut histogram =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                let mut errors = 0u64;
                let mut first_error = None;
                // A whole number of requests, well inside u64.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let count = (seconds as f64 / interval.as_secs_f64()).round() as u64;
                // Spread the clients over the interval.
                let offset = interval.mul_f64(c as f64 / clients as f64);
                for i in 0..count {
                    let due = start + offset + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due).await;
                    let sent = Instant::now();
                    let query = shape.query(i * clients as u64 + c as u64, &seeded.activities);
                    let reply = client
                        .get(format!("{base}?{query}"))
                        .bearer_auth(&seeded.tokens[c])
                        .send()
                        .await;
                    let ok = match reply {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            first_error.get_or_insert_with(|| format!("{status}: {body}"));
                            false
                        }
                        Err(e) => {
                            first_error.get_or_insert_with(|| e.to_string());
                            false
                        }
                    };
                    // Latency from when the request was due (open loop).
                    let latency_us = due.into_std().elapsed().max(sent.elapsed()).as_micros();
                    if ok {
                        let _ = histogram.record(u64::try_from(latency_us).unwrap_or(u64::MAX));
                    } else {
                        errors += 1;
                    }
                }
                (histogram, errors, first_error)
            }));
        }
        let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut errors = 0;
        let mut first_error = None;
        for task in tasks {
            let (h, e, first) = task.await?;
            total.add(&h)?;
            errors += e;
            first_error = first_error.or(first);
        }
        let cpu_s =
            (paceline_bench::process::cpu_ns(child.id()).unwrap_or(0) - cpu_before) as f64 / 1e9;
        let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
        results.push(serde_json::json!({
            "run": run,
            "shape": shape.name(),
            "requests": total.len(),
            "errors": errors,
            "rate_per_s": options.rate_per_client * options.clients as f64,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
            "max_ms": total.max() as f64 / 1000.0,
            "server_cpu_s": cpu_s,
            "first_error": first_error,
            "load_average_after": std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }));
        let _ = writeln!(
            std::io::stdout().lock(),
            "run {run}/{}, {}: {}",
            options.runs,
            shape.name(),
            results.last().map(|r| r.to_string()).unwrap_or_default()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&temp);

    let command = format!(
        "cargo build --release -p paceline-gateway && cargo run --release -p paceline-bench --bin library-bench -- --clients {} --rate-per-client {} --seconds {} --runs {}",
        options.clients, options.rate_per_client, options.seconds, options.runs
    );
    let stem = machine.result_stem(&root.join("bench/results"), "library");
    let summary = summarise(&results);
    let mut md = format!(
        "# Activity library: one athlete's list under load\n\n{}\n\nCommand: `{command}`\n\n\
         One athlete with {ACTIVITIES} activities, one every 6 h back from yesterday (12 in 20 cycling, 5 running, 2 swimming, 1 rowing), \
         and another tenant's athlete with {OTHER_ACTIVITIES}, seeded through the gateway's import path \
         (`paceline_gateway::jobs::library::import_copy`: dedup lookups, merge window, insert, merged view; one copy each, summarised from a shared FIT ride, \
         no samples stored) in {:.1} s. \
         {} concurrent clients, each its own coach's login (role `coach`, linked to the athlete; one login per client because the API allows a user 1,200 requests a minute), each at {} requests/s \
         (open loop: latency counts from when a request was due, to the end of the body), {} s per shape and run, \
         {} runs with the shapes interleaved, against `target/release/paceline serve` in its own process on loopback, \
         asking `GET /api/v1/athletes/{{id}}/activities?…`. The date range moves through the history; the deep page's cursor is \
         the 8,000th–9,500th newest activity. Before timing, every shape is checked to give a full page of the athlete's own \
         activities (and the sport filter only rowing), and the other tenant's athlete answers 404. \
         Load average before the runs: {}. Target (SPEC §9): p99 ≤ 10 ms.\n\n\
         ## Median of {} runs (min–max)\n\n\
         | query | requests | errors | p50 ms | p99 ms | p99.9 ms | max ms | server CPU per request µs |\n\
         |---|---|---|---|---|---|---|---|\n",
        machine.markdown(),
        seeded.seed_s,
        options.clients,
        options.rate_per_client,
        options.seconds,
        options.runs,
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        options.runs,
    );
    let range = |s: &Value| {
        format!(
            "{:.2} ({:.2}–{:.2})",
            s["median"].as_f64().unwrap_or(f64::NAN),
            s["min"].as_f64().unwrap_or(f64::NAN),
            s["max"].as_f64().unwrap_or(f64::NAN)
        )
    };
    for r in &summary {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
            r["shape"].as_str().unwrap_or(""),
            r["requests"],
            r["errors"],
            range(&r["p50_ms"]),
            range(&r["p99_ms"]),
            range(&r["p999_ms"]),
            range(&r["max_ms"]),
            r["server_cpu_us_per_request"]["median"]
                .as_f64()
                .unwrap_or(f64::NAN),
        ));
    }
    md.push_str(
        "\n## Every run\n\n\
         | run | query | requests | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server CPU s | load average after |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &results {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |\n",
            r["run"],
            r["shape"].as_str().unwrap_or(""),
            r["requests"],
            r["errors"],
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p90_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["p999_ms"].as_f64().unwrap_or(0.0),
            r["max_ms"].as_f64().unwrap_or(0.0),
            r["server_cpu_s"].as_f64().unwrap_or(0.0),
            r["load_average_after"].as_str().unwrap_or(""),
        ));
    }
    md.push_str(&format!(
        "\n## The list query's plan\n\n`EXPLAIN QUERY PLAN` of `paceline_gateway::store::activities::LIST_SQL` on the seeded database:\n\n```sql\n{LIST_SQL}\n```\n\n```text\n{}\n```\n\nEach of a page's 50 activities is then read by its primary key (with its copies' kinds).\n",
        seeded.plan.join("\n")
    ));
    std::fs::write(stem.with_extension("md"), &md)?;
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "bench": "library", "command": command, "machine": machine.json(),
            "activities": ACTIVITIES, "other_tenant_activities": OTHER_ACTIVITIES,
            "seed_s": seeded.seed_s, "list_query_plan": seeded.plan,
            "load_average_before": load_before.trim(),
            "summary": summary, "results": results,
        }))?,
    )?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "{md}\nwritten: {}",
        stem.with_extension("md").display()
    );
    Ok(())
}
