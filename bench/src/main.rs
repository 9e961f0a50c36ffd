//! `paceline-bench`: runs a benchmark and writes its result files.
//!
//! ```text
//! cargo run --release -p paceline-bench -- coach [--quick] [--results-dir bench/results]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use paceline_bench::coach;
use paceline_bench::machine::Machine;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paceline-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
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
                results_dir = PathBuf::from(it.next().context("--results-dir needs a folder")?);
            }
            "-h" | "--help" => {
                println!("usage: paceline-bench coach [--quick] [--results-dir DIR]");
                return Ok(());
            }
            name if bench.is_none() && !name.starts_with('-') => bench = Some(name.to_owned()),
            other => bail!("unexpected argument {other:?} (see --help)"),
        }
    }
    let command = format!(
        "cargo run --release -p paceline-bench -- {}",
        args.join(" ")
    );
    match bench.as_deref() {
        Some("coach") => run_coach(quick, &results_dir, &command),
        Some(other) => bail!("unknown benchmark {other:?}; known: coach"),
        None => bail!("name a benchmark: coach (see --help)"),
    }
}

fn run_coach(quick: bool, results_dir: &std::path::Path, command: &str) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful figures");
    }
    let runs = if quick { 5 } else { 21 };
    eprintln!("coach: timing {runs} runs of each shape…");
    let figures = coach::run(runs)?;
    let machine = Machine::detect();
    let mut md = format!(
        "# Coach per-sample cost\n\n- command: `{command}`\n{}",
        machine.markdown()
    );
    md.push_str(&format!(
        "- runs: {runs} per shape (median, min, max)\n- target (SPEC §9): ≤ 1 µs per sample\n\n"
    ));
    md.push_str("| shape | samples per run | outputs per run | ns/sample median | min | max | samples/s/core (median) |\n|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for f in &figures {
        let [median, min, max] = f.ns_per_sample;
        md.push_str(&format!(
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
        rows.push(serde_json::json!({
            "shape": f.shape, "samples": f.samples, "outputs": f.outputs,
            "ns_per_sample": {"median": median, "min": min, "max": max},
        }));
    }
    let json = serde_json::json!({
        "bench": "coach", "command": command, "machine": machine.json(), "runs": runs, "figures": rows,
    });
    std::fs::create_dir_all(results_dir)
        .with_context(|| format!("creating {}", results_dir.display()))?;
    let stem = machine.result_stem(results_dir, "coach");
    let md_path = stem.with_extension("md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    let json_path = stem.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("results: {} and .json", md_path.display());
    Ok(())
}
