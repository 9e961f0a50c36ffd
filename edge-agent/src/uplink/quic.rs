//! QUIC uplink (quinn, TLS 1.3 with ring, ALPN `paceline/1`): one connection per device,
//! one bidirectional stream per session. The first message on a stream is the
//! length-prefixed [`encode_hello`] (tenant, device, token); then length-prefixed frames
//! go both ways, the same frames as over MQTT.
//!
//! **Datagrams where the frame fits** (`quic_datagrams`, off by default). Once the
//! gateway has acknowledged a frame on the connection (so it has taken a hello of this
//! device), each frame that fits the
//! connection's datagram size goes as one QUIC datagram instead: no stream bookkeeping,
//! no head-of-line blocking behind a lost packet. Acks and cues still come on the
//! stream. A lost datagram holds the acks below it: once the ack has come back twice with
//! the same seq while later frames were committed, the unacknowledged datagram frames go
//! again on the stream (`uplink::gaps`), within about half a second at five frames a
//! second instead of the stall resend's `resend_after_ms`. A gateway that takes no
//! datagrams, or a frame too large for one, keeps the stream.
//!
//! The gateway's certificate is trusted either through PEM certificates (its own
//! self-signed one, or a CA) or by the SHA-256 of its DER, pinned.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use paceline_schemas::SessionId;
use paceline_schemas::hello::{DeviceHello, encode_hello};
use paceline_schemas::stream::{FrameReader, write_frame};
use quinn::{Connection, Endpoint, RecvStream, SendStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use crate::agent::sleep_until_opt;
use crate::agent::{AgentEvent, Device, GatewayConfig, Heard, Phase, QuicTrust};
use crate::uplink::gaps::DatagramGaps;
use crate::uplink::{Backoff, Cursor, LinkSettings, StopCheck, stopped, wait_or_phase};

/// The ALPN protocol of the Paceline QUIC ingress.
pub const ALPN: &[u8] = b"paceline/1";
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the QUIC client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum QuicSetupError {
    /// No certificate trust was configured.
    #[error("QUIC needs the gateway's certificate (a PEM file) or its SHA-256 fingerprint")]
    NoTrust,
    /// The PEM file could not be read or holds no certificate.
    #[error("certificate file {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls or quinn refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("UDP socket: {0}")]
    Socket(std::io::Error),
}

/// A fingerprint given in the wrong form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a certificate fingerprint is 64 hex digits (colons allowed), not {0:?}")]
pub struct FingerprintError(pub String);

/// Parses a SHA-256 fingerprint: 64 hex digits, optionally in colon-separated pairs.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], FingerprintError> {
    let digits: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| FingerprintError(text.to_owned()))?;
    Ok(out)
}

/// The SHA-256 of a certificate's DER (what [`QuicTrust::Fingerprint`] pins).
pub fn certificate_fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Accepts exactly the certificate whose DER has the pinned SHA-256; signatures are still
/// checked, so the server must hold that certificate's key.
#[derive(Debug)]
struct PinnedCertificate {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if certificate_fingerprint(end_entity.as_ref()) == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A QUIC client endpoint shared by the agent's devices.
#[derive(Debug, Clone)]
pub struct QuicClient {
    endpoint: Endpoint,
    addr: SocketAddr,
    server_name: String,
    datagrams: bool,
}

impl QuicClient {
    /// Builds the endpoint and its TLS configuration from the gateway settings.
    pub fn new(gateway: &GatewayConfig) -> Result<Self, QuicSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| QuicSetupError::Tls(e.to_string()))?;
        let pem_roots = |pem: &[u8], path: &str| -> Result<rustls::RootCertStore, QuicSetupError> {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| QuicSetupError::Pem {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| QuicSetupError::Pem {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(QuicSetupError::Pem {
                    path: path.to_owned(),
                    reason: "no certificate in it".to_owned(),
                });
            }
            Ok(roots)
        };
        let mut tls = match gateway.quic_trust.as_ref().ok_or(QuicSetupError::NoTrust)? {
            QuicTrust::Fingerprint(sha256) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                    sha256: *sha256,
                    provider,
                }))
                .with_no_client_auth(),
            QuicTrust::CaFile(path) => {
                let pem = std::fs::read(path).map_err(|e| QuicSetupError::Pem {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                builder
                    .with_root_certificates(pem_roots(&pem, &path.display().to_string())?)
                    .with_no_client_auth()
            }
            QuicTrust::CaPem(pem) => builder
                .with_root_certificates(pem_roots(pem, "(in memory)")?)
                .with_no_client_auth(),
        };
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| QuicSetupError::Tls(e.to_string()))?;
        let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(1)));
        transport.max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(5))
                .map_err(|e| QuicSetupError::Tls(e.to_string()))?,
        ));
        client_config.transport_config(Arc::new(transport));
        let bind: SocketAddr = if gateway.quic_addr.is_ipv6() {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let mut endpoint = Endpoint::client(bind).map_err(QuicSetupError::Socket)?;
        endpoint.set_default_client_config(client_config);
        Ok(Self {
            endpoint,
            addr: gateway.quic_addr,
            server_name: gateway.quic_server_name.clone(),
            datagrams: gateway.quic_datagrams,
        })
    }

    async fn connect(&self) -> Result<Connection, String> {
        let connecting = self
            .endpoint
            .connect(self.addr, &self.server_name)
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("handshake timed out".to_owned()),
        }
    }
}

