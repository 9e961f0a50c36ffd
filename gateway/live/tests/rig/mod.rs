//! A driver for tests: the database is a map, the clock a number, the engine and the
//! writer are whatever the test says they are.

#![allow(dead_code)]

use std::collections::HashMap;

use paceline_live::{
    AthleteSetup, CameBy, Config, DeviceRecord, Effect, FrameIn, FrameOutcome, FrameStep, LiveCore,
    LookupFailed, SessionAnswer, SessionRecord,
};
use paceline_schemas::engine::{OutputBody, SessionOutput};
use paceline_schemas::sample::{Contact, HeartRate, SampleValue};
use paceline_schemas::seal::seal_with_nonce;
use paceline_schemas::topic::Topic;
use paceline_schemas::{
    AthleteProfile, Cue, CueCode, DeviceId, DeviceKey, FrameHeader, Payload, Sample, SampleBatch,
    SessionId, Severity, TenantId, codec,
};

/// A route: the id of the connection a frame came by.
pub type Conn = u32;

pub const IDLE_US: u64 = 60_000_000;
pub const TTL_US: u64 = 30_000_000;
pub const LOG_EVERY_US: u64 = 5_000_000;
pub const START_US: u64 = 1_800_000_000_000_000;

pub struct Rig {
    pub core: LiveCore<Conn>,
    pub now_us: u64,
    pub devices: HashMap<String, DeviceRecord>,
    pub sessions: HashMap<String, SessionRecord>,
    pub device_lookups: u32,
    pub session_lookups: u32,
    pub admit: bool,
    pub session_answer: Option<SessionAnswer>,
    pub store_fails: bool,
    pub effects: Vec<Effect<Conn>>,
    nonce: u64,
}

pub fn tenant() -> TenantId {
    TenantId::new("gym").unwrap()
}

pub fn device_id() -> DeviceId {
    DeviceId::new("watch-1").unwrap()
}

pub fn key() -> DeviceKey {
    DeviceKey::from_bytes([7; 32])
}

pub fn session_id(name: &str) -> SessionId {
    SessionId::new(name).unwrap()
}

pub fn device_record() -> DeviceRecord {
    DeviceRecord {
        row: 11,
        tenant_row: 1,
        tenant: tenant(),
        device: device_id(),
        athlete_row: 21,
        key: key(),
        token_sha256: vec![0; 32],
        revoked: false,
    }
}

pub fn samples(seq: u64) -> Payload {
    let sample = Sample {
        t_ms: seq * 1000,
        value: SampleValue::HeartRate(HeartRate {
            bpm: 140,
            contact: Contact::On,
            energy_kj: None,
            rr_1024: Vec::new(),
        }),
    };
    Payload::Samples(SampleBatch::new(vec![sample.clone(), sample]).unwrap())
}

pub fn cue(engine_session: &str) -> Cue {
    Cue {
        session: session_id(engine_session),
        t_s: 12.0,
        severity: Severity::Info,
        code: CueCode::StepStart,
        text: "go".into(),
        modification: None,
    }
}

pub fn output(row: i64, seq: u64, output: OutputBody) -> SessionOutput {
    SessionOutput {
        session: session_id(&format!("s{row}")),
        seq,
        output,
    }
}

impl Rig {
    pub fn new() -> Rig {
        let mut devices = HashMap::new();
        devices.insert("watch-1".to_owned(), device_record());
        Rig {
            core: LiveCore::new(Config {
                session_idle_us: IDLE_US,
                device_cache_ttl_us: TTL_US,
                reject_log_every_us: LOG_EVERY_US,
                first_session_row: 100,
                first_down_seq: 5_000,
            }),
            now_us: START_US,
            devices,
            sessions: HashMap::new(),
            device_lookups: 0,
            session_lookups: 0,
            admit: true,
            session_answer: None,
            store_fails: false,
            effects: Vec::new(),
            nonce: 0,
        }
    }

    pub fn advance_s(&mut self, s: u64) {
        self.now_us += s * 1_000_000;
    }

    pub fn now_ms(&self) -> u64 {
        self.now_us / 1000
    }

    /// A sealed uplink frame of `watch-1`.
    pub fn sealed(&mut self, session: &str, seq: u64, payload: Payload) -> Vec<u8> {
        self.sealed_with(&key(), session, seq, payload)
    }

