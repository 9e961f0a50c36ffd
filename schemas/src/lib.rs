//! Paceline's wire types and their encodings: every byte that crosses a process boundary.
//!
//! - [`frame`]: [`Frame`] and its header, [`Payload`] ([`SampleBatch`], [`Command`] and
//!   [`DeviceStatus`] up; [`Ack`] and [`Cue`] down).
//! - [`seal`]: ChaCha20-Poly1305 sealing of frame bodies with the device key.
//! - [`codec`]: the binary form (bincode 1.3.3, behind this module only) and JSON, with the
//!   bounds every decoder enforces ([`MAX_FRAME_BYTES`], [`MAX_SAMPLES_PER_BATCH`],
//!   [`MAX_RR_PER_SAMPLE`]).
//! - [`topic`] and [`stream`]: MQTT topic names and length-prefixed frames for QUIC;
//!   [`hello`]: the device token and the [`DeviceHello`] that opens a QUIC stream.
//! - [`sample`], [`cue`], [`command`], [`device_status`], [`plan`], [`profile`],
//!   [`summary`]: the types, with the JSON forms of SPEC §3–§4.
//!
//! **This crate knows nothing of sockets, files, clocks or coaching.** It defines bytes and
//! checks them; every decoder returns a value or a typed error for any input and never
//! panics. Other crates do not derive `Serialize` on their own types for the wire: they
//! convert to these.
//!
//! ```
//! use paceline_schemas::{codec, seal, DeviceKey, Frame, FrameHeader, FrameKind, Payload};
//! use paceline_schemas::{Ack, DeviceId, SessionId, TenantId};
//!
//! let key = DeviceKey::generate();
//! let header = FrameHeader {
//!     kind: FrameKind::Ack,
//!     tenant: TenantId::new("gym-1")?,
//!     device: DeviceId::new("strap-7")?,
//!     session: SessionId::new("2026-11-22T0700")?,
//!     seq: 1,
//!     sent_ms: 1_795_000_000_000,
//! };
//! let frame = seal::seal(&key, header, &Payload::Ack(Ack { committed_seq: 41 }))?;
//! let bytes = codec::encode_frame(&frame)?;
//! let received: Frame = codec::decode_frame(&bytes)?;
//! assert_eq!(seal::open(&key, &received)?, Payload::Ack(Ack { committed_seq: 41 }));
//! assert!(seal::open(&DeviceKey::generate(), &received).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bounded;
mod tagged;

pub mod codec;
pub mod command;
pub mod cue;
pub mod device_status;
pub mod engine;
pub mod frame;
pub mod hello;
pub mod ids;
pub mod plan;
pub mod profile;
pub mod sample;
pub mod seal;
pub mod stream;
pub mod summary;
pub mod topic;

pub use codec::{DecodeError, EncodeError, JsonError, MAX_FRAME_BYTES, WIRE_VERSION};
pub use command::Command;
pub use cue::{CompressStrategy, Cue, CueCode, Modification, Severity};
pub use device_status::{DeviceStatus, MAX_SENSORS_PER_STATUS, SensorKind, SensorReport};
pub use frame::{Ack, Frame, FrameHeader, FrameKind, Payload};
pub use hello::{DeviceHello, DeviceToken};
pub use ids::{DeviceId, IdError, SessionId, TenantId};
pub use plan::{PlanStep, Step, StepIntent, Target, WorkoutPlan};
pub use profile::AthleteProfile;
pub use sample::{
    HeartRate, MAX_RR_PER_SAMPLE, MAX_SAMPLES_PER_BATCH, Sample, SampleBatch, SampleValue,
};
pub use seal::{DeviceKey, FrameSealer, OpenError, SealError};
pub use summary::SessionSummary;
pub use topic::{Direction, Topic, TopicError};
