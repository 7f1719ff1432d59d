//! Google Cloud Monitoring (Kayenta's `stackdriver`): Kayenta's filter (`StackdriverMetricsService.buildQuery`)
//! for its resource types, `projects.timeSeries.list` (`GET /v3/projects/<project>/timeSeries`) with an access
//! token from the account's service-account key ([`google_auth`](super::google_auth)) in `Authorization:
//! Bearer`, and Kayenta's reading of the answer: one set per series, tagged with its resource labels (less
//! `project_id`) and metric labels, points reversed into time order, `INT64` and `DOUBLE` values.
//!
//! Differences from Kayenta:
//!
//! - only 429 and 5xx are retried (Kayenta retries every HTTP error ten times, a bad filter included);
//! - values Kayenta writes bare are written as `"…"` strings when they are not plain tokens, values it quotes
//!   are escaped ([`monitoring_filter`]), and template values are checked where they land;
//! - `nextPageToken` is followed (Kayenta reads only the first page), up to [`MAX_PAGES`];
//! - the token asks only for `monitoring.read` (Kayenta asks for every Monitoring scope); without
//!   `credentials_file` there are no Application Default Credentials: the key file is required.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use super::google_auth::ServiceAccount;
use super::http::{
    AccountBounds, AttemptError, Points, invalid, parse_bounded, redact_url_text, scrub_body,
};
use super::keyed::Keyed;
use super::monitoring_filter::{self as filter, FilterLexer};
use super::template::{Expansion, TemplateFields, bindings};
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// The Monitoring API, Kayenta's (the Google client's) default.
pub const STACKDRIVER_DEFAULT_URL: &str = "https://monitoring.googleapis.com";

/// The most pages of one answer that are read.
pub const MAX_PAGES: usize = 20;

/// A Google Cloud project's Monitoring, read with a service account. `Debug` never shows the key.
#[derive(Clone)]
pub struct StackdriverAccount {
    pub name: String,
    /// The project in the request URL, and the default project of the filter.
    pub project: String,
    /// The service account's JSON key file.
    pub credentials_file: std::path::PathBuf,
    /// `https://monitoring.googleapis.com`.
    pub url: String,
    pub bounds: AccountBounds,
}

impl StackdriverAccount {
    pub fn new(
        name: impl Into<String>,
        project: impl Into<String>,
        credentials_file: impl Into<std::path::PathBuf>,
    ) -> StackdriverAccount {
        StackdriverAccount {
            name: name.into(),
            project: project.into(),
            credentials_file: credentials_file.into(),
            url: STACKDRIVER_DEFAULT_URL.to_string(),
            bounds: AccountBounds::default(),
        }
    }
}

impl fmt::Debug for StackdriverAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("StackdriverAccount")
            .field("name", &self.name)
            .field("project", &self.project)
            .field("credentials_file", &self.credentials_file)
            .field("url", &redact_url_text(&self.url))
            .field("bounds", &self.bounds)
            .finish()
    }
}

/// Queries one project's Monitoring.
pub struct StackdriverSource {
    keyed: Keyed,
    list_url: reqwest::Url,
    project: String,
    account: ServiceAccount,
}

impl StackdriverSource {
    /// Reads the account's key and prepares its HTTP client (no token is asked for until the first query).
    pub fn new(account: StackdriverAccount) -> Result<StackdriverSource, SourceError> {
        let store = "Google Cloud Monitoring";
        let invalid = |problem: String| invalid(store, &account.name, problem);
        if account.project.is_empty()
            || !account
                .project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(invalid(format!(
                "project {:?} is not a Google Cloud project id",
                account.project
            )));
        }
        let path = account.credentials_file.display();
        let text = std::fs::read_to_string(&account.credentials_file)
            .map_err(|error| invalid(format!("cannot read credentials_file {path}: {error}")))?;
        let service_account = ServiceAccount::from_json(&text)
            .map_err(|reason| invalid(format!("credentials_file {path}: {reason}")))?;
        let keyed = Keyed::new(
            store,
            &account.name,
            &account.url,
            STACKDRIVER_DEFAULT_URL,
            Vec::new(),
            account.bounds,
        )?;
        let list_url = keyed.url(&format!("/v3/projects/{}/timeSeries", account.project));
        Ok(StackdriverSource {
            keyed,
            list_url,
            project: account.project,
            account: service_account,
        })
    }

    /// One attempt at the query: a token, then every page.
    async fn list(&self, request: &Request, scope: &Scope) -> Result<Vec<Series>, AttemptError> {
        let token = self.account.access_token(&self.keyed.client).await?;
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                AttemptError::Unreadable("the access token is not a header value".into())
            })?;
        bearer.set_sensitive(true);
        let mut series = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.list_url.clone();
            {
                let mut pairs = url.query_pairs_mut();
                pairs
                    .append_pair("filter", &request.filter)
                    .append_pair("interval.startTime", &scope.start.to_string())
                    .append_pair("interval.endTime", &scope.end.to_string())
                    .append_pair(
                        "aggregation.alignmentPeriod",
                        &format!("{}s", scope.step.as_secs()),
                    )
                    .append_pair("aggregation.perSeriesAligner", &request.aligner)
                    .append_pair("aggregation.crossSeriesReducer", &request.reducer);
                for field in &request.group_by {
                    pairs.append_pair("aggregation.groupByFields", field);
                }
                if let Some(page) = &page_token {
                    pairs.append_pair("pageToken", page);
                }
            }
            let request = self
                .keyed
                .client
                .get(url)
                .header(AUTHORIZATION, bearer.clone());
            // The endpoint strips the account's secrets; the token is this query's own.
            let body = scrub_body(self.keyed.endpoint.send(request).await, |body| {
                body.replace(token.expose(), "***")
            })?;
            let page: Page = parse_bounded(&body, self.keyed.endpoint.max_points)?;
            series.extend(page.time_series.unwrap_or_default());
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) => page_token = Some(next),
                None => return Ok(series),
            }
        }
        Err(AttemptError::Unreadable(format!(
            "the answer has more than {MAX_PAGES} pages; narrow the filter or group by fewer fields"
        )))
    }
}

