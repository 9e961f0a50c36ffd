//! A bench device over QUIC: its own connection and credentials on a shared
//! `quinn::Endpoint` (one UDP socket and one endpoint driver per shard, not per device),
//! one bidirectional stream opened with the device hello, length-prefixed frames both
//! ways, and a reader task that opens the downlink. With `PACELINE_BENCH_QUIC_DATAGRAMS=1`,
//! as an edge agent with `quic_datagrams` on, once the device has heard an ack it sends
//! each frame that fits as a QUIC datagram instead. A bench device does not resend: a
//! datagram the server dropped is a lost frame in the figures.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use paceline_schemas::hello::{DeviceHello, encode_hello};
use paceline_schemas::stream::{FrameReader, write_frame};

use super::probes::{DeviceState, Probes, on_downlink};
use super::server::Creds;

/// One device's QUIC connection and stream.
pub(super) struct QuicLink {
    send: quinn::SendStream,
    connection: quinn::Connection,
    /// Ends with the error that ended the downlink, if it was not the server finishing it.
    reader: tokio::task::JoinHandle<Option<String>>,
    /// Whether frames may go as datagrams (once an ack was heard).
    datagrams: bool,
    state: Arc<DeviceState>,
}

impl QuicLink {
    /// Appends one sealed frame, length-prefixed.
    pub(super) fn append(out: &mut Vec<u8>, frame: &[u8]) -> anyhow::Result<()> {
        write_frame(out, frame)?;
        Ok(())
    }

    /// Sends one sealed frame as a datagram if it may and it fits; false if it must go on
    /// the stream instead.
    pub(super) fn send_datagram(&self, frame: &[u8]) -> anyhow::Result<bool> {
        if !self.datagrams || self.state.acked.load(Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        if self
            .connection
            .max_datagram_size()
            .is_none_or(|max| frame.len() > max)
        {
            return Ok(false);
        }
        match self
            .connection
            .send_datagram(bytes::Bytes::copy_from_slice(frame))
        {
            Ok(()) => Ok(true),
            Err(quinn::SendDatagramError::ConnectionLost(err)) => Err(err.into()),
            Err(_) => Ok(false),
        }
    }

    /// Writes a tick's frames with one write (nothing if they all went as datagrams).
    pub(super) async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if !bytes.is_empty() {
            self.send.write_all(bytes).await?;
        }
        Ok(())
    }

    /// Ends the device's stream, waits (until `drained_by`) for the server to read it to
    /// the end, and closes the connection. Closing at once would throw away the frames
    /// still in flight, which a server behind on its work has not read yet; over MQTT
    /// the DISCONNECT queues behind them instead. The server ends its side of the stream
    /// when it has read ours to the end, and that ends the reader.
    ///
    /// Returns why the connection was lost, if it was before the server finished: the
    /// frames it still carried are gone (an edge agent would send them again on a new
    /// connection; the bench devices do not).
    pub(super) async fn close(mut self, drained_by: tokio::time::Instant) -> Option<String> {
        let _ = self.send.finish();
        let ended = tokio::time::timeout_at(drained_by, &mut self.reader).await;
        self.connection.close(0u32.into(), b"done");
        self.reader.abort();
        match ended {
            Ok(Ok(lost)) => lost,
            Ok(Err(_)) => None,
            Err(_) => Some("the server had not read the QUIC stream to its end in time".to_owned()),
        }
    }
}

/// A client endpoint on loopback for one shard's devices.
pub(super) fn endpoint(config: quinn::ClientConfig) -> anyhow::Result<quinn::Endpoint> {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
        .context("binding a QUIC client endpoint")?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

pub(super) fn client_config(cert_pem: &Path) -> anyhow::Result<quinn::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_file(cert_pem)
        .with_context(|| format!("reading {}", cert_pem.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"paceline/1".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// Connects one device on `endpoint`, sends its hello and starts its downlink reader.
pub(super) async fn connect(
    creds: &Creds,
    endpoint: &quinn::Endpoint,
    quic: SocketAddr,
    state: Arc<DeviceState>,
    probes: Probes,
    datagrams: bool,
) -> anyhow::Result<QuicLink> {
    let connection = tokio::time::timeout(
        Duration::from_secs(30),
        endpoint.connect(quic, "localhost")?,
    )
    .await
    .context("QUIC handshake timed out")??;
    let (mut send, mut recv) = connection.open_bi().await?;
    let hello = encode_hello(&DeviceHello {
        tenant: creds.tenant.clone(),
        device: creds.device.clone(),
        token: creds.token.clone(),
    })?;
    let mut prefixed = Vec::new();
    write_frame(&mut prefixed, &hello)?;
    send.write_all(&prefixed).await?;
    let key = creds.key.clone();
    let for_link = Arc::clone(&state);
    let reader = tokio::spawn(async move {
        let mut reader = FrameReader::new();
        let mut buffer = vec![0u8; 8192];
        loop {
            match recv.read(&mut buffer).await {
                Ok(Some(n)) => {
                    reader.push(buffer.get(..n).unwrap_or_default());
                    while let Ok(Some(frame)) = reader.next_frame() {
                        on_downlink(&key, &state, &probes, &frame);
                    }
                }
                Ok(None) => return None,
                Err(err) => return Some(format!("QUIC connection lost: {err}")),
            }
        }
    });
    Ok(QuicLink {
        send,
        connection,
        reader,
        datagrams,
        state: for_link,
    })
}
