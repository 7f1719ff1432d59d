//! What Kayenta's clients ask about the server: `GET /credentials` (each metrics account with its `type` and
//! `supportedTypes`, plus the built-in account that serves as configuration and object store),
//! `GET /metricsServices` and `GET /judges` (`{name, visible}`).

use std::sync::Arc;

use axum::extract::State;
use serde_json::{Value, json};

use crate::kayenta::execution::BUILT_IN_STORE_ACCOUNT;
use crate::server::AppState;

/// `GET /credentials`. Orca reads `{name, type}` to spare Datadog accounts the low-data warning.
#[utoipa::path(
    get,
    path = "/credentials",
    tag = "kayenta",
    responses((status = 200, description = "The metrics accounts, then the built-in store", body = Vec<crate::server::openapi::wire::Credentials>))
)]
pub async fn credentials(State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    let mut accounts: Vec<Value> = state
        .accounts
        .iter()
        .map(|(name, kind)| {
            json!({
                "name": name,
                "type": kind,
                "supportedTypes": ["METRICS_STORE"],
                "locations": [],
                "recommendedLocations": [],
            })
        })
        .collect();
    accounts.push(json!({
        "name": BUILT_IN_STORE_ACCOUNT,
        "type": "coalmine",
        "supportedTypes": ["CONFIGURATION_STORE", "OBJECT_STORE"],
        "locations": [],
        "recommendedLocations": [],
    }));
    axum::Json(Value::Array(accounts))
}

/// `GET /metricsServices`: `[{name, type, locations, recommendedLocations}]`.
#[utoipa::path(
    get,
    path = "/metricsServices",
    tag = "kayenta",
    responses((status = 200, description = "The metrics accounts", body = Vec<crate::server::openapi::wire::MetricsService>))
)]
pub async fn metrics_services(State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    axum::Json(
        state
            .accounts
            .iter()
            .map(|(name, kind)| {
                json!({"name": name, "type": kind, "locations": [], "recommendedLocations": []})
            })
            .collect(),
    )
}

/// `GET /judges`: every loaded judge under its name and each alias (e.g. `NetflixACAJudge-v1.0`), visible.
#[utoipa::path(
    get,
    path = "/judges",
    tag = "kayenta",
    responses((status = 200, description = "Every judge under its name and each alias", body = Vec<crate::server::openapi::wire::KayentaJudge>))
)]
pub async fn judges(State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    let mut judges = Vec::new();
    for judge in state.host.judges() {
        judges.push(json!({"name": judge.name(), "visible": true}));
        for alias in state.host.aliases_of(judge.name()) {
            judges.push(json!({"name": alias, "visible": true}));
        }
    }
    axum::Json(Value::Array(judges))
}
