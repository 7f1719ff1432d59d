//! New Relic Insights: Kayenta's NRQL building (`NewRelicQueryBuilderService`), `GET
//! /v1/accounts/<account id>/query?nrql=` with the query key only in the `X-Query-Key` header, and Kayenta's
//! reading of the `TIMESERIES` buckets (`NewRelicTimeSeries`): the first value of each bucket's first result,
//! NaN for a bucket with no events.
//!
//! Differences from Kayenta, all about values it inserted unescaped: the scope, location and extended params
//! go into `'…'` literals escaped ([`nrql::string`]), attribute names are backticked when they are not plain
//! identifiers, template values are checked where they land ([`NrqlLexer`]), and with a location key but no
//! location the location clause is left out (Kayenta writes `LIKE 'null'`, which matches nothing). A `FACET`
//! query, which answers no `timeSeries`, is a clear error (Kayenta fails with a null pointer).

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use reqwest::header::HeaderName;
use serde::Deserialize;

use super::http::{AccountBounds, AttemptError, Points, invalid, parse_bounded, redact_url_text};
use super::keyed::{Keyed, SecretSource};
use super::nrql::{self, NrqlLexer};
use super::template::{Expansion, TemplateFields, bindings, rejected};
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// New Relic Insights' API, Kayenta's default.
pub const NEWRELIC_DEFAULT_URL: &str = "https://insights-api.newrelic.com";

/// A New Relic account. `Debug` never shows the key.
#[derive(Clone)]
pub struct NewRelicAccount {
    pub name: String,
    /// The Insights API, e.g. `https://insights-api.newrelic.com` or `https://insights-api.eu.newrelic.com`.
    pub url: String,
    /// The New Relic account id (Kayenta's `applicationKey`), a path segment of the query URL.
    pub account_id: String,
    /// The Insights query key (Kayenta's `apiKey`), sent as `X-Query-Key`.
    pub api_key: SecretSource,
    /// The attribute compared with the scope when the request's `_scope_key` is absent.
    pub default_scope_key: Option<String>,
    /// The attribute compared with the location when the request's `_location_key` is absent.
    pub default_location_key: Option<String>,
    pub bounds: AccountBounds,
}

impl NewRelicAccount {
    /// An account at Kayenta's default URL whose key is read from `NEWRELIC_API_KEY`.
    pub fn new(name: impl Into<String>, account_id: impl Into<String>) -> NewRelicAccount {
        NewRelicAccount {
            name: name.into(),
            url: NEWRELIC_DEFAULT_URL.to_string(),
            account_id: account_id.into(),
            api_key: SecretSource::Env("NEWRELIC_API_KEY".to_string()),
            default_scope_key: None,
            default_location_key: None,
            bounds: AccountBounds::default(),
        }
    }
}

impl fmt::Debug for NewRelicAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("NewRelicAccount")
            .field("name", &self.name)
            .field("url", &redact_url_text(&self.url))
            .field("account_id", &self.account_id)
            .field("api_key", &self.api_key)
            .field("default_scope_key", &self.default_scope_key)
            .field("default_location_key", &self.default_location_key)
            .field("bounds", &self.bounds)
            .finish()
    }
}

/// Queries one New Relic account.
pub struct NewRelicSource {
    keyed: Keyed,
    query_url: reqwest::Url,
    default_scope_key: Option<String>,
    default_location_key: Option<String>,
}

impl NewRelicSource {
    /// Reads the account's key and prepares its HTTP client.
    pub fn new(account: NewRelicAccount) -> Result<NewRelicSource, SourceError> {
        let store = "New Relic";
        if account.account_id.is_empty()
            || !account
                .account_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(
                store,
                &account.name,
                format!(
                    "application_key must be the New Relic account id (digits), not {:?}",
                    account.account_id
                ),
            ));
        }
        let key = account
            .api_key
            .read(store, &account.name, "Insights query key")?;
        let keyed = Keyed::new(
            store,
            &account.name,
            &account.url,
            NEWRELIC_DEFAULT_URL,
            vec![(HeaderName::from_static("x-query-key"), key)],
            account.bounds,
        )?;
        let query_url = keyed.url(&format!("/v1/accounts/{}/query", account.account_id));
        Ok(NewRelicSource {
            keyed,
            query_url,
            default_scope_key: account.default_scope_key,
            default_location_key: account.default_location_key,
        })
    }

    /// One attempt at the query.
    async fn query(&self, nrql: &str) -> Result<Answer, AttemptError> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut().append_pair("nrql", nrql);
        let body = self.keyed.endpoint.send(self.keyed.client.get(url)).await?;
        parse_bounded(&body, self.keyed.endpoint.max_points)
    }
}

