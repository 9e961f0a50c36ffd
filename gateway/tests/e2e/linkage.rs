//! The server links no Bluetooth stack and no system library beyond the C runtime, so it
//! builds and runs on a machine with only a Rust toolchain and a C compiler.
//!
//! This checks the binary `cargo test --workspace` builds, where the edge agent's `ble`
//! feature is on for the workspace (its binary needs it): the worst case. The release
//! build of the gateway alone resolves the same dependencies without it.

use std::process::Command;

/// Libraries the `paceline` binary may load: the C runtime, the maths library, the
/// unwinder and the loader (and the kernel's vDSO, which ldd lists).
const ALLOWED: &[&str] = &[
    "linux-vdso.so.1",
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

#[test]
fn the_server_links_only_the_c_runtime_and_no_bluetooth_stack() {
    let binary = env!("CARGO_BIN_EXE_paceline");
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("ldd runs (Debian's libc-bin)");
    assert!(out.status.success(), "ldd {binary}: {out:?}");
    let listing = String::from_utf8_lossy(&out.stdout);
    let libraries: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| name.rsplit('/').next().unwrap_or(name))
        .collect();
    assert!(
        libraries.contains(&"libc.so.6"),
        "ldd listed no libc, so the listing was not read: {listing}"
    );
    let unexpected: Vec<&&str> = libraries
        .iter()
        .filter(|name| !ALLOWED.contains(name))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the server loads {unexpected:?} beyond the C runtime:\n{listing}"
    );

    // Statically linked code would not show in ldd: no D-Bus or btleplug symbol may be in
    // the binary either (while the broker's, a crate it does link, are).
    let contains = |needle: &str| {
        let status = Command::new("grep")
            .args(["-q", "-a", "-F", "-e", needle, binary])
            .status()
            .expect("grep runs");
        assert!(
            status.code().is_some_and(|code| code <= 1),
            "grep {needle}: {status}"
        );
        status.success()
    };
    assert!(
        contains("rumqttd"),
        "the symbol search found nothing it should"
    );
    for needle in ["dbus_connection_", "btleplug", "bluez_async"] {
        assert!(!contains(needle), "the server binary contains {needle}");
    }
}
