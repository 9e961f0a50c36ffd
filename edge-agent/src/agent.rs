//! The agent: athletes' sources in, sealed frames through the spool and the uplink out,
//! acks and cues back — one tokio task set per device, usable in-process.
//!
//! ```no_run
//! # async fn demo(credentials: paceline_edge::credentials::DeviceCredentials) -> anyhow::Result<()> {
//! use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
//! use paceline_edge::simulator::{Scenario, SimulatorConfig};
//!
//! let config = AgentConfig::new(
//!     GatewayConfig::mqtt("127.0.0.1:1883".parse()?),
//!     std::env::temp_dir().join("paceline-spool"),
//!     vec![AthleteConfig {
//!         name: "ana".into(),
//!         credentials,
//!         source: Source::Simulator { config: SimulatorConfig { scenario: Scenario::Overheat, ..SimulatorConfig::default() }, speed: 1.0 },
//!     }],
//! );
//! let agent = Agent::start(config).await?;
//! let mut events = agent.subscribe();
//! while let Ok(event) = events.recv().await {
//!     if let AgentEvent::CueReceived { cue, .. } = event {
//!         println!("{}", cue.text);
//!     }
//! }
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Per device: a **recorder** task takes samples from the source, batches those available
//! at the same moment (or within `batch_ms`), assigns the next seq of the session, seals,
//! and appends to the [`Spool`] — a frame gets its seq only when the spool holds it, so
//! seqs have no gaps. The source's sensor reports (connects, drops, battery levels) become
//! a device status frame whenever the [`SensorTable`] changes, spooled the same way. An **uplink** task (MQTT or QUIC) sends the spool's frames in order
//! from a cursor; on every (re)connect the cursor goes back to the oldest unacknowledged
//! frame, and also when acks make no progress for `resend_after_ms`. Acks release frames
//! from the spool. At the end of a ride (source finished, or [`AgentHandle::shutdown`]) the
//! recorder spools a `Command::End` frame, and the uplink keeps going until the spool is
//! empty or `shutdown_wait_ms` has passed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paceline_schemas::{
    Command, Cue, DeviceId, FrameHeader, FrameKind, MAX_SAMPLES_PER_BATCH, Payload, Sample,
    SampleBatch, SessionId, codec, seal,
};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::ble::SensorStatus;
use crate::credentials::DeviceCredentials;
use crate::cue_guard::CueGuard;
use crate::sensors::SensorTable;
use crate::session::{new_session_id, unix_ms_now};
use crate::simulator::SimulatorConfig;
use crate::source::{self, BleSensors};
use crate::spool::{BackgroundSync, Recovery, Spool, SpoolError, SyncPolicy};
use crate::uplink;

/// How frames reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// MQTT 3.1.1, QoS 1 (rumqttc), one connection per device.
    #[default]
    Mqtt,
    /// QUIC (quinn, TLS 1.3, ALPN `paceline/1`), one connection per device, one stream per
    /// session.
    Quic,
}

/// How the agent trusts the gateway's QUIC certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicTrust {
    /// The SHA-256 of the certificate's DER, as the gateway prints it at first start.
    Fingerprint([u8; 32]),
    /// PEM certificates (the gateway's own, or its CA), read from a file.
    CaFile(PathBuf),
    /// PEM certificates given in memory.
    CaPem(Vec<u8>),
}

/// Where the gateway is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// MQTT or QUIC.
    pub transport: Transport,
    /// The MQTT broker, host and port.
    pub mqtt_host: String,
    /// The MQTT broker's port.
    pub mqtt_port: u16,
    /// The QUIC ingress.
    pub quic_addr: SocketAddr,
    /// The name the QUIC certificate is checked against.
    pub quic_server_name: String,
    /// How the QUIC certificate is trusted (required for QUIC).
    pub quic_trust: Option<QuicTrust>,
}

impl GatewayConfig {
    /// MQTT to `addr`.
    pub fn mqtt(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Mqtt,
            mqtt_host: addr.ip().to_string(),
            mqtt_port: addr.port(),
            quic_addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
            quic_server_name: "localhost".to_owned(),
            quic_trust: None,
        }
    }

    /// QUIC to `addr`, trusting the certificate by `trust`.
    pub fn quic(addr: SocketAddr, trust: QuicTrust) -> Self {
        Self {
            transport: Transport::Quic,
            mqtt_host: "127.0.0.1".to_owned(),
            mqtt_port: 1883,
            quic_addr: addr,
            quic_server_name: "localhost".to_owned(),
            quic_trust: Some(trust),
        }
    }
}

