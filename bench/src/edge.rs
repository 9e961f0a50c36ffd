//! The edge agent's own cost: CPU time and peak memory of one agent process relaying one
//! athlete's 4 sensors, and of one agent relaying 200 simulated athletes (gym-hub mode,
//! one MQTT connection per athlete).
//!
//! The agent runs in a child process (this benchmark binary re-run as
//! `paceline-bench edge-agent-process …`, driving `paceline_edge::agent::Agent` with
//! simulated athletes in real time), so its CPU time and peak RSS are its own, read from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`. The broker (rumqttd) and a minimal acker (a
//! rumqttc client that opens every frame and acknowledges it) run in the parent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use paceline_edge::agent::{Agent, AgentConfig, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::read_credentials_file;
use paceline_edge::simulator::{Scenario, SimulatedSensors, SimulatorConfig};
use paceline_schemas::{Ack, DeviceId, DeviceKey, DeviceToken, FrameHeader, Payload, codec, seal};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::process::{TICKS_PER_S, cpu_ns, cpu_ticks, memory_kib};

/// The child role's subcommand name.
pub const AGENT_PROCESS: &str = "edge-agent-process";

/// The figures of one case.
#[derive(Debug, Clone)]
pub struct EdgeFigures {
    /// What was measured.
    pub case: String,
    /// Athletes (devices) served by the one agent.
    pub athletes: usize,
    /// Sensors per athlete.
    pub sensors: usize,
    /// Length of the measured window, s.
    pub measured_s: f64,
    /// The agent's CPU time in the window, s (its threads' run time, ns resolution).
    pub cpu_s: f64,
    /// The same from user + system ticks (10 ms resolution), s: a cross-check.
    pub cpu_ticks_s: f64,
    /// The agent's peak resident memory over its life, KiB.
    pub peak_rss_kib: u64,
    /// The agent's resident memory at the end, KiB.
    pub rss_kib: u64,
    /// Frames the acker received and acknowledged in the window.
    pub frames: u64,
    /// Samples in those frames.
    pub samples: u64,
}

impl EdgeFigures {
    /// CPU share of one core, %.
    pub fn cpu_pct(&self) -> f64 {
        100.0 * self.cpu_s / self.measured_s
    }

    /// CPU time per relayed sample, µs.
    pub fn cpu_us_per_sample(&self) -> f64 {
        if self.samples == 0 {
            f64::NAN
        } else {
            self.cpu_s * 1e6 / self.samples as f64
        }
    }
}

fn start_broker() -> anyhow::Result<u16> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 70 * 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "bench".to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1_000,
            max_outgoing_packet_count: 1_000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 8,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..rumqttd::Config::default()
    };
    #[allow(clippy::print_stderr, reason = "a bench reports on the terminal")]
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("edge bench: broker stopped: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the bench broker did not start on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(port)
}

#[derive(Debug, Default)]
struct AckerCounts {
    frames: AtomicU64,
    samples: AtomicU64,
}

