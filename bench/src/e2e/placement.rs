//! Where the server and the load generator run: each on its own cores where the machine
//! has two or more, so neither takes the other's time and each one's CPU reads clean.

use std::process::{Command, Stdio};

/// Pins the load generator (this thread, and so the threads it starts from now on) to
/// the last core this process was started on and every thread of the server `pid` to the
/// others, with `taskset`, so the two do not take each other's time and the generator's
/// own CPU reads clean. Returns what it did, or why it did not.
pub(super) fn place_processes(server_pid: u32) -> String {
    if std::env::var("PACELINE_BENCH_PIN").is_ok_and(|v| v == "0") {
        return "not pinned (PACELINE_BENCH_PIN=0)".to_owned();
    }
    // The cores the bench started on, not this moment's: after a sweep's first point the
    // generator is pinned to one core, which the server of the next point would inherit.
    let cores = crate::machine::cores_at_start();
    let Some((&generator, server_cores)) = cores.split_last() else {
        return "not pinned (no core list)".to_owned();
    };
    if server_cores.is_empty() {
        return "not pinned (one core)".to_owned();
    }
    let server_list = server_cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let taskset = |args: &[&str]| {
        Command::new("taskset")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let server_pid = server_pid.to_string();
    let own_pid = std::process::id().to_string();
    // All of the server's threads (`-a`); those it starts later inherit from them.
    let server_ok = taskset(&["-a", "-p", "-c", &server_list, &server_pid]);
    let generator_ok = taskset(&["-a", "-p", "-c", &generator.to_string(), &own_pid]);
    if server_ok && generator_ok {
        format!("server on cores {server_list}, load generator on core {generator}")
    } else {
        "not pinned (taskset failed)".to_owned()
    }
}
