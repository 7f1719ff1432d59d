//! The Google Cloud Monitoring (`stackdriver`) source against a double of `projects.timeSeries.list` and of
//! Google's OAuth token endpoint (`support::stackdriver`): Kayenta's filters for its resource types, the JWT
//! bearer grant at the key's `token_uri` (signature, `aud`, `scope`, `grant_type` verified by the double) and
//! the cached access token, RFC 3339 times and the aggregation parameters, points reversed into time order,
//! labels as tags, pages followed, retries on 5xx only; and end to end with a `stackdriver` account in a
//! settings file: `coalmine analyze --settings --account`, `POST /v1/analyses` and Kayenta's `POST /canary`,
//! A/A and with a regression, on `examples/stackdriver/canary-config.json`.

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    AccountBounds, MetricSource, RetryPolicy, Scope, SourceError, StackdriverAccount,
    StackdriverSource,
};
use common::clients::{example, example_json};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, START_SECONDS, Side, noisy};
use support::stackdriver::{
    DoubleOptions, GoogleDouble, PROJECT, TEST_PRIVATE_KEY, key_file, series,
};

fn scope(scope: &str, location: &str, extended: &[(&str, &str)]) -> Scope {
    Scope {
        scope: scope.into(),
        location: location.into(),
        extended_params: extended
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
        step: Duration::from_secs(60),
    }
}

fn source(double: &GoogleDouble, dir: &std::path::Path) -> StackdriverSource {
    StackdriverSource::new(StackdriverAccount {
        url: double.url.clone(),
        bounds: AccountBounds {
            retries: RetryPolicy {
                initial_backoff: Duration::from_millis(20),
                ..RetryPolicy::default()
            },
            ..AccountBounds::default()
        },
        ..StackdriverAccount::new("google", PROJECT, double.key_file(dir))
    })
    .unwrap()
}

fn metric(query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": "cpu", "query": query})).unwrap()
}

/// The filter part of a query (before the aggregation).
fn filter(query: &str) -> &str {
    query.rsplit_once(" | ").unwrap().0
}

