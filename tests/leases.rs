//! The store's leases (the rules in `coalmine::store`'s docs) against real SQLite files: claims take
//! unowned and expired analyses only, once each even under concurrent claims from separate connections;
//! renewals keep what is still held; a writer that lost its lease is refused; a released lease is free at
//! once; a process that holds a data directory alone ends the leases of its dead predecessors.
//!
//! A lease of zero length is expired the moment it is taken, and one of an hour outlives the test: no test
//! here waits for a clock.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use coalmine::kayenta::{CanaryConfig, CanaryJudgeResult};
use coalmine::store::{
    Analysis, AnalysisStatus, Conflict, NewAnalysis, NewInterval, Origin, SqliteStore, Store,
    StoreError, Transition, Verdict,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tempfile::TempDir;

const HOUR: Duration = Duration::from_secs(3600);
const EXPIRED: Duration = Duration::ZERO;

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("coalmine.db")).unwrap()
}

fn config() -> CanaryConfig {
    serde_json::from_value(json!({
        "name": "latency",
        "applications": ["shop"],
        "metrics": [{
            "name": "cpu",
            "query": {"type": "prometheus", "metricName": "cpu_seconds_total"},
            "groups": ["system"],
            "scopeName": "default"
        }],
        "classifier": {"groupWeights": {"system": 100.0}}
    }))
    .unwrap()
}

fn new_analysis() -> NewAnalysis {
    NewAnalysis {
        origin: Origin::Native,
        request: json!({"lifetime": "1h"}),
        config: config(),
    }
}

fn interval(index: u32) -> NewInterval {
    let start: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
    let judge_result: CanaryJudgeResult = serde_json::from_value(json!({
        "judgeName": "NetflixACAJudge-v1.0",
        "results": [],
        "groupScores": [],
        "score": {"score": 100.0, "classification": "Pass", "classificationReason": ""}
    }))
    .unwrap();
    NewInterval {
        index,
        start,
        end: start + SignedDuration::from_mins(10 * (i64::from(index) + 1)),
        judge_result,
        pairs: Vec::new(),
        queries: json!([]),
    }
}

fn pass() -> Verdict {
    Verdict {
        classification: "Pass".to_owned(),
        score: 100.0,
    }
}

/// The ids of claimed analyses, each readable, and the replicas they were taken over from.
fn claim(
    store: &dyn Store,
    owner: &str,
    lease: Duration,
    limit: usize,
) -> Vec<(String, Option<String>)> {
    store
        .claim_analyses(owner, lease, limit)
        .unwrap()
        .into_iter()
        .map(|claimed| {
            (
                claimed.analysis.expect("a readable analysis").id,
                claimed.taken_over_from,
            )
        })
        .collect()
}

fn created(store: &dyn Store, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| store.create_analysis(new_analysis()).unwrap().id)
        .collect()
}

fn lease_lost(error: StoreError) -> bool {
    matches!(error, StoreError::Conflict(Conflict::LeaseLost { .. }))
}

#[test]
fn pending_analyses_are_claimed_oldest_first_once_each_and_a_leased_one_is_not_claimed() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let pending = created(&store, 5);
    let leased = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap();
    assert_eq!(leased.status, AnalysisStatus::Pending);

    assert_eq!(claim(&store, "replica-b", HOUR, 0), []);
    let first = claim(&store, "replica-b", HOUR, 3);
    assert_eq!(
        first,
        pending[..3]
            .iter()
            .map(|id| (id.clone(), None))
            .collect::<Vec<_>>()
    );
    let rest = claim(&store, "replica-c", HOUR, 10);
    assert_eq!(
        rest,
        pending[3..]
            .iter()
            .map(|id| (id.clone(), None))
            .collect::<Vec<_>>(),
        "the leased analysis and the ones replica-b holds are not claimed again"
    );
    assert_eq!(claim(&store, "replica-a", HOUR, 10), []);

    // Finished analyses are never claimed.
    let finished = store.create_analysis(new_analysis()).unwrap();
    store.transition(&finished.id, Transition::Cancel).unwrap();
    assert_eq!(claim(&store, "replica-a", HOUR, 10), []);
}

