//! The live sessions' state machine.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use paceline_schemas::engine::{
    OutputBody, SessionCommand, SessionEvent, SessionInput, SessionOutput, SessionSetup,
};
use paceline_schemas::frame::{SendTimeCheck, SendTimeLimits};
use paceline_schemas::topic::{Direction, Topic};
use paceline_schemas::{
    Ack, Command, DeviceId, DeviceKey, DeviceStatus, Frame, FrameHeader, FrameKind,
    MAX_FRAME_BYTES, Payload, SessionId, TenantId, codec, seal,
};

use crate::effect::{
    BoardBody, BoardEvent, CoachInput, Downlink, DownlinkPurpose, Effect, FrameOutcome, Reject,
    SessionClose, StoreWrite, TakenFrame,
};
use crate::records::{AthleteSetup, DeviceRecord, SessionRecord};

/// The core's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Silence after which a coached session is ended, µs.
    pub session_idle_us: u64,
    /// How long a device looked up in the database stays cached, µs.
    pub device_cache_ttl_us: u64,
    /// A refusal of one reason is logged at most this often, µs.
    pub reject_log_every_us: u64,
    /// The row the first new session gets (after the highest stored).
    pub first_session_row: i64,
    /// The first downlink seq (downlink seqs only grow, across restarts too: the driver
    /// starts them from the clock).
    pub first_down_seq: u64,
}

/// How a frame arrived.
#[derive(Debug, Clone, Copy)]
pub enum CameBy<'a> {
    /// Published on this MQTT topic.
    Topic(&'a str),
    /// On a QUIC stream whose hello named (and proved) this tenant and device.
    Hello {
        /// The tenant the hello named.
        tenant: &'a TenantId,
        /// The device the hello named.
        device: &'a DeviceId,
    },
}

/// Where the frame's answers would go: what came in, and by which route.
pub struct FrameIn<'a, R> {
    /// The frame's bytes.
    pub bytes: &'a [u8],
    /// How it came.
    pub came_by: CameBy<'a>,
    /// The route back to the device it came by.
    pub route: R,
}

/// The answer to a device lookup.
pub type DeviceAnswer = Result<Option<DeviceRecord>, LookupFailed>;

/// The database could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupFailed;

/// The answer to a session lookup ([`FrameStep::LookupSession`]).
#[derive(Debug, Clone)]
pub enum SessionAnswer {
    /// The stored session (`None`: a new one) and, if it is new or still open, what
    /// it is coached with.
    Found {
        /// The stored session.
        stored: Option<SessionRecord>,
        /// The athlete's setup (`None` for a stored session that is closed).
        setup: Option<Box<AthleteSetup>>,
    },
    /// A new session over the device's quota of sessions.
    OverQuota,
    /// The database could not be read.
    Failed,
}

/// What the driver must find out before the core can go on with a frame; the frame
/// travels in the pending value, so any number of frames can wait at once.
pub enum FrameStep<R> {
    /// The frame is done with.
    Done(FrameOutcome),
    /// Look up this device, then [`LiveCore::resume_device`].
    LookupDevice(PendingFrame<R>),
    /// Consult the quotas about [`PendingFrame::admission`], then
    /// [`LiveCore::resume_admission`].
    Admit(PendingFrame<R>),
    /// Look up [`PendingFrame::session_query`], then [`LiveCore::resume_session`].
    LookupSession(PendingFrame<R>),
}

/// A frame waiting for an answer from the driver.
pub struct PendingFrame<R> {
    frame: Frame,
    route: R,
    received_us: u64,
    device: Option<Arc<DeviceRecord>>,
    payload: Option<Payload>,
    send_time: &'static str,
}

/// What the quotas are asked about a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission<'a> {
    /// The device's row.
    pub device_row: i64,
    /// Its tenant's row.
    pub tenant_row: i64,
    /// The session the frame is of.
    pub session: &'a SessionId,
    /// The frame's seq.
    pub seq: u64,
    /// Samples it carries (1 for a command or status).
    pub samples: u64,
    /// Bytes it takes stored (what was sealed, less the 16-byte tag).
    pub stored_bytes: u64,
}

/// The session a frame needs looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery<'a> {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The device's row.
    pub device_row: i64,
    /// The athlete's row.
    pub athlete_row: i64,
    /// The id the device gave the session.
    pub session: &'a SessionId,
}

