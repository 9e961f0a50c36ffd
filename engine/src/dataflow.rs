//! The coaching dataflow: records keyed by session and exchanged to the owning worker, a
//! stateful operator holding that worker's [`CoachPool`], outputs emitted as soon as their
//! input is handled (the operator never waits on the frontier).
//!
//! Two drivers share it: [`run_batch`] (recorded sessions in, all outputs collected on
//! worker 0, in one process or across a timely cluster) and [`LiveEngine`] (records pushed
//! through a bounded queue, outputs out on a channel, ticks from the clock so sessions
//! without samples still time out).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Settings of a live engine.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Worker threads.
    pub workers: usize,
    /// Records that may wait in the input queue before senders are held back.
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
    sender: Option<SyncSender<EngineRecord>>,
    guards: Option<timely::communication::WorkerGuards<()>>,
}

/// The input queue was full; the record is handed back.
#[derive(Debug)]
pub struct QueueFull(pub Box<EngineRecord>);

/// Puts records into a live engine. Cheap to clone.
#[derive(Clone)]
pub struct LiveSender(SyncSender<EngineRecord>);

impl LiveSender {
    /// Queues a record, waiting while the queue is full (back-pressure). Returns false if
    /// the engine has stopped.
    pub fn send(&self, record: EngineRecord) -> bool {
        self.0.send(record).is_ok()
    }

    /// Queues a record if there is room now.
    pub fn try_send(&self, record: EngineRecord) -> Result<(), QueueFull> {
        match self.0.try_send(record) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) => {
                Err(QueueFull(Box::new(r)))
            }
        }
    }
}

impl LiveEngine {
    /// Starts the workers. Outputs arrive on the returned channel as they are made.
    pub fn start(
        config: LiveConfig,
        clock: Clock,
    ) -> Result<(LiveEngine, Receiver<SessionOutput>), EngineError> {
        let (sender, receiver) = mpsc::sync_channel::<EngineRecord>(config.queue_capacity.max(1));
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
        let guards = timely::execute(timely_config, move |worker| {
            let index = worker.index();
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
                    let mut open = true;
                    match queue.recv_timeout(tick) {
                        Ok(record) => {
                            input.send(routed(record, 0));
                            for record in queue.try_iter().take(4095) {
                                input.send(routed(record, 0));
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
                    // for the next record or tick (up to `tick_ms`) before being coached.
                    worker.step_while(|| probe.less_than(&epoch));
                    if !open {
                        break;
                    }
                }
            }
            input.close();
            while !probe.done() {
                worker.step_or_park(Some(Duration::from_millis(50)));
            }
        })
        .map_err(EngineError::Start)?;
        Ok((
            LiveEngine {
                sender: Some(sender),
                guards: Some(guards),
            },
            out_rx,
        ))
    }

    /// A handle to put records in.
    pub fn sender(&self) -> Option<LiveSender> {
        self.sender.clone().map(LiveSender)
    }

    /// Stops taking records, lets the workers finish what is queued, and waits for them.
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
