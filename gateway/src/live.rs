//! The live loop: frames in from any transport, stored, coached, acknowledged; cues out.
//!
//! [`Live::on_frame`] is the one entrance for uplink frames, whichever transport carried
//! them. It checks a frame in this order — size, decoding, the topic (or QUIC hello) it
//! came on, the kind, the device, the seal, the seq — and drops a frame that fails any
//! check, counting it by reason and logging at most once per reason every few seconds; the
//! sender is not disconnected, so nothing a client sends can disturb another client. A good
//! frame is queued for the writer and, unless the engine has already seen its seq, its
//! samples go to the engine at once (coaching does not wait for the disk). The device is
//! acknowledged from the writer's commit report ([`Live::on_committed`]), never before.
//! A frame already covered by the session's ack is a duplicate: dropped, and answered with
//! the ack again (on the route it came by), since the device evidently missed it. Only a
//! frame that is new for its device and session — seal verified, seq neither acked nor
//! already taken — moves the session's downlink route or keeps the session alive, so a
//! replayed capture cannot steal the cues or hold a session open.
//!
//! The engine's outputs come back through [`Live::on_output`]: cues are stored and sealed
//! to the device on the route its latest frame came by; a summary closes the session.
//!
//! Sessions open on the first frame of a session id the device has not used before (the
//! plan assigned to the athlete's next session is taken for it) and close on an `end`
//! command or after [`crate::settings::Settings::session_idle`] of silence. A session that
//! was open when the gateway stopped is coached again from its next frame (a new coach:
//! the plan starts over).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paceline_engine::dataflow::LiveSender;
use paceline_schemas::codec;
use paceline_schemas::engine::{
    EngineRecord, OutputBody, SessionCommand, SessionEvent, SessionInput, SessionOutput,
    SessionSetup,
};
use paceline_schemas::frame::{SendTimeCheck, SendTimeLimits};
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::sample::SampleValue;
use paceline_schemas::topic::{Direction, Topic};
use paceline_schemas::{
    Ack, Command, DeviceId, DeviceKey, DeviceStatus, Frame, FrameHeader, FrameKind,
    MAX_FRAME_BYTES, Payload, SessionId, TenantId, seal,
};

use crate::clock::GatewayClock;
use crate::connections::Connections;
use crate::downlink::{Downlink, Route};
use crate::live_channels::LiveChannels;
use crate::metrics::{Metrics, RejectReason, Transport, TransportLabel};
use crate::quotas::{OverQuota, QuotaGate, QuotaLimits};
use crate::store::secrets::token_matches;
use crate::store::writer::{
    CommitReport, Committed, FrameWrite, SampleRow, SessionEnding, WriteOp, WriteQueue,
};
use crate::store::{DeviceRecord, Store};
use tokio::sync::broadcast;

/// How long a device looked up in the database stays cached.
const DEVICE_CACHE_TTL: Duration = Duration::from_secs(30);
/// A refusal of one reason is logged at most this often.
const REJECT_LOG_EVERY: Duration = Duration::from_secs(5);
/// Live events buffered for each subscriber; one that falls this far behind is told it
/// lagged (and the API drops it).
const LIVE_EVENT_BUFFER: usize = 8192;

/// What live boards and session screens are sent: every new sample, cue and coach
/// status of every session, with the ids that scope it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The athlete's row.
    pub athlete_row: i64,
    /// The session's row.
    pub session_row: i64,
    /// What happened.
    pub body: LiveEventBody,
}

/// The content of a [`LiveEvent`].
#[derive(Debug, Clone)]
pub enum LiveEventBody {
    /// New samples (a frame's worth).
    Samples(Arc<[SampleRow]>),
    /// A cue the coach gave.
    Cue(Arc<paceline_schemas::Cue>),
    /// The coach's state: zones, W′ balance, step, target; with the device's latest
    /// sensor status, if it sent one.
    Status {
        /// The coach's state.
        coach: Arc<paceline_schemas::engine::SessionStatus>,
        /// The latest device status of the session.
        sensors: Option<Arc<DeviceStatus>>,
    },
    /// The device's sensors changed (connected, battery): its new device status.
    Sensors(Arc<DeviceStatus>),
    /// The session ended.
    Ended,
}

/// What this gateway knows of a device id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStanding {
    /// Not a device of this gateway's database.
    Unknown,
    /// Known but revoked (or not readable now): refused.
    Revoked,
    /// Known and in good standing, in this tenant.
    Active(TenantId),
}

/// Where a frame came from.
pub enum Origin<'a> {
    /// Published on an MQTT topic.
    Mqtt {
        /// The topic.
        topic: &'a str,
    },
    /// Sent on a QUIC stream opened by this device.
    Quic {
        /// The tenant the hello named.
        tenant: &'a TenantId,
        /// The device the hello named (and proved with its token).
        device: &'a DeviceId,
        /// The stream's downlink.
        route: &'a Route,
    },
}

