//! Paceline's test kit: what every integration suite (the gateway's `e2e`, the system
//! tests, the edge agent's `edge`) uses to set up the world it checks, so that a test says
//! what it checks and not how servers are started.
//!
//! - [`wait`]: [`wait_until`], the one way to wait: a condition polled until it holds or
//!   a deadline passes, the condition's last reason in the failure. No test sleeps to wait.
//! - [`ports`]: free loopback ports, and whether something listens on one.
//! - [`gateway`]: `paceline serve` as a child process on ephemeral loopback ports with a
//!   fresh data folder; readiness, restart, SIGKILL, SIGTERM, its logs, pairing and plans
//!   through its CLI, its Prometheus counters, its database opened read-only.
//! - [`api`]: the gateway's HTTP API and live WebSockets: register a gym, log in, invite,
//!   create athletes, pair devices.
//! - [`riders`]: edge agents (`paceline-edge`, in the test process, without Bluetooth)
//!   riding simulated athletes against a gateway.
//! - [`browser`]: headless Chromium driven through chromedriver (fantoccini).
//! - [`process`]: child processes: the test binary re-run in a role, killed on purpose.
//!
//! This crate is for tests only (`publish = false`, a dev-dependency): it panics with a
//! message instead of returning errors, as a failed setup is a failed test. It knows no
//! suite's own fakes (the edge suite's test gateway, the system suite's fault proxy, the
//! e2e suite's raw device clients) and checks nothing of the product itself.

pub mod api;
pub mod browser;
pub mod gateway;
pub mod ports;
pub mod process;
pub mod riders;
pub mod wait;

pub use gateway::{Gateway, GatewayBuilder, PROFILE};
pub use wait::{DEADLINE, wait_until};

/// Wall clock, ms since the Unix epoch.
pub fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("ms fit in u64")
}
