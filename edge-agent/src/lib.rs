//! The Paceline edge agent: sensors in, sealed frames out, nothing lost when the network
//! drops, cues spoken aloud.
//!
//! - [`gatt`]: pure decoders from Bluetooth SIG characteristic bytes to
//!   [`paceline_schemas::SampleValue`]; [`revolutions`]: cadence and speed from revolution
//!   counters (16/32-bit rollover).
//! - [`simulator`]: deterministic synthetic athletes on virtual time.
//! - [`spool`]: the crash-safe, bounded, append-only store of frames until acked.
//! - [`sensors`]: the athlete's sensors (connected, battery) folded into the device status
//!   the gateway is sent whenever it changes.
//! - [`agent`]: [`agent::Agent::start`] runs athletes' sources, spools and uplinks in the
//!   current tokio runtime and reports [`agent::AgentEvent`]s; [`uplink`] holds MQTT and
//!   QUIC; [`source`] and [`ble`] the sample sources; [`credentials`] and [`session`] the
//!   device's identity and ride ids.
//! - [`cue_guard`]: which downlink cues may be spoken (the ride under way, fresh seqs only).
//! - [`config`]: the TOML file; [`cue_output`]: console and `espeak-ng`;
//!   [`status_page`]: a local page for a screen.
//!
//! # Embedding (the gateway's demo, end-to-end tests, benches)
//!
//! The stable entry points:
//!
//! - [`agent::Agent::start`]`(`[`agent::AgentConfig`]`) -> Result<`[`agent::AgentHandle`]`, _>`
//!   on the caller's tokio runtime; [`agent::AgentConfig::new`]`(gateway, spool_dir,
//!   athletes)` fills the defaults; [`agent::GatewayConfig::mqtt`]`(addr)` /
//!   [`agent::GatewayConfig::quic`]`(addr, trust)`; each [`agent::AthleteConfig`] has
//!   [`credentials::DeviceCredentials`] and a [`agent::Source`] (`Simulator { config,
//!   speed }`, `File { path, speed }`, `Ble(..)`, `Push`).
//! - [`agent::AgentHandle::events_from_start`] (nothing missed) or
//!   [`agent::AgentHandle::subscribe`]: [`agent::AgentEvent`]s — `Connected`,
//!   `Disconnected`, `FrameSpooled { device, session, seq, sent_at, sent_ms, .. }`,
//!   `FrameSent { .., at }`, `Acked { device, session, committed_seq }`,
//!   `CueReceived { device, session, cue, received_at, frame_sent_ms }`, `SpoolFull`,
//!   `SessionEnded`, `UplinkStopped`, …
//! - [`agent::AgentHandle::sample_sender`] for `Source::Push` devices,
//!   [`agent::AgentHandle::sessions`], [`agent::AgentHandle::counters`].
//! - [`agent::AgentHandle::shutdown`]`().await` (End frames, brief wait for acks, spools
//!   synced) or [`agent::AgentHandle::wait_finished`]`().await` for finite rides.
//! - [`simulator::SimulatedAthlete::new`]`(`[`simulator::SimulatorConfig`]`)` and
//!   [`simulator::SimulatedAthlete::samples_at`]`(t_ms)` on virtual time;
//!   [`gatt::decode`]`(char_uuid, payload)`.
//!
//! **This crate defines no bytes of its own on the wire**: frames, acks, cues and the QUIC
//! hello are `paceline-schemas` types. Its decoders never panic on sensor bytes. **A frame
//! stays in the spool until an `Ack` covers it.**

pub mod agent;
pub mod ble;
pub mod config;
pub mod credentials;
pub mod cue_guard;
pub mod cue_output;
pub mod gatt;
pub mod revolutions;
pub mod sensors;
pub mod session;
pub mod simulator;
pub mod source;
pub mod spool;
pub mod status_page;
pub mod uplink;
