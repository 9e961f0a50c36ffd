//! Topic ACLs of the embedded broker, enforced by its front door on the device→broker
//! byte stream ([`crate::broker::serve_front`]).
//!
//! A device may publish only on its own uplink topic (`pl/v1/{tenant}/{device}/up`), never
//! with the retain flag, and subscribe only to exactly its own downlink topic (no `+`,
//! no `#`, no other topic), at most [`MAX_FILTERS_PER_SUBSCRIBE`] filters a packet.
//! Unsubscribing, acknowledgements, pings and DISCONNECT pass. The first packet must be a
//! CONNECT and no other may follow; packets only a server sends are refused.
//!
//! [`PacketGate`] cuts the stream into whole MQTT 3.1.1 packets with rumqttc's codec
//! (`mqttbytes::v4`: bounded by the maximum packet size, errors and never panics) and
//! releases each packet's bytes only after it passed: a denied packet never reaches
//! rumqttd. It knows nothing of sockets; the relay feeds it bytes.

use bytes::{Bytes, BytesMut};
use paceline_schemas::{DeviceId, TenantId, Topic};
use rumqttc::mqttbytes::v4::{Connect, Publish, Subscribe, Unsubscribe};
use rumqttc::mqttbytes::{PacketType, check};

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
#[derive(Debug)]
pub struct FirstConnect {
    /// Its client id (the device id, if it is to authenticate).
    pub client_id: String,
    /// Its bytes, to forward unchanged.
    pub raw: Bytes,
}

/// Where a device→broker stream is: waiting for its CONNECT, or past it.
#[derive(Debug)]
enum Phase {
    AwaitConnect,
    /// After CONNECT; `None` when the client id names no active device (rumqttd then
    /// refuses the CONNECT, and any packet sent anyway is denied).
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

    /// The buffer the relay reads into (then calls [`PacketGate::next_connect`] or
    /// [`PacketGate::next_allowed`]).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// The whole CONNECT the stream starts with, once its bytes are all there (`Ok(None)`
    /// until then). Anything else first is [`AclDenial::Malformed`].
    pub fn next_connect(&mut self) -> Result<Option<FirstConnect>, AclDenial> {
        let Some((kind, raw)) = self.next_raw()? else {
            return Ok(None);
        };
        if kind != PacketType::Connect || !matches!(self.phase, Phase::AwaitConnect) {
            return Err(AclDenial::Malformed);
        }
        let header = check(raw.iter(), self.max_packet_bytes).map_err(|_| AclDenial::Malformed)?;
        let connect = Connect::read(header, raw.clone()).map_err(|_| AclDenial::Malformed)?;
        Ok(Some(FirstConnect {
            client_id: connect.client_id,
            raw,
        }))
    }

    /// Sets the ACL found for the CONNECT's client id (`None`: no active device).
    pub fn connected(&mut self, acl: Option<DeviceAcl>) {
        self.phase = Phase::Connected(acl);
    }

    /// The next whole packet after CONNECT if the ACL allows it (`Ok(None)` until one is
    /// whole); a denial ends the connection.
    pub fn next_allowed(&mut self) -> Result<Option<Bytes>, AclDenial> {
        let Some((kind, raw)) = self.next_raw()? else {
            return Ok(None);
        };
        let Phase::Connected(acl) = &self.phase else {
            return Err(AclDenial::Malformed);
        };
        let header = check(raw.iter(), self.max_packet_bytes).map_err(|_| AclDenial::Malformed)?;
        let malformed = |_| AclDenial::Malformed;
        match kind {
            PacketType::Publish => {
                let publish = Publish::read(header, raw.clone()).map_err(malformed)?;
                acl.as_ref()
                    .ok_or(AclDenial::PublishTopic)?
                    .check_publish(&publish.topic, publish.retain)?;
            }
            PacketType::Subscribe => {
                let subscribe = Subscribe::read(header, raw.clone()).map_err(malformed)?;
                if subscribe.filters.len() > MAX_FILTERS_PER_SUBSCRIBE {
                    return Err(AclDenial::SubscribeFilter);
                }
                let acl = acl.as_ref().ok_or(AclDenial::SubscribeFilter)?;
                for filter in &subscribe.filters {
                    acl.check_subscribe(&filter.path)?;
                }
            }
            PacketType::Unsubscribe => {
                Unsubscribe::read(header, raw.clone()).map_err(malformed)?;
            }
            PacketType::PubAck
            | PacketType::PubRec
            | PacketType::PubRel
            | PacketType::PubComp
            | PacketType::PingReq
            | PacketType::Disconnect => {}
            // A second CONNECT, or what only a server sends.
            PacketType::Connect
            | PacketType::ConnAck
            | PacketType::SubAck
            | PacketType::UnsubAck
            | PacketType::PingResp => return Err(AclDenial::Malformed),
        }
        Ok(Some(raw))
    }

    /// The next whole packet's type and bytes, taken off the buffer.
    fn next_raw(&mut self) -> Result<Option<(PacketType, Bytes)>, AclDenial> {
        let header = match check(self.buffer.iter(), self.max_packet_bytes) {
            Ok(header) => header,
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
            Err(_) => return Err(AclDenial::Malformed),
        };
        let kind = header.packet_type().map_err(|_| AclDenial::Malformed)?;
        let raw = self.buffer.split_to(header.frame_length()).freeze();
        Ok(Some((kind, raw)))
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::mqttbytes::QoS;
    use rumqttc::mqttbytes::v4::Packet;

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
            while let Some(raw) = gate.next_allowed()? {
                passed.push(raw.to_vec());
            }
        }
        Ok(passed)
    }

    #[test]
    fn the_gate_holds_each_packet_until_it_is_whole_and_checked() {
        let mut gate = PacketGate::new(1024);
        let connect = bytes_of(&Packet::Connect(Connect::new("d-dev")));
        for (i, b) in connect.iter().enumerate() {
            gate.buffer().extend_from_slice(&[*b]);
            let first = gate.next_connect().unwrap();
            assert_eq!(first.is_some(), i + 1 == connect.len(), "byte {i}");
            if let Some(first) = first {
                assert_eq!(first.client_id, "d-dev");
                assert_eq!(first.raw.to_vec(), connect);
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
