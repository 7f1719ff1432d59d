//! `coalmine analyze` as a CI job runs it: the real binary against a real Prometheus holding a known data set
//! (see `tests/support/prometheus.rs`): the canary's latency is 50 ms above the baseline's and it serves five
//! times the 500s.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::prometheus::{self, BASELINE, CANARY};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/analyze")
        .join(name)
        .display()
        .to_string()
}

/// `coalmine analyze` with the example config (unless `extra` names one) over the data set's hour at 15 s.
fn analyze(control: &str, experiment: &str, extra: &[&str]) -> Output {
    let server = prometheus::shared();
    let mut args: Vec<String> = [
        "analyze",
        "--prometheus-url",
        &server.url,
        "--control-scope",
        control,
    ]
    .into_iter()
    .chain(["--experiment-scope", experiment, "--step", "15"])
    .map(String::from)
    .collect();
    args.extend([
        "--start".into(),
        server.start_time().to_string(),
        "--end".into(),
        server.end_time().to_string(),
    ]);
    if !extra.contains(&"--config") {
        args.extend(["--config".into(), example("checkout-canary.json")]);
    }
    args.extend(extra.iter().map(|arg| arg.to_string()));
    Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(&args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn an_a_a_comparison_passes_with_exit_0() {
    let output = analyze(BASELINE, BASELINE, &[]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("Verdict: Pass (score 100; pass >= 75, marginal >= 50)"),
        "{stdout}"
    );
    assert!(stdout.starts_with("METRIC"), "{stdout}");
}

#[test]
fn a_slower_canary_fails_on_latency_with_exit_4() {
    let output = analyze(BASELINE, CANARY, &[]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}{stderr}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}: {stdout}"))
    };
    assert!(row("latency ").contains("High (critical)"), "{stdout}");
    assert!(
        row("latency_by_region{region=eu-west-1}").contains("High"),
        "{stdout}"
    );
    assert!(
        row("latency_by_region{region=us-east-1}").contains("High"),
        "{stdout}"
    );
    assert!(row("error_ratio").contains("High"), "{stdout}");
    // 241 samples per side: the window's 15-second points, both ends included.
    assert!(row("latency ").contains(" 241/241 "), "{stdout}");
    assert!(
        stdout.contains("Verdict: Fail (score 0; pass >= 75, marginal >= 50): Canary Failed: The metric latency was classified as High (Critical)"),
        "{stdout}"
    );
}

#[test]
fn json_output_carries_the_result_the_pairs_and_the_queries() {
    let output = analyze(BASELINE, CANARY, &["--output", "json"]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output).1);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(json["judgeResult"]["score"]["classification"], "Fail");
    let results = json["judgeResult"]["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        4,
        "latency, latency_by_region x2 regions, error_ratio"
    );
    let latency = &results[0];
    let ci = latency["resultMetadata"]["confidenceInterval"]
        .as_array()
        .unwrap();
    // The canary is exactly 50 ms slower: the shift's interval holds 0.05.
    assert!(
        ci[0].as_f64().unwrap() <= 0.05 && 0.05 <= ci[1].as_f64().unwrap(),
        "{latency:#}"
    );
    assert_eq!(json["metricSetPairList"].as_array().unwrap().len(), 4);
    let queries = json["queries"].as_array().unwrap();
    assert_eq!(
        queries.len(),
        6,
        "control and experiment for each of 3 metrics"
    );
    assert_eq!(queries[0]["side"], "control");
    assert_eq!(
        queries[0]["query"],
        format!("avg(checkout_latency_seconds{{app=\"{BASELINE}\"}})")
    );
    assert_eq!(
        queries[1]["query"],
        format!("avg(checkout_latency_seconds{{app=\"{CANARY}\"}})")
    );
}

#[test]
fn a_half_failing_canary_is_marginal_with_exit_3() {
    // The error ratio (group weight 40) fails; a latency metric whose direction ignores the canary's increase
    // (weight 60) passes: score 60, between marginal (50) and pass (75).
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(example("checkout-canary.json")).unwrap())
            .unwrap();
    config["metrics"] = serde_json::json!([
        {"name": "latency", "query": {"type": "prometheus", "metricName": "checkout_latency_seconds",
         "customInlineTemplate": "app=\"${scope}\""}, "groups": ["latency"],
         "analysisConfigurations": {"canary": {"direction": "decrease"}}},
        config["metrics"][2].clone()
    ]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), config.to_string()).unwrap();
    let path = file.path().display().to_string();
    let output = analyze(BASELINE, CANARY, &["--config", &path]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("Verdict: Marginal (score 60;"), "{stdout}");
}