/// The minimal acker: opens every uplink frame with its device's key and acks its seq.
async fn acker(port: u16, keys: Arc<HashMap<DeviceId, DeviceKey>>, counts: Arc<AckerCounts>) {
    let mut options = MqttOptions::new("bench-acker", "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(70 * 1024, 70 * 1024)
        .set_inflight(1_000);
    let (client, mut eventloop) = AsyncClient::new(options, 20_000);
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let publisher = client.clone();
    tokio::spawn(async move {
        while let Some((topic, bytes)) = acks.recv().await {
            if publisher
                .publish(topic, QoS::AtLeastOnce, false, bytes)
                .await
                .is_err()
            {
                return;
            }
        }
    });
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.try_subscribe("pl/v1/+/+/up", QoS::AtLeastOnce);
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Ok(frame) = codec::decode_frame(&publish.payload) else {
                    continue;
                };
                let Some(key) = keys.get(&frame.header.device) else {
                    continue;
                };
                let Ok(payload) = seal::open(key, &frame) else {
                    continue;
                };
                counts.frames.fetch_add(1, Ordering::Relaxed);
                if let Payload::Samples(batch) = &payload {
                    counts
                        .samples
                        .fetch_add(batch.samples().len() as u64, Ordering::Relaxed);
                }
                let header = FrameHeader {
                    kind: paceline_schemas::FrameKind::Ack,
                    seq: frame.header.seq,
                    ..frame.header.clone()
                };
                let ack = Payload::Ack(Ack {
                    committed_seq: frame.header.seq,
                });
                if let Ok(sealed) = seal::seal(key, header, &ack)
                    && let Ok(bytes) = codec::encode_frame(&sealed)
                {
                    let _ = acks_tx.send((publish.topic.replace("/up", "/down"), bytes));
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn write_credentials(
    dir: &Path,
    athletes: usize,
) -> anyhow::Result<(PathBuf, HashMap<DeviceId, DeviceKey>)> {
    let mut text = String::new();
    let mut keys = HashMap::new();
    for i in 0..athletes {
        let key = DeviceKey::generate();
        let token = DeviceToken::generate();
        let device = format!("bench-{i:04}");
        text.push_str(&format!(
            "[[device]]\ntenant = \"bench\"\ndevice = \"{device}\"\nkey = \"{}\"\ntoken = \"{}\"\n",
            key.expose_hex(),
            token.expose_hex()
        ));
        keys.insert(DeviceId::new(device)?, key);
    }
    let path = dir.join("devices.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok((path, keys))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one case: `athletes` simulated athletes (all four sensors each when `all_sensors`)
/// in one agent process, `warmup_s` then `measure_s` measured.
pub fn run_case(
    case: &str,
    athletes: usize,
    all_sensors: bool,
    warmup_s: u64,
    measure_s: u64,
) -> anyhow::Result<EdgeFigures> {
    let port = start_broker()?;
    let dir =
        std::env::temp_dir().join(format!("paceline-bench-edge-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (credentials, keys) = write_credentials(&dir, athletes)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let counts = Arc::new(AckerCounts::default());
    runtime.spawn(acker(port, Arc::new(keys), counts.clone()));
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .arg(AGENT_PROCESS)
        .arg(port.to_string())
        .arg(&credentials)
        .arg(dir.join("spool"))
        .arg(if all_sensors { "all" } else { "hr+power" })
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = KillOnDrop(command.spawn().context("starting the agent process")?);
    let pid = child.0.id();
    std::thread::sleep(Duration::from_secs(warmup_s));
    let ticks_before = cpu_ticks(pid)?;
    let ns_before = cpu_ns(pid)?;
    let frames_before = counts.frames.load(Ordering::Relaxed);
    let samples_before = counts.samples.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(measure_s));
    let ticks_after = cpu_ticks(pid)?;
    let ns_after = cpu_ns(pid)?;
    let measured_s = started.elapsed().as_secs_f64();
    let (peak_rss_kib, rss_kib) = memory_kib(pid)?;
    let frames = counts.frames.load(Ordering::Relaxed) - frames_before;
    let samples = counts.samples.load(Ordering::Relaxed) - samples_before;
    drop(child);
    runtime.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(EdgeFigures {
        case: case.to_owned(),
        athletes,
        sensors: if all_sensors { 4 } else { 2 },
        measured_s,
        cpu_s: ns_after.saturating_sub(ns_before) as f64 / 1e9,
        cpu_ticks_s: (ticks_after - ticks_before) as f64 / TICKS_PER_S,
        peak_rss_kib,
        rss_kib,
        frames,
        samples,
    })
}

/// The child role: `edge-agent-process <port> <credentials> <spool dir> <all|hr+power>`.
pub fn agent_process(args: &[String]) -> anyhow::Result<()> {
    let [port, credentials, spool, sensors] = args else {
        bail!("usage: {AGENT_PROCESS} <port> <credentials> <spool dir> <all|hr+power>");
    };
    let port: u16 = port.parse().context("port")?;
    let devices = read_credentials_file(Path::new(credentials))?;
    let sensors = if sensors == "all" {
        SimulatedSensors::ALL
    } else {
        SimulatedSensors::default()
    };
    let athletes = devices
        .into_iter()
        .zip(0u64..)
        .map(|(credentials, i)| AthleteConfig {
            name: credentials.device.to_string(),
            credentials,
            source: Source::Simulator {
                config: SimulatorConfig {
                    seed: i + 1,
                    scenario: Scenario::Steady,
                    sensors,
                    ..SimulatorConfig::default()
                },
                speed: 1.0,
            },
        })
        .collect();
    let config = AgentConfig::new(
        GatewayConfig::mqtt(SocketAddr::from(([127, 0, 0, 1], port))),
        PathBuf::from(spool),
        athletes,
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let agent = Agent::start(config).await?;
        // Runs until the parent kills the process.
        std::future::pending::<()>().await;
        agent.shutdown().await;
        anyhow::Ok(())
    })
}
