//! `GET /health` (Kayenta's path: the process is up), `GET /ready` (it can serve: judges loaded, and the store
//! answered this replica's last lease renewal) and `GET /metrics` (coalmine's own metrics, in the OpenMetrics
//! text format Prometheus scrapes).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::server::AppState;

#[utoipa::path(
    get,
    path = "/health",
    tag = "probes",
    security(()),
    responses((status = 200, description = "The process is up", body = crate::server::openapi::wire::Health))
)]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

#[utoipa::path(
    get,
    path = "/ready",
    tag = "probes",
    security(()),
    responses(
        (status = 200, description = "The server can serve: judges loaded, and the store answered this \
            replica's last lease renewal, within the lease period", body = crate::server::openapi::wire::Ready),
        (status = 503, description = "The store cannot be reached (or has not answered within the lease \
            period): this replica cannot renew its leases, and its analyses pause", body = crate::server::error::ErrorBody),
    )
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.scheduler.readiness() {
        Ok(()) => Json(json!({
            "status": "READY",
            "judges": state.host.judges().count(),
            "replica": state.scheduler.replica(),
            "replicas": state.scheduler.replicas(),
        }))
        .into_response(),
        Err(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": message})),
        )
            .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    security(()),
    responses((
        status = 200,
        description = "coalmine's own `coalmine_*` metrics, in the OpenMetrics text format",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String,
    ))
)]
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::telemetry::encode(),
    )
}
