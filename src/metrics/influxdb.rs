//! InfluxDB 1.x: Kayenta's query building (`InfluxDbQueryBuilder`, in [`influxql`](super::influxql)),
//! `GET /query?db=&q=` and Kayenta's reading of the answer (`InfluxDbResponseConverter`): one metric set per
//! field column, tagged `{field: <column>}`, starting at the first row's time, `step` the time between the
//! first two rows.
//!
//! Differences from Kayenta, each a Kayenta bug or gap:
//!
//! - `null` cells are NaN in their place (Kayenta drops them, moving later values to earlier slots);
//! - a single row is a one-value set with the scope's step (Kayenta fails on it);
//! - every series of the answer is read (`GROUP BY <tag>`), each tagged with its group tags besides `field`
//!   (Kayenta keeps only the first series);
//! - the database is the account's `database` when set, else the metric's name as in Kayenta, and an account
//!   may have a user and password, sent only as an `Authorization: Basic` header (Kayenta has no auth);
//! - an error InfluxDB reports inside a `200` answer (`results[0].error`, e.g. `database not found`) is an
//!   error naming the metric and the database (Kayenta takes it for "no data");
//! - the scope is quoted so that it cannot change the query ([`influxql`](super::influxql)).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::http::{
    self, AccountBounds, AttemptError, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_POINTS,
    DEFAULT_TIMEOUT, Endpoint, Points, RetryPolicy, Secret, http_url, invalid, join, parse_bounded,
    redact_url_text,
};
use super::influxql;
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// An InfluxDB 1.x server. `Debug` never shows the password.
#[derive(Clone)]
pub struct InfluxDbAccount {
    pub name: String,
    /// The base URL, e.g. `http://influxdb:8086` (a path prefix is kept).
    pub url: String,
    /// The database queried; `None` for Kayenta's rule, the metric's name.
    pub database: Option<String>,
    /// A user and password (HTTP basic authentication), when the server has authentication enabled.
    pub credentials: Option<(String, Secret)>,
    /// How long one query may take, retries included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// The most queries in flight at once; the others wait.
    pub max_concurrent_queries: usize,
    /// The most points one series may have.
    pub max_points: usize,
}

impl InfluxDbAccount {
    /// An account without a database or credentials, a 30 s timeout and the default retries.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> InfluxDbAccount {
        InfluxDbAccount {
            name: name.into(),
            url: url.into(),
            database: None,
            credentials: None,
            timeout: DEFAULT_TIMEOUT,
            retries: RetryPolicy::default(),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

impl fmt::Debug for InfluxDbAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("InfluxDbAccount")
            .field("name", &self.name)
            .field("url", &redact_url_text(&self.url))
            .field("database", &self.database)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, password)| (user, password)),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("max_points", &self.max_points)
            .finish()
    }
}

/// Queries one InfluxDB account.
pub struct InfluxDbSource {
    client: reqwest::Client,
    /// `<base>/query`.
    query_url: reqwest::Url,
    database: Option<String>,
    endpoint: Endpoint,
}

