//! `cargo bench --bench load`: a load and fault test of one `coalmine serve` (release build).
//!
//! Against the real test Prometheus (Debian's `prometheus`, the data set of `tests/support/prometheus.rs`):
//!
//! - 500 real-time analyses (an A/A canary of 2 metrics, judged every minute for 4 minutes, so 2,000 interval
//!   judgements and 8,000 queries), started over the first minute;
//! - meanwhile 4 clients drive `POST /v1/judge` (a 10-metric canary) in a loop, 2 clients call a hostile judge
//!   that spins until its 2 s deadline, and a client asks `/health` every 100 ms;
//! - half-way through, Prometheus is stopped for 30 s and started again on the same address and data.
//!
//! It prints analyses lost (not finished when their last interval is long past; goal 0), intervals judged twice
//! (goal 0), how the analyses ended and why, the `/health` and judge p50/p99, and the server's peak RSS. The
//! outage must end the analyses it hits with an error naming the store, after bounded retries, and hang none.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::prometheus::{self, PrometheusServer};

const ANALYSES: usize = 500;
const LIFETIME_MINUTES: u64 = 4;
const JUDGE_CLIENTS: usize = 4;
const HOSTILE_CLIENTS: usize = 2;
const OUTAGE: Duration = Duration::from_secs(30);

/// Latencies of one kind of request, and how many failed.
#[derive(Default)]
struct Latencies {
    samples: Vec<Duration>,
    failures: usize,
}

impl Latencies {
    fn percentile(&self, p: f64) -> String {
        if self.samples.is_empty() {
            return "-".to_string();
        }
        let mut sorted = self.samples.clone();
        sorted.sort();
        let index = ((sorted.len() - 1) as f64 * p).round() as usize;
        format!("{:.1} ms", sorted[index].as_secs_f64() * 1000.0)
    }
}

/// The A/A config: the baseline against itself, so every interval passes and every analysis runs to its end.
fn analysis_request() -> Value {
    let config = json!({
        "name": "load-aa",
        "metrics": [
            {"name": "latency", "groups": ["latency"], "scopeName": "default",
             "query": {"type": "prometheus", "metricName": prometheus::LATENCY,
                       "customInlineTemplate": "app=\"${scope}\""},
             "analysisConfigurations": {"canary": {"direction": "increase"}}},
            {"name": "error_ratio", "groups": ["errors"], "scopeName": "default",
             "query": {"type": "prometheus",
                       "customInlineTemplate": "PromQL:sum(rate(checkout_requests_total{app=\"${scope}\",code=~\"5..\"}[1m]))"},
             "analysisConfigurations": {"canary": {"direction": "increase", "nanStrategy": "replace"}}}
        ],
        "classifier": {"groupWeights": {"latency": 50, "errors": 50}}
    });
    json!({
        "config": config,
        "control": {"scope": prometheus::BASELINE},
        "experiment": {"scope": prometheus::BASELINE},
        "lifetime": format!("{LIFETIME_MINUTES}m"), "interval": "1m", "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

/// A RemoteJudge request of 10 metrics, 60 points a side.
fn judge_request(judge: &str, configurations: Value) -> Value {
    let metrics: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("metric-{i}"), "groups": ["g"], "query": {}}))
        .collect();
    let pairs: Vec<Value> = (0..10)
        .map(|i| {
            let series: Vec<f64> = (0..60)
                .map(|t| 100.0 + ((t * 7 + i * 3) % 13) as f64)
                .collect();
            json!({"name": format!("metric-{i}"), "id": format!("pair-{i}"), "tags": {},
                   "values": {"control": series, "experiment": series}})
        })
        .collect();
    json!({
        "canaryConfig": {"name": "bench", "judge": {"name": judge, "judgeConfigurations": configurations},
                         "metrics": metrics},
        "metricSetPairList": pairs,
        "scoreThresholds": {"pass": 75, "marginal": 50}
    })
}

/// Posts `body` to `url` until `stop`, recording each answer's latency.
async fn drive(
    client: reqwest::Client,
    url: String,
    body: Value,
    stop: Arc<AtomicBool>,
) -> Latencies {
    let mut latencies = Latencies::default();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        match client.post(&url).json(&body).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                latencies.samples.push(started.elapsed());
            }
            _ => latencies.failures += 1,
        }
    }
    latencies
}

fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string())
}

