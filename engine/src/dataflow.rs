//! The coaching dataflow: records keyed by session and exchanged to the owning worker, a
//! stateful operator holding that worker's [`CoachPool`], outputs emitted as soon as their
//! input is handled (the operator never waits on the frontier).
//!
//! Two drivers share it: [`run_batch`] (recorded sessions in, all outputs collected on
//! worker 0, in one process or across a timely cluster) and [`LiveEngine`] (records pushed
//! through a bounded queue, outputs out on a channel, ticks from the clock so sessions
//! without samples still time out). [`run_batch_inline`] gives `run_batch`'s one-worker
//! result without the dataflow, on the calling thread: what a one-process replay uses.
//!
//! A live worker that panics stops the whole live engine rather than leave it half
//! working (its sessions' records would go nowhere and the others' progress would wait on
//! it for ever): the panic is recorded in the [`EngineWatch`], every [`LiveSender`]
//! refuses records from then on, the other workers stop, and the output channel closes.
//! The owner reads why from [`EngineWatch::panicked`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paceline_coach::CoachConfig;
use paceline_schemas::engine::{EngineRecord, SessionOutput, Tick};
use timely::WorkerConfig;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Exchange as _, Input, Inspect, Probe};

use crate::pool::CoachPool;
use crate::routing::routed;

/// The coaching operator: records exchanged to the worker that owns their route, handled
/// by that worker's [`CoachPool`], each output given as soon as it is made.
fn coaching<'scope>(
    stream: StreamVec<'scope, u64, (u64, EngineRecord)>,
    coach: CoachConfig,
    status_every_ms: Option<u64>,
) -> StreamVec<'scope, u64, SessionOutput> {
    stream
        .unary(
            Exchange::new(|r: &(u64, EngineRecord)| r.0),
            "Coach",
            move |_, _| {
                let mut pool = CoachPool::new(coach).with_status_every(status_every_ms);
                move |input, output| {
                    input.for_each(|time, data| {
                        let mut session = output.session(&time);
                        for (_, record) in data.drain(..) {
                            pool.handle(record, &mut |o| session.give(o));
                        }
                    });
                }
            },
        )
        .container::<Vec<SessionOutput>>()
}

/// Why the engine could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// timely could not start (e.g. a peer in the hostfile is unreachable).
    #[error("the dataflow could not start: {0}")]
    Start(String),
    /// A worker failed.
    #[error("a worker failed: {0}")]
    Worker(String),
}

/// One recorded session for a batch run: how to produce its records.
pub trait BatchSource: Send + Sync + 'static {
    /// Sessions in the batch, in the order outputs are reported.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The records of session `index` (open, samples, commands, end), or why not.
    fn records(&self, index: usize) -> Result<BatchRecords<'_>, String>;
}

/// A session's records, made as they are sent (a long recording's need not all exist at
/// once).
pub type BatchRecords<'a> = Box<dyn Iterator<Item = EngineRecord> + 'a>;

/// What a batch run produced in this process.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// All outputs, in arrival order (on process 0 only; empty elsewhere).
    pub outputs: Vec<SessionOutput>,
    /// Inputs this process could not read: `(index, message)`.
    pub failures: Vec<(usize, String)>,
}

/// Runs recorded sessions through the dataflow. Each worker reads the sessions whose index
/// is its own modulo the number of workers; every output is gathered on worker 0.
/// `progress` counts records handed to the dataflow.
pub fn run_batch(
    config: timely::Config,
    coach: CoachConfig,
    source: Arc<dyn BatchSource>,
    progress: Arc<AtomicU64>,
) -> Result<BatchOutcome, EngineError> {
    let guards = timely::execute(config, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let collected = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&collected);
        let coach = coach.clone();
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Vec<(u64, EngineRecord)>>();
            let probe = coaching(stream, coach, None)
                .exchange(|_| 0)
                .inspect(move |o: &SessionOutput| sink.borrow_mut().push(o.clone()))
                .probe()
                .0;
            (input, probe)
        });
        let mut failures = Vec::new();
        let mut sent: u64 = 0;
        for i in (index..source.len()).step_by(peers) {
            match source.records(i) {
                Ok(records) => {
                    for record in records {
                        input.send(routed(record, 0));
                        sent += 1;
                        if sent.is_multiple_of(4096) {
                            progress.fetch_add(4096, Ordering::Relaxed);
                            input.flush();
                            worker.step();
                        }
                    }
                }
                Err(message) => failures.push((i, message)),
            }
        }
        progress.fetch_add(sent % 4096, Ordering::Relaxed);
        input.close();
        while !probe.done() {
            worker.step();
        }
        let outputs = std::mem::take(&mut *collected.borrow_mut());
        (outputs, failures)
    })
    .map_err(EngineError::Start)?;
    let mut outcome = BatchOutcome::default();
    for result in guards.join() {
        let (outputs, failures) = result.map_err(EngineError::Worker)?;
        outcome.outputs.extend(outputs);
        outcome.failures.extend(failures);
    }
    Ok(outcome)
}

