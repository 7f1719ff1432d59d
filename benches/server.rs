//! `cargo bench --bench server`: `POST /v1/judge` throughput and latency of a real `coalmine serve` (release
//! build), driven by `wrk` (Debian's `wrk` package) from a separate process over loopback: a 10-metric canary
//! with 60 points a side, 2 wrk threads and 32 connections for 15 s. Prints requests per second, the p50 and
//! p99 latencies, and the server's peak RSS. Goal: at least 3,000 requests/s on 2 cores.

#[path = "../tests/common/server.rs"]
#[allow(dead_code)] // the benchmark uses only part of the test helper
mod server;

use std::process::Command;

use serde_json::{Value, json};

/// A RemoteJudge request: 10 metrics, 60 points a side, a 10% shift on every other metric.
fn request() -> Value {
    let metrics: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("metric-{i}"), "groups": [format!("group-{}", i % 3)], "query": {}}))
        .collect();
    let pairs: Vec<Value> = (0..10)
        .map(|i| {
            let series = |shift: f64| -> Vec<f64> {
                (0..60)
                    .map(|t| 100.0 * shift + ((t * 7 + i * 3) % 13) as f64)
                    .collect()
            };
            let shift = if i % 2 == 0 { 1.1 } else { 1.0 };
            json!({"name": format!("metric-{i}"), "id": format!("pair-{i}"), "tags": {},
                   "values": {"control": series(1.0), "experiment": series(shift)}})
        })
        .collect();
    json!({
        "canaryConfig": {"name": "bench", "metrics": metrics},
        "metricSetPairList": pairs,
        "scoreThresholds": {"pass": 75, "marginal": 50}
    })
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        panic!("this benchmark drives the server with wrk: apt-get install wrk");
    }
    let data = tempfile::tempdir().expect("a temporary directory");
    let server = server::Server::start(data.path(), &["--log", "warn"]);

    let script = data.path().join("judge.lua");
    let body = request().to_string();
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [[{body}]]\n"
        ),
    )
    .unwrap();
    let url = format!("{}/v1/judge", server.url);

    let output = Command::new("wrk")
        .args(["-t2", "-c32", "-d15s", "--latency", "-s"])
        .arg(&script)
        .arg(&url)
        .output()
        .expect("running wrk");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !report.contains("Non-2xx"),
        "the server answered errors under load:\n{report}"
    );

    let field = |prefix: &str| -> String {
        report
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or("?")
            .to_string()
    };
    let peak_rss = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string());
    println!("POST /v1/judge, 10 metrics x 60 points a side, wrk -t2 -c32 -d15s on loopback:");
    println!("  requests/s: {}", field("Requests/sec:"));
    println!("  p50 latency: {}", field("50%"));
    println!("  p99 latency: {}", field("99%"));
    println!("  server peak RSS: {peak_rss}");
}