/// A metric's New Relic query config (`NewRelicCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewRelicQuery {
    /// `SELECT count(*) FROM Transaction`, or without the `SELECT`.
    #[serde(default)]
    select: Option<String>,
    /// A condition put first after `WHERE`.
    #[serde(default)]
    q: Option<String>,
    #[serde(flatten)]
    templates: TemplateFields,
}

/// The answer of the query API to a `TIMESERIES` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    time_series: Option<Points<Bucket>>,
    #[serde(default)]
    facets: Option<serde_json::Value>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    #[serde(default)]
    results: Vec<serde_json::Value>,
    begin_time_seconds: i64,
    #[serde(default)]
    inspected_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    begin_time_millis: Option<i64>,
    end_time_millis: Option<i64>,
}

/// The scope's reserved keys.
const SCOPE_KEY: &str = "_scope_key";
const LOCATION_KEY: &str = "_location_key";

impl MetricSource for NewRelicSource {
    fn kind(&self) -> &'static str {
        "newrelic"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: NewRelicQuery = query_config(metric, self.kind(), "New Relic")?;
        let start = scope.start.as_second();
        let end = scope.end.as_second();
        let step = scope.step.as_secs();
        if let Some(template) = config.templates.select(name, templates)? {
            let mut extended = scope.extended_params.clone();
            extended.insert("startEpochSeconds".into(), start.to_string());
            extended.insert("endEpochSeconds".into(), end.to_string());
            let step_text = step.to_string();
            let bindings = bindings(
                [
                    ("scope", Some(scope.scope.as_str())),
                    ("location", Some(scope.location.as_str())),
                    ("step", Some(step_text.as_str())),
                ],
                &extended,
            );
            let expansion = Expansion::new(name, &template, &bindings)?;
            if !expansion.text().is_empty() {
                return expansion.render(name, NrqlLexer::default());
            }
        }
        let Some(select) = config.select.filter(|select| !select.trim().is_empty()) else {
            return Err(SourceError::config(
                name,
                "the New Relic query needs a select (e.g. \"SELECT count(*) FROM Transaction\") or a \
                 customInlineTemplate",
            ));
        };
        let reserved = |key: &str| scope.extended_params.get(key).filter(|v| !v.is_empty());
        let Some(scope_key) = reserved(SCOPE_KEY).or(self.default_scope_key.as_ref()) else {
            return Err(SourceError::config(
                name,
                "The NewRelic account must define a default scope key or it must be supplied in the \
                 extendedScopeParams in the `_scope_key` key",
            ));
        };
        let location_key = reserved(LOCATION_KEY).or(self.default_location_key.as_ref());
        let attribute = |variable: &str, key: &str| -> Result<String, SourceError> {
            nrql::attribute(key)
                .map(|written| written.into_owned())
                .map_err(|reason| rejected(name, variable, key, &reason, None))
        };

        let mut query = if select.starts_with("SELECT") {
            select.clone()
        } else {
            format!("SELECT {}", select.trim())
        };
        match step {
            0 => query.push_str(" TIMESERIES MAX"),
            step => query.push_str(&format!(" TIMESERIES {step} seconds")),
        }
        query.push_str(&format!(" SINCE {start} UNTIL {end} WHERE "));
        if let Some(q) = config.q.filter(|q| !q.is_empty()) {
            query.push_str(&format!("{q} AND "));
        }
        for (key, value) in &scope.extended_params {
            if key.starts_with('_') {
                continue;
            }
            let key = attribute(key, key)?;
            query.push_str(&format!("{key} LIKE {} AND ", nrql::string(value)));
        }
        let key = attribute(SCOPE_KEY, scope_key)?;
        query.push_str(&format!("{key} LIKE {}", nrql::string(&scope.scope)));
        if let Some(location_key) = location_key
            && !scope.location.is_empty()
        {
            let key = attribute(LOCATION_KEY, location_key)?;
            query.push_str(&format!(
                " AND {key} LIKE {}",
                nrql::string(&scope.location)
            ));
        }
        Ok(query)
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        Box::pin(async move {
            let endpoint = &self.keyed.endpoint;
            let answer = endpoint.run(metric, query, || self.query(query)).await?;
            let bad = |reason: String| endpoint.bad_response(metric, query, reason);
            let Some(Points(buckets)) = answer.time_series else {
                return Err(bad(match answer.facets {
                    Some(_) => "it answered facets: FACET queries are not supported; query one \
                                series per metric (TIMESERIES without FACET)"
                        .to_string(),
                    None => "it answered no timeSeries; the query must be a TIMESERIES query"
                        .to_string(),
                }));
            };
            let values = buckets
                .iter()
                .map(bucket_value)
                .collect::<Result<Vec<f64>, String>>()
                .map_err(bad)?;
            let step_seconds = match scope.step.as_secs() {
                0 => {
                    let first = buckets.first().map(|b| b.begin_time_seconds);
                    buckets
                        .iter()
                        .map(|b| b.begin_time_seconds)
                        .find(|begin| Some(*begin) != first)
                        .zip(first)
                        .map_or(0, |(second, first)| second - first)
                }
                step => step as i64,
            };
            let metadata = answer.metadata.as_ref();
            Ok(vec![MetricSet {
                name: metric.to_string(),
                tags: BTreeMap::new(),
                start_millis: metadata
                    .and_then(|m| m.begin_time_millis)
                    .unwrap_or(scope.start.as_millisecond()),
                end_millis: metadata
                    .and_then(|m| m.end_time_millis)
                    .unwrap_or(scope.end.as_millisecond()),
                step_millis: step_seconds * 1000,
                values,
                query: query.to_string(),
            }])
        })
    }
}

