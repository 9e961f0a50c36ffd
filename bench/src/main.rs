//! `paceline-bench`: runs benchmarks and writes their result files.
//!
//! ```text
//! cargo build --release -p paceline-gateway   # the `paceline` server the e2e bench starts
//! cargo run --release -p paceline-bench -- <bench|all> [--quick] [--results-dir DIR]
//! ```
//! One bench (`coach`, `replay`, `import`, `planning`, `chat`, `dataflow`, `edge`, `e2e`, `e2e-quic`,
//! `brokers`, `gateway`) writes `bench/results/<date>-<host>-<bench>.{md,json}`; `e2e --sweep`
//! (`e2e-sweep`) sweeps 100 → 10,000 athletes over MQTT and then QUIC and writes one
//! `bench/results/e2e-sweep/<date>-<host>-<transport>-<athletes>.{md,json}` per point; `all` runs every one
//! but `gateway` (superseded by `e2e`) and writes one `bench/results/<date>-<host>.{md,json}`
//! with an SVG plot of latency against athletes next to it. Every file has the command,
//! the machine, the versions and every figure (medians of several runs with min and max).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use paceline_bench::e2e::{self, RunFigures, Transport};
use paceline_bench::machine::Machine;
use paceline_bench::plot::{self, Series};
use paceline_bench::stats::Spread;
use paceline_bench::{brokers, coach, dataflow, import, planning, replay};

/// Open files the e2e sweep's largest run needs, in the server process, with headroom.
const OPEN_FILES_WANTED: u64 = 65_536;

const USAGE: &str = "usage: paceline-bench <coach|replay|import|planning|chat|dataflow|edge|e2e|e2e-quic|e2e-sweep|brokers|gateway|all> [--quick] [--sweep] [--results-dir DIR]";

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

/// One benchmark's part of a result file.
struct Section {
    bench: &'static str,
    title: String,
    body: String,
    json: serde_json::Value,
}

fn run() -> anyhow::Result<()> {
    // Before anything pins this process to one core.
    paceline_bench::machine::cores_at_start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // The child roles: measured from outside.
        Some(paceline_bench::edge::AGENT_PROCESS) => {
            return paceline_bench::edge::agent_process(&args[1..]);
        }
        Some(brokers::RUMQTTD_PROCESS) => return brokers::rumqttd_process(&args[1..]),
        Some(brokers::GENERATOR_PROCESS) => return brokers::generator_process(&args[1..]),
        _ => {}
    }
    // Children inherit it: 10,000 MQTT devices are 10,000 sockets here and about 30,000
    // descriptors in the server (its front door relays each device over loopback).
    let open_files = paceline_gateway::server::raise_open_files_limit(OPEN_FILES_WANTED);
    if open_files.is_some_and(|limit| limit < OPEN_FILES_WANTED) {
        eprintln!(
            "paceline-bench: the open-file limit is {} (wanted {OPEN_FILES_WANTED}); the largest e2e runs may not connect every device",
            open_files.unwrap_or_default()
        );
    }
    let mut bench = None;
    let mut quick = false;
    let mut sweep = false;
    let mut results_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results"));
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--sweep" => sweep = true,
            "--results-dir" => {
                results_dir = PathBuf::from(it.next().context("--results-dir needs a folder")?)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            name if bench.is_none() && !name.starts_with('-') => bench = Some(name.to_owned()),
            other => bail!("unexpected argument {other:?} (see --help)"),
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful figures");
    }
    if let Ok(filter) = std::env::var("PACELINE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let athletes_env: String = [
        "PACELINE_BENCH_ATHLETES",
        "PACELINE_BENCH_WARMUP_S",
        "PACELINE_BENCH_MEASURE_S",
        "PACELINE_BENCH_PIN",
        "PACELINE_BENCH_TRANSPORTS",
        "PACELINE_BENCH_SHARD_DEVICES",
        "PACELINE_BENCH_QUIC_DATAGRAMS",
        "PACELINE_BENCH_GENERATORS",
        // Server settings the spawned `paceline serve` inherits.
        "PACELINE_GROUP_COMMIT_MS",
    ]
    .iter()
    .filter_map(|name| {
        std::env::var(name)
            .ok()
            .map(|value| format!("{name}={value} "))
    })
    .collect();
    if sweep {
        match bench.as_deref() {
            Some("e2e") | Some("e2e-quic") => bench = Some("e2e-sweep".to_owned()),
            _ => bail!("--sweep goes with e2e; {USAGE}"),
        }
    }
    let aligned_env = if paceline_bench::aligned_ticks() {
        "PACELINE_BENCH_ALIGNED_TICKS=1 "
    } else {
        ""
    };
    let command = format!(
        "{athletes_env}{aligned_env}cargo run --release -p paceline-bench -- {}",
        args.join(" ")
    );
    let options = Options {
        quick,
        results_dir,
        command,
    };
    let machine = Machine::detect();
    let section = match bench.as_deref() {
        Some("coach") => run_coach(&options)?,
        Some("replay") => run_replay(&options)?,
        Some("import") => run_import(&options)?,
        Some("planning") => run_planning(&options)?,
        Some("chat") => run_chat(&options)?,
        Some("dataflow") => run_dataflow(&options)?,
        Some("gateway") => run_gateway(&options)?,
        Some("edge") => run_edge(&options)?,
        Some("e2e") => run_e2e(&options, Transport::Mqtt)?.0,
        Some("e2e-quic") => run_e2e(&options, Transport::Quic)?.0,
        Some("e2e-sweep") => return run_e2e_sweep(&options),
        Some("brokers") => run_brokers(&options)?,
        Some("all") => return run_all(&options, &machine),
        Some(other) => bail!("unknown benchmark {other:?}; {USAGE}"),
        None => bail!("name a benchmark; {USAGE}"),
    };
    write_section(&options, &machine, &section)
}

fn write_files(stem: &Path, md: &str, json: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let md_path = stem.with_extension("md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    let json_path = stem.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(json)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("results: {} (and .json)", md_path.display());
    Ok(())
}

fn write_section(options: &Options, machine: &Machine, section: &Section) -> anyhow::Result<()> {
    let md = format!(
        "# {}\n\n- command: `{}`\n{}- versions: {}\n\n{}",
        section.title,
        options.command,
        machine.markdown(),
        versions_line(),
        section.body
    );
    let json = serde_json::json!({"bench": section.bench, "command": options.command, "machine": machine.json(), "versions": versions_json(), "figures": section.json});
    write_files(
        &machine.result_stem(&options.results_dir, section.bench),
        &md,
        &json,
    )
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            },
        )
}

