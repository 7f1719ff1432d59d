//! `/v1/analyses`: start an analysis (retrospective: judged at once, `200` with the result; real time:
//! `202 {"id"}`, judged every interval in the background; `429` when the server runs as many as it may;
//! `422`/`502`/`503` with the analysis's id when a retrospective analysis could not be made), read one,
//! list them, cancel one, delete a finished one.

use std::sync::Arc;

use crate::server::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::analysis::AnalysisError;
use crate::analysis::scheduler::Ended;
use crate::analysis::spec::AnalysisSpec;
use crate::kayenta::{CanaryConfig, CanaryJudgeResult, warnings};
use crate::metrics::SourceError;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Json, Params};
use crate::server::{AppState, blocking};
use crate::store::{
    Analysis, AnalysisQuery, AnalysisStatus, Interval, Missing, Origin, Store, StoreError,
    Transition,
};

#[utoipa::path(
    post,
    path = "/v1/analyses",
    tag = "analyses",
    request_body = AnalysisSpec,
    responses(
        (status = 200, description = "A retrospective analysis (`end`, no `lifetime`), judged", body = AnalysisView),
        (status = 202, description = "A real-time analysis (`lifetime`), accepted and stored; follow `Location`", body = Accepted,
            headers(("Location" = String, description = "`/v1/analyses/{id}`"))),
        (status = 400, description = "What is wrong with the request: its body, the config, the scopes, the \
            window, the account, the judge", body = ErrorBody),
        (status = 422, description = "A retrospective analysis that could not be made because of its config or \
            scopes (e.g. a template variable missing at judging time): `message`, then the analysis \
            (`id`, `status: \"error\"`, `error`)", body = ErrorBody),
        (status = 429, description = "The server runs as many analyses as it may; try again after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 500, description = "The store or the analysis task failed", body = ErrorBody),
        (status = 502, description = "A retrospective analysis that could not be made because the metrics source \
            answered with an error: `message`, then the analysis (`id`, `status: \"error\"`, `error`)", body = ErrorBody),
        (status = 503, description = "The metrics source could not be reached (a retrospective analysis: \
            `message`, then the analysis with `id` and `status: \"error\"`)", body = ErrorBody),
    )
)]
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
    let real_time = spec.is_real_time();
    let running = state
        .scheduler
        .submit(Origin::Native, &spec, config)
        .await?;
    let id = running.id.clone();
    if real_time {
        let location = format!("/v1/analyses/{id}");
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            axum::Json(Accepted { id }),
        )
            .into_response());
    }
    // A retrospective analysis is judged at once; its task finishes even if this caller goes away.
    if let Ended::Failed { message, cause } = running.ended().await {
        return Ok(failed(&state, &id, message, cause).await);
    }
    Ok(axum::Json(view(&state, &id).await?).into_response())
}

/// The answer for a retrospective analysis that could not be made: an error status that says whose fault it
/// was (`422` the config or the scopes, `502`/`503` the metrics source, `500` coalmine), and a body with
/// the `message` first, then the stored analysis (`id`, `status: "error"`, `error`, ...).
async fn failed(
    state: &AppState,
    id: &str,
    message: String,
    cause: Option<Box<AnalysisError>>,
) -> Response {
    // A query the store refuses as malformed (Prometheus's `400 bad_data`) is the config's problem.
    let refused = matches!(
        cause.as_deref(),
        Some(AnalysisError::Metrics(SourceError::Http {
            status: 400 | 422,
            ..
        }))
    );
    let error = cause.map_or_else(|| ApiError::internal(message), |cause| (*cause).into());
    // A request that was well formed but whose config or scopes fail at judging time is unprocessable
    // rather than malformed.
    let status = match error.status {
        _ if refused => StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::BAD_REQUEST => StatusCode::UNPROCESSABLE_ENTITY,
        status => status,
    };
    if status.is_server_error() {
        tracing::error!(analysis = %id, status = status.as_u16(), "{}", error.message);
    }
    let mut body = serde_json::Map::new();
    body.insert("message".into(), Value::String(error.message));
    match view(state, id).await.map(serde_json::to_value) {
        Ok(Ok(Value::Object(fields))) => body.extend(fields),
        _ => {
            body.insert("id".into(), Value::String(id.to_string()));
            body.insert("status".into(), Value::String("error".into()));
        }
    }
    (status, axum::Json(Value::Object(body))).into_response()
}

