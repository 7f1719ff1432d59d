//! `GET /`: the analyses, newest first — config (and the client that started it), scopes, status (with the
//! progress of a running analysis), verdict, reason, score, start and duration — filtered by status and
//! config name. Its JSON twin is `GET /v1/analyses`.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::server::extract::{Params as Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::{PageError, badge, human_duration, page, scopes, status_badge, time};
use crate::analysis::spec::AnalysisSpec;
use crate::display::number;
use crate::server::auth::url_encode_pairs;
use crate::server::{AppState, blocking};
use crate::store::{Analysis, AnalysisQuery, AnalysisStatus, Origin, Verdict};

/// How many analyses the list looks at.
const LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    config: Option<String>,
}

/// `GET /?status=running&config=checkout-canary`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<ListParams>,
) -> Result<Markup, PageError> {
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<AnalysisStatus>()
                .map_err(PageError::bad_request)?,
        ),
    };
    let config = params.config.filter(|c| !c.trim().is_empty());
    let store = state.store.clone();
    let query = AnalysisQuery {
        statuses: status.into_iter().collect(),
        limit: LIMIT,
        offset: 0,
    };
    let analyses = blocking(move || {
        let analyses = store.list_analyses(&query)?;
        // The judge's reason of each completed analysis: its last interval's.
        let reasons = analyses
            .iter()
            .map(|analysis| {
                if analysis.verdict.is_none() {
                    return Ok(String::new());
                }
                let last = store.intervals(&analysis.id)?.pop();
                Ok(last
                    .map(|interval| interval.judge_result.score)
                    .map_or_else(String::new, |score| {
                        let same = analysis
                            .verdict
                            .as_ref()
                            .is_some_and(|v| v.classification == score.classification);
                        if same {
                            score.classification_reason
                        } else {
                            String::new()
                        }
                    }))
            })
            .collect::<Result<Vec<String>, crate::store::StoreError>>()?;
        Ok(analyses.into_iter().zip(reasons).collect::<Vec<_>>())
    })
    .await?;
    let (analyses, reasons): (Vec<Analysis>, Vec<String>) = analyses.into_iter().unzip();
    let configs: BTreeSet<&str> = analyses.iter().map(|a| a.config.name.as_str()).collect();
    let shown: Vec<(&Analysis, &str)> = analyses
        .iter()
        .zip(reasons.iter().map(String::as_str))
        .filter(|(a, _)| config.as_deref().is_none_or(|name| a.config.name == name))
        .collect();
    let mut json = String::from("/v1/analyses");
    if let Some(status) = status {
        json = format!(
            "{json}?{}",
            url_encode_pairs(&[("status", status.as_str())])
        );
    }
    let running = shown.iter().any(|(a, _)| !a.status.is_finished());
    let body = html! {
        h1 { "Analyses" }
        form.filters method="get" action="/" {
            label { "Status"
                select name="status" {
                    option value="" selected[status.is_none()] { "any" }
                    @for candidate in AnalysisStatus::ALL {
                        option value=(candidate.as_str()) selected[status == Some(candidate)] { (candidate.as_str()) }
                    }
                }
            }
            label { "Config"
                select name="config" {
                    option value="" selected[config.is_none()] { "any" }
                    @for name in &configs {
                        option value=(name) selected[config.as_deref() == Some(*name)] { (name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href=(json) { "JSON" }
        }
        @if shown.is_empty() {
            p.muted { "No analyses" @if status.is_some() || config.is_some() { " match these filters" } "." }
        } @else {
            table.analyses {
                thead { tr {
                    th { "Config" } th { "Scopes (control → experiment)" } th { "Status" } th { "Verdict" }
                    th { "Reason" } th.num { "Score" } th { "Started" } th.num { "Duration" }
                } }
                tbody {
                    @for (analysis, reason) in &shown { (row(analysis, reason)) }
                }
            }
        }
    };
    Ok(page("Analyses", running.then_some(15), body))
}

/// One analysis; `given` is its judge's reason for the verdict (empty when none).
fn row(analysis: &Analysis, given: &str) -> Markup {
    let href = format!("/analyses/{}", analysis.id);
    let end = if analysis.status.is_finished() {
        analysis.updated
    } else {
        jiff::Timestamp::now()
    };
    html! {
        tr data-id=(analysis.id) {
            td {
                a href=(href) { (analysis.config.name) }
                @match analysis.origin {
                    Origin::Kayenta => { " " span.muted.origin title="started through Kayenta's API" { "(Kayenta)" } }
                    Origin::Flagger => { " " span.muted.origin title="started by Flagger's webhook" { "(Flagger)" } }
                    Origin::Native => {}
                }
            }
            td {
                @for (name, control, experiment) in scopes(&analysis.request) {
                    div {
                        @if name != "default" { span.muted { (name) ": " } }
                        (control) " → " (experiment)
                    }
                }
            }
            td {
                (status_badge(analysis.status.as_str()))
                @if let Some(progress) = progress(analysis) { " " span.muted.progress { (progress) } }
            }
            td {
                @if let Some(verdict) = &analysis.verdict { (badge(&verdict.classification)) }
                @else if let Some(error) = &analysis.error { span.error title=(error) { "error" } }
                @else { span.muted { "—" } }
            }
            td.reason {
                @if let Some(verdict) = &analysis.verdict { (reason(analysis, verdict, given)) }
                @else if let Some(error) = &analysis.error { (error) }
                @else { span.muted { "—" } }
            }
            td.num { @if let Some(verdict) = &analysis.verdict { (number(verdict.score)) } @else { "—" } }
            td { (time(analysis.created)) }
            td.num { (human_duration(end.duration_since(analysis.created))) }
        }
    }
}

/// Why `analysis` got `verdict`: the judge's reason, else the score against the request's thresholds.
fn reason(analysis: &Analysis, verdict: &Verdict, given: &str) -> String {
    let thresholds = &analysis.request["thresholds"];
    crate::analysis::verdict::reason(
        &verdict.classification,
        given,
        verdict.score,
        thresholds["pass"].as_f64().unwrap_or(75.0),
        thresholds["marginal"].as_f64().unwrap_or(50.0),
    )
}

/// "2 of 4 intervals, next at …" for an unfinished analysis whose request has a schedule.
fn progress(analysis: &Analysis) -> Option<String> {
    if analysis.status.is_finished() {
        return None;
    }
    let spec: AnalysisSpec = serde_json::from_value(analysis.request.clone()).ok()?;
    let schedule = spec.schedule().ok()?;
    let intervals = schedule.intervals();
    let done = analysis.next_interval.min(intervals);
    let mut text = format!("{done} of {intervals} intervals");
    if done < intervals {
        text.push_str(&format!(", next at {}", time(schedule.window(done).due)));
    }
    Some(text)
}
