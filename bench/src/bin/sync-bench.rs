//! `sync-bench`: provider sync under load ([`paceline_bench::sync`]): a Strava backfill of
//! 1,000 activities with streams from the local provider servers into a `paceline serve`
//! process while athletes ride live on it, then Strava webhook events at 100/s.
//!
//! ```text
//! cargo build --release -p paceline-gateway -p paceline-providers
//! cargo run --release -p paceline-bench --bin sync-bench [-- --activities N --riders N
//!     --baseline-s S --backfill-limit-s S --webhook-rate N --webhook-s S --results-dir DIR]
//! ```
//! Writes `bench/results/<date>-<machine>-sync.{md,json}` (or under `--results-dir`).
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports on the terminal"
)]

use std::path::PathBuf;

use anyhow::{Context, bail};
use paceline_bench::machine::Machine;
use paceline_bench::sync::{SyncFigures, SyncOptions, run};

/// The answer time the webhook endpoint is held to at 100 events/s (SPEC §9), ms.
const WEBHOOK_P99_TARGET_MS: f64 = 50.0;

fn options() -> anyhow::Result<(SyncOptions, PathBuf)> {
    let mut options = SyncOptions {
        activities: 1_000,
        riders: 100,
        baseline_s: 30,
        backfill_limit_s: 1_800,
        webhook_rate: 100,
        webhook_s: 30,
    };
    let mut results_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match arg.as_str() {
            "--activities" => options.activities = value()?.parse::<usize>()?.clamp(1, 100_000),
            "--riders" => options.riders = value()?.parse::<usize>()?.max(1),
            "--baseline-s" => options.baseline_s = value()?.parse()?,
            "--backfill-limit-s" => options.backfill_limit_s = value()?.parse::<u64>()?.max(1),
            "--webhook-rate" => options.webhook_rate = value()?.parse::<u32>()?.max(1),
            "--webhook-s" => options.webhook_s = value()?.parse::<u64>()?.max(1),
            "--results-dir" => results_dir = PathBuf::from(value()?),
            other => bail!(
                "unknown argument {other:?} (flags: --activities N --riders N --baseline-s S \
                 --backfill-limit-s S --webhook-rate N --webhook-s S --results-dir DIR)"
            ),
        }
    }
    Ok((options, results_dir))
}

fn markdown(machine: &Machine, command: &str, options: &SyncOptions, f: &SyncFigures) -> String {
    let build = if cfg!(debug_assertions) {
        "\n**Debug build: these figures are not meaningful.**\n"
    } else {
        ""
    };
    let backfill = if f.backfill_finished {
        format!("{} activities in {:.1} s", f.imported, f.backfill_s)
    } else {
        format!(
            "NOT FINISHED: {} of {} activities in the {} s limit",
            f.imported, options.activities, options.backfill_limit_s
        )
    };
    let webhook_p99_ms = f.webhook.p99_us as f64 / 1000.0;
    format!(
        "# Provider sync under load\n\n- command: `{command}`\n{}{build}\n\
         A `paceline serve` process syncs with the local provider servers \
         (`paceline-providers`, seeded from shared/data's FIT files, every activity with its \
         streams) while {} bench devices ride over MQTT. After {} s of riding alone, a \
         gym-admin connects one athlete to Strava (authorize page, redirect, callback) and the \
         backfill runs; then Strava `update` events are posted to `/webhooks/strava` at {}/s \
         for {} s, open loop.\n\n\
         | figure | value |\n|---|---|\n\
         | backfill | {backfill} |\n\
         | backfill rate | {:.1} activities/s |\n\
         | live frame → cue, riding alone (p50 / p99 / max) | {} |\n\
         | live frame → cue, during the backfill (p50 / p99 / max) | {} |\n\
         | webhook answer (p50 / p99 / max) | {} |\n\
         | webhook events sent / not answered 200 | {} / {} |\n\
         | webhook p99 target | ≤ {WEBHOOK_P99_TARGET_MS} ms: {} |\n",
        machine.markdown(),
        options.riders,
        options.baseline_s,
        options.webhook_rate,
        options.webhook_s,
        f.activities_per_s(),
        f.live_before.cell(),
        f.live_during.cell(),
        f.webhook.cell(),
        f.webhook_sent,
        f.webhook_failed,
        if webhook_p99_ms <= WEBHOOK_P99_TARGET_MS && f.webhook.count > 0 {
            "met"
        } else {
            "NOT met"
        },
    )
}

fn main() -> anyhow::Result<()> {
    let (options, results_dir) = options()?;
    let machine = Machine::detect();
    let command = format!(
        "cargo run --release -p paceline-bench --bin sync-bench -- --activities {} --riders {} --baseline-s {} --backfill-limit-s {} --webhook-rate {} --webhook-s {}",
        options.activities,
        options.riders,
        options.baseline_s,
        options.backfill_limit_s,
        options.webhook_rate,
        options.webhook_s
    );
    let figures = run(&options)?;
    let md = markdown(&machine, &command, &options, &figures);
    let json = serde_json::json!({
        "bench": "sync",
        "command": command,
        "machine": machine.json(),
        "debug_build": cfg!(debug_assertions),
        "figures": {
            "activities": options.activities,
            "riders": options.riders,
            "imported": figures.imported,
            "backfill_s": figures.backfill_s,
            "backfill_finished": figures.backfill_finished,
            "activities_per_s": figures.activities_per_s(),
            "live_before": figures.live_before.json(),
            "live_during_backfill": figures.live_during.json(),
            "webhook_rate_per_s": options.webhook_rate,
            "webhook_s": options.webhook_s,
            "webhook_sent": figures.webhook_sent,
            "webhook_failed": figures.webhook_failed,
            "webhook": figures.webhook.json(),
        },
    });
    std::fs::create_dir_all(&results_dir)
        .with_context(|| format!("creating {}", results_dir.display()))?;
    let stem = machine.result_stem(&results_dir, "sync");
    std::fs::write(stem.with_extension("md"), &md)
        .with_context(|| format!("writing {}", stem.display()))?;
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&json)?,
    )
    .with_context(|| format!("writing {}", stem.display()))?;
    println!("{md}\nresults: {}.{{md,json}}", stem.display());
    Ok(())
}
