//! The embedded MQTT broker (rumqttd), configured in code.
//!
//! Devices connect with client id = username = their device id and their token as the
//! password; rumqttd's auth handler checks both against the database before CONNACK. The
//! gateway itself is a local link of the broker subscribed to every uplink topic
//! (`pl/v1/+/+/up`); it publishes acks and cues on the devices' `down` topics through the
//! same link. rumqttd itself has no topic ACLs: the front door below enforces them
//! ([`crate::mqtt_acl`]: a device publishes only on its own uplink topic, without retain,
//! and subscribes only to its own downlink topic), and every frame is still checked
//! against the key of the device it names.
//!
//! Limits are set here on purpose: packets up to one frame ([`MAX_FRAME_BYTES`]) plus
//! MQTT overhead ([`MAX_PACKET_BYTES`]), 100 in-flight publishes per connection, 5 s to
//! send CONNECT, no filters made on the fly by a device's publish (`dynamic_filters`
//! off: an uplink matches the gateway's own subscription), and the router's connection
//! cap from the settings. The router hands a link at most 2,000
//! packets before it must say it is ready again: with 200 the gateway's one link, which
//! carries every uplink frame, was parked and woken dozens of times a second at 1,000
//! athletes (5,000 frames/s), and frames waited in the router (e2e bench, 1,000 athletes:
//! p50 76 ms → 23 ms, p99 409 ms → 174 ms with the batched downlink).
//!
//! **The front door.** rumqttd never sets `TCP_NODELAY` on the sockets it accepts, so a
//! cue published right after a PUBACK waits for the device's delayed ACK (40 ms on Linux)
//! under Nagle's algorithm. Devices therefore connect to [`serve_front`], which accepts on
//! the public MQTT address with `TCP_NODELAY`, and relays each connection over loopback
//! to rumqttd on a private port, acknowledging rumqttd's bytes at once (`TCP_QUICKACK`
//! after every read) so that its Nagle never holds a packet back.
//!
//! The front door also reads what devices send, packet by packet (rumqttc's MQTT 3.1.1
//! codec): the CONNECT whole before anything reaches rumqttd (its client id registers the
//! connection for revocation first), then each packet held until it is whole and allowed
//! by the topic ACLs. A denied packet never reaches rumqttd: the connection is closed both
//! ways and counted (`paceline_mqtt_acl_denied_total{reason}`). What rumqttd sends back is
//! relayed as bytes, unparsed. The cost per packet: its fixed header read twice, its topic
//! copied into a `String` and compared, and a split of the read buffer (no payload copy).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use paceline_schemas::MAX_FRAME_BYTES;
use paceline_schemas::topic::all_uplinks_filter;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Config, ConnectionSettings, Notification, RouterConfig, ServerSettings};

use crate::live::{DeviceStanding, Live, Origin};
use crate::metrics::{AclDenial, RejectReason};
use crate::mqtt_acl::{DeviceAcl, PacketGate};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not allowed.
    #[error("MQTT listen address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// rumqttd refused the local link.
    #[error("the broker refused the gateway's link: {0}")]
    Link(String),
    /// A thread could not be started.
    #[error("starting the broker thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the broker on the private loopback address `addr` (see [`serve_front`]),
