//! Where the server and the load generator run: each on its own cores where the machine
//! has two or more, so neither takes the other's time and each one's CPU reads clean.

use std::process::{Command, Stdio};

/// The command that starts the server: under `taskset` on the cores [`place_processes`]
/// gives it, so that it sizes itself (its tokio workers, one per core it may use) for
/// those cores from its start, as a server given that machine would; pinned only after
/// it started, a server sized for two cores ran two workers on one.
pub(super) fn server_command(binary: &std::path::Path) -> Command {
    match server_cores() {
        Some(list) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(list).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// The server's cores as a `taskset` list: all the bench started on but the last (the
/// generator's); `None` when pinning is off or there is one core.
fn server_cores() -> Option<String> {
    if std::env::var("PACELINE_BENCH_PIN").is_ok_and(|v| v == "0") {
        return None;
    }
    let cores = crate::machine::cores_at_start();
    let (_, server_cores) = cores.split_last()?;
    if server_cores.is_empty() {
        return None;
    }
    Some(
        server_cores
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Pins the load generator (this thread, and so the threads it starts from now on) to
/// the last core this process was started on and every thread of the server `pid` to the
/// others, with `taskset`, so the two do not take each other's time and the generator's
/// own CPU reads clean. Returns what it did, or why it did not.
pub(super) fn place_processes(server_pid: u32) -> String {
    if std::env::var("PACELINE_BENCH_PIN").is_ok_and(|v| v == "0") {
        return "not pinned (PACELINE_BENCH_PIN=0)".to_owned();
    }
    let Some(server_list) = server_cores() else {
        return "not pinned (one core)".to_owned();
    };
    // The cores the bench started on, not this moment's: after a sweep's first point the
    // generator is pinned to one core, which the server of the next point would inherit.
    let Some(&generator) = crate::machine::cores_at_start().last() else {
        return "not pinned (no core list)".to_owned();
    };
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
