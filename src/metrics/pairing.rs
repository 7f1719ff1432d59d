//! Pairing a metric's control and experiment sets series by series, as Kayenta's mixer does
//! (`MetricSetMixerService`), into the [`MetricSetPair`]s a judge consumes:
//!
//! - each side must have at least one set, and when both sides have tags, the same tag keys;
//! - if only the control has a set without tags, each experiment set is paired with a NaN-filled copy of the
//!   first control set carrying its tags (and the other way round); otherwise the sets are paired by equal
//!   tags, a side without a set for some tags getting such a NaN-filled copy of its first set;
//! - each side is padded with NaN at the end to the number of values its window holds.
//!
//! Unlike Kayenta, pairs come in a fixed order (by tags) with ids `<metric>-<index>` instead of random UUIDs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{MetricSet, SourceError};
use crate::kayenta::MetricSetPair;
use crate::kayenta::metric_set_pair::{PairScope, PairScopes, PairValues};

/// The pairs of `metric`, from the sets of each side named `metric` (others are ignored, as in Kayenta).
pub fn pair_metric(
    metric: &str,
    control: &[MetricSet],
    experiment: &[MetricSet],
) -> Result<Vec<MetricSetPair>, SourceError> {
    let control: Vec<&MetricSet> = control.iter().filter(|set| set.name == metric).collect();
    let experiment: Vec<&MetricSet> = experiment.iter().filter(|set| set.name == metric).collect();
    let (Some(&first_control), Some(&first_experiment)) = (control.first(), experiment.first())
    else {
        let side = if control.is_empty() {
            "control"
        } else {
            "experiment"
        };
        return Err(SourceError::pairing(
            metric,
            format!(
                "No {side} metrics found for {metric} and the metric service did not create a \
                 placeholder."
            ),
        ));
    };

    let tag_keys = |sets: &[&MetricSet]| -> BTreeSet<String> {
        sets.iter()
            .flat_map(|set| set.tags.keys().cloned())
            .collect()
    };
    let (control_keys, experiment_keys) = (tag_keys(&control), tag_keys(&experiment));
    if !control_keys.is_empty() && !experiment_keys.is_empty() && control_keys != experiment_keys {
        return Err(SourceError::pairing(
            metric,
            format!(
                "Control metrics have different tag keys than the experiment tag set ({} != {}).",
                java_set(&control_keys),
                java_set(&experiment_keys)
            ),
        ));
    }

    let untagged = |sets: &[&MetricSet]| sets.iter().any(|set| set.tags.is_empty());
    let sides: Vec<(MetricSet, MetricSet)> = match (untagged(&control), untagged(&experiment)) {
        (true, false) => experiment
            .iter()
            .map(|&set| (nan_copy(first_control, &set.tags), set.clone()))
            .collect(),
        (false, true) => control
            .iter()
            .map(|&set| (set.clone(), nan_copy(first_experiment, &set.tags)))
            .collect(),
        _ => {
            let all_tags: BTreeSet<&BTreeMap<String, String>> = control
                .iter()
                .chain(&experiment)
                .map(|set| &set.tags)
                .collect();
            let find = |sets: &[&MetricSet], first: &MetricSet, tags: &BTreeMap<String, String>| {
                sets.iter()
                    .find(|set| &set.tags == tags)
                    .map_or_else(|| nan_copy(first, tags), |&set| set.clone())
            };
            all_tags
                .into_iter()
                .map(|tags| {
                    (
                        find(&control, first_control, tags),
                        find(&experiment, first_experiment, tags),
                    )
                })
                .collect()
        }
    };
    sides
        .into_iter()
        .enumerate()
        .map(|(index, (control, experiment))| {
            pair_sets(&control, &experiment, format!("{metric}-{index}"))
        })
        .collect()
}

