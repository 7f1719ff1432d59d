//! Kayenta's `/canary` run: the `CanaryExecutionRequest` its clients send (Argo Rollouts' `kayenta` provider,
//! Spinnaker's `kayentaCanary` stage), its translation into coalmine's [`AnalysisSpec`], and the
//! `CanaryExecutionStatusResponse` they poll.
//!
//! A `/canary` run is one judgement over the scopes' window: a retrospective analysis of the native engine,
//! stored with [`KayentaRun`] beside it so that the status response can echo what Kayenta echoes.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use super::canary_config::nullable;
use super::instant_iso;
use super::remote_judge::ScoreThresholds;
use crate::analysis::spec::{AnalysisSpec, ScopeSpec, SideSpec};
use crate::kayenta::CanaryConfig;
use crate::store::{Analysis, AnalysisStatus, Interval};

/// The name of coalmine's built-in account, which serves as Kayenta's configuration and object store.
pub const BUILT_IN_STORE_ACCOUNT: &str = "coalmine";

/// The application of a run whose caller named none (Kayenta: `kayenta-` and its instance id).
pub const DEFAULT_APPLICATION: &str = "kayenta-coalmine";

/// The application `GET /canary/executions` lists when none is given, and of ad hoc runs.
pub const AD_HOC: &str = "ad-hoc";

/// `POST /canary/{canaryConfigId}`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct CanaryExecutionRequest {
    #[schema(value_type = BTreeMap<String, CanaryScopePair>, required = true)]
    #[serde(default, deserialize_with = "nullable")]
    pub scopes: BTreeMap<String, CanaryScopePair>,
    #[serde(default)]
    #[schema(value_type = Thresholds, required = true)]
    pub thresholds: Option<Thresholds>,
}

/// `{controlScope, experimentScope}` of one scope name.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct CanaryScopePair {
    pub control_scope: CanaryScope,
    pub experiment_scope: CanaryScope,
}

/// One side of a canary (`CanaryScope`). Argo Rollouts sends `region` where Kayenta reads `location`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct CanaryScope {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub scope: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    #[schema(value_type = Timestamp, required = true)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Timestamp, required = true)]
    pub end: Option<Timestamp>,
    /// Seconds between data points; 60 when absent.
    #[serde(default)]
    pub step: Option<u64>,
    /// Null values are dropped, as Kayenta's templates cannot use them.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    #[serde(default, deserialize_with = "params")]
    pub extended_scope_params: BTreeMap<String, String>,
}

/// The window of a scope that gives no times (Argo Rollouts before 1.9 sends its template's empty default
/// `""`, read as absent): the last five minutes, ending now, which is what Argo Rollouts 1.9 sends for the
/// example template's `interval: 5m`, and the Flagger webhook's default `lookback`.
pub const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_mins(5);

impl CanaryExecutionRequest {
    /// Gives each scope without an `end` the end `now`, and each without a `start` the start
    /// [`DEFAULT_WINDOW`] before its end.
    pub fn default_times(&mut self, now: Timestamp) {
        for pair in self.scopes.values_mut() {
            for scope in [&mut pair.control_scope, &mut pair.experiment_scope] {
                let end = *scope.end.get_or_insert(now);
                if scope.start.is_none() {
                    scope.start = end.checked_sub(DEFAULT_WINDOW).ok();
                }
            }
        }
    }
}

/// `{pass, marginal}`: doubles in Kayenta, integers from Argo Rollouts and Spinnaker.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub struct Thresholds {
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 100)]
    pub pass: Option<f64>,
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 100)]
    pub marginal: Option<f64>,
}

impl Thresholds {
    /// Both thresholds, as judging needs them; `where_` names the field in the message.
    pub fn required(thresholds: Option<Thresholds>) -> Result<ScoreThresholds, String> {
        let thresholds = thresholds.ok_or("Execution request must contain thresholds")?;
        match (thresholds.pass, thresholds.marginal) {
            (Some(pass), Some(marginal)) => {
                let thresholds = ScoreThresholds { pass, marginal };
                thresholds.validate("thresholds")?;
                Ok(thresholds)
            }
            (None, _) => Err("thresholds.pass is required".to_string()),
            (_, None) => Err("thresholds.marginal is required".to_string()),
        }
    }
}

/// Which Kayenta API started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunKind {
    /// `POST /canary`: one judgement.
    Canary,
    /// `POST /standalone_canary_analysis`: judgements over a lifetime.
    Standalone,
}

