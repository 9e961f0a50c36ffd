//! `paceline-bench`: runs benchmarks and writes their result files.
//!
//! ```text
//! cargo run --release -p paceline-bench -- <coach|replay|dataflow|gateway|edge|all> [--quick] [--results-dir DIR]
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
    if args.first().map(String::as_str) == Some(paceline_bench::edge::AGENT_PROCESS) {
        // The edge bench's child role: one agent process, measured from outside.
        return paceline_bench::edge::agent_process(&args[1..]);
    }
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
                    "usage: paceline-bench <coach|replay|dataflow|gateway|edge|all> [--quick] [--results-dir DIR]"
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
        Some("gateway") => run_gateway(&options, &machine),
        Some("edge") => run_edge(&options, &machine),
        Some("all") => {
            run_coach(&options, &machine)?;
            run_replay(&options, &machine)?;
            run_dataflow(&options, &machine)
        }
        Some(other) => {
            bail!("unknown benchmark {other:?}; known: coach, replay, dataflow, gateway, edge, all")
        }
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

fn run_gateway(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let (counts, warmup_s, measure_s): (&[usize], u64, u64) = if options.quick {
        (&[200, 20], 10, 20)
    } else {
        (&[100, 2000], 20, 90)
    };
    if let Ok(filter) = std::env::var("PACELINE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut figures = Vec::new();
    for &athletes in counts {
        eprintln!("gateway: {athletes} athletes, {warmup_s} s warm-up, {measure_s} s measured…");
        figures
            .push(runtime.block_on(paceline_bench::gateway::run(athletes, warmup_s, measure_s))?);
    }
    let mut body = format!(
        "One process: the gateway (`paceline_gateway::server::Gateway`: rumqttd, engine, SQLite writer, acks) and N bench devices over loopback, each its own MQTT connection (rumqttc, QoS 1) with its own paired credentials, sending sealed frames: heart rate at 1 Hz and power at 4 Hz, one sample per frame (5 frames/s per athlete). Every 16 s, staggered, each device sends the athlete's \"600 minutes left\" command, which its coach answers at once with a `time_budget_compressed` cue. Latency = cue opened at the device − command frame handed to the device's MQTT client (hdrhistogram, µs); the sensor frames are the load. {warmup_s} s warm-up, {measure_s} s measured. Target (SPEC §9) at 2,000 athletes: p50 ≤ 1 ms, p99 ≤ 5 ms, p99.9 ≤ 20 ms, 0 lost. The bench devices keep no spool, so a frame still unacknowledged 20 s after its device's ride ended is counted (an edge agent would keep and resend it); \"commands unanswered\" are measured commands whose cue never arrived.\n\n"
    );
    body.push_str("| athletes | frames sent (measured) | cues measured | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | commands unanswered | frames unacked 20 s after the ride | frames stored | gateway-internal mean, ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for f in &figures {
        body.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            f.athletes,
            f.frames_sent,
            f.cues,
            f.p50_us,
            f.p90_us,
            f.p99_us,
            f.p999_us,
            f.max_us,
            f.unanswered,
            f.lost,
            f.stored,
            f.gateway_side_ms
                .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.2}"))
        ));
        rows.push(serde_json::json!({
            "athletes": f.athletes, "measured_s": f.measured_s, "frames_sent": f.frames_sent,
            "cues": f.cues, "p50_us": f.p50_us, "p90_us": f.p90_us, "p99_us": f.p99_us,
            "p999_us": f.p999_us, "max_us": f.max_us, "unanswered": f.unanswered, "lost": f.lost,
            "frames_stored": f.stored, "gateway_internal_mean_ms": f.gateway_side_ms,
        }));
        println!(
            "{} athletes: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs over {} cues; unanswered {}, unacked {}; gateway side mean {:?} ms",
            f.athletes,
            f.p50_us,
            f.p99_us,
            f.p999_us,
            f.max_us,
            f.cues,
            f.unanswered,
            f.lost,
            f.gateway_side_ms
        );
    }
    write_results(
        options,
        machine,
        "gateway",
        "Frame → cue latency at the device",
        &body,
        serde_json::json!(rows),
    )
}

