//! The Paceline edge agent: sensors in, sealed frames out, nothing lost when the network
//! drops, cues spoken aloud.
//!
//! - [`gatt`]: pure decoders from Bluetooth SIG characteristic bytes to
//!   [`paceline_schemas::SampleValue`]; [`revolutions`]: cadence and speed from revolution
//!   counters (16/32-bit rollover).
//!
//! **This crate defines no bytes of its own on the wire**: frames, acks, cues and the QUIC
//! hello are `paceline-schemas` types. Its decoders never panic on sensor bytes.

pub mod gatt;
pub mod revolutions;
pub mod simulator;
