//! How judged results are shown to people, the same in the terminal (`coalmine analyze`) and on the report
//! pages (`coalmine serve`): numbers to four significant digits, metrics as `name{tag=value}`.

use serde_json::Value;

use crate::kayenta::judge_result::CanaryAnalysisResult;

/// A metric's judgement as text: what the terminal table and the report page show of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCells {
    /// `name{tag=value,...}`.
    pub label: String,
    /// The classification, with ` (critical)` and ` (muted)` when they apply.
    pub classification: String,
    pub ratio: String,
    pub estimate: String,
    /// `95% [lower, upper]`.
    pub interval: String,
    pub p_value: String,
    /// `control/experiment` point counts.
    pub points: String,
    /// What decided the classification, as the judge says it (its `decision` detail): for `mann-whitney`, the
    /// interval against the tolerance band and the effect size against its threshold; never the p-value.
    pub decided_by: String,
}

/// The cells of `result`; `-` for what the judge did not say.
pub fn metric_cells(result: &CanaryAnalysisResult) -> MetricCells {
    let meta = result.result_metadata.as_ref();
    let get = |key: &str| meta.and_then(|m| m.get(key));
    let interval = match get("confidenceInterval")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([lower, upper]) => {
            let level = get("confidenceLevel")
                .and_then(Value::as_f64)
                .map(|l| format!("{}% ", number(l * 100.0)));
            format!(
                "{}[{}, {}]",
                level.unwrap_or_default(),
                json_value(lower),
                json_value(upper)
            )
        }
        _ => "-".to_string(),
    };
    let mut classification = result.classification.clone();
    if result.critical {
        classification.push_str(" (critical)");
    }
    if result.muted {
        classification.push_str(" (muted)");
    }
    MetricCells {
        label: metric_label(result),
        classification,
        ratio: get("ratio").map_or("-".to_string(), json_value),
        estimate: get("estimate").map_or("-".to_string(), json_value),
        interval,
        p_value: get("pValue").map_or("-".to_string(), json_value),
        points: format!(
            "{}/{}",
            result.control_metadata.stats.count, result.experiment_metadata.stats.count
        ),
        decided_by: get("decision").map_or("-".to_string(), json_value),
    }
}

/// The metric's name with its tags, e.g. `latency{pod=a}`.
pub fn metric_label(result: &CanaryAnalysisResult) -> String {
    if result.tags.is_empty() {
        return result.name.clone();
    }
    let tags: Vec<String> = result
        .tags
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    format!("{}{{{}}}", result.name, tags.join(","))
}

/// A JSON value from a judge's metadata: numbers as [`number`] writes them, strings as they are.
pub fn json_value(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A duration as people say it: `45s`, `12m 5s`, `3h 20m` (negative durations are `0s`).
pub fn human_duration(duration: jiff::SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        _ => format!("{}h {}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// Four significant digits, scientific notation for very small or large magnitudes.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(1.234567), "1.235");
        assert_eq!(number(-0.0123456), "-0.01235");
        assert_eq!(number(98.0), "98");
        assert_eq!(number(12345.6), "12346");
        assert_eq!(number(3.2e-21), "3.20e-21");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
