//! Several `coalmine serve` processes on one real PostgreSQL (a throwaway cluster, `tests/support/postgres.rs`)
//! against the real test Prometheus behind a recording proxy, over real HTTP:
//!
//! - three replicas share a dozen real-time analyses; one is killed (`kill -9`) mid-way: every analysis
//!   finishes, every interval is recorded exactly once, and the proxy's query log shows no interval fetched
//!   twice but, at most, the one each of the killed replica's analyses had in flight;
//! - the database is restarted mid-analysis: `/ready` answers 503 meanwhile, the analyses pause and complete,
//!   none failed for the outage;
//! - a cancellation through a replica that does not run the analysis reaches the one that does.
//!
//! Leases last 5 s (renewed every 1.7 s), so that a loaded machine does not hand a live replica's analyses to
//! another. Deadlines are generous bounds on outcomes, never timing assertions.

mod common;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{get, post, send};
use common::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::postgres::{self, PostgresServer};
use support::prometheus::{self, BASELINE};
use support::proxy::{Proxy, ProxyOptions};

const LEASE: &str = "5s";

/// A replica on database `url`, fetching metrics through `prometheus`.
fn replica(data: &Path, url: &str, prometheus: &str) -> Server {
    Server::start(
        data,
        &[
            "--database-url",
            url,
            "--prometheus-url",
            prometheus,
            "--lease-period",
            LEASE,
        ],
    )
}

