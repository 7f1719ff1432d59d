//! What a new user of `coalmine serve` sees (issue 14, item 12), over real HTTP against the real binary:
//! `/metrics` before the first analysis, deleting analyses and the retention sweep, and the report list's
//! progress of a running analysis.

mod common;

use std::path::Path;

use common::clients::{get, post, send};
use common::server::Server;
use serde_json::{Value, json};

/// A real-time analysis of the example config: 4 intervals of 5 minutes, the first due in 5 minutes.
fn real_time() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json!({
        "config": config,
        "control": {"scope": "checkout-baseline"}, "experiment": {"scope": "checkout-canary"},
        "lifetime": "20m", "interval": "5m", "step": "60s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

async fn start_analysis(server: &Server) -> String {
    let (status, accepted) = post(&format!("{}/v1/analyses", server.url), &real_time()).await;
    assert_eq!(status, 202, "{accepted}");
    accepted["id"].as_str().unwrap().to_string()
}

async fn delete(server: &Server, id: &str) -> (u16, Value) {
    let url = format!("{}/v1/analyses/{id}", server.url);
    let response = reqwest::Client::new().delete(&url).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn metrics_shows_every_family_at_zero_before_the_first_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", "http://127.0.0.1:1"]);
    let text = server.metrics().await;
    for series in [
        "coalmine_analyses_running 0",
        r#"coalmine_analyses_total{outcome="pass"} 0"#,
        r#"coalmine_analyses_total{outcome="fail"} 0"#,
        r#"coalmine_judge_duration_seconds_count{judge="mann-whitney"} 0"#,
        r#"coalmine_judge_failures_total{judge="mann-whitney",kind="deadline"} 0"#,
        r#"coalmine_metric_query_duration_seconds_count{source="prometheus"} 0"#,
        r#"coalmine_metric_query_errors_total{source="prometheus",kind="unreachable"} 0"#,
    ] {
        assert!(
            text.lines().any(|line| line == series),
            "no `{series}` in:\n{text}"
        );
    }
    // And the running gauge follows a running analysis.
    start_analysis(&server).await;
    let text = server.metrics().await;
    assert!(
        text.lines()
            .any(|line| line == "coalmine_analyses_running 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_finished_analysis_is_deleted_and_a_running_one_must_be_cancelled_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", "http://127.0.0.1:1"]);
    let id = start_analysis(&server).await;

    let (status, refused) = delete(&server, &id).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["message"],
        format!("analysis '{id}' is running: cancel it first, then delete it")
    );

    let (status, _) = post(
        &format!("{}/v1/analyses/{id}/cancel", server.url),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = delete(&server, &id).await;
    assert_eq!(status, 204);
    let (status, gone) = get(&format!("{}/v1/analyses/{id}", server.url)).await;
    assert_eq!(status, 404, "{gone}");
    let (_, listed) = get(&format!("{}/v1/analyses", server.url)).await;
    assert_eq!(listed, json!([]));

    let (status, missing) = delete(&server, &id).await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (
            404,
            Some(format!("Analysis '{id}' does not exist.").as_str())
        )
    );
}

#[tokio::test]
async fn retention_deletes_finished_analyses_and_keeps_running_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--prometheus-url", "http://127.0.0.1:1"];
    let (finished, running) = {
        let server = Server::start(&data, &args);
        let finished = start_analysis(&server).await;
        let (status, _) = send(
            reqwest::Client::new().post(format!("{}/v1/analyses/{finished}/cancel", server.url)),
        )
        .await;
        assert_eq!(status, 200);
        (finished, start_analysis(&server).await)
    };
    // Finished more than a second ago (a lower bound: sleeping longer changes nothing).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(&settings, "[retention]\nfinished_analyses = \"1s\"\n").unwrap();
    let server = Server::start(
        &data,
        &[&args[..], &["--config", settings.to_str().unwrap()]].concat(),
    );
    let (status, _) = get(&format!("{}/v1/analyses/{finished}", server.url)).await;
    assert_eq!(status, 404, "the cancelled analysis is past retention");
    let (status, kept) = get(&format!("{}/v1/analyses/{running}", server.url)).await;
    assert_eq!((status, kept["status"].as_str()), (200, Some("running")));
}

#[tokio::test]
async fn the_report_list_says_how_far_a_running_analysis_is() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", "http://127.0.0.1:1"]);
    let id = start_analysis(&server).await;
    let (_, analysis) = get(&format!("{}/v1/analyses/{id}", server.url)).await;
    // The first interval ends 5 minutes after the start, as the request says.
    let start: jiff::Timestamp = analysis["request"]["start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let due = start + jiff::SignedDuration::from_mins(5);
    let page = reqwest::get(format!("{}/", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expected = format!(
        "0 of 4 intervals, next at {}",
        due.strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    assert!(page.contains(&expected), "no `{expected}` in {page}");

    // Collapsed metric rows show a marker that they open.
    let report = reqwest::get(format!("{}/analyses/{id}", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        report.contains(r#"details.metric > summary > :first-child::before { content:"▸ ";"#),
        "{report}"
    );
}
