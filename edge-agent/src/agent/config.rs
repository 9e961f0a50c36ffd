//! The agent's configuration as code: the gateway and its transport, the athletes and
//! their sources, spool and timing settings. The TOML file that fills it is
//! [`crate::config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::credentials::DeviceCredentials;
use crate::simulator::SimulatorConfig;
use crate::source::BleSensors;

/// How frames reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// MQTT 3.1.1, QoS 1 (rumqttc), one connection per device.
    #[default]
    Mqtt,
    /// QUIC (quinn, TLS 1.3, ALPN `paceline/1`), one connection per device, one stream per
    /// session.
    Quic,
}

/// How the agent trusts the gateway's QUIC certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicTrust {
    /// The SHA-256 of the certificate's DER, as the gateway prints it at first start.
    Fingerprint([u8; 32]),
    /// PEM certificates (the gateway's own, or its CA), read from a file.
    CaFile(PathBuf),
    /// PEM certificates given in memory.
    CaPem(Vec<u8>),
}

/// Where the gateway is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// MQTT or QUIC.
    pub transport: Transport,
    /// The MQTT broker, host and port.
    pub mqtt_host: String,
    /// The MQTT broker's port.
    pub mqtt_port: u16,
    /// The QUIC ingress.
    pub quic_addr: SocketAddr,
    /// The name the QUIC certificate is checked against.
    pub quic_server_name: String,
    /// How the QUIC certificate is trusted (required for QUIC).
    pub quic_trust: Option<QuicTrust>,
    /// Over QUIC, send each frame that fits as a datagram once the connection has seen an
    /// ack (off by default: the stream is the wire contract). A lost datagram holds the
    /// acks below it; after two repeated acks the missing frames go again on the stream
    /// (see `uplink::quic`).
    pub quic_datagrams: bool,
}

impl GatewayConfig {
    /// MQTT to `addr`.
    pub fn mqtt(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Mqtt,
            mqtt_host: addr.ip().to_string(),
            mqtt_port: addr.port(),
            quic_addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
            quic_server_name: "localhost".to_owned(),
            quic_trust: None,
            quic_datagrams: false,
        }
    }

    /// QUIC to `addr`, trusting the certificate by `trust`.
    pub fn quic(addr: SocketAddr, trust: QuicTrust) -> Self {
        Self {
            transport: Transport::Quic,
            mqtt_host: "127.0.0.1".to_owned(),
            mqtt_port: 1883,
            quic_addr: addr,
            quic_server_name: "localhost".to_owned(),
            quic_trust: Some(trust),
            quic_datagrams: false,
        }
    }
}

/// Where an athlete's samples come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A simulated athlete, its virtual time running `speed` times real time.
    Simulator {
        /// The athlete.
        config: SimulatorConfig,
        /// 1.0 = real time.
        speed: f64,
    },
    /// A recorded FIT activity or CSV (`time_s,heart_rate,power,cadence,speed`), replayed
    /// `speed` times faster than recorded.
    File {
        /// The file.
        path: PathBuf,
        /// 1.0 = as recorded.
        speed: f64,
    },
    /// Bluetooth LE sensors, through [`AgentConfig::ble_stack`].
    Ble(BleSensors),
    /// Samples pushed through [`AgentHandle::sample_sender`] (tests, embedding).
    ///
    /// [`AgentHandle::sample_sender`]: super::AgentHandle::sample_sender
    Push,
}

/// One athlete (one device) the agent serves.
#[derive(Debug, Clone)]
pub struct AthleteConfig {
    /// A name for logs and the status page.
    pub name: String,
    /// The device's credentials from pairing.
    pub credentials: DeviceCredentials,
    /// Where its samples come from.
    pub source: Source,
}

/// Everything the agent needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the gateway is.
    pub gateway: GatewayConfig,
    /// The athletes (gym-hub mode: many).
    pub athletes: Vec<AthleteConfig>,
    /// The spool folder; each device gets `<spool_dir>/<tenant>/<device>/`.
    pub spool_dir: PathBuf,
    /// Bound of each device's spool, bytes.
    pub spool_max_bytes: u64,
    /// Most time between spool fsyncs, ms (done by a background thread).
    pub fsync_interval_ms: u64,
    /// Samples arriving within this window share a frame, ms (0: only those available at
    /// the same moment).
    pub batch_ms: u64,
    /// Resend every unacknowledged frame when acks make no progress for this long, ms.
    pub resend_after_ms: u64,
    /// At shutdown, wait this long for the last acks, ms.
    pub shutdown_wait_ms: u64,
    /// Reconnect backoff: first delay, ms (doubles up to `reconnect_max_ms`, with jitter).
    pub reconnect_min_ms: u64,
    /// Reconnect backoff: longest delay, ms.
    pub reconnect_max_ms: u64,
    /// Capacity of the event channel ([`AgentHandle::subscribe`]).
    ///
    /// [`AgentHandle::subscribe`]: super::AgentHandle::subscribe
    pub event_capacity: usize,
    /// The Bluetooth stack for [`Source::Ble`] athletes; `None` (the default) refuses them
    /// with [`crate::ble::BleError::Unavailable`].
    pub ble_stack: Option<crate::ble::BleStack>,
}

impl AgentConfig {
    /// A configuration with the defaults: 64 MiB spool per device, fsync every second,
    /// `batch_ms` 0, resend after 5 s without ack progress, 3 s shutdown wait.
    pub fn new(gateway: GatewayConfig, spool_dir: PathBuf, athletes: Vec<AthleteConfig>) -> Self {
        Self {
            gateway,
            athletes,
            spool_dir,
            spool_max_bytes: 64 * 1024 * 1024,
            fsync_interval_ms: 1_000,
            batch_ms: 0,
            resend_after_ms: 5_000,
            shutdown_wait_ms: 3_000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
            event_capacity: 65_536,
            ble_stack: None,
        }
    }
}