/// Where an athlete's samples come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A simulated athlete, its virtual time running `speed` times real time.
    Simulator {
        /// The athlete.
        config: SimulatorConfig,
        /// 1.0 = real time.
        speed: f64,
    },
    /// A recorded FIT activity or CSV (`time_s,heart_rate,power,cadence,speed`), replayed
    /// `speed` times faster than recorded.
    File {
        /// The file.
        path: PathBuf,
        /// 1.0 = as recorded.
        speed: f64,
    },
    /// Bluetooth LE sensors, through [`AgentConfig::ble_stack`].
    Ble(BleSensors),
    /// Samples pushed through [`AgentHandle::sample_sender`] (tests, embedding).
    Push,
}

/// One athlete (one device) the agent serves.
#[derive(Debug, Clone)]
pub struct AthleteConfig {
    /// A name for logs and the status page.
    pub name: String,
    /// The device's credentials from pairing.
    pub credentials: DeviceCredentials,
    /// Where its samples come from.
    pub source: Source,
}

/// Everything the agent needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the gateway is.
    pub gateway: GatewayConfig,
    /// The athletes (gym-hub mode: many).
    pub athletes: Vec<AthleteConfig>,
    /// The spool folder; each device gets `<spool_dir>/<tenant>/<device>/`.
    pub spool_dir: PathBuf,
    /// Bound of each device's spool, bytes.
    pub spool_max_bytes: u64,
    /// Most time between spool fsyncs, ms (done by a background thread).
    pub fsync_interval_ms: u64,
    /// Samples arriving within this window share a frame, ms (0: only those available at
    /// the same moment).
    pub batch_ms: u64,
    /// Resend every unacknowledged frame when acks make no progress for this long, ms.
    pub resend_after_ms: u64,
    /// At shutdown, wait this long for the last acks, ms.
    pub shutdown_wait_ms: u64,
    /// Reconnect backoff: first delay, ms (doubles up to `reconnect_max_ms`, with jitter).
    pub reconnect_min_ms: u64,
    /// Reconnect backoff: longest delay, ms.
    pub reconnect_max_ms: u64,
    /// Capacity of the event channel ([`AgentHandle::subscribe`]).
    pub event_capacity: usize,
    /// The Bluetooth stack for [`Source::Ble`] athletes; `None` (the default) refuses them
    /// with [`crate::ble::BleError::Unavailable`].
    pub ble_stack: Option<crate::ble::BleStack>,
}

impl AgentConfig {
    /// A configuration with the defaults: 64 MiB spool per device, fsync every second,
    /// `batch_ms` 0, resend after 5 s without ack progress, 3 s shutdown wait.
    pub fn new(gateway: GatewayConfig, spool_dir: PathBuf, athletes: Vec<AthleteConfig>) -> Self {
        Self {
            gateway,
            athletes,
            spool_dir,
            spool_max_bytes: 64 * 1024 * 1024,
            fsync_interval_ms: 1_000,
            batch_ms: 0,
            resend_after_ms: 5_000,
            shutdown_wait_ms: 3_000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
            event_capacity: 65_536,
            ble_stack: None,
        }
    }
}

