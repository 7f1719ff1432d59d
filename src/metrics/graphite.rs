//! Graphite: Kayenta's target building (`$scope` and `$location` replaced in the `metricName`),
//! `GET /render?target=&from=&until=&format=json` with the window in epoch seconds, and Kayenta's reading of
//! the answer (`GraphiteMetricsService`): each series' datapoints in order, `null` as NaN, from its first
//! timestamp to its last, `step` the time between the first two.
//!
//! Differences from Kayenta:
//!
//! - a target answering several series (a wildcard, `groupByNode`) gives one tagged metric set per series,
//!   so that pairing matches them: tagged with the series' Graphite tags that differ between them (tagged
//!   series), else with the path nodes that differ, `node<N>` as `aliasByNode` counts them, else the whole
//!   name as `target` (Kayenta keeps only the first series);
//! - a target answering nothing gives the empty placeholder, so the metric is `Nodata` with a warning
//!   (Kayenta fails the analysis: "No control metrics found");
//! - a substituted scope or location must be a Graphite path ([`check_value`]): it can add path nodes but
//!   no wildcard, function, argument or string.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::http::{
    AccountBounds, AttemptError, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_POINTS,
    DEFAULT_TIMEOUT, Endpoint, Points, RetryPolicy, http_url, invalid, join, parse_bounded,
    redact_url_text,
};
use super::template::rejected;
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// A Graphite server (graphite-web, or another that serves its render API).
#[derive(Clone)]
pub struct GraphiteAccount {
    pub name: String,
    /// The base URL, e.g. `http://graphite:8080` (a path prefix is kept).
    pub url: String,
    /// How long one query may take, retries included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// The most queries in flight at once; the others wait.
    pub max_concurrent_queries: usize,
    /// The most points one series may have.
    pub max_points: usize,
}

impl GraphiteAccount {
    /// An account with a 30 s timeout and the default retries.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> GraphiteAccount {
        GraphiteAccount {
            name: name.into(),
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            retries: RetryPolicy::default(),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

impl fmt::Debug for GraphiteAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("GraphiteAccount")
            .field("name", &self.name)
            .field("url", &redact_url_text(&self.url))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("max_points", &self.max_points)
            .finish()
    }
}

/// Queries one Graphite account.
pub struct GraphiteSource {
    client: reqwest::Client,
    /// `<base>/render`.
    render_url: reqwest::Url,
    endpoint: Endpoint,
}

impl GraphiteSource {
    /// Checks the account's URL and prepares its HTTP client.
    pub fn new(account: GraphiteAccount) -> Result<GraphiteSource, SourceError> {
        let invalid = |problem: String| invalid("Graphite", &account.name, problem);
        let base = http_url(&account.url).ok_or_else(|| {
            invalid("the URL is not an http(s) URL; expected e.g. http://graphite:8080".into())
        })?;
        if !base.username().is_empty() || base.password().is_some() || base.query().is_some() {
            return Err(invalid(
                "the URL must hold neither credentials nor a query".into(),
            ));
        }
        let render_url = join(&base, "/render");
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let bounds = AccountBounds {
            timeout: account.timeout,
            retries: account.retries,
            max_concurrent_queries: account.max_concurrent_queries,
            max_points: account.max_points,
        };
        let (client, endpoint) =
            Endpoint::account("Graphite", &base, bounds, headers, Vec::new()).map_err(invalid)?;
        Ok(GraphiteSource {
            client,
            render_url,
            endpoint,
        })
    }

    /// One attempt at rendering `target` over the scope's window.
    async fn render(&self, target: &str, scope: &Scope) -> Result<Vec<Series>, AttemptError> {
        let mut url = self.render_url.clone();
        url.query_pairs_mut()
            .append_pair("target", target)
            .append_pair("from", &scope.start.as_second().to_string())
            .append_pair("until", &scope.end.as_second().to_string())
            .append_pair("format", "json");
        let body = self.endpoint.send(self.client.get(url)).await?;
        parse_bounded(&body, self.endpoint.max_points)
    }
}

