//! The Datadog source against a double of Datadog's query API (`support::datadog`): queries, keys (only ever
//! in headers), the time grid, several series per query, rate limits and scope validation.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use coalmine::kayenta::CanaryConfig;
use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    DatadogAccount, DatadogKeys, DatadogSource, MetricSource, RetryPolicy, Scope, ScopePair,
    Secret, SourceError, fetch_canary,
};
use serde_json::{Value, json};
use support::datadog::{API_KEY, APP_KEY, DatadogDouble, DoubleOptions, series};

const START: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const MINUTE: i64 = 60_000;

fn scope(scope: &str) -> Scope {
    Scope {
        scope: scope.into(),
        location: "us-east-1".into(),
        extended_params: BTreeMap::new(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
        step: Duration::from_secs(60),
    }
}

fn scopes() -> BTreeMap<String, ScopePair> {
    BTreeMap::from([(
        "default".into(),
        ScopePair {
            control: scope("service:checkout,version:baseline"),
            experiment: scope("service:checkout,version:canary"),
        },
    )])
}

fn account(url: &str, api_key: &str, app_key: &str) -> DatadogAccount {
    let keys = DatadogKeys::Given {
        api_key: Secret::new(api_key),
        app_key: Secret::new(app_key),
    };
    let retries = RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    DatadogAccount {
        keys,
        retries,
        ..DatadogAccount::new("datadog", url)
    }
}

fn source(url: &str) -> DatadogSource {
    DatadogSource::new(account(url, API_KEY, APP_KEY)).unwrap()
}

fn metric(name: &str, query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": name, "query": query})).unwrap()
}

/// A config with one metric, `latency`, whose Datadog query has `fields`.
fn latency_config(fields: Value) -> CanaryConfig {
    let mut query = json!({"type": "datadog"});
    query
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let config = json!({"name": "checkout", "metrics": [{"name": "latency", "query": query}]});
    serde_json::from_value(config).unwrap()
}

fn answers(entries: Vec<(&str, Vec<Value>)>) -> HashMap<String, Vec<Value>> {
    entries
        .into_iter()
        .map(|(query, series)| (query.to_string(), series))
        .collect()
}

/// Whether two value lists are equal, NaN matching NaN.
fn same(actual: &[f64], expected: &[f64]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a == e || (a.is_nan() && e.is_nan()))
}

#[tokio::test]
async fn a_metric_query_with_keys_in_headers_and_points_on_the_grid() {
    let query = "avg:checkout.latency{service:checkout,version:canary}";
    let points = [
        (START, Some(1.0)),
        (START + MINUTE, None),
        (START + 3 * MINUTE + 1500, Some(4.0)),
    ];
    let options = DoubleOptions {
        answers: answers(vec![(
            query,
            vec![series(
                query,
                "service:checkout,version:canary",
                &[],
                (START, START + 4 * MINUTE, 60),
                &points,
            )],
        )]),
        ..DoubleOptions::default()
    };
    let double = DatadogDouble::start(options).await;
    let source = source(&double.url);
    let metric = metric(
        "latency",
        json!({"type": "datadog", "metricName": "avg:checkout.latency"}),
    );
    let scope = scope("service:checkout,version:canary");

    let built = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(built, query);
    let sets = source.fetch("latency", &built, &scope).await.unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    let nan = f64::NAN;
    assert!(
        same(&set.values, &[1.0, nan, nan, 4.0, nan]),
        "{:?}",
        set.values
    );
    assert_eq!(
        (set.start_millis, set.end_millis, set.step_millis),
        (START, START + 4 * MINUTE, 60_000)
    );
    assert!(set.tags.is_empty());
    assert_eq!(set.query, query);

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.uri.starts_with("/api/v1/query?"), "{}", request.uri);
    assert_eq!(request.param("from"), Some("1704067200".into()));
    assert_eq!(request.param("to"), Some("1704070800".into()));
    assert_eq!(request.param("query"), Some(query.into()));
    assert_eq!(request.headers["dd-api-key"], API_KEY);
    assert_eq!(request.headers["dd-application-key"], APP_KEY);
    assert!(
        !request.uri.contains(API_KEY) && !request.uri.contains(APP_KEY),
        "{}",
        request.uri
    );
}

