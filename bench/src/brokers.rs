//! Ingest through the embedded broker against Mosquitto, on the same harness in one run.
//!
//! **What is compared.** Raw broker ingest: N publishers, each its own MQTT 3.1.1
//! connection (rumqttc, QoS 1, `TCP_NODELAY`, 100 in flight), publish on their device's
//! uplink topic `pl/v1/bench-gym/<device>/up`; one subscriber (rumqttc, QoS 1) holds
//! `pl/v1/+/+/up`, as the gateway's ingress does. The payload is the same for both brokers:
//! a real sealed one-sample frame (what an edge agent sends) after an 8-byte send stamp.
//! Latency = subscriber receipt − publisher hand-off (same process, monotonic clock).
//!
//! **The brokers**, each its own process on a loopback ephemeral port, started by the
//! bench: rumqttd is this binary re-run as `rumqttd-process <port>`, running
//! [`paceline_gateway::transport::broker::config`] — the embedded broker's exact configuration, minus
//! the device check at CONNECT (Mosquitto gets no authentication either, so neither pays
//! for it); Mosquitto is the Debian package's `mosquitto` with a generated config:
//! anonymous, no persistence, 100 in flight and 1,000 queued per client like rumqttd's
//! limits, no logging. Both are reached over their own TCP listeners (rumqttd's is the one
//! the product no longer opens: the gateway's front door owns the device sockets and hands
//! packets to rumqttd's router over local links), so this is the broker alone.
//!
//! **Two loads.** *Paced*: N publishers at 5 frames/s each (the SPEC's athlete); the
//! figures are latency percentiles and the share delivered. *Saturated*: publishers send
//! as fast as their in-flight window allows; the figure is messages delivered per second
//! to the subscriber, with the latency p50 and p99 (queueing included).
//!
//! **Who saturates.** A harness in one process with rumqttc publishers ran out of CPU long
//! before either broker did, so the saturated load comes from
//! `PACELINE_BENCH_GENERATORS` (default 2) child processes, this binary re-run as
//! `brokers-generator`, each driving its share of the publishers with the lean client
//! ([`crate::mqtt_client`]: batched QoS 1 publishes, 100 in flight per connection), and
//! the subscriber here uses the same client. The broker's CPU, the generators' (summed)
//! and the subscriber's are read from `/proc` over the same window, with the machine's idle
//! share: the broker is the bottleneck when its CPU is near a full core (Mosquitto is
//! single-threaded); with no core idle the machine is (and the rate is a floor). Send stamps are wall
//! clock ns (one machine, several processes).
//!
//! **Accepted and delivered.** Each generator also counts the PUBACKs its publishers got in
//! the window: the rate the broker *accepted*. A QoS 1 PUBACK says the broker took the
//! message, not that the subscriber will get it. Under this load both brokers deliver
//! about one message in N publishers to the one subscriber and lose the rest (checked by
//! hand on the 2-core VM, 2026-12-07):
//! - Mosquitto accepted ~70,000 msg/s at a full core and delivered ~1,500; its own
//!   `$SYS/broker/publish/messages/dropped` counted 98 % dropped (with 10 publishers it
//!   delivered ~10 %). The shares fit an event loop that reads about one packet from each
//!   ready socket per pass: ~50 PUBLISHes for each PUBACK of the subscriber, whose queue
//!   (`max_queued_messages` 1,000 above 100 in flight) stays full, so the rest is dropped
//!   while every publisher is still acked.
//! - rumqttd, with 25 publishers, accepted ~890,000 msg/s and delivered ~35,000 (1/25).
//!   Its router keeps 4 segments of 16 MiB of log (~350,000 such messages), so a
//!   subscriber that far behind skips what the log no longer holds.
//!
//! So in this mode *delivered* is the one subscriber's share of an overloaded broker, not
//! the broker's capacity; *accepted* is what each takes in while it throws most away. The
//! paced load is the lossless comparison.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_schemas::sample::{Contact, HeartRate};
use paceline_schemas::{
    DeviceId, DeviceKey, FrameHeader, Payload, Sample, SampleBatch, SampleValue, SessionId,
    TenantId, codec, seal,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::mqtt_client;
use crate::stats::Spread;

/// The child role's subcommand name.
pub const RUMQTTD_PROCESS: &str = "rumqttd-process";
/// The saturating publishers' child role.
pub const GENERATOR_PROCESS: &str = "brokers-generator";
/// Messages each saturating publisher keeps in flight.
const SATURATING_IN_FLIGHT: usize = 100;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// rumqttd with the gateway's configuration.
    Rumqttd,
    /// Mosquitto (Debian package).
    Mosquitto,
}

