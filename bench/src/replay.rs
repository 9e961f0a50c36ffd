//! Replay throughput (decode + coach) against Python's fitdecode decoding the same file.
//!
//! For each file, Paceline's side reads the FIT bytes from memory, decodes them to samples
//! and runs every sample through a coach (the bare `CoachPool`, as one replay worker
//! does); fitdecode's side only decodes (`fitdecode.FitReader` over the whole file, every
//! frame). Both are timed in the same run, several times each; the medians give the ratio.
//! Beside them, the whole `paceline-engine replay` process on the same file (start to exit,
//! wall and CPU): what a batch job running one process per file pays.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use paceline_coach::CoachConfig;
use paceline_engine::pool::CoachPool;
use paceline_engine::replay::session_records;
use paceline_formats::samples::decode_activity;
use paceline_schemas::{AthleteProfile, SessionId, WorkoutPlan};

use crate::coach::{PLAN_JSON, PROFILE_JSON};
use crate::stats::Spread;

/// One file's figures.
#[derive(Debug, Clone)]
pub struct ReplayFigures {
    /// File name.
    pub file: String,
    /// File size, bytes.
    pub bytes: usize,
    /// Samples decoded from it.
    pub samples: usize,
    /// Paceline: decode + coach, seconds.
    pub paceline_s: Spread,
    /// Paceline: of which decoding, seconds.
    pub decode_s: Spread,
    /// fitdecode: decode only, seconds.
    pub fitdecode_s: Spread,
    /// The whole `paceline-engine replay` process on the file (start, read, decode, coach,
    /// write the cues, exit): wall seconds.
    pub process_wall_s: Spread,
    /// Its CPU seconds (user + system) per run, from the children's times in /proc.
    pub process_cpu_s: f64,
}

impl ReplayFigures {
    /// How many times faster Paceline's decode + coach is than fitdecode's decode (medians).
    pub fn ratio(&self) -> f64 {
        self.fitdecode_s.median / self.paceline_s.median
    }

    /// How many times faster the whole replay process is than fitdecode's decode alone.
    pub fn process_ratio(&self) -> f64 {
        self.fitdecode_s.median / self.process_wall_s.median
    }

    /// The whole process's wall time over its CPU time (median wall / mean CPU): near 1
    /// when nothing waits idle before exit (target ≤ 2; CPU is counted in 10 ms ticks, so
    /// a process that takes under ~10 ms of CPU reads noisily).
    pub fn process_wall_over_cpu(&self) -> f64 {
        self.process_wall_s.median / self.process_cpu_s.max(1e-3)
    }
}

/// CPU seconds of this process's waited-for children so far (`cutime + cstime` in
/// /proc/self/stat, in clock ticks of 1/100 s).
fn children_cpu_s() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The fields after the command's closing parenthesis; cutime and cstime are the 14th
    // and 15th of them.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("an unexpected /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("an unexpected /proc/self/stat")
    };
    Ok((ticks(13)? + ticks(14)?) / 100.0)
}

