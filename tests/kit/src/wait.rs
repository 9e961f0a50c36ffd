//! Waiting on a condition with a deadline: the only way a test waits.
//!
//! ```text
//! let (status, _) = wait_until("the session to end", DEADLINE, async || {
//!     session_status(&conn, &session).filter(|(status, _)| status == "ended")
//! })
//! .await;
//! ```
//!
//! The condition is an async closure (so it may call the API or read a socket) returning
//! an [`Outcome`]: `Option<T>` (`None`: not yet), `Result<T, String>` (`Err(reason)`: not
//! yet, and why; the last reason is in the failure message) or `bool`. It is polled at
//! once, then every few milliseconds, backing off to every 50 ms.
//!
//! Wait in the test's own task: rustc cannot yet prove a future that awaits an async
//! closure's borrowing future `Send` ("implementation of `Send` is not general enough"),
//! so a `wait_until` inside `tokio::spawn` may not compile. Spawn the work, and wait on
//! its result where the test runs.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// The default deadline of a wait: long enough for a loaded 2-core CI machine, short
/// enough that a hung test fails within the minute.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The first pause between two polls.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between two polls.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// What a condition says: done (with a value), or not yet (with a reason).
pub trait Outcome<T> {
    /// `Ok(value)` when the condition holds, `Err(reason)` when not yet.
    fn outcome(self) -> Result<T, String>;
}

impl<T> Outcome<T> for Option<T> {
    fn outcome(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}

impl<T> Outcome<T> for Result<T, String> {
    fn outcome(self) -> Result<T, String> {
        self
    }
}

impl Outcome<()> for bool {
    fn outcome(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    }
}

/// Polls `condition` until it holds and returns its value; fails the test with `what`,
/// the deadline and the condition's last reason once `deadline` has passed.
pub async fn wait_until<T, O: Outcome<T>>(
    what: impl Display,
    deadline: Duration,
    mut condition: impl AsyncFnMut() -> O,
) -> T {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match condition().await.outcome() {
            Ok(value) => return value,
            Err(reason) => assert!(
                start.elapsed() < deadline,
                "timed out after {deadline:?} waiting for {what}: {reason}"
            ),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
