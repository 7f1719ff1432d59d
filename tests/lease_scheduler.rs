//! Several replicas (schedulers, each with a runtime of its own) on one store, against a real Prometheus: new
//! real-time analyses are spread across them; when one dies (its runtime is dropped at once, as a crash
//! would: no lease given back), another takes its analyses over once their leases expire and resumes each at
//! its next unjudged interval, every interval recorded exactly once; a cancellation through a replica that
//! does not run the analysis reaches the one that does; a replica lacking the judge an analysis names fails
//! it with a message naming the judge and the replica.
//!
//! This exercises the scheduler's lease logic on SQLite, in one process; `tests/replicas.rs` runs real
//! processes on PostgreSQL. Deadlines are generous bounds on outcomes, not timing assertions.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coalmine::analysis::leases::Leases;
use coalmine::analysis::scheduler::{Running, Scheduler};
use coalmine::analysis::spec::{AnalysisSpec, Bounds};
use coalmine::judge_host::{JudgeHost, Limits};
use coalmine::metrics::{Accounts, PrometheusAccount, PrometheusSource};
use coalmine::store::{AnalysisStatus, NewAnalysis, Origin, SqliteStore, Store, Transition};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE};
use tokio::runtime::Runtime;

const LEASE: Duration = Duration::from_secs(2);

/// A replica named `name` on `store`, started (its first renewal and claim made) on a runtime of its own.
fn replica(store: &Arc<dyn Store>, name: &str) -> (Runtime, Scheduler) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut accounts = Accounts::default();
    accounts.add(
        "prometheus",
        Arc::new(
            PrometheusSource::new(PrometheusAccount::new(
                "prometheus",
                &prometheus::shared().url,
            ))
            .unwrap(),
        ),
    );
    let scheduler = Scheduler::with_leases(
        store.clone(),
        Arc::new(JudgeHost::with_built_in(Limits::default(), None).unwrap()),
        Arc::new(accounts),
        100,
        Bounds {
            max_lifetime: SignedDuration::from_hours(24),
            max_metrics: 10,
            max_points: 10_000,
        },
        Leases::new(name.to_string(), LEASE),
    );
    runtime.block_on(scheduler.start_leasing()).unwrap();
    (runtime, scheduler)
}

/// A real-time analysis of the baseline against itself, normalized as the API does, whose windows lie around
/// now: its query reads the data set shifted (PromQL `offset`) so that the middle of its hour is the present.
fn real_time(lifetime: &str, interval: &str, judge: Option<&str>) -> AnalysisSpec {
    let data = prometheus::shared();
    let middle = data.start_time() + SignedDuration::from_mins(30);
    let offset = Timestamp::now().duration_since(middle).as_secs();
    let mut spec = json!({
        "config": {
            "name": "live",
            "metrics": [{
                "name": "latency",
                "query": {"type": "prometheus",
                          "customInlineTemplate": format!("PromQL:avg(checkout_latency_seconds{{app=\"${{scope}}\"}} offset {offset}s)")},
                "groups": ["latency"],
                "scopeName": "default"
            }]
        },
        "control": {"scope": BASELINE},
        "experiment": {"scope": BASELINE},
        "lifetime": lifetime,
        "interval": interval,
        "step": "1s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    if let Some(judge) = judge {
        spec["judge"] = json!(judge);
    }
    serde_json::from_value::<AnalysisSpec>(spec)
        .unwrap()
        .normalized(Timestamp::now())
}

fn submit(runtime: &Runtime, scheduler: &Scheduler, spec: &AnalysisSpec) -> Running {
    runtime
        .block_on(scheduler.submit(Origin::Native, spec, spec.config.clone().unwrap()))
        .unwrap()
}

/// Waits until `done`, for at most `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn held(scheduler: &Scheduler) -> HashSet<String> {
    scheduler.held().into_iter().collect()
}