#[tokio::test]
async fn filters_are_kayentas_for_each_resource_type() {
    let double = GoogleDouble::start(DoubleOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let source = source(&double, dir.path());
    let build =
        |query: Value, scope: &Scope| source.build_query(&metric(query), &BTreeMap::new(), scope);
    let gce = json!({"type": "stackdriver", "metricType": "compute.googleapis.com/instance/cpu/utilization", "resourceType": "gce_instance"});
    assert_eq!(
        filter(
            &build(
                gce.clone(),
                &scope("myapp-dev-v001", "us-east1", &[("project", "my-project")])
            )
            .unwrap()
        ),
        "metric.type=\"compute.googleapis.com/instance/cpu/utilization\" AND resource.type=gce_instance AND project=my-project AND metadata.user_labels.\"spinnaker-region\"=us-east1 AND metadata.user_labels.\"spinnaker-server-group\"=myapp-dev-v001"
    );
    let aws = json!({"type": "stackdriver", "metricType": "agent.googleapis.com/cpu/utilization", "resourceType": "aws_ec2_instance"});
    assert_eq!(
        filter(&build(aws, &scope("myapp-prod-v002", "us-west-2", &[])).unwrap()),
        "metric.type=\"agent.googleapis.com/cpu/utilization\" AND resource.type=aws_ec2_instance AND resource.labels.region=\"aws:us-west-2\" AND metadata.user_labels.\"aws:autoscaling:groupname\"=myapp-prod-v002"
    );
    let k8s = json!({"type": "stackdriver", "metricType": "kubernetes.io/container/cpu/core_usage_time", "resourceType": "k8s_container"});
    let extended = [
        ("project", "p1"),
        ("namespace_name", "default"),
        ("cluster_name", "prod"),
        ("user_labels.app", "myapp"),
    ];
    assert_eq!(
        filter(&build(k8s.clone(), &scope("ignored", "", &extended)).unwrap()),
        "metric.type=\"kubernetes.io/container/cpu/core_usage_time\" AND resource.type=k8s_container AND project=p1 AND resource.labels.cluster_name=prod AND resource.labels.namespace_name=default AND metadata.user_labels.\"app\"=\"myapp\""
    );
    let gae = json!({"type": "stackdriver", "metricType": "appengine.googleapis.com/http/server/response_latencies", "resourceType": "gae_app"});
    assert_eq!(
        filter(
            &build(
                gae,
                &scope("v20240101", "", &[("project", "p"), ("service", "default")])
            )
            .unwrap()
        ),
        "metric.type=\"appengine.googleapis.com/http/server/response_latencies\" AND resource.type=gae_app AND project=p AND resource.labels.version_id=v20240101 AND resource.labels.module_id=default"
    );
    let gke = json!({"type": "stackdriver", "metricType": "container.googleapis.com/container/cpu/utilization", "resourceType": "gke_container"});
    let extended = [
        ("zone", "us-central1-a"),
        ("namespace_id", "checkout"),
        ("cluster_name", "prod"),
    ];
    assert_eq!(
        filter(&build(gke, &scope("ignored", "", &extended)).unwrap()),
        "metric.type=\"container.googleapis.com/container/cpu/utilization\" AND resource.type=gke_container AND project=test-project AND resource.labels.cluster_name=prod AND resource.labels.namespace_id=checkout AND resource.labels.zone=us-central1-a"
    );
    let mut templated = k8s.clone();
    templated["customInlineTemplate"] = json!("resource.labels.pod_name=starts_with(\"${scope}\")");
    assert_eq!(
        filter(&build(templated.clone(), &scope("myapp-canary", "", &[])).unwrap()),
        "metric.type=\"kubernetes.io/container/cpu/core_usage_time\" AND resource.type=k8s_container AND resource.labels.pod_name=starts_with(\"myapp-canary\")"
    );
    // A value can never leave its string or add a clause.
    assert_eq!(
        filter(&build(templated, &scope("x\") OR project=\"other", "", &[])).unwrap()),
        "metric.type=\"kubernetes.io/container/cpu/core_usage_time\" AND resource.type=k8s_container AND resource.labels.pod_name=starts_with(\"x\\\") OR project=\\\"other\")"
    );
    assert!(
        filter(
            &build(
                gce.clone(),
                &scope("a OR project=b", "us-east1", &[("project", "p")])
            )
            .unwrap()
        )
        .ends_with("metadata.user_labels.\"spinnaker-server-group\"=\"a OR project=b\"")
    );
    // Kayenta's messages.
    let error = build(gce.clone(), &scope("a", "", &[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "metric 'cpu': Location (i.e. region) is required when resourceType is 'gce_instance'."
    );
    let error = build(json!({"metricType": "x"}), &scope("a", "", &[]))
        .unwrap_err()
        .to_string();
    assert_eq!(error, "metric 'cpu': Resource type is required.");
    let error = build(
        json!({"metricType": "x", "resourceType": "cloud_run_revision"}),
        &scope("a", "", &[]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("Resource type 'cloud_run_revision' not yet explicitly supported."),
        "{error}"
    );
    assert_eq!(double.tokens_issued(), 0, "building asks for no token");
}

#[tokio::test]
async fn a_query_exchanges_the_key_for_a_cached_token_and_reads_series_in_time_order() {
    let filter_text = "metric.type=\"kubernetes.io/container/memory/used_bytes\" AND resource.type=k8s_container AND project=test-project";
    let double = GoogleDouble::start(DoubleOptions {
        answers: HashMap::from([(
            filter_text.to_string(),
            vec![
                series(
                    &[("project_id", PROJECT), ("zone", "us-central1-a")],
                    &[("memory_type", "non-evictable")],
                    "INT64",
                    (START_SECONDS, 60),
                    &[64.0, 65.0, 66.0],
                ),
                series(
                    &[("project_id", PROJECT), ("zone", "us-central1-b")],
                    &[("memory_type", "non-evictable")],
                    "INT64",
                    (START_SECONDS, 60),
                    &[70.0, 71.0],
                ),
            ],
        )]),
        page_size: 1,
        ..DoubleOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let source = source(&double, dir.path());
    let query = json!({"type": "stackdriver", "metricType": "kubernetes.io/container/memory/used_bytes", "resourceType": "k8s_container", "groupByFields": ["resource.label.zone", "metric.label.memory_type"], "crossSeriesReducer": "REDUCE_SUM"});
    let scope = scope("", "", &[]);
    let built = source
        .build_query(&metric(query), &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(
        built,
        format!(
            "{filter_text} | ALIGN_MEAN REDUCE_SUM by resource.label.zone,metric.label.memory_type"
        )
    );
    let sets = source.fetch("memory", &built, &scope).await.unwrap();
    assert_eq!(sets.len(), 2, "both pages are read");
    assert_eq!(
        sets[0].values,
        [64.0, 65.0, 66.0],
        "oldest first, INT64 read"
    );
    assert_eq!(
        sets[0].tags,
        BTreeMap::from([
            ("zone".into(), "us-central1-a".into()),
            ("memory_type".into(), "non-evictable".into())
        ])
    );
    assert_eq!(
        (sets[0].start_millis, sets[0].end_millis),
        (START_SECONDS * 1000, (START_SECONDS + 180) * 1000)
    );
    assert_eq!(sets[1].values, [70.0, 71.0]);
    // A second query uses the cached token.
    source.fetch("memory", &built, &scope).await.unwrap();
    assert_eq!(double.tokens_issued(), 1);

    let requests = double.requests();
    assert_eq!(requests.len(), 4);
    let request = &requests[0];
    assert!(
        request
            .uri
            .starts_with(&format!("/v3/projects/{PROJECT}/timeSeries?")),
        "{}",
        request.uri
    );
    assert_eq!(
        request.headers["authorization"],
        "Bearer ya29.test-access-token-1"
    );
    assert_eq!(request.param("filter").as_deref(), Some(filter_text));
    assert_eq!(
        request.param("interval.startTime").as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!(
        request.param("interval.endTime").as_deref(),
        Some("2024-01-01T01:00:00Z")
    );
    assert_eq!(
        request.param("aggregation.alignmentPeriod").as_deref(),
        Some("60s")
    );
    assert_eq!(
        request.param("aggregation.perSeriesAligner").as_deref(),
        Some("ALIGN_MEAN")
    );
    assert_eq!(
        request.param("aggregation.crossSeriesReducer").as_deref(),
        Some("REDUCE_SUM")
    );
    assert_eq!(request.uri.matches("aggregation.groupByFields=").count(), 2);
    assert_eq!(requests[1].param("pageToken").as_deref(), Some("page-1"));
}

#[tokio::test]
async fn only_server_errors_are_retried_and_a_refused_key_says_so() {
    let filter_text = "metric.type=\"x\" AND resource.type=global";
    let double = GoogleDouble::start(DoubleOptions {
        answers: HashMap::from([(filter_text.to_string(), Vec::new())]),
        failures: vec![503],
        ..DoubleOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let source = source(&double, dir.path());
    let scope = scope("a", "", &[]);
    // 503 then an answer without series: retried, then Kayenta's empty placeholder.
    let sets = source
        .fetch(
            "cpu",
            &format!("{filter_text} | ALIGN_MEAN REDUCE_MEAN"),
            &scope,
        )
        .await
        .unwrap();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].values.is_empty());
    assert_eq!(sets[0].step_millis, 60_000);
    assert_eq!(double.requests().len(), 2);
    // A bad filter is a 400, tried once (Kayenta tries it ten times).
    let error = source
        .fetch(
            "cpu",
            "metric.type=\"nope\" AND resource.type=global | ALIGN_MEAN REDUCE_MEAN",
            &scope,
        )
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
    assert!(
        error
            .to_string()
            .contains("Google Cloud Monitoring at http://127.0.0.1:"),
        "{error}"
    );
    assert!(!error.to_string().contains("ya29."), "{error}");
    assert_eq!(double.requests().len(), 3);

    // A key the token endpoint refuses (another account's email): not retried, and said to be the key.
    let other = tempfile::tempdir().unwrap();
    let path = key_file(other.path(), &double.token_uri(), TEST_PRIVATE_KEY);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("coalmine-canary@", "someone-else@");
    std::fs::write(&path, text).unwrap();
    let refused = StackdriverSource::new(StackdriverAccount {
        url: double.url.clone(),
        ..StackdriverAccount::new("google", PROJECT, &path)
    })
    .unwrap();
    let error = refused
        .fetch(
            "cpu",
            &format!("{filter_text} | ALIGN_MEAN REDUCE_MEAN"),
            &scope,
        )
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
        text.contains("the token endpoint") && text.contains("invalid_grant"),
        "{text}"
    );
    assert!(text.contains("Check the account's credentials"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert_eq!(double.requests().len(), 3, "no query without a token");
}

#[test]
fn a_bad_key_file_is_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let account = |path: &std::path::Path| {
        StackdriverSource::new(StackdriverAccount::new("google", PROJECT, path))
    };
    let error = account(&dir.path().join("missing.json"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("Google Cloud Monitoring account 'google': cannot read credentials_file"),
        "{error}"
    );
    let path = key_file(dir.path(), "http://203.0.113.9/token", TEST_PRIVATE_KEY);
    let error = account(&path).err().unwrap().to_string();
    assert!(error.contains("is not an https URL"), "{error}");
    let path = key_file(
        dir.path(),
        "https://oauth2.googleapis.com/token",
        "not a key",
    );
    let error = account(&path).err().unwrap().to_string();
    assert!(
        error.contains("private_key is not an RSA private key"),
        "{error}"
    );
    assert!(!error.contains("not a key"), "{error}");
}

const BASELINE: &str = "checkout-baseline";
const CANARY: &str = "checkout-canary";
const REGRESSED: &str = "checkout-regressed";

fn example_filters(scope: &str) -> [String; 2] {
    [
        format!(
            "metric.type=\"kubernetes.io/container/cpu/core_usage_time\" AND resource.type=k8s_container AND resource.labels.pod_name=starts_with(\"{scope}\")"
        ),
        format!(
            "metric.type=\"kubernetes.io/container/memory/used_bytes\" AND resource.type=k8s_container AND resource.labels.namespace_name=\"checkout\" AND resource.labels.pod_name=starts_with(\"{scope}\")"
        ),
    ]
}

#[tokio::test]
async fn the_example_passes_a_like_canary_and_fails_a_regression_through_analyze_and_both_apis() {
    let mut answers = HashMap::new();
    for (scope, cpu, memory) in [
        (BASELINE, 0.3, 2.0e8),
        (CANARY, 0.3, 2.0e8),
        (REGRESSED, 0.6, 3.5e8),
    ] {
        let [cpu_filter, memory_filter] = example_filters(scope);
        answers.insert(
            cpu_filter,
            vec![series(
                &[("project_id", PROJECT)],
                &[],
                "DOUBLE",
                (START_SECONDS, 60),
                &noisy(cpu, 60),
            )],
        );
        let memory: Vec<f64> = noisy(memory, 60).into_iter().map(f64::round).collect();
        answers.insert(
            memory_filter,
            vec![series(
                &[("project_id", PROJECT)],
                &[],
                "INT64",
                (START_SECONDS, 60),
                &memory,
            )],
        );
    }
    let double = GoogleDouble::start(DoubleOptions {
        answers,
        ..DoubleOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key = double.key_file(dir.path());
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"gcp\"\ntype = \"stackdriver\"\nproject = \"{PROJECT}\"\ncredentials_file = \"{}\"\nurl = \"{}\"\n",
            key.display(),
            double.url
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", settings.to_str().unwrap()]);
    let config = example_json("stackdriver/canary-config.json");
    let side = |scope: &str| Side {
        params: vec![("namespace".to_string(), "checkout".to_string())],
        ..Side::new(scope, "us-central1")
    };
    for (canary, classification) in [(CANARY, "Pass"), (REGRESSED, "Fail")] {
        let answer = canary_runs::analyze(
            &settings,
            "gcp",
            &example("stackdriver/canary-config.json"),
            &side(BASELINE),
            &side(canary),
            &[],
        )
        .await;
        assert_eq!(
            answer["judgeResult"]["score"]["classification"], classification,
            "{answer:#}"
        );
        // The query shown: the filter, then the example's aligner and reducer.
        assert_eq!(
            answer["queries"][0]["query"],
            format!("{} | ALIGN_RATE REDUCE_MEAN", example_filters(BASELINE)[0]),
            "{answer:#}"
        );
        let answer =
            canary_runs::analysis(&server.url, &config, "gcp", &side(BASELINE), &side(canary))
                .await;
        assert_eq!(answer["status"], "completed", "{answer:#}");
        assert_eq!(answer["classification"], classification, "{answer:#}");
        let run = canary_runs::kayenta_canary(
            &server.url,
            &config,
            "gcp",
            &side(BASELINE),
            &side(canary),
        )
        .await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            run["result"]["judgeResult"]["score"]["classification"], classification,
            "{run:#}"
        );
    }
    let requests = double.requests();
    assert_eq!(requests.len(), 24);
    let filters: Vec<String> = requests.iter().filter_map(|r| r.param("filter")).collect();
    for scope in [BASELINE, CANARY, REGRESSED] {
        for expected in example_filters(scope) {
            assert!(filters.contains(&expected), "{expected} was not sent");
        }
    }
    assert_eq!(
        double.tokens_issued(),
        3,
        "one token for the server's account, cached, and one for each analyze run"
    );
}
