//! [`Live`], the driver of the live core: it moves bytes and rows between the core and
//! the world (SQLite, the writer thread, the engine, the downlink, live boards, metrics)
//! and checks the result of every send, reporting failures back into the core. It holds
//! the core's lock only while the core runs, never while it waits on I/O: the writer's
//! commit report, which takes the lock, may be what a full write queue waits for.
//!
//! **A frame's common path never waits**, so the QUIC streams call [`Live::on_frame`]
//! straight from their tokio tasks: a known device and session, queues with room. The
//! few places that may wait — a device, session or tenant read from SQLite (a new
//! device or session, an expired cache entry), a writer or engine queue that is full —
//! go through [`may_wait`], which on a tokio worker thread hands the worker's other tasks
//! to another thread first (`block_in_place`). Wrapping every frame in `block_in_place`
//! instead cost a thread hand-off per frame (issue 20: most of QUIC's 127 µs per frame).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use paceline_engine::dataflow::{LiveSender, MAX_RECORDS_PER_SEND};
use paceline_live::{
    BoardBody, CameBy, CoachInput, Config, DeviceAnswer, Downlink as CoreDownlink, DownlinkPurpose,
    Effect, FrameIn, FrameOutcome, FrameStep, LiveCore, LookupFailed, PendingFrame, Reject,
    SessionAnswer, SessionClose, StoreWrite, TakenFrame,
};
use paceline_schemas::engine::{
    EngineRecord, SessionCommand, SessionEvent, SessionInput, SessionOutput,
};
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::sample::SampleValue;
use paceline_schemas::{Command, DeviceId, Frame, TenantId, codec, seal};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::broadcast;

use super::{DeviceStanding, LiveEvent, LiveEventBody, Origin};
use crate::clock::GatewayClock;
use crate::live::channels::LiveChannels;
use crate::metrics::{Metrics, RejectReason, TransportLabel};
use crate::quotas::{OverQuota, QuotaGate, QuotaLimits};
use crate::store::secrets::token_matches;
use crate::store::writer::{
    CommitReport, FrameWrite, SampleRow, SessionEnding, WriteOp, WriteQueue,
};
use crate::store::{DeviceRecord, Store};
use crate::transport::connections::Connections;
use crate::transport::downlink::{Downlink, Route};

/// How long a device looked up in the database stays cached.
const DEVICE_CACHE_TTL: Duration = Duration::from_secs(30);
/// A refusal of one reason is logged at most this often.
const REJECT_LOG_EVERY: Duration = Duration::from_secs(5);
/// Live events buffered for each subscriber; one that falls this far behind is told it
/// lagged (and the API drops it).
const LIVE_EVENT_BUFFER: usize = 8192;

/// Runs `wait`, which may block the thread (SQLite, a full queue). On a worker thread of
/// a multi-threaded tokio runtime, the worker's other tasks move to another thread first;
/// elsewhere (the broker's threads, the writer's, a current-thread runtime) it just runs.
fn may_wait<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The metrics' name of a refusal.
fn reject_reason(reason: Reject) -> RejectReason {
    match reason {
        Reject::Malformed => RejectReason::Malformed,
        Reject::Oversize => RejectReason::Oversize,
        Reject::TopicMismatch => RejectReason::TopicMismatch,
        Reject::UnknownDevice => RejectReason::UnknownDevice,
        Reject::Revoked => RejectReason::Revoked,
        Reject::BadSeal => RejectReason::BadSeal,
        Reject::WrongKind => RejectReason::WrongKind,
        Reject::StoreUnavailable => RejectReason::StoreUnavailable,
        Reject::CoachOnlyCommand => RejectReason::CoachOnlyCommand,
        Reject::EngineUnavailable => RejectReason::EngineUnavailable,
        Reject::OverQuota => RejectReason::OverQuota,
    }
}

