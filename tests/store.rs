//! The embedded store against real SQLite files in temporary directories: canary configs, analyses and their
//! intervals, the transactions that tie them, durability across a restart and a `kill -9`, the schema
//! version check, and use from several threads.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use coalmine::kayenta::{CanaryConfig, CanaryJudgeResult, MetricSetPair};
use coalmine::store::{
    Analysis, AnalysisQuery, AnalysisStatus, Conflict, Missing, NewAnalysis, NewInterval, Origin,
    SqliteStore, Store, StoreError, Transition, Verdict,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tempfile::TempDir;

fn database(dir: &TempDir) -> PathBuf {
    dir.path().join("coalmine.db")
}

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(database(dir)).unwrap()
}

fn config(name: &str, applications: &[&str]) -> CanaryConfig {
    serde_json::from_value(json!({
        "name": name,
        "applications": applications,
        "configVersion": "1",
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [{
            "name": "cpu",
            "query": {"type": "prometheus", "metricName": "cpu_seconds_total"},
            "groups": ["system"],
            "analysisConfigurations": {"canary": {"direction": "increase"}},
            "scopeName": "default"
        }],
        "classifier": {"groupWeights": {"system": 100.0}}
    }))
    .unwrap()
}

fn new_analysis(origin: Origin) -> NewAnalysis {
    NewAnalysis {
        origin,
        request: json!({"scopes": {"default": {}}, "thresholds": {"pass": 95.0, "marginal": 75.0}}),
        config: config("latency", &["shop"]),
    }
}

fn judge_result(score: f64) -> CanaryJudgeResult {
    let stats = json!({"min": 1.0, "max": 3.0, "mean": 2.0, "std": 1.0, "count": 60});
    serde_json::from_value(json!({
        "judgeName": "NetflixACAJudge-v1.0",
        "results": [{
            "name": "cpu", "id": "pair-0", "tags": {"pod": "a"},
            "classification": "Pass", "groups": ["system"],
            "experimentMetadata": {"stats": stats}, "controlMetadata": {"stats": stats},
            "resultMetadata": {"ratio": 1.0},
            "critical": false, "muted": false
        }],
        "groupScores": [{"name": "system", "score": score, "classification": "", "classificationReason": ""}],
        "score": {"score": score, "classification": "Pass", "classificationReason": ""}
    }))
    .unwrap()
}

fn pairs() -> Vec<MetricSetPair> {
    serde_json::from_value(json!([{
        "name": "cpu", "id": "pair-0", "tags": {"pod": "a"},
        "values": {"control": [1.0, "NaN", 3.0], "experiment": [1.5, 2.5, null]},
        "scopes": {"control": {"startTimeMillis": 1_714_564_800_000_i64, "stepMillis": 60_000}}
    }]))
    .unwrap()
}

/// Interval `index` of a run that judges 10-minute windows from 2024-05-01T12:00Z.
fn interval(index: u32) -> NewInterval {
    let start: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
    NewInterval {
        index,
        start,
        end: start + SignedDuration::from_mins(10 * (i64::from(index) + 1)),
        judge_result: judge_result(100.0),
        pairs: pairs(),
        queries: json!([{"metric": "cpu", "side": "control", "query": "rate(cpu_seconds_total[1m])"}]),
    }
}

fn verdict(classification: &str, score: f64) -> Verdict {
    Verdict {
        classification: classification.to_owned(),
        score,
    }
}

fn all_newest_first(limit: u32) -> AnalysisQuery {
    AnalysisQuery {
        statuses: vec![],
        limit,
        offset: 0,
    }
}

/// The unfinished analyses, every one of them readable.
fn resumable(store: &SqliteStore) -> Vec<Analysis> {
    store
        .unfinished_analyses()
        .unwrap()
        .into_iter()
        .map(|analysis| analysis.expect("a readable analysis"))
        .collect()
}

fn ids(analyses: &[Analysis]) -> Vec<&str> {
    analyses
        .iter()
        .map(|analysis| analysis.id.as_str())
        .collect()
}