#[test]
fn replicas_share_new_analyses_and_take_over_a_dead_ones_at_the_next_unjudged_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("coalmine.db")).unwrap());
    let (b_runtime, b) = replica(&store, "replica-b");
    let (a_runtime, a) = replica(&store, "replica-a");

    // Six analyses submitted to A: A keeps its share, B claims the rest.
    let ids: Vec<String> = (0..6)
        .map(|_| submit(&a_runtime, &a, &real_time("10s", "2s", None)).id)
        .collect();
    let all: HashSet<String> = ids.iter().cloned().collect();
    wait_until(Duration::from_secs(30), "B claims its share", || {
        let (on_a, on_b) = (held(&a), held(&b));
        on_a.is_disjoint(&on_b) && &on_a | &on_b == all
    });
    let on_a = held(&a);
    assert_eq!(on_a.len(), 3, "a fair share of six over two replicas");

    // A dies once each of its analyses has judged an interval.
    wait_until(
        Duration::from_secs(60),
        "A judges an interval of each",
        || {
            on_a.iter()
                .all(|id| store.analysis(id).unwrap().next_interval >= 1)
        },
    );
    a_runtime.shutdown_background();
    let before: BTreeMap<String, Vec<Timestamp>> = on_a
        .iter()
        .map(|id| {
            let judged = store.intervals(id).unwrap();
            (id.clone(), judged.iter().map(|i| i.judged_at).collect())
        })
        .collect();

    wait_until(Duration::from_secs(120), "every analysis completes", || {
        ids.iter().all(|id| {
            store.analysis(id).unwrap().status != AnalysisStatus::Running
                && store.analysis(id).unwrap().status != AnalysisStatus::Pending
        })
    });
    for id in &ids {
        let analysis = store.analysis(id).unwrap();
        assert_eq!(
            (analysis.status, analysis.verdict.map(|v| v.classification)),
            (AnalysisStatus::Completed, Some("Pass".to_string())),
            "{id}: {:?}",
            analysis.error
        );
        let intervals = store.intervals(id).unwrap();
        assert_eq!(
            intervals.iter().map(|i| i.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4],
            "{id}: every interval recorded exactly once"
        );
        if let Some(judged) = before.get(id) {
            for (index, judged_at) in judged.iter().enumerate() {
                assert_eq!(
                    intervals[index].judged_at, *judged_at,
                    "{id}: interval {index}, judged by A, was not judged again"
                );
            }
        }
    }
    drop(b_runtime);
}

#[test]
fn a_cancellation_through_another_replica_reaches_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("coalmine.db")).unwrap());
    let (b_runtime, b) = replica(&store, "replica-b");
    let (a_runtime, a) = replica(&store, "replica-a");
    let running = submit(&a_runtime, &a, &real_time("1h", "30m", None));
    let id = running.id.clone();
    wait_until(Duration::from_secs(30), "a replica runs it", || {
        held(&a).contains(&id) || held(&b).contains(&id)
    });
    let (owner, other) = if held(&a).contains(&id) {
        (&a, &b)
    } else {
        (&b, &a)
    };

    // What `POST /v1/analyses/{id}/cancel` does on the replica that does not run it.
    store.transition(&id, Transition::Cancel).unwrap();
    other.cancel(&id);
    wait_until(Duration::from_secs(30), "the owner stops", || {
        !held(owner).contains(&id)
    });
    assert_eq!(
        store.analysis(&id).unwrap().status,
        AnalysisStatus::Cancelled
    );
    // A's handle says so, whoever ran it.
    let ended = a_runtime.block_on(running.ended());
    assert!(
        matches!(ended, coalmine::analysis::scheduler::Ended::Cancelled),
        "{ended:?}"
    );
    drop((a_runtime, b_runtime));
}

#[test]
fn a_replica_lacking_the_judge_an_analysis_names_fails_it_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("coalmine.db")).unwrap());
    // Stored as a replica with the judge `dredd` (an alias) would store it, for others to claim.
    let spec = real_time("1h", "30m", Some("dredd"));
    let request: Value = serde_json::to_value(&spec).unwrap();
    let id = store
        .create_analysis(NewAnalysis {
            origin: Origin::Native,
            request,
            config: spec.config.clone().unwrap(),
        })
        .unwrap()
        .id;
    let (runtime, replica) = replica(&store, "replica-without-dredd");
    wait_until(Duration::from_secs(30), "the analysis fails", || {
        store.analysis(&id).unwrap().status == AnalysisStatus::Error
    });
    let error = store.analysis(&id).unwrap().error.unwrap();
    assert!(
        error.contains("replica 'replica-without-dredd' cannot run this analysis")
            && error.contains("no judge named \"dredd\""),
        "{error}"
    );
    wait_until(Duration::from_secs(30), "the lease is given up", || {
        replica.held().is_empty()
    });
    drop(runtime);
}