/// Runs recorded sessions one after another through one [`CoachPool`] on the calling
/// thread: the records and outputs of [`run_batch`] with one worker, without starting
/// timely. For a one-file replay, timely's worker thread (with its own allocator arena,
/// every page of it touched for the first time), channels and buffers cost more than the
/// decoding and coaching; a batch job that runs one process per file pays that each time.
/// Outputs come in input order, each session's in sequence order. `on_records` hears how
/// many records have been handed over so far, every 4096 and once at the end.
pub fn run_batch_inline(
    coach: CoachConfig,
    source: &dyn BatchSource,
    on_records: &mut dyn FnMut(u64),
) -> BatchOutcome {
    let mut pool = CoachPool::new(coach);
    let mut outcome = BatchOutcome::default();
    let mut sent: u64 = 0;
    for i in 0..source.len() {
        match source.records(i) {
            Ok(records) => {
                for record in records {
                    pool.handle(record, &mut |o| outcome.outputs.push(o));
                    sent += 1;
                    if sent.is_multiple_of(4096) {
                        on_records(sent);
                    }
                }
            }
            Err(message) => outcome.failures.push((i, message)),
        }
    }
    on_records(sent);
    outcome
}

/// Settings of a live engine.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Worker threads.
    pub workers: usize,
    /// Sends that may wait in the input queue before senders are held back: each is one
    /// record, or a batch of at most [`MAX_RECORDS_PER_SEND`] ([`LiveSender::send_many`]).
    pub queue_capacity: usize,
    /// How often every worker's sessions are checked for due timeouts, ms.
    pub tick_ms: u64,
    /// The coaches' settings.
    pub coach: CoachConfig,
    /// Emit each session's status for live boards at most this often (input time, ms);
    /// `None` for no status outputs.
    pub status_every_ms: Option<u64>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            workers: 1,
            queue_capacity: 65_536,
            tick_ms: 100,
            coach: CoachConfig::default(),
            status_every_ms: None,
        }
    }
}

/// The engine's clock for ticks: milliseconds, the same clock as the records' `now_ms`.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The engine running live in this process.
pub struct LiveEngine {
    sender: Option<SyncSender<Queued>>,
    guards: Option<timely::communication::WorkerGuards<()>>,
    watch: EngineWatch,
}

/// A live worker that panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPanic {
    /// The worker's index.
    pub worker: usize,
    /// The panic's message.
    pub message: String,
}

/// Fault injection (tests, or the `fault-injection` feature): the environment variable
/// naming a file that, once it holds a worker's index, makes that live worker panic (how
/// end-to-end tests break the engine of a gateway process).
#[cfg(any(test, feature = "fault-injection"))]
pub const FAULT_PANIC_FILE_ENV: &str = "PACELINE_FAULT_ENGINE_PANIC_FILE";

#[derive(Debug, Default)]
struct Watched {
    failed: AtomicBool,
    first: Mutex<Option<WorkerPanic>>,
    /// Fault injection: 1 + the worker told to panic (0: none).
    #[cfg(any(test, feature = "fault-injection"))]
    panic_worker: AtomicU64,
    /// Fault injection: the file [`FAULT_PANIC_FILE_ENV`] names.
    #[cfg(any(test, feature = "fault-injection"))]
    panic_file: Option<std::path::PathBuf>,
}

/// Whether a live engine's workers are alive: shared by the workers, the senders and
/// whoever watches the engine. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EngineWatch(Arc<Watched>);

