//! `api-bench`: the API's session list under load, against a real `paceline serve`.
//!
//! Seeds a fresh data folder with 10,000 ended sessions of 50 athletes in one tenant
//! (plus a second tenant's 1,000, which must never show), and 100 coach accounts with a
//! login each, then starts `target/release/paceline serve` on it and runs 100 concurrent
//! clients, each its own user, at a fixed rate (open loop: a slow answer does not slow
//! the offered load), asking `GET /api/v1/sessions` in three shapes: the first page, a
//! page filtered by athlete, and a deep page (`before_id`). Latency from send to the end
//! of the body, hdrhistogram p50/p90/p99/p99.9/max per shape.
//!
//! Build the server first: `cargo build --release -p paceline-gateway`, then
//! `cargo run --release -p paceline-bench --bin api-bench [-- --rate-per-client 10 --seconds 30 --runs 3]`.
//! Writes `bench/results/<date>-<machine>-api.{md,json}`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_bench::machine::Machine;
use paceline_bench::stats::Spread;
use paceline_gateway::accounts::Role;
use paceline_gateway::accounts::tokens::{AUDIENCE, Claims, ISSUER, SIGNING_KEY_NAME, TokenKeys};
use paceline_gateway::store::{self, Store};
use paceline_schemas::TenantId;
use rusqlite::params;
use serde_json::Value;

const SESSIONS: i64 = 10_000;
const ATHLETES: i64 = 50;
const CLIENTS: usize = 100;

struct Options {
    rate_per_client: f64,
    seconds: u64,
    runs: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        rate_per_client: 10.0,
        seconds: 30,
        runs: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match arg.as_str() {
            "--rate-per-client" => options.rate_per_client = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--runs" => options.runs = value()?.parse::<usize>()?.max(1),
            other => bail!(
                "unknown argument {other:?} (flags: --rate-per-client R --seconds S --runs N)"
            ),
        }
    }
    Ok(options)
}

