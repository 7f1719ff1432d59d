//! The Prometheus source against a real Prometheus server holding the data set of `support::prometheus`:
//! every query style, templates, injection attempts, authentication, failures, retries and concurrency.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coalmine::kayenta::CanaryConfig;
use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    MetricSet, MetricSource, PrometheusAccount, PrometheusAuth, PrometheusSource, RetryPolicy,
    Scope, Secret, SourceError, fetch_canary,
};
use serde_json::{Value, json};
use support::prometheus::{
    self as data, ASGS, BASELINE, CANARY, CPU, GCE_INSTANCES, LATENCY, REQUESTS, SAMPLES, SPARSE,
    SPECIAL, shared,
};
use support::proxy::{Proxy, ProxyOptions};

fn metric(name: &str, query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": name, "query": query})).unwrap()
}

fn source(url: &str) -> PrometheusSource {
    PrometheusSource::new(PrometheusAccount::new("prom", url)).unwrap()
}

fn config(metrics: Value, templates: Value) -> CanaryConfig {
    serde_json::from_value(json!({"name": "checkout", "metrics": metrics, "templates": templates}))
        .unwrap()
}

/// Builds the query of `metric` for `scope` and runs it.
async fn run(
    source: &PrometheusSource,
    metric: &MetricConfig,
    scope: &Scope,
) -> (String, Vec<MetricSet>) {
    let query = source.build_query(metric, &BTreeMap::new(), scope).unwrap();
    let sets = source.fetch(&metric.name, &query, scope).await.unwrap();
    (query, sets)
}

fn expected(value: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..SAMPLES).map(value).collect()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn metric_name_label_bindings_and_aws_resource_type() {
    let server = shared();
    let metric = metric(
        "cpu",
        json!({"type": "prometheus", "metricName": CPU, "resourceType": "aws_ec2_instance",
               "labelBindings": ["instance=~\"i-0.*\""]}),
    );
    let scope = Scope {
        scope: ASGS[1].to_string(),
        ..server.scope(CANARY)
    };
    let (query, sets) = run(&source(&server.url), &metric, &scope).await;
    assert_eq!(
        query,
        concat!(
            r#"avg(instance_cpu_utilization{instance=~"i-0.*","#,
            r#"asg_groupName="checkout-v002",zone=~"us-east-1.{1}"})"#
        )
    );
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.values, expected(|i| data::cpu(ASGS[1], i)));
    assert!(set.tags.is_empty());
    assert_eq!(set.start_millis, server.start_time().as_millisecond());
    assert_eq!(set.step_millis, 15_000);
    assert_eq!(set.end_millis, set.start_millis + 241 * 15_000);
    assert_eq!(set.query, query);
}

#[tokio::test]
async fn gce_instance_resource_type_with_a_project() {
    let server = shared();
    let metric = metric(
        "cpu",
        json!({"metricName": CPU, "resourceType": "gce_instance"}),
    );
    let scope = Scope {
        location: "us-central1".into(),
        extended_params: BTreeMap::from([("project".into(), "proj1".into())]),
        ..server.scope(BASELINE)
    };
    let (query, sets) = run(&source(&server.url), &metric, &scope).await;
    assert_eq!(
        query,
        concat!(
            r#"avg(instance_cpu_utilization{instance=~"checkout-baseline-.{4}","#,
            r#"zone=~".+/projects/proj1/zones/us-central1-.{1}"})"#
        )
    );
    assert_eq!(sets[0].values, expected(|i| data::cpu(GCE_INSTANCES[0], i)));
}

#[tokio::test]
async fn inline_template_grouped_by_region_gives_a_pair_per_region() {
    let server = shared();
    let config = config(
        json!([{"name": "latency", "query": {"type": "prometheus", "metricName": LATENCY,
                "customInlineTemplate": "app=\"${scope}\"", "groupByFields": ["region"]}}]),
        json!({}),
    );
    let fetched = fetch_canary(&source(&server.url), &config, &server.scopes(), 8)
        .await
        .unwrap();
    assert_eq!(fetched.pairs.len(), 2);
    for (pair, region) in fetched.pairs.iter().zip(["eu-west-1", "us-east-1"]) {
        assert_eq!(pair.tags, tags(&[("region", region)]));
        assert_eq!(
            pair.values.control,
            expected(|i| data::latency(BASELINE, region, i))
        );
        assert_eq!(
            pair.values.experiment,
            expected(|i| data::latency(CANARY, region, i))
        );
    }
    assert_eq!(fetched.pairs[0].id, "latency-0");
    assert_eq!(fetched.pairs[1].id, "latency-1");
    assert_eq!(
        fetched.pairs[0].attributes["experiment"]["query"],
        r#"avg(checkout_latency_seconds{app="checkout-canary"}) by (region)"#
    );
    let records: Vec<(usize, usize)> = fetched
        .queries
        .iter()
        .map(|q| (q.series, q.points))
        .collect();
    assert_eq!(records, [(2, 2 * SAMPLES), (2, 2 * SAMPLES)]);
}

