//! What a config or a result should tell its user although nothing failed: metrics whose queries matched no
//! series (classified `Nodata`, which Kayenta lets pass), and the options to make such metrics fail: a
//! config-level default `mustHaveData: true` (beside `metrics`) for every metric that does not set its own,
//! and `coalmine analyze --fail-on-no-data`.

use serde_json::Value;

use super::CanaryJudgeResult;
use super::canary_config::{CanaryConfig, MetricConfig};
use crate::display::metric_label;

/// The config-level default of `mustHaveData` (a top-level `mustHaveData`, which Kayenta does not have),
/// or a message when it is not a boolean.
pub fn must_have_data_default(config: &CanaryConfig) -> Result<Option<bool>, String> {
    match config.other.get("mustHaveData") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(format!(
            "mustHaveData must be true or false (a JSON boolean), got {other}"
        )),
    }
}

/// Whether `metric` sets `analysisConfigurations.canary.mustHaveData` itself.
pub fn sets_must_have_data(metric: &MetricConfig) -> bool {
    metric
        .analysis_configurations()
        .and_then(|settings| settings.get("canary"))
        .and_then(|canary| canary.get("mustHaveData"))
        .is_some_and(|flag| !flag.is_null())
}

/// One warning per metric result classified `Nodata`, naming the metric and the queries that matched no
/// series (`queries` as [`crate::analysis::queries_json`] writes them).
pub fn no_data(result: &CanaryJudgeResult, queries: &Value) -> Vec<String> {
    result
        .results
        .iter()
        .filter(|metric| metric.classification == "Nodata")
        .map(|metric| {
            let empty: Vec<String> = queries
                .as_array()
                .into_iter()
                .flatten()
                .filter(|query| query["metric"] == metric.name.as_str())
                .filter(|query| query["points"].as_u64() == Some(0))
                .map(|query| {
                    format!(
                        "{} query `{}`",
                        query["side"].as_str().unwrap_or("a"),
                        query["query"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            let insufficient = metric
                .result_metadata
                .as_ref()
                .and_then(|metadata| metadata.get("insufficientData"))
                == Some(&Value::Bool(true));
            let which = if insufficient {
                // Data too few to judge (coalmine-v1), not missing: the judge's reason says so.
                metric.classification_reason.clone().unwrap_or_default()
            } else if empty.is_empty() {
                "no data".to_string()
            } else {
                format!("no data: the {} returned no data", empty.join(" and the "))
            };
            format!(
                "metric {}: {which}; classified Nodata, which does not fail the canary \
                 (set mustHaveData to make it fail)",
                metric_label(metric)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_data_is_told_by_the_judge_s_reason_not_as_no_data() {
        let stats =
            serde_json::json!({"stats": {"min": 1, "max": 1, "mean": 1, "std": 0, "count": 1}});
        let result: CanaryJudgeResult = serde_json::from_value(serde_json::json!({
            "judgeName": "coalmine-v1",
            "results": [{
                "name": "latency", "id": "0", "tags": {}, "classification": "Nodata",
                "classificationReason": "Insufficient data for latency: too few points",
                "groups": [], "experimentMetadata": stats, "controlMetadata": stats,
                "resultMetadata": {"insufficientData": true}, "critical": false, "muted": false
            }],
            "groupScores": [],
            "score": {"score": 100.0, "classification": "Pass", "classificationReason": ""}
        }))
        .unwrap();
        assert_eq!(
            no_data(&result, &serde_json::json!([])),
            [
                "metric latency: Insufficient data for latency: too few points; classified Nodata, which does \
              not fail the canary (set mustHaveData to make it fail)"
            ]
        );
    }

    #[test]
    fn the_config_level_default_is_a_boolean_and_a_metric_may_override_it() {
        let config: CanaryConfig = serde_json::from_value(serde_json::json!({
            "mustHaveData": true,
            "metrics": [
                {"name": "a"},
                {"name": "b", "analysisConfigurations": {"canary": {"mustHaveData": false}}},
                {"name": "c", "extensions": {"canary": {"mustHaveData": null}}},
            ]
        }))
        .unwrap();
        assert_eq!(must_have_data_default(&config), Ok(Some(true)));
        let sets: Vec<bool> = config.metrics.iter().map(sets_must_have_data).collect();
        assert_eq!(sets, [false, true, false]);
        let mut wrong = config.clone();
        wrong
            .other
            .insert("mustHaveData".into(), Value::from("yes"));
        assert!(
            must_have_data_default(&wrong)
                .unwrap_err()
                .starts_with("mustHaveData must be")
        );
        assert_eq!(must_have_data_default(&CanaryConfig::default()), Ok(None));
    }
}
