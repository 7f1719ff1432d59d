//! A double of Graphite's render API (`GET /render`, axum on 127.0.0.1), following graphite-web's documented
//! contract and checking what it receives: exactly one `target`, `from` and `until` in epoch seconds (the
//! form Kayenta sends; anything else is 400), and `format=json`. The answer is graphite-web 1.1's JSON:
//! `[{"target": name, "tags": {"name": name}, "datapoints": [[value|null, timestamp], ...]}, ...]`, one entry
//! per series the target matches, each holding the points of the window as Graphite's whisper reader
//! returns them: on the series' step grid, from the first step after `from` up to `until`, `null` where the
//! series has no value. A target the double was not given matches nothing (`[]`), as in Graphite. It can
//! answer the first requests with 503, and records every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

/// A series the double holds: its name, its step (seconds) and its value at each timestamp (epoch seconds)
/// of the grid, `None` for no value.
#[derive(Clone)]
pub struct Series {
    pub name: String,
    pub step: i64,
    pub value: Arc<dyn Fn(i64) -> Option<f64> + Send + Sync>,
}

impl Series {
    pub fn new(
        name: &str,
        step: i64,
        value: impl Fn(i64) -> Option<f64> + Send + Sync + 'static,
    ) -> Series {
        Series {
            name: name.to_string(),
            step,
            value: Arc::new(value),
        }
    }
}

/// How the double behaves.
#[derive(Clone, Default)]
pub struct DoubleOptions {
    /// The series each target (exact text) matches.
    pub answers: HashMap<String, Vec<Series>>,
    /// How many first requests get a 503.
    pub unavailable: usize,
}

pub struct GraphiteDouble {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    unavailable: Mutex<usize>,
    requests: Mutex<Vec<Recorded>>,
}

impl GraphiteDouble {
    pub async fn start(options: DoubleOptions) -> GraphiteDouble {
        let state = Arc::new(DoubleState {
            unavailable: Mutex::new(options.unavailable),
            options,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/render", axum::routing::get(render))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GraphiteDouble { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn bad_request(message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"error": message}).to_string(),
    )
}

async fn render(State(state): State<Arc<DoubleState>>, uri: Uri, headers: HeaderMap) -> Response {
    let recorded = Recorded::new(&uri, &headers);
    state.requests.lock().unwrap().push(recorded.clone());
    {
        let mut unavailable = state.unavailable.lock().unwrap();
        if *unavailable > 0 {
            *unavailable -= 1;
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "<h1>503 Service Unavailable</h1>",
            );
        }
    }
    let url = reqwest::Url::parse(&format!("http://graphite{}", recorded.uri)).unwrap();
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let all = |name: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    let [target] = all("target")[..] else {
        return bad_request("exactly one target is expected");
    };
    let seconds = |name: &str| match all(name)[..] {
        [value] => value.parse::<i64>().ok(),
        _ => None,
    };
    let (Some(from), Some(until)) = (seconds("from"), seconds("until")) else {
        return bad_request("from and until must be epoch seconds");
    };
    if all("format") != ["json"] {
        return bad_request("format must be json");
    }
    if from >= until {
        return bad_request("from must be before until");
    }
    let series = state
        .options
        .answers
        .get(target)
        .cloned()
        .unwrap_or_default();
    let body: Vec<Value> = series
        .iter()
        .map(|series| {
            // whisper: from the first step after `from`, to `until` (both on the grid).
            let first = from - from.rem_euclid(series.step) + series.step;
            let last = until - until.rem_euclid(series.step);
            let points: Vec<Value> = (first..=last)
                .step_by(series.step as usize)
                .map(|time| json!([(series.value)(time), time]))
                .collect();
            json!({"target": series.name, "tags": {"name": series.name}, "datapoints": points})
        })
        .collect();
    json_response(StatusCode::OK, Value::Array(body).to_string())
}
