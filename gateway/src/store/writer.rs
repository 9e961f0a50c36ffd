//! The one writer: a thread that owns the write connection and commits in batches.
//!
//! Operations arrive on a bounded channel (a full channel holds the ingress back). The
//! writer takes whatever is waiting, up to the batch size, applies it in one `BEGIN
//! IMMEDIATE` transaction and commits; only then does it report, for every session whose
//! frames it stored, the highest seq up to which every frame of the session is stored.
//! That report is what the gateway acknowledges to devices: **an ack never runs ahead of
//! the commit**, and a frame stored after a gap is acknowledged once the gap is filled.
//!
//! **Group commit.** With a window (`group_commit_ms`, default 2 ms), the writer does not
//! commit the moment the channel runs dry: it goes on gathering until the window, counted
//! from the first write of the batch, is over (or the batch is full, or a flush asks for
//! the commit, or the writer stops), so at low load frames of many sessions share one
//! transaction and one fsync instead of paying one each. The writer waits out the window
//! parked (`park_timeout`), not on the channel: a write arriving does not wake it (that
//! was one wake-up of the writer per frame at a thousand sessions), a flush or the
//! writer's stop unparks it at once. Acknowledgements still follow the commit.
//!
//! **A session's row lags its frames by up to `SESSION_ROW_EVERY_MS`.** Its
//! `acked_seq` and `last_frame_ms` are written with the session's first committed frame,
//! then at most once every 5 s of receive time, and at once on a flush, a session's end,
//! a stale-session sweep and the writer's stop. With a thousand sessions streaming, the
//! row update per session per batch dirtied one page per frame of its own, a third of
//! the pages a commit wrote. Nothing depends on the row being current: a resume and the
//! writer's own ack state read `acked_seq` and then every frame stored above it.
//!
//! **The inbox** (`inbox_move`, off by default). With it, frames and their samples go
//! first into `frames_inbox` and `samples_inbox` (migration 22): tables that only append,
//! in arrival order, with no per-session index. A commit that stores them is what
//! acknowledges them: they are stored. Commits move them into `frames` and `samples`
//! sorted by session, so each session's index leaves are written once for all its frames
//! of an interval instead of once per frame: at a thousand sessions a commit held about
//! one frame per session, and the two per-session indexes cost a WAL page each per frame.
//! The move goes in slices (`INBOX_SLICES`, 8, per `inbox_move`): every `inbox_move /
//! INBOX_SLICES` a commit moves the next slice of the sessions with rows in the inbox
//! (`MOVE_*_INBOX_SLICE`, by session row, round and round), so each session's rows still
//! move about once per `inbox_move`; a session's end moves its own rows at once, and a
//! flush or a stale sweep that ended sessions moves the whole inbox (`MOVE_*_INBOX`).
//! The first version moved the whole inbox every `inbox_move`: at 1 s the writer was 8 µs
//! cheaper per frame, but each move was a burst of tens of milliseconds that, on a server
//! with one core, delayed cues (p99 at 2,000 athletes 6–7 → 27–40 ms); the inbox is off
//! by default (`bench/results/e2e-writer-inbox/`). Without it frames go straight into
//! `frames` and `samples`. Opening the store moves what a killed writer left. Who reads a live session's rows sees the
//! inbox: the resume's stored seqs and the latest device status read both tables (the
//! inbox whole: a second of frames), and the API's session reads of an open session
//! flush the writer first (`api::sessions::settled_session`); the `stored_frames` and
//! `stored_samples` views show both for an operator's count.
//!
//! A resent frame is stored once: the writer's ack state per session (everything up to
//! the contiguous ack, and each seq stored above it) says whether its seq is stored, in
//! the inbox or moved; it is read from both tables before a session's first frame
//! (nothing to read for a session this writer opened), and again after an end or a failed
//! commit. `UNIQUE(device_row, session_row, seq)` still guards `frames` when rows move
//! (`INSERT OR IGNORE`). A failed transaction is rolled back and reported; its
//! frames are not acknowledged and the device resends them. Its cues and session
//! endings, which nobody resends, are kept and tried once more at the head of the next
//! batch; if that one fails too they are lost, counted in `db_writes_lost` and logged. After
//! [`WRITER_FAILURES_BEFORE_UNREADY`] failed commits in a row, and for good once the
//! thread has stopped, the shared [`Health`] says the writer has failed (`/health/ready`
//! answers 503).
//!
//! **Sessions are opened without a round trip.** The live loop picks a new session's row
//! itself ([`WriteOp::OpenSession`] carries it) and queues the session's frames right
//! behind the open, so the ingress never waits for a commit to learn a row: the writer
//! applies the queue in order, so the open always precedes the frames that name it. An
//! open that does not happen (its id or `(device, session id)` already taken, or its
//! transaction rolled back) is reported in [`CommitReport::not_opened`]; from then on the
//! writer skips every frame, cue and ending that names that row (none is acknowledged),
//! and the live loop forgets the session so that the device's next frame opens it again.
//! The live loop then queues [`WriteOp::ForgetNotOpened`], behind every write naming the
//! row, and the writer forgets the row too: its memory follows the sessions in flight.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use paceline_schemas::{Cue, SessionSummary, codec};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{StoreError, connect, queries, to_i64, to_u64};
use crate::health::{Health, Part, WRITER_FAILURES_BEFORE_UNREADY};
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
    /// Creates a session with the row the live loop chose; takes the plan off the
    /// athlete's "next session" if one is given.
    OpenSession {
        /// The session's row, unused so far.
        session_row: i64,
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
    /// Lets the writer forget sessions it reported as not opened. The live loop queues it
    /// once it has forgotten them, so every write naming them is ahead of it in the queue
    /// (and is skipped); after it, none comes.
    ForgetNotOpened(Vec<i64>),
}

impl WriteOp {
    /// A copy of a cue or a session ending, kept to try again after a failed commit
    /// (nobody resends those); `None` for the rest.
    fn kept_copy(&self) -> Option<WriteOp> {
        match self {
            WriteOp::Cue {
                tenant_row,
                session_row,
                output_seq,
                cue,
                now_ms,
            } => Some(WriteOp::Cue {
                tenant_row: *tenant_row,
                session_row: *session_row,
                output_seq: *output_seq,
                cue: cue.clone(),
                now_ms: *now_ms,
            }),
            WriteOp::EndSession {
                tenant_row,
                session_row,
                ending,
                summary,
                now_ms,
            } => Some(WriteOp::EndSession {
                tenant_row: *tenant_row,
                session_row: *session_row,
                ending: *ending,
                summary: summary.clone(),
                now_ms: *now_ms,
            }),
            _ => None,
        }
    }

    /// The session row the write is about, if it is about one that must be open.
    fn session_row(&self) -> Option<i64> {
        match self {
            WriteOp::Frame(frame) => Some(frame.session_row),
            WriteOp::Cue { session_row, .. } | WriteOp::EndSession { session_row, .. } => {
                Some(*session_row)
            }
            WriteOp::OpenSession { .. }
            | WriteOp::EndStale { .. }
            | WriteOp::Flush(_)
            | WriteOp::ForgetNotOpened(_) => None,
        }
    }
}

/// What a commit made durable for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The session's row.
    pub session_row: i64,
    /// Every frame of the session up to this seq is stored.
    pub acked_seq: u64,
}

/// What one transaction did, told to the [`CommitListener`] after it.
#[derive(Debug, Clone, Copy)]
pub struct CommitReport<'a> {
    /// The sessions whose frames it stored, with how far each is now stored.
    pub committed: &'a [Committed],
    /// Session rows it was asked to open and did not (see the module docs).
    pub not_opened: &'a [i64],
}

/// Called after each transaction that stored frames or failed to open a session.
pub type CommitListener = Box<dyn FnMut(CommitReport<'_>) + Send>;

/// How the writer paces its commits (module docs).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Most writes in one transaction.
    pub batch: usize,
    /// How long the writer gathers writes after the first before it commits (zero: what
    /// is waiting).
    pub group_commit: Duration,
    /// How long frames stay in the inbox before a commit moves them (zero: no inbox,
    /// frames go straight into `frames`).
    pub inbox_move: Duration,
}