    pub fn sealed_with(
        &mut self,
        key: &DeviceKey,
        session: &str,
        seq: u64,
        payload: Payload,
    ) -> Vec<u8> {
        self.nonce += 1;
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.nonce.to_le_bytes());
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: tenant(),
            device: device_id(),
            session: session_id(session),
            seq,
            sent_ms: self.now_ms(),
        };
        let frame = seal_with_nonce(key, header, &payload, nonce).unwrap();
        codec::encode_frame(&frame).unwrap()
    }

    /// Sends bytes by MQTT on `watch-1`'s uplink topic, with `conn` as the route.
    pub fn send_bytes(&mut self, bytes: &[u8], conn: Conn) -> FrameOutcome {
        let topic = Topic::up(&tenant(), &device_id()).to_string();
        self.send_on(bytes, CameBy::Topic(&topic), conn)
    }

    pub fn send_on(&mut self, bytes: &[u8], came_by: CameBy<'_>, conn: Conn) -> FrameOutcome {
        let now_us = self.now_us;
        let mut step = self.core.handle_frame(
            now_us,
            FrameIn {
                bytes,
                came_by,
                route: conn,
            },
        );
        loop {
            step = match step {
                FrameStep::Done(outcome) => {
                    self.drain();
                    return outcome;
                }
                FrameStep::LookupDevice(pending) => {
                    self.device_lookups += 1;
                    let answer = if self.store_fails {
                        Err(LookupFailed)
                    } else {
                        Ok(self.devices.get(pending.device_id().as_str()).cloned())
                    };
                    self.core.resume_device(now_us, pending, answer)
                }
                FrameStep::Admit(pending) => {
                    assert!(pending.admission().is_some());
                    let admit = self.admit;
                    self.core.resume_admission(now_us, pending, admit)
                }
                FrameStep::LookupSession(pending) => {
                    self.session_lookups += 1;
                    let query = pending.session_query().unwrap();
                    let answer = match self.session_answer.clone() {
                        Some(answer) => answer,
                        None => {
                            let stored = self.sessions.get(query.session.as_str()).cloned();
                            let setup =
                                stored
                                    .as_ref()
                                    .is_none_or(|s| s.open)
                                    .then(|| AthleteSetup {
                                        profile: AthleteProfile::default(),
                                        next_plan: None,
                                    });
                            SessionAnswer::Found {
                                stored,
                                setup: setup.map(Box::new),
                            }
                        }
                    };
                    self.core.resume_session(now_us, pending, answer)
                }
            };
        }
    }

    /// A sealed frame of `watch-1`, by MQTT, on route `conn`.
    pub fn send(&mut self, session: &str, seq: u64, payload: Payload, conn: Conn) -> FrameOutcome {
        let bytes = self.sealed(session, seq, payload);
        self.send_bytes(&bytes, conn)
    }

    /// Moves the core's effects to `self.effects`.
    pub fn drain(&mut self) {
        while let Some(effect) = self.core.poll_effect() {
            self.effects.push(effect);
        }
    }

    /// The effects since the last call.
    pub fn take(&mut self) -> Vec<Effect<Conn>> {
        self.drain();
        std::mem::take(&mut self.effects)
    }

    pub fn commit(&mut self, committed: &[(i64, u64)], not_opened: &[i64]) -> Vec<Effect<Conn>> {
        self.core.handle_commit(self.now_us, committed, not_opened);
        self.take()
    }

    pub fn output(&mut self, output: SessionOutput) -> Vec<Effect<Conn>> {
        self.core.handle_output(self.now_us, output);
        self.take()
    }

    pub fn tick(&mut self) -> Vec<Effect<Conn>> {
        self.core.handle_timeout(self.now_us);
        self.take()
    }
}

/// The effects in a short form that reads like data: one line each.
pub fn lines(effects: &[Effect<Conn>]) -> Vec<String> {
    effects.iter().map(line).collect()
}

pub fn line(effect: &Effect<Conn>) -> String {
    use paceline_live::{BoardBody, CoachInput, StoreWrite};
    use paceline_schemas::engine::SessionEvent;
    match effect {
        Effect::Engine(input) => {
            let event = match &input.event {
                SessionEvent::Open(setup) => format!("open plan={}", setup.plan.is_some()),
                SessionEvent::Sample(_) => "sample".into(),
                SessionEvent::Command(c) => format!("command {:?}", c.command),
            };
            format!("engine {} {event}", input.session.as_str())
        }
        Effect::Store(StoreWrite::OpenSession {
            session_row,
            session_id,
            plan_row,
            ..
        }) => format!(
            "store open {session_row} {} plan={plan_row:?}",
            session_id.as_str()
        ),
        Effect::Store(StoreWrite::Cue {
            session_row,
            output_seq,
            cue,
            ..
        }) => format!(
            "store cue {session_row} #{output_seq} {}",
            cue.session.as_str()
        ),
        Effect::Store(StoreWrite::EndSession {
            session_row,
            summary,
            ..
        }) => format!("store end {session_row} summary={}", summary.is_some()),
        Effect::Store(StoreWrite::EndStale { before_ms, now_ms }) => {
            format!("store end-stale {}s before", (now_ms - before_ms) / 1000)
        }
        Effect::Take(t) => {
            let coach = match &t.coach {
                None => "-".to_owned(),
                Some(CoachInput::Samples { engine_id }) => {
                    format!("samples>{}", engine_id.as_str())
                }
                Some(CoachInput::Command { engine_id, command }) => {
                    format!("{command:?}>{}", engine_id.as_str())
                }
            };
            format!(
                "take {} #{} {} n={} board={} coach={coach} {}",
                t.session_row,
                t.seq,
                t.kind,
                t.samples.len(),
                t.board,
                t.send_time
            )
        }
        Effect::Send(d) => {
            let what = match &d.payload {
                Payload::Ack(ack) => format!("ack {}", ack.committed_seq),
                Payload::Cue(cue) => format!("cue {}", cue.session.as_str()),
                other => format!("{:?}", other.kind()),
            };
            format!(
                "send {what} route={:?} row={:?} {:?} down#{}",
                d.route, d.session_row, d.purpose, d.header.seq
            )
        }
        Effect::Board(b) => {
            let body = match &b.body {
                BoardBody::Cue(c) => format!("cue {}", c.session.as_str()),
                BoardBody::Status { sensors, .. } => {
                    format!("status sensors={}", sensors.is_some())
                }
                BoardBody::Sensors(s) => format!("sensors t={}", s.t_ms),
                BoardBody::Ended => "ended".into(),
            };
            format!(
                "board {} {} {} {body}",
                b.tenant_row, b.athlete_row, b.session_row
            )
        }
        Effect::SessionOpened { session_row } => format!("opened {session_row}"),
        Effect::SessionClosed { session_row, why } => format!("closed {session_row} {why:?}"),
        Effect::Rejected { reason, log } => format!("rejected {reason:?} log={log:?}"),
        Effect::SendTimeFlagged => "send-time flagged".into(),
    }
}

/// Whether an output is a cue.
pub fn cue_output(row: i64, seq: u64) -> SessionOutput {
    output(row, seq, OutputBody::Cue(cue(&format!("s{row}"))))
}