impl GraphiteSource {
    /// One attempt at completing `query` (`/metrics/find?format=completer`): each node's name and whether
    /// it is a leaf.
    async fn find(&self, query: &str) -> Result<Vec<(String, bool)>, AttemptError> {
        let mut url = self.render_url.clone();
        let base = url.path().trim_end_matches("/render").to_string();
        url.set_path(&format!("{base}/metrics/find"));
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("format", "completer");
        let body = self.endpoint.send(self.client.get(url)).await?;
        #[derive(Deserialize)]
        struct Found {
            metrics: Points<Node>,
        }
        #[derive(Deserialize)]
        struct Node {
            name: String,
            #[serde(default)]
            is_leaf: serde_json::Value,
        }
        let found: Found = parse_bounded(&body, self.endpoint.max_points)?;
        Ok(found
            .metrics
            .0
            .into_iter()
            .map(|node| {
                let leaf = matches!(&node.is_leaf, serde_json::Value::String(s) if s == "1")
                    || node.is_leaf == serde_json::Value::Bool(true)
                    || node.is_leaf == serde_json::json!(1);
                (node.name, leaf)
            })
            .collect())
    }
}

/// A metric's Graphite query config (`GraphiteCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphiteQuery {
    /// A target expression, with `$scope` and `$location` where the scope's go.
    #[serde(default)]
    metric_name: Option<String>,
}

/// One series of a render answer.
#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    target: String,
    /// Graphite 1.1's tags (`name` and, for tagged series, the others).
    #[serde(default)]
    tags: BTreeMap<String, serde_json::Value>,
    datapoints: Points<Vec<serde_json::Value>>,
}

/// Whether `value` may replace `$scope` or `$location` in a target: a Graphite path of one or more nodes
/// (letters, digits, `_ - :`, nodes joined by `.`), which cannot hold a wildcard (`* ? [ ] { }`), a call,
/// an argument list or a string, so it never changes the target's structure.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    let node = |node: &str| {
        !node.is_empty()
            && node
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':'))
    };
    match value.split('.').all(node) {
        true => Ok(()),
        false => Err(
            "a scope or location in a Graphite target must be a metric path: nodes of letters, \
             digits, _ - : joined by dots (no wildcards, functions, commas, quotes or spaces)"
                .to_string(),
        ),
    }
}

/// Kayenta's target: every `$scope` replaced by the scope, then every `$location` by the location, each
/// only when it is not empty.
pub(crate) fn target(
    metric: &str,
    metric_name: &str,
    scope: &str,
    location: &str,
) -> Result<String, SourceError> {
    let mut target = metric_name.to_string();
    for (variable, value) in [("scope", scope), ("location", location)] {
        if value.is_empty() || !target.contains(&format!("${variable}")) {
            continue;
        }
        check_value(value).map_err(|reason| rejected(metric, variable, value, &reason, None))?;
        target = target.replace(&format!("${variable}"), value);
    }
    Ok(target)
}