impl<R> PendingFrame<R> {
    /// The device to look up.
    pub fn device_id(&self) -> &DeviceId {
        &self.frame.header.device
    }

    /// The frame's header (its seal not yet verified before [`FrameStep::Admit`]).
    pub fn header(&self) -> &FrameHeader {
        &self.frame.header
    }

    /// What the quotas are asked (meaningful at [`FrameStep::Admit`]).
    pub fn admission(&self) -> Option<Admission<'_>> {
        let device = self.device.as_ref()?;
        let samples = match self.payload.as_ref()? {
            Payload::Samples(batch) => batch.samples().len(),
            _ => 1,
        };
        Some(Admission {
            device_row: device.row,
            tenant_row: device.tenant_row,
            session: &self.frame.header.session,
            seq: self.frame.header.seq,
            samples: u64::try_from(samples).unwrap_or(u64::MAX),
            stored_bytes: u64::try_from(self.frame.sealed.len().saturating_sub(16))
                .unwrap_or(u64::MAX),
        })
    }

    /// The session to look up (meaningful at [`FrameStep::LookupSession`]).
    pub fn session_query(&self) -> Option<SessionQuery<'_>> {
        let device = self.device.as_ref()?;
        Some(SessionQuery {
            tenant_row: device.tenant_row,
            device_row: device.row,
            athlete_row: device.athlete_row,
            session: &self.frame.header.session,
        })
    }
}

struct Session<R> {
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
    /// Seqs above the ack this core has taken: a seq in here, or at most the ack, is not
    /// new.
    taken: BTreeSet<u64>,
    last_frame_us: u64,
    route: Option<R>,
    sensors: Option<(u64, Arc<DeviceStatus>)>,
    downlink_failures: u64,
}

/// A session as tests and the admin see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// Its row.
    pub row: i64,
    /// Whether a coach runs for it here.
    pub coached: bool,
    /// The highest seq acknowledged.
    pub acked_seq: u64,
    /// Seqs above the ack taken so far.
    pub taken: Vec<u64>,
    /// When its latest genuine frame arrived, µs.
    pub last_frame_us: u64,
    /// Downlink sends that failed on its route.
    pub downlink_failures: u64,
}

/// The live sessions: frames, lookups, commit reports, engine outputs and timer ticks
/// in; [`Effect`]s out. `R` is the driver's route back to a device.
pub struct LiveCore<R> {
    config: Config,
    devices: HashMap<DeviceId, (Arc<DeviceRecord>, u64)>,
    by_device: HashMap<(i64, SessionId), i64>,
    by_row: HashMap<i64, Session<R>>,
    next_session_row: i64,
    down_seq: u64,
    taking_frames: bool,
    reject_log: HashMap<Reject, (Option<u64>, u64)>,
    effects: VecDeque<Effect<R>>,
}

impl<R: Clone> LiveCore<R> {
    /// A core with no sessions.
    pub fn new(config: Config) -> LiveCore<R> {
        LiveCore {
            config,
            devices: HashMap::new(),
            by_device: HashMap::new(),
            by_row: HashMap::new(),
            next_session_row: config.first_session_row,
            down_seq: config.first_down_seq,
            taking_frames: true,
            reject_log: HashMap::new(),
            effects: VecDeque::new(),
        }
    }

    /// The next thing to do, in order.
    pub fn poll_effect(&mut self) -> Option<Effect<R>> {
        self.effects.pop_front()
    }

    /// When [`LiveCore::handle_timeout`] next has something to do, µs.
    pub fn poll_timeout(&self) -> Option<u64> {
        let idle = self.config.session_idle_us;
        self.by_row
            .values()
            .map(|s| {
                let after = if s.coached {
                    idle
                } else {
                    idle.saturating_mul(2)
                };
                s.last_frame_us.saturating_add(after)
            })
            .min()
    }

    /// Stops taking frames (they go unacknowledged, so devices keep them and resend).
    pub fn stop_taking_frames(&mut self) {
        self.taking_frames = false;
    }

    /// Whether frames are being taken.
    pub fn is_taking_frames(&self) -> bool {
        self.taking_frames
    }

    /// A device from the cache, if it was looked up less than the TTL ago.
    pub fn cached_device(&self, now_us: u64, device: &DeviceId) -> Option<Arc<DeviceRecord>> {
        let (record, fetched_us) = self.devices.get(device)?;
        (now_us.saturating_sub(*fetched_us) < self.config.device_cache_ttl_us)
            .then(|| Arc::clone(record))
    }

