//! SignalFx (Splunk Observability): Kayenta's SignalFlow program (`SimpleSignalFlowProgramBuilder`), `POST
//! /v2/signalflow/execute` with the program as the body and the token only in the `X-SF-TOKEN` header, and
//! Kayenta's reading of the Server-Sent-Events answer (`SignalFxMetricsService`): one value per data message
//! (NaN for none, an error for several), an error event fails the query.
//!
//! Differences from Kayenta: values (scope, location, extended params, query pairs, the metric name) are
//! escaped inside their `'…'` literals ([`signalflow::string`]) and template values are checked where they
//! land ([`SignalFlowLexer`]); `aggregationMethod` must be a method name; with a location key but no location
//! the location filter is left out; HTTP 429 and 5xx are retried (Kayenta retries no HTTP error) and the
//! error's body is shown.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use serde::Deserialize;

use super::http::{AccountBounds, AttemptError, excerpt, redact_url_text};
use super::keyed::{Keyed, SecretSource};
use super::signalflow::{self, SignalFlowLexer};
use super::template::{Expansion, TemplateFields, bindings};
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// Kayenta's default: realm us0's stream endpoint.
pub const SIGNALFX_DEFAULT_URL: &str = "https://stream.signalfx.com";

/// A SignalFx organisation. `Debug` never shows the token.
#[derive(Clone)]
pub struct SignalFxAccount {
    pub name: String,
    /// The realm's stream endpoint, e.g. `https://stream.us1.signalfx.com`.
    pub url: String,
    /// The org access token, sent as `X-SF-TOKEN`.
    pub access_token: SecretSource,
    /// The dimension compared with the scope when the request's `_scope_key` is absent.
    pub default_scope_key: Option<String>,
    /// The dimension compared with the location when the request's `_location_key` is absent.
    pub default_location_key: Option<String>,
    pub bounds: AccountBounds,
}

impl SignalFxAccount {
    /// An account at Kayenta's default URL whose token is read from `SIGNALFX_ACCESS_TOKEN`.
    pub fn new(name: impl Into<String>) -> SignalFxAccount {
        SignalFxAccount {
            name: name.into(),
            url: SIGNALFX_DEFAULT_URL.to_string(),
            access_token: SecretSource::Env("SIGNALFX_ACCESS_TOKEN".to_string()),
            default_scope_key: None,
            default_location_key: None,
            bounds: AccountBounds::default(),
        }
    }
}

impl fmt::Debug for SignalFxAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("SignalFxAccount")
            .field("name", &self.name)
            .field("url", &redact_url_text(&self.url))
            .field("access_token", &self.access_token)
            .field("default_scope_key", &self.default_scope_key)
            .field("default_location_key", &self.default_location_key)
            .field("bounds", &self.bounds)
            .finish()
    }
}

/// Queries one SignalFx organisation.
pub struct SignalFxSource {
    keyed: Keyed,
    execute_url: reqwest::Url,
    default_scope_key: Option<String>,
    default_location_key: Option<String>,
}

impl SignalFxSource {
    /// Reads the account's token and prepares its HTTP client.
    pub fn new(account: SignalFxAccount) -> Result<SignalFxSource, SourceError> {
        let store = "SignalFx";
        let token = account
            .access_token
            .read(store, &account.name, "access token")?;
        let keyed = Keyed::new(
            store,
            &account.name,
            &account.url,
            "https://stream.us1.signalfx.com",
            vec![(HeaderName::from_static("x-sf-token"), token)],
            account.bounds,
        )?;
        let execute_url = keyed.url("/v2/signalflow/execute");
        Ok(SignalFxSource {
            keyed,
            execute_url,
            default_scope_key: account.default_scope_key,
            default_location_key: account.default_location_key,
        })
    }