#[tokio::test]
async fn named_template_with_extended_scope_params_and_label_bindings() {
    let server = shared();
    let config = config(
        json!([{"name": "errors", "query": {"type": "prometheus", "metricName": REQUESTS,
                "customFilterTemplate": "app-in-region", "labelBindings": ["code=\"500\""]}}]),
        json!({"app-in-region": "app=\"${scope}\",region=\"${region}\""}),
    );
    let mut scopes = server.scopes();
    for scope in scopes
        .values_mut()
        .flat_map(|pair| [&mut pair.control, &mut pair.experiment])
    {
        scope
            .extended_params
            .insert("region".into(), "eu-west-1".into());
    }
    let fetched = fetch_canary(&source(&server.url), &config, &scopes, 8)
        .await
        .unwrap();
    assert_eq!(
        fetched.queries[1].query,
        r#"avg(checkout_requests_total{app="checkout-canary",region="eu-west-1",code="500"})"#
    );
    assert_eq!(
        fetched.pairs[0].values.control,
        expected(|i| data::requests(BASELINE, "500", i))
    );
    assert_eq!(
        fetched.pairs[0].values.experiment,
        expected(|i| data::requests(CANARY, "500", i))
    );
}

#[tokio::test]
async fn promql_templates_are_whole_queries() {
    let server = shared();
    let metric = metric(
        "error_rate",
        json!({"customInlineTemplate":
            "PromQL:sum(rate(checkout_requests_total{app=\"${scope}\",code=\"500\"}[1m]))"}),
    );
    for (app, per_second) in [(BASELINE, 0.2), (CANARY, 1.0)] {
        let (query, sets) = run(&source(&server.url), &metric, &server.scope(app)).await;
        assert_eq!(
            query,
            format!(r#"sum(rate(checkout_requests_total{{app="{app}",code="500"}}[1m]))"#)
        );
        assert_eq!(sets.len(), 1);
        assert!(
            sets[0].values.len() >= SAMPLES - 1,
            "{}",
            sets[0].values.len()
        );
        // Once the 1m window is full of samples (the first ones extrapolate from the counter's start).
        for value in &sets[0].values[4..] {
            assert!((value - per_second).abs() < 1e-9, "{app}: {value}");
        }
    }
}

#[tokio::test]
async fn template_defaults_escapes_and_undefined_variables() {
    let server = shared();
    let template = "app=\"${scope}\",region=\"${region:-us-east-1}\",note!=\"$${not-a-variable}\"";
    let metric = metric(
        "latency",
        json!({"metricName": LATENCY, "customInlineTemplate": template}),
    );
    let (query, sets) = run(&source(&server.url), &metric, &server.scope(CANARY)).await;
    assert_eq!(
        query,
        concat!(
            r#"avg(checkout_latency_seconds{app="checkout-canary",region="us-east-1","#,
            r#"note!="${not-a-variable}"})"#
        )
    );
    assert_eq!(
        sets[0].values,
        expected(|i| data::latency(CANARY, "us-east-1", i))
    );

    let config = config(
        json!([{"name": "latency", "query": {"metricName": LATENCY,
                 "customInlineTemplate": "app=\"${scope}\",env=\"${env}\""}}]),
        json!({}),
    );
    let proxy = Proxy::start(&server.url, ProxyOptions::default()).await;
    let error = fetch_canary(&source(&proxy.url), &config, &server.scopes(), 8)
        .await
        .unwrap_err();
    assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        concat!(
            r#"metric 'latency': Problem evaluating custom filter template: "#,
            r#"app="${scope}",env="${env}": variable 'env' is not defined "#,
            "(defined: location, scope). Add 'env' to the scope's extendedScopeParams, ",
            "or give it a default in the template: ${env:-value}"
        )
    );
    assert!(
        proxy.requests().is_empty(),
        "a config error stops the analysis before any query runs"
    );
}

/// The classic injection: a scope that closes the label matcher and adds `or vector(1)`.
const ATTACK: &str = r#"no-such-app"} or vector(1) or x{a="b"#;