#[test]
fn a_config_is_created_read_by_id_and_by_name_replaced_and_deleted() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);

    let created = store.create_config(config("latency", &["shop"])).unwrap();
    assert!(!created.id.is_empty());
    assert_eq!(created.config.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(created.created, created.updated);
    let document = serde_json::to_value(&created.config).unwrap();
    assert_eq!(
        document["createdTimestamp"],
        json!(created.created.as_millisecond())
    );
    assert_eq!(
        document["updatedTimestampIso"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        created.updated
    );
    assert_eq!(document["configVersion"], "1", "unknown fields are kept");

    assert_eq!(store.config(&created.id).unwrap(), created);
    assert_eq!(store.config_by_name("latency", None).unwrap(), created);
    assert_eq!(
        store.config_by_name("latency", Some("shop")).unwrap(),
        created
    );

    thread::sleep(Duration::from_millis(5));
    let mut renamed = config("latency-v2", &["shop", "cart"]);
    renamed.id = Some("ignored: the id replaced is the one asked for".to_owned());
    let replaced = store.replace_config(&created.id, renamed).unwrap();
    assert_eq!(replaced.id, created.id);
    assert_eq!(replaced.config.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(replaced.created, created.created);
    assert!(replaced.updated > created.updated);
    assert_eq!(store.config(&created.id).unwrap(), replaced);
    assert_eq!(
        store.config_by_name("latency-v2", Some("cart")).unwrap(),
        replaced
    );
    assert!(matches!(
        store.config_by_name("latency", None),
        Err(StoreError::NotFound(Missing::ConfigNamed { .. }))
    ));

    store.delete_config(&created.id).unwrap();
    let error = store.config(&created.id).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("Canary config '{}' does not exist.", created.id)
    );
    assert!(matches!(
        store.delete_config(&created.id),
        Err(StoreError::NotFound(Missing::Config(_)))
    ));
    assert!(matches!(
        store.replace_config(&created.id, config("latency", &["shop"])),
        Err(StoreError::NotFound(Missing::Config(_)))
    ));
    assert!(store.list_configs(&[]).unwrap().is_empty());
}

#[test]
fn a_config_keeps_the_id_it_brings_and_a_taken_id_is_refused() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut first = config("latency", &["shop"]);
    first.id = Some("shop-latency".to_owned());
    assert_eq!(store.create_config(first).unwrap().id, "shop-latency");

    let mut second = config("errors", &["cart"]);
    second.id = Some("shop-latency".to_owned());
    let error = store.create_config(second).unwrap_err();
    assert!(
        matches!(&error, StoreError::Conflict(Conflict::ConfigId { id }) if id == "shop-latency"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "Canary config 'shop-latency' already exists."
    );
    assert_eq!(store.config("shop-latency").unwrap().config.name, "latency");
}

#[test]
fn a_name_is_unique_within_overlapping_applications_only() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let shop = store
        .create_config(config("latency", &["shop", "cart"]))
        .unwrap();

    let error = store
        .create_config(config("latency", &["cart", "search"]))
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Conflict(Conflict::ConfigName { .. })),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "Canary config with name 'latency' already exists in the scope of applications [cart, search]."
    );
    assert_eq!(
        store.list_configs(&[]).unwrap().len(),
        1,
        "the refused config left nothing behind"
    );

    // Disjoint applications: the same name is allowed, and then only an application tells them apart.
    let search = store.create_config(config("latency", &["search"])).unwrap();
    let error = store.config_by_name("latency", None).unwrap_err();
    let StoreError::Conflict(Conflict::AmbiguousConfigName { ids, .. }) = &error else {
        panic!("{error:?}");
    };
    let mut expected = vec![shop.id.clone(), search.id.clone()];
    expected.sort();
    assert_eq!(ids, &expected);
    assert_eq!(
        store.config_by_name("latency", Some("search")).unwrap().id,
        search.id
    );
    assert_eq!(
        store.config_by_name("latency", Some("cart")).unwrap().id,
        shop.id
    );
    assert!(matches!(
        store.config_by_name("latency", Some("billing")),
        Err(StoreError::NotFound(Missing::ConfigNamed { .. }))
    ));

    // A replacement may keep its own name, but not move into another config's application.
    store
        .replace_config(&shop.id, config("latency", &["shop", "cart", "cart"]))
        .unwrap();
    let error = store
        .replace_config(&search.id, config("latency", &["search", "shop"]))
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Conflict(Conflict::ConfigName { .. })),
        "{error:?}"
    );
    assert_eq!(
        store.config(&search.id).unwrap(),
        search,
        "the refused replacement changed nothing"
    );

    // Deleting a config frees its name.
    store.delete_config(&shop.id).unwrap();
    store.create_config(config("latency", &["cart"])).unwrap();
}