/// Engine records a caller holds back while it takes a burst of frames (the MQTT ingress
/// takes every publish the router handed it at once), queued together by
/// [`Live::send_held`] before the caller waits for more. The engine's worker then wakes
/// once per burst instead of once per record (issue 20). Every engine record of the
/// burst goes through the batch, so records keep the order they were made in.
#[derive(Default)]
pub struct HeldRecords {
    records: Vec<EngineRecord>,
}

impl HeldRecords {
    /// Held records that are sent without waiting for the burst's end.
    pub const MAX_RECORDS: usize = 1024;

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Engine records of frames the async workers take one at a time, each in its own task
/// (QUIC streams and datagrams): gathered here and queued together by one task,
/// [`Live::run_worker_batches`], once the worker has run the other tasks that were ready.
/// Handed over one frame at a time, the engine's worker woke for nearly every QUIC frame
/// (0.88 context switches per frame at 1,000 athletes, against 0.29 over MQTT, whose
/// ingress thread already hands over a burst at once; issue 20).
#[derive(Default)]
struct WorkerBatch {
    records: Mutex<Vec<EngineRecord>>,
    gathered: tokio::sync::Notify,
}

/// The live loop's shared state: the core behind a lock, and the world it drives.
pub struct Live {
    store: Arc<Store>,
    writes: WriteQueue,
    engine: LiveSender,
    clock: GatewayClock,
    metrics: Arc<Metrics>,
    downlink: Downlink,
    core: Mutex<LiveCore<Route>>,
    events: LiveChannels,
    connections: Arc<Connections>,
    quotas: QuotaGate,
    /// Sessions the writer did not open, forgotten here, whose forget did not fit in the
    /// writer's queue yet (tried again with the next commit report).
    forget_pending: Mutex<Vec<i64>>,
    worker_batch: WorkerBatch,
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
        let core = LiveCore::new(Config {
            session_idle_us: micros(session_idle),
            device_cache_ttl_us: micros(DEVICE_CACHE_TTL),
            reject_log_every_us: micros(REJECT_LOG_EVERY),
            first_session_row: max_session_row + 1,
            // Downlink seqs only grow, across restarts too: they start from the clock in µs.
            first_down_seq: clock.now_ms().saturating_mul(1000),
        });
        Ok(Live {
            store,
            writes,
            engine,
            clock,
            metrics,
            downlink,
            core: Mutex::new(core),
            events: LiveChannels::new(LIVE_EVENT_BUFFER),
            connections: Arc::new(Connections::default()),
            quotas: QuotaGate::default(),
            forget_pending: Mutex::new(Vec::new()),
            worker_batch: WorkerBatch::default(),
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

    fn lock(&self) -> MutexGuard<'_, LiveCore<Route>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the core on one input, now, and takes the effects that input caused (every
    /// call drains the queue under the lock, so a caller carries out its own effects).
    fn run<T>(
        &self,
        input: impl FnOnce(&mut LiveCore<Route>, u64) -> T,
    ) -> (T, Vec<Effect<Route>>) {
        let mut core = self.lock();
        let out = input(&mut core, self.clock.now_us());
        let mut effects = Vec::new();
        while let Some(effect) = core.poll_effect() {
            effects.push(effect);
        }
        (out, effects)
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

    /// Samples per second of the device, storage of its tenant.
    fn admit_frame(&self, pending: &PendingFrame<Route>) -> bool {
        let Some(admission) = pending.admission() else {
            return false;
        };
        let now_ms = self.clock.now_ms();
        let admitted = self
            .quotas
            .admit_samples(
                now_ms,
                admission.device_row,
                admission.session,
                admission.seq,
                admission.samples,
            )
            .and_then(|()| {
                self.quotas.admit_storage(
                    now_ms,
                    admission.tenant_row,
                    admission.stored_bytes,
                    || may_wait(|| self.store.tenant_stored_bytes(admission.tenant_row)),
                )
            });
        match admitted {
            Ok(()) => true,
            Err(over) => {
                self.note_over_quota(over);
                false
            }
        }
    }

    /// The stored session a frame names, the session quota if it is new, and what it is
    /// coached with if it is new or still open.
    fn look_up_session(&self, pending: &PendingFrame<Route>) -> SessionAnswer {
        let Some(query) = pending.session_query() else {
            return SessionAnswer::Failed;
        };
        let stored =
            match self
                .store
                .session(query.tenant_row, query.device_row, query.session.as_str())
            {
                Ok(stored) => stored,
                Err(err) => {
                    tracing::error!(error = %err, "session lookup failed");
                    return SessionAnswer::Failed;
                }
            };
        if stored.is_none() {
            let opened = |since| {
                self.store
                    .sessions_opened_since(query.tenant_row, query.device_row, since)
            };
            if let Err(over) =
                self.quotas
                    .admit_session(self.clock.now_ms(), query.device_row, opened)
            {
                self.note_over_quota(over);
                return SessionAnswer::OverQuota;
            }
        }
        let setup = if stored.as_ref().is_none_or(|s| s.open) {
            match self
                .store
                .athlete_setup(query.tenant_row, query.athlete_row)
            {
                Ok(setup) => Some(Box::new(setup)),
                Err(err) => {
                    tracing::error!(error = %err, "athlete lookup failed");
                    return SessionAnswer::Failed;
                }
            }
        } else {
            None
        };
        SessionAnswer::Found { stored, setup }
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

    /// Forgets a revoked device and closes its connections (its frames are refused from
    /// now on: the cache no longer vouches for it).
    pub fn revoke_device(&self, device: &DeviceId) {
        self.lock().revoke_device(device);
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
        let (delivered, effects) =
            self.run(|core, now_us| core.command_session(now_us, session_row, command));
        self.carry_out(effects, None);
        delivered
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
        self.lock().stop_taking_frames();
    }

    /// Whether frames are being taken.
    pub fn is_taking_frames(&self) -> bool {
        self.lock().is_taking_frames()
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

    /// A device, from the core's cache or the database (then cached).
    fn device(
        &self,
        device: &DeviceId,
    ) -> Result<Option<Arc<DeviceRecord>>, crate::store::StoreError> {
        let now_us = self.clock.now_us();
        if let Some(record) = self.lock().cached_device(now_us, device) {
            return Ok(Some(record));
        }
        let Some(record) = may_wait(|| self.store.device(device))? else {
            return Ok(None);
        };
        Ok(Some(self.lock().device_found(self.clock.now_us(), record)))
    }

    /// Takes one uplink frame; its engine records are queued at once.
    pub fn on_frame(&self, bytes: &[u8], origin: Origin<'_>) -> FrameOutcome {
        self.take_bytes(bytes, origin, None)
    }

    /// Takes one uplink frame of a burst: its engine records join `held`, for
    /// [`Live::send_held`] to queue with the rest of the burst (see [`HeldRecords`]).
    pub fn on_frame_holding(
        &self,
        bytes: &[u8],
        origin: Origin<'_>,
        held: &mut HeldRecords,
    ) -> FrameOutcome {
        self.take_bytes(bytes, origin, Some(held))
    }

    /// Takes one uplink frame in an async task of its own (a QUIC stream or a connection's
    /// datagrams): its engine records join those of the other frames the workers take
    /// before [`Live::run_worker_batches`] runs, and go to the engine with them (see
    /// `WorkerBatch`). Outside a tokio runtime they are queued at once.
    pub fn on_frame_in_task(&self, bytes: &[u8], origin: Origin<'_>) -> FrameOutcome {
        let mut held = HeldRecords::default();
        let outcome = self.take_bytes(bytes, origin, Some(&mut held));
        if held.records.is_empty() {
            return outcome;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            self.send_held(&mut held);
            return outcome;
        }
        let first = {
            let mut gathered = self
                .worker_batch
                .records
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let first = gathered.is_empty();
            gathered.append(&mut held.records);
            first
        };
        if first {
            self.worker_batch.gathered.notify_one();
        }
        outcome
    }

    /// Queues the engine records [`Live::on_frame_in_task`] gathered, a batch at a time,
    /// for as long as the runtime runs: spawn it once with the live loop. Woken by the
    /// first record of a batch, it first lets the worker run the tasks that were ready
    /// (`yield_now` puts it behind them and the I/O driver), so their frames join.
    pub async fn run_worker_batches(self: Arc<Self>) {
        loop {
            self.worker_batch.gathered.notified().await;
            tokio::task::yield_now().await;
            let records = std::mem::take(
                &mut *self
                    .worker_batch
                    .records
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            // Without handing the worker over while the engine's queue has room, as it
            // nearly always has (`block_in_place` costs a thread hand-off every time):
            // what does not fit waits in `send_held`, in order.
            let mut records = records.into_iter();
            loop {
                let chunk: Vec<EngineRecord> =
                    records.by_ref().take(MAX_RECORDS_PER_SEND).collect();
                if chunk.is_empty() {
                    break;
                }
                if let Err(mut refused) = self.engine.try_send_many(chunk) {
                    refused.extend(records);
                    self.send_held(&mut HeldRecords { records: refused });
                    break;
                }
            }
        }
    }

    /// Queues the engine records held for a burst of frames, in order, waiting while the
    /// engine's queue is full. If the engine has stopped they are dropped (and logged),
    /// as records already in its queue are: their frames are stored, and the sessions'
    /// next frames are refused as the engine's.
    pub fn send_held(&self, held: &mut HeldRecords) {
        if held.records.is_empty() {
            return;
        }
        let records = std::mem::take(&mut held.records);
        let count = records.len();
        if !may_wait(|| self.engine.send_many(records)) {
            tracing::warn!(
                count,
                "the engine has stopped: records held for it are not coached"
            );
        }
    }

    fn take_bytes(
        &self,
        bytes: &[u8],
        origin: Origin<'_>,
        mut held: Option<&mut HeldRecords>,
    ) -> FrameOutcome {
        self.metrics
            .frames_received
            .get_or_create(&TransportLabel {
                transport: origin.transport(),
            })
            .inc();
        let (came_by, route) = match origin {
            Origin::Mqtt { topic } => (CameBy::Topic(topic), Route::Mqtt),
            Origin::Quic {
                tenant,
                device,
                route,
            }
            | Origin::QuicDatagram {
                tenant,
                device,
                route,
            } => (CameBy::Hello { tenant, device }, route.clone()),
        };
        let (mut step, mut effects) = self.run(|core, now_us| {
            core.handle_frame(
                now_us,
                FrameIn {
                    bytes,
                    came_by,
                    route,
                },
            )
        });
        loop {
            if let Some(refused) = self.carry_out(effects, held.as_deref_mut()) {
                return refused;
            }
            (step, effects) = match step {
                FrameStep::Done(outcome) => return outcome,
                FrameStep::LookupDevice(pending) => {
                    let answer = self.look_up_device(pending.device_id());
                    self.run(|core, now_us| core.resume_device(now_us, pending, answer))
                }
                FrameStep::Admit(pending) => {
                    let admitted = self.admit_frame(&pending);
                    self.run(|core, now_us| core.resume_admission(now_us, pending, admitted))
                }
                FrameStep::LookupSession(pending) => {
                    let answer = may_wait(|| self.look_up_session(&pending));
                    self.run(|core, now_us| core.resume_session(now_us, pending, answer))
                }
            };
        }
    }

    fn look_up_device(&self, device: &DeviceId) -> DeviceAnswer {
        may_wait(|| self.store.device(device)).map_err(|err| {
            tracing::error!(error = %err, "device lookup failed");
            LookupFailed
        })
    }

    /// Carries out effects in order. A frame's effects come as one batch: if one of them
    /// cannot be carried out, the core is told, the rest of the batch is dropped, and the
    /// frame's outcome (a refusal) is returned.
    ///
    /// With `held` (a burst of frames), every engine record joins it, so the burst's
    /// records reach the engine in the order they were made.
    fn carry_out(
        &self,
        effects: Vec<Effect<Route>>,
        mut held: Option<&mut HeldRecords>,
    ) -> Option<FrameOutcome> {
        for effect in effects {
            match effect {
                Effect::Engine(input) => {
                    let session = input.session.clone();
                    if !self.coach(EngineRecord::Session(input), held.as_deref_mut()) {
                        self.lock().engine_refused(self.clock.now_us(), &session);
                    }
                }
                Effect::Store(write) => {
                    if let Some(refused) = self.queue_write(write, held.as_deref_mut()) {
                        return Some(refused);
                    }
                }
                Effect::Take(frame) => {
                    if let Some(refused) = self.take_frame(frame, held.as_deref_mut()) {
                        return Some(refused);
                    }
                }
                Effect::Send(down) => self.send_down(down),
                Effect::Board(event) => {
                    let body = match event.body {
                        BoardBody::Cue(cue) => LiveEventBody::Cue(cue),
                        BoardBody::Status { coach, sensors } => {
                            LiveEventBody::Status { coach, sensors }
                        }
                        BoardBody::Sensors(status) => LiveEventBody::Sensors(status),
                        BoardBody::Ended => LiveEventBody::Ended,
                    };
                    self.events.publish(
                        event.tenant_row,
                        event.athlete_row,
                        event.session_row,
                        || body,
                    );
                }
                Effect::SessionOpened { .. } => {
                    self.metrics.sessions_open.inc();
                }
                Effect::SessionClosed { session_row, why } => {
                    self.metrics.sessions_open.dec();
                    if let SessionClose::Rejected(reason) = why {
                        tracing::warn!(session_row, reason = %reason, "the engine could not coach a session");
                    }
                }
                Effect::Rejected { reason, log } => {
                    let reason = reject_reason(reason);
                    self.metrics.reject(reason);
                    if let Some(count) = log {
                        tracing::warn!(reason = ?reason, count, "frames refused");
                    }
                }
                Effect::SendTimeFlagged => {
                    self.metrics.frames_send_time_flagged.inc();
                }
            }
        }
        None
    }

    /// Queues a write. Cues and endings wait while the writer is behind; an `OpenSession`
    /// the writer does not take is reported to the core (the frame is refused).
    fn queue_write(
        &self,
        write: StoreWrite,
        held: Option<&mut HeldRecords>,
    ) -> Option<FrameOutcome> {
        let op = match write {
            StoreWrite::OpenSession {
                session_row,
                tenant_row,
                device_row,
                athlete_row,
                session_id,
                plan_row,
                now_ms,
            } => {
                let op = WriteOp::OpenSession {
                    session_row,
                    tenant_row,
                    device_row,
                    athlete_row,
                    session_id: session_id.as_str().to_owned(),
                    plan_row,
                    now_ms,
                };
                if self.queue(op).is_err() {
                    let (refused, effects) =
                        self.run(|core, now_us| core.open_not_queued(now_us, session_row));
                    self.carry_out(effects, held);
                    return Some(refused);
                }
                return None;
            }
            StoreWrite::EndStale { before_ms, now_ms } => {
                // Tried again at the next start if the queue is full now.
                let _ = self
                    .writes
                    .try_send(WriteOp::EndStale { before_ms, now_ms });
                return None;
            }
            StoreWrite::Cue {
                tenant_row,
                session_row,
                output_seq,
                cue,
                now_ms,
            } => WriteOp::Cue {
                tenant_row,
                session_row,
                output_seq,
                cue,
                now_ms,
            },
            StoreWrite::EndSession {
                tenant_row,
                session_row,
                summary,
                now_ms,
            } => WriteOp::EndSession {
                tenant_row,
                session_row,
                ending: if summary.is_some() {
                    SessionEnding::Ended
                } else {
                    SessionEnding::Rejected
                },
                summary,
                now_ms,
            },
        };
        if self.queue(op).is_err() {
            // Only a writer that has stopped refuses: the process is stopping, and a
            // session left open is ended as stale at the next start.
            tracing::warn!("the writer is gone: a cue or session ending is not stored");
        }
        None
    }

    /// Takes a frame the core accepted: its samples to the boards, its samples or command
    /// to the engine (the coach first: a writer behind on its disk must not hold them
    /// back), then its write. If the engine or the writer refuses, the core is told and
    /// the frame is refused (so never acked, and the device resends it).
    fn take_frame(
        &self,
        frame: TakenFrame,
        mut held: Option<&mut HeldRecords>,
    ) -> Option<FrameOutcome> {
        let TakenFrame {
            tenant_row,
            athlete_row,
            device_row,
            session_row,
            seq,
            kind,
            sent_ms,
            received_ms,
            send_time,
            body,
            samples,
            board,
            coach,
        } = frame;
        let rows: Vec<SampleRow> = samples.iter().map(sample_row).collect();
        if board && !rows.is_empty() {
            self.events
                .publish(tenant_row, athlete_row, session_row, || {
                    LiveEventBody::Samples(rows.clone().into())
                });
        }
        if let Some(coach) = coach {
            let now_ms = self.clock.now_ms();
            let sent = match coach {
                CoachInput::Samples { engine_id } => samples.into_iter().all(|sample| {
                    self.coach(
                        EngineRecord::Session(SessionInput {
                            session: engine_id.clone(),
                            now_ms,
                            event: SessionEvent::Sample(sample),
                        }),
                        held.as_deref_mut(),
                    )
                }),
                CoachInput::Command { engine_id, command } => self.coach(
                    EngineRecord::Session(SessionInput {
                        session: engine_id,
                        now_ms,
                        event: SessionEvent::Command(SessionCommand { command }),
                    }),
                    held.as_deref_mut(),
                ),
            };
            if !sent {
                return Some(self.not_taken(Reject::EngineUnavailable, held));
            }
        }
        let write = WriteOp::Frame(FrameWrite {
            tenant_row,
            device_row,
            session_row,
            seq,
            kind,
            sent_ms,
            received_ms,
            send_time,
            body,
            samples: rows,
        });
        if self.queue(write).is_err() {
            return Some(self.not_taken(Reject::StoreUnavailable, held));
        }
        None
    }

    /// Queues a write, waiting (see [`may_wait`]) only while the writer's queue is full;
    /// an error if the writer is gone.
    fn queue(&self, op: WriteOp) -> Result<(), crate::store::StoreError> {
        match self.writes.try_send(op) {
            Ok(()) => Ok(()),
            Err(op) => may_wait(|| self.writes.send(*op)),
        }
    }

    /// Gives the engine a record, waiting (see [`may_wait`]) only while its queue is full;
    /// false if it is gone or failed. With `held`, the record joins the burst's batch
    /// instead (sent at once when the batch is full), and false only if the engine has
    /// failed.
    fn coach(&self, record: EngineRecord, held: Option<&mut HeldRecords>) -> bool {
        if let Some(held) = held {
            if self.engine.has_failed() {
                return false;
            }
            held.records.push(record);
            if held.records.len() >= HeldRecords::MAX_RECORDS {
                self.send_held(held);
            }
            return true;
        }
        match self.engine.try_send(record) {
            Ok(()) => true,
            Err(full) => may_wait(|| self.engine.send(full.into_record())),
        }
    }

    fn not_taken(&self, reason: Reject, held: Option<&mut HeldRecords>) -> FrameOutcome {
        let (refused, effects) = self.run(|core, now_us| core.frame_not_taken(now_us, reason));
        self.carry_out(effects, held);
        refused
    }

    /// Seals and sends a frame down; a failure is counted and told to the core.
    fn send_down(&self, down: CoreDownlink<Route>) {
        if down.purpose == DownlinkPurpose::Reack {
            self.metrics.frames_duplicate.inc();
        }
        let CoreDownlink {
            session_row,
            route,
            key,
            header,
            payload,
            purpose,
        } = down;
        let (tenant, device) = (header.tenant.clone(), header.device.clone());
        let route = route.unwrap_or(Route::None);
        let sent = seal::seal(&key, header, &payload)
            .ok()
            .and_then(|frame: Frame| codec::encode_frame(&frame).ok())
            .is_some_and(|bytes| self.downlink.send(&route, &tenant, &device, bytes));
        if !sent {
            self.metrics.downlink_dropped.inc();
            self.lock()
                .downlink_failed(self.clock.now_us(), session_row);
            return;
        }
        if let DownlinkPurpose::Cue { frame_us } = purpose {
            self.metrics.cues_sent.inc();
            let latency_us = self.clock.now_us().saturating_sub(frame_us);
            #[allow(clippy::cast_precision_loss)]
            self.metrics
                .cue_latency_seconds
                .observe(latency_us as f64 / 1e6);
        }
    }

    /// Whether the live loop holds session `session_row` (open in this process, its row
    /// possibly not committed yet).
    pub fn holds_session(&self, session_row: i64) -> bool {
        self.lock().session(session_row).is_some()
    }

    /// The latest device status of a session, if its device sent one.
    pub fn sensors(&self, session_row: i64) -> Option<Arc<paceline_schemas::DeviceStatus>> {
        self.lock().sensors(session_row)
    }

    /// The writer's report of a transaction: forget the sessions it could not open, and
    /// acknowledge what is now stored.
    pub fn on_commit_report(&self, report: CommitReport<'_>) {
        if report.committed.is_empty() && report.not_opened.is_empty() {
            self.forget_not_opened(&[]);
            return;
        }
        let committed: Vec<(i64, u64)> = report
            .committed
            .iter()
            .map(|c| (c.session_row, c.acked_seq))
            .collect();
        let ((), effects) =
            self.run(|core, now_us| core.handle_commit(now_us, &committed, report.not_opened));
        self.carry_out(effects, None);
        self.forget_not_opened(report.not_opened);
    }

    /// Tells the writer it may forget sessions it did not open: the core has forgotten
    /// them, so no write naming them follows. This runs on the writer's own thread (the
    /// commit report), so it never waits on the writer's queue: a forget that does not
    /// fit now goes with the next report.
    fn forget_not_opened(&self, not_opened: &[i64]) {
        let mut pending = self
            .forget_pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pending.extend_from_slice(not_opened);
        if pending.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut *pending);
        if let Err(op) = self.writes.try_send(WriteOp::ForgetNotOpened(rows))
            && let WriteOp::ForgetNotOpened(rows) = *op
        {
            *pending = rows;
        }
    }

    /// One output of the engine.
    pub fn on_output(&self, output: SessionOutput) {
        let ((), effects) = self.run(|core, now_us| core.handle_output(now_us, output));
        self.carry_out(effects, None);
    }

    /// Ends stored sessions left open by an earlier run whose devices stayed silent for
    /// the idle time (sessions coached now are ended by [`Live::sweep_idle`]).
    pub fn end_stale_sessions(&self) {
        let ((), effects) = self.run(|core, now_us| core.end_stale_sessions(now_us));
        self.carry_out(effects, None);
    }

    /// Ends sessions that have been silent for the idle time, and forgets ended ones.
    pub fn sweep_idle(&self) {
        let ((), effects) = self.run(|core, now_us| core.handle_timeout(now_us));
        self.carry_out(effects, None);
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
