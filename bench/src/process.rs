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

/// One live thread of a process at a reading: its name without its trailing number
/// (tokio's `tokio-rt-worker` threads share one, `router-0` is `router`, `timely:work-0` is
/// `timely:work`) and what it has cost so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadReading {
    /// The thread's name without its number.
    pub name: String,
    /// What it has cost since it started.
    pub cost: ThreadCost,
}

/// The CPU time and context switches of each of a process's live threads, by thread id.
pub fn cost_by_thread(pid: u32) -> anyhow::Result<std::collections::BTreeMap<u32, ThreadReading>> {
    let mut by_tid = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        let Some(tid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
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
        by_tid.insert(
            tid,
            ThreadReading {
                name,
                cost: ThreadCost { cpu_ns, switches },
            },
        );
    }
    Ok(by_tid)
}

/// What a process's threads cost between two [`cost_by_thread`] readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadCosts {
    /// By thread name, per frame: (name, µs of CPU, context switches), the costliest first,
    /// leaving out names that cost less than 0.05 µs per frame (the idle jobs).
    pub per_frame: Vec<(String, f64, f64)>,
    /// Threads of the first reading gone at the second: what they cost in between is in
    /// the process's total but in no row (a runtime's blocking threads ending idle).
    pub ended: usize,
}

/// What each thread name cost between two [`cost_by_thread`] readings, per `frames`. Each
/// thread counts its own difference (one started after the first reading from zero), so
/// threads that end in between take nothing away from the others of their name.
pub fn thread_cost_per_frame(
    before: &std::collections::BTreeMap<u32, ThreadReading>,
    after: &std::collections::BTreeMap<u32, ThreadReading>,
    frames: u64,
) -> ThreadCosts {
    let frames = frames.max(1) as f64;
    let mut by_name = std::collections::BTreeMap::<&str, ThreadCost>::new();
    for (tid, now) in after {
        // A thread id reused by a thread of another name is a new thread.
        let start = before
            .get(tid)
            .filter(|was| was.name == now.name)
            .map(|was| was.cost)
            .unwrap_or_default();
        let cost = by_name.entry(now.name.as_str()).or_default();
        cost.cpu_ns += now.cost.cpu_ns.saturating_sub(start.cpu_ns);
        cost.switches += now.cost.switches.saturating_sub(start.switches);
    }
    let mut per_frame: Vec<(String, f64, f64)> = by_name
        .into_iter()
        .map(|(name, cost)| {
            (
                name.to_owned(),
                cost.cpu_ns as f64 / 1e3 / frames,
                cost.switches as f64 / frames,
            )
        })
        .filter(|(_, us, _)| *us >= 0.05)
        .collect();
    per_frame.sort_by(|a, b| b.1.total_cmp(&a.1));
    let ended = before
        .iter()
        .filter(|(tid, was)| after.get(tid).is_none_or(|now| now.name != was.name))
        .count();
    ThreadCosts { per_frame, ended }
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
    fn threads_are_read_with_their_name_without_its_number() {
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
        let readings = cost_by_thread(std::process::id()).unwrap();
        stop.send(()).unwrap();
        worker.join().unwrap();
        let costed: Vec<&ThreadReading> =
            readings.values().filter(|r| r.name == "costed").collect();
        assert_eq!(costed.len(), 1, "{readings:?}");
        assert!(costed[0].cost.cpu_ns >= 10_000_000, "{costed:?}");
        assert!(readings.values().all(|r| r.name != "costed-7"));
    }

    fn reading(name: &str, cpu_ns: u64, switches: u64) -> ThreadReading {
        ThreadReading {
            name: name.to_owned(),
            cost: ThreadCost { cpu_ns, switches },
        }
    }

    #[test]
    fn costs_per_frame_are_each_threads_difference_by_name_costliest_first() {
        let before = std::collections::BTreeMap::from([
            (10, reading("router", 1_000_000, 10)),
            (11, reading("db-writer", 5_000_000, 50)),
            (12, reading("worker", 2_000_000, 20)),
            // Ends before the second reading, having cost much: it must not make the
            // other workers' difference smaller.
            (13, reading("worker", 90_000_000, 900)),
            // Its id is taken by a thread of another name.
            (14, reading("old", 7_000_000, 70)),
        ]);
        let after = std::collections::BTreeMap::from([
            (10, reading("router", 3_000_000, 30)),
            (11, reading("db-writer", 9_000_000, 90)),
            (12, reading("worker", 3_000_000, 25)),
            (15, reading("worker", 500_000, 1)),
            (14, reading("new", 250_000, 2)),
            (16, reading("idle", 40_000, 3)),
        ]);
        let costs = thread_cost_per_frame(&before, &after, 1_000);
        assert_eq!(
            costs.per_frame,
            vec![
                ("db-writer".to_owned(), 4.0, 0.04),
                ("router".to_owned(), 2.0, 0.02),
                ("worker".to_owned(), 1.5, 0.006),
                ("new".to_owned(), 0.25, 0.002),
            ]
        );
        assert_eq!(costs.ended, 2);
    }
}
