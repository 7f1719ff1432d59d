//! coalmine's built-in judge, `mann-whitney`: Kayenta's NetflixACAJudge-v1.0, rule for rule, as a
//! WebAssembly component (the host also registers it under Kayenta's name,
//! `NetflixACAJudge-v1.0`).
//!
//! Each metric pair is preprocessed, summarised and classified by a Mann-Whitney test of the
//! experiment against the control ([`classifier`]); the results are scored with Kayenta's group
//! weights, overrides and thresholds ([`coalmine_judge_sdk::scoring`]). Where Kayenta is random,
//! hard-coded or terse, this judge is deterministic, configurable and explains itself:
//!
//! 1. the point estimate is R's (no continuity correction), see [`stats::mann_whitney`];
//! 2. two constant samples get a deterministic answer instead of random noise;
//! 3. `judgeConfigurations.confidenceLevel` and `.tolerance` are honoured ([`config`]);
//! 4. every compared result carries its ratio, estimate, confidence interval and level, p-value
//!    and effect size as `details`.
//!
//! The statistics are plain Rust: [`judge`] runs natively as well as inside the component.

#![warn(missing_docs)]

pub mod classifier;
pub mod config;
pub mod stats;

use coalmine_judge_sdk::{Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement, scoring};

use crate::config::JudgeConfig;

/// The name the judge registers under.
pub const NAME: &str = "mann-whitney";

/// Judges every pair of `request`: classifies each against its metric's configuration and scores
/// the results. An unknown metric name or an invalid `judgeConfigurations` setting is a
/// [`JudgeError::InvalidRequest`].
pub fn judge(request: &JudgeRequest) -> Result<Judgement, JudgeError> {
    let config = JudgeConfig::from_request(request)?;
    scoring::judge_each(request, |pair, metric| {
        Ok(classifier::classify(pair, metric, &config))
    })
}

/// The component's implementation of the `judge` interface; natively, call [`judge`] directly.
pub struct MannWhitneyJudge;

impl Guest for MannWhitneyJudge {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Kayenta's NetflixACAJudge-v1.0: a Mann-Whitney test per metric, weighted group scores"
                .into(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        crate::judge(&request)
    }
}

#[cfg(feature = "component")]
coalmine_judge_sdk::export_judge!(MannWhitneyJudge);
