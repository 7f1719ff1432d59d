//! A double of New Relic's Insights query API (`GET /v1/accounts/{accountId}/query?nrql=`, axum on 127.0.0.1),
//! following its documented contract: the query key travels in the `X-Query-Key` header (401
//! `{"error": "..."}` without the right one, as for a wrong account id: 404), `nrql` is a required parameter
//! (400 `{"error": "..."}` otherwise), and a `TIMESERIES` query answers `{"timeSeries": [{"results": [...],
//! "beginTimeSeconds", "endTimeSeconds", "inspectedCount"}, ...], "total": {...}, "performanceStats": {...},
//! "metadata": {"beginTimeMillis", "endTimeMillis", "bucketSizeMillis", ...}}` ([`timeseries`]). The double
//! answers only the exact NRQL it was given — anything else is a 400 naming the query, so a test fails on
//! any difference in the built query — and can answer the first requests with a status of its choice. It
//! records every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

pub const QUERY_KEY: &str = "NRIQ-test-query-key-7c1e";
pub const ACCOUNT_ID: &str = "1234567";

#[derive(Debug, Clone)]
pub struct DoubleOptions {
    pub query_key: String,
    pub account_id: String,
    /// The answer (the whole JSON body) to each NRQL text.
    pub answers: HashMap<String, Value>,
    /// The first requests are answered with these statuses.
    pub failures: Vec<u16>,
}

impl Default for DoubleOptions {
    fn default() -> DoubleOptions {
        DoubleOptions {
            query_key: QUERY_KEY.to_string(),
            account_id: ACCOUNT_ID.to_string(),
            answers: HashMap::new(),
            failures: Vec::new(),
        }
    }
}

pub struct NewRelicDouble {
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    failures: Mutex<Vec<u16>>,
    requests: Mutex<Vec<Recorded>>,
}

impl NewRelicDouble {
    pub async fn start(options: DoubleOptions) -> NewRelicDouble {
        let mut failures = options.failures.clone();
        failures.reverse();
        let state = Arc::new(DoubleState {
            options,
            failures: Mutex::new(failures),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/accounts/{account}/query", axum::routing::get(query))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        NewRelicDouble { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// A `TIMESERIES` answer as Insights writes it: one bucket per value from `begin` (epoch seconds), `step`
/// seconds long, each `{"<function>": value}`; `None` is a bucket that inspected no events (its value is 0
/// for `count`, null otherwise, as New Relic answers).
pub fn timeseries(function: &str, begin: i64, step: i64, values: &[Option<f64>]) -> Value {
    let bucket = |at: i64, value: Option<f64>| {
        let shown = match (value, function) {
            (Some(value), _) => json!(value),
            (None, "count") => json!(0),
            (None, _) => Value::Null,
        };
        json!({
            "results": [{ function: shown }],
            "beginTimeSeconds": at,
            "endTimeSeconds": at + step,
            "inspectedCount": if value.is_some() { 25 } else { 0 },
        })
    };
    let end = begin + step * values.len() as i64;
    json!({
        "timeSeries": values
            .iter()
            .enumerate()
            .map(|(index, value)| bucket(begin + step * index as i64, *value))
            .collect::<Vec<_>>(),
        "total": {"results": [{ function: 1.0 }], "beginTimeSeconds": begin, "endTimeSeconds": end, "inspectedCount": 25 * values.len()},
        "performanceStats": {"inspectedCount": 25 * values.len(), "omittedCount": 0, "matchCount": 25 * values.len(), "wallClockTime": 12},
        "metadata": {
            "eventTypes": ["Transaction"],
            "eventType": "Transaction",
            "openEnded": false,
            "beginTimeMillis": begin * 1000,
            "endTimeMillis": end * 1000,
            "beginTime": jiff::Timestamp::from_second(begin).unwrap().to_string(),
            "endTime": jiff::Timestamp::from_second(end).unwrap().to_string(),
            "bucketSizeMillis": step * 1000,
            "rawSince": begin.to_string(),
            "rawUntil": end.to_string(),
            "rawCompareWith": "",
            "guid": "00000000-0000-0000-0000-000000000000",
            "messages": [],
            "timeSeries": {"messages": [], "contents": [{"function": function, "simple": true}]}
        }
    })
}

async fn query(
    State(state): State<Arc<DoubleState>>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(Recorded::new(&uri, &headers));
    let key = headers.get("x-query-key").and_then(|v| v.to_str().ok());
    if key != Some(state.options.query_key.as_str()) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            r#"{"error": "Invalid query key. Make sure you're using a valid query key for this account."}"#,
        );
    }
    if account != state.options.account_id {
        return json_response(StatusCode::NOT_FOUND, r#"{"error": "Account not found"}"#);
    }
    if let Some(status) = state.failures.lock().unwrap().pop() {
        return json_response(
            StatusCode::from_u16(status).unwrap(),
            r#"{"error": "Service temporarily unavailable"}"#,
        );
    }
    let Some(nrql) = params.get("nrql") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error": "Missing nrql parameter"}"#,
        );
    };
    match state.options.answers.get(nrql) {
        Some(answer) => json_response(StatusCode::OK, answer.to_string()),
        None => json_response(
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("NRQL Syntax Error: the double was not given this query: {nrql}") })
                .to_string(),
        ),
    }
}