/// A bucket's value: the first value of its first result (that value's first value when it is an object, as
/// `percentile()` answers); NaN for a bucket that inspected no events or holds null.
fn bucket_value(bucket: &Bucket) -> Result<f64, String> {
    if bucket.inspected_count == Some(0) {
        return Ok(f64::NAN);
    }
    let first = |value: &serde_json::Value| -> Option<serde_json::Value> {
        value
            .as_object()
            .and_then(|fields| fields.values().next().cloned())
    };
    let Some(mut value) = bucket.results.first().and_then(first) else {
        return Ok(f64::NAN);
    };
    if value.is_object() {
        value = first(&value).unwrap_or(serde_json::Value::Null);
    }
    match value {
        serde_json::Value::Null => Ok(f64::NAN),
        serde_json::Value::Number(number) => Ok(number.as_f64().unwrap_or(f64::NAN)),
        other => Err(format!(
            "a bucket's result is {other}, not a number; select a function that answers one number \
             (e.g. average(duration), count(*), percentile(duration, 95))"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn source(scope_key: Option<&str>, location_key: Option<&str>) -> NewRelicSource {
        NewRelicSource::new(NewRelicAccount {
            api_key: SecretSource::Given(super::super::Secret::new("k")),
            default_scope_key: scope_key.map(str::to_string),
            default_location_key: location_key.map(str::to_string),
            ..NewRelicAccount::new("nr", "1234567")
        })
        .unwrap()
    }

    /// Kayenta's test scope: 2019-08-01T00:00:00Z plus an hour, step 60.
    fn scope(extended: &[(&str, &str)], step: u64) -> Scope {
        Scope {
            scope: "myservice-prod-v01".into(),
            location: "us-west-2".into(),
            extended_params: extended
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start: "2019-08-01T00:00:00Z".parse().unwrap(),
            end: "2019-08-01T01:00:00Z".parse().unwrap(),
            step: Duration::from_secs(step),
        }
    }

    fn build(
        source: &NewRelicSource,
        query: serde_json::Value,
        scope: &Scope,
    ) -> Result<String, String> {
        let metric = MetricConfig {
            name: "m".into(),
            query,
            ..MetricConfig::default()
        };
        source
            .build_query(&metric, &BTreeMap::new(), scope)
            .map_err(|e| e.to_string())
    }

    /// The expected strings are those of Kayenta's `NewRelicQueryBuilderServiceSpec`.
    #[test]
    fn queries_are_built_as_kayentas_tests_expect() {
        let nr = source(Some("asg_name"), Some("region"));
        let head = "TIMESERIES 60 seconds SINCE 1564617600 UNTIL 1564621200 WHERE";
        assert_eq!(
            build(
                &nr,
                json!({"type": "newrelic", "select": "count(*) FROM Transaction"}),
                &scope(&[], 60)
            )
            .unwrap(),
            format!(
                "SELECT count(*) FROM Transaction {head} asg_name LIKE 'myservice-prod-v01' AND region LIKE 'us-west-2'"
            )
        );
        assert_eq!(
            build(&nr, json!({"select": "SELECT count(*) FROM Transaction", "q": "httpStatusCode LIKE '5%'"}), &scope(&[], 60)).unwrap(),
            format!("SELECT count(*) FROM Transaction {head} httpStatusCode LIKE '5%' AND asg_name LIKE 'myservice-prod-v01' AND region LIKE 'us-west-2'")
        );
        assert!(
            build(
                &nr,
                json!({"select": "count(*) FROM Transaction"}),
                &scope(&[], 0)
            )
            .unwrap()
            .contains(" TIMESERIES MAX SINCE 1564617600 UNTIL 1564621200 WHERE ")
        );
        let extended = [
            ("_scope_key", "foo"),
            ("_location_key", "bar"),
            ("_i_should_be_ignored", "x"),
            ("some_new_key", "some_value"),
        ];
        assert_eq!(
            build(
                &nr,
                json!({"select": "count(*) FROM Transaction"}),
                &scope(&extended, 60)
            )
            .unwrap(),
            format!(
                "SELECT count(*) FROM Transaction {head} some_new_key LIKE 'some_value' AND foo LIKE 'myservice-prod-v01' AND bar LIKE 'us-west-2'"
            )
        );
        let template = "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE ${startEpochSeconds} UNTIL ${endEpochSeconds} WHERE httpStatusCode LIKE '5%' AND autoScalingGroupName LIKE '${scope}' AND region LIKE '${location}'";
        assert_eq!(
            build(
                &source(None, None),
                json!({"customInlineTemplate": template}),
                &scope(&[], 60)
            )
            .unwrap(),
            format!(
                "SELECT count(*) FROM Transaction {head} httpStatusCode LIKE '5%' AND autoScalingGroupName LIKE 'myservice-prod-v01' AND region LIKE 'us-west-2'"
            )
        );
    }

    #[test]
    fn values_stay_inside_their_literals() {
        let nr = source(Some("asg_name"), None);
        let mut evil = scope(&[("app", "a' OR appName LIKE '%")], 60);
        evil.scope = "x' OR 1=1 --".into();
        assert_eq!(
            build(&nr, json!({"select": "count(*) FROM Transaction"}), &evil).unwrap(),
            "SELECT count(*) FROM Transaction TIMESERIES 60 seconds SINCE 1564617600 UNTIL 1564621200 \
             WHERE app LIKE 'a\\' OR appName LIKE \\'%' AND asg_name LIKE 'x\\' OR 1=1 --'"
        );
        let error = build(
            &nr,
            json!({"customInlineTemplate": "SELECT count(*) FROM T SINCE ${scope}"}),
            &evil,
        )
        .unwrap_err();
        assert!(error.contains("the value of ${scope}"), "{error}");
        assert!(error.contains("outside a string literal"), "{error}");
        let dashed = scope(&[("k8s-cluster", "prod")], 60);
        assert!(
            build(&nr, json!({"select": "count(*) FROM T"}), &dashed)
                .unwrap()
                .contains("WHERE `k8s-cluster` LIKE 'prod' AND asg_name")
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let error = build(
            &source(None, None),
            json!({"select": "count(*) FROM T"}),
            &scope(&[], 60),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "metric 'm': The NewRelic account must define a default scope key or it must be supplied \
             in the extendedScopeParams in the `_scope_key` key"
        );
        let error = build(&source(Some("a"), None), json!({}), &scope(&[], 60)).unwrap_err();
        assert!(error.contains("needs a select"), "{error}");
        let no_location = Scope {
            location: String::new(),
            ..scope(&[], 60)
        };
        assert!(
            build(
                &source(Some("a"), Some("region")),
                json!({"select": "count(*) FROM T"}),
                &no_location
            )
            .unwrap()
            .ends_with("WHERE a LIKE 'myservice-prod-v01'")
        );
    }

    #[test]
    fn buckets_give_their_first_value_or_nan() {
        let bucket =
            |value: serde_json::Value| -> Bucket { serde_json::from_value(value).unwrap() };
        let value = |b: serde_json::Value| bucket_value(&bucket(b));
        assert_eq!(
            value(json!({"results": [{"count": 12}], "beginTimeSeconds": 0, "inspectedCount": 12}))
                .unwrap(),
            12.0
        );
        assert!(
            value(json!({"results": [{"count": 0}], "beginTimeSeconds": 0, "inspectedCount": 0}))
                .unwrap()
                .is_nan()
        );
        assert!(
            value(
                json!({"results": [{"average": null}], "beginTimeSeconds": 0, "inspectedCount": 3})
            )
            .unwrap()
            .is_nan()
        );
        assert_eq!(value(json!({"results": [{"percentiles": {"95": 12.3}}], "beginTimeSeconds": 0, "inspectedCount": 3})).unwrap(), 12.3);
        assert!(
            value(
                json!({"results": [{"latest": "x"}], "beginTimeSeconds": 0, "inspectedCount": 3})
            )
            .is_err()
        );
    }
}
