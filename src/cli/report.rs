//! A CanaryJudgeResult as a table a person reads at a glance: one row per metric series with its
//! classification, ratio, estimate and interval, p-value and point counts; then the group scores and the
//! verdict.

use std::fmt::Write;

use serde_json::Value;

use crate::kayenta::CanaryJudgeResult;
use crate::kayenta::judge_result::CanaryAnalysisResult;

/// Renders `result` as text, thresholds included in the verdict line.
pub fn render(result: &CanaryJudgeResult, pass: f64, marginal: f64) -> String {
    let header = [
        "METRIC",
        "RESULT",
        "RATIO",
        "ESTIMATE",
        "INTERVAL",
        "P-VALUE",
        "POINTS C/E",
    ];
    let rows: Vec<[String; 7]> = result.results.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            // Text columns align left, numbers right.
            if index < 2 {
                let _ = write!(text, "{cell:<width$}  ");
            } else {
                let _ = write!(text, "{cell:>width$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &header);
    for row in &rows {
        line(&mut out, &row.each_ref().map(String::as_str));
    }
    for result in result.results.iter() {
        if let Some(reason) = &result.classification_reason {
            let _ = writeln!(out, "  {}: {reason}", label(result));
        }
    }

    if !result.group_scores.is_empty() {
        let groups: Vec<String> = result
            .group_scores
            .iter()
            .map(|group| format!("{} {}", group.name, number(group.score)))
            .collect();
        let _ = writeln!(out, "\nGroups: {}", groups.join(", "));
    }
    let score = &result.score;
    let _ = write!(
        out,
        "Verdict: {} (score {}; pass >= {}, marginal >= {})",
        score.classification,
        number(score.score),
        number(pass),
        number(marginal)
    );
    if !score.classification_reason.is_empty() {
        let _ = write!(out, ": {}", score.classification_reason);
    }
    out.push('\n');
    out
}

fn row(result: &CanaryAnalysisResult) -> [String; 7] {
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
                value(lower),
                value(upper)
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
    [
        label(result),
        classification,
        get("ratio").map_or("-".to_string(), value),
        get("estimate").map_or("-".to_string(), value),
        interval,
        get("pValue").map_or("-".to_string(), value),
        format!(
            "{}/{}",
            result.control_metadata.stats.count, result.experiment_metadata.stats.count
        ),
    ]
}

/// The metric's name with its tags, e.g. `latency{pod=a}`.
fn label(result: &CanaryAnalysisResult) -> String {
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

fn value(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Four significant digits, scientific notation for very small or large magnitudes.
fn number(x: f64) -> String {
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
