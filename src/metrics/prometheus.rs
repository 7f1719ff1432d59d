//! Prometheus, and the stores that serve its HTTP API (Thanos, Mimir, Cortex, VictoriaMetrics): Kayenta's
//! query building (`PrometheusMetricsService.buildQuery`), range queries (`/api/v1/query_range`) through
//! `prometheus-http-query`, and Kayenta's reading of the answer (`PrometheusResponseConverter`).
//!
//! Query building, as Kayenta does it:
//!
//! - a custom template (inline, or named in the config's `templates`) whose expansion starts with `PromQL:`
//!   is the whole query;
//! - otherwise the query is `avg(<metricName>{<filters>})`, plus ` by (<groupByFields>)`, where the filters
//!   are the expanded template (if any) followed by the `labelBindings` — or, without a template, the
//!   `labelBindings` followed by the filters of the `resourceType` (`gce_instance`, `aws_ec2_instance`).
//!
//! Unlike Kayenta, the scope, location and project are escaped where they go into string literals, and
//! template values are checked where they land ([`PromqlLexer`]).
//!
//! The window is sent as `start` and `end` in whole epoch seconds (Kayenta sends ISO instants; scopes
//! rarely have sub-second times) and `step` in seconds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::http::{
    self, AccountBounds, AttemptError, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_POINTS,
    DEFAULT_TIMEOUT, Endpoint, Points, RetryPolicy, Secret, excerpt, http_url, invalid,
    parse_bounded, redact_url_text,
};
use super::promql::{PromqlLexer, escape};
use super::template::{Expansion, TemplateFields, bindings, rejected};
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// The prefix that makes a template the whole query.
const PROMQL_PREFIX: &str = "PromQL:";

const EXAMPLE_URLS: &str = "http://prometheus:9090 or https://mimir.example.com/prometheus";

/// How to authenticate to a Prometheus account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PrometheusAuth {
    #[default]
    None,
    /// HTTP basic authentication (credentials in the account URL, `https://user:pass@host`, work too).
    Basic { username: String, password: Secret },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

/// A Prometheus-compatible store. `Debug` shows neither the password nor the token, nor credentials in the
/// URL.
#[derive(Clone)]
pub struct PrometheusAccount {
    pub name: String,
    /// The base URL, possibly with a path prefix: `http://prometheus:9090`,
    /// `https://mimir.example.com/prometheus`.
    pub url: String,
    pub auth: PrometheusAuth,
    /// How long one query may take, retries included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// The label `gce_instance` queries match the scope against (Kayenta's `kayenta.prometheus.scopeLabel`).
    pub scope_label: String,
    /// The most queries in flight at once; the others wait.
    pub max_concurrent_queries: usize,
    /// The most points one series may have.
    pub max_points: usize,
}

impl PrometheusAccount {
    /// An account with no authentication, a 30 s timeout, the default retries and scope label `instance`.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> PrometheusAccount {
        PrometheusAccount {
            name: name.into(),
            url: url.into(),
            auth: PrometheusAuth::None,
            timeout: DEFAULT_TIMEOUT,
            retries: RetryPolicy::default(),
            scope_label: "instance".to_string(),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

impl fmt::Debug for PrometheusAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let url = redact_url_text(&self.url);
        f.debug_struct("PrometheusAccount")
            .field("name", &self.name)
            .field("url", &url)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("scope_label", &self.scope_label)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("max_points", &self.max_points)
            .finish()
    }
}

/// Queries one Prometheus account.
pub struct PrometheusSource {
    client: prometheus_http_query::Client,
    endpoint: Endpoint,
    scope_label: String,
}

