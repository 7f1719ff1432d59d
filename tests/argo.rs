//! Argo Rollouts against coalmine, replaying the exact calls of its two providers over real HTTP against a
//! real Prometheus, configured by the AnalysisTemplates in `examples/argo-rollouts/`:
//!
//! - `kayenta` (`metricproviders/kayenta/kayenta.go`): `GET /canaryConfig?application=&configurationAccountName=
//!   <the storage account>` (200 exactly, an array with integer `updatedTimestamp`), `POST /canary/{id}` with
//!   integer thresholds and Argo's `region` (before v1.9, with the template's times as given, empty by
//!   default; since, `location` and by default the last `interval` ending now) (200 exactly,
//!   `canaryExecutionId`), then `GET /canary/{id}` with no
//!   parameters until `complete`, reading `result.judgeResult.score.score` truncated to an integer;
//! - `web` (`metricproviders/webmetric/webmetric.go`): one synchronous `POST /v1/analyses` of the last
//!   `lookback`, its JSON read through `jsonPath` and the template's success and failure conditions.
//!
//! Each for a healthy canary (the baseline against itself) and a regressed one (the canary's latency is
//! 50 ms higher and its error ratio 5×).

mod common;
mod support;

use std::time::{Duration, Instant};

use common::clients::{example_yaml, get, send, store_example_config, substitute};
use common::server::Server;
use serde_json::{Value, json};
use support::prometheus;

/// What Argo Rollouts makes of a measurement.
#[derive(Debug, PartialEq)]
enum Phase {
    Successful,
    Inconclusive,
    Failed,
}

/// How a version of Argo Rollouts' provider marshals the scopes.
#[derive(Debug, Clone, Copy)]
enum Argo {
    Before1_9,
    /// With the metric's `interval`.
    Since1_9 {
        interval: jiff::SignedDuration,
    },
}

/// The `kayenta` provider block of the example template, with `args` substituted.
fn kayenta_provider(args: &[(&str, &str)]) -> Value {
    let template = example_yaml("argo-rollouts/analysis-template-kayenta.yaml").remove(0);
    assert_eq!(template["kind"], "AnalysisTemplate");
    substitute(&template["spec"]["metrics"][0]["provider"]["kayenta"], args)
}

