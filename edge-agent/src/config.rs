//! The agent's TOML configuration file (`paceline-edge run --config agent.toml`).
//!
//! ```toml
//! batch_ms = 0                          # samples arriving within this window share a frame
//! credentials_file = "devices.toml"     # optional: [[device]] tables from pairing
//!
//! [gateway]
//! transport = "mqtt"                    # or "quic"
//! mqtt = "gateway.local:1883"
//! quic = "gateway.local:4433"
//! server_name = "localhost"             # the name on the gateway's certificate
//! cert_sha256 = "3f:a1:…"               # QUIC: the fingerprint the gateway printed, or
//! # ca_file = "/etc/paceline-edge/gateway.pem"
//! quic_datagrams = false                # QUIC: frames that fit as datagrams once acked
//!
//! [spool]
//! dir = "/var/lib/paceline-edge/spool"
//! max_bytes = 67108864                  # per device
//!
//! [cues]
//! console = true
//! speech = true                         # through espeak-ng, when installed
//! status_addr = "8088"                  # a status page for a screen, on 127.0.0.1
//!
//! [[athlete]]
//! name = "Ana"
//! tenant = "home"
//! device = "ana-strap"
//! key = "<64 hex digits from pairing>"  # or leave key/token out and use credentials_file
//! token = "<64 hex digits from pairing>"
//! source = { kind = "ble", heart_rate = "auto", power = "AA:BB:CC:DD:EE:FF" }
//! # source = { kind = "simulator", scenario = "intervals", ftp_w = 250, speed = 1.0 }
//! # source = { kind = "file", path = "ride.fit", speed = 10.0 }
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::agent::{AgentConfig, AthleteConfig, GatewayConfig, QuicTrust, Source, Transport};
use crate::ble::BleSensors;
use crate::credentials::{CredentialsError, CredentialsText, read_credentials_file};
use crate::simulator::{Scenario, SimulatorConfig};
use crate::uplink::quic::parse_fingerprint;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of this shape.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: String,
        /// Why.
        source: toml::de::Error,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// Credentials do not parse.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Batch window, ms.
    #[serde(default)]
    pub batch_ms: u64,
    /// `[[device]]` credentials to look athletes' keys and tokens up in.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Where the gateway is.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// The spool.
    #[serde(default)]
    pub spool: SpoolSection,
    /// Cue output.
    #[serde(default)]
    pub cues: CueSettings,
    /// The athletes.
    #[serde(default, rename = "athlete")]
    pub athletes: Vec<AthleteSection>,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// `mqtt` or `quic`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// MQTT broker `host:port`.
    #[serde(default = "default_mqtt")]
    pub mqtt: String,
    /// QUIC ingress `host:port`.
    #[serde(default = "default_quic")]
    pub quic: String,
    /// The name the QUIC certificate is checked against.
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// The QUIC certificate's SHA-256 (64 hex digits, colons allowed).
    #[serde(default, alias = "quic_cert_sha256")]
    pub cert_sha256: Option<String>,
    /// A PEM file with the gateway's certificate or CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Over QUIC, frames that fit go as datagrams once the connection has seen an ack.
    #[serde(default)]
    pub quic_datagrams: bool,
}

fn default_transport() -> String {
    "mqtt".to_owned()
}
fn default_mqtt() -> String {
    "127.0.0.1:1883".to_owned()
}
fn default_quic() -> String {
    "127.0.0.1:4433".to_owned()
}
fn default_server_name() -> String {
    "localhost".to_owned()
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            transport: default_transport(),
            mqtt: default_mqtt(),
            quic: default_quic(),
            server_name: default_server_name(),
            cert_sha256: None,
            ca_file: None,
            quic_datagrams: false,
        }
    }
}

/// `[spool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// The folder.
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Bound per device, bytes.
    #[serde(default = "default_spool_max")]
    pub max_bytes: u64,
    /// Most time between fsyncs, ms.
    #[serde(default = "default_fsync")]
    pub fsync_interval_ms: u64,
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("paceline-spool")
}
fn default_spool_max() -> u64 {
    64 * 1024 * 1024
}
fn default_fsync() -> u64 {
    1_000
}

impl Default for SpoolSection {
    fn default() -> Self {
        Self {
            dir: default_spool_dir(),
            max_bytes: default_spool_max(),
            fsync_interval_ms: default_fsync(),
        }
    }
}

/// `[cues]`: where cues go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CueSettings {
    /// Print cues on the console.
    #[serde(default = "yes")]
    pub console: bool,
    /// Speak cues through `espeak-ng` when it is installed.
    #[serde(default = "yes")]
    pub speech: bool,
    /// Serve a status page on this address: a port alone (`"8088"`) is on
    /// [`STATUS_PAGE_HOST`], this machine only; `HOST:PORT` binds where it says.
    #[serde(default)]
    pub status_addr: Option<String>,
}

