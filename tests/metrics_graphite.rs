//! The Graphite source against a double of Graphite's render API that checks each request
//! (`support::graphite`: Kayenta's targets and time encoding, values that would change a target, retries)
//! and against a real graphite-web (`support::graphite_web`: several series per target, a target matching
//! nothing, and `examples/graphite/canary-config.json` judged end to end through `coalmine analyze
//! --settings --account`, `POST /v1/analyses` and Kayenta's `POST /canary`, A/A and with a regression).

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

use coalmine::kayenta::CanaryConfig;
use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    GraphiteAccount, GraphiteSource, MetricSource, RetryPolicy, Scope, ScopePair, SourceError,
    fetch_canary,
};
use common::clients::{example, example_json, get};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, Side, Window};
use support::graphite::{DoubleOptions, GraphiteDouble, Series};
use support::graphite_web::{self, BASELINE, CANARY};
use support::proxy::{Proxy, ProxyOptions};

/// 2024-01-01T00:00:00Z, where the windows asked of the double start.
const START: i64 = 1_704_067_200;

fn scope(scope: &str, location: &str, start: i64, end: i64) -> Scope {
    Scope {
        scope: scope.into(),
        location: location.into(),
        extended_params: BTreeMap::new(),
        start: jiff::Timestamp::from_second(start).unwrap(),
        end: jiff::Timestamp::from_second(end).unwrap(),
        step: Duration::from_secs(60),
    }
}

fn source(url: &str) -> GraphiteSource {
    let retries = RetryPolicy {
        initial_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    GraphiteSource::new(GraphiteAccount {
        retries,
        ..GraphiteAccount::new("graphite", url)
    })
    .unwrap()
}

fn metric(name: &str, metric_name: &str) -> MetricConfig {
    serde_json::from_value(
        json!({"name": name, "query": {"type": "graphite", "metricName": metric_name}}),
    )
    .unwrap()
}

fn config(metric_name: &str) -> CanaryConfig {
    serde_json::from_value(json!({"name": "c", "metrics": [
        {"name": "cpu", "query": {"type": "graphite", "metricName": metric_name}}
    ]}))
    .unwrap()
}

fn answers(entries: Vec<(String, Vec<Series>)>) -> HashMap<String, Vec<Series>> {
    entries.into_iter().collect()
}

#[tokio::test]
async fn kayentas_targets_and_window_are_sent_as_kayenta_sends_them() {
    // The reference's example: `test.server.request.400.$scope`, scope myapp-canary, from 1519217280 until
    // 1519217460; a value every minute but a null at 1519217400.
    let target = "test.server.request.400.myapp-canary";
    let series = Series::new(target, 60, |time| {
        (time != 1_519_217_400).then_some((time % 7) as f64)
    });
    let located = "system.us-west-2.myapp-v001";
    let options = DoubleOptions {
        answers: answers(vec![
            (target.to_string(), vec![series]),
            (
                located.to_string(),
                vec![Series::new(located, 60, |_| Some(1.0))],
            ),
        ]),
        ..DoubleOptions::default()
    };
    let double = GraphiteDouble::start(options).await;
    let source = source(&double.url);
    let window = scope("myapp-canary", "", 1_519_217_280, 1_519_217_460);
    let built = source
        .build_query(
            &metric("requests_400", "test.server.request.400.$scope"),
            &BTreeMap::new(),
            &window,
        )
        .unwrap();
    assert_eq!(built, target);
    let sets = source.fetch("requests_400", &built, &window).await.unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.values[0], (1_519_217_340 % 7) as f64);
    assert!(set.values[1].is_nan());
    assert_eq!(set.values[2], (1_519_217_460 % 7) as f64);
    assert_eq!(set.values.len(), 3);
    // Kayenta: from the first timestamp to the last, the first gap as the step, no tags.
    assert_eq!(
        (set.start_millis, set.end_millis, set.step_millis),
        (1_519_217_340_000, 1_519_217_460_000, 60_000)
    );
    assert!(set.tags.is_empty());

    let request = &double.requests()[0];
    assert!(request.uri.starts_with("/render?"), "{}", request.uri);
    assert_eq!(request.param("target").as_deref(), Some(target));
    assert_eq!(request.param("from").as_deref(), Some("1519217280"));
    assert_eq!(request.param("until").as_deref(), Some("1519217460"));
    assert_eq!(request.param("format").as_deref(), Some("json"));

    // `system.$location.$scope`, and a sub-second window truncated to seconds.
    let mut located_scope = scope("myapp-v001", "us-west-2", 1_519_217_280, 1_519_217_460);
    located_scope.start += jiff::SignedDuration::from_millis(900);
    let built = source
        .build_query(
            &metric("cpu", "system.$location.$scope"),
            &BTreeMap::new(),
            &located_scope,
        )
        .unwrap();
    assert_eq!(built, located);
    let sets = source.fetch("cpu", &built, &located_scope).await.unwrap();
    assert_eq!(sets[0].values, [1.0, 1.0, 1.0]);
    let request = &double.requests()[1];
    assert_eq!(request.param("target").as_deref(), Some(located));
    assert_eq!(request.param("from").as_deref(), Some("1519217280"));
}