/// A metric's Stackdriver query config (`StackdriverCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StackdriverQuery {
    #[serde(default)]
    metric_type: Option<String>,
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    cross_series_reducer: Option<String>,
    #[serde(default)]
    per_series_aligner: Option<String>,
    #[serde(default)]
    group_by_fields: Vec<String>,
    #[serde(flatten)]
    templates: TemplateFields,
}

/// What is sent besides the window: the filter and the aggregation. The query shown is the filter, followed
/// by the aggregation, e.g. `metric.type="…" AND … | ALIGN_MEAN REDUCE_MEAN by resource.label.zone`.
struct Request {
    filter: String,
    aligner: String,
    reducer: String,
    group_by: Vec<String>,
}

const AGGREGATION: &str = " | ";

impl Request {
    fn show(&self) -> String {
        let mut text = format!(
            "{}{AGGREGATION}{} {}",
            self.filter, self.aligner, self.reducer
        );
        if !self.group_by.is_empty() {
            text.push_str(&format!(" by {}", self.group_by.join(",")));
        }
        text
    }

    /// Reads a query [`Request::show`] wrote: the aggregation is after the last ` | ` (the filter's own `|`s,
    /// if any, can only be inside strings, and the aggregation holds none).
    fn parse(query: &str) -> Option<Request> {
        let (filter, aggregation) = query.rsplit_once(AGGREGATION)?;
        let mut words = aggregation.split(' ');
        let aligner = words.next()?.to_string();
        let reducer = words.next()?.to_string();
        let group_by = match (words.next(), words.next()) {
            (Some("by"), Some(fields)) => fields.split(',').map(str::to_string).collect(),
            (None, None) => Vec::new(),
            _ => return None,
        };
        Some(Request {
            filter: filter.to_string(),
            aligner,
            reducer,
            group_by,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    time_series: Option<Vec<Series>>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series {
    #[serde(default)]
    metric: Labelled,
    #[serde(default)]
    resource: Labelled,
    #[serde(default)]
    value_type: Option<String>,
    #[serde(default)]
    points: Option<Points<Point>>,
}

#[derive(Debug, Default, Deserialize)]
struct Labelled {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Point {
    interval: Interval,
    #[serde(default)]
    value: TypedValue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Interval {
    #[serde(default)]
    start_time: Option<jiff::Timestamp>,
    end_time: jiff::Timestamp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedValue {
    /// A JSON string in the REST API (`"64"`), a number in some clients.
    #[serde(default)]
    int64_value: Option<serde_json::Value>,
    #[serde(default)]
    double_value: Option<f64>,
}

/// A name written bare in the filter: a resource type, aligner, reducer or group-by field.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
}

/// The extended params the k8s resource types filter on, in Kayenta's order.
const K8S_KEYS: [&str; 6] = [
    "location",
    "node_name",
    "cluster_name",
    "pod_name",
    "container_name",
    "namespace_name",
];
const GKE_CONTAINER_KEYS: [&str; 6] = [
    "cluster_name",
    "namespace_id",
    "instance_id",
    "pod_id",
    "container_name",
    "zone",
];

impl StackdriverSource {
    fn build(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<Request, SourceError> {
        let name = metric.name.as_str();
        let config: StackdriverQuery = query_config(metric, self.kind(), "Stackdriver")?;
        let extended = &scope.extended_params;
        let non_blank = |value: Option<&String>| value.filter(|v| !v.trim().is_empty()).cloned();
        let resource_type = non_blank(config.resource_type.as_ref())
            .or_else(|| non_blank(extended.get("resourceType")));
        let aligner = non_blank(config.per_series_aligner.as_ref())
            .or_else(|| non_blank(extended.get("perSeriesAligner")))
            .unwrap_or_else(|| "ALIGN_MEAN".to_string());
        let reducer = non_blank(config.cross_series_reducer.as_ref())
            .or_else(|| non_blank(extended.get("crossSeriesReducer")))
            .unwrap_or_else(|| "REDUCE_MEAN".to_string());
        let project = non_blank(extended.get("project")).unwrap_or_else(|| self.project.clone());
        for (field, value) in [
            ("perSeriesAligner", &aligner),
            ("crossSeriesReducer", &reducer),
        ] {
            if !is_name(value) {
                return Err(SourceError::config(
                    name,
                    format!("{field} {value:?} is not an aggregation name such as ALIGN_MEAN"),
                ));
            }
        }
        if let Some(field) = config.group_by_fields.iter().find(|field| !is_name(field)) {
            return Err(SourceError::config(
                name,
                format!("groupByFields entry {field:?} is not a label such as resource.label.zone"),
            ));
        }
        let Some(metric_type) = config.metric_type.filter(|m| !m.is_empty()) else {
            return Err(SourceError::config(
                name,
                "the Stackdriver query needs a metricType (e.g. compute.googleapis.com/instance/cpu/utilization)",
            ));
        };
        let Some(resource_type) = resource_type else {
            return Err(SourceError::config(name, "Resource type is required."));
        };
        if !is_name(&resource_type) {
            return Err(SourceError::config(
                name,
                format!(
                    "resourceType {resource_type:?} is not a resource type such as gce_instance"
                ),
            ));
        }
        let mut query = format!(
            "metric.type={} AND resource.type={resource_type}",
            filter::string(&metric_type)
        );
        let done = |query: String| Request {
            filter: query,
            aligner: aligner.clone(),
            reducer: reducer.clone(),
            group_by: config.group_by_fields.clone(),
        };
        if let Some(template) = config.templates.select(name, templates)? {
            let bindings = bindings(
                [
                    ("project", Some(project.as_str())),
                    ("resourceType", Some(resource_type.as_str())),
                    ("scope", Some(scope.scope.as_str())),
                    ("location", Some(scope.location.as_str())),
                ],
                extended,
            );
            let expansion = Expansion::new(name, &template, &bindings)?;
            if !expansion.text().is_empty() {
                let custom = expansion.render(name, FilterLexer::default())?;
                return Ok(done(format!("{query} AND {custom}")));
            }
        }
        let required = |what: &str, value: &str| match (value.is_empty(), what) {
            (false, _) => Ok(()),
            (true, "location") => Err(SourceError::config(
                name,
                format!(
                    "Location (i.e. region) is required when resourceType is '{resource_type}'."
                ),
            )),
            (true, _) => Err(SourceError::config(
                name,
                format!("Scope is required when resourceType is '{resource_type}'."),
            )),
        };
        let bare = |value: &str| filter::value(value).into_owned();
        match resource_type.as_str() {
            "gce_instance" => {
                required("location", &scope.location)?;
                required("scope", &scope.scope)?;
                query.push_str(&format!(
                    " AND project={} AND metadata.user_labels.\"spinnaker-region\"={} AND metadata.user_labels.\"spinnaker-server-group\"={}",
                    bare(&project),
                    bare(&scope.location),
                    bare(&scope.scope)
                ));
            }
            "aws_ec2_instance" => {
                required("location", &scope.location)?;
                required("scope", &scope.scope)?;
                query.push_str(&format!(
                    " AND resource.labels.region={} AND metadata.user_labels.\"aws:autoscaling:groupname\"={}",
                    filter::string(&format!("aws:{}", scope.location)),
                    bare(&scope.scope)
                ));
            }
            "gae_app" => {
                required("scope", &scope.scope)?;
                query.push_str(&format!(
                    " AND project={} AND resource.labels.version_id={}",
                    bare(&project),
                    bare(&scope.scope)
                ));
                if let Some(service) = extended.get("service") {
                    query.push_str(&format!(" AND resource.labels.module_id={}", bare(service)));
                }
            }
            "k8s_container" | "k8s_pod" | "k8s_node" | "gke_container" => {
                query.push_str(&format!(" AND project={}", bare(&project)));
                let keys = match resource_type.as_str() {
                    "gke_container" => GKE_CONTAINER_KEYS,
                    _ => K8S_KEYS,
                };
                for key in keys {
                    if let Some(value) = extended.get(key) {
                        query.push_str(&format!(" AND resource.labels.{key}={}", bare(value)));
                    }
                }
                for (key, value) in extended {
                    if let Some(label) = key.strip_prefix("user_labels.") {
                        query.push_str(&format!(
                            " AND metadata.user_labels.{}={}",
                            filter::string(label),
                            filter::string(value)
                        ));
                    }
                }
            }
            "global" => {}
            other => {
                return Err(SourceError::config(
                    name,
                    format!(
                        "Resource type '{other}' not yet explicitly supported. If you employ a custom filter, you may use any resource type you like."
                    ),
                ));
            }
        }
        Ok(done(query))
    }
}

impl MetricSource for StackdriverSource {
    fn kind(&self) -> &'static str {
        "stackdriver"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        scope.require_step(&metric.name)?;
        Ok(self.build(metric, templates, scope)?.show())
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        Box::pin(async move {
            let endpoint = &self.keyed.endpoint;
            let Some(request) = Request::parse(query) else {
                return Err(SourceError::config(
                    metric,
                    format!(
                        "the query is not one this source built (a filter, then ' | ALIGNER REDUCER'): {query}"
                    ),
                ));
            };
            let series = endpoint
                .run(metric, query, || self.list(&request, scope))
                .await?;
            let step_millis = scope.step.as_secs() as i64 * 1000;
            if series.is_empty() {
                return Ok(vec![MetricSet::placeholder(
                    metric,
                    query,
                    scope,
                    step_millis,
                )]);
            }
            let bad = |reason: String| endpoint.bad_response(metric, query, reason);
            series
                .into_iter()
                .map(|series| {
                    let mut points = series.points.map(|p| p.0).unwrap_or_default();
                    // Google lists the newest first.
                    points.reverse();
                    let values = match series.value_type.as_deref() {
                        None => Vec::new(),
                        Some(kind) => points
                            .iter()
                            .map(|point| value(kind, &point.value))
                            .collect::<Result<Vec<f64>, String>>()
                            .map_err(bad)?,
                    };
                    let mut tags = series.resource.labels;
                    tags.remove("project_id");
                    tags.extend(series.metric.labels);
                    Ok(MetricSet {
                        name: metric.to_string(),
                        tags,
                        start_millis: points
                            .first()
                            .map(|p| {
                                p.interval
                                    .start_time
                                    .unwrap_or(p.interval.end_time)
                                    .as_millisecond()
                            })
                            .unwrap_or(scope.start.as_millisecond()),
                        end_millis: points
                            .last()
                            .map(|p| p.interval.end_time.as_millisecond())
                            .unwrap_or(scope.end.as_millisecond()),
                        step_millis,
                        values,
                        query: query.to_string(),
                    })
                })
                .collect()
        })
    }
}

/// A point's value for the series' `valueType`: `INT64` from `int64Value` (a string in JSON), anything else
/// from `doubleValue` (NaN when absent).
fn value(kind: &str, value: &TypedValue) -> Result<f64, String> {
    if kind == "INT64" {
        return match &value.int64_value {
            Some(serde_json::Value::String(text)) => text
                .parse::<i64>()
                .map(|v| v as f64)
                .map_err(|_| format!("int64Value {text:?} is not an integer")),
            Some(serde_json::Value::Number(number)) => Ok(number.as_f64().unwrap_or(f64::NAN)),
            _ => Ok(f64::NAN),
        };
    }
    Ok(value.double_value.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregation_is_shown_after_the_filter_and_read_back() {
        let request = Request {
            filter: "metric.type=\"a|b\" AND resource.type=global".into(),
            aligner: "ALIGN_MEAN".into(),
            reducer: "REDUCE_MEAN".into(),
            group_by: vec!["resource.label.zone".into(), "metric.label.x".into()],
        };
        let shown = request.show();
        assert_eq!(
            shown,
            "metric.type=\"a|b\" AND resource.type=global | ALIGN_MEAN REDUCE_MEAN by resource.label.zone,metric.label.x"
        );
        let back = Request::parse(&shown).unwrap();
        assert_eq!(
            (back.filter, back.group_by),
            (request.filter, request.group_by)
        );
        assert!(Request::parse("metric.type=\"x\"").is_none());
    }

    #[test]
    fn int64_values_are_strings_and_others_are_doubles() {
        let v = |json: serde_json::Value| -> TypedValue { serde_json::from_value(json).unwrap() };
        assert_eq!(
            value("INT64", &v(serde_json::json!({"int64Value": "64"}))).unwrap(),
            64.0
        );
        assert_eq!(
            value("DOUBLE", &v(serde_json::json!({"doubleValue": 0.5}))).unwrap(),
            0.5
        );
        assert_eq!(
            value("STRING", &v(serde_json::json!({"doubleValue": 2.5}))).unwrap(),
            2.5
        );
        assert!(
            value("BOOL", &v(serde_json::json!({"boolValue": true})))
                .unwrap()
                .is_nan()
        );
    }
}