    /// Caches a device the driver looked up.
    pub fn device_found(&mut self, now_us: u64, record: DeviceRecord) -> Arc<DeviceRecord> {
        let record = Arc::new(record);
        self.devices
            .insert(record.device.clone(), (Arc::clone(&record), now_us));
        record
    }

    /// Forgets a revoked device: the cache no longer vouches for it.
    pub fn revoke_device(&mut self, device: &DeviceId) {
        self.devices.remove(device);
    }

    /// A session's state, if the core holds it.
    pub fn session(&self, session_row: i64) -> Option<SessionView> {
        let s = self.by_row.get(&session_row)?;
        Some(SessionView {
            row: s.row,
            coached: s.coached,
            acked_seq: s.acked_seq,
            taken: s.taken.iter().copied().collect(),
            last_frame_us: s.last_frame_us,
            downlink_failures: s.downlink_failures,
        })
    }

    /// The row of the session a device's session id has here.
    pub fn session_row(&self, device_row: i64, session: &SessionId) -> Option<i64> {
        self.by_device.get(&(device_row, session.clone())).copied()
    }

    /// The latest device status of a session, if its device sent one.
    pub fn sensors(&self, session_row: i64) -> Option<Arc<DeviceStatus>> {
        let (_, status) = self.by_row.get(&session_row)?.sensors.as_ref()?;
        Some(Arc::clone(status))
    }

    fn reject(&mut self, now_us: u64, reason: Reject) -> FrameStep<R> {
        let every = self.config.reject_log_every_us;
        let entry = self.reject_log.entry(reason).or_insert((None, 0));
        entry.1 += 1;
        let due = entry
            .0
            .is_none_or(|logged| now_us.saturating_sub(logged) >= every);
        let log = due.then(|| {
            let count = entry.1;
            *entry = (Some(now_us), 0);
            count
        });
        self.effects.push_back(Effect::Rejected { reason, log });
        FrameStep::Done(FrameOutcome::Rejected(reason))
    }

    /// Takes one uplink frame: checks its size, decoding, topic (or hello) and kind, then
    /// goes on with its device (from the cache, or after a lookup).
    pub fn handle_frame(&mut self, now_us: u64, input: FrameIn<'_, R>) -> FrameStep<R> {
        if !self.taking_frames {
            return FrameStep::Done(FrameOutcome::ShuttingDown);
        }
        if input.bytes.len() > MAX_FRAME_BYTES {
            return self.reject(now_us, Reject::Oversize);
        }
        let Ok(frame) = codec::decode_frame(input.bytes) else {
            return self.reject(now_us, Reject::Malformed);
        };
        let header = &frame.header;
        let matches = match input.came_by {
            CameBy::Topic(topic) => Topic::parse(topic).is_ok_and(|topic| {
                topic.direction == Direction::Up
                    && topic.tenant == header.tenant
                    && topic.device == header.device
            }),
            CameBy::Hello { tenant, device } => {
                *tenant == header.tenant && *device == header.device
            }
        };
        if !matches {
            return self.reject(now_us, Reject::TopicMismatch);
        }
        if !matches!(
            header.kind,
            FrameKind::Samples | FrameKind::Command | FrameKind::DeviceStatus
        ) {
            return self.reject(now_us, Reject::WrongKind);
        }
        let device = self.cached_device(now_us, &header.device);
        let pending = PendingFrame {
            frame,
            route: input.route,
            received_us: now_us,
            device: None,
            payload: None,
            send_time: "plausible",
        };
        match device {
            Some(device) => self.with_device(now_us, pending, device),
            None => FrameStep::LookupDevice(pending),
        }
    }

    /// Goes on with a frame once its device is looked up (a found device is cached).
    pub fn resume_device(
        &mut self,
        now_us: u64,
        pending: PendingFrame<R>,
        answer: DeviceAnswer,
    ) -> FrameStep<R> {
        match answer {
            Ok(Some(record)) => {
                let device = self.device_found(now_us, record);
                self.with_device(now_us, pending, device)
            }
            Ok(None) => self.reject(now_us, Reject::UnknownDevice),
            Err(LookupFailed) => self.reject(now_us, Reject::StoreUnavailable),
        }
    }