#[tokio::test]
async fn a_wildcard_gives_one_pair_per_series() {
    // Kayenta's integration-test target, on a real graphite-web: the namespace is a wildcard, the scope the
    // last node.
    let graphite = graphite_web::shared();
    let (start, end) = (
        graphite.start_time().as_second(),
        graphite.end_time().as_second(),
    );
    let scopes = BTreeMap::from([(
        "default".to_string(),
        ScopePair {
            control: scope("baseline", "", start, end),
            experiment: scope("canary", "", start, end),
        },
    )]);
    let fetched = fetch_canary(
        &source(&graphite.url),
        &config("integrationTestCpu.namespace.*.scope.$scope"),
        &scopes,
        4,
    )
    .await
    .unwrap();
    assert_eq!(fetched.pairs.len(), 2, "Kayenta would keep only the first");
    for (pair, namespace) in fetched.pairs.iter().zip(["ns-a", "ns-b"]) {
        assert_eq!(
            pair.tags,
            BTreeMap::from([("node2".to_string(), namespace.to_string())])
        );
        // graphite-web answers the points after `from` up to `until`: samples 1 to 60.
        let control = graphite_web::cpu(namespace, "baseline");
        let experiment = graphite_web::cpu(namespace, "canary");
        assert_eq!(pair.values.control, [control; graphite_web::SAMPLES - 1]);
        assert_eq!(
            pair.values.experiment,
            [experiment; graphite_web::SAMPLES - 1]
        );
    }
}

#[tokio::test]
async fn a_target_matching_nothing_is_no_data_rather_than_an_error() {
    let graphite = graphite_web::shared();
    let proxy = Proxy::start(&graphite.url, ProxyOptions::default()).await;
    let start = graphite.start_time().as_second();
    let scopes = BTreeMap::from([(
        "default".to_string(),
        ScopePair {
            control: scope(BASELINE, "", start, start + 600),
            experiment: scope(CANARY, "", start, start + 600),
        },
    )]);
    let fetched = fetch_canary(&source(&proxy.url), &config("no.such.$scope"), &scopes, 4)
        .await
        .unwrap();
    let pair = &fetched.pairs[0];
    assert_eq!(pair.values.control.len(), 10);
    assert!(
        pair.values
            .control
            .iter()
            .chain(&pair.values.experiment)
            .all(|v| v.is_nan())
    );
    assert_eq!(
        (fetched.queries[0].series, fetched.queries[0].points),
        (0, 0)
    );
    assert_eq!(proxy.requests().len(), 2);
}

#[tokio::test]
async fn values_that_would_change_the_target_are_refused_before_any_request() {
    let double = GraphiteDouble::start(DoubleOptions::default()).await;
    for bad in [
        "*",
        "canary,sumSeries(other.*)",
        "canary)",
        "{canary,baseline}",
        "can ary",
    ] {
        let scopes = BTreeMap::from([(
            "default".to_string(),
            ScopePair {
                control: scope(BASELINE, "", START, START + 600),
                experiment: scope(bad, "", START, START + 600),
            },
        )]);
        let error = fetch_canary(
            &source(&double.url),
            &config("sumSeries(app.$scope.requests)"),
            &scopes,
            4,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "metric 'cpu': the value of ${{scope}} ({bad:?}) cannot be put into the query: a \
                 scope or location in a Graphite target must be a metric path"
            )),
            "{error}"
        );
    }
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn an_unavailable_graphite_is_retried_then_reported() {
    let target = "app.canary.requests";
    let double = GraphiteDouble::start(DoubleOptions {
        answers: answers(vec![(
            target.to_string(),
            vec![Series::new(target, 60, |_| Some(3.0))],
        )]),
        unavailable: 2,
    })
    .await;
    let window = scope("canary", "", START, START + 120);
    let sets = source(&double.url)
        .fetch("requests", target, &window)
        .await
        .unwrap();
    assert_eq!(sets[0].values, [3.0, 3.0]);
    assert_eq!(double.requests().len(), 3);

    let down = GraphiteDouble::start(DoubleOptions {
        unavailable: 10,
        ..DoubleOptions::default()
    })
    .await;
    let error = source(&down.url)
        .fetch("requests", target, &window)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "metric 'requests': Graphite at {} answered HTTP 503 (4 attempts): <h1>503 Service \
             Unavailable</h1>. The store failed: check its health and logs. Query: {target}",
            down.url
        )
    );
}

