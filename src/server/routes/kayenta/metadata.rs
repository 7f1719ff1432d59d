//! `GET /metadata/metricsService?metricsAccountName=&filter=`: the names of the metrics an account holds,
//! `[{"name": ...}]`, those containing `filter` (case-insensitive) — what Kayenta's config editor offers.
//! As in Kayenta the lists are cached: a Prometheus account's for 60 s, a Datadog account's for 15 minutes.
//! A Graphite account completes the filter as a metric path, as Kayenta's does (asked each time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Params;
use crate::server::AppState;
use crate::server::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NamesParams {
    metrics_account_name: Option<String>,
    filter: Option<String>,
}

/// The cached names of each account: when they were fetched, and the names.
type Cache = Mutex<HashMap<String, (Instant, Arc<Vec<String>>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// How long a source's list is kept (Kayenta's refresh intervals).
fn time_to_live(kind: &str) -> Duration {
    match kind {
        "datadog" => Duration::from_secs(15 * 60),
        _ => Duration::from_secs(60),
    }
}

/// `GET /metadata/metricsService`.
#[utoipa::path(
    get,
    path = "/metadata/metricsService",
    tag = "kayenta",
    params(NamesParams),
    responses(
        (status = 200, description = "The names of the account's metrics that contain `filter`", body = Vec<crate::server::openapi::wire::MetricName>),
        (status = 400, description = "An unknown account, or a query string that cannot be read", body = crate::server::error::ErrorBody),
        (status = 500, description = "The name cache is unusable", body = crate::server::error::ErrorBody),
        (status = 502, description = "The metrics source answered with an error", body = crate::server::error::ErrorBody),
        (status = 503, description = "The metrics source could not be reached in time", body = crate::server::error::ErrorBody),
    )
)]
pub async fn metric_names(
    State(state): State<Arc<AppState>>,
    Params(params): Params<NamesParams>,
) -> Result<axum::Json<Value>, ApiError> {
    let (account, source) = super::metrics_account(&state, params.metrics_account_name.as_deref())?;
    if let Some(lookup) = source.metric_names_for(params.filter.as_deref().unwrap_or_default()) {
        let names = lookup.await?;
        return Ok(axum::Json(
            names.iter().map(|name| json!({"name": name})).collect(),
        ));
    }
    let cached = cache()
        .lock()
        .map_err(|_| ApiError::internal("the metric name cache is unusable"))?
        .get(account)
        .filter(|(fetched, _)| fetched.elapsed() < time_to_live(source.kind()))
        .map(|(_, names)| names.clone());
    let names = match cached {
        Some(names) => names,
        None => {
            let mut names = source.metric_names().await?;
            names.sort();
            names.dedup();
            let names = Arc::new(names);
            cache()
                .lock()
                .map_err(|_| ApiError::internal("the metric name cache is unusable"))?
                .insert(account.to_string(), (Instant::now(), names.clone()));
            names
        }
    };
    let filter = params.filter.unwrap_or_default().to_lowercase();
    Ok(axum::Json(
        names
            .iter()
            .filter(|name| name.to_lowercase().contains(&filter))
            .map(|name| json!({"name": name}))
            .collect(),
    ))
}
