//! The embedded MQTT broker (rumqttd), configured in code.
//!
//! Devices connect with client id = username = their device id and their token as the
//! password; rumqttd's auth handler checks both against the database before CONNACK. The
//! gateway itself is a local link of the broker subscribed to every uplink topic
//! (`pl/v1/+/+/up`); it publishes acks and cues on the devices' `down` topics through the
//! same link. rumqttd itself has no topic ACLs: the front door below enforces them
//! ([`crate::transport::mqtt_acl`]: a device publishes only on its own uplink topic, without retain,
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
//! **The front door.** Devices never talk to rumqttd's network code: rumqttd 0.20 never
//! sets `TCP_NODELAY` on the sockets it accepts (a cue published right after a PUBACK
//! waited for the device's delayed ACK, 40 ms on Linux, under Nagle's algorithm) and has
//! no topic ACLs. [`serve_front`] accepts on the public MQTT address with `TCP_NODELAY`
//! and speaks MQTT 3.1.1 itself (rumqttd's own codec, [`crate::transport::mqtt_acl::PacketGate`]):
//! it reads the CONNECT whole (registering its client id for revocation first), checks
//! the device's credentials and standing, and only then opens a *local link* to rumqttd's
//! router for the connection (`Broker::link`, in process: no loopback socket, no second
//! parse). Each packet the topic ACLs allow goes onto the link, all that one read brought
//! with one wake of the router; what the router answers (PUBACKs, SUBACKs, the cues and
//! acks the gateway publishes on the device's `down` topic) is encoded and written all
//! that is ready at once, one write. A denied packet never reaches the router: the
//! connection is closed and counted (`paceline_mqtt_acl_denied_total{reason}`).
//!
//! **PUBACKs ride with the ack.** The router PUBACKs a device's frame the moment it has
//! it; the gateway's own ack on the `down` topic follows once the frame is committed,
//! milliseconds later. Written apart they cost two writes (and two wake-ups of the
//! device) per frame; so PUBACKs alone are held up to `PUBACK_HOLD` (25 ms) and go out
//! with the next publish to the device (an ack or a cue, which is never held), or alone
//! when the hold runs out or `PUBACK_HOLD_BYTES` are waiting. QoS 1 only asks that the
//! PUBACK comes; the device's in-flight window (100 with the edge agent) is far from full
//! at five frames a second.
//!
//! The front door keeps what rumqttd's own listener did: CONNACK only after the device
//! check (refused with code 5, not authorized, for an unknown, revoked or wrong token;
//! code 3 when the router is at its connection cap), a keepalive of 0 refused, PINGREQ
//! answered, a connection silent for 1.5× its keepalive closed, at most
//! [`MAX_INFLIGHT_PUBLISHES`] QoS 1/2 publishes of a connection waiting for the router's
//! PUBACK (no more is read from the socket until one comes), a second connection with
//! the same client id replacing the first (the router drops the older link), and on any
//! end a DISCONNECT on the link so the router forgets the session. `Broker::link` opens
//! a clean session without a last will, which is what devices use (the edge agent
//! connects with `clean_session` and QoS 1, no will); a will sent anyway is ignored.
//! rumqttd's listener is not started at all: the router runs from `Broker::new`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use paceline_schemas::topic::all_uplinks_filter;
use paceline_schemas::{DeviceId, MAX_FRAME_BYTES};
use rumqttd::local::{LinkError, LinkRx, LinkTx};
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{
    ConnAck, ConnectReturnCode, Disconnect, DisconnectReasonCode, Packet, PingResp, Protocol,
};
use rumqttd::{Broker, Config, ConnectionSettings, Notification, RouterConfig, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::live::{DeviceStanding, HeldRecords, Live, Origin};
use crate::metrics::{AclDenial, RejectReason};
use crate::transport::mqtt_acl::{DeviceAcl, PacketGate};

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

/// Starts the broker's router (no listener of its own: devices come through
/// [`serve_front`]). Returns the broker, for the devices' links, and the gateway's link.
pub fn start(max_connections: usize) -> Result<(Arc<Broker>, LinkTx, LinkRx), BrokerError> {
    let broker = Broker::new(Config {
        id: 0,
        router: router_config(max_connections),
        ..Config::default()
    });
    let (mut link_tx, link_rx) = broker
        .link("paceline-gateway")
        .map_err(|e| BrokerError::Link(e.to_string()))?;
    link_tx
        .subscribe(all_uplinks_filter())
        .map_err(|e| BrokerError::Link(e.to_string()))?;
    Ok((Arc::new(broker), link_tx, link_rx))
}

/// The broker's configuration as the gateway's router runs it — the limits of the module
/// docs — with one MQTT 3.1.1 listener on `addr` and no authentication, for the bench,
/// which runs rumqttd standalone with exactly this.
pub fn config(addr: SocketAddr, max_connections: usize) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: MAX_PACKET_BYTES,
        max_inflight_count: MAX_INFLIGHT_PUBLISHES,
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
        router: router_config(max_connections),
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    }
}

