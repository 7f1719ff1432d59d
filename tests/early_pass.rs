//! Early decisions end to end, over real HTTP against a real Prometheus (`tests/support/prometheus.rs`), with
//! a real judge component that exports the optional `decision` interface through the SDK (the `decisive` test
//! plugin, `tests/plugins/decisive`: harmless once every pair has `harmlessAfter` values per side, a
//! regression when told so): a real-time analysis with `earlyPass` completes with Pass before its last
//! interval and says why (in its JSON, on its page and in `coalmine watch`), the same analysis without it runs
//! its whole lifetime, an established regression fails it at once, and `POST /v1/judge` answers with the
//! judge's finality.

mod common;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::clients::{example_json, get, post};
use common::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE};

/// A directory holding the decisive test judge, for `--judges-dir`.
fn judges_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::plugin("decisive"), dir.path().join("decisive.wasm")).unwrap();
    dir
}

fn start_server(data: &Path, judges: &Path) -> Server {
    Server::start(
        data,
        &[
            "--prometheus-url",
            &prometheus::shared().url,
            "--judges-dir",
            &judges.display().to_string(),
        ],
    )
}

/// A real-time analysis of the baseline against itself, 12 s judged every 2 s (6 intervals) at a 1 s step,
/// with the decisive judge set by `judge_configurations`; its query reads the data set shifted (PromQL
/// `offset`) so that the middle of the data set's hour falls on the present.
fn real_time(judge_configurations: Value, early_pass: bool) -> Value {
    let data = prometheus::shared();
    let middle = data.start_time() + SignedDuration::from_mins(30);
    let offset = Timestamp::now().duration_since(middle).as_secs();
    let config = json!({
        "name": "live",
        "judge": {"name": "decisive", "judgeConfigurations": judge_configurations},
        "metrics": [{
            "name": "latency",
            "query": {"type": "prometheus",
                      "customInlineTemplate": format!("PromQL:avg(checkout_latency_seconds{{app=\"${{scope}}\"}} offset {offset}s)")},
            "groups": ["latency"],
            "scopeName": "default"
        }]
    });
    let mut spec = json!({
        "config": config,
        "control": {"scope": BASELINE},
        "experiment": {"scope": BASELINE},
        "lifetime": "12s",
        "interval": "2s",
        "step": "1s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    if early_pass {
        spec["earlyPass"] = json!(true);
    }
    spec
}

/// Starts an analysis of `spec` and returns its id.
async fn start(server: &Server, spec: &Value) -> String {
    let (status, accepted) = post(&format!("{}/v1/analyses", server.url), spec).await;
    assert_eq!(status, 202, "{accepted:#}");
    accepted["id"].as_str().unwrap().to_string()
}

/// Polls the analysis until it has ended, for at most a minute.
async fn ended(server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, analysis) = get(&format!("{}/v1/analyses/{id}", server.url)).await;
        if analysis["status"] != "running" && analysis["status"] != "pending" {
            return analysis;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting: {analysis:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn intervals(analysis: &Value) -> &Vec<Value> {
    analysis["intervals"].as_array().unwrap()
}

fn finality(interval: &Value) -> &str {
    interval["judgeResult"]["decision"]["finality"]
        .as_str()
        .unwrap_or("none")
}

#[tokio::test]
async fn early_pass_completes_a_harmless_canary_before_its_last_interval_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    let judges = judges_dir();
    let server = start_server(data.path(), judges.path());
    // Harmless from the interval whose growing window holds 5 values per side, which comes before the sixth.
    let early = start(&server, &real_time(json!({"harmlessAfter": 5}), true)).await;
    let full = start(&server, &real_time(json!({"harmlessAfter": 5}), false)).await;
    let early = ended(&server, &early).await;
    let full = ended(&server, &full).await;

    assert_eq!(early["status"], "completed", "{early:#}");
    assert_eq!(early["classification"], "Pass");
    let judged = intervals(&early);
    let n = judged.len();
    assert!((1..6).contains(&n), "stopped before the last of 6: {n}");
    let last = &judged[n - 1];
    assert_eq!(finality(last), "harmless");
    assert!(
        judged[..n - 1].iter().all(|i| finality(i) == "open"),
        "the earlier intervals were not final: {judged:#?}"
    );
    let why = format!("stopped early at interval {n} of 6: every metric is final and harmless");
    assert_eq!(
        last["judgeResult"]["decision"]["stopped"].as_str(),
        Some(why.as_str())
    );

    // Without earlyPass, the same judgements run the whole lifetime.
    assert_eq!(full["status"], "completed", "{full:#}");
    assert_eq!(full["classification"], "Pass");
    let judged = intervals(&full);
    assert_eq!(judged.len(), 6, "{judged:#?}");
    assert_eq!(finality(&judged[5]), "harmless");
    assert!(
        judged[5]["judgeResult"]["decision"]
            .get("stopped")
            .is_none()
    );

    // The report page and `coalmine watch` say why it stopped.
    let id = early["id"].as_str().unwrap();
    let page = reqwest::get(format!("{}/analyses/{id}", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sentence =
        format!("Stopped early at interval {n} of 6: every metric is final and harmless.");
    assert!(page.contains(&sentence), "{page}");
    let watch = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["watch", id, "--server", &server.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&watch.stdout);
    assert_eq!(watch.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.trim(), format!("Pass (score 100): {why}"));
}

#[tokio::test]
async fn early_pass_is_refused_with_a_judge_that_cannot_say_its_judgement_is_final() {
    let data = tempfile::tempdir().unwrap();
    let judges = judges_dir();
    let server = start_server(data.path(), judges.path());
    let (_, listed) = get(&format!("{}/v1/judges", server.url)).await;
    let decides = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|judge| judge["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {listed:#}"))["decides"]
            .clone()
    };
    assert_eq!(decides("decisive"), json!(true));
    assert_eq!(decides("coalmine-sequential"), json!(true));
    assert_eq!(decides("mann-whitney"), json!(false));
    assert_eq!(decides("coalmine-v1"), json!(false));

    let mut spec = real_time(json!({}), true);
    spec["config"]["judge"] = json!({"name": "mann-whitney"});
    let (status, refused) = post(&format!("{}/v1/analyses", server.url), &spec).await;
    assert_eq!(status, 400, "{refused:#}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("earlyPass needs a judge that says when its judgement is final")
            && message.contains("the judge mann-whitney does not"),
        "{message}"
    );
    // Nothing was stored.
    let (_, listed) = get(&format!("{}/v1/analyses", server.url)).await;
    assert_eq!(listed, json!([]), "{listed:#}");
}

#[tokio::test]
async fn an_established_regression_fails_the_analysis_at_once_and_is_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let judges = judges_dir();
    let server = start_server(data.path(), judges.path());
    let id = start(&server, &real_time(json!({"regression": true}), true)).await;
    let analysis = ended(&server, &id).await;
    assert_eq!(analysis["status"], "completed", "{analysis:#}");
    assert_eq!(analysis["classification"], "Fail");
    let judged = intervals(&analysis);
    assert_eq!(judged.len(), 1, "{judged:#?}");
    assert_eq!(finality(&judged[0]), "regression");
    assert_eq!(
        judged[0]["judgeResult"]["decision"]["stopped"],
        "stopped at interval 1 of 6: a regression is established: every metric rose"
    );
}

#[tokio::test]
async fn the_judge_answer_includes_the_finality_when_the_judge_gives_one() {
    let data = tempfile::tempdir().unwrap();
    let judges = judges_dir();
    let server = start_server(data.path(), judges.path());
    let mut request = example_json("judge/healthy.json");
    request["canaryConfig"]["judge"] =
        json!({"name": "decisive", "judgeConfigurations": {"harmlessAfter": 1}});
    let (status, answer) = post(&format!("{}/v1/judge", server.url), &request).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["decision"],
        json!({"finality": "harmless", "reason": "every metric is final and harmless"})
    );
    // A judge without the decision interface: Kayenta's answer, unchanged.
    let (status, answer) = post(
        &format!("{}/v1/judge", server.url),
        &example_json("judge/healthy.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer:#}");
    assert!(answer.get("decision").is_none(), "{answer:#}");
}

#[tokio::test]
async fn the_openapi_document_describes_early_pass_and_the_decision() {
    let data = tempfile::tempdir().unwrap();
    let judges = judges_dir();
    let server = start_server(data.path(), judges.path());
    let (status, document) = get(&format!("{}/v1/openapi.json", server.url)).await;
    assert_eq!(status, 200);
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["AnalysisSpec"]["properties"]["earlyPass"]["type"], "boolean",
        "{:#}",
        schemas["AnalysisSpec"]
    );
    let decision = &schemas["CanaryJudgeResult"]["properties"]["decision"];
    assert!(!decision.is_null(), "{:#}", schemas["CanaryJudgeResult"]);
    assert_eq!(
        schemas["Finality"]["enum"],
        json!(["open", "regression", "harmless"]),
        "{:#}",
        schemas["Finality"]
    );
}

