//! The verdict rule, written once for every client: an interval whose score is at or below the marginal
//! threshold fails the analysis (Kayenta's standalone analysis stops at the first such interval, and
//! Spinnaker fails it), and an analysis's verdict is its last interval's classification under that rule.
//!
//! Clients read the rule differently at `score == marginal`, as they do with Kayenta: the judge itself calls
//! such a score Marginal (≥ marginal), while the engine, Kayenta's standalone analysis, Spinnaker and Flagger
//! fail it through [`fails`]; Argo Rollouts' `kayenta` provider, reading the judge's classification, makes it
//! Inconclusive.

use crate::kayenta::{CanaryJudgeResult, ScoreThresholds};
use crate::store::Verdict;

/// Whether an interval scoring `score` fails the analysis: at or below the marginal threshold. A NaN score
/// (nothing could be judged) is not a failure by this rule, as in Kayenta (a comparison with NaN is false).
pub fn fails(score: f64, thresholds: ScoreThresholds) -> bool {
    score <= thresholds.marginal
}

/// The analysis's verdict after judging interval `index` of `intervals` (0-based), if it ends there: at the
/// last interval, or earlier when the interval [`fails`] it.
pub fn conclude(
    index: u32,
    intervals: u32,
    result: &CanaryJudgeResult,
    thresholds: &ScoreThresholds,
) -> Option<Verdict> {
    let failed_fast = fails(result.score.score, *thresholds);
    (failed_fast || index + 1 == intervals).then(|| verdict(result, *thresholds))
}

/// The verdict of an analysis whose last judged interval is `result`: its classification, except that an
/// interval that [`fails`] fails the analysis.
pub fn verdict(result: &CanaryJudgeResult, thresholds: ScoreThresholds) -> Verdict {
    let score = result.score.score;
    Verdict {
        classification: if fails(score, thresholds) {
            "Fail".to_string()
        } else {
            result.score.classification.clone()
        },
        score,
    }
}

/// Why a verdict is what it is: the judge's reason when it gives one (a critical metric), else the score
/// against the threshold that decided (the judge gives none when the score alone decides).
pub fn reason(classification: &str, given: &str, score: f64, pass: f64, marginal: f64) -> String {
    if !given.is_empty() {
        return given.to_string();
    }
    let shown = crate::display::number(score);
    match classification {
        _ if score.is_nan() => "no metric could be judged".to_string(),
        "Pass" => format!(
            "the score {shown} reaches the pass threshold {}",
            crate::display::number(pass)
        ),
        "Marginal" => format!(
            "the score {shown} is below the pass threshold {}",
            crate::display::number(pass)
        ),
        _ if score <= marginal => format!(
            "the score {shown} is at or below the marginal threshold {}",
            crate::display::number(marginal)
        ),
        _ => format!(
            "the score {shown} is below the pass threshold {}",
            crate::display::number(pass)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: ScoreThresholds = ScoreThresholds {
        pass: 75.0,
        marginal: 50.0,
    };

    #[test]
    fn every_verdict_has_a_reason() {
        assert_eq!(
            reason("Fail", "Canary Failed: latency", 0.0, 75.0, 50.0),
            "Canary Failed: latency"
        );
        assert_eq!(
            reason("Fail", "", 40.0, 75.0, 50.0),
            "the score 40 is at or below the marginal threshold 50"
        );
        assert_eq!(
            reason("Marginal", "", 60.0, 75.0, 50.0),
            "the score 60 is below the pass threshold 75"
        );
        assert_eq!(
            reason("Pass", "", 100.0, 75.0, 50.0),
            "the score 100 reaches the pass threshold 75"
        );
        assert_eq!(
            reason("Pass", "", f64::NAN, 75.0, 50.0),
            "no metric could be judged"
        );
    }

    #[test]
    fn a_score_at_or_below_marginal_fails_and_above_it_does_not() {
        assert!(fails(0.0, THRESHOLDS));
        assert!(fails(50.0, THRESHOLDS), "at the threshold: Kayenta's <=");
        assert!(!fails(50.000001, THRESHOLDS));
        assert!(!fails(100.0, THRESHOLDS));
        assert!(!fails(f64::NAN, THRESHOLDS), "Java's NaN <= x is false");
    }

    fn judged(score: f64, classification: &str) -> CanaryJudgeResult {
        CanaryJudgeResult {
            judge_name: "mann-whitney".to_string(),
            results: Vec::new(),
            group_scores: Vec::new(),
            score: crate::kayenta::judge_result::CanaryJudgeScore {
                score,
                classification: classification.to_string(),
                classification_reason: String::new(),
            },
        }
    }

    #[test]
    fn a_marginal_judgement_at_the_threshold_fails_the_analysis_and_ends_it_early() {
        // The judge calls 50 Marginal (>= marginal); the analysis fails on it, as Spinnaker does.
        let at = judged(50.0, "Marginal");
        assert_eq!(verdict(&at, THRESHOLDS).classification, "Fail");
        assert_eq!(
            conclude(0, 3, &at, &THRESHOLDS).map(|v| v.classification),
            Some("Fail".to_string())
        );
        let above = judged(60.0, "Marginal");
        assert_eq!(
            conclude(0, 3, &above, &THRESHOLDS),
            None,
            "not the last interval"
        );
        assert_eq!(
            conclude(2, 3, &above, &THRESHOLDS).map(|v| v.classification),
            Some("Marginal".to_string())
        );
    }
}
