//! `GET /analyses/{id}`: one analysis — its verdict and score against the thresholds, the reason, the group
//! scores, each interval's score, and per metric a row that opens to its charts, its judgement and the queries
//! that fetched its data. Metrics that failed come first, opened. A running analysis reloads itself. Its JSON
//! twin is `GET /v1/analyses/{id}`.
//!
//! The metrics shown are those of one interval: the last judged, or `?interval=N` (1-based).

use std::sync::Arc;

use crate::server::extract::{Params as Query, Path, State};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::charts::{self, Series};
use super::{PageError, badge, human_duration, page, scopes, status_badge, thresholds, time};
use crate::display::{metric_cells, number};
use crate::kayenta::judge_result::CanaryAnalysisResult;
use crate::kayenta::{CanaryConfig, MetricSetPair};
use crate::server::error::ApiError;
use crate::server::{AppState, blocking};
use crate::store::{Analysis, AnalysisStatus, Interval, IntervalDetail};

/// How often a running analysis's page reloads, in seconds.
const REFRESH_SECONDS: u32 = 10;

#[derive(Debug, Default, Deserialize)]
pub struct AnalysisParams {
    interval: Option<String>,
}

/// `GET /analyses/{id}?interval=N`.
pub async fn analysis(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(params): Query<AnalysisParams>,
) -> Result<Markup, PageError> {
    let wanted = match params.interval.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                        "interval must be an interval's number (1, 2, ...), got '{text}'"
                    ))
                })?,
        ),
    };
    let store = state.store.clone();
    let (analysis, intervals, detail) = blocking(move || {
        let analysis = store.analysis(&id)?;
        let intervals = store.intervals(&id)?;
        let shown = match wanted {
            Some(number) if number as usize > intervals.len() => {
                return Err(ApiError::not_found(format!(
                    "analysis '{id}' has {} judged intervals: there is no interval {number}",
                    intervals.len()
                )));
            }
            Some(number) => Some(number - 1),
            None => intervals.last().map(|interval| interval.index),
        };
        let detail = match shown {
            Some(index) => Some(store.interval_detail(&id, index)?),
            None => None,
        };
        Ok((analysis, intervals, detail))
    })
    .await?;
    let refresh = (!analysis.status.is_finished()).then_some(REFRESH_SECONDS);
    let title = format!("{} · {}", analysis.config.name, analysis.status);
    Ok(page(
        &title,
        refresh,
        body(&analysis, &intervals, detail.as_ref()),
    ))
}

fn body(analysis: &Analysis, intervals: &[Interval], detail: Option<&IntervalDetail>) -> Markup {
    let json = format!("/v1/analyses/{}", analysis.id);
    let last = intervals.last();
    html! {
        p.muted { a href="/" { "← All analyses" } " · " a href=(json) { "JSON" } }
        h1 {
            (analysis.config.name) " "
            (status_badge(analysis.status.as_str()))
        }
        p.muted {
            "Analysis " code { (analysis.id) }
            @if analysis.origin == crate::store::Origin::Kayenta { " (started through Kayenta's API)" }
            @if analysis.origin == crate::store::Origin::Flagger { " (started by Flagger's webhook)" }
            " · started " (time(analysis.created))
            " · " (human_duration(analysis.updated.duration_since(analysis.created)))
            @for (name, control, experiment) in scopes(&analysis.request) {
                " · " @if name != "default" { (name) ": " }
                "control " strong { (control) } " vs experiment " strong { (experiment) }
            }
        }
        (verdict(analysis, last))
        @if let Some(shown) = detail.map(|detail| &detail.interval).or(last) {
            @for (name, control) in control_windows(&analysis.request, shown) {
                p.windows {
                    @if name != "default" { (name) ": " }
                    "control window " strong { (time(control.0)) " – " (time(control.1)) }
                    " · experiment window " strong { (time(shown.start)) " – " (time(shown.end)) }
                }
            }
        }
        (warnings_note(analysis, detail))
        @if let Some(detail) = detail {
            (groups(detail))
        }
        @if intervals.len() > 1 || analysis.status == AnalysisStatus::Running {
            (interval_table(analysis, intervals, detail))
        }
        @if let Some(detail) = detail {
            (metrics(&analysis.config, detail))
        }
    }
}