fn returns_nothing(sets: &[MetricSet]) -> bool {
    sets.len() == 1 && sets[0].values.is_empty() && sets[0].tags.is_empty()
}

#[tokio::test]
async fn an_injected_scope_never_runs_as_promql() {
    let server = shared();
    let source = source(&server.url);
    let scope = Scope {
        scope: ATTACK.into(),
        ..server.scope(CANARY)
    };

    // What Kayenta would send really does run `vector(1)`.
    let naive = format!(r#"avg(checkout_latency_seconds{{app="{ATTACK}"}})"#);
    let sets = source.fetch("latency", &naive, &scope).await.unwrap();
    assert!(
        sets.iter().any(|set| set.values.contains(&1.0)),
        "the attack works on a naive query: {sets:?}"
    );

    // In a template's string literal, the scope is escaped: no series has that app label.
    let in_double_quotes = metric(
        "latency",
        json!({"metricName": LATENCY, "customInlineTemplate": "app=\"${scope}\""}),
    );
    let (query, sets) = run(&source, &in_double_quotes, &scope).await;
    assert_eq!(
        query,
        r#"avg(checkout_latency_seconds{app="no-such-app\"} or vector(1) or x{a=\"b"})"#
    );
    assert!(returns_nothing(&sets), "{sets:?}");

    let in_single_quotes = metric(
        "latency",
        json!({"customInlineTemplate": "PromQL:avg(checkout_latency_seconds{app='${scope}'})"}),
    );
    let single = Scope {
        scope: "no-such-app'} or vector(1) or x{a='b".into(),
        ..scope.clone()
    };
    let (query, sets) = run(&source, &in_single_quotes, &single).await;
    assert_eq!(
        query,
        r#"avg(checkout_latency_seconds{app='no-such-app\'} or vector(1) or x{a=\'b'})"#
    );
    assert!(returns_nothing(&sets), "{sets:?}");

    // Kayenta's generated queries put the scope in string literals too.
    let generated = metric(
        "cpu",
        json!({"metricName": CPU, "resourceType": "aws_ec2_instance"}),
    );
    let (query, sets) = run(&source, &generated, &scope).await;
    assert!(
        query.contains(r#"asg_groupName="no-such-app\"} or vector(1) or x{a=\"b""#),
        "{query}"
    );
    assert!(returns_nothing(&sets), "{sets:?}");
}

#[tokio::test]
async fn values_that_would_change_the_query_are_rejected() {
    let server = shared();
    let source = source(&server.url);
    let reject = |template: &str, key: &str, value: &str| {
        let metric = metric(
            "latency",
            json!({"metricName": LATENCY, "customInlineTemplate": template}),
        );
        let mut scope = server.scope(CANARY);
        scope.extended_params.insert(key.into(), value.into());
        let error = source
            .build_query(&metric, &BTreeMap::new(), &scope)
            .unwrap_err();
        assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("metric 'latency': the value of ${{{key}}} (")),
            "{message}"
        );
        message
    };
    let message = reject("PromQL:${metric}", "metric", "up or vector(1)");
    assert!(
        message.contains("it lands outside a string literal"),
        "{message}"
    );
    assert!(message.contains("Quote the placeholder"), "{message}");
    reject("PromQL:avg(${metric})", "metric", "up) or vector(1");
    reject(
        "PromQL:avg(rate(up[${window}]))",
        "window",
        "5m])) or vector(1) or rate(up[5m",
    );
    reject("PromQL:up # ${note}", "note", "x\nor vector(1)");
    reject(
        "PromQL:up{app=`${app}`}",
        "app",
        "x` or vector(1) or up{a=`",
    );
    reject("${prefix}up", "prefix", "PromQL:");
    reject("app=\"\\${app}\"", "app", "x");
    // Single tokens are fine outside literals.
    let metric = metric(
        "rate",
        json!({"customInlineTemplate": "PromQL:sum(rate(${counter}[${window}]))"}),
    );
    let mut scope = server.scope(CANARY);
    scope.extended_params.extend([
        ("counter".into(), REQUESTS.into()),
        ("window".into(), "1m".into()),
    ]);
    let (query, sets) = run(&source, &metric, &scope).await;
    assert_eq!(query, "sum(rate(checkout_requests_total[1m]))");
    assert!(!sets[0].values.is_empty());
}