impl PrometheusSource {
    /// Checks the account's URL and credentials and prepares its HTTP client.
    pub fn new(account: PrometheusAccount) -> Result<PrometheusSource, SourceError> {
        let invalid = |problem: String| invalid("Prometheus", &account.name, problem);
        let mut url = http_url(&account.url).ok_or_else(|| {
            invalid(format!(
                "the URL is not an http(s) URL; expected e.g. {EXAMPLE_URLS}"
            ))
        })?;
        // The client appends `api/v1/…` to the path; a trailing slash would double it.
        let path = url.path().trim_end_matches('/').to_string();
        if !path.is_empty() {
            url.set_path(&path);
        }
        let mut secrets: Vec<Secret> = url.password().map(Secret::new).into_iter().collect();
        if let Some(password) = url.password() {
            // The URL holds it percent-encoded; the header holds it decoded, in base64.
            let decoded = percent_decode(password);
            let username = percent_decode(url.username());
            secrets.push(http::basic_credentials(username.expose(), &decoded));
            secrets.push(decoded);
        }
        let mut headers = HeaderMap::new();
        let has_url_credentials = !url.username().is_empty() || url.password().is_some();
        match &account.auth {
            PrometheusAuth::None => {}
            _ if has_url_credentials => {
                return Err(invalid(
                    "has credentials both in its URL and in its auth settings; give them once"
                        .into(),
                ));
            }
            PrometheusAuth::Basic { username, password } => {
                // reqwest moves URL credentials into an `Authorization: Basic` header; they are never sent
                // in the URL.
                let set = url
                    .set_username(username)
                    .and_then(|()| url.set_password(Some(password.expose())));
                set.map_err(|()| invalid("the URL cannot carry basic auth credentials".into()))?;
                secrets.push(password.clone());
                secrets.push(http::basic_credentials(username, password));
            }
            PrometheusAuth::Bearer(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        invalid("the bearer token holds characters an HTTP header cannot".into())
                    })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                secrets.push(token.clone());
            }
        }
        let bounds = AccountBounds {
            timeout: account.timeout,
            retries: account.retries,
            max_concurrent_queries: account.max_concurrent_queries,
            max_points: account.max_points,
        };
        let (http, endpoint) =
            Endpoint::account("Prometheus", &url, bounds, headers, secrets).map_err(invalid)?;
        let client = prometheus_http_query::Client::from(http, url.as_str())
            .map_err(|error| invalid(format!("the URL is not valid: {error}")))?;
        Ok(PrometheusSource {
            client,
            endpoint,
            scope_label: account.scope_label,
        })
    }

    /// One attempt at a range query over the scope's window: its series with float samples, each read
    /// under the account's point limit.
    async fn query_range(
        &self,
        query: &str,
        scope: &Scope,
    ) -> Result<Vec<RawSeries>, AttemptError> {
        let request = self.client.query_range(
            query,
            scope.start.as_second(),
            scope.end.as_second(),
            scope.step.as_secs_f64(),
        );
        let body = self
            .endpoint
            .success_body(request.get_raw().await.map_err(transport)?)
            .await?;
        read_matrix(&body, self.endpoint.max_points)
    }

    /// One attempt at listing the metric names (`/api/v1/label/__name__/values`).
    async fn label_names(&self) -> Result<Vec<String>, AttemptError> {
        let request = self.client.label_values("__name__");
        let body = self
            .endpoint
            .success_body(request.get_raw().await.map_err(transport)?)
            .await?;
        #[derive(Deserialize)]
        struct Values {
            status: String,
            #[serde(default)]
            data: Vec<String>,
        }
        match serde_json::from_str::<Values>(&body) {
            Ok(values) if values.status == "success" => Ok(values.data),
            _ => Err(AttemptError::Unreadable(format!(
                "not a label values answer; the body starts: {}",
                excerpt(&body)
            ))),
        }
    }

    /// The filters of a `resourceType`, used when there is no custom template.
    fn resource_filters(
        &self,
        metric: &str,
        resource_type: Option<&str>,
        project: Option<&str>,
        scope: &Scope,
    ) -> Result<Vec<String>, SourceError> {
        let location = escape(&scope.location, '"');
        let require_location = |resource_type: &str| {
            if scope.location.is_empty() {
                Err(SourceError::config(
                    metric,
                    format!(
                        "Location (i.e. region) is required when resourceType is '{resource_type}'."
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let mut filters = Vec::new();
        match resource_type {
            Some(resource_type @ "gce_instance") => {
                require_location(resource_type)?;
                if !scope.scope.is_empty() {
                    filters.push(format!(
                        "{}=~\"{}-.{{4}}\"",
                        self.scope_label,
                        escape(&scope.scope, '"')
                    ));
                }
                let project = project
                    .map(|project| format!("projects/{}/", escape(project, '"')))
                    .unwrap_or_default();
                filters.push(format!("zone=~\".+/{project}zones/{location}-.{{1}}\""));
            }
            Some(resource_type @ "aws_ec2_instance") => {
                require_location(resource_type)?;
                if !scope.scope.is_empty() {
                    filters.push(format!("asg_groupName=\"{}\"", escape(&scope.scope, '"')));
                }
                filters.push(format!("zone=~\"{location}.{{1}}\""));
            }
            Some(other) => {
                return Err(SourceError::config(
                    metric,
                    format!(
                        "There is no explicit support for resourceType '{other}'. You may build \
                         whatever query makes sense for your environment via label bindings and \
                         custom filter templates."
                    ),
                ));
            }
            None => {
                return Err(SourceError::config(
                    metric,
                    "Either a resource type or a custom filter is required.",
                ));
            }
        }
        Ok(filters)
    }
}

/// A metric's Prometheus query config (`PrometheusCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusQuery {
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(default)]
    label_bindings: Option<Vec<String>>,
    #[serde(default)]
    group_by_fields: Option<Vec<String>>,
    #[serde(flatten)]
    templates: TemplateFields,
}

/// A Prometheus API answer, read as it streams in (no buffering of the whole `data`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<ResultData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a query answer: the result's type and, for a matrix, its series.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultData {
    result_type: String,
    #[serde(default)]
    result: Results,
}

/// The series of a result; the items of a scalar or string result are skipped.
#[derive(Default)]
struct Results(Vec<RawSeries>);

impl<'de> Deserialize<'de> for Results {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Item(Option<RawSeries>);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = Item;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a series or a value")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<Item, A::Error> {
                        RawSeries::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                            .map(|series| Item(Some(series)))
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
                        Ok(Item(None))
                    }
                    fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
                        Ok(Item(None))
                    }
                    fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
                        Ok(Item(None))
                    }
                    fn visit_str<E>(self, _: &str) -> Result<Item, E> {
                        Ok(Item(None))
                    }
                }
                deserializer.deserialize_any(Visitor)
            }
        }
        let items = Vec::<Item>::deserialize(deserializer)?;
        Ok(Results(
            items.into_iter().filter_map(|item| item.0).collect(),
        ))
    }
}