#[test]
fn a_yaml_config_is_the_same_config() {
    let json = analyze(BASELINE, CANARY, &["--output", "json"]);
    let yaml = analyze(
        BASELINE,
        CANARY,
        &[
            "--output",
            "json",
            "--config",
            &example("checkout-canary.yaml"),
        ],
    );
    let result = |output: &Output| {
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["judgeResult"].clone()
    };
    assert_eq!(result(&json), result(&yaml));
}

#[test]
fn an_unreachable_prometheus_is_exit_1_naming_the_metric() {
    let server = prometheus::shared();
    let (start, end) = (
        server.start_time().to_string(),
        server.end_time().to_string(),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args([
            "analyze",
            "--config",
            &example("checkout-canary.json"),
            "--prometheus-url",
            "http://127.0.0.1:1",
        ])
        .args([
            "--control-scope",
            BASELINE,
            "--experiment-scope",
            CANARY,
            "--start",
            &start,
            "--end",
            &end,
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty());
    // Retries are logged as they happen; the error is the last line.
    let error = stderr.lines().last().unwrap_or_default();
    assert!(
        error.starts_with(
            "error: metric 'latency': cannot reach Prometheus at http://127.0.0.1:1 (4 attempts)"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .count()
            == 1,
        "{stderr}"
    );
}

#[test]
fn bad_configs_and_arguments_are_named() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"{"name": "x", "metrics": [{"name": "m", "query": {"type": "prometheus"}}]}"#,
    )
    .unwrap();
    let path = file.path().display().to_string();
    let output = analyze(BASELINE, CANARY, &["--config", &path]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("metric 'm'")
            && stderr.contains("Metric Name is required when query type is Default."),
        "{stderr}"
    );

    let output = analyze(BASELINE, CANARY, &["--param", "oops"]);
    assert_eq!(output.status.code(), Some(2), "a usage error exits 2");
    assert!(text(&output).1.contains("expected KEY=VALUE"));

    let output = analyze(BASELINE, CANARY, &["--pass", "40"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output)
            .1
            .contains("marginal (50) must not be above pass (40)")
    );
}

#[test]
fn an_injected_scope_does_not_change_the_query() {
    let output = analyze(
        BASELINE,
        r#"app"} or vector(1) or x{a=""#,
        &["--output", "json"],
    );
    let (stdout, stderr) = text(&output);
    // The escaped scope matches no series: the experiment has no data, it is not vector(1)'s constant.
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}{stderr}"));
    let latency = &json["judgeResult"]["results"][0];
    assert_eq!(latency["classification"], "Nodata", "{latency:#}");
    assert_eq!(latency["experimentMetadata"]["stats"]["count"], 0);
}

/// Issue 14 item 13: with three points a side, the canary's 50 ms shift separates the sides completely, so
/// the interval is the whole range of differences and lies far above the tolerance band: `High`. Yet the
/// p-value of three against three can be no smaller than 0.0809 (R's `wilcox.test` on any complete
/// separation of 3 and 3, e.g. the reference case "normal n=3 separated"). The table says what decided.
#[test]
fn the_table_says_the_interval_decided_a_high_metric_with_a_large_p_value() {
    let server = prometheus::shared();
    let start = server.start_time();
    let end = start + jiff::SignedDuration::from_secs(30);
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["analyze", "--prometheus-url", &server.url])
        .args(["--control-scope", BASELINE, "--experiment-scope", CANARY])
        .args(["--step", "15", "--config", &example("checkout-canary.json")])
        .args(["--start", &start.to_string(), "--end", &end.to_string()])
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine");
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}{stderr}");
    // The band is 0.25 x |estimate|, and the estimate is the data set's exact shift, 50 ms.
    let header = stdout.lines().next().unwrap();
    assert!(header.ends_with("POINTS C/E  DECIDED BY"), "{header}");
    let row = stdout
        .lines()
        .find(|line| line.starts_with("latency "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("High (critical)"), "{row}");
    assert!(row.contains(" 3/3 "), "{row}");
    // R: 0.080855598370052295, to four digits.
    assert!(row.contains(" 0.08086 "), "{row}");
    assert!(
        row.contains("CI lower ")
            && row.contains(" > band +")
            && row.ends_with(" >= allowedIncrease 1"),
        "{row}"
    );
}
