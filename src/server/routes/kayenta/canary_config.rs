//! `/canaryConfig`: Kayenta's canary config store, served from coalmine's — list (filtered by repeated
//! `application`), get, create, replace and delete, with Kayenta's answers (`{"canaryConfigId"}`, 204 on
//! delete) and Kayenta's validation and messages (400 for a bad or conflicting config, 404 for a missing one).
//!
//! `configurationAccountName` is accepted on every call and ignored: whatever account a user's template
//! names, configs live in coalmine's one store (Argo Rollouts even sends its storage account here).

use std::sync::Arc;

use crate::server::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Params, lenient};
use crate::kayenta::CanaryConfig;
use crate::kayenta::config_warnings::unknown_fields;
use crate::kayenta::jackson;
use crate::server::error::ApiError;
use crate::server::extract::Json;
use crate::server::routes::configs::{ConfigSummaryView, check_id, summary, validate};
use crate::server::{AppState, blocking};
use crate::store::{Missing, StoreError};

/// `GET /canaryConfig?application=a&application=b`: summaries `{id, name, updatedTimestamp,
/// updatedTimestampIso, applications}`.
#[utoipa::path(
    get,
    path = "/canaryConfig",
    tag = "kayenta",
    params(
        ("application" = Option<Vec<String>>, Query, description = "Only configs of these applications (repeatable)"),
        ("configurationAccountName" = Option<String>, Query, description = "Accepted and ignored: configs live in coalmine's store"),
    ),
    responses(
        (status = 200, description = "Kayenta's `CanaryConfigSummary` of each config, by name", body = Vec<ConfigSummaryView>),
        (status = 400, description = "The query string cannot be read", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Params(pairs): Params<Vec<(String, String)>>,
) -> Result<axum::Json<Vec<ConfigSummaryView>>, ApiError> {
    let applications: Vec<String> = pairs
        .into_iter()
        .filter(|(key, value)| key == "application" && !value.is_empty())
        .map(|(_, value)| value)
        .collect();
    let store = state.store.clone();
    let summaries = blocking(move || Ok(store.list_configs(&applications)?)).await?;
    Ok(axum::Json(summaries.iter().map(summary).collect()))
}

/// `GET /canaryConfig/{id}`.
#[utoipa::path(
    get,
    path = "/canaryConfig/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The config's id"), ("configurationAccountName" = Option<String>, Query, description = "Accepted and ignored: configs live in coalmine's store"),),
    responses(
        (status = 200, description = "The stored config", body = CanaryConfig),
        (status = 400, description = "The id in the path cannot be read", body = crate::server::error::ErrorBody),
        (status = 404, description = "No config has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<CanaryConfig>, ApiError> {
    Ok(axum::Json(super::stored_config(&state, &id).await?))
}

/// `POST /canaryConfig`: `{"canaryConfigId"}`; the id is generated when the config has none.
#[utoipa::path(
    post,
    path = "/canaryConfig",
    tag = "kayenta",
    params(("configurationAccountName" = Option<String>, Query, description = "Accepted and ignored: configs live in coalmine's store"),),
    request_body = CanaryConfig,
    responses(
        (status = 200, description = "Stored", body = crate::server::openapi::wire::CanaryConfigId),
        (status = 400, description = "Invalid, or its id or name is taken, with Kayenta's message where Kayenta has one", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let (config, _): (CanaryConfig, _) = lenient(&body, &jackson::CANARY_CONFIG)?;
    if let Some(id) = config.id.as_deref().filter(|id| !id.is_empty()) {
        check_id(id).map_err(ApiError::bad_request)?;
    }
    validate(&config).map_err(ApiError::bad_request)?;
    state
        .limits
        .check_metrics(&config)
        .map_err(ApiError::bad_request)?;
    let store = state.store.clone();
    let stored =
        blocking(move || store.create_config(config).map_err(conflict_is_bad_request)).await?;
    // Kayenta answers only `canaryConfigId`; its clients (Deck, Gate, Argo) read that and ignore the rest.
    Ok(axum::Json(
        json!({"canaryConfigId": stored.id, "warnings": unknown_fields(&body)}),
    ))
}

/// `PUT /canaryConfig/{id}`: `{"canaryConfigId"}`; 400 when there is no config `id`.
#[utoipa::path(
    put,
    path = "/canaryConfig/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The config's id"), ("configurationAccountName" = Option<String>, Query, description = "Accepted and ignored: configs live in coalmine's store"),),
    request_body = CanaryConfig,
    responses(
        (status = 200, description = "Replaced", body = crate::server::openapi::wire::CanaryConfigId),
        (status = 400, description = "Invalid, its name is taken, or there is no config with that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let (config, _): (CanaryConfig, _) = lenient(&body, &jackson::CANARY_CONFIG)?;
    validate(&config).map_err(ApiError::bad_request)?;
    state
        .limits
        .check_metrics(&config)
        .map_err(ApiError::bad_request)?;
    let store = state.store.clone();
    let stored = blocking(move || match store.replace_config(&id, config) {
        Err(StoreError::NotFound(Missing::Config(_))) => Err(ApiError::bad_request(format!(
            "Canary config with id '{id}' does not exist: create it with POST /canaryConfig."
        ))),
        other => other.map_err(conflict_is_bad_request),
    })
    .await?;
    // Kayenta answers only `canaryConfigId`; its clients (Deck, Gate, Argo) read that and ignore the rest.
    Ok(axum::Json(
        json!({"canaryConfigId": stored.id, "warnings": unknown_fields(&body)}),
    ))
}

/// `DELETE /canaryConfig/{id}`: 204.
#[utoipa::path(
    delete,
    path = "/canaryConfig/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The config's id"), ("configurationAccountName" = Option<String>, Query, description = "Accepted and ignored: configs live in coalmine's store"),),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id in the path cannot be read", body = crate::server::error::ErrorBody),
        (status = 404, description = "No config has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    blocking(move || match store.delete_config(&id) {
        Err(StoreError::NotFound(Missing::Config(_))) => Err(ApiError::not_found(format!(
            "No canary config with id '{id}' was found."
        ))),
        other => Ok(other?),
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Kayenta answers a taken id or name with 400 (an `IllegalArgumentException`), not 409.
fn conflict_is_bad_request(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(conflict) => ApiError::bad_request(conflict.to_string()),
        other => other.into(),
    }
}
