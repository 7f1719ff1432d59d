//! A double of SignalFx's SignalFlow execute API (`POST /v2/signalflow/execute`, axum on 127.0.0.1), following
//! its documented contract as Kayenta uses it: the org token travels in the `X-SF-TOKEN` header (401
//! otherwise); the program is the `text/plain` body; `start` and `stop` are epoch **milliseconds**,
//! `resolution` milliseconds, and Kayenta sends `maxDelay=0` and `immediate=true` (400 otherwise). The answer
//! is a Server-Sent-Events stream as SignalFlow writes it ([`stream`]): `control-message` events
//! (`STREAM_START`, `JOB_START`, …, `END_OF_CHANNEL`), a `metadata` event per series, one `data` event per
//! resolution step (`{"data": [{"tsId", "value"}], "logicalTimestampMs"}`) and `message` events, each JSON
//! payload spread over several `data:` lines. A program the double was not given is a 400 naming it, so a
//! test fails on any difference in the built program. It records every request and its body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

pub const ACCESS_TOKEN: &str = "sfx-test-token-a41f0c";

#[derive(Debug, Clone)]
pub struct DoubleOptions {
    pub access_token: String,
    /// What each program (exact text) answers: per resolution step, the values of its series at that time.
    pub answers: HashMap<String, Vec<Vec<f64>>>,
}

impl Default for DoubleOptions {
    fn default() -> DoubleOptions {
        DoubleOptions {
            access_token: ACCESS_TOKEN.to_string(),
            answers: HashMap::new(),
        }
    }
}

pub struct SignalFxDouble {
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    requests: Mutex<Vec<(Recorded, String)>>,
}

impl SignalFxDouble {
    pub async fn start(options: DoubleOptions) -> SignalFxDouble {
        let state = Arc::new(DoubleState {
            options,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v2/signalflow/execute", axum::routing::post(execute))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SignalFxDouble { url, state }
    }

    /// Each request, with its body (the program).
    pub fn requests(&self) -> Vec<(Recorded, String)> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// One SSE event whose JSON payload is pretty-printed over several `data:` lines, as SignalFlow sends it.
fn event(kind: &str, id: Option<&str>, payload: &Value) -> String {
    let mut text = format!("event: {kind}\n");
    if let Some(id) = id {
        text.push_str(&format!("id: {id}\n"));
    }
    for line in serde_json::to_string_pretty(payload).unwrap().lines() {
        text.push_str(&format!("data: {line}\n"));
    }
    text.push('\n');
    text
}

/// The stream answering a program whose series hold `steps` (per step, one value per series) from `start`
/// (ms), `resolution` ms apart.
pub fn stream(start: i64, resolution: i64, steps: &[Vec<f64>]) -> String {
    let series = steps.iter().map(Vec::len).max().unwrap_or(0);
    let ts_id = |index: usize| format!("AAAAAKz{index:04}");
    let mut text = String::new();
    text.push_str(&event(
        "control-message",
        None,
        &json!({"event": "STREAM_START", "timestampMs": start}),
    ));
    text.push_str(&event(
        "control-message",
        None,
        &json!({"event": "JOB_START", "handle": "DmaVOyWAEAA", "timestampMs": start}),
    ));
    for index in 0..series {
        let metadata = json!({"properties": {"sf_metric": "request.count", "sf_type": "MetricTimeSeries"}, "tsId": ts_id(index)});
        text.push_str(&event("metadata", None, &metadata));
    }
    text.push_str(&event("message", None, &json!({"logicalTimestampMs": start, "message": {"messageCode": "JOB_RUNNING_RESOLUTION", "messageLevel": "INFO", "contents": {"resolutionMs": resolution}}})));
    for (step, values) in steps.iter().enumerate() {
        let at = start + resolution * step as i64;
        let data: Vec<Value> = values
            .iter()
            .enumerate()
            .map(|(index, value)| json!({"tsId": ts_id(index), "value": value}))
            .collect();
        text.push_str(&event(
            "data",
            Some(&format!("data-{at}")),
            &json!({"data": data, "logicalTimestampMs": at}),
        ));
    }
    text.push_str(&event(
        "control-message",
        None,
        &json!({"event": "END_OF_CHANNEL", "timestampMs": start}),
    ));
    text
}

async fn execute(
    State(state): State<Arc<DoubleState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push((Recorded::new(&uri, &headers), body.clone()));
    let error = |status: StatusCode, message: &str| {
        json_response(
            status,
            json!({"code": status.as_u16(), "message": message, "errorType": "BAD_REQUEST"})
                .to_string(),
        )
    };
    if headers.get("x-sf-token").and_then(|v| v.to_str().ok())
        != Some(state.options.access_token.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("text/plain") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the program must be sent as text/plain",
        );
    }
    let number = |name: &str| params.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(stop), Some(resolution)) =
        (number("start"), number("stop"), number("resolution"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "start, stop and resolution are required",
        );
    };
    if start < 1_000_000_000_000 || stop <= start || resolution < 1000 {
        return error(
            StatusCode::BAD_REQUEST,
            "start and stop are epoch milliseconds, resolution milliseconds",
        );
    }
    if params.get("maxDelay").map(String::as_str) != Some("0")
        || params.get("immediate").map(String::as_str) != Some("true")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "maxDelay=0 and immediate=true are what Kayenta sends",
        );
    }
    match state.options.answers.get(&body) {
        Some(steps) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(stream(start, resolution, steps).into())
            .unwrap(),
        None => error(
            StatusCode::BAD_REQUEST,
            &format!("the double was not given this program: {body}"),
        ),
    }
}