/// One series: its labels and float samples (`values`; absent for a native-histogram series or a vector).
#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Option<Points<Sample>>,
}

/// `[<unix seconds>, "<value>"]`.
struct Sample {
    time: f64,
    value: f64,
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Value(f64);
        impl<'de> Deserialize<'de> for Value {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = Value;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a sample value as a string, e.g. \"1.5\" or \"NaN\"")
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Value, E> {
                        text.parse()
                            .map(Value)
                            .map_err(|_| E::custom(format!("{text:?} is not a sample value")))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
        let (time, Value(value)) = <(f64, Value)>::deserialize(deserializer)?;
        Ok(Sample { time, value })
    }
}

/// The series of a range query's answer `body`, each of at most `max_points` samples.
fn read_matrix(body: &str, max_points: usize) -> Result<Vec<RawSeries>, AttemptError> {
    let answer: Answer = parse_bounded(body, max_points)?;
    match (answer.status.as_str(), answer.data) {
        ("success", Some(data)) if data.result_type == "matrix" => Ok(data.result.0),
        ("success", Some(data)) => Err(AttemptError::Unreadable(format!(
            "a {} result, where a range query gives a matrix",
            data.result_type
        ))),
        ("error", _) => Err(AttemptError::Unreadable(format!(
            "status \"error\": {}: {}",
            answer.error_type.as_deref().unwrap_or("error"),
            answer.error.as_deref().unwrap_or("(no explanation)")
        ))),
        _ => Err(AttemptError::Unreadable(format!(
            "not a query answer; the body starts: {}",
            excerpt(body)
        ))),
    }
}

impl MetricSource for PrometheusSource {
    fn kind(&self) -> &'static str {
        "prometheus"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: PrometheusQuery = query_config(metric, self.kind(), "Prometheus")?;
        let extended = |key: &str| non_empty(scope.extended_params.get(key).map(String::as_str));
        let resource_type = non_empty(config.resource_type.as_deref()).or(extended("resourceType"));