/// One pair (Kayenta's `mixOne`): the sets must have the same name and tags; each side is padded with NaN to
/// its [expected number of values](MetricSet::expected_data_points).
pub fn pair_sets(
    control: &MetricSet,
    experiment: &MetricSet,
    id: String,
) -> Result<MetricSetPair, SourceError> {
    let mismatch = |message: String| Err(SourceError::pairing(&control.name, message));
    if control.name.is_empty() {
        return mismatch("Control metric set name was not set.".into());
    }
    if experiment.name.is_empty() {
        return mismatch("Experiment metric set name was not set.".into());
    }
    if control.name != experiment.name {
        return mismatch(format!(
            "Control metric set name '{}' does not match experiment metric set name '{}'.",
            control.name, experiment.name
        ));
    }
    if control.tags != experiment.tags {
        return mismatch(format!(
            "Control metric set tags {} do not match experiment metric set tags {}.",
            java_map(&control.tags),
            java_map(&experiment.tags)
        ));
    }
    let attributes =
        |set: &MetricSet| BTreeMap::from([("query".to_string(), Value::from(set.query.as_str()))]);
    Ok(MetricSetPair {
        name: control.name.clone(),
        id,
        tags: control.tags.clone(),
        values: PairValues {
            control: padded(control),
            experiment: padded(experiment),
        },
        scopes: PairScopes {
            control: Some(pair_scope(control)),
            experiment: Some(pair_scope(experiment)),
        },
        attributes: BTreeMap::from([
            ("control".to_string(), attributes(control)),
            ("experiment".to_string(), attributes(experiment)),
        ]),
    })
}

/// A set like `template` (times, step, query) with `tags` and only NaN values (Kayenta's `makeTemplate`).
fn nan_copy(template: &MetricSet, tags: &BTreeMap<String, String>) -> MetricSet {
    MetricSet {
        tags: tags.clone(),
        values: vec![f64::NAN; template.expected_data_points()],
        ..template.clone()
    }
}

/// The set's values, padded at the end with NaN to the number its window holds.
fn padded(set: &MetricSet) -> Vec<f64> {
    let mut values = set.values.clone();
    let expected = set.expected_data_points();
    if values.len() < expected {
        values.resize(expected, f64::NAN);
    }
    values
}

fn pair_scope(set: &MetricSet) -> PairScope {
    PairScope {
        start_time_iso: jiff::Timestamp::from_millisecond(set.start_millis)
            .ok()
            .map(|start| start.to_string()),
        start_time_millis: Some(set.start_millis),
        step_millis: Some(set.step_millis),
    }
}

/// A set as Java prints it: `[a, b]`.
fn java_set(items: &BTreeSet<String>) -> String {
    format!("[{}]", items.iter().cloned().collect::<Vec<_>>().join(", "))
}

