//! Frame → cue latency at the device, through the whole live loop over loopback.
//!
//! One run: a gateway (`paceline_gateway::server::Gateway`, the same code `paceline serve`
//! runs: rumqttd, engine, SQLite writer) on loopback ports, and one edge agent
//! (`paceline_edge::agent`, gym-hub mode) with N simulated athletes, each on its own MQTT
//! connection, heart rate at 1 Hz and power at 4 Hz. Every athlete rides steadily at 70 %
//! FTP against a plan asking for 50–55 %, so the coach keeps telling them to ease off
//! (`above_target`, at most one per 15 s per athlete, decided on the sample that closes a
//! second).
//!
//! Latency of a cue = when the agent opened the cue − when the agent wrote the session's
//! latest frame before it to the socket. That frame is the one whose sample decided the
//! cue whenever the whole trip is shorter than the 250 ms between frames; a cue decided by
//! a timer rather than a frame would show up as a long latency, so the tail is an honest
//! upper bound. Percentiles come from hdrhistogram (µs). "Lost" compares, per device, the
//! last seq the agent spooled with the last seq the gateway acknowledged after the ride.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_gateway::server::Gateway;
use paceline_gateway::settings::{Settings, SettingsLayer};
use paceline_gateway::store;
use paceline_schemas::{AthleteProfile, CueCode, DeviceId, SessionId, TenantId, codec};

/// The plan the athletes are coached against: one long, easy step.
/// 40-second steps alternating a target below and above the 70 % FTP the athletes ride,
/// so every step ends in an `above_target` or `below_target` cue (after the 15 s grace
/// and 10 s of being off target), decided on a sample.
const ALTERNATING_PLAN: &str = r#"{"name":"Bench: alternating","sport":"bike","steps":[
{"kind":"repeat","count":100,"steps":[
{"intent":"work","duration_s":40,"target":{"kind":"power_ftp","low_pct":50,"high_pct":55}},
{"intent":"work","duration_s":40,"target":{"kind":"power_ftp","low_pct":85,"high_pct":90}}]}]}"#;

