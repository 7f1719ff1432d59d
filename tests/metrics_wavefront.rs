//! The Wavefront source against a double of the chart API (`support::wavefront`): Kayenta's query strings
//! (from `WavefrontMetricsServiceTest`) and parameters as they travel, the token only in `Authorization:
//! Bearer`, times in epoch milliseconds, the step grid, series tagged by point tags, no data, a scope that is
//! not a filter; and end to end with a `wavefront` account in a settings file: `coalmine analyze --settings
//! --account`, `POST /v1/analyses` and Kayenta's `POST /canary`, A/A and with a regression, on
//! `examples/wavefront/canary-config.json`.

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    MetricSource, Scope, Secret, SecretSource, SourceError, WavefrontAccount, WavefrontSource,
};
use common::clients::{example, example_json};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, START_SECONDS, Side, noisy};
use support::wavefront::{API_TOKEN, DoubleOptions, WavefrontDouble, series};

fn scope(scope: &str, step: u64) -> Scope {
    Scope {
        scope: scope.into(),
        location: String::new(),
        extended_params: BTreeMap::new(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
        step: Duration::from_secs(step),
    }
}

fn source(url: &str, token: &str) -> WavefrontSource {
    WavefrontSource::new(WavefrontAccount {
        api_token: SecretSource::Given(Secret::new(token)),
        ..WavefrontAccount::new("wavefront", url)
    })
    .unwrap()
}

fn metric(query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": "cpu", "query": query})).unwrap()
}

#[tokio::test]
async fn kayentas_query_and_parameters_travel_with_the_token_in_a_header() {
    let query = "avg(ts(example.metric.name, env=test))";
    let t0 = START_SECONDS;
    let double = WavefrontDouble::start(DoubleOptions {
        answers: HashMap::from([(
            query.to_string(),
            vec![series(
                "example.metric.name",
                "web-1",
                &[],
                // A missing minute, and a point between grid times (dropped, as Kayenta drops it).
                &[(t0, 1.0), (t0 + 120, 3.0), (t0 + 150, 9.0), (t0 + 180, 4.0)],
            )],
        )]),
        ..DoubleOptions::default()
    })
    .await;
    let source = source(&double.url, API_TOKEN);
    let metric = metric(
        json!({"type": "wavefront", "metricName": "example.metric.name", "aggregate": "avg", "summarization": "MAX"}),
    );
    let scope = scope("env=test", 60);
    let built = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(built, format!("{query} summarization=MAX"));
    let sets = source.fetch("cpu", &built, &scope).await.unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.values.len(), 4);
    assert_eq!(
        (set.values[0], set.values[2], set.values[3]),
        (1.0, 3.0, 4.0)
    );
    assert!(set.values[1].is_nan());
    assert_eq!(
        (set.start_millis, set.end_millis, set.step_millis),
        (t0 * 1000, (t0 + 180) * 1000, 60_000)
    );
    assert_eq!(set.query, built);

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    // Kayenta's parameters, in its order, and its encoded query.
    assert_eq!(
        requests[0].uri,
        "/api/v2/chart/api?n=Kayenta-Query&q=avg%28ts%28example.metric.name%2C+env%3Dtest%29%29\
         &s=1704067200000&e=1704070800000&g=m&summarization=MAX&listMode=true&strict=true&sorted=true"
    );
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {API_TOKEN}")
    );
}

#[tokio::test]
async fn series_are_tagged_by_their_point_tags_and_no_data_is_nodata() {
    let query = "ts(requests, env=prod)";
    let double = WavefrontDouble::start(DoubleOptions {
        answers: HashMap::from([(
            query.to_string(),
            vec![
                series(
                    "requests",
                    "a",
                    &[("zone", "a")],
                    &[(START_SECONDS, 1.0), (START_SECONDS + 3600, 2.0)],
                ),
                series("requests", "b", &[("zone", "b")], &[(START_SECONDS, 5.0)]),
                series("requests", "c", &[("zone", "c")], &[]),
            ],
        )]),
        ..DoubleOptions::default()
    })
    .await;
    let source = source(&double.url, API_TOKEN);
    // An hour's step: granularity h.
    let sets = source
        .fetch("rps", query, &scope("env=prod", 3600))
        .await
        .unwrap();
    assert_eq!(sets.len(), 2, "the series without points is skipped");
    assert_eq!(sets[0].tags, BTreeMap::from([("zone".into(), "a".into())]));
    assert_eq!(sets[0].values, [1.0, 2.0]);
    assert_eq!(sets[1].values, [5.0]);
    assert_eq!(double.requests()[0].param("g").as_deref(), Some("h"));
    assert_eq!(double.requests()[0].param("summarization"), None);

    // No timeseries (Kayenta throws): one empty set, so the metric is Nodata.
    let sets = source
        .fetch("rps", "ts(nothing)", &scope("", 60))
        .await
        .unwrap();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].values.is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_refused_once_and_never_shown() {
    let double = WavefrontDouble::start(DoubleOptions::default()).await;
    let error = source(&double.url, "wf-wrong-token-9999")
        .fetch("cpu", "ts(cpu)", &scope("", 60))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Http {
                status: 401,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("Wavefront at http://127.0.0.1:"), "{text}");
    assert!(!text.contains("wf-wrong-token") && !format!("{error:?}").contains("wf-wrong-token"));
}

