//! Runs analyses — the one engine entry of every client (the native API, Kayenta's, Flagger's webhook):
//! [`Scheduler::submit`] admits an analysis under the server's cap on running analyses, stores it and runs
//! it in a task of its own, which judges each interval when it is due, records it, fails fast, and
//! completes the analysis — durably, so that a server killed at any moment resumes every unfinished analysis
//! where it was, without judging any interval twice (the store refuses a second record of the same
//! interval).
//!
//! Nothing leaves an analysis `running` for ever: the task is not tied to the caller's connection, and
//! whatever ends it — an error, a panic in planning or judging — marks the analysis `error` with the
//! reason. A restart does the same for a stored analysis that cannot be read, and serves on.
//!
//! Real-time intervals are judged a little after their window ends, by an offset derived from the
//! analysis's id ([`stagger`]), so that analyses started together do not all query at the same instant.
//!
//! Cancelling signals the task, and the store's status rules make sure a cancellation is never overwritten by
//! a completion that raced it.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::spec::{AnalysisSpec, Bounds};
use super::verdict::conclude;
use super::{AnalysisError, AnalysisRequest, DEFAULT_CONCURRENCY, analyze, queries_json};
use crate::judge_host::JudgeHost;
use crate::kayenta::CanaryConfig;
use crate::metrics::{Accounts, SourceError};
use crate::store::{
    Analysis, Conflict, NewAnalysis, NewInterval, Origin, Store, StoreError, Transition, Verdict,
};

/// The default cap on analyses running at once (`[limits] max_running_analyses`).
pub const DEFAULT_MAX_RUNNING: usize = 1000;

/// The most a real-time interval's judgement is put off by [`stagger`].
pub const MAX_STAGGER: SignedDuration = SignedDuration::from_secs(10);

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
    /// Analyses admitted and not yet ended (resumed ones included).
    admitted: AtomicUsize,
    max_running: usize,
    /// What one analysis may ask for: its spans, metrics and points.
    bounds: Bounds,
}

/// Why an analysis was not started.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The server already runs as many analyses as it may.
    #[error(
        "this server is running {limit} analyses, as many as it may at once ([limits] max_running_analyses): \
         try again later"
    )]
    Busy { limit: usize },
    /// The request is not one that can be analysed (the message names the field), or is past the bounds.
    #[error("{0}")]
    Invalid(String),
    /// A query of the config cannot be built for these scopes (a missing variable, a template past its
    /// bounds).
    #[error(transparent)]
    Query(#[from] SourceError),
    /// The analysis could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of coalmine itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How an analysis's run ended.
#[derive(Debug)]
pub enum Ended {
    /// This run completed the analysis with `verdict`.
    Completed(Verdict),
    /// The analysis was cancelled.
    Cancelled,
    /// This run stopped without ending the analysis: it had already ended (another runner, a cancellation).
    Stopped,
    /// The analysis was marked `error` with `message`; `cause` is the analysis error behind it, if any.
    Failed {
        message: String,
        cause: Option<Box<AnalysisError>>,
    },
}

/// A submitted analysis, running in its own task.
pub struct Running {
    pub id: String,
    task: JoinHandle<Ended>,
}

impl Running {
    /// Waits for the run to end. Dropping a `Running` (a caller that goes away) leaves the run going.
    pub async fn ended(self) -> Ended {
        self.task.await.unwrap_or_else(|error| Ended::Failed {
            message: format!("the analysis task ended abnormally: {error}"),
            cause: None,
        })
    }
}

/// A place among the running analyses, given back when dropped.
struct Slot(Arc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
        crate::telemetry::analyses_running(-1);
    }
}

