//! Planning in the gateway: the athlete's days as `paceline-planning` wants them, read
//! from the rows. The rules (CTL/ATL/TSB/ACWR, the recovery score, the checks) are the
//! core's; this module finds the athlete's local days, sums the library's loads per day,
//! merges the sources of a day's metrics, and hands the values over.
//!
//! **Load is computed on read**: every `GET /load` (and recovery, which needs the day's
//! ACWR) sums all the athlete's activity loads by local day and runs
//! [`paceline_planning::fitness`] from the first day with load. That is O(activities +
//! days) — ten years of daily data is ~3,650 rows and steps, well under the issue's
//! 10 ms — and needs no cache, so an activity added, merged, split or deleted counts at
//! the next read with nothing to invalidate.

use paceline_planning::TimesOfDay;
use paceline_planning::plan::sport_name;
use paceline_planning::{
    CheckIn, DailyMetrics, DailyPlan, DayKind, DayLoad, Equipment, FitnessDay, Goal, LifeEvent,
    LifeKind, PlanInputs, PlannedDay, Recovery,
};
use paceline_schemas::plan::Sport;
use rusqlite::Connection;
use serde_json::{Value, json};
use time::{Date, Duration, Month};

use crate::store::StoreError;
use crate::store::planning::{self as rows, DailyRecord};

/// The Julian day of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// A `YYYY-MM-DD` date (exactly that form), or `None`.
pub fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The local day of an instant (ms since the epoch) at a UTC offset (s; `None`: UTC).
pub fn local_day(unix_ms: i64, offset_s: Option<i32>) -> Date {
    let local_ms = unix_ms.saturating_add(i64::from(offset_s.unwrap_or(0)) * 1000);
    let days = local_ms.div_euclid(86_400_000);
    let julian = i32::try_from(UNIX_EPOCH_JULIAN_DAY + days).unwrap_or(i32::MAX);
    Date::from_julian_day(julian).unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
}

/// The athlete's today: `now_ms` at the local offset of their latest activity that names
/// one, UTC without.
pub fn athlete_today(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    now_ms: u64,
) -> Result<Date, StoreError> {
    let offset = rows::latest_local_offset(conn, tenant_row, athlete_row)?;
    Ok(local_day(crate::store::to_i64(now_ms), offset))
}

/// Every activity's load on its local day (its own offset; UTC when it has none).
pub fn day_loads(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
) -> Result<Vec<DayLoad>, StoreError> {
    Ok(rows::activity_loads(conn, tenant_row, athlete_row)?
        .into_iter()
        .map(|a| DayLoad {
            date: local_day(a.start_ms, a.local_offset_s),
            tss: a.tss,
        })
        .collect())
}

/// Load, CTL, ATL, TSB and ACWR of each day from `from` to `to`, computed from the first
/// day with load.
pub fn fitness(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    from: Date,
    to: Date,
) -> Result<Vec<FitnessDay>, StoreError> {
    let loads = day_loads(conn, tenant_row, athlete_row)?;
    Ok(paceline_planning::fitness(&loads, from, to))
}

/// One day's metrics from its rows: each field from the `manual` row when it has it (the
/// athlete's word), else from another source's.
pub fn merged_metrics(rows_of_day: &[&DailyRecord]) -> DailyMetrics {
    let mut ordered: Vec<&DailyRecord> = rows_of_day.to_vec();
    ordered.sort_by_key(|r| r.source != "manual");
    let pick = |field: fn(&DailyRecord) -> Option<f64>| ordered.iter().find_map(|r| field(r));
    DailyMetrics {
        resting_hr_bpm: pick(|r| r.resting_hr_bpm),
        hrv_ms: pick(|r| r.hrv_ms),
        sleep_s: pick(|r| r.sleep_s),
        sleep_score: pick(|r| r.sleep_score),
        stress: pick(|r| r.stress),
    }
}

/// A day's recovery and the ACWR it used.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRecovery {
    /// The day.
    pub date: Date,
    /// The day's ACWR, from the library's loads.
    pub acwr: Option<f64>,
    /// The score and its components.
    pub recovery: Recovery,
}

