//! coalmine's own metrics, served in Prometheus's text format at `GET /metrics` (prefix `coalmine_`):
//!
//! - `coalmine_analyses_total{outcome}`: finished analyses by outcome (`pass`, `marginal`, `fail`, `error`,
//!   `cancelled`);
//! - `coalmine_analyses_running`: analyses running now (admitted and not yet ended);
//! - `coalmine_judge_duration_seconds{judge}`: wall time of judge calls;
//! - `coalmine_judge_failures_total{judge, kind}`: judge calls that failed, by kind (`deadline`, `memory`,
//!   `trap`, `invalid_judgement`, …);
//! - `coalmine_metric_query_duration_seconds{source}` and `coalmine_metric_query_errors_total{source, kind}`:
//!   metric queries by source (`prometheus`, `datadog`, …);
//! - `coalmine_leases_held`: the analyses this replica holds the lease of (runs) now;
//! - `coalmine_lease_takeovers_total`: analyses this replica took over from another whose lease expired.
//!
//! One process-wide registry, recorded into by the layers that do the work (judge host, metric sources,
//! scheduler), which know nothing of HTTP.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JudgeLabel {
    judge: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JudgeFailure {
    judge: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceFailure {
    source: String,
    kind: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

struct Telemetry {
    registry: Registry,
    analyses: Family<Outcome, Counter>,
    running: Gauge,
    judge_duration: Histograms<JudgeLabel>,
    judge_failures: Family<JudgeFailure, Counter>,
    query_duration: Histograms<SourceLabel>,
    query_errors: Family<SourceFailure, Counter>,
    leases_held: Gauge,
    lease_takeovers: Counter,
}

/// Buckets from 100 µs to about 100 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 11))
}

fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let mut registry = Registry::with_prefix("coalmine");
        let analyses = Family::default();
        registry.register("analyses", "Finished analyses by outcome", analyses.clone());
        let running = Gauge::default();
        registry.register("analyses_running", "Analyses running now", running.clone());
        let judge_duration: Histograms<JudgeLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "judge_duration_seconds",
            "Wall time of judge calls",
            judge_duration.clone(),
        );
        let judge_failures = Family::default();
        registry.register(
            "judge_failures",
            "Judge calls that failed, by kind",
            judge_failures.clone(),
        );
        let query_duration: Histograms<SourceLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "metric_query_duration_seconds",
            "Wall time of metric queries, retries included",
            query_duration.clone(),
        );
        let query_errors = Family::default();
        registry.register(
            "metric_query_errors",
            "Metric queries that failed, by kind",
            query_errors.clone(),
        );
        let leases_held = Gauge::default();
        registry.register(
            "leases_held",
            "Analyses whose lease this replica holds now",
            leases_held.clone(),
        );
        let lease_takeovers = Counter::default();
        registry.register(
            "lease_takeovers",
            "Analyses this replica took over from another replica whose lease had expired",
            lease_takeovers.clone(),
        );
        Telemetry {
            registry,
            leases_held,
            lease_takeovers,
            analyses,
            running,
            judge_duration,
            judge_failures,
            query_duration,
            query_errors,
        }
    })
}

/// The outcomes `coalmine_analyses_total` counts.
const OUTCOMES: [&str; 5] = ["pass", "marginal", "fail", "error", "cancelled"];

/// The failure kinds of a judge call (`PluginError::kind` of the errors a call can end in).
const JUDGE_FAILURES: [&str; 9] = [
    "deadline",
    "memory",
    "stack_overflow",
    "trap",
    "invalid_request",
    "failed",
    "invalid_judgement",
    "judgement_too_large",
    "score_out_of_range",
];

/// The failure kinds of a metric query (`SourceError::kind`).
const QUERY_FAILURES: [&str; 6] = [
    "config",
    "unreachable",
    "timeout",
    "http",
    "bad_response",
    "pairing",
];

/// Creates every series at zero for these judges and metric sources (`prometheus`, `datadog`), so that
/// `/metrics` shows every family from the start, before the first analysis (a rate or an alert on a series
/// that appears only with its first event misses that event).
pub fn prime<'a>(
    judges: impl IntoIterator<Item = &'a str>,
    sources: impl IntoIterator<Item = &'a str>,
) {
    let telemetry = telemetry();
    for outcome in OUTCOMES {
        let _ = telemetry.analyses.get_or_create(&Outcome {
            outcome: outcome.to_string(),
        });
    }
    for judge in judges {
        let label = JudgeLabel {
            judge: judge.to_string(),
        };
        let _ = telemetry.judge_duration.get_or_create(&label);
        for kind in JUDGE_FAILURES {
            let _ = telemetry.judge_failures.get_or_create(&JudgeFailure {
                judge: label.judge.clone(),
                kind: kind.to_string(),
            });
        }
    }
    for source in sources {
        let label = SourceLabel {
            source: source.to_string(),
        };
        let _ = telemetry.query_duration.get_or_create(&label);
        for kind in QUERY_FAILURES {
            let _ = telemetry.query_errors.get_or_create(&SourceFailure {
                source: label.source.clone(),
                kind: kind.to_string(),
            });
        }
    }
}

/// Counts a finished analysis.
pub fn analysis_finished(outcome: &str) {
    telemetry()
        .analyses
        .get_or_create(&Outcome {
            outcome: outcome.to_ascii_lowercase(),
        })
        .inc();
}

/// Counts `change` more (or, negative, fewer) analyses running now.
pub fn analyses_running(change: i64) {
    telemetry().running.inc_by(change);
}

/// Sets how many analyses' leases this replica holds.
pub fn leases_held(count: usize) {
    telemetry()
        .leases_held
        .set(i64::try_from(count).unwrap_or(i64::MAX));
}

/// Counts an analysis taken over from another replica.
pub fn lease_taken_over() {
    telemetry().lease_takeovers.inc();
}

/// Records a judge call: its duration, and its failure kind if it failed.
pub fn judge_called(judge: &str, elapsed: Duration, failure: Option<&str>) {
    let telemetry = telemetry();
    let label = JudgeLabel {
        judge: judge.to_string(),
    };
    telemetry
        .judge_duration
        .get_or_create(&label)
        .observe(elapsed.as_secs_f64());
    if let Some(kind) = failure {
        telemetry
            .judge_failures
            .get_or_create(&JudgeFailure {
                judge: label.judge,
                kind: kind.to_string(),
            })
            .inc();
    }
}

/// Records a metric query: its duration, and its failure kind if it failed.
pub fn query_made(source: &str, elapsed: Duration, failure: Option<&str>) {
    let telemetry = telemetry();
    let label = SourceLabel {
        source: source.to_string(),
    };
    telemetry
        .query_duration
        .get_or_create(&label)
        .observe(elapsed.as_secs_f64());
    if let Some(kind) = failure {
        telemetry
            .query_errors
            .get_or_create(&SourceFailure {
                source: label.source,
                kind: kind.to_string(),
            })
            .inc();
    }
}

/// Every metric in Prometheus's text exposition format.
pub fn encode() -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &telemetry().registry);
    text
}