#[tokio::test]
async fn special_values_gaps_and_empty_results() {
    let server = shared();
    let config = config(
        json!([
            {"name": "special", "query": {
                "customInlineTemplate": format!("PromQL:{SPECIAL}{{app=\"${{scope}}\"}}")}},
            {"name": "sparse", "query": {
                "customInlineTemplate": format!("PromQL:max({SPARSE}{{app=\"${{scope}}\"}})")}},
            {"name": "missing", "query": {
                "metricName": "no_such_metric", "customInlineTemplate": "app=\"${scope}\""}}
        ]),
        json!({}),
    );
    let fetched = fetch_canary(&source(&server.url), &config, &server.scopes(), 8)
        .await
        .unwrap();
    let [special, sparse, missing] = &fetched.pairs[..] else {
        panic!("{:?}", fetched.pairs)
    };

    // The canary's NaN, +Inf and -Inf come through; the baseline has no series: a NaN copy.
    assert_eq!(
        special.tags,
        tags(&[("app", CANARY)]),
        "the PromQL query keeps its labels"
    );
    for (i, value) in special.values.experiment.iter().enumerate() {
        let expected = data::special(i);
        assert!(
            *value == expected || (value.is_nan() && expected.is_nan()),
            "{i}: {value}"
        );
    }
    assert!(
        special.values.control.len() == 240 && special.values.control.iter().all(|v| v.is_nan())
    );

    // Prometheus leaves gaps out, and as Kayenta reads a series (its end is start + n·step), nothing fills
    // them: the array is just shorter.
    let values = &sparse.values.experiment;
    assert!(
        values.len() < SAMPLES && values.iter().all(|v| *v == 1.0),
        "{values:?}"
    );
    assert_eq!(sparse.values.control, *values);

    // Nothing found: one placeholder per side, padded to the window.
    assert!(missing.tags.is_empty());
    assert_eq!(missing.values.control.len(), 240);
    assert!(
        missing
            .values
            .control
            .iter()
            .chain(&missing.values.experiment)
            .all(|v| v.is_nan())
    );
    let scope = missing.scopes.control.as_ref().unwrap();
    assert_eq!(
        scope.start_time_millis,
        Some(server.start_time().as_millisecond())
    );
    assert_eq!(scope.step_millis, Some(15_000));
    assert_eq!(
        (fetched.queries[4].series, fetched.queries[4].points),
        (0, 0)
    );
}

#[tokio::test]
async fn an_invalid_query_is_an_http_error_naming_the_metric_and_query() {
    let server = shared();
    let metric = metric(
        "broken",
        json!({"customInlineTemplate": "PromQL:sum(rate(x[1m]"}),
    );
    let scope = server.scope(CANARY);
    let source = source(&server.url);
    let query = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    let error = source.fetch("broken", &query, &scope).await.unwrap_err();
    let SourceError::Http {
        status, attempts, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*status, *attempts), (400, 1), "a bad query is not retried");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "metric 'broken': Prometheus at {} answered HTTP 400 (1 attempt): bad_data: ",
            server.url
        )),
        "{message}"
    );
    assert!(
        message.ends_with("check the metric's query config. Query: sum(rate(x[1m]"),
        "{message}"
    );
}

