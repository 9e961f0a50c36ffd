//! Where a device's downlink frames (acks, cues) go: the MQTT `down` topic through the
//! embedded broker, or the QUIC stream the device's latest frame came on.

use std::sync::Mutex;

use paceline_schemas::{DeviceId, TenantId, Topic};
use rumqttd::local::LinkTx;
use tokio::sync::mpsc;

/// The way back to a device.
#[derive(Debug, Clone)]
pub enum Route {
    /// No frame seen yet.
    None,
    /// The device's MQTT `down` topic.
    Mqtt,
    /// A QUIC stream: length-prefixing happens in the stream's writer task.
    Quic(mpsc::Sender<Vec<u8>>),
}

/// Sends downlink frames.
pub struct Downlink {
    mqtt: Option<Mutex<LinkTx>>,
}

impl Downlink {
    /// A downlink publishing MQTT frames through `link` (if there is a broker).
    pub fn new(mqtt: Option<LinkTx>) -> Downlink {
        Downlink {
            mqtt: mqtt.map(Mutex::new),
        }
    }

    /// Sends one encoded frame; false if it could not be handed on (no route, a full or
    /// closed stream). Never waits.
    pub fn send(
        &self,
        route: &Route,
        tenant: &TenantId,
        device: &DeviceId,
        frame: Vec<u8>,
    ) -> bool {
        match route {
            Route::None => false,
            Route::Mqtt => {
                let Some(link) = &self.mqtt else {
                    return false;
                };
                let topic = Topic::down(tenant, device).to_string();
                link.lock()
                    .ok()
                    .is_some_and(|mut link| link.try_publish(topic, frame).is_ok())
            }
            Route::Quic(stream) => stream.try_send(frame).is_ok(),
        }
    }
}
