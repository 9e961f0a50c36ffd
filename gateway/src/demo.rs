//! The demo gym: a tenant with simulated athletes, each with a device and a plan for their
//! next session, so that `paceline demo` shows live sessions and cues at once.
//!
//! Running the demo again reuses the same tenant, athletes and devices; each start gives
//! the devices fresh tokens (tokens are stored only as digests, so the old ones cannot be
//! read back) and assigns the plans again.
//!
//! The riders are the edge agent's simulated athletes (`paceline_edge`), run in this
//! process as one gym-hub agent over MQTT to the gateway's own broker: one athlete rides
//! hot (the `overheat` scenario drives heart rate through the cap), one has flaky sensors
//! (`dropout`), the others ride their plan. When a ride ends, the gym starts the next.

use paceline_coach::plan_import::import_plan;
use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::{AthleteProfile, DeviceId, DeviceKey, TenantId, codec};
use rusqlite::{OptionalExtension, params};

use crate::store::secrets::{ServerKey, token_digest};
use crate::store::{self, Store, StoreError};

/// The demo tenant.
pub const DEMO_TENANT: &str = "demo-gym";

/// The plans the demo athletes ride, in turn: short enough that a newcomer sees steps
/// change, intervals and cues within minutes.
const DEMO_PLANS: &[(&str, &str)] = &[
    (
        "demo-intervals.zwo",
        include_str!("demo/demo-intervals.zwo"),
    ),
    (
        "demo-threshold.zwo",
        include_str!("demo/demo-threshold.zwo"),
    ),
];

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
}

/// The profile of demo athlete `index`: varied fitness, so that some hit their limits.
pub fn demo_profile(index: usize, name: &str) -> AthleteProfile {
    let step = u16::try_from(index % 8).unwrap_or(0);
    AthleteProfile {
        name: Some(name.to_owned()),
        age: Some(u8::try_from(25 + (index * 7) % 30).unwrap_or(40)),
        sex: None,
        weight_kg: Some(60.0 + f32::from(step) * 3.0),
        hr_max: Some(182 + step * 2),
        hr_rest: Some(50 + step),
        lthr: Some(162 + step * 2),
        hr_cap: Some(174 + step * 2),
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
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM plans WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_row, plan.name],
                |row| row.get(0),
            )
            .optional()?;
        let row = match existing {
            Some(row) => row,
            None => store::add_plan(&tx, tenant_row, "zwo", &plan, now_ms)?,
        };
        plan_rows.push((row, plan.name.clone()));
    }
    let mut athletes = Vec::with_capacity(count);
    for index in 0..count {
        let name = match NAMES.get(index) {
            Some(name) => (*name).to_owned(),
            None => format!("Athlete {}", index + 1),
        };
        let profile = demo_profile(index, &name);
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now_ms)?;
        let Some((plan_row, plan_name)) = plan_rows.get(index % plan_rows.len().max(1)).cloned()
        else {
            continue;
        };
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
        });
    }
    tx.commit()?;
    Ok(athletes)
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
            "SELECT id, device_id, key_sealed FROM devices
             WHERE tenant_id = ?1 AND athlete_id = ?2 AND revoked_ms IS NULL
             ORDER BY id LIMIT 1",
            params![tenant_row, athlete_row],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    match existing {
        Some((row, device_id, sealed)) => {
            let key = server_key.open_device_key(&device_id, &sealed)?;
            let token = DeviceToken::generate();
            tx.execute(
                "UPDATE devices SET token_sha256 = ?1 WHERE tenant_id = ?2 AND id = ?3",
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

/// Runs the gateway with the demo gym riding, until Ctrl-C or `duration`.
pub async fn run(
    settings: crate::settings::Settings,
    athletes: usize,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let gateway = crate::server::Gateway::start(&settings).await?;
    crate::server::print_banner(&gateway);
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
                let events = agent.subscribe();
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
            let scenario = match index % 8 {
                2 => Scenario::Overheat,
                5 => Scenario::Dropout,
                _ => Scenario::Steady,
            };
            let plan = DEMO_PLANS
                .get(index % DEMO_PLANS.len())
                .and_then(|(file, text)| import_plan(file, text.as_bytes()).ok());
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
                        scenario,
                        plan,
                        profile: Some(athlete.profile.clone()),
                        ..SimulatorConfig::default()
                    },
                    speed: 1.0,
                },
            }
        })
        .collect();
    AgentConfig::new(GatewayConfig::mqtt(mqtt), spool_dir.to_owned(), athletes)
}

/// Prints every cue the riders hear, one line each (the demo's live view in a terminal).
async fn print_cues(
    mut events: tokio::sync::broadcast::Receiver<AgentEvent>,
    names: std::collections::HashMap<DeviceId, String>,
) {
    use std::io::Write;
    loop {
        match events.recv().await {
            Ok(AgentEvent::CueReceived { device, cue, .. }) => {
                let name = names.get(&device).map_or("?", String::as_str);
                let severity = codec::to_json(&cue.severity).unwrap_or_default();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "{name:<8} {minutes:>2}:{seconds:02}  {severity:<8} {text}",
                    minutes = (cue.t_s / 60.0).floor(),
                    seconds = (cue.t_s % 60.0).floor(),
                    severity = severity.trim_matches('"'),
                    text = cue.text,
                );
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
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

fn print_demo_banner(gateway: &crate::server::Gateway, gym: &[DemoAthlete], password: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let riders: Vec<String> = gym
        .iter()
        .map(|a| format!("{} ({})", a.name, a.plan_name))
        .collect();
    let _ = writeln!(
        out,
        "\nDemo gym {DEMO_TENANT}: {count} simulated athletes riding now: {riders}.\n\
         Where to look:\n  \
         - here: every cue the athletes hear, as it happens (name, time into the ride, severity, text)\n  \
         - http://{http}/metrics: frames received and stored, cue latency, sessions open\n  \
         - {db}: sessions, samples, cues and summaries, e.g.\n    \
           sqlite3 {db} \"SELECT session_id, status, summary_json FROM sessions\"\n  \
         - http://{http}/api/v1: the API, logged in as the gym's head coach:\n    \
           email {email}  password {password}  (new at every demo start)\n",
        email = DEMO_LOGIN_EMAIL,
        count = gym.len(),
        riders = riders.join(", "),
        http = gateway.http,
        db = gateway.data_dir.join(crate::store::DATABASE_FILE).display(),
    );
}
