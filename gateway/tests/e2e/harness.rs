//! Shared helpers: a real `paceline` process on ephemeral loopback ports, device pairing
//! through its CLI, raw device clients over MQTT (rumqttc) and QUIC (quinn) that seal and
//! open frames themselves, and read-only looks into the gateway's database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paceline_schemas::hello::{DeviceHello, DeviceToken, encode_hello};
use paceline_schemas::sample::{Contact, CyclingPower, HeartRate};
use paceline_schemas::stream::{FrameReader, write_frame};
use paceline_schemas::{
    Command as PlCommand, Cue, DeviceId, DeviceKey, FrameHeader, Payload, Sample, SampleBatch,
    SampleValue, SessionId, TenantId, Topic, codec, seal,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// How long any wait in these tests may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The shared athlete profile (hr_cap 176, ftp 240).
pub const PROFILE: &str = r#"{"name":"Test Rider","age":38,"sex":"female","weight_kg":64.0,
"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000,
"rpe_only":false}"#;

/// Waits for `condition` to hold, polling, until [`DEADLINE`].
pub async fn wait_until<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free loopback port for TCP and for UDP.
pub fn free_ports() -> (u16, u16, u16) {
    let tcp = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (tcp(), tcp(), udp)
}

/// Wall clock, ms since the epoch.
pub fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A gateway process.
pub struct Gateway {
    child: Option<Child>,
    /// Its data folder.
    pub data_dir: PathBuf,
    /// HTTP address.
    pub http: SocketAddr,
    /// MQTT address.
    pub mqtt: SocketAddr,
    /// QUIC address.
    pub quic: SocketAddr,
    extra: Vec<String>,
}

impl Gateway {
    /// Starts `paceline serve` on fresh ports with its data in `data_dir`.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Gateway {
        let (http, mqtt, quic) = free_ports();
        let mut gateway = Gateway {
            child: None,
            data_dir: data_dir.to_owned(),
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            mqtt: SocketAddr::from(([127, 0, 0, 1], mqtt)),
            quic: SocketAddr::from(([127, 0, 0, 1], quic)),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        gateway.spawn().await;
        gateway
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--http".to_owned(),
            self.http.to_string(),
            "--mqtt".to_owned(),
            self.mqtt.to_string(),
            "--quic".to_owned(),
            self.quic.to_string(),
        ];
        args.extend(self.extra.iter().cloned());
        args
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_paceline"))
            .arg("serve")
            .args(self.args())
            .env("PACELINE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(self.stdout_log())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start paceline serve");
        self.child = Some(child);
        let http = self.http;
        wait_until("the gateway to be ready", || {
            http_get(http, "/health/ready")
                .filter(|(status, _)| *status == 200)
                .map(|_| ())
        })
        .await;
    }

    /// Where the process's standard output goes (appended across restarts).
    fn stdout_log(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("gateway-stdout.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }

    /// What the process printed on standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("gateway-stdout.log")).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        wait_until("the gateway to exit", || child.try_wait().ok().flatten()).await
    }

    /// Starts the process again with the same ports and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Runs an administration command (`paceline <args> <this gateway's settings>`) and
    /// returns its standard output; a failure fails the test with its message.
    fn admin(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(env!("CARGO_BIN_EXE_paceline"))
            .args(args)
            .args(self.args())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Pairs a device for a new athlete with the shared profile.
    pub fn pair(&self, tenant: &str, athlete: &str) -> Creds {
        let profile = self.data_dir.join(format!("{athlete}-profile.json"));
        std::fs::write(&profile, PROFILE).unwrap();
        let profile = profile.display().to_string();
        let stdout = self.admin(&[
            "device",
            "add",
            "--json",
            "--tenant",
            tenant,
            "--athlete",
            athlete,
            "--profile",
            &profile,
        ]);
        let json: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
        let text = |k: &str| json[k].as_str().unwrap().to_owned();
        Creds {
            tenant: TenantId::new(text("tenant")).unwrap(),
            device: DeviceId::new(text("device")).unwrap(),
            key: DeviceKey::from_hex(&text("key")).unwrap(),
            token: DeviceToken::from_hex(&text("token")).unwrap(),
        }
    }

    /// Assigns a JSON plan to the athlete's next session.
    pub fn assign_plan(&self, tenant: &str, athlete: &str, plan_json: &str) {
        let path = self.data_dir.join(format!("{athlete}-plan.json"));
        std::fs::write(&path, plan_json).unwrap();
        let path = path.display().to_string();
        self.admin(&[
            "plan",
            "assign",
            "--tenant",
            tenant,
            "--athlete",
            athlete,
            &path,
        ]);
    }

    /// The value of a Prometheus counter (summed over its label sets that contain
    /// `labels`), 0 if absent.
    pub fn counter(&self, name: &str, labels: &str) -> f64 {
        let (_, text) = http_get(self.http, "/metrics").unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// A read-only connection to the database.
    pub fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_with_flags(
            self.data_dir.join("paceline.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// The QUIC certificate (DER).
    pub fn cert_der(&self) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_file(self.data_dir.join("quic-cert.pem"))
            .unwrap()
            .to_vec()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP/1.1 GET; the status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

/// A device's credentials, as pairing printed them.
#[derive(Clone)]
pub struct Creds {
    /// Tenant.
    pub tenant: TenantId,
    /// Device id.
    pub device: DeviceId,
    /// Sealing key.
    pub key: DeviceKey,
    /// Connection token.
    pub token: DeviceToken,
}

impl Creds {
    /// Seals one uplink frame.
    pub fn frame(&self, session: &SessionId, seq: u64, payload: &Payload) -> Vec<u8> {
        self.frame_as(&self.key, session, seq, payload)
    }

    /// Seals one uplink frame with some key (the wrong one, for the hostile tests).
    pub fn frame_as(
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

    /// Opens a downlink frame.
    pub fn open(&self, bytes: &[u8]) -> Option<(FrameHeader, Payload)> {
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
        let start = Instant::now();
        loop {
            self.drain();
            if self.acked(session) >= seq {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no ack of {seq} for {session}; highest {}",
                self.acked(session)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
        let start = Instant::now();
        loop {
            if let Some(cue) = self.cues().into_iter().find(|c| code_of(c) == code) {
                return cue;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {code} cue; heard {:?}",
                self.cues().iter().map(code_of).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

impl QuicDevice {
    /// Connects, trusting the gateway's certificate, opens a stream and says hello.
    pub async fn connect(gateway: &Gateway, creds: &Creds, token: &DeviceToken) -> QuicDevice {
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
        let mut prefixed = Vec::new();
        write_frame(&mut prefixed, &self.creds.frame(session, seq, payload)).unwrap();
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
        "SELECT (SELECT count(*) FROM frames f WHERE f.session_row = s.id),
                (SELECT count(DISTINCT seq) FROM frames f WHERE f.session_row = s.id),
                (SELECT count(*) FROM samples x WHERE x.session_row = s.id)
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