/// The athlete's recovery on `date`: that day's metrics against the 7 days before, and
/// that day's ACWR.
pub fn recovery(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    date: Date,
) -> Result<DayRecovery, StoreError> {
    let first = date - Duration::days(7);
    let stored = rows::daily_between(
        conn,
        tenant_row,
        athlete_row,
        &format_date(first),
        &format_date(date),
    )?;
    let of_day = |day: Date| {
        let name = format_date(day);
        let found: Vec<&DailyRecord> = stored.iter().filter(|r| r.date == name).collect();
        merged_metrics(&found)
    };
    let previous: Vec<DailyMetrics> = (1..=7)
        .rev()
        .map(|back| of_day(date - Duration::days(back)))
        .collect();
    let acwr = fitness(conn, tenant_row, athlete_row, date, date)?
        .first()
        .and_then(|d| d.acwr);
    Ok(DayRecovery {
        date,
        acwr,
        recovery: paceline_planning::recovery(&of_day(date), &previous, acwr),
    })
}

/// What an athlete's planning settings hand the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    /// The goal.
    pub goal: Goal,
    /// Minutes per weekday, Monday first.
    pub availability_min: [u32; 7],
    /// Equipment.
    pub equipment: Equipment,
    /// Sports to avoid (`bike`, `run`, `other`).
    pub avoid_sports: Vec<String>,
    /// Injuries.
    pub injuries: Vec<String>,
    /// The primary sport.
    pub sport: Sport,
    /// The athlete's hours and parts of the day: the day's minutes are capped to the
    /// hours, and the workout gets its start hour from them.
    pub times: TimesOfDay,
}

/// Everything today's plan depends on, read from the rows: the settings, the athlete's
/// thresholds, the 42 days of load before `today`, today's recovery and check-in, this
/// week's plans before today, and the life events of the week around today.
pub fn plan_inputs(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    today: Date,
    settings: PlanSettings,
) -> Result<PlanInputs, StoreError> {
    let thresholds = crate::store::activities::athlete_thresholds(conn, tenant_row, athlete_row)?
        .unwrap_or(paceline_activities::LoadThresholds {
            ftp_w: None,
            threshold_hr_bpm: None,
            resting_hr_bpm: None,
            max_hr_bpm: None,
            sex: None,
        });
    let recent = fitness(
        conn,
        tenant_row,
        athlete_row,
        today - Duration::days(42),
        today - Duration::days(1),
    )?;
    let recovery = recovery(conn, tenant_row, athlete_row, today)?.recovery;
    let name = format_date(today);
    let check_in = rows::daily_between(conn, tenant_row, athlete_row, &name, &name)?
        .into_iter()
        .find(|r| r.source == "manual")
        .map(|r| CheckIn {
            energy: r.energy,
            mood: r.mood,
            soreness: r.soreness,
            note: r.note,
        })
        .filter(|c| c.energy.is_some() || c.mood.is_some() || c.soreness.is_some());
    let monday = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
    let planned_before = if monday < today {
        rows::plans_between(
            conn,
            tenant_row,
            athlete_row,
            &format_date(monday),
            &format_date(today - Duration::days(1)),
        )?
        .into_iter()
        .filter_map(|p| {
            Some(PlannedDay {
                date: parse_date(&p.date)?,
                kind: DayKind::parse(p.plan.get("kind")?.as_str()?)?,
                target_tss: p.plan.get("target_tss")?.as_f64()?,
            })
        })
        .collect()
    } else {
        Vec::new()
    };
    let life = rows::life_events_between(
        conn,
        tenant_row,
        athlete_row,
        &format_date(today - Duration::days(7)),
        &format_date(today + Duration::days(7)),
    )?
    .into_iter()
    .filter_map(|e| {
        Some(LifeEvent {
            kind: LifeKind::parse(&e.kind)?,
            from: parse_date(&e.from_date)?,
            to: parse_date(&e.to_date)?,
            minutes_available: e.minutes_available,
            summary: e.summary.unwrap_or_default(),
        })
    })
    .collect();
    // The hours the athlete allows bound every day's minutes.
    let availability_min = match paceline_planning::window_minutes(&settings.times) {
        Some(window) => settings.availability_min.map(|m| m.min(window)),
        None => settings.availability_min,
    };
    Ok(PlanInputs {
        today,
        goal: settings.goal,
        availability_min,
        equipment: settings.equipment,
        avoid_sports: settings.avoid_sports,
        injuries: settings.injuries,
        sport: settings.sport,
        ftp_w: thresholds.ftp_w.map(f64::from),
        threshold_hr_bpm: thresholds.threshold_hr_bpm.map(f64::from),
        recent,
        recovery: Some(recovery),
        check_in,
        planned_before,
        life,
    })
}

