//! The owner's console's two gathered views (gym-admin): the system's health (store,
//! writer, engine, broker, the tenant's sync jobs and dead letters, provider quotas, live
//! sessions, error counters from `/metrics`) and the tenant's data quality (athletes
//! without the profile values coaching needs, devices silent for a week, activities
//! flagged for clock skew). They exist so the console's pages make one request each
//! instead of scraping `/metrics` and every listing from the browser.
//!
//! **Invariants.** The tenant's rows are read with the caller's tenant in every query;
//! what is the whole install's (the database file, the threads, the metrics) carries no
//! tenant data, only sizes, states and counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use paceline_sync::Provider;
use prometheus_client::registry::Registry;
use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::sync::{JobView, QuotaView, job_view, quota_view};
use super::{ApiError, ApiState, Auth, require_admin};
use crate::health::{Health, Part};
use crate::store::{queries, to_i64, to_u64};

/// What the health page reads of the running process, handed to the API at start.
#[derive(Clone)]
pub struct Runtime {
    /// Whether the writer and the engine work.
    pub health: Arc<Health>,
    /// The metrics `/metrics` serves.
    pub registry: Arc<Registry>,
    /// With an external broker: whether the gateway is subscribed there.
    pub mqtt_subscribed: Option<Arc<AtomicBool>>,
    /// When the process started.
    pub started: std::time::Instant,
}

/// A part of the system: `ok`, or `failed` with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartState {
    /// `ok`, `failed` or `unknown` (not reported by this process).
    pub state: &'static str,
    /// Why it failed.
    pub detail: Option<String>,
}

impl PartState {
    fn of(failed: Option<bool>, detail: Option<String>) -> PartState {
        match failed {
            None => PartState {
                state: "unknown",
                detail: None,
            },
            Some(false) => PartState {
                state: "ok",
                detail: None,
            },
            Some(true) => PartState {
                state: "failed",
                detail,
            },
        }
    }
}

/// The database.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreHealth {
    /// The database file, bytes.
    pub db_bytes: u64,
    /// Its write-ahead log, bytes (checkpointed back into the file as it goes).
    pub wal_bytes: u64,
    /// Pages free for reuse inside the file (given back by the maintenance vacuum).
    pub free_pages: u64,
    /// The writer thread.
    pub writer: PartState,
}

/// The MQTT broker.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerHealth {
    /// `embedded` or `external`.
    pub kind: &'static str,
    /// External: subscribed to the uplinks; embedded: taking frames.
    pub state: PartState,
}

/// The tenant's sync jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobCounts {
    /// Waiting to run.
    pub queued: u64,
    /// Running now.
    pub running: u64,
    /// Backing off before another attempt.
    pub retry: u64,
    /// Gave up (the dead letters).
    pub dead: u64,
    /// Done.
    pub done: u64,
}

/// One error counter from `/metrics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorRate {
    /// The metric's name, as `/metrics` writes it (all labels summed).
    pub metric: String,
    /// Since the process started.
    pub total: u64,
    /// Per minute, averaged since the process started.
    pub per_min: f64,
}

/// `GET /admin/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemHealth {
    /// The database and its writer.
    pub store: StoreHealth,
    /// The coaching engine.
    pub engine: PartState,
    /// The MQTT broker.
    pub broker: BrokerHealth,
    /// The tenant's sync jobs by state.
    pub jobs: JobCounts,
    /// The tenant's dead jobs, newest first (at most 20; retry them at
    /// `POST /admin/jobs/{id}/retry`).
    pub dead_letters: Vec<JobView>,
    /// Each provider app's rate-limit quota as last seen.
    pub provider_quotas: Vec<QuotaView>,
    /// The tenant's sessions open now.
    pub live_sessions: u64,
    /// Sessions the engine coaches now, every tenant.
    pub engine_sessions: i64,
    /// The process's error counters.
    pub errors: Vec<ErrorRate>,
    /// Seconds since the process started (absent: not reported).
    pub uptime_s: Option<u64>,
}

/// The counters of `/metrics` that count something going wrong.
const ERROR_METRICS: [&str; 8] = [
    "paceline_frames_rejected_total",
    "paceline_db_writes_lost_total",
    "paceline_downlink_dropped_total",
    "paceline_engine_worker_panics_total",
    "paceline_login_failures_total",
    "paceline_live_clients_dropped_total",
    "paceline_mqtt_acl_denied_total",
    "paceline_quota_exceeded_total",
];

