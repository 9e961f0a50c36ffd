//! `paceline-engine`: the replay batch job, alone or as one process of a timely cluster.
//!
//! ```text
//! paceline-engine replay --profile P.json [--plan W.zwo|W.fit|W.json] [--budget-min N]
//!                        [--workers N] INPUT... [--out cues.jsonl] [--summary summary.json]
//! paceline-engine worker [-w N] [-n N] [-p I] [-h HOSTFILE] <the replay options>
//! ```
//! Exit status: 0 when every input replayed, 2 when an input (or the profile or plan) was
//! bad — the other inputs are still replayed — and 1 when the engine itself failed.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use paceline_coach::CoachConfig;
use paceline_engine::dataflow::{BatchSource, run_batch, run_batch_inline};
use paceline_engine::progress::ProgressTicker;
use paceline_engine::replay::{ReplayJob, ordered_outputs, write_outputs};
use paceline_schemas::{AthleteProfile, WorkoutPlan};

#[derive(Parser)]
#[command(
    name = "paceline-engine",
    version,
    about = "Paceline's coaching engine: replay recorded sessions through the coach."
)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Replay recorded sessions (FIT activities or CSV) through the coach, on one machine.
    Replay {
        /// Worker threads.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: u16,
        #[command(flatten)]
        replay: ReplayArgs,
    },
    /// Run one process of a multi-process replay (timely's cluster flags). Process 0
    /// writes the outputs; every process needs the same inputs and options.
    #[command(disable_help_flag = true)]
    Worker {
        /// Worker threads in this process.
        #[arg(short = 'w', long = "threads", default_value_t = 1)]
        threads: usize,
        /// Number of processes.
        #[arg(short = 'n', long = "processes", default_value_t = 1)]
        processes: usize,
        /// This process's index, from 0.
        #[arg(short = 'p', long = "process", default_value_t = 0)]
        process: usize,
        /// A file with one `host:port` per line, one line per process.
        #[arg(short = 'h', long = "hostfile")]
        hostfile: Option<PathBuf>,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
        #[command(flatten)]
        replay: ReplayArgs,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// The athlete profile (JSON, SPEC §4).
    #[arg(long)]
    profile: PathBuf,
    /// The planned workout: Zwift .zwo, FIT workout or Paceline JSON.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Minutes the athlete had: the rest of the plan is compressed to fit.
    #[arg(long)]
    budget_min: Option<u32>,
    /// Write cues here (JSON lines) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the session summaries here (one JSON object, or an array for several inputs).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// FIT, TCX or GPX activity files, or CSV files (`time_s,heart_rate,power,cadence,speed`,
    /// or as Paceline exports them); each is its own session.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paceline-engine: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A problem with what the user gave: exit status 2.
struct BadInput(String);

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // In a cluster, process 0 gathers the outputs and writes them; the others only
    // report the inputs they could not read. One worker in one process needs no dataflow:
    // `run_batch_inline` gives the same outputs on this thread (`None` here).
    let (config, replay, writes_outputs) = match cli.command {
        Mode::Replay { workers, replay } => {
            let config = (workers > 1).then(|| timely::Config::process(usize::from(workers)));
            (config, replay, true)
        }
        Mode::Worker {
            threads,
            processes,
            process,
            hostfile,
            replay,
            ..
        } => {
            let mut args = vec![
                "-w".to_owned(),
                threads.to_string(),
                "-n".to_owned(),
                processes.to_string(),
                "-p".to_owned(),
                process.to_string(),
            ];
            if let Some(hostfile) = hostfile {
                args.push("-h".to_owned());
                args.push(hostfile.display().to_string());
            }
            let config = timely::Config::from_args(args.into_iter())
                .map_err(|e| anyhow::anyhow!("cluster options: {e}"))?;
            (Some(config), replay, process == 0)
        }
    };
    let job = match load_job(&replay) {
        Ok(job) => job,
        Err(BadInput(message)) => {
            eprintln!("paceline-engine: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let job = Arc::new(job);
    let mut report = ProgressReport::new(job.len());
    let outcome = match config {
        None => {
            let outcome =
                run_batch_inline(CoachConfig::default(), &*job, &mut |n| report.update(n));
            report.finish();
            outcome
        }
        Some(config) => {
            let progress = Arc::new(AtomicU64::new(0));
            let reporter = spawn_progress(Arc::clone(&progress), report);
            let outcome = run_batch(
                config,
                CoachConfig::default(),
                Arc::clone(&job) as Arc<dyn BatchSource>,
                progress,
            );
            // Woken at once, not left to finish its interval: a batch job running one
            // process per file would pay that wait every time.
            reporter.finish();
            outcome.context("replay failed")?
        }
    };

    let mut bad = !outcome.failures.is_empty();
    for (_, message) in &outcome.failures {
        eprintln!("paceline-engine: {message}");
    }
    if !writes_outputs {
        return Ok(if bad {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let outputs = ordered_outputs(&job, outcome.outputs);
    let mut cue_sink: Box<dyn Write> = match &replay.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut summary_file = match &replay.summary {
        Some(path) => Some(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let written = write_outputs(
        &outputs,
        &mut cue_sink,
        summary_file.as_mut().map(|f| f as &mut dyn Write),
    )
    .context("writing the outputs")?;
    cue_sink.flush().context("writing the cues")?;
    for message in &written.rejected {
        eprintln!("paceline-engine: {message}");
        bad = true;
    }
    if replay.out.is_some() || replay.summary.is_some() || !bad {
        eprintln!(
            "paceline-engine: {} of {} sessions replayed, {} cues",
            written.summaries,
            job.len(),
            written.cues
        );
    }
    Ok(if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn load_job(args: &ReplayArgs) -> Result<ReplayJob, BadInput> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))
    };
    let profile_bytes = read(&args.profile)?;
    let profile: AthleteProfile = paceline_schemas::codec::from_json(&profile_bytes)
        .map_err(|e| BadInput(format!("{}: {e}", args.profile.display())))?;
    let plan: Option<WorkoutPlan> = match &args.plan {
        Some(path) => {
            let bytes = read(path)?;
            let name = path.display().to_string();
            Some(
                paceline_formats::plan_import::import_plan(&name, &bytes)
                    .map_err(|e| BadInput(e.to_string()))?,
            )
        }
        None => None,
    };
    Ok(ReplayJob::from_files(
        profile,
        plan,
        args.budget_min,
        &args.inputs,
    ))
}

/// Shows progress on stderr: a bar on a terminal, a line every 10 s otherwise (and nothing
/// for runs that finish sooner).
struct ProgressReport {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
}

impl ProgressReport {
    fn new(inputs: usize) -> ProgressReport {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed} {human_pos} records ({per_sec}) from {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_message(format!("{inputs} inputs"));
            bar
        });
        ProgressReport {
            bar,
            last_line: Instant::now(),
        }
    }

    /// `records` have been replayed so far.
    fn update(&mut self, records: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(records),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                self.last_line = Instant::now();
                eprintln!("paceline-engine: {records} records replayed so far");
            }
            None => {}
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Reports a dataflow run's progress from a thread of its own (the workers only count).
fn spawn_progress(progress: Arc<AtomicU64>, mut report: ProgressReport) -> ProgressTicker {
    let finished = ProgressReport {
        bar: report.bar.clone(),
        last_line: report.last_line,
    };
    ProgressTicker::start(
        Duration::from_millis(100),
        move || report.update(progress.load(Ordering::Relaxed)),
        move || finished.finish(),
    )
}