#[test]
fn an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_write() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .create_leased_analysis(new_analysis(), "replica-a", EXPIRED)
        .unwrap()
        .id;
    // An expired lease cannot be written under.
    assert!(lease_lost(
        store
            .record_interval_as("replica-a", &id, &interval(0), None)
            .unwrap_err()
    ));

    assert_eq!(
        claim(&store, "replica-b", HOUR, 10),
        [(id.clone(), Some("replica-a".to_owned()))]
    );
    for owner in ["replica-a", "replica-c"] {
        assert!(lease_lost(
            store
                .transition_as(owner, &id, Transition::Start)
                .unwrap_err()
        ));
        assert!(lease_lost(
            store
                .record_interval_as(owner, &id, &interval(0), None)
                .unwrap_err()
        ));
    }
    assert_eq!(
        store.analysis(&id).unwrap().next_interval,
        0,
        "nothing written"
    );
    let renewal = store
        .renew_leases("replica-a", std::slice::from_ref(&id), HOUR)
        .unwrap();
    assert!(renewal.held.is_empty(), "{renewal:?}");

    // The new holder resumes where the analysis was.
    let started = store
        .transition_as("replica-b", &id, Transition::Start)
        .unwrap();
    assert_eq!(started.status, AnalysisStatus::Running);
    store
        .record_interval_as("replica-b", &id, &interval(0), None)
        .unwrap();
    let completed = store
        .record_interval_as("replica-b", &id, &interval(1), Some(pass()))
        .unwrap();
    assert_eq!(completed.status, AnalysisStatus::Completed);
    assert_eq!(completed.next_interval, 2);
    assert!(
        matches!(
            store
                .record_interval_as("replica-b", &id, &interval(1), None)
                .unwrap_err(),
            StoreError::Conflict(Conflict::AnalysisFinished { .. })
        ),
        "a finished analysis says so before anything about its lease"
    );
    // A claimer that takes back its own expired lease took nothing over.
    let own = store
        .create_leased_analysis(new_analysis(), "replica-b", EXPIRED)
        .unwrap()
        .id;
    assert_eq!(claim(&store, "replica-b", HOUR, 10), [(own, None)]);
}

#[test]
fn the_store_refuses_a_second_record_of_an_interval_even_to_the_lease_holder() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap()
        .id;
    store
        .record_interval_as("replica-a", &id, &interval(0), None)
        .unwrap();
    assert!(matches!(
        store
            .record_interval_as("replica-a", &id, &interval(0), None)
            .unwrap_err(),
        StoreError::Conflict(Conflict::IntervalRecorded { index: 0, .. })
    ));
}

#[test]
fn renewals_keep_what_is_held_and_count_replicas_and_unfinished_analyses() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let held = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap()
        .id;
    // Expired, but no one took it over yet: still replica-a's, and renewed.
    let lapsed = store
        .create_leased_analysis(new_analysis(), "replica-a", EXPIRED)
        .unwrap()
        .id;
    let cancelled = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap()
        .id;
    let others = store
        .create_leased_analysis(new_analysis(), "replica-b", HOUR)
        .unwrap()
        .id;
    let unowned = created(&store, 1).remove(0);
    // Cancelled through the API (any replica): its owner learns it at its next renewal.
    store.transition(&cancelled, Transition::Cancel).unwrap();

    let asked = [
        held.clone(),
        lapsed.clone(),
        cancelled.clone(),
        others.clone(),
        unowned.clone(),
        "no-such-analysis".to_owned(),
    ];
    let renewal = store.renew_leases("replica-a", &asked, HOUR).unwrap();
    assert_eq!(renewal.held, [held.clone(), lapsed.clone()]);
    assert_eq!(renewal.unfinished, 4, "held, lapsed, others, unowned");
    assert_eq!(renewal.replicas, 1, "only replica-a has renewed");
    // The renewed lease holds again: nobody can claim it, and its owner can write.
    assert_eq!(claim(&store, "replica-c", HOUR, 10), [(unowned, None)]);
    store
        .record_interval_as("replica-a", &lapsed, &interval(0), None)
        .unwrap();

    let renewal = store.renew_leases("replica-b", &[], HOUR).unwrap();
    assert_eq!(
        (renewal.held.len(), renewal.replicas),
        (0, 2),
        "a replica with no analysis counts too"
    );
    // With a lease period of zero, no other replica renewed within it: only the caller is counted.
    assert_eq!(
        store
            .renew_leases("replica-c", &[], EXPIRED)
            .unwrap()
            .replicas,
        1
    );
}