/// Reads length-prefixed frames from a stream until it ends.
async fn read_frames(mut recv: RecvStream, down: mpsc::UnboundedSender<Result<Vec<u8>, String>>) {
    let mut reader = FrameReader::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match recv.read(&mut buffer).await {
            Ok(Some(n)) => {
                reader.push(&buffer[..n]);
                loop {
                    match reader.next_frame() {
                        Ok(Some(frame)) => {
                            if down.send(Ok(frame)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = down.send(Err(format!("downlink stream: {e}")));
                            return;
                        }
                    }
                }
            }
            Ok(None) => {
                let _ = down.send(Err("the gateway closed the stream".to_owned()));
                return;
            }
            Err(e) => {
                let _ = down.send(Err(format!("downlink stream: {e}")));
                return;
            }
        }
    }
}

/// Opens a session's stream: the hello first.
async fn open_stream(
    device: &Device,
    connection: &Connection,
    down: &mpsc::UnboundedSender<Result<Vec<u8>, String>>,
) -> Result<SendStream, String> {
    let (mut send, recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    let credentials = &device.credentials;
    let hello = encode_hello(&DeviceHello {
        tenant: credentials.tenant.clone(),
        device: credentials.device.clone(),
        token: credentials.token.clone(),
    })
    .map_err(|e| e.to_string())?;
    let mut message = Vec::with_capacity(hello.len() + 4);
    write_frame(&mut message, &hello).map_err(|e| e.to_string())?;
    send.write_all(&message).await.map_err(|e| e.to_string())?;
    tokio::spawn(read_frames(recv, down.clone()));
    Ok(send)
}

/// Sends the frames of `session` that went as datagrams and are not acknowledged again,
/// on the session's stream (see [`super::gaps`]).
async fn resend_on_stream(
    device: &Device,
    session: &SessionId,
    gaps: &mut DatagramGaps,
    streams: &mut HashMap<SessionId, SendStream>,
    message: &mut Vec<u8>,
) -> Result<(), String> {
    let seqs = gaps.to_resend(session);
    let frames: Vec<(u64, Arc<[u8]>)> = device
        .spool()
        .entries()
        .filter(|entry| entry.session == *session && seqs.binary_search(&entry.seq).is_ok())
        .map(|entry| (entry.seq, Arc::clone(&entry.frame)))
        .collect();
    let Some(send) = streams.get_mut(session) else {
        return Err("stream vanished".to_owned());
    };
    tracing::debug!(
        device = %device.credentials.device,
        %session,
        frames = frames.len(),
        "acks show a datagram gap: resending on the stream"
    );
    for (seq, frame) in frames {
        message.clear();
        write_frame(message, &frame).map_err(|e| e.to_string())?;
        send.write_all(message).await.map_err(|e| e.to_string())?;
        gaps.sent_on_stream(session, seq);
        device.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        device
            .counters
            .datagrams_resent
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// The QUIC uplink task of one device.
pub(crate) async fn run(
    device: Arc<Device>,
    client: QuicClient,
    settings: LinkSettings,
    mut phase: watch::Receiver<Phase>,
) {
    let device_id = device.credentials.device.clone();
    let mut backoff = Backoff::new(settings, &crate::session::new_session_id(0));
    let mut stop = StopCheck::default();
    loop {
        if stop.may_stop(&device, *phase.borrow()) {
            break;
        }
        let connection = match client.connect().await {
            Ok(connection) => connection,
            Err(reason) => {
                tracing::debug!(device = %device_id, %reason, "QUIC connect failed");
                wait_or_phase(backoff.delay(), &mut phase).await;
                continue;
            }
        };
        backoff.reset();
        tracing::info!(device = %device_id, addr = %client.addr, "QUIC connected");
        device.emit(AgentEvent::Connected {
            device: device_id.clone(),
        });
        let (down_tx, mut down) = mpsc::unbounded_channel();
        let mut streams: HashMap<SessionId, SendStream> = HashMap::new();
        let mut cursor = Cursor::new();
        let mut message = Vec::new();
        // Whether the gateway has acknowledged a frame on this connection (datagrams only
        // then: it attributes them to a stream whose hello it took).
        let mut acked_here = false;
        // Frames of this connection that went as datagrams, for a resend on a gap.
        let mut gaps = DatagramGaps::default();
        // One timer across iterations: frames flowing must not keep postponing the check.
        let mut stall_check = tokio::time::interval(settings.resend_after / 4);
        stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = 'connection: loop {
            while let Some(entry) = cursor.next(&device) {
                if !streams.contains_key(&entry.session) {
                    match open_stream(&device, &connection, &down_tx).await {
                        Ok(send) => {
                            streams.insert(entry.session.clone(), send);
                        }
                        Err(reason) => break 'connection Some(reason),
                    }
                }
                if client.datagrams
                    && acked_here
                    && connection
                        .max_datagram_size()
                        .is_some_and(|max| entry.frame.len() <= max)
                {
                    match connection.send_datagram(bytes::Bytes::copy_from_slice(&entry.frame)) {
                        Ok(()) => {
                            let committed_seq = device.spool().committed(&entry.session);
                            gaps.sent_as_datagram(&entry.session, entry.seq, committed_seq);
                            cursor.sent(&device, &entry);
                            continue;
                        }
                        Err(quinn::SendDatagramError::ConnectionLost(e)) => {
                            break 'connection Some(e.to_string());
                        }
                        // Not taken after all (the peer's limit changed): the stream.
                        Err(_) => {}
                    }
                }
                let Some(send) = streams.get_mut(&entry.session) else {
                    break 'connection Some("stream vanished".to_owned());
                };
                message.clear();
                if let Err(e) = write_frame(&mut message, &entry.frame) {
                    break 'connection Some(e.to_string());
                }
                if let Err(e) = send.write_all(&message).await {
                    break 'connection Some(e.to_string());
                }
                gaps.sent_on_stream(&entry.session, entry.seq);
                cursor.sent(&device, &entry);
            }
            if stop.may_stop(&device, *phase.borrow()) {
                for (_, mut send) in streams.drain() {
                    let _ = send.finish();
                }
                connection.close(0u32.into(), b"done");
                break None;
            }
            tokio::select! {
                frame = down.recv() => match frame {
                    Some(Ok(bytes)) => {
                        let heard = device.handle_down(&bytes);
                        if heard.released() {
                            cursor.progressed();
                            acked_here = true;
                        }
                        if let Heard::Ack { session, committed_seq, .. } = heard
                            && gaps.acked(&session, committed_seq)
                            && let Err(reason) =
                                resend_on_stream(&device, &session, &mut gaps, &mut streams, &mut message).await
                        {
                            break Some(reason);
                        }
                    }
                    Some(Err(reason)) => break Some(reason),
                    None => break Some("downlink ended".to_owned()),
                },
                () = device.spooled.notified() => {}
                _ = stall_check.tick() => {
                    cursor.rewind_if_stalled(&device, settings.resend_after);
                }
                closed = connection.closed() => break Some(closed.to_string()),
                _ = phase.changed() => {}
                () = sleep_until_opt(stop.wake_at()) => {}
            }
        };
        let Some(reason) = reason else {
            break;
        };
        tracing::warn!(device = %device_id, %reason, "QUIC connection lost");
        device.emit(AgentEvent::Disconnected {
            device: device_id.clone(),
            reason,
        });
        connection.close(0u32.into(), b"reconnecting");
        wait_or_phase(backoff.delay(), &mut phase).await;
    }
    stopped(&device);
}