/// What a Kayenta run keeps beside its analysis: how it was asked for, to echo in its status response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KayentaRun {
    pub kind: RunKind,
    pub application: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pipeline_execution_id: Option<String>,
    /// The stored config's id, or `ad-hoc`.
    pub canary_config_id: String,
    pub metrics_account_name: String,
    pub configuration_account_name: String,
    pub storage_account_name: String,
    /// The metrics account's kind (`prometheus`, `datadog`): Datadog runs get no low-data warning.
    pub metrics_account_type: String,
    /// The execution request as received.
    pub request: Value,
}

impl KayentaRun {
    /// The run stored in `analysis`, if Kayenta's API started it.
    pub fn of(analysis: &Analysis) -> Option<KayentaRun> {
        serde_json::from_value(analysis.request.get("kayenta")?.clone()).ok()
    }
}

/// The query parameters Kayenta's run endpoints take.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    pub application: Option<String>,
    pub parent_pipeline_execution_id: Option<String>,
    pub metrics_account_name: Option<String>,
    pub configuration_account_name: Option<String>,
    pub storage_account_name: Option<String>,
    pub user: Option<String>,
}

impl RunParams {
    /// Any configuration or storage account is accepted (users' templates name their own S3 or GCS
    /// accounts) and served from the built-in store; the name given is echoed.
    pub fn store_accounts(&self) -> (String, String) {
        let or_built_in = |name: &Option<String>| {
            name.clone()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| BUILT_IN_STORE_ACCOUNT.to_string())
        };
        (
            or_built_in(&self.configuration_account_name),
            or_built_in(&self.storage_account_name),
        )
    }
}

impl CanaryExecutionRequest {
    /// The native analysis of this request: one judgement over the experiment's window (every scope name's
    /// experiment shares one, which is what every client sends) against each control over its own window:
    /// the same length ending `controlOffset` earlier when every control is so, else the control's own
    /// `start` and `end`, as Kayenta judges each side over its own window.
    pub fn to_spec(
        &self,
        account: Option<String>,
        config: &CanaryConfig,
    ) -> Result<AnalysisSpec, String> {
        let thresholds = Thresholds::required(self.thresholds)?;
        let missing: std::collections::BTreeSet<&str> = config
            .metrics
            .iter()
            .map(|metric| metric.scope_name.as_deref().unwrap_or("default"))
            .filter(|name| !self.scopes.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Canary metrics require scopes which were not provided in the execution request: [{}]",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        // The experiments' windows are the analysis's; each control is judged over its own window, which
        // becomes a control offset when every control is as long as its experiment and ends the same time
        // earlier (what most clients send), and the control's own start and end otherwise.
        let mut window: Option<(Timestamp, Timestamp, u64, String)> = None;
        let mut offsets = std::collections::BTreeSet::new();
        let mut scopes = BTreeMap::new();
        for (name, pair) in &self.scopes {
            let experiment = times(&pair.experiment_scope, name, "experimentScope")?;
            let control = times(&pair.control_scope, name, "controlScope")?;
            for (side, (start, end)) in [("experimentScope", experiment), ("controlScope", control)]
            {
                if end <= start {
                    return Err(format!(
                        "scopes.{name}.{side}: end ({end}) must be after start ({start})"
                    ));
                }
            }
            let offset = experiment.1.duration_since(control.1);
            let same_length =
                control.1.duration_since(control.0) == experiment.1.duration_since(experiment.0);
            offsets.insert((same_length && !offset.is_negative()).then_some(offset));
            let step = pair.experiment_scope.step.unwrap_or(60);
            let this = (experiment.0, experiment.1, step, name.clone());
            match &window {
                None => window = Some(this),
                Some(first) if (first.0, first.1, first.2) == (this.0, this.1, this.2) => {}
                Some(first) => {
                    return Err(format!(
                        "scopes.{name}.experimentScope: every scope name's experiment must have the same \
                         start, end and step as scopes.{}'s",
                        first.3
                    ));
                }
            }
            let mut control_side = side(&pair.control_scope, name, "controlScope")?;
            (control_side.start, control_side.end) = (Some(control.0), Some(control.1));
            scopes.insert(
                name.clone(),
                ScopeSpec {
                    control: control_side,
                    experiment: side(&pair.experiment_scope, name, "experimentScope")?,
                },
            );
        }
        let Some((start, end, step, _)) = window else {
            return Err("scopes: the execution request has no scopes".to_string());
        };
        let offset = match offsets.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(offset)] => {
                for scope in scopes.values_mut() {
                    (scope.control.start, scope.control.end) = (None, None);
                }
                *offset
            }
            _ => SignedDuration::ZERO,
        };
        Ok(AnalysisSpec {
            config: None,
            config_id: None,
            account,
            control: None,
            experiment: None,
            scopes,
            start: Some(start),
            end: Some(end),
            lifetime: None,
            interval: None,
            warmup: None,
            lookback: None,
            step: Some(SignedDuration::from_secs(
                i64::try_from(step).map_err(|_| format!("step {step} is too large"))?,
            )),
            thresholds,
            judge: None,
            control_offset: (!offset.is_zero()).then_some(offset),
            early_pass: false,
            kayenta: None,
        })
    }
}

