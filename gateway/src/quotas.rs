//! Quotas: per device, sessions per day and samples per second; per tenant, devices and
//! stored bytes. Over a quota, the device's frames are refused (not acknowledged, so the
//! device keeps them in its spool and sends them again later: nothing is lost) and the
//! refusal is counted by quota; a pairing over the device quota is refused with a clear
//! error. Quotas are kept per device and per tenant, so one tenant over its quota never
//! slows another.
//!
//! This module is the rules only: **no clock, no database, no I/O**. Time arrives as an
//! argument (Unix ms); what is stored (sessions opened in the last day, bytes a tenant
//! stores) is handed in by the caller, through closures called only when the state must
//! be read ([`QuotaGate::admit_session`], [`QuotaGate::admit_storage`]).
//!
//! - Samples per second: a token bucket per device, refilled at `device_samples_per_s`,
//!   holding `device_samples_burst_s` seconds' worth, so a device that reconnects with a
//!   spooled backlog sends it at once. A frame costs its sample count (at least 1). A frame
//!   whose seq is not above the highest the device's session already had admitted is a
//!   resend and costs nothing.
//! - Sessions per day: the open times of a device's sessions in the last 24 h (a sliding
//!   window), read from the database the first time the device opens a session here.
//! - Tenant storage: the bytes stored (read at most every [`STORAGE_REREAD_MS`]) plus those
//!   admitted since the last read; at or over the limit, the tenant's frames are refused.
//! - Tenant devices: checked when a device is paired ([`devices_within`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use paceline_schemas::SessionId;
use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// Default most sessions a device opens in 24 h.
pub const DEFAULT_DEVICE_SESSIONS_PER_DAY: u32 = 48;
/// Default sustained samples per second of a device (a rider sends about 4).
pub const DEFAULT_DEVICE_SAMPLES_PER_S: u32 = 50;
/// Default burst of a device, in seconds' worth of samples at the sustained rate.
pub const DEFAULT_DEVICE_SAMPLES_BURST_S: u32 = 60;
/// Default most devices of a tenant (revoked ones not counted).
pub const DEFAULT_TENANT_DEVICES: u32 = 500;
/// Default most bytes of frames a tenant stores: 2 GiB.
pub const DEFAULT_TENANT_STORAGE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// A tenant's stored bytes are read again after this long, ms.
pub const STORAGE_REREAD_MS: u64 = 5_000;
/// A refusal of one quota is logged at most this often, ms.
pub const LOG_EVERY_MS: u64 = 5_000;
/// The sessions-per-day window, ms.
pub const DAY_MS: u64 = 86_400_000;
/// Sessions per device whose highest admitted seq is remembered.
const SEQS_REMEMBERED: usize = 4;

/// A quota, as the `quota` label of `paceline_quota_exceeded_total`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Quota {
    /// A device's samples per second.
    SamplesPerS,
    /// A device's sessions per day.
    SessionsPerDay,
    /// A tenant's stored bytes.
    TenantStorage,
    /// A tenant's devices.
    TenantDevices,
}

impl Quota {
    /// Its name: the metric label and the API's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Quota::SamplesPerS => "samples_per_s",
            Quota::SessionsPerDay => "sessions_per_day",
            Quota::TenantStorage => "tenant_storage",
            Quota::TenantDevices => "tenant_devices",
        }
    }

    /// The setting that sets it.
    pub fn setting(self) -> &'static str {
        match self {
            Quota::SamplesPerS => "device_samples_per_s",
            Quota::SessionsPerDay => "device_sessions_per_day",
            Quota::TenantStorage => "tenant_storage_bytes",
            Quota::TenantDevices => "tenant_devices",
        }
    }
}

impl EncodeLabelValue for Quota {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.name())
    }
}

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Most sessions a device opens in 24 h.
    pub device_sessions_per_day: u32,
    /// Sustained samples per second of a device.
    pub device_samples_per_s: u32,
    /// A device's burst, in seconds' worth of samples.
    pub device_samples_burst_s: u32,
    /// Most devices of a tenant.
    pub tenant_devices: u32,
    /// Most bytes of frames a tenant stores.
    pub tenant_storage_bytes: u64,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        QuotaLimits {
            device_sessions_per_day: DEFAULT_DEVICE_SESSIONS_PER_DAY,
            device_samples_per_s: DEFAULT_DEVICE_SAMPLES_PER_S,
            device_samples_burst_s: DEFAULT_DEVICE_SAMPLES_BURST_S,
            tenant_devices: DEFAULT_TENANT_DEVICES,
            tenant_storage_bytes: DEFAULT_TENANT_STORAGE_BYTES,
        }
    }
}

