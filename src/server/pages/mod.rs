//! The report pages of `coalmine serve`: server-rendered HTML that works without JavaScript — the list of
//! analyses at `/`, one analysis with its metrics and charts at `/analyses/{id}`, and the login form that
//! puts a signed session (never the token) in a cookie. Every page links its JSON twin in `/v1/`.
//!
//! Pages are maud templates, so everything shown is escaped: metric names, tags and queries come from users.
//! The handlers only read the store; what they show is shaped in [`list`] and [`analysis`], the charts are
//! drawn in [`charts`].

mod analysis;
mod charts;
mod list;
mod login;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::display::human_duration;

/// The pages' routes: the login form is open, the others need a token when the server has any.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let protected = Router::new()
        .route("/", get(list::list))
        .route("/analyses/{id}", get(analysis::analysis))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::auth::require_login,
        ));
    Router::new()
        .route("/login", get(login::form).post(login::login))
        .route("/logout", axum::routing::post(login::logout))
        .merge(protected)
}

/// A page that could not be shown: an HTML page with the status and the reason.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn bad_request(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> PageError {
        PageError {
            status: error.status,
            message: error.message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.message);
        }
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = html! {
            h1 { (self.status.as_u16()) " " (title) }
            p.error { (self.message) }
            p { a href="/" { "All analyses" } }
        };
        (self.status, page(title, None, body)).into_response()
    }
}

/// The frame of every page; `refresh` reloads it every that many seconds (a running analysis).
fn page(title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · coalmine" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    a.brand href="/" { "coalmine" }
                    span.muted { "canary analyses" }
                }
                main { (body) }
            }
        }
    }
}

/// A badge for a verdict or a metric's classification: a symbol and the word, so colour is never the only
/// sign.
fn badge(classification: &str) -> Markup {
    let (class, symbol) = match classification {
        "Pass" => ("pass", "✓"),
        "Marginal" => ("marginal", "≈"),
        "Fail" | "High" | "Low" | "Error" | "NodataFailMetric" => ("fail", "✗"),
        "Nodata" => ("nodata", "∅"),
        _ => ("other", "•"),
    };
    html! { span class=(format!("badge {class}")) { (symbol) " " (classification) } }
}

/// A status badge: pending, running, completed, error, cancelled.
fn status_badge(status: &str) -> Markup {
    html! { span class=(format!("status {status}")) { (status) } }
}

/// The `(scope name, control, experiment)` scopes of a stored request, native or Kayenta.
fn scopes(request: &Value) -> Vec<(String, String, String)> {
    let scope = |side: &Value| {
        side.get("scope")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let request = request.get("executionRequest").unwrap_or(request);
    if let (Some(control), Some(experiment)) = (request.get("control"), request.get("experiment")) {
        return vec![("default".to_string(), scope(control), scope(experiment))];
    }
    let Some(map) = request.get("scopes").and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, pair)| {
            let control = pair.get("control").or_else(|| pair.get("controlScope"))?;
            let experiment = pair
                .get("experiment")
                .or_else(|| pair.get("experimentScope"))?;
            Some((name.clone(), scope(control), scope(experiment)))
        })
        .collect()
}

/// The `(pass, marginal)` thresholds of a stored request, native or Kayenta.
fn thresholds(request: &Value) -> Option<(f64, f64)> {
    let request = request.get("executionRequest").unwrap_or(request);
    let thresholds = request
        .get("thresholds")
        .or_else(|| request.get("scoreThresholds"))?;
    Some((
        thresholds.get("pass")?.as_f64()?,
        thresholds.get("marginal")?.as_f64()?,
    ))
}

/// A time to the second, UTC.
fn time(timestamp: jiff::Timestamp) -> String {
    timestamp.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

const STYLE: &str = r#"
:root { --fg:#1d1d1f; --muted:#5f6368; --line:#d9d9de; --pass:#0072B2; --fail:#D55E00; --marginal:#8a6100; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:#fafafa; }
header.top { display:flex; gap:1rem; align-items:baseline; padding:.6rem 1.5rem; background:#1d1d1f; color:#fff; }
header.top a.brand { color:#fff; font-weight:700; text-decoration:none; font-size:1.1rem; }
header.top .muted { color:#bbb; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size:1.4rem; margin:.6rem 0; } h2 { font-size:1.15rem; margin:1.6rem 0 .5rem; }
a { color:#0b57d0; }
.muted { color:var(--muted); }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { text-align:left; padding:.35rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:.85rem; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.badge { display:inline-block; padding:.05rem .5rem; border-radius:.8rem; font-weight:600; font-size:.85rem; border:1px solid; white-space:nowrap; }
.badge.pass { color:var(--pass); border-color:var(--pass); background:#e6f1f8; }
.badge.fail { color:#fff; border-color:var(--fail); background:var(--fail); }
.badge.marginal { color:var(--marginal); border-color:#E69F00; background:#fdf3dc; }
.badge.nodata, .badge.other { color:var(--muted); border-color:var(--line); background:#f1f1f3; }
.status { font-size:.85rem; color:var(--muted); }
.status.running, .status.pending { color:#0b57d0; font-weight:600; }
.status.error { color:var(--fail); font-weight:600; }
.verdict { display:flex; flex-wrap:wrap; gap:1.5rem; align-items:center; background:#fff; border:1px solid var(--line); border-radius:.5rem; padding:1rem 1.2rem; }
.verdict .score { font-size:2rem; font-weight:700; font-variant-numeric: tabular-nums; }
.verdict .badge { font-size:1.1rem; padding:.2rem .8rem; }
.error { color:var(--fail); font-weight:600; }
form.filters { display:flex; gap:.8rem; align-items:end; flex-wrap:wrap; margin:.5rem 0 1rem; }
form.filters label { display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); }
input, select, button { font: inherit; padding:.25rem .5rem; }
details.metric { background:#fff; border:1px solid var(--line); border-radius:.4rem; margin:.4rem 0; }
details.metric > summary > :first-child::before { content:"▸ "; color:var(--muted); }
details.metric[open] > summary > :first-child::before { content:"▾ "; }
details.metric > summary { cursor:pointer; padding:.5rem .8rem; display:grid; grid-template-columns: 8.5rem minmax(10rem, 2fr) repeat(5, minmax(5rem, 1fr)) minmax(10rem, 2fr); gap:.6rem; align-items:baseline; }
details.metric > summary .name { font-family: ui-monospace, monospace; overflow-wrap:anywhere; }
details.metric > summary small { display:block; color:var(--muted); font-size:.75rem; }
details.metric .body { padding:.2rem .8rem 1rem; border-top:1px solid var(--line); }
.charts { display:grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap:1rem; }
.charts svg { width:100%; height:auto; background:#fff; }
pre.query { background:#f4f4f6; padding:.5rem .7rem; overflow-x:auto; white-space:pre-wrap; overflow-wrap:anywhere; font-size:.85rem; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } details.metric > summary { grid-template-columns: 1fr 1fr; } }
"#;
