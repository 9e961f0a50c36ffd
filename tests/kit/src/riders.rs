//! Simulated riders: the edge agent (`paceline-edge`, in the test process, built without
//! Bluetooth) riding simulated athletes (`Source::Simulator`, real time) against a
//! gateway, as a phone or a gym's hub would.
//!
//! ```text
//! let ana = gateway.pair("gym-1", "ana");
//! let mut agent = riders::start_agent(
//!     gateway.mqtt_uplink(),
//!     &gateway.data_dir.join("spool"),
//!     vec![riders::simulated("ana", ana, SimulatorConfig::default())],
//!     |_| {},
//! )
//! .await;
//! agent.wait_finished().await;
//! ```

use std::path::Path;

use paceline_edge::agent::{Agent, AgentConfig, AgentHandle, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::SimulatorConfig;

/// A simulated athlete named `name` riding on the paired device `credentials`, in real
/// time.
pub fn simulated(
    name: &str,
    credentials: DeviceCredentials,
    config: SimulatorConfig,
) -> AthleteConfig {
    AthleteConfig {
        name: name.to_owned(),
        credentials,
        source: Source::Simulator { config, speed: 1.0 },
    }
}

/// Starts an agent (a hub) riding `athletes` over `uplink` (e.g.
/// [`Gateway::mqtt_uplink`](crate::Gateway::mqtt_uplink)), spooling under `spool_dir`;
/// `tune` adjusts its settings (batching, resend and reconnect times) first.
pub async fn start_agent(
    uplink: GatewayConfig,
    spool_dir: &Path,
    athletes: Vec<AthleteConfig>,
    tune: impl FnOnce(&mut AgentConfig),
) -> AgentHandle {
    let mut config = AgentConfig::new(uplink, spool_dir.to_owned(), athletes);
    tune(&mut config);
    Agent::start(config).await.expect("start the edge agent")
}
