//! Schemas of the JSON bodies that handlers read or write untyped (`serde_json::Value` built with `json!`):
//! the probes, Kayenta's accounts, run ids and status responses, and Flagger's webhook. These types are never
//! built: they only describe those bodies in the OpenAPI document, field for field as the handlers and
//! [`crate::kayenta::execution`] / [`crate::kayenta::standalone`] write them.
//!
//! Kayenta's formats are lenient, as Kayenta's Jackson setup is: unknown fields are accepted in requests, so
//! no schema here forbids additional properties.

#![allow(dead_code)] // schema-only types: read by utoipa, never constructed

use serde_json::Value;
use utoipa::ToSchema;

use crate::kayenta::CanaryJudgeResult;
use crate::kayenta::canary_config::CanaryConfig;
use crate::kayenta::execution::CanaryExecutionRequest;
use crate::kayenta::numbers::Double;
use crate::kayenta::standalone::CanaryAnalysisExecutionRequest;

/// `GET /health`.
#[derive(ToSchema)]
pub struct Health {
    /// Always `UP`.
    #[schema(example = "UP", pattern = "^UP$")]
    status: String,
}

/// `GET /ready`.
#[derive(ToSchema)]
pub struct Ready {
    /// Always `READY` (a replica that cannot reach its store answers 503 instead).
    #[schema(example = "READY", pattern = "^READY$")]
    status: String,
    /// How many judges are loaded.
    #[schema(minimum = 0)]
    judges: u64,
    /// This replica's id, as the leases on the analyses it runs name it (host name and a random suffix).
    #[schema(example = "coalmine-7d9f-x2k4p-3f2b8c1e")]
    replica: String,
    /// How many replicas share the store, this one included (those that renewed their leases within the
    /// lease period): 1 on SQLite.
    #[schema(minimum = 1)]
    replicas: u64,
}

/// `GET /judges` (Kayenta): one entry per judge name and alias.
#[derive(ToSchema)]
pub struct KayentaJudge {
    /// A judge's name or alias, e.g. `NetflixACAJudge-v1.0`.
    name: String,
    /// Always `true`.
    visible: bool,
}

/// `GET /credentials` (Kayenta's `AccountCredentials`): each metrics account, then coalmine's built-in
/// configuration and object store.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    name: String,
    /// The account's store (`prometheus`, `datadog`, `influxdb`, `graphite`, …), or `coalmine` for the
    /// built-in store.
    #[serde(rename = "type")]
    kind: String,
    /// `METRICS_STORE`, `CONFIGURATION_STORE`, `OBJECT_STORE`.
    supported_types: Vec<String>,
    locations: Vec<String>,
    recommended_locations: Vec<String>,
}

/// `GET /metricsServices` (Kayenta): each metrics account.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsService {
    name: String,
    /// The account's store: `prometheus`, `datadog`, `influxdb`, `graphite`, ….
    #[serde(rename = "type")]
    kind: String,
    locations: Vec<String>,
    recommended_locations: Vec<String>,
}

/// `GET /metadata/metricsService`: a metric name the account holds.
#[derive(ToSchema)]
pub struct MetricName {
    name: String,
}

/// `POST /canaryConfig`, `PUT /canaryConfig/{id}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryConfigId {
    canary_config_id: String,
}

/// `POST /canary`: an ad hoc run, the config given with the request.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdHocCanaryRequest {
    canary_config: CanaryConfig,
    execution_request: CanaryExecutionRequest,
}

/// `POST /standalone_canary_analysis`: an ad hoc analysis, the config given with the request.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdHocStandaloneRequest {
    canary_config: CanaryConfig,
    execution_request: CanaryAnalysisExecutionRequest,
}

/// `POST /canary[/{canaryConfigId}]`: the run was accepted; poll `GET /canary/{canaryExecutionId}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryExecutionId {
    canary_execution_id: String,
}

/// `POST /standalone_canary_analysis[/{canaryConfigId}]`: the analysis was accepted; poll
/// `GET /standalone_canary_analysis/{canaryAnalysisExecutionId}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysisExecutionId {
    canary_analysis_execution_id: String,
}

/// Orca's lowercased status of a run or stage.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrcaStatus {
    NotStarted,
    Running,
    Succeeded,
    Terminal,
    Canceled,
}

/// Orca's uppercased status (`executionStatus`).
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrcaExecutionStatus {
    NotStarted,
    Running,
    Succeeded,
    Terminal,
    Canceled,
}

/// Orca's shape of a run's error.
#[derive(ToSchema)]
pub struct Exception {
    details: ExceptionDetails,
}

#[derive(ToSchema)]
pub struct ExceptionDetails {
    errors: Vec<String>,
}

/// A judged interval of a run: the judge's result and the window's length (ISO 8601, e.g. `PT1H`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryResult {
    judge_result: CanaryJudgeResult,
    canary_duration: String,
}

/// The stages of a `/canary` run.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStages {
    setup_context: OrcaStatus,
    fetch_control0: OrcaStatus,
    fetch_experiment0: OrcaStatus,
    mix_metrics: OrcaStatus,
    judge: OrcaStatus,
}

