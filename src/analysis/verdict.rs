//! The verdict rule, written once for every client: an interval whose score is at or below the marginal
//! threshold fails the analysis (Kayenta's standalone analysis stops at the first such interval, and
//! Spinnaker fails it), and an analysis's verdict is its last interval's classification under that rule.
//!
//! With `earlyPass` ([`Rule::early_pass`]), an analysis also ends early with Pass at an interval whose judge
//! says the judgement is final and harmless (the `decision` interface of the judge contract: every metric's
//! interval already excludes harmful effects beyond its allowed effect size) and whose score passes. Why an
//! analysis stopped early is recorded in that interval's `decision.stopped`, and so is a failure the judge
//! calls an established regression.
//!
//! Clients read the rule differently at `score == marginal`, as they do with Kayenta: the judge itself calls
//! such a score Marginal (≥ marginal), while the engine, Kayenta's standalone analysis, Spinnaker and Flagger
//! fail it through [`fails`]; Argo Rollouts' `kayenta` provider, reading the judge's classification, makes it
//! Inconclusive.

use crate::judging::SelectedJudge;
use crate::kayenta::judge_result::Finality;
use crate::kayenta::{CanaryJudgeResult, ScoreThresholds};
use crate::store::Verdict;

/// What ends an analysis: its thresholds, and whether a final, harmless judgement may end it early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub thresholds: ScoreThresholds,
    /// `earlyPass`: complete with Pass as soon as the judge says every metric is final and harmless and the
    /// score passes.
    pub early_pass: bool,
}

/// Checks that `judge` can end an analysis early, for an analysis that asks for it with `option` (`earlyPass`,
/// `--early-pass`): only a judge that says when its judgement is final can, and asking another is the caller's
/// mistake, not a request to ignore.
pub fn require_decisions(option: &str, judge: &SelectedJudge) -> Result<(), String> {
    if judge.judge.decides() {
        return Ok(());
    }
    Err(format!(
        "{option} needs a judge that says when its judgement is final (one that exports the decision interface \
         of coalmine:judge@0.1.1, such as coalmine-sequential), and the judge {} does not: choose such a judge \
         or leave {option} out",
        judge.name
    ))
}

/// Whether an interval scoring `score` fails the analysis: at or below the marginal threshold. A NaN score
/// (nothing could be judged) is not a failure by this rule, as in Kayenta (a comparison with NaN is false).
pub fn fails(score: f64, thresholds: ScoreThresholds) -> bool {
    score <= thresholds.marginal
}

/// The analysis's verdict after judging interval `index` of `intervals` (0-based), if it ends there: at the
/// last interval, or earlier when the interval [`fails`] it, or — with [`Rule::early_pass`] — when its judge
/// says it is final and harmless and its score passes.
///
/// An analysis that ends before its last interval because of the judge's decision says so in `result`'s
/// `decision.stopped`: an early pass, or a failure the judge calls an established regression.
pub fn conclude(
    index: u32,
    intervals: u32,
    result: &mut CanaryJudgeResult,
    rule: Rule,
) -> Option<Verdict> {
    let thresholds = rule.thresholds;
    let last = index + 1 == intervals;
    let failed_fast = fails(result.score.score, thresholds);
    let finality = result.decision.as_ref().map(|decision| decision.finality);
    let passes_early = rule.early_pass
        && finality == Some(Finality::Harmless)
        && result.score.score >= thresholds.pass
        && !failed_fast;
    if !(failed_fast || last || passes_early) {
        return None;
    }
    let verdict = verdict(result, thresholds);
    if !last && let Some(decision) = result.decision.as_mut() {
        let given = |default: &str| {
            if decision.reason.is_empty() {
                default.to_string()
            } else {
                decision.reason.clone()
            }
        };
        decision.stopped = match decision.finality {
            Finality::Regression if failed_fast => Some(format!(
                "stopped at interval {} of {intervals}: a regression is established: {}",
                index + 1,
                given("the judge says more data will not change it")
            )),
            Finality::Harmless if passes_early => Some(format!(
                "stopped early at interval {} of {intervals}: {}",
                index + 1,
                given("every metric is final and harmless")
            )),
            _ => None,
        };
    }
    Some(verdict)
}