        let mut filter = None;
        if let Some(template) = config.templates.select(name, templates)? {
            let bindings = bindings(
                [
                    ("project", extended("project")),
                    ("resourceType", extended("resourceType")),
                    ("scope", Some(scope.scope.as_str())),
                    ("location", Some(scope.location.as_str())),
                    ("resourceType", config.resource_type.as_deref()),
                ],
                &scope.extended_params,
            );
            let expansion = Expansion::new(name, &template, &bindings)?;
            let text = expansion.text();
            if text.starts_with(PROMQL_PREFIX) {
                if let Some((variable, value)) = expansion.value_within(PROMQL_PREFIX.len()) {
                    let reason = "it would turn the template into a whole PromQL query; write \
                                  `PromQL:` in the template itself";
                    return Err(rejected(name, variable, value, reason, Some(&template)));
                }
                let query = expansion.render(name, PromqlLexer::default())?;
                return Ok(query[PROMQL_PREFIX.len()..].to_string());
            }
            if !text.is_empty() {
                filter = Some(expansion.render(name, PromqlLexer::default())?);
            }
        }

        let metric_name = non_empty(config.metric_name.as_deref()).ok_or_else(|| {
            SourceError::config(name, "Metric Name is required when query type is Default.")
        })?;
        let label_bindings = config.label_bindings.unwrap_or_default();
        let filters: Vec<String> = match filter {
            // Kayenta splits the filter on commas and joins it again, which only drops trailing commas.
            Some(filter) => {
                let filter = filter.trim_end_matches(',');
                (!filter.is_empty())
                    .then(|| filter.to_string())
                    .into_iter()
                    .chain(label_bindings)
                    .collect()
            }
            None => {
                let project = extended("project");
                label_bindings
                    .into_iter()
                    .chain(self.resource_filters(name, resource_type, project, scope)?)
                    .collect()
            }
        };
        let selector = match filters.as_slice() {
            [] => metric_name.to_string(),
            filters => format!("{metric_name}{{{}}}", filters.join(",")),
        };
        let group_by = config.group_by_fields.unwrap_or_default();
        Ok(match group_by.as_slice() {
            [] => format!("avg({selector})"),
            fields => format!("avg({selector}) by ({})", fields.join(",")),
        })
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
                .run(metric, query, || self.query_range(query, scope))
                .await?;
            let sets: Vec<MetricSet> = series
                .into_iter()
                .filter_map(|series| metric_set(metric, query, series))
                .collect();
            if sets.is_empty() {
                let step_millis = scope.step_millis();
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

    fn metric_names(&self) -> BoxFuture<'_, Result<Vec<String>, SourceError>> {
        Box::pin(async move {
            self.endpoint
                .run("metric names", "label __name__", || self.label_names())
                .await
        })
    }
}

/// A request that got no HTTP answer.
fn transport(error: prometheus_http_query::Error) -> AttemptError {
    match &error {
        prometheus_http_query::Error::Client(client) => client.inner().map_or_else(
            || AttemptError::Transport(client.to_string()),
            AttemptError::transport,
        ),
        _ => AttemptError::Transport(error.to_string()),
    }
}

/// A URL component decoded.
fn percent_decode(text: &str) -> Secret {
    let bytes: Vec<u8> =
        form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, value)| value.into_owned().into_bytes())
            .unwrap_or_default();
    Secret::new(String::from_utf8_lossy(&bytes).into_owned())
}

/// `value` unless it is empty.
fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

