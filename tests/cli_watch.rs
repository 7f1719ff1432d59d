//! Live progress on the command line, against a real Prometheus (`tests/support/prometheus.rs`: the canary's
//! latency is 50 ms above the baseline's): `coalmine analyze --lifetime` judging interval by interval and
//! failing fast, and `coalmine watch` following an analysis in a real server. Output mostly goes to a pipe,
//! so progress comes as plain lines; one test gives the command a terminal, where progress is a bar.

mod common;
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};

fn example_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/analyze/checkout-canary.json")
        .display()
        .to_string()
}

fn coalmine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .env_remove("COALMINE_TOKEN")
        .env_remove("COALMINE_SERVER")
        .output()
        .expect("running coalmine")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// A sliding window from now back to the data set's start, e.g. `12000s`.
fn reach_back() -> String {
    let data = prometheus::shared();
    let seconds = jiff::Timestamp::now()
        .duration_since(data.start_time())
        .as_secs();
    format!("{seconds}s")
}

/// `coalmine analyze --lifetime 1h --interval 20m` from the data set's start: every interval is already due,
/// so they are judged one after another at once.
fn live(control: &str, experiment: &str) -> Output {
    let data = prometheus::shared();
    let start = data.start_time().to_string();
    coalmine(&[
        "analyze",
        "--config",
        &example_config(),
        "--prometheus-url",
        &data.url,
        "--control-scope",
        control,
        "--experiment-scope",
        experiment,
        "--step",
        "15",
        "--start",
        &start,
        "--lifetime",
        "1h",
        "--interval",
        "20m",
    ])
}

#[test]
fn analyze_with_a_lifetime_judges_every_interval() {
    let output = live(BASELINE, BASELINE);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "interval 1/3: score 100 (Pass)",
            "interval 2/3: score 100 (Pass)",
            "interval 3/3: score 100 (Pass)",
            "Pass (score 100): the score 100 reaches the pass threshold 75",
        ],
        "{stderr}"
    );
    assert!(stdout.contains("Verdict: Pass (score 100"), "{stdout}");
}

#[test]
fn analyze_with_a_lifetime_fails_fast() {
    let output = live(BASELINE, CANARY);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "interval 1/3: score 0 (Fail)",
            "Fail (score 0): Canary Failed: The metric latency was classified as High (Critical)"
        ],
        "no interval after the first failing one"
    );
    assert!(stdout.contains("Verdict: Fail"), "{stdout}");
}

