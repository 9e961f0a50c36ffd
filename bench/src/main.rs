//! `paceline-bench`: runs benchmarks and writes their result files.
//!
//! ```text
//! cargo run --release -p paceline-bench -- <coach|replay|dataflow|all> [--quick] [--results-dir DIR]
//! ```
//! Each benchmark writes `bench/results/<date>-<host>-<bench>.{md,json}` with the command,
//! the machine and every figure (medians of several runs with min and max).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use paceline_bench::machine::Machine;
use paceline_bench::stats::Spread;
use paceline_bench::{coach, dataflow, replay};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paceline-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    quick: bool,
    results_dir: PathBuf,
    command: String,
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bench = None;
    let mut quick = false;
    let mut results_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results"));
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--results-dir" => {
                results_dir = PathBuf::from(it.next().context("--results-dir needs a folder")?)
            }
            "-h" | "--help" => {
                println!(
                    "usage: paceline-bench <coach|replay|dataflow|all> [--quick] [--results-dir DIR]"
                );
                return Ok(());
            }
            name if bench.is_none() && !name.starts_with('-') => bench = Some(name.to_owned()),
            other => bail!("unexpected argument {other:?} (see --help)"),
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful figures");
    }
    let command = format!(
        "cargo run --release -p paceline-bench -- {}",
        args.join(" ")
    );
    let options = Options {
        quick,
        results_dir,
        command,
    };
    let machine = Machine::detect();
    match bench.as_deref() {
        Some("coach") => run_coach(&options, &machine),
        Some("replay") => run_replay(&options, &machine),
        Some("dataflow") => run_dataflow(&options, &machine),
        Some("all") => {
            run_coach(&options, &machine)?;
            run_replay(&options, &machine)?;
            run_dataflow(&options, &machine)
        }
        Some(other) => bail!("unknown benchmark {other:?}; known: coach, replay, dataflow, all"),
        None => bail!("name a benchmark: coach, replay, dataflow or all (see --help)"),
    }
}

fn write_results(
    options: &Options,
    machine: &Machine,
    bench: &str,
    title: &str,
    body: &str,
    json: serde_json::Value,
) -> anyhow::Result<()> {
    let md = format!(
        "# {title}\n\n- command: `{}`\n{}\n{body}",
        options.command,
        machine.markdown()
    );
    let json = serde_json::json!({"bench": bench, "command": options.command, "machine": machine.json(), "figures": json});
    std::fs::create_dir_all(&options.results_dir)
        .with_context(|| format!("creating {}", options.results_dir.display()))?;
    let stem = machine.result_stem(&options.results_dir, bench);
    let md_path = stem.with_extension("md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    let json_path = stem.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("results: {} (and .json)", md_path.display());
    Ok(())
}

fn run_coach(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let runs = if options.quick { 5 } else { 21 };
    eprintln!("coach: timing {runs} runs of each shape…");
    let figures = coach::run(runs)?;
    let mut body = format!("Runs: {runs} per shape. Target (SPEC §9): ≤ 1 µs per sample.\n\n");
    body.push_str("| shape | samples per run | outputs per run | ns/sample median | min | max | samples/s/core (median) |\n|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for f in &figures {
        let [median, min, max] = f.ns_per_sample;
        body.push_str(&format!(
            "| {} | {} | {} | {median:.0} | {min:.0} | {max:.0} | {:.2} M |\n",
            f.shape,
            f.samples,
            f.outputs,
            1e3 / median
        ));
        println!(
            "{:45} {median:8.0} ns/sample (min {min:.0}, max {max:.0})",
            f.shape
        );
        rows.push(serde_json::json!({"shape": f.shape, "samples": f.samples, "outputs": f.outputs, "ns_per_sample": {"median": median, "min": min, "max": max}}));
    }
    write_results(
        options,
        machine,
        "coach",
        "Coach per-sample cost",
        &body,
        serde_json::json!({"runs": runs, "shapes": rows}),
    )
}

fn shared_fit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fit")
        .join(name)
}