/// A scope's start and end, both required.
fn times(scope: &CanaryScope, name: &str, side: &str) -> Result<(Timestamp, Timestamp), String> {
    match (scope.start, scope.end) {
        (Some(start), Some(end)) => Ok((start, end)),
        (None, _) => Err(format!(
            "scopes.{name}.{side}.start is required (an ISO-8601 instant)"
        )),
        (_, None) => Err(format!(
            "scopes.{name}.{side}.end is required (an ISO-8601 instant)"
        )),
    }
}

fn side(scope: &CanaryScope, name: &str, side: &str) -> Result<SideSpec, String> {
    let location = scope
        .location
        .clone()
        .filter(|location| !location.is_empty())
        .or_else(|| scope.region.clone())
        .unwrap_or_default();
    let Some(text) = scope.scope.clone().filter(|text| !text.trim().is_empty()) else {
        return Err(format!("scopes.{name}.{side}.scope is required"));
    };
    Ok(SideSpec {
        scope: text,
        location,
        params: scope.extended_scope_params.clone(),
        start: None,
        end: None,
    })
}

/// Kayenta's lowercased Orca status of an analysis.
pub fn orca_status(status: AnalysisStatus) -> &'static str {
    match status {
        AnalysisStatus::Pending => "not_started",
        AnalysisStatus::Running => "running",
        AnalysisStatus::Completed => "succeeded",
        AnalysisStatus::Error => "terminal",
        AnalysisStatus::Cancelled => "canceled",
    }
}

/// Orca's shape of an error: `{"details": {"errors": [message]}}`.
pub fn exception(message: &str) -> Value {
    json!({"details": {"errors": [message]}})
}

/// A time in Kayenta's two forms, `<name>Millis` and `<name>Iso`, added to `object`.
pub fn put_time(object: &mut Map<String, Value>, name: &str, time: Timestamp) {
    object.insert(format!("{name}Millis"), json!(time.as_millisecond()));
    object.insert(format!("{name}Iso"), json!(instant_iso(time)));
}

/// `result` of a judged interval: `{judgeResult, canaryDuration}`.
pub fn canary_result(interval: &Interval) -> Value {
    json!({
        "judgeResult": interval.judge_result,
        "canaryDuration": interval.end.duration_since(interval.start).to_string(),
    })
}

/// `GET /canary/{id}`'s CanaryExecutionStatusResponse of a `/canary` run.
pub fn status_response(analysis: &Analysis, run: &KayentaRun, intervals: &[Interval]) -> Value {
    let status = orca_status(analysis.status);
    let complete = analysis.status.is_finished();
    let stage = |done: &'static str| match analysis.status {
        AnalysisStatus::Pending => "not_started",
        AnalysisStatus::Running => done,
        other => orca_status(other),
    };
    let mut response = Map::new();
    response.insert("application".into(), json!(run.application));
    if let Some(parent) = &run.parent_pipeline_execution_id {
        response.insert("parentPipelineExecutionId".into(), json!(parent));
    }
    response.insert("pipelineId".into(), json!(analysis.id));
    response.insert(
        "stageStatus".into(),
        json!({
            "setupContext": if analysis.status == AnalysisStatus::Pending { "not_started" } else { "succeeded" },
            "fetchControl0": stage("running"),
            "fetchExperiment0": stage("running"),
            "mixMetrics": stage("not_started"),
            "judge": stage("not_started"),
        }),
    );
    response.insert("complete".into(), json!(complete));
    response.insert("status".into(), json!(status));
    if let Some(error) = &analysis.error {
        response.insert("exception".into(), exception(error));
    }
    if analysis.status == AnalysisStatus::Completed
        && let Some(interval) = intervals.last()
    {
        response.insert("result".into(), canary_result(interval));
    }
    response.insert("config".into(), json!(analysis.config));
    response.insert("canaryConfigId".into(), json!(run.canary_config_id));
    response.insert("canaryExecutionRequest".into(), run.request.clone());
    put_time(&mut response, "buildTime", analysis.created);
    put_time(&mut response, "startTime", analysis.created);
    if complete {
        put_time(&mut response, "endTime", analysis.updated);
    }
    response.insert("storageAccountName".into(), json!(run.storage_account_name));
    response.insert("metricsAccountName".into(), json!(run.metrics_account_name));
    response.insert(
        "configurationAccountName".into(),
        json!(run.configuration_account_name),
    );
    Value::Object(response)
}