/// A map as Java prints it: `{a=1, b=2}`.
fn java_map(map: &BTreeMap<String, String>) -> String {
    format!(
        "{{{}}}",
        map.iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, tags: &[(&str, &str)], values: &[f64]) -> MetricSet {
        MetricSet {
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start_millis: 1_704_067_200_000,
            end_millis: 1_704_067_200_000 + 4 * 60_000,
            step_millis: 60_000,
            values: values.to_vec(),
            query: format!("q-{name}-{}", values.len()),
        }
    }

    fn error(result: Result<Vec<MetricSetPair>, SourceError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn pads_each_side_at_the_end_and_fills_in_scopes_and_queries() {
        let pairs = pair_metric(
            "cpu",
            &[set("cpu", &[], &[1.0, 2.0])],
            &[set("cpu", &[], &[3.0, 4.0, 5.0, 6.0, 7.0])],
        )
        .unwrap();
        assert_eq!(pairs.len(), 1);
        let pair = &pairs[0];
        assert_eq!((pair.name.as_str(), pair.id.as_str()), ("cpu", "cpu-0"));
        assert_eq!(pair.values.control[..2], [1.0, 2.0]);
        assert!(
            pair.values.control.len() == 4 && pair.values.control[2..].iter().all(|v| v.is_nan())
        );
        assert_eq!(
            pair.values.experiment,
            [3.0, 4.0, 5.0, 6.0, 7.0],
            "never truncated"
        );
        let scope = pair.scopes.control.as_ref().unwrap();
        assert_eq!(
            scope.start_time_iso.as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            (scope.start_time_millis, scope.step_millis),
            (Some(1_704_067_200_000), Some(60_000))
        );
        assert_eq!(pair.attributes["control"]["query"], "q-cpu-2");
        assert_eq!(pair.attributes["experiment"]["query"], "q-cpu-5");
    }

    #[test]
    fn pairs_by_tags_with_nan_copies_for_missing_sides() {
        let control = [
            set("m", &[("pod", "b")], &[1.0]),
            set("m", &[("pod", "a")], &[2.0]),
            set("m", &[("pod", "a")], &[9.0]),
        ];
        let experiment = [
            set("m", &[("pod", "c")], &[3.0]),
            set("m", &[("pod", "a")], &[4.0]),
        ];
        let pairs = pair_metric("m", &control, &experiment).unwrap();
        let summary: Vec<(String, String, Vec<f64>, usize)> = pairs
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.tags["pod"].clone(),
                    p.values.control.clone(),
                    p.values.experiment.iter().filter(|v| v.is_nan()).count(),
                )
            })
            .collect();
        assert_eq!(summary[0].0, "m-0");
        assert_eq!(
            (summary[0].1.as_str(), summary[0].2[0], summary[0].3),
            ("a", 2.0, 3),
            "the first set of equal tags"
        );
        assert_eq!(
            (summary[1].1.as_str(), summary[1].2[0], summary[1].3),
            ("b", 1.0, 4),
            "an experiment NaN copy"
        );
        assert_eq!(summary[2].1, "c");
        assert!(
            summary[2].2.iter().all(|v| v.is_nan()) && summary[2].2.len() == 4,
            "a control NaN copy"
        );
        assert_eq!(
            pairs[2].attributes["control"]["query"], "q-m-1",
            "copies keep the first set's query"
        );
    }

    #[test]
    fn an_untagged_side_is_a_template_for_the_other() {
        let control = [set("m", &[], &[])];
        let experiment = [
            set("m", &[("region", "eu")], &[1.0]),
            set("m", &[("region", "us")], &[2.0]),
        ];
        let pairs = pair_metric("m", &control, &experiment).unwrap();
        assert_eq!(
            pairs
                .iter()
                .map(|p| p.tags["region"].as_str())
                .collect::<Vec<_>>(),
            ["eu", "us"]
        );
        let all_nan = |values: &[f64]| values.len() == 4 && values.iter().all(|v| v.is_nan());
        assert!(pairs.iter().all(|p| all_nan(&p.values.control)));

        let pairs = pair_metric("m", &experiment, &control).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].values.control[0], 2.0);
        assert!(pairs[1].values.experiment.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn kayenta_messages() {
        assert_eq!(
            error(pair_metric("m", &[], &[set("m", &[], &[])])),
            "metric 'm': No control metrics found for m and the metric service did not create a \
             placeholder."
        );
        assert_eq!(
            error(pair_metric(
                "m",
                &[set("m", &[], &[])],
                &[set("other", &[], &[])]
            )),
            "metric 'm': No experiment metrics found for m and the metric service did not create a \
             placeholder."
        );
        assert_eq!(
            error(pair_metric(
                "m",
                &[set("m", &[("a", "1"), ("b", "1")], &[])],
                &[set("m", &[("c", "1")], &[])]
            )),
            "metric 'm': Control metrics have different tag keys than the experiment tag set \
             ([a, b] != [c])."
        );
        let id = || "id".to_string();
        assert_eq!(
            pair_sets(&set("a", &[], &[]), &set("b", &[], &[]), id())
                .unwrap_err()
                .to_string(),
            "metric 'a': Control metric set name 'a' does not match experiment metric set name 'b'."
        );
        assert_eq!(
            pair_sets(
                &set("a", &[("x", "1"), ("y", "2")], &[]),
                &set("a", &[("x", "2"), ("y", "2")], &[]),
                id()
            )
            .unwrap_err()
            .to_string(),
            "metric 'a': Control metric set tags {x=1, y=2} do not match experiment metric set \
             tags {x=2, y=2}."
        );
        assert_eq!(
            pair_sets(&set("", &[], &[]), &set("a", &[], &[]), id())
                .unwrap_err()
                .to_string(),
            "metric '': Control metric set name was not set."
        );
        assert_eq!(
            pair_sets(&set("a", &[], &[]), &set("", &[], &[]), id())
                .unwrap_err()
                .to_string(),
            "metric 'a': Experiment metric set name was not set."
        );
    }

    #[test]
    fn a_zero_step_expects_no_values() {
        let mut control = set("m", &[], &[1.0]);
        control.step_millis = 0;
        let pairs = pair_metric("m", &[control], &[set("m", &[], &[])]).unwrap();
        assert_eq!(pairs[0].values.control, [1.0]);
        assert_eq!(pairs[0].values.experiment.len(), 4);
    }
}