/// `coalmine` with `args`, its stdout and stderr.
fn coalmine(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn analyze_early_pass_and_coalmine_judge_use_the_decision() {
    let judges = judges_dir();
    let judges_path = judges.path().display().to_string();
    // The example config, judged by the decisive judge: harmless from 50 values a side.
    let mut config = example_json("analyze/checkout-canary.json");
    config["judge"] = json!({"name": "decisive", "judgeConfigurations": {"harmlessAfter": 50}});
    let file = judges.path().join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let file = file.display().to_string();
    let data = prometheus::shared();
    let start = data.start_time().to_string();
    // An hour from the data set's start, judged every 20 minutes at a 15 s step: every interval is already
    // due, and the first (81 values a side) is final and harmless.
    let live = |early: bool| {
        let mut args = vec![
            "analyze",
            "--config",
            &file,
            "--prometheus-url",
            &data.url,
            "--control-scope",
            BASELINE,
            "--experiment-scope",
            BASELINE,
            "--step",
            "15",
            "--start",
            &start,
            "--lifetime",
            "1h",
            "--interval",
            "20m",
            "--judges-dir",
            &judges_path,
        ];
        if early {
            args.push("--early-pass");
        }
        coalmine(&args)
    };
    let (code, stdout, stderr) = live(true);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "interval 1/3: score 100 (Pass)",
            "Pass (score 100): stopped early at interval 1 of 3: every metric is final and harmless"
        ]
    );
    let (code, stdout, stderr) = live(false);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("interval "))
            .count(),
        3,
        "{stderr}"
    );

    // `coalmine judge` with the plugin: the answer carries the finality.
    let mut request = example_json("judge/healthy.json");
    request["canaryConfig"]["judge"] =
        json!({"name": "decisive", "judgeConfigurations": {"regression": true}});
    let input = judges.path().join("request.json");
    std::fs::write(&input, request.to_string()).unwrap();
    let plugin = common::plugin("decisive").display().to_string();
    let (code, stdout, stderr) = coalmine(&[
        "judge",
        "--plugin",
        &plugin,
        "--input",
        &input.display().to_string(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        answer["decision"],
        json!({"finality": "regression", "reason": "every metric rose"})
    );
}

#[test]
fn analyze_refuses_early_pass_with_a_judge_that_cannot_say_its_judgement_is_final() {
    // The example config names Kayenta's judge, which does not decide: refused before anything is fetched.
    let config = common::clients::example("analyze/checkout-canary.json");
    let (code, stdout, stderr) = coalmine(&[
        "analyze",
        "--config",
        &config.display().to_string(),
        "--control-scope",
        "baseline",
        "--experiment-scope",
        "canary",
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--lifetime",
        "10m",
        "--interval",
        "1m",
        "--early-pass",
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("--early-pass needs a judge that says when its judgement is final")
            && stderr.contains("the judge NetflixACAJudge-v1.0 does not"),
        "{stderr}"
    );
    assert!(!stderr.contains("waiting for interval"), "{stderr}");
}
