//! What a process costs, read from `/proc`: CPU time and memory.

use std::time::Instant;

use anyhow::Context;

/// The log filter a bench gives the `paceline serve` it starts: warnings, and rumqttd off
/// as the server's own default has it (`info,rumqttd=off`). With rumqttd's logs on, its
/// router makes and formats an error-level tracing span for every publish (its topic
/// printed with `Debug`), a cost the product does not pay.
pub const SERVER_LOG: &str = "warn,rumqttd=off";

/// Linux's fixed `USER_HZ`: `/proc/<pid>/stat` counts CPU time in these ticks.
pub const TICKS_PER_S: f64 = 100.0;

/// One look at a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    /// When it was taken.
    pub at: Instant,
    /// User + system CPU time so far (threads that exited included), s.
    pub cpu_s: f64,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
}

impl ProcessSample {
    /// Reads the process `pid`; `None` if it is gone.
    pub fn of(pid: u32) -> Option<ProcessSample> {
        let ticks = cpu_ticks(pid).ok()?;
        let (peak_rss_kib, rss_kib) = memory_kib(pid).ok()?;
        Some(ProcessSample {
            at: Instant::now(),
            cpu_s: ticks as f64 / TICKS_PER_S,
            rss_kib,
            peak_rss_kib,
        })
    }
}

/// (user + system ticks) of a process.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// CPU time of a process's live threads, ns (`/proc/<pid>/task/*/schedstat`, first field):
/// finer than the 10 ms ticks of `/proc/<pid>/stat`.
pub fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// (`VmHWM`, `VmRSS`) of a process, KiB.
pub fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmHWM:"), field("VmRSS:")))
}
