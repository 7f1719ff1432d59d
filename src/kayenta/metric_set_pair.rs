//! Kayenta's `MetricSetPair`: one metric series of the control beside the experiment's series with the same
//! tags, as Kayenta's mixer produces it and its RemoteJudge sends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::numbers;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSetPair {
    /// The metric's name in the canary config.
    pub name: String,
    /// Unique within a pair list; Kayenta uses a random UUID.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub values: PairValues,
    #[serde(default)]
    pub scopes: PairScopes,
    /// Per side (`control`, `experiment`): e.g. the `query` that fetched it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, BTreeMap<String, Value>>,
}

/// The values of both sides. Missing values are NaN (`null` or `"NaN"` on the wire, or absent at the end).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PairValues {
    #[serde(
        deserialize_with = "numbers::deserialize_values",
        serialize_with = "numbers::serialize_values"
    )]
    #[schema(value_type = Vec<numbers::Double>)]
    pub control: Vec<f64>,
    #[serde(
        deserialize_with = "numbers::deserialize_values",
        serialize_with = "numbers::serialize_values"
    )]
    #[schema(value_type = Vec<numbers::Double>)]
    pub experiment: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PairScopes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<PairScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<PairScope>,
}

/// When a side's values start and how far apart they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_iso: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_millis: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_millis: Option<i64>,
}