impl EngineWatch {
    /// The first worker that panicked, if one did.
    pub fn panicked(&self) -> Option<WorkerPanic> {
        self.0
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether a worker panicked (cheap: one atomic load).
    pub fn has_failed(&self) -> bool {
        self.0.failed.load(Ordering::Acquire)
    }

    fn worker_panicked(&self, worker: usize, payload: &(dyn std::any::Any + Send)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|m| (*m).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        let mut first = self
            .0
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if first.is_none() {
            *first = Some(WorkerPanic { worker, message });
        }
        self.0.failed.store(true, Ordering::Release);
    }

    /// Fault injection: a watch that also reads the file [`FAULT_PANIC_FILE_ENV`] names.
    #[cfg(any(test, feature = "fault-injection"))]
    fn from_env() -> EngineWatch {
        EngineWatch(Arc::new(Watched {
            panic_file: std::env::var_os(FAULT_PANIC_FILE_ENV).map(std::path::PathBuf::from),
            ..Watched::default()
        }))
    }

    /// Fault injection: panics here if worker `index` was told to (worker 0 also reads
    /// the trigger file, if there is one, for the others).
    #[cfg(any(test, feature = "fault-injection"))]
    fn panic_if_told(&self, index: usize) {
        if index == 0
            && self.0.panic_worker.load(Ordering::Acquire) == 0
            && let Some(file) = &self.0.panic_file
            && let Ok(text) = std::fs::read_to_string(file)
            && let Ok(worker) = text.trim().parse::<u64>()
        {
            self.0.panic_worker.store(worker + 1, Ordering::Release);
        }
        if self.0.panic_worker.load(Ordering::Acquire) == index as u64 + 1 {
            panic!("fault injection: engine worker {index} told to panic");
        }
    }

    /// Without fault injection: a plain watch.
    #[cfg(not(any(test, feature = "fault-injection")))]
    fn from_env() -> EngineWatch {
        EngineWatch::default()
    }

    /// Without fault injection there is nothing to be told.
    #[cfg(not(any(test, feature = "fault-injection")))]
    fn panic_if_told(&self, _index: usize) {}
}

/// The most records one [`LiveSender::send_many`] puts in one place of the queue.
pub const MAX_RECORDS_PER_SEND: usize = 64;

/// What one place of the input queue holds: a record, or a sender's batch of them.
enum Queued {
    One(EngineRecord),
    Many(Vec<EngineRecord>),
}

/// The input queue was full; the record is handed back.
#[derive(Debug)]
pub struct QueueFull(Box<EngineRecord>);

impl QueueFull {
    /// The record that was not queued.
    pub fn into_record(self) -> EngineRecord {
        *self.0
    }
}

/// Puts records into a live engine. Cheap to clone.
#[derive(Clone)]
pub struct LiveSender {
    queue: SyncSender<Queued>,
    watch: EngineWatch,
}

impl LiveSender {
    /// Queues a record, waiting while the queue is full (back-pressure). Returns false if
    /// the engine has stopped or one of its workers panicked: the record will not be
    /// coached.
    pub fn send(&self, record: EngineRecord) -> bool {
        !self.watch.has_failed() && self.queue.send(Queued::One(record)).is_ok()
    }

    /// Queues records in order, up to [`MAX_RECORDS_PER_SEND`] in each place of the
    /// queue, waiting while it is full. One send wakes the worker once for the whole
    /// batch, where a record at a time may wake it for each. Returns false as
    /// [`LiveSender::send`] does; then none of the records after the refusal are queued.
    pub fn send_many(&self, records: Vec<EngineRecord>) -> bool {
        if self.watch.has_failed() {
            return false;
        }
        if records.len() <= MAX_RECORDS_PER_SEND {
            return records.is_empty() || self.queue.send(Queued::Many(records)).is_ok();
        }
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<EngineRecord> = records.by_ref().take(MAX_RECORDS_PER_SEND).collect();
            if self.queue.send(Queued::Many(chunk)).is_err() {
                return false;
            }
        }
        true
    }

    /// Whether a worker has panicked (or the engine stopped for it): it takes no records.
    pub fn has_failed(&self) -> bool {
        self.watch.has_failed()
    }

    /// Queues a batch of at most [`MAX_RECORDS_PER_SEND`] records in one place of the
    /// queue if there is room now; hands them all back otherwise (a larger batch, a full
    /// queue, a stopped or failed engine), none queued, for [`LiveSender::send_many`].
    pub fn try_send_many(&self, records: Vec<EngineRecord>) -> Result<(), Vec<EngineRecord>> {
        if records.is_empty() {
            return Ok(());
        }
        if self.watch.has_failed() || records.len() > MAX_RECORDS_PER_SEND {
            return Err(records);
        }
        match self.queue.try_send(Queued::Many(records)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(queued) | TrySendError::Disconnected(queued)) => match queued {
                Queued::Many(records) => Err(records),
                Queued::One(record) => Err(vec![record]),
            },
        }
    }

    /// Queues a record if there is room now (a stopped or failed engine has none).
    pub fn try_send(&self, record: EngineRecord) -> Result<(), QueueFull> {
        if self.watch.has_failed() {
            return Err(QueueFull(Box::new(record)));
        }
        let handed_back = match self.queue.try_send(Queued::One(record)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(queued) | TrySendError::Disconnected(queued)) => queued,
        };
        match handed_back {
            Queued::One(record) => Err(QueueFull(Box::new(record))),
            // Only a record was sent, so only a record comes back; a batch has nothing to
            // hand back one record of.
            Queued::Many(mut records) => match records.pop() {
                Some(record) => Err(QueueFull(Box::new(record))),
                None => Ok(()),
            },
        }
    }
}

