//! Frame → cue latency at the device, through the whole live loop over loopback.
//!
//! One run: a gateway (`paceline_gateway::server::Gateway`, the code `paceline serve` runs:
//! rumqttd, engine, SQLite writer, acks) on loopback ports, and N bench devices, each its
//! own MQTT connection (rumqttc, QoS 1) with its own paired credentials, sending sealed
//! frames like an edge agent does: heart rate at 1 Hz and power at 4 Hz, one sample per
//! frame. Every 16 s (staggered across devices) a device also sends the athlete's "N
//! minutes left" command, which its coach answers at once with a `time_budget_compressed`
//! cue (at most one per 15 s per athlete, so each command gets its own cue).
//!
//! Latency of a cue = when the device opened the cue − when the device handed the command
//! frame that decided it to its MQTT client. Only that pairing is exact: the coach decides
//! most other cues when a second closes or a step ends, which a timer or whichever frame
//! comes next triggers, so "the frame that decided it" is not defined for them. The sensor
//! frames are the load. Percentiles come from hdrhistogram (µs). "Lost" is, per device,
//! the last seq sent minus the last seq the gateway acknowledged once the ride is over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use paceline_gateway::server::Gateway;
use paceline_gateway::settings::{Settings, SettingsLayer};
use paceline_gateway::store;
use paceline_schemas::command::TimeLeft;
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate};
use paceline_schemas::{
    AthleteProfile, Command, CueCode, DeviceId, DeviceKey, FrameHeader, Payload, Sample,
    SampleBatch, SampleValue, SessionId, TenantId, Topic, codec, seal,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// The plan the athletes are coached against: an hour of steady work.
const STEADY_PLAN: &str = r#"{"name":"Bench: steady hour","sport":"bike","steps":[
{"kind":"step","intent":"work","duration_s":3600,"target":{"kind":"power_ftp","low_pct":70,"high_pct":80}}]}"#;
/// How often each device says how many minutes it has left.
pub const COMMAND_EVERY: Duration = Duration::from_secs(16);

/// One run's figures.
#[derive(Debug, Clone)]
pub struct LatencyFigures {
    /// Devices (athletes).
    pub athletes: usize,
    /// Seconds measured (after the warm-up).
    pub measured_s: u64,
    /// Frames sent while measuring.
    pub frames_sent: u64,
    /// Cues measured.
    pub cues: u64,
    /// Latency percentiles, µs.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Commands sent while measuring that got no cue back.
    pub unanswered: u64,
    /// Frames still unacknowledged 20 s after the device's ride ended.
    pub lost: u64,
    /// Frames the gateway reports as stored.
    pub stored: u64,
    /// The gateway's own mean from a frame reaching it to a cue leaving it, ms.
    pub gateway_side_ms: Option<f64>,
}

/// A paired bench device's credentials.
pub struct Device {
    tenant: TenantId,
    device: DeviceId,
    key: DeviceKey,
    token: DeviceToken,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs one measurement with `athletes` devices: `warmup_s` unrecorded, then `measure_s`
/// recorded.
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
    let devices = pair(&gateway, athletes)?;