#[test]
fn configs_are_listed_by_name_and_filtered_by_application() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let errors = store
        .create_config(config("errors", &["shop", "cart", "shop"]))
        .unwrap();
    let latency = store.create_config(config("latency", &["search"])).unwrap();
    let apdex = store.create_config(config("apdex", &["cart"])).unwrap();

    let all = store.list_configs(&[]).unwrap();
    assert_eq!(
        all.iter()
            .map(|summary| summary.name.as_str())
            .collect::<Vec<_>>(),
        ["apdex", "errors", "latency"]
    );
    let summary = &all[1];
    assert_eq!(summary.id, errors.id);
    assert_eq!(summary.updated, errors.updated);
    assert_eq!(summary.applications, ["shop", "cart"]);

    let listed = |applications: &[&str]| {
        let applications: Vec<String> = applications.iter().map(|a| a.to_string()).collect();
        store
            .list_configs(&applications)
            .unwrap()
            .into_iter()
            .map(|summary| summary.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&["cart"]), [apdex.id.clone(), errors.id.clone()]);
    assert_eq!(listed(&["search", "shop"]), [errors.id, latency.id]);
    assert!(listed(&["billing"]).is_empty());
}

#[test]
fn analyses_are_created_pending_and_listed_by_status_newest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let first = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let second = store
        .create_analysis(new_analysis(Origin::Kayenta))
        .unwrap();
    let third = store.create_analysis(new_analysis(Origin::Native)).unwrap();

    assert_eq!(first.status, AnalysisStatus::Pending);
    assert_eq!(first.next_interval, 0);
    assert_eq!((first.verdict.clone(), first.error.clone()), (None, None));
    assert_eq!(store.analysis(&first.id).unwrap(), first);
    assert_eq!(store.analysis(&second.id).unwrap().origin, Origin::Kayenta);
    assert_eq!(
        store.analysis(&second.id).unwrap().request,
        new_analysis(Origin::Kayenta).request
    );

    store.transition(&first.id, Transition::Start).unwrap();
    store
        .transition(
            &second.id,
            Transition::Fail("Prometheus is unreachable".to_owned()),
        )
        .unwrap();

    let all = store.list_analyses(&all_newest_first(10)).unwrap();
    assert_eq!(ids(&all), [&third.id, &second.id, &first.id]);
    let page = store
        .list_analyses(&AnalysisQuery {
            statuses: vec![],
            limit: 1,
            offset: 1,
        })
        .unwrap();
    assert_eq!(ids(&page), [&second.id]);
    let unfinished = store
        .list_analyses(&AnalysisQuery {
            statuses: vec![AnalysisStatus::Pending, AnalysisStatus::Running],
            limit: 10,
            offset: 0,
        })
        .unwrap();
    assert_eq!(ids(&unfinished), [&third.id, &first.id]);
    let failed = store
        .list_analyses(&AnalysisQuery {
            statuses: vec![AnalysisStatus::Error],
            limit: 10,
            offset: 0,
        })
        .unwrap();
    assert_eq!(ids(&failed), [&second.id]);
    assert_eq!(
        failed[0].error.as_deref(),
        Some("Prometheus is unreachable")
    );

    // Resuming goes oldest first.
    assert_eq!(ids(&resumable(&store)), [&first.id, &third.id]);
}

#[test]
fn intervals_are_recorded_in_order_and_only_once() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let analysis = store.create_analysis(new_analysis(Origin::Native)).unwrap();

    let after_first = store
        .record_interval(&analysis.id, &interval(0), None)
        .unwrap();
    assert_eq!(after_first.status, AnalysisStatus::Running);
    assert_eq!(after_first.next_interval, 1);

    let error = store
        .record_interval(&analysis.id, &interval(0), None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "interval 0 of analysis '{}' is already recorded",
            analysis.id
        )
    );
    assert!(matches!(
        error,
        StoreError::Conflict(Conflict::IntervalRecorded { index: 0, .. })
    ));
    let error = store
        .record_interval(&analysis.id, &interval(2), None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Conflict(Conflict::IntervalOutOfOrder {
                index: 2,
                next: 1,
                ..
            })
        ),
        "{error:?}"
    );

    store
        .record_interval(&analysis.id, &interval(1), None)
        .unwrap();
    let intervals = store.intervals(&analysis.id).unwrap();
    assert_eq!(
        intervals
            .iter()
            .map(|interval| interval.index)
            .collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(intervals[1].start, interval(1).start);
    assert_eq!(intervals[1].end, interval(1).end);
    assert_eq!(intervals[1].judge_result, judge_result(100.0));
    assert!(intervals[1].judged_at >= analysis.created);

    let detail = store.interval_detail(&analysis.id, 1).unwrap();
    assert_eq!(detail.interval, intervals[1]);
    // NaN values compare unequal, so compare the wire form ("NaN").
    assert_eq!(
        serde_json::to_value(&detail.pairs).unwrap(),
        serde_json::to_value(pairs()).unwrap()
    );
    assert_eq!(detail.queries, interval(1).queries);
    assert_eq!(store.analysis(&analysis.id).unwrap().next_interval, 2);
}

