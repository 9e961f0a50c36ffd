//! MQTT uplink (rumqttc, QoS 1): client id = username = device id, password = token hex;
//! frames up on `pl/v1/{tenant}/{device}/up`, acks and cues down on `.../down`.
//!
//! Each connection gets a fresh rumqttc client and event loop, dropped when the connection
//! fails: rumqttc's own retransmission queue never outlives a connection, so what is sent
//! after a reconnect is exactly the spool's unacknowledged frames, oldest first.

use std::sync::Arc;
use std::time::Duration;

use paceline_schemas::Topic;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};

use crate::agent::sleep_until_opt;
use crate::agent::{AgentEvent, Device, Phase};
use crate::uplink::{Backoff, Cursor, LinkSettings, StopCheck, stopped, wait_or_phase};

/// Largest MQTT packet either way: a frame is at most 64 KiB, plus the topic.
const MAX_PACKET_BYTES: usize = 70 * 1024;

fn options(device: &Device, host: &str, port: u16) -> MqttOptions {
    let credentials = &device.credentials;
    let id = credentials.device.as_str();
    let mut options = MqttOptions::new(id, host, port);
    options
        .set_credentials(id, credentials.token.expose_hex())
        .set_keep_alive(Duration::from_secs(5))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_inflight(100);
    options
}

/// Drives one event loop until it fails, forwarding its events.
async fn drive(mut eventloop: EventLoop, events: mpsc::UnboundedSender<Result<Event, String>>) {
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if events.send(Ok(event)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = events.send(Err(e.to_string()));
                return;
            }
        }
    }
}

/// The MQTT uplink task of one device.
pub(crate) async fn run(
    device: Arc<Device>,
    host: String,
    port: u16,
    settings: LinkSettings,
    mut phase: watch::Receiver<Phase>,
) {
    let credentials = device.credentials.clone();
    let up = Topic::up(&credentials.tenant, &credentials.device).to_string();
    let down = Topic::down(&credentials.tenant, &credentials.device).to_string();
    let mut backoff = Backoff::new(settings, &crate::session::new_session_id(0));
    let mut stop = StopCheck::default();
    loop {
        if stop.may_stop(&device, *phase.borrow()) {
            break;
        }
        let (client, mut eventloop) = AsyncClient::new(options(&device, &host, port), 256);
        eventloop.network_options.set_tcp_nodelay(true);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(eventloop, events_tx));
        let mut connected = false;
        let mut cursor = Cursor::new();
        // One timer across iterations: frames flowing must not keep postponing the check.
        let mut stall_check = tokio::time::interval(settings.resend_after / 4);
        stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = loop {
            if connected {
                // Hand every frame after the cursor to rumqttc (it waits for room).
                while let Some(entry) = cursor.next(&device) {
                    if client
                        .publish(up.as_str(), QoS::AtLeastOnce, false, entry.frame.to_vec())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    cursor.sent(&device, &entry);
                }
            }
            if stop.may_stop(&device, *phase.borrow()) {
                let _ = client.try_disconnect();
                break None;
            }
            tokio::select! {
                event = events.recv() => match event {
                    Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        connected = true;
                        backoff.reset();
                        cursor = Cursor::new();
                        if let Err(e) = client.try_subscribe(down.as_str(), QoS::AtLeastOnce) {
                            break Some(format!("subscribe: {e}"));
                        }
                        tracing::info!(device = %credentials.device, %host, port, "MQTT connected");
                        device.emit(AgentEvent::Connected { device: credentials.device.clone() });
                    }
                    Some(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                        if publish.topic == down && device.handle_down(&publish.payload).released() {
                            cursor.progressed();
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Some(e),
                    None => break Some("event loop ended".to_owned()),
                },
                () = device.spooled.notified() => {}
                _ = stall_check.tick() => {
                    if connected {
                        cursor.rewind_if_stalled(&device, settings.resend_after);
                    }
                }
                _ = phase.changed() => {}
                () = sleep_until_opt(stop.wake_at()) => {}
            }
        };
        driver.abort();
        let Some(reason) = reason else {
            break;
        };
        if connected {
            tracing::warn!(device = %credentials.device, %reason, "MQTT connection lost");
            device.emit(AgentEvent::Disconnected {
                device: credentials.device.clone(),
                reason,
            });
        } else {
            tracing::debug!(device = %credentials.device, %reason, "MQTT connect failed");
        }
        let delay = backoff.delay();
        wait_or_phase(delay, &mut phase).await;
    }
    stopped(&device);
}
