//! Topic ACLs of the embedded broker, enforced by its front door on what a device sends
//! ([`crate::transport::broker::serve_front`]).
//!
//! A device may publish only on its own uplink topic (`pl/v1/{tenant}/{device}/up`), never
//! with the retain flag, and subscribe only to exactly its own downlink topic (no `+`,
//! no `#`, no other topic), at most [`MAX_FILTERS_PER_SUBSCRIBE`] filters a packet.
//! Unsubscribing, acknowledgements, pings and DISCONNECT pass. The first packet must be a
//! CONNECT and no other may follow; packets only a server sends are refused.
//!
//! [`PacketGate`] cuts the stream into whole MQTT 3.1.1 packets with rumqttd's own codec
//! (`rumqttd::protocol::v4`: bounded by the maximum packet size, errors and never panics,
//! no copy of the payload) and hands out each packet, as the broker's router takes it,
//! only after it passed: a denied packet never reaches the router. It knows nothing of
//! sockets; the front door feeds it bytes.

use bytes::BytesMut;
use paceline_schemas::{DeviceId, TenantId, Topic};
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{Packet, Protocol};

use crate::metrics::AclDenial;

/// The most filters one SUBSCRIBE may carry (a device needs one).
pub const MAX_FILTERS_PER_SUBSCRIBE: usize = 4;

/// What one device may do: its own two topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAcl {
    up: String,
    down: String,
}

impl DeviceAcl {
    /// The ACL of `device` of `tenant`.
    pub fn new(tenant: &TenantId, device: &DeviceId) -> Self {
        Self {
            up: Topic::up(tenant, device).to_string(),
            down: Topic::down(tenant, device).to_string(),
        }
    }

    /// Whether the device may publish on `topic` (with `retain` as its flag).
    pub fn check_publish(&self, topic: &str, retain: bool) -> Result<(), AclDenial> {
        if topic != self.up {
            return Err(AclDenial::PublishTopic);
        }
        if retain {
            return Err(AclDenial::Retain);
        }
        Ok(())
    }

    /// Whether the device may subscribe to `filter`: only its own downlink topic, exactly.
    pub fn check_subscribe(&self, filter: &str) -> Result<(), AclDenial> {
        if filter == self.down {
            Ok(())
        } else {
            Err(AclDenial::SubscribeFilter)
        }
    }
}

/// The first packet of a connection: a CONNECT, whole.
pub struct FirstConnect {
    /// Its client id (the device id, if it is to authenticate).
    pub client_id: String,
    /// Its user name and password (the device id and its token), if it has them.
    pub login: Option<(String, String)>,
    /// The keepalive it asks for, in seconds (0: none).
    pub keep_alive_s: u16,
}

impl std::fmt::Debug for FirstConnect {
    /// Without the password: a device's token never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstConnect")
            .field("client_id", &self.client_id)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .field("keep_alive_s", &self.keep_alive_s)
            .finish()
    }
}

/// A packet the ACL let through, as the broker's router takes it.
#[derive(Debug, PartialEq)]
pub struct Allowed {
    /// The packet.
    pub packet: Packet,
    /// Whether it is a publish the router acknowledges (QoS 1 or 2): one more in flight.
    pub awaits_ack: bool,
}

/// Where a device→broker stream is: waiting for its CONNECT, or past it.
#[derive(Debug)]
enum Phase {
    AwaitConnect,
    /// After CONNECT; `None` when the client id names no active device (the front door
    /// then refuses the CONNECT, and any packet sent anyway is denied).
    Connected(Option<DeviceAcl>),
}

/// Cuts a device's bytes into whole packets and lets through only those the ACL allows.
#[derive(Debug)]
pub struct PacketGate {
    buffer: BytesMut,
    max_packet_bytes: usize,
    phase: Phase,
}

impl PacketGate {
    /// A gate for a new connection; no packet may exceed `max_packet_bytes` (remaining
    /// length), so the buffer holds at most one such packet and one read.
    pub fn new(max_packet_bytes: usize) -> Self {
        Self {
            buffer: BytesMut::with_capacity(16 * 1024),
            max_packet_bytes,
            phase: Phase::AwaitConnect,
        }
    }

