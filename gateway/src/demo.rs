//! The demo gym: a tenant with simulated athletes, each with a device and a plan for their
//! next session, so that `paceline demo` shows live sessions and cues at once.
//!
//! Running the demo again reuses the same tenant, athletes and devices; each start gives
//! the devices fresh tokens (tokens are stored only as digests, so the old ones cannot be
//! read back) and assigns the plans again.
//!
//! The riders are the edge agent's simulated athletes (`paceline_edge`), run in this
//! process as one gym-hub agent over MQTT to the gateway's own broker. Each has a
//! [`Role`] that makes the Coach speak within the first two minutes: one rides hot (heart
//! rate through the cap), one starts too hard, one too easy, one has flaky sensors, one
//! rides today's plan as the planner generated it (a busy day of
//! [`TODAYS_PLAN_MINUTES`] minutes, so the engine's time-budget compression shapes it),
//! the others ride their plan. When a ride ends, the gym starts the next.
//!
//! Stdout is the demo's live view: a short block saying where to look, then one line per
//! cue. The gateway's own logs go to stderr.

use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_formats::plan_import::import_plan;
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::{AthleteProfile, DeviceId, DeviceKey, TenantId, codec};
use rusqlite::{OptionalExtension, params};

use crate::store::secrets::{ServerKey, token_digest};
use crate::store::{self, Store, StoreError, queries};

/// The demo tenant.
pub const DEMO_TENANT: &str = "demo-gym";

/// The plans assigned to the demo athletes: short enough that a newcomer sees steps
/// change, intervals and cues within the first two minutes.
const DEMO_PLANS: &[(&str, &str)] = &[INTERVALS, THRESHOLD];

const INTERVALS: (&str, &str) = (
    "demo-intervals.zwo",
    include_str!("demo/demo-intervals.zwo"),
);
const THRESHOLD: (&str, &str) = (
    "demo-threshold.zwo",
    include_str!("demo/demo-threshold.zwo"),
);

/// What the rider who starts too hard actually rides of [`THRESHOLD`].
const RIDE_TOO_HARD: (&str, &str) = ("ride-too-hard.zwo", include_str!("demo/ride-too-hard.zwo"));
/// What the rider who starts too easy actually rides of [`INTERVALS`].
const RIDE_HOLDING_BACK: (&str, &str) = (
    "ride-holding-back.zwo",
    include_str!("demo/ride-holding-back.zwo"),
);

/// How a demo athlete rides. Each role but [`Role::OnPlan`] makes the Coach speak early
/// with a kind of cue of its own; the demo data (plans, profiles, the simulator's
/// settings) is tuned so that each does within the first two minutes of a ride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Rides the assigned plan: step cues only.
    OnPlan,
    /// Rides most of the warm-up far above its target: "ease off".
    TooHard,
    /// Rides most of the warm-up far below its target: "bring it up".
    HoldingBack,
    /// Rides hot: cardiac drift of 15 bpm a minute, then the simulator's heat on top,
    /// drive heart rate through a cap set low: safety cues.
    Overheating,
    /// Heart-rate and power sensors drop out for 20 s a minute in (and every 3 minutes
    /// after): signal lost and back.
    FlakySensors,
    /// Rides today's generated plan (`POST /athletes/{id}/plan/today`, then started as
    /// the next plan), on a day with [`TODAYS_PLAN_MINUTES`] minutes: step cues. On a
    /// rest day, the assigned plan instead.
    TodaysPlan,
}

/// The minutes the [`Role::TodaysPlan`] rider has today (a busy-day life event): the
/// shortest day the planner still plans a workout for, so the ride is as short as the
/// other demo plans.
pub const TODAYS_PLAN_MINUTES: u32 = 10;