/// Where the status page listens when only a port is given: loopback, since the page has
/// no authentication.
pub const STATUS_PAGE_HOST: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The status page's address from `status_addr`: a port alone (`8088` or `:8088`) is on
/// [`STATUS_PAGE_HOST`]; `HOST:PORT` is resolved as written.
pub fn status_page_addr(text: &str) -> Result<SocketAddr, ConfigError> {
    match text.strip_prefix(':').unwrap_or(text).parse::<u16>() {
        Ok(port) => Ok(SocketAddr::new(STATUS_PAGE_HOST, port)),
        Err(_) => resolve(text),
    }
}

fn yes() -> bool {
    true
}

impl Default for CueSettings {
    fn default() -> Self {
        Self {
            console: true,
            speech: true,
            status_addr: None,
        }
    }
}

/// `[[athlete]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthleteSection {
    /// A name for the console and the status page (default: the device id).
    #[serde(default)]
    pub name: Option<String>,
    /// Tenant id (may come from `credentials_file`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Device id.
    pub device: String,
    /// Device key, 64 hex digits (or from `credentials_file`).
    #[serde(default)]
    pub key: Option<String>,
    /// Device token, 64 hex digits (or from `credentials_file`).
    #[serde(default)]
    pub token: Option<String>,
    /// Where its samples come from.
    pub source: SourceSection,
}

/// An athlete's `source = { kind = … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSection {
    /// A simulated athlete.
    Simulator {
        /// `steady`, `intervals`, `overheat`, `dropout`.
        #[serde(default = "default_scenario")]
        scenario: String,
        /// Noise seed.
        #[serde(default = "default_seed")]
        seed: u64,
        /// FTP, W.
        #[serde(default = "default_ftp")]
        ftp_w: u16,
        /// Resting HR, bpm.
        #[serde(default = "default_hr_rest")]
        hr_rest_bpm: u16,
        /// Max HR, bpm.
        #[serde(default = "default_hr_max")]
        hr_max_bpm: u16,
        /// Virtual time speed-up.
        #[serde(default = "default_speed")]
        speed: f64,
        /// Ride length, s.
        #[serde(default)]
        duration_s: Option<u32>,
        /// A plan to ride (Paceline JSON).
        #[serde(default)]
        plan: Option<PathBuf>,
        /// The athlete's profile (JSON).
        #[serde(default)]
        profile: Option<PathBuf>,
    },
    /// A recorded FIT, TCX, GPX or CSV file.
    File {
        /// The file.
        path: PathBuf,
        /// Replay speed-up.
        #[serde(default = "default_speed")]
        speed: f64,
    },
    /// BLE sensors, each by name, address or `"auto"`.
    Ble {
        /// Heart-rate strap.
        #[serde(default)]
        heart_rate: Option<String>,
        /// Power meter.
        #[serde(default)]
        power: Option<String>,
        /// Footpod.
        #[serde(default)]
        rsc: Option<String>,
        /// Speed/cadence sensor.
        #[serde(default)]
        csc: Option<String>,
        /// Smart trainer or treadmill.
        #[serde(default)]
        ftms: Option<String>,
        /// Scan time before picking, s.
        #[serde(default = "default_scan_s")]
        scan_s: u64,
    },
}

fn default_scenario() -> String {
    "steady".to_owned()
}
fn default_seed() -> u64 {
    1
}
fn default_ftp() -> u16 {
    250
}
fn default_hr_rest() -> u16 {
    55
}
fn default_hr_max() -> u16 {
    185
}
fn default_speed() -> f64 {
    1.0
}
fn default_scan_s() -> u64 {
    5
}

/// Resolves `host:port` to one address.
pub fn resolve(text: &str) -> Result<SocketAddr, ConfigError> {
    text.to_socket_addrs()
        .map_err(|e| ConfigError::Invalid(format!("address {text:?}: {e}")))?
        .next()
        .ok_or_else(|| ConfigError::Invalid(format!("address {text:?} resolves to nothing")))
}

/// Splits `host:port`.
pub fn split_host_port(text: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| ConfigError::Invalid(format!("{text:?} is not host:port")))?;
    let port = port
        .parse()
        .map_err(|_| ConfigError::Invalid(format!("{text:?}: bad port")))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    paceline_schemas::codec::from_json(&bytes)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))
}

impl GatewaySection {
    /// The gateway settings.
    pub fn to_gateway(&self) -> Result<GatewayConfig, ConfigError> {
        let transport = match self.transport.as_str() {
            "mqtt" => Transport::Mqtt,
            "quic" => Transport::Quic,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "transport {other:?}: use \"mqtt\" or \"quic\""
                )));
            }
        };
        let (mqtt_host, mqtt_port) = split_host_port(&self.mqtt)?;
        let quic_trust = match (&self.cert_sha256, &self.ca_file) {
            (Some(pin), _) => Some(QuicTrust::Fingerprint(
                parse_fingerprint(pin).map_err(|e| ConfigError::Invalid(e.to_string()))?,
            )),
            (None, Some(path)) => Some(QuicTrust::CaFile(path.clone())),
            (None, None) => None,
        };
        if transport == Transport::Quic && quic_trust.is_none() {
            return Err(ConfigError::Invalid(
                "QUIC needs cert_sha256 (the fingerprint the gateway printed) or ca_file".into(),
            ));
        }
        let quic_addr = if transport == Transport::Quic {
            resolve(&self.quic)?
        } else {
            SocketAddr::from(([127, 0, 0, 1], 4433))
        };
        Ok(GatewayConfig {
            transport,
            mqtt_host,
            mqtt_port,
            quic_addr,
            quic_server_name: self.server_name.clone(),
            quic_trust,
            quic_datagrams: self.quic_datagrams,
        })
    }
}