#[utoipa::path(
    get,
    path = "/v1/analyses/{id}",
    tag = "analyses",
    params(("id" = String, Path, description = "The analysis id")),
    responses(
        (status = 200, description = "The analysis with the intervals judged so far", body = AnalysisView),
        (status = 400, description = "The id in the path cannot be read", body = ErrorBody),
        (status = 404, description = "No analysis has that id", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `GET /v1/analyses/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<AnalysisView>, ApiError> {
    Ok(axum::Json(view(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Comma-separated statuses.
    status: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/analyses",
    tag = "analyses",
    params(
        ("status" = Option<String>, Query, description = "Comma-separated statuses: pending, running, completed, error, cancelled"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)"),
    ),
    responses(
        (status = 200, description = "Newest first", body = Vec<AnalysisSummary>),
        (status = 400, description = "An unknown status, or a limit that is not a number", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `GET /v1/analyses?status=running,completed&limit=50`: newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Params(params): Params<ListParams>,
) -> Result<axum::Json<Vec<AnalysisSummary>>, ApiError> {
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
    Ok(axum::Json(
        analyses.iter().map(AnalysisSummary::of).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/analyses/{id}/cancel",
    tag = "analyses",
    params(("id" = String, Path, description = "The analysis id")),
    responses(
        (status = 200, description = "Cancelled (cancelling twice is not an error)", body = AnalysisView),
        (status = 400, description = "The id in the path cannot be read", body = ErrorBody),
        (status = 404, description = "No analysis has that id", body = ErrorBody),
        (status = 409, description = "The analysis had already finished", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `POST /v1/analyses/{id}/cancel`.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::Json<AnalysisView>, ApiError> {
    let (store, cancelled) = (state.store.clone(), id.clone());
    blocking(move || Ok(store.transition(&cancelled, Transition::Cancel)?)).await?;
    state.scheduler.cancel(&id);
    Ok(axum::Json(view(&state, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/analyses/{id}",
    tag = "analyses",
    params(("id" = String, Path, description = "The analysis id")),
    responses(
        (status = 204, description = "Deleted, with its intervals"),
        (status = 400, description = "The id in the path cannot be read", body = ErrorBody),
        (status = 404, description = "No analysis has that id", body = ErrorBody),
        (status = 409, description = "The analysis is still pending or running: cancel it first", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `DELETE /v1/analyses/{id}`: a finished analysis and its intervals.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.delete_analysis(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
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
async fn view(state: &AppState, id: &str) -> Result<AnalysisView, ApiError> {
    let (store, id) = (state.store.clone(), id.to_string());
    let (analysis, intervals, queries) = blocking(move || {
        let analysis = store.analysis(&id)?;
        let intervals = store.intervals(&id)?;
        // The last interval's queries, to name the ones that returned no data.
        let queries = match intervals.last() {
            Some(last) => store.interval_detail(&id, last.index)?.queries,
            None => Value::Null,
        };
        Ok((analysis, intervals, queries))
    })
    .await?;
    let mut warnings = crate::kayenta::config_warnings::of_config(&analysis.config);
    if let Some(last) = intervals.last() {
        warnings.extend(warnings::no_data(&last.judge_result, &queries));
    }
    Ok(AnalysisView {
        summary: AnalysisSummary::of(&analysis),
        intervals: intervals.into_iter().map(IntervalView::from).collect(),
        request: analysis.request,
        warnings,
    })
}

/// An analysis as a list shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSummary {
    id: String,
    #[schema(value_type = String, example = "running")]
    /// `pending`, `running`, `completed`, `error` or `cancelled`.
    status: &'static str,
    /// What started it: `native` (this API), `kayenta` (Kayenta's API) or `flagger` (the Flagger webhook).
    #[schema(value_type = String)]
    origin: &'static str,
    /// The canary config's name.
    config: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// The index of the next interval to judge.
    next_interval: u32,
    /// `Pass`, `Marginal` or `Fail`, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    classification: Option<String>,
    /// The last interval's score, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    /// What went wrong, once the status is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl AnalysisSummary {
    fn of(analysis: &Analysis) -> AnalysisSummary {
        AnalysisSummary {
            id: analysis.id.clone(),
            status: analysis.status.as_str(),
            origin: analysis.origin.as_str(),
            config: analysis.config.name.clone(),
            created_at: analysis.created,
            updated_at: analysis.updated,
            next_interval: analysis.next_interval,
            classification: analysis.verdict.as_ref().map(|v| v.classification.clone()),
            score: analysis.verdict.as_ref().map(|v| v.score),
            error: analysis.error.clone(),
        }
    }
}

/// One analysis with the intervals judged so far and the request that started it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisView {
    #[serde(flatten)]
    summary: AnalysisSummary,
    intervals: Vec<IntervalView>,
    /// The request as received (`POST /v1/analyses`) or as translated from a Kayenta-compatible one.
    request: Value,
    /// What the user should know although nothing failed: each unknown field of the config, by path (ignored,
    /// as Kayenta ignores it), and each metric of the last interval whose queries returned no data
    /// (classified `Nodata`, which does not fail the canary unless `mustHaveData`).
    warnings: Vec<String>,
}

/// One judged interval.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalView {
    index: u32,
    start: Timestamp,
    end: Timestamp,
    judged_at: Timestamp,
    /// `null` when the judge could not score the interval (NaN).
    #[schema(value_type = Option<f64>)]
    score: f64,
    /// `Pass`, `Marginal` or `Fail`.
    classification: String,
    judge_result: CanaryJudgeResult,
}

impl From<Interval> for IntervalView {
    fn from(interval: Interval) -> IntervalView {
        IntervalView {
            index: interval.index,
            start: interval.start,
            end: interval.end,
            judged_at: interval.judged_at,
            score: interval.judge_result.score.score,
            classification: interval.judge_result.score.classification.clone(),
            judge_result: interval.judge_result,
        }
    }
}

/// `202 Accepted` for a real-time analysis.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    id: String,
}
