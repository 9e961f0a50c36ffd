//! The agent: athletes' sources in, sealed frames through the spool and the uplink out,
//! acks and cues back — one tokio task set per device, usable in-process.
//!
//! ```no_run
//! # async fn demo(credentials: paceline_edge::credentials::DeviceCredentials) -> anyhow::Result<()> {
//! use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
//! use paceline_edge::simulator::{Scenario, SimulatorConfig};
//!
//! let config = AgentConfig::new(
//!     GatewayConfig::mqtt("127.0.0.1:1883".parse()?),
//!     std::env::temp_dir().join("paceline-spool"),
//!     vec![AthleteConfig {
//!         name: "ana".into(),
//!         credentials,
//!         source: Source::Simulator { config: SimulatorConfig { scenario: Scenario::Overheat, ..SimulatorConfig::default() }, speed: 1.0 },
//!     }],
//! );
//! let agent = Agent::start(config).await?;
//! let mut events = agent.subscribe();
//! while let Ok(event) = events.recv().await {
//!     if let AgentEvent::CueReceived { cue, .. } = event {
//!         println!("{}", cue.text);
//!     }
//! }
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Per device: a **recorder** task takes samples from the source, batches those available
//! at the same moment (or within `batch_ms`), assigns the next seq of the session, seals,
//! and appends to the [`Spool`] — a frame gets its seq only when the spool holds it, so
//! seqs have no gaps. The source's sensor reports (connects, drops, battery levels) become
//! a device status frame whenever the [`SensorTable`] changes, spooled the same way. An **uplink** task (MQTT or QUIC) sends the spool's frames in order
//! from a cursor; on every (re)connect the cursor goes back to the oldest unacknowledged
//! frame, and also when acks make no progress for `resend_after_ms`. Acks release frames
//! from the spool. At the end of a ride (source finished, or [`AgentHandle::shutdown`]) the
//! recorder spools a `Command::End` frame, and the uplink keeps going until the spool is
//! empty and the coach's "Session over" cue is heard (it comes after the `End` frame's
//! ack, on another path; it is waited for at most 2 s), or
//! `shutdown_wait_ms` has passed.
//!
//! The parts: `config` (what [`Agent::start`] is given), `events` (what it reports, and the
//! counters per device), `handle` (starting the tasks, and the [`AgentHandle`] that ends
//! them), `device` (what a device's tasks share), `recorder` (samples batched, sealed and
//! spooled), `downlink` (acks and cues from the gateway). The transports are
//! [`crate::uplink`].
//!
//! [`Spool`]: crate::spool::Spool
//! [`SensorTable`]: crate::sensors::SensorTable

mod config;
mod device;
mod downlink;
mod events;
mod handle;
mod recorder;
pub(crate) use recorder::sleep_until_opt;

pub use config::{AgentConfig, AthleteConfig, GatewayConfig, QuicTrust, Source, Transport};
pub(crate) use device::Device;
pub(crate) use downlink::Heard;
pub use events::{AgentEvent, DeviceCounters};
pub use handle::{Agent, AgentError, AgentHandle};

/// The phase of the agent, watched by every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Recorders: stop taking samples, spool the `End` frames. Uplinks go on as before.
    Ending,
    /// Every recorder is done: uplinks send what is spooled until `deadline`, then stop.
    Draining {
        deadline: tokio::time::Instant,
    },
}
