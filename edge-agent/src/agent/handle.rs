//! Starting the agent ([`Agent::start`]: spools opened, one source, recorder and uplink
//! task per device) and the [`AgentHandle`] that reports on the tasks and ends them.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paceline_schemas::{DeviceId, Sample, SessionId};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::ble::SensorStatus;
use crate::cue_guard::CueGuard;
use crate::session::{new_session_id, unix_ms_now};
use crate::source;
use crate::spool::{BackgroundSync, Spool, SpoolError, SyncPolicy};
use crate::uplink;

use super::recorder::record;
use super::{AgentConfig, AgentEvent, Device, DeviceCounters, Phase, Source, Transport};

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
                awaiting_end_cue: AtomicBool::new(false),
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