/// What the agent reports. Receive with [`AgentHandle::subscribe`] or
/// [`AgentHandle::events_from_start`]. New variants may be added: match with a wildcard.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AgentEvent {
    /// The device's spool was opened; `recovery` says what a previous run left.
    SpoolOpened {
        /// The device.
        device: DeviceId,
        /// What was recovered.
        recovery: Recovery,
    },
    /// A new session (ride) began.
    SessionStarted {
        /// The device.
        device: DeviceId,
        /// The new session.
        session: SessionId,
    },
    /// The uplink connected (MQTT CONNACK, or QUIC handshake done).
    Connected {
        /// The device.
        device: DeviceId,
    },
    /// The uplink lost its connection.
    Disconnected {
        /// The device.
        device: DeviceId,
        /// Why, for logs.
        reason: String,
    },
    /// A frame entered the spool with its seq.
    FrameSpooled {
        /// The device.
        device: DeviceId,
        /// Its session.
        session: SessionId,
        /// Its seq.
        seq: u64,
        /// Samples in it (0 for a command or a device status).
        samples: usize,
        /// When it was sealed; it is handed to the uplink right after.
        sent_at: Instant,
        /// Its `sent_ms` header field (wall clock).
        sent_ms: u64,
    },
    /// A frame was handed to the transport (rumqttc's queue, or written to the QUIC
    /// stream), first send or resend.
    FrameSent {
        /// The device.
        device: DeviceId,
        /// Its session.
        session: SessionId,
        /// Its seq.
        seq: u64,
        /// When.
        at: Instant,
    },
    /// The gateway acknowledged frames.
    Acked {
        /// The device.
        device: DeviceId,
        /// The session.
        session: SessionId,
        /// Every frame of the session up to this seq is stored.
        committed_seq: u64,
    },
    /// A cue arrived from the gateway.
    CueReceived {
        /// The device.
        device: DeviceId,
        /// The session.
        session: SessionId,
        /// The cue.
        cue: Cue,
        /// When it was opened here.
        received_at: Instant,
        /// The cue frame's `sent_ms` (the gateway's clock).
        frame_sent_ms: u64,
    },
    /// The spool refused samples: it is full of unacknowledged frames.
    SpoolFull {
        /// The device.
        device: DeviceId,
        /// Bytes waiting for acks.
        unacked_bytes: u64,
    },
    /// A downlink frame was dropped (does not decode, names another device, or does not
    /// open with the device key).
    DownFrameRejected {
        /// The device.
        device: DeviceId,
        /// Why.
        reason: String,
    },
    /// The ride's source ended and its `End` command is spooled.
    SessionEnded {
        /// The device.
        device: DeviceId,
        /// The session.
        session: SessionId,
        /// The seq of the `End` frame.
        end_seq: u64,
    },
    /// A BLE sensor connected or was lost.
    SensorStatus {
        /// The device (athlete) it belongs to.
        device: DeviceId,
        /// Which sensor and what happened.
        status: crate::ble::SensorStatus,
    },
    /// A source failed (file unreadable, BLE unavailable).
    SourceFailed {
        /// The device.
        device: DeviceId,
        /// Why.
        reason: String,
    },
    /// The uplink stopped: everything acknowledged (`unacked == 0`) or the wait ran out.
    UplinkStopped {
        /// The device.
        device: DeviceId,
        /// Frames still waiting for an ack (kept in the spool for the next run).
        unacked: usize,
    },
}

/// Counters per device, readable at any time.
#[derive(Debug, Default)]
pub struct DeviceCounters {
    /// Frames spooled.
    pub frames_spooled: AtomicU64,
    /// Frames written to the transport (resends included).
    pub frames_sent: AtomicU64,
    /// Samples refused because the spool was full.
    pub samples_refused: AtomicU64,
    /// Downlink frames dropped.
    pub down_rejected: AtomicU64,
    /// Cues received.
    pub cues: AtomicU64,
    /// Genuine cues dropped as replayed, stale, or bound to another ride (also counted
    /// in `down_rejected`).
    pub cues_dropped: AtomicU64,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A device's spool could not be opened.
    #[error("device {device}: {source}")]
    Spool {
        /// The device.
        device: DeviceId,
        /// Why.
        source: SpoolError,
    },
    /// Two athletes use the same device.
    #[error("device {0} is configured twice")]
    DuplicateDevice(DeviceId),
    /// The QUIC uplink could not be set up (certificate, socket).
    #[error("QUIC: {0}")]
    Quic(String),
}

/// The phase of the agent, watched by every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Recorders: stop taking samples, spool the `End` frames. Uplinks go on as before.
    Ending,
    /// Every recorder is done: uplinks send what is spooled until `deadline`, then stop.
    Draining {
        deadline: tokio::time::Instant,
    },
}

/// What a device's tasks share.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) credentials: DeviceCredentials,
    pub(crate) spool: Mutex<Spool>,
    /// Woken when the spool gains a frame.
    pub(crate) spooled: Notify,
    pub(crate) events: broadcast::Sender<AgentEvent>,
    pub(crate) counters: Arc<DeviceCounters>,
    /// Which downlink cues may be spoken (the ride being recorded, fresh ones only).
    pub(crate) cues: Mutex<CueGuard>,
}

