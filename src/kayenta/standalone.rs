//! Kayenta's standalone canary analysis (`/standalone_canary_analysis`): the `CanaryAnalysisExecutionRequest`,
//! its translation into a native [`AnalysisSpec`] (the engine already schedules Kayenta's way: lifetime or end
//! time, warm-up, growing or sliding windows, control offset, fail-fast at or below the marginal threshold),
//! and the `CanaryAnalysisExecutionStatusResponse` with Kayenta's final decision and its messages to the
//! letter.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::canary_config::nullable;
use super::execution::{
    KayentaRun, Thresholds, canary_result, exception, orca_status, params, put_time,
};
use crate::analysis::spec::{AnalysisSpec, ScopeSpec, SideSpec};
use crate::store::{Analysis, AnalysisStatus, Interval};

/// Orca's warning when the control has fewer than 50 data points.
pub const LOW_DATA_WARNING: &str = "One of the metrics returned fewer than 50 data points, which can reduce \
                                    confidence in the final canary score.";

/// The message of an interval at or below the marginal threshold, which ends the analysis.
pub const INTERVAL_FAILED: &str = "Canary score is not above the marginal score threshold.";

/// The longest duration a `…Mins` field may give: a century, far past any sane canary (the server's
/// `[limits] max_lifetime` is the bound that matters), yet far from jiff's overflow.
const MAX_MINUTES: SignedDuration = SignedDuration::from_hours(100 * 366 * 24);

/// `POST /standalone_canary_analysis[/{canaryConfigId}]`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct CanaryAnalysisExecutionRequest {
    #[schema(value_type = Vec<AnalysisScope>, required = true, min_items = 1)]
    #[serde(default, deserialize_with = "nullable")]
    pub scopes: Vec<AnalysisScope>,
    #[serde(default)]
    #[schema(value_type = Thresholds, required = true)]
    pub thresholds: Option<Thresholds>,
    #[serde(default)]
    pub lifetime_duration_mins: Option<i64>,
    #[serde(default)]
    pub begin_after_mins: Option<i64>,
    #[serde(default)]
    pub lookback_mins: Option<i64>,
    #[serde(default)]
    pub analysis_interval_mins: Option<i64>,
}

/// `CanaryAnalysisExecutionRequestScope`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct AnalysisScope {
    #[serde(default)]
    pub scope_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub control_scope: Option<String>,
    #[serde(default)]
    pub control_location: Option<String>,
    #[serde(default)]
    pub control_offset_in_minutes: Option<i64>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub experiment_scope: Option<String>,
    #[serde(default)]
    pub experiment_location: Option<String>,
    #[serde(default)]
    pub start_time_iso: Option<Timestamp>,
    #[serde(default)]
    pub end_time_iso: Option<Timestamp>,
    /// Seconds; 60 when absent.
    #[serde(default)]
    pub step: Option<i64>,
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    #[serde(default, deserialize_with = "params")]
    pub extended_scope_params: BTreeMap<String, String>,
}