/// The `paceline-engine` binary beside this bench's own.
fn engine_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let engine = exe
        .parent()
        .context("the bench binary's folder")?
        .join("paceline-engine");
    if !engine.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p paceline-engine`",
            engine.display()
        );
    }
    Ok(engine)
}

/// Runs `paceline-engine replay` on `path` `runs` times (after one warm-up): wall seconds
/// of each run and CPU seconds per run.
fn time_process(path: &Path, runs: usize) -> anyhow::Result<(Spread, f64)> {
    let engine = engine_binary()?;
    let profile = std::env::temp_dir().join("paceline-bench-replay-profile.json");
    std::fs::write(&profile, PROFILE_JSON).context("writing the bench profile")?;
    let out = std::env::temp_dir().join("paceline-bench-replay-cues.jsonl");
    let run = || -> anyhow::Result<f64> {
        let started = Instant::now();
        let status = Command::new(&engine)
            .arg("replay")
            .arg("--profile")
            .arg(&profile)
            .arg(path)
            .arg("--out")
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .context("running paceline-engine replay")?;
        if !status.success() {
            bail!(
                "paceline-engine replay failed on {}: {status}",
                path.display()
            );
        }
        Ok(started.elapsed().as_secs_f64())
    };
    run()?;
    let cpu_before = children_cpu_s()?;
    let mut walls = Vec::with_capacity(runs);
    for _ in 0..runs {
        walls.push(run()?);
    }
    let cpu = (children_cpu_s()? - cpu_before) / runs as f64;
    Ok((Spread::of(walls), cpu))
}

const FITDECODE_TIMER: &str = r#"
import sys, time, fitdecode
path, runs = sys.argv[1], int(sys.argv[2])
data = open(path, 'rb').read()
import io
times = []
frames = 0
for _ in range(runs):
    t = time.perf_counter()
    with fitdecode.FitReader(io.BytesIO(data)) as fit:
        frames = sum(1 for _ in fit)
    times.append(time.perf_counter() - t)
print(frames, *times)
"#;

/// Makes sure fitdecode can be imported, installing it with pip if needed; returns its version.
pub fn ensure_fitdecode() -> anyhow::Result<String> {
    let version = || {
        Command::new("python3")
            .args(["-c", "import fitdecode; print(fitdecode.__version__)"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(v) = version() {
        return Ok(v);
    }
    eprintln_progress("installing fitdecode with pip…");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "fitdecode==0.10.0"])
        .status()
        .context("running pip (python3 -m pip)")?;
    if !status.success() {
        bail!("pip could not install fitdecode ({status})");
    }
    version().context("fitdecode is still not importable after pip install")
}

#[allow(
    clippy::print_stderr,
    reason = "progress for the person running the bench"
)]
fn eprintln_progress(message: &str) {
    eprintln!("{message}");
}

/// Times both sides on each file.
pub fn run(files: &[&Path], runs: usize) -> anyhow::Result<Vec<ReplayFigures>> {
    let profile: AthleteProfile = paceline_schemas::codec::from_json(PROFILE_JSON.as_bytes())?;
    let plan: WorkoutPlan = paceline_schemas::codec::from_json(PLAN_JSON.as_bytes())?;
    let mut figures = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let session = SessionId::new("bench")?;
        let mut ours = Vec::with_capacity(runs);
        let mut decode = Vec::with_capacity(runs);
        let mut samples = 0;
        for _ in 0..runs + 1 {
            let started = Instant::now();
            let decoded = decode_activity(std::hint::black_box(&bytes))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            samples = decoded.len();
            decode.push(started.elapsed().as_secs_f64());
            let mut pool = CoachPool::new(CoachConfig::default());
            let mut outputs = 0usize;
            for record in session_records(&session, &profile, Some(&plan), None, decoded) {
                pool.handle(record, &mut |_| outputs += 1);
            }
            std::hint::black_box(outputs);
            ours.push(started.elapsed().as_secs_f64());
        }
        ours.remove(0); // warm-up
        decode.remove(0);
        let out = Command::new("python3")
            .args(["-c", FITDECODE_TIMER])
            .arg(path)
            .arg(runs.to_string())
            .output()
            .context("running python3 with fitdecode")?;
        if !out.status.success() {
            bail!(
                "fitdecode failed on {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs: Vec<f64> = text
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        if theirs.is_empty() {
            bail!("fitdecode timer printed nothing usable: {text}");
        }
        let (process_wall_s, process_cpu_s) = time_process(path, runs.max(20))?;
        figures.push(ReplayFigures {
            file: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            bytes: bytes.len(),
            samples,
            paceline_s: Spread::of(ours),
            decode_s: Spread::of(decode),
            fitdecode_s: Spread::of(theirs),
            process_wall_s,
            process_cpu_s,
        });
    }
    Ok(figures)
}
