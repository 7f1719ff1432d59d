//! Spinnaker's `kayentaCanary` stage against coalmine, replaying Orca's exact calls (`KayentaService.kt`) over
//! real HTTP against a real Prometheus, configured by `examples/spinnaker/kayenta-canary-stage.json`:
//! `GET /canaryConfig` (no parameters; exactly one config of that name in the pipeline's application),
//! `GET /credentials`, then for each interval `POST /canary/{id}` with the pipeline's parameters and
//! `GET /canary/{id}?storageAccountName=` until the status is halted, with Orca's decisions
//! (`MonitorKayentaCanaryTask`, `AggregateCanaryResultsTask`); and `PUT /pipelines/{id}/cancel`.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::clients::{example_json, get, send, store_example_config};
use common::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::prometheus;

const APPLICATION: &str = "checkout";

/// What the stage ends as, with Orca's message and the interval scores.
#[derive(Debug)]
struct StageOutcome {
    status: &'static str,
    message: String,
    scores: Vec<i64>,
    warnings: Vec<String>,
}

/// The example stage's `canaryConfig` context, its experiment scope set to `experiment` and its window to
/// the data set's hour.
fn stage(experiment: &str, start: Timestamp, end: Timestamp) -> Value {
    let stage = example_json("spinnaker/kayenta-canary-stage.json");
    assert_eq!(stage["type"], "kayentaCanary");
    let mut context = stage["canaryConfig"].clone();
    let scope = &mut context["scopes"][0];
    scope["experimentScope"] = json!(experiment);
    scope["startTimeIso"] = json!(start.to_string());
    scope["endTimeIso"] = json!(end.to_string());
    context
}