/// The router's limits (module docs).
fn router_config(max_connections: usize) -> RouterConfig {
    RouterConfig {
        max_connections,
        max_outgoing_packet_count: 2000,
        max_segment_size: 16 * 1024 * 1024,
        max_segment_count: 4,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    }
}

/// Reads every uplink publish from the broker and hands it to the live loop, on a thread
/// of its own, until the broker goes away.
pub fn spawn_ingress(mut link_rx: LinkRx, live: Arc<Live>) -> Result<(), BrokerError> {
    thread::Builder::new()
        .name("mqtt-ingress".to_owned())
        .spawn(move || {
            // The engine records of the publishes taken since the link last ran dry, sent
            // together before the thread waits for more (see `HeldRecords`).
            let mut held = HeldRecords::default();
            loop {
                let next = if held.is_empty() {
                    link_rx.recv()
                } else {
                    // What the link has at hand, or at once an error if nothing is.
                    match link_rx.recv_deadline(std::time::Instant::now()) {
                        Err(LinkError::RecvTimeout(_)) => {
                            live.send_held(&mut held);
                            continue;
                        }
                        next => next,
                    }
                };
                match next {
                    Ok(Some(Notification::Forward(forward))) => {
                        let topic = String::from_utf8_lossy(&forward.publish.topic);
                        live.on_frame_holding(
                            &forward.publish.payload,
                            Origin::Mqtt { topic: &topic },
                            &mut held,
                        );
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
            live.send_held(&mut held);
        })
        .map_err(BrokerError::Thread)?;
    Ok(())
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

/// The most QoS 1/2 publishes of one connection waiting for the router's PUBACK.
pub const MAX_INFLIGHT_PUBLISHES: usize = 100;

/// How long PUBACKs alone wait for a downlink publish to share their write (module docs).
const PUBACK_HOLD: Duration = Duration::from_millis(25);
/// Held PUBACK bytes that are written without waiting further.
const PUBACK_HOLD_BYTES: usize = 4 * 1024;

/// How long a new connection has to send its whole CONNECT (as rumqttd's own timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the front door closed a connection.
#[derive(Debug, thiserror::Error)]
enum FrontError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no whole CONNECT within {CONNECT_TIMEOUT:?}")]
    ConnectTimeout,
    #[error("the topic ACLs deny a packet: {0:?}")]
    Denied(AclDenial),
    #[error("silent past 1.5× its keepalive")]
    Silent,
    #[error("a packet the router sent does not encode as MQTT 3.1.1: {0:?}")]
    Encode(rumqttd::protocol::Error),
}

/// Accepts device connections on the public address and serves each on a local link of
/// `broker` (see the module docs), through the topic ACLs of [`crate::transport::mqtt_acl`]. Each
/// connection registers under the client id of its CONNECT before the device check, so
/// that revoking the device closes it.
pub async fn serve_front(listener: tokio::net::TcpListener, broker: Arc<Broker>, live: Arc<Live>) {
    loop {
        let (device, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accepting an MQTT connection failed");
                // Out of descriptors, typically: give the system a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let live = Arc::clone(&live);
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            match front_connection(device, &broker, &live).await {
                Err(FrontError::Denied(reason)) => {
                    live.metrics().acl_denied(reason);
                    tracing::debug!(?reason, "MQTT connection closed by the topic ACLs");
                }
                Err(err) => tracing::debug!(error = %err, "MQTT connection closed"),
                Ok(()) => {}
            }
        });
    }
}

/// One device connection: its CONNECT read whole, the device's revocation watched from
/// then on, the device checked, its link opened, CONNACK, then [`serve_device`].
async fn front_connection(
    mut device: TcpStream,
    broker: &Arc<Broker>,
    live: &Arc<Live>,
) -> Result<(), FrontError> {
    device.set_nodelay(true)?;
    let mut gate = PacketGate::new(MAX_PACKET_BYTES);
    let deadline = Instant::now() + CONNECT_TIMEOUT;
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
    let device_id = DeviceId::new(connect.client_id.as_str()).ok();
    // Watched before the device check: a revocation from here on closes the connection,
    // and one before is in the database when the check reads it.
    let mut watch = device_id.as_ref().map(|id| live.connections().watch(id));
    let acl = match (device_id, connect.login) {
        // The client id must be the device's own id, so one device cannot take over
        // another's MQTT session (the router drops the older of two equal client ids).
        (Some(id), Some((user, token))) if user == connect.client_id => {
            let live = Arc::clone(live);
            tokio::task::spawn_blocking(move || {
                if !live.authenticate(None, &user, &token) {
                    return None;
                }
                match live.device_standing(id.as_str()) {
                    DeviceStanding::Active(tenant) => Some(DeviceAcl::new(&tenant, &id)),
                    DeviceStanding::Unknown | DeviceStanding::Revoked => None,
                }
            })
            .await
            .unwrap_or(None)
        }
        _ => None,
    };
    let Some(acl) = acl else {
        live.metrics().reject(RejectReason::BadCredentials);
        return refuse(&mut device, ConnectReturnCode::NotAuthorized).await;
    };
    if connect.keep_alive_s == 0 {
        // As rumqttd: a connection that promises never to speak is never let in.
        return Ok(());
    }
    let for_link = Arc::clone(broker);
    let client_id = connect.client_id;
    // The router's answer is a blocking wait, so off the async workers; only whether it
    // came matters, not the (large) error.
    let link = tokio::task::spawn_blocking(move || for_link.link(&client_id).ok()).await;
    let Ok(Some((tx, rx))) = link else {
        // The router refuses a link past its connection cap (it drops the request).
        tracing::warn!("the MQTT broker is at its connection cap");
        return refuse(&mut device, ConnectReturnCode::ServiceUnavailable).await;
    };
    let link = DeviceLink {
        tx,
        rx,
        router_dropped: false,
    };
    gate.connected(Some(acl));
    let mut out = BytesMut::with_capacity(4 * 1024);
    encode(
        Packet::ConnAck(
            ConnAck {
                session_present: false,
                code: ConnectReturnCode::Success,
            },
            None,
        ),
        &mut out,
    )?;
    device.write_all(&out).await?;
    out.clear();
    let revoked = async {
        match watch.as_mut() {
            Some(watch) => watch.revoked().await,
            None => std::future::pending().await,
        }
    };
    let keepalive = Duration::from_millis(u64::from(connect.keep_alive_s) * 1_500);
    tokio::select! {
        served = serve_device(device, gate, link, keepalive, out) => served,
        () = revoked => {
            tracing::debug!("MQTT connection of a revoked device closed");
            Ok(())
        }
    }
}

/// Answers a CONNECT with a CONNACK that refuses it, and closes.
async fn refuse(device: &mut TcpStream, code: ConnectReturnCode) -> Result<(), FrontError> {
    let mut out = BytesMut::new();
    let refusal = ConnAck {
        session_present: false,
        code,
    };
    encode(Packet::ConnAck(refusal, None), &mut out)?;
    device.write_all(&out).await?;
    device.shutdown().await?;
    Ok(())
}

/// A device connection's local link to the router. Dropped, it tells the router the
/// device is gone (a DISCONNECT), unless the router dropped it first (a newer connection
/// took the client id, or the router stopped).
struct DeviceLink {
    tx: LinkTx,
    rx: LinkRx,
    router_dropped: bool,
}

impl Drop for DeviceLink {
    fn drop(&mut self) {
        if self.router_dropped {
            return;
        }
        let disconnect = Packet::Disconnect(
            Disconnect {
                reason_code: DisconnectReasonCode::NormalDisconnection,
            },
            None,
        );
        // `LinkTx::send` never waits (it queues the packet and signals the router), so one
        // poll completes it. Were the router gone, there is nothing to tell.
        let _ = poll_once(self.tx.send(disconnect));
    }
}

/// Polls `future` once: its output if it was ready.
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// Writes `packet` as MQTT 3.1.1 (rumqttd's codec), without the v5 properties the router
/// may attach and a v4 packet cannot carry.
fn encode(packet: Packet, out: &mut BytesMut) -> Result<(), FrontError> {
    let packet = match packet {
        Packet::Publish(publish, _) => Packet::Publish(publish, None),
        Packet::PubAck(ack, _) => Packet::PubAck(ack, None),
        Packet::PubRec(ack, _) => Packet::PubRec(ack, None),
        Packet::PubRel(ack, _) => Packet::PubRel(ack, None),
        Packet::PubComp(ack, _) => Packet::PubComp(ack, None),
        Packet::SubAck(ack, _) => Packet::SubAck(ack, None),
        Packet::UnsubAck(ack, _) => Packet::UnsubAck(ack, None),
        Packet::ConnAck(ack, _) => Packet::ConnAck(ack, None),
        Packet::PingResp(pong) => Packet::PingResp(pong),
        // What a server never sends to a 3.1.1 client.
        other => {
            return Err(FrontError::Encode(
                rumqttd::protocol::Error::InvalidPacketType(packet_type_of(&other)),
            ));
        }
    };
    V4.write(packet, out).map_err(FrontError::Encode)?;
    Ok(())
}

/// The MQTT packet type number of `packet` (for the error above).
fn packet_type_of(packet: &Packet) -> u8 {
    match packet {
        Packet::Connect(..) => 1,
        Packet::Subscribe(..) => 8,
        Packet::Unsubscribe(..) => 10,
        Packet::PingReq(_) => 12,
        Packet::Disconnect(..) => 14,
        _ => 0,
    }
}

/// Serves a connected device until it leaves, is replaced, goes silent or breaks the
/// ACLs: its packets onto the link (up to the in-flight cap), the router's answers onto
/// the socket, each side batched.
async fn serve_device(
    mut device: TcpStream,
    mut gate: PacketGate,
    mut link: DeviceLink,
    keepalive: Duration,
    mut out: BytesMut,
) -> Result<(), FrontError> {
    let mut in_flight = 0usize;
    let mut heard_at = Instant::now();
    // Since when PUBACKs alone wait in `out` for the ack or cue that follows them.
    let mut held_since: Option<Instant> = None;
    loop {
        // What is whole in the buffer goes onto the link first: after a read, and after
        // PUBACKs made room under the cap for packets held back.
        let mut last = None;
        while in_flight < MAX_INFLIGHT_PUBLISHES {
            let Some(allowed) = gate.next_allowed().map_err(FrontError::Denied)? else {
                break;
            };
            match allowed.packet {
                Packet::PingReq(_) => encode(Packet::PingResp(PingResp), &mut out)?,
                packet @ Packet::Disconnect(..) => {
                    // The router ends the session; nothing more to say to it.
                    if let Some(previous) = last.take() {
                        link.tx.buffer().push_back(previous);
                    }
                    let _ = link.tx.send(packet).await;
                    link.router_dropped = true;
                    return Ok(());
                }
                packet => {
                    in_flight += usize::from(allowed.awaits_ack);
                    if let Some(previous) = last.replace(packet) {
                        link.tx.buffer().push_back(previous);
                    }
                }
            }
        }
        // One wake of the router for all of them.
        if let Some(last) = last
            && link.tx.send(last).await.is_err()
        {
            link.router_dropped = true;
            return Ok(());
        }
        // A PINGRESP goes out at once, unless PUBACKs are held: then with them.
        if !out.is_empty() && held_since.is_none() {
            device.write_all(&out).await?;
            out.clear();
        }
        let reading = in_flight < MAX_INFLIGHT_PUBLISHES;
        tokio::select! {
            read = device.read_buf(gate.buffer()), if reading => {
                if read? == 0 {
                    return Ok(());
                }
                heard_at = Instant::now();
                // The gate refuses a packet larger than MAX_PACKET_BYTES from its header,
                // so the buffer holds at most one packet and one read.
                gate.buffer().reserve(16 * 1024);
            }
            notified = link.rx.next() => {
                let Ok(first) = notified else {
                    // The router dropped this link: the client id connected again, or the
                    // router stopped.
                    link.router_dropped = true;
                    return Ok(());
                };
                let mut unscheduled = false;
                // Whether something other than a PUBACK is to go out.
                let mut urgent = false;
                let mut next = first;
                loop {
                    if let Some(notification) = next {
                        match Option::<Packet>::from(notification) {
                            Some(packet @ (Packet::PubAck(..) | Packet::PubRec(..))) => {
                                in_flight = in_flight.saturating_sub(1);
                                encode(packet, &mut out)?;
                            }
                            Some(Packet::Disconnect(..)) => {
                                link.router_dropped = true;
                                device.write_all(&out).await?;
                                return Ok(());
                            }
                            Some(packet) => {
                                urgent = true;
                                encode(packet, &mut out)?;
                            }
                            // The router filled this link's buffer and waits to hear it
                            // is ready again.
                            None => unscheduled = true,
                        }
                    }
                    // The rest of what the router handed over, without waiting.
                    match poll_once(link.rx.next()) {
                        Some(Ok(Some(notification))) => next = Some(notification),
                        Some(Ok(None)) | None => break,
                        Some(Err(_)) => {
                            link.router_dropped = true;
                            break;
                        }
                    }
                }
                if !out.is_empty() {
                    let held_long_enough =
                        held_since.is_some_and(|since| since.elapsed() >= PUBACK_HOLD);
                    if urgent || held_long_enough || out.len() >= PUBACK_HOLD_BYTES {
                        device.write_all(&out).await?;
                        out.clear();
                        held_since = None;
                    } else if held_since.is_none() {
                        held_since = Some(Instant::now());
                    }
                }
                if link.router_dropped {
                    return Ok(());
                }
                if unscheduled && link.rx.wake().await.is_err() {
                    link.router_dropped = true;
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(heard_at + keepalive) => {
                return Err(FrontError::Silent);
            }
            () = tokio::time::sleep_until(
                held_since.map_or(heard_at + keepalive, |since| since + PUBACK_HOLD)
            ), if held_since.is_some() => {
                // No ack came to carry the PUBACKs: they go alone.
                device.write_all(&out).await?;
                out.clear();
                held_since = None;
            }
        }
    }
}