/// The roles of the demo athletes, by index (repeating after eight), with the plan each
/// is assigned.
const ROLES: [(Role, (&str, &str)); 8] = [
    (Role::OnPlan, INTERVALS),
    (Role::TooHard, THRESHOLD),
    (Role::Overheating, THRESHOLD),
    (Role::HoldingBack, INTERVALS),
    (Role::OnPlan, THRESHOLD),
    (Role::FlakySensors, INTERVALS),
    (Role::OnPlan, THRESHOLD),
    (Role::TodaysPlan, INTERVALS),
];

/// The overheating rider's cardiac drift, bpm per hour (15 bpm a minute: a hot room).
const OVERHEATING_DRIFT_BPM_PER_H: f64 = 900.0;

/// The role and assigned plan of demo athlete `index`.
fn role_of(index: usize) -> (Role, (&'static str, &'static str)) {
    ROLES[index % ROLES.len()]
}

impl Role {
    /// What the start banner says about the rider.
    fn about(self) -> &'static str {
        match self {
            Role::OnPlan => "rides the plan",
            Role::TodaysPlan => "rides today's generated plan (a busy day: 10 minutes)",
            Role::TooHard => "starts too hard",
            Role::HoldingBack => "starts too easy",
            Role::Overheating => "rides hot: heart rate climbs through the cap",
            Role::FlakySensors => {
                "flaky sensors: 20 s of silence a minute in, then every 3 minutes"
            }
        }
    }

    /// The ride the simulator plays, when it is not the assigned plan.
    fn ridden(self) -> Option<(&'static str, &'static str)> {
        match self {
            Role::TooHard => Some(RIDE_TOO_HARD),
            Role::HoldingBack => Some(RIDE_HOLDING_BACK),
            Role::OnPlan | Role::Overheating | Role::FlakySensors | Role::TodaysPlan => None,
        }
    }

    /// The simulator's scenario (heat and dropouts; the power follows the ridden plan).
    fn scenario(self) -> Scenario {
        match self {
            Role::Overheating => Scenario::Overheat,
            Role::FlakySensors => Scenario::Dropout,
            Role::OnPlan | Role::TooHard | Role::HoldingBack | Role::TodaysPlan => Scenario::Steady,
        }
    }
}

/// First names of the demo athletes (numbered after the list runs out).
const NAMES: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hugo", "Iris", "Jonas", "Kira", "Luca",
    "Maya", "Noah", "Olga", "Pavel",
];

/// One demo athlete with the credentials of their device.
#[derive(Debug)]
pub struct DemoAthlete {
    /// Display name.
    pub name: String,
    /// The athlete's profile.
    pub profile: AthleteProfile,
    /// The tenant.
    pub tenant: TenantId,
    /// The device.
    pub device: DeviceId,
    /// Its sealing key.
    pub key: DeviceKey,
    /// Its fresh connection token.
    pub token: DeviceToken,
    /// The plan assigned to the next session.
    pub plan_name: String,
    /// The plan itself, when it is not one of the demo's files (today's generated plan).
    pub generated_plan: Option<paceline_schemas::WorkoutPlan>,
    /// How they ride.
    pub role: Role,
}

/// The profile of demo athlete `index`: varied fitness; the overheating rider's cap is
/// set 14 bpm under their maximum, the others' 8 to 22 bpm over their threshold.
pub fn demo_profile(index: usize, name: &str) -> AthleteProfile {
    let step = u16::try_from(index % 8).unwrap_or(0);
    let hr_max = 182 + step * 2;
    let hr_cap = match role_of(index).0 {
        Role::Overheating => hr_max - 14,
        _ => 174 + step * 2,
    };
    AthleteProfile {
        name: Some(name.to_owned()),
        age: Some(u8::try_from(25 + (index * 7) % 30).unwrap_or(40)),
        sex: None,
        weight_kg: Some(60.0 + f32::from(step) * 3.0),
        hr_max: Some(hr_max),
        hr_rest: Some(50 + step),
        lthr: Some(162 + step * 2),
        hr_cap: Some(hr_cap),
        ftp: Some(200 + step * 15),
        cp: Some(210 + step * 15),
        w_prime_j: Some(16_000 + u32::from(step) * 1_000),
        rpe_only: false,
        hr_zone_model: None,
        zone_overrides: None,
    }
}

