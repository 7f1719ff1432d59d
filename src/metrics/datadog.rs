//! Datadog: Kayenta's query building (`DatadogMetricsService.buildQuery`), `GET /api/v1/query` with the keys
//! in the `DD-API-KEY` / `DD-APPLICATION-KEY` headers only, and the answer's series laid onto their time grid.
//!
//! Two differences from Kayenta, both on reading the answer:
//!
//! - the grid from a series' `start` to its `end` (inclusive, `interval` apart) is filled robustly: each point
//!   goes into the slot it falls in, even off the grid; slots without a point, and null points, are NaN
//!   (Kayenta fails on a short pointlist and misplaces everything after an off-grid point);
//! - a query answering several series (`… by {host}`) gives one metric set per series, tagged with the
//!   series' group tags (`tag_set`, or else the part of its `scope` the series do not share), so that pairing
//!   matches them by tags (Kayenta keeps no tags and pairs only the first series).
//!
//! A value substituted into a query must fit Datadog's tag syntax where it lands ([`DatadogLexer`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::http::{
    AccountBounds, AttemptError, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_POINTS,
    DEFAULT_TIMEOUT, Endpoint, Points, RetryPolicy, Secret, excerpt, http_url, invalid, join,
    parse_bounded, redact_url_text,
};
use super::template::{Expansion, Lexer, TemplateFields, bindings, rejected};
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// The most grid slots one series may have (a year at one-minute intervals), against absurd answers.
const MAX_SLOTS: i64 = 525_600;

/// Where a Datadog account's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatadogKeys {
    /// Read from these environment variables when the source is created.
    Env {
        api_key_var: String,
        app_key_var: String,
    },
    Given {
        api_key: Secret,
        app_key: Secret,
    },
}

impl Default for DatadogKeys {
    /// `DD_API_KEY` and `DD_APP_KEY`.
    fn default() -> DatadogKeys {
        DatadogKeys::Env {
            api_key_var: "DD_API_KEY".to_string(),
            app_key_var: "DD_APP_KEY".to_string(),
        }
    }
}

/// A Datadog site. `Debug` never shows the keys.
#[derive(Clone)]
pub struct DatadogAccount {
    pub name: String,
    /// The API's base URL, e.g. `https://api.datadoghq.com` or `https://api.datadoghq.eu`.
    pub url: String,
    pub keys: DatadogKeys,
    /// How long one query may take, retries included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// The most queries in flight at once; the others wait.
    pub max_concurrent_queries: usize,
    /// The most points one series may have.
    pub max_points: usize,
}

impl DatadogAccount {
    /// An account whose keys are read from `DD_API_KEY` and `DD_APP_KEY`, with a 30 s timeout and the
    /// default retries.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> DatadogAccount {
        DatadogAccount {
            name: name.into(),
            url: url.into(),
            keys: DatadogKeys::default(),
            timeout: DEFAULT_TIMEOUT,
            retries: RetryPolicy::default(),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

impl fmt::Debug for DatadogAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let url = redact_url_text(&self.url);
        f.debug_struct("DatadogAccount")
            .field("name", &self.name)
            .field("url", &url)
            .field("keys", &self.keys)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("max_points", &self.max_points)
            .finish()
    }
}

/// Queries one Datadog account.
pub struct DatadogSource {
    client: reqwest::Client,
    /// `<base>/api/v1/query`.
    query_url: reqwest::Url,
    endpoint: Endpoint,
}