#[tokio::test]
async fn wrong_keys_are_forbidden_and_never_shown() {
    let double = DatadogDouble::start(DoubleOptions::default()).await;
    let source = DatadogSource::new(account(
        &double.url,
        "wrong-api-key-1234",
        "wrong-app-key-5678",
    ))
    .unwrap();
    let error = source
        .fetch("latency", "avg:x{*}", &scope("*"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Http {
                status: 403,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "metric 'latency': Datadog at {} answered HTTP 403 (1 attempt): Forbidden. Check the \
             account's credentials. Query: avg:x{{*}}",
            double.url
        )
    );
    for shown in [
        message,
        format!("{error:?}"),
        format!(
            "{source:?}",
            source = account(&double.url, "wrong-api-key-1234", "wrong-app-key-5678")
        ),
    ] {
        assert!(
            !shown.contains("wrong-api-key-1234") && !shown.contains("wrong-app-key-5678"),
            "{shown}"
        );
    }
    for request in double.requests() {
        assert!(
            !request.uri.contains("wrong-api-key") && !request.uri.contains("wrong-app-key"),
            "{}",
            request.uri
        );
    }
}

#[tokio::test]
async fn a_custom_template_is_the_whole_query() {
    let query = concat!(
        "sum:checkout.errors{service:checkout,version:canary}.as_count()/",
        "sum:checkout.hits{service:checkout,version:canary}.as_count()"
    );
    let points: Vec<(i64, Option<f64>)> = (0..=60)
        .map(|m| (START + m * MINUTE, Some(0.01 * (m % 4) as f64)))
        .collect();
    let options = DoubleOptions {
        answers: answers(vec![(
            query,
            vec![series(
                query,
                "service:checkout,version:canary",
                &[],
                (START, START + 60 * MINUTE, 60),
                &points,
            )],
        )]),
        ..DoubleOptions::default()
    };
    let double = DatadogDouble::start(options).await;
    let source = source(&double.url);
    let template =
        "sum:checkout.errors{${scope}}.as_count()/sum:checkout.hits{${scope}}.as_count()";
    let metric = metric(
        "error_ratio",
        json!({"type": "datadog", "customInlineTemplate": template}),
    );
    let scope = scope("service:checkout,version:canary");
    let built = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(built, query);
    let sets = source.fetch("error_ratio", &built, &scope).await.unwrap();
    assert_eq!(
        sets[0].values,
        points.iter().map(|(_, v)| v.unwrap()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn several_series_are_paired_by_their_group_tags() {
    let grid = (START, START + 2 * MINUTE, 60);
    let points = |base: f64| {
        [
            (START, Some(base)),
            (START + MINUTE, Some(base + 1.0)),
            (START + 2 * MINUTE, Some(base + 2.0)),
        ]
    };
    let control_query =
        "avg:checkout.latency{service:checkout,version:baseline} by {availability-zone}";
    let experiment_query =
        "avg:checkout.latency{service:checkout,version:canary} by {availability-zone}";
    let options = DoubleOptions {
        answers: answers(vec![
            (
                control_query,
                vec![
                    series(
                        control_query,
                        "availability-zone:us-east-1a,service:checkout,version:baseline",
                        &["availability-zone:us-east-1a"],
                        grid,
                        &points(10.0),
                    ),
                    series(
                        control_query,
                        "availability-zone:us-east-1b,service:checkout,version:baseline",
                        &["availability-zone:us-east-1b"],
                        grid,
                        &points(20.0),
                    ),
                ],
            ),
            // An answer without tag_set: the tags the series do not share are their group.
            (
                experiment_query,
                ["us-east-1b", "us-east-1a"]
                    .into_iter()
                    .zip([25.0, 15.0])
                    .map(|(zone, value)| {
                        let scope =
                            format!("availability-zone:{zone},service:checkout,version:canary");
                        json!({"scope": scope, "pointlist": [[START, value]], "start": START,
                               "end": START + 2 * MINUTE, "interval": 60})
                    })
                    .collect(),
            ),
        ]),
        ..DoubleOptions::default()
    };
    let double = DatadogDouble::start(options).await;
    let template = "avg:checkout.latency{${scope}} by {availability-zone}";
    let config = latency_config(json!({ "customInlineTemplate": template }));
    let fetched = fetch_canary(&source(&double.url), &config, &scopes(), 8)
        .await
        .unwrap();

    assert_eq!(fetched.pairs.len(), 2);
    let nan = f64::NAN;
    for (pair, (zone, control, experiment)) in fetched
        .pairs
        .iter()
        .zip([("us-east-1a", 10.0, 15.0), ("us-east-1b", 20.0, 25.0)])
    {
        assert_eq!(
            pair.tags,
            BTreeMap::from([("availability-zone".to_string(), zone.to_string())])
        );
        assert_eq!(pair.values.control, [control, control + 1.0, control + 2.0]);
        assert!(
            same(&pair.values.experiment, &[experiment, nan, nan]),
            "{:?}",
            pair.values.experiment
        );
    }
    assert_eq!(
        (fetched.queries[0].series, fetched.queries[0].points),
        (2, 6)
    );
}

#[tokio::test]
async fn no_series_gives_kayentas_one_second_placeholder() {
    let double = DatadogDouble::start(DoubleOptions::default()).await;
    let config = latency_config(json!({"metricName": "avg:checkout.latency"}));
    let fetched = fetch_canary(&source(&double.url), &config, &scopes(), 8)
        .await
        .unwrap();
    let pair = &fetched.pairs[0];
    assert_eq!(pair.values.control.len(), 3600);
    assert!(
        pair.values
            .control
            .iter()
            .chain(&pair.values.experiment)
            .all(|v| v.is_nan())
    );
    assert_eq!(
        pair.scopes.control.as_ref().unwrap().step_millis,
        Some(1000)
    );
    assert_eq!(double.requests().len(), 2);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let query = "avg:checkout.latency{service:checkout,version:canary}";
    let options = DoubleOptions {
        answers: answers(vec![(
            query,
            vec![series(
                query,
                "*",
                &[],
                (START, START, 60),
                &[(START, Some(7.0))],
            )],
        )]),
        rate_limited: 2,
        retry_after: 1,
        ..DoubleOptions::default()
    };
    let double = DatadogDouble::start(options).await;
    let started = Instant::now();
    let sets = source(&double.url)
        .fetch("latency", query, &scope("service:checkout,version:canary"))
        .await
        .unwrap();
    assert_eq!(sets[0].values, [7.0]);
    assert_eq!(double.requests().len(), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After is honoured: {:?}",
        started.elapsed()
    );

    let limited = DatadogDouble::start(DoubleOptions {
        rate_limited: 10,
        ..DoubleOptions::default()
    })
    .await;
    let error = source(&limited.url)
        .fetch("latency", query, &scope("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Http {
                status: 429,
                attempts: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Rate limit exceeded. The store is overloaded or rate-limiting"),
        "{error}"
    );
}

#[tokio::test]
async fn scopes_outside_the_tag_syntax_are_rejected_before_any_query() {
    let double = DatadogDouble::start(DoubleOptions::default()).await;
    let by_name = latency_config(json!({"metricName": "avg:checkout.latency"}));
    for bad in [
        "service:checkout}.rollup(sum)+avg:other{*",
        "service:checkout version:canary",
        "service:\"checkout\"",
    ] {
        let mut scopes = scopes();
        scopes.get_mut("default").unwrap().experiment.scope = bad.into();
        let error = fetch_canary(&source(&double.url), &by_name, &scopes, 8)
            .await
            .unwrap_err();
        assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
        assert!(
            error.to_string().contains(
                "cannot be put into the query: it lands in a tag filter {…}, where a value may \
                 only hold letters, digits and _ - : . / , ! *"
            ),
            "{error}"
        );
    }
    let template = latency_config(json!({"customInlineTemplate": "${metric}{${scope}}"}));
    let mut scopes = scopes();
    let pair = scopes.get_mut("default").unwrap();
    for side in [&mut pair.control, &mut pair.experiment] {
        side.extended_params
            .insert("metric".into(), "avg:a{*},avg:b".into());
    }
    let error = fetch_canary(&source(&double.url), &template, &scopes, 8)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("it lands outside a tag filter"),
        "{error}"
    );
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn an_unreachable_site_is_a_typed_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let account = DatadogAccount {
        timeout: Duration::from_secs(2),
        ..account(&format!("http://{closed}"), API_KEY, APP_KEY)
    };
    let started = Instant::now();
    let error = DatadogSource::new(account)
        .unwrap()
        .fetch("latency", "avg:x{*}", &scope("*"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(error, SourceError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains(API_KEY));
}

/// A store at another address that answers every request with a `307` to `target` + the same path and
/// query; its base URL.
async fn redirecting_to(target: String) -> String {
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&format!("{target}{uri}")) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn the_keys_never_follow_a_redirect_to_another_host() {
    let query = "avg:checkout.latency{service:checkout,version:baseline}";
    let options = DoubleOptions {
        answers: answers(vec![(
            query,
            vec![series(
                query,
                "*",
                &[],
                (START, START + MINUTE, 60),
                &[(START, Some(1.0))],
            )],
        )]),
        ..DoubleOptions::default()
    };
    let elsewhere = DatadogDouble::start(options).await;
    // Another port of the same host, and another host name.
    for target in [
        elsewhere.url.clone(),
        elsewhere.url.replace("127.0.0.1", "localhost"),
    ] {
        let redirecting = redirecting_to(target.clone()).await;
        let source = source(&redirecting);
        let scope = scope("service:checkout,version:baseline");
        let error = source.fetch("latency", query, &scope).await.unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::Http {
                    status: 307,
                    attempts: 1,
                    ..
                }
            ),
            "{target}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("redirected to another address"), "{text}");
        let names = source.metric_names().await.unwrap_err();
        assert!(
            matches!(names, SourceError::Http { status: 307, .. }),
            "{names:?}"
        );
        for text in [text, names.to_string()] {
            assert!(!text.contains(API_KEY) && !text.contains(APP_KEY), "{text}");
        }
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the keys reached another host: {:?}",
        elsewhere.requests()
    );
    // Followed, the redirect would have been answered: the double does answer this query with these keys.
    let direct = source(&elsewhere.url)
        .fetch(
            "latency",
            query,
            &scope("service:checkout,version:baseline"),
        )
        .await
        .unwrap();
    assert_eq!(direct[0].values[0], 1.0);
}

/// A store that echoes the request's keys back in its answers: `status` with the keys deep in a long
/// explanation (past the 300 characters of an excerpt's cut), or 200 with a body that is no answer.
async fn echoing_store(status: u16) -> String {
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| async move {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let echo = format!(
            "{} {} {}",
            "x".repeat(290),
            header("dd-api-key"),
            header("dd-application-key")
        );
        let body = match status {
            200 => format!("<html>{echo}</html>"),
            _ => json!({ "errors": [echo] }).to_string(),
        };
        (axum::http::StatusCode::from_u16(status).unwrap(), body)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn an_error_never_shows_the_keys_even_when_the_store_echoes_them() {
    for status in [400, 403, 200, 503] {
        let url = echoing_store(status).await;
        let account = DatadogAccount {
            retries: RetryPolicy {
                attempts: 2,
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..account(&url, API_KEY, APP_KEY)
        };
        let source = DatadogSource::new(account).unwrap();
        let error = source
            .fetch("latency", "avg:checkout.latency{*}", &scope("*"))
            .await
            .unwrap_err();
        let text = error.to_string();
        // The store did echo them: the message shows where, masked.
        assert!(text.contains("***"), "{status}: {text}");
        for secret in [API_KEY, APP_KEY, &API_KEY[..9], &APP_KEY[..9]] {
            assert!(!text.contains(secret), "{status}: {secret} in {text}");
        }
        assert!(
            !format!("{error:?}").contains(API_KEY),
            "{status}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_series_longer_than_max_points_is_refused_naming_the_metric() {
    let query = "avg:checkout.latency{service:checkout,version:baseline}";
    // An hour at one minute: 61 grid slots, whatever the pointlist holds.
    let points: Vec<(i64, Option<f64>)> =
        (0..61).map(|i| (START + i * MINUTE, Some(1.0))).collect();
    let options = DoubleOptions {
        answers: answers(vec![(
            query,
            vec![series(
                query,
                "*",
                &[],
                (START, START + 60 * MINUTE, 60),
                &points,
            )],
        )]),
        ..DoubleOptions::default()
    };
    let double = DatadogDouble::start(options).await;
    let scope = scope("service:checkout,version:baseline");
    for max_points in [60, 30] {
        let account = DatadogAccount {
            max_points,
            ..account(&double.url, API_KEY, APP_KEY)
        };
        let error = DatadogSource::new(account)
            .unwrap()
            .fetch("latency", query, &scope)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SourceError::Config { metric: Some(metric), .. } if metric == "latency"),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with(&format!(
                "metric 'latency': Datadog at {} answered a series of more than {max_points} data \
                 points; this server accepts at most {max_points} per series (max_points)",
                double.url
            )),
            "{error}"
        );
    }
    let account = DatadogAccount {
        max_points: 61,
        ..account(&double.url, API_KEY, APP_KEY)
    };
    let sets = DatadogSource::new(account)
        .unwrap()
        .fetch("latency", query, &scope)
        .await
        .unwrap();
    assert_eq!(sets[0].values.len(), 61);
}