/// Creates (or refreshes) the demo gym with `count` athletes.
pub fn prepare(store: &Store, count: usize, now_ms: u64) -> Result<Vec<DemoAthlete>, StoreError> {
    let tenant = TenantId::new(DEMO_TENANT).map_err(|e| StoreError::Corrupt {
        what: "demo tenant",
        row: 0,
        reason: e.to_string(),
    })?;
    let server_key = store.server_key();
    let mut conn = store::connect(store.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let tenant_row = store::ensure_tenant(&tx, &tenant, now_ms)?;
    let mut plan_rows = Vec::new();
    for (file, text) in DEMO_PLANS {
        let plan = import_plan(file, text.as_bytes()).map_err(|e| StoreError::Corrupt {
            what: "demo plan",
            row: 0,
            reason: e.to_string(),
        })?;
        let plan_json = codec::to_json(&plan).map_err(|e| StoreError::Corrupt {
            what: "demo plan",
            row: 0,
            reason: e.to_string(),
        })?;
        // The same plan as stored by an earlier demo start, unless the plan changed since.
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM plans WHERE tenant_id = ?1 AND name = ?2 AND plan_json = ?3
                 ORDER BY id DESC LIMIT 1",
                params![tenant_row, plan.name, plan_json],
                |row| row.get(0),
            )
            .optional()?;
        let row = match existing {
            Some(row) => row,
            None => store::add_plan(&tx, tenant_row, "zwo", &plan, now_ms)?,
        };
        plan_rows.push((*file, row, plan.name.clone()));
    }
    let mut athletes = Vec::with_capacity(count);
    for index in 0..count {
        let name = match NAMES.get(index) {
            Some(name) => (*name).to_owned(),
            None => format!("Athlete {}", index + 1),
        };
        let profile = demo_profile(index, &name);
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now_ms)?;
        let (role, (plan_file, _)) = role_of(index);
        let Some((_, mut plan_row, mut plan_name)) = plan_rows
            .iter()
            .find(|(file, _, _)| *file == plan_file)
            .cloned()
        else {
            continue;
        };
        let generated_plan = match role {
            Role::TodaysPlan => todays_plan(&tx, tenant_row, athlete_row, now_ms)?,
            _ => None,
        };
        if let Some((row, plan)) = &generated_plan {
            plan_row = *row;
            plan_name.clone_from(&plan.name);
        }
        store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
        let (device, key, token) =
            demo_device(&tx, &server_key, &tenant, tenant_row, athlete_row, now_ms)?;
        athletes.push(DemoAthlete {
            name,
            profile,
            tenant: tenant.clone(),
            device,
            key,
            token,
            plan_name,
            generated_plan: generated_plan.map(|(_, plan)| plan),
            role,
        });
    }
    tx.commit()?;
    Ok(athletes)
}

