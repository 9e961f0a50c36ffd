//! Whether the threads the gateway cannot work without are alive and not failing: the
//! database writer (no commit, no ack) and the engine (no coaching). `/health/ready`
//! reads it and answers 503 with the reason while either has failed.
//!
//! The writer's state is failed after [`WRITER_FAILURES_BEFORE_UNREADY`] commits in a row
//! fail, healthy again after one succeeds; a stopped writer or engine stays failed. Once
//! the engine has failed, commits are acknowledged no more ([`Health::ackable`]).

use std::sync::Mutex;

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
    /// A fixed code for the JSON error (`database_writer_failed`, `engine_stopped`).
    pub code: &'static str,
    /// What happened, for people.
    pub message: String,
}

/// The health of the writer and the engine, shared by them and the HTTP side.
#[derive(Debug, Default)]
pub struct Health {
    writer: Mutex<Option<Failure>>,
    engine: Mutex<Option<Failure>>,
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

    /// Whether `part` has failed.
    pub fn has_failed(&self, part: Part) -> bool {
        self.slot(part)
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

    /// The first failure found, writer first; `None` while both work.
    pub fn failure(&self) -> Option<Failure> {
        [Part::Writer, Part::Engine].into_iter().find_map(|part| {
            self.slot(part)
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
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
}