/// The inputs as stored beside the plan (JSON), to read and compare later.
pub fn inputs_json(inputs: &PlanInputs) -> Value {
    let goal = match &inputs.goal {
        Goal::EventOn { name, date, sport } => json!({"kind": "event", "event": name,
            "date": format_date(*date), "sport": sport_name(*sport)}),
        Goal::GeneralFitness => json!({"kind": "general_fitness"}),
    };
    let e = inputs.equipment;
    json!({
        "today": format_date(inputs.today),
        "goal": goal,
        "availability_min": inputs.availability_min,
        "equipment": {"trainer": e.trainer, "power_meter": e.power_meter, "hr_strap": e.hr_strap,
            "treadmill": e.treadmill, "pool": e.pool},
        "avoid_sports": inputs.avoid_sports,
        "injuries": inputs.injuries,
        "sport": sport_name(inputs.sport),
        "ftp_w": inputs.ftp_w,
        "threshold_hr_bpm": inputs.threshold_hr_bpm,
        "recent": inputs.recent.iter().map(|d| json!({"date": format_date(d.date), "tss": d.tss,
            "ctl": d.ctl, "atl": d.atl, "tsb": d.tsb, "acwr": d.acwr})).collect::<Vec<_>>(),
        "recovery": inputs.recovery.as_ref().map(|r| json!({"score": r.score,
            "band": r.band.map(|b| b.as_str()), "multiplier": r.multiplier})),
        "check_in": inputs.check_in.as_ref().map(|c| json!({"energy": c.energy, "mood": c.mood,
            "soreness": c.soreness})),
        "planned_before": inputs.planned_before.iter().map(|p| json!({"date": format_date(p.date),
            "kind": p.kind.as_str(), "target_tss": p.target_tss})).collect::<Vec<_>>(),
        "life": inputs.life.iter().map(|l| json!({"kind": l.kind.as_str(),
            "from": format_date(l.from), "to": format_date(l.to),
            "minutes_available": l.minutes_available, "summary": l.summary})).collect::<Vec<_>>(),
    })
}

/// A plan as stored (JSON): date, kind, target TSS and the workout in Paceline's plan
/// format (null on a rest or event day).
pub fn plan_json(plan: &DailyPlan) -> Result<Value, StoreError> {
    let workout = plan
        .workout
        .as_ref()
        .map(|w| {
            paceline_schemas::codec::to_json(w)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: "generated workout",
                    row: 0,
                    reason: "does not encode".to_owned(),
                })
        })
        .transpose()?;
    let mut value = json!({
        "date": format_date(plan.date),
        "kind": plan.kind.as_str(),
        "target_tss": plan.target_tss,
        "workout": workout,
    });
    if let Some(hour) = plan.start_hour {
        value["start_hour"] = json!(hour);
    }
    Ok(value)
}

/// Today's plan as [`today_plan`] found or made it.
#[derive(Debug)]
pub struct TodayOutcome {
    /// The stored plan.
    pub record: rows::DailyPlanRecord,
    /// Whether it was generated by this call (false: the stored one).
    pub generated: bool,
    /// When regenerated: whether the plan or its inputs differ from the one it replaced.
    pub changed: Option<bool>,
}