/// Today's plan for the [`Role::TodaysPlan`] rider, generated as the Today page does
/// (a busy day of [`TODAYS_PLAN_MINUTES`] minutes entered as a life event; a trainer, a
/// power meter and a strap) and started: stored as a plan of the tenant, assigned, and
/// linked from the daily plan. `None` on a rest day.
fn todays_plan(
    tx: &rusqlite::Transaction<'_>,
    tenant_row: i64,
    athlete_row: i64,
    now_ms: u64,
) -> Result<Option<(i64, paceline_schemas::WorkoutPlan)>, StoreError> {
    use crate::store::planning as rows;
    let today = crate::jobs::planning::format_date(crate::jobs::planning::athlete_today(
        tx,
        tenant_row,
        athlete_row,
        now_ms,
    )?);
    rows::add_life_event(
        tx,
        tenant_row,
        athlete_row,
        &rows::LifeEventRecord {
            id: 0,
            kind: "busy".to_owned(),
            from_date: today.clone(),
            to_date: today.clone(),
            minutes_available: Some(TODAYS_PLAN_MINUTES),
            summary: Some("Demo: only 10 minutes today".to_owned()),
            external_id: Some("demo:todays-minutes".to_owned()),
            created_ms: 0,
        },
        now_ms,
    )?;
    let settings = crate::jobs::planning::PlanSettings {
        goal: paceline_planning::Goal::GeneralFitness,
        availability_min: [60; 7],
        equipment: paceline_planning::Equipment {
            trainer: true,
            power_meter: true,
            hr_strap: true,
            treadmill: false,
            pool: false,
        },
        avoid_sports: Vec::new(),
        injuries: Vec::new(),
        sport: paceline_schemas::plan::Sport::Bike,
        times: paceline_planning::TimesOfDay::default(),
    };
    let outcome =
        crate::jobs::planning::today_plan(tx, tenant_row, athlete_row, settings, now_ms, true)?;
    let Some(workout) = outcome.record.plan.get("workout").filter(|w| !w.is_null()) else {
        return Ok(None);
    };
    let plan: paceline_schemas::WorkoutPlan = codec::from_json(workout.to_string().as_bytes())
        .map_err(|e| StoreError::Corrupt {
            what: "generated workout",
            row: outcome.record.id,
            reason: e.to_string(),
        })?;
    // Started already by an earlier ride today (the plan unchanged): the same plan row.
    let plan_row = match outcome.record.plan_id {
        Some(row) => row,
        None => {
            let row = store::add_plan(tx, tenant_row, "paceline", &plan, now_ms)?;
            rows::set_plan_row(tx, tenant_row, athlete_row, &today, row)?;
            row
        }
    };
    Ok(Some((plan_row, plan)))
}