/// The handle to the writer thread.
pub struct Writer {
    sender: SyncSender<WriteOp>,
    thread: Option<JoinHandle<()>>,
}

/// A cloneable way to queue writes.
#[derive(Clone)]
pub struct WriteQueue {
    sender: SyncSender<WriteOp>,
    /// The writer thread, unparked by a flush that ends its gathering.
    writer: Option<Thread>,
}

impl WriteQueue {
    /// Queues a write, waiting while the queue is full.
    pub fn send(&self, op: WriteOp) -> Result<(), StoreError> {
        let flush = matches!(op, WriteOp::Flush(_));
        self.sender.send(op).map_err(|_| StoreError::WriterGone)?;
        if flush {
            self.wake_writer();
        }
        Ok(())
    }

    /// Queues a write if there is room now; gives it back otherwise.
    pub fn try_send(&self, op: WriteOp) -> Result<(), Box<WriteOp>> {
        let flush = matches!(op, WriteOp::Flush(_));
        self.sender.try_send(op).map_err(|e| match e {
            TrySendError::Full(op) | TrySendError::Disconnected(op) => Box::new(op),
        })?;
        if flush {
            self.wake_writer();
        }
        Ok(())
    }

    /// Ends the writer's gathering now (module docs: a write alone does not wake it).
    fn wake_writer(&self) {
        if let Some(writer) = &self.writer {
            writer.unpark();
        }
    }

    /// Waits until everything queued before this call is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(WriteOp::Flush(tx))?;
        rx.recv().map_err(|_| StoreError::WriterGone)
    }
}