impl Origin<'_> {
    fn transport(&self) -> Transport {
        match self {
            Origin::Mqtt { .. } => Transport::Mqtt,
            Origin::Quic { .. } => Transport::Quic,
        }
    }
}

/// What happened to a frame, for callers and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Queued for storage (and coaching).
    Accepted,
    /// Already stored; the ack was sent again.
    Duplicate,
    /// Refused.
    Rejected(RejectReason),
    /// The gateway is shutting down and takes no more frames.
    ShuttingDown,
}

struct CachedDevice {
    record: Arc<DeviceRecord>,
    fetched: Instant,
}

struct SessionEntry {
    row: i64,
    device_row: i64,
    tenant_row: i64,
    athlete_row: i64,
    tenant: TenantId,
    device: DeviceId,
    key: DeviceKey,
    device_session: SessionId,
    engine_id: SessionId,
    coached: bool,
    acked_seq: u64,
    /// Seqs above the ack that this process has taken (stored or queued, and coached if
    /// the session is): a seq in here, or at most the ack, is not new.
    taken: BTreeSet<u64>,
    last_frame: Instant,
    route: Route,
    /// The device's latest sensor status and the seq of its frame (held in memory only:
    /// the frame itself is stored like any other).
    sensors: Option<(u64, Arc<DeviceStatus>)>,
}

#[derive(Default)]
struct Sessions {
    by_device: HashMap<(i64, SessionId), i64>,
    by_row: HashMap<i64, SessionEntry>,
}

/// The live loop's shared state.
pub struct Live {
    store: Arc<Store>,
    writes: WriteQueue,
    engine: LiveSender,
    clock: GatewayClock,
    metrics: Arc<Metrics>,
    downlink: Downlink,
    devices: Mutex<HashMap<DeviceId, CachedDevice>>,
    sessions: Mutex<Sessions>,
    /// The row the next new session gets.
    next_session_row: AtomicI64,
    down_seq: AtomicU64,
    shutting_down: AtomicBool,
    reject_log: Mutex<HashMap<RejectReason, (Instant, u64)>>,
    session_idle: Duration,
    events: LiveChannels,
    connections: Arc<Connections>,
    quotas: QuotaGate,
}

