//! The HTTP side: health, readiness, Prometheus metrics, and the API ([`crate::api`])
//! under `/api/v1`. Every error is JSON: `{"error":{"code","message"}}`. Every response
//! carries the security headers of [`SECURITY_HEADERS`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::live::Live;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The live loop.
    pub live: Arc<Live>,
    /// The metrics registry.
    pub registry: Arc<Registry>,
    /// With an external broker: whether the gateway is subscribed to the uplinks there.
    pub mqtt_subscribed: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Whether the database writer and the engine work.
    pub health: Arc<crate::health::Health>,
}

/// The headers every response carries. The web UI's pages load only their own script and
/// stylesheet (no inline script or style, no plugins, no `<base>`), are never framed, and
/// send no referrer; charts are `blob:` images.
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// The router: health, metrics, the API under `/api/v1` and the web UI, every response
/// with the [`SECURITY_HEADERS`].
pub fn router(state: HttpState, api: crate::api::ApiState) -> Router {
    Router::new()
        .route("/health/live", get(health_live))
        .route("/health/ready", get(health_ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
        .merge(crate::api::sms::webhook_router(api.clone()))
        .merge(crate::api::webhooks::router(api.clone()))
        .nest("/api/v1", crate::api::router(api))
        .merge(crate::web::router())
        .layer(axum::middleware::map_response(add_security_headers))
}

async fn add_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A JSON error response.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn health_live() -> Response {
    axum::Json(json!({"status": "live"})).into_response()
}

async fn health_ready(State(state): State<HttpState>) -> Response {
    if !state.live.is_taking_frames() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is stopping",
        );
    }
    if let Some(failure) = state.health.failure() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            failure.code,
            &failure.message,
        );
    }
    if let Some(subscribed) = &state.mqtt_subscribed
        && !subscribed.load(std::sync::atomic::Ordering::Relaxed)
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_unavailable",
            "not subscribed to the uplinks at the MQTT broker yet",
        );
    }
    let live = Arc::clone(&state.live);
    let db = tokio::task::spawn_blocking(move || {
        live.store()
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
    })
    .await;
    match db {
        Ok(Ok(1)) => axum::Json(json!({"status": "ready"})).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        ),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics",
            "the metrics could not be encoded",
        ),
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such route")
}