impl Device {
    /// The spool; a poisoned lock (a panic elsewhere) still yields the data.
    pub(crate) fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn emit(&self, event: AgentEvent) {
        // No receiver is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    /// Opens and applies a downlink frame (ack or cue). Frames that do not decode, name
    /// another device or fail to open are counted and dropped.
    pub(crate) fn handle_down(&self, bytes: &[u8]) -> Option<u64> {
        let device = &self.credentials.device;
        let reject = |reason: String| {
            self.counters.down_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%device, %reason, "dropping a downlink frame");
            self.emit(AgentEvent::DownFrameRejected {
                device: device.clone(),
                reason,
            });
            None
        };
        let frame = match codec::decode_frame(bytes) {
            Ok(frame) => frame,
            Err(e) => return reject(format!("does not decode: {e}")),
        };
        if frame.header.device != *device || frame.header.tenant != self.credentials.tenant {
            return reject(format!(
                "addressed to {}/{}",
                frame.header.tenant, frame.header.device
            ));
        }
        let payload = match seal::open(&self.credentials.key, &frame) {
            Ok(payload) => payload,
            Err(e) => return reject(e.to_string()),
        };
        let session = frame.header.session.clone();
        match payload {
            Payload::Ack(ack) => {
                self.cues
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .saw_frame(&frame.header);
                let mut spool = self.spool();
                // Nothing can be stored that was never sent: an ack beyond the highest
                // seq sent would release frames the gateway cannot have.
                let highest_sent = spool.highest_sent(&session);
                let committed_seq = if ack.committed_seq > highest_sent {
                    tracing::warn!(
                        %device,
                        acked = ack.committed_seq,
                        highest_sent,
                        "ack beyond the frames sent: only those sent are released"
                    );
                    highest_sent
                } else {
                    ack.committed_seq
                };
                let released = match spool.ack(&session, committed_seq) {
                    Ok(released) => released,
                    Err(e) => {
                        tracing::error!(%device, error = %e, "spool: recording an ack failed");
                        0
                    }
                };
                drop(spool);
                if released > 0 {
                    self.emit(AgentEvent::Acked {
                        device: device.clone(),
                        session,
                        committed_seq,
                    });
                    return Some(committed_seq);
                }
                None
            }
            Payload::Cue(cue) => {
                let admitted = self
                    .cues
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .admit(&frame.header, &cue);
                if let Err(refusal) = admitted {
                    self.counters.cues_dropped.fetch_add(1, Ordering::Relaxed);
                    return reject(refusal.to_string());
                }
                self.counters.cues.fetch_add(1, Ordering::Relaxed);
                self.emit(AgentEvent::CueReceived {
                    device: device.clone(),
                    session,
                    cue,
                    received_at: Instant::now(),
                    frame_sent_ms: frame.header.sent_ms,
                });
                None
            }
            other => reject(format!(
                "unexpected {:?} frame on the downlink",
                other.kind()
            )),
        }
    }
}

/// The agent's tasks. Dropping it without [`AgentHandle::shutdown`] aborts them (the spool
/// keeps whatever was unacknowledged for the next start).
#[derive(Debug)]
pub struct AgentHandle {
    events: broadcast::Sender<AgentEvent>,
    first_events: Option<broadcast::Receiver<AgentEvent>>,
    phase: watch::Sender<Phase>,
    shutdown_wait: Duration,
    pushers: HashMap<DeviceId, mpsc::Sender<Sample>>,
    counters: HashMap<DeviceId, Arc<DeviceCounters>>,
    sessions: HashMap<DeviceId, SessionId>,
    recorders: Vec<JoinHandle<()>>,
    uplinks: Vec<JoinHandle<()>>,
    sources: Vec<JoinHandle<()>>,
    /// Fsyncs every spool off the async tasks.
    syncer: BackgroundSync,
}

/// Starts agents.
#[derive(Debug)]
pub struct Agent;

