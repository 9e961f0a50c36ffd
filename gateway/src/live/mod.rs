//! The live loop: frames in from any transport, stored, coached, acknowledged; cues out.
//!
//! The rules live in the sans-IO core, `paceline-live` ([`paceline_live::LiveCore`]):
//! which checks a frame passes and in what order, when a session opens and closes, what
//! is acked and where cues go. This module is its tokio-side driver ([`Live`]): it feeds
//! the core what happened (a frame's bytes and the route it came by, a device or session
//! read from SQLite, the quotas' answer, the writer's commit report, the engine's
//! outputs, the idle timer) with the gateway clock's time, and carries out the effects the
//! core asks for — queue writes, give inputs to the engine, seal and send acks and cues,
//! publish to live boards, count metrics and log refusals — checking the result of every
//! send and telling the core when one failed (an engine that refused, a writer that is
//! gone, a route that did not take the frame), so the core decides what follows.
//!
//! [`Live::on_frame`] is the one entrance for uplink frames, whichever transport carried
//! them; a refused frame is counted by reason and logged at most once per reason every
//! few seconds, and its sender is not disconnected. The device is acknowledged from the
//! writer's commit report ([`Live::on_commit_report`]), never before; engine outputs come
//! back through [`Live::on_output`]. The core's module docs say the rest.

pub mod channels;
mod driver;

use std::sync::Arc;

use paceline_schemas::{DeviceId, DeviceStatus, TenantId};

use crate::metrics::Transport;
use crate::store::writer::SampleRow;
use crate::transport::downlink::Route;

pub use self::driver::{HeldRecords, Live};
pub use paceline_live::{FrameOutcome, Reject};

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
    /// Sent in a QUIC datagram, on a connection with a stream whose hello checked out
    /// (the device and downlink are that stream's).
    QuicDatagram {
        /// The tenant the stream's hello named.
        tenant: &'a TenantId,
        /// The device the stream's hello named.
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
            Origin::QuicDatagram { .. } => Transport::QuicDatagram,
        }
    }
}
