//! End-to-end latency and capacity against a real `paceline serve` process.
//!
//! The server is the release binary (`target/release/paceline`, built by `cargo build
//! --release -p paceline-gateway`) started as its own process on ephemeral loopback ports;
//! this process is the load generator. One bench athlete is one device with its own
//! connection — MQTT (rumqttc, QoS 1, `TCP_NODELAY`) or QUIC (quinn, its own endpoint and
//! one stream) — and its own paired credentials, sending sealed frames like an edge agent:
//! heart rate at 1 Hz and power at 4 Hz as real sensors send them, one sample per frame:
//! a power frame every 250 ms and a heart-rate frame on every fourth tick (5 frames/s),
//! each device at its own phase of the period ([`crate::sensor_phase`]). Every 20 s,
//! staggered across devices, a device sends the athlete's "600 minutes left" command,
//! which the coach answers at once with a `time_budget_compressed` cue.
//!
//! **Latency**, two legs, both on this process's monotonic clock. Frame → cue: the
//! instant the device opened the cue − the instant it handed the command frame to its
//! transport (one sample per command). Frame → ack: for **every** frame, the instant the
//! device opened the first ack covering its seq − the instant it handed the frame over
//! (5 samples per athlete-second, so a point has tens of thousands and its p99.9 means
//! something). **Frames**: sent (every frame, warm-up included), acked (the highest
//! `committed_seq` each device heard, summed), stored (rows in the server's `frames`
//! table after a clean SIGTERM shutdown), lost = sent − stored. **Cost**, over the
//! measured window, from `/proc/<pid>/stat` (user + system): the server's CPU seconds per
//! 1,000 frames sent in the window (and µs per frame), and the load generator's own CPU
//! (this process) beside it, so a saturated generator shows; the server's RSS at the end
//! of the window and peak (`VmHWM`). Where the machine has two or more cores the load
//! generator is pinned to the last one and the server to the others (`taskset`;
//! `PACELINE_BENCH_PIN=0` leaves both to the scheduler).
//!
//! The first device is paired with `paceline device add --json` (which also creates the
//! data folder, database and certificate); the others with the same library calls that
//! command makes (`paceline_gateway::store::add_device`), in one transaction, before the
//! server starts — ten thousand `device add` processes would take longer than the runs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_gateway::store;
use paceline_schemas::command::TimeLeft;
use paceline_schemas::hello::{DeviceHello, DeviceToken, encode_hello};
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate};
use paceline_schemas::stream::{FrameReader, write_frame};
use paceline_schemas::{
    AthleteProfile, Command as PlCommand, CueCode, DeviceId, DeviceKey, FrameHeader, Payload,
    Sample, SampleBatch, SampleValue, SessionId, TenantId, Topic, codec, seal,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::process::ProcessSample;

/// The plan the athletes are coached against: an hour of steady work.
const STEADY_PLAN: &str = r#"{"name":"Bench: steady hour","sport":"bike","steps":[
{"kind":"step","intent":"work","duration_s":3600,"target":{"kind":"power_ftp","low_pct":70,"high_pct":80}}]}"#;
/// The athletes' profile.
const PROFILE: &str = r#"{"age":38,"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000}"#;
/// How often each device says how many minutes it has left.
const COMMAND_EVERY: Duration = Duration::from_secs(20);
/// How long all devices together may take to connect.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// Devices connecting at the same time.
const CONNECTING_AT_ONCE: usize = 64;
/// How long a device waits for its last ack after the ride.
const LAST_ACK_WAIT: Duration = Duration::from_secs(20);

/// How the bench devices reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// MQTT 3.1.1 over TCP through the gateway's embedded broker.
    Mqtt,
    /// QUIC, one stream per device.
    Quic,
}

