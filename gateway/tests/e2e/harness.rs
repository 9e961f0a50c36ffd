//! The e2e suite's own pieces, on top of the test kit (`paceline-testkit`, which starts
//! the gateway, pairs devices, reads metrics and the database, and waits): raw device
//! clients over MQTT (rumqttc) and QUIC (quinn) that seal and open frames themselves, the
//! payloads they send, and the questions the tests ask of the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use paceline_edge::credentials::DeviceCredentials as Creds;
use paceline_schemas::hello::{DeviceHello, DeviceToken, encode_hello};
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate};
use paceline_schemas::stream::{FrameReader, write_frame};
use paceline_schemas::{
    Command as PlCommand, Cue, DeviceKey, FrameHeader, Payload, Sample, SampleBatch, SampleValue,
    SessionId, Topic, codec, seal,
};
pub use paceline_testkit::gateway::http_get;
pub use paceline_testkit::{
    DEADLINE, Gateway, GatewayBuilder, PROFILE, unix_ms as now_ms, wait_until,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// A gateway of this package's own `paceline` binary, to start (with
/// [`GatewayBuilder::start`]) on a fresh data folder and ephemeral ports.
pub fn paceline() -> GatewayBuilder {
    Gateway::builder().binary(env!("CARGO_BIN_EXE_paceline"))
}

/// A device sealing and opening its own frames with its paired credentials.
pub trait Sealing {
    /// Seals one uplink frame.
    fn frame(&self, session: &SessionId, seq: u64, payload: &Payload) -> Vec<u8>;
    /// Seals one uplink frame with some key (the wrong one, for the hostile tests).
    fn frame_as(
        &self,
        key: &DeviceKey,
        session: &SessionId,
        seq: u64,
        payload: &Payload,
    ) -> Vec<u8>;
    /// Opens a downlink frame.
    fn open(&self, bytes: &[u8]) -> Option<(FrameHeader, Payload)>;
}

impl Sealing for Creds {
    fn frame(&self, session: &SessionId, seq: u64, payload: &Payload) -> Vec<u8> {
        self.frame_as(&self.key, session, seq, payload)
    }

    fn frame_as(
        &self,
        key: &DeviceKey,
        session: &SessionId,
        seq: u64,
        payload: &Payload,
    ) -> Vec<u8> {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: self.tenant.clone(),
            device: self.device.clone(),
            session: session.clone(),
            seq,
            sent_ms: now_ms(),
        };
        codec::encode_frame(&seal::seal(key, header, payload).unwrap()).unwrap()
    }

    fn open(&self, bytes: &[u8]) -> Option<(FrameHeader, Payload)> {
        let frame = codec::decode_frame(bytes).ok()?;
        let payload = seal::open(&self.key, &frame).ok()?;
        Some((frame.header, payload))
    }
}

/// One heart-rate and one power sample at device time `t_ms`.
pub fn ride_batch(t_ms: u64, bpm: u16, power_w: i16) -> Payload {
    let hr = Sample {
        t_ms,
        value: SampleValue::HeartRate(HeartRate {
            bpm,
            contact: Contact::On,
            energy_kj: None,
            rr_1024: vec![],
        }),
    };
    let power = Sample {
        t_ms,
        value: SampleValue::CyclingPower(CyclingPower {
            power_w,
            cadence_rpm: Some(90.0),
            ..CyclingPower::default()
        }),
    };
    Payload::Samples(SampleBatch::new(vec![hr, power]).unwrap())
}

/// The `end` command as a payload.
pub fn end() -> Payload {
    Payload::Command(PlCommand::End)
}

/// What a device heard from the gateway.
#[derive(Debug, Clone)]
pub enum Heard {
    /// An ack.
    Ack(SessionId, u64),
    /// A cue.
    Cue(Cue),
}

/// Collects what a device hears.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Heard>,
    /// Everything heard so far.
    pub heard: Vec<Heard>,
}

impl Inbox {
    fn drain(&mut self) {
        while let Ok(h) = self.rx.try_recv() {
            self.heard.push(h);
        }
    }

    /// Waits until an ack of at least `seq` for `session` arrives.
    pub async fn wait_ack(&mut self, session: &SessionId, seq: u64) {
        let what = format!("an ack of {seq} for {session}");
        wait_until(what, DEADLINE, async || {
            let highest = self.acked(session);
            (highest >= seq)
                .then_some(())
                .ok_or_else(|| format!("the highest is {highest}"))
        })
        .await;
    }