impl Scheduler {
    /// A scheduler that runs at most `max_running` analyses at once (at least one), each within `bounds`.
    pub fn new(
        store: Arc<dyn Store>,
        host: Arc<JudgeHost>,
        accounts: Arc<Accounts>,
        max_running: usize,
        bounds: Bounds,
    ) -> Scheduler {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                host,
                accounts,
                running: Mutex::new(HashMap::new()),
                admitted: AtomicUsize::new(0),
                max_running: max_running.max(1),
                bounds,
            }),
        }
    }

    /// Checks, admits, stores and starts an analysis of `spec` (normalized) with `config`, started through
    /// `origin`'s API. Everything the analysis will need is checked first — its plan, its bounds, every query
    /// of its first window — so that a request that cannot be analysed never reaches the store. Refused
    /// with [`SubmitError::Busy`] when the server already runs its cap of analyses; then nothing is stored.
    /// Must be called within a tokio runtime.
    pub async fn submit(
        &self,
        origin: Origin,
        spec: &AnalysisSpec,
        config: CanaryConfig,
    ) -> Result<Running, SubmitError> {
        let plan = spec
            .plan(config.clone(), &self.inner.accounts, &self.inner.host)
            .map_err(SubmitError::Invalid)?;
        spec.check_bounds(&config, &self.inner.bounds)
            .map_err(SubmitError::Invalid)?;
        plan.check_queries()?;
        let slot = self.admit()?;
        let request =
            serde_json::to_value(spec).map_err(|error| SubmitError::Internal(error.to_string()))?;
        let store = self.inner.store.clone();
        let analysis = tokio::task::spawn_blocking(move || {
            store.create_analysis(NewAnalysis {
                origin,
                request,
                config,
            })
        })
        .await
        .map_err(|error| SubmitError::Internal(format!("a background task failed: {error}")))??;
        Ok(self.start(analysis, slot))
    }

    /// A place among the running analyses, if one is free.
    fn admit(&self) -> Result<Slot, SubmitError> {
        let limit = self.inner.max_running;
        self.inner
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |admitted| {
                (admitted < limit).then_some(admitted + 1)
            })
            .map_err(|_| SubmitError::Busy { limit })?;
        crate::telemetry::analyses_running(1);
        Ok(Slot(self.inner.clone()))
    }

    /// A place among the running analyses even past the cap: for analyses the server had already accepted.
    fn readmit(&self) -> Slot {
        self.inner.admitted.fetch_add(1, Ordering::SeqCst);
        crate::telemetry::analyses_running(1);
        Slot(self.inner.clone())
    }

    /// Runs `analysis` in the background from its next interval, holding `slot` until it has ended
    /// (completed, failed, or cancelled).
    fn start(&self, analysis: Analysis, slot: Slot) -> Running {
        let (cancel, cancelled) = watch::channel(false);
        let id = analysis.id.clone();
        self.inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), cancel);
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let id = analysis.id.clone();
            // A panic while planning or judging fails this analysis, not the server.
            let outcome = AssertUnwindSafe(run(&inner, analysis, cancelled))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(Failure {
                        message: format!(
                            "internal error: the analysis failed unexpectedly ({})",
                            panic_message(panic.as_ref())
                        ),
                        cause: None,
                    })
                });
            let ended = match outcome {
                Ok(ended) => ended,
                Err(Failure { message, cause }) => {
                    tracing::warn!(analysis = %id, "analysis failed: {message}");
                    let (store, failed, reason) =
                        (inner.store.clone(), id.clone(), message.clone());
                    let marked = tokio::task::spawn_blocking(move || {
                        store.transition(&failed, Transition::Fail(reason))
                    })
                    .await;
                    match marked {
                        Ok(Ok(_)) => Ended::Failed { message, cause },
                        // Cancelled meanwhile: the cancellation stands.
                        Ok(Err(StoreError::Conflict(Conflict::AnalysisFinished { .. }))) => {
                            Ended::Stopped
                        }
                        Ok(Err(error)) => {
                            tracing::error!(analysis = %id, "cannot mark the analysis as failed: {error}");
                            Ended::Failed { message, cause }
                        }
                        Err(error) => {
                            tracing::error!(analysis = %id, "cannot mark the analysis as failed: {error}");
                            Ended::Failed { message, cause }
                        }
                    }
                }
            };
            match &ended {
                Ended::Completed(verdict) => {
                    crate::telemetry::analysis_finished(&verdict.classification)
                }
                Ended::Cancelled => crate::telemetry::analysis_finished("cancelled"),
                Ended::Failed { .. } => crate::telemetry::analysis_finished("error"),
                Ended::Stopped => {}
            }
            inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            drop(slot);
            ended
        });
        Running { id, task }
    }

    /// Resumes every unfinished analysis (after a restart, or a crash), whatever the cap; one that cannot be
    /// read is marked `error` with the reason instead, and the others resume. Returns how many resumed.
    pub fn resume_all(&self) -> Result<usize, StoreError> {
        let unfinished = self.inner.store.unfinished_analyses()?;
        let mut resumed = 0;
        for analysis in unfinished {
            match analysis {
                Ok(analysis) => {
                    tracing::info!(analysis = %analysis.id, next_interval = analysis.next_interval, "resuming analysis");
                    let slot = self.readmit();
                    self.start(analysis, slot);
                    resumed += 1;
                }
                Err(unreadable) => {
                    let message =
                        format!("the stored analysis cannot be read: {}", unreadable.error);
                    tracing::error!(analysis = %unreadable.id, "not resuming: {message}");
                    match self.inner.store.mark_error(&unreadable.id, &message) {
                        Ok(()) => crate::telemetry::analysis_finished("error"),
                        Err(error) => tracing::error!(
                            analysis = %unreadable.id,
                            "cannot mark the analysis as failed: {error}"
                        ),
                    }
                }
            }
        }
        Ok(resumed)
    }

    /// Tells the task running `id` (if any) to stop; the caller records the cancellation in the store.
    pub fn cancel(&self, id: &str) {
        if let Some(cancel) = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            let _ = cancel.send(true);
        }
    }
}

