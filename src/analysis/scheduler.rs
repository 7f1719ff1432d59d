//! Runs analyses — the one engine entry of every client (the native API, Kayenta's, Flagger's webhook):
//! [`Scheduler::submit`] admits an analysis under the server's cap on running analyses, stores it and runs
//! it in a task of its own, which judges each interval when it is due, records it, fails fast, and
//! completes the analysis — durably, so that a server killed at any moment resumes every unfinished analysis
//! where it was, without judging any interval twice (the store refuses a second record of the same
//! interval).
//!
//! **Replicas.** Several servers may share one store. A replica runs an analysis only while it holds the
//! analysis's lease ([`super::leases`], and the store's rules in [`crate::store`]). Its lease loop
//! ([`Scheduler::start_leasing`]) renews its leases every third of the lease period and claims its fair share
//! of the analyses no replica holds: new real-time analyses that the replica receiving them left to others,
//! and those of a replica that died (taken over once their lease expires, resumed at their next unjudged
//! interval). A task stops as soon as it learns its lease is lost — from a renewal, or from the store
//! refusing its write — and pauses while the replica cannot renew (the store is unreachable): an outage
//! delays intervals, it does not fail analyses. A retrospective analysis runs where it was received, since
//! its caller waits for the result.
//!
//! Nothing leaves an analysis `running` for ever: the task is not tied to the caller's connection, and
//! whatever ends it — an error, a panic in planning or judging — marks the analysis `error` with the
//! reason. A restart does the same for a stored analysis that cannot be read, and serves on.
//!
//! Real-time intervals are judged a little after their window ends, by an offset derived from the
//! analysis's id ([`stagger`]), so that analyses started together do not all query at the same instant.
//!
//! Cancelling signals the task (through its owner's next renewal when another replica runs it), and the
//! store's status rules make sure a cancellation is never overwritten by a completion that raced it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::leases::{DEFAULT_LEASE_PERIOD, Grant, Leases, Stop, replica_id};
use super::spec::{AnalysisSpec, Bounds};
use super::verdict::conclude;
use super::{AnalysisError, AnalysisRequest, DEFAULT_CONCURRENCY, analyze, queries_json};
use crate::judge_host::JudgeHost;
use crate::kayenta::CanaryConfig;
use crate::metrics::{Accounts, SourceError};
use crate::store::{
    Analysis, AnalysisStatus, Conflict, NewAnalysis, NewInterval, Origin, Store, StoreError,
    Transition, Verdict,
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
    /// The leases this replica holds: the analyses it runs, each with its stop signal.
    leases: Leases,
    /// The lease loop, once started.
    lease_loop: Mutex<Option<tokio::task::AbortHandle>>,
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

/// A submitted analysis, running in a task of this replica or stored for another replica to claim.
pub struct Running {
    pub id: String,
    task: Task,
}

enum Task {
    Here(JoinHandle<Ended>),
    /// Left to the replica that claims it; its end is read from the store.
    Elsewhere(Arc<dyn Store>),
}

/// How often [`Running::ended`] looks at an analysis run by another replica.
const ELSEWHERE_POLL: Duration = Duration::from_millis(500);

impl Running {
    /// Waits for the run to end. Dropping a `Running` (a caller that goes away) leaves the run going.
    pub async fn ended(self) -> Ended {
        match self.task {
            Task::Here(task) => task.await.unwrap_or_else(|error| Ended::Failed {
                message: format!("the analysis task ended abnormally: {error}"),
                cause: None,
            }),
            Task::Elsewhere(store) => loop {
                let id = self.id.clone();
                let store = store.clone();
                let analysis = tokio::task::spawn_blocking(move || store.analysis(&id)).await;
                match analysis {
                    Ok(Ok(analysis)) => match analysis.status {
                        AnalysisStatus::Completed => {
                            if let Some(verdict) = analysis.verdict {
                                return Ended::Completed(verdict);
                            }
                            return Ended::Stopped;
                        }
                        AnalysisStatus::Cancelled => return Ended::Cancelled,
                        AnalysisStatus::Error => {
                            return Ended::Failed {
                                message: analysis.error.unwrap_or_default(),
                                cause: None,
                            };
                        }
                        AnalysisStatus::Pending | AnalysisStatus::Running => {}
                    },
                    // The store is briefly unreachable: look again.
                    Ok(Err(error)) if error.is_transient() => {}
                    Ok(Err(error)) => {
                        return Ended::Failed {
                            message: error.to_string(),
                            cause: None,
                        };
                    }
                    Err(error) => {
                        return Ended::Failed {
                            message: format!("a background task failed: {error}"),
                            cause: None,
                        };
                    }
                }
                tokio::time::sleep(ELSEWHERE_POLL).await;
            },
        }
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
    /// A scheduler that runs at most `max_running` analyses at once (at least one), each within `bounds`, as
    /// a replica with a new id and the default lease period.
    pub fn new(
        store: Arc<dyn Store>,
        host: Arc<JudgeHost>,
        accounts: Arc<Accounts>,
        max_running: usize,
        bounds: Bounds,
    ) -> Scheduler {
        Scheduler::with_leases(
            store,
            host,
            accounts,
            max_running,
            bounds,
            Leases::new(replica_id(), DEFAULT_LEASE_PERIOD),
        )
    }

    /// [`Scheduler::new`], as the replica of `leases`.
    pub fn with_leases(
        store: Arc<dyn Store>,
        host: Arc<JudgeHost>,
        accounts: Arc<Accounts>,
        max_running: usize,
        bounds: Bounds,
        leases: Leases,
    ) -> Scheduler {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                host,
                accounts,
                leases,
                lease_loop: Mutex::new(None),
                admitted: AtomicUsize::new(0),
                max_running: max_running.max(1),
                bounds,
            }),
        }
    }

    /// This replica's id, as its leases name it.
    pub fn replica(&self) -> &str {
        self.inner.leases.owner()
    }

    /// The analyses this replica holds the lease of (runs), in no order.
    pub fn held(&self) -> Vec<String> {
        self.inner.leases.ids()
    }

    /// How many replicas share the store, this one included, as of its last lease renewal.
    pub fn replicas(&self) -> usize {
        self.inner.leases.replicas()
    }

    /// Whether this replica can serve: the store answered its last lease renewal, within the lease period.
    pub fn readiness(&self) -> Result<(), String> {
        self.inner.leases.readiness()
    }

    /// Checks, admits, stores and starts an analysis of `spec` (normalized) with `config`, started through
    /// `origin`'s API. Everything the analysis will need is checked first — its plan, its bounds, every query
    /// of its first window — so that a request that cannot be analysed never reaches the store. Refused
    /// with [`SubmitError::Busy`] when the server already runs its cap of analyses; then nothing is stored.
    /// A retrospective analysis runs here; a real-time one runs here while this replica holds less than its
    /// fair share, and is otherwise stored unowned for the replica that claims it.
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
        let here = self.inner.leases.runs_here(spec.is_real_time());
        let (store, owner, lease) = (
            self.inner.store.clone(),
            self.inner.leases.owner().to_string(),
            self.inner.leases.period(),
        );
        let since = Instant::now();
        let analysis = tokio::task::spawn_blocking(move || {
            let analysis = NewAnalysis {
                origin,
                request,
                config,
            };
            if here {
                store.create_leased_analysis(analysis, &owner, lease)
            } else {
                store.create_analysis(analysis)
            }
        })
        .await
        .map_err(|error| SubmitError::Internal(format!("a background task failed: {error}")))??;
        if !here {
            tracing::info!(analysis = %analysis.id, "stored for the replica that claims it");
            return Ok(Running {
                id: analysis.id,
                task: Task::Elsewhere(self.inner.store.clone()),
            });
        }
        let grant = self.inner.leases.take(&analysis.id, since).ok_or_else(|| {
            SubmitError::Internal(format!("analysis {} is already running", analysis.id))
        })?;
        Ok(self.start(analysis, slot, grant))
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

    /// A place among the running analyses, for a claimed analysis (claims are bounded by the room left).
    fn readmit(&self) -> Slot {
        self.inner.admitted.fetch_add(1, Ordering::SeqCst);
        crate::telemetry::analyses_running(1);
        Slot(self.inner.clone())
    }

    /// Runs `analysis` in the background from its next interval under its lease `grant`, holding `slot`
    /// until it has ended (completed, failed, cancelled, or stopped).
    fn start(&self, analysis: Analysis, slot: Slot, grant: Grant) -> Running {
        let id = analysis.id.clone();
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let id = analysis.id.clone();
            // A panic while planning or judging fails this analysis, not the server.
            let outcome = AssertUnwindSafe(run(&inner, analysis, grant.stop))
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
                    let (store, failed, reason, owner) = (
                        inner.store.clone(),
                        id.clone(),
                        message.clone(),
                        inner.leases.owner().to_string(),
                    );
                    let marked = tokio::task::spawn_blocking(move || {
                        store.transition_as(&owner, &failed, Transition::Fail(reason))
                    })
                    .await;
                    match marked {
                        Ok(Ok(_)) => Ended::Failed { message, cause },
                        // Cancelled meanwhile: the cancellation stands. Taken over: the new owner decides.
                        Ok(Err(StoreError::Conflict(
                            Conflict::AnalysisFinished { .. } | Conflict::LeaseLost { .. },
                        ))) => Ended::Stopped,
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
            inner.leases.forget(&id, grant.generation);
            drop(slot);
            ended
        });
        Running {
            id,
            task: Task::Here(task),
        }
    }

    /// Renews this replica's leases and claims its share of the unfinished analyses — after a restart or a
    /// crash, the ones it or a dead replica left — then keeps doing so every third of the lease period, in
    /// the background, until [`Scheduler::shutdown`]. A claimed analysis that cannot be read is marked
    /// `error` with the reason instead. Returns how many analyses the first claim started; fails when the
    /// store cannot be reached.
    pub async fn start_leasing(&self) -> Result<usize, String> {
        let started = self.tick().await?;
        let scheduler = self.clone();
        let heartbeat = self.inner.leases.heartbeat();
        let lease_loop = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            let mut failing = false;
            loop {
                ticks.tick().await;
                match scheduler.tick().await {
                    Ok(_) if failing => {
                        tracing::info!("the store answers again: leases renewed");
                        failing = false;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        // Once per outage, not at every heartbeat.
                        if !failing {
                            tracing::warn!("cannot renew or claim leases: {error}");
                        }
                        failing = true;
                    }
                }
            }
        });
        *self
            .inner
            .lease_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(lease_loop.abort_handle());
        Ok(started)
    }

    /// One beat of the lease loop: renews the leases held (stopping the tasks of those lost), then claims
    /// up to this replica's fair share. How many analyses it started.
    async fn tick(&self) -> Result<usize, String> {
        let inner = &self.inner;
        let (owner, period) = (inner.leases.owner().to_string(), inner.leases.period());
        let asked = inner.leases.ids();
        let started = Instant::now();
        let renewal = blocking(inner, {
            let (owner, asked) = (owner.clone(), asked.clone());
            move |store| store.renew_leases(&owner, &asked, period)
        })
        .await
        .and_then(|renewal| renewal.map_err(|error| error.to_string()));
        match renewal {
            Ok(renewal) => inner.leases.renewed(started, &asked, &renewal),
            Err(error) => {
                inner.leases.renewal_failed(error.clone());
                return Err(error);
            }
        }

        let room = inner
            .max_running
            .saturating_sub(inner.admitted.load(Ordering::SeqCst));
        let limit = inner.leases.claim_limit(room);
        if limit == 0 {
            return Ok(0);
        }
        let since = Instant::now();
        let claimed = blocking(inner, move |store| {
            store.claim_analyses(&owner, period, limit)
        })
        .await?
        .map_err(|error| error.to_string())?;
        let mut started = 0;
        for claimed in claimed {
            match claimed.analysis {
                Ok(analysis) => {
                    if let Some(from) = &claimed.taken_over_from {
                        crate::telemetry::lease_taken_over();
                        tracing::info!(
                            analysis = %analysis.id,
                            next_interval = analysis.next_interval,
                            "taking over the analysis from replica {from}, whose lease expired"
                        );
                    } else {
                        tracing::info!(analysis = %analysis.id, next_interval = analysis.next_interval, "running analysis");
                    }
                    // Already running here when the claim only took back this replica's own lapsed lease.
                    if let Some(grant) = inner.leases.take(&analysis.id, since) {
                        let slot = self.readmit();
                        self.start(analysis, slot, grant);
                        started += 1;
                    }
                }
                Err(unreadable) => {
                    let message =
                        format!("the stored analysis cannot be read: {}", unreadable.error);
                    tracing::error!(analysis = %unreadable.id, "not running it: {message}");
                    let (failed, owner) = (unreadable.id.clone(), inner.leases.owner().to_string());
                    let marked = blocking(inner, move |store| {
                        store.mark_error(&failed, &message)?;
                        store.release_lease(&failed, &owner)
                    })
                    .await;
                    match marked {
                        Ok(Ok(())) => crate::telemetry::analysis_finished("error"),
                        Ok(Err(error)) => tracing::error!(
                            analysis = %unreadable.id,
                            "cannot mark the analysis as failed: {error}"
                        ),
                        Err(error) => tracing::error!(
                            analysis = %unreadable.id,
                            "cannot mark the analysis as failed: {error}"
                        ),
                    }
                }
            }
        }
        Ok(started)
    }

    /// Stops leasing and running: the lease loop ends, every task is told to stop, and their leases are given
    /// back so that other replicas take the analyses over at once (a rolling update) rather than after the
    /// lease period.
    pub async fn shutdown(&self) {
        if let Some(lease_loop) = self
            .inner
            .lease_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            lease_loop.abort();
        }
        let ids = self.inner.leases.stop_all(Stop::Shutdown);
        if ids.is_empty() {
            return;
        }
        let owner = self.inner.leases.owner().to_string();
        let count = ids.len();
        let released = blocking(&self.inner, move |store| {
            ids.iter()
                .try_for_each(|id| store.release_lease(id, &owner))
        })
        .await;
        match released {
            Ok(Ok(())) => tracing::info!("gave back the leases of {count} analyses"),
            Ok(Err(error)) => tracing::warn!(
                "cannot give back the leases (other replicas take the analyses over when they expire): {error}"
            ),
            Err(error) => tracing::warn!("cannot give back the leases: {error}"),
        }
    }

    /// Tells the task running `id` here (if any) to stop; the caller records the cancellation in the store,
    /// where the replica running it (if another) finds it at its next renewal.
    pub fn cancel(&self, id: &str) {
        self.inner.leases.stop(id, Stop::Cancelled);
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
/// `error`. Stops, without writing, when `stop` says so or the store refuses a write for a lost lease.
async fn run(
    inner: &Inner,
    analysis: Analysis,
    mut stop: watch::Receiver<Option<Stop>>,
) -> Result<Ended, Failure> {
    let id = analysis.id.clone();
    let spec: AnalysisSpec = serde_json::from_value(analysis.request.clone())
        .map_err(|error| format!("the stored request cannot be read: {error}"))?;
    // Each replica loads its own judges: the message names the one that lacks it.
    crate::judging::select_judge(&inner.host, spec.judge.as_deref(), &analysis.config).map_err(
        |error| {
            format!(
                "replica '{}' cannot run this analysis: {error}",
                inner.leases.owner()
            )
        },
    )?;
    let plan = spec.plan(analysis.config.clone(), &inner.accounts, &inner.host)?;
    let started = write_held(inner, &id, &mut stop, {
        let id = id.clone();
        move |store, owner| store.transition_as(owner, &id, Transition::Start)
    })
    .await?;
    match started {
        Written::Done(_) => {}
        Written::Stopped(why) => return Ok(stopped(inner, &id, why).await),
        Written::Refused(error) => return refused(&id, error),
    }

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
                why = halted(&mut stop) => return Ok(stopped(inner, &id, why).await),
            }
        }
        // Only while the lease is trusted: a replica that cannot renew pauses here.
        if let Err(why) = inner.leases.hold(&id, &mut stop).await {
            return Ok(stopped(inner, &id, why).await);
        }
        let request = AnalysisRequest {
            config: plan.config.clone(),
            scopes: plan.scopes_for(window.start, window.end),
            thresholds: plan.thresholds,
        };
        let judged = tokio::select! {
            judged = analyze(plan.source.as_ref(), &plan.judge, &request, DEFAULT_CONCURRENCY) => judged,
            why = halted(&mut stop) => return Ok(stopped(inner, &id, why).await),
        };
        let mut outcome = match judged {
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
        let recorded = write_held(inner, &id, &mut stop, {
            let (id, verdict) = (id.clone(), verdict.clone());
            move |store, owner| store.record_interval_as(owner, &id, &interval, verdict.clone())
        })
        .await?;
        match recorded {
            Written::Done(_) => {}
            Written::Stopped(why) => return Ok(stopped(inner, &id, why).await),
            Written::Refused(error) => return refused(&id, error),
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

/// How often a write the store could not take is tried again, while the lease holds.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How a write under the lease went.
enum Written<T> {
    Done(T),
    /// The task was told to stop before the write was made.
    Stopped(Stop),
    /// The store refused it (a conflict, a lost lease, a damaged record).
    Refused(StoreError),
}

/// Makes store write `write` (given the store and this replica's id) as the holder of `id`'s lease: once the
/// lease is trusted, and again every [`STORE_RETRY`] while the store cannot be reached, so that an outage
/// pauses the analysis instead of failing it.
async fn write_held<T: Send + 'static>(
    inner: &Inner,
    id: &str,
    stop: &mut watch::Receiver<Option<Stop>>,
    write: impl Fn(&dyn Store, &str) -> Result<T, StoreError> + Send + Sync + 'static,
) -> Result<Written<T>, Failure> {
    let write = Arc::new(write);
    let mut retrying = false;
    loop {
        if let Err(why) = inner.leases.hold(id, stop).await {
            return Ok(Written::Stopped(why));
        }
        let (write, owner) = (write.clone(), inner.leases.owner().to_string());
        match blocking(inner, move |store| write(store, &owner)).await? {
            Ok(value) => return Ok(Written::Done(value)),
            Err(error) if error.is_transient() => {
                if !retrying {
                    tracing::warn!(analysis = %id, "the store cannot take the write, retrying while the lease holds: {error}");
                    retrying = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(STORE_RETRY) => {}
                    why = halted(stop) => return Ok(Written::Stopped(why)),
                }
            }
            Err(error) => return Ok(Written::Refused(error)),
        }
    }
}

/// How a run ends when the store refused its write: cancelled when it was cancelled meanwhile; stopped when it
/// finished otherwise, the interval is already recorded, or the lease was lost; failed otherwise.
fn refused(id: &str, error: StoreError) -> Result<Ended, Failure> {
    match error {
        StoreError::Conflict(Conflict::AnalysisFinished {
            status: AnalysisStatus::Cancelled,
            ..
        }) => {
            tracing::info!(analysis = %id, "stopping: the analysis was cancelled");
            Ok(Ended::Cancelled)
        }
        StoreError::Conflict(
            conflict @ (Conflict::AnalysisFinished { .. }
            | Conflict::IntervalRecorded { .. }
            | Conflict::LeaseLost { .. }),
        ) => {
            tracing::info!(analysis = %id, "stopping: {conflict}");
            Ok(Ended::Stopped)
        }
        error => Err(error.to_string().into()),
    }
}

/// Resolves when the task is told to stop, with why.
async fn halted(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    match stop.wait_for(Option::is_some).await {
        Ok(why) => why.unwrap_or(Stop::NotHeld),
        // The grant was replaced: another task of this replica runs the analysis now.
        Err(_) => Stop::NotHeld,
    }
}

/// How a run told to stop for `why` ended: cancelled here, or through another replica (the store says), or
/// stopped because the lease is no longer this replica's.
async fn stopped(inner: &Inner, id: &str, why: Stop) -> Ended {
    match why {
        Stop::Cancelled => Ended::Cancelled,
        Stop::Shutdown => Ended::Stopped,
        Stop::NotHeld => {
            let read = id.to_string();
            match blocking(inner, move |store| store.analysis(&read)).await {
                Ok(Ok(analysis)) if analysis.status == AnalysisStatus::Cancelled => {
                    tracing::info!(analysis = %id, "cancelled through another replica");
                    Ended::Cancelled
                }
                _ => {
                    tracing::info!(analysis = %id, "stopping: this replica no longer holds the lease");
                    Ended::Stopped
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::future::BoxFuture;

    use super::*;
    use crate::judge_host::Limits;
    use crate::metrics::{MetricSet, MetricSource, Scope};
    use crate::store::SqliteStore;

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
