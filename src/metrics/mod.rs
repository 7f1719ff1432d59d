//! Metric sources and pairing: fetching each metric of a canary config for the control and the experiment,
//! and pairing the two sides series by series into the [`MetricSetPair`](crate::kayenta::MetricSetPair)s a
//! judge consumes.
//!
//! A source ([`MetricSource`]) does two separate things, so that callers can show or record a query before
//! (or instead of) running it:
//!
//! 1. [`MetricSource::build_query`] turns a metric's query config and a [`Scope`] into the query text, exactly
//!    as Kayenta builds it — except that a value substituted into a query (scope, location, extended
//!    params) can never change its structure: it is escaped inside a string literal and limited to a safe
//!    token elsewhere, or rejected with an error naming the variable and the metric;
//! 2. [`MetricSource::fetch`] runs that query over the scope's window and returns [`MetricSet`]s.
//!
//! Sources: [`PrometheusSource`] (and Prometheus-compatible stores), [`DatadogSource`], [`InfluxDbSource`],
//! [`GraphiteSource`], [`NewRelicSource`], [`SignalFxSource`], [`WavefrontSource`], [`StackdriverSource`]
//! (Google Cloud Monitoring), and [`InlineSource`] (numbers given in the request). [`fetch_canary`] runs all
//! queries of one analysis concurrently and pairs
//! the results with Kayenta's mixing rules ([`pair_metric`]).

mod accounts;
mod datadog;
mod error;
mod fetch;
mod google_auth;
mod graphite;
mod http;
mod influxdb;
mod influxql;
mod inline;
mod keyed;
mod monitoring_filter;
mod newrelic;
mod nrql;
mod pairing;
mod prometheus;
mod promql;
mod signalflow;
mod signalfx;
mod stackdriver;
mod template;
mod wavefront;
mod wql;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::kayenta::canary_config::MetricConfig;

pub use accounts::Accounts;
pub use datadog::{DatadogAccount, DatadogKeys, DatadogSource};
pub use error::{QueryContext, SourceError};
pub use fetch::{
    FetchedCanary, PlannedQuery, QueryRecord, ScopePair, Side, fetch_canary, plan_canary,
};
pub use graphite::{GraphiteAccount, GraphiteSource};
pub use http::{
    AccountBounds, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_POINTS, RetryPolicy, Secret,
};
pub use influxdb::{InfluxDbAccount, InfluxDbSource};
pub use inline::{InlineSeries, InlineSource};
pub use keyed::SecretSource;
pub use newrelic::{NEWRELIC_DEFAULT_URL, NewRelicAccount, NewRelicSource};
pub use pairing::{pair_metric, pair_sets};
pub use prometheus::{PrometheusAccount, PrometheusAuth, PrometheusSource};
pub use signalfx::{SIGNALFX_DEFAULT_URL, SignalFxAccount, SignalFxSource};
pub use stackdriver::{STACKDRIVER_DEFAULT_URL, StackdriverAccount, StackdriverSource};
pub use wavefront::{WavefrontAccount, WavefrontSource};

/// Where and when to look: one side (control or experiment) of a canary, Kayenta's `CanaryScope`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    /// What identifies this side in the metrics, e.g. `myapp-canary` (Kayenta's `scope`).
    pub scope: String,
    /// The region or zone, e.g. `us-east-1` (Kayenta's `location`); empty when not used.
    pub location: String,
    /// Further template variables (Kayenta's `extendedScopeParams`); Prometheus also reads `project` and
    /// `resourceType` here.
    pub extended_params: BTreeMap<String, String>,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    /// The resolution asked of the store (Prometheus's `step`; Datadog picks its own).
    pub step: Duration,
}

impl Scope {
    /// The step in milliseconds, the step of the grid a store's points are put on.
    pub fn step_millis(&self) -> i64 {
        i64::try_from(self.step.as_millis()).unwrap_or(i64::MAX)
    }

