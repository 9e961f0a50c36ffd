//! The load generator: bench devices driven in shards.
//!
//! Each device keeps the wire behaviour of an edge agent — its own connection and
//! credentials, sealed frames at HR 1 Hz + power 4 Hz, one sample per frame, at its own
//! phase of the 250 ms period, and the "600 minutes left" command every 20 s, staggered —
//! but one task drives a whole shard of devices ([`SHARD_DEVICES`] by default) on one
//! timer instead of a task and a timer per device. A shard wakes at the earliest frame any
//! of its devices owes, sends everything due within [`SEND_AHEAD`] of it, and sleeps
//! again; each device's frames of one wake-up go out in one write. Frames are sealed with
//! a per-device [`FrameSealer`] into reused buffers and the sample payloads are rewritten
//! in place, so the sending path allocates nothing per frame. The readers (one small task
//! per connection) open the downlink and record the latencies ([`super::probes`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paceline_schemas::command::TimeLeft;
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate};
use paceline_schemas::{
    Command as PlCommand, FrameSealer, Payload, Sample, SampleBatch, SampleValue, SessionId,
};
use tokio::sync::{Semaphore, watch};

use super::Transport;
use super::mqtt::{self, MqttLink};
use super::probes::{DeviceState, Probes};
use super::quic::{self, QuicLink};
use super::server::Creds;

/// How often each device says how many minutes it has left.
pub(super) const COMMAND_EVERY: Duration = Duration::from_secs(20);
/// Devices one shard task drives (`PACELINE_BENCH_SHARD_DEVICES` overrides). 1,024 rather
/// than 128: at 1,000 athletes one shard instead of eight cut the generator's CPU per
/// frame by ~15 % over MQTT (30 against 35–38 µs) and ~8 % over QUIC (one endpoint
/// instead of eight), from fewer timer wake-ups; a device's send instant still has the
/// [`SEND_AHEAD`] resolution.
pub(super) const SHARD_DEVICES: usize = 1024;
/// How far ahead of its wake-up a shard sends frames that are nearly due: the phase
/// resolution of a device, and what bounds a shard's wake-ups to 1 per this long.
const SEND_AHEAD: Duration = Duration::from_millis(4);
/// How long a shard waits for its devices' last acks after the ride.
const LAST_ACK_WAIT: Duration = Duration::from_secs(20);
/// How long a shard's QUIC devices then wait, together, for the server to read their
/// streams to the end before their connections close (see [`QuicLink::close`]).
const QUIC_DRAIN_WAIT: Duration = Duration::from_secs(60);
/// How often a shard pings its MQTT connections while waiting for the ride.
const PING_EVERY: Duration = Duration::from_secs(20);

/// When the ride starts and what is measured, shared by all shards.
#[derive(Clone, Copy)]
pub(super) struct Schedule {
    pub(super) start: tokio::time::Instant,
    pub(super) measure_from: tokio::time::Instant,
    pub(super) ride_until: tokio::time::Instant,
}

/// Counters shared by all shards.
#[derive(Default)]
pub(super) struct Totals {
    pub(super) commands_measured: AtomicU64,
    /// Frames handed over in the measured window.
    pub(super) frames_measured: AtomicU64,
    pub(super) connected: AtomicUsize,
}

/// What a shard needs besides its devices.
#[derive(Clone)]
pub(super) struct ShardSetting {
    pub(super) transport: Transport,
    pub(super) mqtt: std::net::SocketAddr,
    pub(super) quic: std::net::SocketAddr,
    pub(super) quic_config: quinn::ClientConfig,
    /// Whether QUIC devices send frames as datagrams once acked.
    pub(super) quic_datagrams: bool,
    pub(super) connecting: Arc<Semaphore>,
    pub(super) schedule: watch::Receiver<Option<Schedule>>,
    pub(super) probes: Probes,
    pub(super) totals: Arc<Totals>,
}

/// One device of a shard as the generator sees it: its first index (for its phase and
/// command offset) and credentials.
pub(super) struct DeviceSeat {
    pub(super) index: usize,
    pub(super) creds: Creds,
}

enum Link {
    Mqtt(MqttLink),
    Quic(QuicLink),
}

/// One connected device.
struct Device {
    sender: Sender,
    state: Arc<DeviceState>,
    phase: Duration,
    command_offset: Duration,
    tick: u64,
    next_command: tokio::time::Instant,
    ended: bool,
    /// Reused power and heart-rate payloads, their one sample rewritten each tick.
    power: Payload,
    heart_rate: Payload,
}

/// A device's sending side: its link, sealer and reused buffers.
struct Sender {
    link: Link,
    sealer: FrameSealer,
    seq: u64,
    /// The sealed frame being appended.
    frame: Vec<u8>,
    /// The packets of one wake-up.
    out: Vec<u8>,
}

