//! Wavefront (VMware Aria Operations for Applications): Kayenta's query (`[<aggregate>(]ts(<metricName>[,
//! <scope>])[)]`, `WavefrontMetricsService`), `GET /api/v2/chart/api` with the token only in `Authorization:
//! Bearer`, and Kayenta's reading of the answer: one set per series, tagged with its point tags, its points
//! laid on the step grid from its first to its last point (`WavefrontTimeSeries.getAdjustedPointList`).
//!
//! Differences from Kayenta:
//!
//! - the scope, which Kayenta inserts verbatim, must be a filter expression ([`wql::check_filter`]): it can
//!   never close the `ts(…)` or add to the query; `aggregate` must be a function name;
//! - an answer without `timeseries`, or whose series are all empty, is no data (one empty set, `Nodata`), not
//!   an error (Kayenta throws "No metrics returned for query", or its mixer finds no set);
//! - null points are NaN (Kayenta fails on them), and a step of 0 is refused (Kayenta loops forever).

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::http::{AccountBounds, AttemptError, Points, Secret, parse_bounded, redact_url_text};
use super::keyed::{Keyed, SecretSource};
use super::template::rejected;
use super::wql;
use super::{MetricSet, MetricSource, Scope, SourceError, query_config};
use crate::kayenta::canary_config::MetricConfig;

/// A Wavefront cluster. `Debug` never shows the token.
#[derive(Clone)]
pub struct WavefrontAccount {
    pub name: String,
    /// The cluster, e.g. `https://example.wavefront.com` (Kayenta has no default).
    pub url: String,
    /// The API token, sent as `Authorization: Bearer <token>`.
    pub api_token: SecretSource,
    pub bounds: AccountBounds,
}

impl WavefrontAccount {
    /// An account whose token is read from `WAVEFRONT_API_TOKEN`.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> WavefrontAccount {
        WavefrontAccount {
            name: name.into(),
            url: url.into(),
            api_token: SecretSource::Env("WAVEFRONT_API_TOKEN".to_string()),
            bounds: AccountBounds::default(),
        }
    }
}

impl fmt::Debug for WavefrontAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("WavefrontAccount")
            .field("name", &self.name)
            .field("url", &redact_url_text(&self.url))
            .field("api_token", &self.api_token)
            .field("bounds", &self.bounds)
            .finish()
    }
}

/// Queries one Wavefront cluster.
pub struct WavefrontSource {
    keyed: Keyed,
    chart_url: reqwest::Url,
}

impl WavefrontSource {
    /// Reads the account's token and prepares its HTTP client.
    pub fn new(account: WavefrontAccount) -> Result<WavefrontSource, SourceError> {
        let store = "Wavefront";
        let token = account.api_token.read(store, &account.name, "API token")?;
        let bearer = Secret::new(format!("Bearer {}", token.expose()));
        let mut keyed = Keyed::new(
            store,
            &account.name,
            &account.url,
            "https://example.wavefront.com",
            vec![(AUTHORIZATION, bearer)],
            account.bounds,
        )?;
        // The bare token is scrubbed from anything the store echoes, as well as the header's value.
        keyed.endpoint.secrets.push(token);
        let chart_url = keyed.url("/api/v2/chart/api");
        Ok(WavefrontSource { keyed, chart_url })
    }

    /// One attempt at the query.
    async fn query(
        &self,
        query: &str,
        summarization: Option<&str>,
        scope: &Scope,
    ) -> Result<Answer, AttemptError> {
        let mut url = self.chart_url.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("n", "Kayenta-Query")
                .append_pair("q", query)
                .append_pair("s", &scope.start.as_millisecond().to_string())
                .append_pair("e", &scope.end.as_millisecond().to_string())
                .append_pair("g", granularity(scope.step.as_secs()));
            if let Some(summarization) = summarization {
                pairs.append_pair("summarization", summarization);
            }
            pairs
                .append_pair("listMode", "true")
                .append_pair("strict", "true")
                .append_pair("sorted", "true");
        }
        let body = self.keyed.endpoint.send(self.keyed.client.get(url)).await?;
        parse_bounded(&body, self.keyed.endpoint.max_points)
    }
}

/// Wavefront's granularity for a step in seconds: the first of day, hour, minute that divides it, else second
/// (`WavefrontCanaryScopeFactory`).
pub(crate) fn granularity(step: u64) -> &'static str {
    match step {
        step if step > 0 && step % 86_400 == 0 => "d",
        step if step > 0 && step % 3600 == 0 => "h",
        step if step > 0 && step % 60 == 0 => "m",
        _ => "s",
    }
}

