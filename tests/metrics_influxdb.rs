//! The InfluxDB source against a real InfluxDB 1.x (Debian's `influxdb`, started by `support::influxdb` with
//! authentication on and a fixed data set): Kayenta's queries, the fixed converter bugs (nulls, a single
//! row, several series), Kayenta's database rule, credentials only in a header, a scope that tries to
//! change the query; and `examples/influxdb/canary-config.json` judged end to end through `coalmine
//! analyze --settings --account`, `POST /v1/analyses` and Kayenta's `POST /canary`, A/A and with a
//! regression.

mod common;
mod support;

use std::collections::BTreeMap;

use std::time::Duration;

use coalmine::kayenta::CanaryConfig;
use coalmine::kayenta::canary_config::MetricConfig;
use coalmine::metrics::{
    InfluxDbAccount, InfluxDbSource, MetricSource, RetryPolicy, Scope, ScopePair, Secret,
    SourceError, fetch_canary,
};
use common::clients::{example, example_json, get};
use common::server::Server;
use serde_json::{Value, json};
use support::canary_runs::{self, Side, Window};
use support::influxdb::{
    self, BASELINE, CANARY, DATABASE, PASSWORD, REGIONS, SAMPLES, USER, has_internal, latency,
};
use support::proxy::{Proxy, ProxyOptions};

const PASSWORD_ENV: &str = "COALMINE_TEST_INFLUXDB_PASSWORD";

fn scope(scope: &str) -> Scope {
    let server = influxdb::shared();
    Scope {
        scope: scope.into(),
        location: String::new(),
        extended_params: BTreeMap::new(),
        start: server.start_time(),
        end: server.end_time(),
        step: influxdb::STEP,
    }
}

fn account(url: &str, database: Option<&str>, password: &str) -> InfluxDbAccount {
    InfluxDbAccount {
        database: database.map(String::from),
        credentials: Some((USER.to_string(), Secret::new(password))),
        retries: RetryPolicy {
            initial_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        ..InfluxDbAccount::new("influxdb", url)
    }
}

fn source(database: Option<&str>) -> InfluxDbSource {
    InfluxDbSource::new(account(&influxdb::shared().url, database, PASSWORD)).unwrap()
}

fn metric(name: &str, query: Value) -> MetricConfig {
    serde_json::from_value(json!({"name": name, "query": query})).unwrap()
}

/// The samples of the window: `time < end` leaves out the last one.
const IN_WINDOW: usize = SAMPLES - 1;

#[tokio::test]
async fn kayentas_query_runs_and_nulls_stay_in_place() {
    let source = source(Some(DATABASE));
    let metric = metric(
        "temperature",
        json!({"type": "influxdb", "metricName": "temperature", "fields": ["external", "internal"]}),
    );
    let side = scope("server:checkout-baseline");
    let query = source
        .build_query(&metric, &BTreeMap::new(), &side)
        .unwrap();
    assert_eq!(
        query,
        format!(
            "SELECT external, internal FROM temperature WHERE time >= '{}' AND time < '{}' AND \
             server = 'checkout-baseline'",
            side.start, side.end
        )
    );
    let sets = source.fetch("temperature", &query, &side).await.unwrap();
    assert_eq!(sets.len(), 2);
    for (set, field) in sets.iter().zip(["external", "internal"]) {
        assert_eq!(
            set.tags,
            BTreeMap::from([("field".to_string(), field.to_string())])
        );
        assert_eq!(
            (set.start_millis, set.step_millis),
            (side.start.as_millisecond(), 60_000)
        );
        assert_eq!(set.values.len(), IN_WINDOW);
        for (i, value) in set.values.iter().enumerate() {
            let base = (i % 3) as f64;
            match field {
                "external" => assert_eq!(*value, 25.0 + base),
                // Kayenta drops the nulls, shifting every later value; here they stay NaN in place.
                _ if has_internal(i) => assert_eq!(*value, 37.0 + base, "{i}"),
                _ => assert!(value.is_nan(), "{i}: {value}"),
            }
        }
    }
}

#[tokio::test]
async fn a_single_row_is_one_value_at_the_scopes_step() {
    let source = source(Some(DATABASE));
    let side = scope("server:checkout-baseline");
    let query = source
        .build_query(
            &metric("single", json!({"metricName": "single"})),
            &BTreeMap::new(),
            &side,
        )
        .unwrap();
    assert!(
        query.starts_with("SELECT *::field FROM single WHERE "),
        "{query}"
    );
    let sets = source.fetch("single", &query, &side).await.unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].values, [4.5]);
    assert_eq!(sets[0].step_millis, 60_000);
    assert_eq!(sets[0].tags["field"], "value");
}

