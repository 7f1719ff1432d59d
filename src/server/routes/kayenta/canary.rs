//! `/canary`: start a canary run against a stored config (`POST /canary/{canaryConfigId}`) or an ad hoc one
//! (`POST /canary`), read its CanaryExecutionStatusResponse (`GET /canary/{canaryExecutionId}`), and list
//! runs (`GET /canary/executions`). A run answers `200 {"canaryExecutionId"}` at once and is judged in the
//! background, as Kayenta does; Argo Rollouts and Spinnaker poll it.

use std::sync::Arc;

use crate::server::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Asked, Params, asked, load_run, start_run};
use crate::kayenta::execution::{
    self, AD_HOC, CanaryExecutionRequest, KayentaRun, RunKind, RunParams,
};
use crate::kayenta::jackson;
use crate::server::error::ApiError;
use crate::server::extract::Json;
use crate::server::{AppState, blocking};
use crate::store::{AnalysisQuery, AnalysisStatus, Conflict, StoreError, Transition};

/// `POST /canary/{canaryConfigId}`.
#[utoipa::path(
    post,
    path = "/canary/{id}",
    tag = "kayenta",
    params(("id" = String, Path, description = "The stored config's id"), crate::kayenta::execution::RunParams),
    request_body = crate::kayenta::execution::CanaryExecutionRequest,
    responses(
        (status = 200, description = "Accepted: judged in the background", body = crate::server::openapi::wire::CanaryExecutionId),
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
            &jackson::CANARY_EXECUTION_REQUEST,
        )
        .await?,
    )
    .await
}

/// `POST /canary`: `{canaryConfig, executionRequest}`.
#[utoipa::path(
    post,
    path = "/canary",
    tag = "kayenta",
    params(crate::kayenta::execution::RunParams),
    request_body = crate::server::openapi::wire::AdHocCanaryRequest,
    responses(
        (status = 200, description = "Accepted: judged in the background", body = crate::server::openapi::wire::CanaryExecutionId),
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
        asked(&state, None, body, &jackson::CANARY_EXECUTION_REQUEST).await?,
    )
    .await
}

async fn run(
    state: &AppState,
    params: RunParams,
    asked: Asked<CanaryExecutionRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let Asked {
        config,
        config_id,
        mut request,
        body,
    } = asked;
    // Absent (or empty) times are the last few minutes, ending now.
    let now = jiff::Timestamp::now();
    request.default_times(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now));
    config
        .validate_for_judging()
        .map_err(ApiError::bad_request)?;
    let spec = request
        .to_spec(None, &config)
        .map_err(ApiError::bad_request)?;
    let id = start_run(
        state,
        RunKind::Canary,
        params,
        config,
        config_id,
        spec,
        body,
    )
    .await?;
    Ok(axum::Json(json!({"canaryExecutionId": id})))
}