fn versions_json() -> serde_json::Value {
    serde_json::json!({
        "paceline": env!("CARGO_PKG_VERSION"),
        "git_commit": command_line("git", &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"]),
        "rumqttd": "0.20",
        "rumqttc": "0.25",
        "mosquitto": brokers::mosquitto_version().unwrap_or_else(|_| "not installed".to_owned()),
        "python": command_line("python3", &["--version"]),
    })
}

fn versions_line() -> String {
    let v = versions_json();
    let text = |k: &str| v[k].as_str().unwrap_or("unknown").to_owned();
    format!(
        "paceline {} (commit {}), rumqttd {}, rumqttc {}, {}, {}",
        text("paceline"),
        text("git_commit"),
        text("rumqttd"),
        text("rumqttc"),
        text("mosquitto"),
        text("python")
    )
}

/// The headline figures of an e2e sweep.
struct Sweep {
    transport: Transport,
    /// (athletes, runs) in order.
    points: Vec<(usize, Vec<RunFigures>)>,
}

impl Sweep {
    fn median(runs: &[RunFigures], figure: impl Fn(&RunFigures) -> f64) -> Spread {
        Spread::of(runs.iter().map(figure).collect())
    }

    /// The largest N whose median p99 is at most `limit_us` with nothing fallen over (and
    /// every smaller N passing too).
    fn largest_within(&self, limit_us: u64) -> Option<usize> {
        let mut best = None;
        for (athletes, runs) in &self.points {
            let p99 = Self::median(runs, |r| r.p99_us as f64).median;
            let ok = runs.iter().all(|r| r.fell_over.is_none()) && p99 <= limit_us as f64;
            if !ok {
                break;
            }
            best = Some(*athletes);
        }
        best
    }

    fn series(&self) -> Vec<Series> {
        let name = match self.transport {
            Transport::Mqtt => "MQTT",
            Transport::Quic => "QUIC",
        };
        let line = |label: &str, figure: fn(&RunFigures) -> u64| Series {
            label: format!("{name} {label}"),
            points: self
                .points
                .iter()
                .filter(|(_, runs)| runs.iter().all(|r| r.cues > 0))
                .map(|(n, runs)| {
                    (
                        *n as f64,
                        Self::median(runs, |r| figure(r) as f64).median / 1000.0,
                    )
                })
                .collect(),
        };
        vec![
            line("p50", |r| r.p50_us),
            line("p99", |r| r.p99_us),
            line("p99.9", |r| r.p999_us),
        ]
    }
}

fn run_e2e(options: &Options, transport: Transport) -> anyhow::Result<(Section, Sweep)> {
    // (athletes, runs): several runs where a run is short enough to repeat.
    let (counts, warmup_s, measure_s): (&[(usize, usize)], u64, u64) =
        match (options.quick, transport) {
            (true, Transport::Mqtt) => (&[(100, 1), (500, 1)], 2, 6),
            (true, Transport::Quic) => (&[(100, 1)], 2, 6),
            // The warm-up covers the start, when every device connects and opens its
            // session at once.
            (false, Transport::Mqtt) => (
                &[(100, 3), (1000, 1), (2000, 3), (5000, 1), (10_000, 1)],
                12,
                20,
            ),
            (false, Transport::Quic) => (
                &[(100, 1), (1000, 1), (2000, 1), (5000, 1), (10_000, 1)],
                12,
                20,
            ),
        };
    // `PACELINE_BENCH_ATHLETES=1000,2000` sweeps those N instead, one run each (for
    // profiling one load).
    let chosen: Vec<(usize, usize)> = std::env::var("PACELINE_BENCH_ATHLETES")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .map(|n| (n, 1))
                .collect()
        })
        .unwrap_or_default();
    let counts = if chosen.is_empty() {
        counts
    } else {
        &chosen[..]
    };
    let mut sweep = Sweep {
        transport,
        points: Vec::new(),
    };
    'sweep: for &(athletes, runs) in counts {
        let mut figures = Vec::new();
        for run in 0..runs {
            eprintln!(
                "e2e {}: {athletes} athletes, run {} of {runs} ({warmup_s} s warm-up, {measure_s} s measured)…",
                transport.name(),
                run + 1
            );
            let f = e2e::run(transport, athletes, warmup_s, measure_s)
                .with_context(|| format!("e2e {} with {athletes} athletes", transport.name()))?;
            println!(
                "e2e {} {athletes}: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; {} cues of {} commands; sent {}, stored {}, lost {}; server CPU {:.0} %, RSS {:.0} MiB{}",
                transport.name(),
                f.p50_us,
                f.p99_us,
                f.p999_us,
                f.max_us,
                f.cues,
                f.commands,
                f.frames_sent,
                f.frames_stored,
                f.frames_lost(),
                f.server_cpu_pct,
                f.server_rss_mib,
                f.fell_over
                    .as_ref()
                    .map_or_else(String::new, |w| format!("; FELL OVER: {w}"))
            );
            let stop = f.fell_over.is_some();
            figures.push(f);
            if stop {
                sweep.points.push((athletes, figures));
                break 'sweep;
            }
        }
        let p99 = Sweep::median(&figures, |r| r.p99_us as f64).median;
        sweep.points.push((athletes, figures));
        if p99 > 1_000_000.0 {
            break;
        }
    }
    let name = transport.name().to_uppercase();
    let ticks = ticks_description();
    let datagrams = match transport {
        Transport::Quic if std::env::var("PACELINE_BENCH_QUIC_DATAGRAMS").as_deref() == Ok("1") => {
            " `PACELINE_BENCH_QUIC_DATAGRAMS=1`: once a device has heard an ack, each frame goes as a QUIC datagram, as an edge agent with `quic_datagrams` on sends them (a bench device does not resend a lost one)."
        }
        Transport::Quic => " Every frame on the device's stream.",
        Transport::Mqtt => "",
    };
    let mut body = format!(
        "{name}.{datagrams} The server: `target/release/paceline serve` in its own process (data folder in tmp, ephemeral loopback ports); the load generator: this process. \
         See `bench/src/e2e/` for the method: each athlete is its own {name} connection with its own device credentials sending sealed frames, HR 1 Hz + power 4 Hz (5 frames/s), {ticks}; every 20 s, staggered, a \"600 minutes left\" command frame whose `time_budget_compressed` cue is timed from hand-off to arrival at the device (hdrhistogram). \
         {warmup_s} s warm-up, {measure_s} s measured per run; where there are several runs the figures are medians (min–max). Sent = every frame of the ride; stored = rows after the server's clean shutdown; lost = sent − stored. \
         The server's own figures come from its `/metrics` at the end of the ride (frame in → cue out is from the session's latest frame reaching the gateway to the cue leaving it) and the uplink leg from the stored frames' `received_ms − sent_ms` (whole ride, ms resolution). Server CPU from `/proc/<pid>/stat` over the measured window (100 % = one core); RSS at its end, peak = VmHWM. The sweep stops at the first N that falls over (a device cannot connect, the server exits, or > 5 % of commands unanswered) or whose p99 exceeds 1 s.\n\n"
    );
    body.push_str("| athletes | runs | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | cues / commands | frames sent | stored | lost | acked | server CPU % | server RSS MiB (peak) | load generator CPU % | server: frame in → cue out, mean ms | server: commit mean ms, ops/commit | uplink leg ms p50 / p99 | frame → ack ms p50 / p99 / p99.9 (samples) | server CPU µs per frame (s per 1,000 frames) | load generator CPU µs per frame | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for (athletes, runs) in &sweep.points {
        let ms = |figure: fn(&RunFigures) -> u64| {
            let s = Sweep::median(runs, |r| figure(r) as f64 / 1000.0);
            if runs.len() > 1 {
                format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
            } else {
                format!("{:.2}", s.median)
            }
        };
        let sum = |figure: fn(&RunFigures) -> u64| runs.iter().map(figure).sum::<u64>();
        let cpu = Sweep::median(runs, |r| r.server_cpu_pct);
        let rss = Sweep::median(runs, |r| r.server_rss_mib);
        let peak = Sweep::median(runs, |r| r.server_peak_rss_mib);
        let loadgen = Sweep::median(runs, |r| r.loadgen_cpu_pct);
        let notes: Vec<String> = runs.iter().filter_map(|r| r.fell_over.clone()).collect();
        let failed: usize = runs.iter().map(|r| r.device_failures.0).sum();
        body.push_str(&format!(
            "| {athletes} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {:.0} | {:.0} ({:.0}) | {:.0} | {:.2} | {:.2}, {:.0} | {} / {} | {:.2} / {:.2} / {:.2} ({}) | {:.1} ({:.4}) | {:.1} | {} |\n",
            runs.len(),
            ms(|r| r.p50_us),
            ms(|r| r.p90_us),
            ms(|r| r.p99_us),
            ms(|r| r.p999_us),
            ms(|r| r.max_us),
            sum(|r| r.cues),
            sum(|r| r.commands),
            sum(|r| r.frames_sent),
            sum(|r| r.frames_stored),
            sum(|r| r.frames_lost()),
            sum(|r| r.frames_acked),
            cpu.median,
            rss.median,
            peak.median,
            loadgen.median,
            Sweep::median(runs, |r| r.server_internal.cue_mean_ms).median,
            Sweep::median(runs, |r| r.server_internal.commit_mean_ms).median,
            Sweep::median(runs, |r| r.server_internal.ops_per_commit).median,
            Sweep::median(runs, |r| r.server_internal.uplink_ms[0] as f64).median,
            Sweep::median(runs, |r| r.server_internal.uplink_ms[1] as f64).median,
            Sweep::median(runs, |r| r.ack_us.p50 as f64).median / 1000.0,
            Sweep::median(runs, |r| r.ack_us.p99 as f64).median / 1000.0,
            Sweep::median(runs, |r| r.ack_us.p999 as f64).median / 1000.0,
            runs.iter().map(|r| r.ack_us.samples).sum::<u64>(),
            Sweep::median(runs, RunFigures::server_us_per_frame).median,
            Sweep::median(runs, RunFigures::server_cpu_s_per_1000_frames).median,
            Sweep::median(runs, RunFigures::loadgen_us_per_frame).median,
            if !notes.is_empty() {
                format!("fell over: {}", notes.join("; "))
            } else if failed > 0 {
                format!("{failed} devices failed")
            } else {
                "–".to_owned()
            }
        ));
        rows.push(serde_json::json!({"athletes": athletes, "runs": runs.iter().map(RunFigures::json).collect::<Vec<_>>()}));
    }
    let within = |limit_us| {
        sweep
            .largest_within(limit_us)
            .map_or_else(|| "none measured".to_owned(), |n| n.to_string())
    };
    body.push_str(&format!(
        "\nLargest N measured with p99 ≤ 5 ms: **{}**; with p99 ≤ 100 ms: **{}** (of the N swept: {}).\n",
        within(5_000),
        within(100_000),
        counts
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let json = serde_json::json!({
        "transport": transport.name(), "warmup_s": warmup_s, "measure_s": measure_s,
        "largest_n_p99_within_5ms": sweep.largest_within(5_000),
        "largest_n_p99_within_100ms": sweep.largest_within(100_000),
        "sweep": rows,
    });
    Ok((
        Section {
            bench: if transport == Transport::Mqtt {
                "e2e"
            } else {
                "e2e-quic"
            },
            title: format!("End-to-end latency and capacity, {name}, `paceline serve` process"),
            body,
            json,
        },
        sweep,
    ))
}

/// The sweep's default points: athletes, 100 → 10,000.
const SWEEP_ATHLETES: [usize; 6] = [100, 500, 1000, 2000, 5000, 10_000];

/// `e2e --sweep`: MQTT then QUIC, one run per point, one result file per point (see the
/// module docs). `PACELINE_BENCH_ATHLETES` picks the points, `PACELINE_BENCH_WARMUP_S` and
/// `PACELINE_BENCH_MEASURE_S` the run's length (a short smoke run: 5 and 15). A transport's
/// sweep stops at its first point that falls over.
fn run_e2e_sweep(options: &Options) -> anyhow::Result<()> {
    let seconds = |name: &str, default: u64| -> anyhow::Result<u64> {
        match std::env::var(name) {
            Ok(text) => text
                .trim()
                .parse()
                .with_context(|| format!("{name}={text} is not a number of seconds")),
            Err(_) => Ok(default),
        }
    };
    let warmup_s = seconds("PACELINE_BENCH_WARMUP_S", 12)?;
    let measure_s = seconds("PACELINE_BENCH_MEASURE_S", 20)?.max(1);
    let chosen: Vec<usize> = std::env::var("PACELINE_BENCH_ATHLETES")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let points = if chosen.is_empty() {
        SWEEP_ATHLETES.to_vec()
    } else {
        chosen
    };
    e2e::server_binary()?;
    // `PACELINE_BENCH_TRANSPORTS=mqtt` (or `quic`) sweeps one transport only.
    let transports: Vec<Transport> = match std::env::var("PACELINE_BENCH_TRANSPORTS") {
        Ok(list) => [Transport::Mqtt, Transport::Quic]
            .into_iter()
            .filter(|t| list.split(',').any(|name| name.trim() == t.name()))
            .collect(),
        Err(_) => vec![Transport::Mqtt, Transport::Quic],
    };
    for transport in transports {
        for &athletes in &points {
            // Read per point: the load average is the one this point started under.
            let machine = Machine::detect();
            eprintln!(
                "e2e sweep {}: {athletes} athletes ({warmup_s} s warm-up, {measure_s} s measured)…",
                transport.name()
            );
            let f = e2e::run(transport, athletes, warmup_s, measure_s)
                .with_context(|| format!("e2e {} with {athletes} athletes", transport.name()))?;
            println!(
                "e2e {} {athletes}: frame → cue p50 {} µs, p99 {} µs, p99.9 {} µs ({} samples); frame → ack p50 {} µs, p99 {} µs, p99.9 {} µs ({} samples); lost {}; server {:.1} µs CPU/frame, load generator {:.1} µs CPU/frame{}",
                transport.name(),
                f.p50_us,
                f.p99_us,
                f.p999_us,
                f.cues,
                f.ack_us.p50,
                f.ack_us.p99,
                f.ack_us.p999,
                f.ack_us.samples,
                f.frames_lost(),
                f.server_us_per_frame(),
                f.loadgen_us_per_frame(),
                f.fell_over
                    .as_ref()
                    .map_or_else(String::new, |w| format!("; FELL OVER: {w}"))
            );
            write_sweep_point(options, &machine, &f, warmup_s, measure_s)?;
            if f.fell_over.is_some() {
                break;
            }
        }
    }
    Ok(())
}

/// One sweep point's result file.
fn write_sweep_point(
    options: &Options,
    machine: &Machine,
    f: &RunFigures,
    warmup_s: u64,
    measure_s: u64,
) -> anyhow::Result<()> {
    let ms = |us: u64| us as f64 / 1000.0;
    let md = format!(
        "# e2e sweep point: {athletes} athletes over {transport}\n\n- command: `{command}`\n{machine}- versions: {versions}\n- run: {warmup_s} s warm-up, {measure_s} s measured; {placement}\n\n\
         | leg | samples | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|\n\
         | frame → cue | {cues} | {c50:.2} | {c99:.2} | {c999:.2} | {cmax:.2} |\n\
         | frame → ack | {acks} | {a50:.2} | {a99:.2} | {a999:.2} | {amax:.2} |\n\n\
         | frames sent (ride) | in the window | acked | stored | lost | server CPU s per 1,000 frames | server µs CPU per frame | server CPU % | load generator µs CPU per frame | load generator CPU % | notes |\n|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {sent} | {measured} | {acked} | {stored} | {lost} | {s1000:.4} | {sus:.1} | {spct:.0} | {gus:.1} | {gpct:.0} | {notes} |\n",
        athletes = f.athletes,
        transport = f.transport.name(),
        command = options.command,
        machine = machine.markdown(),
        versions = versions_line(),
        placement = f.placement,
        cues = f.cues,
        c50 = ms(f.p50_us),
        c99 = ms(f.p99_us),
        c999 = ms(f.p999_us),
        cmax = ms(f.max_us),
        acks = f.ack_us.samples,
        a50 = ms(f.ack_us.p50),
        a99 = ms(f.ack_us.p99),
        a999 = ms(f.ack_us.p999),
        amax = ms(f.ack_us.max),
        sent = f.frames_sent,
        measured = f.frames_measured,
        acked = f.frames_acked,
        stored = f.frames_stored,
        lost = f.frames_lost(),
        s1000 = f.server_cpu_s_per_1000_frames(),
        sus = f.server_us_per_frame(),
        spct = f.server_cpu_pct,
        gus = f.loadgen_us_per_frame(),
        gpct = f.loadgen_cpu_pct,
        notes = {
            let mut notes = Vec::new();
            if let Some(why) = &f.fell_over {
                notes.push(format!("fell over: {why}"));
            }
            if let (n @ 1.., first) = &f.device_failures {
                notes.push(format!(
                    "{n} devices failed (first: {})",
                    first.as_deref().unwrap_or("no reason recorded")
                ));
            }
            // Acked is the sum of each device's highest acked seq: with every acked frame
            // stored it is at most the frames stored, and the lost ones were never acked
            // (an edge agent sends them again; the bench devices do not).
            if f.frames_lost() > 0 && f.frames_acked <= f.frames_stored {
                notes.push("no acked frame is missing: the lost ones were never acked".to_owned());
            }
            if notes.is_empty() {
                "–".to_owned()
            } else {
                notes.join("; ")
            }
        },
    );
    let mut md = md;
    if !f.server_threads.per_frame.is_empty() {
        md.push_str(
            "\nWhere the server's CPU went in the window, by thread (`/proc/<pid>/task/*/schedstat` and `status`, \
             each thread's own difference, summed by name):\n\n\
             | thread | µs CPU per frame | context switches per frame |\n|---|---|---|\n",
        );
        for (name, us, switches) in &f.server_threads.per_frame {
            md.push_str(&format!("| {name} | {us:.1} | {switches:.2} |\n"));
        }
        let listed: f64 = f.server_threads.per_frame.iter().map(|(_, us, _)| us).sum();
        md.push_str(&format!(
            "\nThe rows add up to {listed:.1} µs of the server's {:.1} µs per frame; {} threads ended \
             in the window (what they cost in it is in the total, in no row).\n",
            f.server_us_per_frame(),
            f.server_threads.ended
        ));
    }
    let json = serde_json::json!({
        "bench": "e2e-sweep", "command": options.command, "machine": machine.json(),
        "versions": versions_json(), "warmup_s": warmup_s, "measure_s": measure_s,
        "figures": f.json(),
    });
    write_files(
        &machine.result_stem(
            &options.results_dir.join("e2e-sweep"),
            &format!("{}-{}", f.transport.name(), f.athletes),
        ),
        &md,
        &json,
    )
}

/// One figure of a broker run, as a number.
type BrokerFigure = fn(&brokers::BrokerRun) -> f64;

fn run_brokers(options: &Options) -> anyhow::Result<Section> {
    let (loads, runs) = if options.quick {
        (
            brokers::Loads {
                paced_publishers: 200,
                paced_s: 4,
                saturating_publishers: 20,
                saturated_s: 3,
            },
            1,
        )
    } else {
        (
            brokers::Loads {
                paced_publishers: 2000,
                paced_s: 20,
                saturating_publishers: 50,
                saturated_s: 10,
            },
            3,
        )
    };
    eprintln!("brokers: rumqttd vs mosquitto, {runs} run(s) each…");
    let [rumqttd, mosquitto] = brokers::run(loads, runs)?;
    let mut body = format!(
        "See `bench/src/brokers.rs` for the method. Each broker its own process on a loopback ephemeral port, started by the bench; the harness is the same for both: publishers and one subscriber on `pl/v1/+/+/up`, QoS 1 both ways (paced publishers: rumqttc in this process; saturating publishers: the lean client in {} generator process(es), `PACELINE_BENCH_GENERATORS`; the subscriber: the lean client in this process), the same payload (8-byte stamp + a sealed one-sample frame, {} bytes). rumqttd runs `paceline_gateway::broker::config` (the embedded broker's configuration without the device check at CONNECT); Mosquitto ({}) runs a generated config: `{}`. Neither has authentication, and each is reached over its own TCP listener (the gateway's front door is not in front of either). \
         Paced: {} publishers × 5 msg/s, 3 s warm-up, {} s measured, latency = subscriber receipt − publisher hand-off. Saturated: {} publishers publishing as fast as 100 in flight allows, 1 s warm-up, {} s measured, rate at the subscriber (delivered) and at the publishers (accepted: PUBACKs received; a broker that drops what its subscriber's queue cannot hold accepts far more than it delivers); the broker's, the generators' and the subscriber's CPU over the same window, and which side saturated. {runs} run(s) per broker, alternating which goes first; median (min–max). Ratio = rumqttd ÷ Mosquitto from the same run set (throughput: > 1 means rumqttd delivers more; latency: < 1 means rumqttd is faster).\n\n",
        brokers::generator_processes(),
        8 + brokers_frame_len(),
        mosquitto.version,
        brokers::describe_mosquitto_config(),
        loads.paced_publishers,
        loads.paced_s,
        loads.saturating_publishers,
        loads.saturated_s
    );
    body.push_str("| figure | rumqttd (embedded config) | mosquitto | ratio rumqttd ÷ mosquitto |\n|---|---|---|---|\n");
    let mut rows = Vec::new();
    let figures: [(&str, BrokerFigure); 12] = [
        ("saturated: messages/s delivered", |r| {
            r.saturated_msgs_per_s
        }),
        (
            "saturated: messages/s accepted (PUBACKed to the publishers)",
            |r| r.saturated_accepted_per_s,
        ),
        ("saturated: delivered ÷ accepted, %", |r| {
            r.saturated_msgs_per_s * 100.0 / r.saturated_accepted_per_s.max(1.0)
        }),
        ("saturated: p50 latency, ms", |r| {
            r.saturated_p50_us as f64 / 1000.0
        }),
        ("saturated: p99 latency, ms", |r| {
            r.saturated_p99_us as f64 / 1000.0
        }),
        ("saturated: broker CPU, % of one core", |r| {
            r.saturated_cpu_pct
        }),
        ("saturated: generators' CPU, % of one core", |r| {
            r.generators_cpu_pct
        }),
        ("saturated: subscriber CPU, % of one core", |r| {
            r.subscriber_cpu_pct
        }),
        ("paced: p50 latency, ms", |r| r.p50_us as f64 / 1000.0),
        ("paced: p99 latency, ms", |r| r.p99_us as f64 / 1000.0),
        ("paced: p99.9 latency, ms", |r| r.p999_us as f64 / 1000.0),
        ("paced: delivered / sent, %", |r| {
            r.paced_delivered as f64 * 100.0 / (r.paced_sent.max(1)) as f64
        }),
    ];
    for (label, figure) in figures {
        let a = rumqttd.spread(figure);
        let b = mosquitto.spread(figure);
        let fmt = |s: Spread| {
            if runs > 1 {
                format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
            } else {
                format!("{:.2}", s.median)
            }
        };
        let ratio = a.median / b.median;
        body.push_str(&format!(
            "| {label} | {} | {} | **{ratio:.2}** |\n",
            fmt(a),
            fmt(b)
        ));
        rows.push(serde_json::json!({"figure": label, "rumqttd": a.json(), "mosquitto": b.json(), "ratio": ratio}));
    }
    let sides = |f: &brokers::BrokerFigures| {
        f.runs
            .iter()
            .map(|r| {
                format!(
                    "{} (machine {:.0} % idle)",
                    r.saturated_side(),
                    r.machine_idle_pct
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    body.push_str(&format!(
        "\nWhich side saturated (per run): rumqttd: {}; mosquitto: {}.\n",
        sides(&rumqttd),
        sides(&mosquitto)
    ));
    let throughput_ratio = rumqttd.spread(|r| r.saturated_msgs_per_s).median
        / mosquitto.spread(|r| r.saturated_msgs_per_s).median;
    println!("brokers: saturated throughput rumqttd ÷ mosquitto = {throughput_ratio:.2}");
    let run_json = |f: &brokers::BrokerFigures| {
        f.runs
            .iter()
            .map(|r| serde_json::json!({"paced_sent": r.paced_sent, "paced_delivered": r.paced_delivered, "p50_us": r.p50_us, "p99_us": r.p99_us, "p999_us": r.p999_us, "max_us": r.max_us, "saturated_msgs_per_s": r.saturated_msgs_per_s, "saturated_accepted_per_s": r.saturated_accepted_per_s, "saturated_p50_us": r.saturated_p50_us, "saturated_p99_us": r.saturated_p99_us, "saturated_cpu_pct": r.saturated_cpu_pct, "generators_cpu_pct": r.generators_cpu_pct, "subscriber_cpu_pct": r.subscriber_cpu_pct, "generators": r.generators, "machine_idle_pct": r.machine_idle_pct, "saturated_side": r.saturated_side()}))
            .collect::<Vec<_>>()
    };
    Ok(Section {
        bench: "brokers",
        title: "Ingest: embedded broker (rumqttd) vs Mosquitto".to_owned(),
        body,
        json: serde_json::json!({
            "runs": runs, "paced_publishers": loads.paced_publishers, "paced_s": loads.paced_s,
            "saturating_publishers": loads.saturating_publishers, "saturated_s": loads.saturated_s,
            "mosquitto_version": mosquitto.version, "mosquitto_config": brokers::describe_mosquitto_config(),
            "throughput_ratio_rumqttd_over_mosquitto": throughput_ratio,
            "figures": rows, "rumqttd_runs": run_json(&rumqttd), "mosquitto_runs": run_json(&mosquitto),
        }),
    })
}

fn brokers_frame_len() -> usize {
    brokers::sample_frame().map_or(0, |f| f.len())
}

fn run_all(options: &Options, machine: &Machine) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    e2e::server_binary()?;
    if !brokers::mosquitto_available() {
        bail!("mosquitto is not installed (Debian package `mosquitto`)");
    }
    let mut sections = vec![
        run_coach(options)?,
        run_replay(options)?,
        run_import(options)?,
        run_planning(options)?,
        run_dataflow(options)?,
        run_edge(options)?,
        run_brokers(options)?,
    ];
    let (mqtt, mqtt_sweep) = run_e2e(options, Transport::Mqtt)?;
    let (quic, quic_sweep) = run_e2e(options, Transport::Quic)?;
    sections.push(mqtt);
    sections.push(quic);
    let stem = options
        .results_dir
        .join(format!("{}-{}", machine.date, machine.host));
    let plot_name = format!("{}-{}-latency.svg", machine.date, machine.host);
    let mut series = mqtt_sweep.series();
    series.extend(quic_sweep.series());
    std::fs::create_dir_all(&options.results_dir)
        .with_context(|| format!("creating {}", options.results_dir.display()))?;
    plot::latency_vs_athletes(
        &options.results_dir.join(&plot_name),
        &format!(
            "Frame → cue latency vs athletes, {} ({} cores)",
            machine.date, machine.cores
        ),
        &series,
    )?;
    let headline = |s: &Sweep, limit| {
        s.largest_within(limit)
            .map_or_else(|| "none".to_owned(), |n| n.to_string())
    };
    let section_json = |bench: &str| {
        sections
            .iter()
            .find(|s| s.bench == bench)
            .map(|s| s.json.clone())
            .unwrap_or_default()
    };
    let elapsed_min = started.elapsed().as_secs_f64() / 60.0;
    let mut md = format!(
        "# Paceline benchmarks{}\n\n- command: `{}`\n{}- versions: {}\n- duration of the whole run: {elapsed_min:.1} min\n\n\
         The machine is a {}-core VM; the load average above was taken at the start, and other work may have shared it (the result of each section says what ran in which process).\n\n\
         ## Headlines\n\n\
         | figure | value |\n|---|---|\n\
         | largest N with p99 ≤ 5 ms (MQTT / QUIC) | {} / {} |\n\
         | largest N with p99 ≤ 100 ms (MQTT / QUIC) | {} / {} |\n\
         | broker ingest, saturated, rumqttd ÷ Mosquitto | {:.2} |\n\n\
         ![latency vs athletes]({plot_name})\n\n",
        if options.quick { " (quick)" } else { "" },
        options.command,
        machine.markdown(),
        versions_line(),
        machine.cores,
        headline(&mqtt_sweep, 5_000),
        headline(&quic_sweep, 5_000),
        headline(&mqtt_sweep, 100_000),
        headline(&quic_sweep, 100_000),
        section_json("brokers")["throughput_ratio_rumqttd_over_mosquitto"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    for section in &sections {
        md.push_str(&format!("## {}\n\n{}\n", section.title, section.body));
    }
    let json = serde_json::json!({
        "command": options.command, "quick": options.quick, "machine": machine.json(), "versions": versions_json(),
        "duration_min": elapsed_min, "plot": plot_name,
        "sections": sections.iter().map(|s| (s.bench.to_owned(), s.json.clone())).collect::<serde_json::Map<_, _>>(),
    });
    write_files(&stem, &md, &json)
}

fn run_coach(options: &Options) -> anyhow::Result<Section> {
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
    Ok(Section {
        bench: "coach",
        title: "Coach per-sample cost".to_owned(),
        body,
        json: serde_json::json!({"runs": runs, "shapes": rows}),
    })
}

fn shared_fit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fit")
        .join(name)
}

fn run_replay(options: &Options) -> anyhow::Result<Section> {
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
        "Paceline: decode (fitparser via `paceline_formats::samples`) + coach (`CoachPool`, the VO2 plan), from bytes in memory. \
         fitdecode {version}: decode only (`FitReader` over every frame), from bytes in memory, timed inside Python. \
         Same machine, same run, {runs} runs each. Target (SPEC §9): ≥ 100× faster than fitdecode's decode alone. \
         The whole-process columns run the release `paceline-engine replay` binary on the file (at least 20 runs after a warm-up; \
         CPU from the children's times in /proc, 10 ms ticks): what a batch job running one process per file pays.\n\n"
    );
    body.push_str("| file | bytes | samples | Paceline decode+coach, ms (median, min–max) | of which decode, ms | samples/s | fitdecode decode, ms (median, min–max) | ratio | whole `paceline-engine replay` process, wall ms (median, min–max) | its CPU ms per run | process wall / CPU | process ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
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
            "| {} | {} | {} | {} | {:.2} | {:.2} M | {} | **{:.0}×** | {} | {:.2} | {:.1} | **{:.0}×** |\n",
            f.file,
            f.bytes,
            f.samples,
            ms(f.paceline_s),
            f.decode_s.median * 1e3,
            f.samples as f64 / f.paceline_s.median / 1e6,
            ms(f.fitdecode_s),
            f.ratio(),
            ms(f.process_wall_s),
            f.process_cpu_s * 1e3,
            f.process_wall_over_cpu(),
            f.process_ratio()
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
            "process_wall_s": f.process_wall_s.json(), "process_cpu_s": f.process_cpu_s, "process_wall_over_cpu": f.process_wall_over_cpu(), "process_ratio": f.process_ratio(),
        }));
    }
    Ok(Section {
        bench: "replay",
        title: "Replay throughput vs fitdecode".to_owned(),
        body,
        json: serde_json::json!({"runs": runs, "fitdecode": version, "files": rows}),
    })
}

fn run_import(options: &Options) -> anyhow::Result<Section> {
    let (runs, zip_runs, python_zip_runs) = if options.quick { (3, 3, 1) } else { (9, 5, 3) };
    let version = replay::ensure_fitdecode()?;
    let folder = shared_fit("");
    eprintln!(
        "import: {runs} runs per file, {zip_runs} (fitdecode {python_zip_runs}) of a {}-file zip; Paceline and fitdecode {version}…",
        import::ZIP_ENTRIES
    );
    let figures = import::run(&folder, runs, zip_runs, python_zip_runs)?;
    let mut body = format!(
        "Paceline: what an import does before the database, from bytes in memory: `paceline_formats::read_file` (format detection, decode, SHA-256 of the content, the zip's walk) \
         and `SourceCopy::from_recording` (summary and load, the athlete's thresholds given) for every activity in the input; the \"+ samples FIT\" columns add the samples FIT an import stores with each copy \
         (`paceline_gateway::jobs::library::samples_fit`). fitdecode {version}: decode only (`FitReader` over every frame) of the same bytes, timed inside Python; for the zip, Python's `zipfile` opens the archive \
         and fitdecode decodes every entry. The files are shared/data/fit's activity files (not the workout and settings files, not the damaged ones); the zip holds {} entries cycling through them, \
         each named uniquely, deflated, built in memory. Same machine, same run: {runs} runs per file (a run repeats a small file's pass to last about 0.2 s), \
         {zip_runs} runs of the zip on Paceline's side and {python_zip_runs} on fitdecode's (a run there takes minutes). MB = 10^6 bytes of activity files (the zip's entries decompressed). \
         Target (SPEC §9): ≥ 50× fitdecode.\n\n",
        import::ZIP_ENTRIES
    );
    body.push_str("| input | bytes | activity files | points | Paceline read + summarise, ms (median, min–max) | MB/s | files/s | + samples FIT, ms | fitdecode, ms (median, min–max) | fitdecode MB/s | fitdecode files/s | ratio | ratio with samples FIT |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for f in &figures {
        let ms = |s: Spread| {
            format!(
                "{:.3} ({:.3}–{:.3})",
                s.median * 1e3,
                s.min * 1e3,
                s.max * 1e3
            )
        };
        body.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.0} | {:.3} | {} | {:.2} | {:.1} | **{:.0}×** | {:.0}× |\n",
            f.name,
            f.bytes,
            f.files,
            f.points,
            ms(f.paceline_s),
            f.mb_per_s(),
            f.files_per_s(),
            f.with_fit_s.median * 1e3,
            ms(f.fitdecode_s),
            f.fitdecode_mb_per_s(),
            f.fitdecode_files_per_s(),
            f.ratio(),
            f.ratio_with_fit()
        ));
        println!(
            "{:45} {:.1} MB/s, {:.0} files/s; fitdecode {:.2} MB/s; {:.0}× ({:.0}× with the samples FIT)",
            f.name,
            f.mb_per_s(),
            f.files_per_s(),
            f.fitdecode_mb_per_s(),
            f.ratio(),
            f.ratio_with_fit()
        );
        rows.push(serde_json::json!({
            "input": f.name, "bytes": f.bytes, "content_bytes": f.content_bytes, "files": f.files, "points": f.points,
            "paceline_s": f.paceline_s.json(), "with_samples_fit_s": f.with_fit_s.json(), "fitdecode_s": f.fitdecode_s.json(),
            "fitdecode_frames": f.fitdecode_frames,
            "mb_per_s": f.mb_per_s(), "files_per_s": f.files_per_s(),
            "fitdecode_mb_per_s": f.fitdecode_mb_per_s(), "fitdecode_files_per_s": f.fitdecode_files_per_s(),
            "ratio": f.ratio(), "ratio_with_samples_fit": f.ratio_with_fit(),
        }));
    }
    Ok(Section {
        bench: "import",
        title: "Import throughput vs fitdecode".to_owned(),
        body,
        json: serde_json::json!({"runs": runs, "zip_runs": zip_runs, "fitdecode_zip_runs": python_zip_runs, "fitdecode": version, "inputs": rows}),
    })
}

