//! What real Kayenta clients send and Kayenta accepts, over real HTTP against a real Prometheus: a published
//! CI library's standalone request, with numbers written as strings (`"controlOffsetInMinutes": "10"`,
//! `"step": "60"`, string thresholds), scopes written as numbers (`"controlScope": 0`) and a trailing slash
//! (`POST /standalone_canary_analysis/?…`). Kayenta's Jackson reads all of it, so coalmine's Kayenta routes
//! do too; a value Jackson cannot read is still a 400 naming the field, and the native API stays strict.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::clients::{example_json, get, post, send, store_example_config};
use common::server::Server;
use serde_json::{Value, json};
use support::prometheus;

fn start(data: &std::path::Path) -> Server {
    Server::start(data, &["--prometheus-url", &prometheus::shared().url])
}

/// A config whose latency query selects the pod by the scope: `checkout-baseline-${scope}`, so a scope
/// written as the number `0` selects `checkout-baseline-0` (us-east-1) and `1` selects
/// `checkout-baseline-1` (eu-west-1, 20 ms slower in the data set).
fn pod_config() -> Value {
    json!({
        "name": "checkout-pods",
        "applications": ["checkout"],
        "metrics": [{
            "name": "latency",
            "query": {"type": "prometheus", "metricName": prometheus::LATENCY,
                      "customInlineTemplate": "app=\"checkout-baseline\",pod=\"checkout-baseline-${scope}\""},
            "groups": ["latency"],
            "analysisConfigurations": {"canary": {"direction": "increase", "critical": true}},
            "scopeName": "default"
        }],
        "classifier": {"groupWeights": {"latency": "100"}}
    })
}

/// The CI library's execution request: the data set's hour after its first ten minutes, the control ten
/// minutes earlier, judged every 25 minutes; every number a string, every scope a number.
fn ci_request(experiment_scope: i64) -> Value {
    let data = prometheus::shared();
    let start = data.start_time() + jiff::SignedDuration::from_mins(10);
    json!({
        "scopes": [{
            "scopeName": "default",
            "controlScope": 0,
            "experimentScope": experiment_scope,
            "controlOffsetInMinutes": "10",
            "startTimeIso": start.to_string(),
            "endTimeIso": data.end_time().to_string(),
            "step": "60",
            "extendedScopeParams": {}
        }],
        "thresholds": {"pass": "95", "marginal": "75"},
        "analysisIntervalMins": "25"
    })
}