impl LiveEngine {
    /// Starts the workers. Outputs arrive on the returned channel as they are made.
    pub fn start(
        config: LiveConfig,
        clock: Clock,
    ) -> Result<(LiveEngine, Receiver<SessionOutput>), EngineError> {
        let (sender, receiver) = mpsc::sync_channel::<Queued>(config.queue_capacity.max(1));
        let (out_tx, out_rx) = mpsc::channel::<SessionOutput>();
        let receiver = Arc::new(Mutex::new(Some(receiver)));
        let timely_config = timely::Config {
            communication: timely::CommunicationConfig::Process(config.workers.max(1)),
            worker: WorkerConfig::default(),
        };
        let tick_ms = config.tick_ms.max(1);
        let tick = Duration::from_millis(tick_ms);
        let coach = config.coach.clone();
        let status_every_ms = config.status_every_ms;
        let watch = EngineWatch::from_env();
        let workers_watch = watch.clone();
        let guards = timely::execute(timely_config, move |worker| {
            let index = worker.index();
            let watch = &workers_watch;
            // A panic is recorded before it goes on (the thread still ends in it, so
            // `shutdown` reports it): the other workers see it and stop.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let peers = worker.peers();
                let out = out_tx.clone();
                let coach = coach.clone();
                let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                    let (input, stream) = scope.new_input::<Vec<(u64, EngineRecord)>>();
                    let probe = coaching(stream, coach, status_every_ms)
                        .inspect(move |o: &SessionOutput| {
                            // The receiver may be gone during shutdown; nothing to do then.
                            let _ = out.send(o.clone());
                        })
                        .probe()
                        .0;
                    (input, probe)
                });
                let queue = if index == 0 {
                    receiver.lock().ok().and_then(|mut r| r.take())
                } else {
                    None
                };
                if let Some(queue) = queue {
                    let mut epoch = 0;
                    let mut last_tick = 0;
                    loop {
                        watch.panic_if_told(index);
                        let mut open = true;
                        match queue.recv_timeout(tick) {
                            Ok(queued) => {
                                for queued in
                                    std::iter::once(queued).chain(queue.try_iter().take(4095))
                                {
                                    match queued {
                                        Queued::One(record) => input.send(routed(record, 0)),
                                        Queued::Many(records) => {
                                            for record in records {
                                                input.send(routed(record, 0));
                                            }
                                        }
                                    }
                                }
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => open = false,
                        }
                        let now = clock();
                        if now >= last_tick + tick_ms {
                            last_tick = now;
                            for w in 0..peers {
                                input.send(routed(EngineRecord::Tick(Tick { now_ms: now }), w));
                            }
                        }
                        epoch += 1;
                        input.advance_to(epoch);
                        // Step until every worker has handled what was just sent: a single
                        // step may leave records in the exchange, and they would then wait
                        // for the next record or tick (up to `tick_ms`) before being
                        // coached. A worker that panicked never will: stop then.
                        worker.step_while(|| probe.less_than(&epoch) && !watch.has_failed());
                        if !open || watch.has_failed() {
                            break;
                        }
                    }
                }
                input.close();
                while !probe.done() && !watch.has_failed() {
                    watch.panic_if_told(index);
                    worker.step_or_park(Some(Duration::from_millis(50)));
                }
                if watch.has_failed() {
                    // timely steps every dataflow to its end once this closure returns, and
                    // one with a panicked worker never ends: the survivors drop theirs.
                    for dataflow in worker.installed_dataflows() {
                        worker.drop_dataflow(dataflow);
                    }
                }
            }));
            if let Err(panic) = run {
                watch.worker_panicked(index, &*panic);
                std::panic::resume_unwind(panic);
            }
        })
        .map_err(EngineError::Start)?;
        Ok((
            LiveEngine {
                sender: Some(sender),
                guards: Some(guards),
                watch,
            },
            out_rx,
        ))
    }

    /// A handle to put records in.
    pub fn sender(&self) -> Option<LiveSender> {
        self.sender.clone().map(|queue| LiveSender {
            queue,
            watch: self.watch.clone(),
        })
    }

    /// A handle telling whether a worker panicked, and which.
    pub fn watch(&self) -> EngineWatch {
        self.watch.clone()
    }

    /// Fault injection (tests only, or the `fault-injection` feature): makes worker
    /// `worker` panic at its next turn, as a bug in it would.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_worker_panic(&self, worker: usize) {
        self.watch
            .0
            .panic_worker
            .store(worker as u64 + 1, Ordering::Release);
    }

    /// Stops taking records, lets the workers finish what is queued, and waits for them.
    /// A worker that panicked is reported as [`EngineError::Worker`].
    /// Other [`LiveSender`]s must be dropped too for the workers to stop.
    pub fn shutdown(mut self) -> Result<(), EngineError> {
        self.sender = None;
        if let Some(guards) = self.guards.take() {
            for result in guards.join() {
                result.map_err(EngineError::Worker)?;
            }
        }
        Ok(())
    }
}