/// The control's window of each scope name in `interval` where it is not the experiment's: a side's own
/// `start` and `end` (native `control.start`, Kayenta's `controlScope`), or the interval shifted back by
/// `controlOffset`.
fn control_windows(request: &Value, interval: &Interval) -> Vec<(String, (Timestamp, Timestamp))> {
    let request = request.get("executionRequest").unwrap_or(request);
    let offset = request
        .get("controlOffset")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<SignedDuration>().ok())
        .filter(|offset| !offset.is_zero());
    let own = |side: &Value| {
        let at = |key: &str| side.get(key)?.as_str()?.parse::<Timestamp>().ok();
        Some((at("start")?, at("end")?))
    };
    let mut sides: Vec<(String, &Value)> = Vec::new();
    if let Some(control) = request.get("control") {
        sides.push(("default".to_string(), control));
    }
    if let Some(map) = request.get("scopes").and_then(Value::as_object) {
        for (name, pair) in map {
            if let Some(control) = pair.get("control").or_else(|| pair.get("controlScope")) {
                sides.push((name.clone(), control));
            }
        }
    }
    sides
        .into_iter()
        .filter_map(|(name, control)| {
            let window = own(control).or_else(|| {
                let offset = offset?;
                Some((
                    interval.start.checked_sub(offset).ok()?,
                    interval.end.checked_sub(offset).ok()?,
                ))
            })?;
            (window != (interval.start, interval.end)).then_some((name, window))
        })
        .collect()
}

fn verdict(analysis: &Analysis, last: Option<&Interval>) -> Markup {
    let thresholds = thresholds(&analysis.request);
    let last_score = last.map(|interval| &interval.judge_result.score);
    html! {
        section.verdict {
            @match (&analysis.verdict, analysis.status) {
                (Some(verdict), _) => {
                    (badge(&verdict.classification))
                    span.score title="score out of 100" { (number(verdict.score)) }
                }
                (None, AnalysisStatus::Error) => { span.badge.fail { "✗ Error" } }
                (None, AnalysisStatus::Cancelled) => { span.badge.other { "Cancelled" } }
                (None, _) => {
                    span.badge.other { "In progress" }
                    @if let Some(score) = last_score {
                        span.score title="the last interval's score" { (number(score.score)) }
                    }
                }
            }
            div {
                @if let Some((pass, marginal)) = thresholds {
                    div.muted { "Pass at ≥ " (number(pass)) " · Marginal at ≥ " (number(marginal)) " · else Fail" }
                }
                @if let Some(error) = &analysis.error {
                    div.error { (error) }
                }
                @if let Some(score) = last_score {
                    @if !score.classification_reason.is_empty() { div { (score.classification_reason) } }
                    @if let Some(stopped) = last.and_then(|last| crate::analysis::verdict::stopped(&last.judge_result)) {
                        div.stopped { (capitalized(stopped)) "." }
                    }
                    @if let (Some(verdict), Some(last)) = (&analysis.verdict, last) {
                        @if verdict.classification != score.classification {
                            div { "Stopped after interval " (last.index + 1) ": its score " (number(score.score))
                                " is at or below the marginal threshold, so the analysis failed fast." }
                        }
                    }
                    @let failed: Vec<(usize, &CanaryAnalysisResult)> = last.map(|l| l.judge_result.results.iter().enumerate().filter(|(_, r)| failing(r)).collect()).unwrap_or_default();
                    @if !failed.is_empty() {
                        div { "Failing metrics: "
                            @for (index, (position, result)) in failed.iter().enumerate() {
                                @if index > 0 { ", " }
                                a href=(format!("#metric-{}", position + 1)) { (crate::display::metric_label(result)) }
                                " (" (result.classification) ")"
                            }
                        }
                    }
                } @else if !analysis.status.is_finished() {
                    div { "No interval judged yet." @if let Some(next) = next_due(analysis) { " " (next) } }
                }
            }
        }
    }
}

/// `text` with its first letter in upper case, to stand as a sentence.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// When a running analysis judges next, as far as its request says.
fn next_due(analysis: &Analysis) -> Option<String> {
    let request = &analysis.request;
    let start: jiff::Timestamp = request.get("start")?.as_str()?.parse().ok()?;
    let parse =
        |key: &str| -> Option<jiff::SignedDuration> { request.get(key)?.as_str()?.parse().ok() };
    let lifetime = parse("lifetime")?;
    let interval = parse("interval").unwrap_or(lifetime).min(lifetime);
    let warmup = parse("warmup").unwrap_or_default();
    let due = start + warmup + interval * (i32::try_from(analysis.next_interval).ok()? + 1);
    Some(format!("The next interval is judged at {}.", time(due)))
}

