//! `/standalone_canary_analysis`: Kayenta's multi-interval analysis without Spinnaker — start one against a
//! stored config or ad hoc (`200 {"canaryAnalysisExecutionId"}` at once) and read its
//! CanaryAnalysisExecutionStatusResponse, with Kayenta's final decision and messages.

use std::sync::Arc;

use crate::server::extract::{Path, State};
use serde_json::{Value, json};

use super::{Asked, Params, asked, load_run, start_run, typed};
use crate::analysis::spec::AnalysisSpec;
use crate::kayenta::execution::{AD_HOC, RunKind, RunParams};
use crate::kayenta::jackson;
use crate::kayenta::standalone::{self, CanaryAnalysisExecutionRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::extract::Json;

/// `POST /standalone_canary_analysis/{canaryConfigId}`.
#[utoipa::path(
    post,
    path = "/standalone_canary_analysis/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The stored config's id"), crate::kayenta::execution::RunParams),
    request_body = crate::kayenta::standalone::CanaryAnalysisExecutionRequest,
    responses(
        (status = 200, description = "Accepted: judged in the background", body = crate::server::openapi::wire::CanaryAnalysisExecutionId),
        (status = 400, description = "What is wrong with the request: the config, the scopes, the window, the \
            thresholds, the account; with Kayenta's message where Kayenta has one", body = crate::server::error::ErrorBody),
        (status = 404, description = "No config has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
        (status = 429, description = "The server runs as many analyses as it may; try again after `Retry-After` seconds", body = crate::server::error::ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(config_id): Path<String>,
    Params(params): Params<RunParams>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    run(
        &state,
        params,
        asked(
            &state,
            Some(config_id),
            body,
            &jackson::CANARY_ANALYSIS_EXECUTION_REQUEST,
        )
        .await?,
    )
    .await
}

/// `POST /standalone_canary_analysis`: `{canaryConfig, executionRequest}`.
#[utoipa::path(
    post,
    path = "/standalone_canary_analysis",
    tag = "kayenta",
    params(crate::kayenta::execution::RunParams),
    request_body = crate::server::openapi::wire::AdHocStandaloneRequest,
    responses(
        (status = 200, description = "Accepted: judged in the background", body = crate::server::openapi::wire::CanaryAnalysisExecutionId),
        (status = 400, description = "What is wrong with the request: the config, the scopes, the window, the \
            thresholds, the account; with Kayenta's message where Kayenta has one", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
        (status = 429, description = "The server runs as many analyses as it may; try again after `Retry-After` seconds", body = crate::server::error::ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
pub async fn start_ad_hoc(
    State(state): State<Arc<AppState>>,
    Params(params): Params<RunParams>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    run(
        &state,
        params,
        asked(
            &state,
            None,
            body,
            &jackson::CANARY_ANALYSIS_EXECUTION_REQUEST,
        )
        .await?,
    )
    .await
}

async fn run(
    state: &AppState,
    mut params: RunParams,
    asked: Asked<CanaryAnalysisExecutionRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let Asked {
        config,
        config_id,
        request,
        body,
    } = asked;
    config
        .validate_for_judging()
        .map_err(ApiError::bad_request)?;
    let spec = request.to_spec(None).map_err(ApiError::bad_request)?;
    params.application.get_or_insert_with(|| AD_HOC.to_string());
    params.user.get_or_insert_with(|| "anonymous".to_string());
    let id = start_run(
        state,
        RunKind::Standalone,
        params,
        config,
        config_id,
        spec,
        body,
    )
    .await?;
    Ok(axum::Json(json!({"canaryAnalysisExecutionId": id})))
}

/// `GET /standalone_canary_analysis/{id}`.
#[utoipa::path(
    get,
    path = "/standalone_canary_analysis/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The analysis's `canaryAnalysisExecutionId`")),
    responses(
        (status = 200, description = "Kayenta's `CanaryAnalysisExecutionStatusResponse`", body = crate::server::openapi::wire::CanaryAnalysisExecutionStatusResponse),
        (status = 400, description = "The id in the path cannot be read", body = crate::server::error::ErrorBody),
        (status = 404, description = "No standalone analysis has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let (analysis, run, intervals) = load_run(&state, &id, RunKind::Standalone).await?;
    let spec: AnalysisSpec = typed(&analysis.request)?;
    // The number of judgements planned; if the run can no longer be planned (its account was removed), the
    // judged ones.
    let planned = spec
        .plan(analysis.config.clone(), &state.accounts, &state.host)
        .map_or(intervals.len() as u32, |plan| plan.schedule.intervals());
    Ok(axum::Json(standalone::status_response(
        &analysis, &run, &spec, &intervals, planned,
    )))
}