impl DatadogSource {
    /// Reads the account's keys and prepares its HTTP client.
    pub fn new(account: DatadogAccount) -> Result<DatadogSource, SourceError> {
        let invalid = |problem: String| invalid("Datadog", &account.name, problem);
        let base = http_url(&account.url).ok_or_else(|| {
            invalid("the URL is not an http(s) URL; expected e.g. https://api.datadoghq.com".into())
        })?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "the URL must not hold credentials; Datadog takes keys only in headers".into(),
            ));
        }
        let query_url = join(&base, "/api/v1/query");

        let (api_key, app_key) = match &account.keys {
            DatadogKeys::Given { api_key, app_key } => (api_key.clone(), app_key.clone()),
            DatadogKeys::Env {
                api_key_var,
                app_key_var,
            } => {
                let read = |variable: &str, what: &str| match std::env::var(variable) {
                    Ok(key) if !key.is_empty() => Ok(Secret::new(key)),
                    _ => Err(invalid(format!(
                        "the environment variable {variable} is not set; it must hold the \
                         account's {what}"
                    ))),
                };
                (
                    read(api_key_var, "API key")?,
                    read(app_key_var, "application key")?,
                )
            }
        };
        let header = |key: &Secret, what: &str| {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                invalid(format!("the {what} holds characters an HTTP header cannot"))
            })?;
            value.set_sensitive(true);
            Ok::<_, SourceError>(value)
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("dd-api-key"),
            header(&api_key, "API key")?,
        );
        headers.insert(
            HeaderName::from_static("dd-application-key"),
            header(&app_key, "application key")?,
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

        let bounds = AccountBounds {
            timeout: account.timeout,
            retries: account.retries,
            max_concurrent_queries: account.max_concurrent_queries,
            max_points: account.max_points,
        };
        let (client, endpoint) =
            Endpoint::account("Datadog", &base, bounds, headers, vec![api_key, app_key])
                .map_err(invalid)?;
        Ok(DatadogSource {
            client,
            query_url,
            endpoint,
        })
    }

    /// The body of a successful `GET url`.
    async fn get(&self, url: reqwest::Url) -> Result<String, AttemptError> {
        self.endpoint.send(self.client.get(url)).await
    }

    /// One attempt at the query over the scope's window.
    async fn query(&self, query: &str, scope: &Scope) -> Result<Vec<Series>, AttemptError> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut()
            .append_pair("from", &scope.start.as_second().to_string())
            .append_pair("to", &scope.end.as_second().to_string())
            .append_pair("query", query);
        let body = self.get(url).await?;
        let max_points = self.endpoint.max_points;
        let answer: QueryResponse = parse_bounded(&body, max_points)?;
        // The grid from `start` to `end` is what becomes the series, whatever the pointlist holds.
        if answer
            .series
            .iter()
            .any(|series| grid_slots(series) > max_points as i64)
        {
            return Err(AttemptError::TooManyPoints(max_points));
        }
        match answer.status.as_deref() {
            Some("error") => Err(AttemptError::Unreadable(format!(
                "status \"error\": {}",
                answer.error.as_deref().unwrap_or("(no explanation)")
            ))),
            _ => Ok(answer.series),
        }
    }

    /// One attempt at listing the metrics reported in the last hour (`/api/v1/metrics?from=`).
    async fn metrics_list(&self) -> Result<Vec<String>, AttemptError> {
        let mut url = self.query_url.clone();
        let base = url.path().trim_end_matches("/api/v1/query").to_string();
        url.set_path(&format!("{base}/api/v1/metrics"));
        let from = jiff::Timestamp::now().as_second() - 3600;
        url.query_pairs_mut().append_pair("from", &from.to_string());
        let body = self.get(url).await?;
        #[derive(Deserialize)]
        struct Metrics {
            metrics: Vec<String>,
        }
        serde_json::from_str::<Metrics>(&body)
            .map(|answer| answer.metrics)
            .map_err(|error| {
                AttemptError::Unreadable(format!("{error}; the body starts: {}", excerpt(&body)))
            })
    }
}

/// A metric's Datadog query config (`DatadogCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DatadogQuery {
    /// E.g. `avg:system.cpu.user`.
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(flatten)]
    templates: TemplateFields,
}

/// The answer of `/api/v1/query`.
#[derive(Debug, Deserialize)]
struct QueryResponse {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    series: Vec<Series>,
}

/// One series of an answer; times in milliseconds, `interval` in seconds.
#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    scope: String,
    /// The series' group tags, e.g. `["host:a"]` for `… by {host}`.
    #[serde(default)]
    tag_set: Option<Vec<String>>,
    pointlist: Points<(f64, Option<f64>)>,
    start: f64,
    end: f64,
    interval: i64,
}