impl BrokerKind {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Rumqttd => "rumqttd (embedded config)",
            BrokerKind::Mosquitto => "mosquitto",
        }
    }
}

/// One broker's figures from one run.
#[derive(Debug, Clone, Copy)]
pub struct BrokerRun {
    /// Paced: messages published while measuring.
    pub paced_sent: u64,
    /// Paced: of those, delivered to the subscriber.
    pub paced_delivered: u64,
    /// Paced latency percentiles, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest, µs.
    pub max_us: u64,
    /// Saturated: messages delivered per second.
    pub saturated_msgs_per_s: f64,
    /// Saturated: messages the broker accepted per second (PUBACKs the generators'
    /// publishers received in the window). Above the delivered rate, the broker dropped
    /// or queued the difference.
    pub saturated_accepted_per_s: f64,
    /// Saturated: median latency, µs (queueing included).
    pub saturated_p50_us: u64,
    /// Saturated: 99th percentile latency, µs.
    pub saturated_p99_us: u64,
    /// Broker process CPU during the saturated window, % of one core.
    pub saturated_cpu_pct: f64,
    /// The generator processes' CPU during the saturated window, summed, % of one core.
    pub generators_cpu_pct: f64,
    /// The subscriber's (this process's) CPU during the saturated window, % of one core.
    pub subscriber_cpu_pct: f64,
    /// Generator processes.
    pub generators: usize,
    /// The whole machine's idle time during the saturated window (`/proc/stat`), % of all
    /// cores, counting time spent on niced work (another user's build at nice 19) as idle:
    /// it yields to the bench's processes. Other load at normal priority shows here.
    pub machine_idle_pct: f64,
}

impl BrokerRun {
    /// Which side ran out first in the saturated window. Each generator process and the
    /// subscriber run on one thread, so one of them near a full core is the harness
    /// saturating; the broker near a full core (Mosquitto is single-threaded) is the
    /// broker; no core left is the machine.
    pub fn saturated_side(&self) -> &'static str {
        let per_generator = self.generators_cpu_pct / self.generators.max(1) as f64;
        if per_generator >= 90.0 || self.subscriber_cpu_pct >= 90.0 {
            "harness (a generator or the subscriber at ≥ 90 % of its core)"
        } else if self.saturated_cpu_pct >= 90.0 {
            "broker (≥ 90 % of a core; the harness below)"
        } else if self.machine_idle_pct < 10.0 {
            "machine full (no core idle: the rate is a floor for the broker)"
        } else {
            "none at a full core (the harness below its cores, cores left idle)"
        }
    }
}

/// (idle, total) jiffies of the whole machine, from `/proc/stat`'s first line; idle
/// includes iowait and niced user time (see [`BrokerRun::machine_idle_pct`]).
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = fields.get(1)? + fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((idle, fields.iter().sum()))
}

/// A broker's figures over several runs.
#[derive(Debug, Clone)]
pub struct BrokerFigures {
    /// Which broker.
    pub kind: BrokerKind,
    /// Its version.
    pub version: String,
    /// Each run.
    pub runs: Vec<BrokerRun>,
}