/// Sums each of [`ERROR_METRICS`] over its labels in the OpenMetrics text.
fn error_totals(text: &str) -> Vec<(&'static str, u64)> {
    ERROR_METRICS
        .iter()
        .map(|name| {
            let total = text
                .lines()
                .filter(|line| {
                    line.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
            // Counters are whole numbers well inside f64's exact range.
            #[expect(clippy::cast_possible_truncation)]
            let total = total.max(0.0) as u64;
            (*name, total)
        })
        .collect()
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The system's health for the console (gym-admin): the store, writer, engine and broker
/// of this install; the caller's tenant's sync jobs, dead letters and live sessions; the
/// provider quotas; the error counters of `/metrics` with their rate since the start.
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "tenant",
    responses((status = 200, body = SystemHealth), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn health(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<SystemHealth>, ApiError> {
    require_admin(&p)?;
    let tenant_row = p.tenant_row;
    let (counts, dead, live_sessions, free_pages) = state
        .read(move |conn| {
            let mut counts = JobCounts {
                queued: 0,
                running: 0,
                retry: 0,
                dead: 0,
                done: 0,
            };
            let mut stmt = conn.prepare(
                "SELECT state, count(*) FROM sync_jobs WHERE tenant_id = ?1 GROUP BY state",
            )?;
            let rows = stmt.query_map(params![tenant_row], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (job_state, n) = row?;
                let n = to_u64(n);
                match job_state.as_str() {
                    "queued" => counts.queued = n,
                    "running" => counts.running = n,
                    "retry" => counts.retry = n,
                    "dead" => counts.dead = n,
                    _ => counts.done = n,
                }
            }
            let dead = crate::store::sync::tenant_jobs(conn, tenant_row, Some("dead"), 20)?;
            let live: i64 =
                conn.query_row(queries::OPEN_SESSION_COUNT, params![tenant_row], |r| {
                    r.get(0)
                })?;
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok((counts, dead, to_u64(live), to_u64(free)))
        })
        .await?;
    let db_path = state.live.store().path().to_path_buf();
    let mut wal_path = db_path.clone().into_os_string();
    wal_path.push("-wal");
    let runtime = state.runtime.as_ref();
    let failed = |part: Part| runtime.map(|r| r.health.has_failed(part));
    let failure = runtime.and_then(|r| r.health.failure()).map(|f| f.message);
    let (errors, uptime_s) = match runtime {
        Some(r) => {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &r.registry)
                .map_err(|_| ApiError::internal())?;
            let uptime_s = r.started.elapsed().as_secs();
            let minutes = (r.started.elapsed().as_secs_f64() / 60.0).max(1.0 / 60.0);
            let errors = error_totals(&text)
                .into_iter()
                .map(|(metric, total)| ErrorRate {
                    metric: metric.to_owned(),
                    total,
                    per_min: total as f64 / minutes,
                })
                .collect();
            (errors, Some(uptime_s))
        }
        None => (Vec::new(), None),
    };
    let broker = match runtime.and_then(|r| r.mqtt_subscribed.as_ref()) {
        Some(subscribed) => BrokerHealth {
            kind: "external",
            state: PartState::of(
                Some(!subscribed.load(Ordering::Relaxed)),
                Some("not subscribed to the uplinks at the broker".to_owned()),
            ),
        },
        None => BrokerHealth {
            kind: "embedded",
            state: PartState::of(
                Some(!state.live.is_taking_frames()),
                Some("the gateway is stopping".to_owned()),
            ),
        },
    };
    let provider_quotas = state.sync.as_ref().map_or_else(Vec::new, |sync| {
        Provider::ALL
            .into_iter()
            .filter_map(|provider| quota_view(sync, provider))
            .collect()
    });
    Ok(Json(SystemHealth {
        store: StoreHealth {
            db_bytes: file_len(&db_path),
            wal_bytes: file_len(std::path::Path::new(&wal_path)),
            free_pages,
            writer: PartState::of(failed(Part::Writer), failure.clone()),
        },
        engine: PartState::of(failed(Part::Engine), failure),
        broker,
        jobs: counts,
        dead_letters: dead.into_iter().map(job_view).collect(),
        provider_quotas,
        live_sessions,
        engine_sessions: state.live.metrics().sessions_open.get(),
        errors,
        uptime_s,
    }))
}

/// An athlete without some of the profile values coaching and load need.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingProfile {
    /// The athlete.
    pub athlete_id: i64,
    /// Their name.
    pub name: String,
    /// The fields not set: `ftp`, `hr_max`, `hr_rest`, `weight_kg`.
    pub missing: Vec<&'static str>,
}

/// A paired device that has sent nothing for a week.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilentDevice {
    /// The device's id.
    pub device_id: String,
    /// Its athlete.
    pub athlete_id: i64,
    /// Their name.
    pub athlete_name: String,
    /// Its last frame, ms since the epoch (absent: it never sent one).
    pub last_frame_ms: Option<i64>,
    /// Paired, ms since the epoch.
    pub created_ms: i64,
}

/// An activity the library flagged (its start is in the future: the recording device's
/// clock is wrong) and keeps out of merges.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkewedActivity {
    /// The activity.
    pub activity_id: i64,
    /// Its athlete.
    pub athlete_id: i64,
    /// Their name.
    pub athlete_name: String,
    /// Its start as recorded, ms since the epoch.
    pub start_ms: i64,
    /// Why it was flagged.
    pub reason: String,
}

/// `GET /admin/data-quality`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataQuality {
    /// Athletes missing profile values, by name (at most 500).
    pub missing_profiles: Vec<MissingProfile>,
    /// Devices not revoked and silent for [`SILENT_DEVICE_DAYS`] days, the longest silent
    /// first (at most 500).
    pub silent_devices: Vec<SilentDevice>,
    /// Activities flagged for clock skew, newest first (at most 500).
    pub clock_skew: Vec<SkewedActivity>,
}

