//! A CanaryJudgeResult as a table a person reads at a glance: one row per metric series with its
//! classification, ratio, estimate and interval, p-value, point counts and what decided the classification;
//! then the group scores and the verdict.

use std::fmt::Write;

use crate::display::{metric_cells, metric_label as label, number};
use crate::kayenta::CanaryJudgeResult;
use crate::kayenta::judge_result::CanaryAnalysisResult;

pub use crate::analysis::verdict::reason;

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
        "DECIDED BY",
    ];
    let rows: Vec<[String; 8]> = result.results.iter().map(row).collect();
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
            if index < 2 || index == 7 {
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
    let _ = write!(
        out,
        ": {}",
        reason(
            &score.classification,
            &score.classification_reason,
            score.score,
            pass,
            marginal
        )
    );
    out.push('\n');
    out
}

fn row(result: &CanaryAnalysisResult) -> [String; 8] {
    let cells = metric_cells(result);
    [
        cells.label,
        cells.classification,
        cells.ratio,
        cells.estimate,
        cells.interval,
        cells.p_value,
        cells.points,
        cells.decided_by,
    ]
}
