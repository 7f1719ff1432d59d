//! Kayenta's REST API on coalmine's port over real HTTP (against a real Prometheus where runs are judged):
//! `/canaryConfig` CRUD with Kayenta's answers and messages, account rules, `/credentials`,
//! `/metricsServices`, `/judges`, RemoteJudge's `POST /judge`, ad hoc `/canary`, Kayenta's error bodies,
//! `/standalone_canary_analysis` with its final decision and messages, and the bearer-token rule.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::clients::{example_json, get, post, send, store_example_config};
use common::server::Server;
use serde_json::{Value, json};
use support::datadog::{API_KEY, APP_KEY, DatadogDouble, DoubleOptions};
use support::prometheus;

fn start(data: &std::path::Path) -> Server {
    Server::start(data, &["--prometheus-url", &prometheus::shared().url])
}

#[tokio::test]
async fn canary_configs_are_kept_as_kayenta_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let config = example_json("spinnaker/canary-config.json");

    let (status, created) = post(
        &url("/canaryConfig?configurationAccountName=my-gcs"),
        &config,
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["canaryConfigId"].as_str().unwrap().to_string();

    let (status, stored) = get(&url(&format!("/canaryConfig/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (stored["id"].as_str(), &stored["name"]),
        (Some(id.as_str()), &config["name"])
    );
    assert!(
        stored["updatedTimestamp"].is_i64() && stored["createdTimestampIso"].is_string(),
        "{stored}"
    );

    let (status, list) = get(&url("/canaryConfig?application=checkout&application=other")).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["applications"], json!(["checkout"]));
    let (_, none) = get(&url("/canaryConfig?application=other")).await;
    assert_eq!(none, json!([]));

    // Kayenta's refusals.
    let (status, taken) = post(&url("/canaryConfig"), &config).await;
    assert_eq!(
        status, 400,
        "a second config of that name in the same application: {taken}"
    );
    assert!(
        taken["message"]
            .as_str()
            .unwrap()
            .contains("checkout-canary-by-region"),
        "{taken}"
    );
    let mut duplicated = config.clone();
    duplicated["name"] = json!("other-name");
    duplicated["metrics"][1]["name"] = json!("latency");
    let (status, refused) = post(&url("/canaryConfig"), &duplicated).await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (
            400,
            Some("Metric config name must be unique. 'latency' is duplicated.")
        )
    );
    let mut empty = config.clone();
    empty["name"] = json!("empty");
    empty["metrics"] = json!([]);
    let (status, refused) = post(&url("/canaryConfig"), &empty).await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (
            400,
            Some(
                "The canary config must specify at least one metric. Otherwise we're not analyzing anything. :)"
            )
        )
    );

    let mut changed = config.clone();
    changed["description"] = json!("changed");
    let (status, replaced) = send(
        reqwest::Client::new()
            .put(url(&format!("/canaryConfig/{id}")))
            .json(&changed),
    )
    .await;
    assert_eq!(
        (status, replaced["canaryConfigId"].as_str()),
        (200, Some(id.as_str()))
    );
    let (_, stored) = get(&url(&format!("/canaryConfig/{id}"))).await;
    assert_eq!(stored["description"], "changed");
    let (status, missing) = send(
        reqwest::Client::new()
            .put(url("/canaryConfig/nope"))
            .json(&changed),
    )
    .await;
    assert_eq!(status, 400, "{missing}");

    let (status, _) =
        send(reqwest::Client::new().delete(url(&format!("/canaryConfig/{id}")))).await;
    assert_eq!(status, 204);
    let (status, gone) = get(&url(&format!("/canaryConfig/{id}"))).await;
    assert_eq!(status, 404);
    assert!(gone["message"].as_str().unwrap().contains(&id));
}

