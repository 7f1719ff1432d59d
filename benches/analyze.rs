//! `cargo bench --bench analyze`: what concurrency buys. Analyses a 1-metric and a 20-metric canary config
//! against a real Prometheus (Debian's `prometheus`, holding the test data set of
//! `tests/support/prometheus.rs`) and prints the median wall time of each and their ratio, twice:
//!
//! - directly on loopback, where a query costs well under a millisecond of Prometheus's CPU and there is no
//!   latency to overlap: this measures coalmine's own overhead;
//! - through a proxy that delays each request by 25 ms, like a store across a network or a Thanos/Mimir
//!   query path, which is where concurrency pays.
//!
//! Kayenta runs the queries one after another, so its 20-metric analysis costs about 20 times its 1-metric
//! one; the goal here is at most 2 times.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;

use std::time::Duration;

use coalmine::analysis::{self, AnalysisRequest};
use coalmine::judge_host::{JudgeHost, Limits};
use coalmine::judging;
use coalmine::kayenta::{CanaryConfig, ScoreThresholds};
use coalmine::metrics::{PrometheusAccount, PrometheusSource};
use serde_json::json;
use support::prometheus;
use support::proxy::{Proxy, ProxyOptions};
use timing::median;

/// A config of `n` latency metrics, each selecting the app's series by another label matcher.
fn config(n: usize) -> CanaryConfig {
    let metrics: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "name": format!("latency-{i}"),
                "query": {"type": "prometheus", "metricName": prometheus::LATENCY,
                          "customInlineTemplate": format!("app=\"${{scope}}\",pod!=\"none-{i}\"")},
                "groups": ["latency"],
                "analysisConfigurations": {"canary": {"direction": "increase"}},
                "scopeName": "default"
            })
        })
        .collect();
    serde_json::from_value(json!({"name": "bench", "metrics": metrics})).expect("a valid config")
}

fn main() {
    let server = prometheus::shared();
    let host = JudgeHost::with_built_in(Limits::default(), None).expect("the built-in judges load");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let thresholds = ScoreThresholds {
        pass: 75.0,
        marginal: 50.0,
    };

    let proxy = runtime.block_on(Proxy::start(
        &server.url,
        ProxyOptions {
            delay: Duration::from_millis(25),
            ..ProxyOptions::default()
        },
    ));
    for (label, url) in [
        ("loopback", server.url.clone()),
        ("25 ms per request", proxy.url.clone()),
    ] {
        let source = PrometheusSource::new(PrometheusAccount::new("prometheus", &url))
            .expect("a valid account");
        let time = |metrics: usize| {
            let request = AnalysisRequest {
                config: config(metrics),
                scopes: server.scopes(),
                thresholds,
            };
            let judge =
                judging::select_judge(&host, None, &request.config).expect("the default judge");
            median(1, 15, || {
                let outcome = runtime
                    .block_on(analysis::analyze(
                        &source,
                        &judge,
                        &request,
                        analysis::DEFAULT_CONCURRENCY,
                    ))
                    .expect("the analysis succeeds");
                assert_eq!(outcome.judge_result.results.len(), metrics);
                black_box(outcome);
            })
        };
        let one = time(1);
        let twenty = time(20);
        println!(
            "Prometheus, {label} (median of 15 runs, concurrency {}):",
            analysis::DEFAULT_CONCURRENCY
        );
        println!("   1 metric:  {:>7.2} ms", one.as_secs_f64() * 1e3);
        println!("  20 metrics: {:>7.2} ms", twenty.as_secs_f64() * 1e3);
        println!(
            "  20-metric/1-metric ratio: {:.2}",
            twenty.as_secs_f64() / one.as_secs_f64()
        );
    }
}
