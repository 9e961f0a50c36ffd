//! The embedded MQTT broker (rumqttd), configured in code.
//!
//! Devices connect with client id = username = their device id and their token as the
//! password; rumqttd's auth handler checks both against the database before CONNACK. The
//! gateway itself is a local link of the broker subscribed to every uplink topic
//! (`pl/v1/+/+/up`); it publishes acks and cues on the devices' `down` topics through the
//! same link. The broker is not trusted with anything else (it has no topic ACLs): every
//! frame is still checked against the key of the device it names.
//!
//! Limits are set here on purpose: payloads up to one frame ([`MAX_FRAME_BYTES`]) plus
//! MQTT overhead, 100 in-flight publishes per connection, 5 s to send CONNECT, and the
//! router's connection cap from the settings. The router hands a link at most 2,000
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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use paceline_schemas::MAX_FRAME_BYTES;
use paceline_schemas::topic::all_uplinks_filter;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Config, ConnectionSettings, Notification, RouterConfig, ServerSettings};

use crate::live::{Live, Origin};
use crate::metrics::RejectReason;

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
        max_payload_size: MAX_FRAME_BYTES + 1024,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
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

/// Accepts device connections on the public address and relays each to rumqttd at
/// `broker` (see the module docs). Each relay registers under the client id of its
/// CONNECT (peeked, not consumed), so that revoking the device closes it.
pub async fn serve_front(
    listener: tokio::net::TcpListener,
    broker: SocketAddr,
    connections: Arc<crate::connections::Connections>,
) {
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
        let connections = Arc::clone(&connections);
        tokio::spawn(async move {
            let mut watch = peek_client_id(&device)
                .await
                .and_then(|id| paceline_schemas::DeviceId::new(id).ok())
                .map(|id| connections.watch(&id));
            let revoked = async {
                match watch.as_mut() {
                    Some(watch) => watch.revoked().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                relayed = relay(device, broker) => {
                    if let Err(err) = relayed {
                        tracing::debug!(error = %err, "MQTT relay closed");
                    }
                }
                () = revoked => tracing::debug!("MQTT connection of a revoked device closed"),
            }
        });
    }
}

/// The client id of the CONNECT a new connection starts with, read with `peek` (the
/// bytes stay for the relay). Gives up after 5 s, or on 4 KiB that hold no CONNECT.
async fn peek_client_id(device: &tokio::net::TcpStream) -> Option<String> {
    let mut buffer = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = 0;
    loop {
        let n = tokio::time::timeout_at(deadline, device.peek(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(id) = crate::connections::mqtt_connect_client_id(buffer.get(..n)?) {
            return Some(id);
        }
        if n == buffer.len() {
            return None;
        }
        if n == seen {
            // Nothing new yet: peek returns at once while bytes wait, so pause.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        seen = n;
    }
}

async fn relay(device: tokio::net::TcpStream, broker: SocketAddr) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    device.set_nodelay(true)?;
    let inner = tokio::net::TcpStream::connect(broker).await?;
    inner.set_nodelay(true)?;
    let (mut device_rx, mut device_tx) = device.into_split();
    let (mut broker_rx, mut broker_tx) = inner.into_split();
    let up = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = device_rx.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            broker_tx
                .write_all(buffer.get(..n).unwrap_or_default())
                .await?;
        }
        broker_tx.shutdown().await
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
        device_tx.shutdown().await
    };
    // Either side closing ends the relay (the other direction is then dropped).
    tokio::select! {
        result = up => result,
        result = down => result,
    }
}