/// The verdict on `experiment` against the baseline, through `coalmine analyze --settings --account`,
/// `POST /v1/analyses` and Kayenta's `POST /canary`, over the real graphite-web's hour at 60 s.
async fn judged_three_ways(experiment: &str) -> Vec<String> {
    let graphite = graphite_web::shared();
    let store_url = &graphite.url;
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"prometheus\"\ntype = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\n\n\
             [[accounts]]\nname = \"graphite\"\ntype = \"graphite\"\nurl = \"{store_url}\"\n"
        ),
    )
    .unwrap();
    let config_path = example("graphite/canary-config.json");
    let config = example_json("graphite/canary-config.json");
    let window = Window {
        start: graphite.start_time().to_string(),
        end: graphite.end_time().to_string(),
    };
    let (control, experiment) = (
        Side::new(BASELINE, "us-east-1"),
        Side::new(experiment, "us-east-1"),
    );
    let mut verdicts = Vec::new();
    let classification = |answer: &Value| {
        answer["judgeResult"]["score"]["classification"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let answer = canary_runs::analyze_in(
        &window,
        &settings,
        "graphite",
        &config_path,
        &control,
        &experiment,
        &[],
    )
    .await;
    // The targets as sent are shown.
    assert_eq!(
        answer["queries"][0]["query"],
        "averageSeries(checkout.us-east-1.checkout-baseline.*.latency.p99)",
        "{answer:#}"
    );
    verdicts.push(classification(&answer));

    let server = Server::start(dir.path(), &["--config", settings.to_str().unwrap()]);
    let url = |path: &str| format!("{}{path}", server.url);
    let (_, credentials) = get(&url("/credentials")).await;
    assert!(
        credentials
            .as_array()
            .unwrap()
            .iter()
            .any(|account| account["name"] == "graphite" && account["type"] == "graphite"),
        "{credentials:#}"
    );
    let (_, services) = get(&url("/metricsServices")).await;
    assert!(services.as_array().unwrap().contains(
        &json!({"name": "graphite", "type": "graphite", "locations": [], "recommendedLocations": []})
    ));

    // Kayenta's typeahead: Graphite completes the path, `$scope` read as a wildcard.
    for (filter, expected) in [
        (
            "checkout.us-east-1.che",
            json!([{"name": "checkout.us-east-1.checkout-baseline."}, {"name": "checkout.us-east-1.checkout-canary."}]),
        ),
        (
            "checkout.us-east-1.$scope.",
            json!([{"name": "checkout.us-east-1.$scope.host-1."}, {"name": "checkout.us-east-1.$scope.host-2."}]),
        ),
        (
            "checkout.us-east-1.$scope.host-1.latency.",
            json!([{"name": "checkout.us-east-1.$scope.host-1.latency.p99"}]),
        ),
        (
            "checkout.us-east-1.$sc",
            json!([{"name": "checkout.us-east-1.$scope"}, {"name": "checkout.us-east-1.$location"}]),
        ),
    ] {
        let mut names_url = reqwest::Url::parse(&url("/metadata/metricsService")).unwrap();
        names_url
            .query_pairs_mut()
            .append_pair("metricsAccountName", "graphite")
            .append_pair("filter", filter);
        let (status, names) = get(names_url.as_str()).await;
        assert_eq!((status, names), (200, expected), "{filter}");
    }

    let analysis = canary_runs::analysis_in(
        &window,
        &server.url,
        &config,
        "graphite",
        &control,
        &experiment,
    )
    .await;
    verdicts.push(analysis["classification"].as_str().unwrap().to_string());
    let run = canary_runs::kayenta_canary_in(
        &window,
        &server.url,
        &config,
        "graphite",
        &control,
        &experiment,
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    verdicts.push(classification(&run["result"]));
    verdicts
}

#[tokio::test]
async fn the_example_config_passes_an_a_a_canary_and_fails_a_regression_every_way() {
    assert_eq!(judged_three_ways(BASELINE).await, ["Pass", "Pass", "Pass"]);
    assert_eq!(judged_three_ways(CANARY).await, ["Fail", "Fail", "Fail"]);
}

#[test]
fn analyze_names_the_accounts_of_a_settings_file_when_the_one_asked_for_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        "[[accounts]]\nname = \"graphite\"\ntype = \"graphite\"\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let config = example("graphite/canary-config.json");
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
            .args(["analyze", "--config", config.to_str().unwrap()])
            .args([
                "--control-scope",
                "a",
                "--experiment-scope",
                "b",
                "--lookback",
                "1h",
            ])
            .args(extra)
            .env(
                "COALMINE_CACHE_DIR",
                std::env::temp_dir().join("coalmine-test-cache"),
            )
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let settings = settings.to_str().unwrap();
    let (code, stderr) = run(&["--settings", settings, "--account", "influx"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{settings}: Unable to resolve account influx. (its accounts: graphite)"
        )),
        "{stderr}"
    );
    let (code, stderr) = run(&["--settings", settings, "--prometheus-url", "http://p:9090"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = run(&["--account", "graphite", "--prometheus-url", "http://p:9090"]);
    assert_eq!(code, Some(2), "{stderr}");
}
