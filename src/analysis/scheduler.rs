//! Runs analyses: judges each interval when it is due, records it, fails fast, and completes the analysis —
//! durably, so that a server killed at any moment resumes every unfinished analysis where it was, without
//! judging any interval twice (the store refuses a second record of the same interval).
//!
//! One task per running analysis; cancelling signals the task, and the store's status rules make sure a
//! cancellation is never overwritten by a completion that raced it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::spec::AnalysisSpec;
use super::{AnalysisRequest, DEFAULT_CONCURRENCY, analyze, queries_json};
use crate::judge_host::JudgeHost;
use crate::kayenta::{CanaryJudgeResult, ScoreThresholds};
use crate::metrics::Accounts;
use crate::store::{Analysis, Conflict, NewInterval, Store, StoreError, Transition, Verdict};

/// Starts, resumes and cancels analyses.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    host: Arc<JudgeHost>,
    accounts: Arc<Accounts>,
    /// The cancel signal of each running analysis.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store>, host: Arc<JudgeHost>, accounts: Arc<Accounts>) -> Scheduler {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                host,
                accounts,
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Runs `analysis` in the background from its next interval; the handle resolves when it has ended
    /// (completed, failed, or cancelled). Must be called within a tokio runtime.
    pub fn start(&self, analysis: Analysis) -> JoinHandle<()> {
        let (cancel, cancelled) = watch::channel(false);
        self.inner
            .running
            .lock()
            .expect("the running map")
            .insert(analysis.id.clone(), cancel);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let id = analysis.id.clone();
            let outcome = run(&inner, analysis, cancelled).await;
            if let Ok(Some(outcome)) = &outcome {
                crate::telemetry::analysis_finished(outcome);
            }
            if let Err(message) = outcome {
                crate::telemetry::analysis_finished("error");
                tracing::warn!(analysis = %id, "analysis failed: {message}");
                let store = inner.store.clone();
                let fail = id.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    store.transition(&fail, Transition::Fail(message))
                })
                .await;
            }
            inner.running.lock().expect("the running map").remove(&id);
        })
    }

    /// Resumes every unfinished analysis (after a restart, or a crash). Returns how many.
    pub fn resume_all(&self) -> Result<usize, StoreError> {
        let unfinished = self.inner.store.unfinished_analyses()?;
        let count = unfinished.len();
        for analysis in unfinished {
            tracing::info!(analysis = %analysis.id, next_interval = analysis.next_interval, "resuming analysis");
            self.start(analysis);
        }
        Ok(count)
    }

    /// Tells the task running `id` (if any) to stop; the caller records the cancellation in the store.
    pub fn cancel(&self, id: &str) {
        if let Some(cancel) = self.inner.running.lock().expect("the running map").get(id) {
            let _ = cancel.send(true);
        }
    }
}

/// Judges the analysis's remaining intervals. Returns how it ended (its classification, or `cancelled`) when
/// this run ended it; `Err` is a message for the analysis's `error`.
async fn run(
    inner: &Inner,
    analysis: Analysis,
    mut cancelled: watch::Receiver<bool>,
) -> Result<Option<String>, String> {
    let id = analysis.id.clone();
    let spec: AnalysisSpec = serde_json::from_value(analysis.request.clone())
        .map_err(|error| format!("the stored request cannot be read: {error}"))?;
    let plan = spec.plan(analysis.config.clone(), &inner.accounts, &inner.host)?;
    blocking(inner, {
        let id = id.clone();
        move |store| store.transition(&id, Transition::Start)
    })
    .await?
    .map_err(|error| error.to_string())?;

    let intervals = plan.schedule.intervals();
    for index in analysis.next_interval..intervals {
        let window = plan.schedule.window(index);
        let wait = window.due.duration_since(Timestamp::now());
        if wait.is_positive() {
            let wait = std::time::Duration::try_from(wait).unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = cancelled.wait_for(|cancelled| *cancelled) => return Ok(Some("cancelled".into())),
            }
        }
        if *cancelled.borrow() {
            return Ok(Some("cancelled".into()));
        }
        let request = AnalysisRequest {
            config: plan.config.clone(),
            scopes: plan.scopes_for(window.start, window.end),
            thresholds: plan.thresholds,
        };
        let outcome = analyze(
            plan.source.as_ref(),
            &plan.judge,
            &request,
            DEFAULT_CONCURRENCY,
        )
        .await
        .map_err(|error| {
            format!(
                "interval {} ({} to {}): {error}",
                index + 1,
                window.start,
                window.end
            )
        })?;

        let verdict = conclude(index, intervals, &outcome.judge_result, &plan.thresholds);
        let finished = verdict
            .as_ref()
            .map(|verdict| verdict.classification.clone());
        let interval = NewInterval {
            index,
            start: window.start,
            end: window.end,
            queries: queries_json(&outcome.queries),
            judge_result: outcome.judge_result,
            pairs: outcome.pairs,
        };
        let recorded = blocking(inner, {
            let id = id.clone();
            move |store| store.record_interval(&id, &interval, verdict)
        })
        .await?;
        match recorded {
            Ok(_) => {}
            // Cancelled meanwhile, or another runner recorded it: either way this one stops.
            Err(StoreError::Conflict(
                conflict @ (Conflict::AnalysisFinished { .. } | Conflict::IntervalRecorded { .. }),
            )) => {
                tracing::info!(analysis = %id, "stopping: {conflict}");
                return Ok(None);
            }
            Err(error) => return Err(error.to_string()),
        }
        if finished.is_some() {
            return Ok(finished);
        }
    }
    Ok(None)
}

/// The analysis's verdict after judging interval `index` of `intervals` (0-based), if it ends there: at the
/// last interval, or earlier when the interval fails it fast (see [`verdict`]).
pub fn conclude(
    index: u32,
    intervals: u32,
    result: &CanaryJudgeResult,
    thresholds: &ScoreThresholds,
) -> Option<Verdict> {
    let failed_fast = result.score.score <= thresholds.marginal;
    (failed_fast || index + 1 == intervals).then(|| verdict(result, *thresholds))
}

/// The verdict of an analysis whose last judged interval is `result`: its classification, except that a
/// score at or below the marginal threshold fails the analysis (Kayenta's standalone analysis stops at the
/// first such interval).
pub fn verdict(result: &CanaryJudgeResult, thresholds: ScoreThresholds) -> Verdict {
    let score = result.score.score;
    Verdict {
        classification: if score <= thresholds.marginal {
            "Fail".to_string()
        } else {
            result.score.classification.clone()
        },
        score,
    }
}

/// Runs a store call on the blocking pool; the outer error is the task's own failure.
async fn blocking<T: Send + 'static>(
    inner: &Inner,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, String> {
    let store = inner.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|error| format!("a background task failed: {error}"))
}
