//! A double of Wavefront's chart API (`GET /api/v2/chart/api`, axum on 127.0.0.1), following its documented
//! contract: the API token travels as `Authorization: Bearer <token>` (401 otherwise); `q` (the query), `s`
//! and `e` (epoch **milliseconds**) and `g` (granularity `s`, `m`, `h` or `d`) are checked, as are the other
//! parameters Kayenta sends — `n`, `summarization` (one of `MEAN`, `MEDIAN`, `MIN`, `MAX`, `SUM`, `COUNT`,
//! `FIRST`, `LAST`), `listMode`, `strict`, `sorted` — and their order (400 otherwise). The answer is
//! `{"name", "query", "granularity", "stats": {...}, "timeseries": [{"label", "host", "tags": {...}, "data":
//! [[epoch seconds, value], ...]}]}` ([`series`]); a query the double was not given answers no `timeseries`,
//! as Wavefront does for a query matching nothing. It records every request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

pub const API_TOKEN: &str = "wf-test-token-3b8d41";

/// The parameters Kayenta sends, in its order (`summarization` only when the metric sets one).
const PARAMETERS: [&str; 9] = [
    "n",
    "q",
    "s",
    "e",
    "g",
    "summarization",
    "listMode",
    "strict",
    "sorted",
];

#[derive(Debug, Clone)]
pub struct DoubleOptions {
    pub api_token: String,
    /// The series each query (exact `q`) answers.
    pub answers: HashMap<String, Vec<Value>>,
}

impl Default for DoubleOptions {
    fn default() -> DoubleOptions {
        DoubleOptions {
            api_token: API_TOKEN.to_string(),
            answers: HashMap::new(),
        }
    }
}

pub struct WavefrontDouble {
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    requests: Mutex<Vec<Recorded>>,
}

impl WavefrontDouble {
    pub async fn start(options: DoubleOptions) -> WavefrontDouble {
        let state = Arc::new(DoubleState {
            options,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/api/v2/chart/api", axum::routing::get(chart))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        WavefrontDouble { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// A series as Wavefront writes it: `points` are `(epoch seconds, value)`.
pub fn series(label: &str, host: &str, tags: &[(&str, &str)], points: &[(i64, f64)]) -> Value {
    let tags: BTreeMap<&str, &str> = tags.iter().copied().collect();
    json!({
        "label": label,
        "host": host,
        "tags": tags,
        "data": points.iter().map(|(at, value)| json!([at, value])).collect::<Vec<_>>(),
    })
}

fn bad_request(message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"status": {"result": "ERROR", "message": message, "code": 400}}).to_string(),
    )
}

async fn chart(State(state): State<Arc<DoubleState>>, uri: Uri, headers: HeaderMap) -> Response {
    let recorded = Recorded::new(&uri, &headers);
    state.requests.lock().unwrap().push(recorded.clone());
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if authorization != Some(format!("Bearer {}", state.options.api_token).as_str()) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            r#"{"status": {"result": "ERROR", "message": "Unauthorized", "code": 401}}"#,
        );
    }
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://double{uri}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<&str> = PARAMETERS
        .iter()
        .copied()
        .filter(|name| *name != "summarization" || names.contains(&"summarization"))
        .collect();
    if names != expected {
        return bad_request(&format!("parameters {names:?}, expected {expected:?}"));
    }
    let param = |name: &str| recorded.param(name).unwrap_or_default();
    let millis = |name: &str| {
        param(name)
            .parse::<i64>()
            .ok()
            .filter(|ms| *ms > 1_000_000_000_000)
    };
    let (Some(start), Some(end)) = (millis("s"), millis("e")) else {
        return bad_request("s and e must be epoch milliseconds");
    };
    if end <= start {
        return bad_request("e must be after s");
    }
    if !["s", "m", "h", "d"].contains(&param("g").as_str()) {
        return bad_request("g must be one of s, m, h, d");
    }
    if let Some(summarization) = recorded.param("summarization")
        && ![
            "MEAN", "MEDIAN", "MIN", "MAX", "SUM", "COUNT", "FIRST", "LAST",
        ]
        .contains(&summarization.as_str())
    {
        return bad_request("summarization is not one of the documented values");
    }
    if param("n") != "Kayenta-Query"
        || ["listMode", "strict", "sorted"]
            .iter()
            .any(|p| param(p) != "true")
    {
        return bad_request("n, listMode, strict and sorted are not what Kayenta sends");
    }
    let query = param("q");
    let mut answer = json!({
        "name": "Kayenta-Query",
        "query": query,
        "granularity": 60,
        "stats": {"keys": 1, "points": 60, "summaries": 60, "latency": 12, "queries": 1, "cpu_ns": 1000},
    });
    if let Some(series) = state.options.answers.get(&query) {
        answer["timeseries"] = json!(series);
    } else {
        answer["warnings"] = json!("No metrics matching the query");
    }
    json_response(StatusCode::OK, answer.to_string())
}
