//! Paceline's cross-crate integration tests (not yet built; later issues add them).
//!
//! It will hold one integration test binary (`tests/tests.rs`, a commented `mod` list with
//! shared helpers) that starts real processes — gateway, edge agents, broker clients — on
//! ephemeral loopback ports and waits on conditions with deadlines, never on sleeps.