impl Agent {
    /// Opens every device's spool and starts its source, recorder and uplink tasks on the
    /// current tokio runtime.
    pub async fn start(config: AgentConfig) -> Result<AgentHandle, AgentError> {
        let (events, first_events) = broadcast::channel(config.event_capacity.max(16));
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let quic = match config.gateway.transport {
            Transport::Quic => Some(
                uplink::quic::QuicClient::new(&config.gateway)
                    .map_err(|e| AgentError::Quic(e.to_string()))?,
            ),
            Transport::Mqtt => None,
        };
        let mut handle = AgentHandle {
            events: events.clone(),
            first_events: Some(first_events),
            phase,
            shutdown_wait: Duration::from_millis(config.shutdown_wait_ms),
            pushers: HashMap::new(),
            counters: HashMap::new(),
            sessions: HashMap::new(),
            recorders: Vec::new(),
            uplinks: Vec::new(),
            sources: Vec::new(),
            syncer: BackgroundSync::start(config.fsync_interval_ms),
        };
        for athlete in &config.athletes {
            let credentials = athlete.credentials.clone();
            let device_id = credentials.device.clone();
            if handle.counters.contains_key(&device_id) {
                return Err(AgentError::DuplicateDevice(device_id));
            }
            let dir = config
                .spool_dir
                .join(credentials.tenant.as_str())
                .join(credentials.device.as_str());
            let (spool, recovery) =
                Spool::open_with(&dir, config.spool_max_bytes, SyncPolicy::Background).map_err(
                    |source| AgentError::Spool {
                        device: device_id.clone(),
                        source,
                    },
                )?;
            if recovery.unacked_frames > 0 || recovery.truncated_bytes > 0 {
                tracing::info!(
                    device = %device_id,
                    unacked = recovery.unacked_frames,
                    truncated_bytes = recovery.truncated_bytes,
                    "spool: recovered frames from a previous run; they go first"
                );
            }
            handle.syncer.add(spool.sync_target());
            let counters = Arc::new(DeviceCounters::default());
            let session = new_session_id(unix_ms_now());
            let device = Arc::new(Device {
                credentials,
                spool: Mutex::new(spool),
                spooled: Notify::new(),
                events: events.clone(),
                counters: counters.clone(),
                cues: Mutex::new(CueGuard::new(session.clone())),
            });
            device.emit(AgentEvent::SpoolOpened {
                device: device_id.clone(),
                recovery,
            });
            device.emit(AgentEvent::SessionStarted {
                device: device_id.clone(),
                session: session.clone(),
            });
            let (samples_tx, samples_rx) = mpsc::channel(4096);
            // Sensor status changes are rare (connects, drops, a battery percent): unbounded.
            let (statuses_tx, statuses_rx) = mpsc::unbounded_channel();
            if matches!(athlete.source, Source::Push) {
                handle.pushers.insert(device_id.clone(), samples_tx);
            } else {
                let device_for_source = device.clone();
                let source = athlete.source.clone();
                let reporter_device = device.clone();
                let ble_stack = config.ble_stack.clone();
                let report: crate::ble::SensorReporter = Arc::new(move |status: SensorStatus| {
                    let _ = statuses_tx.send(status.clone());
                    reporter_device.emit(AgentEvent::SensorStatus {
                        device: reporter_device.credentials.device.clone(),
                        status,
                    });
                });
                handle.sources.push(tokio::spawn(async move {
                    if let Err(e) = source::run(source, samples_tx, report, ble_stack).await {
                        tracing::error!(device = %device_for_source.credentials.device, error = %e, "source failed");
                        device_for_source.emit(AgentEvent::SourceFailed {
                            device: device_for_source.credentials.device.clone(),
                            reason: e.to_string(),
                        });
                    }
                }));
            }
            handle.recorders.push(tokio::spawn(record(
                device.clone(),
                session.clone(),
                samples_rx,
                statuses_rx,
                config.batch_ms,
                phase_rx.clone(),
            )));
            let link = uplink::LinkSettings {
                resend_after: Duration::from_millis(config.resend_after_ms.max(100)),
                reconnect_min: Duration::from_millis(config.reconnect_min_ms.max(10)),
                reconnect_max: Duration::from_millis(config.reconnect_max_ms.max(10)),
            };
            let uplink_task = match &quic {
                Some(client) => tokio::spawn(uplink::quic::run(
                    device.clone(),
                    client.clone(),
                    link,
                    phase_rx.clone(),
                )),
                None => tokio::spawn(uplink::mqtt::run(
                    device.clone(),
                    config.gateway.mqtt_host.clone(),
                    config.gateway.mqtt_port,
                    link,
                    phase_rx.clone(),
                )),
            };
            handle.uplinks.push(uplink_task);
            handle.counters.insert(device_id.clone(), counters);
            handle.sessions.insert(device_id, session);
        }
        Ok(handle)
    }
}