    fn with_device(
        &mut self,
        now_us: u64,
        mut pending: PendingFrame<R>,
        device: Arc<DeviceRecord>,
    ) -> FrameStep<R> {
        let header = &pending.frame.header;
        if device.tenant != header.tenant {
            return self.reject(now_us, Reject::UnknownDevice);
        }
        if device.revoked {
            return self.reject(now_us, Reject::Revoked);
        }
        let Ok(payload) = seal::open(&device.key, &pending.frame) else {
            return self.reject(now_us, Reject::BadSeal);
        };
        if header.seq == 0 {
            return self.reject(now_us, Reject::Malformed);
        }
        if matches!(payload, Payload::Command(Command::OverrideTarget(_))) {
            return self.reject(now_us, Reject::CoachOnlyCommand);
        }
        pending.device = Some(device);
        pending.payload = Some(payload);
        FrameStep::Admit(pending)
    }

    /// Goes on with a frame the quotas admitted (`admitted: false`: refused over quota).
    pub fn resume_admission(
        &mut self,
        now_us: u64,
        mut pending: PendingFrame<R>,
        admitted: bool,
    ) -> FrameStep<R> {
        if !admitted {
            return self.reject(now_us, Reject::OverQuota);
        }
        let received_ms = pending.received_us / 1000;
        pending.send_time = match pending
            .frame
            .header
            .check_send_time(received_ms, SendTimeLimits::default())
        {
            SendTimeCheck::Plausible => "plausible",
            SendTimeCheck::Stale { .. } => "stale",
            SendTimeCheck::FarFuture { .. } => "far_future",
        };
        if pending.send_time != "plausible" {
            self.effects.push_back(Effect::SendTimeFlagged);
        }
        let Some(device) = pending.device.as_ref() else {
            return self.reject(now_us, Reject::StoreUnavailable);
        };
        match self.session_row(device.row, &pending.frame.header.session) {
            Some(row) => self.in_session(now_us, pending, row),
            None => FrameStep::LookupSession(pending),
        }
    }

    /// Goes on with a frame whose session was looked up: resumes a stored session (a new
    /// coach if it is still open, without the plan it had) or opens a new one (its row
    /// chosen here, its open queued ahead of its frames).
    pub fn resume_session(
        &mut self,
        now_us: u64,
        pending: PendingFrame<R>,
        answer: SessionAnswer,
    ) -> FrameStep<R> {
        let (stored, setup) = match answer {
            SessionAnswer::Found { stored, setup } => (stored, setup),
            SessionAnswer::OverQuota => return self.reject(now_us, Reject::OverQuota),
            SessionAnswer::Failed => return self.reject(now_us, Reject::StoreUnavailable),
        };
        let Some(device) = pending.device.clone() else {
            return self.reject(now_us, Reject::StoreUnavailable);
        };
        let session = pending.frame.header.session.clone();
        if let Some(row) = self.session_row(device.row, &session) {
            // Another transport opened it meanwhile.
            return self.in_session(now_us, pending, row);
        }
        let now_ms = now_us / 1000;
        let (row, acked_seq, above, open, plan, sensors) = match stored {
            Some(record) => (
                record.row,
                record.acked_seq,
                record.stored_above,
                record.open,
                None,
                record
                    .latest_status
                    .map(|(seq, status)| (seq, Arc::new(status))),
            ),
            None => {
                let plan = setup.as_ref().and_then(|s| s.next_plan.clone());
                let row = self.next_session_row;
                self.next_session_row += 1;
                self.effects
                    .push_back(Effect::Store(StoreWrite::OpenSession {
                        session_row: row,
                        tenant_row: device.tenant_row,
                        device_row: device.row,
                        athlete_row: device.athlete_row,
                        session_id: session.clone(),
                        plan_row: plan.as_ref().map(|(row, _)| *row),
                        now_ms,
                    }));
                (row, 0, Vec::new(), true, plan.map(|(_, plan)| plan), None)
            }
        };
        let Ok(engine_id) = SessionId::new(format!("s{row}")) else {
            return self.reject(now_us, Reject::Malformed);
        };
        self.by_device.insert((device.row, session.clone()), row);
        self.by_row.insert(
            row,
            Session {
                row,
                device_row: device.row,
                tenant_row: device.tenant_row,
                athlete_row: device.athlete_row,
                tenant: device.tenant.clone(),
                device: device.device.clone(),
                key: device.key.clone(),
                device_session: session,
                engine_id: engine_id.clone(),
                coached: open,
                acked_seq,
                taken: above.into_iter().collect(),
                last_frame_us: now_us,
                route: None,
                sensors,
                downlink_failures: 0,
            },
        );
        if open && let Some(setup) = setup {
            self.effects
                .push_back(Effect::SessionOpened { session_row: row });
            self.effects.push_back(Effect::Engine(SessionInput {
                session: engine_id,
                now_ms,
                event: SessionEvent::Open(SessionSetup {
                    profile: setup.profile,
                    plan,
                }),
            }));
        }
        self.in_session(now_us, pending, row)
    }

