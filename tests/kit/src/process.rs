//! Child processes a test starts and ends on purpose.

use std::process::{Child, Command, Stdio};

/// Runs this test binary again as the test `name` only, with `env` set: a "role" (a
/// broker, a spool writer) that does its work only when its variable is set and does
/// nothing in a normal run.
pub fn spawn_role(name: &str, env: &[(&str, String)], stdout: Stdio) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .stdout(stdout)
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("re-run the test binary in a role")
}

/// Kills a child with SIGKILL (no chance to flush anything) and reaps it.
pub fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
}

/// Sends SIGTERM to a child (a clean stop; the caller waits for its exit).
pub fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM the child");
}
