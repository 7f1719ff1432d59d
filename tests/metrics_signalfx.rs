//! The SignalFx source against a double of the SignalFlow execute API (`support::signalfx`): Kayenta's
//! programs (from `SimpleSignalFlowProgramBuilderTest`) and parameters (epoch ms, resolution, `maxDelay=0`,
//! `immediate=true`) as they travel, the token only in `X-SF-TOKEN`, the SSE answer read one value per data
//! message, several series per step refused; and end to end with a `signalfx` account in a settings file:
//! `coalmine analyze --settings --account`, `POST /v1/analyses` and Kayenta's `POST /canary`, A/A and with a
//! regression, on `examples/signalfx/canary-config.json`.

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    MetricSource, Scope, Secret, SecretSource, SignalFxAccount, SignalFxSource, SourceError,
};
use common::clients::{example, example_json};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, Side, noisy};
use support::signalfx::{ACCESS_TOKEN, DoubleOptions, SignalFxDouble};

/// Kayenta's `SignalFxRemoteServiceTest` window: 2018-09-16T23:32:30Z plus an hour, step 60.
fn scope(scope: &str, extended: &[(&str, &str)]) -> Scope {
    Scope {
        scope: scope.into(),
        location: String::new(),
        extended_params: extended
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        start: "2018-09-16T23:32:30Z".parse().unwrap(),
        end: "2018-09-17T00:32:30Z".parse().unwrap(),
        step: Duration::from_secs(60),
    }
}

fn source(url: &str, token: &str, scope_key: Option<&str>) -> SignalFxSource {
    SignalFxSource::new(SignalFxAccount {
        url: url.to_string(),
        access_token: SecretSource::Given(Secret::new(token)),
        default_scope_key: scope_key.map(str::to_string),
        ..SignalFxAccount::new("signalfx")
    })
    .unwrap()
}

fn metric(query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": "requests", "query": query})).unwrap()
}

/// Kayenta's first worked example.
const KAYENTA_PROGRAM: &str = "data('request.count', filter=filter('app', 'cms') and filter('response_code', '400') and filter('uri', '/v2/auth/iam-principal') and filter('version', '1.0.0') and filter('env', 'production')).mean(by=['env', 'version']).publish()";

#[tokio::test]
async fn kayentas_program_and_parameters_travel_with_the_token_in_a_header() {
    let double = SignalFxDouble::start(DoubleOptions {
        answers: HashMap::from([(
            KAYENTA_PROGRAM.to_string(),
            vec![vec![10.0], vec![], vec![12.5]],
        )]),
        ..DoubleOptions::default()
    })
    .await;
    let source = source(&double.url, ACCESS_TOKEN, None);
    let pairs = json!([{"key": "app", "value": "cms"}, {"key": "response_code", "value": "400"}, {"key": "uri", "value": "/v2/auth/iam-principal"}]);
    let metric = metric(
        json!({"type": "signalfx", "metricName": "request.count", "aggregationMethod": "mean", "queryPairs": pairs}),
    );
    let scope = scope("1.0.0", &[("env", "production"), ("_scope_key", "version")]);
    let program = source
        .build_query(&metric, &BTreeMap::new(), &scope)
        .unwrap();
    assert_eq!(program, KAYENTA_PROGRAM);
    let sets = source.fetch("requests", &program, &scope).await.unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.values.len(), 3);
    assert_eq!((set.values[0], set.values[2]), (10.0, 12.5));
    assert!(
        set.values[1].is_nan(),
        "a data message without values is NaN"
    );
    assert_eq!(
        (set.start_millis, set.end_millis, set.step_millis),
        (1_537_140_750_000, 1_537_144_350_000, 60_000)
    );

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    let (request, body) = &requests[0];
    // Kayenta's example request.
    assert_eq!(
        request.uri,
        "/v2/signalflow/execute?start=1537140750000&stop=1537144350000&resolution=60000&maxDelay=0&immediate=true"
    );
    assert_eq!(body, KAYENTA_PROGRAM);
    assert_eq!(request.headers["x-sf-token"], ACCESS_TOKEN);
    assert_eq!(request.headers["content-type"], "text/plain; charset=UTF-8");
}

