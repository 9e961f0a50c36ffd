//! What the core is told about the world: rows the driver read from the database.
//!
//! These are the store's row types for the live path, owned here so that the core can
//! take them as inputs; the gateway's store returns them as they are.

use paceline_schemas::{AthleteProfile, DeviceId, DeviceKey, DeviceStatus, TenantId, WorkoutPlan};

/// A device as the ingress sees it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// Its row.
    pub row: i64,
    /// Its tenant's row.
    pub tenant_row: i64,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its id.
    pub device: DeviceId,
    /// The athlete who wears it.
    pub athlete_row: i64,
    /// Its sealing key.
    pub key: DeviceKey,
    /// SHA-256 of its connection token.
    pub token_sha256: Vec<u8>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A stored session, as the ingress needs it after a restart.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Its row.
    pub row: i64,
    /// Whether it is still open.
    pub open: bool,
    /// The highest seq up to which every frame is stored.
    pub acked_seq: u64,
    /// Seqs stored above `acked_seq` (after a gap).
    pub stored_above: Vec<u64>,
    /// The newest device status stored for it, with its seq.
    pub latest_status: Option<(u64, DeviceStatus)>,
}

/// What a session is coached with.
#[derive(Debug, Clone)]
pub struct AthleteSetup {
    /// The profile.
    pub profile: AthleteProfile,
    /// The plan assigned to the athlete's next session, with its row.
    pub next_plan: Option<(i64, WorkoutPlan)>,
}
