//! The one writer: a thread that owns the write connection and commits in batches.
//!
//! Operations arrive on a bounded channel (a full channel holds the ingress back). The
//! writer takes whatever is waiting, up to the batch size, applies it in one `BEGIN
//! IMMEDIATE` transaction and commits; only then does it report, for every session whose
//! frames it stored, the highest seq up to which every frame of the session is stored.
//! That report is what the gateway acknowledges to devices: **an ack never runs ahead of
//! the commit**, and a frame stored after a gap is acknowledged once the gap is filled.
//!
//! Frames go in with `INSERT OR IGNORE` against `UNIQUE(device_row, session_row, seq)`, so
//! a resent frame is stored once. A failed transaction is rolled back and reported; its
//! frames are not acknowledged and the device resends them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use paceline_schemas::{Cue, SessionSummary, codec};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{StoreError, connect, to_i64, to_u64};
use crate::metrics::Metrics;

/// One sample as a row of the `samples` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// Device time, ms.
    pub t_ms: u64,
    /// The sample kind (`heart_rate`, `cycling_power`, …).
    pub kind: &'static str,
    /// Heart rate, bpm.
    pub heart_rate: Option<u16>,
    /// Power, W.
    pub power_w: Option<f64>,
    /// Cadence, rpm or spm.
    pub cadence: Option<f64>,
    /// Speed, m/s.
    pub speed_mps: Option<f64>,
}

/// A frame to store.
#[derive(Debug, Clone)]
pub struct FrameWrite {
    /// The tenant's row.
    pub tenant_row: i64,
    /// The device's row.
    pub device_row: i64,
    /// The session's row.
    pub session_row: i64,
    /// The frame's seq.
    pub seq: u64,
    /// Its kind, as text.
    pub kind: &'static str,
    /// The device's send time, ms since the epoch.
    pub sent_ms: u64,
    /// When the gateway received it, ms since the epoch.
    pub received_ms: u64,
    /// `plausible`, `stale` or `far_future`.
    pub send_time: &'static str,
    /// The opened body, in its binary form.
    pub body: Vec<u8>,
    /// Its samples.
    pub samples: Vec<SampleRow>,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnding {
    /// Ended normally (by a command or by silence), with a summary.
    Ended,
    /// The engine could not coach it (bad profile or plan).
    Rejected,
}

/// A write for the writer thread.
#[derive(Debug)]
pub enum WriteOp {
    /// Creates a session; takes the plan off the athlete's "next session" if one is given.
    OpenSession {
        /// The tenant's row.
        tenant_row: i64,
        /// The device's row.
        device_row: i64,
        /// The athlete's row.
        athlete_row: i64,
        /// The id the device gave the session.
        session_id: String,
        /// The plan it is coached with.
        plan_row: Option<i64>,
        /// Now, ms since the epoch.
        now_ms: u64,
        /// The session's row, after the commit.
        reply: SyncSender<Result<i64, String>>,
    },
    /// Stores a frame.
    Frame(FrameWrite),
    /// Stores a cue (and its modification).
    Cue {
        /// The tenant's row.
        tenant_row: i64,
        /// The session's row.
        session_row: i64,
        /// The engine's output seq.
        output_seq: u64,
        /// The cue.
        cue: Cue,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Closes a session.
    EndSession {
        /// The tenant's row.
        tenant_row: i64,
        /// The session's row.
        session_row: i64,
        /// How it ended.
        ending: SessionEnding,
        /// Its summary.
        summary: Option<SessionSummary>,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Ends sessions left open with no frame since `before_ms` (their coach is gone: the
    /// gateway stopped while they ran, and their device never came back).
    EndStale {
        /// Sessions whose last frame is older than this are ended, ms since the epoch.
        before_ms: u64,
        /// Now, ms since the epoch.
        now_ms: u64,
    },
    /// Answers once everything sent before it is committed.
    Flush(SyncSender<()>),
}

/// What a commit made durable for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The session's row.
    pub session_row: i64,
    /// Every frame of the session up to this seq is stored.
    pub acked_seq: u64,
}

/// Called after each commit with the sessions whose frames it held.
pub type CommitListener = Box<dyn FnMut(&[Committed]) + Send>;

/// The handle to the writer thread.
pub struct Writer {
    sender: SyncSender<WriteOp>,
    thread: Option<JoinHandle<()>>,
}

/// A cloneable way to queue writes.
#[derive(Clone)]
pub struct WriteQueue(SyncSender<WriteOp>);

impl WriteQueue {
    /// Queues a write, waiting while the queue is full.
    pub fn send(&self, op: WriteOp) -> Result<(), StoreError> {
        self.0.send(op).map_err(|_| StoreError::WriterGone)
    }

    /// Queues a write if there is room now; gives it back otherwise.
    pub fn try_send(&self, op: WriteOp) -> Result<(), Box<WriteOp>> {
        self.0.try_send(op).map_err(|e| match e {
            TrySendError::Full(op) | TrySendError::Disconnected(op) => Box::new(op),
        })
    }

    /// Waits until everything queued before this call is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(WriteOp::Flush(tx))?;
        rx.recv().map_err(|_| StoreError::WriterGone)
    }
}

impl Writer {
    /// Starts the writer on the database at `path`.
    pub fn start(
        path: &Path,
        batch: usize,
        queue: usize,
        metrics: Arc<Metrics>,
        listener: CommitListener,
    ) -> Result<Writer, StoreError> {
        let conn = connect(path)?;
        let (sender, receiver) = mpsc::sync_channel(queue.max(1));
        let thread = thread::Builder::new()
            .name("db-writer".to_owned())
            .spawn(move || {
                let mut state = WriterState {
                    conn,
                    acks: HashMap::new(),
                    metrics,
                    listener,
                };
                state.run(&receiver, batch.max(1));
            })
            .map_err(|e| StoreError::Corrupt {
                what: "writer thread",
                row: 0,
                reason: e.to_string(),
            })?;
        Ok(Writer {
            sender,
            thread: Some(thread),
        })
    }

