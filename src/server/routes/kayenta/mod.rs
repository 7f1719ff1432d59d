//! Kayenta's REST API on coalmine's port, so that Argo Rollouts' `kayenta` provider, Spinnaker's
//! `kayentaCanary` stage and Kayenta's own clients work unchanged: `/canaryConfig`, `/canary`,
//! `/standalone_canary_analysis`, `/judges`, `/judge` (RemoteJudge), `/credentials`, `/metricsServices`, `/metadata/metricsService`.
//!
//! Kayenta's runs are analyses of the native engine (origin `kayenta`, visible under `/v1/analyses`); the
//! Kayenta shapes live in [`crate::kayenta::execution`] and [`crate::kayenta::standalone`], and these
//! handlers only translate. Errors are Kayenta's: `{"message": ...}` with 400 or 404.
//!
//! As Kayenta's Spring and Jackson do, bodies are read with Jackson's scalar coercion
//! ([`crate::kayenta::jackson`]: `"10"` for a number, `0` for a string) and paths match with a trailing
//! slash ([`trim_trailing_slash`]); coalmine's own `/v1` API does neither.

pub mod accounts;
pub mod canary;
pub mod canary_config;
pub mod metadata;
pub mod remote_judge;
pub mod standalone;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::analysis::spec::AnalysisSpec;
use crate::kayenta::CanaryConfig;
use crate::kayenta::execution::{KayentaRun, RunKind, RunParams};
use crate::kayenta::jackson::{self, Shape};
use crate::server::error::ApiError;
pub use crate::server::extract::Params;
use crate::server::{AppState, blocking};
use crate::store::{Analysis, Missing, Origin, StoreError};

/// Kayenta's routes, mounted beside `/v1` under the same bearer-token rule.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/judge", post(remote_judge::judge))
        .route("/judges", get(accounts::judges))
        .route("/credentials", get(accounts::credentials))
        .route("/metricsServices", get(accounts::metrics_services))
        .route(
            "/canaryConfig",
            get(canary_config::list).post(canary_config::create),
        )
        .route(
            "/canaryConfig/{id}",
            get(canary_config::get)
                .put(canary_config::replace)
                .delete(canary_config::delete),
        )
        .route("/metadata/metricsService", get(metadata::metric_names))
        .route("/canary", post(canary::start_ad_hoc))
        .route("/canary/executions", get(canary::list))
        .route("/canary/{id}", get(canary::status).post(canary::start))
        .route(
            "/standalone_canary_analysis",
            post(standalone::start_ad_hoc),
        )
        .route(
            "/standalone_canary_analysis/{id}",
            get(standalone::status).post(standalone::start),
        )
        .route("/pipelines/{id}/cancel", put(canary::cancel))
}

/// Reads `value` (a body already parsed as JSON) as `T`, naming the field of any error.
fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    let text = serde_json::to_vec(value).map_err(|error| ApiError::internal(error.to_string()))?;
    crate::documents::from_json(&text).map_err(ApiError::bad_request)
}

/// Reads `value` as Kayenta does: coerced as Jackson coerces scalars into the Java class `shape` describes
/// (`"10"` for a `Long`, `0` for a `String`, `""` for an `Instant`), then as `T`, naming the field of what
/// cannot be coerced. Returns the coerced value too: Kayenta echoes what it read.
fn lenient<T: DeserializeOwned>(value: &Value, shape: &Shape) -> Result<(T, Value), ApiError> {
    let mut value = value.clone();
    jackson::coerce(&mut value, shape);
    Ok((typed(&value)?, value))
}

/// An error in a part of the body, `field`, as an error naming its place in the whole body:
/// `scopes[0].step: …` in the execution request becomes `executionRequest.scopes[0].step: …`.
fn within(field: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |mut error| {
        error.message = match error.message.split_once(": ") {
            Some((path, _)) if !path.contains(' ') && path.starts_with('[') => {
                format!("{field}{}", error.message)
            }
            Some((path, _)) if !path.contains(' ') => format!("{field}.{}", error.message),
            _ => format!("{field}: {}", error.message),
        };
        error
    }
}

/// The first path segments of Kayenta's routes (above).
const KAYENTA_ROOTS: [&str; 9] = [
    "judge",
    "judges",
    "credentials",
    "metricsServices",
    "canaryConfig",
    "metadata",
    "canary",
    "standalone_canary_analysis",
    "pipelines",
];

/// Whether `path` (a route's template or a request's path) is one of Kayenta's routes.
pub fn is_kayenta_path(path: &str) -> bool {
    let root = path.trim_start_matches('/').split('/').next().unwrap_or("");
    KAYENTA_ROOTS.contains(&root)
}

