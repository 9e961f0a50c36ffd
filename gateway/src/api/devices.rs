//! Devices: pairing (id, key and token returned once), listing, revoking.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paceline_schemas::{DeviceId, TenantId};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ATHLETE_VISIBLE, ApiError, ApiPath, ApiState, Auth, athlete_visible, audit, named, visibility,
};
use crate::quotas::{Quota, devices_within};
use crate::store::{active_devices, add_device, queries, to_i64};

/// A device just paired: its secrets are shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairedDevice {
    /// The device id (also its MQTT client id and username).
    pub device: String,
    /// The tenant slug (in the device's topics).
    pub tenant: String,
    /// The athlete.
    pub athlete_id: i64,
    /// The sealing key, hex (32 bytes).
    pub key: String,
    /// The connection token, hex (the MQTT password, the QUIC hello's token).
    pub token: String,
    /// MQTT address.
    pub mqtt: String,
    /// QUIC address.
    pub quic: String,
    /// SHA-256 fingerprint of the QUIC certificate, for the device to pin.
    pub quic_cert_sha256: String,
}

/// A paired device.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// The device id.
    pub device: String,
    /// The athlete who wears it.
    pub athlete_id: i64,
    /// Paired, ms since the epoch.
    pub created_ms: i64,
    /// Revoked, ms since the epoch.
    pub revoked_ms: Option<i64>,
}

/// Pair a new device for an athlete (their coach, a gym-admin, or the athlete). A tenant
/// at its device quota (`tenant_devices`, revoked devices not counted) gets 409
/// `quota_exceeded`.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/devices", tag = "devices",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 201, body = PairedDevice), (status = 404, description = "athlete not visible"),
        (status = 409, description = "quota_exceeded: the tenant has as many devices as its quota allows")),
    security(("bearer" = [])))]
pub async fn pair_device(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let now = state.now_ms();
    let server_key = state.live.store().server_key();
    let live = std::sync::Arc::clone(&state.live);
    let paired = state
        .write(move |tx| {
            if !athlete_visible(tx, &p, id)? {
                return Err(ApiError::not_found("athlete"));
            }
            let limits = *live.quotas().limits();
            let devices = active_devices(tx, p.tenant_row)?;
            if !devices_within(devices, &limits) {
                live.metrics().over_quota(Quota::TenantDevices);
                return Err(ApiError::conflict(
                    "quota_exceeded",
                    format!(
                        "the tenant has {devices} devices, its quota (tenant_devices = {}); \
                         revoke one or raise the quota",
                        limits.tenant_devices
                    ),
                ));
            }
            let slug: String = tx.query_row(
                "SELECT slug FROM tenants WHERE id = ?1",
                params![p.tenant_row],
                |r| r.get(0),
            )?;
            let tenant = TenantId::new(slug).map_err(|_| ApiError::internal())?;
            let new = add_device(tx, &server_key, &tenant, p.tenant_row, id, now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "device.pair",
                Some(&format!("device:{}", new.device)),
                Some(&serde_json::json!({"athlete": id})),
                now,
            )?;
            Ok(new)
        })
        .await?;
    let c = &state.connectivity;
    Ok((
        StatusCode::CREATED,
        Json(PairedDevice {
            device: paired.device.as_str().to_owned(),
            tenant: paired.tenant.as_str().to_owned(),
            athlete_id: paired.athlete_row,
            key: paired.key.expose_hex(),
            token: paired.token.expose_hex(),
            mqtt: c.mqtt.to_string(),
            quic: c.quic.to_string(),
            quic_cert_sha256: c.quic_cert_sha256.clone(),
        }),
    )
        .into_response())
}

fn list(
    state: &ApiState,
    p: crate::accounts::Principal,
    athlete: Option<i64>,
) -> impl Future<Output = Result<Vec<DeviceView>, ApiError>> + use<> {
    let state = state.clone();
    async move {
        state
            .read(move |conn| {
                let mut values = visibility(&p).to_vec();
                values.push((
                    ":only",
                    athlete.map_or(
                        rusqlite::types::Value::Null,
                        rusqlite::types::Value::Integer,
                    ),
                ));
                let sql = queries::visible_devices(ATHLETE_VISIBLE);
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt
                    .query_map(named(&values).as_slice(), |r| {
                        Ok(DeviceView {
                            device: r.get(0)?,
                            athlete_id: r.get(1)?,
                            created_ms: r.get(2)?,
                            revoked_ms: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}

/// The devices of the athletes the caller may see.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices",
    responses((status = 200, body = [DeviceView])), security(("bearer" = [])))]
pub async fn list_devices(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    Ok(Json(list(&state, p, None).await?))
}

/// An athlete's devices.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/devices", tag = "devices",
    params(("id" = i64, Path, description = "athlete id")),
    responses((status = 200, body = [DeviceView]), (status = 404, description = "athlete not visible")),
    security(("bearer" = [])))]
pub async fn list_athlete_devices(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let check = p.clone();
    if !state
        .read(move |conn| athlete_visible(conn, &check, id))
        .await?
    {
        return Err(ApiError::not_found("athlete"));
    }
    Ok(Json(list(&state, p, Some(id)).await?))
}

/// Revoke a device: its credentials stop working and its connections are closed.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, description = "device id")),
    responses((status = 204, description = "revoked"), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn revoke_device(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(device_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let device = DeviceId::new(device_id).map_err(|_| ApiError::not_found("device"))?;
    let now = state.now_ms();
    let id = device.clone();
    state
        .write(move |tx| {
            let athlete = tx
                .query_row(
                    queries::DEVICE_ATHLETE,
                    params![p.tenant_row, id.as_str()],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            let Some(athlete) = athlete else {
                return Err(ApiError::not_found("device"));
            };
            if !athlete_visible(tx, &p, athlete)? {
                return Err(ApiError::not_found("device"));
            }
            tx.execute(
                queries::REVOKE_DEVICE,
                params![to_i64(now), p.tenant_row, id.as_str()],
            )?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "device.revoke",
                Some(&format!("device:{id}")),
                None,
                now,
            )
        })
        .await?;
    state.live.revoke_device(&device);
    Ok(StatusCode::NO_CONTENT)
}
