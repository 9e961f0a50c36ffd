//! Shared pieces of the tests: credentials, ports, child processes (the test binary
//! re-run as a broker or a spool writer), waiting on conditions, and a minimal "gateway"
//! that stores frames the way the real one must (contiguous seqs, duplicates dropped) and
//! says what it acknowledges.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::session::unix_ms_now;
use paceline_schemas::{
    Ack, DeviceId, DeviceKey, DeviceToken, Frame, FrameHeader, FrameKind, Payload, SessionId,
    TenantId, codec, seal,
};

/// Fresh credentials for device `name` of tenant `test`.
pub fn credentials(name: &str) -> DeviceCredentials {
    DeviceCredentials {
        tenant: TenantId::new("test").unwrap(),
        device: DeviceId::new(name).unwrap(),
        key: DeviceKey::generate(),
        token: DeviceToken::generate(),
    }
}

/// A loopback port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs this test binary again as the test `name`, with `env`: the child roles
/// (`broker_process`, `spool_writer_process`) do their work only when their variable is set.
pub fn spawn_role(name: &str, env: &[(&str, String)], stdout: Stdio) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .stdout(stdout)
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Kills a child (SIGKILL on Unix) and reaps it.
pub fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for `condition` to hold, checking every 10 ms, failing after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until something accepts TCP connections on the loopback port.
pub async fn wait_listening(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One frame as the test gateway received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub session: SessionId,
    pub seq: u64,
    pub payload: Payload,
    /// Whether it had been stored already (a resend).
    pub duplicate: bool,
}

/// The test gateway's store: a frame is stored only if it is the next seq of its session
/// (the real gateway acks the highest contiguous stored seq); others are dropped.
#[derive(Debug)]
pub struct Store {
    key: DeviceKey,
    committed: HashMap<SessionId, u64>,
    pub stored: Vec<Received>,
    pub received: Vec<Received>,
    pub rejected: usize,
    /// Lose this seq the first time it arrives (as if the gateway had missed it).
    pub lose_once: Option<u64>,
    down_seq: u64,
}

impl Store {
    pub fn new(key: DeviceKey) -> Self {
        Self {
            key,
            committed: HashMap::new(),
            stored: Vec::new(),
            received: Vec::new(),
            rejected: 0,
            lose_once: None,
            down_seq: 0,
        }
    }

    /// Takes one uplink frame; returns the sealed ack to send back, if it should be acked.
    pub fn receive(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let Ok(frame) = codec::decode_frame(bytes) else {
            self.rejected += 1;
            return None;
        };
        let Ok(payload) = seal::open(&self.key, &frame) else {
            self.rejected += 1;
            return None;
        };
        if self.lose_once == Some(frame.header.seq) {
            self.lose_once = None;
            return None;
        }
        let session = frame.header.session.clone();
        let committed = self.committed.entry(session.clone()).or_insert(0);
        let seq = frame.header.seq;
        let duplicate = seq <= *committed;
        let received = Received {
            session: session.clone(),
            seq,
            payload,
            duplicate,
        };
        self.received.push(received.clone());
        if seq == *committed + 1 {
            *committed = seq;
            self.stored.push(received);
        } else if seq > *committed + 1 {
            // A gap (frames lost while nobody listened): not stored, not acked past it.
            return None;
        }
        let committed_seq = *committed;
        Some(self.seal_down(&frame, Payload::Ack(Ack { committed_seq })))
    }

    /// Seals a downlink payload for the device and session of `to`.
    pub fn seal_down(&mut self, to: &Frame, payload: Payload) -> Vec<u8> {
        self.down_seq += 1;
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: to.header.tenant.clone(),
            device: to.header.device.clone(),
            session: to.header.session.clone(),
            seq: self.down_seq,
            sent_ms: unix_ms_now(),
        };
        codec::encode_frame(&seal::seal(&self.key, header, &payload).unwrap()).unwrap()
    }

    /// The highest contiguous stored seq of a session.
    pub fn committed_of(&self, session: &SessionId) -> u64 {
        self.committed.get(session).copied().unwrap_or(0)
    }

    /// Checks what was stored: seqs 1..=n of `session`, each once, in order.
    pub fn assert_complete(&self, session: &SessionId, last_seq: u64) {
        let seqs: Vec<u64> = self
            .stored
            .iter()
            .filter(|r| r.session == *session)
            .map(|r| r.seq)
            .collect();
        assert_eq!(
            seqs,
            (1..=last_seq).collect::<Vec<_>>(),
            "stored seqs of {session}"
        );
    }

    /// The kinds of stored frames of a session, in order.
    pub fn kinds(&self, session: &SessionId) -> Vec<FrameKind> {
        self.stored
            .iter()
            .filter(|r| r.session == *session)
            .map(|r| r.payload.kind())
            .collect()
    }
}