impl Writer {
    /// Starts the writer on the database at `path`, paced by `pacing` (see the module
    /// docs); it tells `health` when its commits keep failing or it stops.
    pub fn start(
        path: &Path,
        pacing: Pacing,
        queue: usize,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        listener: CommitListener,
    ) -> Result<Writer, StoreError> {
        let conn = connect(path)?;
        // The writer's connection keeps the pages the live sessions' inserts land on (the
        // index leaves of a thousand sessions) in memory, and checkpoints less often, so
        // that a page rewritten by many commits is copied to the database once.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        Writer::start_on(
            conn,
            Gathering {
                batch: pacing.batch.max(1),
                window: pacing.group_commit,
                inbox_move: pacing.inbox_move,
            },
            queue,
            metrics,
            health,
            listener,
        )
    }

    /// Starts the writer on an open connection.
    fn start_on(
        conn: Connection,
        gathering: Gathering,
        queue: usize,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        listener: CommitListener,
    ) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(queue.max(1));
        let thread = thread::Builder::new()
            .name("db-writer".to_owned())
            .spawn(move || {
                // Set however the thread ends, a panic included.
                let _stopped = StoppedGuard(Arc::clone(&health));
                let mut state =
                    WriterState::new(conn, metrics, health, listener, gathering.inbox_move);
                state.run(&receiver, gathering);
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
        WriteQueue {
            sender: self.sender.clone(),
            writer: self.thread.as_ref().map(|t| t.thread().clone()),
        }
    }

    /// Commits what is queued and stops the thread. Other queues must be dropped first
    /// for the thread to end; this waits for it.
    pub fn stop(mut self) {
        let (tx, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.sender, tx));
        if let Some(thread) = self.thread.take() {
            // A gathering writer is parked: it sees the closed channel once woken.
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Marks the writer failed when its thread ends.
struct StoppedGuard(Arc<Health>);

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        self.0.fail(
            Part::Writer,
            "database_writer_stopped",
            "the database writer stopped",
        );
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
    /// Whether `seq` is stored already (seqs start at 1; the live loop drops a 0).
    fn holds(&self, seq: u64) -> bool {
        seq <= self.contiguous || self.above.contains(&seq)
    }

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

/// How often at most a session's row gets its `acked_seq` and `last_frame_ms` while
/// frames stream in, ms of receive time (module docs).
const SESSION_ROW_EVERY_MS: u64 = 5_000;

/// The writer connection's page cache, KiB (SQLite's default is 2,000 KiB).
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// WAL pages after which the writer's commit checkpoints (16 MiB of 4 KiB pages; the
/// other connections keep 1,000).
const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// A live session's row as the writer last wrote it.
#[derive(Debug, Clone, Copy)]
struct SessionRowLag {
    /// The receive time of the frame that last brought the row up to date.
    written_ms: u64,
    /// The newest frame's receive time committed since, if the row lags it.
    behind_ms: Option<u64>,
}

struct WriterState {
    conn: Connection,
    acks: HashMap<i64, AckState>,
    /// How far each live session's row lags what is committed (module docs).
    session_rows: HashMap<i64, SessionRowLag>,
    /// Rows whose open did not happen: what names them is skipped.
    not_opened: HashSet<i64>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// Commits failed since the last one that succeeded.
    failures_in_a_row: u32,
    /// Cues and session endings of the last failed batch, tried once more.
    retry: Vec<WriteOp>,
    listener: CommitListener,
    /// When the oldest frame now in the inbox was committed there (`None`: it is empty).
    inbox_since: Option<Instant>,
    /// How long frames stay in the inbox before a commit moves them (module docs).
    inbox_move: Duration,
    /// The sessions with rows in the inbox, and where the next slice starts.
    inbox_sessions: BTreeSet<i64>,
    slice_from: i64,
    /// When the last slice moved.
    slice_moved: Option<Instant>,
}

/// Slices the inbox's sessions are moved in, one every `inbox_move / INBOX_SLICES`: each
/// session's rows still move about once per `inbox_move`, and no commit carries a whole
/// interval's move (module docs).
const INBOX_SLICES: u32 = 8;

enum Reply {
    Flushed(SyncSender<()>),
}

/// How the writer gathers one transaction's writes.
#[derive(Debug, Clone, Copy)]
struct Gathering {
    /// Most writes in one transaction.
    batch: usize,
    /// How long to go on gathering after the first write (zero: only what is waiting).
    window: Duration,
    /// How long a frame stays in the inbox before a commit moves it into the indexed
    /// tables (zero: no inbox).
    inbox_move: Duration,
}

impl Gathering {
    /// The writes of the next transaction, the first received from `receiver`; `None`
    /// once the channel is closed and empty.
    fn next_batch(&self, receiver: &Receiver<WriteOp>) -> Option<Vec<WriteOp>> {
        let first = receiver.recv().ok()?;
        let window_ends = Instant::now() + self.window;
        // A flush means someone waits for the commit: it ends the gathering.
        let mut flushed = matches!(first, WriteOp::Flush(_));
        let mut ops = Vec::with_capacity(64);
        ops.push(first);
        while ops.len() < self.batch && !flushed {
            let op = match receiver.try_recv() {
                Ok(op) => op,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = window_ends.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    // Parked, not waiting on the channel: a write arriving does not wake
                    // the writer (at a thousand sessions that was a wake-up per frame);
                    // a flush or a stop unparks it, and a spurious wake-up only looks
                    // again.
                    thread::park_timeout(left);
                    continue;
                }
            };
            flushed = matches!(op, WriteOp::Flush(_));
            ops.push(op);
        }
        Some(ops)
    }
}

impl WriterState {
    fn new(
        conn: Connection,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        listener: CommitListener,
        inbox_move: Duration,
    ) -> WriterState {
        WriterState {
            conn,
            acks: HashMap::new(),
            session_rows: HashMap::new(),
            not_opened: HashSet::new(),
            metrics,
            health,
            failures_in_a_row: 0,
            retry: Vec::new(),
            listener,
            inbox_since: None,
            inbox_move,
            inbox_sessions: BTreeSet::new(),
            slice_from: 0,
            slice_moved: None,
        }
    }

    /// The range of session rows the next slice moves, if one is due: the next
    /// `1 / INBOX_SLICES` of the sessions with rows in the inbox, from where the last
    /// slice ended (round again at the end).
    fn due_slice(&self) -> Option<(i64, i64)> {
        if self.inbox_sessions.is_empty()
            || self
                .slice_moved
                .is_some_and(|at| at.elapsed() < self.inbox_move / INBOX_SLICES)
        {
            return None;
        }
        let count = self
            .inbox_sessions
            .len()
            .div_ceil(INBOX_SLICES as usize)
            .max(1);
        let first = self
            .inbox_sessions
            .range(self.slice_from..)
            .next()
            .or_else(|| self.inbox_sessions.first())
            .copied()?;
        let last = self
            .inbox_sessions
            .range(first..)
            .take(count)
            .last()
            .copied()
            .unwrap_or(first);
        Some((first, last))
    }

    fn run(&mut self, receiver: &Receiver<WriteOp>, gathering: Gathering) {
        while let Some(ops) = gathering.next_batch(receiver) {
            self.commit(ops);
        }
        // Stopping: the lagging session rows are written as a flush would.
        let (flushed, _) = mpsc::sync_channel(1);
        self.commit(vec![WriteOp::Flush(flushed)]);
    }

    fn commit(&mut self, ops: Vec<WriteOp>) {
        let started = Instant::now();
        let count = ops.len();
        // Flushes are answered once the batch is over, committed or not (a failed batch
        // must not leave its flushers waiting, nor tell them the writer is gone).
        let (flushes, ops): (Vec<WriteOp>, Vec<WriteOp>) = ops
            .into_iter()
            .partition(|op| matches!(op, WriteOp::Flush(_)));
        let replies: Vec<Reply> = flushes
            .into_iter()
            .filter_map(|op| match op {
                WriteOp::Flush(reply) => Some(Reply::Flushed(reply)),
                _ => None,
            })
            .collect();
        // Sessions the live loop has forgotten: skipped until the end of this batch (the
        // writes naming them are all ahead of the forget), then forgotten here too.
        let mut forgotten: Vec<i64> = Vec::new();
        let ops: Vec<WriteOp> = ops
            .into_iter()
            .filter_map(|op| match op {
                WriteOp::ForgetNotOpened(rows) => {
                    forgotten.extend(rows);
                    None
                }
                op => Some(op),
            })
            .collect();
        // The last failed batch's cues and endings go first, as they were queued first.
        let retried = self.retry.len();
        let ops: Vec<WriteOp> = std::mem::take(&mut self.retry)
            .into_iter()
            .chain(ops)
            .collect();
        // A flush also brings every lagging session row up to date, and moves the inbox.
        let catching_up = !replies.is_empty()
            && (self.inbox_since.is_some()
                || self.session_rows.values().any(|l| l.behind_ms.is_some()));
        if ops.is_empty() && !catching_up {
            self.forget_not_opened(&forgotten);
            for Reply::Flushed(tx) in replies {
                let _ = tx.send(());
            }
            return;
        }
        // This batch's own cues and endings, kept if it fails (frames are resent).
        let kept: Vec<WriteOp> = ops[retried..]
            .iter()
            .filter_map(WriteOp::kept_copy)
            .collect();
        // Sessions whose frames this batch holds, with their latest receive time.
        let mut touched: HashMap<i64, u64> = HashMap::new();
        let mut stored = 0u64;
        let mut duplicates = 0u64;
        // Bytes of frame bodies this batch stores, by tenant (the storage quota's count).
        let mut stored_bytes: HashMap<i64, i64> = HashMap::new();
        // Sessions this batch opens, and those it was asked to open and did not.
        let mut opened: Vec<i64> = Vec::new();
        let mut not_opened: Vec<i64> = Vec::new();
        // Session rows this batch brings up to date (with the receive time they now
        // hold), and the sessions it ends.
        let mut rows_written: Vec<(i64, u64)> = Vec::new();
        let mut rows_ended: Vec<i64> = Vec::new();
        // Whether this batch put frames in the inbox, and whether it empties it.
        let mut inbox_written = false;
        let mut inbox_ending = false;
        let mut inbox_moved = false;
        // The sessions this batch put in the inbox, and the slice it moved.
        let mut inbox_touched: Vec<i64> = Vec::new();
        // The sessions this batch ends (their rows leave the inbox with the end).
        let mut ended_in_batch: Vec<i64> = Vec::new();
        let mut slice_moved: Option<(i64, i64)> = None;
        let due_slice = self.due_slice();
        let outcome = (|| -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for op in ops {
                if op
                    .session_row()
                    .is_some_and(|row| self.not_opened.contains(&row))
                {
                    continue;
                }
                match op {
                    WriteOp::Frame(frame) => {
                        let acks = match self.acks.entry(frame.session_row) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                e.insert(load_ack_state(&tx, &frame)?)
                            }
                        };
                        if acks.holds(frame.seq) {
                            // A resend that overtook the commit of its first copy (the
                            // ingress counts those the ack already covered).
                            duplicates += 1;
                        } else if insert_frame(&tx, &frame, self.inbox_move.is_zero())? {
                            if !self.inbox_move.is_zero() {
                                inbox_written = true;
                                inbox_touched.push(frame.session_row);
                            }
                            stored += 1;
                            *stored_bytes.entry(frame.tenant_row).or_insert(0) +=
                                i64::try_from(frame.body.len()).unwrap_or(i64::MAX);
                            acks.stored(frame.seq);
                        } else {
                            duplicates += 1;
                        }
                        let latest = touched.entry(frame.session_row).or_insert(0);
                        *latest = (*latest).max(frame.received_ms);
                    }
                    WriteOp::OpenSession {
                        session_row,
                        tenant_row,
                        device_row,
                        athlete_row,
                        session_id,
                        plan_row,
                        now_ms,
                    } => {
                        let open = OpenSession {
                            session_row,
                            tenant_row,
                            device_row,
                            athlete_row,
                            session_id: &session_id,
                            plan_row,
                            now_ms,
                        };
                        if open_session(&tx, &open)? {
                            opened.push(session_row);
                            // A new session has no frame stored: nothing to read back.
                            self.acks.insert(session_row, AckState::default());
                        } else {
                            tracing::warn!(
                                session_row,
                                "a session's row or id was taken; not opened"
                            );
                            self.not_opened.insert(session_row);
                            not_opened.push(session_row);
                        }
                    }
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
                            queries::END_SESSION,
                            params![
                                status,
                                to_i64(now_ms),
                                summary_json,
                                tenant_row,
                                session_row
                            ],
                        )?;
                        // The row's last lagging fields, as the session will not stream
                        // again.
                        if let Some(behind_ms) = self
                            .session_rows
                            .get(&session_row)
                            .and_then(|l| l.behind_ms)
                        {
                            let acked_seq = self.acks.get(&session_row).map_or(0, |a| a.contiguous);
                            update_session_row(&tx, session_row, acked_seq, behind_ms)?;
                        }
                        rows_ended.push(session_row);
                        // An ended session's rows are in the indexed tables from its end
                        // on (history, the library and exports read only those).
                        ended_in_batch.push(session_row);
                    }
                    WriteOp::EndStale { before_ms, now_ms } => {
                        // Staleness is judged on rows brought up to date first.
                        for (session_row, lag) in &self.session_rows {
                            if let Some(behind_ms) = lag.behind_ms {
                                let acked_seq =
                                    self.acks.get(session_row).map_or(0, |a| a.contiguous);
                                update_session_row(&tx, *session_row, acked_seq, behind_ms)?;
                                rows_written.push((*session_row, behind_ms));
                            }
                        }
                        let ended = tx.execute(
                            queries::END_STALE_SESSIONS,
                            params![to_i64(now_ms), to_i64(before_ms)],
                        )?;
                        inbox_ending |= ended > 0;
                        // The sessions it ended are forgotten here too (below, once
                        // committed), unless this batch has their frames.
                        rows_ended.extend(self.session_rows.iter().filter_map(|(row, lag)| {
                            let last_ms = lag.behind_ms.unwrap_or(lag.written_ms);
                            (last_ms < before_ms && !touched.contains_key(row)).then_some(*row)
                        }));
                    }
                    WriteOp::Flush(_) | WriteOp::ForgetNotOpened(_) => {}
                }
            }
            // A session's row follows its frames at most every SESSION_ROW_EVERY_MS, and
            // at once when someone waits on a flush (module docs).
            let flushing = !replies.is_empty();
            for (session_row, received_ms) in &touched {
                let due = self.session_rows.get(session_row).is_none_or(|lag| {
                    flushing || *received_ms >= lag.written_ms + SESSION_ROW_EVERY_MS
                });
                if due {
                    let acked_seq = self.acks.get(session_row).map_or(0, |a| a.contiguous);
                    update_session_row(&tx, *session_row, acked_seq, *received_ms)?;
                    rows_written.push((*session_row, *received_ms));
                }
            }
            if flushing {
                for (session_row, lag) in &self.session_rows {
                    if let Some(behind_ms) = lag.behind_ms
                        && !touched.contains_key(session_row)
                    {
                        let acked_seq = self.acks.get(session_row).map_or(0, |a| a.contiguous);
                        update_session_row(&tx, *session_row, acked_seq, behind_ms)?;
                        rows_written.push((*session_row, behind_ms));
                    }
                }
            }
            for (tenant_row, bytes) in &stored_bytes {
                tx.prepare_cached(queries::ADD_TENANT_STORED_BYTES)?
                    .execute(params![tenant_row, bytes])?;
            }
            let inbox_held = inbox_written || self.inbox_since.is_some();
            if (flushing || inbox_ending) && inbox_held {
                move_inbox(&tx)?;
                inbox_moved = true;
            } else {
                if inbox_held {
                    for row in &ended_in_batch {
                        move_inbox_slice(&tx, *row, *row)?;
                    }
                }
                if let Some((first, last)) = due_slice {
                    move_inbox_slice(&tx, first, last)?;
                    slice_moved = Some((first, last));
                }
            }
            tx.commit()?;
            Ok(())
        })();
        self.metrics
            .db_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.db_batch_ops.observe(count as f64);
        let committed: Vec<Committed> = match outcome {
            Ok(()) => {
                self.metrics.db_commits.inc();
                self.inbox_sessions.extend(inbox_touched);
                if inbox_moved {
                    self.inbox_since = None;
                    self.inbox_sessions.clear();
                } else {
                    for row in &ended_in_batch {
                        self.inbox_sessions.remove(row);
                    }
                    if let Some((first, last)) = slice_moved {
                        let moved: Vec<i64> =
                            self.inbox_sessions.range(first..=last).copied().collect();
                        for row in moved {
                            self.inbox_sessions.remove(&row);
                        }
                        self.slice_from = last.saturating_add(1);
                        self.slice_moved = Some(started);
                    }
                    if self.inbox_sessions.is_empty() {
                        self.inbox_since = None;
                    } else if self.inbox_since.is_none() {
                        self.inbox_since = Some(started);
                    }
                    // The first slice comes a slice's time after the inbox's first rows.
                    if self.slice_moved.is_none() && !self.inbox_sessions.is_empty() {
                        self.slice_moved = Some(started);
                    }
                }
                for (session_row, written_ms) in rows_written {
                    self.session_rows.insert(
                        session_row,
                        SessionRowLag {
                            written_ms,
                            behind_ms: None,
                        },
                    );
                }
                for (session_row, received_ms) in &touched {
                    if let Some(lag) = self.session_rows.get_mut(session_row)
                        && *received_ms > lag.written_ms
                    {
                        lag.behind_ms = Some(lag.behind_ms.unwrap_or(0).max(*received_ms));
                    }
                }
                if self.failures_in_a_row > 0 {
                    self.failures_in_a_row = 0;
                    self.health.recovered(Part::Writer);
                }
                self.metrics.frames_stored.inc_by(stored);
                self.metrics.frames_duplicate.inc_by(duplicates);
                let committed = touched
                    .keys()
                    .filter_map(|row| {
                        self.acks.get(row).map(|acks| Committed {
                            session_row: *row,
                            acked_seq: acks.contiguous,
                        })
                    })
                    .collect();
                // An ended session's state goes (after its last ack above): a frame of it
                // that still comes reads its ack state from the database again.
                for session_row in rows_ended {
                    self.session_rows.remove(&session_row);
                    self.acks.remove(&session_row);
                }
                committed
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    ops = count,
                    kept = kept.len(),
                    lost = retried,
                    "database commit failed; its frames stay unacknowledged, its cues and \
                     session endings are tried once more (those already tried are lost)"
                );
                self.metrics
                    .db_writes_lost
                    .inc_by(u64::try_from(retried).unwrap_or(u64::MAX));
                self.retry = kept;
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                if self.failures_in_a_row >= WRITER_FAILURES_BEFORE_UNREADY {
                    self.health.fail(
                        Part::Writer,
                        "database_writer_failed",
                        format!(
                            "{} database commits in a row failed: {err}",
                            self.failures_in_a_row
                        ),
                    );
                }
                // The in-memory ack state may hold seqs of the rolled-back batch.
                for row in touched.keys().chain(&opened) {
                    self.acks.remove(row);
                }
                // The sessions it opened are gone with it: the frames queued behind
                // their opens must not reach the database either.
                self.not_opened.extend(opened.iter().copied());
                not_opened.extend(opened);
                Vec::new()
            }
        };
        if !committed.is_empty() || !not_opened.is_empty() {
            (self.listener)(CommitReport {
                committed: &committed,
                not_opened: &not_opened,
            });
        }
        self.forget_not_opened(&forgotten);
        for reply in replies {
            match reply {
                Reply::Flushed(tx) => {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// Forgets sessions it did not open, once the live loop has forgotten them too
    /// ([`WriteOp::ForgetNotOpened`]).
    fn forget_not_opened(&mut self, rows: &[i64]) {
        for row in rows {
            self.not_opened.remove(row);
        }
    }
}

/// Brings a session's row up to what is committed: its contiguous ack and newest frame.
fn update_session_row(
    tx: &Transaction<'_>,
    session_row: i64,
    acked_seq: u64,
    received_ms: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(queries::UPDATE_SESSION_ROW)?
        .execute(params![to_i64(acked_seq), to_i64(received_ms), session_row])?;
    Ok(())
}

/// Moves the frames and samples of sessions `first..=last` from the inbox into the
/// indexed tables, each session's together (a slice: module docs).
fn move_inbox_slice(tx: &Transaction<'_>, first: i64, last: i64) -> Result<(), StoreError> {
    for sql in [
        queries::MOVE_FRAMES_INBOX_SLICE,
        queries::MOVE_SAMPLES_INBOX_SLICE,
        queries::CLEAR_FRAMES_INBOX_SLICE,
        queries::CLEAR_SAMPLES_INBOX_SLICE,
    ] {
        tx.prepare_cached(sql)?.execute(params![first, last])?;
    }
    Ok(())
}

/// Moves every frame and sample of the inbox into the indexed tables, each session's
/// together (module docs).
pub(crate) fn move_inbox(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.prepare_cached(queries::MOVE_FRAMES_INBOX)?.execute([])?;
    tx.prepare_cached(queries::MOVE_SAMPLES_INBOX)?
        .execute([])?;
    tx.prepare_cached(queries::CLEAR_FRAMES_INBOX)?
        .execute([])?;
    tx.prepare_cached(queries::CLEAR_SAMPLES_INBOX)?
        .execute([])?;
    Ok(())
}

/// Appends a frame and its samples to the inbox, or with `direct` stores them straight
/// into `frames` and `samples` (the writer without an inbox); false if `frames` has the
/// frame already.
fn insert_frame(
    tx: &Transaction<'_>,
    frame: &FrameWrite,
    direct: bool,
) -> Result<bool, StoreError> {
    let (frame_sql, sample_sql) = if direct {
        (queries::INSERT_FRAME, queries::INSERT_SAMPLE)
    } else {
        (queries::INSERT_FRAME_INBOX, queries::INSERT_SAMPLE_INBOX)
    };
    let inserted = tx.prepare_cached(frame_sql)?.execute(params![
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
    let mut insert = tx.prepare_cached(sample_sql)?;
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

/// A session's ack state as stored: `acked_seq` from its row, then the seqs stored above
/// it, read through `UNIQUE(device_row, session_row, seq)` (the same query a resume runs;
/// without the device the lookup would scan every frame).
fn load_ack_state(tx: &Transaction<'_>, frame: &FrameWrite) -> Result<AckState, StoreError> {
    let acked: Option<i64> = tx
        .query_row(
            queries::SESSION_ACKED_SEQ,
            params![frame.session_row],
            |row| row.get(0),
        )
        .optional()?;
    let contiguous = to_u64(acked.unwrap_or(0));
    let mut state = AckState {
        contiguous,
        above: BTreeSet::new(),
    };
    let mut stmt = tx.prepare_cached(queries::STORED_SEQS_ABOVE)?;
    let seqs = stmt
        .query_map(
            params![
                frame.device_row,
                frame.session_row,
                to_i64(contiguous),
                frame.tenant_row
            ],
            |row| row.get::<_, i64>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    for seq in seqs {
        state.stored(to_u64(seq));
    }
    Ok(state)
}

/// A session to open, as [`WriteOp::OpenSession`] gives it.
struct OpenSession<'a> {
    session_row: i64,
    tenant_row: i64,
    device_row: i64,
    athlete_row: i64,
    session_id: &'a str,
    plan_row: Option<i64>,
    now_ms: u64,
}

/// Inserts the session with its chosen row; false (and nothing written) if the row or
/// the device's session id is taken already.
fn open_session(tx: &Transaction<'_>, open: &OpenSession<'_>) -> Result<bool, StoreError> {
    let inserted = tx.execute(
        queries::INSERT_SESSION,
        params![
            open.session_row,
            open.tenant_row,
            open.device_row,
            open.athlete_row,
            open.session_id,
            open.plan_row,
            to_i64(open.now_ms)
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(plan_row) = open.plan_row {
        // The plan was for the athlete's next session: this one.
        tx.execute(
            queries::CLEAR_NEXT_PLAN,
            params![open.tenant_row, open.athlete_row, plan_row],
        )?;
    }
    Ok(true)
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
    tx.prepare_cached(queries::INSERT_CUE)?.execute(params![
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
        tx.prepare_cached(queries::INSERT_MODIFICATION)?
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
    use crate::store::{Store, add_device, ensure_athlete, ensure_tenant};
    use paceline_schemas::TenantId;
    use std::sync::Mutex;

    fn frame(tenant_row: i64, device_row: i64, session_row: i64, seq: u64) -> WriteOp {
        WriteOp::Frame(FrameWrite {
            tenant_row,
            device_row,
            session_row,
            seq,
            kind: "samples",
            sent_ms: 1_000,
            received_ms: 1_000,
            send_time: "plausible",
            body: vec![1, 2, 3],
            samples: Vec::new(),
        })
    }

    #[test]
    fn an_open_that_does_not_happen_is_reported_and_what_names_its_row_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tenant = TenantId::new("gym-1").unwrap();
        let (tenant_row, device_row, athlete_row) = store
            .write(|tx| -> Result<_, StoreError> {
                let tenant_row = ensure_tenant(tx, &tenant, 0)?;
                let athlete_row = ensure_athlete(tx, tenant_row, "ana", None, 0)?;
                let device =
                    add_device(tx, &store.server_key(), &tenant, tenant_row, athlete_row, 0)?;
                let device_row: i64 = tx.query_row(
                    "SELECT id FROM devices WHERE device_id = ?1",
                    [device.device.as_str()],
                    |row| row.get(0),
                )?;
                Ok((tenant_row, device_row, athlete_row))
            })
            .unwrap();
        let (metrics, _registry) = Metrics::new();
        type Reports = Vec<(Vec<Committed>, Vec<i64>)>;
        let reports: Arc<Mutex<Reports>> = Arc::default();
        let heard = Arc::clone(&reports);
        let writer = Writer::start(
            store.path(),
            Pacing {
                batch: 100,
                group_commit: Duration::ZERO,
                inbox_move: Duration::ZERO,
            },
            100,
            Arc::new(metrics),
            Arc::default(),
            Box::new(move |report| {
                heard
                    .lock()
                    .unwrap()
                    .push((report.committed.to_vec(), report.not_opened.to_vec()));
            }),
        )
        .unwrap();
        let open = |session_row: i64, session_id: &str| WriteOp::OpenSession {
            session_row,
            tenant_row,
            device_row,
            athlete_row,
            session_id: session_id.to_owned(),
            plan_row: None,
            now_ms: 1_000,
        };
        let queue = writer.queue();
        // Row 1 opens; row 2 names the same session id and does not; row 3 opens. All in
        // one transaction, with frames right behind their opens.
        for op in [
            open(1, "ride"),
            frame(tenant_row, device_row, 1, 1),
            open(2, "ride"),
            frame(tenant_row, device_row, 2, 1),
            WriteOp::Cue {
                tenant_row,
                session_row: 2,
                output_seq: 1,
                cue: paceline_schemas::Cue {
                    session: paceline_schemas::SessionId::new("ride").unwrap(),
                    t_s: 1.0,
                    severity: paceline_schemas::Severity::Info,
                    code: paceline_schemas::CueCode::StepStart,
                    text: "go".to_owned(),
                    modification: None,
                },
                now_ms: 1_000,
            },
            open(3, "ride-2"),
            frame(tenant_row, device_row, 3, 1),
        ] {
            queue.send(op).unwrap();
        }
        queue.flush().unwrap();
        // A later frame for the row that was not opened is skipped too.
        queue.send(frame(tenant_row, device_row, 2, 2)).unwrap();
        queue.send(frame(tenant_row, device_row, 1, 2)).unwrap();
        queue.flush().unwrap();

        let reports = reports.lock().unwrap().clone();
        let not_opened: Vec<i64> = reports.iter().flat_map(|(_, n)| n.clone()).collect();
        assert_eq!(not_opened, vec![2]);
        let mut acked: Vec<(i64, u64)> = reports
            .iter()
            .flat_map(|(c, _)| c.iter().map(|c| (c.session_row, c.acked_seq)))
            .collect();
        acked.sort_unstable();
        assert_eq!(acked, vec![(1, 1), (1, 2), (3, 1)], "no ack for row 2");
        let rows: Vec<(i64, String, i64)> = store
            .read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT s.id, s.session_id, count(f.seq) FROM sessions s
                     LEFT JOIN frames f ON f.session_row = s.id GROUP BY s.id ORDER BY s.id",
                )?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(
            rows,
            vec![(1, "ride".to_owned(), 2), (3, "ride-2".to_owned(), 1)]
        );
        let cues: i64 = store
            .read(|conn| Ok(conn.query_row("SELECT count(*) FROM cues", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(cues, 0, "the cue of the row not opened is skipped");
        drop(queue);
        writer.stop();
    }

    #[test]
    fn a_failed_commit_acks_nothing_and_turns_the_writer_unready() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tenant = TenantId::new("gym-1").unwrap();
        let (tenant_row, device_row) = store
            .write(|tx| -> Result<_, StoreError> {
                let tenant_row = ensure_tenant(tx, &tenant, 0)?;
                let athlete_row = ensure_athlete(tx, tenant_row, "ana", None, 0)?;
                let device =
                    add_device(tx, &store.server_key(), &tenant, tenant_row, athlete_row, 0)?;
                let device_row: i64 = tx.query_row(
                    "SELECT id FROM devices WHERE device_id = ?1",
                    [device.device.as_str()],
                    |row| row.get(0),
                )?;
                let open = OpenSession {
                    session_row: 1,
                    tenant_row,
                    device_row,
                    athlete_row,
                    session_id: "ride",
                    plan_row: None,
                    now_ms: 1_000,
                };
                assert!(open_session(tx, &open)?);
                Ok((tenant_row, device_row))
            })
            .unwrap();
        // A full disk: the writer's connection may not grow the file by a page.
        let conn = connect(store.path()).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        let (metrics, _registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        let health = Arc::new(Health::default());
        let committed: Arc<Mutex<Vec<Committed>>> = Arc::default();
        let heard = Arc::clone(&committed);
        let writer = Writer::start_on(
            conn,
            Gathering {
                batch: 100,
                window: Duration::ZERO,
                inbox_move: Duration::ZERO,
            },
            100,
            Arc::clone(&metrics),
            Arc::clone(&health),
            Box::new(move |report| heard.lock().unwrap().extend_from_slice(report.committed)),
        )
        .unwrap();
        let queue = writer.queue();
        let session_row = 1;
        // Each attempt alone in its batch, each frame too big for the pages left.
        for attempt in 1..=WRITER_FAILURES_BEFORE_UNREADY {
            assert_eq!(
                health.failure(),
                None,
                "not failed before attempt {attempt}"
            );
            let WriteOp::Frame(mut big) =
                frame(tenant_row, device_row, session_row, u64::from(attempt))
            else {
                unreachable!()
            };
            big.body = vec![7; 256 * 1024];
            let op = WriteOp::Frame(big);
            queue.send(op).unwrap();
            queue.flush().unwrap();
        }
        assert!(
            committed.lock().unwrap().is_empty(),
            "no commit report covers a frame of a failed commit"
        );
        assert_eq!(
            health.failure().map(|f| f.code),
            Some("database_writer_failed")
        );
        let frames: i64 = store
            .read(|conn| Ok(conn.query_row("SELECT count(*) FROM frames", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(frames, 0);
        drop(queue);
        writer.stop();
        assert_eq!(
            health.failure().map(|f| f.code),
            Some("database_writer_failed"),
            "the first reason is kept"
        );
    }

    #[test]
    fn a_failed_batch_keeps_its_cues_and_endings_for_one_more_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tenant = TenantId::new("gym-1").unwrap();
        let (tenant_row, device_row) = store
            .write(|tx| -> Result<_, StoreError> {
                let tenant_row = ensure_tenant(tx, &tenant, 0)?;
                let athlete_row = ensure_athlete(tx, tenant_row, "ana", None, 0)?;
                let device =
                    add_device(tx, &store.server_key(), &tenant, tenant_row, athlete_row, 0)?;
                let device_row: i64 = tx.query_row(
                    "SELECT id FROM devices WHERE device_id = ?1",
                    [device.device.as_str()],
                    |row| row.get(0),
                )?;
                let open = OpenSession {
                    session_row: 1,
                    tenant_row,
                    device_row,
                    athlete_row,
                    session_id: "ride",
                    plan_row: None,
                    now_ms: 1_000,
                };
                assert!(open_session(tx, &open)?);
                Ok((tenant_row, device_row))
            })
            .unwrap();
        let conn = connect(store.path()).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        let (metrics, _registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        let mut state = WriterState::new(
            conn,
            Arc::clone(&metrics),
            Arc::default(),
            Box::new(|_| {}),
            Duration::ZERO,
        );
        let cue = |output_seq: u64, text: String| WriteOp::Cue {
            tenant_row,
            session_row: 1,
            output_seq,
            cue: paceline_schemas::Cue {
                session: paceline_schemas::SessionId::new("ride").unwrap(),
                t_s: 1.0,
                severity: paceline_schemas::Severity::Info,
                code: paceline_schemas::CueCode::StepStart,
                text,
                modification: None,
            },
            now_ms: 1_000,
        };
        let big_frame = |seq: u64| {
            let WriteOp::Frame(mut big) = frame(tenant_row, device_row, 1, seq) else {
                unreachable!()
            };
            big.body = vec![7; 256 * 1024];
            WriteOp::Frame(big)
        };
        let stored = |state: &WriterState| -> (i64, String) {
            state
                .conn
                .query_row(
                    "SELECT (SELECT count(*) FROM cues), status FROM sessions WHERE id = 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap()
        };
        // The frame fills the disk: the batch fails, its cue and ending are kept...
        state.commit(vec![
            cue(1, "go".to_owned()),
            big_frame(1),
            WriteOp::EndSession {
                tenant_row,
                session_row: 1,
                ending: SessionEnding::Ended,
                summary: None,
                now_ms: 2_000,
            },
        ]);
        assert_eq!(state.retry.len(), 2);
        assert_eq!(stored(&state), (0, "open".to_owned()));
        // ...and stored by the next batch.
        state.commit(Vec::new());
        assert_eq!(stored(&state), (1, "ended".to_owned()));
        assert!(state.retry.is_empty());
        assert_eq!(metrics.db_writes_lost.get(), 0);
        // A cue that fails twice is lost, and counted.
        state.commit(vec![cue(2, "go".repeat(128 * 1024))]);
        assert_eq!(state.retry.len(), 1);
        state.commit(Vec::new());
        assert!(state.retry.is_empty());
        assert_eq!(metrics.db_writes_lost.get(), 1);
        assert_eq!(stored(&state), (1, "ended".to_owned()));
    }

    #[test]
    fn a_stopped_writer_is_reported_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (metrics, _registry) = Metrics::new();
        let health = Arc::new(Health::default());
        let writer = Writer::start(
            store.path(),
            Pacing {
                batch: 10,
                group_commit: Duration::ZERO,
                inbox_move: Duration::ZERO,
            },
            10,
            Arc::new(metrics),
            Arc::clone(&health),
            Box::new(|_| {}),
        )
        .unwrap();
        writer.queue().flush().unwrap();
        assert_eq!(health.failure(), None);
        writer.stop();
        assert_eq!(
            health.failure().map(|f| f.code),
            Some("database_writer_stopped")
        );
    }

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

    /// A store with one device, and the writes opening two sessions of it (rows 1 and 2).
    fn two_sessions(store: &Store) -> (i64, i64, Vec<WriteOp>) {
        let tenant = TenantId::new("gym-1").unwrap();
        let (tenant_row, device_row, athlete_row) = store
            .write(|tx| -> Result<_, StoreError> {
                let tenant_row = ensure_tenant(tx, &tenant, 0)?;
                let athlete_row = ensure_athlete(tx, tenant_row, "ana", None, 0)?;
                let device =
                    add_device(tx, &store.server_key(), &tenant, tenant_row, athlete_row, 0)?;
                let device_row: i64 = tx.query_row(
                    "SELECT id FROM devices WHERE device_id = ?1",
                    [device.device.as_str()],
                    |row| row.get(0),
                )?;
                Ok((tenant_row, device_row, athlete_row))
            })
            .unwrap();
        let opens = [(1, "morning"), (2, "evening")]
            .into_iter()
            .map(|(session_row, session_id)| WriteOp::OpenSession {
                session_row,
                tenant_row,
                device_row,
                athlete_row,
                session_id: session_id.to_owned(),
                plan_row: None,
                now_ms: 1_000,
            })
            .collect();
        (tenant_row, device_row, opens)
    }

    /// A writer on `store` gathering for `window`, and what its commit reports ack:
    /// `(session_row, acked_seq)` per committed session.
    fn writer_reporting_acks(store: &Store, window: Duration) -> (Writer, Receiver<(i64, u64)>) {
        let (metrics, _registry) = Metrics::new();
        let (acked, acks) = mpsc::channel();
        let writer = Writer::start(
            store.path(),
            Pacing {
                batch: 100,
                group_commit: window,
                inbox_move: Duration::ZERO,
            },
            100,
            Arc::new(metrics),
            Arc::default(),
            Box::new(move |report| {
                for c in report.committed {
                    let _ = acked.send((c.session_row, c.acked_seq));
                }
            }),
        )
        .unwrap();
        (writer, acks)
    }

    /// A session's row as another connection reads it: `(acked_seq, last_frame_ms)`.
    fn session_row_fields(path: &Path, session_row: i64) -> (i64, i64) {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT acked_seq, last_frame_ms FROM sessions WHERE id = ?1",
            [session_row],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// The session row is written with the first committed frame, then lags the acks
    /// (frames within 5 s of receive time do not touch it) until one 5 s later, a flush
    /// or the session's end brings it up to date.
    #[test]
    fn a_session_row_follows_its_frames_every_5_s_and_on_a_flush_or_an_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let (writer, acks) = writer_reporting_acks(&store, Duration::ZERO);
        let queue = writer.queue();
        let received_at = |seq: u64, received_ms: u64| {
            let WriteOp::Frame(mut frame) = frame(tenant_row, device_row, 1, seq) else {
                unreachable!()
            };
            frame.received_ms = received_ms;
            WriteOp::Frame(frame)
        };
        let acked_to = |session_row: i64, seq: u64| {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let (row, acked_seq) = acks.recv_timeout(left).expect("acked in time");
                if row == session_row && acked_seq >= seq {
                    break;
                }
            }
        };
        for op in opens {
            queue.send(op).unwrap();
        }
        queue.send(received_at(1, 10_000)).unwrap();
        acked_to(1, 1);
        assert_eq!(
            session_row_fields(store.path(), 1),
            (1, 10_000),
            "first frame"
        );
        for seq in 2..=4 {
            queue.send(received_at(seq, 10_000 + seq * 1_000)).unwrap();
        }
        acked_to(1, 4);
        assert_eq!(
            session_row_fields(store.path(), 1),
            (1, 10_000),
            "frames within 5 s of the last row write leave the row as it was"
        );
        queue.send(received_at(5, 15_000)).unwrap();
        acked_to(1, 5);
        assert_eq!(session_row_fields(store.path(), 1), (5, 15_000), "5 s on");
        queue.send(received_at(6, 16_000)).unwrap();
        acked_to(1, 6);
        assert_eq!(session_row_fields(store.path(), 1).0, 5, "lagging again");
        queue.flush().unwrap();
        assert_eq!(session_row_fields(store.path(), 1), (6, 16_000), "a flush");
        queue.send(received_at(7, 17_000)).unwrap();
        acked_to(1, 7);
        queue
            .send(WriteOp::EndSession {
                tenant_row,
                session_row: 1,
                ending: SessionEnding::Ended,
                summary: None,
                now_ms: 18_000,
            })
            .unwrap();
        // The other session's frame commits after the end: the row is written by then.
        queue.send(frame(tenant_row, device_row, 2, 1)).unwrap();
        acked_to(2, 1);
        assert_eq!(session_row_fields(store.path(), 1), (7, 17_000), "its end");
        drop(queue);
        writer.stop();
    }

    /// A writer's state on `store`'s database, on this thread, reporting to `listener`
    /// (without an inbox: frames go straight into `frames`).
    fn writer_state(store: &Store, listener: CommitListener) -> WriterState {
        writer_state_moving_every(store, listener, Duration::ZERO)
    }

    /// A writer's state that keeps frames in its inbox for `inbox_move`.
    fn writer_state_moving_every(
        store: &Store,
        listener: CommitListener,
        inbox_move: Duration,
    ) -> WriterState {
        let (metrics, _registry) = Metrics::new();
        WriterState::new(
            connect(store.path()).unwrap(),
            Arc::new(metrics),
            Arc::default(),
            listener,
            inbox_move,
        )
    }

    /// The writer forgets a session once it has ended, by its coach or as stale, after
    /// acking its last frames; a late frame of it is still acked from the database.
    #[test]
    fn an_ended_session_leaves_no_state_in_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let (acked, acks) = mpsc::channel();
        let mut state = writer_state(
            &store,
            Box::new(move |report| {
                for c in report.committed {
                    let _ = acked.send((c.session_row, c.acked_seq));
                }
            }),
        );
        let received_at = |session_row: i64, seq: u64, received_ms: u64| {
            let WriteOp::Frame(mut frame) = frame(tenant_row, device_row, session_row, seq) else {
                unreachable!()
            };
            frame.received_ms = received_ms;
            WriteOp::Frame(frame)
        };
        state.commit(opens);
        state.commit(vec![received_at(1, 1, 10_000), received_at(2, 1, 10_000)]);
        assert_eq!(state.acks.len(), 2);
        assert_eq!(state.session_rows.len(), 2);
        // Session 1's last frame and its end in one batch: acked, then forgotten.
        state.commit(vec![
            received_at(1, 2, 11_000),
            WriteOp::EndSession {
                tenant_row,
                session_row: 1,
                ending: SessionEnding::Ended,
                summary: None,
                now_ms: 11_000,
            },
        ]);
        let reported: Vec<(i64, u64)> = acks.try_iter().collect();
        assert!(reported.contains(&(1, 2)), "{reported:?}");
        assert!(!state.acks.contains_key(&1) && !state.session_rows.contains_key(&1));
        // Session 2 goes silent and is ended as stale; a session with a frame in the same
        // batch is not forgotten.
        state.commit(vec![WriteOp::EndStale {
            before_ms: 10_500,
            now_ms: 20_000,
        }]);
        assert!(state.acks.is_empty(), "{:?}", state.acks.keys());
        assert!(state.session_rows.is_empty());
        // A late resend of session 1's frame is a duplicate, acked from the database.
        state.commit(vec![received_at(1, 2, 21_000)]);
        let reported: Vec<(i64, u64)> = acks.try_iter().collect();
        assert_eq!(reported, vec![(1, 2)]);
    }

    /// A session the writer did not open is skipped until the live loop's forget, which
    /// trails every write naming it; then the writer forgets it too.
    #[test]
    fn a_session_not_opened_is_forgotten_after_the_live_loops_forget() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, mut opens) = two_sessions(&store);
        let (reported, reports) = mpsc::channel();
        let mut state = writer_state(
            &store,
            Box::new(move |report| {
                let _ = reported.send(report.not_opened.to_vec());
            }),
        );
        // Row 3 names the session id row 1 took: not opened.
        let WriteOp::OpenSession {
            athlete_row,
            session_id,
            ..
        } = &opens[0]
        else {
            unreachable!()
        };
        let taken = WriteOp::OpenSession {
            session_row: 3,
            tenant_row,
            device_row,
            athlete_row: *athlete_row,
            session_id: session_id.clone(),
            plan_row: None,
            now_ms: 1_000,
        };
        opens.push(taken);
        state.commit(opens);
        assert_eq!(reports.try_iter().collect::<Vec<_>>(), vec![vec![3]]);
        assert!(state.not_opened.contains(&3));
        // A frame queued before the forget, in the forget's own batch, is still skipped.
        state.commit(vec![
            frame(tenant_row, device_row, 3, 1),
            WriteOp::ForgetNotOpened(vec![3]),
        ]);
        assert_eq!(frames_stored(store.path(), 3), 0);
        assert!(state.not_opened.is_empty(), "{:?}", state.not_opened);
        // A forget alone in its batch is taken too.
        state.not_opened.insert(4);
        state.commit(vec![WriteOp::ForgetNotOpened(vec![4])]);
        assert!(state.not_opened.is_empty(), "{:?}", state.not_opened);
    }

    fn frames_stored(path: &Path, session_row: i64) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT count(*) FROM frames WHERE session_row = ?1",
            [session_row],
            |row| row.get(0),
        )
        .unwrap()
    }

    /// Ten frames of two sessions sent close together, under a window that never ends by
    /// itself: nothing is committed (nor acknowledged) while the window gathers, and the
    /// flush commits them all in one transaction, whose acks come after it.
    #[test]
    fn a_group_commit_window_shares_one_transaction_and_acks_only_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let (metrics, _registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        // Each ack with how many of its session's frames another connection sees then.
        type Heard = Vec<(i64, u64, i64)>;
        let heard: Arc<Mutex<Heard>> = Arc::default();
        let writer = {
            let heard = Arc::clone(&heard);
            let path = store.path().to_path_buf();
            Writer::start(
                store.path(),
                Pacing {
                    batch: 100,
                    group_commit: Duration::from_secs(3600),
                    inbox_move: Duration::ZERO,
                },
                100,
                Arc::clone(&metrics),
                Arc::default(),
                Box::new(move |report| {
                    for c in report.committed {
                        let visible = frames_stored(&path, c.session_row);
                        heard
                            .lock()
                            .unwrap()
                            .push((c.session_row, c.acked_seq, visible));
                    }
                }),
            )
            .unwrap()
        };
        let queue = writer.queue();
        for op in opens {
            queue.send(op).unwrap();
        }
        for seq in 1..=5 {
            for session_row in [1, 2] {
                queue
                    .send(frame(tenant_row, device_row, session_row, seq))
                    .unwrap();
            }
        }
        assert_eq!(metrics.db_commits.get(), 0, "the window is still open");
        assert!(heard.lock().unwrap().is_empty(), "nothing acked before");
        assert_eq!(frames_stored(store.path(), 1), 0, "nothing committed yet");

        queue.flush().unwrap();
        assert_eq!(metrics.db_commits.get(), 1, "one transaction for all");
        let mut heard = heard.lock().unwrap().clone();
        heard.sort_unstable();
        assert_eq!(
            heard,
            vec![(1, 5, 5), (2, 5, 5)],
            "each session acked to seq 5, with its 5 frames already visible"
        );
        drop(queue);
        writer.stop();
    }

    /// Without a flush, the window ends by itself and the frames are committed and acked.
    #[test]
    fn a_group_commit_window_ends_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let (writer, acks) = writer_reporting_acks(&store, Duration::from_millis(5));
        let queue = writer.queue();
        for op in opens {
            queue.send(op).unwrap();
        }
        for seq in 1..=3 {
            queue.send(frame(tenant_row, device_row, 1, seq)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut acked_seq = 0;
        while acked_seq < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            let (row, seq) = acks.recv_timeout(left).expect("acked before the deadline");
            assert_eq!(row, 1);
            acked_seq = seq;
        }
        assert_eq!(frames_stored(store.path(), 1), 3);
        drop(queue);
        writer.stop();
    }

    /// Stopping the writer while a window gathers wakes it: the gathered writes are
    /// committed and the thread ends without waiting the window out (an hour here).
    #[test]
    fn stopping_during_a_window_commits_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let (metrics, _registry) = Metrics::new();
        let writer = Writer::start(
            store.path(),
            Pacing {
                batch: 100,
                group_commit: Duration::from_secs(3600),
                inbox_move: Duration::ZERO,
            },
            100,
            Arc::new(metrics),
            Arc::default(),
            Box::new(|_| {}),
        )
        .unwrap();
        let queue = writer.queue();
        for op in opens {
            queue.send(op).unwrap();
        }
        queue.send(frame(tenant_row, device_row, 2, 1)).unwrap();
        drop(queue);
        let (stopped, returned) = mpsc::channel();
        std::thread::spawn(move || {
            writer.stop();
            let _ = stopped.send(());
        });
        assert_eq!(
            returned.recv_timeout(Duration::from_secs(30)),
            Ok(()),
            "stop waited on the window"
        );
        assert_eq!(frames_stored(store.path(), 2), 1);
    }

    /// Frame `seq` of a session with one heart-rate sample.
    fn frame_with_sample(tenant_row: i64, device_row: i64, session_row: i64, seq: u64) -> WriteOp {
        let WriteOp::Frame(mut write) = frame(tenant_row, device_row, session_row, seq) else {
            unreachable!("frame() makes a frame")
        };
        write.samples.push(SampleRow {
            t_ms: seq * 1_000,
            kind: "heart_rate",
            heart_rate: Some(140),
            power_w: None,
            cadence: None,
            speed_mps: None,
        });
        WriteOp::Frame(write)
    }

    /// `(frames, frames_inbox, samples, samples_inbox)` rows, as another connection reads.
    fn where_rows_are(path: &Path) -> (i64, i64, i64, i64) {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM frames_inbox),
                    (SELECT count(*) FROM samples), (SELECT count(*) FROM samples_inbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    fn flush_op() -> WriteOp {
        let (flushed, _) = mpsc::sync_channel(1);
        WriteOp::Flush(flushed)
    }

    /// Frames wait in the inbox, acknowledged from there (they are stored: committed); a
    /// resend of one there is a duplicate, also once the writer reads its ack state back
    /// from the database; a flush moves them, each session's together and in order.
    #[test]
    fn live_frames_are_acked_from_the_inbox_and_a_flush_moves_them_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let committed: Arc<Mutex<Vec<Committed>>> = Arc::default();
        let heard = Arc::clone(&committed);
        let mut state = writer_state_moving_every(
            &store,
            Box::new(move |report| heard.lock().unwrap().extend_from_slice(report.committed)),
            Duration::from_secs(3600),
        );
        state.commit(opens);
        // The two sessions' frames interleaved, as they arrive.
        let ops = (1..=3)
            .flat_map(|seq| [1, 2].map(|row| frame_with_sample(tenant_row, device_row, row, seq)))
            .collect();
        state.commit(ops);
        let mut acked: Vec<(i64, u64)> = committed
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.session_row, c.acked_seq))
            .collect();
        acked.sort_unstable();
        assert_eq!(acked, [(1, 3), (2, 3)]);
        assert_eq!(where_rows_are(store.path()), (0, 6, 0, 6));
        // A resend while its first copy is in the inbox.
        state.commit(vec![frame_with_sample(tenant_row, device_row, 1, 2)]);
        assert_eq!(where_rows_are(store.path()), (0, 6, 0, 6));
        // The ack state read back from the database (after an end or a failed commit)
        // sees the inbox too.
        state.acks.clear();
        state.commit(vec![frame_with_sample(tenant_row, device_row, 2, 3)]);
        assert_eq!(where_rows_are(store.path()), (0, 6, 0, 6));
        assert_eq!(state.acks[&2].contiguous, 3);
        // A resume reads the stored seqs above the ack through the inbox as well.
        let above: Vec<i64> = store
            .read(|conn| {
                let mut stmt = conn.prepare(queries::STORED_SEQS_ABOVE)?;
                let seqs = stmt
                    .query_map(params![device_row, 1, 1, tenant_row], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(seqs)
            })
            .unwrap();
        assert_eq!(above, [2, 3]);
        state.commit(vec![flush_op()]);
        assert_eq!(where_rows_are(store.path()), (6, 0, 6, 0));
        let moved: Vec<(i64, i64)> = store
            .read(|conn| {
                let mut stmt =
                    conn.prepare("SELECT session_row, frame_seq FROM samples ORDER BY rowid")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(moved, [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]);
    }

    /// The inbox moves with the first commit after its interval, and with a session's
    /// end (history and exports read an ended session from the indexed tables).
    #[test]
    fn the_inbox_moves_in_slices_of_its_sessions_and_with_a_session_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let interval = Duration::from_secs(1);
        let mut state = writer_state_moving_every(&store, Box::new(|_| {}), interval);
        // Makes the next slice due (the writer's clock is the commit's start).
        let slice_due = |state: &mut WriterState| {
            state.slice_moved = state
                .slice_moved
                .and_then(|at| at.checked_sub(interval / INBOX_SLICES));
        };
        state.commit(opens);
        state.commit(vec![
            frame_with_sample(tenant_row, device_row, 1, 1),
            frame_with_sample(tenant_row, device_row, 2, 1),
        ]);
        state.commit(vec![frame_with_sample(tenant_row, device_row, 2, 2)]);
        assert_eq!(
            where_rows_are(store.path()),
            (0, 3, 0, 3),
            "no slice is due before a slice's time has passed"
        );
        // Two sessions in eight slices: one session a slice, the lowest first, with what
        // the slice's own batch added to it.
        slice_due(&mut state);
        state.commit(vec![frame_with_sample(tenant_row, device_row, 1, 2)]);
        assert_eq!(where_rows_are(store.path()), (2, 2, 2, 2));
        // The next slice goes on from there: session 2; session 1's new frame waits.
        slice_due(&mut state);
        state.commit(vec![frame_with_sample(tenant_row, device_row, 1, 3)]);
        assert_eq!(where_rows_are(store.path()), (4, 1, 4, 1));
        // A session's end moves its rows at once, slice or not.
        state.commit(vec![WriteOp::EndSession {
            tenant_row,
            session_row: 1,
            ending: SessionEnding::Ended,
            summary: None,
            now_ms: 2_000,
        }]);
        assert_eq!(where_rows_are(store.path()), (5, 0, 5, 0));
        assert!(state.inbox_sessions.is_empty());
        assert!(state.inbox_since.is_none());
    }

    /// What a writer left in its inbox when it stopped without its last flush (a killed
    /// gateway) is moved when the store opens again; nothing is lost or doubled.
    #[test]
    fn opening_the_store_moves_what_a_killed_writer_left_in_its_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tenant_row, device_row, opens) = two_sessions(&store);
        let mut state =
            writer_state_moving_every(&store, Box::new(|_| {}), Duration::from_secs(3600));
        state.commit(opens);
        state.commit(
            (1..=4)
                .map(|seq| frame_with_sample(tenant_row, device_row, 2, seq))
                .collect(),
        );
        drop(state);
        assert_eq!(where_rows_are(store.path()), (0, 4, 0, 4));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(where_rows_are(store.path()), (4, 0, 4, 0));
    }
}
