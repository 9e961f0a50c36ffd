//! The edge agent's integration tests, one binary (one link):
//!
//! - `gatt_vectors`: hand-built notifications for every flag field; the `decode` command.
//! - `gatt_hostile`: 10,000 random payloads per decoder.
#![allow(clippy::unwrap_used, missing_docs, reason = "tests")]

mod gatt_hostile;
mod gatt_vectors;