impl MetricSource for DatadogSource {
    fn kind(&self) -> &'static str {
        "datadog"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: DatadogQuery = query_config(metric, self.kind(), "Datadog")?;
        if let Some(template) = config.templates.select(name, templates)? {
            let bindings = bindings(
                [
                    ("scope", Some(scope.scope.as_str())),
                    ("location", Some(scope.location.as_str())),
                ],
                &scope.extended_params,
            );
            let expansion = Expansion::new(name, &template, &bindings)?;
            if !expansion.text().is_empty() {
                return expansion.render(name, DatadogLexer::default());
            }
        }
        let Some(metric_name) = config
            .metric_name
            .filter(|metric_name| !metric_name.is_empty())
        else {
            let problem =
                "the Datadog query needs a metricName (e.g. avg:system.cpu.user) or a template";
            return Err(SourceError::config(name, problem));
        };
        let filter = DatadogLexer { depth: 1 }
            .embed(&scope.scope)
            .map_err(|reason| rejected(name, "scope", &scope.scope, &reason, None))?;
        Ok(format!("{metric_name}{{{filter}}}"))
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
                .run(metric, query, || self.query(query, scope))
                .await?;
            if series.is_empty() {
                // Kayenta's placeholder for Datadog has a one-second step.
                return Ok(vec![MetricSet::placeholder(metric, query, scope, 1000)]);
            }
            let tags = group_tags(&series);
            series
                .iter()
                .zip(tags)
                .map(|(series, tags)| {
                    let values = grid(series)
                        .map_err(|reason| self.endpoint.bad_response(metric, query, reason))?;
                    Ok(MetricSet {
                        name: metric.to_string(),
                        tags,
                        start_millis: series.start as i64,
                        end_millis: series.end as i64,
                        step_millis: series.interval * 1000,
                        values,
                        query: query.to_string(),
                    })
                })
                .collect()
        })
    }

    fn metric_names(&self) -> BoxFuture<'_, Result<Vec<String>, SourceError>> {
        Box::pin(async move {
            self.endpoint
                .run("metric names", "metrics list", || self.metrics_list())
                .await
        })
    }
}

/// How many slots a series' grid has; 0 when it has none.
fn grid_slots(series: &Series) -> i64 {
    let (start, end) = (series.start as i64, series.end as i64);
    let step = series.interval.saturating_mul(1000);
    if step <= 0 || end < start {
        return 0;
    }
    (end - start) / step + 1
}

/// A series' values on its grid `start, start + interval, …, end`.
fn grid(series: &Series) -> Result<Vec<f64>, String> {
    let (start, end) = (series.start as i64, series.end as i64);
    let step = series.interval.saturating_mul(1000);
    if step <= 0 || end < start {
        return Err(format!(
            "a series with interval {} s from {start} to {end} ms has no time grid",
            series.interval
        ));
    }
    let slots = (end - start) / step + 1;
    if slots > MAX_SLOTS {
        return Err(format!(
            "a series with {slots} points of {} s is too long",
            series.interval
        ));
    }
    let mut values = vec![f64::NAN; slots as usize];
    for &(time, value) in &series.pointlist.0 {
        let time = time.round() as i64;
        if let (Some(value), true) = (value, (start..=end).contains(&time)) {
            values[((time - start) / step) as usize] = value;
        }
    }
    Ok(values)
}

/// Each series' tags: its `tag_set`, or, when the answer has none, the tags of its `scope` that not every
/// series has (the shared ones are the query's filter).
fn group_tags(series: &[Series]) -> Vec<BTreeMap<String, String>> {
    let parse = |tags: &[&str]| -> BTreeMap<String, String> {
        tags.iter()
            .map(|tag| tag.trim())
            .filter(|tag| !tag.is_empty() && *tag != "*")
            .map(|tag| match tag.split_once(':') {
                Some((key, value)) => (key.to_string(), value.to_string()),
                None => (tag.to_string(), String::new()),
            })
            .collect()
    };
    let scopes: Vec<BTreeSet<&str>> = series
        .iter()
        .map(|series| series.scope.split(',').map(str::trim).collect())
        .collect();
    let shared: BTreeSet<&str> = scopes.iter().skip(1).fold(
        scopes.first().cloned().unwrap_or_default(),
        |shared, scope| shared.intersection(scope).copied().collect(),
    );
    series
        .iter()
        .zip(&scopes)
        .map(|(series, scope)| match &series.tag_set {
            Some(tag_set) => parse(&tag_set.iter().map(String::as_str).collect::<Vec<_>>()),
            None => parse(&scope.difference(&shared).copied().collect::<Vec<_>>()),
        })
        .collect()
}

/// Where a value lands in a Datadog query: inside a tag filter `{…}`, a value may hold what tag lists hold
/// (letters, digits and `_ - : . / , ! *`); outside, only a metric name's characters (letters, digits,
/// `_ . :`). Neither lets a value close the filter, add a query, a function or arithmetic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DatadogLexer {
    /// How many `{` are open.
    depth: usize,
}