#[tokio::test]
async fn accounts_judges_and_the_remote_judge() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);

    let (status, credentials) = get(&url("/credentials")).await;
    assert_eq!(status, 200);
    assert_eq!(
        credentials,
        json!([
            {"name": "prometheus", "type": "prometheus", "supportedTypes": ["METRICS_STORE"],
             "locations": [], "recommendedLocations": []},
            {"name": "coalmine", "type": "coalmine", "supportedTypes": ["CONFIGURATION_STORE", "OBJECT_STORE"],
             "locations": [], "recommendedLocations": []}
        ])
    );
    let (_, services) = get(&url("/metricsServices")).await;
    assert_eq!(services[0]["name"], "prometheus");
    let (_, judges) = get(&url("/judges")).await;
    assert!(
        judges
            .as_array()
            .unwrap()
            .contains(&json!({"name": "NetflixACAJudge-v1.0", "visible": true})),
        "{judges}"
    );
    let (status, health) = get(&url("/health")).await;
    assert_eq!((status, &health["status"]), (200, &json!("UP")));

    // Kayenta's RemoteJudge contract: a site that keeps Kayenta judges with coalmine.
    for (example, classification) in [
        ("judge/healthy.json", "Pass"),
        ("judge/regressed.json", "Fail"),
    ] {
        let (status, result) = post(&url("/judge"), &example_json(example)).await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["judgeName"], "NetflixACAJudge-v1.0");
        assert_eq!(
            result["score"]["classification"], classification,
            "{example}"
        );
    }
}

