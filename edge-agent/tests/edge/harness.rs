//! The edge suite's own pieces (ports, child processes and waits come from the test kit,
//! `paceline-testkit`): credentials, and a minimal "gateway" that stores frames the way
//! the real one must (contiguous seqs, duplicates dropped) and says what it acknowledges.

use std::collections::{BTreeMap, HashMap};

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
/// (the real gateway acks the highest contiguous stored seq); others are dropped, or with
/// `hold_above_gap` held until the gap fills and acked with the contiguous seq, as the
/// real gateway does.
#[derive(Debug)]
pub struct Store {
    key: DeviceKey,
    committed: HashMap<SessionId, u64>,
    pub stored: Vec<Received>,
    pub received: Vec<Received>,
    pub rejected: usize,
    /// Lose this seq the first time it arrives (as if the gateway had missed it).
    pub lose_once: Option<u64>,
    /// Genuine cues sent (hostile copies not counted).
    pub cues_sent: usize,
    down_seq: u64,
    /// Keep frames above a gap (acking the seq below it) instead of dropping them.
    pub hold_above_gap: bool,
    held: HashMap<SessionId, BTreeMap<u64, Received>>,
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
            cues_sent: 0,
            down_seq: 0,
            hold_above_gap: false,
            held: HashMap::new(),
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
            let held = self.held.entry(session.clone()).or_default();
            while let Some(next) = held.remove(&(*committed + 1)) {
                *committed = next.seq;
                self.stored.push(next);
            }
        } else if seq > *committed + 1 {
            if !self.hold_above_gap {
                // A gap (frames lost while nobody listened): not stored, not acked past it.
                return None;
            }
            // Held, and the ack repeats the seq below the gap.
            self.held
                .entry(session.clone())
                .or_default()
                .entry(seq)
                .or_insert(received);
        }
        let committed_seq = *committed;
        Some(self.seal_down(&frame, Payload::Ack(Ack { committed_seq })))
    }

    /// Seals a downlink payload for the device and session of `to`.
    pub fn seal_down(&mut self, to: &Frame, payload: Payload) -> Vec<u8> {
        self.down_seq += 1;
        self.seal_down_as(to, self.down_seq, payload)
    }

    /// Seals a downlink payload with a chosen seq (a stale one, say).
    pub fn seal_down_as(&self, to: &Frame, seq: u64, payload: Payload) -> Vec<u8> {
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: to.header.tenant.clone(),
            device: to.header.device.clone(),
            session: to.header.session.clone(),
            seq,
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

    /// The samples of every stored frame, in the order stored.
    pub fn stored_samples(&self) -> Vec<paceline_schemas::Sample> {
        self.stored
            .iter()
            .filter_map(|r| match &r.payload {
                Payload::Samples(batch) => Some(batch.samples().to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
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