    /// The frame's session is known: a duplicate is re-acked on the route it came by;
    /// a new frame is taken (and only it moves the route and keeps the session alive).
    fn in_session(&mut self, now_us: u64, pending: PendingFrame<R>, row: i64) -> FrameStep<R> {
        let PendingFrame {
            frame,
            route,
            received_us,
            payload,
            send_time,
            device,
        } = pending;
        let (Some(payload), Some(device)) = (payload, device) else {
            return self.reject(now_us, Reject::StoreUnavailable);
        };
        let header = frame.header;
        let Some(entry) = self.by_row.get_mut(&row) else {
            return self.reject(now_us, Reject::StoreUnavailable);
        };
        if header.seq <= entry.acked_seq {
            let ack = Payload::Ack(Ack {
                committed_seq: entry.acked_seq,
            });
            let key = entry.key.clone();
            self.send_down(
                now_us,
                None,
                Some(route),
                key,
                &device.tenant,
                &device.device,
                &header.session,
                ack,
                DownlinkPurpose::Reack,
            );
            return FrameStep::Done(FrameOutcome::Duplicate);
        }
        let fresh = entry.taken.insert(header.seq);
        if fresh {
            entry.route = Some(route);
            entry.last_frame_us = received_us;
        }
        let coach = entry.coached && fresh;
        let engine_id = entry.engine_id.clone();
        let (tenant_row, athlete_row) = (entry.tenant_row, entry.athlete_row);
        let (kind, body, samples, coach_input) = match payload {
            Payload::Samples(batch) => {
                let body = codec::encode_binary(&batch);
                let input = coach.then(|| CoachInput::Samples {
                    engine_id: engine_id.clone(),
                });
                ("samples", body, batch.into_samples(), input)
            }
            Payload::Command(command) => {
                let body = codec::encode_binary(&command);
                if coach && command == Command::End {
                    entry.coached = false;
                }
                let input = coach.then(|| CoachInput::Command {
                    engine_id: engine_id.clone(),
                    command,
                });
                ("command", body, Vec::new(), input)
            }
            Payload::DeviceStatus(status) => {
                let body = codec::encode_binary(&status);
                if body.is_ok()
                    && entry
                        .sensors
                        .as_ref()
                        .is_none_or(|(held, _)| *held <= header.seq)
                {
                    let status = Arc::new(status);
                    entry.sensors = Some((header.seq, Arc::clone(&status)));
                    self.effects.push_back(Effect::Board(BoardEvent {
                        tenant_row,
                        athlete_row,
                        session_row: row,
                        body: BoardBody::Sensors(status),
                    }));
                }
                ("device_status", body, Vec::new(), None)
            }
            Payload::Ack(_) | Payload::Cue(_) => return self.reject(now_us, Reject::WrongKind),
        };
        let Ok(body) = body else {
            // Never store (and so never ack) a frame whose body would not be kept whole.
            return self.reject(now_us, Reject::Malformed);
        };
        self.effects.push_back(Effect::Take(TakenFrame {
            tenant_row,
            athlete_row,
            device_row: device.row,
            session_row: row,
            seq: header.seq,
            kind,
            sent_ms: header.sent_ms,
            received_ms: received_us / 1000,
            send_time,
            body,
            board: coach && !samples.is_empty(),
            samples,
            coach: coach_input,
        }));
        FrameStep::Done(FrameOutcome::Accepted)
    }

    /// The driver could not take a frame the core gave it (the engine refused its input,
    /// or the writer is gone): it is refused, so never acked, and the device resends it.
    /// Its seq stays taken, so the engine is not given it twice: the resend is stored
    /// (and acked) without coaching.
    pub fn frame_not_taken(&mut self, now_us: u64, reason: Reject) -> FrameOutcome {
        match self.reject(now_us, reason) {
            FrameStep::Done(outcome) => outcome,
            _ => FrameOutcome::Rejected(reason),
        }
    }