impl Live {
    /// The live loop over these parts (new sessions are numbered after the highest row
    /// stored).
    pub fn new(
        store: Arc<Store>,
        writes: WriteQueue,
        engine: LiveSender,
        clock: GatewayClock,
        metrics: Arc<Metrics>,
        downlink: Downlink,
        session_idle: Duration,
    ) -> Result<Live, crate::store::StoreError> {
        let max_session_row = store.max_session_row()?;
        // Downlink seqs only grow, across restarts too: they start from the clock in µs.
        let down_seq = AtomicU64::new(clock.now_ms().saturating_mul(1000));
        Ok(Live {
            store,
            writes,
            engine,
            clock,
            metrics,
            downlink,
            devices: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Sessions::default()),
            next_session_row: AtomicI64::new(max_session_row + 1),
            down_seq,
            shutting_down: AtomicBool::new(false),
            reject_log: Mutex::new(HashMap::new()),
            session_idle,
            events: LiveChannels::new(LIVE_EVENT_BUFFER),
            connections: Arc::new(Connections::default()),
            quotas: QuotaGate::default(),
        })
    }

    /// This live loop with these quotas (the defaults otherwise).
    pub fn with_quotas(mut self, limits: QuotaLimits) -> Live {
        self.quotas = QuotaGate::new(limits);
        self
    }

    /// The quotas and what this process has counted against them.
    pub fn quotas(&self) -> &QuotaGate {
        &self.quotas
    }

    /// Counts and logs (at most every few seconds per quota) a refusal over a quota.
    fn note_over_quota(&self, over: OverQuota) {
        self.metrics.over_quota(over.quota);
        if let Some(count) = self.quotas.note_refusal(self.clock.now_ms(), over.quota) {
            tracing::warn!(
                quota = over.quota.name(),
                limit = over.limit,
                count,
                "over quota: frames refused (not acked)"
            );
        }
    }

    /// Samples per second of the device, storage of its tenant (the body as stored is
    /// about what was sealed, less the 16-byte tag).
    fn admit_frame(
        &self,
        device: &DeviceRecord,
        header: &FrameHeader,
        payload: &Payload,
        sealed_bytes: usize,
    ) -> Result<(), OverQuota> {
        let now_ms = self.clock.now_ms();
        let samples = match payload {
            Payload::Samples(batch) => batch.samples().len(),
            _ => 1,
        };
        let samples = u64::try_from(samples).unwrap_or(u64::MAX);
        self.quotas
            .admit_samples(now_ms, device.row, &header.session, header.seq, samples)?;
        let bytes = u64::try_from(sealed_bytes.saturating_sub(16)).unwrap_or(u64::MAX);
        self.quotas
            .admit_storage(now_ms, device.tenant_row, bytes, || {
                self.store.tenant_stored_bytes(device.tenant_row)
            })
    }

    /// The clock.
    pub fn clock(&self) -> GatewayClock {
        self.clock
    }

    /// The open device connections (the transports register theirs).
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// The live events of tenant `tenant_row` from now on, and of no other tenant (each
    /// tenant has its own channel). Sending never waits for a subscriber: one that falls
    /// behind by more than the buffer gets `Lagged`.
    pub fn subscribe(&self, tenant_row: i64) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe(tenant_row)
    }

    /// Publishes to the tenant's channel; `body` is built only if someone watches.
    fn publish(
        &self,
        tenant_row: i64,
        athlete_row: i64,
        session_row: i64,
        body: impl FnOnce() -> LiveEventBody,
    ) {
        self.events
            .publish(tenant_row, athlete_row, session_row, body);
    }

    /// Forgets a revoked device and closes its connections (its frames are refused from
    /// now on: the cache no longer vouches for it).
    pub fn revoke_device(&self, device: &DeviceId) {
        if let Ok(mut cache) = self.devices.lock() {
            cache.remove(device);
        }
        let closed = self.connections.revoke(device);
        tracing::info!(closed, "device revoked");
    }

    /// Waits until every frame and session write queued before this call is committed
    /// (an account deletion, after closing the person's devices, so nothing of theirs is
    /// still on its way to the database). Blocks: call off the async threads.
    pub fn flush_writes(&self) -> Result<(), crate::store::StoreError> {
        self.writes.flush()
    }

    /// Hands a command to the coach of session `session_row`; false if the session is not
    /// being coached in this process.
    pub fn command_session(&self, session_row: i64, command: Command) -> bool {
        let engine_id = self.sessions.lock().ok().and_then(|sessions| {
            let entry = sessions.by_row.get(&session_row)?;
            entry.coached.then(|| entry.engine_id.clone())
        });
        let Some(engine_id) = engine_id else {
            return false;
        };
        let ends = command == Command::End;
        self.engine.send(EngineRecord::Session(SessionInput {
            session: engine_id,
            now_ms: self.clock.now_ms(),
            event: SessionEvent::Command(SessionCommand { command }),
        }));
        if ends {
            self.mark_ending(session_row);
        }
        true
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, shared.
    pub fn store_arc(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stops taking frames (they go unacknowledged, so devices keep them and resend).
    pub fn stop_taking_frames(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether frames are being taken.
    pub fn is_taking_frames(&self) -> bool {
        !self.shutting_down.load(Ordering::SeqCst)
    }

    /// Checks a device's connection credentials (MQTT CONNECT, QUIC hello).
    pub fn authenticate(&self, tenant: Option<&TenantId>, device: &str, token: &str) -> bool {
        let Ok(device) = DeviceId::new(device) else {
            return false;
        };
        let Ok(token) = DeviceToken::from_hex(token) else {
            return false;
        };
        let record = match self.device(&device) {
            Ok(Some(record)) => record,
            Ok(None) => return false,
            Err(err) => {
                tracing::warn!(error = %err, "device lookup failed during authentication");
                return false;
            }
        };
        !record.revoked
            && tenant.is_none_or(|t| *t == record.tenant)
            && token_matches(&token, &record.token_sha256)
    }

    /// Whether a device is this gateway's, and if so its tenant unless it is revoked (for
    /// the external broker's hooks, which leave unknown devices to other gateways).
    pub fn device_standing(&self, device: &str) -> DeviceStanding {
        let Ok(device) = DeviceId::new(device) else {
            return DeviceStanding::Unknown;
        };
        match self.device(&device) {
            Ok(Some(record)) if record.revoked => DeviceStanding::Revoked,
            Ok(Some(record)) => DeviceStanding::Active(record.tenant.clone()),
            Ok(None) => DeviceStanding::Unknown,
            Err(err) => {
                tracing::warn!(error = %err, "device lookup failed during a broker hook");
                DeviceStanding::Revoked
            }
        }
    }

    fn device(
        &self,
        device: &DeviceId,
    ) -> Result<Option<Arc<DeviceRecord>>, crate::store::StoreError> {
        if let Ok(cache) = self.devices.lock()
            && let Some(cached) = cache.get(device)
            && cached.fetched.elapsed() < DEVICE_CACHE_TTL
        {
            return Ok(Some(Arc::clone(&cached.record)));
        }
        let Some(record) = self.store.device(device)? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Ok(mut cache) = self.devices.lock() {
            cache.insert(
                device.clone(),
                CachedDevice {
                    record: Arc::clone(&record),
                    fetched: Instant::now(),
                },
            );
        }
        Ok(Some(record))
    }

    fn refuse(&self, reason: RejectReason) -> FrameOutcome {
        self.metrics.reject(reason);
        if let Ok(mut log) = self.reject_log.lock() {
            let entry = log
                .entry(reason)
                .or_insert((Instant::now() - REJECT_LOG_EVERY * 2, 0));
            entry.1 += 1;
            if entry.0.elapsed() >= REJECT_LOG_EVERY {
                tracing::warn!(reason = ?reason, count = entry.1, "frames refused");
                *entry = (Instant::now(), 0);
            }
        }
        FrameOutcome::Rejected(reason)
    }

    /// Takes one uplink frame.
    pub fn on_frame(&self, bytes: &[u8], origin: Origin<'_>) -> FrameOutcome {
        let received = Instant::now();
        let received_ms = self.clock.now_ms();
        self.metrics
            .frames_received
            .get_or_create(&TransportLabel {
                transport: origin.transport(),
            })
            .inc();
        if !self.is_taking_frames() {
            return FrameOutcome::ShuttingDown;
        }
        if bytes.len() > MAX_FRAME_BYTES {
            return self.refuse(RejectReason::Oversize);
        }
        let Ok(frame) = codec::decode_frame(bytes) else {
            return self.refuse(RejectReason::Malformed);
        };
        let header = &frame.header;
        let route = match &origin {
            Origin::Mqtt { topic } => {
                let Ok(topic) = Topic::parse(topic) else {
                    return self.refuse(RejectReason::TopicMismatch);
                };
                if topic.direction != Direction::Up
                    || topic.tenant != header.tenant
                    || topic.device != header.device
                {
                    return self.refuse(RejectReason::TopicMismatch);
                }
                Route::Mqtt
            }
            Origin::Quic {
                tenant,
                device,
                route,
            } => {
                if **tenant != header.tenant || **device != header.device {
                    return self.refuse(RejectReason::TopicMismatch);
                }
                (*route).clone()
            }
        };
        if !matches!(
            header.kind,
            FrameKind::Samples | FrameKind::Command | FrameKind::DeviceStatus
        ) {
            return self.refuse(RejectReason::WrongKind);
        }
        let device = match self.device(&header.device) {
            Ok(Some(device)) if device.tenant == header.tenant => device,
            Ok(_) => return self.refuse(RejectReason::UnknownDevice),
            Err(err) => {
                tracing::error!(error = %err, "device lookup failed");
                return self.refuse(RejectReason::StoreUnavailable);
            }
        };
        if device.revoked {
            return self.refuse(RejectReason::Revoked);
        }
        let Ok(payload) = seal::open(&device.key, &frame) else {
            return self.refuse(RejectReason::BadSeal);
        };
        if header.seq == 0 {
            return self.refuse(RejectReason::Malformed);
        }
        if matches!(payload, Payload::Command(Command::OverrideTarget(_))) {
            return self.refuse(RejectReason::CoachOnlyCommand);
        }
        if let Err(over) = self.admit_frame(&device, header, &payload, frame.sealed.len()) {
            self.note_over_quota(over);
            return self.refuse(RejectReason::OverQuota);
        }
        let send_time = match header.check_send_time(received_ms, SendTimeLimits::default()) {
            SendTimeCheck::Plausible => "plausible",
            SendTimeCheck::Stale { .. } => "stale",
            SendTimeCheck::FarFuture { .. } => "far_future",
        };
        if send_time != "plausible" {
            self.metrics.frames_send_time_flagged.inc();
        }
        let session_row = match self.session_for(&device, &header.session) {
            Ok(row) => row,
            Err(reason) => return self.refuse(reason),
        };
        // Decide under the lock; send outside it (the writer's commit report takes it).
        let decision = {
            let Ok(mut sessions) = self.sessions.lock() else {
                return self.refuse(RejectReason::StoreUnavailable);
            };
            let Some(entry) = sessions.by_row.get_mut(&session_row) else {
                return self.refuse(RejectReason::StoreUnavailable);
            };
            // Only a frame new for this device and session (its seal verified above) moves
            // the session's route or keeps it alive: a replayed capture, already acked or
            // already taken, is answered with the ack on the route it came by, stored at
            // most once (the unique index counts the copy as a duplicate), and changes
            // nothing else.
            if header.seq <= entry.acked_seq {
                Err(entry.acked_seq)
            } else {
                let fresh = entry.taken.insert(header.seq);
                if fresh {
                    entry.route = route.clone();
                    entry.last_frame = received;
                }
                let forward = entry.coached && fresh;
                Ok((
                    entry.tenant_row,
                    entry.athlete_row,
                    forward.then(|| entry.engine_id.clone()),
                ))
            }
        };
        let (tenant_row, athlete_row, engine_id) = match decision {
            Err(acked_seq) => {
                self.metrics.frames_duplicate.inc();
                self.send_down(
                    &route,
                    &device,
                    &header.session,
                    Payload::Ack(Ack {
                        committed_seq: acked_seq,
                    }),
                );
                return FrameOutcome::Duplicate;
            }
            Ok(decision) => decision,
        };
        // The body as stored: its canonical binary form (the bytes that were sealed).
        let (kind, body, samples) = match &payload {
            Payload::Samples(batch) => (
                "samples",
                codec::encode_binary(batch),
                batch.samples().iter().map(sample_row).collect(),
            ),
            Payload::Command(command) => ("command", codec::encode_binary(command), Vec::new()),
            Payload::DeviceStatus(status) => {
                let body = codec::encode_binary(status);
                if body.is_ok() {
                    self.note_sensors(session_row, header.seq, status);
                }
                ("device_status", body, Vec::new())
            }
            Payload::Ack(_) | Payload::Cue(_) => return self.refuse(RejectReason::WrongKind),
        };
        let Ok(body) = body else {
            // Never store (and so never ack) a frame whose body would not be kept whole.
            return self.refuse(RejectReason::Malformed);
        };
        let samples: Vec<SampleRow> = samples;
        if engine_id.is_some() && !samples.is_empty() {
            self.publish(tenant_row, athlete_row, session_row, || {
                LiveEventBody::Samples(samples.clone().into())
            });
        }
        let write = WriteOp::Frame(FrameWrite {
            tenant_row,
            device_row: device.row,
            session_row,
            seq: header.seq,
            kind,
            sent_ms: header.sent_ms,
            received_ms,
            send_time,
            body,
            samples,
        });
        // The coach first: a writer behind on its disk (its queue full) must not hold the
        // samples back from the engine. A frame coached but then not queued is not acked,
        // so its device resends it, and the engine is not given its seq twice.
        // An engine that is gone (or whose worker panicked) refuses the frame before its
        // write is queued: stored but never coached, it would be acked as if coached.
        if let Some(engine_id) = engine_id
            && !self.forward(&engine_id, session_row, payload)
        {
            return self.refuse(RejectReason::EngineUnavailable);
        }
        if self.writes.send(write).is_err() {
            return self.refuse(RejectReason::StoreUnavailable);
        }
        FrameOutcome::Accepted
    }

    /// Gives the frame's samples or command to the engine; false if the engine took not
    /// all of it (it has stopped, or one of its workers panicked).
    fn forward(&self, engine_id: &SessionId, session_row: i64, payload: Payload) -> bool {
        let now_ms = self.clock.now_ms();
        let input = |event| {
            EngineRecord::Session(SessionInput {
                session: engine_id.clone(),
                now_ms,
                event,
            })
        };
        match payload {
            Payload::Samples(batch) => batch
                .into_samples()
                .into_iter()
                .all(|sample| self.engine.send(input(SessionEvent::Sample(sample)))),
            Payload::Command(command) => {
                let ends = command == Command::End;
                let sent = self
                    .engine
                    .send(input(SessionEvent::Command(SessionCommand { command })));
                if sent && ends {
                    self.mark_ending(session_row);
                }
                sent
            }
            Payload::Ack(_) | Payload::Cue(_) | Payload::DeviceStatus(_) => true,
        }
    }

    /// Keeps a session's device status if it is newer than the one held, and tells the
    /// live boards.
    fn note_sensors(&self, session_row: i64, seq: u64, status: &DeviceStatus) {
        let noted = self.sessions.lock().ok().and_then(|mut sessions| {
            let entry = sessions.by_row.get_mut(&session_row)?;
            if entry.sensors.as_ref().is_some_and(|(held, _)| *held > seq) {
                return None;
            }
            let status = Arc::new(status.clone());
            entry.sensors = Some((seq, Arc::clone(&status)));
            Some((entry.tenant_row, entry.athlete_row, status))
        });
        if let Some((tenant_row, athlete_row, status)) = noted {
            self.publish(tenant_row, athlete_row, session_row, || {
                LiveEventBody::Sensors(status)
            });
        }
    }

    /// The latest device status of a session, if its device sent one.
    pub fn sensors(&self, session_row: i64) -> Option<Arc<DeviceStatus>> {
        let sessions = self.sessions.lock().ok()?;
        let (_, status) = sessions.by_row.get(&session_row)?.sensors.as_ref()?;
        Some(Arc::clone(status))
    }

    fn mark_ending(&self, session_row: i64) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(entry) = sessions.by_row.get_mut(&session_row)
        {
            entry.coached = false;
        }
    }

    /// The session's row, opening the session (in the database and the engine) on the
    /// first frame of a session id the device has not used before.
    fn session_for(&self, device: &DeviceRecord, session: &SessionId) -> Result<i64, RejectReason> {
        let key = (device.row, session.clone());
        if let Ok(sessions) = self.sessions.lock()
            && let Some(row) = sessions.by_device.get(&key)
        {
            return Ok(*row);
        }
        let stored = self
            .store
            .session(device.tenant_row, device.row, session.as_str())
            .map_err(|err| {
                tracing::error!(error = %err, "session lookup failed");
                RejectReason::StoreUnavailable
            })?;
        if stored.is_none() {
            let opened = |since| {
                self.store
                    .sessions_opened_since(device.tenant_row, device.row, since)
            };
            if let Err(over) = self
                .quotas
                .admit_session(self.clock.now_ms(), device.row, opened)
            {
                self.note_over_quota(over);
                return Err(RejectReason::OverQuota);
            }
        }
        let setup = if stored.as_ref().is_none_or(|s| s.open) {
            Some(
                self.store
                    .athlete_setup(device.tenant_row, device.athlete_row)
                    .map_err(|err| {
                        tracing::error!(error = %err, "athlete lookup failed");
                        RejectReason::StoreUnavailable
                    })?,
            )
        } else {
            None
        };
        let (row, acked_seq, above, open, plan, sensors) = match stored {
            Some(record) => {
                // Resumed after a restart: a new coach, without the plan it had (which was
                // taken off the athlete when the session opened), and the batteries its
                // device last reported.
                (
                    record.row,
                    record.acked_seq,
                    record.stored_above,
                    record.open,
                    None,
                    record
                        .latest_status
                        .map(|(seq, status)| (seq, Arc::new(status))),
                )
            }
            None => {
                // A new session: its row is chosen here and its open queued ahead of its
                // frames, so nothing waits for the commit (the writer's module docs).
                let plan = setup.as_ref().and_then(|s| s.next_plan.clone());
                let row = self.next_session_row.fetch_add(1, Ordering::Relaxed);
                self.writes
                    .send(WriteOp::OpenSession {
                        session_row: row,
                        tenant_row: device.tenant_row,
                        device_row: device.row,
                        athlete_row: device.athlete_row,
                        session_id: session.as_str().to_owned(),
                        plan_row: plan.as_ref().map(|(row, _)| *row),
                        now_ms: self.clock.now_ms(),
                    })
                    .map_err(|_| RejectReason::StoreUnavailable)?;
                (row, 0, Vec::new(), true, plan.map(|(_, plan)| plan), None)
            }
        };
        let engine_id = SessionId::new(format!("s{row}")).map_err(|_| RejectReason::Malformed)?;
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| RejectReason::StoreUnavailable)?;
        if let Some(row) = sessions.by_device.get(&key) {
            // Another transport opened it meanwhile (a second open of ours, if queued, is
            // refused by the writer as a taken session id and reported not opened).
            return Ok(*row);
        }
        let mut taken = BTreeSet::new();
        taken.extend(above);
        sessions.by_device.insert(key, row);
        sessions.by_row.insert(
            row,
            SessionEntry {
                row,
                device_row: device.row,
                tenant_row: device.tenant_row,
                athlete_row: device.athlete_row,
                tenant: device.tenant.clone(),
                device: device.device.clone(),
                key: device.key.clone(),
                device_session: session.clone(),
                engine_id: engine_id.clone(),
                coached: open,
                acked_seq,
                taken,
                last_frame: Instant::now(),
                route: Route::None,
                sensors,
            },
        );
        drop(sessions);
        if open && let Some(setup) = setup {
            self.metrics.sessions_open.inc();
            self.engine.send(EngineRecord::Session(SessionInput {
                session: engine_id,
                now_ms: self.clock.now_ms(),
                event: SessionEvent::Open(SessionSetup {
                    profile: setup.profile,
                    plan,
                }),
            }));
        }
        Ok(row)
    }

    /// The writer's report of a transaction: forget the sessions it could not open, and
    /// acknowledge what is now stored.
    pub fn on_commit_report(&self, report: CommitReport<'_>) {
        if !report.not_opened.is_empty() {
            self.forget_unopened(report.not_opened);
        }
        if !report.committed.is_empty() {
            self.on_committed(report.committed);
        }
    }

    /// Forgets sessions whose open the writer did not make, and ends their coaches: the
    /// device's next frame opens the session again (or finds the row that holds it).
    fn forget_unopened(&self, rows: &[i64]) {
        let mut coached = Vec::new();
        if let Ok(mut sessions) = self.sessions.lock() {
            for row in rows {
                if let Some(entry) = sessions.by_row.remove(row) {
                    let key = (entry.device_row, entry.device_session.clone());
                    if sessions.by_device.get(&key) == Some(row) {
                        sessions.by_device.remove(&key);
                    }
                    if entry.coached {
                        coached.push(entry.engine_id);
                    }
                }
            }
        }
        for engine_id in coached {
            // Its summary finds no session and goes nowhere.
            self.metrics.sessions_open.dec();
            self.engine.send(EngineRecord::Session(SessionInput {
                session: engine_id,
                now_ms: self.clock.now_ms(),
                event: SessionEvent::Command(SessionCommand {
                    command: Command::End,
                }),
            }));
        }
    }

    /// The writer committed: acknowledge what is now stored.
    pub fn on_committed(&self, committed: &[Committed]) {
        let mut acks = Vec::with_capacity(committed.len());
        if let Ok(mut sessions) = self.sessions.lock() {
            for c in committed {
                if let Some(entry) = sessions.by_row.get_mut(&c.session_row) {
                    entry.acked_seq = entry.acked_seq.max(c.acked_seq);
                    let keep = entry.taken.split_off(&(entry.acked_seq + 1));
                    entry.taken = keep;
                    acks.push((
                        entry.route.clone(),
                        entry.tenant.clone(),
                        entry.device.clone(),
                        entry.key.clone(),
                        entry.device_session.clone(),
                        entry.acked_seq,
                    ));
                }
            }
        }
        for (route, tenant, device, key, session, acked_seq) in acks {
            self.seal_and_send(
                &route,
                &tenant,
                &device,
                &key,
                &session,
                Payload::Ack(Ack {
                    committed_seq: acked_seq,
                }),
            );
        }
    }

    /// One output of the engine.
    pub fn on_output(&self, output: SessionOutput) {
        let Some(row) = output
            .session
            .as_str()
            .strip_prefix('s')
            .and_then(|n| n.parse::<i64>().ok())
        else {
            return;
        };
        let found = self.sessions.lock().ok().and_then(|mut sessions| {
            let entry = sessions.by_row.get_mut(&row)?;
            if !matches!(output.output, OutputBody::Cue(_) | OutputBody::Status(_)) {
                entry.coached = false;
            }
            Some((
                entry.athlete_row,
                entry.tenant_row,
                entry.route.clone(),
                entry.tenant.clone(),
                entry.device.clone(),
                entry.key.clone(),
                entry.device_session.clone(),
                entry.last_frame,
            ))
        });
        let Some((athlete_row, tenant_row, route, tenant, device, key, device_session, last_frame)) =
            found
        else {
            return;
        };
        let now_ms = self.clock.now_ms();
        match output.output {
            OutputBody::Cue(cue) => {
                // To the athlete first, then to the writer's queue (which waits while the
                // writer is behind on its disk): a cue is for now.
                let mut for_device = cue.clone();
                for_device.session = device_session.clone();
                self.publish(tenant_row, athlete_row, row, || {
                    LiveEventBody::Cue(Arc::new(for_device.clone()))
                });
                if self.seal_and_send(
                    &route,
                    &tenant,
                    &device,
                    &key,
                    &device_session,
                    Payload::Cue(for_device),
                ) {
                    self.metrics.cues_sent.inc();
                    self.metrics
                        .cue_latency_seconds
                        .observe(last_frame.elapsed().as_secs_f64());
                }
                let _ = self.writes.send(WriteOp::Cue {
                    tenant_row,
                    session_row: row,
                    output_seq: output.seq,
                    cue,
                    now_ms,
                });
            }
            OutputBody::Status(status) => {
                self.publish(tenant_row, athlete_row, row, || LiveEventBody::Status {
                    coach: Arc::new(status),
                    sensors: self.sensors(row),
                });
            }
            OutputBody::Summary(mut summary) => {
                self.metrics.sessions_open.dec();
                self.publish(tenant_row, athlete_row, row, || LiveEventBody::Ended);
                summary.session = device_session;
                let _ = self.writes.send(WriteOp::EndSession {
                    tenant_row,
                    session_row: row,
                    ending: SessionEnding::Ended,
                    summary: Some(summary),
                    now_ms,
                });
            }
            OutputBody::Rejected(rejection) => {
                self.metrics.sessions_open.dec();
                tracing::warn!(session_row = row, reason = %rejection.reason, "the engine could not coach a session");
                let _ = self.writes.send(WriteOp::EndSession {
                    tenant_row,
                    session_row: row,
                    ending: SessionEnding::Rejected,
                    summary: None,
                    now_ms,
                });
            }
        }
    }

    /// Ends stored sessions left open by an earlier run whose devices stayed silent for
    /// the idle time (sessions coached now are ended by [`Live::sweep_idle`]).
    pub fn end_stale_sessions(&self) {
        let now_ms = self.clock.now_ms();
        let idle_ms = u64::try_from(self.session_idle.as_millis()).unwrap_or(u64::MAX);
        // Sessions silent for twice the idle time cannot be coached here any more: the
        // sweeper has ended every one this process coached.
        let _ = self.writes.try_send(WriteOp::EndStale {
            before_ms: now_ms.saturating_sub(idle_ms.saturating_mul(2)),
            now_ms,
        });
    }

    /// Ends sessions that have been silent for the idle time, and forgets ended ones.
    pub fn sweep_idle(&self) {
        let mut ending = Vec::new();
        if let Ok(mut sessions) = self.sessions.lock() {
            let idle = self.session_idle;
            let mut forget = Vec::new();
            for entry in sessions.by_row.values_mut() {
                let silent = entry.last_frame.elapsed();
                if entry.coached && silent >= idle {
                    entry.coached = false;
                    ending.push(entry.engine_id.clone());
                } else if !entry.coached && silent >= idle * 2 {
                    forget.push(entry.row);
                }
            }
            for row in forget {
                if let Some(entry) = sessions.by_row.remove(&row) {
                    sessions
                        .by_device
                        .retain(|(_, session), r| !(*r == row && *session == entry.device_session));
                }
            }
        }
        for engine_id in ending {
            self.engine.send(EngineRecord::Session(SessionInput {
                session: engine_id,
                now_ms: self.clock.now_ms(),
                event: SessionEvent::Command(SessionCommand {
                    command: Command::End,
                }),
            }));
        }
    }

    fn send_down(
        &self,
        route: &Route,
        device: &DeviceRecord,
        session: &SessionId,
        payload: Payload,
    ) {
        self.seal_and_send(
            route,
            &device.tenant,
            &device.device,
            &device.key,
            session,
            payload,
        );
    }

    fn seal_and_send(
        &self,
        route: &Route,
        tenant: &TenantId,
        device: &DeviceId,
        key: &DeviceKey,
        session: &SessionId,
        payload: Payload,
    ) -> bool {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: tenant.clone(),
            device: device.clone(),
            session: session.clone(),
            seq: self.down_seq.fetch_add(1, Ordering::Relaxed),
            sent_ms: self.clock.now_ms(),
        };
        let bytes = seal::seal(key, header, &payload)
            .ok()
            .and_then(|frame: Frame| codec::encode_frame(&frame).ok());
        let Some(bytes) = bytes else {
            self.metrics.downlink_dropped.inc();
            return false;
        };
        let sent = self.downlink.send(route, tenant, device, bytes);
        if !sent {
            self.metrics.downlink_dropped.inc();
        }
        sent
    }
}

