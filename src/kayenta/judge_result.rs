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
    /// coalmine's addition: whether the judgement is final, from a judge that exports the optional `decision`
    /// interface. Absent for every other judge, so Kayenta's clients see Kayenta's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<JudgeDecision>,
}

/// Whether a judgement is final, as its judge says (the WIT's `decision` interface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JudgeDecision {
    pub finality: Finality,
    /// The judge's words, e.g. `every metric is final and harmless`.
    pub reason: String,
    /// Why the analysis stopped at this interval because of the decision, set by the engine on the interval
    /// that ended it early, e.g. `stopped early at interval 4 of 12: every metric is final and harmless`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// `open`: more data may change the judgement; `regression`: a failure is established; `harmless`: every
/// metric's interval already excludes harmful effects beyond its allowed effect size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Finality {
    Open,
    Regression,
    Harmless,
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