/// Days without a frame after which a paired device is listed as silent.
pub const SILENT_DEVICE_DAYS: i64 = 7;

/// The profile fields the console asks for, as the profile's JSON names them.
const PROFILE_FIELDS: [&str; 4] = ["ftp", "hr_max", "hr_rest", "weight_kg"];

/// The tenant's data quality (gym-admin): athletes missing `ftp`, `hr_max`, `hr_rest` or
/// `weight_kg`; devices silent for a week; activities flagged for clock skew.
#[utoipa::path(get, path = "/api/v1/admin/data-quality", tag = "tenant",
    responses((status = 200, body = DataQuality), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn data_quality(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<DataQuality>, ApiError> {
    require_admin(&p)?;
    let tenant_row = p.tenant_row;
    let silent_before_ms = to_i64(state.now_ms()) - SILENT_DEVICE_DAYS * 24 * 3600 * 1000;
    let quality = state
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, name, profile_json FROM athletes WHERE tenant_id = ?1
                 ORDER BY name LIMIT 5000",
            )?;
            let mut missing_profiles = Vec::new();
            let rows = stmt.query_map(params![tenant_row], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (athlete_id, name, profile) = row?;
                let profile: serde_json::Value =
                    serde_json::from_str(&profile).unwrap_or(serde_json::Value::Null);
                let missing: Vec<&'static str> = PROFILE_FIELDS
                    .into_iter()
                    .filter(|field| profile.get(field).is_none_or(serde_json::Value::is_null))
                    .collect();
                if !missing.is_empty() && missing_profiles.len() < 500 {
                    missing_profiles.push(MissingProfile {
                        athlete_id,
                        name,
                        missing,
                    });
                }
            }
            let mut stmt = conn.prepare(queries::SILENT_DEVICES)?;
            let silent_devices = stmt
                .query_map(params![tenant_row, silent_before_ms], |r| {
                    Ok(SilentDevice {
                        device_id: r.get(0)?,
                        athlete_id: r.get(1)?,
                        athlete_name: r.get(2)?,
                        last_frame_ms: r.get(3)?,
                        created_ms: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = conn.prepare(
                "SELECT x.id, x.athlete_id, a.name, x.start_ms, x.flagged_reason
                 FROM activities x JOIN athletes a ON a.id = x.athlete_id AND a.tenant_id = x.tenant_id
                 WHERE x.tenant_id = ?1 AND x.flagged_reason IS NOT NULL
                 ORDER BY x.id DESC LIMIT 500",
            )?;
            let clock_skew = stmt
                .query_map(params![tenant_row], |r| {
                    Ok(SkewedActivity {
                        activity_id: r.get(0)?,
                        athlete_id: r.get(1)?,
                        athlete_name: r.get(2)?,
                        start_ms: r.get(3)?,
                        reason: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(DataQuality {
                missing_profiles,
                silent_devices,
                clock_skew,
            })
        })
        .await?;
    Ok(Json(quality))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_totals_sum_labels_and_skip_other_metrics() {
        let text = "# TYPE paceline_frames_rejected counter\n\
            paceline_frames_rejected_total{reason=\"Malformed\"} 3\n\
            paceline_frames_rejected_total{reason=\"Unauthenticated\"} 4\n\
            paceline_login_failures_total 2\n\
            paceline_login_failures_total_other 9\n\
            paceline_frames_stored_total 100\n";
        let totals = error_totals(text);
        assert_eq!(totals[0], ("paceline_frames_rejected_total", 7));
        assert_eq!(totals[4], ("paceline_login_failures_total", 2));
        assert_eq!(totals[1], ("paceline_db_writes_lost_total", 0));
    }
}