#[tokio::test]
async fn basic_and_bearer_authentication() {
    let server = shared();
    let metric = metric(
        "cpu",
        json!({"metricName": CPU, "resourceType": "aws_ec2_instance"}),
    );
    let scope = Scope {
        scope: ASGS[0].into(),
        ..server.scope(BASELINE)
    };

    // "user:pa55:word" in base64.
    let basic = "Basic dXNlcjpwYTU1OndvcmQ=";
    let proxy = Proxy::start(
        &server.url,
        ProxyOptions {
            authorization: Some(basic.into()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let account = PrometheusAccount {
        auth: PrometheusAuth::Basic {
            username: "user".into(),
            password: Secret::new("pa55:word"),
        },
        ..PrometheusAccount::new("prom", &proxy.url)
    };
    let (_, sets) = run(&PrometheusSource::new(account).unwrap(), &metric, &scope).await;
    assert_eq!(sets[0].values, expected(|i| data::cpu(ASGS[0], i)));

    // Credentials in the URL are sent the same way, never in the request line.
    let with_userinfo = proxy.url.replace("http://", "http://user:pa55%3Aword@");
    let (_, sets) = run(&source(&with_userinfo), &metric, &scope).await;
    assert!(!sets[0].values.is_empty());
    for request in proxy.requests() {
        assert_eq!(request.headers["authorization"], basic);
        assert!(!request.uri.contains("pa55"), "{}", request.uri);
    }

    // Without credentials: 401, and the message names no secret.
    let query = source(&proxy.url)
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    let error = source(&with_userinfo.replace("pa55%3Aword", "wrong"))
        .fetch("cpu", &query, &scope)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Http { status: 401, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Check the account's credentials"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("wrong") && !format!("{error:?}").contains("wrong"),
        "{error:?}"
    );

    let bearer = Proxy::start(
        &server.url,
        ProxyOptions {
            authorization: Some("Bearer t0k3n".into()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let account = PrometheusAccount {
        auth: PrometheusAuth::Bearer(Secret::new("t0k3n")),
        ..PrometheusAccount::new("prom", &bearer.url)
    };
    let (_, sets) = run(&PrometheusSource::new(account).unwrap(), &metric, &scope).await;
    assert!(!sets[0].values.is_empty());
    assert_eq!(
        bearer.requests()[0].headers["authorization"],
        "Bearer t0k3n"
    );
}

#[tokio::test]
async fn a_path_prefix_is_kept() {
    let server = shared();
    let proxy = Proxy::start(
        &server.url,
        ProxyOptions {
            prefix: "/prometheus".into(),
            ..ProxyOptions::default()
        },
    )
    .await;
    let metric = metric(
        "latency",
        json!({"metricName": LATENCY,
               "customInlineTemplate": "app=\"${scope}\",region=\"eu-west-1\""}),
    );
    for url in [proxy.url.clone(), format!("{}/", proxy.url)] {
        let (_, sets) = run(&source(&url), &metric, &server.scope(BASELINE)).await;
        assert_eq!(
            sets[0].values,
            expected(|i| data::latency(BASELINE, "eu-west-1", i))
        );
    }
    assert!(
        proxy
            .requests()
            .iter()
            .all(|r| r.uri.starts_with("/prometheus/api/v1/query_range?")),
        "{:?}",
        proxy.requests()
    );
    let request = &proxy.requests()[0];
    assert_eq!(
        request.param("start"),
        Some(server.start_time().as_second().to_string())
    );
    assert_eq!(
        request.param("end"),
        Some(server.end_time().as_second().to_string())
    );
    assert_eq!(request.param("step"), Some("15".into()));
}

#[tokio::test]
async fn an_unreachable_server_fails_within_the_timeout() {
    let gone = {
        let server = data::PrometheusServer::start();
        server.url.clone()
    };
    let account = PrometheusAccount {
        timeout: Duration::from_secs(3),
        ..PrometheusAccount::new("prom", &gone)
    };
    let source = PrometheusSource::new(account).unwrap();
    let scope = shared().scope(CANARY);
    let started = Instant::now();
    let error = source.fetch("latency", "up", &scope).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let SourceError::Unreachable {
        attempts, reason, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert!(*attempts >= 2, "connection errors are retried: {attempts}");
    assert!(reason.contains("Connection refused"), "{reason}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "metric 'latency': cannot reach Prometheus at {gone} ("
        )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "Check the account's URL and that the store is up and reachable from here. Query: up"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = shared();
    let proxy = Proxy::start(
        &server.url,
        ProxyOptions {
            delay: Duration::from_secs(10),
            ..ProxyOptions::default()
        },
    )
    .await;
    let account = PrometheusAccount {
        timeout: Duration::from_millis(700),
        ..PrometheusAccount::new("prom", &proxy.url)
    };
    let started = Instant::now();
    let error = PrometheusSource::new(account)
        .unwrap()
        .fetch("latency", "up", &server.scope(CANARY))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, SourceError::Timeout { attempts: 1, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let server = shared();
    let metric = metric(
        "cpu",
        json!({"metricName": CPU, "resourceType": "aws_ec2_instance"}),
    );
    let scope = Scope {
        scope: ASGS[0].into(),
        ..server.scope(BASELINE)
    };
    let options = ProxyOptions {
        failures: vec![(503, None), (502, None), (429, Some(1))],
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(&server.url, options).await;
    let retries = RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let account = PrometheusAccount {
        retries,
        ..PrometheusAccount::new("prom", &proxy.url)
    };
    let started = Instant::now();
    let (_, sets) = run(&PrometheusSource::new(account).unwrap(), &metric, &scope).await;
    assert_eq!(sets[0].values, expected(|i| data::cpu(ASGS[0], i)));
    assert_eq!(proxy.requests().len(), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After is honoured: {:?}",
        started.elapsed()
    );

    let options = ProxyOptions {
        failures: vec![(503, None); 4],
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(&server.url, options).await;
    let account = PrometheusAccount {
        retries,
        ..PrometheusAccount::new("prom", &proxy.url)
    };
    let error = PrometheusSource::new(account)
        .unwrap()
        .fetch("cpu", "up", &scope)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Http {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("answered HTTP 503 (4 attempts): unavailable: injected failure"),
        "{error}"
    );
}

#[tokio::test]
async fn the_queries_of_an_analysis_run_concurrently_in_config_order() {
    let server = shared();
    let metrics: Vec<Value> = ["us-east-1", "eu-west-1"]
        .iter()
        .flat_map(|region| {
            let in_region = format!("app=\"${{scope}}\",region=\"{region}\"");
            [
                json!({"name": format!("latency-{region}"), "query": {"metricName": LATENCY,
                       "customInlineTemplate": in_region}}),
                json!({"name": format!("errors-{region}"), "query": {"metricName": REQUESTS,
                       "customInlineTemplate": format!("{in_region},code=\"500\"")}}),
            ]
        })
        .collect();
    let config = config(json!(metrics), json!({}));
    let names: Vec<String> = config.metrics.iter().map(|m| m.name.clone()).collect();

    for (concurrency, expected_overlap) in [(8, 8), (3, 3)] {
        let delay = Duration::from_millis(600);
        let proxy = Proxy::start(
            &server.url,
            ProxyOptions {
                delay,
                ..ProxyOptions::default()
            },
        )
        .await;
        let started = Instant::now();
        let fetched = fetch_canary(&source(&proxy.url), &config, &server.scopes(), concurrency)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(proxy.requests().len(), 8);
        assert_eq!(
            proxy.max_in_flight(),
            expected_overlap,
            "concurrency {concurrency}"
        );
        assert!(elapsed < delay * 8, "{elapsed:?}");

        let pair_names: Vec<&str> = fetched
            .pairs
            .iter()
            .map(|pair| pair.name.as_str())
            .collect();
        assert_eq!(pair_names, names, "pairs follow the config");
        let query_names: Vec<&str> = fetched
            .queries
            .iter()
            .step_by(2)
            .map(|q| q.metric.as_str())
            .collect();
        assert_eq!(query_names, names, "records follow the config");
        assert!(fetched.queries.iter().all(|q| q.duration >= delay));
        let latency = &fetched.pairs[2];
        assert_eq!(
            latency.values.experiment,
            expected(|i| data::latency(CANARY, "eu-west-1", i))
        );
    }
}

/// Serves `app` on a loopback port of its own; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A matrix answer with one series of `points` samples.
fn matrix(points: usize) -> String {
    let values: Vec<Value> = (0..points)
        .map(|i| json!([1_700_000_000 + 15 * i, "1.5"]))
        .collect();
    json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"pod": "a"}, "values": values}
    ]}})
    .to_string()
}

fn with_auth(url: &str, auth: PrometheusAuth) -> PrometheusSource {
    PrometheusSource::new(PrometheusAccount {
        auth,
        ..PrometheusAccount::new("prom", url)
    })
    .unwrap()
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let server = shared();
    let elsewhere = Proxy::start(&server.url, ProxyOptions::default()).await;
    let scope = server.scope(CANARY);
    for target in [
        elsewhere.url.clone(),
        elsewhere.url.replace("127.0.0.1", "localhost"),
    ] {
        let redirecting = serve(axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let target = target.clone();
            async move { axum::response::Redirect::temporary(&format!("{target}{uri}")) }
        }))
        .await;
        for auth in [
            PrometheusAuth::Bearer(Secret::new("t0ken-4b1d")),
            PrometheusAuth::Basic {
                username: "coalmine".into(),
                password: Secret::new("pa55-4b1d"),
            },
        ] {
            let error = with_auth(&redirecting, auth)
                .fetch("latency", "up", &scope)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SourceError::Http { status: 307, .. }),
                "{error:?}"
            );
            assert!(!error.to_string().contains("4b1d"), "{error}");
        }
    }
    assert!(
        elsewhere.requests().is_empty(),
        "credentials reached another host: {:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn a_redirect_within_the_store_is_followed_with_the_credentials() {
    use axum::response::IntoResponse;
    let store = serve(axum::Router::new().fallback(
        |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
            let authorized = headers
                .get("authorization")
                .is_some_and(|value| value == "Bearer t0ken");
            match (uri.path().starts_with("/moved/"), authorized) {
                (false, _) => {
                    axum::response::Redirect::temporary(&format!("/moved{uri}")).into_response()
                }
                (true, true) => support::proxy::json(axum::http::StatusCode::OK, matrix(3)),
                (true, false) => support::proxy::json(axum::http::StatusCode::UNAUTHORIZED, "{}"),
            }
        },
    ))
    .await;
    let sets = with_auth(&store, PrometheusAuth::Bearer(Secret::new("t0ken")))
        .fetch("latency", "up", &shared().scope(CANARY))
        .await
        .unwrap();
    assert_eq!(sets[0].values, [1.5, 1.5, 1.5]);
}

#[tokio::test]
async fn an_error_never_shows_the_credentials_even_when_the_store_echoes_them() {
    // Echoes the Authorization header and the request line, past the 300 characters of an excerpt's cut.
    let echo = |status: u16| {
        axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
                let authorization = headers
                    .get("authorization")
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .unwrap_or_default();
                // Once whole, once again where the 300 characters of an excerpt are cut.
                let pad = "x".repeat(285 - 10 - authorization.len());
                let echo = format!("{authorization} {pad} {authorization} {uri}");
                let body = match status {
                    200 => format!("<html>{echo}</html>"),
                    _ => json!({"status": "error", "errorType": "bad_data", "error": echo})
                        .to_string(),
                };
                support::proxy::json(axum::http::StatusCode::from_u16(status).unwrap(), body)
            },
        )
    };
    for status in [400, 401, 200] {
        let url = serve(echo(status)).await;
        let port = url.rsplit(':').next().unwrap().to_string();
        let basic = PrometheusAuth::Basic {
            username: "coalmine".into(),
            password: Secret::new("p@ss w0rd:9e2f"),
        };
        let cases = [
            (
                with_auth(&url, basic),
                vec![
                    "p@ss w0rd:9e2f",
                    "p%40ss",
                    "Y29hbG1pbmU6cEBzcyB3MHJkOjllMmY",
                ],
            ),
            (
                with_auth(&url, PrometheusAuth::Bearer(Secret::new("t0ken-9e2f"))),
                vec!["t0ken-9e2f", "t0ken"],
            ),
            (
                source(&format!("http://coalmine:p%40ss%2Fw0rd@127.0.0.1:{port}")),
                vec!["p%40ss", "p@ss/w0rd", "Y29hbG1pbmU6cEBzcy93MHJk"],
            ),
        ];
        for (source, secrets) in cases {
            let error = source
                .fetch("latency", "up", &shared().scope(CANARY))
                .await
                .unwrap_err();
            let text = error.to_string();
            assert!(
                text.contains("***"),
                "{status}: the store echoed it: {text}"
            );
            for secret in secrets {
                let prefix = &secret[..secret.len().min(8)];
                assert!(!text.contains(prefix), "{status}: {prefix} in {text}");
            }
        }
    }
}

