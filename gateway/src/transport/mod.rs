//! How frames reach the live loop and how acks and cues go back: the transports.
//!
//! - [`broker`]: the embedded MQTT broker (rumqttd's router, configured in code) and its
//!   front door, which reads each device's packets through the topic ACLs of
//!   [`mqtt_acl`] before the router sees them.
//! - [`external_broker`]: the gateway as a client of an external MQTT broker instead.
//! - [`quic`]: QUIC ingress (quinn), one bidirectional stream per device session, with
//!   its self-signed certificate from [`tls`].
//! - [`downlink`]: where a device's acks and cues go (its MQTT `down` topic or its QUIC
//!   stream).
//! - [`connections`]: every open device connection, so that revoking a device closes
//!   them at once.
//!
//! Each hands the bytes of a frame to [`crate::live::Live::on_frame`] and carries out
//! what it answers; none decides anything about a frame on its own.

pub mod broker;
pub mod connections;
pub mod downlink;
pub mod external_broker;
pub mod mqtt_acl;
pub mod quic;
pub mod tls;
