//! The canary's verdict: Kayenta's scoring of the classified metrics, and whether it is final.
//!
//! The scores are Kayenta's ([`coalmine_judge_sdk::scoring`]): group scores, weights, the critical override and
//! the thresholds. A metric that is `Nodata` because its data are still too few is flagged
//! [`scoring::INSUFFICIENT_DATA`] and does not count towards the rule that fails a canary with 50 % or more
//! `Nodata` results — otherwise every real-time analysis would fail at its first look.

use coalmine_judge_sdk::scoring;
use coalmine_judge_sdk::{
    GroupScore, JudgeRequest, Judgement, MetricClassification, MetricResult, ScoreClassification,
};

use crate::classify::Classified;

/// Whether a verdict can still change: the SDK's (the WIT's) `finality`.
pub use coalmine_judge_sdk::Finality;

/// The number of pairs whose metric is not muted: the analysis's budget is split among them.
pub fn counted_pairs(request: &JudgeRequest) -> usize {
    request
        .pairs
        .iter()
        .filter(|pair| {
            request
                .metric(&pair.metric)
                .is_none_or(|metric| !metric.muted)
        })
        .count()
}

/// Scores `classified` (one per pair of `request`, in order) and says whether the verdict is final.
pub fn verdict(
    request: &JudgeRequest,
    classified: Vec<Classified>,
) -> (Judgement, Finality, String) {
    let open: Vec<(String, Option<String>)> = classified
        .iter()
        .map(|classified| (classified.result.pair_id.clone(), classified.open.clone()))
        .collect();
    let results: Vec<_> = classified.into_iter().map(|c| c.result).collect();
    let counted = scoring::counted_results(request, &results);
    let (group_scores, score, reason, classification) = score(request, &results);

    let failed = counted.iter().find(|counted| {
        matches!(
            counted.result.classification,
            MetricClassification::High | MetricClassification::Low
        )
    });
    let (finality, why) = match (classification, failed) {
        (ScoreClassification::Pass, _) => {
            let pending = counted.iter().find_map(|counted| {
                open.iter()
                    .find(|(id, _)| *id == counted.result.pair_id)
                    .and_then(|(_, open)| open.clone())
            });
            match pending {
                None if !counted.is_empty() => (
                    Finality::Harmless,
                    "every metric's harmful effects are ruled out (its e-process against them reached 1/alpha)"
                        .to_owned(),
                ),
                None => (Finality::Open, "no metric counts in the score".to_owned()),
                Some(why) => (Finality::Open, why),
            }
        }
        // Established only when the canary fails even if every metric still open passes in the end.
        (_, Some(failed)) if best_case(request, &results, &open) == ScoreClassification::Fail => (
            Finality::Regression,
            failed
                .result
                .reason
                .clone()
                .unwrap_or_else(|| failed.result.pair_id.clone()),
        ),
        (_, Some(_)) => (
            Finality::Open,
            "a metric's failure is established, but the metrics still open may yet outweigh it"
                .to_owned(),
        ),
        (_, None) => (
            Finality::Open,
            format!("the canary does not pass, but no metric's failure is established: {reason}"),
        ),
    };
    let judgement = Judgement {
        results,
        group_scores,
        score,
        classification,
        reason,
    };
    (judgement, finality, why)
}

/// Kayenta's scoring of `results`: the group scores, the score, the override's reason (empty when the score
/// decides) and the classification.
fn score(
    request: &JudgeRequest,
    results: &[MetricResult],
) -> (Vec<GroupScore>, f64, String, ScoreClassification) {
    let counted = scoring::counted_results(request, results);
    let group_scores = scoring::group_scores(&counted);
    let (score, reason) = match scoring::override_reason(&counted) {
        Some(reason) => (0.0, reason),
        None => (
            scoring::summary_score(&group_scores, &request.group_weights),
            String::new(),
        ),
    };
    let classification = scoring::classify(score, request.thresholds);
    (group_scores, score, reason, classification)
}

/// The classification the canary would get if every metric not yet final (`open`, by pair id) that has not
/// failed passed in the end: the best its score can still become.
fn best_case(
    request: &JudgeRequest,
    results: &[MetricResult],
    open: &[(String, Option<String>)],
) -> ScoreClassification {
    let best: Vec<MetricResult> = results
        .iter()
        .zip(open)
        .map(|(result, (_, open))| {
            let mut result = result.clone();
            let failed = matches!(
                result.classification,
                MetricClassification::High | MetricClassification::Low
            );
            if open.is_some() && !failed {
                result.classification = MetricClassification::Pass;
                result.critical = false;
            }
            result
        })
        .collect();
    score(request, &best).3
}