impl Sender {
    /// Seals `payload` as the next frame and appends it to the wake-up's packets.
    fn push(&mut self, payload: &Payload) -> anyhow::Result<()> {
        self.seq += 1;
        self.sealer
            .seal_into(self.seq, crate::now_unix_ms(), payload, &mut self.frame)?;
        match &mut self.link {
            Link::Mqtt(link) => link.append(&mut self.out, &self.frame),
            Link::Quic(link) => {
                if !link.send_datagram(&self.frame)? {
                    QuicLink::append(&mut self.out, &self.frame)?;
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self) -> anyhow::Result<()> {
        match &mut self.link {
            Link::Mqtt(link) => link.write(&self.out).await,
            Link::Quic(link) => link.write(&self.out).await,
        }
    }

    /// Closes the link; why its connection was lost before, if it was.
    async fn close(self, drained_by: tokio::time::Instant) -> Option<String> {
        match self.link {
            Link::Mqtt(link) => {
                link.close().await;
                None
            }
            Link::Quic(link) => link.close(drained_by).await,
        }
    }
}

fn one_sample(value: SampleValue) -> Payload {
    let batch = SampleBatch::new(vec![Sample { t_ms: 0, value }]);
    Payload::Samples(batch.unwrap_or_else(|_| unreachable!("one sample is a valid batch")))
}

/// Rewrites the one sample of `payload` in place (the batch's `Vec` is moved, not
/// reallocated).
fn set_sample(payload: &mut Payload, t_ms: u64, value: SampleValue) {
    let placeholder = Payload::Ack(paceline_schemas::Ack { committed_seq: 0 });
    let taken = std::mem::replace(payload, placeholder);
    let Payload::Samples(batch) = taken else {
        *payload = taken;
        return;
    };
    let mut samples = batch.into_samples();
    samples.truncate(1);
    if let Some(sample) = samples.first_mut() {
        *sample = Sample { t_ms, value };
    }
    if let Ok(batch) = SampleBatch::new(samples) {
        *payload = Payload::Samples(batch);
    }
}

fn power_value(tick: u64) -> SampleValue {
    SampleValue::CyclingPower(CyclingPower {
        power_w: 180 + i16::try_from(tick % 11).unwrap_or(0),
        cadence_rpm: Some(90.0),
        ..CyclingPower::default()
    })
}

fn heart_rate_value(tick: u64) -> SampleValue {
    SampleValue::HeartRate(HeartRate {
        bpm: 135 + u16::try_from(tick % 7).unwrap_or(0),
        contact: Contact::On,
        energy_kj: None,
        rr_1024: vec![],
    })
}

impl Device {
    fn tick_at(&self, schedule: &Schedule) -> tokio::time::Instant {
        schedule.start
            + self.phase
            + crate::SENSOR_PERIOD * u32::try_from(self.tick).unwrap_or(u32::MAX)
    }

    /// When this device next owes a frame, or `None` once it has ended.
    fn due(&self, schedule: &Schedule) -> Option<tokio::time::Instant> {
        if self.ended {
            return None;
        }
        let at = self.tick_at(schedule);
        Some(if at >= schedule.ride_until {
            schedule.ride_until
        } else {
            at.min(self.next_command)
        })
    }

    /// Seals into the sender's buffer every frame due by `horizon`: sensor frames, the
    /// command, and the end of the ride. Returns the first seq written and whether the
    /// command was among them, or `None` if nothing was due.
    fn fill(
        &mut self,
        horizon: tokio::time::Instant,
        schedule: &Schedule,
        totals: &Totals,
    ) -> anyhow::Result<Option<(u64, bool)>> {
        self.sender.out.clear();
        let first = self.sender.seq + 1;
        let mut command = false;
        loop {
            let at = self.tick_at(schedule);
            if at >= schedule.ride_until {
                if horizon >= schedule.ride_until {
                    self.sender.push(&Payload::Command(PlCommand::End))?;
                    self.ended = true;
                }
                break;
            }
            if self.next_command <= at {
                if self.next_command > horizon {
                    break;
                }
                if self.next_command >= schedule.measure_from {
                    totals.commands_measured.fetch_add(1, Ordering::Relaxed);
                    totals.frames_measured.fetch_add(1, Ordering::Relaxed);
                }
                let minutes = Payload::Command(PlCommand::TimeLeft(TimeLeft { minutes: 600 }));
                self.sender.push(&minutes)?;
                command = true;
                self.next_command += COMMAND_EVERY;
                continue;
            }
            if at > horizon {
                break;
            }
            let measured = at >= schedule.measure_from;
            let tick = self.tick;
            let t_ms = tick * 250;
            let mut frames = 1;
            if tick.is_multiple_of(4) {
                set_sample(&mut self.heart_rate, t_ms, heart_rate_value(tick));
                self.sender.push(&self.heart_rate)?;
                frames += 1;
            }
            set_sample(&mut self.power, t_ms, power_value(tick));
            self.sender.push(&self.power)?;
            if measured {
                totals.frames_measured.fetch_add(frames, Ordering::Relaxed);
            }
            self.tick += 1;
        }
        Ok((self.sender.seq >= first).then_some((first, command)))
    }
}

/// Connects one device (at most `connecting` at a time across all shards).
async fn connect(
    seat: DeviceSeat,
    setting: &ShardSetting,
    endpoint: Option<&quinn::Endpoint>,
    athletes: usize,
) -> anyhow::Result<Device> {
    let state = Arc::new(DeviceState::default());
    let link = {
        let _permit = setting.connecting.acquire().await?;
        match (setting.transport, endpoint) {
            (Transport::Quic, Some(endpoint)) => Link::Quic(
                quic::connect(
                    &seat.creds,
                    endpoint,
                    setting.quic,
                    Arc::clone(&state),
                    setting.probes.clone(),
                    setting.quic_datagrams,
                )
                .await?,
            ),
            _ => Link::Mqtt(
                mqtt::connect(
                    &seat.creds,
                    setting.mqtt,
                    Arc::clone(&state),
                    setting.probes.clone(),
                )
                .await?,
            ),
        }
    };
    setting.totals.connected.fetch_add(1, Ordering::Relaxed);
    let session = SessionId::new(format!("bench-{}", seat.creds.device))?;
    let sealer = FrameSealer::new(
        &seat.creds.key,
        seat.creds.tenant.clone(),
        seat.creds.device.clone(),
        session,
    );
    Ok(Device {
        sender: Sender {
            link,
            sealer,
            seq: 0,
            frame: Vec::with_capacity(256),
            out: Vec::with_capacity(1024),
        },
        state,
        phase: crate::sensor_phase(seat.index),
        command_offset: COMMAND_EVERY.mul_f64(seat.index as f64 / athletes.max(1) as f64),
        tick: 0,
        next_command: tokio::time::Instant::now(),
        ended: false,
        power: one_sample(power_value(0)),
        heart_rate: one_sample(heart_rate_value(0)),
    })
}

/// One shard: connects its devices, waits for the start, rides them all, ends, waits for
/// their last acks. Returns the frames sent, the highest seqs acked (summed) and the
/// devices' errors.
pub(super) async fn shard(
    seats: Vec<DeviceSeat>,
    mut setting: ShardSetting,
    athletes: usize,
) -> (u64, u64, Vec<String>) {
    let mut failures = Vec::new();
    let endpoint = match setting.transport {
        Transport::Quic => match quic::endpoint(setting.quic_config.clone()) {
            Ok(endpoint) => Some(endpoint),
            Err(err) => return (0, 0, vec![format!("{err:#}")]),
        },
        Transport::Mqtt => None,
    };
    let mut connecting = tokio::task::JoinSet::new();
    for seat in seats {
        let setting = setting.clone();
        let endpoint = endpoint.clone();
        connecting.spawn(async move { connect(seat, &setting, endpoint.as_ref(), athletes).await });
    }
    let mut devices = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        match joined {
            Ok(Ok(device)) => devices.push(device),
            Ok(Err(err)) => failures.push(format!("{err:#}")),
            Err(err) => failures.push(err.to_string()),
        }
    }
    let schedule = loop {
        if let Some(schedule) = *setting.schedule.borrow_and_update() {
            break schedule;
        }
        if tokio::time::timeout(PING_EVERY, setting.schedule.changed())
            .await
            .is_ok_and(|changed| changed.is_err())
        {
            return (0, 0, failures);
        }
        for device in &mut devices {
            if let Link::Mqtt(link) = &mut device.sender.link {
                let _ = link.ping().await;
            }
        }
    };
    for device in &mut devices {
        device.next_command = schedule.start + device.phase + device.command_offset;
    }
    let totals = Arc::clone(&setting.totals);
    let mut sent = 0;
    let mut acked = 0;
    while let Some(next) = devices.iter().filter_map(|d| d.due(&schedule)).min() {
        tokio::time::sleep_until(next).await;
        let horizon = next + SEND_AHEAD;
        let mut broken = Vec::new();
        for (i, device) in devices.iter_mut().enumerate() {
            if device.due(&schedule).is_none_or(|due| due > horizon) {
                continue;
            }
            let written = match device.fill(horizon, &schedule, &totals) {
                Ok(written) => written,
                Err(err) => {
                    failures.push(format!("{err:#}"));
                    broken.push(i);
                    continue;
                }
            };
            let Some((first, command)) = written else {
                continue;
            };
            let at = Instant::now();
            if command && let Ok(mut sent) = device.state.command_sent.lock() {
                *sent = Some(at);
            }
            device.state.handed_over(first..=device.sender.seq, at);
            if let Err(err) = device.sender.write().await {
                failures.push(format!("{err:#}"));
                broken.push(i);
            }
        }
        for i in broken.into_iter().rev() {
            let device = devices.swap_remove(i);
            sent += device.sender.seq;
            acked += device.state.acked.load(Ordering::Relaxed);
            let _ = device.sender.close(tokio::time::Instant::now()).await;
        }
    }
    let deadline = tokio::time::Instant::now() + LAST_ACK_WAIT;
    while devices
        .iter()
        .any(|d| d.state.acked.load(Ordering::Relaxed) < d.sender.seq)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_by = tokio::time::Instant::now() + QUIC_DRAIN_WAIT;
    for device in devices {
        sent += device.sender.seq;
        acked += device.state.acked.load(Ordering::Relaxed);
        if let Some(lost) = device.sender.close(drained_by).await {
            failures.push(lost);
        }
    }
    (sent, acked, failures)
}