    /// The writer took no `OpenSession` for this row: the session is forgotten (its
    /// frame's remaining effects are dropped by the driver, the coach never started).
    pub fn open_not_queued(&mut self, now_us: u64, session_row: i64) -> FrameOutcome {
        if let Some(entry) = self.by_row.remove(&session_row) {
            let key = (entry.device_row, entry.device_session);
            if self.by_device.get(&key) == Some(&session_row) {
                self.by_device.remove(&key);
            }
        }
        self.frame_not_taken(now_us, Reject::StoreUnavailable)
    }

    /// The engine refused an input outside a frame (an open, a command, an end): the
    /// engine is gone, so the session keeps its state and its next frame is refused as
    /// [`Reject::EngineUnavailable`] (never acked uncoached).
    pub fn engine_refused(&mut self, _now_us: u64, _session: &SessionId) {}

    /// A downlink send failed (no route yet, the route's connection gone, or its queue
    /// full). The route is kept: only the device's next genuine frame moves it.
    pub fn downlink_failed(&mut self, _now_us: u64, session_row: Option<i64>) {
        if let Some(entry) = session_row.and_then(|row| self.by_row.get_mut(&row)) {
            entry.downlink_failures += 1;
        }
    }

    /// A coach command from the API: false if the session is not coached here.
    pub fn command_session(&mut self, now_us: u64, session_row: i64, command: Command) -> bool {
        let Some(entry) = self.by_row.get_mut(&session_row) else {
            return false;
        };
        if !entry.coached {
            return false;
        }
        if command == Command::End {
            entry.coached = false;
        }
        let session = entry.engine_id.clone();
        self.effects.push_back(Effect::Engine(SessionInput {
            session,
            now_ms: now_us / 1000,
            event: SessionEvent::Command(SessionCommand { command }),
        }));
        true
    }

    /// The writer's report of a transaction: sessions it stored frames of, with how far
    /// each is stored (acked now, to the highest committed seq, on the latest route),
    /// and sessions it did not open (forgotten, their coach ended).
    pub fn handle_commit(&mut self, now_us: u64, committed: &[(i64, u64)], not_opened: &[i64]) {
        let now_ms = now_us / 1000;
        for row in not_opened {
            let Some(entry) = self.by_row.remove(row) else {
                continue;
            };
            let key = (entry.device_row, entry.device_session.clone());
            if self.by_device.get(&key) == Some(row) {
                self.by_device.remove(&key);
            }
            if entry.coached {
                self.effects.push_back(Effect::SessionClosed {
                    session_row: *row,
                    why: SessionClose::NotOpened,
                });
                self.effects.push_back(end_input(entry.engine_id, now_ms));
            }
        }
        for &(row, acked_seq) in committed {
            let Some(entry) = self.by_row.get_mut(&row) else {
                continue;
            };
            entry.acked_seq = entry.acked_seq.max(acked_seq);
            entry.taken = entry.taken.split_off(&(entry.acked_seq + 1));
            let ack = Payload::Ack(Ack {
                committed_seq: entry.acked_seq,
            });
            let (route, key) = (entry.route.clone(), entry.key.clone());
            let (tenant, device, session) = (
                entry.tenant.clone(),
                entry.device.clone(),
                entry.device_session.clone(),
            );
            self.send_down(
                now_us,
                Some(row),
                route,
                key,
                &tenant,
                &device,
                &session,
                ack,
                DownlinkPurpose::Ack,
            );
        }
    }