impl InfluxDbSource {
    /// Checks the account's URL and prepares its HTTP client.
    pub fn new(account: InfluxDbAccount) -> Result<InfluxDbSource, SourceError> {
        let invalid = |problem: String| invalid("InfluxDB", &account.name, problem);
        let base = http_url(&account.url).ok_or_else(|| {
            invalid("the URL is not an http(s) URL; expected e.g. http://influxdb:8086".into())
        })?;
        if !base.username().is_empty() || base.password().is_some() || base.query().is_some() {
            return Err(invalid(
                "the URL must hold neither credentials nor a query; give username and \
                 password_env"
                    .into(),
            ));
        }
        if account.database.as_deref() == Some("") {
            return Err(invalid("database must not be empty".into()));
        }
        let query_url = join(&base, "/query");

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut secrets = Vec::new();
        if let Some((username, password)) = &account.credentials {
            let basic = http::basic_credentials(username, password);
            let mut value = HeaderValue::from_str(&format!("Basic {}", basic.expose()))
                .map_err(|_| invalid("the user name holds characters a header cannot".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            secrets.extend([password.clone(), basic]);
        }
        let bounds = AccountBounds {
            timeout: account.timeout,
            retries: account.retries,
            max_concurrent_queries: account.max_concurrent_queries,
            max_points: account.max_points,
        };
        let (client, endpoint) =
            Endpoint::account("InfluxDB", &base, bounds, headers, secrets).map_err(invalid)?;
        Ok(InfluxDbSource {
            client,
            query_url,
            database: account.database,
            endpoint,
        })
    }

    /// The database a metric's queries go to: the account's, else the metric's name (Kayenta).
    fn database<'a>(&'a self, metric: &'a str) -> &'a str {
        self.database.as_deref().unwrap_or(metric)
    }

    /// One attempt at the query: its first statement's series, or the error InfluxDB reported for it.
    async fn query(
        &self,
        database: &str,
        query: &str,
    ) -> Result<Result<Vec<Series>, String>, AttemptError> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut()
            .append_pair("db", database)
            .append_pair("q", query);
        let body = self.endpoint.send(self.client.get(url)).await?;
        let answer: Answer = parse_bounded(&body, self.endpoint.max_points)?;
        if let Some(error) = answer.error {
            return Ok(Err(error));
        }
        // Kayenta: `results` must not be empty; only the first statement counts.
        let Some(result) = answer.results.into_iter().next() else {
            return Err(AttemptError::Unreadable(
                "Unexpected response from influxDb (no results)".into(),
            ));
        };
        match result.error {
            Some(error) => Ok(Err(error)),
            None => Ok(Ok(result.series)),
        }
    }
}

/// A metric's InfluxDB query config (`InfluxdbCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InfluxDbQuery {
    /// The measurement.
    #[serde(default)]
    metric_name: Option<String>,
    /// The fields selected; `*::field` when empty.
    #[serde(default)]
    fields: Option<Vec<String>>,
    /// A whole InfluxQL statement with `${timeFilter}`, `${scope}` and `${step}`.
    #[serde(default)]
    custom_inline_template: Option<String>,
}

/// The answer of `/query`.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
}

/// One series: rows of `columns`, the first being `time` (RFC 3339, as no `epoch` is asked).
#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    columns: Vec<String>,
    #[serde(default)]
    values: Option<Points<Vec<serde_json::Value>>>,
}

impl MetricSource for InfluxDbSource {
    fn kind(&self) -> &'static str {
        "influxdb"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        _templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: InfluxDbQuery = query_config(metric, self.kind(), "InfluxDB")?;
        let time_filter = influxql::time_filter(scope.start, scope.end);
        let scope_filter = match scope.scope.is_empty() {
            true => None,
            false => Some(
                influxql::scope_filter(&scope.scope)
                    .map_err(|message| SourceError::config(name, message))?,
            ),
        };
        if let Some(template) = config
            .custom_inline_template
            .filter(|template| !template.is_empty())
        {
            let step = format!("{}s", scope.step.as_secs());
            return influxql::expand_template(
                &template,
                &time_filter,
                scope_filter.as_deref(),
                &step,
            )
            .map_err(|message| SourceError::config(name, message));
        }
        let Some(measurement) = config
            .metric_name
            .filter(|measurement| !measurement.is_empty())
        else {
            return Err(SourceError::config(
                name,
                "Measurement is required to query metrics (set metricName, or a \
                 customInlineTemplate)",
            ));
        };
        let query = influxql::select(
            &measurement,
            &config.fields.unwrap_or_default(),
            &time_filter,
            scope_filter.as_deref(),
        );
        influxql::check_allowed(&query).map_err(|message| SourceError::config(name, message))?;
        Ok(query)
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        Box::pin(async move {
            let database = self.database(metric);
            let series = self
                .endpoint
                .run(metric, query, || self.query(database, query))
                .await?
                .map_err(|error| {
                    SourceError::config(
                        metric,
                        format!(
                            "InfluxDB at {} refused the query in database '{database}': {}. Check \
                             the database (the account's `database`, else the metric's name) and \
                             the query. Query: {query}",
                            self.endpoint.url,
                            self.endpoint.scrub(&http::excerpt(&error))
                        ),
                    )
                })?;
            let step_millis = scope.step_millis();
            let mut sets = Vec::new();
            for series in &series {
                sets.extend(
                    metric_sets(metric, query, series, step_millis)
                        .map_err(|reason| self.endpoint.bad_response(metric, query, reason))?,
                );
            }
            if sets.is_empty() {
                // Kayenta's placeholder: the scope's window and step, no values.
                return Ok(vec![MetricSet::placeholder(
                    metric,
                    query,
                    scope,
                    step_millis,
                )]);
            }
            Ok(sets)
        })
    }
}