fn sample_row(sample: &paceline_schemas::Sample) -> SampleRow {
    let mut row = SampleRow {
        t_ms: sample.t_ms,
        kind: "",
        heart_rate: None,
        power_w: None,
        cadence: None,
        speed_mps: None,
    };
    match &sample.value {
        SampleValue::HeartRate(hr) => {
            row.kind = "heart_rate";
            row.heart_rate = Some(hr.bpm);
        }
        SampleValue::CyclingPower(p) => {
            row.kind = "cycling_power";
            row.power_w = Some(f64::from(p.power_w));
            row.cadence = p.cadence_rpm.map(f64::from);
            row.speed_mps = p.speed_mps.map(f64::from);
        }
        SampleValue::RunningSpeedCadence(r) => {
            row.kind = "running_speed_cadence";
            row.speed_mps = Some(f64::from(r.speed_mps));
            row.cadence = Some(f64::from(r.cadence_spm));
        }
        SampleValue::SpeedCadence(c) => {
            row.kind = "speed_cadence";
            row.speed_mps = c.speed_mps.map(f64::from);
            row.cadence = c.cadence_rpm.map(f64::from);
        }
        SampleValue::IndoorBike(b) => {
            row.kind = "indoor_bike";
            row.power_w = b.power_w.map(f64::from);
            row.cadence = b.cadence_rpm.map(f64::from);
            row.speed_mps = b.speed_kmh.map(|v| f64::from(v) / 3.6);
            row.heart_rate = b.heart_rate.map(u16::from);
        }
        SampleValue::Treadmill(t) => {
            row.kind = "treadmill";
            row.speed_mps = t.speed_kmh.map(|v| f64::from(v) / 3.6);
            row.heart_rate = t.heart_rate.map(u16::from);
            row.power_w = t.power_output_w.map(f64::from);
        }
    }
    row
}
