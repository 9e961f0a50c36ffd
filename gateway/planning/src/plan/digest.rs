//! The digest of a plan's inputs: SHA-256 (hex) of their canonical text, one `name=value`
//! line per field in a fixed order, lists in their given order, numbers in Rust's shortest
//! round-trip form, absent values as `-`. Stored with the plan, it tells whether the same
//! inputs would be given again; [`RULES_VERSION`] is part of it, so a change of the rules
//! changes every digest.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{Goal, PlanInputs, sport_name};

/// The version of the planning rules, in every digest.
pub const RULES_VERSION: u32 = 1;

/// SHA-256, lowercase hex, of the inputs' canonical text (module docs).
pub fn inputs_digest(inputs: &PlanInputs) -> String {
    let text = canonical(inputs);
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The canonical text of the inputs.
pub(crate) fn canonical(inputs: &PlanInputs) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        // Values never hold a newline: text is escaped.
        let _ = writeln!(
            out,
            "{name}={}",
            value.replace('\\', "\\\\").replace('\n', "\\n")
        );
    };
    line("rules", RULES_VERSION.to_string());
    line("today", inputs.today.to_string());
    match &inputs.goal {
        Goal::EventOn { name, date, sport } => {
            line("goal", "event".into());
            line("goal.name", name.clone());
            line("goal.date", date.to_string());
            line("goal.sport", sport_name(*sport).into());
        }
        Goal::GeneralFitness => line("goal", "general_fitness".into()),
    }
    line(
        "availability_min",
        inputs.availability_min.map(|m| m.to_string()).join(","),
    );
    let e = &inputs.equipment;
    line(
        "equipment",
        format!(
            "trainer:{},power_meter:{},hr_strap:{},treadmill:{},pool:{}",
            e.trainer, e.power_meter, e.hr_strap, e.treadmill, e.pool
        ),
    );
    for sport in &inputs.avoid_sports {
        line("avoid_sport", sport.clone());
    }
    for injury in &inputs.injuries {
        line("injury", injury.clone());
    }
    line("sport", sport_name(inputs.sport).into());
    line("ftp_w", opt(inputs.ftp_w));
    line("threshold_hr_bpm", opt(inputs.threshold_hr_bpm));
    for d in &inputs.recent {
        line(
            "recent",
            format!(
                "{},{},{},{},{},{}",
                d.date,
                d.tss,
                d.ctl,
                d.atl,
                d.tsb,
                opt(d.acwr)
            ),
        );
    }
    match &inputs.recovery {
        Some(r) => {
            let c = &r.components;
            line(
                "recovery",
                format!(
                    "{},{},{},{},{},{},{},{}",
                    opt(r.score),
                    opt(r.band.map(|b| b.as_str())),
                    opt(c.hrv),
                    opt(c.resting_hr),
                    opt(c.sleep),
                    opt(c.stress),
                    r.multiplier,
                    r.missing.join("+")
                ),
            );
        }
        None => line("recovery", "-".into()),
    }
    match &inputs.check_in {
        Some(c) => line(
            "check_in",
            format!(
                "{},{},{},{}",
                opt(c.energy),
                opt(c.mood),
                opt(c.soreness),
                opt(c.note.as_deref())
            ),
        ),
        None => line("check_in", "-".into()),
    }
    for p in &inputs.planned_before {
        line(
            "planned_before",
            format!("{},{},{}", p.date, p.kind.as_str(), p.target_tss),
        );
    }
    for l in &inputs.life {
        line(
            "life",
            format!(
                "{},{},{},{},{}",
                l.kind.as_str(),
                l.from,
                l.to,
                opt(l.minutes_available),
                l.summary
            ),
        );
    }
    out
}