/// The athlete's plan for their today: the stored one, or (none stored, or `regenerate`)
/// generated from [`plan_inputs`] with `settings` and stored with its inputs and digest.
/// Regenerating unchanged inputs keeps the stored row.
pub fn today_plan(
    tx: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    settings: PlanSettings,
    now_ms: u64,
    regenerate: bool,
) -> Result<TodayOutcome, StoreError> {
    let today = athlete_today(tx, tenant_row, athlete_row, now_ms)?;
    let name = format_date(today);
    let stored = rows::plans_between(tx, tenant_row, athlete_row, &name, &name)?
        .into_iter()
        .next();
    if let Some(stored) = &stored
        && !regenerate
    {
        return Ok(TodayOutcome {
            record: stored.clone(),
            generated: false,
            changed: None,
        });
    }
    let times = settings.times.clone();
    let inputs = plan_inputs(tx, tenant_row, athlete_row, today, settings)?;
    let mut plan = paceline_planning::daily_plan(&inputs);
    paceline_planning::schedule(&mut plan, &times);
    let digest = paceline_planning::inputs_digest(&inputs);
    let plan_value = plan_json(&plan)?;
    let why = json!(plan.why);
    let changed = stored
        .as_ref()
        .map(|s| s.inputs_digest != digest || s.plan != plan_value || s.why != why);
    if let (Some(same), Some(false)) = (stored, changed) {
        return Ok(TodayOutcome {
            record: same,
            generated: true,
            changed,
        });
    }
    let record = rows::store_plan(
        tx,
        tenant_row,
        athlete_row,
        rows::NewDailyPlan {
            date: &name,
            plan: &plan_value,
            why: &why,
            inputs: &inputs_json(&inputs),
            inputs_digest: &digest,
        },
        now_ms,
    )?;
    Ok(TodayOutcome {
        record,
        generated: true,
        changed,
    })
}

/// Today's plan made again with the athlete's intensity request (the coach chat's "make
/// today easier/harder") through the planner's own rules and power limit
/// ([`paceline_planning::daily_plan_with_intensity`]), and stored as today's plan; or why
/// the rules keep it (nothing stored).
pub fn today_plan_with_intensity(
    tx: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    settings: PlanSettings,
    request: paceline_planning::IntensityRequest,
    now_ms: u64,
) -> Result<Result<rows::DailyPlanRecord, paceline_planning::IntensityRefused>, StoreError> {
    let today = athlete_today(tx, tenant_row, athlete_row, now_ms)?;
    day_plan_with(
        tx,
        tenant_row,
        athlete_row,
        today,
        settings,
        paceline_planning::DayChange {
            intensity: Some(request),
            sport: None,
        },
        now_ms,
    )
}

/// How far ahead the coach chat changes a day's plan: four weeks.
pub const CHANGE_AHEAD_DAYS: i64 = 28;

/// The plan of `date` (today, or a later day up to [`CHANGE_AHEAD_DAYS`] ahead, checked by
/// the caller) made again through the planner's own rules with `settings` and, when
/// given, the athlete's intensity request, and stored as that day's plan; or why the
/// rules keep it (nothing stored). A later day is planned as [`week_outlook`] sees it:
/// no recovery or check-in of that morning yet, and the days from today to it counted
/// at their stored plan's load where no activity carries load yet. Each morning's job
/// keeps a stored plan, so the change holds.
pub fn day_plan_with(
    tx: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    date: Date,
    settings: PlanSettings,
    change: paceline_planning::DayChange,
    now_ms: u64,
) -> Result<Result<rows::DailyPlanRecord, paceline_planning::IntensityRefused>, StoreError> {
    let today = athlete_today(tx, tenant_row, athlete_row, now_ms)?;
    let times = settings.times.clone();
    let name = format_date(date);
    // The day's earlier changes (kept with its stored plan) with this one on top.
    let earlier = rows::plans_between(tx, tenant_row, athlete_row, &name, &name)?
        .first()
        .map(|r| day_change_of(&r.inputs))
        .unwrap_or_default();
    let change = earlier.then(change);
    let mut inputs = plan_inputs(tx, tenant_row, athlete_row, date, settings)?;
    change.apply_to(&mut inputs);
    if date > today {
        let mut loads = day_loads(tx, tenant_row, athlete_row)?;
        let ahead = rows::plans_between(
            tx,
            tenant_row,
            athlete_row,
            &format_date(today),
            &format_date(date - Duration::days(1)),
        )?;
        for stored in ahead {
            let (Some(day), Some(tss)) = (
                parse_date(&stored.date),
                stored.plan.get("target_tss").and_then(Value::as_f64),
            ) else {
                continue;
            };
            if !loads.iter().any(|l| l.date == day && l.tss > 0.0) {
                loads.push(DayLoad { date: day, tss });
            }
        }
        inputs.recent =
            paceline_planning::fitness(&loads, date - Duration::days(42), date - Duration::days(1));
        inputs.recovery = None;
        inputs.check_in = None;
    }
    let mut plan = match paceline_planning::daily_plan_with_change(&inputs, change) {
        Ok(plan) => plan,
        Err(refused) => return Ok(Err(refused)),
    };
    paceline_planning::schedule(&mut plan, &times);
    let digest = paceline_planning::inputs_digest(&inputs);
    let mut stored_inputs = inputs_json(&inputs);
    if !change.is_empty() {
        stored_inputs["changes"] = day_change_json(change);
    }
    rows::store_plan(
        tx,
        tenant_row,
        athlete_row,
        rows::NewDailyPlan {
            date: &name,
            plan: &plan_json(&plan)?,
            why: &json!(plan.why),
            inputs: &stored_inputs,
            inputs_digest: &digest,
        },
        now_ms,
    )
    .map(Ok)
}

