//! The cap on running analyses (`[limits] max_running_analyses`) over real HTTP against a real Prometheus:
//! past it, every way of starting an analysis — `POST /v1/analyses`, Kayenta's `/canary` and
//! `/standalone_canary_analysis`, Flagger's webhook — answers 429 with `Retry-After` and a message, stores
//! nothing, and a place freed is taken again. A retrospective analysis holds its place while it is judged.

mod common;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{example_json, example_yaml, get, post, send, store_example_config};
use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};
use support::proxy::{Proxy, ProxyOptions};

/// A server whose metrics account is `prometheus_url`, running at most `cap` analyses at once.
fn start_capped(data: &Path, prometheus_url: &str, cap: usize) -> Server {
    let settings = data.join("coalmine.toml");
    std::fs::write(
        &settings,
        format!("[limits]\nmax_running_analyses = {cap}\n"),
    )
    .unwrap();
    Server::start(
        data,
        &[
            "--config",
            settings.to_str().unwrap(),
            "--prometheus-url",
            prometheus_url,
        ],
    )
}

fn example_config() -> Value {
    example_json("analyze/checkout-canary.json")
}

/// A real-time analysis of an hour, judged every half hour: nothing is due for a long while.
fn real_time() -> Value {
    json!({
        "config": example_config(),
        "control": {"scope": BASELINE},
        "experiment": {"scope": CANARY},
        "lifetime": "1h",
        "interval": "30m",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

/// A retrospective analysis of the data set's hour.
fn retrospective() -> Value {
    let data = prometheus::shared();
    json!({
        "config": example_config(),
        "control": {"scope": BASELINE},
        "experiment": {"scope": CANARY},
        "start": data.start_time(),
        "end": data.end_time(),
        "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

/// `POST url` with `body`: status, `Retry-After` and the JSON body.
async fn post_with_retry_after(url: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_string());
    (status, retry_after, response.json().await.unwrap())
}

/// Asserts that `answer` is a refusal of a full server.
fn assert_refused(what: &str, (status, retry_after, body): &(u16, Option<String>, Value)) {
    assert_eq!(*status, 429, "{what}: {body}");
    let seconds: u64 = retry_after
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .unwrap();
    assert!(seconds >= 1, "{what}: Retry-After {seconds}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("running 2 analyses") && message.contains("max_running_analyses"),
        "{what}: {message}"
    );
}

/// What Flagger posts for the example Canary, judging the baseline against itself.
fn flagger_payload() -> Value {
    let canary = example_yaml("flagger/canary.yaml").remove(0);
    let mut metadata = canary["spec"]["analysis"]["webhooks"][0]["metadata"].clone();
    metadata["controlScope"] = json!(BASELINE);
    metadata["experimentScope"] = json!(BASELINE);
    json!({
        "name": canary["metadata"]["name"],
        "namespace": canary["metadata"]["namespace"],
        "phase": "Progressing",
        "metadata": metadata
    })
}

#[tokio::test]
async fn past_the_cap_every_api_answers_429_with_retry_after_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start_capped(data.path(), &prometheus::shared().url, 2);
    let url = |path: &str| format!("{}{path}", server.url);
    let config_id = store_example_config(&server.url).await;

    // Two places: a native real-time analysis and a real-time standalone one (the example as is).
    let (status, native) = post(&url("/v1/analyses"), &real_time()).await;
    assert_eq!(status, 202, "{native}");
    let (status, standalone) = post(
        &url(&format!("/standalone_canary_analysis/{config_id}")),
        &example_json("spinnaker/standalone-analysis.json"),
    )
    .await;
    assert_eq!(status, 200, "{standalone}");

    let data_set = prometheus::shared();
    let side = |scope: &str| {
        json!({"scope": scope, "location": "us-east-1", "start": data_set.start_time(),
               "end": data_set.end_time(), "step": 60})
    };
    let execution = json!({
        "scopes": {"default": {"controlScope": side(BASELINE), "experimentScope": side(CANARY)}},
        "thresholds": {"pass": 95.0, "marginal": 75.0}
    });
    for (what, path, body) in [
        (
            "a real-time analysis",
            "/v1/analyses".to_string(),
            real_time(),
        ),
        (
            "a retrospective analysis",
            "/v1/analyses".to_string(),
            retrospective(),
        ),
        (
            "a Kayenta canary run",
            format!("/canary/{config_id}"),
            execution,
        ),
        (
            "a standalone analysis",
            format!("/standalone_canary_analysis/{config_id}"),
            example_json("spinnaker/standalone-analysis.json"),
        ),
        (
            "Flagger's webhook",
            "/v1/webhooks/flagger".to_string(),
            flagger_payload(),
        ),
    ] {
        assert_refused(what, &post_with_retry_after(&url(&path), &body).await);
    }
    let (_, analyses) = get(&url("/v1/analyses")).await;
    assert_eq!(analyses.as_array().unwrap().len(), 2, "{analyses:#}");
    let metrics = reqwest::get(url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line == "coalmine_analyses_running 2"),
        "{metrics}"
    );

    // Cancelling one frees its place, once its task has ended.
    let id = native["id"].as_str().unwrap();
    let (status, cancelled) =
        send(reqwest::Client::new().post(url(&format!("/v1/analyses/{id}/cancel")))).await;
    assert_eq!(status, 200, "{cancelled}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = post_with_retry_after(&url("/v1/analyses"), &real_time()).await;
        if status == 202 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_refused(
        "a third",
        &post_with_retry_after(&url("/v1/analyses"), &real_time()).await,
    );
}

#[tokio::test]
async fn a_retrospective_analysis_holds_its_place_while_it_is_judged() {
    // Every query takes five seconds, so the retrospective analysis is still being judged while the
    // second request comes.
    let proxy = Proxy::start(
        &prometheus::shared().url,
        ProxyOptions {
            delay: Duration::from_secs(5),
            ..ProxyOptions::default()
        },
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let server = start_capped(data.path(), &proxy.url, 1);
    let analyses = format!("{}/v1/analyses", server.url);

    let judging = tokio::spawn({
        let analyses = analyses.clone();
        async move { post(&analyses, &retrospective()).await }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, unfinished) = get(&format!("{analyses}?status=pending,running")).await;
        if unfinished.as_array().unwrap().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the analysis never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, retry_after, body) = post_with_retry_after(&analyses, &real_time()).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("running 1 analyses"),
        "{body}"
    );

    let (status, judged) = judging.await.unwrap();
    assert_eq!(
        (status, &judged["classification"]),
        (200, &json!("Fail")),
        "{judged:#}"
    );
    // Its place is free again as soon as it has answered.
    let (status, accepted) = post(&analyses, &real_time()).await;
    assert_eq!(status, 202, "{accepted}");
}