/// Spring's trailing-slash match on Kayenta's routes: `POST /standalone_canary_analysis/?user=ci` is
/// `POST /standalone_canary_analysis?user=ci`. Other paths are left as they are. Applied around the whole
/// router, as it must change the path before routing.
pub fn trim_trailing_slash(mut request: axum::extract::Request) -> axum::extract::Request {
    let uri = request.uri();
    let Some(trimmed) = uri.path().strip_suffix('/') else {
        return request;
    };
    if !is_kayenta_path(trimmed) {
        return request;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse()
        && let Ok(uri) = {
            parts.path_and_query = Some(path_and_query);
            axum::http::Uri::from_parts(parts)
        }
    {
        *request.uri_mut() = uri;
    }
    request
}

/// What a run asks for: the config (stored, or given ad hoc), its id (`ad-hoc` for a given one), the
/// execution request read as `R`, and that request as read (coerced as Jackson coerces it).
struct Asked<R> {
    config: CanaryConfig,
    config_id: String,
    request: R,
    body: Value,
}

/// Reads a run's body, its execution request being of Kayenta's class `shape`: with `config_id` (from the
/// path), the execution request against that stored config; without, an ad hoc
/// `{canaryConfig, executionRequest}`.
async fn asked<R: DeserializeOwned>(
    state: &AppState,
    config_id: Option<String>,
    body: Value,
    shape: &Shape,
) -> Result<Asked<R>, ApiError> {
    match config_id {
        Some(config_id) => {
            let (request, body) = lenient(&body, shape)?;
            Ok(Asked {
                request,
                config: stored_config(state, &config_id).await?,
                config_id,
                body,
            })
        }
        None => {
            let field = |name: &str| body.get(name).filter(|value| !value.is_null());
            let (config, request) = match (field("canaryConfig"), field("executionRequest")) {
                (Some(config), Some(request)) => (config, request),
                (None, _) => {
                    return Err(ApiError::bad_request(
                        "canaryConfig must be provided for ad-hoc requests",
                    ));
                }
                (_, None) => {
                    return Err(ApiError::bad_request(
                        "executionRequest must be provided for ad-hoc requests",
                    ));
                }
            };
            let (config, _) =
                lenient(config, &jackson::CANARY_CONFIG).map_err(within("canaryConfig"))?;
            let (request, body) = lenient(request, shape).map_err(within("executionRequest"))?;
            Ok(Asked {
                config,
                config_id: crate::kayenta::execution::AD_HOC.to_string(),
                request,
                body,
            })
        }
    }
}

/// The metrics account `name`, or the first when none is named, as Kayenta resolves `metricsAccountName`;
/// 400 `Unable to resolve account NAME.` for an unknown one.
fn metrics_account<'a>(
    state: &'a AppState,
    name: Option<&str>,
) -> Result<
    (
        &'a str,
        &'a std::sync::Arc<dyn crate::metrics::MetricSource>,
    ),
    ApiError,
> {
    state
        .accounts
        .get(name.filter(|name| !name.is_empty()))
        .map_err(ApiError::bad_request)
}

/// The stored config with id `id`, or Kayenta's 404.
async fn stored_config(state: &AppState, id: &str) -> Result<CanaryConfig, ApiError> {
    let (store, key) = (state.store.clone(), id.to_string());
    blocking(move || match store.config(&key) {
        Ok(stored) => Ok(stored.config),
        Err(StoreError::NotFound(Missing::Config(_))) => Err(ApiError::not_found(format!(
            "No canary config with id '{key}' was found."
        ))),
        Err(error) => Err(error.into()),
    })
    .await
}

/// Starts a Kayenta run of `spec` (translated from Kayenta's `request`) with `config`: resolves the metrics
/// account as Kayenta does (the first when none is named) and submits it to the engine, which checks it,
/// stores it and runs it. Returns its id at once; the caller polls.
async fn start_run(
    state: &AppState,
    kind: RunKind,
    params: RunParams,
    config: CanaryConfig,
    canary_config_id: String,
    mut spec: AnalysisSpec,
    request: Value,
) -> Result<String, ApiError> {
    let (account, source) = metrics_account(state, params.metrics_account_name.as_deref())?;
    let (configuration_account_name, storage_account_name) = params.store_accounts();
    let run = KayentaRun {
        kind,
        application: params
            .application
            .clone()
            .filter(|application| !application.is_empty())
            .unwrap_or_else(|| match canary_config_id.as_str() {
                "ad-hoc" => crate::kayenta::execution::AD_HOC.to_string(),
                _ => crate::kayenta::execution::DEFAULT_APPLICATION.to_string(),
            }),
        user: params.user.clone(),
        parent_pipeline_execution_id: params.parent_pipeline_execution_id.clone(),
        canary_config_id,
        metrics_account_name: account.to_string(),
        configuration_account_name,
        storage_account_name,
        metrics_account_type: source.kind().to_string(),
        request,
    };
    spec.account = Some(account.to_string());
    spec.kayenta =
        Some(serde_json::to_value(&run).map_err(|error| ApiError::internal(error.to_string()))?);
    let spec = spec.normalized(jiff::Timestamp::now());
    let running = state
        .scheduler
        .submit(Origin::Kayenta, &spec, config)
        .await?;
    Ok(running.id)
}

/// The Kayenta run `id` of kind `kind`, with its intervals; 404 when there is none.
async fn load_run(
    state: &AppState,
    id: &str,
    kind: RunKind,
) -> Result<(Analysis, KayentaRun, Vec<crate::store::Interval>), ApiError> {
    let (store, key) = (state.store.clone(), id.to_string());
    let what = match kind {
        RunKind::Canary => "canary execution",
        RunKind::Standalone => "canary analysis execution",
    };
    let not_found = move || ApiError::not_found(format!("Unable to find {what} with id '{id}'."));
    let found = blocking(move || match store.analysis(&key) {
        Ok(analysis) => {
            let intervals = store.intervals(&key)?;
            Ok(Some((analysis, intervals)))
        }
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    })
    .await?;
    let (analysis, intervals) = found.ok_or_else(not_found)?;
    match KayentaRun::of(&analysis) {
        Some(run) if run.kind == kind => Ok((analysis, run, intervals)),
        _ => Err(not_found()),
    }
}