    /// A queue to send writes on.
    pub fn queue(&self) -> WriteQueue {
        WriteQueue(self.sender.clone())
    }

    /// Commits what is queued and stops the thread. Other queues must be dropped first
    /// for the thread to end; this waits for it.
    pub fn stop(mut self) {
        let (tx, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.sender, tx));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Per-session acknowledgement state: everything up to `contiguous` is stored, and so are
/// the seqs in `above`.
#[derive(Debug, Default)]
struct AckState {
    contiguous: u64,
    above: BTreeSet<u64>,
}

impl AckState {
    fn stored(&mut self, seq: u64) {
        if seq == self.contiguous + 1 {
            self.contiguous = seq;
            while self.above.remove(&(self.contiguous + 1)) {
                self.contiguous += 1;
            }
        } else if seq > self.contiguous {
            self.above.insert(seq);
        }
    }
}

struct WriterState {
    conn: Connection,
    acks: HashMap<i64, AckState>,
    metrics: Arc<Metrics>,
    listener: CommitListener,
}

enum Reply {
    Session(SyncSender<Result<i64, String>>, i64),
    SessionFailed(SyncSender<Result<i64, String>>, String),
    Flushed(SyncSender<()>),
}

impl WriterState {
    fn run(&mut self, receiver: &Receiver<WriteOp>, batch: usize) {
        while let Ok(first) = receiver.recv() {
            let mut ops = Vec::with_capacity(64);
            ops.push(first);
            while ops.len() < batch {
                match receiver.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            self.commit(ops);
        }
    }

    fn commit(&mut self, ops: Vec<WriteOp>) {
        let started = Instant::now();
        let count = ops.len();
        let mut replies = Vec::new();
        // Sessions whose frames this batch holds, with their latest receive time.
        let mut touched: HashMap<i64, u64> = HashMap::new();
        let mut stored = 0u64;
        let mut duplicates = 0u64;
        let outcome = (|| -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for op in ops {
                match op {
                    WriteOp::Frame(frame) => {
                        let acks = match self.acks.entry(frame.session_row) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                e.insert(load_ack_state(&tx, frame.session_row)?)
                            }
                        };
                        if insert_frame(&tx, &frame)? {
                            stored += 1;
                            acks.stored(frame.seq);
                        } else {
                            // A resend that overtook the commit of its first copy (the
                            // ingress counts those the ack already covered).
                            duplicates += 1;
                        }
                        let latest = touched.entry(frame.session_row).or_insert(0);
                        *latest = (*latest).max(frame.received_ms);
                    }
                    WriteOp::OpenSession {
                        tenant_row,
                        device_row,
                        athlete_row,
                        session_id,
                        plan_row,
                        now_ms,
                        reply,
                    } => match open_session(
                        &tx,
                        tenant_row,
                        device_row,
                        athlete_row,
                        &session_id,
                        plan_row,
                        now_ms,
                    ) {
                        Ok(row) => replies.push(Reply::Session(reply, row)),
                        Err(e) => replies.push(Reply::SessionFailed(reply, e.to_string())),
                    },
                    WriteOp::Cue {
                        tenant_row,
                        session_row,
                        output_seq,
                        cue,
                        now_ms,
                    } => insert_cue(&tx, tenant_row, session_row, output_seq, &cue, now_ms)?,
                    WriteOp::EndSession {
                        tenant_row,
                        session_row,
                        ending,
                        summary,
                        now_ms,
                    } => {
                        let summary_json = summary.as_ref().and_then(|s| codec::to_json(s).ok());
                        let status = match ending {
                            SessionEnding::Ended => "ended",
                            SessionEnding::Rejected => "rejected",
                        };
                        tx.execute(
                            "UPDATE sessions SET status = ?1, ended_ms = ?2,
                                    summary_json = coalesce(?3, summary_json)
                             WHERE tenant_id = ?4 AND id = ?5",
                            params![
                                status,
                                to_i64(now_ms),
                                summary_json,
                                tenant_row,
                                session_row
                            ],
                        )?;
                    }
                    WriteOp::EndStale { before_ms, now_ms } => {
                        tx.execute(
                            "UPDATE sessions SET status = 'ended', ended_ms = ?1
                             WHERE status = 'open' AND last_frame_ms < ?2",
                            params![to_i64(now_ms), to_i64(before_ms)],
                        )?;
                    }
                    WriteOp::Flush(reply) => replies.push(Reply::Flushed(reply)),
                }
            }
            // One update per session per batch, not per frame.
            for (session_row, received_ms) in &touched {
                let acked_seq = self.acks.get(session_row).map_or(0, |a| a.contiguous);
                tx.prepare_cached(
                    "UPDATE sessions SET acked_seq = max(acked_seq, ?1),
                            last_frame_ms = max(last_frame_ms, ?2)
                     WHERE id = ?3",
                )?
                .execute(params![
                    to_i64(acked_seq),
                    to_i64(*received_ms),
                    session_row
                ])?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.metrics
            .db_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.db_batch_ops.observe(count as f64);
        match outcome {
            Ok(()) => {
                self.metrics.frames_stored.inc_by(stored);
                self.metrics.frames_duplicate.inc_by(duplicates);
                let committed: Vec<Committed> = touched
                    .keys()
                    .filter_map(|row| {
                        self.acks.get(row).map(|acks| Committed {
                            session_row: *row,
                            acked_seq: acks.contiguous,
                        })
                    })
                    .collect();
                if !committed.is_empty() {
                    (self.listener)(&committed);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, ops = count, "database commit failed; its frames stay unacknowledged");
                // The in-memory ack state may hold seqs of the rolled-back batch.
                for row in touched.keys() {
                    self.acks.remove(row);
                }
                for reply in &mut replies {
                    if let Reply::Session(tx, _) = reply {
                        *reply = Reply::SessionFailed(tx.clone(), err.to_string());
                    }
                }
            }
        }
        for reply in replies {
            match reply {
                Reply::Session(tx, row) => {
                    let _ = tx.send(Ok(row));
                }
                Reply::SessionFailed(tx, reason) => {
                    let _ = tx.send(Err(reason));
                }
                Reply::Flushed(tx) => {
                    let _ = tx.send(());
                }
            }
        }
    }
}

fn insert_frame(tx: &Transaction<'_>, frame: &FrameWrite) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO frames
               (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            frame.tenant_row,
            frame.device_row,
            frame.session_row,
            to_i64(frame.seq),
            frame.kind,
            to_i64(frame.sent_ms),
            to_i64(frame.received_ms),
            frame.send_time,
            frame.body
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO samples
           (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
            cadence, speed_mps)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for sample in &frame.samples {
        insert.execute(params![
            frame.session_row,
            frame.tenant_row,
            to_i64(frame.seq),
            to_i64(sample.t_ms),
            to_i64(frame.received_ms),
            sample.kind,
            sample.heart_rate,
            sample.power_w,
            sample.cadence,
            sample.speed_mps
        ])?;
    }
    Ok(true)
}

fn load_ack_state(tx: &Transaction<'_>, session_row: i64) -> Result<AckState, StoreError> {
    let acked: Option<i64> = tx
        .query_row(
            "SELECT acked_seq FROM sessions WHERE id = ?1",
            params![session_row],
            |row| row.get(0),
        )
        .optional()?;
    let contiguous = to_u64(acked.unwrap_or(0));
    let mut state = AckState {
        contiguous,
        above: BTreeSet::new(),
    };
    let mut stmt = tx.prepare_cached(
        "SELECT seq FROM frames WHERE session_row = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let seqs = stmt
        .query_map(params![session_row, to_i64(contiguous)], |row| {
            row.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for seq in seqs {
        state.stored(to_u64(seq));
    }
    Ok(state)
}

fn open_session(
    tx: &Transaction<'_>,
    tenant_row: i64,
    device_row: i64,
    athlete_row: i64,
    session_id: &str,
    plan_row: Option<i64>,
    now_ms: u64,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO sessions
           (tenant_id, device_row, athlete_id, session_id, plan_id, status, started_ms,
            last_frame_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6)
         ON CONFLICT (device_row, session_id) DO NOTHING",
        params![
            tenant_row,
            device_row,
            athlete_row,
            session_id,
            plan_row,
            to_i64(now_ms)
        ],
    )?;
    let row: i64 = tx.query_row(
        "SELECT id FROM sessions WHERE tenant_id = ?1 AND device_row = ?2 AND session_id = ?3",
        params![tenant_row, device_row, session_id],
        |row| row.get(0),
    )?;
    if let Some(plan_row) = plan_row {
        // The plan was for the athlete's next session: this one.
        tx.execute(
            "UPDATE athletes SET next_plan_id = NULL
             WHERE tenant_id = ?1 AND id = ?2 AND next_plan_id = ?3",
            params![tenant_row, athlete_row, plan_row],
        )?;
    }
    Ok(row)
}

fn insert_cue(
    tx: &Transaction<'_>,
    tenant_row: i64,
    session_row: i64,
    output_seq: u64,
    cue: &Cue,
    now_ms: u64,
) -> Result<(), StoreError> {
    let modification_json = cue
        .modification
        .as_ref()
        .and_then(|m| codec::to_json(m).ok());
    tx.prepare_cached(
        "INSERT INTO cues
           (session_row, tenant_id, output_seq, t_s, severity, code, text, modification_json,
            created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        session_row,
        tenant_row,
        to_i64(output_seq),
        cue.t_s,
        json_word(&cue.severity),
        json_word(&cue.code),
        cue.text,
        modification_json,
        to_i64(now_ms)
    ])?;
    if let Some(json) = modification_json {
        let cue_id = tx.last_insert_rowid();
        let kind = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        tx.prepare_cached(
            "INSERT INTO modifications (session_row, tenant_id, cue_id, kind, params_json, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            session_row,
            tenant_row,
            cue_id,
            kind,
            json,
            to_i64(now_ms)
        ])?;
    }
    Ok(())
}

/// The JSON word of a unit enum (`"safety"` → `safety`).
fn json_word<T: serde::Serialize>(value: &T) -> String {
    codec::to_json(value)
        .map(|text| text.trim_matches('"').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_advance_only_over_contiguous_seqs() {
        let mut acks = AckState::default();
        acks.stored(2);
        assert_eq!(acks.contiguous, 0);
        acks.stored(1);
        assert_eq!(acks.contiguous, 2);
        acks.stored(5);
        acks.stored(4);
        assert_eq!(acks.contiguous, 2);
        acks.stored(3);
        assert_eq!(acks.contiguous, 5);
        assert!(acks.above.is_empty());
        acks.stored(5);
        acks.stored(1);
        assert_eq!(acks.contiguous, 5);
    }
}
