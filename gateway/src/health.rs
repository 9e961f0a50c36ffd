//! Whether the threads the gateway cannot work without are alive and not failing: the
//! database writer (no commit, no ack) and the engine (no coaching). `/health/ready`
//! reads it and answers 503 with the reason while either has failed.
//!
//! The writer's state is failed after [`WRITER_FAILURES_BEFORE_UNREADY`] commits in a row
//! fail, healthy again after one succeeds; a stopped writer or engine stays failed. The
//! engine has failed from the moment any one of its workers panics (read from its
//! [`EngineWatch`], not only once its output channel closes), and for good. Once the
//! engine has failed, commits are acknowledged no more ([`Health::ackable`]).

use std::sync::{Mutex, OnceLock};

use paceline_engine::dataflow::EngineWatch;

use crate::store::writer::CommitReport;

/// Consecutive failed commits after which the writer is reported failed.
pub const WRITER_FAILURES_BEFORE_UNREADY: u32 = 3;

/// A part of the gateway whose failure makes it unready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The database writer thread.
    Writer,
    /// The engine's workers and the thread that takes their outputs.
    Engine,
}

/// Why the gateway is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A fixed code for the JSON error (`database_writer_failed`, `engine_stopped`,
    /// `engine_worker_panicked`).
    pub code: &'static str,
    /// What happened, for people.
    pub message: String,
}

/// The health of the writer and the engine, shared by them and the HTTP side.
#[derive(Debug, Default)]
pub struct Health {
    writer: Mutex<Option<Failure>>,
    engine: Mutex<Option<Failure>>,
    engine_watch: OnceLock<EngineWatch>,
}

impl Health {
    fn slot(&self, part: Part) -> &Mutex<Option<Failure>> {
        match part {
            Part::Writer => &self.writer,
            Part::Engine => &self.engine,
        }
    }