#[test]
fn recording_the_last_interval_completes_the_analysis_in_the_same_transaction() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let analysis = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    store
        .record_interval(&analysis.id, &interval(0), None)
        .unwrap();

    let completed = store
        .record_interval(&analysis.id, &interval(1), Some(verdict("Fail", 50.0)))
        .unwrap();
    assert_eq!(completed.status, AnalysisStatus::Completed);
    assert_eq!(completed.verdict, Some(verdict("Fail", 50.0)));
    assert_eq!(completed.next_interval, 2);
    assert_eq!(store.analysis(&analysis.id).unwrap(), completed);

    // A finished analysis takes no more intervals and no second verdict.
    let error = store
        .record_interval(&analysis.id, &interval(2), None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Conflict(Conflict::AnalysisFinished {
                status: AnalysisStatus::Completed,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(
        store
            .transition(&analysis.id, Transition::Complete(verdict("Pass", 100.0)))
            .is_err()
    );
    assert_eq!(store.analysis(&analysis.id).unwrap(), completed);
}

#[test]
fn a_late_completion_does_not_overwrite_a_cancellation() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let analysis = store
        .create_analysis(new_analysis(Origin::Kayenta))
        .unwrap();
    store
        .record_interval(&analysis.id, &interval(0), None)
        .unwrap();
    let cancelled = store.transition(&analysis.id, Transition::Cancel).unwrap();
    assert_eq!(cancelled.status, AnalysisStatus::Cancelled);

    // The scheduler finishes judging the interval it had started and tries to complete the analysis.
    let error = store
        .record_interval(&analysis.id, &interval(1), Some(verdict("Pass", 100.0)))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "analysis '{}' has already finished (cancelled): it cannot change any more",
            analysis.id
        )
    );
    for late in [
        Transition::Complete(verdict("Pass", 100.0)),
        Transition::Fail("judge crashed".to_owned()),
        Transition::Start,
    ] {
        assert!(matches!(
            store.transition(&analysis.id, late),
            Err(StoreError::Conflict(Conflict::AnalysisFinished {
                status: AnalysisStatus::Cancelled,
                ..
            }))
        ));
    }
    assert_eq!(
        store.analysis(&analysis.id).unwrap(),
        cancelled,
        "nothing was written, not even the interval"
    );
    assert_eq!(store.intervals(&analysis.id).unwrap().len(), 1);

    // A repeated cancellation is not an error.
    assert_eq!(
        store.transition(&analysis.id, Transition::Cancel).unwrap(),
        cancelled
    );
}

#[test]
fn unknown_records_are_not_found() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let missing = |result: Result<Analysis, StoreError>| match result {
        Err(StoreError::NotFound(Missing::Analysis(id))) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(missing(store.analysis("nope")), "nope");
    assert_eq!(
        missing(store.transition("nope", Transition::Cancel)),
        "nope"
    );
    assert_eq!(
        missing(store.record_interval("nope", &interval(0), None)),
        "nope"
    );
    assert!(matches!(
        store.intervals("nope"),
        Err(StoreError::NotFound(Missing::Analysis(_)))
    ));
    assert!(matches!(
        store.interval_detail("nope", 0),
        Err(StoreError::NotFound(Missing::Analysis(_)))
    ));

    let analysis = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    assert!(store.intervals(&analysis.id).unwrap().is_empty());
    let error = store.interval_detail(&analysis.id, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("Interval 0 of analysis '{}' does not exist.", analysis.id)
    );
}