/// Why a run failed: a message for the analysis's `error`, and the analysis error behind it, if any.
struct Failure {
    message: String,
    cause: Option<Box<AnalysisError>>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            cause: None,
        }
    }
}

/// What a panic said, if it said it in words.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// How much later than its window's end a real-time interval of analysis `id`, judged every `interval`, is
/// judged: a fixed share, derived from the id, of a tenth of the interval and at most [`MAX_STAGGER`]. The
/// windows stay as scheduled; only the moment of judging shifts, later and never earlier.
pub fn stagger(id: &str, interval: SignedDuration) -> SignedDuration {
    let bound = (interval / 10).min(MAX_STAGGER).as_nanos();
    if bound <= 0 {
        return SignedDuration::ZERO;
    }
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    // `bound` is below 10 s in nanoseconds, so the remainder fits in an i64.
    SignedDuration::from_nanos((i128::from(hash) % bound) as i64)
}

/// Judges the analysis's remaining intervals and says how the run ended; `Err` is for the analysis's
/// `error`.
async fn run(
    inner: &Inner,
    analysis: Analysis,
    mut cancelled: watch::Receiver<bool>,
) -> Result<Ended, Failure> {
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
    let delay = if plan.schedule.real_time {
        stagger(&id, plan.schedule.interval)
    } else {
        SignedDuration::ZERO
    };
    for index in analysis.next_interval..intervals {
        let window = plan.schedule.window(index);
        let wait = (window.due + delay).duration_since(Timestamp::now());
        if wait.is_positive() {
            let wait = std::time::Duration::try_from(wait).unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = cancelled.wait_for(|cancelled| *cancelled) => return Ok(Ended::Cancelled),
            }
        }
        if *cancelled.borrow() {
            return Ok(Ended::Cancelled);
        }
        let request = AnalysisRequest {
            config: plan.config.clone(),
            scopes: plan.scopes_for(window.start, window.end),
            thresholds: plan.thresholds,
        };
        let mut outcome = match analyze(
            plan.source.as_ref(),
            &plan.judge,
            &request,
            DEFAULT_CONCURRENCY,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                return Err(Failure {
                    message: format!(
                        "interval {} ({} to {}): {error}",
                        index + 1,
                        window.start,
                        window.end
                    ),
                    cause: Some(Box::new(error)),
                });
            }
        };

        let verdict = conclude(index, intervals, &mut outcome.judge_result, plan.rule());
        let interval = NewInterval {
            index,
            start: window.start,
            end: window.end,
            queries: queries_json(&outcome.queries),
            judge_result: outcome.judge_result,
            pairs: outcome.pairs,
        };
        let recorded = blocking(inner, {
            let (id, verdict) = (id.clone(), verdict.clone());
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
                return Ok(Ended::Stopped);
            }
            Err(error) => return Err(error.to_string().into()),
        }
        if let Some(verdict) = verdict {
            return Ok(Ended::Completed(verdict));
        }
    }
    // The last interval always ends the analysis: here none was left to judge, which must not leave it
    // running for ever.
    Err(format!(
        "no interval left to judge: {} of {intervals} are recorded",
        analysis.next_interval
    )
    .into())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::future::BoxFuture;

    use super::*;
    use crate::judge_host::Limits;
    use crate::metrics::{MetricSet, MetricSource, Scope};
    use crate::store::{AnalysisStatus, SqliteStore};

    /// A metric source whose fetch panics: a fault of coalmine's own, injected where no request can reach.
    struct Panicking;

    impl MetricSource for Panicking {
        fn kind(&self) -> &'static str {
            "prometheus"
        }

        fn build_query(
            &self,
            metric: &crate::kayenta::canary_config::MetricConfig,
            _: &BTreeMap<String, String>,
            scope: &Scope,
        ) -> Result<String, SourceError> {
            Ok(format!("{}{{app=\"{}\"}}", metric.name, scope.scope))
        }

        fn fetch<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a Scope,
        ) -> futures::future::BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
            Box::pin(async {
                if true {
                    panic!("the source broke down");
                }
                Ok(Vec::new())
            }) as BoxFuture<'a, _>
        }
    }

    #[tokio::test]
    async fn an_analysis_that_panics_is_marked_error_with_the_reason_and_frees_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("coalmine.db")).unwrap());
        let host = Arc::new(JudgeHost::with_built_in(Limits::default(), None).unwrap());
        let mut accounts = Accounts::default();
        accounts.add("prometheus", Arc::new(Panicking));
        let bounds = Bounds {
            max_lifetime: SignedDuration::from_hours(24),
            max_metrics: 10,
            max_points: 10_000,
        };
        let scheduler = Scheduler::new(store.clone(), host, Arc::new(accounts), 1, bounds);
        let spec: AnalysisSpec = serde_json::from_value(serde_json::json!({
            "config": {"name": "c", "metrics": [{"name": "latency", "groups": ["g"], "query": {}}]},
            "control": {"scope": "baseline"}, "experiment": {"scope": "canary"},
            "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z",
            "thresholds": {"pass": 75, "marginal": 50}
        }))
        .unwrap();
        let spec = spec.normalized(Timestamp::now());
        let config = spec.config.clone().unwrap();

        let running = scheduler
            .submit(Origin::Native, &spec, config.clone())
            .await
            .unwrap();
        let id = running.id.clone();
        match running.ended().await {
            Ended::Failed { message, .. } => assert!(
                message.contains("failed unexpectedly (the source broke down)"),
                "{message}"
            ),
            other => panic!("the run ended as {other:?}"),
        }
        let analysis = store.analysis(&id).unwrap();
        assert_eq!(analysis.status, AnalysisStatus::Error);
        assert!(
            analysis.error.unwrap().contains("the source broke down"),
            "the stored reason"
        );
        // Its place among the running analyses (a cap of one) was given back.
        let next = scheduler
            .submit(Origin::Native, &spec, config)
            .await
            .unwrap();
        next.ended().await;
    }

    #[test]
    fn the_stagger_is_fixed_per_analysis_and_bounded_by_a_tenth_of_the_interval_and_ten_seconds() {
        // Shaped like the store's ids; fixed, so that the test always sees the same offsets.
        let ids: Vec<String> = (0..1000_u64)
            .map(|n| format!("{:08x}-9a4d-4e7f-b0c2-{:012x}", n * 7919, n * n))
            .collect();
        for (interval, bound) in [
            (SignedDuration::from_mins(5), MAX_STAGGER),
            (SignedDuration::from_secs(30), SignedDuration::from_secs(3)),
            (
                SignedDuration::from_secs(2),
                SignedDuration::from_millis(200),
            ),
        ] {
            let offsets: Vec<SignedDuration> = ids.iter().map(|id| stagger(id, interval)).collect();
            for (id, offset) in ids.iter().zip(&offsets) {
                assert!(
                    *offset >= SignedDuration::ZERO && *offset < bound,
                    "{id} every {interval:#}: {offset:#}"
                );
                assert_eq!(
                    stagger(id, interval),
                    *offset,
                    "the same id, the same offset"
                );
            }
            // Spread over the bound, not bunched: every tenth of it is used.
            let mut tenths = [0usize; 10];
            for offset in &offsets {
                tenths[(offset.as_nanos() * 10 / bound.as_nanos()) as usize] += 1;
            }
            assert!(tenths.iter().all(|&count| count > 50), "{tenths:?}");
        }
        assert_eq!(
            stagger("any", SignedDuration::from_nanos(5)),
            SignedDuration::ZERO
        );
    }
}
