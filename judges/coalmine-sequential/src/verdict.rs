//! The canary's verdict: Kayenta's scoring of the classified metrics, and whether it is final.
//!
//! The scores are Kayenta's ([`coalmine_judge_sdk::scoring`]): group scores, weights, the critical override and
//! the thresholds. One difference: a metric that is `Nodata` because its data are still too few
//! ([`Classified::insufficient`]) does not count towards the rule that fails a canary with 50 % or more
//! `Nodata` results — otherwise every real-time analysis would fail at its first look.

use coalmine_judge_sdk::scoring::{self, CountedResult};
use coalmine_judge_sdk::{JudgeRequest, Judgement, MetricClassification, ScoreClassification};

use crate::classify::Classified;

/// Whether a verdict can still change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// Later data may change the verdict.
    Open,
    /// A metric's failure is established and the canary fails: anytime-valid, so stopping now is safe.
    Regression,
    /// The canary passes and every counted metric's confidence sequence already excludes harmful effects
    /// beyond its allowed effect size: it may be promoted now.
    Harmless,
}

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
    let insufficient: Vec<String> = classified
        .iter()
        .filter(|classified| classified.insufficient)
        .map(|classified| classified.result.pair_id.clone())
        .collect();
    let open: Vec<(String, Option<String>)> = classified
        .iter()
        .map(|classified| (classified.result.pair_id.clone(), classified.open.clone()))
        .collect();
    let results: Vec<_> = classified.into_iter().map(|c| c.result).collect();
    let counted = scoring::counted_results(request, &results);
    let group_scores = scoring::group_scores(&counted);
    let decisive: Vec<CountedResult<'_>> = counted
        .iter()
        .copied()
        .filter(|counted| !insufficient.contains(&counted.result.pair_id))
        .collect();
    let (score, reason) = match scoring::override_reason(&decisive) {
        Some(reason) => (0.0, reason),
        None => (
            scoring::summary_score(&group_scores, &request.group_weights),
            String::new(),
        ),
    };
    let classification = scoring::classify(score, request.thresholds);

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
                    "every metric's confidence sequence excludes harmful effects".to_owned(),
                ),
                None => (Finality::Open, "no metric counts in the score".to_owned()),
                Some(why) => (Finality::Open, why),
            }
        }
        (_, Some(failed)) => (
            Finality::Regression,
            failed
                .result
                .reason
                .clone()
                .unwrap_or_else(|| failed.result.pair_id.clone()),
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