#[test]
fn everything_survives_closing_and_reopening_the_file() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let config = store.create_config(config("latency", &["shop"])).unwrap();
    let running = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let running = store
        .record_interval(&running.id, &interval(0), None)
        .unwrap();
    let pending = store
        .create_analysis(new_analysis(Origin::Kayenta))
        .unwrap();
    let done = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let done = store
        .record_interval(&done.id, &interval(0), Some(verdict("Pass", 100.0)))
        .unwrap();
    drop(store);

    let store = open(&dir);
    assert_eq!(store.config(&config.id).unwrap(), config);
    assert_eq!(store.analysis(&done.id).unwrap(), done);
    assert_eq!(resumable(&store), [running.clone(), pending]);
    // The resumed analysis continues with interval 1, and interval 0 cannot be judged again.
    assert_eq!(store.analysis(&running.id).unwrap().next_interval, 1);
    assert!(
        store
            .record_interval(&running.id, &interval(0), None)
            .is_err()
    );
    store
        .record_interval(&running.id, &interval(1), None)
        .unwrap();
}

const CHILD_DATABASE: &str = "COALMINE_STORE_TEST_CHILD_DATABASE";
const CHILD_READY: &str = "child-ready:";

/// The process `a_killed_process_loses_nothing_it_was_told_was_stored` kills: it stores a config and an
/// analysis with one interval, says so, and waits to be killed.
#[test]
#[ignore = "run as a child process by a_killed_process_loses_nothing_it_was_told_was_stored"]
fn killed_child() {
    let Some(path) = std::env::var_os(CHILD_DATABASE) else {
        return;
    };
    let store = SqliteStore::open(PathBuf::from(path)).unwrap();
    let config = store.create_config(config("latency", &["shop"])).unwrap();
    let analysis = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    store
        .record_interval(&analysis.id, &interval(0), None)
        .unwrap();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{CHILD_READY}{} {}", config.id, analysis.id).unwrap();
    stdout.flush().unwrap();
    thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_killed_process_loses_nothing_it_was_told_was_stored() {
    let dir = TempDir::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_child", "--ignored", "--nocapture"])
        .env(CHILD_DATABASE, database(&dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ready = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| Some(line.split_once(CHILD_READY)?.1.to_owned()));
    child.kill().unwrap(); // SIGKILL: no destructor, no close, no checkpoint.
    child.wait().unwrap();
    let ready = ready.expect("the child process stopped before it stored anything");
    let (config_id, analysis_id) = ready.split_once(' ').unwrap();

    let store = open(&dir);
    assert_eq!(store.config(config_id).unwrap().config.name, "latency");
    let analysis = store.analysis(analysis_id).unwrap();
    assert_eq!(
        (analysis.status, analysis.next_interval),
        (AnalysisStatus::Running, 1)
    );
    assert_eq!(ids(&resumable(&store)), [analysis_id]);
}

/// Sets the schema version of the database at `path` behind the store's back.
fn set_user_version(path: &Path, version: i64) {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_update(None, "user_version", version)
        .unwrap();
}

#[test]
fn a_database_from_a_newer_coalmine_is_refused() {
    let dir = TempDir::new().unwrap();
    drop(open(&dir));
    set_user_version(&database(&dir), 99);

    let error = SqliteStore::open(database(&dir)).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found: 99, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "the database {} was written by a newer coalmine (schema version 99; this coalmine knows versions up to ",
            database(&dir).display()
        )),
        "{message}"
    );
    assert!(
        message
            .ends_with("run that coalmine or a newer one, or give this one another data directory")
    );
}

#[test]
fn a_missing_data_directory_is_reported_with_what_to_do() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("no-such-directory/coalmine.db");
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot open the database {}: ", path.display())),
        "{message}"
    );
    assert!(
        message.ends_with(
            "check that the data directory exists and that coalmine may read and write in it"
        ),
        "{message}"
    );
}

#[test]
fn the_database_is_a_write_ahead_log() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    assert_eq!(store.path(), database(&dir));
    store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let outside = rusqlite::Connection::open(database(&dir)).unwrap();
    let mode: String = outside
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let analyses: i64 = outside
        .query_row("SELECT count(*) FROM analyses", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        analyses, 1,
        "a committed analysis is visible to other processes"
    );
}