impl MetricSource for GraphiteSource {
    fn kind(&self) -> &'static str {
        "graphite"
    }

    /// Kayenta's `GraphiteMetricsService.getMetadata`: a filter whose last node holds `$` offers
    /// `<prefix>$scope` and `<prefix>$location`; otherwise `$scope` and `$location` become `*` and Graphite
    /// completes the filter, each name after the filter's prefix, a branch ending in `.`.
    fn metric_names_for<'a>(
        &'a self,
        filter: &'a str,
    ) -> Option<BoxFuture<'a, Result<Vec<String>, SourceError>>> {
        Some(Box::pin(async move {
            let (prefix, last) = match filter.rfind('.') {
                Some(at) => (&filter[..=at], &filter[at + 1..]),
                None => ("", filter),
            };
            if last.contains('$') {
                return Ok(vec![
                    format!("{prefix}$scope"),
                    format!("{prefix}$location"),
                ]);
            }
            let query = match filter.replace("$scope", "*").replace("$location", "*") {
                query if query.is_empty() => "*".to_string(),
                query => query,
            };
            let nodes = self
                .endpoint
                .run("metric names", &query, || self.find(&query))
                .await?;
            // A wildcard finds the same node under several branches: each name once.
            let mut seen = BTreeSet::new();
            Ok(nodes
                .into_iter()
                .map(|(name, leaf)| format!("{prefix}{name}{}", if leaf { "" } else { "." }))
                .filter(|name| seen.insert(name.clone()))
                .collect())
        }))
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        _templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: GraphiteQuery = query_config(metric, self.kind(), "Graphite")?;
        let Some(metric_name) = config.metric_name.filter(|text| !text.trim().is_empty()) else {
            return Err(SourceError::config(
                name,
                "the Graphite query needs a metricName, a target such as \
                 averageSeries(app.$scope.requests.*.latency)",
            ));
        };
        target(name, &metric_name, &scope.scope, &scope.location)
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        Box::pin(async move {
            let series = self
                .endpoint
                .run(metric, query, || self.render(query, scope))
                .await?;
            if series.is_empty() {
                let step = scope.step_millis();
                return Ok(vec![MetricSet::placeholder(metric, query, scope, step)]);
            }
            let tags = series_tags(&series);
            series
                .iter()
                .zip(tags)
                .map(|(series, tags)| {
                    metric_set(metric, query, series, tags)
                        .map_err(|reason| self.endpoint.bad_response(metric, query, reason))
                })
                .collect()
        })
    }
}

/// One series as Kayenta reads it: values in order (`null` → NaN), start the first timestamp, end the
/// last, step the first gap (1 s with fewer than two points; start and end 0 with none).
fn metric_set(
    metric: &str,
    query: &str,
    series: &Series,
    tags: BTreeMap<String, String>,
) -> Result<MetricSet, String> {
    let mut values = Vec::with_capacity(series.datapoints.0.len());
    let mut times = Vec::with_capacity(series.datapoints.0.len());
    for point in &series.datapoints.0 {
        let [value, time] = &point[..] else {
            return Err(format!(
                "data format from graphite is invalid, expected size of 2 for datapoint, got: {}",
                serde_json::Value::Array(point.clone())
            ));
        };
        values.push(match value {
            serde_json::Value::Null => f64::NAN,
            value => value
                .as_f64()
                .ok_or_else(|| format!("a datapoint's value {value} is not a number"))?,
        });
        times.push(
            time.as_f64()
                .ok_or_else(|| format!("a datapoint's timestamp {time} is not a number"))?
                as i64,
        );
    }
    let first = times.first().copied().unwrap_or(0);
    let last = times.last().copied().unwrap_or(0);
    let step = match &times[..] {
        [first, second, ..] => second - first,
        _ => 1,
    };
    Ok(MetricSet {
        name: metric.to_string(),
        tags,
        start_millis: first.saturating_mul(1000),
        end_millis: last.saturating_mul(1000),
        step_millis: step.saturating_mul(1000),
        values,
        query: query.to_string(),
    })
}