impl SourceSection {
    /// The source.
    pub fn to_source(&self) -> Result<Source, ConfigError> {
        Ok(match self {
            SourceSection::Simulator {
                scenario,
                seed,
                ftp_w,
                hr_rest_bpm,
                hr_max_bpm,
                speed,
                duration_s,
                plan,
                profile,
            } => Source::Simulator {
                config: SimulatorConfig {
                    seed: *seed,
                    ftp_w: *ftp_w,
                    hr_rest_bpm: *hr_rest_bpm,
                    hr_max_bpm: *hr_max_bpm,
                    scenario: scenario.parse::<Scenario>().map_err(ConfigError::Invalid)?,
                    plan: plan.as_deref().map(read_json).transpose()?,
                    profile: profile.as_deref().map(read_json).transpose()?,
                    duration_s: *duration_s,
                    ..SimulatorConfig::default()
                },
                speed: *speed,
            },
            SourceSection::File { path, speed } => Source::File {
                path: path.clone(),
                speed: *speed,
            },
            SourceSection::Ble {
                heart_rate,
                power,
                rsc,
                csc,
                ftms,
                scan_s,
            } => Source::Ble(BleSensors {
                heart_rate: heart_rate.clone(),
                power: power.clone(),
                rsc: rsc.clone(),
                csc: csc.clone(),
                ftms: ftms.clone(),
                scan_s: *scan_s,
            }),
        })
    }
}

impl ConfigFile {
    /// Reads and parses a configuration file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.display().to_string(),
            source,
        })?;
        if file
            .athletes
            .iter()
            .any(|a| a.key.is_some() || a.token.is_some())
        {
            crate::credentials::warn_if_loose(path);
        }
        Ok(file)
    }

    /// The agent configuration it describes.
    pub fn to_agent_config(&self) -> Result<AgentConfig, ConfigError> {
        let known = match &self.credentials_file {
            Some(path) => read_credentials_file(path)?,
            None => Vec::new(),
        };
        let mut athletes = Vec::new();
        for athlete in &self.athletes {
            let from_file = known.iter().find(|c| c.device.as_str() == athlete.device);
            let credentials = match (&athlete.key, &athlete.token, from_file) {
                (Some(key), Some(token), _) => CredentialsText {
                    tenant: athlete.tenant.clone().ok_or_else(|| {
                        ConfigError::Invalid(format!("athlete {}: no tenant", athlete.device))
                    })?,
                    device: athlete.device.clone(),
                    key: key.clone(),
                    token: token.clone(),
                }
                .parse()?,
                (_, _, Some(found)) => found.clone(),
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "athlete {}: give key and token, or a credentials_file that has the device",
                        athlete.device
                    )));
                }
            };
            athletes.push(AthleteConfig {
                name: athlete
                    .name
                    .clone()
                    .unwrap_or_else(|| athlete.device.clone()),
                credentials,
                source: athlete.source.to_source()?,
            });
        }
        if athletes.is_empty() {
            return Err(ConfigError::Invalid(
                "no [[athlete]]: the agent has nobody to serve".into(),
            ));
        }
        let mut config =
            AgentConfig::new(self.gateway.to_gateway()?, self.spool.dir.clone(), athletes);
        config.spool_max_bytes = self.spool.max_bytes;
        config.fsync_interval_ms = self.spool.fsync_interval_ms;
        config.batch_ms = self.batch_ms;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_page_listens_on_loopback_unless_told_a_host() {
        assert_eq!(STATUS_PAGE_HOST.to_string(), "127.0.0.1");
        for port_only in ["8088", ":8088"] {
            let addr = status_page_addr(port_only).unwrap();
            assert!(addr.ip().is_loopback(), "{port_only} → {addr}");
            assert_eq!(addr.port(), 8088);
        }
        assert!(
            status_page_addr("localhost:8088")
                .unwrap()
                .ip()
                .is_loopback()
        );
        let everywhere = status_page_addr("0.0.0.0:8088").unwrap();
        assert!(everywhere.ip().is_unspecified(), "an explicit host is kept");
        assert!(status_page_addr("no port").is_err());
    }

    #[test]
    fn the_shipped_agent_configuration_keeps_the_status_page_on_loopback() {
        let shipped: ConfigFile =
            toml::from_str(include_str!("../../deploy/edge-agent/agent.toml")).unwrap();
        let addr = shipped
            .cues
            .status_addr
            .expect("the example serves a status page");
        assert!(
            status_page_addr(&addr).unwrap().ip().is_loopback(),
            "{addr}"
        );
    }
}