#[tokio::test]
async fn a_group_by_tag_gives_one_pair_per_series() {
    let config: CanaryConfig = serde_json::from_value(json!({"name": "c", "metrics": [{
        "name": "latency",
        "query": {"type": "influxdb", "customInlineTemplate":
            "SELECT mean(p99) FROM http_latency WHERE $\\{timeFilter} AND $\\{scope} GROUP BY time($\\{step}), region"}
    }]}))
    .unwrap();
    let scopes = BTreeMap::from([(
        "default".to_string(),
        ScopePair {
            control: scope("server:checkout-baseline"),
            experiment: scope("server:checkout-canary"),
        },
    )]);
    let fetched = fetch_canary(&source(Some(DATABASE)), &config, &scopes, 4)
        .await
        .unwrap();
    assert_eq!(fetched.pairs.len(), 2, "Kayenta would keep only the first");
    let mut regions = REGIONS;
    regions.sort();
    for (pair, region) in fetched.pairs.iter().zip(regions) {
        assert_eq!(
            pair.tags,
            BTreeMap::from([
                ("field".to_string(), "mean".to_string()),
                ("region".to_string(), region.to_string())
            ])
        );
        let expected = |server: &str| -> Vec<f64> {
            (0..IN_WINDOW).map(|i| latency(server, region, i)).collect()
        };
        let close = |actual: &[f64], expected: &[f64]| {
            actual.len() == expected.len()
                && actual
                    .iter()
                    .zip(expected)
                    .all(|(a, e)| (a - e).abs() < 1e-12)
        };
        assert!(
            close(&pair.values.control, &expected(BASELINE)),
            "{:?}",
            pair.values.control
        );
        assert!(
            close(&pair.values.experiment, &expected(CANARY)),
            "{:?}",
            pair.values.experiment
        );
    }
    assert!(
        fetched.queries[0]
            .query
            .ends_with("AND server = 'checkout-baseline' GROUP BY time(60s), region"),
        "{}",
        fetched.queries[0].query
    );
}

#[tokio::test]
async fn without_a_database_the_metrics_name_is_the_database_as_in_kayenta() {
    let source = source(None);
    let side = scope("server:checkout-canary");
    let telegraf = metric(
        "telegraf",
        json!({"type": "influxdb", "metricName": "cpu", "fields": ["usage_user"]}),
    );
    let query = source
        .build_query(&telegraf, &BTreeMap::new(), &side)
        .unwrap();
    let sets = source.fetch("telegraf", &query, &side).await.unwrap();
    let expected: Vec<f64> = (0..IN_WINDOW).map(|i| influxdb::cpu(CANARY, i)).collect();
    assert_eq!(sets[0].values, expected);

    // A metric named after no database: InfluxDB's error, not Kayenta's silent "no data".
    let error = source.fetch("cpu_usage", &query, &side).await.unwrap_err();
    assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "metric 'cpu_usage': InfluxDB at {} refused the query in database 'cpu_usage': \
             database not found: cpu_usage. Check the database (the account's `database`, else the \
             metric's name) and the query. Query: {query}",
            influxdb::shared().url
        )
    );
}

#[tokio::test]
async fn credentials_go_only_in_a_header_and_are_never_shown() {
    // What is sent, recorded by a proxy (which does not pass the header on: InfluxDB refuses the request).
    let proxy = Proxy::start(&influxdb::shared().url, ProxyOptions::default()).await;
    let side = scope("server:checkout-baseline");
    let query = "SELECT count FROM http_errors WHERE time > 0";
    let through_proxy = InfluxDbSource::new(account(&proxy.url, Some(DATABASE), PASSWORD)).unwrap();
    let refused = through_proxy
        .fetch("errors", query, &side)
        .await
        .unwrap_err();
    assert!(!format!("{refused} {refused:?}").contains(PASSWORD));
    let request = &proxy.requests()[0];
    assert!(
        request.uri.starts_with("/query?db=checkout&q="),
        "{}",
        request.uri
    );
    assert_eq!(request.param("q").as_deref(), Some(query));
    // Form-encoded, as Kayenta's Retrofit client sends it.
    assert!(
        request
            .uri
            .starts_with("/query?db=checkout&q=SELECT+count+FROM+http_errors+WHERE+time+%3E+0"),
        "{}",
        request.uri
    );
    assert!(request.param("p").is_none() && request.param("u").is_none());
    assert!(!request.uri.contains(PASSWORD));
    // base64("coalmine:influx-test-pass-7c1e")
    assert_eq!(
        request.headers["authorization"],
        "Basic Y29hbG1pbmU6aW5mbHV4LXRlc3QtcGFzcy03YzFl"
    );

    // Straight to InfluxDB: the header is accepted, a wrong password refused without being shown.
    let direct = source(Some(DATABASE));
    assert_eq!(
        direct.fetch("errors", query, &side).await.unwrap()[0]
            .values
            .len(),
        2 * SAMPLES
    );
    let wrong = "wrong-pass-5d1b";
    let error = InfluxDbSource::new(account(&influxdb::shared().url, Some(DATABASE), wrong))
        .unwrap()
        .fetch("errors", query, &side)
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
        error
            .to_string()
            .contains("authorization failed. Check the account's credentials"),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains(wrong));
}

