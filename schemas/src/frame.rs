//! Frames: the unit that crosses the network between an edge agent and the gateway.
//!
//! A frame is a clear header, which routes it and which the receiver checks, and a body
//! sealed with the sending device's key (see [`crate::seal`]). The same frames travel over
//! MQTT (one frame per publish) and QUIC (length-prefixed, see [`crate::stream`]).

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::cue::Cue;
use crate::device_status::DeviceStatus;
use crate::ids::{DeviceId, SessionId, TenantId};
use crate::sample::SampleBatch;

/// Length of the per-frame ChaCha20-Poly1305 nonce, bytes.
pub const NONCE_BYTES: usize = 12;
/// Length of the Poly1305 tag at the end of every sealed body, bytes.
pub const TAG_BYTES: usize = 16;

/// What a frame's body holds; authenticated as part of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Up: a [`SampleBatch`].
    Samples,
    /// Down: an [`Ack`].
    Ack,
    /// Down: a [`Cue`].
    Cue,
    /// Up: a [`Command`] from the athlete at the device ("35 minutes left", pause, end).
    /// Shares the session's uplink seq with sample frames and is acked the same way.
    Command,
    /// Up: a [`DeviceStatus`] (sensors connected, battery levels), sent when it changes.
    /// Shares the session's uplink seq with sample frames and is acked the same way.
    DeviceStatus,
}

/// The clear part of a frame. On the wire it is the bytes after the version byte, and the
/// version byte plus these bytes are the associated data of the seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameHeader {
    /// What the sealed body holds.
    pub kind: FrameKind,
    /// The tenant the device belongs to.
    pub tenant: TenantId,
    /// The device that sent the frame (up) or that it is for (down).
    pub device: DeviceId,
    /// The workout session.
    pub session: SessionId,
    /// Strictly increasing per device session and direction; a seq already seen is a
    /// duplicate.
    pub seq: u64,
    /// The sender's wall-clock time when it sealed the frame, ms since the Unix epoch.
    pub sent_ms: u64,
}

/// A frame as it travels: header, nonce and sealed body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// The clear, authenticated header.
    pub header: FrameHeader,
    /// The nonce the body was sealed with; never reused under one key. Hex in JSON.
    #[serde(with = "hex_nonce")]
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext of the body followed by its 16-byte tag. Hex in JSON.
    #[serde(with = "hex_sealed")]
    pub sealed: Vec<u8>,
}

/// Confirms durable storage: every frame of the session up to `committed_seq` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// The highest seq of the session that is durably stored.
    pub committed_seq: u64,
}

/// The opened body of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Samples from a device.
    Samples(SampleBatch),
    /// The gateway's acknowledgement of stored frames.
    Ack(Ack),
    /// A cue for the athlete.
    Cue(Cue),
    /// A command from the athlete at the device.
    Command(Command),
    /// The state of the device's sensors.
    DeviceStatus(DeviceStatus),
}

impl Payload {
    /// The frame kind that carries this payload.
    pub fn kind(&self) -> FrameKind {
        match self {
            Payload::Samples(_) => FrameKind::Samples,
            Payload::Ack(_) => FrameKind::Ack,
            Payload::Cue(_) => FrameKind::Cue,
            Payload::Command(_) => FrameKind::Command,
            Payload::DeviceStatus(_) => FrameKind::DeviceStatus,
        }
    }
}

/// Bounds on a frame's send time relative to when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTimeLimits {
    /// Older than this is stale (a resent frame after an outage is expected to be).
    pub max_age_ms: u64,
    /// Further in the future than this is implausible (a device clock gone wrong).
    pub max_ahead_ms: u64,
}

impl Default for SendTimeLimits {
    fn default() -> Self {
        Self {
            max_age_ms: 60_000,
            max_ahead_ms: 30_000,
        }
    }
}

/// How a frame's send time compares with its receipt. Only a flag: the frame is still
/// stored, but its time is not to be trusted for latency figures or ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTimeCheck {
    /// Within the limits.
    Plausible,
    /// Sent more than `max_age_ms` before it was received.
    Stale {
        /// How long before receipt it was sent, ms.
        age_ms: u64,
    },
    /// Sent more than `max_ahead_ms` after it was received, by the sender's clock.
    FarFuture {
        /// How far ahead of receipt its send time is, ms.
        ahead_ms: u64,
    },
}

impl FrameHeader {
    /// Compares the send time with `received_ms` (the receiver's clock, ms since the Unix
    /// epoch; passed in, never read here).
    pub fn check_send_time(&self, received_ms: u64, limits: SendTimeLimits) -> SendTimeCheck {
        if self.sent_ms > received_ms {
            let ahead_ms = self.sent_ms - received_ms;
            if ahead_ms > limits.max_ahead_ms {
                return SendTimeCheck::FarFuture { ahead_ms };
            }
        } else {
            let age_ms = received_ms - self.sent_ms;
            if age_ms > limits.max_age_ms {
                return SendTimeCheck::Stale { age_ms };
            }
        }
        SendTimeCheck::Plausible
    }
}

/// Lowercase hex for byte fields in human-readable formats.
fn hex_from_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    max_len: usize,
) -> Result<Vec<u8>, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(deserializer)?;
    if text.len() > 2 * max_len {
        return Err(D::Error::invalid_length(
            text.len() / 2,
            &"a byte field within the frame limit",
        ));
    }
    hex::decode(text).map_err(D::Error::custom)
}

/// The nonce: 12 raw bytes in binary formats, hex in JSON.
mod hex_nonce {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::NONCE_BYTES;

    pub(crate) fn serialize<S: Serializer>(
        nonce: &[u8; NONCE_BYTES],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(nonce))
        } else {
            nonce.serialize(serializer)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; NONCE_BYTES], D::Error> {
        if deserializer.is_human_readable() {
            let bytes = super::hex_from_text(deserializer, NONCE_BYTES)?;
            let len = bytes.len();
            bytes
                .try_into()
                .map_err(|_| D::Error::invalid_length(len, &"a 12-byte nonce"))
        } else {
            <[u8; NONCE_BYTES]>::deserialize(deserializer)
        }
    }
}

/// The sealed body: length-prefixed raw bytes in binary formats (the claimed length checked
/// against the frame limit before anything is allocated), hex in JSON.
mod hex_sealed {
    use serde::{Deserializer, Serializer};

    use crate::codec::MAX_FRAME_BYTES;

    pub(crate) fn serialize<S: Serializer>(
        sealed: &[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(sealed))
        } else {
            crate::bounded::serialize_vec::<u8, S, 0, MAX_FRAME_BYTES>(sealed, serializer)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            super::hex_from_text(deserializer, MAX_FRAME_BYTES)
        } else {
            crate::bounded::deserialize_vec::<u8, D, 0, MAX_FRAME_BYTES>(deserializer)
        }
    }
}