/// `GET /canary/{canaryExecutionId}` (`storageAccountName` is accepted and ignored: there is one store).
#[utoipa::path(
    get,
    path = "/canary/{id}",
    tag = "kayenta",
    params(
        ("id" = String, Path, description = "The run's `canaryExecutionId`"),
        ("storageAccountName" = Option<String>, Query, description = "Accepted and ignored: there is one store"),
    ),
    responses(
        (status = 200, description = "Kayenta's `CanaryExecutionStatusResponse`", body = crate::server::openapi::wire::CanaryExecutionStatusResponse),
        (status = 400, description = "The id in the path cannot be read", body = crate::server::error::ErrorBody),
        (status = 404, description = "No `/canary` run has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let (analysis, run, intervals) = load_run(&state, &id, RunKind::Canary).await?;
    Ok(axum::Json(execution::status_response(
        &analysis, &run, &intervals,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    application: Option<String>,
    limit: Option<String>,
    page: Option<String>,
    /// Comma-separated Orca statuses (`running`, `succeeded`, `terminal`, …), in any case.
    statuses: Option<String>,
}

/// Most runs one page of `GET /canary/executions` may hold.
const MAX_LIMIT: usize = 1000;

/// The last page `GET /canary/executions` serves (at most 10,000 runs are listed).
const MAX_PAGE: usize = 10_000;

/// `GET /canary/executions?application=&limit=20&page=1&statuses=`: the application's runs, newest first;
/// `limit` (1 to 1000) and `page` (1 to 10,000) are bounded.
#[utoipa::path(
    get,
    path = "/canary/executions",
    tag = "kayenta",
    params(ListParams),
    responses(
        (status = 200, description = "The application's runs, newest first", body = Vec<crate::server::openapi::wire::CanaryExecutionStatusResponse>),
        (status = 400, description = "A limit (1 to 1000) or page (1 to 10,000) out of bounds, or an unknown status", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Params(params): Params<ListParams>,
) -> Result<axum::Json<Value>, ApiError> {
    let application = params.application.unwrap_or_else(|| AD_HOC.to_string());
    let number = |value: Option<String>, name: &str, default: usize, max: usize| match value {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(number) if (1..=max).contains(&number) => Ok(number),
            Ok(number) if number >= 1 => Err(ApiError::bad_request(format!(
                "{name}: {number} is more than {max}, the most this server pages"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "{name}: '{text}' is not a whole number of at least 1"
            ))),
        },
    };
    let limit = number(params.limit, "limit", 20, MAX_LIMIT)?;
    let page = number(params.page, "page", 1, MAX_PAGE)?;
    // Both bounded above, so this cannot overflow; past the runs listed, the page is empty.
    let skip = (page - 1).saturating_mul(limit);
    let wanted: Vec<String> = params
        .statuses
        .iter()
        .flat_map(|statuses| statuses.split(','))
        .map(|status| status.trim().to_ascii_lowercase())
        .filter(|status| !status.is_empty())
        .collect();
    let known = [
        "not_started",
        "running",
        "succeeded",
        "terminal",
        "canceled",
    ];
    if let Some(unknown) = wanted
        .iter()
        .find(|status| !known.contains(&status.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "statuses: unknown status '{unknown}': use {}",
            known.join(", ")
        )));
    }
    let store = state.store.clone();
    let runs = blocking(move || {
        let analyses = store.list_analyses(&AnalysisQuery {
            statuses: AnalysisStatus::ALL.to_vec(),
            limit: 10_000,
            offset: 0,
        })?;
        let mut runs = Vec::new();
        for analysis in analyses {
            let Some(run) = KayentaRun::of(&analysis) else {
                continue;
            };
            let status = execution::orca_status(analysis.status);
            if run.kind != RunKind::Canary
                || run.application != application
                || !(wanted.is_empty() || wanted.iter().any(|wanted| wanted == status))
            {
                continue;
            }
            runs.push((analysis, run));
        }
        let page: Vec<_> = runs.into_iter().skip(skip).take(limit).collect();
        let mut responses = Vec::with_capacity(page.len());
        for (analysis, run) in page {
            let intervals = store.intervals(&analysis.id)?;
            responses.push(execution::status_response(&analysis, &run, &intervals));
        }
        Ok(responses)
    })
    .await?;
    Ok(axum::Json(Value::Array(runs)))
}

/// `PUT /pipelines/{id}/cancel`: what Orca sends when a `kayentaCanary` stage is cancelled; `202`, and the
/// run becomes `canceled`. Cancelling a finished run changes nothing.
#[utoipa::path(
    put,
    path = "/pipelines/{id}/cancel",
    tag = "kayenta",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Cancelled (a finished run is left as it was)"),
        (status = 400, description = "The id in the path cannot be read", body = crate::server::error::ErrorBody),
        (status = 404, description = "No run has that id", body = crate::server::error::ErrorBody),
        (status = 500, description = "The store failed", body = crate::server::error::ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let (store, cancelled) = (state.store.clone(), id.clone());
    blocking(
        move || match store.transition(&cancelled, Transition::Cancel) {
            Ok(_) | Err(StoreError::Conflict(Conflict::AnalysisFinished { .. })) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
                "Unable to find pipeline with id '{cancelled}'."
            ))),
            Err(error) => Err(error.into()),
        },
    )
    .await?;
    state.scheduler.cancel(&id);
    Ok(axum::http::StatusCode::ACCEPTED)
}
