//! One analysis's metrics: every query of a canary config built first (so that a config error fails before
//! any request), then all of them run concurrently — Kayenta runs them one after another — and the results
//! paired metric by metric, in config order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::pairing::pair_metric;
use super::{MetricSet, MetricSource, Scope, SourceError};
use crate::kayenta::{CanaryConfig, MetricSetPair};

/// The control and experiment scopes of one scope name (Kayenta's `CanaryScopePair`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScopePair {
    pub control: Scope,
    pub experiment: Scope,
}

/// Which side of the canary a query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Control,
    Experiment,
}

/// A query to run: for which metric and side, the query text, and its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedQuery<'a> {
    pub metric: &'a str,
    pub side: Side,
    pub query: String,
    pub scope: &'a Scope,
}

/// What one query did.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRecord {
    pub metric: String,
    pub side: Side,
    pub query: String,
    /// Series that came back with at least one value (an empty placeholder does not count).
    pub series: usize,
    /// Values that are not NaN, over all series.
    pub points: usize,
    /// How long the query took, retries included.
    pub duration: Duration,
}

/// The pairs for the judge, in config order (metric by metric, then by tags), and a record of each query.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedCanary {
    pub pairs: Vec<MetricSetPair>,
    /// Control then experiment for each metric, in config order.
    pub queries: Vec<QueryRecord>,
}