#[tokio::test]
async fn a_scope_that_is_not_a_filter_is_refused_before_any_query() {
    let double = WavefrontDouble::start(DoubleOptions::default()).await;
    let source = source(&double.url, API_TOKEN);
    let metric = metric(json!({"type": "wavefront", "metricName": "cpu", "aggregate": "avg"}));
    for bad in [
        "env=prod), ts(secret.metric",
        "env=prod, 1",
        "env=prod) * 0 + avg(ts(x",
    ] {
        let error = source
            .build_query(&metric, &BTreeMap::new(), &scope(bad, 60))
            .unwrap_err();
        assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("Wavefront puts the scope into ts(…) as a filter"),
            "{error}"
        );
    }
    assert!(double.requests().is_empty());
}

const BASELINE: &str = "app=checkout and version=baseline";
const CANARY: &str = "app=checkout and version=canary";
const REGRESSED: &str = "app=checkout and version=regressed";

async fn example_double() -> WavefrontDouble {
    let mut answers = HashMap::new();
    for (scope, latency, errors) in [
        (BASELINE, 0.25, 2.0),
        (CANARY, 0.25, 2.0),
        (REGRESSED, 0.45, 9.0),
    ] {
        let points = |values: Vec<f64>| -> Vec<(i64, f64)> {
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (START_SECONDS + 60 * i as i64, v))
                .collect()
        };
        answers.insert(
            format!("avg(ts(checkout.http.server.requests.p99, {scope}))"),
            vec![series(
                "checkout.http.server.requests.p99",
                "",
                &[],
                &points(noisy(latency, 61)),
            )],
        );
        answers.insert(
            format!("sum(ts(checkout.http.server.errors.rate, {scope}))"),
            vec![series(
                "checkout.http.server.errors.rate",
                "",
                &[],
                &points(noisy(errors, 61)),
            )],
        );
    }
    WavefrontDouble::start(DoubleOptions {
        answers,
        ..DoubleOptions::default()
    })
    .await
}

#[tokio::test]
async fn the_example_passes_a_like_canary_and_fails_a_regression_through_analyze_and_both_apis() {
    let double = example_double().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"wavefront\"\ntype = \"wavefront\"\nurl = \"{}\"\napi_token_env = \"TEST_WAVEFRONT_TOKEN\"\n",
            double.url
        ),
    )
    .unwrap();
    let env = [("TEST_WAVEFRONT_TOKEN", API_TOKEN)];
    let server =
        Server::start_with_env(dir.path(), &["--config", settings.to_str().unwrap()], &env);
    let config = example_json("wavefront/canary-config.json");
    let baseline = Side::new(BASELINE, "");
    for (canary, classification) in [(CANARY, "Pass"), (REGRESSED, "Fail")] {
        let canary = Side::new(canary, "");
        let answer = canary_runs::analyze(
            &settings,
            "wavefront",
            &example("wavefront/canary-config.json"),
            &baseline,
            &canary,
            &env,
        )
        .await;
        assert_eq!(
            answer["judgeResult"]["score"]["classification"], classification,
            "{answer:#}"
        );
        assert_eq!(
            answer["queries"][0]["query"],
            // The query shown: the query sent, and the example's summarization.
            format!("avg(ts(checkout.http.server.requests.p99, {BASELINE})) summarization=MEAN"),
            "{answer:#}"
        );
        let answer =
            canary_runs::analysis(&server.url, &config, "wavefront", &baseline, &canary).await;
        assert_eq!(answer["status"], "completed", "{answer:#}");
        assert_eq!(answer["classification"], classification, "{answer:#}");
        let run =
            canary_runs::kayenta_canary(&server.url, &config, "wavefront", &baseline, &canary)
                .await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            run["result"]["judgeResult"]["score"]["classification"], classification,
            "{run:#}"
        );
    }
    let requests = double.requests();
    assert_eq!(requests.len(), 24);
    let queries: Vec<String> = requests.iter().filter_map(|r| r.param("q")).collect();
    for scope in [BASELINE, CANARY, REGRESSED] {
        let expected = format!("avg(ts(checkout.http.server.requests.p99, {scope}))");
        assert!(queries.contains(&expected), "{expected} was not sent");
    }
    for request in &requests {
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {API_TOKEN}")
        );
        assert!(!request.uri.contains(API_TOKEN));
        assert_eq!(request.param("g").as_deref(), Some("m"));
    }
    let summarized = requests
        .iter()
        .filter(|r| r.param("summarization").as_deref() == Some("MEAN"))
        .count();
    assert_eq!(
        summarized, 12,
        "the latency metric's summarization, and only its"
    );
}