    /// One attempt at running the program over the scope's window.
    async fn execute(&self, program: &str, scope: &Scope) -> Result<Vec<f64>, AttemptError> {
        let mut url = self.execute_url.clone();
        url.query_pairs_mut()
            .append_pair("start", &scope.start.as_millisecond().to_string())
            .append_pair("stop", &scope.end.as_millisecond().to_string())
            .append_pair("resolution", &(scope.step.as_secs() * 1000).to_string())
            .append_pair("maxDelay", "0")
            .append_pair("immediate", "true");
        let body = self
            .keyed
            .endpoint
            .send(
                self.keyed
                    .client
                    .post(url)
                    .header(CONTENT_TYPE, "text/plain; charset=UTF-8")
                    .header(ACCEPT, "text/plain")
                    .body(program.to_string()),
            )
            .await?;
        read_stream(&body, self.keyed.endpoint.max_points)
    }
}

/// A metric's SignalFx query config (`SignalFxCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignalFxQuery {
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(default)]
    query_pairs: Vec<QueryPair>,
    #[serde(default)]
    aggregation_method: Option<String>,
    #[serde(flatten)]
    templates: TemplateFields,
}

#[derive(Debug, Deserialize)]
struct QueryPair {
    key: String,
    value: String,
}

const SCOPE_KEY: &str = "_scope_key";
const LOCATION_KEY: &str = "_location_key";

/// A query pair as a filter: `filter('k', 'v')`, several values for `a,b`, negated for a `!` key.
fn pair_filter(pair: &QueryPair) -> String {
    let (negated, key) = match pair.key.strip_prefix('!') {
        Some(key) => (true, key),
        None => (false, pair.key.as_str()),
    };
    let values: Vec<String> = pair
        .value
        .split(',')
        .map(|value| signalflow::string(value.trim()))
        .collect();
    let filter = format!("filter({}, {})", signalflow::string(key), values.join(","));
    match negated {
        true => format!("(not {filter})"),
        false => filter,
    }
}

impl MetricSource for SignalFxSource {
    fn kind(&self) -> &'static str {
        "signalfx"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: SignalFxQuery = query_config(metric, self.kind(), "SignalFx")?;
        scope.require_step(name)?;
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
                return expansion.render(name, SignalFlowLexer::default());
            }
        }
        let Some(metric_name) = config.metric_name.filter(|m| !m.is_empty()) else {
            return Err(SourceError::config(
                name,
                "the SignalFx query needs a metricName (e.g. request.count) or a customInlineTemplate",
            ));
        };
        let method = config
            .aggregation_method
            .unwrap_or_else(|| "mean".to_string());
        if method.is_empty()
            || !method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SourceError::config(
                name,
                format!(
                    "aggregationMethod {method:?} is not a SignalFlow stream method such as mean or sum"
                ),
            ));
        }
        let reserved = |key: &str| scope.extended_params.get(key).filter(|v| !v.is_empty());
        let Some(scope_key) = reserved(SCOPE_KEY).or(self.default_scope_key.as_ref()) else {
            return Err(SourceError::config(
                name,
                "The SignalFx account must define a default scope key or it must be supplied in the \
                 extendedScopeParams in the `_scope_key` key",
            ));
        };
        let location_key = reserved(LOCATION_KEY)
            .or(self.default_location_key.as_ref())
            .filter(|_| !scope.location.is_empty());
        let extended: Vec<(&String, &String)> = scope
            .extended_params
            .iter()
            .filter(|(key, _)| !key.starts_with('_'))
            .collect();

        let mut by: Vec<&str> = extended.iter().map(|(key, _)| key.as_str()).collect();
        by.extend(location_key.map(String::as_str));
        by.push(scope_key);
        let mut scope_filters = vec![format!(
            "filter({}, {})",
            signalflow::string(scope_key),
            signalflow::string(&scope.scope)
        )];
        if let Some(location_key) = location_key {
            scope_filters.push(format!(
                "filter({}, {})",
                signalflow::string(location_key),
                signalflow::string(&scope.location)
            ));
        }
        for (key, value) in &extended {
            scope_filters.push(format!(
                "filter({}, {})",
                signalflow::string(key),
                signalflow::string(value)
            ));
        }
        let mut filters: Vec<String> = config.query_pairs.iter().map(pair_filter).collect();
        filters.extend(scope_filters);
        let by: Vec<String> = by.iter().map(|key| signalflow::string(key)).collect();
        Ok(format!(
            "data({}, filter={}).{method}(by=[{}]).publish()",
            signalflow::string(&metric_name),
            filters.join(" and "),
            by.join(", ")
        ))
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        Box::pin(async move {
            let values = self
                .keyed
                .endpoint
                .run(metric, query, || self.execute(query, scope))
                .await?;
            Ok(vec![MetricSet {
                name: metric.to_string(),
                tags: BTreeMap::new(),
                start_millis: scope.start.as_millisecond(),
                end_millis: scope.end.as_millisecond(),
                step_millis: scope.step.as_secs() as i64 * 1000,
                values,
                query: query.to_string(),
            }])
        })
    }
}

