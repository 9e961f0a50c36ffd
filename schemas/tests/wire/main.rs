//! The wire contract of `paceline-schemas`, tested from outside the crate.
//!
//! - `golden`: checked-in bytes for every frame kind and JSON snapshots of every type; a
//!   layout change must be deliberate (`UPDATE_GOLDEN=1` / `UPDATE_EXPECT=1`).
//! - `roundtrip`: property tests, binary and JSON, over generated values.
//! - `hostile`: random and mutated byte strings through every decoder.
//! - `strategies`: proptest generators shared by the above.

mod golden;
mod hostile;
mod roundtrip;
mod strategies;