/// checking CONNECTs with `live`. Returns the gateway's link.
pub fn start(
    addr: SocketAddr,
    max_connections: usize,
    live_for_auth: Arc<std::sync::OnceLock<Arc<Live>>>,
) -> Result<(LinkTx, LinkRx), BrokerError> {
    // rumqttd logs a bind failure on its own thread and carries on; check it here first so
    // that a taken port is a clear error at start.
    std::net::TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
    let mut config = config(addr, max_connections);
    if let Some(server) = config.v4.as_mut().and_then(|servers| servers.get_mut("1")) {
        server.connections.set_auth_handler(
            move |client_id: String, username: String, password: String| {
                let live = live_for_auth.get().cloned();
                async move {
                    let Some(live) = live else {
                        return false;
                    };
                    // The client id must be the device's own id, so one device cannot take
                    // over another's MQTT session (rumqttd drops the older of two equal
                    // client ids).
                    let ok = client_id == username && live.authenticate(None, &username, &password);
                    if !ok {
                        live.metrics().reject(RejectReason::BadCredentials);
                    }
                    ok
                }
            },
        );
    }
    let mut broker = Broker::new(config);
    let (mut link_tx, link_rx) = broker
        .link("paceline-gateway")
        .map_err(|e| BrokerError::Link(e.to_string()))?;
    link_tx
        .subscribe(all_uplinks_filter())
        .map_err(|e| BrokerError::Link(e.to_string()))?;
    thread::Builder::new()
        .name("mqtt-broker".to_owned())
        .spawn(move || {
            if let Err(err) = broker.start() {
                tracing::error!(error = %err, "the MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    Ok((link_tx, link_rx))
}

/// The broker's configuration as the gateway runs it — one MQTT 3.1.1 listener on `addr`,
/// the limits of the module docs — but with no auth handler ([`start`] adds the device
/// check). The bench runs rumqttd standalone with exactly this.
pub fn config(addr: SocketAddr, max_connections: usize) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: MAX_PACKET_BYTES,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        // A device's publish must match an existing filter (the gateway's `pl/v1/+/+/up`):
        // none creates a new one in the router.
        dynamic_filters: false,
    };
    let server = ServerSettings {
        name: "paceline-mqtt".to_owned(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections,
            max_outgoing_packet_count: 2000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    }
}

/// Reads every uplink publish from the broker and hands it to the live loop, on a thread
/// of its own, until the broker goes away.
pub fn spawn_ingress(mut link_rx: LinkRx, live: Arc<Live>) -> Result<(), BrokerError> {
    thread::Builder::new()
        .name("mqtt-ingress".to_owned())
        .spawn(move || {
            loop {
                match link_rx.recv() {
                    Ok(Some(Notification::Forward(forward))) => {
                        let topic = String::from_utf8_lossy(&forward.publish.topic);
                        live.on_frame(&forward.publish.payload, Origin::Mqtt { topic: &topic });
                    }
                    Ok(Some(Notification::Unschedule)) => {
                        // The router filled this link's buffer (2,000 notifications) and
                        // stopped forwarding until the link says it is ready again.
                        if let Err(err) = link_rx.ready() {
                            tracing::error!(error = %err, "the broker link closed");
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(error = %err, "the broker link closed");
                        break;
                    }
                }
            }
        })
        .map_err(BrokerError::Thread)?;
    Ok(())
}

/// A free loopback port for rumqttd's private listener.
pub fn private_addr() -> Result<SocketAddr, BrokerError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
    listener
        .local_addr()
        .map_err(|source| BrokerError::Bind { addr, source })
}

/// Binds the public MQTT address.
pub async fn bind_front(addr: SocketAddr) -> Result<tokio::net::TcpListener, BrokerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })
}

/// The largest MQTT packet a device may send (remaining length): one frame and room for
/// the topic and headers, as rumqttd's `max_payload_size`.
pub const MAX_PACKET_BYTES: usize = MAX_FRAME_BYTES + 1024;

/// How long a new connection has to send its whole CONNECT (as rumqttd's own timeout).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the front door closed a connection.
#[derive(Debug, thiserror::Error)]
enum FrontError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no whole CONNECT within {CONNECT_TIMEOUT:?}")]
    ConnectTimeout,
    #[error("the topic ACLs deny a packet: {0:?}")]
    Denied(AclDenial),
}

/// Accepts device connections on the public address and relays each to rumqttd at
/// `broker` (see the module docs), through the topic ACLs of [`crate::mqtt_acl`]. Each
/// relay registers under the client id of its CONNECT before that CONNECT is forwarded,
/// so that revoking the device closes it.
pub async fn serve_front(listener: tokio::net::TcpListener, broker: SocketAddr, live: Arc<Live>) {
    loop {
        let (device, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accepting an MQTT connection failed");
                // Out of descriptors, typically: give the system a moment.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            match front_connection(device, broker, &live).await {
                Err(FrontError::Denied(reason)) => {
                    live.metrics().acl_denied(reason);
                    tracing::debug!(?reason, "MQTT connection closed by the topic ACLs");
                }
                Err(err) => tracing::debug!(error = %err, "MQTT relay closed"),
                Ok(()) => {}
            }
        });
    }
}