/// Each series' tags: none for a single series (as Kayenta); else the Graphite tags (besides `name`) whose
/// values differ between the series; else the path nodes that differ (`node<N>`), when every name has the
/// same number of nodes; else the whole name (`target`).
fn series_tags(series: &[Series]) -> Vec<BTreeMap<String, String>> {
    if series.len() < 2 {
        return vec![BTreeMap::new(); series.len()];
    }
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let keys: BTreeSet<&String> = series
        .iter()
        .flat_map(|series| series.tags.keys())
        .filter(|key| *key != "name")
        .collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|key| {
            let values: BTreeSet<Option<String>> =
                series.iter().map(|s| s.tags.get(*key).map(text)).collect();
            values.len() > 1
        })
        .collect();
    if !differing.is_empty() {
        return series
            .iter()
            .map(|series| {
                differing
                    .iter()
                    .filter_map(|key| series.tags.get(*key).map(|v| ((*key).clone(), text(v))))
                    .collect()
            })
            .collect();
    }
    let nodes: Vec<Vec<&str>> = series
        .iter()
        .map(|series| series.target.split('.').collect())
        .collect();
    let depth = nodes[0].len();
    if nodes.iter().all(|nodes| nodes.len() == depth) {
        let varying: Vec<usize> = (0..depth)
            .filter(|&index| {
                nodes
                    .iter()
                    .map(|nodes| nodes[index])
                    .collect::<BTreeSet<_>>()
                    .len()
                    > 1
            })
            .collect();
        if !varying.is_empty() {
            return nodes
                .iter()
                .map(|nodes| {
                    varying
                        .iter()
                        .map(|&index| (format!("node{index}"), nodes[index].to_string()))
                        .collect()
                })
                .collect();
        }
    }
    series
        .iter()
        .map(|series| BTreeMap::from([("target".to_string(), series.target.clone())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(metric_name: &str, scope: &str, location: &str) -> Result<String, String> {
        target("m", metric_name, scope, location).map_err(|e| e.to_string())
    }

    /// The reference's table, from Kayenta's configs and tests.
    #[test]
    fn targets_are_built_as_kayenta_builds_them() {
        assert_eq!(
            build("test.server.request.400.$scope", "myapp-canary", "").unwrap(),
            "test.server.request.400.myapp-canary"
        );
        assert_eq!(
            build("system.$location.$scope", "myapp-v001", "us-west-2").unwrap(),
            "system.us-west-2.myapp-v001"
        );
        assert_eq!(
            build("integrationTestCpu.namespace.*.scope.$scope", "canary", "").unwrap(),
            "integrationTestCpu.namespace.*.scope.canary"
        );
        assert_eq!(
            build("system.cpu.user", "a", "b").unwrap(),
            "system.cpu.user"
        );
        // Every occurrence; an empty scope leaves `$scope` as it is.
        assert_eq!(
            build("divideSeries(a.$scope.errors, a.$scope.hits)", "v2", "").unwrap(),
            "divideSeries(a.v2.errors, a.v2.hits)"
        );
        assert_eq!(build("a.$scope", "", "").unwrap(), "a.$scope");
        assert_eq!(build("a.$scope", "app.canary", "").unwrap(), "a.app.canary");
    }

    #[test]
    fn values_that_would_change_the_target_are_refused() {
        for bad in [
            "*", "a,b", "a)", "a b", "x{a,b}", "a..b", "'x'", "a.", "sum(x)",
        ] {
            let error = build("app.$scope.latency", bad, "").unwrap_err();
            assert!(
                error.contains(
                    "cannot be put into the query: a scope or location in a Graphite target"
                ),
                "{bad}: {error}"
            );
        }
        assert!(build("app.$location", "ok", "us east").is_err());
        // A value that is not used is not checked.
        assert!(build("app.latency", "*", "").is_ok());
    }

    fn series(answer: serde_json::Value) -> Vec<Series> {
        serde_json::from_value(answer).unwrap()
    }

    #[test]
    fn answers_are_read_as_kayenta_reads_them() {
        let answer = series(
            json!([{"target": "a", "datapoints": [[1.0, 1519217280], [null, 1519217340], [3.0, 1519217400]]}]),
        );
        let set = metric_set("m", "q", &answer[0], BTreeMap::new()).unwrap();
        assert_eq!(set.values[0], 1.0);
        assert!(set.values[1].is_nan());
        assert_eq!(set.values[2], 3.0);
        assert_eq!(
            (set.start_millis, set.end_millis, set.step_millis),
            (1519217280000, 1519217400000, 60000)
        );
        let empty = series(json!([{"target": "a", "datapoints": []}]));
        let set = metric_set("m", "q", &empty[0], BTreeMap::new()).unwrap();
        assert_eq!(
            (set.start_millis, set.end_millis, set.step_millis),
            (0, 0, 1000)
        );
        let one = series(json!([{"target": "a", "datapoints": [[2, 100]]}]));
        let set = metric_set("m", "q", &one[0], BTreeMap::new()).unwrap();
        assert_eq!(
            (set.start_millis, set.end_millis, set.step_millis),
            (100_000, 100_000, 1000)
        );
        let bad = series(json!([{"target": "a", "datapoints": [[1.0, 1, 2]]}]));
        assert_eq!(
            metric_set("m", "q", &bad[0], BTreeMap::new()).unwrap_err(),
            "data format from graphite is invalid, expected size of 2 for datapoint, got: [1.0,1,2]"
        );
    }

    #[test]
    fn several_series_are_tagged_by_what_tells_them_apart() {
        let tags = |answer| -> Vec<BTreeMap<String, String>> { series_tags(&series(answer)) };
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            tags(json!([{"target": "a.b", "datapoints": []}])),
            [map(&[])]
        );
        assert_eq!(
            tags(json!([
                {"target": "cpu.ns1.scope.canary", "tags": {"name": "cpu.ns1.scope.canary"}, "datapoints": []},
                {"target": "cpu.ns2.scope.canary", "tags": {"name": "cpu.ns2.scope.canary"}, "datapoints": []}
            ])),
            [map(&[("node1", "ns1")]), map(&[("node1", "ns2")])]
        );
        assert_eq!(
            tags(json!([
                {"target": "cpu;app=x;region=eu", "tags": {"name": "cpu", "app": "x", "region": "eu"}, "datapoints": []},
                {"target": "cpu;app=x;region=us", "tags": {"name": "cpu", "app": "x", "region": "us"}, "datapoints": []}
            ])),
            [map(&[("region", "eu")]), map(&[("region", "us")])]
        );
        assert_eq!(
            tags(json!([
                {"target": "a.b", "datapoints": []},
                {"target": "a.b.c", "datapoints": []}
            ])),
            [map(&[("target", "a.b")]), map(&[("target", "a.b.c")])]
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Graphite's grammar characters: what separates arguments, calls functions, quotes, or matches
    /// several series.
    const STRUCTURE: &str = "(),'\"*?[]{}= \t\n|&;$#\\";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// An accepted value is substituted as it is and holds none of Graphite's grammar: the target has
        /// exactly the template's calls, arguments, strings and wildcards.
        #[test]
        fn an_accepted_value_never_changes_the_targets_structure(
            value in prop_oneof![any::<String>(), "[a-z0-9._:*?,(){}\\[\\]' -]{0,12}"],
            metric_name in prop_oneof![
                Just("sumSeries(app.$scope.requests.*)"),
                Just("alias(app.$location.$scope.latency, 'x')"),
                Just("app.$scope"),
            ],
        ) {
            prop_assume!(!value.is_empty());
            match target("m", metric_name, &value, &value) {
                Ok(built) => {
                    prop_assert!(!value.contains(|c| STRUCTURE.contains(c)), "{:?}", value);
                    let structure = |text: &str| -> String {
                        text.chars().filter(|c| STRUCTURE.contains(*c)).collect()
                    };
                    let expected = structure(metric_name).replace('$', "");
                    prop_assert_eq!(structure(&built), expected);
                    prop_assert_eq!(
                        built,
                        metric_name.replace("$scope", &value).replace("$location", &value)
                    );
                }
                Err(error) => {
                    prop_assert!(error.to_string().contains("cannot be put into the query"));
                    prop_assert!(value.contains(|c: char| !(c.is_alphanumeric() || "_-:.".contains(c)))
                        || value.split('.').any(str::is_empty));
                }
            }
        }
    }
}