#[tokio::main]
async fn main() {
    let minute = jiff::Timestamp::now().as_second().div_euclid(60) * 60;
    // The data set's hour runs from 50 minutes ago to 10 minutes from now: every window of the run has data.
    let mut data =
        PrometheusServer::start_at(jiff::Timestamp::from_second(minute - 50 * 60).unwrap());
    let judges = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::plugin("scripted"),
        judges.path().join("scripted.wasm"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("coalmine.toml"),
        format!(
            "[[accounts]]\nname = \"prometheus\"\ntype = \"prometheus\"\nurl = \"{}\"\ntimeout = \"20s\"\n\n\
             [limits]\nmax_running_analyses = {}\n",
            data.url,
            ANALYSES * 2
        ),
    )
    .unwrap();
    let server = common::server::Server::start(
        dir.path(),
        &[
            "--log",
            "warn",
            "--config",
            dir.path().join("coalmine.toml").to_str().unwrap(),
            "--judges-dir",
            judges.path().to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    // Background load: the judge, the hostile judge, the health probe.
    let judge_url = format!("{}/v1/judge", server.url);
    let mut judges_load = Vec::new();
    for _ in 0..JUDGE_CLIENTS {
        judges_load.push(tokio::spawn(drive(
            client.clone(),
            judge_url.clone(),
            judge_request("mann-whitney", json!({})),
            stop.clone(),
        )));
    }
    let mut hostile_load = Vec::new();
    for _ in 0..HOSTILE_CLIENTS {
        hostile_load.push(tokio::spawn(drive(
            client.clone(),
            judge_url.clone(),
            judge_request("scripted", json!({"behaviour": "loop"})),
            stop.clone(),
        )));
    }
    let health = tokio::spawn({
        let (client, url, stop) = (
            client.clone(),
            format!("{}/health", server.url),
            stop.clone(),
        );
        async move {
            let mut latencies = Latencies::default();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => {
                        latencies.samples.push(started.elapsed())
                    }
                    _ => latencies.failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            latencies
        }
    });

    // The analyses, started evenly over the first minute.
    let began = Instant::now();
    let mut ids = Vec::new();
    let mut refused = BTreeMap::<u16, usize>::new();
    let body = analysis_request();
    for i in 0..ANALYSES {
        let due = Duration::from_secs(60) * i as u32 / ANALYSES as u32;
        tokio::time::sleep(due.saturating_sub(began.elapsed())).await;
        match client
            .post(format!("{}/v1/analyses", server.url))
            .json(&body)
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == 202 => {
                let accepted: Value = response.json().await.unwrap();
                ids.push(accepted["id"].as_str().unwrap().to_string());
            }
            Ok(response) => *refused.entry(response.status().as_u16()).or_default() += 1,
            Err(_) => *refused.entry(0).or_default() += 1,
        }
    }
    println!(
        "{} analyses accepted in {:.0} s, refused: {refused:?}",
        ids.len(),
        began.elapsed().as_secs_f64()
    );

    // Half-way, the store goes away for a while and comes back.
    let half = Duration::from_secs(LIFETIME_MINUTES * 60 / 2 + 30);
    tokio::time::sleep(half.saturating_sub(began.elapsed())).await;
    let outage_started = began.elapsed();
    tokio::task::block_in_place(|| data.stop());
    tokio::time::sleep(OUTAGE).await;
    tokio::task::block_in_place(|| data.restart());
    println!(
        "Prometheus stopped at {:.0} s for {} s, then restarted",
        outage_started.as_secs_f64(),
        OUTAGE.as_secs()
    );

    // Every analysis has its last interval due by 60 s + lifetime; give the slowest a minute more.
    let deadline = Duration::from_secs(60 + LIFETIME_MINUTES * 60 + 60);
    let mut views = Vec::new();
    loop {
        views.clear();
        for id in &ids {
            let (_, view) = common::clients::get(&format!("{}/v1/analyses/{id}", server.url)).await;
            views.push(view);
        }
        let unfinished = views
            .iter()
            .filter(|v| matches!(v["status"].as_str(), Some("pending" | "running")))
            .count();
        if unfinished == 0 || began.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut judge = Latencies::default();
    for task in judges_load {
        let part = task.await.unwrap();
        judge.samples.extend(part.samples);
        judge.failures += part.failures;
    }
    let mut hostile = Latencies::default();
    for task in hostile_load {
        let part = task.await.unwrap();
        hostile.samples.extend(part.samples);
        hostile.failures += part.failures;
    }
    let health = health.await.unwrap();

    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut reasons = BTreeMap::<String, usize>::new();
    let (mut lost, mut twice, mut intervals) = (0, 0, 0);
    for view in &views {
        let status = view["status"].as_str().unwrap_or("?");
        let outcome = match status {
            "completed" => format!(
                "completed {}",
                view["classification"].as_str().unwrap_or("?")
            ),
            other => other.to_string(),
        };
        *outcomes.entry(outcome).or_default() += 1;
        if matches!(status, "pending" | "running") {
            lost += 1;
        }
        if let Some(error) = view["error"].as_str() {
            // The reason without the interval's times, which differ between analyses.
            let reason = error.split_once("): ").map_or(error, |(_, rest)| rest);
            *reasons
                .entry(reason.chars().take(160).collect())
                .or_default() += 1;
        }
        let indexes: Vec<u64> = view["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["index"].as_u64().unwrap())
            .collect();
        let mut unique = indexes.clone();
        unique.sort();
        unique.dedup();
        twice += indexes.len() - unique.len();
        intervals += indexes.len();
    }
    let log = server.log();
    let panics = log.matches("panicked").count();

    println!(
        "\n{} real-time analyses, {LIFETIME_MINUTES} intervals each, with a {} s Prometheus outage:",
        ids.len(),
        OUTAGE.as_secs()
    );
    println!("  analyses lost (unfinished after the deadline): {lost}");
    println!("  intervals judged twice: {twice} (of {intervals} recorded)");
    println!("  outcomes: {outcomes:?}");
    for (reason, count) in &reasons {
        println!("  error x{count}: {reason}");
    }
    println!(
        "  /health: p50 {}, p99 {}, {} failed of {}",
        health.percentile(0.5),
        health.percentile(0.99),
        health.failures,
        health.samples.len() + health.failures
    );
    println!(
        "  POST /v1/judge (mann-whitney, 10 metrics): p50 {}, p99 {}, {} answered, {} failed",
        judge.percentile(0.5),
        judge.percentile(0.99),
        judge.samples.len(),
        judge.failures
    );
    println!(
        "  hostile judge calls (spinning to the deadline): {} answered with an error",
        hostile.failures
    );
    println!("  server peak RSS: {}", peak_rss(server.child.id()));
    println!("  panics in the server log: {panics}");
    assert_eq!(lost, 0, "analyses were left unfinished");
    assert_eq!(twice, 0, "intervals were judged twice");
    assert_eq!(panics, 0, "the server panicked:\n{log}");
}