/// A day's changes as kept in its stored plan's inputs (`"changes"`).
fn day_change_json(change: paceline_planning::DayChange) -> Value {
    let intensity = change.intensity.map(|r| {
        json!({
            "change": match r.change {
                paceline_planning::IntensityChange::Easier => "easier",
                paceline_planning::IntensityChange::Harder => "harder",
            },
            "work_power_w": r.work_power_w,
            "hr_cap_bpm": r.hr_cap_bpm,
        })
    });
    json!({"intensity": intensity, "sport": change.sport.map(sport_name)})
}

/// The changes kept in a stored plan's inputs (none when it has none, or they do not
/// read: the planner's own plan is the base then).
fn day_change_of(inputs: &Value) -> paceline_planning::DayChange {
    let changes = &inputs["changes"];
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let intensity = &changes["intensity"];
    paceline_planning::DayChange {
        intensity: match intensity["change"].as_str() {
            Some(word @ ("easier" | "harder")) => Some(paceline_planning::IntensityRequest {
                change: if word == "easier" {
                    paceline_planning::IntensityChange::Easier
                } else {
                    paceline_planning::IntensityChange::Harder
                },
                work_power_w: number(&intensity["work_power_w"]),
                hr_cap_bpm: number(&intensity["hr_cap_bpm"]),
            }),
            _ => None,
        },
        sport: match changes["sport"].as_str() {
            Some("bike") => Some(paceline_schemas::plan::Sport::Bike),
            Some("run") => Some(paceline_schemas::plan::Sport::Run),
            Some("other") => Some(paceline_schemas::plan::Sport::Other),
            _ => None,
        },
    }
}

/// One day of [`week_outlook`]: its date and its plan as stored (JSON, the form of a
/// stored daily plan), and whether it is only an outlook (generated, not stored).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlookDay {
    /// The day.
    pub date: Date,
    /// The plan, in the stored form ([`plan_json`]).
    pub plan: Value,
    /// True when no plan is stored for the day and this one is the rules' outlook.
    pub projected: bool,
}

