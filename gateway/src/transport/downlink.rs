//! Where a device's downlink frames (acks, cues) go: the MQTT `down` topic through the
//! embedded broker (or the client of an external one, whose own request queue stands in
//! for the thread below), or the QUIC stream the device's latest frame came on.
//!
//! **MQTT frames go through a thread of their own** (`mqtt-downlink`). [`Downlink::send`]
//! only queues the frame, so the threads that send (the writer's commit report, the
//! engine's outputs, the ingress answering a duplicate) never wait on the broker. The
//! thread takes everything queued, puts it in the broker link's buffer and tells rumqttd's
//! router once per batch: one router event for a whole commit's acks instead of one per
//! ack. Telling the router waits while its event channel (shared by every connection) is
//! full, so nothing is lost there; before, a full channel made a frame count as dropped
//! and left it in the link's buffer until some later frame's event carried it out.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use paceline_schemas::{DeviceId, TenantId, Topic};
use rumqttd::local::LinkTx;
use rumqttd::protocol::{Packet, Publish};
use tokio::sync::mpsc as tokio_mpsc;

/// MQTT downlink frames queued for the broker before more are dropped.
pub const MQTT_QUEUE_FRAMES: usize = 65_536;
/// MQTT downlink frames handed to the router per event at most.
const MQTT_BATCH_FRAMES: usize = 1024;

/// The way back to a device.
#[derive(Debug, Clone)]
pub enum Route {
    /// No frame seen yet.
    None,
    /// The device's MQTT `down` topic.
    Mqtt,
    /// A QUIC stream: length-prefixing happens in the stream's writer task.
    Quic(tokio_mpsc::Sender<Vec<u8>>),
}

/// Where MQTT downlink frames go.
enum MqttOut {
    /// To the `mqtt-downlink` thread, for the embedded broker's link.
    Embedded(SyncSender<(String, Vec<u8>)>),
    /// Through the gateway's client of an external broker (its own queue).
    External(rumqttc::AsyncClient),
}

/// Sends downlink frames.
pub struct Downlink {
    mqtt: Option<MqttOut>,
}

impl Downlink {
    /// A downlink publishing MQTT frames through `link` (if there is a broker), from a
    /// thread it starts. Without a thread (the OS refused one), MQTT frames are dropped
    /// and counted by the caller.
    pub fn new(mqtt: Option<LinkTx>) -> Downlink {
        let mqtt = mqtt.and_then(|link| {
            let (tx, rx) = mpsc::sync_channel(MQTT_QUEUE_FRAMES);
            match std::thread::Builder::new()
                .name("mqtt-downlink".to_owned())
                .spawn(move || publish_batches(link, &rx))
            {
                Ok(_) => Some(MqttOut::Embedded(tx)),
                Err(err) => {
                    tracing::error!(error = %err, "starting the MQTT downlink thread failed");
                    None
                }
            }
        });
        Downlink { mqtt }
    }

    /// A downlink publishing MQTT frames through the client of an external broker
    /// ([`crate::transport::external_broker`]).
    pub fn external(client: rumqttc::AsyncClient) -> Downlink {
        Downlink {
            mqtt: Some(MqttOut::External(client)),
        }
    }

    /// Sends one encoded frame; false if it could not be handed on (no route, a full
    /// queue, a full or closed stream; the caller counts it in `downlink_dropped`, and a
    /// full queue is logged at warn here). Never waits.
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
                let Some(queue) = &self.mqtt else {
                    return false;
                };
                let topic = Topic::down(tenant, device).to_string();
                match queue {
                    MqttOut::Embedded(queue) => match queue.try_send((topic, frame)) {
                        Ok(()) => true,
                        Err(TrySendError::Full(_)) => {
                            tracing::warn!(
                                "the MQTT downlink queue is full: a frame to a device was dropped"
                            );
                            false
                        }
                        Err(TrySendError::Disconnected(_)) => false,
                    },
                    // At most once, like the embedded link's publishes: a device that
                    // misses an ack resends, and hears the ack again.
                    MqttOut::External(client) => client
                        .try_publish(topic, rumqttc::QoS::AtMostOnce, false, frame)
                        .is_ok(),
                }
            }
            Route::Quic(stream) => match stream.try_send(frame) {
                Ok(()) => true,
                Err(tokio_mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        "a device's QUIC downlink queue is full: a frame to it was dropped"
                    );
                    false
                }
                Err(tokio_mpsc::error::TrySendError::Closed(_)) => false,
            },
        }
    }
}

/// The `mqtt-downlink` thread: queued frames into the link's buffer, one router event
/// per batch, until the gateway or the broker goes away.
fn publish_batches(mut link: LinkTx, queue: &Receiver<(String, Vec<u8>)>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MQTT_BATCH_FRAMES {
            match queue.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        let Some((last_topic, last_frame)) = batch.pop() else {
            continue;
        };
        if !batch.is_empty() {
            let mut buffer = link.buffer();
            for (topic, frame) in batch {
                buffer.push_back(Packet::Publish(
                    Publish::new(topic.into_bytes(), frame, false),
                    None,
                ));
            }
        }
        // The last one with the event that makes the router take the whole buffer.
        if let Err(err) = link.publish(last_topic, last_frame) {
            tracing::error!(error = %err, "the broker link closed; MQTT downlink stops");
            return;
        }
    }
}
