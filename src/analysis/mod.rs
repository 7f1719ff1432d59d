//! The analysis engine: one judgement of a canary over one window — every metric of the config fetched for
//! the control and the experiment (concurrently), paired, and judged.
//!
//! It sits between the callers (the command line, later the HTTP API) and the layers below: metric sources
//! ([`crate::metrics`]) and judging ([`crate::judging`]); it knows nothing of how it was asked.

pub mod leases;
pub mod live;
pub mod schedule;
pub mod scheduler;
pub mod spec;
pub mod verdict;

use std::collections::BTreeMap;

use crate::judging::{self, JudgingError, SelectedJudge};
use crate::kayenta::{CanaryConfig, CanaryJudgeResult, MetricSetPair, ScoreThresholds};
use crate::metrics::{self, MetricSource, QueryRecord, ScopePair, SourceError};

/// How many queries of one analysis run at once: a config of up to 25 metrics fetches in one round trip.
pub const DEFAULT_CONCURRENCY: usize = 50;

/// What to judge: the config, the scopes of each scope name, the thresholds.
#[derive(Debug, Clone)]
pub struct AnalysisRequest {
    pub config: CanaryConfig,
    /// Keyed by the metrics' `scopeName` (`default` for most configs).
    pub scopes: BTreeMap<String, ScopePair>,
    pub thresholds: ScoreThresholds,
}

/// A finished judgement with the data and queries behind it, so that it can be explained and re-judged.
#[derive(Debug, Clone)]
pub struct AnalysisOutcome {
    pub judge_result: CanaryJudgeResult,
    pub pairs: Vec<MetricSetPair>,
    pub queries: Vec<QueryRecord>,
}

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Fetching or pairing the metrics failed.
    #[error(transparent)]
    Metrics(#[from] SourceError),
    /// The judge could not judge the pairs.
    #[error(transparent)]
    Judging(#[from] JudgingError),
    /// A fault of coalmine itself, not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The queries of an analysis as JSON: `[{metric, side, query, series, points, durationMillis}]`.
pub fn queries_json(queries: &[QueryRecord]) -> serde_json::Value {
    queries
        .iter()
        .map(|query| {
            serde_json::json!({
                "metric": query.metric,
                "side": query.side,
                "query": query.query,
                "series": query.series,
                "points": query.points,
                "durationMillis": query.duration.as_millis() as u64,
            })
        })
        .collect()
}

/// Fetches, pairs and judges `request` with `judge`, at most `concurrency` queries at once.
pub async fn analyze(
    source: &dyn MetricSource,
    judge: &SelectedJudge,
    request: &AnalysisRequest,
    concurrency: usize,
) -> Result<AnalysisOutcome, AnalysisError> {
    request
        .config
        .validate_for_judging()
        .map_err(JudgingError::Invalid)?;
    request
        .thresholds
        .validate("thresholds")
        .map_err(JudgingError::Invalid)?;
    let fetched =
        metrics::fetch_canary(source, &request.config, &request.scopes, concurrency).await?;
    // Judging runs WebAssembly to completion (bounded by the judge's deadline): off the async workers.
    let (judge, config, thresholds) = (judge.clone(), request.config.clone(), request.thresholds);
    let pairs = fetched.pairs;
    // The judge's clock reads the end of the interval judged.
    let judged_at = request
        .scopes
        .values()
        .map(|scopes| scopes.experiment.end)
        .max();
    let (judge_result, pairs) = tokio::task::spawn_blocking(move || {
        let judged_at = judged_at.map(std::time::SystemTime::from);
        let result = judging::judge_pairs(&judge, &config, &pairs, thresholds, judged_at);
        (result, pairs)
    })
    .await
    .map_err(|error| AnalysisError::Internal(format!("the judging task failed: {error}")))?;
    Ok(AnalysisOutcome {
        judge_result: judge_result?,
        pairs,
        queries: fetched.queries,
    })
}
