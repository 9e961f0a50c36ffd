//! The embedded broker's topic ACLs, enforced by its front door: a device of another tenant
//! that subscribes to `#` or `pl/v1/+/+/up` hears nothing of a rider and is disconnected,
//! one that publishes on another device's uplink topic is disconnected and its frame never
//! arrives while the owner rides on, and a retained publish on a device's own topic is
//! refused; each closing is counted by reason. A CONNECT held back past 5 s gets no
//! CONNACK, and a device revoked while its CONNECT trickles in is refused all the same.
//! The front door speaks MQTT itself on the router's local links: a wrong token gets a
//! CONNACK that refuses it, a ping its answer, a second connection with the same client
//! id replaces the first, a frame its PUBACK and then the gateway's ack on the downlink,
//! a publish no ack follows its PUBACK alone once the 25 ms hold runs out, and a
//! connection silent past 1.5× its keepalive is closed.

use std::process::{Command, ExitStatus, Stdio};

use bytes::BytesMut;
use paceline_schemas::Topic;
use rumqttc::mqttbytes::v4::{Connect, Login, Packet, Publish, Subscribe};
use rumqttc::mqttbytes::{QoS, check};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// A device speaking MQTT byte by byte, to see exactly what the gateway answers.
struct RawDevice {
    stream: TcpStream,
    received: BytesMut,
}

impl RawDevice {
    /// Connects with the device's real credentials and waits for a CONNACK that accepts.
    async fn connect(gateway: &Gateway, creds: &Creds) -> RawDevice {
        Self::connect_with_keepalive(gateway, creds, 10).await
    }

    /// As [`RawDevice::connect`], asking for a keepalive of `keep_alive_s`.
    async fn connect_with_keepalive(
        gateway: &Gateway,
        creds: &Creds,
        keep_alive_s: u16,
    ) -> RawDevice {
        let stream = TcpStream::connect(gateway.mqtt).await.unwrap();
        let mut device = RawDevice {
            stream,
            received: BytesMut::new(),
        };
        let mut connect = Connect::new(creds.device.as_str());
        connect.keep_alive = keep_alive_s;
        connect.login = Some(Login::new(creds.device.as_str(), creds.token.expose_hex()));
        device.send(Packet::Connect(connect)).await;
        match device.next_packet().await {
            Some(Packet::ConnAck(ack)) => {
                assert_eq!(ack.code, rumqttc::mqttbytes::v4::ConnectReturnCode::Success)
            }
            other => panic!("expected a CONNACK, got {other:?}"),
        }
        device
    }

    async fn send(&mut self, packet: Packet) {
        let mut bytes = BytesMut::new();
        packet.write(&mut bytes, 1 << 20).unwrap();
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// The next packet from the gateway, or `None` once it closed the connection.
    async fn next_packet(&mut self) -> Option<Packet> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match check(self.received.iter(), 1 << 20) {
                    Ok(_) => return Some(Packet::read(&mut self.received, 1 << 20).unwrap()),
                    Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                    Err(err) => panic!("the gateway sent a malformed packet: {err}"),
                }
                match self.stream.read_buf(&mut self.received).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("the gateway answers or closes the connection within the deadline")
    }

    /// Every packet the gateway sends until it closes the connection.
    async fn packets_until_closed(&mut self) -> Vec<Packet> {
        let mut packets = Vec::new();
        while let Some(packet) = self.next_packet().await {
            packets.push(packet);
        }
        packets
    }
}

/// A publish of `payload` on `topic` at QoS 1.
fn publish(topic: &str, payload: Vec<u8>, retain: bool) -> Packet {
    let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload);
    publish.pkid = 1;
    publish.retain = retain;
    Packet::Publish(publish)
}

fn subscribe(filter: &str) -> Packet {
    let mut subscribe = Subscribe::new(filter, QoS::AtLeastOnce);
    subscribe.pkid = 1;
    Packet::Subscribe(subscribe)
}

fn mosquitto_args(gateway: &Gateway, creds: &Creds, command: &mut Command) {
    command
        .args(["-h", "127.0.0.1", "-p", &gateway.mqtt.port().to_string()])
        .args(["-i", creds.device.as_str(), "-u", creds.device.as_str()])
        .args(["-P", &creds.token.expose_hex()]);
}

