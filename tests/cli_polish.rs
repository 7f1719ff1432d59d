//! What a new user of `coalmine analyze` sees (issue 14, item 12): the real binary against the real test
//! Prometheus (`tests/support/prometheus.rs`) or against nothing at all.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::prometheus::{self, BASELINE, CANARY};

fn example_config() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `coalmine analyze` of the data set's hour with `config` against `prometheus_url`, plus `extra`.
fn analyze(config: &serde_json::Value, prometheus_url: &str, extra: &[&str]) -> Output {
    let server = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["analyze", "--config", path.to_str().unwrap()])
        .args(["--prometheus-url", prometheus_url])
        .args(["--control-scope", BASELINE, "--experiment-scope", CANARY])
        .args(["--step", "15", "--start", &server.start_time().to_string()])
        .args(["--end", &server.end_time().to_string()])
        .args(extra)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine")
}

#[test]
fn a_fail_without_a_critical_metric_says_why() {
    // No critical metric: the canary fails on its score alone, and Kayenta's judge gives no reason then.
    let mut config = example_config();
    for metric in config["metrics"].as_array_mut().unwrap() {
        metric["analysisConfigurations"]["canary"]["critical"] = false.into();
    }
    let server = prometheus::shared();
    let output = analyze(&config, &server.url, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    let verdict = stdout
        .lines()
        .find(|line| line.starts_with("Verdict: "))
        .unwrap_or_else(|| panic!("no verdict line in {stdout}"));
    assert_eq!(
        verdict,
        "Verdict: Fail (score 0; pass >= 75, marginal >= 50): the score 0 is at or below the marginal threshold 50"
    );
}

#[test]
fn an_unreachable_prometheus_warns_once_per_metric_and_the_rest_at_debug() {
    let config = example_config();
    let metrics = config["metrics"].as_array().unwrap().len();
    let warnings = |output: &Output| {
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| line.contains("retrying"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let quiet = analyze(&config, "http://127.0.0.1:1", &[]);
    assert_eq!(quiet.status.code(), Some(1));
    let shown = warnings(&quiet);
    assert!(
        !shown.is_empty() && shown.len() <= metrics,
        "{} retry lines for {metrics} metrics: {shown:#?}",
        shown.len()
    );
    assert!(shown.iter().all(|line| line.contains("WARN")), "{shown:#?}");
    let debug = analyze(&config, "http://127.0.0.1:1", &["--log", "debug"]);
    let all = warnings(&debug);
    assert!(
        all.len() > shown.len() && all.iter().any(|line| line.contains("DEBUG")),
        "--log debug shows every retry: {all:#?}"
    );
}

#[test]
fn a_parse_error_without_a_path_has_no_question_mark_prefix() {
    // A YAML key that is not a name (a complex key): the parser cannot say where, and the message used to
    // start with `?:`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "? [a]\n: x\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["analyze", "--config", path.to_str().unwrap()])
        .args(["--prometheus-url", "http://127.0.0.1:1"])
        .args([
            "--control-scope",
            "a",
            "--experiment-scope",
            "b",
            "--lookback",
            "5m",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {}: invalid type: sequence, expected field identifier at line 1 column 3",
            path.display()
        )
    );
}

#[test]
fn serve_help_names_the_cache_the_server_uses() {
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(output.status.success());
    assert!(help.contains("for `serve`, <data-dir>/cache"), "{help}");
}