impl BrokerFigures {
    /// The spread of one figure over the runs.
    pub fn spread(&self, figure: impl Fn(&BrokerRun) -> f64) -> Spread {
        Spread::of(self.runs.iter().map(figure).collect())
    }
}

/// The loads of one comparison.
#[derive(Debug, Clone, Copy)]
pub struct Loads {
    /// Paced publishers (5 frames/s each).
    pub paced_publishers: usize,
    /// Paced seconds measured (after 3 s of warm-up).
    pub paced_s: u64,
    /// Saturating publishers.
    pub saturating_publishers: usize,
    /// Saturated seconds measured (after 1 s of warm-up).
    pub saturated_s: u64,
}

struct BrokerProcess {
    child: Child,
    _config_dir: Option<PathBuf>,
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self._config_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Mosquitto's version (`mosquitto -h` prints it first), or an error saying how to get it.
pub fn mosquitto_version() -> anyhow::Result<String> {
    let out = Command::new("mosquitto")
        .arg("-h")
        .output()
        .context("running mosquitto (install the Debian package `mosquitto`)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .next()
        .unwrap_or("mosquitto (unknown version)")
        .trim()
        .to_owned())
}

fn start_broker(kind: BrokerKind) -> anyhow::Result<(BrokerProcess, SocketAddr)> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let process = match kind {
        BrokerKind::Rumqttd => {
            let exe = std::env::current_exe().context("finding this executable")?;
            let child = Command::new(exe)
                .args([RUMQTTD_PROCESS, &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting the rumqttd process")?;
            BrokerProcess {
                child,
                _config_dir: None,
            }
        }
        BrokerKind::Mosquitto => {
            let dir = std::env::temp_dir().join(format!(
                "paceline-bench-mosquitto-{}-{port}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let config = dir.join("mosquitto.conf");
            std::fs::write(
                &config,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                     max_inflight_messages 100\nmax_queued_messages 1000\n\
                     max_packet_size {}\nlog_dest none\n",
                    paceline_schemas::MAX_FRAME_BYTES + 1024
                ),
            )
            .with_context(|| format!("writing {}", config.display()))?;
            let child = Command::new("mosquitto")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting mosquitto (install the Debian package `mosquitto`)")?;
            BrokerProcess {
                child,
                _config_dir: Some(dir),
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("{} did not listen on {addr} within 10 s", kind.name());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((process, addr))
}

/// The child role: runs rumqttd with the gateway's configuration on `127.0.0.1:<port>`
/// until killed.
pub fn rumqttd_process(args: &[String]) -> anyhow::Result<()> {
    let port: u16 = args
        .first()
        .context("rumqttd-process needs a port")?
        .parse()
        .context("the port")?;
    let config = paceline_gateway::transport::broker::config(
        SocketAddr::from(([127, 0, 0, 1], port)),
        20_000,
    );
    let mut broker = rumqttd::Broker::new(config);
    broker.start().context("running rumqttd")?;
    Ok(())
}

/// The payload every publisher sends after its stamp: a real sealed one-sample frame.
/// The payload every publisher sends after its stamp: a real sealed one-sample frame.
pub fn sample_frame() -> anyhow::Result<Vec<u8>> {
    let payload = Payload::Samples(
        SampleBatch::new(vec![Sample {
            t_ms: 1000,
            value: SampleValue::HeartRate(HeartRate {
                bpm: 142,
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![],
            }),
        }])
        .map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    let header = FrameHeader {
        kind: payload.kind(),
        tenant: TenantId::new("bench-gym")?,
        device: DeviceId::new("bench-device-0000")?,
        session: SessionId::new("bench-session")?,
        seq: 1,
        sent_ms: crate::now_unix_ms(),
    };
    let key = DeviceKey::from_hex(&"17".repeat(32))?;
    Ok(codec::encode_frame(&seal::seal(&key, header, &payload)?)?)
}

/// What the subscriber counts.
struct Received {
    count: AtomicU64,
    /// Latencies of messages sent in the measured window, µs.
    histogram: std::sync::Mutex<Histogram<u64>>,
    window: std::sync::Mutex<Option<(u64, u64)>>,
}

/// Wall clock, ns since the Unix epoch: the send stamp every publisher writes, in this
/// process or a generator process.
fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn stamp() -> [u8; 8] {
    unix_ns().to_be_bytes()
}

async fn subscriber(
    addr: SocketAddr,
    name: &str,
    received: Arc<Received>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (mut stream, mut reader) = mqtt_client::connect(addr, name, None, Duration::from_secs(60))
        .await
        .context("connecting the subscriber")?;
    mqtt_client::subscribe(
        &mut stream,
        &mut reader,
        &paceline_schemas::topic::all_uplinks_filter(),
    )
    .await
    .context("subscribing")?;
    Ok(tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut pubacks = Vec::with_capacity(4096);
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now_ns = unix_ns();
            reader.push(chunk.get(..n).unwrap_or_default());
            let window = received.window.lock().ok().and_then(|w| *w);
            // In a block: the histogram's guard must not live across the write below.
            let alive = {
                let mut histogram = None;
                loop {
                    match reader.next_packet() {
                        Ok(Some(mqtt_client::Incoming::Publish { qos, pkid, payload })) => {
                            if qos > 0 {
                                mqtt_client::write_puback(&mut pubacks, pkid);
                            }
                            let Some(sent_ns) = payload
                                .get(..8)
                                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                                .map(u64::from_be_bytes)
                            else {
                                continue;
                            };
                            received.count.fetch_add(1, Ordering::Relaxed);
                            if window
                                .is_some_and(|(from, until)| sent_ns >= from && sent_ns < until)
                            {
                                if histogram.is_none() {
                                    histogram = received.histogram.lock().ok();
                                }
                                if let Some(h) = histogram.as_mut() {
                                    h.saturating_record(
                                        (now_ns.saturating_sub(sent_ns) / 1000).max(1),
                                    );
                                }
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break true,
                        Err(_) => break false,
                    }
                }
            };
            if !alive {
                return;
            }
            if !pubacks.is_empty() {
                if stream.write_all(&pubacks).await.is_err() {
                    return;
                }
                pubacks.clear();
            }
        }
    }))
}

async fn publisher(
    addr: SocketAddr,
    index: usize,
) -> anyhow::Result<(AsyncClient, tokio::task::JoinHandle<()>)> {
    let mut options = MqttOptions::new(
        format!("bench-pub-{index}"),
        addr.ip().to_string(),
        addr.port(),
    );
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(128 * 1024, 128 * 1024);
    options.set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    eventloop.network_options.set_tcp_nodelay(true);
    eventloop.network_options.set_connection_timeout(30);
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut connected = Some(connected_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), connected_rx)
        .await
        .context("no CONNACK for a publisher")??;
    Ok((client, task))
}

/// Connects `count` publishers, 64 at a time.
async fn publishers(
    addr: SocketAddr,
    count: usize,
) -> anyhow::Result<Vec<(AsyncClient, tokio::task::JoinHandle<()>)>> {
    let mut out = Vec::with_capacity(count);
    let mut pending = Vec::new();
    for index in 0..count {
        pending.push(tokio::spawn(publisher(addr, index)));
        if pending.len() == 64 || index + 1 == count {
            for p in pending.drain(..) {
                out.push(p.await??);
            }
        }
    }
    Ok(out)
}

fn topic_of(index: usize) -> String {
    format!("pl/v1/bench-gym/bench-device-{index:04}/up")
}

async fn measure(kind: BrokerKind, loads: Loads, frame: &[u8]) -> anyhow::Result<BrokerRun> {
    let (process, addr) = start_broker(kind)?;
    let pid = process.child.id();
    let new_received = || {
        Arc::new(Received {
            count: AtomicU64::new(0),
            histogram: std::sync::Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
            ),
            window: std::sync::Mutex::new(None),
        })
    };
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);

    // Paced.
    let received = new_received();
    let sub = subscriber(addr, "bench-subscriber-paced", Arc::clone(&received)).await?;
    let pubs = publishers(addr, loads.paced_publishers).await?;
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let measure_from = start + Duration::from_secs(3);
    let until = measure_from + Duration::from_secs(loads.paced_s);
    let (now, now_ns) = (tokio::time::Instant::now(), unix_ns());
    if let Ok(mut w) = received.window.lock() {
        *w = Some((now_ns + ns(measure_from - now), now_ns + ns(until - now)));
    }
    let sent_in_window = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (index, (client, _)) in pubs.iter().enumerate() {
        let client = client.clone();
        let topic = topic_of(index);
        let frame = frame.to_vec();
        let sent_in_window = Arc::clone(&sent_in_window);
        let offset = Duration::from_micros(
            200_000 * u64::try_from(index).unwrap_or(0)
                / u64::try_from(loads.paced_publishers.max(1)).unwrap_or(1),
        );
        tasks.push(tokio::spawn(async move {
            let mut at = start + offset;
            while at < until {
                tokio::time::sleep_until(at).await;
                let mut payload = stamp().to_vec();
                payload.extend_from_slice(&frame);
                if client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
                    .await
                    .is_err()
                {
                    break;
                }
                if at >= measure_from {
                    sent_in_window.fetch_add(1, Ordering::Relaxed);
                }
                at += Duration::from_millis(200);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    // Let the last ones arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (paced_delivered, p50_us, p99_us, p999_us, max_us) = {
        let h = received
            .histogram
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        (
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        )
    };
    for (client, task) in pubs {
        let _ = client.disconnect().await;
        task.abort();
    }
    sub.abort();

    // Saturated: the publishers in generator processes.
    let received = new_received();
    let sub = subscriber(addr, "bench-subscriber-saturated", Arc::clone(&received)).await?;
    let generators = generator_processes();
    let exe = std::env::current_exe().context("finding this executable")?;
    let start_ns = unix_ns() + 3_000_000_000;
    let measure_from_ns = start_ns + 1_000_000_000;
    let measure_until_ns = measure_from_ns + loads.saturated_s * 1_000_000_000;
    let until_ns = measure_until_ns + 300_000_000;
    let mut children = Vec::with_capacity(generators);
    let per_generator = loads.saturating_publishers.div_ceil(generators);
    for g in 0..generators {
        let first = g * per_generator;
        let count = per_generator.min(loads.saturating_publishers.saturating_sub(first));
        if count == 0 {
            continue;
        }
        let child = Command::new(&exe)
            .args([
                GENERATOR_PROCESS,
                &addr.to_string(),
                &first.to_string(),
                &count.to_string(),
                &start_ns.to_string(),
                &until_ns.to_string(),
                &measure_from_ns.to_string(),
                &measure_until_ns.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a generator process")?;
        children.push(ChildGuard(child));
    }
    tokio::time::sleep(Duration::from_nanos(
        measure_from_ns.saturating_sub(unix_ns()),
    ))
    .await;
    let from = Instant::now();
    // Every message received from now on counts, whenever it was sent (queueing included).
    if let Ok(mut w) = received.window.lock() {
        *w = Some((0, u64::MAX));
    }
    let cpu = |pids: &[u32]| {
        pids.iter()
            .map(|&p| crate::process::ProcessSample::of(p).map_or(f64::NAN, |s| s.cpu_s))
            .sum::<f64>()
    };
    let generator_pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
    let count_before = received.count.load(Ordering::Relaxed);
    let jiffies_before = machine_jiffies();
    let cpu_before = [
        cpu(&[pid]),
        cpu(&generator_pids),
        cpu(&[std::process::id()]),
    ];
    tokio::time::sleep(Duration::from_secs(loads.saturated_s)).await;
    let count_after = received.count.load(Ordering::Relaxed);
    let cpu_after = [
        cpu(&[pid]),
        cpu(&generator_pids),
        cpu(&[std::process::id()]),
    ];
    let machine_idle_pct = match (jiffies_before, machine_jiffies()) {
        (Some((idle0, total0)), Some((idle1, total1))) if total1 > total0 => {
            (idle1 - idle0) as f64 / (total1 - total0) as f64 * 100.0
        }
        _ => f64::NAN,
    };
    let elapsed_s = from.elapsed().as_secs_f64();
    let pct = |i: usize| (cpu_after[i] - cpu_before[i]) / elapsed_s * 100.0;
    let (saturated_p50_us, saturated_p99_us) = received
        .histogram
        .lock()
        .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
        .unwrap_or((0, 0));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut accepted = 0u64;
    for child in &mut children {
        while matches!(child.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut out = String::new();
        if matches!(child.0.try_wait(), Ok(Some(_)))
            && let Some(stdout) = child.0.stdout.as_mut()
        {
            use std::io::Read;
            let _ = stdout.read_to_string(&mut out);
        }
        accepted += out
            .trim()
            .strip_prefix("acked ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    drop(children);
    sub.abort();
    drop(process);
    Ok(BrokerRun {
        paced_sent: sent_in_window.load(Ordering::Relaxed),
        paced_delivered,
        p50_us,
        p99_us,
        p999_us,
        max_us,
        saturated_msgs_per_s: (count_after - count_before) as f64 / elapsed_s,
        saturated_accepted_per_s: accepted as f64 / loads.saturated_s.max(1) as f64,
        saturated_p50_us,
        saturated_p99_us,
        saturated_cpu_pct: pct(0),
        generators_cpu_pct: pct(1),
        subscriber_cpu_pct: pct(2),
        generators,
        machine_idle_pct,
    })
}

/// A child process killed (if still running) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// `PACELINE_BENCH_GENERATORS`: the saturating generator processes (default 2).
pub fn generator_processes() -> usize {
    std::env::var("PACELINE_BENCH_GENERATORS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// The generator child role: `brokers-generator <addr> <first> <count> <start_ns>
/// <until_ns> <count_from_ns> <count_until_ns>` connects publishers `first..first +
/// count`, and from `start_ns` until `until_ns` (wall clock) keeps 100 QoS 1 publishes in
/// flight on each, written in batches; at the end it prints `acked <n>`, the PUBACKs its
/// publishers received between `count_from_ns` and `count_until_ns` (what the broker
/// accepted in the measured window).
pub fn generator_process(args: &[String]) -> anyhow::Result<()> {
    let arg = |i: usize, name: &str| {
        args.get(i)
            .with_context(|| format!("{GENERATOR_PROCESS} needs {name}"))
    };
    let addr: SocketAddr = arg(0, "an address")?.parse().context("the address")?;
    let first: usize = arg(1, "the first publisher")?
        .parse()
        .context("the first publisher")?;
    let count: usize = arg(2, "a count")?.parse().context("the count")?;
    let start_ns: u64 = arg(3, "a start")?.parse().context("the start")?;
    let until_ns: u64 = arg(4, "an end")?.parse().context("the end")?;
    let count_from_ns: u64 = arg(5, "a window start")?
        .parse()
        .context("the window start")?;
    let count_until_ns: u64 = arg(6, "a window end")?.parse().context("the window end")?;
    let window = (count_from_ns, count_until_ns);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let frame = sample_frame()?;
    runtime.block_on(async {
        let mut publishers = Vec::with_capacity(count);
        for index in first..first + count {
            let connection = mqtt_client::connect(
                addr,
                &format!("bench-pub-{index}"),
                None,
                Duration::from_secs(60),
            )
            .await
            .with_context(|| format!("connecting publisher {index}"))?;
            publishers.push((index, connection));
        }
        tokio::time::sleep(Duration::from_nanos(start_ns.saturating_sub(unix_ns()))).await;
        let mut tasks = Vec::with_capacity(count);
        for (index, (stream, reader)) in publishers {
            let frame = frame.clone();
            tasks.push(tokio::spawn(saturate(
                stream,
                reader,
                topic_of(index),
                frame,
                until_ns,
                window,
            )));
        }
        let mut acked = 0;
        for task in tasks {
            acked += task.await.unwrap_or(0);
        }
        // The parent reads this line (the role's one output on stdout).
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "acked {acked}").context("writing the count")?;
        anyhow::Ok(())
    })
}

/// Keeps [`SATURATING_IN_FLIGHT`] publishes in flight on one connection until `until_ns`;
/// returns the PUBACKs received in `window` (wall clock ns).
async fn saturate(
    mut stream: tokio::net::TcpStream,
    mut reader: mqtt_client::PacketReader,
    topic: String,
    frame: Vec<u8>,
    until_ns: u64,
    window: (u64, u64),
) -> u64 {
    let mut acked = 0;
    let mut message = vec![0u8; 8];
    message.extend_from_slice(&frame);
    let mut out = Vec::with_capacity(SATURATING_IN_FLIGHT * (message.len() + topic.len() + 8));
    let mut chunk = vec![0u8; 16 * 1024];
    let mut in_flight = 0usize;
    let mut pkid = 0u16;
    while unix_ns() < until_ns {
        if in_flight < SATURATING_IN_FLIGHT {
            out.clear();
            for _ in in_flight..SATURATING_IN_FLIGHT {
                pkid = pkid.checked_add(1).unwrap_or(1);
                if let Some(head) = message.get_mut(..8) {
                    head.copy_from_slice(&stamp());
                }
                mqtt_client::write_publish_qos1(&mut out, &topic, pkid, &message);
            }
            if stream.write_all(&out).await.is_err() {
                return acked;
            }
            in_flight = SATURATING_IN_FLIGHT;
        }
        let n = match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return acked,
            Ok(Ok(n)) => n,
            Err(_) => continue,
        };
        let now_ns = unix_ns();
        let counted = now_ns >= window.0 && now_ns < window.1;
        reader.push(chunk.get(..n).unwrap_or_default());
        while let Ok(Some(packet)) = reader.next_packet() {
            if let mqtt_client::Incoming::PubAck { .. } = packet {
                in_flight = in_flight.saturating_sub(1);
                if counted {
                    acked += 1;
                }
            }
        }
    }
    let _ = stream.write_all(&[0xe0, 0x00]).await;
    acked
}

/// Runs the comparison `runs` times, alternating which broker goes first.
pub fn run(loads: Loads, runs: usize) -> anyhow::Result<[BrokerFigures; 2]> {
    let mosquitto = mosquitto_version()?;
    let frame = sample_frame()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut figures = [
        BrokerFigures {
            kind: BrokerKind::Rumqttd,
            version: "rumqttd 0.20 (paceline_gateway::transport::broker::config)".to_owned(),
            runs: Vec::new(),
        },
        BrokerFigures {
            kind: BrokerKind::Mosquitto,
            version: mosquitto,
            runs: Vec::new(),
        },
    ];
    for run in 0..runs {
        let order: [usize; 2] = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let kind = figures[i].kind;
            tracing::info!(broker = kind.name(), run, "broker comparison");
            let figure = runtime
                .block_on(measure(kind, loads, &frame))
                .with_context(|| format!("measuring {}", kind.name()))?;
            figures[i].runs.push(figure);
        }
    }
    Ok(figures)
}

/// The generated Mosquitto configuration, for the result file.
pub fn describe_mosquitto_config() -> String {
    format!(
        "listener <port> 127.0.0.1; allow_anonymous true; persistence false; max_inflight_messages 100; max_queued_messages 1000; max_packet_size {}; log_dest none",
        paceline_schemas::MAX_FRAME_BYTES + 1024
    )
}

/// Whether `mosquitto` can be run (checked before a long run).
pub fn mosquitto_available() -> bool {
    Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
