//! Unknown fields of a canary config, by path, with the nearest known name: Kayenta (and coalmine) ignore
//! a misspelled field, so `critcal: true` silently drops the critical gate; this says so
//! (`metrics[0].analysisConfigurations.canary.critcal: unknown field, ignored; did you mean `critical`?`).
//!
//! The known names are serde's own field lists: the config is read into the strict shapes below (Kayenta's
//! `CanaryConfig`, `CanaryMetricConfig`, the `canary` analysis settings and the Prometheus query config,
//! `deny_unknown_fields`), and each refusal names the unknown field, its path and the fields serde expected.
//! The unknown field is then set aside and the config read again, at most [`MAX_WARNINGS`] times.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// At most this many unknown fields are reported for one config.
pub const MAX_WARNINGS: usize = 50;

/// Kayenta's `CanaryConfig`, and coalmine's config-level `mustHaveData` default.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read only for its field names
struct ConfigShape {
    created_timestamp: Option<IgnoredAny>,
    updated_timestamp: Option<IgnoredAny>,
    created_timestamp_iso: Option<IgnoredAny>,
    updated_timestamp_iso: Option<IgnoredAny>,
    id: Option<IgnoredAny>,
    name: Option<IgnoredAny>,
    description: Option<IgnoredAny>,
    config_version: Option<IgnoredAny>,
    applications: Option<IgnoredAny>,
    judge: Option<JudgeShape>,
    metrics: Option<Vec<MetricShape>>,
    templates: Option<IgnoredAny>,
    classifier: Option<ClassifierShape>,
    must_have_data: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct JudgeShape {
    name: Option<IgnoredAny>,
    judge_configurations: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ClassifierShape {
    group_weights: Option<IgnoredAny>,
    score_thresholds: Option<IgnoredAny>,
}

/// `CanaryMetricConfig`; its `query` is read by its `type` (below).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct MetricShape {
    name: Option<IgnoredAny>,
    query: Option<IgnoredAny>,
    groups: Option<IgnoredAny>,
    analysis_configurations: Option<AnalysisShape>,
    extensions: Option<AnalysisShape>,
    scope_name: Option<IgnoredAny>,
}

/// `analysisConfigurations`: other judges may keep sections of their own beside `canary`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct AnalysisShape {
    canary: Option<CanaryShape>,
}

/// `analysisConfigurations.canary`, as the Mann-Whitney judges read it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct CanaryShape {
    direction: Option<IgnoredAny>,
    nan_strategy: Option<IgnoredAny>,
    critical: Option<IgnoredAny>,
    must_have_data: Option<IgnoredAny>,
    muted: Option<IgnoredAny>,
    /// coalmine-v1's count metrics.
    counts: Option<IgnoredAny>,
    effect_size: Option<EffectSizeShape>,
    outliers: Option<OutliersShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct EffectSizeShape {
    measure: Option<IgnoredAny>,
    allowed_increase: Option<IgnoredAny>,
    allowed_decrease: Option<IgnoredAny>,
    critical_increase: Option<IgnoredAny>,
    critical_decrease: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct OutliersShape {
    strategy: Option<IgnoredAny>,
    outlier_factor: Option<IgnoredAny>,
}

/// `PrometheusCanaryMetricSetQueryConfig`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct PrometheusQueryShape {
    #[serde(rename = "type")]
    kind: Option<IgnoredAny>,
    service_type: Option<IgnoredAny>,
    resource_type: Option<IgnoredAny>,
    metric_name: Option<IgnoredAny>,
    label_bindings: Option<IgnoredAny>,
    group_by_fields: Option<IgnoredAny>,
    custom_inline_template: Option<IgnoredAny>,
    custom_filter_template: Option<IgnoredAny>,
    custom_filter: Option<IgnoredAny>,
}

/// One warning per unknown field of a parsed config (unknown fields are kept in it, so it still has them).
pub fn of_config(config: &super::CanaryConfig) -> Vec<String> {
    serde_json::to_value(config)
        .map(|value| unknown_fields(&value))
        .unwrap_or_default()
}