/// A series' sets, one per column after `time`: values in row order with `null` as NaN, starting at the
/// first row's time, `step` the time between the first two rows (the scope's for a single row).
fn metric_sets(
    metric: &str,
    query: &str,
    series: &Series,
    scope_step_millis: i64,
) -> Result<Vec<MetricSet>, String> {
    let rows = series.values.as_ref().map_or(&[][..], |rows| &rows.0[..]);
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    if series.columns.first().map(String::as_str) != Some("time") {
        return Err(format!(
            "the first column of a series is {:?}, not time",
            series.columns.first()
        ));
    }
    let time = |row: &[serde_json::Value]| -> Result<i64, String> {
        let text = row
            .first()
            .and_then(|time| time.as_str())
            .unwrap_or_default();
        text.parse::<jiff::Timestamp>()
            .map(|time| time.as_millisecond())
            .map_err(|_| format!("a row's time {:?} is not an RFC 3339 time", row.first()))
    };
    let start = time(first)?;
    let step = match rows.get(1) {
        Some(second) => time(second)? - start,
        None => scope_step_millis,
    };
    let step = if step > 0 { step } else { scope_step_millis };
    let mut sets = Vec::with_capacity(series.columns.len() - 1);
    for (index, column) in series.columns.iter().enumerate().skip(1) {
        let values = rows
            .iter()
            .map(|row| match row.get(index) {
                None | Some(serde_json::Value::Null) => Ok(f64::NAN),
                Some(serde_json::Value::Number(number)) => Ok(number.as_f64().unwrap_or(f64::NAN)),
                Some(other) => Err(format!(
                    "the column {column:?} holds {other}, not a number; select numeric fields only"
                )),
            })
            .collect::<Result<Vec<f64>, String>>()?;
        let mut tags = series.tags.clone();
        tags.insert("field".to_string(), column.clone());
        sets.push(MetricSet {
            name: metric.to_string(),
            tags,
            start_millis: start,
            end_millis: start.saturating_add(step.saturating_mul(values.len() as i64)),
            step_millis: step,
            values,
            query: query.to_string(),
        });
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> InfluxDbSource {
        InfluxDbSource::new(InfluxDbAccount::new("influx", "http://influxdb:8086/")).unwrap()
    }

    fn scope(scope: &str) -> Scope {
        Scope {
            scope: scope.into(),
            location: "us-east-1".into(),
            extended_params: BTreeMap::new(),
            start: "2010-01-01T12:00:00Z".parse().unwrap(),
            end: "2010-01-01T12:01:40Z".parse().unwrap(),
            step: Duration::from_secs(60),
        }
    }

    fn build(query: serde_json::Value, scope: &Scope) -> Result<String, String> {
        let metric = MetricConfig {
            name: "telegraf".into(),
            query,
            ..MetricConfig::default()
        };
        source()
            .build_query(&metric, &BTreeMap::new(), scope)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn queries_are_built_from_kayentas_query_config() {
        assert_eq!(
            build(
                json!({"type": "influxdb", "metricName": "temperature", "fields": ["external", "internal"]}),
                &scope("server:myapp-prod-v002")
            )
            .unwrap(),
            "SELECT external, internal FROM temperature WHERE time >= '2010-01-01T12:00:00Z' AND \
             time < '2010-01-01T12:01:40Z' AND server = 'myapp-prod-v002'"
        );
        assert_eq!(
            build(json!({"metricName": "temperature"}), &scope("")).unwrap(),
            "SELECT *::field FROM temperature WHERE time >= '2010-01-01T12:00:00Z' AND time < \
             '2010-01-01T12:01:40Z'"
        );
        assert_eq!(
            build(
                json!({"customInlineTemplate": "SELECT mean(usage) FROM cpu WHERE ${timeFilter} AND ${scope} GROUP BY time(${step})"}),
                &scope("host:web-1")
            )
            .unwrap(),
            "SELECT mean(usage) FROM cpu WHERE time >= '2010-01-01T12:00:00Z' AND time < \
             '2010-01-01T12:01:40Z' AND host = 'web-1' GROUP BY time(60s)"
        );
        assert_eq!(
            build(json!({"fields": ["x"]}), &scope("a:b")).unwrap_err(),
            "metric 'telegraf': Measurement is required to query metrics (set metricName, or a \
             customInlineTemplate)"
        );
        assert!(
            build(json!({"metricName": "m"}), &scope("server"))
                .unwrap_err()
                .contains("Scope expected in the format of 'name:value'")
        );
        assert!(
            build(
                json!({"type": "graphite", "metricName": "m"}),
                &scope("a:b")
            )
            .unwrap_err()
            .contains("its query is of type \"graphite\", but the metrics account is a InfluxDB")
        );
    }

    fn sets(series: serde_json::Value) -> Result<Vec<MetricSet>, String> {
        let series: Series = serde_json::from_value(series).unwrap();
        metric_sets("m", "q", &series, 60_000)
    }

    /// Kayenta's `InfluxDbResponseConverterTest`, and the fixed bugs.
    #[test]
    fn answers_are_read_as_kayenta_reads_them_without_its_bugs() {
        let answer = sets(json!({
            "name": "temperature",
            "columns": ["time", "external", "internal"],
            "values": [
                ["2018-05-27T04:50:44.105612486Z", 25, 37],
                ["2018-05-27T04:51:44.105612486Z", 25, 37],
                ["2018-05-27T04:52:06.585796188Z", 26.0, 38]
            ]
        }))
        .unwrap();
        assert_eq!(answer.len(), 2);
        for (set, (field, values)) in answer.iter().zip([
            ("external", [25.0, 25.0, 26.0]),
            ("internal", [37.0, 37.0, 38.0]),
        ]) {
            assert_eq!(set.tags, BTreeMap::from([("field".into(), field.into())]));
            assert_eq!((set.start_millis, set.step_millis), (1527396644105, 60000));
            assert_eq!(set.values, values);
            assert_eq!(set.end_millis, 1527396644105 + 3 * 60000);
        }
        // Nulls stay in their place as NaN.
        let nulls = sets(json!({"columns": ["time", "v"], "values": [
            ["2020-01-01T00:00:00Z", 1], ["2020-01-01T00:01:00Z", null], ["2020-01-01T00:02:00Z", 3]
        ]}))
        .unwrap();
        assert_eq!(nulls[0].values[0], 1.0);
        assert!(nulls[0].values[1].is_nan());
        assert_eq!(nulls[0].values[2], 3.0);
        // A single row: one value, the scope's step.
        let single =
            sets(json!({"columns": ["time", "v"], "values": [["2020-01-01T00:00:00Z", 4.5]]}))
                .unwrap();
        assert_eq!(
            (single[0].values.clone(), single[0].step_millis),
            (vec![4.5], 60_000)
        );
        // Group tags are kept beside the field.
        let grouped = sets(
            json!({"tags": {"region": "eu"}, "columns": ["time", "mean"],
            "values": [["2020-01-01T00:00:00Z", 1]]}),
        )
        .unwrap();
        assert_eq!(
            grouped[0].tags,
            BTreeMap::from([
                ("field".into(), "mean".into()),
                ("region".into(), "eu".into())
            ])
        );
        let strings =
            sets(json!({"columns": ["time", "host"], "values": [["2020-01-01T00:00:00Z", "a"]]}))
                .unwrap_err();
        assert!(strings.contains("not a number"), "{strings}");
    }

    #[test]
    fn the_password_never_shows() {
        let account = InfluxDbAccount {
            credentials: Some(("reader".into(), Secret::new("pa55word"))),
            ..InfluxDbAccount::new("influx", "http://influxdb:8086/prefix/")
        };
        assert!(!format!("{account:?}").contains("pa55word"));
        let source = InfluxDbSource::new(account).unwrap();
        assert_eq!(
            source.query_url.as_str(),
            "http://influxdb:8086/prefix/query"
        );
        assert!(
            InfluxDbSource::new(InfluxDbAccount::new("i", "http://u:p@influxdb:8086"))
                .err()
                .unwrap()
                .to_string()
                .contains("neither credentials")
        );
    }
}
