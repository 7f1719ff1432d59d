//! The New Relic source against a double of the Insights query API (`support::newrelic`): Kayenta's NRQL
//! strings (from `NewRelicQueryBuilderServiceSpec`) as they travel, the query key only in `X-Query-Key`,
//! bucket values, retries on 5xx only, FACET answers; and end to end with a `newrelic` account in a settings
//! file: `coalmine analyze --settings --account`, `POST /v1/analyses` and Kayenta's `POST /canary`, A/A and
//! with a regression, on `examples/newrelic/canary-config.json`.

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    AccountBounds, MetricSource, NewRelicAccount, NewRelicSource, RetryPolicy, Scope, Secret,
    SecretSource, SourceError,
};
use common::clients::{example, example_json};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, START_SECONDS, Side, noisy};
use support::newrelic::{ACCOUNT_ID, DoubleOptions, NewRelicDouble, QUERY_KEY, timeseries};

/// Kayenta's test scope: 2019-08-01T00:00:00Z plus an hour, step 60.
fn kayenta_scope() -> Scope {
    Scope {
        scope: "myservice-prod-v01".into(),
        location: "us-west-2".into(),
        extended_params: BTreeMap::new(),
        start: "2019-08-01T00:00:00Z".parse().unwrap(),
        end: "2019-08-01T01:00:00Z".parse().unwrap(),
        step: Duration::from_secs(60),
    }
}

fn account(url: &str, key: &str) -> NewRelicAccount {
    NewRelicAccount {
        url: url.to_string(),
        api_key: SecretSource::Given(Secret::new(key)),
        default_scope_key: Some("asg_name".into()),
        default_location_key: Some("region".into()),
        bounds: AccountBounds {
            retries: RetryPolicy {
                initial_backoff: Duration::from_millis(20),
                ..RetryPolicy::default()
            },
            ..AccountBounds::default()
        },
        ..NewRelicAccount::new("newrelic", ACCOUNT_ID)
    }
}

fn metric(query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": "errors", "query": query})).unwrap()
}

/// Kayenta's second worked example (`select` with `SELECT`, and `q`).
const KAYENTA_NRQL: &str = "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE 1564617600 UNTIL 1564621200 WHERE httpStatusCode LIKE '5%' AND asg_name LIKE 'myservice-prod-v01' AND region LIKE 'us-west-2'";

#[tokio::test]
async fn kayentas_query_travels_encoded_as_kayenta_sends_it_with_the_key_in_a_header() {
    let values = [Some(3.0), None, Some(5.0)];
    let double = NewRelicDouble::start(DoubleOptions {
        answers: HashMap::from([(
            KAYENTA_NRQL.to_string(),
            timeseries("count", 1_564_617_600, 60, &values),
        )]),
        ..DoubleOptions::default()
    })
    .await;
    let source = NewRelicSource::new(account(&double.url, QUERY_KEY)).unwrap();
    let metric = metric(
        json!({"type": "newrelic", "select": "SELECT count(*) FROM Transaction", "q": "httpStatusCode LIKE '5%'"}),
    );
    let scope = kayenta_scope();
    let query = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(query, KAYENTA_NRQL);
    let sets = source.fetch("errors", &query, &scope).await.unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    // A bucket without events is NaN, as in Kayenta (New Relic answers 0 for its count).
    assert_eq!(set.values[0], 3.0);
    assert!(set.values[1].is_nan());
    assert_eq!(set.values[2], 5.0);
    assert_eq!(
        (set.start_millis, set.end_millis, set.step_millis),
        (1_564_617_600_000, 1_564_617_780_000, 60_000)
    );
    assert!(set.tags.is_empty());

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    // Kayenta's encoded example, byte for byte.
    assert_eq!(
        requests[0].uri,
        "/v1/accounts/1234567/query?nrql=SELECT+count%28*%29+FROM+Transaction+TIMESERIES+60+seconds+SINCE+1564617600+UNTIL+1564621200+WHERE+httpStatusCode+LIKE+%275%25%27+AND+asg_name+LIKE+%27myservice-prod-v01%27+AND+region+LIKE+%27us-west-2%27"
    );
    assert_eq!(requests[0].headers["x-query-key"], QUERY_KEY);
    assert_eq!(requests[0].headers["accept"], "application/json");
}

