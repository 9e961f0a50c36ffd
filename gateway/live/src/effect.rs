//! What the core asks its driver to do, and the closed enums of its answers.

use std::sync::Arc;

use paceline_schemas::engine::{SessionInput, SessionStatus};
use paceline_schemas::{
    Command, Cue, DeviceKey, DeviceStatus, FrameHeader, Payload, Sample, SessionId, SessionSummary,
};

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Reject {
    /// Not a decodable frame (garbage, wrong version, truncated, seq 0).
    Malformed,
    /// Larger than a frame may be.
    Oversize,
    /// The topic (or QUIC hello) names another tenant or device than the frame.
    TopicMismatch,
    /// No such device, or a device of another tenant.
    UnknownDevice,
    /// The device was revoked.
    Revoked,
    /// The body does not open with the device's key.
    BadSeal,
    /// A downlink kind sent up.
    WrongKind,
    /// The database could not be read, or the writer took no more writes.
    StoreUnavailable,
    /// A command only a coach may give (`override_target`), sent by a device.
    CoachOnlyCommand,
    /// The engine took not all of the frame: not acknowledged, the device keeps it.
    EngineUnavailable,
    /// The device or its tenant is over a quota: not acknowledged.
    OverQuota,
}

/// What happened to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Queued for storage (and coaching).
    Accepted,
    /// Already covered by the session's ack; the ack was sent again.
    Duplicate,
    /// Refused.
    Rejected(Reject),
    /// The core takes no more frames (the gateway is stopping).
    ShuttingDown,
}

/// Why something goes down to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkPurpose {
    /// The ack after a commit.
    Ack,
    /// The ack again, for a duplicate frame (the device missed it).
    Reack,
    /// A cue; `frame_us` is when the session's latest genuine frame arrived (the cue's
    /// latency is measured from it).
    Cue {
        /// When the latest genuine frame of the session arrived, µs.
        frame_us: u64,
    },
}

/// A frame for a device: the driver seals `payload` with `key` under `header` and sends
/// it on `route` (sealing draws a random nonce, which is why it is not done here).
#[derive(Debug, Clone)]
pub struct Downlink<R> {
    /// The session, if the frame is about one the core holds.
    pub session_row: Option<i64>,
    /// The route: the one the device's latest genuine frame came by (acks and cues), or
    /// the one the duplicate came by (re-acks). `None`: no frame seen yet.
    pub route: Option<R>,
    /// The device's sealing key.
    pub key: DeviceKey,
    /// The header (downlink seq and send time chosen by the core).
    pub header: FrameHeader,
    /// What goes down.
    pub payload: Payload,
    /// Why.
    pub purpose: DownlinkPurpose,
}

/// A frame the core took: the driver gives its samples or command to the engine (if
/// `coach` says so), then queues its write; if either fails it reports
/// [`crate::LiveCore::frame_not_taken`].
#[derive(Debug, Clone)]
pub struct TakenFrame {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The athlete's row.
    pub athlete_row: i64,
    /// The device's row.
    pub device_row: i64,
    /// The session's row.
    pub session_row: i64,
    /// The frame's seq.
    pub seq: u64,
    /// Its kind, as stored (`samples`, `command`, `device_status`).
    pub kind: &'static str,
    /// The device's send time, ms since the epoch.
    pub sent_ms: u64,
    /// When it was received, ms since the epoch.
    pub received_ms: u64,
    /// `plausible`, `stale` or `far_future`.
    pub send_time: &'static str,
    /// The opened body, in its canonical binary form.
    pub body: Vec<u8>,
    /// Its samples (empty for other kinds).
    pub samples: Vec<Sample>,
    /// Whether its samples go to live boards (only a new frame of a coached session).
    pub board: bool,
    /// What the engine is given, if anything.
    pub coach: Option<CoachInput>,
}

/// What of a taken frame goes to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum CoachInput {
    /// Every sample, one input each, to this engine session.
    Samples {
        /// The engine's session id.
        engine_id: SessionId,
    },
    /// The command, to this engine session.
    Command {
        /// The engine's session id.
        engine_id: SessionId,
        /// The command.
        command: Command,
    },
}

