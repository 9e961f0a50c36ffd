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

/// What a process's threads of one name have cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadCost {
    /// CPU time, ns (`schedstat`).
    pub cpu_ns: u64,
    /// Context switches, voluntary and not (`status`).
    pub switches: u64,
}

/// The CPU time and context switches of a process's live threads, summed by thread name
/// without its trailing number (tokio's `tokio-rt-worker` threads together, `router-0` as
/// `router`, `timely:work-0` as `timely:work`).
pub fn cost_by_thread(pid: u32) -> anyhow::Result<std::collections::BTreeMap<String, ThreadCost>> {
    let mut by_name = std::collections::BTreeMap::<String, ThreadCost>::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        // A thread that ends between the listing and the reads is left out.
        let (Ok(comm), Ok(schedstat), Ok(status)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("schedstat")),
            std::fs::read_to_string(dir.join("status")),
        ) else {
            continue;
        };
        let name = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-')
            .to_owned();
        let cpu_ns = schedstat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let switches = status
            .lines()
            .filter(|line| line.contains("ctxt_switches"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
        let cost = by_name.entry(name).or_default();
        cost.cpu_ns += cpu_ns;
        cost.switches += switches;
    }
    Ok(by_name)
}

/// What each thread name cost between two [`cost_by_thread`] readings, per `frames`:
/// (name, µs of CPU per frame, context switches per frame), the costliest first, leaving
/// out threads that cost less than 0.05 µs per frame (the idle jobs). Threads started
/// after the first reading count from zero.
pub fn thread_cost_per_frame(
    before: &std::collections::BTreeMap<String, ThreadCost>,
    after: &std::collections::BTreeMap<String, ThreadCost>,
    frames: u64,
) -> Vec<(String, f64, f64)> {
    let frames = frames.max(1) as f64;
    let mut per_frame: Vec<(String, f64, f64)> = after
        .iter()
        .map(|(name, cost)| {
            let start = before.get(name).copied().unwrap_or_default();
            (
                name.clone(),
                cost.cpu_ns.saturating_sub(start.cpu_ns) as f64 / 1e3 / frames,
                cost.switches.saturating_sub(start.switches) as f64 / frames,
            )
        })
        .filter(|(_, us, _)| *us >= 0.05)
        .collect();
    per_frame.sort_by(|a, b| b.1.total_cmp(&a.1));
    per_frame
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_costed_by_name_without_their_number() {
        let (started, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("costed-7".to_owned())
            .spawn(move || {
                let mut x = 1u64;
                let until = Instant::now() + std::time::Duration::from_millis(30);
                while Instant::now() < until {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                started.send(x).unwrap();
                stopped.recv().unwrap();
            })
            .unwrap();
        ready.recv().unwrap();
        let costs = cost_by_thread(std::process::id()).unwrap();
        stop.send(()).unwrap();
        worker.join().unwrap();
        let costed = costs
            .get("costed")
            .expect("the thread, named without its number");
        assert!(costed.cpu_ns >= 10_000_000, "{costed:?}");
        assert!(!costs.contains_key("costed-7"));
    }

    #[test]
    fn costs_per_frame_are_the_differences_costliest_first() {
        let cost = |cpu_ns, switches| ThreadCost { cpu_ns, switches };
        let before = std::collections::BTreeMap::from([
            ("router".to_owned(), cost(1_000_000, 10)),
            ("db-writer".to_owned(), cost(5_000_000, 50)),
        ]);
        let after = std::collections::BTreeMap::from([
            ("router".to_owned(), cost(3_000_000, 30)),
            ("db-writer".to_owned(), cost(9_000_000, 90)),
            ("late".to_owned(), cost(500_000, 1)),
            ("idle".to_owned(), cost(40_000, 3)),
        ]);
        let per_frame = thread_cost_per_frame(&before, &after, 1_000);
        assert_eq!(
            per_frame,
            vec![
                ("db-writer".to_owned(), 4.0, 0.04),
                ("router".to_owned(), 2.0, 0.02),
                ("late".to_owned(), 0.5, 0.001),
            ]
        );
    }
}
