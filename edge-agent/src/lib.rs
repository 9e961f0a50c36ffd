//! The Paceline edge agent: sensors in, sealed frames out, nothing lost when the network
//! drops, cues spoken aloud.
//!
//! - [`gatt`]: pure decoders from Bluetooth SIG characteristic bytes to
//!   [`paceline_schemas::SampleValue`]; [`revolutions`]: cadence and speed from revolution
//!   counters (16/32-bit rollover).
//! - [`simulator`]: deterministic synthetic athletes on virtual time.
//! - [`spool`]: the crash-safe, bounded, append-only store of frames until acked.
//! - [`agent`]: [`agent::Agent::start`] runs athletes' sources, spools and uplinks in the
//!   current tokio runtime and reports [`agent::AgentEvent`]s; [`uplink`] holds MQTT and
//!   QUIC; [`source`] and [`ble`] the sample sources; [`credentials`] and [`session`] the
//!   device's identity and ride ids.
//! - [`config`]: the TOML file; [`cue_output`]: console and `espeak-ng`;
//!   [`status_page`]: a local page for a screen.
//!
//! **This crate defines no bytes of its own on the wire**: frames, acks, cues and the QUIC
//! hello are `paceline-schemas` types. Its decoders never panic on sensor bytes. **A frame
//! stays in the spool until an `Ack` covers it.**

pub mod agent;
pub mod ble;
pub mod config;
pub mod credentials;
pub mod cue_output;
pub mod gatt;
pub mod revolutions;
pub mod session;
pub mod simulator;
pub mod source;
pub mod spool;
pub mod status_page;
pub mod uplink;
