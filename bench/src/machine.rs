//! What machine a result came from, and where results are written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The cores this process was started on (`Cpus_allowed_list`), read once, before
/// [`crate::e2e`] pins the load generator to one of them: read again after a sweep's
/// first point, the list would hold only the generator's core, and the next points would
/// put the server on that core too and report a one-core machine.
pub fn cores_at_start() -> &'static [usize] {
    static CORES: OnceLock<Vec<usize>> = OnceLock::new();
    CORES.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|list| cpu_list(list.trim()))
            })
            .unwrap_or_default()
    })
}

/// The cores of a kernel CPU list such as `0-3,6`.
fn cpu_list(list: &str) -> Vec<usize> {
    let mut cores = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    cores.extend(a..=b);
                }
            }
            None => cores.extend(part.parse::<usize>().ok()),
        }
    }
    cores
}

/// The facts about the machine every result file records.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Host name (used in the result file's name).
    pub host: String,
    /// CPU model as /proc/cpuinfo names it.
    pub cpu_model: String,
    /// Logical cores this process was started on ([`cores_at_start`]).
    pub cores: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// `rustc -V`.
    pub rustc: String,
    /// Today's date (UTC), YYYY-MM-DD.
    pub date: String,
    /// The 1-, 5- and 15-minute load averages when the run started (other work on the
    /// machine makes figures noisier).
    pub load_average: String,
}

impl Machine {
    /// Reads the machine's facts; unknown ones are recorded as "unknown".
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split(':').nth(1))
            })
            .map_or_else(|| "unknown".to_owned(), |m| m.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            host: command_output("hostname", &[]).unwrap_or_else(|| "unknown".to_owned()),
            cpu_model,
            cores: match cores_at_start().len() {
                0 => std::thread::available_parallelism().map_or(0, usize::from),
                n => n,
            },
            memory_gib: memory_kib / 1024.0 / 1024.0,
            rustc: command_output("rustc", &["-V"]).unwrap_or_else(|| "unknown".to_owned()),
            date: command_output("date", &["-u", "+%F"])
                .unwrap_or_else(|| "unknown-date".to_owned()),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "unknown".to_owned()),
        }
    }

    /// A Markdown block describing the machine.
    pub fn markdown(&self) -> String {
        format!(
            "- date: {}\n- machine: {} ({} cores, {:.1} GiB), host `{}`\n- toolchain: {}\n- load average at start: {}\n",
            self.date,
            self.cpu_model,
            self.cores,
            self.memory_gib,
            self.host,
            self.rustc,
            self.load_average
        )
    }

    /// The same facts as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "date": self.date,
            "host": self.host,
            "cpu_model": self.cpu_model,
            "cores": self.cores,
            "memory_gib": self.memory_gib,
            "rustc": self.rustc,
            "load_average": self.load_average,
        })
    }

    /// `bench/results/<date>-<host>-<bench>` (without extension).
    pub fn result_stem(&self, results_dir: &Path, bench: &str) -> PathBuf {
        results_dir.join(format!("{}-{}-{bench}", self.date, self.host))
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