/// Cues decided by a sample (the ones a frame → cue latency is about); step changes,
/// signal loss and the end are decided by the plan clock or a timeout.
fn decided_by_a_sample(code: CueCode) -> bool {
    matches!(
        code,
        CueCode::AboveTarget
            | CueCode::BelowTarget
            | CueCode::HrAboveCap
            | CueCode::ArtifactSuspected
            | CueCode::HrSignalBack
            | CueCode::WbalLow
            | CueCode::WbalEmpty
            | CueCode::DecouplingHigh
    )
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct LatencyFigures {
    /// Simulated athletes.
    pub athletes: usize,
    /// Seconds measured (after the warm-up).
    pub measured_s: u64,
    /// Frames the agent wrote to its sockets while measuring.
    pub frames_sent: u64,
    /// Cues measured.
    pub cues: u64,
    /// Latency percentiles, µs: p50, p90, p99, p99.9, max.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Frames spooled by the agent but not acknowledged by the gateway at the end.
    pub lost: u64,
    /// Frames the gateway reports as stored.
    pub stored: f64,
    /// The gateway's own mean of frame in → cue out (every cue), ms.
    pub gateway_side_ms: Option<f64>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs one latency measurement with `athletes` riders: `warmup_s` unrecorded, then
/// `measure_s` recorded.
pub async fn run(athletes: usize, warmup_s: u64, measure_s: u64) -> anyhow::Result<LatencyFigures> {
    let data_dir = std::env::temp_dir().join(format!(
        "paceline-bench-gateway-{}-{athletes}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let localhost = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let settings = Settings::resolve(SettingsLayer {
        data_dir: Some(data_dir.clone()),
        http: Some(localhost(free_port()?)),
        mqtt: Some(localhost(free_port()?)),
        quic: Some(localhost(0)),
        ..SettingsLayer::default()
    })?;
    let gateway = Gateway::start(&settings)
        .await
        .context("starting the gateway")?;
    let credentials = pair(&gateway, athletes)?;
    let ride_s = warmup_s + measure_s + 5;
    let riders = credentials
        .into_iter()
        .enumerate()
        .map(|(index, (credentials, profile))| AthleteConfig {
            name: format!("rider-{index}"),
            credentials,
            source: Source::Simulator {
                config: SimulatorConfig {
                    seed: index as u64 + 1,
                    scenario: Scenario::Steady,
                    profile: Some(profile),
                    duration_s: Some(u32::try_from(ride_s).unwrap_or(u32::MAX)),
                    ..SimulatorConfig::default()
                },
                speed: 1.0,
            },
        })
        .collect();
    let spool_dir: PathBuf = data_dir.join("spool");
    let mut config = AgentConfig::new(GatewayConfig::mqtt(gateway.mqtt), spool_dir, riders);
    config.event_capacity = 1 << 20;
    let mut agent = Agent::start(config).await.context("starting the agent")?;
    let mut events = agent.subscribe();

    let started = Instant::now();
    let measure_from = started + Duration::from_secs(warmup_s);
    let measure_until = measure_from + Duration::from_secs(measure_s);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut last_sent: HashMap<(DeviceId, SessionId), Instant> = HashMap::new();
    let mut spooled: HashMap<DeviceId, u64> = HashMap::new();
    let mut acked: HashMap<DeviceId, u64> = HashMap::new();
    let mut frames_sent = 0u64;
    let collect = async {
        loop {
            match events.recv().await {
                Ok(AgentEvent::FrameSent {
                    device,
                    session,
                    at,
                    ..
                }) => {
                    if at >= measure_from && at < measure_until {
                        frames_sent += 1;
                    }
                    last_sent.insert((device, session), at);
                }
                Ok(AgentEvent::FrameSpooled { device, seq, .. }) => {
                    spooled.insert(device, seq);
                }
                Ok(AgentEvent::Acked {
                    device,
                    committed_seq,
                    ..
                }) => {
                    let entry = acked.entry(device).or_insert(0);
                    *entry = (*entry).max(committed_seq);
                }
                Ok(AgentEvent::CueReceived {
                    device,
                    session,
                    cue,
                    received_at,
                    ..
                }) => {
                    if received_at < measure_from
                        || received_at >= measure_until
                        || !decided_by_a_sample(cue.code)
                    {
                        continue;
                    }
                    if let Some(sent) = last_sent.get(&(device, session)) {
                        let micros = received_at.saturating_duration_since(*sent).as_micros();
                        histogram
                            .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    anyhow::bail!("the bench fell behind the agent's events by {n}");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    };
    tokio::select! {
        result = collect => result?,
        () = agent.wait_finished() => {}
    }
    // Drain what the end of the ride reported (the last acks).
    while let Ok(event) = events.try_recv() {
        match event {
            AgentEvent::FrameSpooled { device, seq, .. } => {
                spooled.insert(device, seq);
            }
            AgentEvent::Acked {
                device,
                committed_seq,
                ..
            } => {
                let entry = acked.entry(device).or_insert(0);
                *entry = (*entry).max(committed_seq);
            }
            _ => {}
        }
    }
    let lost = spooled
        .iter()
        .map(|(device, seq)| seq.saturating_sub(acked.get(device).copied().unwrap_or(0)))
        .sum();
    let stored = gateway.live.metrics().frames_stored.get() as f64;
    let gateway_side_ms = gateway_cue_latency_mean_ms(gateway.http);
    agent.shutdown().await;
    gateway.shutdown().await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(LatencyFigures {
        athletes,
        measured_s: measure_s,
        frames_sent,
        cues: histogram.len(),
        p50_us: histogram.value_at_quantile(0.5),
        p90_us: histogram.value_at_quantile(0.9),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        max_us: histogram.max(),
        lost,
        stored,
        gateway_side_ms,
    })
}

/// The mean of the gateway's own cue latency histogram (frame in → cue out), ms.
fn gateway_cue_latency_mean_ms(http: SocketAddr) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(http).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    let sum = value("paceline_cue_latency_seconds_sum")?;
    let count = value("paceline_cue_latency_seconds_count")?;
    (count > 0.0).then(|| sum / count * 1000.0)
}

/// Creates the bench tenant: `athletes` athletes with the plan assigned and a device each.
fn pair(
    gateway: &Gateway,
    athletes: usize,
) -> anyhow::Result<Vec<(DeviceCredentials, AthleteProfile)>> {
    let tenant = TenantId::new("bench-gym")?;
    let profile_template: AthleteProfile = codec::from_json(
        br#"{"age":38,"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000}"#,
    )?;
    let plan = codec::from_json(ALTERNATING_PLAN.as_bytes())?;
    let store_handle = gateway.live.store();
    let mut conn = store::connect(store_handle.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = paceline_gateway::clock::GatewayClock::start().now_ms();
    let tenant_row = store::ensure_tenant(&tx, &tenant, now)?;
    let plan_row = store::add_plan(&tx, tenant_row, "json", &plan, now)?;
    let mut out = Vec::with_capacity(athletes);
    for index in 0..athletes {
        let name = format!("rider-{index}");
        let mut profile = profile_template.clone();
        profile.name = Some(name.clone());
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now)?;
        store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
        let device = store::add_device(
            &tx,
            &store_handle.server_key(),
            &tenant,
            tenant_row,
            athlete_row,
            now,
        )?;
        out.push((
            DeviceCredentials {
                tenant: device.tenant,
                device: device.device,
                key: device.key,
                token: device.token,
            },
            profile,
        ));
    }
    tx.commit()?;
    Ok(out)
}
