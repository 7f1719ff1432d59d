//! Issue 14, item 9: a retrospective `POST /v1/analyses` that could not be made answers an error status
//! (as the README promises and Argo's `web` provider needs to mark the measurement Error), not
//! `200 {"status": "error"}`: 503 for an unreachable Prometheus, 422 for a config whose query Prometheus
//! refuses (a config problem found only at judging time). The body names the analysis (`id`, `status`) and says why.

mod common;
mod support;

use std::path::Path;

use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};

fn example_config() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn retrospective(config: Value) -> Value {
    let data = prometheus::shared();
    json!({
        "config": config,
        "control": {"scope": BASELINE},
        "experiment": {"scope": CANARY},
        "start": data.start_time(),
        "end": data.end_time(),
        "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

async fn post(server: &Server, body: &Value) -> (u16, Value) {
    common::clients::post(&format!("{}/v1/analyses", server.url), body).await
}

/// The body of a failed analysis: the message, and the stored analysis that `GET` also shows.
async fn assert_failed(server: &Server, status: u16, body: &Value) -> String {
    assert_eq!(body["status"], "error", "{body:#}");
    let id = body["id"].as_str().expect("the answer names the analysis");
    let message = body["message"].as_str().expect("a message").to_string();
    let stored: Value = reqwest::get(format!("{}/v1/analyses/{id}", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "error", "{stored:#} (answered {status})");
    assert_eq!(stored["error"], body["error"]);
    message
}

#[tokio::test]
async fn an_unreachable_prometheus_answers_503_with_the_analysis_id() {
    // Nothing listens on a port that was just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--prometheus-url", &format!("http://127.0.0.1:{port}")],
    );
    let (status, body) = post(&server, &retrospective(example_config())).await;
    assert_eq!(status, 503, "{body:#}");
    let message = assert_failed(&server, status, &body).await;
    assert!(
        message.contains("unreachable") || message.contains("connect"),
        "{message}"
    );
}

#[tokio::test]
async fn a_query_prometheus_refuses_answers_422() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--prometheus-url", &prometheus::shared().url],
    );
    let mut config = example_config();
    // A closing parenthesis short: Prometheus answers 400 bad_data.
    config["metrics"][0]["query"] = json!({
        "type": "prometheus",
        "customInlineTemplate": "PromQL:sum(rate(checkout_requests_total{app=\"${scope}\"}[1m])"
    });
    let (status, body) = post(&server, &retrospective(config)).await;
    assert_eq!(status, 422, "{body:#}");
    let message = assert_failed(&server, status, &body).await;
    assert!(
        message.contains("latency") && message.contains("HTTP 400"),
        "{message}"
    );
}
