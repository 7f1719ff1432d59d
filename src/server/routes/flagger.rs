//! `POST /v1/webhooks/flagger`: a Flagger webhook (`rollout` or `confirm-promotion`) that judges the canary
//! over the window ending now and answers with its status, which is all Flagger reads: `200` on Pass, `412`
//! with the result and the reason on Marginal or Fail (Flagger fails a check on any status above 202), `400`
//! for bad or missing metadata, `503` when the metrics source cannot be reached, `429` when the server runs
//! as many analyses as it may.
//!
//! The webhook's `metadata` (all strings, as Flagger sends them) says what to judge: `config` (a stored
//! config's name or id; required), `lookback` (`5m`), `step` (`60s`), `account`, `controlScope`
//! (`{name}-primary`, Flagger's primary), `experimentScope` (`{name}`, the canary), `location`
//! (`{namespace}`), `pass` (75) and `marginal` (50). The judgement is an analysis like any other, run by the
//! engine's one entry ([`crate::analysis::scheduler::Scheduler::submit`]) and listed under `/v1/analyses`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use serde::Deserialize;

use crate::analysis::scheduler::{Ended, SubmitError};
use crate::analysis::spec::{AnalysisSpec, SideSpec};
use crate::analysis::verdict::fails;
use crate::kayenta::ScoreThresholds;
use crate::server::error::ApiError;
use crate::server::extract::Json;
use crate::server::routes::analyses::stored_config;
use crate::server::{AppState, blocking};
use crate::store::Origin;

/// Flagger's webhook payload.
#[derive(Debug, Deserialize)]
pub struct Payload {
    name: String,
    namespace: String,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default, deserialize_with = "crate::kayenta::canary_config::nullable")]
    metadata: BTreeMap<String, String>,
}

/// `POST /v1/webhooks/flagger`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/flagger",
    tag = "flagger",
    request_body = crate::server::openapi::wire::FlaggerPayload,
    responses(
        (status = 200, description = "The canary passed", body = crate::server::openapi::wire::FlaggerAnswer),
        (status = 400, description = "Bad or missing metadata, or no stored config of that name", body = crate::server::error::ErrorBody),
        (status = 412, description = "The canary did not pass (Marginal or Fail): Flagger fails the check", body = crate::server::openapi::wire::FlaggerAnswer),
        (status = 500, description = "The store or the judge failed", body = crate::server::error::ErrorBody),
        (status = 429, description = "The server runs as many analyses as it may; try again after `Retry-After` seconds", body = crate::server::error::ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 502, description = "The metrics source answered with an error", body = crate::server::error::ErrorBody),
        (status = 503, description = "The metrics source could not be reached in time", body = crate::server::error::ErrorBody),
    )
)]
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    Json(payload): Json<Payload>,
) -> Result<Response, ApiError> {
    let spec = spec(&payload)?.normalized(jiff::Timestamp::now());
    let config_key = payload.metadata.get("config").cloned().unwrap_or_default();
    let config = {
        let store = state.store.clone();
        blocking(move || stored_config(store.as_ref(), &config_key))
            .await
            .map_err(|error| ApiError {
                status: error.status,
                message: format!("metadata.config: {}", error.message),
            })?
    };
    // The engine runs it in a task of its own: it is finished (or failed) even if Flagger hangs up.
    let running = state
        .scheduler
        .submit(Origin::Flagger, &spec, config)
        .await
        .map_err(|error| match error {
            SubmitError::Invalid(message) => ApiError::bad_request(format!("metadata: {message}")),
            error => error.into(),
        })?;
    let id = running.id.clone();
    if let Ended::Failed { message, cause } = running.ended().await {
        return Err(cause.map_or_else(|| ApiError::internal(message), |error| (*error).into()));
    }
    let (store, judged) = (state.store.clone(), id.clone());
    let (analysis, interval) = blocking(move || {
        let analysis = store.analysis(&judged)?;
        let interval = store.intervals(&judged)?.pop();
        Ok((analysis, interval))
    })
    .await?;
    let (Some(verdict), Some(interval)) = (analysis.verdict, interval) else {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("analysis {id} ended {} without a verdict", analysis.status),
        });
    };

    let mut body = Answer {
        message: None,
        reason: None,
        id: &id,
        name: &payload.name,
        namespace: &payload.namespace,
        classification: &verdict.classification,
        score: crate::kayenta::numbers::to_json(verdict.score),
        start: interval.start,
        end: interval.end,
        phase: payload.phase.as_deref(),
        judge_result: &interval.judge_result,
    };
    if verdict.classification == "Pass" {
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }
    let reason = reason(&interval.judge_result, spec.thresholds);
    body.message = Some(format!(
        "canary {}.{}: {}",
        payload.name, payload.namespace, reason
    ));
    body.reason = Some(reason);
    Ok((StatusCode::PRECONDITION_FAILED, axum::Json(body)).into_response())
}