impl Transport {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Mqtt => "mqtt",
            Transport::Quic => "quic",
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct RunFigures {
    /// Transport.
    pub transport: Transport,
    /// Devices (athletes).
    pub athletes: usize,
    /// Devices that connected.
    pub connected: usize,
    /// Seconds measured (after the warm-up).
    pub measured_s: u64,
    /// Frames sent in the whole ride (warm-up, commands and the end included).
    pub frames_sent: u64,
    /// Frames acknowledged (the highest ack each device heard, summed).
    pub frames_acked: u64,
    /// Frames the server stored (rows after its clean shutdown).
    pub frames_stored: u64,
    /// Commands sent while measuring.
    pub commands: u64,
    /// Cues measured.
    pub cues: u64,
    /// Latency percentiles, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest, µs.
    pub max_us: u64,
    /// Frames the devices sent in the measured window (sensor frames and commands).
    pub frames_measured: u64,
    /// Frame → ack latency of every frame sent in the window, µs: how many, p50, p99,
    /// p99.9 and the largest.
    pub ack_us: LegFigures,
    /// Server CPU seconds over the measured window.
    pub server_cpu_s: f64,
    /// Load generator CPU seconds over the measured window.
    pub loadgen_cpu_s: f64,
    /// How the processes were placed on cores (`taskset` lists), or why not.
    pub placement: String,
    /// Server CPU over the measured window, % of one core.
    pub server_cpu_pct: f64,
    /// Server RSS at the end of the measured window, MiB.
    pub server_rss_mib: f64,
    /// Server peak RSS (`VmHWM`), MiB.
    pub server_peak_rss_mib: f64,
    /// Load generator (this process) CPU over the measured window, % of one core.
    pub loadgen_cpu_pct: f64,
    /// The server's own figures from `/metrics` at the end of the ride: mean frame-in →
    /// cue-out (ms), mean commit (ms), mean operations per commit, downlink frames dropped.
    pub server_internal: ServerInternal,
    /// Why the run counts as fallen over, if it does.
    pub fell_over: Option<String>,
}

/// One latency leg's figures, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LegFigures {
    /// Samples.
    pub samples: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl LegFigures {
    fn of(histogram: &Histogram<u64>) -> LegFigures {
        LegFigures {
            samples: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"samples": self.samples, "p50_us": self.p50, "p99_us": self.p99, "p999_us": self.p999, "max_us": self.max})
    }
}

/// What the server's `/metrics` said at the end of a ride (where the time goes inside).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerInternal {
    /// Mean of `paceline_cue_latency_seconds` (the session's latest frame in → cue out), ms.
    pub cue_mean_ms: f64,
    /// Mean of `paceline_db_commit_seconds`, ms.
    pub commit_mean_ms: f64,
    /// Mean of `paceline_db_batch_ops`.
    pub ops_per_commit: f64,
    /// `paceline_downlink_dropped_total`.
    pub downlink_dropped: f64,
    /// Uplink leg, device send → server receipt (`received_ms − sent_ms` of the stored
    /// frames, ms resolution, wall clock of the same machine): p50, p99, max in ms.
    pub uplink_ms: [u64; 3],
}

impl ServerInternal {
    fn read(http: SocketAddr) -> ServerInternal {
        let Some((_, text)) = http_get(http, "/metrics") else {
            return ServerInternal::default();
        };
        let value = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let mean = |base: &str| {
            let count = value(&format!("{base}_count"));
            if count > 0.0 {
                value(&format!("{base}_sum")) / count
            } else {
                f64::NAN
            }
        };
        ServerInternal {
            cue_mean_ms: mean("paceline_cue_latency_seconds") * 1000.0,
            commit_mean_ms: mean("paceline_db_commit_seconds") * 1000.0,
            ops_per_commit: mean("paceline_db_batch_ops"),
            downlink_dropped: value("paceline_downlink_dropped_total"),
            uplink_ms: [0; 3],
        }
    }
}

impl RunFigures {
    /// Frames sent and not stored.
    pub fn frames_lost(&self) -> u64 {
        self.frames_sent.saturating_sub(self.frames_stored)
    }

    /// Measured commands that got no cue.
    pub fn unanswered(&self) -> u64 {
        self.commands.saturating_sub(self.cues)
    }

    /// Server CPU seconds per 1,000 frames sent in the measured window.
    pub fn server_cpu_s_per_1000_frames(&self) -> f64 {
        self.server_cpu_s / self.frames_measured.max(1) as f64 * 1000.0
    }

    /// Server CPU per frame, µs (the issue's target: ≤ 25 at 5,000 athletes).
    pub fn server_us_per_frame(&self) -> f64 {
        self.server_cpu_s / self.frames_measured.max(1) as f64 * 1e6
    }

    /// Load generator CPU per frame, µs (it should stay well below the server's).
    pub fn loadgen_us_per_frame(&self) -> f64 {
        self.loadgen_cpu_s / self.frames_measured.max(1) as f64 * 1e6
    }