impl QuotaLimits {
    /// The limit of `quota`, as a number.
    pub fn limit(&self, quota: Quota) -> u64 {
        match quota {
            Quota::SamplesPerS => u64::from(self.device_samples_per_s),
            Quota::SessionsPerDay => u64::from(self.device_sessions_per_day),
            Quota::TenantStorage => self.tenant_storage_bytes,
            Quota::TenantDevices => u64::from(self.tenant_devices),
        }
    }
}

/// A device's samples-per-second token bucket, and the highest seq admitted for each of
/// its latest sessions (resends cost nothing).
#[derive(Debug, Clone)]
pub struct SampleBucket {
    /// Samples that may be admitted now, in thousandths.
    milli_tokens: u64,
    /// When the bucket was last refilled, Unix ms.
    refilled_ms: u64,
    /// (session, highest admitted seq), most recent last.
    seen: Vec<(SessionId, u64)>,
}

impl SampleBucket {
    /// A full bucket at `now_ms`.
    pub fn full(now_ms: u64, limits: &QuotaLimits) -> SampleBucket {
        SampleBucket {
            milli_tokens: capacity_milli(limits),
            refilled_ms: now_ms,
            seen: Vec::new(),
        }
    }

    /// Whether a frame of `cost` samples, seq `seq` of `session`, is admitted at `now_ms`;
    /// it takes its cost from the bucket if it is.
    pub fn admit(
        &mut self,
        now_ms: u64,
        limits: &QuotaLimits,
        session: &SessionId,
        seq: u64,
        cost: u64,
    ) -> bool {
        let elapsed_ms = now_ms.saturating_sub(self.refilled_ms);
        self.refilled_ms = self.refilled_ms.max(now_ms);
        // Samples per second = thousandths of a sample per ms.
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(u64::from(limits.device_samples_per_s)))
            .min(capacity_milli(limits));
        let position = self.seen.iter().position(|(s, _)| s == session);
        if position.is_some_and(|i| seq <= self.seen[i].1) {
            return true;
        }
        let cost_milli = cost.max(1).saturating_mul(1000);
        if cost_milli > self.milli_tokens {
            return false;
        }
        self.milli_tokens -= cost_milli;
        match position {
            Some(i) => {
                let (s, _) = self.seen.remove(i);
                self.seen.push((s, seq));
            }
            None => {
                if self.seen.len() >= SEQS_REMEMBERED {
                    self.seen.remove(0);
                }
                self.seen.push((session.clone(), seq));
            }
        }
        true
    }
}

fn capacity_milli(limits: &QuotaLimits) -> u64 {
    u64::from(limits.device_samples_per_s)
        .saturating_mul(u64::from(limits.device_samples_burst_s.max(1)))
        .saturating_mul(1000)
}

/// When a device's sessions of the last 24 h opened.
#[derive(Debug, Clone, Default)]
pub struct SessionWindow {
    opened_ms: VecDeque<u64>,
}

impl SessionWindow {
    /// The window of a device whose stored sessions opened at these times.
    pub fn from_opened(mut opened_ms: Vec<u64>) -> SessionWindow {
        opened_ms.sort_unstable();
        SessionWindow {
            opened_ms: opened_ms.into(),
        }
    }

    /// Sessions opened in the 24 h up to `now_ms`.
    pub fn count(&mut self, now_ms: u64) -> usize {
        let since = now_ms.saturating_sub(DAY_MS);
        while self.opened_ms.front().is_some_and(|&t| t <= since) {
            self.opened_ms.pop_front();
        }
        self.opened_ms.len()
    }

    /// Whether one more session may open at `now_ms`; it is counted if so.
    pub fn admit(&mut self, now_ms: u64, limit: u32) -> bool {
        if self.count(now_ms) >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return false;
        }
        self.opened_ms.push_back(now_ms);
        true
    }
}

/// What a tenant stores: bytes as last read, and bytes admitted since.
#[derive(Debug, Clone, Copy)]
pub struct StorageUse {
    stored: u64,
    admitted_since: u64,
    read_ms: u64,
}