    /// Marks `part` failed (the first reason is kept until [`Health::recovered`]).
    pub fn fail(&self, part: Part, code: &'static str, message: impl Into<String>) {
        let mut slot = self
            .slot(part)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            tracing::error!(?part, code, "the gateway is not ready any more");
            *slot = Some(Failure {
                code,
                message: message.into(),
            });
        }
    }

    /// Marks `part` working again.
    pub fn recovered(&self, part: Part) {
        let mut slot = self
            .slot(part)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.take().is_some() {
            tracing::info!(?part, "ready again");
        }
    }

    /// Follows the live engine's workers: one that panics fails the engine at once.
    pub fn watch_engine(&self, watch: EngineWatch) {
        let _ = self.engine_watch.set(watch);
    }

    /// The engine's output channel has closed (every worker is gone): marks the engine
    /// failed, `engine_worker_panicked` naming the worker if one panicked, else
    /// `engine_stopped`. Returns whether a worker panicked.
    pub fn engine_stopped(&self) -> bool {
        match self.engine_panic() {
            Some(panic) => {
                self.fail(Part::Engine, panic.code, panic.message);
                true
            }
            None => {
                self.fail(
                    Part::Engine,
                    "engine_stopped",
                    "the engine's workers stopped",
                );
                false
            }
        }
    }

    fn engine_panic(&self) -> Option<Failure> {
        let panic = self.engine_watch.get()?.panicked()?;
        Some(Failure {
            code: "engine_worker_panicked",
            message: format!("engine worker {} panicked: {}", panic.worker, panic.message),
        })
    }

    /// Whether `part` has failed.
    pub fn has_failed(&self, part: Part) -> bool {
        let panicked =
            part == Part::Engine && self.engine_watch.get().is_some_and(EngineWatch::has_failed);
        panicked
            || self
                .slot(part)
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some()
    }

    /// What of a commit report may be acknowledged: all of it while the engine works,
    /// no frame once it has failed (nothing coaches them; the devices keep them until a
    /// restarted gateway acks them). Sessions not opened are passed on either way.
    pub fn ackable<'a>(&self, report: CommitReport<'a>) -> CommitReport<'a> {
        if self.has_failed(Part::Engine) {
            CommitReport {
                committed: &[],
                not_opened: report.not_opened,
            }
        } else {
            report
        }
    }

    /// The first failure found, writer first (a panicked engine worker before any other
    /// engine failure); `None` while both work.
    pub fn failure(&self) -> Option<Failure> {
        let held = |part: Part| {
            self.slot(part)
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        held(Part::Writer)
            .or_else(|| self.engine_panic())
            .or_else(|| held(Part::Engine))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_until_its_part_recovers() {
        let health = Health::default();
        assert_eq!(health.failure(), None);
        health.fail(Part::Engine, "engine_stopped", "gone");
        health.fail(Part::Engine, "other", "later");
        assert_eq!(health.failure().map(|f| f.code), Some("engine_stopped"));
        health.fail(Part::Writer, "database_writer_failed", "full");
        assert_eq!(
            health.failure().map(|f| f.code),
            Some("database_writer_failed")
        );
        health.recovered(Part::Writer);
        assert_eq!(health.failure().map(|f| f.code), Some("engine_stopped"));
    }

    #[test]
    fn no_frame_is_acked_once_the_engine_has_failed() {
        let health = Health::default();
        let committed = [crate::store::writer::Committed {
            session_row: 1,
            acked_seq: 7,
        }];
        let report = CommitReport {
            committed: &committed,
            not_opened: &[2],
        };
        assert_eq!(health.ackable(report).committed, &committed);
        health.fail(Part::Writer, "database_writer_failed", "full");
        assert_eq!(health.ackable(report).committed, &committed);
        health.fail(Part::Engine, "engine_stopped", "gone");
        let ackable = health.ackable(report);
        assert!(ackable.committed.is_empty());
        assert_eq!(ackable.not_opened, &[2]);
    }

    #[test]
    fn a_panicked_engine_worker_makes_the_gateway_unready_and_acks_nothing() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        use paceline_engine::dataflow::{LiveConfig, LiveEngine};
        use paceline_schemas::SessionId;
        use paceline_schemas::engine::{EngineRecord, SessionEvent, SessionInput};

        let end = |session: &str| {
            EngineRecord::Session(SessionInput {
                session: SessionId::new(session).unwrap(),
                now_ms: 1,
                event: SessionEvent::Command(paceline_schemas::engine::SessionCommand {
                    command: paceline_schemas::command::Command::End,
                }),
            })
        };
        let config = LiveConfig {
            workers: 2,
            tick_ms: 10,
            ..LiveConfig::default()
        };
        let (engine, outputs) = LiveEngine::start(config, Arc::new(|| 1)).unwrap();
        let health = Health::default();
        health.watch_engine(engine.watch());
        let sender = engine.sender().unwrap();
        assert!(sender.send(end("before")));
        let committed = [crate::store::writer::Committed {
            session_row: 1,
            acked_seq: 7,
        }];
        let report = CommitReport {
            committed: &committed,
            not_opened: &[],
        };
        assert_eq!(health.failure(), None);
        assert_eq!(health.ackable(report).committed, &committed);

        engine.inject_worker_panic(1);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !health.has_failed(Part::Engine) {
            assert!(Instant::now() < deadline, "the panic was not seen");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Not ready, with the reason, and no frame acked, before the output channel closes.
        let failure = health.failure().unwrap();
        assert_eq!(failure.code, "engine_worker_panicked");
        assert!(
            failure.message.starts_with("engine worker 1 panicked"),
            "{}",
            failure.message
        );
        assert!(health.ackable(report).committed.is_empty());
        assert!(
            !sender.send(end("after")),
            "nothing more reaches the engine"
        );

        // Then every worker stops and the output channel closes: the reason is kept.
        for _ in outputs {}
        assert!(health.engine_stopped(), "a panic, not a plain stop");
        assert_eq!(
            health.failure().map(|f| f.code),
            Some("engine_worker_panicked")
        );
    }

    #[test]
    fn a_stopped_engine_without_a_panic_is_reported_stopped() {
        let health = Health::default();
        health.watch_engine(paceline_engine::dataflow::EngineWatch::default());
        assert!(!health.has_failed(Part::Engine));
        assert!(!health.engine_stopped());
        assert_eq!(health.failure().map(|f| f.code), Some("engine_stopped"));
    }
}
