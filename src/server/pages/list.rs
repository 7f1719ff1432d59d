//! `GET /`: the analyses, newest first — config, scopes, status, verdict, score, start and duration —
//! filtered by status and config name. Its JSON twin is `GET /v1/analyses`.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::server::extract::{Params as Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::{PageError, badge, human_duration, page, scopes, status_badge, time};
use crate::display::number;
use crate::server::auth::url_encode_pairs;
use crate::server::{AppState, blocking};
use crate::store::{Analysis, AnalysisQuery, AnalysisStatus};

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
    let analyses = blocking(move || Ok(store.list_analyses(&query)?)).await?;
    let configs: BTreeSet<&str> = analyses.iter().map(|a| a.config.name.as_str()).collect();
    let shown: Vec<&Analysis> = analyses
        .iter()
        .filter(|a| config.as_deref().is_none_or(|name| a.config.name == name))
        .collect();
    let mut json = String::from("/v1/analyses");
    if let Some(status) = status {
        json = format!(
            "{json}?{}",
            url_encode_pairs(&[("status", status.as_str())])
        );
    }
    let running = shown.iter().any(|a| !a.status.is_finished());
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
                    th.num { "Score" } th { "Started" } th.num { "Duration" }
                } }
                tbody {
                    @for analysis in &shown { (row(analysis)) }
                }
            }
        }
    };
    Ok(page("Analyses", running.then_some(15), body))
}

fn row(analysis: &Analysis) -> Markup {
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
                @if analysis.origin == crate::store::Origin::Kayenta { " " span.muted title="started through Kayenta's API" { "(Kayenta)" } }
            }
            td {
                @for (name, control, experiment) in scopes(&analysis.request) {
                    div {
                        @if name != "default" { span.muted { (name) ": " } }
                        (control) " → " (experiment)
                    }
                }
            }
            td { (status_badge(analysis.status.as_str())) }
            td {
                @if let Some(verdict) = &analysis.verdict { (badge(&verdict.classification)) }
                @else if let Some(error) = &analysis.error { span.error title=(error) { "error" } }
                @else { span.muted { "—" } }
            }
            td.num { @if let Some(verdict) = &analysis.verdict { (number(verdict.score)) } @else { "—" } }
            td { (time(analysis.created)) }
            td.num { (human_duration(end.duration_since(analysis.created))) }
        }
    }
}
