//! Metric sets given in the request itself, for CD tools that already hold the numbers (and for tests): a
//! source answering each query with the given series of that metric and scope.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{MetricSet, MetricSource, Scope, SourceError};
use crate::kayenta::canary_config::MetricConfig;
use crate::kayenta::numbers;

/// One given series: the values of `metric` for the side whose scope is `scope`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineSeries {
    /// The metric's name in the canary config.
    pub metric: String,
    /// The scope (e.g. `myapp-canary`) of the side these values belong to.
    pub scope: String,
    /// Tells this series apart from the metric's other series of the same side.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Numbers, with `null` or `"NaN"` for missing values.
    #[serde(deserialize_with = "numbers::deserialize_values")]
    pub values: Vec<f64>,
    /// When the first value was taken; the scope's start by default.
    #[serde(default)]
    pub start: Option<jiff::Timestamp>,
    /// Seconds between values; the scope's step by default.
    #[serde(default)]
    pub step: Option<u64>,
}

/// Answers queries from given series.
#[derive(Debug, Clone, Default)]
pub struct InlineSource {
    series: Vec<InlineSeries>,
}

impl InlineSource {
    pub fn new(series: Vec<InlineSeries>) -> InlineSource {
        InlineSource { series }
    }
}

impl MetricSource for InlineSource {
    fn kind(&self) -> &'static str {
        "inline"
    }

    /// A description of what is looked up; whatever the metric's query config says is not used.
    fn build_query(
        &self,
        metric: &MetricConfig,
        _templates: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<String, SourceError> {
        Ok(format!(
            "inline metric {:?} scope {:?}",
            metric.name, scope.scope
        ))
    }

    fn fetch<'a>(
        &'a self,
        metric: &'a str,
        query: &'a str,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<Vec<MetricSet>, SourceError>> {
        let scope_step_millis = scope.step_millis();
        let sets: Vec<MetricSet> = self
            .series
            .iter()
            .filter(|series| series.metric == metric && series.scope == scope.scope)
            .map(|series| {
                let start_millis = series.start.unwrap_or(scope.start).as_millisecond();
                let step_millis = series
                    .step
                    .map_or(scope_step_millis, |step| step.saturating_mul(1000) as i64);
                MetricSet {
                    name: metric.to_string(),
                    tags: series.tags.clone(),
                    start_millis,
                    end_millis: start_millis + series.values.len() as i64 * step_millis,
                    step_millis,
                    values: series.values.clone(),
                    query: query.to_string(),
                }
            })
            .collect();
        let sets = if sets.is_empty() {
            vec![MetricSet::placeholder(
                metric,
                query,
                scope,
                scope_step_millis,
            )]
        } else {
            sets
        };
        Box::pin(futures::future::ready(Ok(sets)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn answers_with_the_series_of_the_metric_and_scope() {
        let series: Vec<InlineSeries> = serde_json::from_value(serde_json::json!([
            {"metric": "cpu", "scope": "canary", "values": [1, null, "NaN", 4],
             "tags": {"pod": "a"}},
            {"metric": "cpu", "scope": "canary", "values": [5], "start": "2024-01-01T00:10:00Z",
             "step": 30},
            {"metric": "cpu", "scope": "baseline", "values": [9]},
            {"metric": "mem", "scope": "canary", "values": [9]}
        ]))
        .unwrap();
        let source = InlineSource::new(series);
        let scope = Scope {
            scope: "canary".into(),
            location: String::new(),
            extended_params: BTreeMap::new(),
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            end: "2024-01-01T01:00:00Z".parse().unwrap(),
            step: Duration::from_secs(60),
        };
        let metric = MetricConfig {
            name: "cpu".into(),
            ..MetricConfig::default()
        };
        let query = source
            .build_query(&metric, &BTreeMap::new(), &scope)
            .unwrap();
        assert_eq!(query, r#"inline metric "cpu" scope "canary""#);
        let sets = source.fetch("cpu", &query, &scope).await.unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].tags["pod"], "a");
        assert_eq!(
            (
                sets[0].start_millis,
                sets[0].step_millis,
                sets[0].end_millis
            ),
            (1_704_067_200_000, 60_000, 1_704_067_440_000)
        );
        assert!(sets[0].values[1].is_nan() && sets[0].values[2].is_nan());
        assert_eq!(
            (sets[1].start_millis, sets[1].step_millis),
            (1_704_067_800_000, 30_000)
        );

        let none = source.fetch("disk", "q", &scope).await.unwrap();
        assert_eq!(none, [MetricSet::placeholder("disk", "q", &scope, 60_000)]);
    }
}
