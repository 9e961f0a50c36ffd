//! Paceline's system tests: the `paceline` gateway as a real process on ephemeral loopback
//! ports, edge agents (the `paceline-edge` library, in this process) riding simulated
//! athletes against it, and faults injected between and into them.
//!
//! Every wait is a condition with a deadline; every check compares what the agents
//! recorded with what the gateway stored or sent.
//!
//! Modules, in reading order:

// Shared helpers.
/// The gateway process: build, start, SIGKILL, restart, pair, read its database.
mod gateway;
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

/// Prints one result line of a system test (visible with `--nocapture`; `cargo test`
/// shows it anyway when the test fails).
#[allow(clippy::print_stderr, reason = "these numbers are the tests' report")]
pub fn report(line: &str) {
    eprintln!("{line}");
}
