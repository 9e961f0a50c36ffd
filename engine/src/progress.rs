//! A progress ticker that never makes its owner wait: the replay job's reporter.
//!
//! The ticker's thread sleeps on a channel's `recv_timeout`, not on a timer: finishing
//! drops the sender, which wakes the thread at once (the receive returns `Disconnected`).
//! A one-file replay is over in milliseconds, and a batch job that runs one process per
//! file would otherwise pay the rest of the interval at every exit (issue 20, point 4).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// A thread calling `tick` every interval until [`ProgressTicker::finish`] (or drop), then
/// `done` once.
#[derive(Debug)]
pub struct ProgressTicker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressTicker {
    /// Starts the thread: `tick` after every `every` of waiting, `done` when finished.
    pub fn start(
        every: Duration,
        mut tick: impl FnMut() + Send + 'static,
        done: impl FnOnce() + Send + 'static,
    ) -> ProgressTicker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Nothing is ever sent: the sender's drop (`Disconnected`) is the signal.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                tick();
            }
            done();
        });
        ProgressTicker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Wakes the thread, which calls `done` and ends at once, and joins it.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ProgressTicker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// An interval of an hour: if finishing waited for the interval (a park or a sleep
    /// instead of the wake), `finish` would not return within the deadline below, which
    /// only bounds a wait that must not happen at all.
    #[test]
    fn finishing_wakes_the_thread_instead_of_waiting_out_the_interval() {
        let ticks = Arc::new(AtomicU32::new(0));
        let finished = Arc::new(AtomicU32::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            let finished = Arc::clone(&finished);
            ProgressTicker::start(
                Duration::from_secs(3600),
                move || {
                    ticks.fetch_add(1, Ordering::Relaxed);
                },
                move || {
                    finished.fetch_add(1, Ordering::Relaxed);
                },
            )
        };
        let (joined, returned) = mpsc::channel();
        std::thread::spawn(move || {
            ticker.finish();
            let _ = joined.send(());
        });
        assert_eq!(
            returned.recv_timeout(Duration::from_secs(30)),
            Ok(()),
            "finish waited on the ticker's interval"
        );
        assert_eq!(ticks.load(Ordering::Relaxed), 0, "no interval elapsed");
        assert_eq!(finished.load(Ordering::Relaxed), 1, "`done` ran once");
    }

    #[test]
    fn ticks_come_while_running_and_dropping_also_stops_it() {
        let (ticked, ticks) = mpsc::channel();
        let ticker = ProgressTicker::start(
            Duration::from_millis(1),
            move || {
                let _ = ticked.send(());
            },
            || {},
        );
        for _ in 0..3 {
            assert_eq!(ticks.recv_timeout(Duration::from_secs(30)), Ok(()));
        }
        drop(ticker);
        // The thread has ended: its sender is gone once the ticks already sent are read.
        while ticks.try_recv().is_ok() {}
        assert_eq!(
            ticks.try_recv(),
            Err(mpsc::TryRecvError::Disconnected),
            "the thread ended with the drop"
        );
    }
}
