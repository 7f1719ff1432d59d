//! Kayenta's RemoteJudge request, `{canaryConfig, metricSetPairList, scoreThresholds}`: what Kayenta posts to
//! an external judge, and what `coalmine judge` reads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::canary_config::CanaryConfig;
use super::metric_set_pair::MetricSetPair;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJudgeRequest {
    pub canary_config: CanaryConfig,
    pub metric_set_pair_list: Vec<MetricSetPair>,
    pub score_thresholds: ScoreThresholds,
}

/// Score thresholds (`CanaryClassifierThresholdsConfig`): ≥ `pass` passes, ≥ `marginal` is marginal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreThresholds {
    #[schema(minimum = 0, maximum = 100)]
    pub pass: f64,
    #[schema(minimum = 0, maximum = 100)]
    pub marginal: f64,
}

impl ScoreThresholds {
    /// Checks 0 ≤ marginal ≤ pass ≤ 100; `what` names the thresholds in the message.
    pub fn validate(&self, what: &str) -> Result<(), String> {
        let ScoreThresholds { pass, marginal } = *self;
        if !(0.0..=100.0).contains(&pass) || !(0.0..=100.0).contains(&marginal) {
            return Err(format!(
                "{what}: pass ({pass}) and marginal ({marginal}) must be numbers from 0 to 100"
            ));
        }
        if marginal > pass {
            return Err(format!(
                "{what}: marginal ({marginal}) must not be above pass ({pass})"
            ));
        }
        Ok(())
    }
}
