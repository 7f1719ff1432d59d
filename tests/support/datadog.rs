//! A double of Datadog's metrics query API (`GET /api/v1/query`, axum on 127.0.0.1), following its documented
//! contract: the `DD-API-KEY` and `DD-APPLICATION-KEY` headers are required (403 `{"errors": ["Forbidden"]}`
//! otherwise); `from`, `to` (epoch seconds) and `query` are required parameters (400 otherwise); the answer
//! is `{"status": "ok", "res_type": "time_series", "series": [...], "from_date", "to_date", "query", ...}`
//! with each series `{metric, display_name, scope, tag_set, expression, pointlist: [[ms, value|null]],
//! start, end, interval, length, aggr, unit}` ([`series`]). A query the double was not given answers no
//! series, as Datadog does for a metric without data. It can answer the first requests with 429 and a
//! `Retry-After` header, and records every request. `GET /api/v1/metrics?from=` (epoch seconds, required)
//! lists the metrics of the queries it was given: `{"metrics": [...], "from": "..."}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

pub const API_KEY: &str = "test-api-key-5f3a9c";
pub const APP_KEY: &str = "test-app-key-81d2e7";

/// How the double behaves.
#[derive(Debug, Clone)]
pub struct DoubleOptions {
    pub api_key: String,
    pub app_key: String,
    /// The series each query (exact text) answers.
    pub answers: HashMap<String, Vec<Value>>,
    /// How many first requests get 429 with `Retry-After: retry_after` seconds.
    pub rate_limited: usize,
    pub retry_after: u64,
}

impl Default for DoubleOptions {
    fn default() -> DoubleOptions {
        DoubleOptions {
            api_key: API_KEY.to_string(),
            app_key: APP_KEY.to_string(),
            answers: HashMap::new(),
            rate_limited: 0,
            retry_after: 1,
        }
    }
}

pub struct DatadogDouble {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    rate_limited: Mutex<usize>,
    requests: Mutex<Vec<Recorded>>,
}

impl DatadogDouble {
    pub async fn start(options: DoubleOptions) -> DatadogDouble {
        let state = Arc::new(DoubleState {
            rate_limited: Mutex::new(options.rate_limited),
            options,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/api/v1/query", axum::routing::get(query))
            .route("/api/v1/metrics", axum::routing::get(metrics))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        DatadogDouble { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// A series entry as Datadog writes it: `points` are `(ms, value)` pairs, `None` for a null.
pub fn series(
    expression: &str,
    scope: &str,
    tag_set: &[&str],
    (start, end, interval): (i64, i64, i64),
    points: &[(i64, Option<f64>)],
) -> Value {
    let metric = expression.split([':', '{']).nth(1).unwrap_or(expression);
    json!({
        "metric": metric,
        "display_name": metric,
        "expression": expression,
        "scope": scope,
        "tag_set": tag_set,
        "aggr": "avg",
        "unit": null,
        "start": start,
        "end": end,
        "interval": interval,
        "length": points.len(),
        "pointlist": points
            .iter()
            .map(|(time, value)| json!([*time as f64, value]))
            .collect::<Value>(),
    })
}

/// Records the request; 403 unless it carries both keys.
fn record_and_check_keys(state: &DoubleState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    state
        .requests
        .lock()
        .unwrap()
        .push(Recorded::new(uri, headers));
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    (header("dd-api-key") != Some(state.options.api_key.as_str())
        || header("dd-application-key") != Some(state.options.app_key.as_str()))
    .then(|| json_response(StatusCode::FORBIDDEN, r#"{"errors": ["Forbidden"]}"#))
}

async fn query(
    State(state): State<Arc<DoubleState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = record_and_check_keys(&state, &uri, &headers) {
        return refused;
    }
    {
        let mut rate_limited = state.rate_limited.lock().unwrap();
        if *rate_limited > 0 {
            *rate_limited -= 1;
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"errors": ["Rate limit exceeded"]}"#,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, state.options.retry_after.into());
            return response;
        }
    }
    let time = |name: &str| params.get(name).and_then(|value| value.parse::<i64>().ok());
    let (Some(from), Some(to), Some(query)) = (time("from"), time("to"), params.get("query"))
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"errors": ["from, to (epoch seconds) and query are required"]}"#,
        );
    };
    let series = state
        .options
        .answers
        .get(query)
        .cloned()
        .unwrap_or_default();
    let body = json!({
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": query,
        "from_date": from * 1000,
        "to_date": to * 1000,
        "series": series,
        "values": [],
        "times": [],
        "message": "",
        "group_by": [],
    });
    json_response(StatusCode::OK, body.to_string())
}

/// `GET /api/v1/metrics?from=`: the metrics the double has data for (those of its answers' queries).
async fn metrics(
    State(state): State<Arc<DoubleState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = record_and_check_keys(&state, &uri, &headers) {
        return refused;
    }
    let Some(from) = params
        .get("from")
        .filter(|from| from.parse::<i64>().is_ok())
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"errors": ["from (epoch seconds) is required"]}"#,
        );
    };
    let mut names: Vec<&str> = state
        .options
        .answers
        .keys()
        .map(|query| query.split([':', '{']).nth(1).unwrap_or(query))
        .collect();
    names.sort();
    names.dedup();
    json_response(
        StatusCode::OK,
        json!({"metrics": names, "from": from}).to_string(),
    )
}