/// A metric's Wavefront query config (`WavefrontCanaryMetricSetQueryConfig`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WavefrontQuery {
    #[serde(default)]
    metric_name: Option<String>,
    /// A function wrapping the series, e.g. `avg`.
    #[serde(default)]
    aggregate: Option<String>,
    /// `MEAN`, `MEDIAN`, `MIN`, `MAX`, `SUM`, `COUNT`, `FIRST`, `LAST`; Wavefront's default when absent.
    #[serde(default)]
    summarization: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    timeseries: Option<Vec<Series>>,
    #[serde(default)]
    warnings: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    data: Option<Points<(f64, Option<f64>)>>,
}

const SUMMARIZATIONS: [&str; 8] = [
    "MEAN", "MEDIAN", "MIN", "MAX", "SUM", "COUNT", "FIRST", "LAST",
];

impl MetricSource for WavefrontSource {
    fn kind(&self) -> &'static str {
        "wavefront"
    }

    fn build_query(
        &self,
        metric: &MetricConfig,
        _templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        let name = metric.name.as_str();
        let config: WavefrontQuery = query_config(metric, self.kind(), "Wavefront")?;
        let Some(metric_name) = config.metric_name.filter(|m| !m.trim().is_empty()) else {
            return Err(SourceError::config(
                name,
                "the Wavefront query needs a metricName (e.g. kubernetes.pod.cpu.usage_rate)",
            ));
        };
        if !metric_name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '~' | '/' | ':'))
        {
            return Err(SourceError::config(
                name,
                format!(
                    "metricName {metric_name:?} is not a Wavefront metric name (letters, digits, \
                     _ . - * ~ / :)"
                ),
            ));
        }
        if let Some(summarization) = &config.summarization
            && !SUMMARIZATIONS.contains(&summarization.as_str())
        {
            return Err(SourceError::config(
                name,
                format!(
                    "summarization {summarization:?} is not one of {}",
                    SUMMARIZATIONS.join(", ")
                ),
            ));
        }
        scope.require_step(name)?;
        let mut query = metric_name;
        if !scope.scope.is_empty() {
            wql::check_filter(&scope.scope).map_err(|reason| {
                let reason = format!(
                    "Wavefront puts the scope into ts(…) as a filter, which it is not: {reason}"
                );
                rejected(name, "scope", &scope.scope, &reason, None)
            })?;
            query = format!("{query}, {}", scope.scope);
        }
        query = format!("ts({query})");
        if let Some(aggregate) = config.aggregate.filter(|a| !a.is_empty()) {
            if !aggregate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(SourceError::config(
                    name,
                    format!("aggregate {aggregate:?} is not a function name such as avg or sum"),
                ));
            }
            query = format!("{aggregate}({query})");
        }
        if let Some(summarization) = config.summarization {
            query = format!("{query}{SUMMARIZATION_SUFFIX}{summarization}");
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
            let (expression, summarization) = split_summarization(query);
            let answer = endpoint
                .run(metric, query, || {
                    self.query(expression, summarization, scope)
                })
                .await?;
            if let Some(warnings) = &answer.warnings {
                tracing::info!(
                    metric,
                    store = "Wavefront",
                    "the query has warnings: {warnings}"
                );
            }
            let step = scope.step.as_secs() as i64;
            let mut sets = Vec::new();
            for series in answer.timeseries.unwrap_or_default() {
                let points = series.data.map(|data| data.0).unwrap_or_default();
                let Some(values) = adjusted(&points, step, endpoint.max_points)
                    .map_err(|reason| endpoint.bad_response(metric, query, reason))?
                else {
                    continue;
                };
                let first = points.first().map_or(0, |p| p.0 as i64);
                let last = points.last().map_or(0, |p| p.0 as i64);
                sets.push(MetricSet {
                    name: metric.to_string(),
                    tags: series.tags.unwrap_or_default(),
                    start_millis: first * 1000,
                    end_millis: last * 1000,
                    step_millis: step * 1000,
                    values,
                    query: query.to_string(),
                });
            }
            if sets.is_empty() {
                sets.push(MetricSet::placeholder(metric, query, scope, step * 1000));
            }
            Ok(sets)
        })
    }
}

/// What follows the expression in a query that sets a summarization: `avg(ts(m, env=prod)) summarization=MAX`.
const SUMMARIZATION_SUFFIX: &str = " summarization=";