/// A `/canary` body over the data set's hour.
fn execution_request(experiment: &str) -> Value {
    let data = prometheus::shared();
    let side = |scope: &str| json!({"scope": scope, "location": "us-east-1", "start": data.start_time(), "end": data.end_time(), "step": 60});
    json!({
        "scopes": {"default": {"controlScope": side(prometheus::BASELINE), "experimentScope": side(experiment)}},
        "thresholds": {"pass": 95.0, "marginal": 75.0}
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
        assert!(Instant::now() < deadline, "{result:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn runs_follow_kayentas_account_rules_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let id = store_example_config(&server.url).await;

    let (status, refused) = post(
        &url(&format!("/canary/{id}?metricsAccountName=unknown-account")),
        &execution_request(prometheus::CANARY),
    )
    .await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"message": "Unable to resolve account unknown-account."})
        )
    );

    let mut no_thresholds = execution_request(prometheus::CANARY);
    no_thresholds.as_object_mut().unwrap().remove("thresholds");
    let (status, refused) = post(&url(&format!("/canary/{id}")), &no_thresholds).await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"message": "Execution request must contain thresholds"})
        )
    );

    let mut other_scope = execution_request(prometheus::CANARY);
    other_scope["scopes"] = json!({"other": other_scope["scopes"]["default"]});
    let (status, refused) = post(&url(&format!("/canary/{id}")), &other_scope).await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["message"],
        "Canary metrics require scopes which were not provided in the execution request: [default]"
    );
    let (status, refused) = post(
        &url("/canary/no-such-config"),
        &execution_request(prometheus::CANARY),
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    let (status, refused) = get(&url("/canary/no-such-run")).await;
    assert_eq!(status, 404, "{refused}");

    // A control window shifted back (Kayenta lets each side have its own) is a control offset: shifted ten
    // minutes before the data set starts, the control has ten fewer points.
    let mut shifted = execution_request(prometheus::BASELINE);
    let data = prometheus::shared();
    let ten = jiff::SignedDuration::from_mins(10);
    shifted["scopes"]["default"]["controlScope"]["start"] = json!(data.start_time() - ten);
    shifted["scopes"]["default"]["controlScope"]["end"] = json!(data.end_time() - ten);
    let (status, started) = post(&url(&format!("/canary/{id}")), &shifted).await;
    assert_eq!(status, 200, "{started}");
    let run = wait_complete(&url(&format!(
        "/canary/{}",
        started["canaryExecutionId"].as_str().unwrap()
    )))
    .await;
    let latency = &run["result"]["judgeResult"]["results"][0];
    assert_eq!(
        (
            &latency["controlMetadata"]["stats"]["count"],
            &latency["experimentMetadata"]["stats"]["count"]
        ),
        (&json!(51), &json!(61)),
        "{run:#}"
    );
    // A control window of its own length (Kayenta judges each side over its own start and end): five
    // minutes at 60 s (6 points) against the experiment's hour (61).
    let mut own = shifted.clone();
    own["scopes"]["default"]["controlScope"]["start"] = json!(data.start_time());
    own["scopes"]["default"]["controlScope"]["end"] =
        json!(data.start_time() + jiff::SignedDuration::from_mins(5));
    let (status, started) = post(&url(&format!("/canary/{id}")), &own).await;
    assert_eq!(status, 200, "{started}");
    let run = wait_complete(&url(&format!(
        "/canary/{}",
        started["canaryExecutionId"].as_str().unwrap()
    )))
    .await;
    let latency = &run["result"]["judgeResult"]["results"][0];
    assert_eq!(
        (
            &latency["controlMetadata"]["stats"]["count"],
            &latency["experimentMetadata"]["stats"]["count"]
        ),
        (&json!(6), &json!(61)),
        "{run:#}"
    );

    // Ad hoc, with no account named (the first) and any storage account (the built-in store).
    let (status, refused) = post(
        &url("/canary"),
        &json!({"executionRequest": execution_request(prometheus::CANARY)}),
    )
    .await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"message": "canaryConfig must be provided for ad-hoc requests"})
        )
    );
    let body = json!({
        "canaryConfig": example_json("spinnaker/canary-config.json"),
        "executionRequest": execution_request(prometheus::CANARY),
        "someFieldKayentaIgnores": true
    });
    let (status, started) = post(&url("/canary?storageAccountName=my-s3"), &body).await;
    assert_eq!(status, 200, "{started}");
    let run = wait_complete(&url(&format!(
        "/canary/{}",
        started["canaryExecutionId"].as_str().unwrap()
    )))
    .await;
    assert_eq!(
        (
            &run["application"],
            &run["canaryConfigId"],
            &run["metricsAccountName"],
            &run["storageAccountName"]
        ),
        (
            &json!("ad-hoc"),
            &json!("ad-hoc"),
            &json!("prometheus"),
            &json!("my-s3")
        )
    );
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["result"]["canaryDuration"], "PT1H");
    assert_eq!(
        run["result"]["judgeResult"]["score"]["classification"],
        "Fail"
    );
    assert_eq!(run["stageStatus"]["judge"], "succeeded");
    assert!(
        run["startTimeMillis"].is_i64() && run["endTimeIso"].is_string(),
        "{run:#}"
    );
    assert_eq!(run["config"]["name"], "checkout-canary-by-region");
    let (_, listed) = get(&url("/canary/executions")).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "only the ad hoc run is listed under ad-hoc"
    );
    let (_, listed) = get(&url("/canary/executions?application=kayenta-coalmine")).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "the two runs without an application (the shifted control, the control's own window)"
    );
    let (status, refused) = post(
        &url(&format!("/canary/{id}?application=a&application=b")),
        &execution_request(prometheus::CANARY),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("the query string: "),
        "{refused}"
    );
    let (status, refused) = get(&url("/canary/executions?limit=many")).await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"message": "limit: 'many' is not a whole number of at least 1"})
        )
    );

    // Only Kayenta's API makes Kayenta runs.
    let (status, refused) = post(
        &url("/v1/analyses"),
        &json!({"configId": "checkout-canary-by-region", "control": {"scope": "a"}, "experiment": {"scope": "b"},
                "lookback": "5m", "thresholds": {"pass": 75, "marginal": 50}, "kayenta": {}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("kayenta: "),
        "{refused}"
    );
}

/// A retrospective standalone analysis of the data set's hour, judged every 20 minutes.
fn standalone_request(experiment: &str) -> Value {
    let data = prometheus::shared();
    let mut request = example_json("spinnaker/standalone-analysis.json");
    let scope = &mut request["scopes"][0];
    scope["experimentScope"] = json!(experiment);
    scope["startTimeIso"] = json!(data.start_time());
    scope["endTimeIso"] = json!(data.end_time());
    let request = request.as_object_mut().unwrap();
    request.remove("lifetimeDurationMins");
    request.remove("lookbackMins");
    Value::Object(request.clone())
}

#[tokio::test]
async fn a_standalone_analysis_decides_as_kayenta_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let id = store_example_config(&server.url).await;

    let (status, started) = post(
        &url(&format!("/standalone_canary_analysis/{id}?user=jane")),
        &standalone_request(prometheus::BASELINE),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let healthy = wait_complete(&url(&format!(
        "/standalone_canary_analysis/{}",
        started["canaryAnalysisExecutionId"].as_str().unwrap()
    )))
    .await;
    assert_eq!(
        (&healthy["status"], &healthy["executionStatus"]),
        (&json!("succeeded"), &json!("SUCCEEDED"))
    );
    assert_eq!(
        (&healthy["user"], &healthy["application"]),
        (&json!("jane"), &json!("ad-hoc"))
    );
    let result = &healthy["canaryAnalysisExecutionResult"];
    assert_eq!(result["canaryScores"], json!([100.0, 100.0, 100.0]));
    assert_eq!(result["didPassThresholds"], true);
    assert_eq!(
        result["canaryScoreMessage"],
        "Final canary score 100.0 met or exceeded the pass score threshold."
    );
    assert_eq!(
        result["hasWarnings"], true,
        "20 and 40 minutes at 60 s are under 50 points"
    );
    let runs = result["canaryExecutionResults"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let first_end = prometheus::shared().start_time() + jiff::SignedDuration::from_mins(20);
    assert_eq!(runs[0]["judgementEndTimeIso"], first_end.to_string());
    assert_eq!(
        runs[0]["judgementStartTimeIso"],
        prometheus::shared().start_time().to_string()
    );
    assert_eq!(runs[2]["warnings"], json!([]));
    assert_eq!(healthy["stageStatus"][2]["name"], "Run Canary #3");

    let (status, started) = post(
        &url("/standalone_canary_analysis"),
        &json!({"canaryConfig": example_json("spinnaker/canary-config.json"),
                "executionRequest": standalone_request(prometheus::CANARY)}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let regressed = wait_complete(&url(&format!(
        "/standalone_canary_analysis/{}",
        started["canaryAnalysisExecutionId"].as_str().unwrap()
    )))
    .await;
    assert_eq!(
        (&regressed["status"], &regressed["executionStatus"]),
        (&json!("terminal"), &json!("TERMINAL"))
    );
    let result = &regressed["canaryAnalysisExecutionResult"];
    assert_eq!(
        result["canaryScores"],
        json!([0.0]),
        "the first interval fails fast"
    );
    assert_eq!(result["didPassThresholds"], false);
    assert_eq!(
        result["canaryScoreMessage"],
        "Final canary score 0.0 is not above the marginal score threshold."
    );
    assert_eq!(
        result["canaryExecutionResults"][0]["canaryScoreMessage"],
        "Canary score is not above the marginal score threshold."
    );
    assert_eq!(regressed["stageStatus"][1]["status"], "not_started");

    let (status, refused) = post(
        &url(&format!("/standalone_canary_analysis/{id}")),
        &json!({"scopes": [{"controlScope": "a", "experimentScope": "b"}], "thresholds": {"pass": 75, "marginal": 50}}),
    )
    .await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (
            400,
            Some(
                "Canary StageExecution configuration must include either `endTime` or `lifetimeDuration`."
            )
        )
    );
    // The analyses are the native API's too.
    let (_, analyses) = get(&url("/v1/analyses")).await;
    assert_eq!(analyses.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn kayentas_paths_need_the_token_except_health() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("coalmine.toml");
    std::fs::write(&config, "[auth]\ntoken_envs = [\"TEST_COALMINE_TOKEN\"]\n").unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("TEST_COALMINE_TOKEN", "s3cret-token")],
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    assert_eq!(
        client.get(url("/health")).send().await.unwrap().status(),
        200
    );
    for path in [
        "/canaryConfig",
        "/credentials",
        "/judges",
        "/canary/executions",
        "/metricsServices",
    ] {
        assert_eq!(
            client.get(url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
        assert_eq!(
            client
                .get(url(path))
                .bearer_auth("s3cret-token")
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn metric_names_come_from_prometheus_and_datadog_cached() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let (status, names) = get(&url(
        "/metadata/metricsService?metricsAccountName=prometheus&filter=LATENCY",
    ))
    .await;
    assert_eq!(status, 200, "{names}");
    assert_eq!(names, json!([{"name": prometheus::LATENCY}]));
    let (_, all) = get(&url("/metadata/metricsService?filter=checkout_")).await;
    assert_eq!(
        all,
        json!([{"name": prometheus::LATENCY}, {"name": prometheus::REQUESTS}, {"name": prometheus::SPARSE},
               {"name": prometheus::SPECIAL}])
    );
    let (status, refused) = get(&url("/metadata/metricsService?metricsAccountName=nope")).await;
    assert_eq!(
        (status, refused),
        (400, json!({"message": "Unable to resolve account nope."}))
    );

    let double = DatadogDouble::start(DoubleOptions {
        answers: [
            ("avg:system.cpu.user{app:checkout}".to_string(), vec![]),
            (
                "avg:trace.http.request.errors{app:checkout}".to_string(),
                vec![],
            ),
        ]
        .into(),
        ..DoubleOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let datadog = Server::start_with_env(
        dir.path(),
        &["--datadog-url", &double.url],
        &[("DD_API_KEY", API_KEY), ("DD_APP_KEY", APP_KEY)],
    );
    for _ in 0..2 {
        let (status, names) = get(&format!(
            "{}/metadata/metricsService?filter=cpu",
            datadog.url
        ))
        .await;
        assert_eq!(status, 200, "{names}");
        assert_eq!(names, json!([{"name": "system.cpu.user"}]));
    }
    let listed = double
        .requests()
        .iter()
        .filter(|request| request.uri.starts_with("/api/v1/metrics?"))
        .count();
    assert_eq!(listed, 1, "the second answer comes from the cache");
    let (_, credentials) = get(&format!("{}/credentials", datadog.url)).await;
    assert_eq!(credentials[0]["type"], "datadog");
}

#[tokio::test]
async fn a_real_time_standalone_analysis_runs_until_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let id = store_example_config(&server.url).await;
    // The example as is: 60 minutes judged every 20 after a 5-minute warm-up; nothing is due yet.
    let (status, started) = post(
        &url(&format!(
            "/standalone_canary_analysis/{id}?application=checkout"
        )),
        &example_json("spinnaker/standalone-analysis.json"),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["canaryAnalysisExecutionId"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = loop {
        let (status, running) = get(&url(&format!("/standalone_canary_analysis/{run}"))).await;
        assert_eq!(status, 200, "{running}");
        if running["status"] == "running" {
            break running;
        }
        assert_eq!(running["status"], "not_started", "{running:#}");
        assert!(Instant::now() < deadline, "{running:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(running["complete"], false);
    assert_eq!(running["executionStatus"], "RUNNING");
    assert!(
        running["canaryAnalysisExecutionResult"].is_null(),
        "{running:#}"
    );
    let stages = running["stageStatus"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(
        (&stages[0]["name"], &stages[0]["status"]),
        (&json!("Run Canary #1"), &json!("running"))
    );

    // It is an analysis of the native API, which can cancel it.
    let (status, _) = post(&url(&format!("/v1/analyses/{run}/cancel")), &json!({})).await;
    assert_eq!(status, 200);
    let (_, cancelled) = get(&url(&format!("/standalone_canary_analysis/{run}"))).await;
    assert_eq!(
        (&cancelled["status"], &cancelled["complete"]),
        (&json!("canceled"), &json!(true))
    );
    assert_eq!(
        cancelled["canaryAnalysisExecutionResult"]["canaryScoreMessage"],
        "There were no successful canary judgements to aggregate"
    );
    assert_eq!(
        cancelled["canaryAnalysisExecutionResult"]["didPassThresholds"],
        false
    );
}

#[tokio::test]
async fn a_run_that_cannot_reach_its_metrics_is_terminal_with_orcas_exception() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &address]);
    let id = store_example_config(&server.url).await;
    let (status, started) = post(
        &format!("{}/canary/{id}", server.url),
        &execution_request(prometheus::CANARY),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = wait_complete(&format!(
        "{}/canary/{}",
        server.url,
        started["canaryExecutionId"].as_str().unwrap()
    ))
    .await;
    assert_eq!(run["status"], "terminal", "{run:#}");
    assert!(
        run["result"].is_null(),
        "no result, so Argo reports an Error, not a Failure"
    );
    let errors = run["exception"]["details"]["errors"].as_array().unwrap();
    assert!(
        errors[0].as_str().unwrap().contains("Prometheus"),
        "{run:#}"
    );
}
