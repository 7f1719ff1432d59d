//! Kayenta's scoring of classified metric results (`WeightedSumScorer`, `ScoringHelper` and
//! `ThresholdScoreClassifier` of NetflixACAJudge-v1.0).
//!
//! A judge classifies each pair and hands the results to [`judgement`], which:
//!
//! 1. leaves out the results of muted metrics ([`counted_results`]); they stay in the judgement;
//! 2. scores each group ([`group_scores`]);
//! 3. applies the overrides ([`override_reason`]): a failed critical result, or 50 % or more
//!    `Nodata` results, sets the score to 0 (a `Nodata` result flagged [`INSUFFICIENT_DATA`] —
//!    data too few to judge, not missing — does not count towards the 50 %);
//! 4. otherwise computes the weighted summary score ([`summary_score`]), rounded half-up to two
//!    decimals ([`round_half_up`]);
//! 5. classifies the score against the request's thresholds ([`classify`]).

mod groups;
mod round;
mod summary;

pub use groups::group_scores;
pub use round::round_half_up;
pub use summary::summary_score;

use crate::{
    JudgeError, JudgeRequest, Judgement, MetricClassification, MetricConfig, MetricPair,
    MetricResult, ScoreClassification, ScoreThresholds,
};

/// The share of `Nodata` results, in percent, from which the canary fails.
pub const NODATA_THRESHOLD_PERCENT: f64 = 50.0;

/// The name of the flag detail that marks a `Nodata` result as *insufficient data* rather than missing
/// data: the metric has data, too little to reach the judge's confidence. Such a result is ignored in
/// the scores like any `Nodata` result, but does not count towards the 50 % `Nodata` override, so that
/// a real-time analysis's first looks, with a point or two per side, do not fail the canary.
pub const INSUFFICIENT_DATA: &str = "insufficientData";

/// Whether `result` is flagged as insufficient data ([`INSUFFICIENT_DATA`]).
pub fn is_insufficient_data(result: &MetricResult) -> bool {
    result.details.iter().any(|detail| {
        detail.name == INSUFFICIENT_DATA && detail.value == crate::DetailValue::Flag(true)
    })
}

/// A result that counts in the scores, with the groups of its metric.
#[derive(Clone, Copy, Debug)]
pub struct CountedResult<'a> {
    /// The metric result.
    pub result: &'a MetricResult,
    /// The groups of the result's metric (empty when the metric has none or is unknown).
    pub groups: &'a [String],
}

/// Scores `results` (one per pair of `request`, as a judge classified them) and returns the
/// judgement: the results unchanged, the group scores, the summary score, its classification and
/// the override reason (`""` when no override applied).
pub fn judgement(request: &JudgeRequest, results: Vec<MetricResult>) -> Judgement {
    let counted = counted_results(request, &results);
    let group_scores = group_scores(&counted);
    let (score, reason) = match override_reason(&counted) {
        Some(reason) => (0.0, reason),
        None => (
            summary_score(&group_scores, &request.group_weights),
            String::new(),
        ),
    };
    let classification = classify(score, request.thresholds);
    Judgement {
        results,
        group_scores,
        score,
        classification,
        reason,
    }
}

/// Classifies every pair of `request` with `classify` and scores the results with [`judgement`]:
/// a judge that only decides per metric needs nothing else.
///
/// `classify` gets each pair with its metric's configuration and returns the pair's result (or an
/// error, which ends the call). A pair whose metric the request lacks is a
/// [`JudgeError::InvalidRequest`].
pub fn judge_each(
    request: &JudgeRequest,
    mut classify: impl FnMut(&MetricPair, &MetricConfig) -> Result<MetricResult, JudgeError>,
) -> Result<Judgement, JudgeError> {
    let results = request
        .pairs
        .iter()
        .map(|pair| {
            let metric = request.metric(&pair.metric).ok_or_else(|| {
                JudgeError::InvalidRequest(format!(
                    "Could not find metric config for {} (pair {})",
                    pair.metric, pair.id
                ))
            })?;
            classify(pair, metric)
        })
        .collect::<Result<Vec<_>, JudgeError>>()?;
    Ok(judgement(request, results))
}