async fn run_stage(address: &str, context: &Value) -> StageOutcome {
    let client = reqwest::Client::new();
    // ResolveKayentaConfigIdTask.
    let (status, configs) = send(client.get(format!("{address}/canaryConfig"))).await;
    assert_eq!(status, 200, "{configs}");
    let matching: Vec<&Value> = configs
        .as_array()
        .unwrap()
        .iter()
        .filter(|config| {
            config["name"] == context["canaryConfigName"]
                && config["applications"]
                    .as_array()
                    .expect("applications is a list")
                    .contains(&json!(APPLICATION))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "Couldn't find exactly one canary configId: {configs}"
    );
    let config_id = matching[0]["id"].as_str().unwrap().to_string();

    // The metrics account's type decides the low-data warning.
    let metrics_account = context["metricsAccountName"].as_str().unwrap();
    let (status, credentials) = send(client.get(format!("{address}/credentials"))).await;
    assert_eq!(status, 200);
    let account_type = credentials
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["name"] == metrics_account)
        .map(|account| account["type"].as_str().unwrap().to_string())
        .expect("the metrics account is listed");

    // RunCanaryIntervalsStage: a retrospective analysis (end time set), growing windows.
    let scope = &context["scopes"][0];
    let start: Timestamp = scope["startTimeIso"].as_str().unwrap().parse().unwrap();
    let end: Timestamp = scope["endTimeIso"].as_str().unwrap().parse().unwrap();
    let lifetime = end.duration_since(start).as_mins();
    let interval = context["canaryAnalysisIntervalMins"]
        .as_i64()
        .filter(|m| *m > 0 && *m <= lifetime)
        .unwrap_or(lifetime);
    let offset = SignedDuration::from_mins(
        context["baselineAnalysisOffsetInMins"]
            .as_i64()
            .unwrap_or(0),
    );
    let lookback = context["lookbackMins"].as_i64().unwrap_or(0);
    let thresholds = &context["scoreThresholds"];
    let (pass, marginal) = (
        thresholds["pass"].as_i64().unwrap(),
        thresholds["marginal"].as_i64().unwrap(),
    );
    let mut scores = Vec::new();
    let mut warnings = Vec::new();
    for i in 1..=lifetime / interval {
        let window_end = start + SignedDuration::from_mins(i * interval);
        let window_start = if lookback > 0 {
            window_end - SignedDuration::from_mins(lookback)
        } else {
            start
        };
        let side = |name: &str, location: &str, shift: SignedDuration| {
            json!({
                "scope": scope[name], "location": scope[location],
                "start": (window_start - shift).to_string(), "end": (window_end - shift).to_string(),
                "step": scope["step"], "extendedScopeParams": scope["extendedScopeParams"]
            })
        };
        let body = json!({
            "scopes": {scope["scopeName"].as_str().unwrap(): {
                "controlScope": side("controlScope", "controlLocation", offset),
                "experimentScope": side("experimentScope", "experimentLocation", SignedDuration::ZERO)}},
            "thresholds": {"pass": pass, "marginal": marginal},
            "siteLocal": {}
        });
        let (status, started) = send(
            client
                .post(format!("{address}/canary/{config_id}"))
                .query(&[
                    ("application", APPLICATION),
                    ("parentPipelineExecutionId", "01PIPELINE"),
                    ("metricsAccountName", metrics_account),
                    (
                        "configurationAccountName",
                        context["configurationAccountName"].as_str().unwrap(),
                    ),
                    (
                        "storageAccountName",
                        context["storageAccountName"].as_str().unwrap(),
                    ),
                ])
                .json(&body),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let execution = started["canaryExecutionId"]
            .as_str()
            .expect("a string canaryExecutionId")
            .to_string();

        // MonitorKayentaCanaryTask, polling every second (here faster).
        let deadline = Instant::now() + Duration::from_secs(60);
        let result = loop {
            let (status, result) = send(client.get(format!("{address}/canary/{execution}")).query(
                &[(
                    "storageAccountName",
                    context["storageAccountName"].as_str().unwrap(),
                )],
            ))
            .await;
            assert_eq!(status, 200, "{result}");
            assert!(
                result["complete"].is_boolean() && result["application"].is_string(),
                "{result}"
            );
            let status = result["status"]
                .as_str()
                .expect("a status")
                .to_ascii_uppercase();
            assert!(
                [
                    "NOT_STARTED",
                    "RUNNING",
                    "SUCCEEDED",
                    "TERMINAL",
                    "CANCELED"
                ]
                .contains(&status.as_str()),
                "{status} is an Orca ExecutionStatus"
            );
            if ["SUCCEEDED", "TERMINAL", "CANCELED"].contains(&status.as_str()) {
                break result;
            }
            assert!(Instant::now() < deadline, "{result:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(result["status"], "succeeded", "{result:#}");
        let judge = &result["result"]["judgeResult"];
        let score = &judge["score"];
        assert!(
            score["classification"].is_string() && score["classificationReason"].is_string(),
            "{score}"
        );
        assert!(
            result["result"]["canaryDuration"]
                .as_str()
                .unwrap()
                .starts_with("PT")
        );
        let score = score["score"].as_f64().unwrap() as i64;
        scores.push(score);
        let low_data = judge["results"].as_array().unwrap().iter().any(|metric| {
            metric["controlMetadata"]["stats"]["count"]
                .as_i64()
                .expect("count is an Int")
                < 50
        });
        if low_data && account_type != "datadog" {
            warnings.push("One of the metrics returned fewer than 50 data points, which can reduce confidence in the final canary score.".to_string());
        }
        if score <= marginal {
            return StageOutcome {
                status: "TERMINAL",
                message: "Canary score is not above the marginal score threshold.".into(),
                scores,
                warnings,
            };
        }
    }
    // AggregateCanaryResultsTask.
    let last = *scores.last().unwrap();
    let (status, message) = if last <= marginal {
        (
            "TERMINAL",
            format!("Final canary score {last} is not above the marginal score threshold."),
        )
    } else if last < pass {
        (
            "TERMINAL",
            format!("Final canary score {last} is below the pass score threshold."),
        )
    } else {
        (
            "SUCCEEDED",
            format!("Final canary score {last} met or exceeded the pass score threshold."),
        )
    };
    StageOutcome {
        status,
        message,
        scores,
        warnings,
    }
}

#[tokio::test]
async fn the_kayenta_canary_stage_succeeds_for_a_healthy_canary_and_stops_a_regressed_one() {
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;

    let healthy = run_stage(
        &server.url,
        &stage(prometheus::BASELINE, data.start_time(), data.end_time()),
    )
    .await;
    assert_eq!(healthy.status, "SUCCEEDED", "{healthy:?}");
    assert_eq!(
        healthy.scores,
        [100, 100, 100],
        "three growing 20-minute intervals"
    );
    assert_eq!(
        healthy.message,
        "Final canary score 100 met or exceeded the pass score threshold."
    );
    // 20 and 40 minutes at 60 s are 21 and 41 points, under Orca's 50; the hour is 61 (60 for the rate).
    assert_eq!(healthy.warnings.len(), 2, "{healthy:?}");

    let regressed = run_stage(
        &server.url,
        &stage(prometheus::CANARY, data.start_time(), data.end_time()),
    )
    .await;
    assert_eq!(regressed.status, "TERMINAL", "{regressed:?}");
    assert_eq!(regressed.scores, [0], "the first interval stops the stage");
    assert_eq!(
        regressed.message,
        "Canary score is not above the marginal score threshold."
    );

    // Every run is listed under its application.
    let (status, executions) = get(&format!(
        "{}/canary/executions?application={APPLICATION}&limit=50",
        server.url
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(executions.as_array().unwrap().len(), 4);
    assert!(
        executions
            .as_array()
            .unwrap()
            .iter()
            .all(|run| run["parentPipelineExecutionId"] == "01PIPELINE")
    );
    let (_, terminal) = get(&format!(
        "{}/canary/executions?application={APPLICATION}&statuses=TERMINAL",
        server.url
    ))
    .await;
    assert_eq!(terminal, json!([]));
}

#[tokio::test]
async fn a_cancelled_stage_cancels_its_run() {
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    let id = store_example_config(&server.url).await;
    let side = |scope: &str| json!({"scope": scope, "location": "us-east-1", "start": data.start_time(), "end": data.end_time(), "step": 60});
    let (status, started) = common::clients::post(
        &format!("{}/canary/{id}?application={APPLICATION}", server.url),
        &json!({"scopes": {"default": {"controlScope": side("checkout-baseline"), "experimentScope": side("checkout-canary")}},
                "thresholds": {"pass": 75, "marginal": 50}}),
    )
    .await;
    assert_eq!(status, 200);
    let execution = started["canaryExecutionId"].as_str().unwrap();
    let (status, _) =
        send(reqwest::Client::new().put(format!("{}/pipelines/{execution}/cancel", server.url)))
            .await;
    assert_eq!(status, 202);
    let (_, result) = get(&format!("{}/canary/{execution}", server.url)).await;
    // The judgement may have finished before the cancellation arrived; either way it is final.
    assert_eq!(result["complete"], true, "{result:#}");
    assert!(
        ["canceled", "succeeded"].contains(&result["status"].as_str().unwrap()),
        "{result:#}"
    );
    let (status, missing) =
        send(reqwest::Client::new().put(format!("{}/pipelines/nope/cancel", server.url))).await;
    assert_eq!((status, missing["message"].is_string()), (404, true));
}