/// `GET /canary/{canaryExecutionId}`: Kayenta's `CanaryExecutionStatusResponse`. Times are given twice,
/// as milliseconds since the epoch (`…Millis`) and ISO 8601 (`…Iso`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryExecutionStatusResponse {
    application: String,
    #[schema(required = false)]
    parent_pipeline_execution_id: String,
    pipeline_id: String,
    stage_status: CanaryStages,
    complete: bool,
    status: OrcaStatus,
    /// Why the run ended in error.
    #[schema(required = false)]
    exception: Exception,
    /// Once the run succeeded.
    #[schema(required = false)]
    result: CanaryResult,
    config: CanaryConfig,
    canary_config_id: String,
    /// The execution request as received.
    #[schema(value_type = Value)]
    canary_execution_request: Value,
    build_time_millis: i64,
    build_time_iso: String,
    start_time_millis: i64,
    start_time_iso: String,
    /// Once the run is complete.
    #[schema(required = false)]
    end_time_millis: i64,
    #[schema(required = false)]
    end_time_iso: String,
    storage_account_name: String,
    metrics_account_name: String,
    configuration_account_name: String,
}

/// One planned judgement of a standalone analysis.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandaloneStage {
    /// Always `runCanary`.
    #[serde(rename = "type")]
    kind: String,
    /// `Run Canary #N`.
    name: String,
    status: OrcaStatus,
    execution_id: String,
}

/// One judged interval of a standalone analysis.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryExecutionResult {
    execution_id: String,
    /// `SUCCEEDED`, or `TERMINAL` when the score was at or below the marginal threshold.
    execution_status: OrcaExecutionStatus,
    #[schema(required = false)]
    canary_score_message: String,
    result: CanaryResult,
    judgement_start_time_millis: i64,
    judgement_start_time_iso: String,
    judgement_end_time_millis: i64,
    judgement_end_time_iso: String,
    warnings: Vec<String>,
    build_time_millis: i64,
    build_time_iso: String,
    start_time_millis: i64,
    start_time_iso: String,
    end_time_millis: i64,
    end_time_iso: String,
    storage_account_name: String,
    configuration_account_name: String,
}

/// The final decision of a complete standalone analysis.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysisExecutionResult {
    did_pass_thresholds: bool,
    has_warnings: bool,
    canary_score_message: String,
    canary_scores: Vec<Double>,
    canary_execution_results: Vec<CanaryExecutionResult>,
    build_time_millis: i64,
    build_time_iso: String,
    start_time_millis: i64,
    start_time_iso: String,
    end_time_millis: i64,
    end_time_iso: String,
}

/// `GET /standalone_canary_analysis/{id}`: Kayenta's `CanaryAnalysisExecutionStatusResponse`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysisExecutionStatusResponse {
    application: String,
    user: String,
    #[schema(required = false)]
    parent_pipeline_execution_id: String,
    pipeline_id: String,
    stage_status: Vec<StandaloneStage>,
    complete: bool,
    execution_status: OrcaExecutionStatus,
    status: OrcaStatus,
    #[schema(required = false)]
    exception: Exception,
    /// Once the analysis is complete.
    #[schema(required = false)]
    canary_analysis_execution_result: CanaryAnalysisExecutionResult,
    /// The execution request as received.
    #[schema(value_type = Value)]
    canary_analysis_execution_request: Value,
    canary_config: CanaryConfig,
    canary_config_id: String,
    build_time_millis: i64,
    build_time_iso: String,
    start_time_millis: i64,
    start_time_iso: String,
    #[schema(required = false)]
    end_time_millis: i64,
    #[schema(required = false)]
    end_time_iso: String,
    storage_account_name: String,
    metrics_account_name: String,
}

/// Flagger's webhook payload (`CanaryWebhookPayload`). Unknown fields (e.g. `checksum`) are accepted.
#[derive(ToSchema)]
pub struct FlaggerPayload {
    /// The canary's name.
    #[schema(pattern = "\\S")]
    name: String,
    #[schema(pattern = "\\S")]
    namespace: String,
    /// Flagger's phase, echoed in the answer.
    #[schema(required = false)]
    phase: String,
    metadata: FlaggerMetadata,
}

/// The webhook's `metadata`: all strings, as Flagger sends them. Other keys are ignored.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlaggerMetadata {
    /// A stored config's name or id.
    #[schema(pattern = "\\S")]
    config: String,
    /// The window, ending now (default `5m`).
    #[schema(
        required = false,
        pattern = "^[1-9][0-9]{0,18}(ms|s|m|h)$",
        example = "5m"
    )]
    lookback: String,
    /// Time between data points (default `60s`).
    #[schema(
        required = false,
        pattern = "^[1-9][0-9]{0,18}(ms|s|m|h)$",
        example = "60s"
    )]
    step: String,
    /// The metrics account (default: the first).
    #[schema(required = false)]
    account: String,
    /// The control's scope (default `{name}-primary`, Flagger's primary).
    #[schema(required = false)]
    control_scope: String,
    /// The experiment's scope (default `{name}`, the canary).
    #[schema(required = false)]
    experiment_scope: String,
    /// Both sides' location (default `{namespace}`).
    #[schema(required = false)]
    location: String,
    /// The pass threshold (default 75).
    #[schema(required = false, pattern = "^[0-9]+(\\.[0-9]+)?$", example = "75")]
    pass: String,
    /// The marginal threshold (default 50).
    #[schema(required = false, pattern = "^[0-9]+(\\.[0-9]+)?$", example = "50")]
    marginal: String,
}

/// The webhook's answer: the judgement of the window that ends now.
#[derive(ToSchema)]
pub struct FlaggerAnswer {
    /// The analysis, listed under `/v1/analyses`.
    id: String,
    name: String,
    namespace: String,
    #[schema(required = false)]
    phase: String,
    /// `Pass`, `Marginal` or `Fail`.
    classification: String,
    score: Double,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    #[serde(rename = "judgeResult")]
    judge_result: CanaryJudgeResult,
    /// Why the canary did not pass (`412` only).
    #[schema(required = false)]
    reason: String,
    /// `canary NAME.NAMESPACE: REASON` (`412` only).
    #[schema(required = false)]
    message: String,
}
