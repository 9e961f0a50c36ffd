//! Provider sync under load: a Strava backfill into a `paceline serve` process while
//! athletes ride live on it, then Strava webhook events at a steady rate.
//!
//! One run:
//! 1. the local provider servers (`paceline-providers`, the test double that speaks
//!    Strava's API) seeded with N activities with their streams, and rate limits far
//!    above what the run uses (the bench measures sync, not the pause);
//! 2. a `paceline serve` process syncing with them, `riders` bench devices paired in its
//!    data folder riding over MQTT ([`crate::gateway::ride`]: frame → cue latency, timed
//!    at the device);
//! 3. after a baseline window of riding alone, a gym-admin connects one athlete to Strava
//!    through the real OAuth flow (authorize page, redirect, callback): the backfill of
//!    every activity (list pages, detail, streams, import) runs in the gateway while the
//!    riders go on; the run ends when the connection shows every activity imported and no
//!    job pending. Reported: activities/s, and the live p99 before and during the backfill;
//! 4. Strava webhook events (`update` of the synced activities, each enqueuing a fetch) at
//!    a fixed rate, open loop (each sent at its time, whatever the previous answers took):
//!    the answer's p50, p99 and max (hdrhistogram, µs).
//!
//! This module measures and reports; it asserts nothing of the figures.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_gateway::store;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::gateway::{COMMAND_EVERY, pair_in, ride};

/// The origin the providers redirect the browser to (the bench follows the redirect
/// itself, so it need not resolve).
const PUBLIC_URL: &str = "http://paceline.bench";
/// The Strava verify token of the bench gateway.
const VERIFY_TOKEN: &str = "bench-verify";
/// The seeded Strava athlete (the providers' default).
const STRAVA_ATHLETE_ID: u64 = 134_815;
/// The first seeded activity's id (the providers number them from here).
const FIRST_ACTIVITY_ID: u64 = 1_000_001;

/// What to run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Activities to backfill.
    pub activities: usize,
    /// Live riders during the backfill.
    pub riders: usize,
    /// Seconds of riding alone before the backfill (the baseline).
    pub baseline_s: u64,
    /// The longest the backfill may take, s.
    pub backfill_limit_s: u64,
    /// Webhook events per second.
    pub webhook_rate: u32,
    /// Seconds of webhook events.
    pub webhook_s: u64,
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Latency {
        Latency {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({"count": self.count, "p50_us": self.p50_us, "p99_us": self.p99_us, "max_us": self.max_us})
    }

    /// `p50 / p99 / max` in ms for a table.
    pub fn cell(&self) -> String {
        if self.count == 0 {
            return "no samples".to_owned();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{:.1} / {:.1} / {:.1} ms ({} samples)",
            ms(self.p50_us),
            ms(self.p99_us),
            ms(self.max_us),
            self.count
        )
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct SyncFigures {
    /// Activities imported by the backfill.
    pub imported: u64,
    /// The backfill's wall time, from the callback's answer to the last import, s.
    pub backfill_s: f64,
    /// Whether it finished within [`SyncOptions::backfill_limit_s`].
    pub backfill_finished: bool,
    /// Frame → cue latency of the riders before the backfill.
    pub live_before: Latency,
    /// Frame → cue latency of the riders during the backfill.
    pub live_during: Latency,
    /// Webhook events sent.
    pub webhook_sent: u64,
    /// Webhook events answered other than 200 (or not at all).
    pub webhook_failed: u64,
    /// Webhook answer times.
    pub webhook: Latency,
}

impl SyncFigures {
    /// Imported activities per second of backfill.
    pub fn activities_per_s(&self) -> f64 {
        self.imported as f64 / self.backfill_s.max(f64::EPSILON)
    }
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary of this workspace next to the running bench (same profile).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .context("this executable's folder")?;
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it first (`cargo build --release -p paceline-gateway -p paceline-providers`)",
            path.display()
        );
    }
    Ok(path)
}

