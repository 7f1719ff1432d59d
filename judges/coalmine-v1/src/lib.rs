//! coalmine's second built-in judge, `coalmine-v1`: Kayenta's judge plus an exact rate test for count
//! metrics, written on the plugin SDK ([`coalmine_judge_sdk`]).
//!
//! Kayenta's Mann-Whitney judge is blind to error counts: with a baseline of zeros its interval and
//! estimate sit at zero and a canary that starts throwing errors passes. `coalmine-v1` judges a metric
//! whose `analysisConfigurations.canary.counts` is `true` as events per step, with the exact conditional
//! test for the ratio of two Poisson rates ([`counts`], [`rate_test`]), adjusted when the counts are
//! burstier than Poisson counts ([`dispersion`]); every other metric is judged by the
//! Mann-Whitney judge's own classifier ([`coalmine_mann_whitney::classifier`]), and the results are scored
//! with Kayenta's group weights, overrides and thresholds ([`coalmine_judge_sdk::scoring`]).
//!
//! Insufficient data is not evidence: a non-count metric whose samples are too small for the confidence
//! level to be reached is `Nodata` (or fails as `mustHaveData` says), never `High` or `Low`
//! ([`sufficiency`]).
//!
//! Settings: the Mann-Whitney judge's `judgeConfigurations` (`confidenceLevel`, default 0.98, whose
//! `(1 − level) / 2` = 1 % is also the one-sided level of the rate test, and `tolerance`, which applies to
//! non-count metrics only) and the per-metric keys of [`settings`]. Every result names its `test` in its
//! details. The judge is deterministic and runs natively as well as inside the component.

#![warn(missing_docs)]

pub mod counts;
pub mod dispersion;
pub mod rate_test;
pub mod settings;
pub mod sufficiency;

use coalmine_judge_sdk::{
    Detail, Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement, MetricResult, scoring,
};
use coalmine_mann_whitney::classifier as mann_whitney;
use coalmine_mann_whitney::config::JudgeConfig;

use crate::settings::MetricKind;

/// The name the judge registers under.
pub const NAME: &str = "coalmine-v1";

/// The `test` detail of a metric judged by the Mann-Whitney classifier.
pub const MANN_WHITNEY_TEST_NAME: &str = "mann-whitney";

/// Judges every pair of `request`: count metrics by the exact rate test, the others as the Mann-Whitney
/// judge does, then scores the results. An unknown metric name or an invalid setting (in
/// `judgeConfigurations` or a metric's `analysisConfigurations`) is a [`JudgeError::InvalidRequest`].
pub fn judge(request: &JudgeRequest) -> Result<Judgement, JudgeError> {
    let config = JudgeConfig::from_request(request)?;
    // Every metric's settings are checked before any pair is judged, even a metric without pairs.
    let kinds = request
        .metrics
        .iter()
        .map(|metric| Ok((metric.name.as_str(), MetricKind::of(metric)?)))
        .collect::<Result<Vec<_>, JudgeError>>()?;
    scoring::judge_each(request, |pair, metric| {
        // `judge_each` found `metric` by its name, so the first kind of that name is its own (never None).
        let kind = kinds
            .iter()
            .find(|(name, _)| *name == metric.name)
            .map(|(_, kind)| kind);
        Ok(match kind {
            Some(MetricKind::Counts(settings)) => {
                counts::classify(pair, metric, *settings, &config)
            }
            Some(MetricKind::Gauge) | None => {
                let mut result: MetricResult = mann_whitney::classify(pair, metric, &config);
                sufficiency::check(pair, metric, &config, &mut result);
                result
                    .details
                    .push(Detail::text("test", MANN_WHITNEY_TEST_NAME));
                result
            }
        })
    })
}

/// The component's implementation of the `judge` interface; natively, call [`judge`] directly.
pub struct CoalmineV1Judge;

impl Guest for CoalmineV1Judge {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Exact Poisson rate tests for count metrics (counts: true), Kayenta's Mann-Whitney \
                          test for the others, weighted group scores"
                    .into(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        crate::judge(&request)
    }
}

#[cfg(feature = "component")]
coalmine_judge_sdk::export_judge!(CoalmineV1Judge);
