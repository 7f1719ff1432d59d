//! Insufficient data is not evidence. Kayenta's Mann-Whitney judge classifies a higher experiment `High`
//! from a single point a side (control `[200]`, experiment `[210]`: `High` with p = 1), because R's interval
//! degenerates to the range of the differences when the requested confidence cannot be reached. coalmine-v1
//! does not: a non-count metric whose preprocessed samples are too small for `confidenceLevel` to be reached
//! at all ([`coalmine_mann_whitney::stats::mann_whitney::confidence_reachable`]: no shift, however large,
//! would be rejected — e.g. one point a side, or four untied points a side at 98 %) is not classified by its
//! data:
//!
//! - `Nodata` with the reason, flagged [`scoring::INSUFFICIENT_DATA`] so that it counts towards neither the
//!   scores nor the 50 % `Nodata` override: the first looks of a real-time analysis do not fail the canary;
//! - with `mustHaveData`, the metric's missing-data rule instead: `NodataFailMetric`, or for a critical
//!   metric `Nodata` that fails the canary.
//!
//! A critical metric without `mustHaveData` is not failed either (Kayenta fails a critical metric that has no
//! data at all; too little data is not a failure). The comparison's details stay, for reference, and
//! `decidedBy` / `decision` say it was the sample size. Count metrics are not affected: their exact rate test
//! keeps its level at any number of events, and it never rejects without enough of them.

use coalmine_judge_sdk::stats::Sorted;
use coalmine_judge_sdk::{
    Detail, MetricClassification, MetricConfig, MetricPair, MetricResult, preprocess, scoring,
};
use coalmine_mann_whitney::classifier::short;
use coalmine_mann_whitney::config::JudgeConfig;
use coalmine_mann_whitney::stats::mann_whitney::confidence_reachable;

/// Turns `result`, the Mann-Whitney classification of `pair`, into insufficient data when the pair's
/// samples cannot reach the confidence level; leaves it as it is otherwise (a side without data included:
/// that is missing data, decided by the classifier).
pub fn check(
    pair: &MetricPair,
    metric: &MetricConfig,
    config: &JudgeConfig,
    result: &mut MetricResult,
) {
    let mut experiment = preprocess::preprocess(&pair.experiment.values, metric);
    let mut control = preprocess::preprocess(&pair.control.values, metric);
    if experiment.is_empty() || control.is_empty() {
        return;
    }
    let (nx, ny) = (experiment.len(), control.len());
    if confidence_reachable(
        Sorted::new(&mut experiment),
        Sorted::new(&mut control),
        config.confidence_level,
    ) {
        return;
    }
    let reason = format!(
        "Insufficient data for {}: the {}% confidence level cannot be reached with {ny} control and {nx} \
         experiment points",
        metric.name,
        short(config.confidence_level * 100.0)
    );
    let (classification, critical) = match (metric.must_have_data, metric.critical) {
        (true, false) => (MetricClassification::NodataFailMetric, false),
        (true, true) => (MetricClassification::Nodata, true),
        (false, _) => (MetricClassification::Nodata, false),
    };
    result.classification = classification;
    result.critical = critical;
    result.reason = Some(reason.clone());
    result
        .details
        .retain(|detail| !matches!(detail.name.as_str(), "decidedBy" | "decision" | "warning"));
    result.details.extend([
        Detail::text("decidedBy", "sampleSize"),
        Detail::text("decision", reason),
        Detail::flag(scoring::INSUFFICIENT_DATA, !metric.must_have_data),
    ]);
}
