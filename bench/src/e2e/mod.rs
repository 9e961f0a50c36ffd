//! End-to-end latency and capacity against a real `paceline serve` process.
//!
//! The server is the release binary (`target/release/paceline`, built by `cargo build
//! --release -p paceline-gateway`) started as its own process on ephemeral loopback ports;
//! this process is the load generator. One bench athlete is one device with its own
//! connection — MQTT 3.1.1 (QoS 1, `TCP_NODELAY`, [`crate::mqtt_client`]) or QUIC (quinn,
//! one stream) — and its own paired credentials, sending sealed frames like an edge agent:
//! heart rate at 1 Hz and power at 4 Hz as real sensors send them, one sample per frame:
//! a power frame every 250 ms and a heart-rate frame on every fourth tick (5 frames/s),
//! each device at its own phase of the period ([`crate::sensor_phase`]). Every 20 s,
//! staggered across devices, a device sends the athlete's "600 minutes left" command,
//! which the coach answers at once with a `time_budget_compressed` cue. The devices are
//! driven in shards (`fleet.rs`): one task and one timer per shard of
//! `PACELINE_BENCH_SHARD_DEVICES` devices (1,024), a shared QUIC endpoint per shard, each
//! device's frames of one wake-up in one write, sealing into reused buffers, so the
//! generator's CPU per frame stays a fraction of the server's.
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
//!
//! The parts: `server` (the process, its devices, its own figures), `fleet` (the
//! generator's shards and the devices' wire behaviour), `mqtt` and `quic` (a device's
//! link per transport), `probes` (the latencies), `placement` (cores).

mod fleet;
mod mqtt;
mod placement;
mod probes;
mod quic;
mod server;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::process::ProcessSample;
use fleet::{DeviceSeat, Schedule, ShardSetting, Totals};
use probes::{AckRecorder, Probes};
pub use server::{Server, ServerInternal, http_get, server_binary};
use server::{count_stored, start_server};

/// How long all devices together may take to connect.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// Devices connecting at the same time.
const CONNECTING_AT_ONCE: usize = 64;

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
    /// Where the server's CPU went over the measured window, by thread name: (name, µs of
    /// CPU per frame, context switches per frame), the costliest first, and how many
    /// threads ended in the window.
    pub server_threads: crate::process::ThreadCosts,
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
    /// Devices that failed during or at the end of the ride (a write, or a QUIC
    /// connection lost before the server read its stream to the end), and the first
    /// reason: their frames in flight count as lost.
    pub device_failures: (usize, Option<String>),
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

    /// Server CPU per frame, µs (the target: ≤ 25 at 5,000 athletes).
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
            "server_threads": self.server_threads.per_frame.iter().map(|(name, us, switches)| serde_json::json!({
                "thread": name, "us_per_frame": us, "switches_per_frame": switches,
            })).collect::<Vec<_>>(),
            "server_threads_ended": self.server_threads.ended,
            "placement": self.placement,
            "fell_over": self.fell_over,
            "device_failures": self.device_failures.0,
            "first_device_failure": self.device_failures.1,
        })
    }
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
    let placement = placement::place_processes(server.pid());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let quic_config = quic::client_config(&data_dir.join("quic-cert.pem"))?;
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
        let shard_devices = std::env::var("PACELINE_BENCH_SHARD_DEVICES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(fleet::SHARD_DEVICES);
        let setting = ShardSetting {
            transport,
            mqtt: server.mqtt,
            quic: server.quic,
            quic_config,
            quic_datagrams: std::env::var("PACELINE_BENCH_QUIC_DATAGRAMS").as_deref() == Ok("1"),
            connecting,
            schedule: schedule_rx,
            probes: probes.clone(),
            totals: Arc::clone(&totals),
        };
        let mut riders = Vec::new();
        let mut seats = devices
            .into_iter()
            .enumerate()
            .map(|(index, creds)| DeviceSeat { index, creds })
            .peekable();
        while seats.peek().is_some() {
            let shard: Vec<DeviceSeat> = seats.by_ref().take(shard_devices).collect();
            riders.push(tokio::spawn(fleet::shard(shard, setting.clone(), athletes)));
        }
        drop(setting);
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
        let threads_before = crate::process::cost_by_thread(server_pid).unwrap_or_default();
        let loadgen_before = ProcessSample::of(std::process::id());
        tokio::time::sleep_until(schedule.ride_until).await;
        let server_after = ProcessSample::of(server_pid);
        let threads_after = crate::process::cost_by_thread(server_pid).unwrap_or_default();
        let loadgen_after = ProcessSample::of(std::process::id());
        let mut frames_sent_total = 0;
        let mut frames_acked = 0;
        let mut failures = Vec::new();
        for rider in riders {
            match rider.await {
                Ok((sent, acked, errors)) => {
                    frames_sent_total += sent;
                    frames_acked += acked;
                    failures.extend(errors);
                }
                Err(err) => failures.push(err.to_string()),
            }
        }
        (
            schedule,
            server_before,
            server_after,
            (threads_before, threads_after),
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
        (threads_before, threads_after),
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
    let frames_measured = totals.frames_measured.load(Ordering::Relaxed);
    let server_threads =
        crate::process::thread_cost_per_frame(&threads_before, &threads_after, frames_measured);
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
        frames_measured,
        ack_us,
        server_cpu_s,
        loadgen_cpu_s,
        server_threads,
        placement,
        server_cpu_pct,
        server_rss_mib,
        server_peak_rss_mib,
        loadgen_cpu_pct,
        server_internal,
        fell_over,
        device_failures: (failures.len(), failures.first().cloned()),
    })
}
