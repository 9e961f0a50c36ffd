//! The Paceline coaching engine (not yet built; see the coaching-core and dataflow issues).
//!
//! It will hold:
//! - the `Coach`: one deterministic state machine per session, fed samples, commands and
//!   time as arguments (`handle_sample(now, s)`, `handle_timeout(now)`, `poll_output()`),
//!   deciding zones, fatigue (W′ balance, HR drift), time-budget compression and safety;
//! - the timely dataflow that keys sessions to workers and runs the Coaches live or in batch;
//! - the `paceline-engine replay` command.
//!
//! **Invariant:** the coaching core never touches the clock, threads, sockets or files.
