//! The privacy routes: deleting an account (`DELETE /me` with the password re-entered, a
//! gym-admin's `DELETE /users/{id}`), exporting one's data or a tenant's (a job, then a
//! download link that expires and works once), the tenant's retention setting and the
//! searchable audit log.
//!
//! What a deletion touches is [`crate::privacy::deletion`]'s (the data registry and the store's
//! foreign keys); this module checks who may, tells the providers (best effort), removes
//! the person's files, audits the deletion without personal data, ends the person's
//! logins and live sockets, and checkpoints the WAL so the deleted rows leave the disk.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, audit, require_admin};
use crate::accounts::Role;
use crate::accounts::password::verify_password;
use crate::privacy::deletion::{Person, delete_person};
use crate::store::{queries, to_i64};

/// `DELETE /me`: the password, re-entered.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's password.
    pub password: String,
}

/// The account as deletion needs it.
struct Account {
    person: Person,
    email: String,
    password_hash: String,
    role: Role,
}

fn account(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    user_row: i64,
) -> Result<Option<Account>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT email, password_hash, role, athlete_id FROM users
             WHERE tenant_id = ?1 AND id = ?2",
            params![tenant_row, user_row],
            |r| {
                Ok(Account {
                    person: Person {
                        tenant_row,
                        user_row,
                        athlete_row: r.get(3)?,
                    },
                    email: r.get(0)?,
                    password_hash: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Athlete),
                })
            },
        )
        .optional()?)
}

/// Whether `user_row` is the tenant's only enabled gym-admin (the tenant would have no
/// one to run it).
fn last_admin(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    user_row: i64,
) -> Result<bool, ApiError> {
    let others: i64 = conn.query_row(
        "SELECT count(*) FROM users WHERE tenant_id = ?1 AND role = 'gym-admin'
           AND disabled_ms IS NULL AND id <> ?2",
        params![tenant_row, user_row],
        |r| r.get(0),
    )?;
    Ok(others == 0)
}

/// Delete your account and everything held about you: every row of yours in every
/// table of the data registry, your export files, your provider connections (the
/// provider is told), your logins and live sockets. The audit keeps that an account was
/// deleted, with no personal data. The password is re-entered; failures count towards the
/// account's lockout. The tenant's last gym-admin cannot delete themself (409).
#[utoipa::path(delete, path = "/api/v1/me", tag = "privacy",
    request_body = DeleteAccount,
    responses((status = 204, description = "deleted"),
        (status = 401, description = "wrong password"),
        (status = 409, description = "the tenant's last gym-admin"),
        (status = 429, description = "too many failed attempts for this account")),
    security(("bearer" = [])))]