/// Starts the local provider servers with `activities` seeded; their base URL.
fn start_providers(activities: usize) -> anyhow::Result<(Process, String)> {
    let fit_dir = std::env::var("PACELINE_PROVIDERS_FIT_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/fit").to_owned()
    });
    let mut child = Command::new(sibling_binary("paceline-providers")?)
        .args(["--listen", "127.0.0.1:0", "--fit-dir", &fit_dir])
        .args(["--activities", &activities.to_string()])
        // Far above the run's calls: the bench measures sync, not the quota's pause.
        .args(["--rate-limit", "1000000,10000000"])
        .args(["--read-rate-limit", "1000000,10000000"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context("starting paceline-providers")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("its stdout")?)
        .read_line(&mut line)
        .context("reading the providers' address line")?;
    let announced: Value =
        serde_json::from_str(&line).with_context(|| format!("the providers said {line:?}"))?;
    let base = announced["strava_base_url"]
        .as_str()
        .context("no strava_base_url")?
        .to_owned();
    Ok((Process(child), base))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `paceline serve` on `data_dir`, syncing with the providers at `providers`; its
/// HTTP and MQTT addresses.
fn start_gateway(
    data_dir: &Path,
    providers: &str,
) -> anyhow::Result<(Process, SocketAddr, SocketAddr)> {
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (http, mqtt) = (localhost(free_port()?), localhost(free_port()?));
    let quic = localhost(
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
    );
    let log = std::fs::File::create(data_dir.join("server.log")).context("the server log")?;
    let child = Command::new(sibling_binary("paceline")?)
        .arg("serve")
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--http", &http.to_string()])
        .args(["--mqtt", &mqtt.to_string()])
        .args(["--quic", &quic.to_string()])
        .env("PACELINE_LOG", crate::process::SERVER_LOG)
        .env("PACELINE_STRAVA_BASE_URL", providers)
        .env("PACELINE_STRAVA_CLIENT_ID", "paceline-test-client")
        .env("PACELINE_STRAVA_CLIENT_SECRET", "paceline-test-secret")
        .env("PACELINE_STRAVA_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("PACELINE_PUBLIC_URL", PUBLIC_URL)
        .env("PACELINE_OUTBOUND_ALLOW_PRIVATE", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting paceline serve")?;
    let mut server = Process(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while crate::e2e::http_get(http, "/health/ready").is_none_or(|(status, _)| status != 200) {
        if Instant::now() > deadline || !matches!(server.0.try_wait(), Ok(None)) {
            bail!(
                "the gateway did not become ready; its log: {}",
                std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, http, mqtt))
}

/// The gateway's JSON API as a gym-admin.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = answer.status().as_u16();
        let json = answer.json().await.unwrap_or(Value::Null);
        Ok((status, json))
    }
}

/// Registers a gym, creates an athlete and connects it to Strava through the authorize
/// page and the callback; the API and the athlete's id.
async fn connect(http: SocketAddr, providers: &str) -> anyhow::Result<(Api, i64)> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://{http}");
    let registered: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "admin@sync.bench", "password": "correct horse battery staple", "name": "Bench Admin", "tenant": "Sync Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = registered["access_token"]
        .as_str()
        .with_context(|| format!("register answered {registered}"))?
        .to_owned();
    let api = Api {
        client,
        base,
        token,
    };
    let (status, athlete) = api
        .call(
            reqwest::Method::POST,
            "/athletes",
            Some(json!({"name": "Synced Athlete"})),
        )
        .await?;
    let athlete_id = athlete["id"]
        .as_i64()
        .with_context(|| format!("creating the athlete answered {status} {athlete}"))?;
    let (status, started) = api
        .call(
            reqwest::Method::POST,
            "/connections/strava",
            Some(json!({"athlete_id": athlete_id})),
        )
        .await?;
    let authorize = started["authorize_url"]
        .as_str()
        .with_context(|| format!("connecting answered {status} {started}"))?;
    if !authorize.starts_with(providers) {
        bail!("the authorize URL is not the providers': {authorize}");
    }
    let consent = api.client.get(authorize).send().await?;
    let location = consent
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("the authorize page did not redirect")?;
    let callback = location
        .strip_prefix(PUBLIC_URL)
        .and_then(|l| l.strip_prefix("/api/v1"))
        .with_context(|| format!("the redirect is not to the callback: {location}"))?
        .to_owned();
    let (status, connected) = api.call(reqwest::Method::GET, &callback, None).await?;
    if status != 200 {
        bail!("the callback answered {status} {connected}");
    }
    Ok((api, athlete_id))
}

/// The connection's imported activities and pending jobs.
async fn progress(api: &Api) -> anyhow::Result<(u64, u64)> {
    let (_, listed) = api.call(reqwest::Method::GET, "/connections", None).await?;
    let connection = &listed["connections"][0];
    Ok((
        connection["activities_imported"].as_u64().unwrap_or(0),
        connection["pending_jobs"].as_u64().unwrap_or(0),
    ))
}

/// Posts Strava `update` events for the seeded activities at `rate` per second for
/// `seconds`, each at its own time; the answer times and the failures.
async fn webhooks(
    http: SocketAddr,
    activities: usize,
    rate: u32,
    seconds: u64,
) -> (Histogram<u64>, u64, u64) {
    let client = reqwest::Client::new();
    let url = format!("http://{http}/webhooks/strava");
    let total = u64::from(rate) * seconds;
    let period = Duration::from_secs(1) / rate.max(1);
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let failed = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let mut sent = Vec::new();
    for n in 0..total {
        let at = start + period * u32::try_from(n).unwrap_or(u32::MAX);
        tokio::time::sleep_until(at).await;
        let activity = FIRST_ACTIVITY_ID + n % u64::try_from(activities.max(1)).unwrap_or(1);
        let event = json!({
            "object_type": "activity",
            "object_id": activity,
            "aspect_type": "update",
            "updates": {"title": format!("Renamed {n}")},
            "owner_id": STRAVA_ATHLETE_ID,
            "subscription_id": 1,
            "event_time": crate::now_unix_ms() / 1000,
        });
        let (client, url, tx, failed) =
            (client.clone(), url.clone(), tx.clone(), Arc::clone(&failed));
        sent.push(tokio::spawn(async move {
            let began = Instant::now();
            let answer = client.post(&url).json(&event).send().await;
            let took = began.elapsed();
            match answer {
                Ok(answer) if answer.status().as_u16() == 200 => {
                    let _ = tx.send(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    drop(tx);
    for task in sent {
        let _ = task.await;
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    });
    while let Some(us) = rx.recv().await {
        histogram.saturating_record(us);
    }
    (histogram, total, failed.load(Ordering::Relaxed))
}

/// Runs the bench (module docs).
pub fn run(options: &SyncOptions) -> anyhow::Result<SyncFigures> {
    let data_dir = std::env::temp_dir().join(format!("paceline-bench-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    store::prepare_data_dir(&data_dir).context("creating the data folder")?;
    let devices = {
        let handle = store::Store::open(&data_dir).context("opening the bench database")?;
        pair_in(&handle, options.riders)?
    };
    let (providers, providers_base) = start_providers(options.activities)?;
    let (server, http, mqtt) = start_gateway(&data_dir, &providers_base)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let figures = runtime.block_on(async {
        let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<(Instant, Duration)>();
        let start = tokio::time::Instant::now() + Duration::from_secs(1);
        let ride_until =
            start + Duration::from_secs(options.baseline_s + options.backfill_limit_s + 5);
        let riders: Vec<_> = devices
            .into_iter()
            .enumerate()
            .map(|(index, device)| {
                let offset = COMMAND_EVERY.mul_f64(index as f64 / options.riders.max(1) as f64);
                tokio::spawn(ride(
                    device,
                    mqtt,
                    start + crate::sensor_phase(index),
                    offset,
                    (start, ride_until),
                    latency_tx.clone(),
                    Arc::new(AtomicU64::new(0)),
                    Arc::new(AtomicU64::new(0)),
                ))
            })
            .collect();
        drop(latency_tx);
        tokio::time::sleep_until(start + Duration::from_secs(options.baseline_s)).await;
        let baseline_until = Instant::now();
        let (api, _athlete) = connect(http, &providers_base).await?;
        let backfill_from = Instant::now();
        let deadline = backfill_from + Duration::from_secs(options.backfill_limit_s);
        let wanted = u64::try_from(options.activities).unwrap_or(u64::MAX);
        let (mut imported, mut finished) = (0, false);
        while Instant::now() < deadline {
            let (done, pending) = progress(&api).await?;
            imported = done;
            if done >= wanted && pending == 0 {
                finished = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let backfill_until = Instant::now();
        for rider in &riders {
            rider.abort();
        }
        let mut before = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut during = before.clone();
        while let Ok((sent_at, latency)) = latency_rx.try_recv() {
            let us = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            if sent_at < baseline_until {
                before.saturating_record(us);
            } else if sent_at >= backfill_from && sent_at < backfill_until {
                during.saturating_record(us);
            }
        }
        let (webhook, webhook_sent, webhook_failed) = webhooks(
            http,
            options.activities,
            options.webhook_rate,
            options.webhook_s,
        )
        .await;
        anyhow::Ok(SyncFigures {
            imported,
            backfill_s: (backfill_until - backfill_from).as_secs_f64(),
            backfill_finished: finished,
            live_before: Latency::of(&before),
            live_during: Latency::of(&during),
            webhook_sent,
            webhook_failed,
            webhook: Latency::of(&webhook),
        })
    });
    drop(runtime);
    drop(server);
    drop(providers);
    let _ = std::fs::remove_dir_all(&data_dir);
    figures
}