#[tokio::test]
async fn a_series_longer_than_max_points_is_refused_naming_the_metric() {
    let server = shared();
    let metric = metric(
        "latency",
        json!({"metricName": LATENCY, "customInlineTemplate": "app=\"${scope}\",region=\"us-east-1\""}),
    );
    let scope = server.scope(BASELINE);
    let source = |max_points| {
        PrometheusSource::new(PrometheusAccount {
            max_points,
            ..PrometheusAccount::new("prom", &server.url)
        })
        .unwrap()
    };
    let (query, sets) = run(&source(SAMPLES), &metric, &scope).await;
    assert_eq!(sets[0].values.len(), SAMPLES);
    let error = source(SAMPLES - 1)
        .fetch("latency", &query, &scope)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SourceError::Config { metric: Some(metric), .. } if metric == "latency"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "metric 'latency': Prometheus at {} answered a series of more than {} data points; this \
             server accepts at most {} per series (max_points): shorten the window or raise the \
             step. Query: {query}",
            server.url,
            SAMPLES - 1,
            SAMPLES - 1
        )
    );

    // A store that sends a million points is cut off at the limit, not read into memory first.
    let huge = serve(axum::Router::new().fallback(|| async {
        support::proxy::json(axum::http::StatusCode::OK, matrix(1_000_000))
    }))
    .await;
    let error = PrometheusSource::new(PrometheusAccount::new("prom", &huge))
        .unwrap()
        .fetch("latency", "up", &scope)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("more than 100000 data points; this server accepts at most 100000"),
        "{error}"
    );
}

