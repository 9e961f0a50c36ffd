//! Open device connections, by device, so that revoking a device closes them at once
//! (MQTT front-door connections and QUIC streams each hold a [`ConnectionWatch`]).

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

#[cfg(test)]
mod tests {
    use super::*;

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