/// The results that count in the scores, in order: those whose metric is not muted.
///
/// A result is attributed to a metric through its pair (`pair-id` → `metric-pair.metric` →
/// `metric-config`). A result whose pair or metric the request lacks counts, in no group.
pub fn counted_results<'a>(
    request: &'a JudgeRequest,
    results: &'a [MetricResult],
) -> Vec<CountedResult<'a>> {
    results
        .iter()
        .enumerate()
        .filter_map(|(index, result)| {
            let metric = metric_of(request, index, result);
            match metric {
                Some(metric) if metric.muted => None,
                _ => Some(CountedResult {
                    result,
                    groups: metric.map_or(&[][..], |metric| &metric.groups),
                }),
            }
        })
        .collect()
}

/// The metric config of `result`, the `index`-th result; results usually come in pair order, so
/// the pair at the same index is tried first.
fn metric_of<'a>(
    request: &'a JudgeRequest,
    index: usize,
    result: &MetricResult,
) -> Option<&'a MetricConfig> {
    let pair = match request.pairs.get(index) {
        Some(pair) if pair.id == result.pair_id => pair,
        _ => request.pair(&result.pair_id)?,
    };
    request.metric(&pair.metric)
}

/// The reason the canary fails regardless of its weighted score, if any, checked in order:
///
/// 1. the first critical result that is not a pass: `"Canary Failed: <its reason>"`;
/// 2. `Nodata` results making up [`NODATA_THRESHOLD_PERCENT`] or more of the counted results:
///    `"Canary Failed: 50% or more metrics returned NODATA"` (never with no counted results). Results
///    flagged [`INSUFFICIENT_DATA`] count in neither the `Nodata` results nor the counted ones.
pub fn override_reason(counted: &[CountedResult<'_>]) -> Option<String> {
    let critical_failure = counted
        .iter()
        .map(|counted| counted.result)
        .find(|result| result.critical && result.classification != MetricClassification::Pass);
    if let Some(failure) = critical_failure {
        return Some(format!(
            "Canary Failed: {}",
            failure.reason.as_deref().unwrap_or_default()
        ));
    }
    let considered: Vec<&MetricResult> = counted
        .iter()
        .map(|counted| counted.result)
        .filter(|result| !is_insufficient_data(result))
        .collect();
    let nodata = considered
        .iter()
        .filter(|result| result.classification == MetricClassification::Nodata)
        .count();
    // With no counted results this is NaN, and NaN >= 50 is false, as in Kayenta.
    let nodata_percent = nodata as f64 / considered.len() as f64 * 100.0;
    (nodata_percent >= NODATA_THRESHOLD_PERCENT).then(|| {
        format!("Canary Failed: {NODATA_THRESHOLD_PERCENT}% or more metrics returned NODATA")
    })
}

/// Classifies a summary score: `score >= pass` passes, else `score >= marginal` is marginal,
/// else it fails.
pub fn classify(score: f64, thresholds: ScoreThresholds) -> ScoreClassification {
    if score >= thresholds.pass {
        ScoreClassification::Pass
    } else if score >= thresholds.marginal {
        ScoreClassification::Marginal
    } else {
        ScoreClassification::Fail
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{GroupScore, GroupWeight, MetricPair, Series, SummaryStats};

    /// A metric of `groups`.
    pub(crate) fn metric(name: &str, groups: &[&str], muted: bool) -> MetricConfig {
        MetricConfig {
            groups: groups.iter().map(|&group| group.into()).collect(),
            muted,
            ..MetricConfig::with_defaults(name)
        }
    }

    /// A request with one pair per metric, the pair id being the metric name.
    pub(crate) fn request(metrics: Vec<MetricConfig>, weights: &[(&str, f64)]) -> JudgeRequest {
        let series = Series {
            values: Vec::new(),
            start_millis: 0,
            step_millis: 0,
        };
        JudgeRequest {
            pairs: metrics
                .iter()
                .map(|metric| MetricPair {
                    id: metric.name.clone(),
                    metric: metric.name.clone(),
                    tags: Vec::new(),
                    control: series.clone(),
                    experiment: series.clone(),
                })
                .collect(),
            metrics,
            group_weights: weights
                .iter()
                .map(|&(group, weight)| GroupWeight {
                    group: group.into(),
                    weight,
                })
                .collect(),
            thresholds: ScoreThresholds {
                pass: 95.0,
                marginal: 75.0,
            },
            judge_configuration: "{}".into(),
        }
    }

    /// The result of pair `id`.
    pub(crate) fn result(id: &str, classification: MetricClassification) -> MetricResult {
        let stats = SummaryStats {
            count: 0,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
        };
        MetricResult {
            pair_id: id.into(),
            classification,
            reason: Some(format!("the reason for {id}")),
            critical: false,
            control: stats,
            experiment: stats,
            details: Vec::new(),
        }
    }

    fn critical(id: &str, classification: MetricClassification) -> MetricResult {
        MetricResult {
            critical: true,
            ..result(id, classification)
        }
    }

    use MetricClassification::{Error, High, Low, Nodata, NodataFailMetric, Pass};

    #[test]
    fn judge_each_classifies_every_pair_with_its_metric_and_scores_the_results() {
        let request = request(
            vec![metric("a", &["g"], false), metric("b", &["g"], false)],
            &[],
        );
        let mut seen = Vec::new();
        let judgement = judge_each(&request, |pair, metric| {
            seen.push((pair.id.clone(), metric.name.clone()));
            let classification = if pair.id == "b" { High } else { Pass };
            Ok(MetricResult::new(pair, classification, &[1.0, 3.0], &[2.0]))
        })
        .unwrap();
        assert_eq!(seen, [("a".into(), "a".into()), ("b".into(), "b".into())]);
        assert_eq!(judgement.score, 50.0);
        assert_eq!(judgement.classification, ScoreClassification::Fail);
        let first = &judgement.results[0];
        assert_eq!((first.control.count, first.control.mean), (2, 2.0));
        assert_eq!((first.experiment.count, first.experiment.mean), (1, 2.0));
        assert_eq!((first.reason.as_deref(), first.critical), (None, false));
    }

    #[test]
    fn judge_each_refuses_a_pair_of_an_unknown_metric_and_passes_errors_through() {
        let mut unknown = request(vec![metric("a", &[], false)], &[]);
        unknown.pairs[0].metric = "nope".into();
        let error = judge_each(&unknown, |pair, _| Ok(result(&pair.id, Pass))).unwrap_err();
        assert_eq!(
            error,
            JudgeError::InvalidRequest("Could not find metric config for nope (pair a)".into())
        );
        let failing = request(vec![metric("a", &[], false)], &[]);
        let error = judge_each(&failing, |_, _| Err(JudgeError::Failed("no".into()))).unwrap_err();
        assert_eq!(error, JudgeError::Failed("no".into()));
    }

    #[test]
    fn muted_results_are_judged_but_not_counted() {
        let request = request(
            vec![metric("a", &["g"], false), metric("b", &["g"], true)],
            &[],
        );
        let judgement = judgement(&request, vec![result("a", Pass), critical("b", High)]);
        assert_eq!(judgement.results.len(), 2);
        assert_eq!(
            judgement.group_scores,
            [GroupScore {
                group: "g".into(),
                score: 100.0,
                no_data: false
            }]
        );
        assert_eq!((judgement.score, judgement.reason.as_str()), (100.0, ""));
        assert_eq!(judgement.classification, ScoreClassification::Pass);
    }

    #[test]
    fn results_are_attributed_through_their_pair_in_any_order() {
        let request = request(
            vec![metric("a", &["x"], false), metric("b", &["y"], true)],
            &[],
        );
        let results = [
            result("b", High),
            result("a", Pass),
            result("unknown", High),
        ];
        let counted = counted_results(&request, &results);
        let attributed: Vec<_> = counted
            .iter()
            .map(|c| (c.result.pair_id.as_str(), c.groups))
            .collect();
        assert_eq!(
            attributed,
            [("a", &["x".to_string()][..]), ("unknown", &[][..])]
        );
    }

    #[test]
    fn a_failed_critical_result_overrides_the_score() {
        let request = request(
            vec![metric("a", &["g"], false), metric("b", &["g"], false)],
            &[],
        );
        let judgement = judgement(
            &request,
            vec![result("a", Pass), critical("b", Low), critical("a", High)],
        );
        assert_eq!(judgement.score, 0.0);
        assert_eq!(judgement.reason, "Canary Failed: the reason for b");
        assert_eq!(judgement.classification, ScoreClassification::Fail);
        // The group scores are still reported.
        assert_eq!(judgement.group_scores[0].score, 1.0 / 3.0 * 100.0);
    }

    #[test]
    fn critical_passes_and_non_critical_failures_do_not_override() {
        let request = request(
            vec![metric("a", &["g"], false), metric("b", &["g"], false)],
            &[],
        );
        let judgement = judgement(&request, vec![critical("a", Pass), result("b", High)]);
        assert_eq!((judgement.score, judgement.reason.as_str()), (50.0, ""));
    }

    #[test]
    fn half_nodata_overrides_the_score() {
        let metrics = vec![metric("a", &["g"], false), metric("b", &["g"], false)];
        let judgement = judgement(
            &request(metrics, &[]),
            vec![result("a", Pass), result("b", Nodata)],
        );
        assert_eq!(judgement.score, 0.0);
        assert_eq!(
            judgement.reason,
            "Canary Failed: 50% or more metrics returned NODATA"
        );
    }

    #[test]
    fn less_than_half_nodata_or_other_kinds_of_missing_data_do_not_override() {
        let metrics = vec![
            metric("a", &["g"], false),
            metric("b", &["g"], false),
            metric("c", &["g"], false),
            metric("d", &["g"], true),
        ];
        let results = vec![
            result("a", Pass),
            result("b", Nodata),
            result("c", Pass),
            result("d", Nodata),
        ];
        let one_third = judgement(&request(metrics, &[]), results);
        // 1 of 3 counted results (the muted Nodata does not count).
        assert_eq!((one_third.score, one_third.reason.as_str()), (100.0, ""));

        let metrics = vec![metric("a", &["g"], false), metric("b", &["g"], false)];
        let results = vec![result("a", NodataFailMetric), result("b", Error)];
        let not_nodata = judgement(&request(metrics, &[]), results);
        assert_eq!((not_nodata.score, not_nodata.reason.as_str()), (0.0, ""));
    }

    #[test]
    fn no_counted_results_score_zero_without_an_override() {
        let judgement = judgement(
            &request(vec![metric("a", &["g"], true)], &[]),
            vec![result("a", Nodata)],
        );
        assert!(judgement.group_scores.is_empty());
        assert_eq!((judgement.score, judgement.reason.as_str()), (0.0, ""));
        assert_eq!(judgement.classification, ScoreClassification::Fail);
    }

    #[test]
    fn insufficient_data_does_not_count_towards_the_nodata_override() {
        let metrics = vec![metric("a", &["g"], false), metric("b", &["g"], false)];
        let mut insufficient = result("b", Nodata);
        insufficient
            .details
            .push(crate::Detail::flag(INSUFFICIENT_DATA, true));
        let judged = judgement(
            &request(metrics.clone(), &[]),
            vec![result("a", Pass), insufficient.clone()],
        );
        assert_eq!((judged.score, judged.reason.as_str()), (100.0, ""));
        // Every metric insufficient: nothing counted, every group without data, scored 100.
        let mut first = insufficient.clone();
        first.pair_id = "a".into();
        let judged = judgement(&request(metrics.clone(), &[]), vec![first, insufficient]);
        assert_eq!((judged.score, judged.reason.as_str()), (100.0, ""));
        // A flag set to false is no flag.
        let mut unflagged = result("b", Nodata);
        unflagged
            .details
            .push(crate::Detail::flag(INSUFFICIENT_DATA, false));
        let judged = judgement(&request(metrics, &[]), vec![result("a", Pass), unflagged]);
        assert_eq!(judged.score, 0.0);
    }

    #[test]
    fn the_critical_override_is_checked_before_the_nodata_override() {
        let metrics = vec![metric("a", &["g"], false), metric("b", &["g"], false)];
        let results = vec![result("a", Nodata), critical("b", High)];
        let judgement = judgement(&request(metrics, &[]), results);
        assert_eq!(judgement.reason, "Canary Failed: the reason for b");
    }

    #[test]
    fn scores_are_classified_inclusively_at_the_thresholds() {
        let thresholds = ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        };
        assert_eq!(classify(100.0, thresholds), ScoreClassification::Pass);
        assert_eq!(classify(95.0, thresholds), ScoreClassification::Pass);
        assert_eq!(classify(94.99, thresholds), ScoreClassification::Marginal);
        assert_eq!(classify(75.0, thresholds), ScoreClassification::Marginal);
        assert_eq!(classify(74.99, thresholds), ScoreClassification::Fail);
        assert_eq!(classify(0.0, thresholds), ScoreClassification::Fail);
    }

    #[test]
    fn judgement_classifies_with_the_request_thresholds() {
        let metrics = vec![metric("a", &["g"], false), metric("b", &["g"], false)];
        let mut request = request(metrics, &[]);
        let results = vec![result("a", Pass), result("b", High)];
        request.thresholds = ScoreThresholds {
            pass: 60.0,
            marginal: 50.0,
        };
        let marginal = judgement(&request, results.clone());
        assert_eq!(
            (marginal.score, marginal.classification),
            (50.0, ScoreClassification::Marginal)
        );
        request.thresholds.pass = 50.0;
        let pass = judgement(&request, results);
        assert_eq!(pass.classification, ScoreClassification::Pass);
    }
}