    /// The highest ack heard for `session`.
    pub fn acked(&mut self, session: &SessionId) -> u64 {
        self.drain();
        self.heard
            .iter()
            .filter_map(|h| match h {
                Heard::Ack(s, n) if s == session => Some(*n),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// The cues heard so far.
    pub fn cues(&mut self) -> Vec<Cue> {
        self.drain();
        self.heard
            .iter()
            .filter_map(|h| match h {
                Heard::Cue(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits for a cue whose JSON code is `code`.
    pub async fn wait_cue(&mut self, code: &str) -> Cue {
        wait_until(format!("a {code} cue"), DEADLINE, async || {
            let cues = self.cues();
            cues.iter()
                .find(|c| code_of(c) == code)
                .cloned()
                .ok_or_else(|| format!("heard {:?}", cues.iter().map(code_of).collect::<Vec<_>>()))
        })
        .await
    }
}

/// The JSON code of a cue (`hr_above_cap`, …).
pub fn code_of(cue: &Cue) -> String {
    codec::to_json(&cue.code)
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

fn heard(creds: &Creds, bytes: &[u8]) -> Option<Heard> {
    let (header, payload) = creds.open(bytes)?;
    match payload {
        Payload::Ack(ack) => Some(Heard::Ack(header.session, ack.committed_seq)),
        Payload::Cue(cue) => Some(Heard::Cue(cue)),
        _ => None,
    }
}

/// A device connected over MQTT.
pub struct MqttDevice {
    /// Its client.
    pub client: AsyncClient,
    /// What it hears.
    pub inbox: Inbox,
    creds: Creds,
    /// Connection errors its event loop has seen (each a lost connection).
    pub connection_errors: Arc<std::sync::atomic::AtomicUsize>,
    /// Its event loop, stopped when the device is dropped: a dropped device that kept
    /// reconnecting under the same client id would take turns with its successor and
    /// hear the successor's acks.
    event_loop: tokio::task::JoinHandle<()>,
}

impl Drop for MqttDevice {
    fn drop(&mut self) {
        self.event_loop.abort();
    }
}

impl MqttDevice {
    /// Connects with the device's credentials and subscribes to its downlink.
    pub async fn connect(gateway: &Gateway, creds: &Creds) -> MqttDevice {
        Self::connect_with(
            gateway.mqtt,
            creds,
            creds.device.as_str(),
            &creds.token.expose_hex(),
        )
        .await
    }

    /// Connects with the given client id and password.
    pub async fn connect_with(
        addr: SocketAddr,
        creds: &Creds,
        client_id: &str,
        password: &str,
    ) -> MqttDevice {
        let mut options = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        options.set_credentials(creds.device.as_str(), password);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(128 * 1024, 128 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let for_loop = creds.clone();
        let connection_errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let errors = Arc::clone(&connection_errors);
        let event_loop = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if let Some(h) = heard(&for_loop, &publish.payload)
                            && tx.send(h).is_err()
                        {
                            return; // the device is gone
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        client
            .subscribe(
                Topic::down(&creds.tenant, &creds.device).to_string(),
                QoS::AtLeastOnce,
            )
            .await
            .unwrap();
        MqttDevice {
            client,
            inbox: Inbox {
                rx,
                heard: Vec::new(),
            },
            creds: creds.clone(),
            connection_errors,
            event_loop,
        }
    }

    /// Publishes raw bytes on the device's uplink topic.
    pub async fn publish_raw(&self, bytes: Vec<u8>) {
        self.client
            .publish(
                Topic::up(&self.creds.tenant, &self.creds.device).to_string(),
                QoS::AtLeastOnce,
                false,
                bytes,
            )
            .await
            .unwrap();
    }

    /// Seals and publishes one frame.
    pub async fn send(&self, session: &SessionId, seq: u64, payload: &Payload) {
        self.publish_raw(self.creds.frame(session, seq, payload))
            .await;
    }
}

/// A device connected over QUIC, one stream for one session.
pub struct QuicDevice {
    send: quinn::SendStream,
    /// What it hears.
    pub inbox: Inbox,
    creds: Creds,
    _endpoint: quinn::Endpoint,
    /// The connection.
    pub connection: quinn::Connection,
}

/// A QUIC connection to the gateway, trusting its certificate, with no stream yet.
pub async fn quic_connection(gateway: &Gateway) -> (quinn::Endpoint, quinn::Connection) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(gateway.cert_der().into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"paceline/1".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connection = endpoint
        .connect(gateway.quic, "localhost")
        .unwrap()
        .await
        .unwrap();
    (endpoint, connection)
}

impl QuicDevice {
    /// Connects, trusting the gateway's certificate, opens a stream and says hello.
    pub async fn connect(gateway: &Gateway, creds: &Creds, token: &DeviceToken) -> QuicDevice {
        let (endpoint, connection) = quic_connection(gateway).await;
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        let hello = encode_hello(&DeviceHello {
            tenant: creds.tenant.clone(),
            device: creds.device.clone(),
            token: token.clone(),
        })
        .unwrap();
        let mut prefixed = Vec::new();
        write_frame(&mut prefixed, &hello).unwrap();
        send.write_all(&prefixed).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let for_reader = creds.clone();
        tokio::spawn(async move {
            let mut reader = FrameReader::new();
            let mut buffer = vec![0u8; 8192];
            while let Ok(Some(n)) = recv.read(&mut buffer).await {
                reader.push(&buffer[..n]);
                while let Ok(Some(frame)) = reader.next_frame() {
                    if let Some(h) = heard(&for_reader, &frame) {
                        let _ = tx.send(h);
                    }
                }
            }
        });
        QuicDevice {
            send,
            inbox: Inbox {
                rx,
                heard: Vec::new(),
            },
            creds: creds.clone(),
            _endpoint: endpoint,
            connection,
        }
    }

    /// Seals and sends one frame on the stream.
    pub async fn send(&mut self, session: &SessionId, seq: u64, payload: &Payload) {
        let frame = self.creds.frame(session, seq, payload);
        self.send_raw(&frame).await;
    }

    /// Seals one frame and sends it as a QUIC datagram.
    pub fn send_datagram(&self, session: &SessionId, seq: u64, payload: &Payload) {
        let frame = self.creds.frame(session, seq, payload);
        self.connection.send_datagram(frame.into()).unwrap();
    }

    /// Sends an encoded frame as it is.
    pub async fn send_raw(&mut self, frame: &[u8]) {
        let mut prefixed = Vec::new();
        write_frame(&mut prefixed, frame).unwrap();
        self.send.write_all(&prefixed).await.unwrap();
    }
}

/// A short JSON plan: 20 s warm-up, 30 s at 95 % FTP, 20 s easy.
pub const SHORT_PLAN: &str = r#"{"name":"Short test","sport":"bike","steps":[
{"kind":"step","intent":"warmup","duration_s":20,"target":{"kind":"power_ftp","low_pct":50,"high_pct":60}},
{"kind":"step","intent":"work","duration_s":30,"target":{"kind":"power_ftp","low_pct":90,"high_pct":100}},
{"kind":"step","intent":"cooldown","duration_s":20,"target":{"kind":"power_ftp","low_pct":50,"high_pct":60}}]}"#;

/// Rides in real time: `seconds` batches, one per second, with heart rate from `bpm(i)`.
pub async fn ride_mqtt(
    device: &MqttDevice,
    session: &SessionId,
    first_seq: u64,
    seconds: u64,
    bpm: impl Fn(u64) -> u16,
) -> u64 {
    let mut seq = first_seq;
    let start = tokio::time::Instant::now();
    for i in 0..seconds {
        tokio::time::sleep_until(start + Duration::from_secs(i)).await;
        device
            .send(session, seq, &ride_batch(i * 1000, bpm(i), 200))
            .await;
        seq += 1;
    }
    seq
}

/// A session id unique to this test run.
pub fn session_id(name: &str) -> SessionId {
    SessionId::new(format!("{name}-{}", now_ms())).unwrap()
}

/// Heart rate of a rider going through the cap (176) after 3 s.
pub fn through_the_cap(i: u64) -> u16 {
    if i < 3 { 150 } else { 182 }
}

/// The frames and samples stored for a session, by device session id.
pub fn stored_counts(conn: &rusqlite::Connection, session: &SessionId) -> (i64, i64, i64) {
    conn.query_row(
        "SELECT (SELECT count(*) FROM stored_frames f WHERE f.session_row = s.id),
                (SELECT count(DISTINCT seq) FROM stored_frames f WHERE f.session_row = s.id),
                (SELECT count(*) FROM stored_samples x WHERE x.session_row = s.id)
         FROM sessions s WHERE s.session_id = ?1",
        [session.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .unwrap_or((0, 0, 0))
}

/// A session's status and summary JSON.
pub fn session_status(
    conn: &rusqlite::Connection,
    session: &SessionId,
) -> Option<(String, Option<String>)> {
    conn.query_row(
        "SELECT status, summary_json FROM sessions WHERE session_id = ?1",
        [session.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .ok()
}
