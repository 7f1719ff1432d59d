//! One `coalmine serve` on an SQLite data directory, over real HTTP against a real Prometheus: a second
//! server on the same directory refuses to start and names the first (two real processes); while the store
//! cannot be written (another process holds SQLite's write lock), `/ready` answers 503 and the analyses pause,
//! then finish once it is back, never failed for the outage; `/metrics` counts the leases held.

mod common;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::clients::{get, post};
use common::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE};

/// A real-time analysis of the baseline against itself whose windows lie around now: its query reads the
/// data set shifted (PromQL `offset`) so that the middle of the data set's hour falls on the present.
fn real_time(lifetime: &str, interval: &str) -> Value {
    let data = prometheus::shared();
    let middle = data.start_time() + SignedDuration::from_mins(30);
    let offset = Timestamp::now().duration_since(middle).as_secs();
    json!({
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
    })
}

/// Polls `url` until `done` says so, for at most `limit` (a generous bound, not a timing assertion).
async fn wait_until(url: &str, limit: Duration, done: impl Fn(u16, &Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(url).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            started.elapsed() < limit,
            "gave up waiting on {url}: {status} {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_second_server_on_a_held_data_dir_refuses_to_start_naming_the_dir_and_the_first() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(data.path(), &[]);
    let pid = first.child.id();

    let second = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_CONFIG")
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&data.path().display().to_string())
            && stderr.contains(&format!("pid {pid}"))
            && !stderr.contains("listening"),
        "{stderr}"
    );
    // The first one serves on, untouched.
    let (status, _) = get(&format!("{}/ready", first.url)).await;
    assert_eq!(status, 200);

    // However the holder ends, the directory is free again.
    first.crash();
    let next = Server::start(data.path(), &[]);
    let (status, ready) = get(&format!("{}/ready", next.url)).await;
    assert_eq!(status, 200, "{ready}");
    assert!(ready["replica"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn while_the_store_cannot_be_written_ready_says_so_and_analyses_pause_then_finish() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--prometheus-url",
            &prometheus::shared().url,
            "--lease-period",
            "2s",
        ],
    );
    let url = |path: &str| format!("{}{path}", server.url);
    let (status, ready) = get(&url("/ready")).await;
    assert_eq!(
        (status, &ready["status"]),
        (200, &json!("READY")),
        "{ready}"
    );

    let (status, accepted) = post(&url("/v1/analyses"), &real_time("10s", "2s")).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let analysis = format!("/v1/analyses/{id}");
    wait_until(&url(&analysis), Duration::from_secs(60), |_, a| {
        a["nextInterval"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(server.metric("coalmine_leases_held").await, 1.0);

    // Another process takes SQLite's write lock: the server can read, but neither renew nor record.
    let mut blocker = rusqlite::Connection::open(data.path().join("coalmine.db")).unwrap();
    let outage = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let not_ready = wait_until(&url("/ready"), Duration::from_secs(60), |status, _| {
        status == 503
    })
    .await;
    let message = not_ready["message"].as_str().unwrap();
    assert!(
        message.contains("renew") && message.contains("not ready"),
        "{message}"
    );
    // Past the lease period, and past intervals that came due meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, paused) = get(&url(&analysis)).await;
    assert_eq!(status, 200);
    assert_eq!(paused["status"], "running", "{paused:#}");
    outage.rollback().unwrap();
    drop(blocker);

    wait_until(&url("/ready"), Duration::from_secs(60), |status, _| {
        status == 200
    })
    .await;
    let finished = wait_until(&url(&analysis), Duration::from_secs(90), |_, a| {
        a["status"] != "running"
    })
    .await;
    assert_eq!(
        (
            finished["status"].as_str(),
            finished["classification"].as_str()
        ),
        (Some("completed"), Some("Pass")),
        "{finished:#}"
    );
    let indices: Vec<u64> = finished["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|interval| interval["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        indices,
        [0, 1, 2, 3, 4],
        "every interval judged exactly once"
    );
    // The lease was given up with the finished analysis.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.metric("coalmine_leases_held").await != 0.0 {
        assert!(Instant::now() < deadline, "the lease is still counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.metric("coalmine_lease_takeovers_total").await, 0.0);
}
