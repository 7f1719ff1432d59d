//! Kayenta's canary config (`CanaryConfig`): the metrics to compare, their queries and analysis settings,
//! the judge, and the group weights.
//!
//! Fields coalmine does not interpret are kept in `other`, so a config round-trips unchanged.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub applications: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeConfig>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_items = 1)]
    pub metrics: Vec<MetricConfig>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub templates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierConfig>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `judge`: which judge decides, and its settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JudgeConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub judge_configurations: Map<String, Value>,
}

/// One metric of a canary config (`CanaryMetricConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricConfig {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(required = true, min_length = 1)]
    pub name: String,
    /// The provider-specific query (`type`: `prometheus`, `datadog`, …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub query: Value,
    #[serde(default, deserialize_with = "nullable")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_configurations: Option<Map<String, Value>>,
    /// The name legacy configs use for `analysisConfigurations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_name: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `classifier`: group weights (and score thresholds, which Kayenta ignores in favour of the request's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassifierConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub group_weights: BTreeMap<String, f64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl MetricConfig {
    /// `analysisConfigurations`, or legacy `extensions` when only that is present.
    pub fn analysis_configurations(&self) -> Option<&Map<String, Value>> {
        self.analysis_configurations
            .as_ref()
            .or(self.extensions.as_ref())
    }
}

impl CanaryConfig {
    /// The judge the config names, if any (`judge.name`).
    pub fn judge_name(&self) -> Option<&str> {
        self.judge
            .as_ref()
            .map(|judge| judge.name.as_str())
            .filter(|name| !name.is_empty())
    }

    /// Checks what judging needs, with Kayenta's messages where Kayenta has one.
    pub fn validate_for_judging(&self) -> Result<(), String> {
        if self.metrics.is_empty() {
            return Err(
                "The canary config must specify at least one metric. Otherwise we're not analyzing anything. :)"
                    .to_string(),
            );
        }
        let mut seen = BTreeSet::new();
        for (index, metric) in self.metrics.iter().enumerate() {
            if metric.name.trim().is_empty() {
                return Err(format!("metrics[{index}].name must not be empty"));
            }
            if !seen.insert(metric.name.as_str()) {
                return Err(format!(
                    "Metric config name must be unique. '{}' is duplicated.",
                    metric.name
                ));
            }
        }
        if let Some(classifier) = &self.classifier {
            for (group, weight) in &classifier.group_weights {
                if !weight.is_finite() || *weight < 0.0 {
                    return Err(format!(
                        "classifier.groupWeights.{group} must be a number of at least 0, got {weight}"
                    ));
                }
            }
            // Kayenta shares what the weights leave of 100 among the groups without one; weights over
            // 100 would leave them a negative share.
            let total: f64 = classifier.group_weights.values().sum();
            if total > 100.0 + 1e-9 {
                let (heaviest, weight) = classifier
                    .group_weights
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(group, weight)| (group.as_str(), *weight))
                    .unwrap_or_default();
                return Err(format!(
                    "classifier.groupWeights: the weights total {total}, more than 100 (the heaviest is \
                     classifier.groupWeights.{heaviest} = {weight}); they must total at most 100"
                ));
            }
        }
        Ok(())
    }
}

/// Reads `null` as the default value, as Jackson does for absent collections.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
