//! The edge agent's integration tests, one binary (one link):
//!
//! - `cli`: help, BLE absence (exit 3), configuration errors.
//! - `simulator`: determinism, HR kinetics, overheat through the cap, dropouts, plans.
//! - `gatt_vectors`: hand-built notifications for every flag field; the `decode` command.
//! - `gatt_hostile`: 10,000 random payloads per decoder.
//! - `spool_kill`: SIGKILL a writer process mid-write in a loop; torn tails; a corrupt
//!   record in the middle; a full spool.
//! - `uplink_mqtt`: a real rumqttd broker down for 10 s mid-session: nothing lost.
//! - `uplink_quic`: a real quinn endpoint restarted after 10 s: nothing lost; the pin.
//!
//! Child roles: some tests re-run this binary as a child process (the kit's `spawn_role`)
//! to be a broker or a spool writer. With its variable set, a role test plays the role;
//! run as a plain test, it does the same work in-process and checks it (the broker takes
//! the right password and refuses wrong ones; the writer's spool holds what it reported).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    missing_docs,
    reason = "tests: child roles report on stdout; small test counts"
)]

mod cli;
mod gatt_hostile;
mod gatt_vectors;
mod harness;
mod simulator;
mod spool_kill;
mod uplink_mqtt;
mod uplink_quic;