fn run_edge(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let (runs, warmup_s, measure_s) = if options.quick {
        (1, 3, 10)
    } else {
        (3, 5, 30)
    };
    let cases: [(&str, usize, bool); 2] = [
        (
            "1 athlete, 4 sensors (HR 1 Hz; power, CSC, trainer 4 Hz each)",
            1,
            true,
        ),
        ("200 athletes, HR 1 Hz + power 4 Hz each", 200, false),
    ];
    let mut body = format!(
        "One `paceline-edge` agent in its own process (this binary re-run as `{}`: `paceline_edge::agent::Agent` with simulated athletes in real time, batch_ms 0, one MQTT connection per athlete, spool on tmp), against rumqttd and a minimal acker (opens every frame, acks it) in the parent. CPU = the agent process's CPU time over the measured window (its threads' run time from `/proc/<pid>/task/*/schedstat`, ns; the 10 ms-tick user + system time of `/proc/<pid>/stat` is in the JSON as a cross-check); peak memory = its `VmHWM`. {warmup_s} s warm-up, {measure_s} s measured, {runs} run(s) per case (median, min, max).\n\n",
        paceline_bench::edge::AGENT_PROCESS
    );
    body.push_str("| case | frames/s acked | samples/s | CPU, % of one core (median, min–max) | CPU µs per sample | peak RSS MiB (median, min–max) |\n|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for (case, athletes, all_sensors) in cases {
        let mut figures = Vec::new();
        for run in 0..runs {
            eprintln!("edge: {case}, run {}…", run + 1);
            figures.push(paceline_bench::edge::run_case(
                if athletes == 1 {
                    "four-sensors"
                } else {
                    "hub-200"
                },
                athletes,
                all_sensors,
                warmup_s,
                measure_s,
            )?);
        }
        let cpu = Spread::of(figures.iter().map(|f| f.cpu_pct()).collect());
        let per_sample = Spread::of(figures.iter().map(|f| f.cpu_us_per_sample()).collect());
        let peak = Spread::of(
            figures
                .iter()
                .map(|f| f.peak_rss_kib as f64 / 1024.0)
                .collect(),
        );
        let frames_per_s = Spread::of(
            figures
                .iter()
                .map(|f| f.frames as f64 / f.measured_s)
                .collect(),
        );
        let samples_per_s = Spread::of(
            figures
                .iter()
                .map(|f| f.samples as f64 / f.measured_s)
                .collect(),
        );
        body.push_str(&format!(
            "| {case} | {:.0} | {:.0} | {:.1} ({:.1}–{:.1}) | {:.1} | {:.1} ({:.1}–{:.1}) |\n",
            frames_per_s.median,
            samples_per_s.median,
            cpu.median,
            cpu.min,
            cpu.max,
            per_sample.median,
            peak.median,
            peak.min,
            peak.max
        ));
        println!(
            "{case}: CPU {:.1} % of a core, {:.1} µs/sample, peak RSS {:.1} MiB, {:.0} frames/s",
            cpu.median, per_sample.median, peak.median, frames_per_s.median
        );
        rows.push(serde_json::json!({
            "case": case, "athletes": athletes, "sensors_per_athlete": figures[0].sensors,
            "frames_per_s": frames_per_s.json(), "samples_per_s": samples_per_s.json(),
            "cpu_pct_of_one_core": cpu.json(), "cpu_us_per_sample": per_sample.json(),
            "peak_rss_mib": peak.json(),
            "runs": figures.iter().map(|f| serde_json::json!({"measured_s": f.measured_s, "cpu_s": f.cpu_s, "cpu_ticks_s": f.cpu_ticks_s, "peak_rss_kib": f.peak_rss_kib, "rss_kib": f.rss_kib, "frames": f.frames, "samples": f.samples})).collect::<Vec<_>>(),
        }));
    }
    write_results(
        options,
        machine,
        "edge",
        "Edge agent CPU time and peak memory",
        &body,
        serde_json::json!({"warmup_s": warmup_s, "measure_s": measure_s, "cases": rows}),
    )
}