async fn wait_complete(url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, result) = get(url).await;
        assert_eq!(status, 200, "{result}");
        if result["complete"] == true {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "not complete after 60 s: {result:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_ci_librarys_standalone_request_is_accepted_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);

    // Exactly the library's call: ad hoc, with a trailing slash before the query string.
    let (status, started) = post(
        &url("/standalone_canary_analysis/?user=ci&application=checkout"),
        &json!({"canaryConfig": pod_config(), "executionRequest": ci_request(0)}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let id = started["canaryAnalysisExecutionId"].as_str().unwrap();
    let result = wait_complete(&url(&format!("/standalone_canary_analysis/{id}/"))).await;
    // The same pod on both sides: the same values, so Kayenta's judge passes every interval.
    assert_eq!(result["status"], "succeeded", "{result:#}");
    let outcome = &result["canaryAnalysisExecutionResult"];
    assert_eq!(outcome["didPassThresholds"], true, "{result:#}");
    assert_eq!(outcome["canaryScores"], json!([100.0, 100.0]), "{result:#}");
    assert_eq!(
        outcome["canaryScoreMessage"],
        "Final canary score 100.0 met or exceeded the pass score threshold."
    );
    // The query parameters survived the trailing slash.
    assert_eq!(
        (&result["user"], &result["application"]),
        (&json!("ci"), &json!("checkout"))
    );
    // The request is echoed as Kayenta's Jackson read it.
    let echoed = &result["canaryAnalysisExecutionRequest"];
    assert_eq!(echoed["scopes"][0]["controlScope"], "0");
    assert_eq!(echoed["scopes"][0]["controlOffsetInMinutes"], 10);
    assert_eq!(echoed["scopes"][0]["step"], 60);
    assert_eq!(
        echoed["thresholds"],
        json!({"pass": 95.0, "marginal": 75.0})
    );

    // Each number reached what it sets: the scopes' pods, the control offset, the step, the intervals.
    let (status, analysis) = get(&url(&format!("/v1/analyses/{id}"))).await;
    assert_eq!(status, 200, "{analysis}");
    let spec = &analysis["request"];
    assert_eq!(spec["controlOffset"], "PT10M", "{spec:#}");
    assert_eq!(spec["scopes"]["default"]["control"]["scope"], "0");
    assert_eq!(analysis["intervals"].as_array().unwrap().len(), 2);
    let judged = &analysis["intervals"][0]["judgeResult"]["results"][0];
    // 25 minutes at 60 s, both ends included.
    assert_eq!(
        judged["controlMetadata"]["stats"]["count"], 26,
        "{judged:#}"
    );

    // The experiment scope `1` is the other pod, 20 ms slower: the critical metric fails the first interval,
    // which ends the analysis.
    let (status, started) = post(
        &url("/standalone_canary_analysis/?user=ci&application=checkout"),
        &json!({"canaryConfig": pod_config(), "executionRequest": ci_request(1)}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let id = started["canaryAnalysisExecutionId"].as_str().unwrap();
    let result = wait_complete(&url(&format!("/standalone_canary_analysis/{id}"))).await;
    let outcome = &result["canaryAnalysisExecutionResult"];
    assert_eq!(outcome["didPassThresholds"], false, "{result:#}");
    assert_eq!(outcome["canaryScores"], json!([0.0]), "{result:#}");
}

#[tokio::test]
async fn canary_runs_configs_and_the_remote_judge_read_scalars_as_jackson_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let id = store_example_config(&server.url).await;
    let data = prometheus::shared();

    // `/canary/{id}` with a string step and string thresholds, times as epoch seconds (Jackson's Instant).
    let side = |scope: &str| {
        json!({"scope": scope, "location": "us-east-1", "step": "60",
               "start": data.start_time().as_second(), "end": data.end_time().as_second().to_string()})
    };
    let (status, started) = post(
        &url(&format!("/canary/{id}")),
        &json!({"scopes": {"default": {"controlScope": side(prometheus::BASELINE), "experimentScope": side(prometheus::CANARY)}},
                "thresholds": {"pass": "95.0", "marginal": "75"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let execution = started["canaryExecutionId"].as_str().unwrap();
    let result = wait_complete(&url(&format!("/canary/{execution}"))).await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    // The canary is slower and fails, as with the request written with numbers (tests/kayenta_api.rs).
    assert_eq!(
        result["result"]["judgeResult"]["score"]["classification"],
        "Fail"
    );
    assert_eq!(result["result"]["canaryDuration"], "PT1H");
    let echoed = &result["canaryExecutionRequest"]["scopes"]["default"]["controlScope"];
    assert_eq!(echoed["start"], data.start_time().to_string());
    assert_eq!(echoed["step"], 60);

    // RemoteJudge's `/judge`: string thresholds and values; the same body on the native `/v1/judge` is refused.
    let mut request = example_json("judge/regressed.json");
    request["scoreThresholds"] = json!({"pass": "75", "marginal": "50"});
    let values = &mut request["metricSetPairList"][0]["values"]["control"];
    let first = values[0].as_f64().unwrap();
    values[0] = json!(first.to_string());
    let (status, judged) = post(&url("/judge"), &request).await;
    assert_eq!(status, 200, "{judged}");
    let (status, expected) = post(&url("/judge"), &example_json("judge/regressed.json")).await;
    assert_eq!(status, 200, "{expected}");
    assert_eq!(
        judged, expected,
        "the coerced request is judged as the typed one"
    );
    let (status, refused) = post(&url("/v1/judge"), &request).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("metricSetPairList[0].values.control[0]: "),
        "{refused}"
    );

    // `/canaryConfig`: a string group weight is a number, but a string "true" for `critical` is still
    // refused: Kayenta keeps it a string (`analysisConfigurations` is untyped) and its judge misreads it.
    let mut config = example_json("spinnaker/canary-config.json");
    config["name"] = json!("weights-as-strings");
    config["classifier"]["groupWeights"] = json!({"latency": "60", "errors": "40"});
    let (status, created) = post(&url("/canaryConfig"), &config).await;
    assert_eq!(status, 200, "{created}");
    let stored_id = created["canaryConfigId"].as_str().unwrap();
    let (_, stored) = get(&url(&format!("/canaryConfig/{stored_id}"))).await;
    assert_eq!(
        stored["classifier"]["groupWeights"],
        json!({"latency": 60.0, "errors": 40.0})
    );
    config["name"] = json!("critical-as-a-string");
    config["metrics"][0]["analysisConfigurations"]["canary"]["critical"] = json!("true");
    let (status, refused) = post(&url("/canaryConfig"), &config).await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("critical") && message.contains("true or false"),
        "{message}"
    );
}

#[tokio::test]
async fn what_jackson_cannot_read_is_a_400_naming_the_field_and_the_native_api_stays_strict() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let id = store_example_config(&server.url).await;

    let mut request = ci_request(0);
    request["scopes"][0]["controlOffsetInMinutes"] = json!("ten");
    let (status, refused) =
        post(&url(&format!("/standalone_canary_analysis/{id}")), &request).await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with("scopes[0].controlOffsetInMinutes: "),
        "{message}"
    );
    assert!(message.contains("\"ten\""), "{message}");

    // Jackson does not read "10.5" as a Long, nor a boolean as a number; ad hoc, the field is named within
    // the whole body.
    request["scopes"][0]["controlOffsetInMinutes"] = json!("10.5");
    let (status, refused) = post(
        &url("/standalone_canary_analysis"),
        &json!({"canaryConfig": pod_config(), "executionRequest": request}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with("executionRequest.scopes[0].controlOffsetInMinutes: "),
        "{message}"
    );
    let data = prometheus::shared();
    let side = json!({"scope": "a", "location": "us-east-1", "step": true,
                      "start": data.start_time(), "end": data.end_time()});
    let (status, refused) = post(
        &url(&format!("/canary/{id}")),
        &json!({"scopes": {"default": {"controlScope": side, "experimentScope": side}},
                "thresholds": {"pass": 95, "marginal": 75}}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("scopes.default.controlScope.step: "),
        "{refused}"
    );

    // The native API reads only what its schema says.
    let (status, refused) = post(
        &url("/v1/analyses"),
        &json!({"configId": id,
                "control": {"scope": prometheus::BASELINE, "location": "us-east-1"},
                "experiment": {"scope": prometheus::CANARY, "location": "us-east-1"},
                "start": data.start_time(), "end": data.end_time(), "step": "60s",
                "thresholds": {"pass": "75", "marginal": "50"}}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("thresholds."),
        "{refused}"
    );
}

#[tokio::test]
async fn kayentas_routes_match_with_a_trailing_slash_and_only_they_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let client = reqwest::Client::new();

    let (status, created) = post(
        &url("/canaryConfig/"),
        &example_json("spinnaker/canary-config.json"),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["canaryConfigId"].as_str().unwrap().to_string();

    // Each of Kayenta's routes answers with the slash as without it, query strings included.
    for path in [
        "/canaryConfig?application=checkout".to_string(),
        "/canaryConfig?application=other".to_string(),
        format!("/canaryConfig/{id}"),
        "/judges".to_string(),
        "/credentials".to_string(),
        "/metricsServices".to_string(),
        "/canary/executions?application=ad-hoc".to_string(),
        "/canary/no-such-run".to_string(),
        "/standalone_canary_analysis/no-such-run".to_string(),
    ] {
        let slashed = match path.split_once('?') {
            Some((path, query)) => format!("{path}/?{query}"),
            None => format!("{path}/"),
        };
        let (plain_status, plain) = get(&url(&path)).await;
        let (status, answer) = get(&url(&slashed)).await;
        assert_eq!(
            (status, &answer),
            (plain_status, &plain),
            "{slashed} against {path}"
        );
        assert_ne!(status, 405, "{slashed}");
    }
    let (_, listed) = get(&url("/canaryConfig/?application=checkout")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let (_, none) = get(&url("/canaryConfig/?application=other")).await;
    assert_eq!(none, json!([]));
    let (status, cancelled) = send(client.put(url("/pipelines/no-such-run/cancel/"))).await;
    let (plain_status, plain) = send(client.put(url("/pipelines/no-such-run/cancel"))).await;
    assert_eq!((status, cancelled), (plain_status, plain));
    let (status, _) = send(client.delete(url(&format!("/canaryConfig/{id}/")))).await;
    assert_eq!(status, 204);

    // coalmine's own routes keep their one spelling.
    let (status, answer) = get(&url("/v1/analyses/")).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["message"], "no such endpoint");
}