#[test]
fn a_released_lease_is_claimable_at_once_and_only_its_holder_can_release_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap()
        .id;
    store.release_lease(&id, "replica-b").unwrap();
    assert_eq!(claim(&store, "replica-b", HOUR, 10), []);
    store.release_lease(&id, "replica-a").unwrap();
    assert!(lease_lost(
        store
            .transition_as("replica-a", &id, Transition::Start)
            .unwrap_err()
    ));
    assert_eq!(claim(&store, "replica-b", HOUR, 10), [(id, None)]);
}

#[test]
fn leased_writes_follow_the_status_rules_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .create_leased_analysis(new_analysis(), "replica-a", HOUR)
        .unwrap()
        .id;
    store.transition(&id, Transition::Cancel).unwrap();
    // Cancelling again changes nothing, whoever asks.
    store
        .transition_as("replica-b", &id, Transition::Cancel)
        .unwrap();
    for owner in ["replica-a", "replica-b"] {
        assert!(matches!(
            store
                .transition_as(owner, &id, Transition::Fail("boom".to_owned()))
                .unwrap_err(),
            StoreError::Conflict(Conflict::AnalysisFinished { .. })
        ));
    }
    let missing = store
        .transition_as("replica-a", "no-such-analysis", Transition::Start)
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
}

#[test]
fn concurrent_claims_from_separate_connections_never_share_an_analysis() {
    const CLAIMERS: usize = 6;
    const ANALYSES: usize = 60;
    let dir = TempDir::new().unwrap();
    let ids: HashSet<String> = created(&open(&dir), ANALYSES).into_iter().collect();
    let barrier = Arc::new(Barrier::new(CLAIMERS));

    let claimed: Vec<Vec<String>> = thread::scope(|scope| {
        let claimers: Vec<_> = (0..CLAIMERS)
            .map(|claimer| {
                // A connection of its own, as another process would have.
                let store = open(&dir);
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let owner = format!("replica-{claimer}");
                    let mut mine = Vec::new();
                    loop {
                        let batch = claim(&store, &owner, HOUR, 4);
                        if batch.is_empty() {
                            break;
                        }
                        mine.extend(batch.into_iter().map(|(id, _)| id));
                    }
                    mine
                })
            })
            .collect();
        claimers
            .into_iter()
            .map(|claimer| claimer.join().unwrap())
            .collect()
    });

    let all: Vec<&String> = claimed.iter().flatten().collect();
    assert_eq!(all.len(), ANALYSES, "each analysis claimed exactly once");
    assert_eq!(all.into_iter().cloned().collect::<HashSet<_>>(), ids);
    // Each claimer holds exactly what it claimed.
    let store = open(&dir);
    for (claimer, mine) in claimed.iter().enumerate() {
        let renewal = store
            .renew_leases(&format!("replica-{claimer}"), mine, HOUR)
            .unwrap();
        assert_eq!(&renewal.held, mine);
    }
}

#[test]
fn the_process_holding_a_data_directory_ends_the_leases_it_finds_and_keeps_others_out() {
    let dir = TempDir::new().unwrap();
    let (held, finished) = {
        let store = SqliteStore::open_exclusive(dir.path()).unwrap();
        let held = store
            .create_leased_analysis(new_analysis(), "dead-replica", HOUR)
            .unwrap()
            .id;
        let finished = store
            .create_leased_analysis(new_analysis(), "dead-replica", HOUR)
            .unwrap()
            .id;
        store
            .record_interval_as("dead-replica", &finished, &interval(0), Some(pass()))
            .unwrap();
        let refused = SqliteStore::open_exclusive(dir.path()).unwrap_err();
        assert!(
            matches!(refused, StoreError::DataDirInUse { pid: Some(pid), .. } if pid == std::process::id()),
            "{refused:?}"
        );
        (held, finished)
    };

    let store = SqliteStore::open_exclusive(dir.path()).unwrap();
    let claimed = claim(&store, "next-replica", HOUR, 10);
    assert_eq!(claimed, [(held, None)], "free at once, and not a takeover");
    let finished: Analysis = store.analysis(&finished).unwrap();
    assert_eq!(finished.status, AnalysisStatus::Completed);
}