#[tokio::test]
async fn a_scope_cannot_change_the_query() {
    let source = source(Some(DATABASE));
    let side = scope("server:x' OR server = 'checkout-canary");
    let query = source
        .build_query(
            &metric(
                "errors",
                json!({"metricName": "http_errors", "fields": ["count"]}),
            ),
            &BTreeMap::new(),
            &side,
        )
        .unwrap();
    assert!(
        query.ends_with(r"AND server = 'x\' OR server = \'checkout-canary'"),
        "{query}"
    );
    // Read as one (unknown) server: no data, the placeholder; not the canary's series.
    let sets = source.fetch("errors", &query, &side).await.unwrap();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].values.is_empty() && sets[0].tags.is_empty());
    assert_eq!(sets[0].step_millis, 60_000);
    // Kayenta's blocklist stands, even inside a quoted value.
    let error = source
        .build_query(
            &metric("errors", json!({"metricName": "http_errors"})),
            &BTreeMap::new(),
            &scope("server:x; DROP DATABASE checkout"),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("metric 'errors': Query type not allowed."),
        "{error}"
    );
}

/// The verdict on `experiment` against the baseline, through `coalmine analyze --settings --account`,
/// `POST /v1/analyses` and Kayenta's `POST /canary`, over the data set's hour at 60 s.
async fn judged_three_ways(experiment: &str) -> Vec<String> {
    let data = influxdb::shared();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"prometheus\"\ntype = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\n\n\
             [[accounts]]\nname = \"influx\"\ntype = \"influxdb\"\nurl = \"{}\"\ndatabase = \"{DATABASE}\"\n\
             username = \"{USER}\"\npassword_env = \"{PASSWORD_ENV}\"\n",
            data.url
        ),
    )
    .unwrap();
    let config_path = example("influxdb/canary-config.json");
    let config = example_json("influxdb/canary-config.json");
    let (start, end) = (data.start_time(), data.end_time());
    let window = Window {
        start: start.to_string(),
        end: end.to_string(),
    };
    let control = Side::new(&format!("server:{BASELINE}"), "");
    let experiment = Side::new(&format!("server:{experiment}"), "");
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
        "influx",
        &config_path,
        &control,
        &experiment,
        &[(PASSWORD_ENV, PASSWORD)],
    )
    .await;
    assert_eq!(
        answer["queries"][0]["query"],
        format!(
            "SELECT mean(p99) FROM http_latency WHERE time >= '{start}' AND time < '{end}' AND \
             server = 'checkout-baseline' GROUP BY time(60s)"
        ),
        "{answer:#}"
    );
    assert_eq!(answer["queries"][0]["points"], IN_WINDOW, "{answer:#}");
    verdicts.push(classification(&answer));

    let server = Server::start_with_env(
        dir.path(),
        &["--config", settings.to_str().unwrap()],
        &[(PASSWORD_ENV, PASSWORD)],
    );
    let url = |path: &str| format!("{}{path}", server.url);
    let (_, credentials) = get(&url("/credentials")).await;
    assert!(
        credentials
            .as_array()
            .unwrap()
            .iter()
            .any(|account| account["name"] == "influx" && account["type"] == "influxdb"),
        "{credentials:#}"
    );
    let analysis = canary_runs::analysis_in(
        &window,
        &server.url,
        &config,
        "influx",
        &control,
        &experiment,
    )
    .await;
    verdicts.push(analysis["classification"].as_str().unwrap().to_string());
    let run = canary_runs::kayenta_canary_in(
        &window,
        &server.url,
        &config,
        "influx",
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