#[test]
fn analyze_with_a_lifetime_waits_for_each_interval() {
    let data = prometheus::shared();
    let started = Instant::now();
    // From now, with a sliding window long enough to reach back to the data set's hour.
    let lookback = reach_back();
    let output = coalmine(&[
        "analyze",
        "--config",
        &example_config(),
        "--prometheus-url",
        &data.url,
        "--control-scope",
        BASELINE,
        "--experiment-scope",
        BASELINE,
        "--lifetime",
        "4s",
        "--interval",
        "2s",
        "--lookback",
        &lookback,
        "--step",
        "15",
    ]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for line in [
        "waiting for interval 1/2 until ",
        "interval 1/2: score 100 (Pass)",
        "waiting for interval 2/2 until ",
        "interval 2/2: score 100 (Pass)",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the lifetime was waited out"
    );
}

#[test]
fn on_a_terminal_progress_is_a_bar() {
    let data = prometheus::shared();
    // `script` (util-linux, in every Debian) gives the command a pseudo-terminal.
    let command = format!(
        "{} analyze --config {} --prometheus-url {} --control-scope {BASELINE} --experiment-scope {BASELINE} \
         --step 15 --start {} --lifetime 1h --interval 20m",
        env!("CARGO_BIN_EXE_coalmine"),
        example_config(),
        data.url,
        data.start_time()
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .output()
        .expect("running script (util-linux)");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{terminal}");
    assert!(
        terminal.contains("3/3 intervals · Pass (score 100)"),
        "the bar ends full, with the verdict:\n{terminal}"
    );
    assert!(
        !terminal.contains("interval 1/3: score"),
        "no plain lines on a terminal:\n{terminal}"
    );
}

#[test]
fn bad_live_arguments_are_refused() {
    let output = coalmine(&[
        "analyze",
        "--config",
        &example_config(),
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--control-scope",
        "a",
        "--experiment-scope",
        "b",
        "--start",
        "2026-01-01T00:00:00Z",
        "--interval",
        "5m",
    ]);
    assert_eq!(output.status.code(), Some(2), "--interval needs --lifetime");
    assert!(text(&output).1.contains("--lifetime"));

    let output = coalmine(&[
        "analyze",
        "--config",
        &example_config(),
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--control-scope",
        "a",
        "--experiment-scope",
        "b",
        "--lifetime",
        "10m",
        "--interval",
        "0s",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output)
            .1
            .contains("--lifetime/--interval/--lookback: interval must be positive"),
        "{}",
        text(&output).1
    );
}

#[test]
fn a_live_analysis_that_cannot_fetch_its_metrics_says_which_interval() {
    let output = coalmine(&[
        "analyze",
        "--config",
        &example_config(),
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--control-scope",
        "a",
        "--experiment-scope",
        "b",
        "--lifetime",
        "1s",
    ]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stopped at interval 1\n"), "{stderr}");
    assert!(
        stderr.contains("error: interval 1 (") && stderr.contains("cannot reach Prometheus"),
        "{stderr}"
    );
}

async fn post(server: &Server, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/analyses", server.url))
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

#[tokio::test]
async fn watch_follows_a_server_analysis_to_its_verdict() {
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(example_config()).unwrap()).unwrap();
    let request = |experiment: &str, start: jiff::Timestamp, lifetime: &str, interval: &str| {
        let mut body = json!({
            "config": config,
            "control": {"scope": BASELINE},
            "experiment": {"scope": experiment},
            "start": start,
            "lifetime": lifetime,
            "interval": interval,
            "step": "15s",
            "thresholds": {"pass": 75, "marginal": 50}
        });
        if lifetime == "4s" {
            body["lookback"] = json!(reach_back());
        }
        body
    };
    // Real time from the data set's start: every interval is due at once; the canary fails fast.
    let failing = post(&server, &request(CANARY, data.start_time(), "1h", "20m")).await;
    let id = failing["id"].as_str().unwrap().to_string();
    let url = server.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        coalmine(&["watch", &id, "--server", &url, "--poll", "1"])
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("interval 1/3: score 0 (Fail)"), "{stderr}");
    assert!(!stderr.contains("interval 2/3"), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "Fail (score 0): Canary Failed: The metric latency was classified as High (Critical)"
    );

    // An analysis still running (a sliding window from now back to the data set): watch waits for its two
    // intervals.
    let running = post(
        &server,
        &request(BASELINE, jiff::Timestamp::now(), "4s", "2s"),
    )
    .await;
    let id = running["id"].as_str().unwrap().to_string();
    let url = server.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        coalmine(&["watch", &id, "--server", &url, "--poll", "1"])
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "Pass (score 100): the score 100 reaches the pass threshold 75"
    );
    for line in [
        "waiting for interval",
        "interval 1/2: score 100 (Pass)",
        "interval 2/2: score 100 (Pass)",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }

    // A cancelled analysis: one message, and the server taken from COALMINE_SERVER.
    let long = post(
        &server,
        &request(BASELINE, jiff::Timestamp::now(), "1h", "30m"),
    )
    .await;
    let id = long["id"].as_str().unwrap().to_string();
    let cancelled = reqwest::Client::new()
        .post(format!("{}/v1/analyses/{id}/cancel", server.url))
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success());
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["watch", &id])
        .env("COALMINE_SERVER", &server.url)
        .env_remove("COALMINE_TOKEN")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("error: analysis {id} was cancelled"),
        "one message"
    );

    // An analysis that does not exist.
    let output = coalmine(&["watch", "no-such-id", "--server", &server.url]);
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = text(&output);
    assert!(
        stderr.contains("HTTP 404") && stderr.contains("no-such-id"),
        "{stderr}"
    );
}