impl AgentHandle {
    /// A receiver of every event from now on. A receiver that falls more than
    /// `event_capacity` events behind loses the oldest (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.events.subscribe()
    }

    /// A receiver of every event since before the first task started (so the first
    /// `SpoolOpened`, `SessionStarted` and `Connected` are not missed); `None` after the
    /// first call. Until it is taken it holds the oldest `event_capacity` events.
    pub fn events_from_start(&mut self) -> Option<broadcast::Receiver<AgentEvent>> {
        self.first_events.take()
    }

    /// The sender of a [`Source::Push`] device's samples.
    pub fn sample_sender(&self, device: &DeviceId) -> Option<mpsc::Sender<Sample>> {
        self.pushers.get(device).cloned()
    }

    /// The current session of each device.
    pub fn sessions(&self) -> &HashMap<DeviceId, SessionId> {
        &self.sessions
    }

    /// A device's counters.
    pub fn counters(&self, device: &DeviceId) -> Option<&DeviceCounters> {
        self.counters.get(device).map(Arc::as_ref)
    }

    /// Ends every ride: each device spools its `End` frame, the uplinks send what is left
    /// and wait up to `shutdown_wait_ms` for the acks, the spools are synced. Frames still
    /// unacknowledged stay in the spool for the next start.
    pub async fn shutdown(mut self) {
        let deadline = tokio::time::Instant::now() + self.shutdown_wait;
        let _ = self.phase.send(Phase::Ending);
        self.pushers.clear();
        for task in self.sources.drain(..) {
            task.abort();
        }
        for task in self.recorders.drain(..) {
            let _ = task.await;
        }
        let _ = self.phase.send(Phase::Draining { deadline });
        for task in self.uplinks.drain(..) {
            let _ = task.await;
        }
    }

    /// Waits until every device's source has ended and its `End` frame is acknowledged
    /// (or the uplink gave up), for finite sources (files, simulators with a duration).
    pub async fn wait_finished(&mut self) {
        // One handle at a time, removed only once finished: cancelling this future (say,
        // to call `shutdown` on Ctrl-C) leaves every unfinished task in the handle.
        while let Some(task) = self.recorders.first_mut() {
            let _ = task.await;
            self.recorders.remove(0);
        }
        if *self.phase.borrow() == Phase::Running {
            let deadline = tokio::time::Instant::now() + self.shutdown_wait;
            let _ = self.phase.send(Phase::Draining { deadline });
        }
        while let Some(task) = self.uplinks.first_mut() {
            let _ = task.await;
            self.uplinks.remove(0);
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        for task in self
            .sources
            .iter()
            .chain(&self.recorders)
            .chain(&self.uplinks)
        {
            task.abort();
        }
    }
}

/// Rate limit of the "spool full" warning.
const SPOOL_FULL_WARN_EVERY: Duration = Duration::from_secs(10);

struct Recorder {
    device: Arc<Device>,
    session: SessionId,
    next_seq: u64,
    last_full_warning: Option<Instant>,
    /// The athlete's sensors as last reported.
    sensors: SensorTable,
    /// The table changed and its device status is not spooled yet (the spool was full).
    sensors_unsent: bool,
    /// The latest sample time spooled, ms (device time, the clock of device statuses).
    last_t_ms: u64,
}