    /// The buffer the front door reads into (then calls [`PacketGate::next_connect`] or
    /// [`PacketGate::next_allowed`]).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// The whole CONNECT the stream starts with, once its bytes are all there (`Ok(None)`
    /// until then). Anything else first is [`AclDenial::Malformed`].
    pub fn next_connect(&mut self) -> Result<Option<FirstConnect>, AclDenial> {
        if !matches!(self.phase, Phase::AwaitConnect) {
            return Err(AclDenial::Malformed);
        }
        let Some((packet, _)) = self.next_packet()? else {
            return Ok(None);
        };
        let Packet::Connect(connect, _, _, _, login) = packet else {
            return Err(AclDenial::Malformed);
        };
        Ok(Some(FirstConnect {
            client_id: connect.client_id,
            login: login.map(|login| (login.username, login.password)),
            keep_alive_s: connect.keep_alive,
        }))
    }

    /// Sets the ACL found for the CONNECT's client id (`None`: no active device).
    pub fn connected(&mut self, acl: Option<DeviceAcl>) {
        self.phase = Phase::Connected(acl);
    }

    /// The next whole packet after CONNECT if the ACL allows it (`Ok(None)` until one is
    /// whole); a denial ends the connection.
    pub fn next_allowed(&mut self) -> Result<Option<Allowed>, AclDenial> {
        let Some((packet, awaits_ack)) = self.next_packet()? else {
            return Ok(None);
        };
        let Phase::Connected(acl) = &self.phase else {
            return Err(AclDenial::Malformed);
        };
        match &packet {
            Packet::Publish(publish, _) => {
                let topic =
                    std::str::from_utf8(&publish.topic).map_err(|_| AclDenial::Malformed)?;
                acl.as_ref()
                    .ok_or(AclDenial::PublishTopic)?
                    .check_publish(topic, publish.retain)?;
            }
            Packet::Subscribe(subscribe, _) => {
                if subscribe.filters.len() > MAX_FILTERS_PER_SUBSCRIBE {
                    return Err(AclDenial::SubscribeFilter);
                }
                let acl = acl.as_ref().ok_or(AclDenial::SubscribeFilter)?;
                for filter in &subscribe.filters {
                    acl.check_subscribe(&filter.path)?;
                }
            }
            Packet::Unsubscribe(unsubscribe, _) if unsubscribe.filters.is_empty() => {
                return Err(AclDenial::Malformed);
            }
            Packet::Unsubscribe(..)
            | Packet::PubAck(..)
            | Packet::PubRec(..)
            | Packet::PubRel(..)
            | Packet::PubComp(..)
            | Packet::PingReq(_)
            | Packet::Disconnect(..) => {}
            // A second CONNECT, or what only a server sends.
            Packet::Connect(..)
            | Packet::ConnAck(..)
            | Packet::SubAck(..)
            | Packet::UnsubAck(..)
            | Packet::PingResp(_) => return Err(AclDenial::Malformed),
        }
        Ok(Some(Allowed { packet, awaits_ack }))
    }