impl Lexer for DatadogLexer {
    fn read(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '{' => self.depth += 1,
                '}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }

    fn embed<'v>(&self, value: &'v str) -> Result<Cow<'v, str>, String> {
        let (allowed, reason) = if self.depth > 0 {
            (
                "_-:./,!*",
                "it lands in a tag filter {…}, where a value may only hold letters, digits and \
                 _ - : . / , ! * (tags such as service:myapp,version:canary)",
            )
        } else {
            (
                "_.:",
                "it lands outside a tag filter, where a value may only be a metric name (letters, \
                 digits, _ . :)",
            )
        };
        if value
            .chars()
            .all(|c| c.is_alphanumeric() || allowed.contains(c))
        {
            Ok(Cow::Borrowed(value))
        } else {
            Err(reason.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> DatadogSource {
        let keys = DatadogKeys::Given {
            api_key: Secret::new("api-1"),
            app_key: Secret::new("app-1"),
        };
        DatadogSource::new(DatadogAccount {
            keys,
            ..DatadogAccount::new("dd", "https://api.datadoghq.com/")
        })
        .unwrap()
    }

    fn scope(scope: &str) -> Scope {
        Scope {
            scope: scope.into(),
            location: "us-east-1".into(),
            extended_params: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            end: "2024-01-01T01:00:00Z".parse().unwrap(),
            step: Duration::from_secs(60),
        }
    }

    fn build(query: serde_json::Value, scope: &Scope) -> Result<String, String> {
        let metric = MetricConfig {
            name: "m".into(),
            query,
            ..MetricConfig::default()
        };
        source()
            .build_query(&metric, &BTreeMap::new(), scope)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn queries_are_built_as_kayenta_builds_them() {
        assert_eq!(
            build(
                json!({"type": "datadog", "metricName": "avg:system.cpu.user"}),
                &scope("autoscaling_group:myapp-v002")
            )
            .unwrap(),
            "avg:system.cpu.user{autoscaling_group:myapp-v002}"
        );
        let template = "sum:errors{${scope}}.as_count()/sum:hits{${scope}}.as_count()";
        assert_eq!(
            build(
                json!({"customInlineTemplate": template}),
                &scope("service:myapp,version:canary")
            )
            .unwrap(),
            "sum:errors{service:myapp,version:canary}.as_count()/\
             sum:hits{service:myapp,version:canary}.as_count()"
        );
        let template = concat!(
            "avg:${metric:-trace.http.request.duration}",
            "{${scope},env:${env},region:${location}} by {host}"
        );
        assert_eq!(
            build(
                json!({"customInlineTemplate": template}),
                &scope("service:web")
            )
            .unwrap(),
            "avg:trace.http.request.duration{service:web,env:prod,region:us-east-1} by {host}"
        );
        assert_eq!(
            build(
                json!({"metricName": "avg:x"}),
                &scope("!version:canary,host:web-*")
            )
            .unwrap(),
            "avg:x{!version:canary,host:web-*}"
        );
    }

    #[test]
    fn values_must_fit_the_tag_syntax() {
        let error = build(
            json!({"metricName": "avg:x"}),
            &scope("service:a}.as_count()*0+avg:y{*"),
        )
        .unwrap_err();
        assert!(
            error.starts_with(
                "metric 'm': the value of ${scope} (\"service:a}.as_count()*0+avg:y{*\") cannot be \
                 put into the query: it lands in a tag filter"
            ),
            "{error}"
        );
        assert!(build(json!({"metricName": "avg:x"}), &scope("service:a b")).is_err());
        let error = build(
            json!({"customInlineTemplate": "avg:${scope}{*}"}),
            &scope("x,avg:y"),
        )
        .unwrap_err();
        assert!(error.contains("outside a tag filter"), "{error}");
        assert!(error.ends_with("Template: avg:${scope}{*}"), "{error}");
        assert_eq!(
            build(json!({}), &scope("a")).unwrap_err(),
            "metric 'm': the Datadog query needs a metricName (e.g. avg:system.cpu.user) or a \
             template"
        );
    }

    fn series(start: f64, end: f64, interval: i64, points: serde_json::Value) -> Series {
        let entry = json!({
            "scope": "*", "pointlist": points, "start": start, "end": end, "interval": interval
        });
        serde_json::from_value(entry).unwrap()
    }

    fn same(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| a == e || (a.is_nan() && e.is_nan()))
    }

    #[test]
    fn points_fill_the_grid_with_nan_for_gaps_and_nulls() {
        let nan = f64::NAN;
        let s = series(
            0.0,
            240_000.0,
            60,
            json!([[0, 1.0], [60000, null], [180000, 4.0]]),
        );
        assert!(
            same(&grid(&s).unwrap(), &[1.0, nan, nan, 4.0, nan]),
            "{:?}",
            grid(&s)
        );
        // Off-grid points go into their slot; points outside the series are ignored.
        let s = series(
            0.0,
            120_000.0,
            60,
            json!([[-5000, 9.0], [61000, 2.0], [119999, 3.0], [130000, 9.0]]),
        );
        assert!(same(&grid(&s).unwrap(), &[nan, 3.0, nan]), "{:?}", grid(&s));
        // An empty or short pointlist is no error.
        assert!(same(
            &grid(&series(0.0, 60_000.0, 60, json!([]))).unwrap(),
            &[nan, nan]
        ));
        assert!(
            grid(&series(0.0, 60_000.0, 0, json!([])))
                .unwrap_err()
                .contains("no time grid")
        );
        assert!(
            grid(&series(0.0, 1e13, 1, json!([])))
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn series_are_tagged_by_their_group() {
        let parse = |answer: serde_json::Value| -> Vec<BTreeMap<String, String>> {
            let answer: QueryResponse = serde_json::from_value(answer).unwrap();
            group_tags(&answer.series)
        };
        let entry = |scope: &str, tag_set: Option<Vec<&str>>| {
            let mut entry =
                json!({"scope": scope, "pointlist": [], "start": 0, "end": 0, "interval": 1});
            if let Some(tag_set) = tag_set {
                entry["tag_set"] = json!(tag_set);
            }
            entry
        };
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let by_host = json!({"series": [
            entry("env:prod,host:a", Some(vec!["host:a"])),
            entry("env:prod,host:b", Some(vec!["host:b"]))
        ]});
        assert_eq!(
            parse(by_host),
            [tags(&[("host", "a")]), tags(&[("host", "b")])]
        );
        let single = json!({"series": [entry("env:prod,version:canary", Some(vec![]))]});
        assert_eq!(parse(single), [tags(&[])]);
        let without_tag_set =
            json!({"series": [entry("env:prod, host:a", None), entry("env:prod,host:b", None)]});
        assert_eq!(
            parse(without_tag_set),
            [tags(&[("host", "a")]), tags(&[("host", "b")])]
        );
        let single_without_tag_set = json!({"series": [entry("env:prod,version:canary", None)]});
        assert_eq!(parse(single_without_tag_set), [tags(&[])]);
        let bare = json!({"series": [entry("*", Some(vec!["production"]))]});
        assert_eq!(parse(bare), [tags(&[("production", "")])]);
    }

    #[test]
    fn keys_come_from_the_environment_and_never_show() {
        let account = DatadogAccount {
            keys: DatadogKeys::Env {
                api_key_var: "COALMINE_TEST_UNSET_API_KEY".into(),
                app_key_var: "COALMINE_TEST_UNSET_APP_KEY".into(),
            },
            ..DatadogAccount::new("dd", "https://api.datadoghq.eu")
        };
        assert_eq!(
            DatadogSource::new(account).err().unwrap().to_string(),
            "Datadog account 'dd': the environment variable COALMINE_TEST_UNSET_API_KEY is not \
             set; it must hold the account's API key"
        );
        let keys = DatadogKeys::Given {
            api_key: Secret::new("api-1"),
            app_key: Secret::new("app-1"),
        };
        let account = DatadogAccount {
            keys,
            ..DatadogAccount::new("dd", "https://api.datadoghq.eu/prefix/")
        };
        let shown = format!("{account:?}");
        assert!(
            !shown.contains("api-1") && !shown.contains("app-1"),
            "{shown}"
        );
        let source = DatadogSource::new(account).unwrap();
        assert_eq!(
            source.query_url.as_str(),
            "https://api.datadoghq.eu/prefix/api/v1/query"
        );
        let error = DatadogSource::new(DatadogAccount::new("dd", "https://k:s@api.datadoghq.com"))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("must not hold credentials"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn accepted_values_are_unchanged_and_never_open_or_close_anything(
            value in prop_oneof![any::<String>(), "[a-z0-9_.:/,!*{}() -]{0,12}"],
            prefix in "[a-z:.{}, ]{0,8}",
        ) {
            let mut lexer = DatadogLexer::default();
            lexer.read(&prefix);
            if let Ok(embedded) = lexer.embed(&value) {
                prop_assert_eq!(embedded.as_ref(), value.as_str());
                let mut after = lexer;
                after.read(&embedded);
                prop_assert_eq!(after.depth, lexer.depth);
                // Nothing that ends a filter, starts a function or another query, or does arithmetic.
                let structure = "{}()[] +\"'\n;";
                prop_assert!(!value.contains(|c: char| structure.contains(c)), "{:?}", value);
                if lexer.depth == 0 {
                    prop_assert!(value.chars().all(|c| c.is_alphanumeric() || "_.:".contains(c)));
                }
            }
        }
    }
}