/// One series of a range query as Kayenta reads it: tags are the labels but `__name__`; the values start at
/// the first sample and are spaced by the first two samples' distance, with gaps left out (not filled).
/// A series without float samples (native histograms only) gives nothing.
fn metric_set(metric: &str, query: &str, series: RawSeries) -> Option<MetricSet> {
    let samples = series.values?.0;
    let millis = |index: usize| {
        samples
            .get(index)
            .map(|sample| (sample.time * 1000.0).round() as i64)
    };
    let start = millis(0)?;
    let step = millis(1).map_or(0, |second| second - start);
    Some(MetricSet {
        name: metric.to_string(),
        tags: series
            .metric
            .into_iter()
            .filter(|(label, _)| label != "__name__")
            .collect(),
        start_millis: start,
        end_millis: start + samples.len() as i64 * step,
        step_millis: step,
        values: samples.iter().map(|sample| sample.value).collect(),
        query: query.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> PrometheusSource {
        PrometheusSource::new(PrometheusAccount::new("prom", "http://127.0.0.1:9")).unwrap()
    }

    fn scope(extended: &[(&str, &str)]) -> Scope {
        Scope {
            scope: "myapp-canary".into(),
            location: "us-east-1".into(),
            extended_params: extended
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            end: "2024-01-01T01:00:00Z".parse().unwrap(),
            step: Duration::from_secs(60),
        }
    }

    fn build(query: serde_json::Value, scope: &Scope) -> Result<String, String> {
        build_with(query, &BTreeMap::new(), scope)
    }

    fn build_with(
        query: serde_json::Value,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, String> {
        let metric = MetricConfig {
            name: "m".into(),
            query,
            ..MetricConfig::default()
        };
        source()
            .build_query(&metric, templates, scope)
            .map_err(|e| e.to_string())
    }

    // The rows of the reference's §5.1 table.
    #[test]
    fn aws_ec2_instance() {
        let query = json!({
            "type": "prometheus", "metricName": "requests_total",
            "labelBindings": ["status=~\"5..\""], "resourceType": "aws_ec2_instance"
        });
        let scope = Scope {
            scope: "myapp-v002".into(),
            ..scope(&[])
        };
        assert_eq!(
            build(query, &scope).unwrap(),
            r#"avg(requests_total{status=~"5..",asg_groupName="myapp-v002",zone=~"us-east-1.{1}"})"#
        );
    }

    #[test]
    fn gce_instance_with_project() {
        let query = json!({"metricName": "cpu_usage", "resourceType": "gce_instance"});
        let scope = Scope {
            location: "us-central1".into(),
            ..scope(&[("project", "proj1")])
        };
        assert_eq!(
            build(query, &scope).unwrap(),
            concat!(
                r#"avg(cpu_usage{instance=~"myapp-canary-.{4}","#,
                r#"zone=~".+/projects/proj1/zones/us-central1-.{1}"})"#
            )
        );
    }

    #[test]
    fn inline_template_with_label_bindings_and_group_by() {
        let query = json!({
            "metricName": "requests_total",
            "customInlineTemplate": "app=\"${scope}\",env=\"${env}\"",
            "labelBindings": ["code=\"500\""], "groupByFields": ["pod"]
        });
        assert_eq!(
            build(query, &scope(&[("env", "prod")])).unwrap(),
            r#"avg(requests_total{app="myapp-canary",env="prod",code="500"}) by (pod)"#
        );
    }

    #[test]
    fn promql_template_is_the_whole_query() {
        let query =
            json!({"customInlineTemplate": "PromQL:sum(rate(errors_total{app=\"${scope}\"}[1m]))"});
        assert_eq!(
            build(query, &scope(&[])).unwrap(),
            r#"sum(rate(errors_total{app="myapp-canary"}[1m]))"#
        );
    }

    #[test]
    fn resource_types_come_from_the_scope_when_the_query_has_none() {
        let query = json!({"metricName": "up", "groupByFields": ["zone", "pod"]});
        let scope = scope(&[("resourceType", "aws_ec2_instance")]);
        assert_eq!(
            build(query, &scope).unwrap(),
            r#"avg(up{asg_groupName="myapp-canary",zone=~"us-east-1.{1}"}) by (zone,pod)"#
        );
        let query = json!({"metricName": "up", "resourceType": "gce_instance"});
        let scope = Scope {
            scope: String::new(),
            ..scope
        };
        assert_eq!(
            build(query, &scope).unwrap(),
            r#"avg(up{zone=~".+/zones/us-east-1-.{1}"})"#
        );
    }

    #[test]
    fn named_templates_and_their_bindings() {
        let templates: BTreeMap<String, String> = [(
            "by-app".to_string(),
            "app=\"${scope}\",region=\"${location}\",rt=\"${resourceType}\"".to_string(),
        )]
        .into();
        let query = json!({
            "metricName": "up", "customFilterTemplate": "by-app", "resourceType": "from-query"
        });
        assert_eq!(
            build_with(query.clone(), &templates, &scope(&[])).unwrap(),
            r#"avg(up{app="myapp-canary",region="us-east-1",rt="from-query"})"#
        );
        // Extended params are bound last, so they override everything.
        assert_eq!(
            build_with(
                query,
                &templates,
                &scope(&[("resourceType", "from-scope"), ("scope", "x")])
            )
            .unwrap(),
            r#"avg(up{app="x",region="us-east-1",rt="from-scope"})"#
        );
    }

    #[test]
    fn filters_lose_trailing_commas_and_an_empty_expansion_is_no_filter() {
        let query = json!({
            "metricName": "up", "customInlineTemplate": "a=\"1\",,", "labelBindings": ["b=\"2\""]
        });
        assert_eq!(
            build(query, &scope(&[])).unwrap(),
            r#"avg(up{a="1",b="2"})"#
        );
        let query = json!({"metricName": "up", "customInlineTemplate": ",,"});
        assert_eq!(build(query, &scope(&[])).unwrap(), "avg(up)");
        let query = json!({
            "metricName": "up", "customInlineTemplate": "${empty}",
            "resourceType": "aws_ec2_instance"
        });
        assert_eq!(
            build(query, &scope(&[("empty", "")])).unwrap(),
            r#"avg(up{asg_groupName="myapp-canary",zone=~"us-east-1.{1}"})"#
        );
    }

    #[test]
    fn kayenta_errors() {
        let error = |query| build(query, &scope(&[])).unwrap_err();
        assert_eq!(
            error(json!({"resourceType": "aws_ec2_instance"})),
            "metric 'm': Metric Name is required when query type is Default."
        );
        assert_eq!(
            error(json!({"metricName": "up"})),
            "metric 'm': Either a resource type or a custom filter is required."
        );
        assert_eq!(
            error(json!({"metricName": "up", "resourceType": "k8s_pod"})),
            "metric 'm': There is no explicit support for resourceType 'k8s_pod'. You may build \
             whatever query makes sense for your environment via label bindings and custom filter \
             templates."
        );
        for resource_type in ["gce_instance", "aws_ec2_instance"] {
            let scope = Scope {
                location: String::new(),
                ..scope(&[])
            };
            assert_eq!(
                build(
                    json!({"metricName": "up", "resourceType": resource_type}),
                    &scope
                )
                .unwrap_err(),
                format!(
                    "metric 'm': Location (i.e. region) is required when resourceType is \
                     '{resource_type}'."
                )
            );
        }
        assert_eq!(
            error(json!({"metricName": "up", "customFilter": "a=\"b\""})),
            "metric 'm': CanaryMetricSetQueryConfig.customFilter is deprecated, use \
             CanaryMetricSetQueryConfig.customInlineTemplate instead."
        );
        assert_eq!(
            error(json!({"type": "datadog", "metricName": "up"})),
            "metric 'm': its query is of type \"datadog\", but the metrics account is a Prometheus \
             account"
        );
        assert!(
            error(json!({"metricName": 5}))
                .starts_with("metric 'm': query is not a valid Prometheus query config")
        );
    }

    #[test]
    fn generated_queries_escape_the_scope() {
        let query = json!({"metricName": "up", "resourceType": "aws_ec2_instance"});
        let scope = Scope {
            scope: r#"app"} or vector(1) or x{a=""#.into(),
            location: "us\"-1".into(),
            ..scope(&[])
        };
        assert_eq!(
            build(query, &scope).unwrap(),
            r#"avg(up{asg_groupName="app\"} or vector(1) or x{a=\"",zone=~"us\"-1.{1}"})"#
        );
    }

    #[test]
    fn template_values_cannot_change_the_query_structure() {
        let attack = r#"app"} or vector(1) or x{a=""#;
        let scope = scope(&[("attack", attack)]);
        let query = |template: &str| json!({"metricName": "up", "customInlineTemplate": template});
        assert_eq!(
            build(query(r#"app="${attack}""#), &scope).unwrap(),
            r#"avg(up{app="app\"} or vector(1) or x{a=\""})"#
        );
        assert_eq!(
            build(query("PromQL:up{app='${attack}'}"), &scope).unwrap(),
            r#"up{app='app"} or vector(1) or x{a="'}"#
        );
        let error = build(query("PromQL:${attack}"), &scope).unwrap_err();
        assert!(
            error.starts_with(concat!(
                r#"metric 'm': the value of ${attack} ("app\"} or vector(1) or x{a=\"") "#,
                "cannot be put into the query: it lands outside a string literal"
            )),
            "{error}"
        );
        assert!(error.ends_with("Template: PromQL:${attack}"), "{error}");
        let error = build(query("${prefix}up"), &scope_with("prefix", "PromQL:")).unwrap_err();
        assert!(
            error.contains("would turn the template into a whole PromQL query"),
            "{error}"
        );
        let error = build(
            query("PromQL:up # ${x}"),
            &scope_with("x", "a\nor vector(1)"),
        )
        .unwrap_err();
        assert!(error.contains("outside a string literal"), "{error}");
        assert!(build(query("PromQL:rate(up[${w}])"), &scope_with("w", "5m")).is_ok());
    }

    fn scope_with(key: &str, value: &str) -> Scope {
        scope(&[(key, value)])
    }

    #[test]
    fn accounts_check_their_url_and_never_show_secrets() {
        let mut account =
            PrometheusAccount::new("prom", "https://u:pa55word@mimir.example.com/prometheus/");
        assert_eq!(
            format!("{account:?}"),
            "PrometheusAccount { name: \"prom\", url: \"https://mimir.example.com/prometheus\", \
             auth: None, timeout: 30s, retries: RetryPolicy { attempts: 4, initial_backoff: 500ms, \
             max_backoff: 8s, max_retry_after: 10s }, scope_label: \"instance\", \
             max_concurrent_queries: 32, max_points: 100000 }"
        );
        let source = PrometheusSource::new(account.clone()).unwrap();
        assert_eq!(source.endpoint.url, "https://mimir.example.com/prometheus");
        assert_eq!(source.client.base_url().path(), "/prometheus");

        account.auth = PrometheusAuth::Bearer(Secret::new("t0ken"));
        assert!(!format!("{account:?}").contains("t0ken"));
        let error = PrometheusSource::new(account).err().unwrap().to_string();
        assert_eq!(
            error,
            "Prometheus account 'prom': has credentials both in its URL and in its auth settings; \
             give them once"
        );
        let error = PrometheusSource::new(PrometheusAccount::new("p", "prometheus:9090"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("Prometheus account 'p': the URL is not an http(s) URL"),
            "{error}"
        );
    }

    #[test]
    fn series_are_read_as_kayenta_reads_them() {
        let body = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "pod": "a"}, "values": [
                [1700000000, "1"], [1700000015, "+Inf"], [1700000045, "NaN"], [1700000060, "-Inf"]
            ]},
            {"metric": {}, "values": [[1700000000.5, "2.5"]]}
        ]}});
        let series = read_matrix(&body.to_string(), 10).ok().unwrap();
        let sets: Vec<MetricSet> = series
            .into_iter()
            .filter_map(|s| metric_set("m", "q", s))
            .collect();
        assert_eq!(
            sets[0].tags,
            BTreeMap::from([("pod".to_string(), "a".to_string())])
        );
        assert_eq!(
            (
                sets[0].start_millis,
                sets[0].step_millis,
                sets[0].end_millis
            ),
            (1_700_000_000_000, 15_000, 1_700_000_060_000)
        );
        assert_eq!(sets[0].values[..2], [1.0, f64::INFINITY]);
        assert!(sets[0].values[2].is_nan());
        assert_eq!(sets[0].values[3], f64::NEG_INFINITY);
        assert_eq!(sets[0].values.len(), 4, "gaps are not filled");
        assert_eq!(
            (
                sets[1].start_millis,
                sets[1].step_millis,
                sets[1].end_millis
            ),
            (1_700_000_000_500, 0, 1_700_000_000_500)
        );
        assert!(sets[1].tags.is_empty());
    }
}