/// The expression (the `q` parameter) and the summarization of a built query. The expression always ends with
/// `)` and a scope's parentheses balance, so the suffix can only be the one [`MetricSource::build_query`]
/// wrote.
fn split_summarization(query: &str) -> (&str, Option<&str>) {
    match query.rsplit_once(SUMMARIZATION_SUFFIX) {
        Some((expression, summarization))
            if expression.ends_with(')') && SUMMARIZATIONS.contains(&summarization) =>
        {
            (expression, Some(summarization))
        }
        _ => (query, None),
    }
}

/// A series' values on the grid `t0, t0 + step, …` up to its last point (Kayenta's
/// `getAdjustedPointList`): a point's value where one falls on the grid, else NaN; points between grid times
/// are dropped. `None` for a series without points.
fn adjusted(
    points: &[(f64, Option<f64>)],
    step: i64,
    max_points: usize,
) -> Result<Option<Vec<f64>>, String> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok(None);
    };
    if step <= 0 {
        return Err("the step is 0".to_string());
    }
    let (first, last) = (first.0 as i64, last.0 as i64);
    if last < first {
        return Err("the points are not in time order".to_string());
    }
    let slots = (last - first) / step + 1;
    if slots > max_points as i64 {
        return Err(format!(
            "a series spans {slots} steps, more than the {max_points} data points this server \
             accepts per series (max_points)"
        ));
    }
    let mut values = Vec::with_capacity(slots as usize);
    let mut next = 0;
    let mut time = first;
    while time <= last {
        while next < points.len() && (points[next].0 as i64) < time {
            next += 1;
        }
        match points.get(next) {
            Some((at, value)) if *at as i64 == time => values.push(value.unwrap_or(f64::NAN)),
            _ => values.push(f64::NAN),
        }
        time += step;
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn source() -> WavefrontSource {
        WavefrontSource::new(WavefrontAccount {
            api_token: SecretSource::Given(Secret::new("t")),
            ..WavefrontAccount::new("wf", "https://example.wavefront.com")
        })
        .unwrap()
    }

    fn scope(scope: &str) -> Scope {
        Scope {
            scope: scope.into(),
            location: String::new(),
            extended_params: BTreeMap::new(),
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

    /// Kayenta's `WavefrontMetricsServiceTest`.
    #[test]
    fn queries_are_built_as_kayentas_tests_expect() {
        let m = |aggregate: &str| json!({"type": "wavefront", "metricName": "example.metric.name", "aggregate": aggregate});
        assert_eq!(
            build(m("avg"), &scope("")).unwrap(),
            "avg(ts(example.metric.name))"
        );
        assert_eq!(
            build(m(""), &scope("env=test")).unwrap(),
            "ts(example.metric.name, env=test)"
        );
        assert_eq!(
            build(m("avg"), &scope("env=test")).unwrap(),
            "avg(ts(example.metric.name, env=test))"
        );
        let error = build(m("avg"), &scope("env=test), ts(other")).unwrap_err();
        assert!(error.contains("the value of ${scope}"), "{error}");
        assert!(error.contains("as a filter, which it is not"), "{error}");
        assert!(build(m("avg(x)+"), &scope("")).is_err());
        assert!(
            build(
                json!({"metricName": "m", "summarization": "AVERAGE"}),
                &scope("")
            )
            .is_err()
        );
        let summarized = build(
            json!({"metricName": "m", "summarization": "MAX"}),
            &scope("env=a"),
        )
        .unwrap();
        assert_eq!(summarized, "ts(m, env=a) summarization=MAX");
        assert_eq!(
            split_summarization(&summarized),
            ("ts(m, env=a)", Some("MAX"))
        );
        assert_eq!(split_summarization("ts(m, env=a)"), ("ts(m, env=a)", None));
    }

    /// Kayenta's `WavefrontCanaryScopeFactoryTest` and `WavefrontTimeSeriesTest`.
    #[test]
    fn granularity_and_the_step_grid_follow_kayenta() {
        assert_eq!(
            [1, 60, 3600, 86_400, 120, 90].map(granularity),
            ["s", "m", "h", "d", "m", "s"]
        );
        let points = [(0.0, Some(0.0)), (2.0, Some(2.0)), (4.0, Some(4.0))];
        let grid = |step| adjusted(&points, step, 100).unwrap().unwrap();
        assert_eq!(grid(2), [0.0, 2.0, 4.0]);
        assert_eq!(grid(4), [0.0, 4.0]);
        let one = grid(1);
        assert_eq!(one.len(), 5);
        assert!(one[1].is_nan() && one[3].is_nan());
        assert_eq!((one[0], one[2], one[4]), (0.0, 2.0, 4.0));
        assert_eq!(adjusted(&[], 60, 100).unwrap(), None);
        assert!(adjusted(&points, 1, 4).is_err());
    }
}
