//! A server with analyses worth looking at, for the report page tests (`tests/pages.rs`, `tests/browser.rs`):
//! a token-protected `coalmine serve` on the real Prometheus of `tests/support/prometheus.rs`, a failing
//! analysis whose metric name carries an HTML injection, and a passing one judged in three intervals.

use std::path::Path;

use serde_json::{Value, json};

use super::server::Server;

/// The API token of [`ReportServer`].
pub const TOKEN: &str = "report-test-token";
/// The metric name of the failing analysis's latency metric: markup a page must show as text.
pub const HOSTILE_METRIC: &str = "<script>document.title='pwned'</script>latency";

/// A running server with its analyses.
pub struct ReportServer {
    pub server: Server,
    /// Checkout's canary against its baseline: Fail, one interval, latency `High`.
    pub failed: Value,
    /// The baseline against itself every 20 minutes: Pass, three intervals.
    pub passed: Value,
    _data: tempfile::TempDir,
}

/// Starts the server on `prometheus_url` and runs both analyses.
pub async fn start(
    prometheus_url: &str,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
) -> ReportServer {
    let data = tempfile::tempdir().unwrap();
    let config_file = data.path().join("coalmine.toml");
    std::fs::write(
        &config_file,
        "[auth]\ntoken_envs = [\"TEST_REPORT_TOKEN\"]\n",
    )
    .unwrap();
    let server = Server::start_with_env(
        data.path(),
        &[
            "--config",
            config_file.to_str().unwrap(),
            "--prometheus-url",
            prometheus_url,
        ],
        &[("TEST_REPORT_TOKEN", TOKEN)],
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["metrics"][0]["name"] = json!(HOSTILE_METRIC);
    let analysis = |control: &str, experiment: &str, interval: Option<&str>| {
        let mut body = json!({
            "config": config,
            "control": {"scope": control},
            "experiment": {"scope": experiment},
            "start": start,
            "end": end,
            "step": "15s",
            "thresholds": {"pass": 75, "marginal": 50}
        });
        if let Some(interval) = interval {
            body["interval"] = json!(interval);
        }
        body
    };
    let post = |body: Value| {
        let url = format!("{}/v1/analyses", server.url);
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let passed = post(analysis(
        "checkout-baseline",
        "checkout-baseline",
        Some("20m"),
    ))
    .await;
    let failed = post(analysis("checkout-baseline", "checkout-canary", None)).await;
    assert_eq!(failed["classification"], "Fail", "{failed:#}");
    assert_eq!(passed["classification"], "Pass", "{passed:#}");
    ReportServer {
        server,
        failed,
        passed,
        _data: data,
    }
}
