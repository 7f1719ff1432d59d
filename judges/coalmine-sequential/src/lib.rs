//! coalmine's third built-in judge, `coalmine-sequential`: anytime-valid tests that may be looked at every
//! minute, after Lindon, Sanden & Shirikian, *Rapid Regression Detection in Software Deployments through
//! Sequential Testing* (KDD 2022) and Netflix's "Sequential A/B Testing Keeps the World Streaming Netflix"
//! (parts 1 and 2).
//!
//! A real-time analysis judges the growing window again at every interval. A fixed-sample test at each look
//! fails a healthy canary more often the more often one looks; here each metric's test is an e-process, a
//! bettor's wealth that a healthy canary lets grow past `1/α` with probability at most `α` over all looks
//! together. Gauges are tested by a sign-flip e-process on the time-paired differences ([`sign_flip`]),
//! counts (`analysisConfigurations.canary.counts: true`, as coalmine-v1 reads it) by a mixture likelihood
//! ratio for the ratio of Poisson rates ([`rate`]); both give a confidence sequence for the ratio
//! experiment / control. [`classify`] turns them into Kayenta's classifications, and [`verdict`] scores them
//! with Kayenta's groups, weights and thresholds, and says whether the verdict is final ([`Finality`]).
//!
//! The budget: `judgeConfigurations.alpha` (default 0.01) is split equally among the pairs of the metrics that
//! are not muted, and a metric with direction `either` splits its share between increases and decreases.
//!
//! The judge is deterministic and runs natively as well as inside the component.

#![warn(missing_docs)]

pub mod classify;
pub mod config;
pub mod paired;
pub mod rate;
pub mod sign_flip;
pub mod verdict;

use coalmine_judge_sdk::{
    Decided, DecisionGuest, EffectSizeMeasure, Guest, JudgeError, JudgeInfo, JudgeRequest,
    Judgement,
};
use coalmine_v1::settings::MetricKind;

use crate::config::Config;
pub use crate::verdict::Finality;

/// The name the judge registers under.
pub const NAME: &str = "coalmine-sequential";

/// Judges every pair of `request` and scores the results. An unknown metric name or an invalid setting is a
/// [`JudgeError::InvalidRequest`].
pub fn judge(request: &JudgeRequest) -> Result<Judgement, JudgeError> {
    judge_with_finality(request).map(|(judgement, _, _)| judgement)
}

/// [`judge`], and whether its verdict is final: [`Finality::Regression`] when a metric's failure is
/// established and fails the canary, [`Finality::Harmless`] when the canary passes and every metric's
/// confidence sequence already excludes harmful effects, [`Finality::Open`] otherwise; with the reason in
/// words.
pub fn judge_with_finality(
    request: &JudgeRequest,
) -> Result<(Judgement, Finality, String), JudgeError> {
    let config = Config::from_request(request)?;
    // Every metric's settings are checked before any pair is judged, even a metric without pairs.
    let kinds = request
        .metrics
        .iter()
        .map(|metric| {
            if metric.effect_size.measure == EffectSizeMeasure::Cles {
                return Err(JudgeError::InvalidRequest(format!(
                    "metric '{}': analysisConfigurations.canary.effectSize.measure must be \"meanRatio\" for \
                     coalmine-sequential (its effect is the ratio experiment / control), got \"cles\"",
                    metric.name
                )));
            }
            Ok((metric.name.as_str(), MetricKind::of(metric)?))
        })
        .collect::<Result<Vec<_>, JudgeError>>()?;
    let alpha = config.alpha / verdict::counted_pairs(request).max(1) as f64;
    let mut classified = Vec::with_capacity(request.pairs.len());
    for pair in &request.pairs {
        let metric = request.metric(&pair.metric).ok_or_else(|| {
            JudgeError::InvalidRequest(format!(
                "Could not find metric config for {} (pair {})",
                pair.metric, pair.id
            ))
        })?;
        let kind = kinds
            .iter()
            .find(|(name, _)| *name == metric.name)
            .map_or(MetricKind::Gauge, |(_, kind)| *kind);
        classified.push(classify::classify(pair, metric, kind, alpha, &config));
    }
    Ok(verdict::verdict(request, classified))
}

/// The component's implementation of the `judge` and `decision` interfaces; natively, call [`judge`] or
/// [`judge_with_finality`] directly.
pub struct CoalmineSequentialJudge;

impl Guest for CoalmineSequentialJudge {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Anytime-valid sequential tests (e-processes) for gauges and counts: look every \
                          minute, fail a healthy canary with probability at most alpha"
                    .into(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        crate::judge(&request)
    }
}

impl DecisionGuest for CoalmineSequentialJudge {
    fn judge_with_decision(request: JudgeRequest) -> Result<Decided, JudgeError> {
        let (judgement, finality, reason) = crate::judge_with_finality(&request)?;
        Ok(Decided {
            judgement,
            finality,
            reason,
        })
    }
}

coalmine_judge_sdk::export_judge!(CoalmineSequentialJudge, decision);
