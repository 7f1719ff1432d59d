//! `/standalone_canary_analysis`: Kayenta's multi-interval analysis without Spinnaker — start one against a
//! stored config or ad hoc (`200 {"canaryAnalysisExecutionId"}` at once) and read its
//! CanaryAnalysisExecutionStatusResponse, with Kayenta's final decision and messages.

use std::sync::Arc;

use crate::server::extract::{Path, State};
use serde_json::{Value, json};

use super::{Asked, Params, asked, load_run, start_run, typed};
use crate::analysis::spec::AnalysisSpec;
use crate::kayenta::execution::{AD_HOC, RunKind, RunParams};
use crate::kayenta::standalone::{self, CanaryAnalysisExecutionRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::extract::Json;

/// `POST /standalone_canary_analysis/{canaryConfigId}`.
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(config_id): Path<String>,
    Params(params): Params<RunParams>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    run(&state, params, asked(&state, Some(config_id), body).await?).await
}

/// `POST /standalone_canary_analysis`: `{canaryConfig, executionRequest}`.
pub async fn start_ad_hoc(
    State(state): State<Arc<AppState>>,
    Params(params): Params<RunParams>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    run(&state, params, asked(&state, None, body).await?).await
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