/// One measurement of the `kayenta` provider, as `kayenta.go` makes it (v1.9+ start/end handling aside,
/// which needs no server support): the config lookup, the start, and polling.
async fn kayenta_measurement(
    address: &str,
    provider: &Value,
    version: Argo,
) -> (Phase, i64, Value) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15)) // httpConnectionTimeout
        .build()
        .unwrap();
    let application = provider["application"].as_str().unwrap();
    // 1. The config lookup, with the storage account as the configuration account (Argo's quirk).
    let (status, configs) = send(client.get(format!(
        "{address}/canaryConfig?application={application}&configurationAccountName={}",
        provider["storageAccountName"].as_str().unwrap()
    )))
    .await;
    assert_eq!(status, 200, "{configs}");
    let id = configs
        .as_array()
        .unwrap()
        .iter()
        .inspect(|config| assert!(config["updatedTimestamp"].is_i64(), "{config}"))
        .find(|config| config["name"] == provider["canaryConfigName"])
        .map(|config| config["id"].as_str().unwrap().to_string())
        .expect("Canary config not found");

    // 2. The start. Before v1.9 Argo marshals the scope as written, with `region` and the given times; since
    // v1.9 it sends `location`, and when both scopes leave the times empty, the last `interval` ending now.
    let mut scopes = serde_json::Map::new();
    let now = jiff::Timestamp::now();
    for scope in provider["scopes"].as_array().unwrap() {
        let side = |side: &Value| match version {
            Argo::Before1_9 => json!({
                "scope": side["scope"], "region": side["region"], "step": side["step"],
                "start": side["start"], "end": side["end"]
            }),
            Argo::Since1_9 { interval } => {
                let given = |field: &str| {
                    side[field]
                        .as_str()
                        .filter(|text| !text.is_empty())
                        .map(str::to_string)
                };
                json!({
                    "scope": side["scope"], "location": side["region"], "step": side["step"],
                    "start": given("start").unwrap_or_else(|| (now - interval).to_string()),
                    "end": given("end").unwrap_or_else(|| now.to_string())
                })
            }
        };
        scopes.insert(
            scope["name"].as_str().unwrap().to_string(),
            json!({"controlScope": side(&scope["controlScope"]), "experimentScope": side(&scope["experimentScope"])}),
        );
    }
    let threshold = &provider["threshold"];
    let body = json!({
        "scopes": scopes,
        "thresholds": {"pass": threshold["pass"].as_i64().unwrap(), "marginal": threshold["marginal"].as_i64().unwrap()}
    });
    let (status, started) = send(
        client
            .post(format!(
                "{address}/canary/{id}?application={application}&metricsAccountName={}&configurationAccountName={}&storageAccountName={}",
                provider["metricsAccountName"].as_str().unwrap(),
                provider["configurationAccountName"].as_str().unwrap(),
                provider["storageAccountName"].as_str().unwrap()
            ))
            .json(&body),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let execution = started["canaryExecutionId"]
        .as_str()
        .expect("canaryExecutionId")
        .to_string();

    // 3. Polling, with no query parameters (Argo waits 15 s between polls; the test does not).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, result) = send(client.get(format!("{address}/canary/{execution}"))).await;
        assert_eq!(status, 200, "{result}");
        let complete = result["complete"]
            .as_bool()
            .expect("Missing Complete Status");
        if complete {
            let score = result["result"]["judgeResult"]["score"]["score"]
                .as_f64()
                .unwrap_or_else(|| panic!("Missing Score: {result:#}"))
                as i64;
            let (pass, marginal) = (
                threshold["pass"].as_i64().unwrap(),
                threshold["marginal"].as_i64().unwrap(),
            );
            let phase = if score >= pass {
                Phase::Successful
            } else if score >= marginal {
                Phase::Inconclusive
            } else {
                Phase::Failed
            };
            return (phase, score, result);
        }
        assert!(
            Instant::now() < deadline,
            "not complete after 60 s: {result:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn window_args(data: &prometheus::PrometheusServer, start: &mut String, end: &mut String) {
    *start = data.start_time().to_string();
    *end = data.end_time().to_string();
}

#[tokio::test]
async fn the_kayenta_provider_passes_a_healthy_canary_and_fails_a_regressed_one() {
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let (mut start, mut end) = (String::new(), String::new());
    window_args(data, &mut start, &mut end);

    let address_of = |provider: &mut Value| provider["address"] = json!(server.url);
    let mut healthy = kayenta_provider(&[
        ("stable-hash", "baseline"),
        ("canary-hash", "baseline"),
        ("start-time", &start),
        ("end-time", &end),
    ]);
    address_of(&mut healthy);
    let (phase, score, result) = kayenta_measurement(&server.url, &healthy, Argo::Before1_9).await;
    assert_eq!((phase, score), (Phase::Successful, 100), "{result:#}");
    assert_eq!(result["status"], "succeeded");
    // `region` was read as the location: the config's queries select on it.
    assert_eq!(
        result["canaryExecutionRequest"]["scopes"]["default"]["controlScope"]["region"],
        "us-east-1"
    );
    let latency = &result["result"]["judgeResult"]["results"][0];
    assert_eq!(latency["name"], "latency");
    assert_eq!(
        latency["controlMetadata"]["stats"]["count"], 61,
        "the hour's 61 points at 60 s in us-east-1: {result:#}"
    );
    assert_eq!(result["configurationAccountName"], "my-s3-account");

    let mut regressed = kayenta_provider(&[
        ("stable-hash", "baseline"),
        ("canary-hash", "canary"),
        ("start-time", &start),
        ("end-time", &end),
    ]);
    address_of(&mut regressed);
    let (phase, score, result) =
        kayenta_measurement(&server.url, &regressed, Argo::Before1_9).await;
    assert_eq!((phase, score), (Phase::Failed, 0), "{result:#}");
    assert_eq!(
        result["result"]["judgeResult"]["score"]["classification"],
        "Fail"
    );
    assert_eq!(
        result["result"]["judgeResult"]["results"][0]["classification"],
        "High"
    );

    // The runs are analyses of the native API too.
    let (status, analyses) = get(&format!("{}/v1/analyses", server.url)).await;
    assert_eq!(status, 200);
    let origins: Vec<&Value> = analyses
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["origin"])
        .collect();
    assert_eq!(origins, [&json!("kayenta"), &json!("kayenta")]);

    // And the report pages show them as they show native ones: the list, and the regressed run's verdict,
    // scopes and metric charts.
    let page = |path: String| async move {
        let response = reqwest::get(path).await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let list = page(format!("{}/", server.url)).await;
    let regressed_id = analyses[0]["id"].as_str().unwrap();
    for analysis in analyses.as_array().unwrap() {
        assert!(list.contains(analysis["id"].as_str().unwrap()), "{list}");
    }
    let report = page(format!("{}/analyses/{regressed_id}", server.url)).await;
    let scopes = &result["canaryExecutionRequest"]["scopes"]["default"];
    for shown in [
        "Fail",
        "latency",
        scopes["controlScope"]["scope"].as_str().unwrap(),
        scopes["experimentScope"]["scope"].as_str().unwrap(),
        "<svg",
    ] {
        assert!(report.contains(shown), "the page lacks {shown}:\n{report}");
    }
}

#[tokio::test]
async fn since_argo_1_9_the_template_judges_the_last_interval_ending_now() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let template = example_yaml("argo-rollouts/analysis-template-kayenta.yaml").remove(0);
    let interval: jiff::SignedDuration = template["spec"]["metrics"][0]["interval"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let version = Argo::Since1_9 { interval };
    // The template's start and end arguments default to empty.
    let provider = |canary: &str| {
        let mut provider = kayenta_provider(&[
            ("stable-hash", "baseline"),
            ("canary-hash", canary),
            ("start-time", ""),
            ("end-time", ""),
        ]);
        provider["address"] = json!(server.url);
        provider
    };
    let (phase, score, result) =
        kayenta_measurement(&server.url, &provider("baseline"), version).await;
    assert_eq!((phase, score), (Phase::Successful, 100), "{result:#}");
    assert_eq!(result["result"]["canaryDuration"], "PT5M");
    let (phase, score, result) =
        kayenta_measurement(&server.url, &provider("canary"), version).await;
    assert_eq!((phase, score), (Phase::Failed, 0), "{result:#}");
}

#[tokio::test]
async fn before_argo_1_9_the_templates_empty_times_judge_the_last_five_minutes() {
    // Argo Rollouts before 1.9 sends the template's default `""` as it is: `"start": "", "end": ""`. Jackson
    // reads an empty Instant as absent; coalmine judges the last five minutes ending now, as Argo 1.9 would
    // for the template's `interval: 5m`.
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;
    let provider = |canary: &str| {
        let mut provider = kayenta_provider(&[
            ("stable-hash", "baseline"),
            ("canary-hash", canary),
            ("start-time", ""),
            ("end-time", ""),
        ]);
        provider["address"] = json!(server.url);
        provider
    };
    let before = jiff::Timestamp::now();
    let (phase, score, result) =
        kayenta_measurement(&server.url, &provider("baseline"), Argo::Before1_9).await;
    assert_eq!((phase, score), (Phase::Successful, 100), "{result:#}");
    assert_eq!(
        result["canaryExecutionRequest"]["scopes"]["default"]["controlScope"]["region"],
        "us-east-1"
    );
    assert_eq!(result["result"]["canaryDuration"], "PT5M");
    // 5 minutes at 60 s, both ends included, ending now.
    let latency = &result["result"]["judgeResult"]["results"][0];
    assert_eq!(
        latency["controlMetadata"]["stats"]["count"], 6,
        "{result:#}"
    );
    let id = result["pipelineId"].as_str().unwrap();
    let (_, analysis) = get(&format!("{}/v1/analyses/{id}", server.url)).await;
    let end: jiff::Timestamp = analysis["intervals"][0]["end"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        end >= jiff::Timestamp::from_second(before.as_second()).unwrap()
            && end <= jiff::Timestamp::now(),
        "the window ends when the run was started: {end}"
    );

    let (phase, score, result) =
        kayenta_measurement(&server.url, &provider("canary"), Argo::Before1_9).await;
    assert_eq!((phase, score), (Phase::Failed, 0), "{result:#}");
}

#[tokio::test]
async fn without_argos_region_the_location_is_missing_and_the_run_is_refused() {
    // The same call with `region` left out shows that the location really reaches the queries: the
    // config's templates need it, and the run is refused with a message that says so.
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    let id = store_example_config(&server.url).await;
    let side = json!({"scope": "checkout-baseline", "step": 60, "start": data.start_time(), "end": data.end_time()});
    let (status, refused) = common::clients::post(
        &format!("{}/canary/{id}", server.url),
        &json!({"scopes": {"default": {"controlScope": side, "experimentScope": side}},
                "thresholds": {"pass": 90, "marginal": 75}}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("metric 'latency'")
            && message.contains("variable 'location' is not defined"),
        "{message}"
    );
}

/// The `web` metric of the example template, with `args` substituted and the address replaced.
fn web_metric(address: &str, args: &[(&str, &str)]) -> Value {
    let template = example_yaml("argo-rollouts/analysis-template-web.yaml").remove(0);
    let mut metric = substitute(&template["spec"]["metrics"][0], args);
    let url = metric["provider"]["web"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &url[url.find("/v1/").expect("the template calls /v1/…")..];
    metric["provider"]["web"]["url"] = json!(format!("{address}{path}"));
    metric
}

/// Evaluates a condition of the form `result.<field> == "<value>"`, the form the example uses.
fn condition(expression: &str, result: &Value) -> bool {
    let (left, right) = expression.split_once("==").expect("a comparison");
    let field = left
        .trim()
        .strip_prefix("result.")
        .expect("a field of result");
    let expected: String = serde_json::from_str(right.trim()).expect("a quoted value");
    result[field] == json!(expected)
}

/// One measurement of the `web` provider: the request, the status check, `jsonPath` and the conditions
/// (failure wins; neither true is Inconclusive).
async fn web_measurement(metric: &Value) -> (Phase, Value, Duration) {
    let web = &metric["provider"]["web"];
    assert_eq!(web["method"], "POST");
    assert_eq!(web["jsonPath"], "{$}", "the example reads the whole answer");
    let timeout = Duration::from_secs(web["timeoutSeconds"].as_u64().unwrap_or(10));
    let client = reqwest::Client::builder().timeout(timeout).build().unwrap();
    let began = Instant::now();
    let (status, result) = send(
        client
            .post(web["url"].as_str().unwrap())
            .json(&web["jsonBody"]),
    )
    .await;
    let took = began.elapsed();
    assert!((200..300).contains(&status), "{status}: {result}");
    let success = condition(metric["successCondition"].as_str().unwrap(), &result);
    let failure = condition(metric["failureCondition"].as_str().unwrap(), &result);
    let phase = match (success, failure) {
        (_, true) => Phase::Failed,
        (true, false) => Phase::Successful,
        (false, false) => Phase::Inconclusive,
    };
    (phase, result, took)
}

#[tokio::test]
async fn the_web_provider_judges_the_last_minutes_synchronously() {
    let data = prometheus::recent();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--prometheus-url", &data.url]);
    store_example_config(&server.url).await;

    let healthy = web_metric(
        &server.url,
        &[("stable-hash", "baseline"), ("canary-hash", "baseline")],
    );
    let (phase, result, took) = web_measurement(&healthy).await;
    assert_eq!(phase, Phase::Successful, "{result:#}");
    assert_eq!(result["status"], "completed");
    let interval = &result["intervals"][0];
    let (start, end): (jiff::Timestamp, jiff::Timestamp) = (
        interval["start"].as_str().unwrap().parse().unwrap(),
        interval["end"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(
        end.duration_since(start),
        jiff::SignedDuration::from_mins(10)
    );
    assert!(
        jiff::Timestamp::now().duration_since(end) < jiff::SignedDuration::from_mins(1),
        "the window ends now: {end}"
    );
    eprintln!("the web measurement took {took:?}");
    // A sanity bound only: Argo's default timeout is 10 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let regressed = web_metric(
        &server.url,
        &[("stable-hash", "baseline"), ("canary-hash", "canary")],
    );
    let (phase, result, _) = web_measurement(&regressed).await;
    assert_eq!(phase, Phase::Failed, "{result:#}");
    assert_eq!(result["score"], 0.0);
}
