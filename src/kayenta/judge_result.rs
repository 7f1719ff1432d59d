//! Kayenta's `CanaryJudgeResult`: the judge's answer as Kayenta's clients read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::numbers;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryJudgeResult {
    pub judge_name: String,
    /// One result per metric set pair.
    pub results: Vec<CanaryAnalysisResult>,
    pub group_scores: Vec<CanaryJudgeGroupScore>,
    pub score: CanaryJudgeScore,
}

/// The judgement of one metric set pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysisResult {
    pub name: String,
    pub id: String,
    pub tags: BTreeMap<String, String>,
    /// `Pass`, `High`, `Low`, `Nodata`, `NodataFailMetric` or `Error`.
    pub classification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_reason: Option<String>,
    pub groups: Vec<String>,
    pub experiment_metadata: SideMetadata,
    pub control_metadata: SideMetadata,
    /// The judge's explanation, e.g. `ratio`, `confidenceInterval`, `pValue`. Absent when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_metadata: Option<Map<String, Value>>,
    pub critical: bool,
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SideMetadata {
    pub stats: Stats,
}

/// Summary statistics of the values a side was judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub min: f64,
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub max: f64,
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub mean: f64,
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub std: f64,
    pub count: u64,
}

/// A group's score. `classification` and `classificationReason` are always `""`, as in Kayenta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryJudgeGroupScore {
    pub name: String,
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub score: f64,
    pub classification: String,
    pub classification_reason: String,
}

/// The canary's score and its classification: `Pass`, `Marginal` or `Fail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryJudgeScore {
    #[serde(
        serialize_with = "numbers::serialize",
        deserialize_with = "numbers::deserialize_value"
    )]
    #[schema(value_type = numbers::Double)]
    pub score: f64,
    pub classification: String,
    pub classification_reason: String,
}
