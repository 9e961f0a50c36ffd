//! Plans: upload (`.zwo`, FIT workout, Paceline JSON), list, get.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paceline_formats::plan_import::{PlanFormat, import_plan};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiPath, ApiQuery, ApiState, Auth, audit, require_staff};
use crate::store::add_plan;

/// A plan, listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanSummary {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The format it was uploaded in: `zwo`, `fit` or `json`.
    pub format: String,
    /// Uploaded, ms since the epoch.
    pub created_ms: i64,
}

/// A plan with its steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Upload format.
    pub format: String,
    /// Uploaded, ms.
    pub created_ms: i64,
    /// The plan, in Paceline's plan JSON.
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
}

/// `POST /plans` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name; its extension (`.zwo`, `.fit`, `.json`) names the format
    /// (otherwise the content is sniffed).
    pub file_name: Option<String>,
}

/// Upload a plan file as the raw request body (coach or gym-admin).
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", params(UploadQuery),
    request_body(content = Vec<u8>, description = "the plan file: .zwo XML, FIT workout, or Paceline plan JSON",
        content_type = "application/octet-stream"),
    responses((status = 201, body = PlanView), (status = 422, description = "the file is not a plan Paceline can read")),
    security(("bearer" = [])))]
pub async fn upload_plan(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    require_staff(&p)?;
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "plan files are limited to 1 MiB",
            )
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    let file_name = q.file_name.unwrap_or_else(|| "upload".to_owned());
    let format = match PlanFormat::detect(&file_name, &bytes) {
        Some(PlanFormat::Zwo) => "zwo",
        Some(PlanFormat::FitWorkout) => "fit",
        Some(PlanFormat::Json) => "json",
        None => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_plan_format",
                "send a .zwo, a FIT workout or a Paceline plan JSON (name it with file_name=)",
            ));
        }
    };
    let plan = tokio::task::spawn_blocking(move || import_plan(&file_name, &bytes))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_plan",
                e.to_string(),
            )
        })?;
    let now = state.now_ms();
    let view = state
        .write(move |tx| {
            let id = add_plan(tx, p.tenant_row, format, &plan, now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "plan.upload",
                Some(&format!("plan:{id}")),
                None,
                now,
            )?;
            plan_view(tx, p.tenant_row, id)?.ok_or_else(ApiError::internal)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn plan_view(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    id: i64,
) -> Result<Option<PlanView>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, name, format, created_ms, plan_json FROM plans WHERE tenant_id = ?1 AND id = ?2",
            params![tenant_row, id],
            |r| {
                Ok(PlanView {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    format: r.get(2)?,
                    created_ms: r.get(3)?,
                    plan: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                })
            },
        )
        .optional()?)
}

/// The tenant's plans, newest first.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans",
    responses((status = 200, body = [PlanSummary])), security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<Vec<PlanSummary>>, ApiError> {
    let list = state
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, name, format, created_ms FROM plans WHERE tenant_id = ?1 ORDER BY id DESC LIMIT 1000",
            )?;
            let rows = stmt
                .query_map(params![p.tenant_row], |r| {
                    Ok(PlanSummary {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        format: r.get(2)?,
                        created_ms: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(list))
}

/// One plan with its steps.
#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans",
    params(("id" = i64, Path, description = "plan id")),
    responses((status = 200, body = PlanView), (status = 404, description = "no such plan in this tenant")),
    security(("bearer" = [])))]
pub async fn get_plan(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanView>, ApiError> {
    let view = state
        .read(move |conn| {
            plan_view(conn, p.tenant_row, id)?.ok_or_else(|| ApiError::not_found("plan"))
        })
        .await?;
    Ok(Json(view))
}