impl CanaryAnalysisExecutionRequest {
    /// The native analysis: start, end time and step from the first scope; with an end time it is
    /// retrospective over the whole minutes from start to end, else real time for the lifetime.
    pub fn to_spec(&self, account: Option<String>) -> Result<AnalysisSpec, String> {
        let first = self
            .scopes
            .first()
            .ok_or("Canary StageExecution configuration must contain at least one scope.")?;
        let thresholds = Thresholds::required(self.thresholds)?;
        let minutes = |value: Option<i64>, field: &str| -> Result<Option<SignedDuration>, String> {
            match value {
                Some(value) if value < 0 => {
                    Err(format!("{field} must not be negative, got {value}"))
                }
                Some(0) | None => Ok(None),
                Some(value) => SignedDuration::try_from_mins(value)
                    .filter(|duration| *duration <= MAX_MINUTES)
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "{field}: {value} minutes is more than this server represents ({} minutes)",
                            MAX_MINUTES.as_mins()
                        )
                    }),
            }
        };
        let offset = minutes(
            first.control_offset_in_minutes,
            "scopes[0].controlOffsetInMinutes",
        )?;
        let mut scopes = BTreeMap::new();
        for (index, scope) in self.scopes.iter().enumerate() {
            if minutes(scope.control_offset_in_minutes, "controlOffsetInMinutes")? != offset {
                return Err(format!(
                    "scopes[{index}].controlOffsetInMinutes: every scope must have the control offset of scopes[0]"
                ));
            }
            let name = scope
                .scope_name
                .clone()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "default".to_string());
            let side = |text: &Option<String>, location: &Option<String>, field: &str| {
                let text = text
                    .clone()
                    .filter(|text| !text.trim().is_empty())
                    .ok_or_else(|| format!("scopes[{index}].{field} is required"))?;
                Ok::<_, String>(SideSpec {
                    scope: text,
                    location: location.clone().unwrap_or_default(),
                    params: scope.extended_scope_params.clone(),
                    start: None,
                    end: None,
                })
            };
            let pair = ScopeSpec {
                control: side(
                    &scope.control_scope,
                    &scope.control_location,
                    "controlScope",
                )?,
                experiment: side(
                    &scope.experiment_scope,
                    &scope.experiment_location,
                    "experimentScope",
                )?,
            };
            if scopes.insert(name.clone(), pair).is_some() {
                return Err(format!(
                    "scopes[{index}].scopeName: '{name}' is given twice"
                ));
            }
        }
        let step = first.step.unwrap_or(60);
        if step < 1 {
            return Err(format!(
                "scopes[0].step must be at least 1 second, got {step}"
            ));
        }
        let lifetime = minutes(self.lifetime_duration_mins, "lifetimeDurationMins")?;
        let (start, end, lifetime) = match (first.end_time_iso, lifetime) {
            (Some(end), _) => {
                let start = first
                    .start_time_iso
                    .ok_or("scopes[0].startTimeIso is required with an endTimeIso")?;
                let whole = end.duration_since(start).as_mins();
                if whole < 1 {
                    return Err(format!(
                        "scopes[0]: endTimeIso ({end}) must be at least a minute after startTimeIso ({start})"
                    ));
                }
                let end = SignedDuration::try_from_mins(whole)
                    .and_then(|whole| start.checked_add(whole).ok())
                    .ok_or(
                        "scopes[0].endTimeIso: the window is longer than this server represents",
                    )?;
                (Some(start), Some(end), None)
            }
            (None, Some(lifetime)) => (first.start_time_iso, None, Some(lifetime)),
            (None, None) => {
                return Err(
                    "Canary StageExecution configuration must include either `endTime` or `lifetimeDuration`."
                        .to_string(),
                );
            }
        };
        Ok(AnalysisSpec {
            config: None,
            config_id: None,
            account,
            control: None,
            experiment: None,
            scopes,
            start,
            end,
            lifetime,
            interval: minutes(self.analysis_interval_mins, "analysisIntervalMins")?,
            warmup: minutes(self.begin_after_mins, "beginAfterMins")?,
            lookback: minutes(self.lookback_mins, "lookbackMins")?,
            step: Some(SignedDuration::from_secs(step)),
            thresholds,
            judge: None,
            control_offset: offset,
            early_pass: false,
            kayenta: None,
        })
    }
}