    let start = tokio::time::Instant::now() + Duration::from_secs(2);
    let measure_from = start + Duration::from_secs(warmup_s);
    let ride_until = measure_from + Duration::from_secs(measure_s);
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<(Instant, Duration)>();
    let frames_sent = Arc::new(AtomicU64::new(0));
    let commands_measured = Arc::new(AtomicU64::new(0));
    let mut riders = Vec::with_capacity(devices.len());
    for (index, device) in devices.into_iter().enumerate() {
        let offset = COMMAND_EVERY.mul_f64(index as f64 / athletes.max(1) as f64);
        riders.push(tokio::spawn(ride(
            device,
            gateway.mqtt,
            // The device's own clock: its sensors tick at their phase of the period.
            start + crate::sensor_phase(index),
            offset,
            (measure_from, ride_until),
            latency_tx.clone(),
            Arc::clone(&frames_sent),
            Arc::clone(&commands_measured),
        )));
    }
    drop(latency_tx);
    let mut lost = 0;
    for rider in riders {
        lost += rider.await.context("a bench device failed")??;
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let measure_from = measure_from.into_std();
    let ride_until = ride_until.into_std();
    while let Ok((sent_at, latency)) = latency_rx.try_recv() {
        if sent_at >= measure_from && sent_at < ride_until {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            histogram.saturating_record(micros.max(1));
        }
    }
    let stored = gateway.live.metrics().frames_stored.get();
    let gateway_side_ms = gateway_cue_latency_mean_ms(gateway.http);
    gateway.shutdown().await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    let commands = commands_measured.load(Ordering::Relaxed);
    Ok(LatencyFigures {
        athletes,
        measured_s: measure_s,
        frames_sent: frames_sent.load(Ordering::Relaxed),
        cues: histogram.len(),
        p50_us: histogram.value_at_quantile(0.5),
        p90_us: histogram.value_at_quantile(0.9),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        max_us: histogram.max(),
        unanswered: commands.saturating_sub(histogram.len()),
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

/// One device's ride against the MQTT listener at `mqtt` (this module's gateway, or a
/// `paceline serve` process: the sync bench's); returns the frames it sent that were not
/// acknowledged at the end.
#[allow(
    clippy::too_many_arguments,
    reason = "one bench device's whole setting"
)]
pub async fn ride(
    device: Device,
    mqtt: SocketAddr,
    start: tokio::time::Instant,
    command_offset: Duration,
    (measure_from, ride_until): (tokio::time::Instant, tokio::time::Instant),
    latencies: mpsc::UnboundedSender<(Instant, Duration)>,
    frames_sent: Arc<AtomicU64>,
    commands_measured: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let mut options = MqttOptions::new(device.device.as_str(), mqtt.ip().to_string(), mqtt.port());
    options.set_credentials(device.device.as_str(), device.token.expose_hex());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(128 * 1024, 128 * 1024);
    options.set_inflight(200);
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    // As the edge agent does: small frames must not wait for Nagle's algorithm.
    eventloop.network_options.set_tcp_nodelay(true);
    let session = SessionId::new(format!("bench-{}", device.device))?;
    let command_sent: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let acked = Arc::new(AtomicU64::new(0));
    let listener = {
        let key = device.key.clone();
        let command_sent = Arc::clone(&command_sent);
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let opened_at = Instant::now();
                        let Ok(frame) = codec::decode_frame(&publish.payload) else {
                            continue;
                        };
                        match seal::open(&key, &frame) {
                            Ok(Payload::Cue(cue)) if cue.code == CueCode::TimeBudgetCompressed => {
                                let sent = command_sent.lock().ok().and_then(|mut s| s.take());
                                if let Some(sent) = sent {
                                    let _ = latencies.send((sent, opened_at - sent));
                                }
                            }
                            Ok(Payload::Ack(ack)) => {
                                acked.fetch_max(ack.committed_seq, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "bench device: MQTT connection error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };
    client
        .subscribe(
            Topic::down(&device.tenant, &device.device).to_string(),
            QoS::AtLeastOnce,
        )
        .await?;
    let up = Topic::up(&device.tenant, &device.device).to_string();
    let mut seq = 0u64;
    let mut tick = 0u64;
    let mut next_command = start + command_offset;
    let publish = |seq: u64, payload: Payload| {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: device.tenant.clone(),
            device: device.device.clone(),
            session: session.clone(),
            seq,
            sent_ms: now_unix_ms(),
        };
        seal::seal(&device.key, header, &payload)
            .ok()
            .and_then(|frame| codec::encode_frame(&frame).ok())
    };
    loop {
        let at = start + crate::SENSOR_PERIOD * u32::try_from(tick).unwrap_or(u32::MAX);
        if at >= ride_until {
            break;
        }
        if next_command <= at {
            tokio::time::sleep_until(next_command).await;
            seq += 1;
            let frame = publish(
                seq,
                Payload::Command(Command::TimeLeft(TimeLeft { minutes: 600 })),
            )
            .context("sealing a command")?;
            if let Ok(mut sent) = command_sent.lock() {
                *sent = Some(Instant::now());
            }
            if next_command >= measure_from {
                commands_measured.fetch_add(1, Ordering::Relaxed);
            }
            client
                .publish(up.as_str(), QoS::AtLeastOnce, false, frame)
                .await?;
            next_command += COMMAND_EVERY;
            continue;
        }
        tokio::time::sleep_until(at).await;
        let t_ms = tick * 250;
        let value = if tick.is_multiple_of(4) {
            SampleValue::HeartRate(HeartRate {
                bpm: 135 + u16::try_from(tick % 7).unwrap_or(0),
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![],
            })
        } else {
            SampleValue::CyclingPower(CyclingPower {
                power_w: 180 + i16::try_from(tick % 11).unwrap_or(0),
                cadence_rpm: Some(90.0),
                ..CyclingPower::default()
            })
        };
        seq += 1;
        let batch =
            SampleBatch::new(vec![Sample { t_ms, value }]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let frame = publish(seq, Payload::Samples(batch)).context("sealing samples")?;
        client
            .publish(up.as_str(), QoS::AtLeastOnce, false, frame)
            .await?;
        if at >= measure_from {
            frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        tick += 1;
    }
    // The end of the ride, then wait (bounded) for the last ack.
    seq += 1;
    let frame = publish(seq, Payload::Command(Command::End)).context("sealing the end")?;
    client
        .publish(up.as_str(), QoS::AtLeastOnce, false, frame)
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.load(Ordering::Relaxed) < seq && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = client.disconnect().await;
    listener.abort();
    Ok(seq.saturating_sub(acked.load(Ordering::Relaxed)))
}

/// Creates the bench tenant: `athletes` athletes with the plan assigned and a device each.
fn pair(gateway: &Gateway, athletes: usize) -> anyhow::Result<Vec<Device>> {
    pair_in(gateway.live.store(), athletes)
}

/// Creates the bench tenant in any store (a data folder a `paceline serve` process is then
/// started on): `athletes` athletes with the plan assigned and a device each.
pub fn pair_in(store_handle: &store::Store, athletes: usize) -> anyhow::Result<Vec<Device>> {
    let tenant = TenantId::new("bench-gym")?;
    let profile_template: AthleteProfile = codec::from_json(
        br#"{"age":38,"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000}"#,
    )?;
    let plan = codec::from_json(STEADY_PLAN.as_bytes())?;
    let mut conn = store::connect(store_handle.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = now_unix_ms();
    let tenant_row = store::ensure_tenant(&tx, &tenant, now)?;
    let plan_row = store::add_plan(&tx, tenant_row, "json", &plan, now)?;
    let mut out = Vec::with_capacity(athletes);
    for index in 0..athletes {
        let name = format!("rider-{index}");
        let mut profile = profile_template.clone();
        profile.name = Some(name.clone());
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now)?;
        store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
        let new = store::add_device(
            &tx,
            &store_handle.server_key(),
            &tenant,
            tenant_row,
            athlete_row,
            now,
        )?;
        out.push(Device {
            tenant: new.tenant.clone(),
            device: new.device.clone(),
            key: new.key.clone(),
            token: new.token.clone(),
        });
    }
    tx.commit()?;
    Ok(out)
}