/// One warning per unknown field of `config` (a canary config as JSON), by path.
pub fn unknown_fields(config: &Value) -> Vec<String> {
    let mut warnings = unknown_in::<ConfigShape>(config, "");
    if let Some(metrics) = config.get("metrics").and_then(Value::as_array) {
        for (index, metric) in metrics.iter().enumerate() {
            let query = &metric["query"];
            if query.is_object() && query["type"].as_str().is_none_or(|t| t == "prometheus") {
                let prefix = format!("metrics[{index}].query.");
                warnings.extend(unknown_in::<PrometheusQueryShape>(query, &prefix));
            }
        }
    }
    warnings.truncate(MAX_WARNINGS);
    warnings
}

/// The unknown fields of `value` read as `T`, each path prefixed with `prefix`.
fn unknown_in<T: for<'de> Deserialize<'de>>(value: &Value, prefix: &str) -> Vec<String> {
    let mut value = value.clone();
    let mut warnings = Vec::new();
    while warnings.len() < MAX_WARNINGS {
        let Err(error) = serde_path_to_error::deserialize::<_, T>(&value) else {
            break;
        };
        let path: Vec<String> = error
            .path()
            .iter()
            .map(|segment| segment.to_string())
            .collect();
        let names = quoted(&error.inner().to_string());
        let Some((field, known)) = names.split_first() else {
            break; // not an unknown field: a wrong type, left to the config's own checks
        };
        if !error.inner().to_string().starts_with("unknown field")
            || !remove(&mut value, &path, field)
        {
            break;
        }
        let mut at = prefix.to_string();
        for segment in &path {
            if !segment.starts_with('[') && !at.is_empty() && !at.ends_with('.') {
                at.push('.');
            }
            at.push_str(segment);
        }
        if !at.ends_with(field.as_str()) {
            if !at.is_empty() && !at.ends_with('.') {
                at.push('.');
            }
            at.push_str(field);
        }
        let mut warning = format!("{at}: unknown field, ignored");
        if let Some(nearest) = nearest(field, known) {
            warning.push_str(&format!("; did you mean `{nearest}`?"));
        }
        warnings.push(warning);
    }
    warnings
}

/// The `quoted` names of a serde message, in order: the unknown field, then the expected ones.
fn quoted(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Removes `field` from the object at `path` in `value` (the path may or may not end with the field).
fn remove(value: &mut Value, path: &[String], field: &str) -> bool {
    let mut at = value;
    for segment in path {
        let next = if let Some(index) = segment
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            index
                .parse::<usize>()
                .ok()
                .and_then(|index| at.get_mut(index))
        } else if segment == field && at.get(field).is_some() {
            break;
        } else {
            at.get_mut(segment.as_str())
        };
        match next {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.as_object_mut()
        .is_some_and(|object| object.remove(field).is_some())
}

/// The known name nearest to `field` (case-insensitive edit distance), if one is near enough to be a typo.
fn nearest<'a>(field: &str, known: &'a [String]) -> Option<&'a str> {
    let field = field.to_lowercase();
    known
        .iter()
        .map(|name| (distance(&field, &name.to_lowercase()), name))
        .filter(|(distance, name)| *distance <= (name.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.as_str())
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misspelled_fields_are_named_by_path_with_the_nearest_known_name() {
        let config = json!({
            "name": "c", "descripton": "x",
            "metrics": [
                {"name": "a", "query": {"type": "prometheus", "metricName": "up", "groupByFeilds": ["region"]},
                 "analysisConfigurations": {"canary": {"critcal": true, "effectSize": {"allowedIncrese": 1.1}}}},
                {"name": "b", "query": {"type": "datadog", "whatever": 1}, "scopeNmae": "default", "zzzzzzzz": 1}
            ]
        });
        assert_eq!(
            unknown_fields(&config),
            [
                "descripton: unknown field, ignored; did you mean `description`?",
                "metrics[0].analysisConfigurations.canary.critcal: unknown field, ignored; did you mean `critical`?",
                "metrics[0].analysisConfigurations.canary.effectSize.allowedIncrese: unknown field, ignored; did you mean `allowedIncrease`?",
                "metrics[1].scopeNmae: unknown field, ignored; did you mean `scopeName`?",
                "metrics[1].zzzzzzzz: unknown field, ignored",
                "metrics[0].query.groupByFeilds: unknown field, ignored; did you mean `groupByFields`?",
            ]
        );
    }

    #[test]
    fn the_examples_have_no_unknown_fields() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze");
        let text = std::fs::read_to_string(dir.join("checkout-canary.json")).unwrap();
        assert_eq!(
            unknown_fields(&serde_json::from_str(&text).unwrap()),
            Vec::<String>::new()
        );
    }
}