/// `extendedScopeParams`, dropping null values (Spinnaker sends some).
pub(crate) fn params<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let params = Option::<BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
    Ok(params
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CanaryConfig {
        serde_json::from_value(json!({
            "name": "c", "applications": ["a"],
            "metrics": [{"name": "m", "query": {"type": "prometheus", "metricName": "x"}, "scopeName": "default"}]
        }))
        .unwrap()
    }

    fn argo_request() -> CanaryExecutionRequest {
        serde_json::from_value(json!({
            "scopes": {"default": {
                "controlScope": {"scope": "app-stable", "region": "us-east-1", "step": 60,
                                 "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z"},
                "experimentScope": {"scope": "app-canary", "region": "us-east-1", "step": 60,
                                    "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z",
                                    "unknownField": true}}},
            "thresholds": {"pass": 90, "marginal": 75},
            "siteLocal": {}
        }))
        .unwrap()
    }

    #[test]
    fn argo_rollouts_region_is_the_location_and_integer_thresholds_are_read() {
        let spec = argo_request().to_spec(None, &config()).unwrap();
        let scope = &spec.scopes["default"];
        assert_eq!(scope.control.location, "us-east-1");
        assert_eq!(scope.experiment.scope, "app-canary");
        assert_eq!(
            spec.thresholds,
            ScoreThresholds {
                pass: 90.0,
                marginal: 75.0
            }
        );
        assert_eq!(spec.step, Some(SignedDuration::from_secs(60)));
        assert_eq!(spec.control_offset, None);
        assert_eq!(spec.end.unwrap().to_string(), "2026-01-01T10:30:00Z");
    }

    #[test]
    fn a_control_window_shifted_back_is_a_control_offset() {
        let mut request = argo_request();
        let control = &mut request.scopes.get_mut("default").unwrap().control_scope;
        control.start = Some("2026-01-01T09:50:00Z".parse().unwrap());
        control.end = Some("2026-01-01T10:20:00Z".parse().unwrap());
        let spec = request.to_spec(None, &config()).unwrap();
        assert_eq!(spec.control_offset, Some(SignedDuration::from_mins(10)));
    }

    #[test]
    fn bad_requests_get_kayentas_messages() {
        let mut request = argo_request();
        request.thresholds = None;
        assert_eq!(
            request.to_spec(None, &config()).unwrap_err(),
            "Execution request must contain thresholds"
        );
        let mut request = argo_request();
        let pair = request.scopes.remove("default").unwrap();
        request.scopes.insert("other".into(), pair);
        assert_eq!(
            request.to_spec(None, &config()).unwrap_err(),
            "Canary metrics require scopes which were not provided in the execution request: [default]"
        );
        let mut request = argo_request();
        request
            .scopes
            .get_mut("default")
            .unwrap()
            .experiment_scope
            .end = None;
        assert!(
            request
                .to_spec(None, &config())
                .unwrap_err()
                .contains("scopes.default.experimentScope.end is required")
        );
    }

    #[test]
    fn scopes_without_times_are_the_last_five_minutes() {
        let request: CanaryExecutionRequest = serde_json::from_value(json!({
            "scopes": {"default": {
                "controlScope": {"scope": "app-stable", "region": "us-east-1", "step": 60},
                "experimentScope": {"scope": "app-canary", "region": "us-east-1", "step": 60,
                                    "start": "2026-01-01T11:50:00Z"}}},
            "thresholds": {"pass": 90, "marginal": 75}
        }))
        .unwrap();
        let mut request = request;
        request.default_times("2026-01-01T12:00:00Z".parse().unwrap());
        let pair = &request.scopes["default"];
        let window = |scope: &CanaryScope| {
            (
                scope.start.unwrap().to_string(),
                scope.end.unwrap().to_string(),
            )
        };
        assert_eq!(
            window(&pair.control_scope),
            ("2026-01-01T11:55:00Z".into(), "2026-01-01T12:00:00Z".into())
        );
        assert_eq!(
            window(&pair.experiment_scope),
            ("2026-01-01T11:50:00Z".into(), "2026-01-01T12:00:00Z".into())
        );
    }

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(SignedDuration::from_mins(64).to_string(), "PT1H4M");
    }
}