/// A write the core asks for (the frame writes are [`TakenFrame`]s).
#[derive(Debug, Clone)]
pub enum StoreWrite {
    /// Creates a session with the row the core chose; takes the plan off the athlete.
    OpenSession {
        /// The session's row.
        session_row: i64,
        /// The tenant's row.
        tenant_row: i64,
        /// The device's row.
        device_row: i64,
        /// The athlete's row.
        athlete_row: i64,
        /// The id the device gave the session.
        session_id: SessionId,
        /// The plan it is coached with.
        plan_row: Option<i64>,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Stores a cue.
    Cue {
        /// The tenant's row.
        tenant_row: i64,
        /// The session's row.
        session_row: i64,
        /// The engine's output seq.
        output_seq: u64,
        /// The cue (with the engine's session id).
        cue: Cue,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Closes a session: with its summary, or rejected by the engine (`summary: None`).
    EndSession {
        /// The tenant's row.
        tenant_row: i64,
        /// The session's row.
        session_row: i64,
        /// Its summary; `None` if the engine could not coach it.
        summary: Option<SessionSummary>,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Ends stored sessions silent since `before_ms` (left open by an earlier run); the
    /// driver queues it only if there is room (it is tried again at the next start).
    EndStale {
        /// Sessions whose last frame is older than this, ms since the epoch.
        before_ms: u64,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
}

/// What live boards are told, with the ids that scope it.
#[derive(Debug, Clone)]
pub struct BoardEvent {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The athlete's row.
    pub athlete_row: i64,
    /// The session's row.
    pub session_row: i64,
    /// What happened.
    pub body: BoardBody,
}

/// The content of a [`BoardEvent`] (new samples go out with their [`TakenFrame`]).
#[derive(Debug, Clone)]
pub enum BoardBody {
    /// A cue the coach gave (with the device's session id).
    Cue(Arc<Cue>),
    /// The coach's state, with the device's latest sensor status.
    Status {
        /// The coach's state.
        coach: Arc<SessionStatus>,
        /// The latest device status of the session.
        sensors: Option<Arc<DeviceStatus>>,
    },
    /// The device's sensors changed.
    Sensors(Arc<DeviceStatus>),
    /// The session ended.
    Ended,
}

/// Why a coached session stopped being coached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionClose {
    /// The engine summarised it.
    Summarised,
    /// The engine could not coach it.
    Rejected(String),
    /// The writer did not open it (its coach is ended).
    NotOpened,
}

/// One thing for the driver to do.
#[derive(Debug, Clone)]
pub enum Effect<R> {
    /// Give this to the engine; report a refusal with
    /// [`crate::LiveCore::engine_refused`].
    Engine(SessionInput),
    /// Queue this write; if the writer is gone, report an `OpenSession` with
    /// [`crate::LiveCore::open_not_queued`] and drop the rest of the batch.
    Store(StoreWrite),
    /// Take this frame (engine first, then the writer).
    Take(TakenFrame),
    /// Seal and send this; report a failure with
    /// [`crate::LiveCore::downlink_failed`].
    Send(Downlink<R>),
    /// Tell the live boards.
    Board(BoardEvent),
    /// A coached session opened (a coach started for it).
    SessionOpened {
        /// The session's row.
        session_row: i64,
    },
    /// A coached session closed (its coach is done).
    SessionClosed {
        /// The session's row.
        session_row: i64,
        /// Why.
        why: SessionClose,
    },
    /// A frame was refused; `log` carries the count since the last log line of this
    /// reason when one is due (at most one every [`crate::Config::reject_log_every_us`]).
    Rejected {
        /// Why.
        reason: Reject,
        /// The count to log now, if a log line is due.
        log: Option<u64>,
    },
    /// A frame's send time was stale or in the far future (it is stored anyway).
    SendTimeFlagged,
}