impl StorageUse {
    /// `stored` bytes, read at `now_ms`.
    pub fn read(stored: u64, now_ms: u64) -> StorageUse {
        StorageUse {
            stored,
            admitted_since: 0,
            read_ms: now_ms,
        }
    }

    /// Whether the stored bytes should be read again.
    pub fn stale(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.read_ms) >= STORAGE_REREAD_MS
    }

    /// The bytes stored or on their way.
    pub fn bytes(&self) -> u64 {
        self.stored.saturating_add(self.admitted_since)
    }

    /// Whether a frame of `bytes` is admitted under `limit`: only while the tenant is
    /// below it (the frame that crosses it is the last one taken).
    pub fn admit(&mut self, bytes: u64, limit: u64) -> bool {
        if self.bytes() >= limit {
            return false;
        }
        self.admitted_since = self.admitted_since.saturating_add(bytes);
        true
    }
}

/// Whether a tenant with `devices` devices may pair one more.
pub fn devices_within(devices: u64, limits: &QuotaLimits) -> bool {
    devices < u64::from(limits.tenant_devices)
}

/// A refusal for being over a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("over the {} quota ({} = {limit})", quota.name(), quota.setting())]
pub struct OverQuota {
    /// The quota.
    pub quota: Quota,
    /// Its limit.
    pub limit: u64,
}

/// The quotas of every device and tenant this process has seen.
#[derive(Debug, Default)]
pub struct QuotaGate {
    limits: QuotaLimits,
    buckets: Mutex<HashMap<i64, SampleBucket>>,
    windows: Mutex<HashMap<i64, SessionWindow>>,
    storage: Mutex<HashMap<i64, StorageUse>>,
    logged: Mutex<HashMap<Quota, (u64, u64)>>,
}

impl QuotaGate {
    /// A gate with these limits.
    pub fn new(limits: QuotaLimits) -> QuotaGate {
        QuotaGate {
            limits,
            ..QuotaGate::default()
        }
    }

    /// The limits.
    pub fn limits(&self) -> &QuotaLimits {
        &self.limits
    }

    fn over(&self, quota: Quota) -> OverQuota {
        OverQuota {
            quota,
            limit: self.limits.limit(quota),
        }
    }