/// Waits for `child` to exit within the deadline, killing it if it does not.
async fn exit_of(mut child: std::process::Child) -> Option<ExitStatus> {
    let start = tokio::time::Instant::now();
    let status = wait_until("the client to exit", DEADLINE * 2, async || {
        if start.elapsed() > DEADLINE {
            return Some(None);
        }
        child.try_wait().unwrap().map(Some)
    })
    .await;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

async fn denied(gateway: &Gateway, reason: &str) -> f64 {
    gateway
        .counter(
            "paceline_mqtt_acl_denied_total",
            &format!("reason=\"{reason}\""),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_subscribing_to_every_topic_hears_nothing_and_is_disconnected() {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-a", "ana");
    let bob = gateway.pair("gym-b", "bob");
    let bea = gateway.pair("gym-b", "bea");
    let session = session_id("watched");

    // Bob listens to everything with mosquitto_sub while ana rides.
    let heard = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("mosquitto_sub");
    mosquitto_args(&gateway, &bob, &mut command);
    let listener = command
        .args(["-t", "#", "-v", "-q", "1"])
        .stdout(Stdio::from(heard.reopen().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (Debian mosquitto-clients) is installed");
    wait_until("bob's subscription to be denied", DEADLINE, async || {
        denied(&gateway, "SubscribeFilter").await >= 1.0
    })
    .await;

    let rider = MqttDevice::connect(&gateway, &ana).await;
    let riding = {
        let session = session.clone();
        tokio::spawn(async move {
            let next = ride_mqtt(&rider, &session, 1, 8, through_the_cap).await;
            (rider, next)
        })
    };
    // Bea asks for every uplink: no SUBACK, the connection closed.
    let mut bea_raw = RawDevice::connect(&gateway, &bea).await;
    bea_raw.send(subscribe("pl/v1/+/+/up")).await;
    assert_eq!(bea_raw.packets_until_closed().await, vec![]);

    let (mut rider, next) = riding.await.unwrap();
    rider.inbox.wait_cue("hr_above_cap").await;
    rider.inbox.wait_ack(&session, next - 1).await;
    let (frames, _, _) = stored_counts(&gateway.db(), &session);
    assert_eq!(frames, 8, "ana's ride was stored whole");

    wait_until("both subscriptions to be denied", DEADLINE, async || {
        denied(&gateway, "SubscribeFilter").await >= 2.0
    })
    .await;
    // mosquitto_sub reconnects and is refused again; it never heard a message.
    if let Some(status) = exit_of_now(listener) {
        assert!(!status.success(), "mosquitto_sub exited 0");
    }
    let heard = std::fs::read_to_string(heard.path()).unwrap();
    assert_eq!(heard, "", "bob heard ana's uplink");
}

/// Ends a long-running client: its exit status if it had already exited.
fn exit_of_now(mut child: std::process::Child) -> Option<ExitStatus> {
    let exited = child.try_wait().unwrap();
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    exited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_on_another_devices_uplink_is_refused_while_its_owner_rides_on() {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-a", "ana");
    let bob = gateway.pair("gym-b", "bob");
    let bea = gateway.pair("gym-b", "bea");
    let session = session_id("owner");
    let forged = session_id("forged");
    let ana_up = Topic::up(&ana.tenant, &ana.device).to_string();

    let rider = MqttDevice::connect(&gateway, &ana).await;
    let riding = {
        let session = session.clone();
        tokio::spawn(async move {
            let next = ride_mqtt(&rider, &session, 1, 8, through_the_cap).await;
            (rider, next)
        })
    };

    // Ana's own genuine frame, of a session she never rode, replayed by bob on her topic:
    // without the ACL the gateway would store it.
    let frame = ana.frame(&forged, 1, &ride_batch(0, 150, 100));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &frame).unwrap();
    let mut command = Command::new("mosquitto_pub");
    mosquitto_args(&gateway, &bob, &mut command);
    let child = command
        .args(["-t", &ana_up, "-q", "1", "-f"])
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_pub (Debian mosquitto-clients) is installed");
    if let Some(status) = exit_of(child).await {
        assert!(!status.success(), "mosquitto_pub exited 0");
    }
    // The same byte by byte: no PUBACK, the connection closed.
    let mut bea_raw = RawDevice::connect(&gateway, &bea).await;
    bea_raw.send(publish(&ana_up, frame.clone(), false)).await;
    assert_eq!(bea_raw.packets_until_closed().await, vec![]);
    wait_until("both publishes to be denied", DEADLINE, async || {
        denied(&gateway, "PublishTopic").await >= 2.0
    })
    .await;

    let (mut rider, next) = riding.await.unwrap();
    rider.inbox.wait_cue("hr_above_cap").await;
    rider.inbox.wait_ack(&session, next - 1).await;
    let db = gateway.db();
    assert_eq!(
        stored_counts(&db, &session).0,
        8,
        "ana's ride was stored whole"
    );
    assert_eq!(
        stored_counts(&db, &forged),
        (0, 0, 0),
        "the replay was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_publish_on_the_devices_own_uplink_is_refused() {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-a", "ana");
    let session = session_id("retained");
    let ana_up = Topic::up(&ana.tenant, &ana.device).to_string();
    let ana_down = Topic::down(&ana.tenant, &ana.device).to_string();

    let mut raw = RawDevice::connect(&gateway, &ana).await;
    // Its own downlink: granted.
    raw.send(subscribe(&ana_down)).await;
    match raw.next_packet().await {
        Some(Packet::SubAck(ack)) => assert_eq!(ack.pkid, 1),
        other => panic!("expected a SUBACK, got {other:?}"),
    }
    let frame = ana.frame(&session, 1, &ride_batch(0, 150, 100));
    raw.send(publish(&ana_up, frame, true)).await;
    assert_eq!(raw.packets_until_closed().await, vec![]);
    wait_until("the retained publish to be denied", DEADLINE, async || {
        denied(&gateway, "Retain").await >= 1.0
    })
    .await;

    // Without the flag, the same frame is taken and acknowledged.
    let mut raw = RawDevice::connect(&gateway, &ana).await;
    raw.send(subscribe(&ana_down)).await;
    assert!(matches!(raw.next_packet().await, Some(Packet::SubAck(_))));
    let frame = ana.frame(&session, 1, &ride_batch(0, 150, 100));
    raw.send(publish(&ana_up, frame, false)).await;
    assert!(matches!(raw.next_packet().await, Some(Packet::PubAck(_))));
    wait_until("the frame to be stored", DEADLINE, async || {
        stored_counts(&gateway.db(), &session).0 == 1
    })
    .await;
}

/// A device's CONNECT as bytes.
fn connect_bytes(creds: &Creds) -> Vec<u8> {
    let mut connect = Connect::new(creds.device.as_str());
    connect.login = Some(Login::new(creds.device.as_str(), creds.token.expose_hex()));
    let mut bytes = BytesMut::new();
    Packet::Connect(connect).write(&mut bytes, 1 << 20).unwrap();
    bytes.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_held_back_is_dropped_after_five_seconds_and_gets_no_connack() {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-a", "ana");
    let connect = connect_bytes(&ana);
    let mut raw = RawDevice {
        stream: TcpStream::connect(gateway.mqtt).await.unwrap(),
        received: BytesMut::new(),
    };
    // Half a CONNECT, and then nothing.
    raw.stream
        .write_all(&connect[..connect.len() / 2])
        .await
        .unwrap();
    let opened = tokio::time::Instant::now();
    assert_eq!(raw.packets_until_closed().await, vec![], "no CONNACK");
    let held = opened.elapsed();
    assert!(
        held >= std::time::Duration::from_millis(4_500),
        "closed after {held:?}, before the 5 s a CONNECT may take"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_while_its_connect_trickles_in_is_refused() {
    let gateway = paceline().start().await;
    let api = paceline_testkit::api::Api::of(&gateway);
    let admin =
        paceline_testkit::api::access(&api.register_gym("admin@trickle.example", "Gym T").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let ana = api.pair(&admin, athlete).await;
    let connect = connect_bytes(&ana);

    // The CONNECT starts while the device is in good standing …
    let mut raw = RawDevice {
        stream: TcpStream::connect(gateway.mqtt).await.unwrap(),
        received: BytesMut::new(),
    };
    raw.stream
        .write_all(&connect[..connect.len() / 2])
        .await
        .unwrap();
    // … its gym-admin revokes it meanwhile …
    let revoked = api
        .call(
            reqwest::Method::DELETE,
            &format!("/devices/{}", ana.device),
            Some(&admin),
            None,
        )
        .await;
    assert!(
        (200..300).contains(&revoked.status),
        "revoke: {} {}",
        revoked.status,
        revoked.json
    );
    // … and the rest arrives within the 5 s: refused all the same.
    raw.stream
        .write_all(&connect[connect.len() / 2..])
        .await
        .unwrap();
    let packets = raw.packets_until_closed().await;
    assert!(
        packets.iter().all(|p| !matches!(
            p,
            Packet::ConnAck(ack) if ack.code == rumqttc::mqttbytes::v4::ConnectReturnCode::Success
        )),
        "a revoked device was let in: {packets:?}"
    );
    // Its frames are not taken either way.
    let session = session_id("revoked");
    let mut again = RawDevice {
        stream: TcpStream::connect(gateway.mqtt).await.unwrap(),
        received: BytesMut::new(),
    };
    again.stream.write_all(&connect).await.unwrap();
    let packets = again.packets_until_closed().await;
    assert!(
        !packets.iter().any(|p| matches!(
            p,
            Packet::ConnAck(ack) if ack.code == rumqttc::mqttbytes::v4::ConnectReturnCode::Success
        )),
        "{packets:?}"
    );
    assert_eq!(stored_counts(&gateway.db(), &session).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_refuses_a_wrong_token_answers_pings_replaces_a_reused_client_id_and_closes_a_silent_connection()
 {
    let gateway = paceline().start().await;
    let ana = gateway.pair("gym-a", "ana");
    let session = session_id("front-door");
    let ana_up = Topic::up(&ana.tenant, &ana.device).to_string();
    let ana_down = Topic::down(&ana.tenant, &ana.device).to_string();

    // A wrong token: a CONNACK that refuses (not authorized), then the connection closed.
    let mut wrong = RawDevice {
        stream: TcpStream::connect(gateway.mqtt).await.unwrap(),
        received: BytesMut::new(),
    };
    let mut connect = Connect::new(ana.device.as_str());
    connect.login = Some(Login::new(ana.device.as_str(), "00".repeat(32)));
    wrong.send(Packet::Connect(connect)).await;
    let packets = wrong.packets_until_closed().await;
    assert!(
        matches!(
            packets.as_slice(),
            [Packet::ConnAck(ack)] if ack.code == rumqttc::mqttbytes::v4::ConnectReturnCode::NotAuthorized
        ),
        "{packets:?}"
    );

    // A ping is answered.
    let mut first = RawDevice::connect(&gateway, &ana).await;
    first.send(Packet::PingReq).await;
    assert_eq!(first.next_packet().await, Some(Packet::PingResp));
    // The same client id again: the newer connection is let in, the older one closed.
    let mut second = RawDevice::connect_with_keepalive(&gateway, &ana, 2).await;
    assert_eq!(first.packets_until_closed().await, vec![]);

    // The newer one rides: its frame is PUBACKed by the broker, stored, and acknowledged
    // by the gateway on the downlink.
    second.send(subscribe(&ana_down)).await;
    assert!(matches!(
        second.next_packet().await,
        Some(Packet::SubAck(_))
    ));
    let frame = ana.frame(&session, 1, &ride_batch(0, 150, 100));
    second.send(publish(&ana_up, frame, false)).await;
    let quiet_from = tokio::time::Instant::now();
    let mut pubacked = false;
    let mut downlinks = 0;
    while !(pubacked && downlinks > 0) {
        match second.next_packet().await {
            Some(Packet::PubAck(ack)) => {
                assert_eq!(ack.pkid, 1);
                pubacked = true;
            }
            Some(Packet::Publish(down)) => {
                assert_eq!(down.topic, ana_down);
                downlinks += 1;
            }
            other => panic!("expected a PUBACK and the downlink ack, got {other:?}"),
        }
    }
    wait_until("the frame to be stored", DEADLINE, async || {
        stored_counts(&gateway.db(), &session).0 == 1
    })
    .await;

    // A publish no ack follows (its bytes are not a frame): its PUBACK, held for the ack
    // to share a write, still comes, alone, once the hold runs out.
    let mut unsealed = Publish::new(&ana_up, QoS::AtLeastOnce, b"not a frame".to_vec());
    unsealed.pkid = 2;
    let held_from = tokio::time::Instant::now();
    second.send(Packet::Publish(unsealed)).await;
    // (A cue of the coach would carry it out sooner: then the hold is not measured.)
    let mut carried = false;
    loop {
        match second.next_packet().await {
            Some(Packet::PubAck(ack)) => {
                assert_eq!(ack.pkid, 2);
                break;
            }
            Some(Packet::Publish(down)) => {
                assert_eq!(down.topic, ana_down);
                carried = true;
            }
            other => panic!("expected the held PUBACK, got {other:?}"),
        }
    }
    let held = held_from.elapsed();
    assert!(
        carried || held >= std::time::Duration::from_millis(20),
        "the lone PUBACK came after {held:?}, before the hold ran out"
    );

    // Then silence, past 1.5× the 2 s keepalive: closed (after what was still on its way).
    let rest = second.packets_until_closed().await;
    let silent = quiet_from.elapsed();
    assert!(
        rest.iter().all(|p| matches!(p, Packet::Publish(_))),
        "{rest:?}"
    );
    assert!(
        silent >= std::time::Duration::from_millis(2_900),
        "closed after {silent:?} of silence, before 1.5 × 2 s"
    );
}
