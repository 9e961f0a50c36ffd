//! A bench device over MQTT: its own connection and credentials (the lean client in
//! [`crate::mqtt_client`]), a reader task that opens the downlink and answers its QoS 1
//! publishes with PUBACKs (all of one read's in one write), and the uplink packets a shard
//! writes for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use paceline_schemas::Topic;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Mutex;

use super::probes::{DeviceState, Probes, on_downlink};
use super::server::Creds;
use crate::mqtt_client::{self, Incoming, PINGREQ};

/// MQTT keep-alive the devices announce; the shards ping well within it before the ride.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// One device's MQTT connection.
pub(super) struct MqttLink {
    write: Arc<Mutex<OwnedWriteHalf>>,
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
        self.write.lock().await.write_all(bytes).await?;
        Ok(())
    }

    /// Sends PINGREQ (while waiting for the ride).
    pub(super) async fn ping(&mut self) -> anyhow::Result<()> {
        self.write(&PINGREQ).await
    }

    pub(super) async fn close(self) {
        let _ = self.write.lock().await.write_all(&[0xe0, 0x00]).await;
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
    let (mut read_half, write_half) = stream.into_split();
    let write = Arc::new(Mutex::new(write_half));
    let acks_write = Arc::clone(&write);
    let key = creds.key.clone();
    let reader = tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        let mut pubacks = Vec::with_capacity(64);
        loop {
            let n = match read_half.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
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
                if acks_write.lock().await.write_all(&pubacks).await.is_err() {
                    return;
                }
                pubacks.clear();
            }
        }
    });
    Ok(MqttLink {
        write,
        topic: Topic::up(&creds.tenant, &creds.device).to_string(),
        next_pkid: 0,
        reader,
    })
}
