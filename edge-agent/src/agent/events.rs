//! What the agent reports: [`AgentEvent`]s as they happen, [`DeviceCounters`] at any time.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use paceline_schemas::{Cue, DeviceId, SessionId};

use crate::spool::Recovery;

/// What the agent reports. Receive with [`AgentHandle::subscribe`] or
/// [`AgentHandle::events_from_start`]. New variants may be added: match with a wildcard.
///
/// [`AgentHandle::subscribe`]: super::AgentHandle::subscribe
/// [`AgentHandle::events_from_start`]: super::AgentHandle::events_from_start
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
    /// Frames sent as QUIC datagrams and sent again on the stream after repeated acks
    /// showed a gap (also counted in `frames_sent`).
    pub datagrams_resent: AtomicU64,
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
