//! `cargo bench --bench replicas`: high availability under load — three `coalmine serve` replicas (release
//! build) on one PostgreSQL (a throwaway cluster, `tests/support/postgres.rs`), against the real test
//! Prometheus behind a recording proxy.
//!
//! - 1,000 real-time analyses (an A/A canary of one metric, judged every minute for 4 minutes: 4,000 interval
//!   judgements, 8,000 queries), sent to the replicas in turn over the first 30 s;
//! - after the second interval, one replica is killed (`kill -9`).
//!
//! It prints the takeover time (from the kill until no unfinished analysis is leased to the dead replica),
//! intervals fetched twice (beyond the one each orphan had in flight; goal 0), analyses lost (not completed
//! when their last interval is long past; goal 0), and the database load per interval judged
//! (`pg_stat_database` commits and rows written, over intervals recorded). `COALMINE_BENCH_ANALYSES` and
//! `COALMINE_BENCH_LEASE` (default 15s) change the size and the lease period.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::postgres::PostgresServer;
use support::prometheus::{self, PrometheusServer};
use support::proxy::{Proxy, ProxyOptions};

const REPLICAS: usize = 3;
const LIFETIME_MINUTES: u64 = 4;
const INTERVALS: usize = LIFETIME_MINUTES as usize;

/// The A/A analysis number `n`: the baseline against itself, so every interval passes and every analysis runs
/// to its end. Its query names `b{n}` (a matcher no series fails), so that the query log tells analyses apart.
fn analysis_request(n: usize) -> Value {
    json!({
        "config": {
            "name": "replicas-aa",
            "metrics": [{
                "name": "latency", "groups": ["latency"], "scopeName": "default",
                "query": {"type": "prometheus",
                          "customInlineTemplate": format!(
                              "PromQL:avg({}{{app=\"${{scope}}\", pod!=\"b{n}\"}})", prometheus::LATENCY
                          )},
                "analysisConfigurations": {"canary": {"direction": "increase"}}
            }]
        },
        "control": {"scope": prometheus::BASELINE},
        "experiment": {"scope": prometheus::BASELINE},
        "lifetime": format!("{LIFETIME_MINUTES}m"), "interval": "1m", "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

/// One number `query` prints in `database`.
fn number(postgres: &PostgresServer, database: &str, query: &str) -> i64 {
    postgres
        .sql(database, query)
        .trim()
        .parse()
        .unwrap_or_else(|error| panic!("{query}: {error}"))
}

/// Commits and rows written in `database` so far.
fn database_load(postgres: &PostgresServer, database: &str) -> (i64, i64) {
    let row = postgres.sql(
        "postgres",
        &format!(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database \
             WHERE datname = '{database}'"
        ),
    );
    let mut fields = row
        .trim()
        .split('|')
        .map(|field| field.parse().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

#[tokio::main]
async fn main() {
    let analyses: usize = std::env::var("COALMINE_BENCH_ANALYSES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1000);
    let lease = std::env::var("COALMINE_BENCH_LEASE").unwrap_or_else(|_| "15s".to_string());
    let minute = jiff::Timestamp::now().as_second().div_euclid(60) * 60;
    // The data set's hour runs from 50 minutes ago to 10 minutes from now: every window of the run has data.
    let data = PrometheusServer::start_at(jiff::Timestamp::from_second(minute - 50 * 60).unwrap());
    let proxy = Proxy::start(&data.url, ProxyOptions::default()).await;
    let postgres = PostgresServer::start();
    let url = postgres.fresh_database();
    let database = PostgresServer::database_of(&url).to_string();

    let dirs: Vec<tempfile::TempDir> = (0..REPLICAS)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let mut replicas: Vec<Option<common::server::Server>> = dirs
        .iter()
        .map(|dir| {
            let settings = dir.path().join("coalmine.toml");
            std::fs::write(
                &settings,
                format!("[limits]\nmax_running_analyses = {}\n", analyses * 2),
            )
            .unwrap();
            Some(common::server::Server::start(
                dir.path(),
                &[
                    "--log",
                    "warn",
                    "--config",
                    settings.to_str().unwrap(),
                    "--database-url",
                    &url,
                    "--prometheus-url",
                    &proxy.url,
                    "--lease-period",
                    &lease,
                ],
            ))
        })
        .collect();
    let urls: Vec<String> = replicas
        .iter()
        .map(|replica| replica.as_ref().unwrap().url.clone())
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // The replicas know of one another before the first analysis arrives.
    let started = Instant::now();
    loop {
        let ready: Value = client
            .get(format!("{}/ready", urls[0]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if ready["replicas"] == REPLICAS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the replicas never saw one another: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load_before = database_load(&postgres, &database);

    // Sent in turn over the first 30 s.
    let run_started = Instant::now();
    let mut ids: Vec<String> = Vec::with_capacity(analyses);
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    let pause = Duration::from_secs(30) / analyses.max(1) as u32;
    for n in 0..analyses {
        let response = client
            .post(format!("{}/v1/analyses", urls[n % REPLICAS]))
            .json(&analysis_request(n))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        tags.insert(format!("b{n}"), id.clone());
        ids.push(id);
        tokio::time::sleep(pause).await;
    }
    eprintln!(
        "{analyses} analyses submitted in {:.1} s",
        run_started.elapsed().as_secs_f64()
    );

    // Kill the second replica after the second interval.
    tokio::time::sleep(Duration::from_secs(150).saturating_sub(run_started.elapsed())).await;
    let killed: Value = client
        .get(format!("{}/ready", urls[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let killed = killed["replica"].as_str().unwrap().to_string();
    let orphaned_query = format!(
        "SELECT count(*) FROM analyses WHERE owner = '{killed}' AND status IN ('pending', 'running')"
    );
    replicas[1].take().unwrap().crash();
    let kill = Instant::now();
    let orphans: HashSet<String> = postgres
        .sql(
            &database,
            &format!(
                "SELECT id FROM analyses WHERE owner = '{killed}' AND status IN ('pending', 'running')"
            ),
        )
        .lines()
        .map(str::to_string)
        .collect();
    let takeover = loop {
        if number(&postgres, &database, &orphaned_query) == 0 {
            break kill.elapsed();
        }
        if kill.elapsed() > Duration::from_secs(600) {
            eprintln!("the orphans were not all taken over within 10 minutes");
            break kill.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every analysis should be over a minute after its last interval.
    let deadline = run_started + Duration::from_secs(LIFETIME_MINUTES * 60 + 30 + 120);
    let unfinished_query =
        "SELECT count(*) FROM analyses WHERE status IN ('pending', 'running')".to_string();
    while Instant::now() < deadline && number(&postgres, &database, &unfinished_query) > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let load_after = database_load(&postgres, &database);
    let completed = number(
        &postgres,
        &database,
        "SELECT count(*) FROM analyses WHERE status = 'completed'",
    ) as usize;
    let intervals = number(&postgres, &database, "SELECT count(*) FROM intervals");
    let statuses = postgres.sql(
        &database,
        "SELECT status, count(*) FROM analyses GROUP BY status ORDER BY status",
    );

    // Each window is fetched once per side; an orphan's in-flight window may be fetched again by its new owner.
    let mut fetches: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for request in proxy.requests() {
        let Some(query) = request.param("query") else {
            continue;
        };
        let Some(start) = query.find("pod!=\"b") else {
            continue;
        };
        let tag: String = query[start + 6..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        let Some(id) = tags.get(&tag) else {
            continue;
        };
        let window = (
            id.clone(),
            request.param("start").unwrap_or_default(),
            request.param("end").unwrap_or_default(),
        );
        *fetches.entry(window).or_default() += 1;
    }
    let mut again_in_flight = 0;
    let mut again_beyond = 0;
    let mut refetched_per_orphan: BTreeMap<&str, usize> = BTreeMap::new();
    for ((id, _, _), count) in &fetches {
        if *count > 2 {
            *refetched_per_orphan.entry(id.as_str()).or_default() += 1;
        }
    }
    for (id, windows) in &refetched_per_orphan {
        if orphans.contains(*id) {
            again_in_flight += 1;
            again_beyond += windows - 1;
        } else {
            again_beyond += windows;
        }
    }
    let commits = load_after.0 - load_before.0;
    let rows = load_after.1 - load_before.1;

    println!("replicas: {REPLICAS} on one PostgreSQL, lease period {lease}");
    println!(
        "analyses: {analyses} real-time, {INTERVALS} intervals of 1 minute each ({} expected)",
        analyses * INTERVALS
    );
    println!(
        "killed {killed} after {:.0} s, holding {} unfinished analyses",
        kill.duration_since(run_started).as_secs_f64(),
        orphans.len()
    );
    println!(
        "takeover time: {:.1} s (kill until no unfinished analysis is leased to it)",
        takeover.as_secs_f64()
    );
    println!(
        "intervals fetched again: {again_in_flight} in flight at the kill, {again_beyond} beyond (goal 0)"
    );
    println!(
        "analyses lost: {} (goal 0); by status:\n{statuses}",
        analyses - completed
    );
    println!("intervals recorded: {intervals}");
    if intervals > 0 {
        println!(
            "database load: {commits} commits, {rows} rows written: {:.1} commits and {:.1} rows per interval",
            commits as f64 / intervals as f64,
            rows as f64 / intervals as f64
        );
    }
    drop(replicas);
}