pub async fn delete_me(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<DeleteAccount>,
) -> Result<StatusCode, ApiError> {
    let (tenant_row, user_row) = (p.tenant_row, p.user_row);
    let found = state
        .read(move |conn| {
            let found = account(conn, tenant_row, user_row)?;
            let last = last_admin(conn, tenant_row, user_row)?;
            Ok(found.map(|a| (a, last)))
        })
        .await?;
    let Some((found, last)) = found else {
        return Err(ApiError::unauthorized(
            "session_revoked",
            "this login has ended: log in again",
        ));
    };
    if let Err(wait) = state.account_failures.hit(&found.email) {
        return Err(ApiError::too_many(
            "account_locked",
            "too many failed password checks for this account: wait and try again",
            wait,
        ));
    }
    let stored = found.password_hash.clone();
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|_| ApiError::internal())?;
    if !ok {
        let now = state.now_ms();
        state
            .write(move |tx| {
                audit(
                    tx,
                    tenant_row,
                    Some(user_row),
                    "user.delete_refused",
                    None,
                    None,
                    now,
                )
            })
            .await?;
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the password is wrong",
        ));
    }
    state.account_failures.clear(&found.email);
    if found.role == Role::GymAdmin && last {
        return Err(ApiError::conflict(
            "last_admin",
            "you are this gym's only gym-admin: make someone else gym-admin first",
        ));
    }
    erase(&state, found.person, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a user of your tenant and everything held about them, as `DELETE /me` does
/// (gym-admin; not yourself: use `DELETE /me`). Audited, without personal data.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "privacy",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 204, description = "deleted"),
        (status = 403, description = "not a gym-admin"),
        (status = 404, description = "no such user in this tenant")),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    if id == p.user_row {
        return Err(ApiError::bad_request(
            "own_account",
            "delete your own account with DELETE /api/v1/me",
        ));
    }
    let tenant_row = p.tenant_row;
    let found = state
        .read(move |conn| account(conn, tenant_row, id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    erase(&state, found.person, Some(p.user_row)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes `person` (`by`: the gym-admin who asked, `None` for the person themself).
async fn erase(state: &ApiState, person: Person, by: Option<i64>) -> Result<(), ApiError> {
    // The providers first, while the tokens are there to name the grant.
    let connections = state
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT athlete_id, provider, tokens_sealed FROM provider_connections
                 WHERE tenant_id = ?1 AND (user_id = ?2 OR athlete_id = ?3)
                   AND tokens_sealed IS NOT NULL",
            )?;
            let rows = stmt
                .query_map(
                    params![person.tenant_row, person.user_row, person.athlete_row],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    let (mut confirmed, mut unconfirmed) = (0u32, 0u32);
    for (athlete, provider, sealed) in connections {
        let told = match (
            state.sync.as_ref(),
            paceline_sync::Provider::parse(&provider),
        ) {
            (Some(sync), Some(provider)) => {
                super::sync::deauthorize(state, sync, person.tenant_row, athlete, provider, &sealed)
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        };
        if told {
            confirmed += 1;
        } else {
            unconfirmed += 1;
        }
    }
    // Their devices are closed and forgotten, and what they sent is committed before
    // their rows go: no frame of theirs reaches the writer after the deletion.
    let devices = state
        .read(move |conn| {
            let mut stmt = conn.prepare(queries::ATHLETE_DEVICE_IDS)?;
            let ids = stmt
                .query_map(params![person.tenant_row, person.athlete_row], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
        .await?;
    for device in devices {
        if let Ok(device) = paceline_schemas::DeviceId::new(device) {
            state.live.revoke_device(&device);
        }
    }
    let live = state.clone();
    tokio::task::spawn_blocking(move || live.live.flush_writes())
        .await
        .map_err(|_| ApiError::internal())??;
    let files = crate::privacy::data_export::files_of_user(state.live.store(), person)?;
    let now = state.now_ms();
    let erased = state
        .write(move |tx| {
            // Deleted rows are overwritten on disk, not only unlinked from the b-tree.
            tx.pragma_update(None, "secure_delete", "ON")?;
            let erased = delete_person(tx, person);
            tx.pragma_update(None, "secure_delete", "OFF")?;
            let erased = erased?;
            // The tenant's exports not yet downloaded hold the person too: they go.
            tx.execute(
                "UPDATE privacy_exports SET state = 'expired', file_name = NULL, token_sha256 = NULL,
                   updated_ms = ?1 WHERE tenant_id = ?2 AND scope = 'tenant' AND file_name IS NOT NULL",
                params![to_i64(now), person.tenant_row],
            )?;
            audit(
                tx,
                person.tenant_row,
                by,
                "user.delete",
                None,
                Some(&json!({
                    "by": if by.is_some() { "gym-admin" } else { "self" },
                    "rows_deleted": erased.rows_deleted(),
                    "tables": erased.deleted.len(),
                    "providers_deauthorized": confirmed,
                    "providers_unconfirmed": unconfirmed,
                })),
                now,
            )?;
            Ok(erased)
        })
        .await?;
    for file in files {
        if let Err(err) = std::fs::remove_file(&file)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, "an export file of a deleted account could not be removed");
        }
    }
    // Their logins end (the cached callers are forgotten) and every live socket re-checks
    // its caller: theirs close.
    state.forget_logins();
    let store = state.clone();
    tokio::task::spawn_blocking(move || {
        store.live.store().read(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    })
    .await
    .map_err(|_| ApiError::internal())??;
    tracing::info!(rows = erased.rows_deleted(), "an account was deleted");
    Ok(())
}

/// How long an export's download link works once the export is ready, ms (24 hours;
/// `PACELINE_EXPORT_TTL_S` changes it, for tests).
fn export_ttl_ms() -> u64 {
    static TTL_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TTL_MS.get_or_init(|| {
        std::env::var("PACELINE_EXPORT_TTL_S")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(24 * 60 * 60 * 1000, |s| s.saturating_mul(1000))
    })
}

/// An export job, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    /// Its id.
    pub id: i64,
    /// `user` (your data) or `tenant` (a gym-admin's export of the gym).
    pub scope: String,
    /// `queued`, `running`, `ready`, `failed`, `downloaded`, `expired`.
    pub state: String,
    /// The zip's size, bytes (once ready).
    pub bytes: Option<i64>,
    /// Until when the download works, ms since the epoch (once ready).
    pub expires_ms: Option<i64>,
    /// Once ready: the download link (works once; each status read makes a new one and
    /// ends the previous).
    pub download_url: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Asked for, ms since the epoch.
    pub created_ms: i64,
}

/// Export your data: a job that writes a zip (one JSON and one CSV per kind of data,
/// your recordings as FIT, a README). Follow it with `GET /me/exports/{id}`. One export
/// runs at a time per user (409 otherwise).
#[utoipa::path(post, path = "/api/v1/me/export", tag = "privacy",
    responses((status = 202, body = ExportView), (status = 409, description = "an export is already running")),
    security(("bearer" = [])))]
pub async fn export_me(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let person = state
        .read(move |conn| account(conn, p.tenant_row, p.user_row))
        .await?
        .ok_or_else(|| ApiError::unauthorized("session_revoked", "this login has ended"))?
        .person;
    start_export(
        &state,
        p.tenant_row,
        p.user_row,
        crate::privacy::data_export::Scope::User(person),
    )
    .await
}

/// Export the whole tenant (gym-admin): every table's rows of the gym, every recording.
/// Followed like a personal export, with `GET /me/exports/{id}`.
#[utoipa::path(post, path = "/api/v1/admin/export", tag = "privacy",
    responses((status = 202, body = ExportView), (status = 403, description = "not a gym-admin"),
        (status = 409, description = "an export is already running")),
    security(("bearer" = [])))]
pub async fn export_tenant(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    require_admin(&p)?;
    start_export(
        &state,
        p.tenant_row,
        p.user_row,
        crate::privacy::data_export::Scope::Tenant(p.tenant_row),
    )
    .await
}

async fn start_export(
    state: &ApiState,
    tenant_row: i64,
    user_row: i64,
    scope: crate::privacy::data_export::Scope,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let now = state.now_ms();
    let id = state
        .write(move |tx| {
            let running: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM privacy_exports WHERE tenant_id = ?1 AND user_id = ?2
                   AND state IN ('queued', 'running'))",
                params![tenant_row, user_row],
                |r| r.get(0),
            )?;
            if running {
                return Err(ApiError::conflict(
                    "export_running",
                    "an export of yours is already running: follow it with GET /me/exports/{id}",
                ));
            }
            tx.execute(
                "INSERT INTO privacy_exports (tenant_id, user_id, scope, state, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?4)",
                params![tenant_row, user_row, scope.as_str(), to_i64(now)],
            )?;
            let id = tx.last_insert_rowid();
            audit(tx, tenant_row, Some(user_row), "export.request", Some(&format!("export:{id}")),
                Some(&json!({"scope": scope.as_str()})), now)?;
            Ok(id)
        })
        .await?;
    let runner = state.clone();
    tokio::spawn(async move { run_export(runner, id, tenant_row, user_row, scope).await });
    Ok((
        StatusCode::ACCEPTED,
        Json(ExportView {
            id,
            scope: scope.as_str().to_owned(),
            state: "queued".to_owned(),
            bytes: None,
            expires_ms: None,
            download_url: None,
            error: None,
            created_ms: to_i64(now),
        }),
    ))
}