/// Why the analysis stopped at the interval judged `result`, when the judge's decision ended it before its
/// last interval ([`conclude`]).
pub fn stopped(result: &CanaryJudgeResult) -> Option<&str> {
    result.decision.as_ref()?.stopped.as_deref()
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
            decision: None,
        }
    }

    const RULE: Rule = Rule {
        thresholds: THRESHOLDS,
        early_pass: false,
    };

    #[test]
    fn a_marginal_judgement_at_the_threshold_fails_the_analysis_and_ends_it_early() {
        // The judge calls 50 Marginal (>= marginal); the analysis fails on it, as Spinnaker does.
        let at = judged(50.0, "Marginal");
        assert_eq!(verdict(&at, THRESHOLDS).classification, "Fail");
        assert_eq!(
            conclude(0, 3, &mut at.clone(), RULE).map(|v| v.classification),
            Some("Fail".to_string())
        );
        let above = judged(60.0, "Marginal");
        assert_eq!(
            conclude(0, 3, &mut above.clone(), RULE),
            None,
            "not the last interval"
        );
        assert_eq!(
            conclude(2, 3, &mut above.clone(), RULE).map(|v| v.classification),
            Some("Marginal".to_string())
        );
    }

    fn decided(score: f64, classification: &str, finality: Finality) -> CanaryJudgeResult {
        CanaryJudgeResult {
            decision: Some(crate::kayenta::judge_result::JudgeDecision {
                finality,
                reason: String::new(),
                stopped: None,
            }),
            ..judged(score, classification)
        }
    }

    #[test]
    fn early_pass_ends_at_a_final_harmless_passing_interval_and_says_why() {
        let early = Rule {
            early_pass: true,
            ..RULE
        };
        let mut harmless = decided(100.0, "Pass", Finality::Harmless);
        let verdict = conclude(3, 12, &mut harmless, early).expect("ends early");
        assert_eq!(
            (verdict.classification.as_str(), verdict.score),
            ("Pass", 100.0)
        );
        assert_eq!(
            harmless.decision.unwrap().stopped.as_deref(),
            Some("stopped early at interval 4 of 12: every metric is final and harmless")
        );

        // Without earlyPass, a harmless judgement does not end the analysis.
        let mut harmless = decided(100.0, "Pass", Finality::Harmless);
        assert_eq!(conclude(3, 12, &mut harmless, RULE), None);
        assert_eq!(harmless.decision.unwrap().stopped, None);

        // Harmless but a score below the pass threshold (a metric Nodata-failed), or an open judgement:
        // the analysis goes on.
        let mut marginal = decided(60.0, "Marginal", Finality::Harmless);
        assert_eq!(conclude(3, 12, &mut marginal, early), None);
        let mut open = decided(100.0, "Pass", Finality::Open);
        assert_eq!(conclude(3, 12, &mut open, early), None);
        // A judge without the decision interface never ends it early.
        assert_eq!(conclude(3, 12, &mut judged(100.0, "Pass"), early), None);

        // At the last interval the analysis ends anyway: nothing stopped early.
        let mut last = decided(100.0, "Pass", Finality::Harmless);
        assert!(conclude(11, 12, &mut last, early).is_some());
        assert_eq!(last.decision.unwrap().stopped, None);
    }

    #[test]
    fn a_failure_stops_at_once_and_an_established_regression_is_the_reason() {
        let mut regression = decided(0.0, "Fail", Finality::Regression);
        regression.decision.as_mut().unwrap().reason = "latency rose by 20 %".to_string();
        let verdict = conclude(2, 12, &mut regression, RULE).expect("fails fast");
        assert_eq!(verdict.classification, "Fail");
        assert_eq!(
            regression.decision.unwrap().stopped.as_deref(),
            Some("stopped at interval 3 of 12: a regression is established: latency rose by 20 %")
        );
        // A failing score ends the analysis whatever the judge's finality.
        let mut open = decided(0.0, "Fail", Finality::Open);
        assert!(conclude(2, 12, &mut open, RULE).is_some());
        assert_eq!(open.decision.unwrap().stopped, None);
        // A regression the score does not fail (one metric of many): the analysis goes on.
        let mut mild = decided(90.0, "Pass", Finality::Regression);
        assert_eq!(conclude(2, 12, &mut mild, RULE), None);
    }
}