/// One data message: the values of the program's series at one time.
#[derive(Debug, Deserialize)]
struct DataMessage {
    #[serde(default)]
    data: Vec<Datum>,
}

#[derive(Debug, Deserialize)]
struct Datum {
    #[serde(default)]
    value: Option<f64>,
}

/// The values of a SignalFlow answer (Server-Sent Events: blocks of `event:` / `id:` / `data:` lines, a
/// block's `data:` lines joined by line breaks): one per `data` event — NaN when it holds no value, an error
/// when it holds several — and an error for an `error` event.
pub(crate) fn read_stream(body: &str, max_points: usize) -> Result<Vec<f64>, AttemptError> {
    let mut values = Vec::new();
    for block in body.replace("\r\n", "\n").split("\n\n") {
        let mut event = "message";
        let mut data = String::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = value.trim(),
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {}
            }
        }
        match event {
            "error" => {
                return Err(AttemptError::Unreadable(format!(
                    "an error occurred while executing the SignalFlow program: {}",
                    excerpt(&data)
                )));
            }
            "data" => {
                let message: DataMessage = serde_json::from_str(&data).map_err(|error| {
                    AttemptError::Unreadable(format!(
                        "a data message is not JSON ({error}): {}",
                        excerpt(&data)
                    ))
                })?;
                let value = match message.data.as_slice() {
                    [] => f64::NAN,
                    [one] => one.value.unwrap_or(f64::NAN),
                    _ => {
                        return Err(AttemptError::Unreadable(
                            "There was more than one value for a given timestamp, a SignalFlow stream \
                             method that can aggregate should have been applied to the data in the \
                             SignalFlow program"
                                .to_string(),
                        ));
                    }
                };
                if values.len() == max_points {
                    return Err(AttemptError::TooManyPoints(max_points));
                }
                values.push(value);
            }
            _ => {}
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn source(scope_key: Option<&str>, location_key: Option<&str>) -> SignalFxSource {
        SignalFxSource::new(SignalFxAccount {
            access_token: SecretSource::Given(super::super::Secret::new("t")),
            default_scope_key: scope_key.map(str::to_string),
            default_location_key: location_key.map(str::to_string),
            ..SignalFxAccount::new("sfx")
        })
        .unwrap()
    }

    fn scope(scope: &str, location: &str, extended: &[(&str, &str)]) -> Scope {
        Scope {
            scope: scope.into(),
            location: location.into(),
            extended_params: extended
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start: "2018-09-16T23:32:30Z".parse().unwrap(),
            end: "2018-09-17T00:32:30Z".parse().unwrap(),
            step: Duration::from_secs(60),
        }
    }

    fn build(
        source: &SignalFxSource,
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

    fn pairs(pairs: &[(&str, &str)]) -> serde_json::Value {
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect()
    }

    /// The expected programs are those of Kayenta's `SimpleSignalFlowProgramBuilderTest`.
    #[test]
    fn programs_are_built_as_kayentas_tests_expect() {
        let three = pairs(&[
            ("app", "cms"),
            ("response_code", "400"),
            ("uri", "/v2/auth/iam-principal"),
        ]);
        let query = json!({"type": "signalfx", "metricName": "request.count", "aggregationMethod": "mean", "queryPairs": three});
        assert_eq!(
            build(
                &source(None, None),
                query.clone(),
                &scope(
                    "1.0.0",
                    "",
                    &[("env", "production"), ("_scope_key", "version")]
                )
            )
            .unwrap(),
            "data('request.count', filter=filter('app', 'cms') and filter('response_code', '400') and filter('uri', '/v2/auth/iam-principal') and filter('version', '1.0.0') and filter('env', 'production')).mean(by=['env', 'version']).publish()"
        );
        assert_eq!(
            build(
                &source(Some("version"), Some("region")),
                query,
                &scope("1.0.0", "us-west-2", &[("env", "production")])
            )
            .unwrap(),
            "data('request.count', filter=filter('app', 'cms') and filter('response_code', '400') and filter('uri', '/v2/auth/iam-principal') and filter('version', '1.0.0') and filter('region', 'us-west-2') and filter('env', 'production')).mean(by=['env', 'region', 'version']).publish()"
        );
        let negated =
            json!({"metricName": "request.count", "queryPairs": pairs(&[("!app", "cms,api")])});
        assert_eq!(
            build(
                &source(None, None),
                negated,
                &scope(
                    "1.0.0",
                    "",
                    &[("env", "production"), ("_scope_key", "version")]
                )
            )
            .unwrap(),
            "data('request.count', filter=(not filter('app', 'cms','api')) and filter('version', '1.0.0') and filter('env', 'production')).mean(by=['env', 'version']).publish()"
        );
        assert_eq!(
            build(
                &source(Some("server_group"), None),
                json!({"metricName": "request.count"}),
                &scope("my_microservice-control-v1", "", &[])
            )
            .unwrap(),
            "data('request.count', filter=filter('server_group', 'my_microservice-control-v1')).mean(by=['server_group']).publish()"
        );
        let template = json!({"customInlineTemplate": "data('cpu', filter=filter('canary-scope', '${scope}')).mean(by=['${some_key}']).publish()"});
        assert_eq!(
            build(
                &source(None, None),
                template,
                &scope("a')).publish()#", "", &[("some_key", "some_value")])
            )
            .unwrap(),
            "data('cpu', filter=filter('canary-scope', 'a\\')).publish()#')).mean(by=['some_value']).publish()"
        );
        let error = build(
            &source(None, None),
            json!({"metricName": "x"}),
            &scope("a", "", &[]),
        )
        .unwrap_err();
        assert!(error.contains("must define a default scope key"), "{error}");
    }

    #[test]
    fn the_stream_gives_one_value_per_data_message() {
        let stream = "event: control-message\ndata: {\ndata:   \"event\" : \"STREAM_START\"\ndata: }\n\n\
                      event: metadata\ndata: {\"tsId\": \"A\", \"properties\": {}}\n\n\
                      event: data\nid: data-1\ndata: {\ndata:   \"data\" : [ { \"tsId\" : \"A\", \"value\" : 1.5 } ],\ndata:   \"logicalTimestampMs\" : 1537140780000\ndata: }\n\n\
                      event: data\nid: data-2\ndata: {\"data\": [], \"logicalTimestampMs\": 1537140840000}\n\n\
                      event: message\ndata: {\"message\": {}}\n\n";
        let values = read_stream(stream, 10).ok().unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], 1.5);
        assert!(values[1].is_nan());
        assert!(read_stream(stream, 1).is_err());
        let several = "event: data\ndata: {\"data\": [{\"tsId\": \"A\", \"value\": 1}, {\"tsId\": \"B\", \"value\": 2}]}\n\n";
        assert!(
            matches!(read_stream(several, 10), Err(AttemptError::Unreadable(m)) if m.contains("more than one value"))
        );
        let error = "event: error\ndata: {\"error\": 400, \"message\": \"bad program\"}\n\n";
        assert!(
            matches!(read_stream(error, 10), Err(AttemptError::Unreadable(m)) if m.contains("bad program"))
        );
    }
}
