//! QUIC ingress (quinn): one bidirectional stream per device session, and datagrams.
//!
//! The device's first length-prefixed message on a stream is its [`DeviceHello`] (tenant,
//! device, token), which must arrive within [`HELLO_TIMEOUT`] and check out, or the
//! connection is closed with [`CLOSE_UNAUTHORIZED`]. Then frames flow both ways with the
//! same 4-byte length prefix: uplink frames go to [`Live::on_frame_in_task`], acks and cues for the
//! session come back on the stream's writer task. A stream whose framing breaks (a length
//! over [`paceline_schemas::MAX_FRAME_BYTES`]) is closed; the other streams and connections
//! carry on.
//!
//! **Datagrams.** Once a stream of a connection has said a hello that checked out, the
//! device may send its frames as QUIC datagrams (RFC 9221), one frame per datagram with
//! no length prefix: they go to [`Live::on_frame_in_task`] as that stream's device, and their
//! acks and cues come back on that stream. A datagram on a connection with no such
//! stream yet is refused (counted as bad credentials). Datagrams can be lost: the acks
//! (the highest seq stored without a gap, one per commit of the session) then repeat the
//! seq below the gap while later frames are committed, the edge agent sends the missing
//! frames again on the stream after two such repeats, and the writer stores a frame once
//! whichever way it came.
//!
//! **Per frame, the stream's task does no more than it must** (issue 20): it calls
//! [`Live::on_frame_in_task`] directly (the engine records of the frames the workers take
//! in one round go to the engine together), since a frame's common path never blocks (the rare waits —
//! a database lookup, a full queue — hand the worker over by themselves, see
//! `live::driver`), and the stream's writer task takes everything queued for the device
//! at each wake-up and writes it with one `write_all`, so the acks of one commit and the
//! cues that follow go out in as few packets as QUIC can pack them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use paceline_schemas::hello::{DeviceHello, decode_hello};
use paceline_schemas::stream::{FrameReader, write_frame};
use paceline_schemas::{DeviceId, TenantId};
use quinn::{Endpoint, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;

use crate::live::{Live, Origin};
use crate::metrics::RejectReason;
use crate::transport::downlink::Route;
use crate::transport::tls::{ALPN, ServerCert};

/// How long a new stream has to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Application close code: the hello did not check out.
pub const CLOSE_UNAUTHORIZED: u32 = 1;
/// Application close code: the stream's framing broke.
pub const CLOSE_MALFORMED: u32 = 2;
/// Downlink frames queued per stream before more are dropped.
const DOWNLINK_QUEUE: usize = 1024;
/// Downlink frames the writer takes from its queue per write at most.
const DOWNLINK_BATCH: usize = 64;
/// Bytes of datagrams a connection may hold unread before quinn drops the oldest: about
/// two hundred frames of one sample batch each.
const DATAGRAM_RECEIVE_BYTES: usize = 64 * 1024;
/// The UDP socket's receive buffer asked of the kernel (which caps it at
/// `net.core.rmem_max`): every device's packets queue in this one socket while the
/// endpoint is busy, and a full buffer drops them — retransmitted on a stream, lost in a
/// datagram until the device resends. The kernel's default (about 200 KiB) overflowed at
/// a thousand devices on the bench.
const UDP_RECEIVE_BYTES: usize = 4 * 1024 * 1024;

/// Why the QUIC endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The TLS configuration was refused.
    #[error("QUIC TLS configuration: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("QUIC listen address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Binds the QUIC endpoint with the server certificate.
pub fn bind(addr: SocketAddr, cert: &ServerCert) -> Result<Endpoint, QuicError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.clone()], cert.key.clone_key())
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(VarInt::from_u32(16));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    transport.max_idle_timeout(Some(VarInt::from_u32(30_000).into()));
    transport.datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BYTES));
    // The server sends none: its acks and cues go on the device's stream.
    transport.datagram_send_buffer_size(0);
    server.transport_config(Arc::new(transport));
    let bind_error = |source| QuicError::Bind { addr, source };
    let socket = std::net::UdpSocket::bind(addr).map_err(bind_error)?;
    if let Err(err) = socket2::SockRef::from(&socket).set_recv_buffer_size(UDP_RECEIVE_BYTES) {
        tracing::warn!(error = %err, "the QUIC socket keeps the kernel's receive buffer size");
    }
    let runtime = quinn::default_runtime().ok_or_else(|| {
        bind_error(std::io::Error::other(
            "no async runtime for the QUIC endpoint",
        ))
    })?;
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        runtime,
    )
    .map_err(bind_error)
}

/// Accepts connections until the endpoint is closed.
pub async fn serve(endpoint: Endpoint, live: Arc<Live>) {
    while let Some(incoming) = endpoint.accept().await {
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            match incoming.await {
                Ok(connection) => serve_connection(connection, live).await,
                Err(err) => tracing::debug!(error = %err, "QUIC handshake failed"),
            }
        });
    }
}

/// The device a connection's datagrams come from: the latest of its streams whose hello
/// checked out, with that stream's downlink.
struct Admitted {
    tenant: TenantId,
    device: DeviceId,
    route: Route,
}

