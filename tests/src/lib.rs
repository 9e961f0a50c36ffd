//! Paceline's cross-crate system tests. The library is empty: everything lives in the one
//! integration test binary, `tests/system/main.rs` (`cargo test -p paceline-tests --test
//! system`), which starts the real `paceline` gateway process on ephemeral loopback ports,
//! rides edge agents against it and injects faults: SIGKILLs, a fault proxy, delayed
//! heart rate. It must never sleep to wait for something: every wait is a condition with
//! a deadline.