fn run_replay(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let runs = if options.quick { 3 } else { 9 };
    let version = replay::ensure_fitdecode()?;
    let files = [
        shared_fit("garmin-edge-500-activity.fit"),
        shared_fit("Edge810-Vector-2013-08-16-15-35-10.fit"),
        shared_fit("developer-types-sample.fit"),
    ];
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    eprintln!("replay: {runs} runs per file, Paceline and fitdecode {version}…");
    let figures = replay::run(&paths, runs)?;
    let mut body = format!(
        "Paceline: decode (fitparser via `paceline_engine::activity`) + coach (`CoachPool`, the VO2 plan), from bytes in memory. \
         fitdecode {version}: decode only (`FitReader` over every frame), from bytes in memory, timed inside Python. \
         Same machine, same run, {runs} runs each. Target (SPEC §9): ≥ 100× faster than fitdecode's decode alone.\n\n"
    );
    body.push_str("| file | bytes | samples | Paceline decode+coach, ms (median, min–max) | of which decode, ms | samples/s | fitdecode decode, ms (median, min–max) | ratio |\n|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for f in &figures {
        let ms = |s: Spread| {
            format!(
                "{:.2} ({:.2}–{:.2})",
                s.median * 1e3,
                s.min * 1e3,
                s.max * 1e3
            )
        };
        body.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} M | {} | **{:.0}×** |\n",
            f.file,
            f.bytes,
            f.samples,
            ms(f.paceline_s),
            f.decode_s.median * 1e3,
            f.samples as f64 / f.paceline_s.median / 1e6,
            ms(f.fitdecode_s),
            f.ratio()
        ));
        println!(
            "{:45} {:.0}× faster than fitdecode ({:.2} M samples/s)",
            f.file,
            f.ratio(),
            f.samples as f64 / f.paceline_s.median / 1e6
        );
        rows.push(serde_json::json!({
            "file": f.file, "bytes": f.bytes, "samples": f.samples,
            "paceline_s": f.paceline_s.json(), "decode_s": f.decode_s.json(), "fitdecode_s": f.fitdecode_s.json(), "ratio": f.ratio(),
        }));
    }
    write_results(
        options,
        machine,
        "replay",
        "Replay throughput vs fitdecode",
        &body,
        serde_json::json!({"runs": runs, "fitdecode": version, "files": rows}),
    )
}

fn run_dataflow(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let (sessions, seconds, runs) = if options.quick {
        (2_000, 20, 1)
    } else {
        (10_000, 60, 3)
    };
    let mut body = format!(
        "{sessions} concurrent sessions × {seconds} s of riding (HR 1 Hz + power 4 Hz), interleaved, pushed through `LiveEngine`'s bounded queue by one producer thread; \
         timed from the first record to the last summary. {runs} runs per worker count (median, min, max).\n\n"
    );
    body.push_str(
        "| workers | samples | samples/s (median) | min | max |\n|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    for workers in [1, 2] {
        let mut rates = Vec::new();
        let mut samples = 0;
        for _ in 0..runs {
            eprintln!("dataflow: {workers} worker(s), {sessions} sessions…");
            let f = dataflow::run(workers, sessions, seconds)?;
            samples = f.samples;
            rates.push(f.samples_per_s());
        }
        let s = Spread::of(rates);
        body.push_str(&format!(
            "| {workers} | {samples} | {:.0} | {:.0} | {:.0} |\n",
            s.median, s.min, s.max
        ));
        println!(
            "dataflow, {workers} worker(s): {:.0} samples/s (min {:.0}, max {:.0})",
            s.median, s.min, s.max
        );
        rows.push(
            serde_json::json!({"workers": workers, "samples": samples, "samples_per_s": s.json()}),
        );
    }
    write_results(
        options,
        machine,
        "dataflow",
        "Dataflow throughput, concurrent sessions",
        &body,
        serde_json::json!({"sessions": sessions, "seconds": seconds, "runs": runs, "workers": rows}),
    )
}