/// The export job: writes the zip off the async threads and records the outcome.
async fn run_export(
    state: ApiState,
    id: i64,
    tenant_row: i64,
    user_row: i64,
    scope: crate::privacy::data_export::Scope,
) {
    let set_state = |state: ApiState, sql: &'static str| async move {
        let now = to_i64(state.now_ms());
        state
            .write(move |tx| Ok(tx.execute(sql, params![now, id, tenant_row])?))
            .await
    };
    if set_state(
        state.clone(),
        "UPDATE privacy_exports SET state = 'running', updated_ms = ?1
         WHERE id = ?2 AND tenant_id = ?3",
    )
    .await
    .is_err()
    {
        return;
    }
    let writer = state.clone();
    let written = tokio::task::spawn_blocking(move || {
        // Live sessions' newest rows leave the writer's inbox for the exported tables.
        writer
            .live
            .flush_writes()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let store = writer.live.store();
        let dir = crate::privacy::data_export::exports_dir(store)?;
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let name = format!("{id}-{}.zip", hex::encode(random));
        let path = dir.join(&name);
        let written =
            store.read_as(|conn| crate::privacy::data_export::write_export(conn, scope, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written.map(|bytes| (name, bytes))
    })
    .await;
    let now = state.now_ms();
    let expires = to_i64(now.saturating_add(export_ttl_ms()));
    let outcome = match written {
        Ok(Ok((name, bytes))) => {
            state
                .write(move |tx| {
                    tx.execute(
                        "UPDATE privacy_exports SET state = 'ready', file_name = ?1, bytes = ?2,
                           expires_ms = ?3, updated_ms = ?4 WHERE id = ?5 AND tenant_id = ?6",
                        params![name, to_i64(bytes), expires, to_i64(now), id, tenant_row],
                    )?;
                    audit(tx, tenant_row, Some(user_row), "export.ready", Some(&format!("export:{id}")),
                        Some(&json!({"bytes": bytes})), now)
                })
                .await
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, export = id, "a data export failed");
            let message = match err {
                crate::privacy::data_export::ExportError::TooLarge(_) => "the export is too large",
                _ => "the export could not be written",
            };
            state
                .write(move |tx| {
                    tx.execute(
                        "UPDATE privacy_exports SET state = 'failed', error = ?1, updated_ms = ?2
                         WHERE id = ?3 AND tenant_id = ?4",
                        params![message, to_i64(now), id, tenant_row],
                    )?;
                    Ok(())
                })
                .await
        }
        Err(_) => set_state(
            state.clone(),
            "UPDATE privacy_exports SET state = 'failed', error = 'the export stopped', updated_ms = ?1
             WHERE id = ?2 AND tenant_id = ?3",
        )
        .await
        .map(|_| ()),
    };
    if outcome.is_err() {
        tracing::warn!(export = id, "a data export's outcome could not be recorded");
    }
}