fn groups(detail: &IntervalDetail) -> Markup {
    let groups = &detail.interval.judge_result.group_scores;
    html! {
        @if !groups.is_empty() {
            h2 { "Groups" }
            table.groups {
                thead { tr { th { "Group" } th.num { "Score" } } }
                tbody {
                    @for group in groups {
                        tr { td { (group.name) } td.num { (number(group.score)) } }
                    }
                }
            }
        }
    }
}

fn interval_table(
    analysis: &Analysis,
    intervals: &[Interval],
    shown: Option<&IntervalDetail>,
) -> Markup {
    let shown = shown.map(|detail| detail.interval.index);
    // A judge that says whether its judgement is final gets a column for it.
    let decides = intervals
        .iter()
        .any(|interval| interval.judge_result.decision.is_some());
    html! {
        h2 { "Intervals" }
        table.intervals {
            thead { tr { th { "#" } th { "Window" } th { "Judged" } th.num { "Score" } th { "Result" } @if decides { th { "Final?" } } } }
            tbody {
                @for interval in intervals {
                    tr {
                        td {
                            @if shown == Some(interval.index) { strong { (interval.index + 1) } }
                            @else { a href=(format!("/analyses/{}?interval={}", analysis.id, interval.index + 1)) { (interval.index + 1) } }
                        }
                        td { (time(interval.start)) " – " (interval.end.strftime("%H:%M:%S")) }
                        td { (time(interval.judged_at)) }
                        td.num { (number(interval.judge_result.score.score)) }
                        td { (badge(&interval.judge_result.score.classification)) }
                        @if decides {
                            td {
                                @if let Some(decision) = &interval.judge_result.decision {
                                    span title=(decision.reason) { (finality(decision.finality)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A judge's finality in words.
fn finality(finality: crate::kayenta::judge_result::Finality) -> &'static str {
    use crate::kayenta::judge_result::Finality;
    match finality {
        Finality::Open => "open",
        Finality::Regression => "regression",
        Finality::Harmless => "harmless",
    }
}

/// Whether a metric's result counts against the canary.
fn failing(result: &CanaryAnalysisResult) -> bool {
    matches!(
        result.classification.as_str(),
        "High" | "Low" | "Error" | "NodataFailMetric"
    )
}

fn metrics(config: &CanaryConfig, detail: &IntervalDetail) -> Markup {
    let interval = &detail.interval;
    let mut results: Vec<(usize, &CanaryAnalysisResult)> =
        interval.judge_result.results.iter().enumerate().collect();
    // Failed metrics first, then those without data, then the rest; otherwise in the judge's order.
    results.sort_by_key(|(_, result)| match result.classification.as_str() {
        _ if failing(result) => 0,
        "Pass" => 2,
        _ => 1,
    });
    html! {
        h2 { "Metrics" span.muted { " · interval " (interval.index + 1) ", " (time(interval.start)) " – " (time(interval.end)) } }
        @if results.is_empty() { p.muted { "The judge gave no metric results." } }
        div.metrics {
            div.muted style="display:grid; grid-template-columns: 8.5rem minmax(10rem, 2fr) repeat(5, minmax(5rem, 1fr)) minmax(10rem, 2fr); gap:.6rem; padding:0 .8rem; font-size:.8rem;" {
                span { "Result" } span { "Metric" } span { "Ratio" } span { "Estimate" } span { "Interval" } span { "p-value" } span { "Points c/e" }
                span title="What decided the classification: the interval against the tolerance band, the effect size against its threshold (not the p-value)" { "Decided by" }
            }
            @for (position, result) in results {
                (metric(config, detail, position, result))
            }
        }
    }
}

/// The row of the judge's result number `position` (0-based; its anchor is `#metric-<position + 1>`).
fn metric(
    config: &CanaryConfig,
    detail: &IntervalDetail,
    position: usize,
    result: &CanaryAnalysisResult,
) -> Markup {
    let cells = metric_cells(result);
    let pair = detail.pairs.iter().find(|pair| pair.id == result.id);
    let unit = unit(config, &result.name);
    let queries: Vec<&Value> = detail
        .queries
        .as_array()
        .map(|queries| {
            queries
                .iter()
                .filter(|query| query.get("metric").and_then(Value::as_str) == Some(&result.name))
                .collect()
        })
        .unwrap_or_default();
    html! {
        details.metric id=(format!("metric-{}", position + 1)) open[failing(result)] data-classification=(result.classification) {
            summary {
                span { (badge(&result.classification))
                    @if result.critical { small { "critical" } }
                    @if result.muted { small { "muted" } } }
                span.name { (cells.label) }
                span { small { "ratio" } (cells.ratio) }
                span { small { "estimate" } (cells.estimate) }
                span { small { "confidence interval" } (cells.interval) }
                span { small { "p-value" } (cells.p_value) }
                span { small { "points c/e" } (cells.points) }
                span.decided { small { "decided by" } (cells.decided_by) }
            }
            div.body {
                @if let Some(reason) = &result.classification_reason { p { (reason) } }
                @if cells.decided_by != "-" { p.decision { "Decided by: " (cells.decided_by) } }
                @if let Some(pair) = pair {
                    (charts_of(pair, &unit))
                } @else {
                    p.muted { "The data of this metric was not kept." }
                }
                (stats_table(result))
                @if !queries.is_empty() {
                    h3 { "Queries" }
                    @for query in queries {
                        p.muted {
                            (query.get("side").and_then(Value::as_str).unwrap_or("?"))
                            ": " (query.get("series").and_then(Value::as_u64).unwrap_or(0)) " series, "
                            (query.get("points").and_then(Value::as_u64).unwrap_or(0)) " points in "
                            (query.get("durationMillis").and_then(Value::as_u64).unwrap_or(0)) " ms"
                        }
                        pre.query { (query.get("query").map(query_text).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn charts_of(pair: &MetricSetPair, unit: &str) -> Markup {
    let series = |side: Option<&crate::kayenta::metric_set_pair::PairScope>, values| Series {
        start_millis: side.and_then(|s| s.start_time_millis).unwrap_or(0),
        step_millis: side.and_then(|s| s.step_millis).unwrap_or(60_000).max(1),
        values,
    };
    let control = series(pair.scopes.control.as_ref(), &pair.values.control);
    let experiment = series(pair.scopes.experiment.as_ref(), &pair.values.experiment);
    html! {
        div.charts {
            figure { (charts::time_series(control, experiment, unit)) }
            figure { (charts::distributions(&pair.values.control, &pair.values.experiment, unit)) }
        }
    }
}

fn stats_table(result: &CanaryAnalysisResult) -> Markup {
    let sides = [
        ("control", &result.control_metadata.stats),
        ("experiment", &result.experiment_metadata.stats),
    ];
    html! {
        table.stats {
            thead { tr { th { "Side" } th.num { "Points" } th.num { "Min" } th.num { "Mean" } th.num { "Max" } th.num { "Std" } } }
            tbody {
                @for (side, stats) in sides {
                    tr { td { (side) } td.num { (stats.count) } td.num { (number(stats.min)) } td.num { (number(stats.mean)) }
                        td.num { (number(stats.max)) } td.num { (number(stats.std)) } }
                }
            }
        }
    }
}

/// A query as recorded: PromQL as text, a structured query as JSON.
fn query_text(query: &Value) -> String {
    match query {
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The unit of a metric's values, from the Prometheus naming convention of its metric (`_seconds`,
/// `_bytes`, `_ratio`, ...), else `value`.
fn unit(config: &CanaryConfig, metric: &str) -> String {
    let metric_name = config
        .metrics
        .iter()
        .find(|m| m.name == metric)
        .and_then(|m| m.query.get("metricName"))
        .and_then(Value::as_str);
    for name in metric_name.into_iter().chain([metric]) {
        let name = name.trim_end_matches("_total");
        for (suffix, unit) in [
            ("_seconds", "seconds"),
            ("_milliseconds", "milliseconds"),
            ("_ms", "milliseconds"),
            ("_bytes", "bytes"),
            ("_ratio", "ratio"),
            ("_percent", "percent"),
            ("_utilization", "utilization"),
            ("_celsius", "°C"),
        ] {
            if name.ends_with(suffix) {
                return unit.to_string();
            }
        }
    }
    "value".to_string()
}

/// What the reader should know although nothing failed (the config's unknown fields, metrics without
/// data), as a note under the verdict.
fn warnings_note(analysis: &Analysis, detail: Option<&IntervalDetail>) -> Markup {
    let mut warnings = crate::kayenta::config_warnings::of_config(&analysis.config);
    if let Some(detail) = detail {
        warnings.extend(crate::kayenta::warnings::no_data(
            &detail.interval.judge_result,
            &detail.queries,
        ));
    }
    html! {
        @if !warnings.is_empty() {
            div.warnings role="note" {
                strong { "Warnings" }
                ul { @for warning in &warnings { li { (warning) } } }
            }
        }
    }
}