    /// One output of the engine: a cue goes to the boards, down the session's latest
    /// route and to the store; a status to the boards; a summary or a rejection closes
    /// the session.
    pub fn handle_output(&mut self, now_us: u64, output: SessionOutput) {
        let Some(row) = output
            .session
            .as_str()
            .strip_prefix('s')
            .and_then(|n| n.parse::<i64>().ok())
        else {
            return;
        };
        let Some(entry) = self.by_row.get_mut(&row) else {
            return;
        };
        if !matches!(output.output, OutputBody::Cue(_) | OutputBody::Status(_)) {
            entry.coached = false;
        }
        let (tenant_row, athlete_row) = (entry.tenant_row, entry.athlete_row);
        let now_ms = now_us / 1000;
        let board = |body| {
            Effect::Board(BoardEvent {
                tenant_row,
                athlete_row,
                session_row: row,
                body,
            })
        };
        match output.output {
            OutputBody::Cue(cue) => {
                let mut for_device = cue.clone();
                for_device.session = entry.device_session.clone();
                let (route, key, frame_us) =
                    (entry.route.clone(), entry.key.clone(), entry.last_frame_us);
                let (tenant, device, session) = (
                    entry.tenant.clone(),
                    entry.device.clone(),
                    entry.device_session.clone(),
                );
                self.effects
                    .push_back(board(BoardBody::Cue(Arc::new(for_device.clone()))));
                self.send_down(
                    now_us,
                    Some(row),
                    route,
                    key,
                    &tenant,
                    &device,
                    &session,
                    Payload::Cue(for_device),
                    DownlinkPurpose::Cue { frame_us },
                );
                self.effects.push_back(Effect::Store(StoreWrite::Cue {
                    tenant_row,
                    session_row: row,
                    output_seq: output.seq,
                    cue,
                    now_ms,
                }));
            }
            OutputBody::Status(status) => {
                let sensors = entry.sensors.as_ref().map(|(_, s)| Arc::clone(s));
                self.effects.push_back(board(BoardBody::Status {
                    coach: Arc::new(status),
                    sensors,
                }));
            }
            OutputBody::Summary(mut summary) => {
                summary.session = entry.device_session.clone();
                self.effects.push_back(Effect::SessionClosed {
                    session_row: row,
                    why: SessionClose::Summarised,
                });
                self.effects.push_back(board(BoardBody::Ended));
                self.effects
                    .push_back(Effect::Store(StoreWrite::EndSession {
                        tenant_row,
                        session_row: row,
                        summary: Some(summary),
                        now_ms,
                    }));
            }
            OutputBody::Rejected(rejection) => {
                self.effects.push_back(Effect::SessionClosed {
                    session_row: row,
                    why: SessionClose::Rejected(rejection.reason.to_string()),
                });
                self.effects
                    .push_back(Effect::Store(StoreWrite::EndSession {
                        tenant_row,
                        session_row: row,
                        summary: None,
                        now_ms,
                    }));
            }
        }
    }

    /// Ends the coaches of sessions silent for the idle time, and forgets sessions not
    /// coached and silent for twice that.
    pub fn handle_timeout(&mut self, now_us: u64) {
        let idle = self.config.session_idle_us;
        let mut ending = Vec::new();
        let mut forget = Vec::new();
        for entry in self.by_row.values_mut() {
            let silent = now_us.saturating_sub(entry.last_frame_us);
            if entry.coached && silent >= idle {
                entry.coached = false;
                ending.push(entry.engine_id.clone());
            } else if !entry.coached && silent >= idle.saturating_mul(2) {
                forget.push(entry.row);
            }
        }
        ending.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        for row in forget {
            if let Some(entry) = self.by_row.remove(&row) {
                self.by_device
                    .retain(|(_, session), r| !(*r == row && *session == entry.device_session));
            }
        }
        for engine_id in ending {
            self.effects.push_back(end_input(engine_id, now_us / 1000));
        }
    }

    /// Ends stored sessions left open by an earlier run whose devices stayed silent for
    /// twice the idle time (none of them can be coached here any more).
    pub fn end_stale_sessions(&mut self, now_us: u64) {
        let now_ms = now_us / 1000;
        let idle_ms = self.config.session_idle_us / 1000;
        self.effects.push_back(Effect::Store(StoreWrite::EndStale {
            before_ms: now_ms.saturating_sub(idle_ms.saturating_mul(2)),
            now_ms,
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn send_down(
        &mut self,
        now_us: u64,
        session_row: Option<i64>,
        route: Option<R>,
        key: DeviceKey,
        tenant: &TenantId,
        device: &DeviceId,
        session: &SessionId,
        payload: Payload,
        purpose: DownlinkPurpose,
    ) {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: tenant.clone(),
            device: device.clone(),
            session: session.clone(),
            seq: self.down_seq,
            sent_ms: now_us / 1000,
        };
        self.down_seq += 1;
        self.effects.push_back(Effect::Send(Downlink {
            session_row,
            route,
            key,
            header,
            payload,
            purpose,
        }));
    }
}

fn end_input<R>(engine_id: SessionId, now_ms: u64) -> Effect<R> {
    Effect::Engine(SessionInput {
        session: engine_id,
        now_ms,
        event: SessionEvent::Command(SessionCommand {
            command: Command::End,
        }),
    })
}