#[test]
fn threads_share_one_store_and_only_one_records_a_contested_interval() {
    const THREADS: usize = 8;
    let dir = TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(&dir));
    let contested = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let barrier = Barrier::new(THREADS);

    let outcomes: Vec<Result<Analysis, StoreError>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|worker| {
                let (store, barrier, contested) = (&store, &barrier, &contested);
                scope.spawn(move || {
                    store
                        .create_config(config(&format!("config-{worker}"), &["shop"]))
                        .unwrap();
                    let own = store.create_analysis(new_analysis(Origin::Native)).unwrap();
                    for index in 0..3 {
                        let last = (index == 2).then(|| verdict("Pass", 100.0));
                        store
                            .record_interval(&own.id, &interval(index), last)
                            .unwrap();
                    }
                    barrier.wait();
                    store.record_interval(&contested.id, &interval(0), None)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });

    assert_eq!(outcomes.iter().filter(|outcome| outcome.is_ok()).count(), 1);
    for outcome in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert!(
            matches!(
                outcome,
                StoreError::Conflict(Conflict::IntervalRecorded { index: 0, .. })
            ),
            "{outcome:?}"
        );
    }
    assert_eq!(store.intervals(&contested.id).unwrap().len(), 1);
    assert_eq!(store.list_configs(&[]).unwrap().len(), THREADS);
    let completed = store
        .list_analyses(&AnalysisQuery {
            statuses: vec![AnalysisStatus::Completed],
            limit: 100,
            offset: 0,
        })
        .unwrap();
    assert_eq!(completed.len(), THREADS);
    assert!(completed.iter().all(|analysis| analysis.next_interval == 3));
}

#[test]
fn the_request_and_config_snapshot_are_kept_as_given() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let request: Value = json!({
        "scopes": [{"scopeName": "default", "controlScope": "baseline", "experimentScope": "canary"}],
        "thresholds": {"pass": 95.0, "marginal": 75.0},
        "lifetimeDurationMins": 30,
        "siteLocal": {"team": "payments", "nested": [1, 2.5, null]}
    });
    let created = store
        .create_analysis(NewAnalysis {
            origin: Origin::Kayenta,
            request: request.clone(),
            config: config("latency", &["shop"]),
        })
        .unwrap();
    let stored = store.analysis(&created.id).unwrap();
    assert_eq!(stored.request, request);
    assert_eq!(stored.config, config("latency", &["shop"]));
    assert_eq!(stored.created, created.created);
}

#[test]
fn a_nan_score_is_read_back_as_nan() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let analysis = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    store
        .transition(
            &analysis.id,
            Transition::Complete(verdict("Fail", f64::NAN)),
        )
        .unwrap();
    let verdict = store.analysis(&analysis.id).unwrap().verdict.unwrap();
    assert_eq!(verdict.classification, "Fail");
    assert!(verdict.score.is_nan());
}

#[test]
fn a_damaged_analysis_does_not_hide_the_others_and_can_still_be_failed() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let first = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let damaged = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    let garbled = store
        .create_analysis(new_analysis(Origin::Kayenta))
        .unwrap();
    let last = store.create_analysis(new_analysis(Origin::Native)).unwrap();
    // Behind the store's back, as a damaged disk or a hand edit would.
    let outside = rusqlite::Connection::open(database(&dir)).unwrap();
    outside
        .execute(
            "UPDATE analyses SET config = '{\"name\": ' WHERE id = ?1",
            [&damaged.id],
        )
        .unwrap();
    outside
        .execute(
            "UPDATE analyses SET request = 'not JSON at all' WHERE id = ?1",
            [&garbled.id],
        )
        .unwrap();

    let found = store.unfinished_analyses().unwrap();
    assert_eq!(found.len(), 4);
    assert_eq!(found[0].as_ref().unwrap().id, first.id);
    let unreadable = found[1].as_ref().unwrap_err();
    assert_eq!(unreadable.id, damaged.id);
    assert!(
        matches!(&unreadable.error, StoreError::Corrupt { what, .. } if what.contains("canary config")),
        "{:?}",
        unreadable.error
    );
    // A request the store cannot parse is the caller's to judge: it comes back as its text.
    assert_eq!(found[2].as_ref().unwrap().request, json!("not JSON at all"));
    assert_eq!(found[3].as_ref().unwrap().id, last.id);

    store
        .mark_error(&damaged.id, "the stored analysis cannot be read")
        .unwrap();
    assert_eq!(ids(&resumable(&store)), [&first.id, &garbled.id, &last.id]);
    let (status, error): (String, String) = outside
        .query_row(
            "SELECT status, error FROM analyses WHERE id = ?1",
            [&damaged.id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("error", "the stored analysis cannot be read")
    );
    // A finished analysis stays as it is.
    assert!(matches!(
        store.mark_error(&damaged.id, "again"),
        Err(StoreError::Conflict(Conflict::AnalysisFinished { .. }))
    ));
}