/// Java's `Double.toString`, which Kayenta's messages use: `100.0`, `87.5`, `1.0E-4`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&magnitude) {
        // Rust's shortest round-trip form, always with a fraction in this range.
        let text = format!("{x:?}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    let text = format!("{x:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// The final decision on the scores of the judged intervals, as `GenerateCanaryAnalysisResultTask` makes
/// it: whether the last score passed, and why.
pub fn final_decision(scores: &[f64], pass: f64, marginal: f64) -> (bool, String) {
    let Some(last) = scores.last().copied() else {
        return (
            false,
            "There were no successful canary judgements to aggregate".to_string(),
        );
    };
    let score = java_double(last);
    if crate::analysis::verdict::fails(last, super::ScoreThresholds { pass, marginal }) {
        (
            false,
            format!("Final canary score {score} is not above the marginal score threshold."),
        )
    } else if last < pass {
        (
            false,
            format!("Final canary score {score} is below the pass score threshold."),
        )
    } else {
        (
            true,
            format!("Final canary score {score} met or exceeded the pass score threshold."),
        )
    }
}

/// `GET /standalone_canary_analysis/{id}`'s CanaryAnalysisExecutionStatusResponse.
pub fn status_response(
    analysis: &Analysis,
    run: &KayentaRun,
    spec: &AnalysisSpec,
    intervals: &[Interval],
    planned: u32,
) -> Value {
    let thresholds = spec.thresholds;
    let failed_fast = intervals.iter().any(|interval| {
        crate::analysis::verdict::fails(interval.judge_result.score.score, thresholds)
    });
    let status = match analysis.status {
        AnalysisStatus::Completed if failed_fast => "terminal",
        other => orca_status(other),
    };
    let complete = analysis.status.is_finished();
    let low_data_exempt = run.metrics_account_type == "datadog";

    let mut results = Vec::new();
    for (number, interval) in (1..).zip(intervals) {
        let warnings: Vec<&str> = (!low_data_exempt
            && interval
                .judge_result
                .results
                .iter()
                .any(|result| result.control_metadata.stats.count < 50))
        .then_some(LOW_DATA_WARNING)
        .into_iter()
        .collect();
        let failed = crate::analysis::verdict::fails(interval.judge_result.score.score, thresholds);
        let mut result = Map::new();
        result.insert(
            "executionId".into(),
            json!(format!("{}-{number}", analysis.id)),
        );
        result.insert(
            "executionStatus".into(),
            json!(if failed { "TERMINAL" } else { "SUCCEEDED" }),
        );
        if failed {
            result.insert("canaryScoreMessage".into(), json!(INTERVAL_FAILED));
        }
        result.insert("result".into(), canary_result(interval));
        put_time(&mut result, "judgementStartTime", interval.start);
        put_time(&mut result, "judgementEndTime", interval.end);
        result.insert("warnings".into(), json!(warnings));
        put_time(&mut result, "buildTime", interval.judged_at);
        put_time(&mut result, "startTime", interval.judged_at);
        put_time(&mut result, "endTime", interval.judged_at);
        result.insert("storageAccountName".into(), json!(run.storage_account_name));
        result.insert(
            "configurationAccountName".into(),
            json!(run.configuration_account_name),
        );
        results.push(Value::Object(result));
    }
    let has_warnings = results
        .iter()
        .any(|result| result["warnings"].as_array().is_some_and(|w| !w.is_empty()));

    let mut stages = Vec::new();
    for number in 1..=planned {
        let stage = match intervals.get(number as usize - 1) {
            Some(interval)
                if crate::analysis::verdict::fails(
                    interval.judge_result.score.score,
                    thresholds,
                ) =>
            {
                "terminal"
            }
            Some(_) => "succeeded",
            None if analysis.status == AnalysisStatus::Running
                && number as usize == intervals.len() + 1 =>
            {
                "running"
            }
            None if analysis.status == AnalysisStatus::Error
                && number as usize == intervals.len() + 1 =>
            {
                "terminal"
            }
            None => "not_started",
        };
        stages.push(json!({
            "type": "runCanary",
            "name": format!("Run Canary #{number}"),
            "status": stage,
            "executionId": format!("{}-{number}", analysis.id),
        }));
    }

    let mut response = Map::new();
    response.insert("application".into(), json!(run.application));
    response.insert(
        "user".into(),
        json!(run.user.as_deref().unwrap_or("anonymous")),
    );
    if let Some(parent) = &run.parent_pipeline_execution_id {
        response.insert("parentPipelineExecutionId".into(), json!(parent));
    }
    response.insert("pipelineId".into(), json!(analysis.id));
    response.insert("stageStatus".into(), json!(stages));
    response.insert("complete".into(), json!(complete));
    response.insert("executionStatus".into(), json!(status.to_ascii_uppercase()));
    response.insert("status".into(), json!(status));
    if let Some(error) = &analysis.error {
        response.insert("exception".into(), exception(error));
    }
    if complete {
        let scores: Vec<f64> = intervals
            .iter()
            .map(|interval| interval.judge_result.score.score)
            .collect();
        let (passed, message) = final_decision(&scores, thresholds.pass, thresholds.marginal);
        let mut result = Map::new();
        result.insert("didPassThresholds".into(), json!(passed));
        result.insert("hasWarnings".into(), json!(has_warnings));
        result.insert("canaryScoreMessage".into(), json!(message));
        result.insert(
            "canaryScores".into(),
            Value::Array(
                scores
                    .iter()
                    .map(|score| super::numbers::to_json(*score))
                    .collect(),
            ),
        );
        result.insert("canaryExecutionResults".into(), json!(results));
        put_time(&mut result, "buildTime", analysis.created);
        put_time(&mut result, "startTime", analysis.created);
        put_time(&mut result, "endTime", analysis.updated);
        response.insert(
            "canaryAnalysisExecutionResult".into(),
            Value::Object(result),
        );
    }
    response.insert("canaryAnalysisExecutionRequest".into(), run.request.clone());
    response.insert("canaryConfig".into(), json!(analysis.config));
    response.insert("canaryConfigId".into(), json!(run.canary_config_id));
    put_time(&mut response, "buildTime", analysis.created);
    put_time(&mut response, "startTime", analysis.created);
    if complete {
        put_time(&mut response, "endTime", analysis.updated);
    }
    response.insert("storageAccountName".into(), json!(run.storage_account_name));
    response.insert("metricsAccountName".into(), json!(run.metrics_account_name));
    Value::Object(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_written_as_java_writes_doubles() {
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(87.5), "87.5");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(50.0), "50.0");
        assert_eq!(java_double(66.67), "66.67");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
    }

    #[test]
    fn the_final_decision_reads_the_last_score_with_kayentas_boundaries() {
        assert_eq!(
            final_decision(&[], 75.0, 50.0),
            (
                false,
                "There were no successful canary judgements to aggregate".into()
            )
        );
        assert_eq!(
            final_decision(&[100.0, 50.0], 75.0, 50.0),
            (
                false,
                "Final canary score 50.0 is not above the marginal score threshold.".into()
            )
        );
        assert_eq!(
            final_decision(&[60.0], 75.0, 50.0),
            (
                false,
                "Final canary score 60.0 is below the pass score threshold.".into()
            )
        );
        assert_eq!(
            final_decision(&[0.0, 75.0], 75.0, 50.0),
            (
                true,
                "Final canary score 75.0 met or exceeded the pass score threshold.".into()
            )
        );
    }

    fn request(body: Value) -> Result<AnalysisSpec, String> {
        serde_json::from_value::<CanaryAnalysisExecutionRequest>(body)
            .unwrap()
            .to_spec(None)
    }

    #[test]
    fn an_end_time_is_retrospective_over_whole_minutes_and_a_lifetime_is_real_time() {
        let spec = request(json!({
            "scopes": [{"controlScope": "a", "experimentScope": "b", "controlOffsetInMinutes": 5,
                        "startTimeIso": "2026-01-01T10:00:00Z", "endTimeIso": "2026-01-01T11:00:30Z"}],
            "thresholds": {"pass": 75, "marginal": 50},
            "analysisIntervalMins": 20, "lookbackMins": 10
        }))
        .unwrap();
        assert_eq!(spec.end.unwrap().to_string(), "2026-01-01T11:00:00Z");
        assert_eq!(spec.interval, Some(SignedDuration::from_mins(20)));
        assert_eq!(spec.lookback, Some(SignedDuration::from_mins(10)));
        assert_eq!(spec.control_offset, Some(SignedDuration::from_mins(5)));
        assert!(!spec.is_real_time());

        let spec = request(json!({
            "scopes": [{"controlScope": "a", "experimentScope": "b"}],
            "thresholds": {"pass": 75, "marginal": 50},
            "lifetimeDurationMins": 30, "beginAfterMins": 3
        }))
        .unwrap();
        assert!(spec.is_real_time());
        assert_eq!(spec.warmup, Some(SignedDuration::from_mins(3)));
    }

    #[test]
    fn setup_errors_are_kayentas() {
        assert_eq!(
            request(json!({"scopes": [], "thresholds": {"pass": 75, "marginal": 50}})).unwrap_err(),
            "Canary StageExecution configuration must contain at least one scope."
        );
        assert_eq!(
            request(
                json!({"scopes": [{"controlScope": "a", "experimentScope": "b"}],
                           "thresholds": {"pass": 75, "marginal": 50}})
            )
            .unwrap_err(),
            "Canary StageExecution configuration must include either `endTime` or `lifetimeDuration`."
        );
    }

    #[test]
    fn minutes_past_what_the_server_represents_name_the_field() {
        for (field, scope_field) in [
            ("lifetimeDurationMins", false),
            ("lookbackMins", false),
            ("beginAfterMins", false),
            ("analysisIntervalMins", false),
            ("controlOffsetInMinutes", true),
        ] {
            for minutes in [i64::MAX, 60_000_000_000, 1_000_000_000 * 60] {
                let mut body = json!({
                    "scopes": [{"controlScope": "a", "experimentScope": "b"}],
                    "thresholds": {"pass": 75, "marginal": 50},
                    "lifetimeDurationMins": 30
                });
                if scope_field {
                    body["scopes"][0][field] = json!(minutes);
                } else {
                    body[field] = json!(minutes);
                }
                let error = request(body).unwrap_err();
                assert!(error.contains(field), "{field}: {error}");
                assert!(
                    error.contains("more than this server represents"),
                    "{error}"
                );
            }
        }
    }
}