/// One device connection: its CONNECT read whole (nothing reaches rumqttd before), the
/// device's revocation watched from then on, then the relay.
async fn front_connection(
    mut device: tokio::net::TcpStream,
    broker: SocketAddr,
    live: &Arc<Live>,
) -> Result<(), FrontError> {
    use tokio::io::AsyncReadExt;
    device.set_nodelay(true)?;
    let mut gate = PacketGate::new(MAX_PACKET_BYTES);
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let connect = loop {
        if let Some(connect) = gate.next_connect().map_err(FrontError::Denied)? {
            break connect;
        }
        let n = tokio::time::timeout_at(deadline, device.read_buf(gate.buffer()))
            .await
            .map_err(|_| FrontError::ConnectTimeout)??;
        if n == 0 {
            return Ok(());
        }
    };
    let device_id = paceline_schemas::DeviceId::new(connect.client_id).ok();
    // Watched before the CONNECT goes on: a revocation from here on closes the relay,
    // and one before is in the database when rumqttd's auth handler reads it.
    let mut watch = device_id.as_ref().map(|id| live.connections().watch(id));
    let acl = match device_id {
        Some(id) => {
            let for_lookup = Arc::clone(live);
            let lookup = id.clone();
            let standing =
                tokio::task::spawn_blocking(move || for_lookup.device_standing(lookup.as_str()))
                    .await
                    .unwrap_or(DeviceStanding::Revoked);
            match standing {
                DeviceStanding::Active(tenant) => Some(DeviceAcl::new(&tenant, &id)),
                DeviceStanding::Unknown | DeviceStanding::Revoked => None,
            }
        }
        None => None,
    };
    gate.connected(acl);
    let revoked = async {
        match watch.as_mut() {
            Some(watch) => watch.revoked().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        relayed = relay(device, broker, connect.raw, gate) => relayed,
        () = revoked => {
            tracing::debug!("MQTT connection of a revoked device closed");
            Ok(())
        }
    }
}

/// Relays a connection whose CONNECT (`connect`) has been read: device→broker packet by
/// packet through `gate`, each held until whole and allowed; broker→device as bytes.
async fn relay(
    device: tokio::net::TcpStream,
    broker: SocketAddr,
    connect: bytes::Bytes,
    mut gate: PacketGate,
) -> Result<(), FrontError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let inner = tokio::net::TcpStream::connect(broker).await?;
    inner.set_nodelay(true)?;
    let (mut device_rx, mut device_tx) = device.into_split();
    let (mut broker_rx, mut broker_tx) = inner.into_split();
    let up = async {
        broker_tx.write_all(&connect).await?;
        loop {
            while let Some(packet) = gate.next_allowed().map_err(FrontError::Denied)? {
                broker_tx.write_all(&packet).await?;
            }
            // The gate refuses a packet larger than MAX_PACKET_BYTES from its header, so
            // the buffer holds at most one packet and one read.
            gate.buffer().reserve(16 * 1024);
            let n = device_rx.read_buf(gate.buffer()).await?;
            if n == 0 {
                break;
            }
        }
        broker_tx.shutdown().await?;
        Ok::<(), FrontError>(())
    };
    let down = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = broker_rx.read(&mut buffer).await?;
            // Acknowledge rumqttd's bytes now, so its Nagle releases the next packet.
            let _ = socket2::SockRef::from(broker_rx.as_ref()).set_tcp_quickack(true);
            if n == 0 {
                break;
            }
            device_tx
                .write_all(buffer.get(..n).unwrap_or_default())
                .await?;
        }
        device_tx.shutdown().await?;
        Ok::<(), FrontError>(())
    };
    // Either side closing, or a denied packet, ends the relay: both directions are
    // dropped, and so both sockets closed.
    tokio::select! {
        result = up => result,
        result = down => result,
    }
}