#[tokio::test]
async fn kayentas_template_and_extended_keys_give_kayentas_strings() {
    let double = NewRelicDouble::start(DoubleOptions::default()).await;
    let source = NewRelicSource::new(account(&double.url, QUERY_KEY)).unwrap();
    let template = "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE ${startEpochSeconds} UNTIL ${endEpochSeconds} WHERE httpStatusCode LIKE '5%' AND autoScalingGroupName LIKE '${scope}' AND region LIKE '${location}'";
    let built = source
        .build_query(
            &metric(json!({"type": "newrelic", "customInlineTemplate": template})),
            &BTreeMap::new(),
            &kayenta_scope(),
        )
        .unwrap();
    assert_eq!(
        built,
        "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE 1564617600 UNTIL 1564621200 WHERE httpStatusCode LIKE '5%' AND autoScalingGroupName LIKE 'myservice-prod-v01' AND region LIKE 'us-west-2'"
    );
    let mut scope = kayenta_scope();
    scope.extended_params = [
        ("_scope_key", "foo"),
        ("_location_key", "bar"),
        ("_i_should_be_ignored", "true"),
        ("some_new_key", "some_value"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let built = source
        .build_query(
            &metric(json!({"type": "newrelic", "select": "count(*) FROM Transaction"})),
            &BTreeMap::new(),
            &scope,
        )
        .unwrap();
    assert_eq!(
        built,
        "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE 1564617600 UNTIL 1564621200 WHERE some_new_key LIKE 'some_value' AND foo LIKE 'myservice-prod-v01' AND bar LIKE 'us-west-2'"
    );
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_refused_once_and_never_shown() {
    let double = NewRelicDouble::start(DoubleOptions::default()).await;
    let source = NewRelicSource::new(account(&double.url, "NRIQ-wrong-key-0000")).unwrap();
    let error = source
        .fetch("errors", KAYENTA_NRQL, &kayenta_scope())
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
    assert!(
        text.starts_with("metric 'errors': New Relic at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("Check the account's credentials"), "{text}");
    assert!(!text.contains("NRIQ-wrong-key-0000") && !format!("{error:?}").contains("NRIQ-wrong"));
    assert!(!double.requests()[0].uri.contains("NRIQ"));
}

#[tokio::test]
async fn server_errors_are_retried_and_bad_queries_are_not() {
    let answer = timeseries("count", 1_564_617_600, 60, &[Some(1.0)]);
    let double = NewRelicDouble::start(DoubleOptions {
        answers: HashMap::from([(KAYENTA_NRQL.to_string(), answer)]),
        failures: vec![503, 500],
        ..DoubleOptions::default()
    })
    .await;
    let source = NewRelicSource::new(account(&double.url, QUERY_KEY)).unwrap();
    let sets = source
        .fetch("errors", KAYENTA_NRQL, &kayenta_scope())
        .await
        .unwrap();
    assert_eq!(sets[0].values, [1.0]);
    assert_eq!(double.requests().len(), 3);

    let error = source
        .fetch("errors", "SELECT nonsense", &kayenta_scope())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Http {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("NRQL Syntax Error"), "{error}");
    assert_eq!(double.requests().len(), 4);
}

#[tokio::test]
async fn a_facet_answer_is_a_clear_error() {
    let nrql = "SELECT count(*) FROM Transaction FACET host";
    let double = NewRelicDouble::start(DoubleOptions {
        answers: HashMap::from([(
            nrql.to_string(),
            json!({"facets": [{"name": "a", "results": [{"count": 1}]}], "metadata": {}}),
        )]),
        ..DoubleOptions::default()
    })
    .await;
    let source = NewRelicSource::new(account(&double.url, QUERY_KEY)).unwrap();
    let error = source
        .fetch("errors", nrql, &kayenta_scope())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::BadResponse { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("FACET queries are not supported"),
        "{error}"
    );
}

/// The NRQL of the example's two metrics for one side, over the end-to-end window.
fn example_queries(scope: &str) -> [String; 2] {
    let (start, end) = (START_SECONDS, START_SECONDS + 3600);
    [
        format!(
            "SELECT average(duration) FROM Transaction TIMESERIES 60 seconds SINCE {start} UNTIL {end} WHERE transactionType = 'Web' AND appName LIKE '{scope}' AND region LIKE 'us-east-1'"
        ),
        format!(
            "SELECT count(*) FROM TransactionError TIMESERIES 60 seconds SINCE {start} UNTIL {end} WHERE appName LIKE '{scope}' AND region LIKE 'us-east-1'"
        ),
    ]
}

/// A double holding the example's metrics: the baseline, a canary like it, and a canary 60% slower with four
/// times the errors.
async fn example_double() -> NewRelicDouble {
    let mut answers = HashMap::new();
    for (scope, latency, errors) in [
        ("checkout-baseline", 0.25, 3.0),
        ("checkout-canary", 0.25, 3.0),
        ("checkout-regressed", 0.40, 12.0),
    ] {
        let [latency_query, errors_query] = example_queries(scope);
        let some = |values: Vec<f64>| values.into_iter().map(Some).collect::<Vec<_>>();
        answers.insert(
            latency_query,
            timeseries("average", START_SECONDS, 60, &some(noisy(latency, 60))),
        );
        answers.insert(
            errors_query,
            timeseries("count", START_SECONDS, 60, &some(noisy(errors, 60))),
        );
    }
    NewRelicDouble::start(DoubleOptions {
        answers,
        ..DoubleOptions::default()
    })
    .await
}

/// The settings file naming the double as account `newrelic-prod`.
fn write_settings(dir: &std::path::Path, double: &NewRelicDouble) -> std::path::PathBuf {
    let settings = dir.join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            r#"
[[accounts]]
name = "newrelic-prod"
type = "newrelic"
url = "{}"
application_key = "{ACCOUNT_ID}"
api_key_env = "TEST_NEWRELIC_QUERY_KEY"
default_scope_key = "appName"
default_location_key = "region"
"#,
            double.url
        ),
    )
    .unwrap();
    settings
}

#[tokio::test]
async fn the_example_passes_a_like_canary_and_fails_a_regression_through_analyze_and_both_apis() {
    let double = example_double().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = write_settings(dir.path(), &double);
    let env = [("TEST_NEWRELIC_QUERY_KEY", QUERY_KEY)];
    let server =
        Server::start_with_env(dir.path(), &["--config", settings.to_str().unwrap()], &env);

    let config = example_json("newrelic/canary-config.json");
    let baseline = Side::new("checkout-baseline", "us-east-1");

    for (canary, classification) in [("checkout-canary", "Pass"), ("checkout-regressed", "Fail")] {
        let canary = Side::new(canary, "us-east-1");
        let answer = canary_runs::analyze(
            &settings,
            "newrelic-prod",
            &example("newrelic/canary-config.json"),
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
            example_queries("checkout-baseline")[0],
            "{answer:#}"
        );

        let answer =
            canary_runs::analysis(&server.url, &config, "newrelic-prod", &baseline, &canary).await;
        assert_eq!(answer["status"], "completed", "{answer:#}");
        assert_eq!(answer["classification"], classification, "{answer:#}");

        let run =
            canary_runs::kayenta_canary(&server.url, &config, "newrelic-prod", &baseline, &canary)
                .await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            run["result"]["judgeResult"]["score"]["classification"], classification,
            "{run:#}"
        );
        assert_eq!(run["metricsAccountName"], "newrelic-prod");
    }
    // Every query the server sent was one the double knew (else it answers 400 and the analysis fails), with
    // the key in its header only.
    let requests = double.requests();
    assert_eq!(requests.len(), 24);
    for request in &requests {
        assert_eq!(request.headers["x-query-key"], QUERY_KEY);
        assert!(!request.uri.contains(QUERY_KEY));
    }
    let sent: Vec<String> = requests.iter().filter_map(|r| r.param("nrql")).collect();
    for scope in ["checkout-baseline", "checkout-canary", "checkout-regressed"] {
        for query in example_queries(scope) {
            assert!(sent.contains(&query), "{query} was not sent");
        }
    }
}