    /// The figures as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "transport": self.transport.name(), "athletes": self.athletes, "connected": self.connected,
            "measured_s": self.measured_s, "frames_sent": self.frames_sent, "frames_acked": self.frames_acked,
            "frames_stored": self.frames_stored, "frames_lost": self.frames_lost(),
            "commands": self.commands, "cues": self.cues, "unanswered": self.unanswered(),
            "p50_us": self.p50_us, "p90_us": self.p90_us, "p99_us": self.p99_us,
            "p999_us": self.p999_us, "max_us": self.max_us,
            "server_cpu_pct_of_one_core": self.server_cpu_pct, "server_rss_mib": self.server_rss_mib,
            "server_peak_rss_mib": self.server_peak_rss_mib, "loadgen_cpu_pct_of_one_core": self.loadgen_cpu_pct,
            "server_cue_mean_ms": self.server_internal.cue_mean_ms,
            "server_commit_mean_ms": self.server_internal.commit_mean_ms,
            "server_ops_per_commit": self.server_internal.ops_per_commit,
            "server_downlink_dropped": self.server_internal.downlink_dropped,
            "uplink_ms_p50_p99_max": self.server_internal.uplink_ms,
            "frames_measured": self.frames_measured, "frame_to_ack": self.ack_us.json(),
            "server_cpu_s": self.server_cpu_s, "server_cpu_s_per_1000_frames": self.server_cpu_s_per_1000_frames(),
            "server_us_per_frame": self.server_us_per_frame(),
            "loadgen_cpu_s": self.loadgen_cpu_s, "loadgen_us_per_frame": self.loadgen_us_per_frame(),
            "placement": self.placement,
            "fell_over": self.fell_over,
        })
    }
}

/// A device's credentials.
#[derive(Clone)]
struct Creds {
    tenant: TenantId,
    device: DeviceId,
    key: DeviceKey,
    token: DeviceToken,
}