/// The connection's [`Admitted`] stream, if any (shared by its streams and its datagram
/// reader; held only to read or swap the pointer).
type AdmittedSlot = Arc<Mutex<Option<Arc<Admitted>>>>;

async fn serve_connection(connection: quinn::Connection, live: Arc<Live>) {
    let admitted = AdmittedSlot::default();
    let datagrams = tokio::spawn(serve_datagrams(
        connection.clone(),
        Arc::clone(&admitted),
        Arc::clone(&live),
    ));
    while let Ok((send, recv)) = connection.accept_bi().await {
        let live = Arc::clone(&live);
        let connection = connection.clone();
        let admitted = Arc::clone(&admitted);
        tokio::spawn(async move {
            serve_stream(connection, send, recv, live, admitted).await;
        });
    }
    datagrams.abort();
}

/// Hands each datagram of the connection to the live loop as a frame of its admitted
/// stream's device, until the connection ends.
async fn serve_datagrams(connection: quinn::Connection, admitted: AdmittedSlot, live: Arc<Live>) {
    while let Ok(datagram) = connection.read_datagram().await {
        let from = admitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(from) = from else {
            live.metrics().reject(RejectReason::BadCredentials);
            continue;
        };
        live.on_frame_in_task(
            &datagram,
            Origin::QuicDatagram {
                tenant: &from.tenant,
                device: &from.device,
                route: &from.route,
            },
        );
    }
}

async fn serve_stream(
    connection: quinn::Connection,
    mut send: SendStream,
    mut recv: RecvStream,
    live: Arc<Live>,
    slot: AdmittedSlot,
) {
    let mut reader = FrameReader::new();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_hello(&mut recv, &mut reader)).await;
    let hello = match hello {
        Ok(Some(hello)) => hello,
        _ => {
            live.metrics().reject(RejectReason::BadCredentials);
            connection.close(VarInt::from_u32(CLOSE_UNAUTHORIZED), b"no valid hello");
            return;
        }
    };
    let token = hello.token.expose_hex();
    // A database read only when the device is not cached (it then hands the worker over).
    let admitted = live.authenticate(Some(&hello.tenant), hello.device.as_str(), &token);
    if !admitted {
        live.metrics().reject(RejectReason::BadCredentials);
        connection.close(
            VarInt::from_u32(CLOSE_UNAUTHORIZED),
            b"unknown device or token",
        );
        return;
    }
    let mut revocation = live.connections().watch(&hello.device);
    let (down_tx, mut down_rx) = mpsc::channel::<Vec<u8>>(DOWNLINK_QUEUE);
    let route = Route::Quic(down_tx);
    let this_stream = Arc::new(Admitted {
        tenant: hello.tenant.clone(),
        device: hello.device.clone(),
        route: route.clone(),
    });
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&this_stream));
    let writer = tokio::spawn(async move {
        let mut frames = Vec::with_capacity(DOWNLINK_BATCH);
        let mut prefixed = Vec::new();
        while down_rx.recv_many(&mut frames, DOWNLINK_BATCH).await > 0 {
            prefixed.clear();
            for frame in frames.drain(..) {
                // Only a frame over the size limit fails, and the gateway encodes none.
                let _ = write_frame(&mut prefixed, &frame);
            }
            if send.write_all(&prefixed).await.is_err() {
                break;
            }
        }
        let _ = send.finish();
    });
    let mut buffer = vec![0u8; 16 * 1024];
    'stream: loop {
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    live.on_frame_in_task(
                        &frame,
                        Origin::Quic {
                            tenant: &hello.tenant,
                            device: &hello.device,
                            route: &route,
                        },
                    );
                }
                Ok(None) => break,
                Err(_) => {
                    live.metrics().reject(RejectReason::Oversize);
                    let _ = recv.stop(VarInt::from_u32(CLOSE_MALFORMED));
                    break 'stream;
                }
            }
        }
        let read = tokio::select! {
            read = recv.read(&mut buffer) => read,
            () = revocation.revoked() => {
                connection.close(VarInt::from_u32(CLOSE_UNAUTHORIZED), b"device revoked");
                break;
            }
        };
        match read {
            Ok(Some(n)) => reader.push(buffer.get(..n).unwrap_or_default()),
            Ok(None) | Err(_) => break,
        }
    }
    // Datagrams no longer name this stream's downlink (unless a newer stream took over).
    {
        let mut current = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|admitted| Arc::ptr_eq(admitted, &this_stream))
        {
            *current = None;
        }
    }
    // Sessions keep a clone of the route until they move on; the writer ends here.
    writer.abort();
}

async fn read_hello(recv: &mut RecvStream, reader: &mut FrameReader) -> Option<DeviceHello> {
    let mut buffer = vec![0u8; 1024];
    loop {
        match reader.next_frame() {
            Ok(Some(bytes)) => return decode_hello(&bytes).ok(),
            Ok(None) => {}
            Err(_) => return None,
        }
        if reader.buffered_len() > 4096 {
            return None;
        }
        let n = recv.read(&mut buffer).await.ok()??;
        reader.push(buffer.get(..n)?);
    }
}