#[tokio::test]
async fn several_series_in_a_step_and_a_wrong_token_are_clear_errors() {
    let program = "data('cpu').publish()";
    let double = SignalFxDouble::start(DoubleOptions {
        answers: HashMap::from([(program.to_string(), vec![vec![1.0, 2.0]])]),
        ..DoubleOptions::default()
    })
    .await;
    let error = source(&double.url, ACCESS_TOKEN, None)
        .fetch("cpu", program, &scope("a", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::BadResponse { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("There was more than one value for a given timestamp"),
        "{error}"
    );

    let error = source(&double.url, "sfx-wrong-token-1111", None)
        .fetch("cpu", program, &scope("a", &[]))
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
    assert!(
        !error.to_string().contains("sfx-wrong-token")
            && !format!("{error:?}").contains("sfx-wrong-token")
    );
    assert!(
        error.to_string().contains("SignalFx at http://127.0.0.1:"),
        "{error}"
    );
}

const BASELINE: &str = "checkout-baseline-v001";
const CANARY: &str = "checkout-canary-v002";
const REGRESSED: &str = "checkout-canary-v003";

/// The example's two programs for one side.
fn example_programs(scope: &str) -> [String; 2] {
    [
        format!(
            "data('service.request.duration.ns.p99', filter=filter('sf_service', 'checkout') and filter('sf_environment', 'production') and filter('server_group', '{scope}') and filter('region', 'us-east-1')).mean(by=['region', 'server_group']).publish()"
        ),
        format!(
            "data('service.request.count', filter=filter('sf_error', 'true') and filter('server_group', '{scope}') and filter('region', 'us-east-1')).sum(by=['server_group']).publish()"
        ),
    ]
}

#[tokio::test]
async fn the_example_passes_a_like_canary_and_fails_a_regression_through_analyze_and_both_apis() {
    let mut answers = HashMap::new();
    for (scope, latency, errors) in [
        (BASELINE, 2.5e8, 4.0),
        (CANARY, 2.5e8, 4.0),
        (REGRESSED, 4.0e8, 15.0),
    ] {
        let [latency_program, errors_program] = example_programs(scope);
        let steps = |values: Vec<f64>| values.into_iter().map(|v| vec![v]).collect::<Vec<_>>();
        answers.insert(latency_program, steps(noisy(latency, 60)));
        answers.insert(errors_program, steps(noisy(errors, 60)));
    }
    let double = SignalFxDouble::start(DoubleOptions {
        answers,
        ..DoubleOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"signalfx\"\ntype = \"signalfx\"\nurl = \"{}\"\naccess_token_env = \"TEST_SIGNALFX_TOKEN\"\ndefault_scope_key = \"server_group\"\ndefault_location_key = \"region\"\n",
            double.url
        ),
    )
    .unwrap();
    let env = [("TEST_SIGNALFX_TOKEN", ACCESS_TOKEN)];
    let server =
        Server::start_with_env(dir.path(), &["--config", settings.to_str().unwrap()], &env);
    let config = example_json("signalfx/canary-config.json");
    let baseline = Side::new(BASELINE, "us-east-1");
    for (canary, classification) in [(CANARY, "Pass"), (REGRESSED, "Fail")] {
        let canary = Side::new(canary, "us-east-1");
        let answer = canary_runs::analyze(
            &settings,
            "signalfx",
            &example("signalfx/canary-config.json"),
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
            example_programs(BASELINE)[0],
            "{answer:#}"
        );
        let answer =
            canary_runs::analysis(&server.url, &config, "signalfx", &baseline, &canary).await;
        assert_eq!(answer["status"], "completed", "{answer:#}");
        assert_eq!(answer["classification"], classification, "{answer:#}");
        let run =
            canary_runs::kayenta_canary(&server.url, &config, "signalfx", &baseline, &canary).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            run["result"]["judgeResult"]["score"]["classification"], classification,
            "{run:#}"
        );
    }
    let requests = double.requests();
    assert_eq!(requests.len(), 24);
    let programs: Vec<&String> = requests.iter().map(|(_, body)| body).collect();
    for scope in [BASELINE, CANARY, REGRESSED] {
        for program in example_programs(scope) {
            assert!(programs.contains(&&program), "{program} was not sent");
        }
    }
    for (request, _) in &requests {
        assert_eq!(request.headers["x-sf-token"], ACCESS_TOKEN);
        assert_eq!(request.param("resolution").as_deref(), Some("60000"));
        assert_eq!(request.param("start").as_deref(), Some("1704067200000"));
    }
}