/// The queries of an analysis, control then experiment for each metric in config order, without running
/// them. `scopes` is keyed by the metrics' `scopeName` (`default` when unset).
pub fn plan_canary<'a>(
    source: &dyn MetricSource,
    config: &'a CanaryConfig,
    scopes: &'a BTreeMap<String, ScopePair>,
) -> Result<Vec<PlannedQuery<'a>>, SourceError> {
    let scope_name = |metric: &'a crate::kayenta::canary_config::MetricConfig| {
        metric.scope_name.as_deref().unwrap_or("default")
    };
    let missing: BTreeSet<&str> = config
        .metrics
        .iter()
        .map(scope_name)
        .filter(|name| !scopes.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Config {
            metric: None,
            message: format!(
                "Canary metrics require scopes which were not provided in the execution request: \
                 [{}]",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let mut planned = Vec::with_capacity(config.metrics.len() * 2);
    for metric in &config.metrics {
        let pair = &scopes[scope_name(metric)];
        for (side, scope) in [
            (Side::Control, &pair.control),
            (Side::Experiment, &pair.experiment),
        ] {
            let query = source.build_query(metric, &config.templates, scope)?;
            planned.push(PlannedQuery {
                metric: &metric.name,
                side,
                query,
                scope,
            });
        }
    }
    Ok(planned)
}

/// Fetches and pairs all metrics of `config`, running at most `concurrency` queries at once. The first
/// failure (in config order) ends the analysis.
pub async fn fetch_canary(
    source: &dyn MetricSource,
    config: &CanaryConfig,
    scopes: &BTreeMap<String, ScopePair>,
    concurrency: usize,
) -> Result<FetchedCanary, SourceError> {
    let planned = plan_canary(source, config, scopes)?;
    // The futures are made up front by a named function (not in a stream combinator's closure), so that the
    // compiler can prove the whole analysis future `Send` for a spawned task.
    let fetches: Vec<_> = planned
        .into_iter()
        .map(|planned| fetch_one(source, planned))
        .collect();
    let results: Vec<(QueryRecord, Vec<MetricSet>)> = futures::stream::iter(fetches)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;

    let mut pairs = Vec::new();
    let mut queries = Vec::with_capacity(results.len());
    let mut results = results.into_iter();
    for metric in &config.metrics {
        let (Some((control_record, control)), Some((experiment_record, experiment))) =
            (results.next(), results.next())
        else {
            unreachable!("two queries are planned per metric");
        };
        pairs.extend(pair_metric(&metric.name, &control, &experiment)?);
        queries.extend([control_record, experiment_record]);
    }
    Ok(FetchedCanary { pairs, queries })
}

/// Runs one planned query and records what it did.
async fn fetch_one<'a>(
    source: &'a dyn MetricSource,
    planned: PlannedQuery<'a>,
) -> Result<(QueryRecord, Vec<MetricSet>), SourceError> {
    let started = Instant::now();
    let fetched = source
        .fetch(planned.metric, &planned.query, planned.scope)
        .await;
    crate::telemetry::query_made(
        source.kind(),
        started.elapsed(),
        fetched.as_ref().err().map(SourceError::kind),
    );
    let sets = fetched?;
    let record = QueryRecord {
        metric: planned.metric.to_string(),
        side: planned.side,
        series: sets.iter().filter(|set| !set.values.is_empty()).count(),
        points: sets
            .iter()
            .flat_map(|set| &set.values)
            .filter(|value| !value.is_nan())
            .count(),
        query: planned.query,
        duration: started.elapsed(),
    };
    Ok((record, sets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::InlineSource;

    fn scope(scope: &str) -> Scope {
        Scope {
            scope: scope.into(),
            location: String::new(),
            extended_params: BTreeMap::new(),
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            end: "2024-01-01T00:04:00Z".parse().unwrap(),
            step: Duration::from_secs(60),
        }
    }

    fn config(metrics: &[(&str, Option<&str>)]) -> CanaryConfig {
        let metrics = metrics
            .iter()
            .map(|(name, scope_name)| {
                let query = serde_json::json!({"type": "inline"});
                serde_json::json!({"name": name, "query": query, "scopeName": scope_name})
            })
            .collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({"name": "c", "metrics": metrics})).unwrap()
    }

    fn source() -> InlineSource {
        InlineSource::new(
            serde_json::from_value(serde_json::json!([
                {"metric": "cpu", "scope": "baseline", "values": [1, 2, 3, 4]},
                {"metric": "cpu", "scope": "canary", "values": [2, "NaN", 4]},
                {"metric": "errors", "scope": "baseline", "values": [0, 0],
                 "tags": {"code": "500"}},
                {"metric": "errors", "scope": "baseline", "values": [7], "tags": {"code": "503"}},
                {"metric": "errors", "scope": "canary", "values": [1], "tags": {"code": "500"}},
                {"metric": "latency", "scope": "eu-baseline", "values": [5]}
            ]))
            .unwrap(),
        )
    }

    fn scopes(pairs: &[(&str, &str, &str)]) -> BTreeMap<String, ScopePair> {
        pairs
            .iter()
            .map(|(name, control, experiment)| {
                (
                    name.to_string(),
                    ScopePair {
                        control: scope(control),
                        experiment: scope(experiment),
                    },
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn fetches_and_pairs_every_metric_in_config_order() {
        let config = config(&[
            ("errors", None),
            ("cpu", Some("default")),
            ("latency", Some("eu")),
        ]);
        let scopes = scopes(&[
            ("default", "baseline", "canary"),
            ("eu", "eu-baseline", "eu-canary"),
        ]);
        let fetched = fetch_canary(&source(), &config, &scopes, 2).await.unwrap();

        let ids: Vec<&str> = fetched.pairs.iter().map(|pair| pair.id.as_str()).collect();
        assert_eq!(ids, ["errors-0", "errors-1", "cpu-0", "latency-0"]);
        assert_eq!(fetched.pairs[1].tags["code"], "503");
        assert!(
            fetched.pairs[1]
                .values
                .experiment
                .iter()
                .all(|v| v.is_nan())
        );
        assert_eq!(fetched.pairs[2].values.control, [1.0, 2.0, 3.0, 4.0]);

        let records: Vec<(&str, Side, usize, usize)> = fetched
            .queries
            .iter()
            .map(|q| (q.metric.as_str(), q.side, q.series, q.points))
            .collect();
        assert_eq!(
            records,
            [
                ("errors", Side::Control, 2, 3),
                ("errors", Side::Experiment, 1, 1),
                ("cpu", Side::Control, 1, 4),
                ("cpu", Side::Experiment, 1, 2),
                ("latency", Side::Control, 1, 1),
                ("latency", Side::Experiment, 0, 0),
            ]
        );
        assert_eq!(
            fetched.queries[3].query,
            r#"inline metric "cpu" scope "canary""#
        );
    }

    #[tokio::test]
    async fn missing_scopes_are_named_as_kayenta_names_them() {
        let config = config(&[
            ("cpu", Some("eu")),
            ("errors", None),
            ("latency", Some("us")),
        ]);
        let error = fetch_canary(&source(), &config, &scopes(&[("eu", "a", "b")]), 8)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SourceError::Config { metric: None, .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "Canary metrics require scopes which were not provided in the execution request: \
             [default, us]"
        );
    }

    #[test]
    fn queries_can_be_planned_without_running_them() {
        let config = config(&[("cpu", None)]);
        let scopes = scopes(&[("default", "baseline", "canary")]);
        let planned = plan_canary(&source(), &config, &scopes).unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!(
            (planned[0].side, planned[0].scope.scope.as_str()),
            (Side::Control, "baseline")
        );
        assert_eq!(planned[1].query, r#"inline metric "cpu" scope "canary""#);
    }
}
