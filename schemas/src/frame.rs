//! Frames: the unit that crosses the network between an edge agent and the gateway.
//!
//! A frame is a clear header, which routes it and which the receiver checks, and a body
//! sealed with the sending device's key (see [`crate::seal`]). The same frames travel over
//! MQTT (one frame per publish) and QUIC (length-prefixed, see [`crate::stream`]).

use serde::{Deserialize, Serialize};

use crate::cue::Cue;
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
    /// The nonce the body was sealed with; never reused under one key.
    #[serde(with = "hex_in_text")]
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext of the body followed by its 16-byte tag. Hex in JSON.
    #[serde(with = "hex_in_text")]
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
}

impl Payload {
    /// The frame kind that carries this payload.
    pub fn kind(&self) -> FrameKind {
        match self {
            Payload::Samples(_) => FrameKind::Samples,
            Payload::Ack(_) => FrameKind::Ack,
            Payload::Cue(_) => FrameKind::Cue,
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

/// Bytes as raw bytes in binary formats and as lowercase hex in JSON.
mod hex_in_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<B, S>(bytes: &B, serializer: S) -> Result<S::Ok, S::Error>
    where
        B: AsRef<[u8]> + Serialize,
        S: Serializer,
    {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes.as_ref()))
        } else {
            bytes.serialize(serializer)
        }
    }

    pub(crate) fn deserialize<'de, B, D>(deserializer: D) -> Result<B, D::Error>
    where
        B: TryFrom<Vec<u8>> + Deserialize<'de>,
        D: Deserializer<'de>,
    {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let bytes = hex::decode(text).map_err(D::Error::custom)?;
            let len = bytes.len();
            B::try_from(bytes).map_err(|_| D::Error::invalid_length(len, &"the field's length"))
        } else {
            B::deserialize(deserializer)
        }
    }
}