/// The seven days from `monday` as the athlete will likely be asked to ride them: a day's
/// stored plan where there is one, else the plan the rules give from what is known now:
/// no check-in or recovery of that morning yet, and the days before it in the outlook
/// counted as ridden at their planned load (unless an activity already carries load that
/// day). Nothing is stored: each morning plans its own day again from that day's data.
/// The weekly digest shows it as next week's plan.
pub fn week_outlook(
    conn: &Connection,
    tenant_row: i64,
    athlete_row: i64,
    monday: Date,
    settings: &PlanSettings,
) -> Result<Vec<OutlookDay>, StoreError> {
    let sunday = monday + Duration::days(6);
    let stored = rows::plans_between(
        conn,
        tenant_row,
        athlete_row,
        &format_date(monday),
        &format_date(sunday),
    )?;
    let mut loads = day_loads(conn, tenant_row, athlete_row)?;
    let mut planned_before: Vec<PlannedDay> = Vec::new();
    let mut days = Vec::with_capacity(7);
    for offset in 0..7 {
        let date = monday + Duration::days(offset);
        let name = format_date(date);
        let (plan, projected) = match stored.iter().find(|p| p.date == name) {
            Some(record) => (record.plan.clone(), false),
            None => {
                let mut inputs =
                    plan_inputs(conn, tenant_row, athlete_row, date, settings.clone())?;
                inputs.recent = paceline_planning::fitness(
                    &loads,
                    date - Duration::days(42),
                    date - Duration::days(1),
                );
                inputs.recovery = None;
                inputs.check_in = None;
                inputs.planned_before.retain(|p| p.date < monday);
                inputs.planned_before.extend(planned_before.iter().cloned());
                let mut plan = paceline_planning::daily_plan(&inputs);
                paceline_planning::schedule(&mut plan, &settings.times);
                (plan_json(&plan)?, true)
            }
        };
        let kind = plan
            .get("kind")
            .and_then(Value::as_str)
            .and_then(DayKind::parse);
        let target_tss = plan
            .get("target_tss")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if let Some(kind) = kind {
            planned_before.push(PlannedDay {
                date,
                kind,
                target_tss,
            });
        }
        if !loads.iter().any(|l| l.date == date && l.tss > 0.0) {
            loads.push(DayLoad {
                date,
                tss: target_tss,
            });
        }
        days.push(OutlookDay {
            date,
            plan,
            projected,
        });
    }
    Ok(days)
}

/// What one pass of the planning job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanningPass {
    /// Athletes looked at.
    pub athletes: usize,
    /// Plans generated (athletes whose today had none).
    pub generated: usize,
    /// Athletes whose plan failed (logged; the others go on).
    pub failed: usize,
}

/// Athletes per write transaction of the planning job: short enough that live writes
/// and API requests wait at most a few milliseconds behind one.
pub const ATHLETES_PER_TRANSACTION: usize = 50;

/// One pass of the planning job: every athlete of every tenant gets their today's plan
/// (generated when their local day has none yet; kept when it has), so the morning's
/// plan is ready before the athlete asks. Athletes are taken in row order,
/// [`ATHLETES_PER_TRANSACTION`] to a transaction; an athlete whose plan fails is
/// logged and counted, the others go on.
pub fn plan_every_athlete(
    store: &crate::store::Store,
    now_ms: u64,
    settings_of: impl Fn(&Connection, i64, i64) -> Result<PlanSettings, StoreError>,
) -> Result<PlanningPass, StoreError> {
    let mut pass = PlanningPass::default();
    let mut after = 0;
    loop {
        let batch =
            store.read(|conn| rows::athletes_after(conn, after, ATHLETES_PER_TRANSACTION))?;
        let Some(&(_, last)) = batch.last() else {
            return Ok(pass);
        };
        after = last;
        let (generated, failed) = store.write(|tx| -> Result<(usize, usize), StoreError> {
            let (mut generated, mut failed) = (0, 0);
            for &(tenant_row, athlete_row) in &batch {
                let outcome = settings_of(tx, tenant_row, athlete_row).and_then(|settings| {
                    today_plan(tx, tenant_row, athlete_row, settings, now_ms, false)
                });
                match outcome {
                    Ok(o) => generated += usize::from(o.generated),
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(error = %e, athlete = athlete_row, "planning job: no plan");
                    }
                }
            }
            Ok((generated, failed))
        })?;
        pass.athletes += batch.len();
        pass.generated += generated;
        pass.failed += failed;
    }
}