/// The `paceline` release binary next to this one.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe.parent().context("this executable's folder")?;
    let path = dir.join("paceline");
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p paceline-gateway`",
            path.display()
        );
    }
    Ok(path)
}

/// A `paceline serve` process on loopback.
pub struct Server {
    child: Child,
    /// HTTP address.
    pub http: SocketAddr,
    /// MQTT address.
    pub mqtt: SocketAddr,
    /// QUIC address.
    pub quic: SocketAddr,
}

fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn settings_args(
    data_dir: &Path,
    http: SocketAddr,
    mqtt: SocketAddr,
    quic: SocketAddr,
) -> Vec<String> {
    vec![
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--http".to_owned(),
        http.to_string(),
        "--mqtt".to_owned(),
        mqtt.to_string(),
        "--quic".to_owned(),
        quic.to_string(),
    ]
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the clean exit that flushes the writer.
    pub fn terminate(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("sending SIGTERM to the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the server did not stop within 60 s of SIGTERM")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Creates a data folder with `athletes` paired devices (the plan assigned to each) and
/// starts `paceline serve` on it. Returns the server and the devices.
fn start_server(
    binary: &Path,
    data_dir: &Path,
    athletes: usize,
) -> anyhow::Result<(Server, Vec<Creds>)> {
    let _ = std::fs::remove_dir_all(data_dir);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let http = localhost(free_tcp_port()?);
    let mqtt = localhost(free_tcp_port()?);
    let quic = localhost(free_udp_port()?);
    let args = settings_args(data_dir, http, mqtt, quic);
    let profile = data_dir.join("bench-profile.json");
    std::fs::write(&profile, PROFILE).context("writing the bench profile")?;
    let first = Command::new(binary)
        .args([
            "device",
            "add",
            "--json",
            "--tenant",
            "bench-gym",
            "--athlete",
            "rider-0",
            "--profile",
        ])
        .arg(&profile)
        .args(&args)
        .output()
        .context("running paceline device add")?;
    if !first.status.success() {
        bail!(
            "paceline device add failed: {}",
            String::from_utf8_lossy(&first.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&first.stdout).context("device add's JSON")?;
    let text = |k: &str| {
        json[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("device add printed no {k}"))
    };
    let mut devices = vec![Creds {
        tenant: TenantId::new(text("tenant")?)?,
        device: DeviceId::new(text("device")?)?,
        key: DeviceKey::from_hex(&text("key")?)?,
        token: DeviceToken::from_hex(&text("token")?)?,
    }];
    pair_more(data_dir, athletes, &mut devices)?;
    let log =
        std::fs::File::create(data_dir.join("server.log")).context("creating the server log")?;
    let child = Command::new(binary)
        .arg("serve")
        .args(&args)
        .env("PACELINE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} serve", binary.display()))?;
    let mut server = Server {
        child,
        http,
        mqtt,
        quic,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http_get(http, "/health/ready").is_some_and(|(status, _)| status == 200) {
            break;
        }
        if !server.is_running() || Instant::now() > deadline {
            bail!(
                "the server did not become ready; its log: {}",
                std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((server, devices))
}

/// Pairs riders 1.. (rider 0 came from the CLI) and assigns the plan to all of them.
fn pair_more(data_dir: &Path, athletes: usize, devices: &mut Vec<Creds>) -> anyhow::Result<()> {
    let store_handle = store::Store::open(data_dir).context("opening the bench database")?;
    let mut conn = store::connect(store_handle.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = crate::now_unix_ms();
    let tenant = devices[0].tenant.clone();
    let tenant_row = store::ensure_tenant(&tx, &tenant, now)?;
    let profile_template: AthleteProfile = codec::from_json(PROFILE.as_bytes())?;
    let plan = codec::from_json(STEADY_PLAN.as_bytes())?;
    let plan_row = store::add_plan(&tx, tenant_row, "json", &plan, now)?;
    for index in 0..athletes {
        let name = format!("rider-{index}");
        let mut profile = profile_template.clone();
        profile.name = Some(name.clone());
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now)?;
        store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
        if index == 0 {
            continue;
        }
        let new = store::add_device(
            &tx,
            &store_handle.server_key(),
            &tenant,
            tenant_row,
            athlete_row,
            now,
        )?;
        devices.push(Creds {
            tenant: new.tenant.clone(),
            device: new.device.clone(),
            key: new.key.clone(),
            token: new.token.clone(),
        });
    }
    tx.commit().context("storing the bench devices")?;
    Ok(())
}

/// A plain HTTP/1.1 GET: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

/// What one device's listener shares with its rider.
struct DeviceState {
    command_sent: Mutex<Option<Instant>>,
    acked: AtomicU64,
    /// Frames handed over and not yet acked: (seq, when), in seq order. Its capacity is
    /// made once; a frame costs a push and, when its ack comes, a pop.
    in_flight: Mutex<VecDeque<(u64, Instant)>>,
}

impl Default for DeviceState {
    fn default() -> Self {
        DeviceState {
            command_sent: Mutex::new(None),
            acked: AtomicU64::new(0),
            in_flight: Mutex::new(VecDeque::with_capacity(256)),
        }
    }
}

impl DeviceState {
    /// Notes that frame `seq` is handed to the transport now.
    fn handing_over(&self, seq: u64) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.push_back((seq, Instant::now()));
        }
    }
}

/// Every frame's frame → ack latency, recorded by the devices' listeners.
struct AckRecorder {
    /// The measured window, set when the ride is scheduled: frames handed over in it
    /// count.
    window: OnceLock<(Instant, Instant)>,
    histogram: Mutex<Histogram<u64>>,
}

impl AckRecorder {
    fn new() -> anyhow::Result<AckRecorder> {
        Ok(AckRecorder {
            window: OnceLock::new(),
            histogram: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        })
    }

    /// Records the frames of `state` up to `committed_seq`, acked at `at`.
    fn acked(&self, state: &DeviceState, committed_seq: u64, at: Instant) {
        let Some(&(from, until)) = self.window.get() else {
            return;
        };
        let Ok(mut in_flight) = state.in_flight.lock() else {
            return;
        };
        let mut histogram = None;
        while let Some(&(seq, sent)) = in_flight.front() {
            if seq > committed_seq {
                break;
            }
            in_flight.pop_front();
            if sent >= from && sent < until {
                let us = u64::try_from((at - sent).as_micros()).unwrap_or(u64::MAX);
                if histogram.is_none() {
                    histogram = self.histogram.lock().ok();
                }
                if let Some(h) = histogram.as_mut() {
                    h.saturating_record(us.max(1));
                }
            }
        }
    }
}

/// Where a device's listener reports what it measured.
#[derive(Clone)]
struct Probes {
    cues: Latencies,
    acks: Arc<AckRecorder>,
}

/// How a rider sends frames.
enum Uplink {
    Mqtt {
        client: AsyncClient,
        topic: String,
    },
    Quic {
        send: quinn::SendStream,
        _endpoint: quinn::Endpoint,
        _connection: quinn::Connection,
    },
}

impl Uplink {
    async fn send(&mut self, frame: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Uplink::Mqtt { client, topic } => {
                client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, frame)
                    .await?;
            }
            Uplink::Quic { send, .. } => {
                let mut prefixed = Vec::with_capacity(frame.len() + 4);
                write_frame(&mut prefixed, &frame)?;
                send.write_all(&prefixed).await?;
            }
        }
        Ok(())
    }

    async fn close(self) {
        match self {
            Uplink::Mqtt { client, .. } => {
                let _ = client.disconnect().await;
            }
            Uplink::Quic {
                mut send,
                _connection,
                ..
            } => {
                let _ = send.finish();
                _connection.close(0u32.into(), b"done");
            }
        }
    }
}

/// Where a listener sends what it measured.
type Latencies = mpsc::UnboundedSender<(Instant, Duration)>;

/// Handles one downlink frame.
fn on_downlink(key: &DeviceKey, state: &DeviceState, probes: &Probes, bytes: &[u8]) {
    let opened_at = Instant::now();
    let Ok(frame) = codec::decode_frame(bytes) else {
        return;
    };
    match seal::open(key, &frame) {
        Ok(Payload::Cue(cue)) if cue.code == CueCode::TimeBudgetCompressed => {
            let sent = state.command_sent.lock().ok().and_then(|mut s| s.take());
            if let Some(sent) = sent {
                let _ = probes.cues.send((sent, opened_at - sent));
            }
        }
        Ok(Payload::Ack(ack)) => {
            state.acked.fetch_max(ack.committed_seq, Ordering::Relaxed);
            probes.acks.acked(state, ack.committed_seq, opened_at);
        }
        _ => {}
    }
}

async fn connect_mqtt(
    creds: &Creds,
    mqtt: SocketAddr,
    state: Arc<DeviceState>,
    probes: Probes,
) -> anyhow::Result<(Uplink, tokio::task::JoinHandle<()>)> {
    let mut options = MqttOptions::new(creds.device.as_str(), mqtt.ip().to_string(), mqtt.port());
    options.set_credentials(creds.device.as_str(), creds.token.expose_hex());
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(128 * 1024, 128 * 1024);
    options.set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    eventloop.network_options.set_tcp_nodelay(true);
    eventloop.network_options.set_connection_timeout(30);
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let key = creds.key.clone();
    let listener = tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    on_downlink(&key, &state, &probes, &publish.payload);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "bench device: MQTT connection error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    client
        .subscribe(
            Topic::down(&creds.tenant, &creds.device).to_string(),
            QoS::AtLeastOnce,
        )
        .await?;
    if tokio::time::timeout(Duration::from_secs(60), subscribed_rx)
        .await
        .is_err()
    {
        listener.abort();
        bail!("no SUBACK within 60 s");
    }
    let topic = Topic::up(&creds.tenant, &creds.device).to_string();
    Ok((Uplink::Mqtt { client, topic }, listener))
}

fn quic_client_config(cert_pem: &Path) -> anyhow::Result<quinn::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_file(cert_pem)
        .with_context(|| format!("reading {}", cert_pem.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"paceline/1".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

async fn connect_quic(
    creds: &Creds,
    quic: SocketAddr,
    config: quinn::ClientConfig,
    state: Arc<DeviceState>,
    probes: Probes,
) -> anyhow::Result<(Uplink, tokio::task::JoinHandle<()>)> {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    endpoint.set_default_client_config(config);
    let connection = tokio::time::timeout(
        Duration::from_secs(30),
        endpoint.connect(quic, "localhost")?,
    )
    .await
    .context("QUIC handshake timed out")??;
    let (mut send, mut recv) = connection.open_bi().await?;
    let hello = encode_hello(&DeviceHello {
        tenant: creds.tenant.clone(),
        device: creds.device.clone(),
        token: creds.token.clone(),
    })?;
    let mut prefixed = Vec::new();
    write_frame(&mut prefixed, &hello)?;
    send.write_all(&prefixed).await?;
    let key = creds.key.clone();
    let listener = tokio::spawn(async move {
        let mut reader = FrameReader::new();
        let mut buffer = vec![0u8; 8192];
        while let Ok(Some(n)) = recv.read(&mut buffer).await {
            reader.push(buffer.get(..n).unwrap_or_default());
            while let Ok(Some(frame)) = reader.next_frame() {
                on_downlink(&key, &state, &probes, &frame);
            }
        }
    });
    Ok((
        Uplink::Quic {
            send,
            _endpoint: endpoint,
            _connection: connection,
        },
        listener,
    ))
}

/// When the ride starts and what is measured, shared by all riders.
#[derive(Clone, Copy)]
struct Schedule {
    start: tokio::time::Instant,
    measure_from: tokio::time::Instant,
    ride_until: tokio::time::Instant,
}

/// Counters shared by all riders.
#[derive(Default)]
struct Totals {
    commands_measured: AtomicU64,
    /// Frames handed over in the measured window.
    frames_measured: AtomicU64,
    connected: AtomicUsize,
}

fn seal_frame(
    creds: &Creds,
    session: &SessionId,
    seq: u64,
    payload: &Payload,
) -> anyhow::Result<Vec<u8>> {
    let header = FrameHeader {
        kind: payload.kind(),
        tenant: creds.tenant.clone(),
        device: creds.device.clone(),
        session: session.clone(),
        seq,
        sent_ms: crate::now_unix_ms(),
    };
    Ok(codec::encode_frame(&seal::seal(
        &creds.key, header, payload,
    )?)?)
}

/// The sensor frames of one 250 ms tick: power every tick, heart rate every fourth.
fn sensor_values(tick: u64) -> impl Iterator<Item = SampleValue> {
    let power = SampleValue::CyclingPower(CyclingPower {
        power_w: 180 + i16::try_from(tick % 11).unwrap_or(0),
        cadence_rpm: Some(90.0),
        ..CyclingPower::default()
    });
    let heart_rate = tick.is_multiple_of(4).then(|| {
        SampleValue::HeartRate(HeartRate {
            bpm: 135 + u16::try_from(tick % 7).unwrap_or(0),
            contact: Contact::On,
            energy_kj: None,
            rr_1024: vec![],
        })
    });
    heart_rate.into_iter().chain(std::iter::once(power))
}

fn sensor_payload(tick: u64, value: SampleValue) -> anyhow::Result<Payload> {
    let batch = SampleBatch::new(vec![Sample {
        t_ms: tick * 250,
        value,
    }])
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(Payload::Samples(batch))
}

/// One device: connects, waits for the start, rides, ends, waits for its last ack.
/// Returns the frames it sent and the highest seq acked.
#[allow(
    clippy::too_many_arguments,
    reason = "one bench device's whole setting"
)]
async fn device(
    creds: Creds,
    transport: Transport,
    server: (SocketAddr, SocketAddr, quinn::ClientConfig),
    connecting: Arc<Semaphore>,
    mut schedule_rx: watch::Receiver<Option<Schedule>>,
    (sensor_phase, command_offset): (Duration, Duration),
    probes: Probes,
    totals: Arc<Totals>,
) -> anyhow::Result<(u64, u64)> {
    let state = Arc::new(DeviceState::default());
    let (mut uplink, listener) = {
        let _permit = connecting.acquire().await?;
        match transport {
            Transport::Mqtt => connect_mqtt(&creds, server.0, Arc::clone(&state), probes).await?,
            Transport::Quic => {
                connect_quic(&creds, server.1, server.2, Arc::clone(&state), probes).await?
            }
        }
    };
    totals.connected.fetch_add(1, Ordering::Relaxed);
    let schedule = loop {
        if let Some(schedule) = *schedule_rx.borrow_and_update() {
            break schedule;
        }
        schedule_rx.changed().await?;
    };
    let session = SessionId::new(format!("bench-{}", creds.device))?;
    let mut seq = 0u64;
    let mut tick = 0u64;
    // This device's own clock: its sensors tick at their phase of the period.
    let own_start = schedule.start + sensor_phase;
    let mut next_command = own_start + command_offset;
    loop {
        let at = own_start + crate::SENSOR_PERIOD * u32::try_from(tick).unwrap_or(u32::MAX);
        if at >= schedule.ride_until {
            break;
        }
        if next_command <= at {
            tokio::time::sleep_until(next_command).await;
            seq += 1;
            let frame = seal_frame(
                &creds,
                &session,
                seq,
                &Payload::Command(PlCommand::TimeLeft(TimeLeft { minutes: 600 })),
            )?;
            if let Ok(mut sent) = state.command_sent.lock() {
                *sent = Some(Instant::now());
            }
            if next_command >= schedule.measure_from {
                totals.commands_measured.fetch_add(1, Ordering::Relaxed);
                totals.frames_measured.fetch_add(1, Ordering::Relaxed);
            }
            state.handing_over(seq);
            uplink.send(frame).await?;
            next_command += COMMAND_EVERY;
            continue;
        }
        tokio::time::sleep_until(at).await;
        let measured = at >= schedule.measure_from;
        for value in sensor_values(tick) {
            seq += 1;
            let frame = seal_frame(&creds, &session, seq, &sensor_payload(tick, value)?)?;
            if measured {
                totals.frames_measured.fetch_add(1, Ordering::Relaxed);
            }
            state.handing_over(seq);
            uplink.send(frame).await?;
        }
        tick += 1;
    }
    seq += 1;
    state.handing_over(seq);
    uplink
        .send(seal_frame(
            &creds,
            &session,
            seq,
            &Payload::Command(PlCommand::End),
        )?)
        .await?;
    let deadline = tokio::time::Instant::now() + LAST_ACK_WAIT;
    while state.acked.load(Ordering::Relaxed) < seq && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    uplink.close().await;
    listener.abort();
    Ok((seq, state.acked.load(Ordering::Relaxed)))
}

/// Runs one measurement: a fresh server, `athletes` devices over `transport`, `warmup_s`
/// unrecorded, then `measure_s` recorded.
pub fn run(
    transport: Transport,
    athletes: usize,
    warmup_s: u64,
    measure_s: u64,
) -> anyhow::Result<RunFigures> {
    let binary = server_binary()?;
    let data_dir = std::env::temp_dir().join(format!(
        "paceline-bench-e2e-{}-{}-{athletes}",
        std::process::id(),
        transport.name()
    ));
    let (mut server, devices) = start_server(&binary, &data_dir, athletes)?;
    // Before the runtime: its threads inherit this thread's placement.
    let placement = place_processes(server.pid());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let quic_config = quic_client_config(&data_dir.join("quic-cert.pem"))?;
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<(Instant, Duration)>();
    let totals = Arc::new(Totals::default());
    let acks = Arc::new(AckRecorder::new()?);
    let probes = Probes {
        cues: latency_tx,
        acks: Arc::clone(&acks),
    };
    let (schedule_tx, schedule_rx) = watch::channel(None);
    let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let server_pid = server.pid();
    let measured = runtime.block_on(async {
        let mut riders = Vec::with_capacity(devices.len());
        for (index, creds) in devices.into_iter().enumerate() {
            let offset = COMMAND_EVERY.mul_f64(index as f64 / athletes.max(1) as f64);
            riders.push(tokio::spawn(device(
                creds,
                transport,
                (server.mqtt, server.quic, quic_config.clone()),
                Arc::clone(&connecting),
                schedule_rx.clone(),
                (crate::sensor_phase(index), offset),
                probes.clone(),
                Arc::clone(&totals),
            )));
        }
        drop(probes);
        // Everyone connects first; the ride starts together.
        let connect_deadline = Instant::now() + CONNECT_DEADLINE;
        while totals.connected.load(Ordering::Relaxed) < athletes
            && Instant::now() < connect_deadline
            && riders.iter().any(|r| !r.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let start = tokio::time::Instant::now() + Duration::from_secs(1);
        let schedule = Schedule {
            start,
            measure_from: start + Duration::from_secs(warmup_s),
            ride_until: start + Duration::from_secs(warmup_s + measure_s),
        };
        let _ = acks.window.set((
            schedule.measure_from.into_std(),
            schedule.ride_until.into_std(),
        ));
        let _ = schedule_tx.send(Some(schedule));
        tokio::time::sleep_until(schedule.measure_from).await;
        let server_before = ProcessSample::of(server_pid);
        let loadgen_before = ProcessSample::of(std::process::id());
        tokio::time::sleep_until(schedule.ride_until).await;
        let server_after = ProcessSample::of(server_pid);
        let loadgen_after = ProcessSample::of(std::process::id());
        let mut frames_sent_total = 0;
        let mut frames_acked = 0;
        let mut failures = Vec::new();
        for rider in riders {
            match rider.await {
                Ok(Ok((sent, acked))) => {
                    frames_sent_total += sent;
                    frames_acked += acked;
                }
                Ok(Err(err)) => failures.push(format!("{err:#}")),
                Err(err) => failures.push(err.to_string()),
            }
        }
        (
            schedule,
            server_before,
            server_after,
            loadgen_before,
            loadgen_after,
            frames_sent_total,
            frames_acked,
            failures,
        )
    });
    let (
        schedule,
        server_before,
        server_after,
        loadgen_before,
        loadgen_after,
        frames_sent,
        frames_acked,
        failures,
    ) = measured;
    drop(runtime);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let measure_from = schedule.measure_from.into_std();
    let ride_until = schedule.ride_until.into_std();
    while let Ok((sent_at, latency)) = latency_rx.try_recv() {
        if sent_at >= measure_from && sent_at < ride_until {
            histogram.saturating_record(
                u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
        }
    }
    let running = server.is_running();
    let window_s = (ride_until - measure_from).as_secs_f64();
    let cpu_s =
        |before: &Option<ProcessSample>, after: &Option<ProcessSample>| match (before, after) {
            (Some(b), Some(a)) => a.cpu_s - b.cpu_s,
            _ => f64::NAN,
        };
    let server_cpu_s = cpu_s(&server_before, &server_after);
    let loadgen_cpu_s = cpu_s(&loadgen_before, &loadgen_after);
    let server_cpu_pct = server_cpu_s / window_s * 100.0;
    let loadgen_cpu_pct = loadgen_cpu_s / window_s * 100.0;
    let ack_us = acks
        .histogram
        .lock()
        .map(|h| LegFigures::of(&h))
        .unwrap_or_default();
    let (server_rss_mib, server_peak_rss_mib) =
        server_after.as_ref().map_or((f64::NAN, f64::NAN), |s| {
            (s.rss_kib as f64 / 1024.0, s.peak_rss_kib as f64 / 1024.0)
        });
    let mut server_internal = ServerInternal::read(server.http);
    let frames_stored = if running {
        server.terminate()?;
        let (stored, uplink_ms) = count_stored(&data_dir)?;
        server_internal.uplink_ms = uplink_ms;
        stored
    } else {
        drop(server);
        0
    };
    let connected = totals.connected.load(Ordering::Relaxed);
    let commands = totals.commands_measured.load(Ordering::Relaxed);
    let cues = histogram.len();
    let fell_over = if !running {
        Some("the server exited".to_owned())
    } else if connected < athletes {
        Some(format!(
            "{} of {athletes} devices could not connect (first error: {})",
            athletes - connected,
            failures.first().map_or("none recorded", String::as_str)
        ))
    } else if commands > 0 && commands.saturating_sub(cues) * 20 > commands {
        Some(format!(
            "{} of {commands} measured commands got no cue",
            commands - cues
        ))
    } else {
        None
    };
    if fell_over.is_none() && !failures.is_empty() {
        tracing::warn!(failures = failures.len(), first = %failures[0], "bench devices failed");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(RunFigures {
        transport,
        athletes,
        connected,
        measured_s: measure_s,
        frames_sent,
        frames_acked,
        frames_stored,
        commands,
        cues,
        p50_us: histogram.value_at_quantile(0.5),
        p90_us: histogram.value_at_quantile(0.9),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        max_us: histogram.max(),
        frames_measured: totals.frames_measured.load(Ordering::Relaxed),
        ack_us,
        server_cpu_s,
        loadgen_cpu_s,
        placement,
        server_cpu_pct,
        server_rss_mib,
        server_peak_rss_mib,
        loadgen_cpu_pct,
        server_internal,
        fell_over,
    })
}

/// Pins the load generator (this thread, and so the threads it starts from now on) to
/// the last core this process may use and every thread of the server `pid` to the
/// others, with `taskset`, so the two do not take each other's time and the generator's
/// own CPU reads clean. Returns what it did, or why it did not.
fn place_processes(server_pid: u32) -> String {
    if std::env::var("PACELINE_BENCH_PIN").is_ok_and(|v| v == "0") {
        return "not pinned (PACELINE_BENCH_PIN=0)".to_owned();
    }
    let cores: Vec<usize> = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|list| cpu_list(list.trim()))
        })
        .unwrap_or_default();
    let Some((&generator, server_cores)) = cores.split_last() else {
        return "not pinned (no core list)".to_owned();
    };
    if server_cores.is_empty() {
        return "not pinned (one core)".to_owned();
    }
    let server_list = server_cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let taskset = |args: &[&str]| {
        Command::new("taskset")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let server_pid = server_pid.to_string();
    let own_pid = std::process::id().to_string();
    // All of the server's threads (`-a`); those it starts later inherit from them.
    let server_ok = taskset(&["-a", "-p", "-c", &server_list, &server_pid]);
    let generator_ok = taskset(&["-a", "-p", "-c", &generator.to_string(), &own_pid]);
    if server_ok && generator_ok {
        format!("server on cores {server_list}, load generator on core {generator}")
    } else {
        "not pinned (taskset failed)".to_owned()
    }
}

/// The cores of a kernel CPU list such as `0-3,6`.
fn cpu_list(list: &str) -> Vec<usize> {
    let mut cores = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    cores.extend(a..=b);
                }
            }
            None => cores.extend(part.parse::<usize>().ok()),
        }
    }
    cores
}

/// The frames stored, and the uplink leg's p50, p99 and max (ms).
fn count_stored(data_dir: &Path) -> anyhow::Result<(u64, [u64; 3])> {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("paceline.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .context("opening the server's database")?;
    let n: i64 = conn.query_row("SELECT count(*) FROM frames", [], |row| row.get(0))?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    let mut statement = conn.prepare("SELECT max(received_ms - sent_ms, 0) FROM frames")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let ms: i64 = row.get(0)?;
        histogram.saturating_record(u64::try_from(ms).unwrap_or(0).max(1));
    }
    let uplink_ms = [
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.max(),
    ];
    Ok((u64::try_from(n).unwrap_or(0), uplink_ms))
}