/// The webhook's answer, in the order a person reads it in Flagger's event log: the message and the reason
/// first, the (long) judge result last. A struct, because `serde_json::Value` sorts its keys.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    id: &'a str,
    name: &'a str,
    namespace: &'a str,
    classification: &'a str,
    score: serde_json::Value,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<&'a str>,
    judge_result: &'a crate::kayenta::CanaryJudgeResult,
}

/// The analysis the webhook's metadata asks for, its window left to end now.
fn spec(payload: &Payload) -> Result<AnalysisSpec, ApiError> {
    if payload.name.trim().is_empty() || payload.namespace.trim().is_empty() {
        return Err(ApiError::bad_request(
            "name and namespace must name the canary (Flagger sends both)",
        ));
    }
    let metadata = &payload.metadata;
    let text = |key: &str| {
        metadata
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    };
    if text("config").is_none() {
        return Err(ApiError::bad_request(
            "metadata.config is required: the name or id of a stored canary config (see /v1/configs)",
        ));
    }
    let duration = |key: &str, default: SignedDuration| match text(key) {
        None => Ok(default),
        Some(value) => match value.parse::<SignedDuration>() {
            Ok(duration) if duration.is_positive() => Ok(duration),
            _ => Err(ApiError::bad_request(format!(
                "metadata.{key}: '{value}' is not a positive duration such as 5m, 60s or 1h"
            ))),
        },
    };
    let number = |key: &str, default: f64| match text(key) {
        None => Ok(default),
        Some(value) => value.parse::<f64>().map_err(|_| {
            ApiError::bad_request(format!("metadata.{key}: '{value}' is not a number"))
        }),
    };
    let location = text("location").unwrap_or(&payload.namespace).to_string();
    let side = |key: &str, default: String| SideSpec {
        scope: text(key).map_or(default, str::to_string),
        location: location.clone(),
        params: BTreeMap::new(),
        start: None,
        end: None,
    };
    let thresholds = ScoreThresholds {
        pass: number("pass", 75.0)?,
        marginal: number("marginal", 50.0)?,
    };
    thresholds
        .validate("metadata.pass and metadata.marginal")
        .map_err(ApiError::bad_request)?;
    Ok(AnalysisSpec {
        config: None,
        config_id: text("config").map(str::to_string),
        account: text("account").map(str::to_string),
        control: Some(side("controlScope", format!("{}-primary", payload.name))),
        experiment: Some(side("experimentScope", payload.name.clone())),
        scopes: BTreeMap::new(),
        start: None,
        end: None,
        lifetime: None,
        interval: None,
        warmup: None,
        lookback: Some(duration("lookback", SignedDuration::from_mins(5))?),
        step: Some(duration("step", SignedDuration::from_secs(60))?),
        thresholds,
        judge: None,
        control_offset: None,
        early_pass: false,
        kayenta: None,
    })
}

/// Why a canary did not pass: the score against the thresholds, and the metrics that were not Pass.
fn reason(result: &crate::kayenta::CanaryJudgeResult, thresholds: ScoreThresholds) -> String {
    let score = result.score.score;
    let mut reason = if fails(score, thresholds) {
        format!(
            "the canary score {score} is not above the marginal threshold {}",
            thresholds.marginal
        )
    } else {
        format!(
            "the canary score {score} is below the pass threshold {}",
            thresholds.pass
        )
    };
    if !result.score.classification_reason.is_empty() {
        reason.push_str(&format!(" ({})", result.score.classification_reason));
    }
    let failing: Vec<String> = result
        .results
        .iter()
        .filter(|metric| metric.classification != "Pass")
        .map(|metric| format!("{} {}", metric.name, metric.classification))
        .collect();
    if !failing.is_empty() {
        reason.push_str(&format!("; metrics: {}", failing.join(", ")));
    }
    reason
}