/// Seeds the data folder; returns one access token per client.
fn seed(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    store::prepare_data_dir(data_dir)?;
    let db = Store::open(data_dir)?;
    let now_ms = paceline_gateway::clock::GatewayClock::start().now_ms();
    let key =
        db.write(|tx| store::server_secret(tx, &db.server_key(), SIGNING_KEY_NAME, now_ms))?;
    let keys = TokenKeys::from_secret(&key);
    let hash = paceline_gateway::accounts::password::hash_password("bench password 123")?;
    let families = db.write(|tx| -> Result<Vec<(i64, i64, i64)>, store::StoreError> {
        let mut families = Vec::new();
        for (slug, sessions, users) in [("bench-gym", SESSIONS, CLIENTS), ("other-gym", 1_000, 1)] {
            let tenant = TenantId::new(slug).map_err(|e| store::StoreError::Missing {
                what: "tenant",
                name: e.to_string(),
            })?;
            let tenant_row = store::ensure_tenant(tx, &tenant, now_ms)?;
            let mut athletes = Vec::new();
            let mut devices = Vec::new();
            for a in 0..ATHLETES {
                let athlete =
                    store::ensure_athlete(tx, tenant_row, &format!("Athlete {a}"), None, now_ms)?;
                let device =
                    store::add_device(tx, &db.server_key(), &tenant, tenant_row, athlete, now_ms)?;
                let device_row: i64 = tx.query_row(
                    "SELECT id FROM devices WHERE device_id = ?1",
                    params![device.device.as_str()],
                    |r| r.get(0),
                )?;
                athletes.push(athlete);
                devices.push(device_row);
            }
            let mut insert = tx.prepare(
                "INSERT INTO sessions (tenant_id, device_row, athlete_id, session_id, status,
                     started_ms, last_frame_ms, ended_ms, acked_seq, summary_json)
                 VALUES (?1, ?2, ?3, ?4, 'ended', ?5, ?6, ?6, 3600, '{}')",
            )?;
            for s in 0..sessions {
                let a = usize::try_from(s % ATHLETES).unwrap_or(0);
                let started = store::to_i64(now_ms) - (sessions - s) * 3_600_000;
                insert.execute(params![
                    tenant_row,
                    devices[a],
                    athletes[a],
                    format!("ride-{s}"),
                    started,
                    started + 3_600_000
                ])?;
            }
            for u in 0..users {
                let user = store::add_user(
                    tx,
                    tenant_row,
                    &format!("coach{u}@{slug}.example"),
                    "Coach",
                    &hash,
                    Role::GymAdmin.as_str(),
                    None,
                    now_ms,
                )?;
                tx.execute(
                    "INSERT INTO auth_families (user_id, created_ms) VALUES (?1, ?2)",
                    params![user, store::to_i64(now_ms)],
                )?;
                families.push((user, tenant_row, tx.last_insert_rowid()));
            }
        }
        Ok(families)
    })?;
    let now_s = now_ms / 1000;
    families
        .iter()
        .take(CLIENTS)
        .map(|&(user, tenant, family)| {
            keys.issue(&Claims {
                sub: user.to_string(),
                tid: tenant,
                role: Role::GymAdmin,
                fam: family,
                iat: now_s,
                exp: now_s + 3600,
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                imp: None,
            })
            .map_err(anyhow::Error::from)
        })
        .collect()
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
                "p99_ms": figure("p99_ms"),
                "p999_ms": figure("p999_ms"),
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
    ByAthlete,
    DeepPage,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::FirstPage, Shape::ByAthlete, Shape::DeepPage];

    fn name(self) -> &'static str {
        match self {
            Shape::FirstPage => "first page (limit 50)",
            Shape::ByAthlete => "one athlete's (limit 50)",
            Shape::DeepPage => "deep page (before_id, limit 50)",
        }
    }

    fn path(self, i: u64) -> String {
        match self {
            Shape::FirstPage => "/api/v1/sessions?limit=50".to_owned(),
            Shape::ByAthlete => format!("/api/v1/sessions?athlete_id={}&limit=50", 1 + i % 50),
            Shape::DeepPage => format!(
                "/api/v1/sessions?before_id={}&limit=50",
                1000 + (i * 37) % 8000
            ),
        }
    }
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
    let temp = std::env::temp_dir().join(format!("paceline-api-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    let tokens = tokio::task::spawn_blocking({
        let temp = temp.clone();
        move || seed(&temp)
    })
    .await??;
    let (mut child, http) = start_server(&binary, &temp)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
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
    // Check the tenant scoping on the way: a page never holds another tenant's session.
    let page: serde_json::Value = client
        .get(format!("http://{http}/api/v1/sessions?limit=200"))
        .bearer_auth(&tokens[0])
        .send()
        .await?
        .json()
        .await?;
    let items = page["items"].as_array().context("a session page")?;
    if items.len() != 200 {
        bail!("expected a full page, got {page}");
    }
    // The other tenant's athletes are rows 51–100.
    if items
        .iter()
        .any(|s| s["athlete_id"].as_i64().is_none_or(|a| a > ATHLETES))
    {
        bail!("a page holds another tenant's session: {page}");
    }

    let mut results = Vec::new();
    // Runs interleave the shapes, so a burst of other work on the machine spreads over
    // all of them rather than spoiling one.
    for (run, shape) in (1..=options.runs).flat_map(|run| Shape::ALL.map(|shape| (run, shape))) {
        let interval = Duration::from_secs_f64(1.0 / options.rate_per_client);
        let tokens = Arc::new(tokens.clone());
        let mut tasks = Vec::new();
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let cpu_before = paceline_bench::process::cpu_ns(child.id()).unwrap_or(0);
        for c in 0..CLIENTS {
            let client = client.clone();
            let tokens = Arc::clone(&tokens);
            let seconds = options.seconds;
            tasks.push(tokio::spawn(async move {
                let mut histogram =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                let mut errors = 0u64;
                // A whole number of requests, well inside u64.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let count = (seconds as f64 / interval.as_secs_f64()).round() as u64;
                // Spread the clients over the interval.
                let offset = interval.mul_f64(c as f64 / CLIENTS as f64);
                for i in 0..count {
                    let due = start + offset + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due).await;
                    let sent = Instant::now();
                    let reply = client
                        .get(format!("http://{http}{}", shape.path(i + c as u64)))
                        .bearer_auth(&tokens[c])
                        .send()
                        .await;
                    let ok = match reply {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    // Latency from when the request was due (open loop).
                    let latency_us = due.into_std().elapsed().max(sent.elapsed()).as_micros();
                    if ok {
                        let _ = histogram.record(u64::try_from(latency_us).unwrap_or(u64::MAX));
                    } else {
                        errors += 1;
                    }
                }
                (histogram, errors)
            }));
        }
        let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut errors = 0;
        for task in tasks {
            let (h, e) = task.await?;
            total.add(&h)?;
            errors += e;
        }
        let cpu_s =
            (paceline_bench::process::cpu_ns(child.id()).unwrap_or(0) - cpu_before) as f64 / 1e9;
        let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
        results.push(serde_json::json!({
            "run": run,
            "shape": shape.name(),
            "requests": total.len(),
            "errors": errors,
            "rate_per_s": options.rate_per_client * CLIENTS as f64,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
            "max_ms": total.max() as f64 / 1000.0,
            "server_cpu_s": cpu_s,
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
        "cargo build --release -p paceline-gateway && cargo run --release -p paceline-bench --bin api-bench -- --rate-per-client {} --seconds {} --runs {}",
        options.rate_per_client, options.seconds, options.runs
    );
    let stem = machine.result_stem(&root.join("bench/results"), "api");
    let summary = summarise(&results);
    let mut md = format!(
        "# API: session list under load\n\n{}\n\nCommand: `{command}`\n\n\
         {SESSIONS} sessions of {ATHLETES} athletes in the tenant (and 1,000 of another tenant's), \
         {CLIENTS} concurrent clients, each its own gym-admin login, each at {} requests/s \
         (open loop: latency counts from when a request was due), {} s per shape and run, \
         {} runs with the shapes interleaved, against `target/release/paceline serve` in its \
         own process on loopback. Target (issue 7): p99 ≤ 10 ms.\n\n\
         ## Median of {} runs (min–max)\n\n\
         | query | requests | errors | p50 ms | p99 ms | p99.9 ms | server CPU per request µs |\n\
         |---|---|---|---|---|---|---|\n",
        machine.markdown(),
        options.rate_per_client,
        options.seconds,
        options.runs,
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
            "| {} | {} | {} | {} | {} | {} | {:.0} |\n",
            r["shape"].as_str().unwrap_or(""),
            r["requests"],
            r["errors"],
            range(&r["p50_ms"]),
            range(&r["p99_ms"]),
            range(&r["p999_ms"]),
            r["server_cpu_us_per_request"]["median"]
                .as_f64()
                .unwrap_or(f64::NAN),
        ));
    }
    md.push_str(
        "\n## Every run\n\n\
         | run | query | requests | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server CPU s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &results {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |\n",
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
        ));
    }
    std::fs::write(stem.with_extension("md"), &md)?;
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "bench": "api", "command": command, "machine": machine.json(),
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