/// A real-time analysis of the baseline against itself whose windows lie around now: its query reads the data
/// set shifted (PromQL `offset`) so that the middle of the data set's hour falls on the present, and names
/// `tag` (a matcher no series fails) so that the query log tells the analyses apart.
fn real_time(lifetime: &str, interval: &str, tag: &str) -> Value {
    let data = prometheus::shared();
    let middle = data.start_time() + SignedDuration::from_mins(30);
    let offset = Timestamp::now().duration_since(middle).as_secs();
    json!({
        "config": {
            "name": "live",
            "metrics": [{
                "name": "latency",
                "query": {"type": "prometheus",
                          "customInlineTemplate": format!(
                              "PromQL:avg(checkout_latency_seconds{{app=\"${{scope}}\", pod!=\"{tag}\"}} offset {offset}s)"
                          )},
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
    })
}

/// Polls `url` until `done` says so (any status, the database may be down), for at most `limit`.
async fn wait_until(url: &str, limit: Duration, done: impl Fn(u16, &Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let response = reqwest::get(url).await;
        if let Ok(response) = response {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if done(status, &body) {
                return body;
            }
            assert!(
                started.elapsed() < limit,
                "gave up waiting on {url}: {status} {body:#}"
            );
        }
        assert!(started.elapsed() < limit, "gave up waiting on {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn replica_id(server: &Server) -> String {
    let (status, ready) = get(&format!("{}/ready", server.url)).await;
    assert_eq!(status, 200, "{ready}");
    ready["replica"].as_str().unwrap().to_string()
}

/// The indices of the recorded intervals of analysis `id`.
fn indices(analysis: &Value) -> Vec<u64> {
    analysis["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|interval| interval["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_no_analysis_and_fetch_no_interval_twice_when_one_is_killed() {
    let database = postgres::fresh_database();
    let proxy = Proxy::start(&prometheus::shared().url, ProxyOptions::default()).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas: Vec<Option<Server>> = dirs
        .iter()
        .map(|dir| Some(replica(dir.path(), &database, &proxy.url)))
        .collect();
    let first = replicas[0].as_ref().unwrap().url.clone();
    let url = |path: &str| format!("{first}{path}");

    // Once the first replica knows of the other two (they renewed within a lease period)...
    wait_until(&url("/ready"), Duration::from_secs(60), |status, ready| {
        status == 200 && ready["replicas"] == 3
    })
    .await;
    // ...a dozen analyses of ten 2-second intervals, all sent to it: the others claim theirs.
    let mut ids = Vec::new();
    for n in 0..12 {
        let (status, accepted) = post(
            &url("/v1/analyses"),
            &real_time("20s", "2s", &format!("a{n}")),
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    let tags: BTreeMap<String, String> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (format!("a{n}"), id.clone()))
        .collect();

    // Spread: every replica runs some, and all twelve are running.
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for server in replicas.iter().flatten() {
            held.push(server.metric("coalmine_leases_held").await);
        }
        if held.iter().all(|&count| count > 0.0) && held.iter().sum::<f64>() == 12.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not spread over the replicas: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Kill the second replica once some intervals of each analysis are judged.
    for id in &ids {
        wait_until(
            &url(&format!("/v1/analyses/{id}")),
            Duration::from_secs(60),
            |_, a| a["nextInterval"].as_u64() >= Some(2),
        )
        .await;
    }
    let killed = replica_id(replicas[1].as_ref().unwrap()).await;
    replicas[1].take().unwrap().crash();
    let orphans: HashSet<String> = postgres::shared()
        .sql(
            PostgresServer::database_of(&database),
            &format!("SELECT id FROM analyses WHERE owner = '{killed}' AND status IN ('pending', 'running')"),
        )
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!orphans.is_empty(), "the killed replica ran some analyses");

    for id in &ids {
        let analysis = wait_until(
            &url(&format!("/v1/analyses/{id}")),
            Duration::from_secs(120),
            |_, a| a["status"] != "running" && a["status"] != "pending",
        )
        .await;
        assert_eq!(
            (
                analysis["status"].as_str(),
                analysis["classification"].as_str()
            ),
            (Some("completed"), Some("Pass")),
            "{analysis:#}"
        );
        assert_eq!(
            indices(&analysis),
            (0..10).collect::<Vec<u64>>(),
            "{id}: every interval recorded exactly once"
        );
    }
    // The survivors took the orphans over.
    let mut takeovers = 0.0;
    for server in replicas.iter().flatten() {
        takeovers += server.metric("coalmine_lease_takeovers_total").await;
    }
    assert_eq!(takeovers, orphans.len() as f64);

    // Each interval's window is fetched once per side (control and experiment ask the same query): twice.
    // Only an interval a killed replica had in flight may be fetched again, by its new owner: at most one
    // per orphan.
    let mut fetches: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for request in proxy.requests() {
        let Some(query) = request.param("query") else {
            continue;
        };
        let Some(tag) = tags
            .keys()
            .find(|tag| query.contains(&format!("pod!=\"{tag}\"")))
        else {
            continue;
        };
        let window = (
            tags[tag].clone(),
            request.param("start").unwrap_or_default(),
            request.param("end").unwrap_or_default(),
        );
        *fetches.entry(window).or_default() += 1;
    }
    let mut refetched: BTreeMap<&str, usize> = BTreeMap::new();
    for ((id, start, end), count) in &fetches {
        match count {
            2 => {}
            // Fetched again: both sides by the new owner, one or both by the killed one.
            3 | 4 => *refetched.entry(id.as_str()).or_default() += 1,
            _ => panic!("{id} {start}..{end} fetched {count} times"),
        }
    }
    eprintln!(
        "{} analyses taken over from the killed replica; {} intervals fetched again",
        orphans.len(),
        refetched.values().sum::<usize>()
    );
    for (id, windows) in &refetched {
        assert!(
            orphans.contains(*id) && *windows == 1,
            "{id}: {windows} windows fetched again (orphans: {orphans:?})"
        );
    }
    assert_eq!(
        fetches.len(),
        12 * 10,
        "every interval of every analysis was fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_pauses_the_analyses_which_then_complete() {
    // A cluster of its own: this test stops it.
    let cluster = PostgresServer::start();
    let database = cluster.fresh_database();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas: Vec<Server> = dirs
        .iter()
        .map(|dir| replica(dir.path(), &database, &prometheus::shared().url))
        .collect();
    let mut ids = Vec::new();
    for n in 0..4 {
        let (status, accepted) = post(
            &format!("{}/v1/analyses", replicas[n % 2].url),
            &real_time("16s", "2s", &format!("r{n}")),
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_until(
            &format!("{}/v1/analyses/{id}", replicas[0].url),
            Duration::from_secs(60),
            |_, a| a["nextInterval"].as_u64() >= Some(1),
        )
        .await;
    }

    cluster.stop();
    for server in &replicas {
        let body = wait_until(
            &format!("{}/ready", server.url),
            Duration::from_secs(60),
            |status, _| status == 503,
        )
        .await;
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("not ready")),
            "{body}"
        );
    }
    // Past the lease period, and past intervals that came due meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.restart();
    for server in &replicas {
        wait_until(
            &format!("{}/ready", server.url),
            Duration::from_secs(60),
            |status, _| status == 200,
        )
        .await;
    }
    for id in &ids {
        let analysis = wait_until(
            &format!("{}/v1/analyses/{id}", replicas[1].url),
            Duration::from_secs(120),
            |status, a| status == 200 && a["status"] != "running" && a["status"] != "pending",
        )
        .await;
        assert_eq!(
            (
                analysis["status"].as_str(),
                analysis["classification"].as_str()
            ),
            (Some("completed"), Some("Pass")),
            "{analysis:#}"
        );
        assert_eq!(indices(&analysis), (0..8).collect::<Vec<u64>>(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_through_another_replica_reaches_the_owner() {
    let database = postgres::fresh_database();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas: Vec<Server> = dirs
        .iter()
        .map(|dir| replica(dir.path(), &database, &prometheus::shared().url))
        .collect();
    let (status, accepted) = post(
        &format!("{}/v1/analyses", replicas[0].url),
        &real_time("1h", "30m", "c"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();

    // Which replica runs it: the one holding a lease.
    let started = Instant::now();
    let owner = loop {
        let mut owner = None;
        for (index, server) in replicas.iter().enumerate() {
            if server.metric("coalmine_leases_held").await == 1.0 {
                owner = Some(index);
            }
        }
        if let Some(owner) = owner {
            break owner;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nobody runs it"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let other = &replicas[(owner + 1) % 3];
    let (status, cancelled) =
        send(reqwest::Client::new().post(format!("{}/v1/analyses/{id}/cancel", other.url))).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")));

    let started = Instant::now();
    while replicas[owner].metric("coalmine_leases_held").await != 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the owner still runs the cancelled analysis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        replicas[owner]
            .metric("coalmine_analyses_total{outcome=\"cancelled\"}")
            .await,
        1.0,
        "the owner ended it as cancelled"
    );
    let (_, analysis) = get(&format!("{}/v1/analyses/{id}", replicas[owner].url)).await;
    assert_eq!(analysis["status"], "cancelled");
    assert!(indices(&analysis).is_empty());
}