/// A store that holds every query until `limit` are in flight at once (or every one of `expected` has
/// arrived), then answers them all with no series. It counts the most that were ever in flight. If a source
/// ran fewer than `limit` at once, the store would wait for ever; if more, the count shows it.
struct Gate {
    limit: usize,
    expected: usize,
    in_flight: std::sync::atomic::AtomicUsize,
    arrived: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    open: tokio::sync::watch::Sender<bool>,
}

async fn gate(gate: std::sync::Arc<Gate>) -> axum::response::Response {
    use std::sync::atomic::Ordering::SeqCst;
    let now = gate.in_flight.fetch_add(1, SeqCst) + 1;
    gate.most.fetch_max(now, SeqCst);
    let arrived = gate.arrived.fetch_add(1, SeqCst) + 1;
    let mut open = gate.open.subscribe();
    if now >= gate.limit || arrived == gate.expected {
        gate.open.send_replace(true);
    }
    // Wait until the gate is open; it closes again for the next batch once this one has gone.
    let _ = open.wait_for(|open| *open).await;
    let left = gate.in_flight.fetch_sub(1, SeqCst) - 1;
    if left == 0 && gate.arrived.load(SeqCst) < gate.expected {
        gate.open.send_replace(false);
    }
    support::proxy::json(
        axum::http::StatusCode::OK,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
    )
}

