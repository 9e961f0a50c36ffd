//! A bench device over MQTT: its own connection and credentials (the lean client in
//! [`crate::mqtt_client`]), a reader task that opens the downlink and answers its QoS 1
//! publishes with PUBACKs at once (all of one read's in one write, as an edge agent
//! does), and the uplink packets a shard writes for it.
//!
//! Both sides write to the one socket without a lock held across an await: a write is
//! one non-blocking `send` ([`Wire::send`]); only what the socket could not take at once
//! is kept, in order, and written when it is writable again ([`Wire::flush`]). On
//! loopback that almost never happens, so a device's write is one system call and no
//! task hand-off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use paceline_schemas::Topic;
use tokio::net::TcpStream;

use super::probes::{DeviceState, Probes, on_downlink};
use super::server::Creds;
use crate::mqtt_client::{self, Incoming, PINGREQ};

/// MQTT keep-alive the devices announce; the shards ping well within it before the ride.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// One device's socket, shared by its shard (uplink) and its reader (PUBACKs).
struct Wire {
    stream: TcpStream,
    /// Bytes the socket has not taken yet, in order; written before anything newer.
    pending: std::sync::Mutex<Vec<u8>>,
}

impl Wire {
    /// Writes `bytes` with one non-blocking `send` if nothing is pending, and keeps what
    /// the socket did not take. Returns whether everything is out.
    fn send(&self, bytes: &[u8]) -> std::io::Result<bool> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| std::io::Error::other("a device's write buffer was poisoned"))?;
        let mut rest = bytes;
        if pending.is_empty() {
            match self.stream.try_write(bytes) {
                Ok(n) => rest = bytes.get(n..).unwrap_or_default(),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        pending.extend_from_slice(rest);
        Ok(pending.is_empty())
    }

    /// Waits until everything pending is written.
    async fn flush(&self) -> std::io::Result<()> {
        loop {
            self.stream.writable().await?;
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| std::io::Error::other("a device's write buffer was poisoned"))?;
            if pending.is_empty() {
                return Ok(());
            }
            match self.stream.try_write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
    }

    async fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        if self.send(bytes)? {
            return Ok(());
        }
        self.flush().await
    }
}

/// One device's MQTT connection.
pub(super) struct MqttLink {
    wire: Arc<Wire>,
    topic: String,
    next_pkid: u16,
    reader: tokio::task::JoinHandle<()>,
}

impl MqttLink {
    /// Appends the PUBLISH of one sealed frame.
    pub(super) fn append(&mut self, out: &mut Vec<u8>, frame: &[u8]) {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        mqtt_client::write_publish_qos1(out, &self.topic, self.next_pkid, frame);
    }

    /// Writes a tick's packets with one write.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.wire.write_all(bytes).await?;
        Ok(())
    }

    /// Sends PINGREQ (while waiting for the ride).
    pub(super) async fn ping(&mut self) -> anyhow::Result<()> {
        self.write(&PINGREQ).await
    }

    pub(super) async fn close(self) {
        let _ = self.wire.write_all(&[0xe0, 0x00]).await;
        self.reader.abort();
    }
}

/// Connects and subscribes one device, and starts its downlink reader.
pub(super) async fn connect(
    creds: &Creds,
    addr: SocketAddr,
    state: Arc<DeviceState>,
    probes: Probes,
) -> anyhow::Result<MqttLink> {
    let token = creds.token.expose_hex();
    let (mut stream, mut reader) = mqtt_client::connect(
        addr,
        creds.device.as_str(),
        Some((creds.device.as_str(), token.as_str())),
        KEEP_ALIVE,
    )
    .await
    .context("MQTT connect")?;
    mqtt_client::subscribe(
        &mut stream,
        &mut reader,
        &Topic::down(&creds.tenant, &creds.device).to_string(),
    )
    .await
    .context("MQTT subscribe")?;
    let wire = Arc::new(Wire {
        stream,
        pending: std::sync::Mutex::new(Vec::new()),
    });
    let acks_wire = Arc::clone(&wire);
    let key = creds.key.clone();
    let reader = tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        let mut pubacks = Vec::with_capacity(64);
        loop {
            if acks_wire.stream.readable().await.is_err() {
                return;
            }
            let n = match acks_wire.stream.try_read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            reader.push(chunk.get(..n).unwrap_or_default());
            loop {
                match reader.next_packet() {
                    Ok(Some(Incoming::Publish { qos, pkid, payload })) => {
                        on_downlink(&key, &state, &probes, payload);
                        if qos > 0 {
                            mqtt_client::write_puback(&mut pubacks, pkid);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        tracing::debug!(error = %err, "bench device: bad MQTT from the server");
                        return;
                    }
                }
            }
            if !pubacks.is_empty() {
                if acks_wire.write_all(&pubacks).await.is_err() {
                    return;
                }
                pubacks.clear();
            }
        }
    });
    Ok(MqttLink {
        wire,
        topic: Topic::up(&creds.tenant, &creds.device).to_string(),
        next_pkid: 0,
        reader,
    })
}
