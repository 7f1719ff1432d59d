//! `/v1/analyses`: start an analysis (retrospective: judged at once, `200` with the result; real time:
//! `202 {"id"}`, judged every interval in the background), read one, list them, cancel one.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::analysis::spec::AnalysisSpec;
use crate::kayenta::CanaryConfig;
use crate::server::error::ApiError;
use crate::server::extract::Json;
use crate::server::{AppState, blocking};
use crate::store::{
    Analysis, AnalysisQuery, AnalysisStatus, Missing, NewAnalysis, Origin, Store, StoreError,
    Transition,
};

/// `POST /v1/analyses`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Json(spec): Json<AnalysisSpec>,
) -> Result<Response, ApiError> {
    if spec.kayenta.is_some() {
        return Err(ApiError::bad_request(
            "kayenta: this field is set by Kayenta's API (/canary, /standalone_canary_analysis); leave it out",
        ));
    }
    let spec = spec.normalized(jiff::Timestamp::now());
    let config = match (&spec.config, &spec.config_id) {
        (Some(config), None) => config.clone(),
        (None, Some(id)) => {
            let (store, id) = (state.store.clone(), id.clone());
            blocking(move || stored_config(store.as_ref(), &id)).await?
        }
        _ => return Err(ApiError::bad_request("give either config or configId")),
    };
    // Everything the analysis will need is checked now, so that a bad request never reaches the store.
    spec.plan(config.clone(), &state.accounts, &state.host)
        .map_err(ApiError::bad_request)?;
    let real_time = spec.is_real_time();
    let analysis = store_analysis(&state, Origin::Native, &spec, config).await?;
    let id = analysis.id.clone();
    let running = state.scheduler.start(analysis);
    if real_time {
        let location = format!("/v1/analyses/{id}");
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            axum::Json(json!({"id": id})),
        )
            .into_response());
    }
    // A retrospective analysis is judged at once; its task finishes even if this caller goes away.
    running
        .await
        .map_err(|error| ApiError::internal(format!("the analysis task failed: {error}")))?;
    Ok(axum::Json(view(&state, &id).await?).into_response())
}

/// Stores a new `pending` analysis of `spec` with `config`, started through `origin`'s API.
pub(crate) async fn store_analysis(
    state: &AppState,
    origin: Origin,
    spec: &AnalysisSpec,
    config: CanaryConfig,
) -> Result<Analysis, ApiError> {
    let request =
        serde_json::to_value(spec).map_err(|error| ApiError::internal(error.to_string()))?;
    let store = state.store.clone();
    blocking(move || {
        Ok(store.create_analysis(NewAnalysis {
            origin,
            request,
            config,
        })?)
    })
    .await
}

/// `GET /v1/analyses/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(view(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Comma-separated statuses.
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/analyses?status=running,completed&limit=50`: newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Value>, ApiError> {
    let statuses = params
        .status
        .iter()
        .flat_map(|statuses| statuses.split(','))
        .filter(|status| !status.is_empty())
        .map(|status| {
            status.parse::<AnalysisStatus>().map_err(|_| {
                let known: Vec<&str> = AnalysisStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(format!(
                    "unknown status '{status}': use {}",
                    known.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query = AnalysisQuery {
        statuses,
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
        offset: 0,
    };
    let store = state.store.clone();
    let analyses = blocking(move || Ok(store.list_analyses(&query)?)).await?;
    Ok(axum::Json(analyses.iter().map(summary).collect()))
}

/// `POST /v1/analyses/{id}/cancel`.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let (store, cancelled) = (state.store.clone(), id.clone());
    blocking(move || Ok(store.transition(&cancelled, Transition::Cancel)?)).await?;
    state.scheduler.cancel(&id);
    Ok(axum::Json(view(&state, &id).await?))
}

/// A stored config by id, else by name.
pub(crate) fn stored_config(store: &dyn Store, id: &str) -> Result<CanaryConfig, ApiError> {
    match store.config(id) {
        Ok(stored) => Ok(stored.config),
        Err(StoreError::NotFound(Missing::Config(_))) => match store.config_by_name(id, None) {
            Ok(stored) => Ok(stored.config),
            Err(StoreError::NotFound(_)) => Err(ApiError::bad_request(format!(
                "configId: there is no stored canary config with the id or name '{id}'"
            ))),
            Err(error) => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// One analysis with its intervals.
async fn view(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let (store, id) = (state.store.clone(), id.to_string());
    let (analysis, intervals) = blocking(move || {
        let analysis = store.analysis(&id)?;
        let intervals = store.intervals(&id)?;
        Ok((analysis, intervals))
    })
    .await?;
    let mut view = summary(&analysis);
    view["intervals"] = intervals
        .iter()
        .map(|interval| {
            json!({
                "index": interval.index,
                "start": interval.start,
                "end": interval.end,
                "judgedAt": interval.judged_at,
                "score": interval.judge_result.score.score,
                "classification": interval.judge_result.score.classification,
                "judgeResult": interval.judge_result,
            })
        })
        .collect();
    view["request"] = analysis.request;
    Ok(view)
}

/// What a list shows of an analysis.
fn summary(analysis: &Analysis) -> Value {
    let mut summary = json!({
        "id": analysis.id,
        "status": analysis.status.as_str(),
        "origin": analysis.origin.as_str(),
        "config": analysis.config.name,
        "createdAt": analysis.created,
        "updatedAt": analysis.updated,
        "nextInterval": analysis.next_interval,
    });
    if let Some(verdict) = &analysis.verdict {
        summary["classification"] = json!(verdict.classification);
        summary["score"] = json!(verdict.score);
    }
    if let Some(error) = &analysis.error {
        summary["error"] = json!(error);
    }
    summary
}