#[tokio::test]
async fn an_accounts_queries_never_exceed_its_limit_across_analyses() {
    let limit = 3;
    let metrics: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("m{i}"), "query": {"metricName": "up", "customInlineTemplate": "a=\"${scope}\""}}))
        .collect();
    let config = config(json!(metrics), json!({}));
    // Two analyses of 12 queries each, each allowed 50 at once.
    let gate_state = std::sync::Arc::new(Gate {
        limit,
        expected: 24,
        in_flight: Default::default(),
        arrived: Default::default(),
        most: Default::default(),
        open: tokio::sync::watch::channel(false).0,
    });
    let state = gate_state.clone();
    let store = serve(axum::Router::new().fallback(move || gate(state.clone()))).await;
    let source = PrometheusSource::new(PrometheusAccount {
        max_concurrent_queries: limit,
        ..PrometheusAccount::new("prom", &store)
    })
    .unwrap();
    let scopes = shared().scopes();
    let both = futures::future::join(
        fetch_canary(&source, &config, &scopes, 50),
        fetch_canary(&source, &config, &scopes, 50),
    );
    let (first, second) = tokio::time::timeout(Duration::from_secs(120), both)
        .await
        .expect("the store got fewer than `limit` queries at once and waited for more");
    assert_eq!(first.unwrap().queries.len(), 12);
    assert_eq!(second.unwrap().queries.len(), 12);
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(gate_state.arrived.load(SeqCst), 24);
    assert_eq!(gate_state.most.load(SeqCst), limit);
}

#[tokio::test]
async fn an_endless_answer_is_cut_off_not_read_into_memory() {
    // A store that never stops sending (chunked, no length): 1 MiB chunks of a JSON array that never ends.
    let endless = serve(axum::Router::new().fallback(|| async {
        let chunk = axum::body::Bytes::from("[1,".repeat(1 << 18).into_bytes());
        let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        axum::response::Response::new(axum::body::Body::from_stream(stream))
    }))
    .await;
    let error = PrometheusSource::new(PrometheusAccount::new("prom", &endless))
        .unwrap()
        .fetch("latency", "up", &shared().scope(CANARY))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::BadResponse { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("the answer is larger than 64 MiB"),
        "{error}"
    );
}

/// Issue 14, item 4: a published config writes `x{${scope}}` and passes a label matcher as the scope. A
/// value that is completely a matcher list stands where the matcher list stands; anything else is refused as
/// before.
#[tokio::test]
async fn a_scope_that_is_a_label_matcher_list_fills_the_braces() {
    let server = shared();
    let source = source(&server.url);
    let metric = metric(
        "error_rate",
        json!({"customInlineTemplate": "PromQL:sum(rate(checkout_requests_total{${scope}}[1m]))"}),
    );
    let mut scope = server.scope(CANARY);
    scope.scope = format!(r#"app="{CANARY}", code="500""#);
    let (query, sets) = run(&source, &metric, &scope).await;
    assert_eq!(
        query,
        format!(r#"sum(rate(checkout_requests_total{{app="{CANARY}", code="500"}}[1m]))"#)
    );
    assert_eq!(sets.len(), 1);
    // The canary's two pods each make 0.5 errors a second (once the 1m window is full).
    for value in &sets[0].values[4..] {
        assert!((value - 1.0).abs() < 1e-9, "{value}");
    }

    for hostile in [
        format!(r#"app="{CANARY}"}} or vector(1) or x{{a="b""#),
        format!(r#"app="{CANARY}" or vector(1)"#),
        format!(r#"app="{CANARY}"#),
    ] {
        scope.scope = hostile.clone();
        let error = source
            .build_query(&metric, &BTreeMap::new(), &scope)
            .unwrap_err();
        assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("it lands outside a string literal"),
            "{hostile}: {error}"
        );
    }
}