    /// An error naming `metric` when there is no step: a store that answers on a grid of steps needs one.
    pub(crate) fn require_step(&self, metric: &str) -> Result<(), SourceError> {
        match self.step.is_zero() {
            true => Err(SourceError::config(
                metric,
                "the step must be at least one second",
            )),
            false => Ok(()),
        }
    }
}

/// One series as a store returned it (Kayenta's `MetricSet`): values from `start_millis`, `step_millis` apart.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSet {
    /// The metric's name in the canary config.
    pub name: String,
    /// What tells this series apart from the metric's other series, e.g. `{region: us-east-1}`.
    pub tags: BTreeMap<String, String>,
    pub start_millis: i64,
    pub end_millis: i64,
    pub step_millis: i64,
    /// Missing values are NaN; a store may also return fewer values than the window holds (Prometheus
    /// leaves gaps out), and pairing pads the end with NaN.
    pub values: Vec<f64>,
    /// The query that fetched it.
    pub query: String,
}

impl MetricSet {
    /// An empty set standing in for a query that found no series, so that pairing can still pair the metric
    /// (Kayenta's placeholder).
    pub fn placeholder(name: &str, query: &str, scope: &Scope, step_millis: i64) -> MetricSet {
        MetricSet {
            name: name.to_string(),
            tags: BTreeMap::new(),
            start_millis: scope.start.as_millisecond(),
            end_millis: scope.end.as_millisecond(),
            step_millis,
            values: Vec::new(),
            query: query.to_string(),
        }
    }

    /// How many values the window holds: `(end − start) / step`, or 0 without a step (Kayenta's
    /// `expectedDataPoints`).
    pub fn expected_data_points(&self) -> usize {
        if self.step_millis <= 0 {
            return 0;
        }
        usize::try_from((self.end_millis - self.start_millis) / self.step_millis).unwrap_or(0)
    }
}

/// A metrics store (or any other provider of metric sets), like a Vector component: one object per account,
/// shared by all queries of all analyses.
pub trait MetricSource: Send + Sync {
    /// The query type this source answers, as in a metric's `query.type` (`prometheus`, `datadog`), or
    /// `inline`.
    fn kind(&self) -> &'static str;

    /// The query for one metric and one side, built from the metric's query config, the config's
    /// `templates` and the scope. Fails with [`SourceError::Config`] when the config or the scope is wrong.
    fn build_query(
        &self,
        metric: &MetricConfig,
        templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError>;

    /// Runs `query` (from [`build_query`](Self::build_query)) over the scope's window. Returns at least one
    /// set: a query that finds nothing gives one empty [placeholder](MetricSet::placeholder).
    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>>;

    /// The names of the metrics the store holds, for Kayenta's `/metadata/metricsService`: Prometheus's
    /// `__name__` label values, Datadog's metrics reported in the last hour. A source without such a list
    /// (inline data) gives none.
    fn metric_names(&self) -> BoxFuture<'_, Result<Vec<String>, SourceError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The names `/metadata/metricsService` offers for `filter` when the store looks them up by the filter
    /// itself (Graphite completes a path node by node); `None`, the default, when the route filters
    /// [`metric_names`](Self::metric_names) instead.
    fn metric_names_for<'a>(
        &'a self,
        _filter: &'a str,
    ) -> Option<BoxFuture<'a, Result<Vec<String>, SourceError>>> {
        None
    }
}

/// Reads a metric's `query` as a source's query config, after checking that its `type` (if given) is the
/// source's.
fn query_config<T: DeserializeOwned>(
    metric: &MetricConfig,
    kind: &str,
    store: &str,
) -> Result<T, SourceError> {
    if let Some(declared) = metric.query.get("type").and_then(|t| t.as_str())
        && declared != kind
    {
        return Err(SourceError::config(
            &metric.name,
            format!(
                "its query is of type \"{declared}\", but the metrics account is a {store} account"
            ),
        ));
    }
    serde_json::from_value(metric.query.clone()).map_err(|error| {
        SourceError::config(
            &metric.name,
            format!("query is not a valid {store} query config: {error}"),
        )
    })
}