    /// Samples per second: whether a frame of `samples` samples, seq `seq` of `session`,
    /// from device `device_row`, is admitted at `now_ms`.
    pub fn admit_samples(
        &self,
        now_ms: u64,
        device_row: i64,
        session: &SessionId,
        seq: u64,
        samples: u64,
    ) -> Result<(), OverQuota> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let bucket = buckets
            .entry(device_row)
            .or_insert_with(|| SampleBucket::full(now_ms, &self.limits));
        if bucket.admit(now_ms, &self.limits, session, seq, samples) {
            Ok(())
        } else {
            Err(self.over(Quota::SamplesPerS))
        }
    }

    /// Sessions per day: whether device `device_row` may open a new session at `now_ms`.
    /// `opened_since` gives the open times of the device's stored sessions since a time;
    /// it is called the first time the device opens a session in this process (an error
    /// admits the session: the database's trouble is reported where it happens).
    pub fn admit_session<E>(
        &self,
        now_ms: u64,
        device_row: i64,
        opened_since: impl FnOnce(u64) -> Result<Vec<u64>, E>,
    ) -> Result<(), OverQuota> {
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(());
        };
        let window = match windows.entry(device_row) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let stored = opened_since(now_ms.saturating_sub(DAY_MS)).unwrap_or_default();
                e.insert(SessionWindow::from_opened(stored))
            }
        };
        if window.admit(now_ms, self.limits.device_sessions_per_day) {
            Ok(())
        } else {
            Err(self.over(Quota::SessionsPerDay))
        }
    }

    /// Tenant storage: whether tenant `tenant_row` may store a frame of `bytes` at
    /// `now_ms`. `stored` reads the bytes the tenant stores; it is called when the last
    /// reading is older than [`STORAGE_REREAD_MS`] (an error keeps the last reading).
    pub fn admit_storage<E>(
        &self,
        now_ms: u64,
        tenant_row: i64,
        bytes: u64,
        stored: impl FnOnce() -> Result<u64, E>,
    ) -> Result<(), OverQuota> {
        let Ok(mut storage) = self.storage.lock() else {
            return Ok(());
        };
        let held = storage.get(&tenant_row).copied();
        if held.is_none_or(|usage| usage.stale(now_ms)) {
            let fresh = match (stored(), held) {
                (Ok(bytes), _) => StorageUse::read(bytes, now_ms),
                (Err(_), Some(last)) => last,
                (Err(_), None) => StorageUse::read(0, now_ms),
            };
            storage.insert(tenant_row, fresh);
        }
        let usage = storage
            .entry(tenant_row)
            .or_insert_with(|| StorageUse::read(0, now_ms));
        if usage.admit(bytes, self.limits.tenant_storage_bytes) {
            Ok(())
        } else {
            Err(self.over(Quota::TenantStorage))
        }
    }

    /// Whether tenant `tenant_row`'s frames are being refused for storage now.
    pub fn storage_refused(&self, tenant_row: i64) -> bool {
        self.storage
            .lock()
            .ok()
            .and_then(|s| s.get(&tenant_row).map(|u| u.bytes()))
            .is_some_and(|bytes| bytes >= self.limits.tenant_storage_bytes)
    }

    /// Counts a refusal of `quota` at `now_ms`; returns the refusals to log (since the last
    /// log line) when one is due, at most every [`LOG_EVERY_MS`].
    pub fn note_refusal(&self, now_ms: u64, quota: Quota) -> Option<u64> {
        let mut logged = self.logged.lock().ok()?;
        let entry = logged
            .entry(quota)
            .or_insert((now_ms.saturating_sub(LOG_EVERY_MS), 0));
        entry.1 += 1;
        if now_ms.saturating_sub(entry.0) >= LOG_EVERY_MS {
            let count = entry.1;
            *entry = (now_ms, 0);
            Some(count)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_s: u32, burst_s: u32) -> QuotaLimits {
        QuotaLimits {
            device_samples_per_s: per_s,
            device_samples_burst_s: burst_s,
            ..QuotaLimits::default()
        }
    }

    fn session(name: &str) -> SessionId {
        SessionId::new(name).unwrap()
    }

    #[test]
    fn a_bucket_takes_its_burst_then_the_sustained_rate() {
        let limits = limits(10, 3); // 30 samples at once, then 10 a second.
        let s = session("a");
        let mut bucket = SampleBucket::full(0, &limits);
        let admitted = (1..=20)
            .filter(|&seq| bucket.admit(0, &limits, &s, seq, 2))
            .count();
        assert_eq!(admitted, 15, "30 samples of burst, 2 a frame");
        // Half a second later: 5 samples more, so two frames of 2.
        let later: Vec<bool> = (21..=24)
            .map(|seq| bucket.admit(500, &limits, &s, seq, 2))
            .collect();
        assert_eq!(later, [true, true, false, false]);
        // A long silence refills to the burst, never beyond it.
        let after_an_hour = (25..=60)
            .filter(|&seq| bucket.admit(3_600_500, &limits, &s, seq, 2))
            .count();
        assert_eq!(after_an_hour, 15);
    }

    #[test]
    fn resends_of_admitted_frames_cost_nothing_and_refused_ones_count_when_sent_again() {
        let limits = limits(1, 2); // 2 samples of burst.
        let s = session("a");
        let mut bucket = SampleBucket::full(0, &limits);
        assert!(bucket.admit(0, &limits, &s, 1, 1));
        assert!(bucket.admit(0, &limits, &s, 2, 1));
        assert!(!bucket.admit(0, &limits, &s, 3, 1), "empty");
        // The device missed the acks and resends 1 and 2: free.
        assert!(bucket.admit(0, &limits, &s, 1, 1));
        assert!(bucket.admit(0, &limits, &s, 2, 1));
        // Seq 3 was refused, so it still costs when it comes again.
        assert!(!bucket.admit(999, &limits, &s, 3, 1));
        assert!(bucket.admit(1000, &limits, &s, 3, 1));
        // Another session's seqs are its own; a frame without samples costs 1.
        assert!(!bucket.admit(1000, &limits, &session("b"), 1, 0));
        assert!(bucket.admit(2000, &limits, &session("b"), 1, 0));
    }

    #[test]
    fn only_the_latest_sessions_seqs_are_remembered() {
        let limits = limits(1000, 60);
        let mut bucket = SampleBucket::full(0, &limits);
        for n in 0..10 {
            assert!(bucket.admit(0, &limits, &session(&format!("s{n}")), 5, 1));
        }
        assert_eq!(bucket.seen.len(), SEQS_REMEMBERED);
        assert_eq!(bucket.seen.last().unwrap(), &(session("s9"), 5));
    }

    #[test]
    fn sessions_per_day_is_a_sliding_window_seeded_from_the_stored_sessions() {
        let gate = QuotaGate::new(QuotaLimits {
            device_sessions_per_day: 3,
            ..QuotaLimits::default()
        });
        let day = DAY_MS;
        let stored = |since: u64| -> Result<Vec<u64>, ()> {
            assert_eq!(since, 10 * day - day);
            Ok(vec![9 * day + 100, 9 * day + 200])
        };
        assert_eq!(gate.admit_session(10 * day, 7, stored), Ok(()));
        let refused = gate.admit_session(10 * day + 1, 7, |_| -> Result<Vec<u64>, ()> {
            panic!("read once")
        });
        assert_eq!(
            refused,
            Err(OverQuota {
                quota: Quota::SessionsPerDay,
                limit: 3
            })
        );
        // Another device is not affected.
        assert_eq!(
            gate.admit_session(10 * day, 8, |_| Ok::<_, ()>(vec![])),
            Ok(())
        );
        // A day after the first stored session, a place is free again.
        assert_eq!(
            gate.admit_session(10 * day + 100, 7, |_| Ok::<_, ()>(vec![])),
            Ok(())
        );
        assert!(
            gate.admit_session(10 * day + 150, 7, |_| Ok::<_, ()>(vec![]))
                .is_err()
        );
    }

    #[test]
    fn tenant_storage_counts_admitted_bytes_and_rereads_the_stored_ones() {
        let gate = QuotaGate::new(QuotaLimits {
            tenant_storage_bytes: 1000,
            ..QuotaLimits::default()
        });
        assert_eq!(gate.admit_storage(0, 1, 600, || Ok::<_, ()>(0)), Ok(()));
        // The frame that crosses the limit is the last one taken.
        assert_eq!(gate.admit_storage(1, 1, 600, || Ok::<_, ()>(0)), Ok(()));
        assert!(gate.storage_refused(1));
        assert_eq!(
            gate.admit_storage(2, 1, 1, || Ok::<_, ()>(0)),
            Err(OverQuota {
                quota: Quota::TenantStorage,
                limit: 1000
            })
        );
        // Another tenant is not affected.
        assert_eq!(gate.admit_storage(2, 2, 1, || Ok::<_, ()>(0)), Ok(()));
        assert!(!gate.storage_refused(2));
        // Read again later: the database says what is stored (old data deleted, say).
        assert_eq!(
            gate.admit_storage(STORAGE_REREAD_MS + 2, 1, 1, || Ok::<_, ()>(400)),
            Ok(())
        );
        // A failed read keeps the last reading.
        assert_eq!(
            gate.admit_storage(3 * STORAGE_REREAD_MS, 1, 1, || Err(())),
            Ok(())
        );
    }

    #[test]
    fn devices_are_counted_against_the_tenant_limit() {
        let limits = QuotaLimits {
            tenant_devices: 2,
            ..QuotaLimits::default()
        };
        assert!(devices_within(0, &limits));
        assert!(devices_within(1, &limits));
        assert!(!devices_within(2, &limits));
    }

    #[test]
    fn refusals_are_logged_at_most_every_few_seconds_with_their_count() {
        let gate = QuotaGate::default();
        assert_eq!(gate.note_refusal(10_000, Quota::SamplesPerS), Some(1));
        assert_eq!(gate.note_refusal(10_001, Quota::SamplesPerS), None);
        assert_eq!(gate.note_refusal(12_000, Quota::SamplesPerS), None);
        assert_eq!(gate.note_refusal(10_002, Quota::TenantStorage), Some(1));
        assert_eq!(
            gate.note_refusal(10_000 + LOG_EVERY_MS, Quota::SamplesPerS),
            Some(3)
        );
    }

    #[test]
    fn an_over_quota_error_names_the_setting_and_its_limit() {
        let err = OverQuota {
            quota: Quota::TenantDevices,
            limit: 1,
        };
        assert_eq!(
            err.to_string(),
            "over the tenant_devices quota (tenant_devices = 1)"
        );
    }
}