impl Drop for LiveEngine {
    fn drop(&mut self) {
        // timely's guards panic when dropped over a worker that panicked; that panic is in
        // the watch (and `shutdown` reports it), so here the threads are just joined: after
        // a panic every worker stops on its own.
        if self.watch.has_failed()
            && let Some(guards) = self.guards.take()
        {
            let _ = guards.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use paceline_schemas::SessionId;
    use paceline_schemas::command::Command;
    use paceline_schemas::engine::SessionCommand;
    use paceline_schemas::engine::{SessionEvent, SessionInput};

    use super::*;

    fn end(session: &str) -> EngineRecord {
        EngineRecord::Session(SessionInput {
            session: SessionId::new(session).unwrap(),
            now_ms: 1,
            event: SessionEvent::Command(SessionCommand {
                command: Command::End,
            }),
        })
    }

    /// Waits for the output channel to close (every worker gone), at most 30 s.
    fn wait_closed(outputs: &Receiver<SessionOutput>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(!remaining.is_zero(), "the workers did not stop");
            match outputs.recv_timeout(remaining) {
                Err(RecvTimeoutError::Disconnected) => return,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    #[test]
    fn a_worker_that_panics_stops_the_live_engine_and_says_which() {
        for (workers, victim) in [(3, 2), (3, 0), (1, 0)] {
            let config = LiveConfig {
                workers,
                tick_ms: 10,
                ..LiveConfig::default()
            };
            let (engine, outputs) = LiveEngine::start(config, Arc::new(|| 1)).unwrap();
            let sender = engine.sender().unwrap();
            let watch = engine.watch();
            assert!(sender.send(end("before")));
            assert_eq!(watch.panicked(), None);

            engine.inject_worker_panic(victim);
            wait_closed(&outputs);
            let panic = watch.panicked().expect("the panic is recorded");
            assert_eq!(panic.worker, victim, "{workers} workers");
            assert!(panic.message.contains("told to panic"), "{}", panic.message);
            assert!(watch.has_failed());
            assert!(
                !sender.send(end("after")),
                "a failed engine takes no record"
            );
            assert!(sender.try_send(end("after")).is_err());
            let handed_back = sender
                .try_send_many(vec![end("a"), end("b")])
                .expect_err("a failed engine takes no batch");
            assert_eq!(handed_back.len(), 2, "every record comes back");
            assert!(matches!(engine.shutdown(), Err(EngineError::Worker(_))));
        }
    }

    #[test]
    fn a_healthy_engine_reports_no_panic_and_shuts_down_cleanly() {
        let (engine, _outputs) = LiveEngine::start(LiveConfig::default(), Arc::new(|| 1)).unwrap();
        let sender = engine.sender().unwrap();
        assert!(sender.send(end("s")));
        assert_eq!(sender.try_send_many(vec![end("t"), end("u")]), Ok(()));
        // More than one place of the queue holds: all handed back, for `send_many`.
        let too_many: Vec<EngineRecord> = (0..=MAX_RECORDS_PER_SEND)
            .map(|n| end(&format!("v{n}")))
            .collect();
        let handed_back = sender.try_send_many(too_many).unwrap_err();
        assert_eq!(handed_back.len(), MAX_RECORDS_PER_SEND + 1);
        assert!(sender.send_many(handed_back));
        let watch = engine.watch();
        drop(sender);
        engine.shutdown().unwrap();
        assert_eq!(watch.panicked(), None);
        assert!(!watch.has_failed());
    }
}