/// How often the planning job runs: each athlete's local day begins at their own
/// midnight, so an hourly pass has every plan ready within the hour after it.
pub const PLANNING_JOB_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The planning job: a pass every [`PLANNING_JOB_EVERY`] while `running` holds (checked
/// each second, so a stop is prompt), the first one interval after start (the API
/// generates a plan on demand anyway, so a restart needs no pass of its own). A failed
/// pass is logged and tried again next time.
pub fn run_job(live: &crate::live::Live, running: &std::sync::atomic::AtomicBool) {
    use std::sync::atomic::Ordering;
    loop {
        let mut waited = std::time::Duration::ZERO;
        while waited < PLANNING_JOB_EVERY {
            if !running.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            waited += std::time::Duration::from_secs(1);
        }
        match plan_every_athlete(
            live.store(),
            live.clock().now_ms(),
            crate::api::planning::plan_settings,
        ) {
            Ok(pass) => tracing::info!(
                athletes = pass.athletes,
                generated = pass.generated,
                failed = pass.failed,
                "planning job pass"
            ),
            Err(e) => tracing::warn!(error = %e, "the planning job failed a pass"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_only_in_their_one_form_and_days_are_local() {
        let d = parse_date("2026-12-06").unwrap();
        assert_eq!(format_date(d), "2026-12-06");
        for bad in [
            "2026-2-06",
            "2026-02-30",
            "26-12-06",
            "2026-12-06T00",
            "+026-12-06",
            "２０２６-12-06",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        // 2026-12-05T23:30Z is the 6th in Paris (+1 h) and the 5th in UTC and New York.
        let ms = 1_796_513_400_000;
        assert_eq!(format_date(local_day(ms, None)), "2026-12-05");
        assert_eq!(format_date(local_day(ms, Some(3600))), "2026-12-06");
        assert_eq!(format_date(local_day(ms, Some(-18_000))), "2026-12-05");
        assert_eq!(format_date(local_day(-1, None)), "1969-12-31");
    }

    #[test]
    fn a_days_metrics_take_the_manual_value_before_another_sources() {
        let manual = DailyRecord {
            source: "manual".into(),
            hrv_ms: Some(60.0),
            ..DailyRecord::default()
        };
        let garmin = DailyRecord {
            source: "garmin".into(),
            hrv_ms: Some(55.0),
            sleep_s: Some(28_000.0),
            ..DailyRecord::default()
        };
        let merged = merged_metrics(&[&garmin, &manual]);
        assert_eq!(
            (merged.hrv_ms, merged.sleep_s),
            (Some(60.0), Some(28_000.0))
        );
        assert_eq!(merged_metrics(&[]), DailyMetrics::default());
    }

    /// Three athletes in two tenants (one with a settings row that does not read): a
    /// pass plans the two it can, counts the third as failed, and a second pass the same
    /// day generates nothing (the stored plans stay).
    #[test]
    fn the_planning_job_plans_every_athlete_once_a_day_and_survives_a_bad_one() {
        use crate::store::{Store, ensure_athlete, ensure_tenant, prepare_data_dir};
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now_ms = 1_796_513_400_000; // 2026-12-05T23:30Z
        let athletes = store
            .write(|tx| -> Result<Vec<(i64, i64)>, StoreError> {
                let mut out = Vec::new();
                for (slug, name) in [("one", "Ana"), ("one", "Ben"), ("two", "Cy")] {
                    let tenant = paceline_schemas::TenantId::new(slug.to_owned()).unwrap();
                    let t = ensure_tenant(tx, &tenant, 1)?;
                    out.push((t, ensure_athlete(tx, t, name, None, 1)?));
                }
                let (t, cy) = out[2];
                tx.execute(
                    "INSERT INTO planning_settings (tenant_id, athlete_id, settings_json, updated_ms)
                     VALUES (?1, ?2, '{\"goal\": 7}', 1)",
                    rusqlite::params![t, cy],
                )?;
                Ok(out)
            })
            .unwrap();
        let settings =
            |conn: &Connection, t: i64, a: i64| crate::api::planning::plan_settings(conn, t, a);
        let first = plan_every_athlete(&store, now_ms, settings).unwrap();
        assert_eq!(
            first,
            PlanningPass {
                athletes: 3,
                generated: 2,
                failed: 1
            }
        );
        let second = plan_every_athlete(&store, now_ms, settings).unwrap();
        assert_eq!(
            second,
            PlanningPass {
                athletes: 3,
                generated: 0,
                failed: 1
            }
        );
        let stored = store
            .read(|conn| {
                let mut n = Vec::new();
                for &(t, a) in &athletes {
                    n.push(rows::plans_between(conn, t, a, "2026-12-05", "2026-12-05")?.len());
                }
                Ok::<_, StoreError>(n)
            })
            .unwrap();
        assert_eq!(
            stored,
            [1, 1, 0],
            "one plan each for Ana and Ben, on their UTC day"
        );
    }
}
