//! Paceline's system tests: the `paceline` gateway as a real process on ephemeral loopback
//! ports, edge agents (the `paceline-edge` library, in this process) riding simulated
//! athletes against it, and faults injected between and into them. The gateway process,
//! the agents' set-up and every wait come from the test kit (`paceline-testkit`).
//!
//! Every wait is a condition with a deadline; every check compares what the agents
//! recorded with what the gateway stored or sent.
//!
//! Modules, in reading order:

// Shared helpers.
/// A TCP proxy that delays, drops and cuts MQTT traffic.
mod proxy;
/// Jepsen's queue checker: what the agents sent against what the gateway stored.
mod queue;
/// Edge agents as hubs of simulated athletes, and the record of everything they did.
mod riders;

// The tests.
/// 200 athletes ride while the gateway is SIGKILLed and restarted at random moments.
mod crash_restart;
/// Riders behind the fault proxy: delays, dropped publishes, blackholes, cuts.
mod network_faults;
/// While heart-rate frames are delayed or dropped, no cue raises intensity.
mod safety_faults;

/// How long any single wait of these tests may take: they run hundreds of athletes on
/// a shared 2-core machine, so longer than the kit's default.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Prints one result line of a system test (visible with `--nocapture`; `cargo test`
/// shows it anyway when the test fails).
#[allow(clippy::print_stderr, reason = "these numbers are the tests' report")]
pub fn report(line: &str) {
    eprintln!("{line}");
}