fn run_planning(options: &Options) -> anyhow::Result<Section> {
    let (runs, nightly_runs) = if options.quick { (200, 1) } else { (1000, 3) };
    eprintln!(
        "planning: {runs} recomputations of {} days and {runs} daily plans; {nightly_runs} nightly passes over {} athletes…",
        planning::HISTORY_DAYS,
        planning::NIGHTLY_ATHLETES
    );
    let f = planning::run(runs, nightly_runs);
    let ms = |t: &planning::Timing| {
        format!(
            "{:.3} | {:.3} | {:.3}",
            t.median_s * 1e3,
            t.p99_s * 1e3,
            t.max_s * 1e3
        )
    };
    let (kind, tss) = f.plan_made;
    let kinds: Vec<String> = f
        .nightly
        .kinds
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    let per_athlete_us = f.nightly.seconds.median / planning::NIGHTLY_ATHLETES as f64 * 1e6;
    let mut body = format!(
        "CPU only, one thread, the pure crate `paceline_planning` (no database, no gateway; reading and writing the rows is the gateway's and is not measured). \
         Load and recovery: one athlete's {} days (10 years) of daily load and daily metrics recomputed from scratch: `fitness` over every day, then `recovery` of every day against its 7 days before and its ACWR; \
         target (issue 23): ≤ 10 ms. Daily plan: one `daily_plan` (a cyclist with power, 42 days of fitness, a recovery, a check-in, two days planned this week; it gives a {} day of {tss:.0} TSS)). \
         {runs} timed calls each after 3 warm-up calls; median, p99 (nearest rank) and max. \
         Nightly pass: {} athletes built before the clock starts from a fixed seed (a year of daily load each, 14 mornings of metrics, varied availability, equipment, sport, check-in; 1 in 10 with \"only 35 minutes\" today), \
         then per athlete `fitness` over the year, today's `recovery` and `daily_plan`; {nightly_runs} passes (median, min–max).\n\n",
        planning::HISTORY_DAYS,
        kind.as_str(),
        planning::NIGHTLY_ATHLETES,
    );
    body.push_str("| measurement | calls | median ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
    for (name, t) in [
        (
            "**load + recovery, 10 years, one athlete** (target ≤ 10 ms)",
            &f.load_recovery,
        ),
        ("of which `fitness` alone", &f.fitness_only),
        ("`daily_plan`, one athlete", &f.plan),
    ] {
        body.push_str(&format!("| {name} | {} | {} |\n", t.runs, ms(t)));
    }
    body.push_str(&format!(
        "\n| nightly pass | athletes | seconds (median, min–max) | µs per athlete | days planned, by kind |\n|---|---|---|---|---|\n| fitness + recovery + daily_plan, one thread | {} | **{:.2}** ({:.2}–{:.2}) | {per_athlete_us:.0} | {} |\n",
        planning::NIGHTLY_ATHLETES,
        f.nightly.seconds.median,
        f.nightly.seconds.min,
        f.nightly.seconds.max,
        kinds.join(", ")
    ));
    println!(
        "load + recovery, {} days: median {:.3} ms, p99 {:.3} ms; daily_plan: median {:.3} ms, p99 {:.3} ms; nightly pass over {} athletes: {:.2} s",
        planning::HISTORY_DAYS,
        f.load_recovery.median_s * 1e3,
        f.load_recovery.p99_s * 1e3,
        f.plan.median_s * 1e3,
        f.plan.p99_s * 1e3,
        planning::NIGHTLY_ATHLETES,
        f.nightly.seconds.median
    );
    Ok(Section {
        bench: "planning",
        title: "Planning: load, recovery and the daily plan (CPU only)".to_owned(),
        body,
        json: serde_json::json!({
            "history_days": planning::HISTORY_DAYS,
            "load_recovery": f.load_recovery.json_ms(),
            "fitness_only": f.fitness_only.json_ms(),
            "daily_plan": f.plan.json_ms(),
            "daily_plan_made": {"kind": kind.as_str(), "target_tss": tss},
            "nightly": {
                "athletes": planning::NIGHTLY_ATHLETES,
                "load_days": planning::NIGHTLY_LOAD_DAYS,
                "metric_days": planning::NIGHTLY_METRIC_DAYS,
                "runs": f.nightly.runs,
                "seconds": f.nightly.seconds.json(),
                "us_per_athlete": per_athlete_us,
                "kinds": f.nightly.kinds.iter().map(|(k, n)| serde_json::json!({"kind": k, "athletes": n})).collect::<Vec<_>>(),
            },
        }),
    })
}

fn run_chat(options: &Options) -> anyhow::Result<Section> {
    let (activities, messages) = if options.quick {
        (paceline_bench::chat::QUICK_ACTIVITIES, 200)
    } else {
        (paceline_bench::chat::ACTIVITIES, 2_000)
    };
    let dir = std::env::temp_dir().join(format!("paceline-bench-chat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "chat: {activities} activities stored, then {messages} messages through the offline engine…"
    );
    let f = paceline_bench::chat::run(&dir, activities, messages);
    let _ = std::fs::remove_dir_all(&dir);
    let f = f?;
    let body = format!(
        "The offline chat path through the gateway's own code, no HTTP: one athlete with {} stored activities (a real store on disk), \
         then {} messages cycling through {}, each one write transaction around `chat::converse` with the API's tool runner, commit included. \
         Target (issue 24): reply p99 ≤ 20 ms.\n\n\
         | measurement | messages | median ms | p99 ms | max ms | messages/s, one thread |\n|---|---|---|---|---|---|\n\
         | **reply, offline engine** | {} | {:.3} | **{:.3}** | {:.3} | {:.0} |\n",
        f.activities,
        f.reply.runs,
        paceline_bench::chat::MESSAGES
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", "),
        f.reply.runs,
        f.reply.median_s * 1e3,
        f.reply.p99_s * 1e3,
        f.reply.max_s * 1e3,
        f.messages_per_s
    );
    println!(
        "chat: reply median {:.3} ms, p99 {:.3} ms; {:.0} messages/s",
        f.reply.median_s * 1e3,
        f.reply.p99_s * 1e3,
        f.messages_per_s
    );
    Ok(Section {
        bench: "chat",
        title: format!(
            "Coach chat: the offline engine's reply with {} stored activities",
            f.activities
        ),
        body,
        json: serde_json::json!({
            "activities": f.activities,
            "reply": f.reply.json_ms(),
            "messages_per_s": f.messages_per_s,
            "messages": paceline_bench::chat::MESSAGES,
        }),
    })
}

fn run_dataflow(options: &Options) -> anyhow::Result<Section> {
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
    Ok(Section {
        bench: "dataflow",
        title: "Dataflow throughput, concurrent sessions".to_owned(),
        body,
        json: serde_json::json!({"sessions": sessions, "seconds": seconds, "runs": runs, "workers": rows}),
    })
}

fn run_gateway(options: &Options) -> anyhow::Result<Section> {
    let (counts, warmup_s, measure_s): (&[usize], u64, u64) = if options.quick {
        (&[200, 20], 10, 20)
    } else {
        (&[100, 2000], 20, 90)
    };
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
    let ticks = ticks_description();
    let mut body = format!(
        "One process: the gateway (`paceline_gateway::server::Gateway`: rumqttd, engine, SQLite writer, acks) and N bench devices over loopback, each its own MQTT connection (rumqttc, QoS 1) with its own paired credentials, sending sealed frames: heart rate at 1 Hz and power at 4 Hz, one sample per frame (5 frames/s per athlete), {ticks}. Every 16 s, staggered, each device sends the athlete's \"600 minutes left\" command, which its coach answers at once with a `time_budget_compressed` cue. Latency = cue opened at the device − command frame handed to the device's MQTT client (hdrhistogram, µs); the sensor frames are the load. {warmup_s} s warm-up, {measure_s} s measured. Target (SPEC §9) at 2,000 athletes: p50 ≤ 1 ms, p99 ≤ 5 ms, p99.9 ≤ 20 ms, 0 lost. The bench devices keep no spool, so a frame still unacknowledged 20 s after its device's ride ended is counted (an edge agent would keep and resend it); \"commands unanswered\" are measured commands whose cue never arrived.\n\n"
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
    Ok(Section {
        bench: "gateway",
        title: "Frame → cue latency at the device".to_owned(),
        body,
        json: serde_json::json!(rows),
    })
}

fn run_edge(options: &Options) -> anyhow::Result<Section> {
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
    Ok(Section {
        bench: "edge",
        title: "Edge agent CPU time and peak memory".to_owned(),
        body,
        json: serde_json::json!({"warmup_s": warmup_s, "measure_s": measure_s, "cases": rows}),
    })
}

/// How the bench devices' sensor frames are timed, for the results' method text.
fn ticks_description() -> &'static str {
    if paceline_bench::aligned_ticks() {
        "every device's frames at the same instants (`PACELINE_BENCH_ALIGNED_TICKS=1`: a burst of N frames every 250 ms, the worst case)"
    } else {
        "each device at its own phase of the 250 ms period, as sensors on their own clocks are (`PACELINE_BENCH_ALIGNED_TICKS=1` aligns them into one burst of N frames every 250 ms)"
    }
}
