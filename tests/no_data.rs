//! Issue 14, item 11: a non-critical metric whose `metricName` is misspelled matches no series. Kayenta
//! classifies it `Nodata` and lets the canary pass; coalmine keeps that classification but says so (a
//! warning naming the metric and its query: under the table, in `--output json`, in the analysis answers),
//! and a team that wants such a metric to fail says so with `--fail-on-no-data` or a config-level
//! `mustHaveData: true`. A failed metric then counts against its group as Kayenta's `NodataFailMetric`
//! does: here `errors` (weight 40 of 100) drops to 50, the score to 80, below `--marginal 85`.

mod common;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE};

const TYPO: &str = "checkout_latency_secnods";

/// The example config with one more metric, in group `errors`, whose metric name is misspelled.
fn config_with_a_typo() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["metrics"].as_array_mut().unwrap().push(json!({
        "name": "latency_typo",
        "query": {"type": "prometheus", "metricName": TYPO, "customInlineTemplate": "app=\"${scope}\""},
        "groups": ["errors"],
        "analysisConfigurations": {"canary": {"direction": "increase"}},
        "scopeName": "default"
    }));
    config
}

fn analyze(config: &Value, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let data = prometheus::shared();
    let output: Output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["analyze", "--prometheus-url", &data.url])
        .args(["--control-scope", BASELINE, "--experiment-scope", BASELINE])
        .args(["--step", "15", "--pass", "90", "--marginal", "85"])
        .args(["--start", &data.start_time().to_string()])
        .args(["--end", &data.end_time().to_string()])
        .args(["--config", file.to_str().unwrap()])
        .args(extra)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

fn assert_names_the_metric_and_query(warning: &str) {
    assert!(
        warning.starts_with("metric latency_typo: no data")
            && warning.contains(TYPO)
            && warning.contains("Nodata"),
        "{warning}"
    );
}

#[test]
fn the_cli_warns_under_the_table_and_fails_with_fail_on_no_data() {
    let config = config_with_a_typo();
    let (code, stdout, stderr) = analyze(&config, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Verdict: Pass (score 100"), "{stdout}");
    let warning = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Warning: "))
        .unwrap_or_else(|| panic!("no warning line:\n{stdout}"));
    assert_names_the_metric_and_query(warning);

    let (code, stdout, stderr) = analyze(&config, &["--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_names_the_metric_and_query(warnings[0].as_str().unwrap());

    let (code, stdout, stderr) = analyze(&config, &["--fail-on-no-data"]);
    assert_eq!(code, Some(4), "{stdout}{stderr}");
    assert!(stdout.contains("NodataFailMetric"), "{stdout}");
    assert!(stdout.contains("Verdict: Fail (score 80"), "{stdout}");
    assert!(!stdout.contains("Warning: "), "{stdout}");

    // Without the typo there is nothing to warn about.
    let mut clean = config.clone();
    clean["metrics"].as_array_mut().unwrap().pop();
    let (code, stdout, _) = analyze(&clean, &["--fail-on-no-data"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("Warning: "), "{stdout}");
}

#[tokio::test]
async fn the_native_api_warns_and_a_config_level_must_have_data_fails() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--prometheus-url", &prometheus::shared().url],
    );
    let set = prometheus::shared();
    let request = |config: Value| {
        json!({
            "config": config,
            "control": {"scope": BASELINE}, "experiment": {"scope": BASELINE},
            "start": set.start_time(), "end": set.end_time(), "step": "15s",
            "thresholds": {"pass": 90, "marginal": 85}
        })
    };
    let post = |body: Value| {
        let url = format!("{}/v1/analyses", server.url);
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, passed) = post(request(config_with_a_typo())).await;
    assert_eq!(status, 200, "{passed:#}");
    assert_eq!(passed["classification"], "Pass");
    let warnings = passed["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_names_the_metric_and_query(warnings[0].as_str().unwrap());
    // GET answers the same warnings.
    let stored: Value = reqwest::get(format!(
        "{}/v1/analyses/{}",
        server.url,
        passed["id"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(stored["warnings"], passed["warnings"]);
    // The report page shows the note.
    let page = reqwest::get(format!(
        "{}/analyses/{}",
        server.url,
        passed["id"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        page.contains("Warnings")
            && page.contains("metric latency_typo: no data")
            && page.contains(TYPO),
        "{page}"
    );

    let mut strict = config_with_a_typo();
    strict["mustHaveData"] = json!(true);
    let (status, failed) = post(request(strict)).await;
    assert_eq!(status, 200, "{failed:#}");
    assert_eq!(
        (failed["classification"].as_str(), failed["score"].as_f64()),
        (Some("Fail"), Some(80.0)),
        "{failed:#}"
    );
    assert_eq!(failed["warnings"], json!([]));

    let mut wrong = config_with_a_typo();
    wrong["mustHaveData"] = json!("yes");
    let (status, refused) = post(request(wrong)).await;
    assert!((400..500).contains(&status), "{status} {refused:#}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("mustHaveData"),
        "{refused:#}"
    );
}
