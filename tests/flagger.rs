//! Flagger's webhook against coalmine over real HTTP and a real Prometheus whose data runs up to now,
//! configured by `examples/flagger/canary.yaml`: Flagger posts `{name, namespace, phase, checksum, metadata}`
//! and reads only the status (`<= 202` passes the check). A healthy canary gets 200, a regressed one 412 with
//! the reason, bad metadata 400, and an unreachable Prometheus 503. The webhook's analysis runs through the
//! engine like any other: it is counted in the metrics and is finished even when Flagger hangs up, and a
//! lookback past the representable times is refused while the server serves on.

mod common;
mod support;

use common::clients::{example_yaml, get, post, store_example_config};
use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::{Value, json};
use support::prometheus;
use support::proxy::{Proxy, ProxyOptions};

/// The example Canary's webhook.
fn webhook() -> Value {
    let canary = example_yaml("flagger/canary.yaml").remove(0);
    assert_eq!(canary["kind"], "Canary");
    let hook = canary["spec"]["analysis"]["webhooks"][0].clone();
    assert_eq!(hook["type"], "rollout");
    assert!(
        hook["url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/webhooks/flagger")
    );
    hook
}

/// What Flagger posts for the example Canary, its scopes pointed at the data set's apps (the example relies
/// on Flagger's names, `checkout-primary` and `checkout`, which the data set does not have).
fn payload(experiment: &str) -> Value {
    let canary = example_yaml("flagger/canary.yaml").remove(0);
    let mut metadata = webhook()["metadata"].clone();
    for value in metadata.as_object().unwrap().values() {
        assert!(
            value.is_string(),
            "Flagger's metadata is a map of strings: {value}"
        );
    }
    metadata["controlScope"] = json!(prometheus::BASELINE);
    metadata["experimentScope"] = json!(experiment);
    json!({
        "name": canary["metadata"]["name"],
        "namespace": canary["metadata"]["namespace"],
        "phase": "Progressing",
        "checksum": "6d7c5b4f9",
        "metadata": metadata
    })
}

#[tokio::test]
async fn the_webhook_passes_a_healthy_canary_and_fails_a_regressed_one_with_the_reason() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let url = format!("{}/v1/webhooks/flagger", server.url);

    let (status, healthy) = post(&url, &payload(prometheus::BASELINE)).await;
    assert_eq!(status, 200, "{healthy:#}");
    assert_eq!(
        (
            healthy["classification"].as_str(),
            healthy["score"].as_f64()
        ),
        (Some("Pass"), Some(100.0))
    );
    let (start, end): (jiff::Timestamp, jiff::Timestamp) = (
        healthy["start"].as_str().unwrap().parse().unwrap(),
        healthy["end"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(
        end.duration_since(start),
        jiff::SignedDuration::from_mins(10),
        "the example's lookback"
    );

    let (status, regressed) = post(&url, &payload(prometheus::CANARY)).await;
    assert_eq!(status, 412, "{regressed:#}");
    assert_eq!(regressed["classification"], "Fail");
    let reason = regressed["reason"].as_str().unwrap();
    assert!(
        reason.contains("not above the marginal threshold 50") && reason.contains("latency High"),
        "{reason}"
    );

    // Both are analyses, labelled as Flagger's.
    let (_, analyses) = get(&format!("{}/v1/analyses", server.url)).await;
    let origins: Vec<&Value> = analyses
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["origin"])
        .collect();
    assert_eq!(origins, [&json!("flagger"), &json!("flagger")]);
    let classifications: Vec<&Value> = analyses
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["classification"])
        .collect();
    assert_eq!(classifications, [&json!("Fail"), &json!("Pass")]);
}