impl Recorder {
    /// Seals `payload` with the next seq and spools it; `false` if the spool refused it.
    fn spool(&mut self, payload: Payload, samples: usize) -> bool {
        let credentials = &self.device.credentials;
        let sent_ms = unix_ms_now();
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: credentials.tenant.clone(),
            device: credentials.device.clone(),
            session: self.session.clone(),
            seq: self.next_seq,
            sent_ms,
        };
        let bytes = match seal::seal(&credentials.key, header, &payload)
            .map_err(|e| e.to_string())
            .and_then(|frame| codec::encode_frame(&frame).map_err(|e| e.to_string()))
        {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(device = %credentials.device, error = %e, "sealing a frame failed");
                return false;
            }
        };
        let appended = self
            .device
            .spool()
            .append(&self.session, self.next_seq, &bytes);
        match appended {
            Ok(_) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.device
                    .counters
                    .frames_spooled
                    .fetch_add(1, Ordering::Relaxed);
                self.device.spooled.notify_one();
                self.device.emit(AgentEvent::FrameSpooled {
                    device: credentials.device.clone(),
                    session: self.session.clone(),
                    seq,
                    samples,
                    sent_at: Instant::now(),
                    sent_ms,
                });
                true
            }
            Err(SpoolError::Full { unacked_bytes, .. }) => {
                self.device
                    .counters
                    .samples_refused
                    .fetch_add(samples as u64, Ordering::Relaxed);
                let now = Instant::now();
                if self
                    .last_full_warning
                    .is_none_or(|at| now.duration_since(at) >= SPOOL_FULL_WARN_EVERY)
                {
                    self.last_full_warning = Some(now);
                    tracing::warn!(
                        device = %credentials.device,
                        unacked_bytes,
                        "spool full: new samples are refused until the gateway acknowledges \
                         frames (is it reachable?)"
                    );
                    self.device.emit(AgentEvent::SpoolFull {
                        device: credentials.device.clone(),
                        unacked_bytes,
                    });
                }
                false
            }
            Err(e) => {
                tracing::error!(device = %credentials.device, error = %e, "spool write failed");
                false
            }
        }
    }

    /// Takes a sensor's status change; spools the device status if the table changed.
    fn sensor_status(&mut self, status: &SensorStatus) {
        if self.sensors.apply(status) {
            self.sensors_unsent = true;
        }
        self.spool_sensors();
    }

    /// Spools the sensor table if it has changed since it was last spooled.
    fn spool_sensors(&mut self) {
        if self.sensors_unsent {
            let status = self.sensors.status(self.last_t_ms);
            self.sensors_unsent = !self.spool(Payload::DeviceStatus(status), 0);
        }
    }

    fn flush(&mut self, pending: &mut Vec<Sample>) {
        while !pending.is_empty() {
            let take = pending.len().min(MAX_SAMPLES_PER_BATCH);
            let samples: Vec<Sample> = pending.drain(..take).collect();
            let count = samples.len();
            if let Some(t_ms) = samples.iter().map(|s| s.t_ms).max() {
                self.last_t_ms = self.last_t_ms.max(t_ms);
            }
            if let Ok(batch) = SampleBatch::new(samples) {
                self.spool(Payload::Samples(batch), count);
            }
        }
        // A status the full spool refused goes as soon as there is room again.
        self.spool_sensors();
    }
}

/// The recorder task of one device.
async fn record(
    device: Arc<Device>,
    session: SessionId,
    mut samples: mpsc::Receiver<Sample>,
    mut statuses: mpsc::UnboundedReceiver<SensorStatus>,
    batch_ms: u64,
    mut phase: watch::Receiver<Phase>,
) {
    let mut recorder = Recorder {
        device,
        session,
        next_seq: 1,
        last_full_warning: None,
        sensors: SensorTable::default(),
        sensors_unsent: false,
        last_t_ms: 0,
    };
    // A source without sensor reports (push, file) drops its sender at once.
    let mut statuses_open = true;
    let mut pending: Vec<Sample> = Vec::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let ending = *phase.borrow() != Phase::Running;
        if ending {
            while let Ok(sample) = samples.try_recv() {
                pending.push(sample);
            }
            recorder.flush(&mut pending);
            break;
        }
        tokio::select! {
            sample = samples.recv() => match sample {
                Some(sample) => {
                    pending.push(sample);
                    if batch_ms == 0 {
                        // Everything available at this moment shares the frame.
                        while pending.len() < MAX_SAMPLES_PER_BATCH {
                            match samples.try_recv() {
                                Ok(sample) => pending.push(sample),
                                Err(_) => break,
                            }
                        }
                        recorder.flush(&mut pending);
                    } else if flush_at.is_none() {
                        flush_at = Some(tokio::time::Instant::now() + Duration::from_millis(batch_ms));
                    } else if pending.len() >= MAX_SAMPLES_PER_BATCH {
                        recorder.flush(&mut pending);
                        flush_at = None;
                    }
                }
                None => {
                    recorder.flush(&mut pending);
                    break;
                }
            },
            () = sleep_until_opt(flush_at) => {
                recorder.flush(&mut pending);
                flush_at = None;
            }
            status = statuses.recv(), if statuses_open => match status {
                Some(status) => recorder.sensor_status(&status),
                None => statuses_open = false,
            },
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    let end_seq = recorder.next_seq;
    if recorder.spool(Payload::Command(Command::End), 0) {
        recorder.device.emit(AgentEvent::SessionEnded {
            device: recorder.device.credentials.device.clone(),
            session: recorder.session.clone(),
            end_seq,
        });
    }
    if let Err(e) = recorder.device.spool().sync() {
        tracing::error!(error = %e, "spool sync failed");
    }
    debug_assert_eq!(FrameKind::Command, Payload::Command(Command::End).kind());
}

/// Sleeps until `at`, or forever without one.
pub(crate) async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
