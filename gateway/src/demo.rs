//! The demo gym: a tenant with simulated athletes, each with a device and a plan for their
//! next session, so that `paceline demo` shows live sessions and cues at once.
//!
//! Running the demo again reuses the same tenant, athletes and devices; each start gives
//! the devices fresh tokens (tokens are stored only as digests, so the old ones cannot be
//! read back) and assigns the plans again.

use paceline_coach::plan_import::import_plan;
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::{AthleteProfile, DeviceId, DeviceKey, TenantId};
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