#[tokio::test]
async fn a_failed_canary_reads_message_first_and_is_labelled_flagger_on_the_report_list() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/flagger", server.url))
        .json(&payload(prometheus::CANARY))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 412);
    // Flagger logs the body as it is: the message comes first, the long judge result last.
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with(r#"{"message":"canary checkout.shop: "#),
        "{}",
        &text[..text.len().min(300)]
    );
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(at("reason") < at("id") && at("classification") < at("judgeResult"));
    let body: Value = serde_json::from_str(&text).unwrap();
    let reason = body["reason"].as_str().unwrap();

    // The report list: labelled Flagger, with the reason in its column.
    let page = reqwest::get(format!("{}/", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<th>Reason</th>"), "{page}");
    assert!(page.contains("(Flagger)"), "{page}");
    let row = page
        .split("<tr data-id=")
        .nth(1)
        .expect("a row for the analysis");
    let judged = reason.split(" (").nth(1).map(|r| r.trim_end_matches(')'));
    assert!(
        judged.is_some_and(
            |judged| row.contains(&judged.replace('\'', "&#39;")) || row.contains(judged)
        ),
        "the judge's reason ({reason}) in the row: {row}"
    );
}

#[tokio::test]
async fn the_defaults_are_flaggers_names_and_bad_metadata_is_refused() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let url = format!("{}/v1/webhooks/flagger", server.url);

    // With Flagger's default names the data set has no series: a must-have-data metric fails the canary.
    let mut defaults = payload(prometheus::CANARY);
    for key in ["controlScope", "experimentScope"] {
        defaults["metadata"].as_object_mut().unwrap().remove(key);
    }
    let (status, judged) = post(&url, &defaults).await;
    assert_eq!(status, 412, "{judged:#}");
    let (_, analysis) = get(&format!(
        "{}/v1/analyses/{}",
        server.url,
        judged["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(analysis["request"]["control"]["scope"], "checkout-primary");
    assert_eq!(analysis["request"]["experiment"]["scope"], "checkout");

    for (key, value, expected) in [
        ("config", None, "metadata.config is required"),
        ("config", Some("no-such-config"), "metadata.config:"),
        (
            "lookback",
            Some("soon"),
            "metadata.lookback: 'soon' is not a positive duration",
        ),
        (
            "pass",
            Some("high"),
            "metadata.pass: 'high' is not a number",
        ),
        (
            "marginal",
            Some("90"),
            "marginal (90) must not be above pass (75)",
        ),
        (
            "account",
            Some("graphite"),
            "Unable to resolve account graphite.",
        ),
    ] {
        let mut body = payload(prometheus::BASELINE);
        match value {
            Some(value) => body["metadata"][key] = json!(value),
            None => {
                body["metadata"].as_object_mut().unwrap().remove(key);
            }
        }
        let (status, refused) = post(&url, &body).await;
        assert_eq!(status, 400, "{key}: {refused}");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains(expected), "{key}: {message}");
    }
}

#[tokio::test]
async fn an_unreachable_prometheus_is_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &address]);
    store_example_config(&server.url).await;
    let (status, body) = post(
        &format!("{}/v1/webhooks/flagger", server.url),
        &payload(prometheus::CANARY),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn the_webhook_runs_through_the_engine_and_finishes_when_flagger_hangs_up() {
    // Every query takes five seconds, so Flagger (here: a client that gives up after 300 ms) hangs up while
    // the analysis is being judged.
    let proxy = Proxy::start(
        &prometheus::recent().url,
        ProxyOptions {
            delay: Duration::from_secs(5),
            ..ProxyOptions::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &proxy.url]);
    store_example_config(&server.url).await;

    let hung_up = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/flagger", server.url))
        .timeout(Duration::from_millis(300))
        .json(&payload(prometheus::BASELINE))
        .send()
        .await;
    assert!(
        hung_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "{hung_up:?}"
    );

    // The engine recorded its start and judges it to the end without anyone waiting.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let analysis = loop {
        let (status, analyses) = get(&format!("{}/v1/analyses", server.url)).await;
        assert_eq!(status, 200, "{analyses}");
        let analyses = analyses.as_array().unwrap();
        assert_eq!(analyses.len(), 1, "{analyses:#?}");
        let status = analyses[0]["status"].as_str().unwrap().to_string();
        if status != "pending" && seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status != "pending" && status != "running" {
            break analyses[0].clone();
        }
        assert!(Instant::now() < deadline, "{analyses:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen, ["running", "completed"], "{analysis:#}");
    assert_eq!(
        (
            analysis["classification"].as_str(),
            analysis["score"].as_f64()
        ),
        (Some("Pass"), Some(100.0))
    );
    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|line| line == "coalmine_analyses_total{outcome=\"pass\"} 1"),
        "{metrics}"
    );

    // A restart has nothing to run again.
    server.crash();
    let server = Server::start(dir.path(), &["--prometheus-url", &proxy.url]);
    let (_, unfinished) = get(&format!(
        "{}/v1/analyses?status=pending,running",
        server.url
    ))
    .await;
    assert_eq!(unfinished, json!([]));
    assert!(
        !server.log().contains("resuming analysis"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_lookback_past_the_representable_times_is_refused_and_the_server_serves_on() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let url = format!("{}/v1/webhooks/flagger", server.url);

    // A window reaching back before the year -9999, whose time arithmetic once panicked: Flagger's mistake.
    let mut far = payload(prometheus::BASELINE);
    far["metadata"]["lookback"] = json!("1000000000h");
    let (status, answer) = post(&url, &far).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("lookback"), "{message}");

    let (status, _) = get(&format!("{}/health", server.url)).await;
    assert_eq!(status, 200);
    let (status, healthy) = post(&url, &payload(prometheus::BASELINE)).await;
    assert_eq!(status, 200, "{healthy:#}");
}