/// An export of yours: its state and, once ready, a download link that works once and
/// until `expires_ms` (each read makes a new link and ends the previous one).
#[utoipa::path(get, path = "/api/v1/me/exports/{id}", tag = "privacy",
    params(("id" = i64, Path, description = "export id")),
    responses((status = 200, body = ExportView), (status = 404, description = "no such export of yours")),
    security(("bearer" = [])))]
pub async fn get_export(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ExportView>, ApiError> {
    let now = to_i64(state.now_ms());
    let token = crate::accounts::tokens::new_refresh_token()
        .ok_or_else(ApiError::internal)?
        .replacen("plr_", "ple_", 1);
    let digest = crate::accounts::tokens::digest(&token).to_vec();
    let dir = crate::privacy::data_export::exports_dir(state.live.store()).map_err(|err| {
        tracing::error!(error = %err, "the export folder");
        ApiError::internal()
    })?;
    let (mut view, expired_file) = state
        .write(move |tx| {
            let found = tx
                .query_row(
                    "SELECT scope, state, bytes, expires_ms, error, created_ms, file_name
                     FROM privacy_exports WHERE tenant_id = ?1 AND user_id = ?2 AND id = ?3",
                    params![p.tenant_row, p.user_row, id],
                    |r| {
                        Ok((
                            ExportView {
                                id,
                                scope: r.get(0)?,
                                state: r.get(1)?,
                                bytes: r.get(2)?,
                                expires_ms: r.get(3)?,
                                download_url: None,
                                error: r.get(4)?,
                                created_ms: r.get(5)?,
                            },
                            r.get::<_, Option<String>>(6)?,
                        ))
                    },
                )
                .optional()?;
            let Some((mut view, file)) = found else {
                return Err(ApiError::not_found("export"));
            };
            if view.state == "ready" && view.expires_ms.is_some_and(|e| e <= now) {
                expire(tx, id, now)?;
                view.state = "expired".to_owned();
                return Ok((view, file));
            }
            if view.state == "ready" {
                tx.execute(
                    "UPDATE privacy_exports SET token_sha256 = ?1, updated_ms = ?2 WHERE id = ?3",
                    params![digest, now, id],
                )?;
                view.download_url = Some(String::new());
            }
            Ok((view, None))
        })
        .await?;
    if let Some(file) = expired_file {
        let _ = std::fs::remove_file(dir.join(file));
    }
    if view.download_url.is_some() {
        view.download_url = Some(format!("/api/v1/export-downloads/{token}"));
    }
    Ok(Json(view))
}

fn expire(tx: &rusqlite::Connection, id: i64, now: i64) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE privacy_exports SET state = 'expired', file_name = NULL, updated_ms = ?1
         WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

/// Download an export with the link `GET /me/exports/{id}` gave: works once, until the
/// export expires (410 afterwards). The link is the credential: no token header needed.
#[utoipa::path(get, path = "/api/v1/export-downloads/{token}", tag = "privacy",
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the zip", content_type = "application/zip"),
        (status = 404, description = "no such link"),
        (status = 410, description = "the link was used, or the export expired")))]
