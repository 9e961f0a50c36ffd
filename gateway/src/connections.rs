//! Open device connections, by device, so that revoking a device closes them at once
//! (MQTT relays and QUIC streams each hold a [`ConnectionWatch`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use paceline_schemas::DeviceId;
use tokio::sync::watch;

type Registry = Mutex<HashMap<DeviceId, Vec<(u64, watch::Sender<bool>)>>>;

/// The registry.
#[derive(Default)]
pub struct Connections {
    open: Arc<Registry>,
    next: AtomicU64,
}

/// One connection's view of its device's revocation; deregisters when dropped.
pub struct ConnectionWatch {
    device: DeviceId,
    id: u64,
    revoked: watch::Receiver<bool>,
    open: Arc<Registry>,
}

impl ConnectionWatch {
    /// Resolves when the device is revoked.
    pub async fn revoked(&mut self) {
        let _ = self.revoked.wait_for(|revoked| *revoked).await;
    }
}

impl Drop for ConnectionWatch {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(list) = open.get_mut(&self.device)
        {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                open.remove(&self.device);
            }
        }
    }
}

impl Connections {
    /// Registers a connection of `device`.
    pub fn watch(&self, device: &DeviceId) -> ConnectionWatch {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(false);
        if let Ok(mut open) = self.open.lock() {
            open.entry(device.clone()).or_default().push((id, tx));
        }
        ConnectionWatch {
            device: device.clone(),
            id,
            revoked: rx,
            open: Arc::clone(&self.open),
        }
    }

    /// Tells every connection of `device` to close. Returns how many there were.
    pub fn revoke(&self, device: &DeviceId) -> usize {
        let Ok(mut open) = self.open.lock() else {
            return 0;
        };
        let list = open.remove(device).unwrap_or_default();
        for (_, tx) in &list {
            let _ = tx.send(true);
        }
        list.len()
    }
}

/// The client id of an MQTT CONNECT packet at the start of `bytes` (3.1.1 or 5), if the
/// whole of it up to the client id is there. Never reads past `bytes`.
pub fn mqtt_connect_client_id(bytes: &[u8]) -> Option<String> {
    let (&first, rest) = bytes.split_first()?;
    if first != 0x10 {
        return None;
    }
    // Remaining length: up to 4 bytes of 7-bit groups.
    let mut at = 0usize;
    for i in 0..4 {
        let b = *rest.get(i)?;
        at = i + 1;
        if b & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return None;
        }
    }
    let rest = rest.get(at..)?;
    let name_len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let mut pos = 2 + name_len;
    let level = *rest.get(pos)?;
    pos += 1 + 1 + 2; // level, flags, keep-alive
    if level == 5 {
        // Properties: a variable-length integer, then that many bytes.
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = *rest.get(pos)?;
            pos += 1;
            len |= usize::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 21 {
                return None;
            }
        }
        pos = pos.checked_add(len)?;
    }
    let id_len = usize::from(u16::from_be_bytes([*rest.get(pos)?, *rest.get(pos + 1)?]));
    let id = rest.get(pos + 2..pos + 2 + id_len)?;
    String::from_utf8(id.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_311(client_id: &str) -> Vec<u8> {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
        body.extend(u16::try_from(client_id.len()).unwrap().to_be_bytes());
        body.extend(client_id.as_bytes());
        let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
        packet.extend(body);
        packet
    }

    #[test]
    fn reads_the_client_id_of_a_connect_and_nothing_else() {
        let packet = connect_311("d-abc123");
        assert_eq!(mqtt_connect_client_id(&packet).as_deref(), Some("d-abc123"));
        for cut in 0..packet.len() {
            assert_eq!(mqtt_connect_client_id(&packet[..cut]), None, "cut at {cut}");
        }
        assert_eq!(mqtt_connect_client_id(&[0x30, 2, 0, 0]), None);
        assert_eq!(
            mqtt_connect_client_id(&[0x10, 0xFF, 0xFF, 0xFF, 0xFF]),
            None
        );
        // MQTT 5 with two bytes of properties.
        let mut v5 = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0xC2, 0, 60, 2, 0x21, 0x10];
        v5.extend(3u16.to_be_bytes());
        v5.extend(b"d-5");
        let mut packet = vec![0x10, u8::try_from(v5.len()).unwrap()];
        packet.extend(v5);
        assert_eq!(mqtt_connect_client_id(&packet).as_deref(), Some("d-5"));
    }

    #[tokio::test]
    async fn revoking_wakes_every_connection_of_the_device_only() {
        let connections = Connections::default();
        let a = DeviceId::new("d-a").unwrap();
        let b = DeviceId::new("d-b").unwrap();
        let mut first = connections.watch(&a);
        let mut second = connections.watch(&a);
        let mut other = connections.watch(&b);
        assert_eq!(connections.revoke(&a), 2);
        first.revoked().await;
        second.revoked().await;
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), other.revoked()).await;
        assert!(waited.is_err(), "another device's connection stays open");
        drop(other);
        assert_eq!(connections.revoke(&b), 0);
    }
}
