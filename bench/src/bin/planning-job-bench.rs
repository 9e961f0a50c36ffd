//! `planning-job-bench`: the planning job (`paceline_gateway::jobs::planning::plan_every_athlete`)
//! over a real SQLite store, as the gateway runs it every hour.
//!
//! Seeds a fresh data folder with 10,000 athletes in 100 tenants, each with a year of
//! daily rides (one activity a day with its TSS, every seventh day off) and 14 days of
//! morning data (HRV, resting HR, sleep), then times two passes on this thread: the first
//! generates every athlete's plan for today (reading their year of load, their recovery,
//! the week's plans and life events, and storing the plan with its inputs), the second
//! finds them all stored (the cost of the hourly pass on the rest of the day).
//!
//! `cargo run --release -p paceline-bench --bin planning-job-bench [-- --athletes N --days D]`.
//! Writes `bench/results/<date>-<machine>-planning-job.{md,json}`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use paceline_bench::machine::Machine;
use paceline_gateway::jobs::planning::{PlanningPass, plan_every_athlete};
use paceline_gateway::store::{self, Store, StoreError};
use paceline_schemas::TenantId;
use rusqlite::params;

const TENANTS: usize = 100;
const DAY_MS: i64 = 86_400_000;

struct Options {
    athletes: usize,
    days: i64,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        athletes: 10_000,
        days: 365,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match arg.as_str() {
            "--athletes" => options.athletes = value()?.parse::<usize>()?.max(1),
            "--days" => options.days = value()?.parse::<i64>()?.clamp(1, 3_650),
            other => bail!("unknown argument {other:?} (flags: --athletes N --days D)"),
        }
    }
    Ok(options)
}

/// Seeds `athletes` athletes with `days` days of rides before `now_ms` and 14 mornings.
fn seed(data_dir: &Path, options: &Options, now_ms: u64) -> anyhow::Result<Store> {
    store::prepare_data_dir(data_dir)?;
    let db = Store::open(data_dir)?;
    let now = i64::try_from(now_ms)?;
    let today_start = now - now.rem_euclid(DAY_MS);
    let per_tenant = options.athletes.div_ceil(TENANTS);
    let mut made = 0;
    for t in 0..TENANTS {
        if made >= options.athletes {
            break;
        }
        db.write(|tx| -> Result<(), StoreError> {
            let tenant =
                TenantId::new(format!("bench-gym-{t}")).map_err(|e| StoreError::Missing {
                    what: "tenant",
                    name: e.to_string(),
                })?;
            let tenant_row = store::ensure_tenant(tx, &tenant, now_ms)?;
            let mut ride = tx.prepare_cached(
                "INSERT INTO activities (tenant_id, athlete_id, sport, start_ms, local_offset_s,
                     duration_s, tss, load_method, provenance_json, created_ms, updated_ms)
                 VALUES (?1, ?2, 'cycling', ?3, 0, 3600, ?4, 'power', '{}', ?5, ?5)",
            )?;
            let mut morning = tx.prepare_cached(
                "INSERT INTO daily_metrics (tenant_id, athlete_id, date, source, resting_hr_bpm,
                     hrv_ms, sleep_s, sleep_score, updated_ms)
                 VALUES (?1, ?2, ?3, 'manual', ?4, ?5, 28800, 80, ?6)",
            )?;
            for a in 0..per_tenant.min(options.athletes - made) {
                let athlete_row =
                    store::ensure_athlete(tx, tenant_row, &format!("Athlete {a}"), None, now_ms)?;
                for back in 1..=options.days {
                    if back % 7 == 0 {
                        continue;
                    }
                    // 40-100 TSS, varied by athlete and day.
                    let spread = (back * 13 + i64::try_from(a).unwrap_or(0) * 7) % 61;
                    let tss = 40.0 + f64::from(u32::try_from(spread).unwrap_or(0));
                    ride.execute(params![
                        tenant_row,
                        athlete_row,
                        today_start - back * DAY_MS + 6 * 3_600_000,
                        tss,
                        now
                    ])?;
                }
                for back in 0..14 {
                    let date = paceline_gateway::jobs::planning::format_date(
                        paceline_gateway::jobs::planning::local_day(
                            today_start - back * DAY_MS,
                            None,
                        ),
                    );
                    morning.execute(params![
                        tenant_row,
                        athlete_row,
                        date,
                        50 + back % 3,
                        60 + back % 5,
                        now
                    ])?;
                }
                made += 1;
            }
            Ok(())
        })?;
    }
    Ok(db)
}

fn timed_pass(db: &Store, now_ms: u64) -> anyhow::Result<(PlanningPass, f64)> {
    let start = Instant::now();
    let pass = plan_every_athlete(db, now_ms, paceline_gateway::api::planning::plan_settings)?;
    Ok((pass, start.elapsed().as_secs_f64()))
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let machine = Machine::detect();
    let dir = std::env::temp_dir().join(format!("paceline-planning-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now_ms = paceline_gateway::clock::GatewayClock::start().now_ms();
    let seeding = Instant::now();
    let db = seed(&dir, &options, now_ms).context("seeding the store")?;
    let seed_s = seeding.elapsed().as_secs_f64();
    let (first, first_s) = timed_pass(&db, now_ms)?;
    let (second, second_s) = timed_pass(&db, now_ms)?;
    if first.generated != options.athletes || first.failed != 0 || second.generated != 0 {
        bail!("the passes did not plan every athlete once: {first:?}, then {second:?}");
    }
    let per_athlete_ms = |s: f64| s * 1000.0 / options.athletes as f64;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stem = machine.result_stem(&root.join("bench/results"), "planning-job");
    let command = format!(
        "cargo run --release -p paceline-bench --bin planning-job-bench -- --athletes {} --days {}",
        options.athletes, options.days
    );
    let md = format!(
        "# The planning job over SQLite\n\n{}- command: `{command}`\n\n\
         {} athletes in {TENANTS} tenants, each with {} days of daily rides (every seventh day \
         off) and 14 mornings of HRV, resting HR and sleep; seeded in {seed_s:.1} s. Each pass \
         runs on one thread, 50 athletes to a write transaction, as the gateway's hourly job \
         does.\n\n\
         | pass | athletes | plans generated | wall | per athlete |\n|---|---|---|---|---|\n\
         | first of the day (every plan generated and stored) | {} | {} | {first_s:.2} s | {:.3} ms |\n\
         | again the same day (every plan found) | {} | {} | {second_s:.2} s | {:.3} ms |\n\n\
         Per athlete the first pass reads their year of activity loads and 14 days of \
         metrics, computes CTL/ATL/TSB/ACWR and the recovery score, generates the plan and \
         stores it with its inputs (JSON) and digest.\n",
        machine.markdown(),
        options.athletes,
        options.days,
        first.athletes,
        first.generated,
        per_athlete_ms(first_s),
        second.athletes,
        second.generated,
        per_athlete_ms(second_s),
    );
    std::fs::write(stem.with_extension("md"), &md)?;
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "machine": machine.json(),
            "command": command,
            "athletes": options.athletes,
            "days": options.days,
            "seed_s": seed_s,
            "first_pass_s": first_s,
            "first_pass_generated": first.generated,
            "second_pass_s": second_s,
        }))?,
    )?;
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, md.as_bytes())?;
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