pub async fn download_export(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if !token.starts_with("ple_") || token.len() > 200 {
        return Err(ApiError::not_found("export link"));
    }
    let digest = crate::accounts::tokens::digest(&token).to_vec();
    let now = to_i64(state.now_ms());
    let dir = crate::privacy::data_export::exports_dir(state.live.store()).map_err(|err| {
        tracing::error!(error = %err, "the export folder");
        ApiError::internal()
    })?;
    // The link is taken in one transaction: two downloads at once cannot both have it.
    let taken = state
        .write(move |tx| {
            let found = tx
                .query_row(
                    "SELECT id, tenant_id, user_id, state, expires_ms, file_name FROM privacy_exports
                     WHERE token_sha256 = ?1",
                    params![digest],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<i64>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, tenant_row, user_row, export_state, expires_ms, file)) = found else {
                return Err(ApiError::not_found("export link"));
            };
            if export_state == "downloaded" {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "export_link_used",
                    "this download link was used already: ask for a new export",
                ));
            }
            let expired = export_state == "expired" || expires_ms.is_none_or(|e| e <= now);
            if expired || export_state != "ready" {
                if export_state == "ready" {
                    expire(tx, id, now)?;
                }
                return Ok(Err(file));
            }
            tx.execute(
                "UPDATE privacy_exports SET state = 'downloaded', downloaded_ms = ?1,
                   file_name = NULL, updated_ms = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            audit(tx, tenant_row, Some(user_row), "export.download", Some(&format!("export:{id}")),
                None, crate::store::to_u64(now))?;
            Ok(Ok(file))
        })
        .await?;
    let file = match taken {
        Ok(Some(file)) => file,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "export_link_expired",
                "this export has expired: ask for a new one",
            ));
        }
        Err(file) => {
            if let Some(file) = file {
                let _ = std::fs::remove_file(dir.join(file));
            }
            return Err(ApiError::new(
                StatusCode::GONE,
                "export_link_expired",
                "this export has expired: ask for a new one",
            ));
        }
    };
    let path = dir.join(&file);
    let opened = tokio::fs::File::open(&path).await.map_err(|err| {
        tracing::error!(error = %err, "an export file is missing");
        ApiError::internal()
    })?;
    // Open, the file can go: the download reads what it holds, and it is never served again.
    let _ = tokio::fs::remove_file(&path).await;
    let stream = futures_util::stream::unfold(opened, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; 64 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), file))
            }
            Err(err) => Some((Err(err), file)),
        }
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/zip"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"paceline-export.zip\"",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /admin/privacy` and `PUT /admin/privacy`: the tenant's retention.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Raw samples (and the frames they came in) are pruned after this many days,
    /// 30–3650 (default 730); summaries and load stay.
    pub raw_samples_days: u32,
}

impl PrivacySettings {
    /// The range check, 400 naming the field.
    pub fn check(&self) -> Result<(), ApiError> {
        if (30..=3650).contains(&self.raw_samples_days) {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                "invalid_retention",
                "raw_samples_days: from 30 to 3650 days",
            ))
        }
    }
}

/// The tenant's retention setting (gym-admin).
#[utoipa::path(get, path = "/api/v1/admin/privacy", tag = "privacy",
    responses((status = 200, body = PrivacySettings), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn get_privacy(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<PrivacySettings>, ApiError> {
    require_admin(&p)?;
    let days = state
        .read(move |conn| Ok(tenant_raw_days(conn, p.tenant_row)?))
        .await?;
    Ok(Json(PrivacySettings {
        raw_samples_days: days.unwrap_or(paceline_privacy::Retention::RAW_SAMPLES_DAYS),
    }))
}

/// A tenant's raw-sample retention, days, if it set one.
pub fn tenant_raw_days(
    conn: &rusqlite::Connection,
    tenant_row: i64,
) -> Result<Option<u32>, crate::store::StoreError> {
    Ok(conn
        .query_row(
            "SELECT raw_samples_days FROM tenant_privacy_settings WHERE tenant_id = ?1",
            params![tenant_row],
            |r| r.get::<_, u32>(0),
        )
        .optional()?)
}

/// Set the tenant's retention (gym-admin); the nightly pass honours it. Audited.
#[utoipa::path(put, path = "/api/v1/admin/privacy", tag = "privacy",
    request_body = PrivacySettings,
    responses((status = 200, body = PrivacySettings), (status = 400, description = "out of range"),
        (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn put_privacy(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<PrivacySettings>,
) -> Result<Json<PrivacySettings>, ApiError> {
    require_admin(&p)?;
    body.check()?;
    let days = body.raw_samples_days;
    let now = state.now_ms();
    state
        .write(move |tx| {
            tx.execute(
                "INSERT INTO tenant_privacy_settings (tenant_id, raw_samples_days, updated_ms)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id) DO UPDATE SET raw_samples_days = ?2, updated_ms = ?3",
                params![p.tenant_row, days, to_i64(now)],
            )?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "tenant.retention",
                None,
                Some(&json!({"raw_samples_days": days})),
                now,
            )
        })
        .await?;
    Ok(Json(PrivacySettings {
        raw_samples_days: days,
    }))
}

/// `GET /admin/audit` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditSearch {
    /// Only entries by this user id.
    pub actor: Option<i64>,
    /// Only this action (`login`, `login.failed`, `user.delete`, `export.request`, …), or
    /// a family of them ending in `.*` (`export.*`).
    pub action: Option<String>,
    /// From this time, ms since the epoch (inclusive).
    pub from: Option<i64>,
    /// Until this time, ms since the epoch (exclusive).
    pub to: Option<i64>,
    /// Text found in the action, the target or the details.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<u32>,
}

/// One audit entry, with where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Id.
    pub id: i64,
    /// Who did it (absent: the system, or a deleted account).
    pub user_id: Option<i64>,
    /// What.
    pub action: String,
    /// To what.
    pub target: Option<String>,
    /// Details (ids and counts, never personal data).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The client's address.
    pub ip: Option<String>,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// A page of the audit search.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResults {
    /// Newest first.
    pub items: Vec<AuditRecord>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<i64>,
}

/// Search the tenant's audit log (gym-admin): by actor, action, time and text, newest
/// first, paged. The log is append-only: no route changes or removes an entry (the
/// retention pass prunes entries past their period; a deletion clears the personal
/// columns of the deleted person's entries).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "privacy", params(AuditSearch),
    responses((status = 200, body = AuditResults), (status = 403, description = "not a gym-admin")),
    security(("bearer" = [])))]
pub async fn search_audit(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditSearch>,
) -> Result<Json<AuditResults>, ApiError> {
    require_admin(&p)?;
    Ok(Json(audit_results(&state, p.tenant_row, q).await?))
}

/// The one reading of the audit log: `GET /admin/audit` and the older `GET /audit`
/// (its first page and `before_id` paging) both answer from it.
pub(super) async fn audit_results(
    state: &ApiState,
    tenant_row: i64,
    q: AuditSearch,
) -> Result<AuditResults, ApiError> {
    use rusqlite::types::Value;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut sql = String::from(
        "SELECT id, user_id, action, target, detail_json, ip, at_ms FROM audit_log
         WHERE tenant_id = :tenant AND id < :cursor",
    );
    let mut values: Vec<(&'static str, Value)> = vec![
        (":tenant", Value::Integer(tenant_row)),
        (":cursor", Value::Integer(q.cursor.unwrap_or(i64::MAX))),
        (":limit", Value::Integer(i64::from(limit))),
    ];
    if let Some(actor) = q.actor {
        sql.push_str(" AND user_id = :actor");
        values.push((":actor", Value::Integer(actor)));
    }
    if let Some(action) = q.action.filter(|a| !a.is_empty()) {
        if action.len() > 100 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "action: at most 100 characters",
            ));
        }
        if let Some(family) = action.strip_suffix(".*") {
            sql.push_str(" AND (action = :family OR substr(action, 1, length(:family) + 1) = :family || '.')");
            values.push((":family", Value::Text(family.to_owned())));
        } else {
            sql.push_str(" AND action = :action");
            values.push((":action", Value::Text(action)));
        }
    }
    if let Some(from) = q.from {
        sql.push_str(" AND at_ms >= :from");
        values.push((":from", Value::Integer(from)));
    }
    if let Some(to) = q.to {
        sql.push_str(" AND at_ms < :to");
        values.push((":to", Value::Integer(to)));
    }
    if let Some(text) = q.q.filter(|t| !t.is_empty()) {
        if text.len() > 200 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "q: at most 200 characters",
            ));
        }
        sql.push_str(
            " AND (instr(action, :q) > 0 OR instr(coalesce(target, ''), :q) > 0
                  OR instr(coalesce(detail_json, ''), :q) > 0)",
        );
        values.push((":q", Value::Text(text)));
    }
    sql.push_str(" ORDER BY id DESC LIMIT :limit");
    state
        .read(move |conn| {
            let mut stmt = conn.prepare(&sql)?;
            let items = stmt
                .query_map(super::named(&values).as_slice(), |r| {
                    Ok(AuditRecord {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        action: r.get(2)?,
                        target: r.get(3)?,
                        detail: r
                            .get::<_, Option<String>>(4)?
                            .and_then(|s| serde_json::from_str(&s).ok()),
                        ip: r.get(5)?,
                        at_ms: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let next_cursor = (items.len() == limit as usize)
                .then(|| items.last().map(|e| e.id))
                .flatten();
            Ok(AuditResults { items, next_cursor })
        })
        .await
}