/// The athlete's demo device with a fresh token, created if there is none.
fn demo_device(
    tx: &rusqlite::Transaction<'_>,
    server_key: &ServerKey,
    tenant: &TenantId,
    tenant_row: i64,
    athlete_row: i64,
    now_ms: u64,
) -> Result<(DeviceId, DeviceKey, DeviceToken), StoreError> {
    let existing: Option<(i64, String, Vec<u8>)> = tx
        .query_row(
            queries::FIRST_ACTIVE_DEVICE,
            params![tenant_row, athlete_row],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    match existing {
        Some((row, device_id, sealed)) => {
            let key = server_key.open_device_key(&device_id, &sealed)?;
            let token = DeviceToken::generate();
            tx.execute(
                queries::SET_DEVICE_TOKEN,
                params![token_digest(&token).to_vec(), tenant_row, row],
            )?;
            let device = DeviceId::new(device_id).map_err(|e| StoreError::Corrupt {
                what: "device id",
                row,
                reason: e.to_string(),
            })?;
            Ok((device, key, token))
        }
        None => {
            let new = store::add_device(tx, server_key, tenant, tenant_row, athlete_row, now_ms)?;
            Ok((new.device, new.key, new.token))
        }
    }
}

/// MQTT connections the demo gateway takes beyond its simulated athletes' devices.
const DEMO_SPARE_CONNECTIONS: usize = 1_000;

/// Runs the gateway with the demo gym riding, until Ctrl-C or `duration`.
pub async fn run(
    mut settings: crate::settings::Settings,
    athletes: usize,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    // Room for the gym and a few more devices, not a production gateway's 20,000: the
    // demo's first screen has no warning to raise the open-file limit.
    settings.mqtt_max_connections = settings
        .mqtt_max_connections
        .min(athletes.saturating_add(DEMO_SPARE_CONNECTIONS));
    let gateway = crate::server::Gateway::start(&settings).await?;
    let now_ms = crate::clock::GatewayClock::start().now_ms();
    let gym =
        prepare(gateway.live.store(), athletes.max(1), now_ms).context("preparing the demo gym")?;
    let login = tokio::task::block_in_place(|| demo_login(gateway.live.store(), now_ms))
        .context("the demo gym's login")?;
    print_demo_banner(&gateway, &gym, &login);
    let riding = Riders::start(&gateway, gym);
    match duration {
        Some(duration) => {
            tokio::select! {
                _ = tokio::time::sleep(duration) => {}
                signal = crate::server::wait_for_signal() => signal?,
            }
        }
        None => crate::server::wait_for_signal().await?,
    }
    riding.stop().await;
    gateway.shutdown().await
}

/// The demo gym riding, ride after ride, until stopped.
pub struct Riders {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Riders {
    /// Starts riding on `gateway` with the prepared `gym`.
    pub fn start(gateway: &crate::server::Gateway, gym: Vec<DemoAthlete>) -> Riders {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let mqtt = gateway.mqtt;
        let spool_dir = gateway.data_dir.join("demo-spool");
        let store = std::sync::Arc::clone(gateway.live.store_arc());
        let task = tokio::spawn(async move {
            let mut gym = gym;
            let mut ride = 0u64;
            loop {
                ride += 1;
                let config = agent_config(mqtt, &spool_dir, &gym, ride);
                let mut agent = match Agent::start(config).await {
                    Ok(agent) => agent,
                    Err(err) => {
                        tracing::error!(error = %err, "the demo riders could not start");
                        return;
                    }
                };
                let names: std::collections::HashMap<DeviceId, String> = gym
                    .iter()
                    .map(|a| (a.device.clone(), a.name.clone()))
                    .collect();
                // From the start: the first cues come back before `start` returns.
                let events = agent
                    .events_from_start()
                    .unwrap_or_else(|| agent.subscribe());
                let printer = tokio::spawn(print_cues(events, names));
                let finished = tokio::select! {
                    () = agent.wait_finished() => true,
                    _ = stopped.changed() => false,
                };
                if !finished {
                    agent.shutdown().await;
                    printer.abort();
                    return;
                }
                printer.abort();
                // Next ride: fresh tokens and the plans assigned again.
                let now_ms = crate::clock::GatewayClock::start().now_ms();
                match prepare(&store, gym.len(), now_ms) {
                    Ok(next) => gym = next,
                    Err(err) => {
                        tracing::error!(error = %err, "the demo gym could not be prepared again");
                        return;
                    }
                }
            }
        });
        Riders { stop, task }
    }

    /// Ends the current rides (their `end` frames are sent) and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn agent_config(
    mqtt: std::net::SocketAddr,
    spool_dir: &std::path::Path,
    gym: &[DemoAthlete],
    ride: u64,
) -> AgentConfig {
    let athletes = gym
        .iter()
        .enumerate()
        .map(|(index, athlete)| {
            let (role, assigned) = role_of(index);
            let (file, text) = role.ridden().unwrap_or(assigned);
            let plan = match &athlete.generated_plan {
                Some(plan) => Some(plan.clone()),
                None => import_plan(file, text.as_bytes()).ok(),
            };
            let drift_bpm_per_h = match role {
                Role::Overheating => OVERHEATING_DRIFT_BPM_PER_H,
                _ => SimulatorConfig::default().drift_bpm_per_h,
            };
            AthleteConfig {
                name: athlete.name.clone(),
                credentials: DeviceCredentials {
                    tenant: athlete.tenant.clone(),
                    device: athlete.device.clone(),
                    key: athlete.key.clone(),
                    token: athlete.token.clone(),
                },
                source: Source::Simulator {
                    config: SimulatorConfig {
                        seed: ride * 1_000 + index as u64,
                        scenario: role.scenario(),
                        plan,
                        profile: Some(athlete.profile.clone()),
                        drift_bpm_per_h,
                        ..SimulatorConfig::default()
                    },
                    speed: 1.0,
                },
            }
        })
        .collect();
    AgentConfig::new(GatewayConfig::mqtt(mqtt), spool_dir.to_owned(), athletes)
}

/// Prints every cue the riders hear, one line each (the demo's live view in a terminal):
/// athlete, time into the ride, severity (safety in capitals), text. In colour only when
/// stdout is a terminal.
async fn print_cues(
    mut events: tokio::sync::broadcast::Receiver<AgentEvent>,
    names: std::collections::HashMap<DeviceId, String>,
) {
    use std::io::{IsTerminal, Write};
    let colour = std::io::stdout().is_terminal();
    loop {
        match events.recv().await {
            Ok(AgentEvent::CueReceived { device, cue, .. }) => {
                let name = names.get(&device).map_or("?", String::as_str);
                let line = cue_line(name, &cue, colour);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The column headings above the cue lines.
const CUE_HEADINGS: &str = "athlete    ride  level   cue";

/// One cue as the demo prints it, e.g.
/// `Chloe     1:32  SAFETY  Heart rate 173 is over your cap of 172: …`.
fn cue_line(name: &str, cue: &paceline_schemas::Cue, colour: bool) -> String {
    use paceline_schemas::Severity;
    let (level, style) = match cue.severity {
        Severity::Info => ("info", ""),
        Severity::Warn => ("warn", "\x1b[33m"),
        Severity::Safety => ("SAFETY", "\x1b[1;31m"),
    };
    let (on, off) = if colour && !style.is_empty() {
        (style, "\x1b[0m")
    } else {
        ("", "")
    };
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a ride's seconds, clamped to 0..=359999 first"
    )]
    let t_s = cue.t_s.clamp(0.0, 359_999.0) as u32;
    format!(
        "{name:<8}  {minutes:>2}:{seconds:02}  {on}{level:<6}  {text}{off}",
        minutes = t_s / 60,
        seconds = t_s % 60,
        text = cue.text,
    )
}

/// Login email of the demo gym's head coach (a gym-admin of the demo tenant).
pub const DEMO_LOGIN_EMAIL: &str = "coach@demo-gym.paceline.local";

/// Gives the demo gym's head coach a fresh password (made on first use), ending their
/// earlier logins. Returns the password.
pub fn demo_login(store: &Store, now_ms: u64) -> Result<String, StoreError> {
    let password = crate::accounts::password::generate_password();
    let hash =
        crate::accounts::password::hash_password(&password).map_err(|e| StoreError::Corrupt {
            what: "password hash",
            row: 0,
            reason: e.to_string(),
        })?;
    let tenant = TenantId::new(DEMO_TENANT).map_err(|e| StoreError::Corrupt {
        what: "demo tenant",
        row: 0,
        reason: e.to_string(),
    })?;
    store.write(|tx| {
        let tenant_row = store::ensure_tenant(tx, &tenant, now_ms)?;
        let existing: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
            "SELECT id FROM users WHERE email = ?1 AND tenant_id = ?2",
            rusqlite::params![DEMO_LOGIN_EMAIL, tenant_row],
            |r| r.get(0),
        ))?;
        match existing {
            Some(user) => {
                tx.execute(
                    "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                    rusqlite::params![hash, user],
                )?;
                tx.execute(
                    "UPDATE auth_families SET revoked_ms = ?1, revoked_why = 'demo restarted'
                     WHERE user_id = ?2 AND revoked_ms IS NULL",
                    rusqlite::params![store::to_i64(now_ms), user],
                )?;
            }
            None => {
                store::add_user(
                    tx,
                    tenant_row,
                    DEMO_LOGIN_EMAIL,
                    "Demo head coach",
                    &hash,
                    crate::accounts::Role::GymAdmin.as_str(),
                    None,
                    now_ms,
                )?;
            }
        }
        Ok::<(), StoreError>(())
    })?;
    Ok(password)
}

/// How many riders the start banner names one by one.
const BANNER_RIDERS: usize = 8;

/// The demo's start block: where the live board is, how to log in, who rides, how to
/// stop; then the headings of the cue lines.
fn print_demo_banner(gateway: &crate::server::Gateway, gym: &[DemoAthlete], password: &str) {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let http = gateway.http;
    let mut block = format!(
        "Demo gym {DEMO_TENANT}: {count} simulated athletes riding now.\n\n  \
         Live board  http://{http}/board\n  \
         Log in      email {DEMO_LOGIN_EMAIL}  password {password}  (new at every demo start)\n",
        count = gym.len(),
    );
    if let Some(admin) = &gateway.first_admin {
        let _ = writeln!(
            block,
            "  Server admin, made at this first start (tenant {tenant}):\n              \
             email {email}  password in {file} (mode 0600)",
            tenant = admin.tenant,
            email = admin.email,
            file = admin.password_file.display(),
        );
    }
    let mut heading = "Riders";
    for athlete in gym.iter().take(BANNER_RIDERS) {
        let _ = writeln!(
            block,
            "  {heading:<10}  {name:<8}  {plan:<24}  {about}",
            name = athlete.name,
            plan = athlete.plan_name,
            about = athlete.role.about(),
        );
        heading = "";
    }
    if gym.len() > BANNER_RIDERS {
        let _ = writeln!(
            block,
            "              … and {} more, in the same roles in turn",
            gym.len() - BANNER_RIDERS
        );
    }
    let _ = write!(
        block,
        "  Stop        Ctrl-C (the rides end and what was received is stored first)\n  \
         Also        http://{http}/metrics, the API at http://{http}/api/v1, the database\n              \
         {db}\n              \
         logs on stderr: warnings only, unless PACELINE_LOG asks for more (e.g. info)\n\n\
         Cues as the athletes hear them:\n{CUE_HEADINGS}",
        db = gateway.data_dir.join(crate::store::DATABASE_FILE).display(),
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{block}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eighth demo athlete rides today's generated plan: a daily plan is stored for
    /// their today, compressed to the busy day's minutes, started (its plan row linked
    /// and assigned as the next plan), and the simulator is given that same plan.
    #[test]
    fn the_todays_plan_rider_rides_the_generated_plan_compressed_to_ten_minutes() {
        let dir = tempfile::tempdir().unwrap();
        store::prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now_ms = 1_796_513_400_000;
        let gym = prepare(&store, 8, now_ms).unwrap();
        let hugo = &gym[7];
        assert_eq!(hugo.role, Role::TodaysPlan);
        let plan = hugo.generated_plan.as_ref().expect("a workout today");
        let total_s: u32 = plan.steps.iter().map(step_seconds).sum();
        assert!(
            (9 * 60..=TODAYS_PLAN_MINUTES * 60).contains(&total_s),
            "compressed to the busy day: {total_s} s"
        );
        let (plan_id, next_plan, format): (Option<i64>, Option<i64>, String) = store
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT d.plan_id, a.next_plan_id, p.format FROM daily_plans d
                     JOIN athletes a ON a.id = d.athlete_id
                     JOIN plans p ON p.id = a.next_plan_id
                     WHERE a.name = 'Hugo'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .unwrap();
        assert_eq!((plan_id, format.as_str()), (next_plan, "paceline"));
        assert_eq!(hugo.plan_name, plan.name);
        let config = agent_config("127.0.0.1:1883".parse().unwrap(), dir.path(), &gym, 1);
        match &config.athletes[7].source {
            Source::Simulator { config, .. } => assert_eq!(config.plan.as_ref(), Some(plan)),
            _ => panic!("the demo riders are simulated"),
        }
        // Another start the same day: the same plan again, still one daily plan.
        let again = prepare(&store, 8, now_ms + 60_000).unwrap();
        assert_eq!(again[7].generated_plan.as_ref(), Some(plan));
        let counts: (i64, i64) = store
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT (SELECT COUNT(*) FROM daily_plans),
                            (SELECT COUNT(*) FROM plans WHERE format = 'paceline')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!(counts, (1, 1), "one daily plan, started once");
    }

    fn step_seconds(step: &paceline_schemas::plan::PlanStep) -> u32 {
        use paceline_schemas::plan::PlanStep;
        match step {
            PlanStep::Repeat(block) => {
                block.count * block.steps.iter().map(|s| s.duration_s).sum::<u32>()
            }
            PlanStep::Step(one) => one.duration_s,
        }
    }
}