    /// The next whole packet, taken off the buffer, and whether it is a publish at QoS 1
    /// or 2 (from its first byte: rumqttd keeps a publish's QoS to itself).
    fn next_packet(&mut self) -> Result<Option<(Packet, bool)>, AclDenial> {
        let first = self.buffer.first().copied().unwrap_or(0);
        let awaits_ack = first >> 4 == 3 && (first >> 1) & 0b11 != 0;
        match V4.read_mut(&mut self.buffer, self.max_packet_bytes) {
            Ok(packet) => Ok(Some((packet, awaits_ack))),
            Err(rumqttd::protocol::Error::InsufficientBytes(_)) => Ok(None),
            Err(_) => Err(AclDenial::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::mqttbytes::QoS;
    use rumqttc::mqttbytes::v4::{Connect, Login, Packet, Publish, Subscribe, Unsubscribe};

    use super::*;

    fn acl() -> DeviceAcl {
        DeviceAcl::new(
            &TenantId::new("gym-a").unwrap(),
            &DeviceId::new("d-dev").unwrap(),
        )
    }

    #[test]
    fn a_device_publishes_on_its_own_uplink_and_subscribes_to_its_own_downlink_only() {
        let long = format!("pl/v1/gym-a/d-dev/up/{}", "x".repeat(70_000));
        type Decision = Result<(), AclDenial>;
        let cases: &[(&str, Decision, Decision)] = &[
            // (topic or filter, publish without retain, subscribe)
            (
                "pl/v1/gym-a/d-dev/up",
                Ok(()),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-dev/down",
                Err(AclDenial::PublishTopic),
                Ok(()),
            ),
            (
                "pl/v1/gym-b/d-dev/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-other/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-b/d-other/down",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "#",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "+",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/+/+/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/+/down",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-dev/+",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-dev/#",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-dev/down/",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a/d-dev/up/",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "/pl/v1/gym-a/d-dev/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "pl/v1/gym-a//d-dev/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "PL/v1/gym-a/d-dev/up",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "$SYS/#",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                "",
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
            (
                &long,
                Err(AclDenial::PublishTopic),
                Err(AclDenial::SubscribeFilter),
            ),
        ];
        let acl = acl();
        for (topic, publish, subscribe) in cases {
            let shown: String = topic.chars().take(40).collect();
            assert_eq!(acl.check_publish(topic, false), *publish, "publish {shown}");
            assert_eq!(acl.check_subscribe(topic), *subscribe, "subscribe {shown}");
        }
        assert_eq!(
            acl.check_publish("pl/v1/gym-a/d-dev/up", true),
            Err(AclDenial::Retain)
        );
    }

    /// The packet's bytes, with packet id 1 where it needs one.
    fn bytes_of(packet: &Packet) -> Vec<u8> {
        let mut packet = packet.clone();
        match &mut packet {
            Packet::Publish(p) if p.qos != QoS::AtMostOnce => p.pkid = 1,
            Packet::Subscribe(s) => s.pkid = 1,
            Packet::Unsubscribe(u) => u.pkid = 1,
            _ => {}
        }
        let mut out = BytesMut::new();
        packet.write(&mut out, 1 << 20).unwrap();
        out.to_vec()
    }

    /// Feeds `bytes` one byte at a time; returns the packets let through, or the denial.
    fn run(gate: &mut PacketGate, bytes: &[u8]) -> Result<Vec<Vec<u8>>, AclDenial> {
        let mut passed = Vec::new();
        for b in bytes {
            gate.buffer().extend_from_slice(&[*b]);
            while let Some(allowed) = gate.next_allowed()? {
                // Written back with rumqttd's codec: the same bytes as rumqttc's.
                let mut bytes = BytesMut::new();
                V4.write(allowed.packet, &mut bytes).unwrap();
                passed.push(bytes.to_vec());
            }
        }
        Ok(passed)
    }

    #[test]
    fn the_gate_holds_each_packet_until_it_is_whole_and_checked() {
        let mut gate = PacketGate::new(1024);
        let mut connect = Connect::new("d-dev");
        connect.keep_alive = 7;
        connect.login = Some(Login::new("d-dev", "00ff"));
        let connect = bytes_of(&Packet::Connect(connect));
        for (i, b) in connect.iter().enumerate() {
            gate.buffer().extend_from_slice(&[*b]);
            let first = gate.next_connect().unwrap();
            assert_eq!(first.is_some(), i + 1 == connect.len(), "byte {i}");
            if let Some(first) = first {
                assert_eq!(first.client_id, "d-dev");
                assert_eq!(first.keep_alive_s, 7);
                assert_eq!(first.login, Some(("d-dev".to_owned(), "00ff".to_owned())));
                assert!(!format!("{first:?}").contains("00ff"), "{first:?}");
                assert!(gate.buffer().is_empty());
            }
        }
        gate.connected(Some(acl()));
        let good = [
            Packet::Subscribe(Subscribe::new("pl/v1/gym-a/d-dev/down", QoS::AtLeastOnce)),
            Packet::Publish(Publish::new(
                "pl/v1/gym-a/d-dev/up",
                QoS::AtLeastOnce,
                vec![1; 300],
            )),
            Packet::PingReq,
            Packet::Unsubscribe(Unsubscribe::new("pl/v1/gym-a/d-dev/down")),
            Packet::Disconnect,
        ];
        let stream: Vec<u8> = good.iter().flat_map(bytes_of).collect();
        let passed = run(&mut gate, &stream).unwrap();
        assert_eq!(passed, good.iter().map(bytes_of).collect::<Vec<_>>());

        // Which publishes the router will acknowledge (the front door's in-flight count).
        for (qos, awaits_ack) in [
            (QoS::AtMostOnce, false),
            (QoS::AtLeastOnce, true),
            (QoS::ExactlyOnce, true),
        ] {
            let publish = Publish::new("pl/v1/gym-a/d-dev/up", qos, vec![1; 3]);
            gate.buffer()
                .extend_from_slice(&bytes_of(&Packet::Publish(publish)));
            let allowed = gate.next_allowed().unwrap().unwrap();
            assert_eq!(allowed.awaits_ack, awaits_ack, "{qos:?}");
        }
        assert_eq!(gate.next_allowed(), Ok(None));

        let mut retained = Publish::new("pl/v1/gym-a/d-dev/up", QoS::AtLeastOnce, vec![1]);
        retained.retain = true;
        let denied = [
            (
                Packet::Subscribe(Subscribe::new("#", QoS::AtMostOnce)),
                AclDenial::SubscribeFilter,
            ),
            (
                Packet::Publish(Publish::new(
                    "pl/v1/gym-b/d-x/up",
                    QoS::AtLeastOnce,
                    vec![1],
                )),
                AclDenial::PublishTopic,
            ),
            (Packet::Publish(retained), AclDenial::Retain),
            (Packet::Connect(Connect::new("d-dev")), AclDenial::Malformed),
            (Packet::PingResp, AclDenial::Malformed),
        ];
        for (packet, reason) in denied {
            let mut gate = PacketGate::new(1024);
            gate.connected(Some(acl()));
            assert_eq!(
                run(&mut gate, &bytes_of(&packet)),
                Err(reason),
                "{packet:?}"
            );
        }
        // Five filters in one SUBSCRIBE, even all the device's own.
        let mut many = Subscribe::new("pl/v1/gym-a/d-dev/down", QoS::AtLeastOnce);
        for _ in 0..MAX_FILTERS_PER_SUBSCRIBE {
            many.add("pl/v1/gym-a/d-dev/down".to_owned(), QoS::AtLeastOnce);
        }
        let mut gate = PacketGate::new(1024);
        gate.connected(Some(acl()));
        assert_eq!(
            run(&mut gate, &bytes_of(&Packet::Subscribe(many))),
            Err(AclDenial::SubscribeFilter)
        );
        // No ACL (an unknown device): nothing passes.
        let mut gate = PacketGate::new(1024);
        gate.connected(None);
        let own = Packet::Publish(Publish::new(
            "pl/v1/gym-a/d-dev/up",
            QoS::AtLeastOnce,
            vec![1],
        ));
        assert_eq!(
            run(&mut gate, &bytes_of(&own)),
            Err(AclDenial::PublishTopic)
        );
    }

    #[test]
    fn hostile_bytes_are_malformed_never_a_panic_nor_a_large_buffer() {
        // Oversize: refused from the fixed header, before the body arrives.
        let mut gate = PacketGate::new(1024);
        gate.connected(Some(acl()));
        gate.buffer()
            .extend_from_slice(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(gate.next_allowed(), Err(AclDenial::Malformed));
        // Not a CONNECT first.
        let mut gate = PacketGate::new(1024);
        gate.buffer().extend_from_slice(&bytes_of(&Packet::PingReq));
        assert!(gate.next_connect().is_err());
        // A remaining length of five bytes; packet type 0 and 15; truncated bodies.
        for bytes in [
            &[0x30u8, 0x80, 0x80, 0x80, 0x80, 0x01][..],
            &[0x00, 0x00],
            &[0xF0, 0x00],
            &[0x30, 0x01, 0x00],
            &[0x82, 0x02, 0x00, 0x01],
            &[0x30, 0x00],
        ] {
            let mut gate = PacketGate::new(1024);
            gate.connected(Some(acl()));
            gate.buffer().extend_from_slice(bytes);
            assert_eq!(gate.next_allowed(), Err(AclDenial::Malformed), "{bytes:?}");
        }
        // Random bytes: an answer every time.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2_000 {
            let mut gate = PacketGate::new(1024);
            gate.connected(Some(acl()));
            for _ in 0..64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                gate.buffer().extend_from_slice(&state.to_le_bytes());
                match gate.next_allowed() {
                    Ok(Some(_)) | Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
    }
}
