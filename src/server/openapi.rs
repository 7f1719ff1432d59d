//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of every route the server serves — the native API,
//! Kayenta's API, Flagger's webhook, the probes and the report pages — generated from the handlers'
//! annotations and the request and response types themselves, so it cannot drift from the code.
//!
//! Statuses that the layers around the handlers answer are added by rule rather than per handler: `401` for
//! every route behind the API tokens, `413` for every route that reads a body. `tests/openapi.rs` checks that
//! every route of the router is in the document, and `tests/fuzz.rs` fuzzes the server against it.

pub mod wire;

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::routes::kayenta::{accounts, canary, canary_config, metadata, standalone};
use super::routes::{analyses, configs, flagger, health, judge};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coalmine",
        description = "Automated canary analysis: fetch control and experiment metrics, judge them with a \
                       sandboxed WebAssembly judge, answer Pass, Marginal or Fail with a score. Every error \
                       answer of the API is `{\"message\": \"...\"}`. When the server has API tokens, every \
                       path but `/health`, `/ready`, `/metrics`, `/login` and `/logout` needs \
                       `Authorization: Bearer TOKEN` (the report pages also take the login cookie, and send \
                       a browser without one to `/login`)."
    ),
    paths(
        openapi_json,
        judge::judge,
        judge::judges,
        analyses::create,
        analyses::list,
        analyses::get,
        analyses::cancel,
        analyses::delete,
        configs::list,
        configs::create,
        configs::get,
        configs::replace,
        configs::delete,
        flagger::webhook,
        kayenta_judge,
        accounts::judges,
        accounts::credentials,
        accounts::metrics_services,
        canary_config::list,
        canary_config::create,
        canary_config::get,
        canary_config::replace,
        canary_config::delete,
        metadata::metric_names,
        canary::start_ad_hoc,
        canary::list,
        canary::status,
        canary::start,
        canary::cancel,
        standalone::start_ad_hoc,
        standalone::status,
        standalone::start,
        health::health,
        health::ready,
        health::metrics,
        page_list,
        page_analysis,
        page_login_form,
        page_login,
        page_logout,
    ),
    modifiers(&BearerTokens, &OuterLayers),
    security(("bearer" = [])),
    tags(
        (name = "analyses", description = "Retrospective and real-time canary analyses"),
        (name = "configs", description = "Stored Kayenta canary configs, by id or name"),
        (name = "judges", description = "The loaded judges, and judging metric pairs directly"),
        (name = "flagger", description = "Flagger's webhook"),
        (name = "kayenta", description = "Kayenta's REST API, for Argo Rollouts, Spinnaker and Kayenta's \
                                          clients; its runs are analyses like any other"),
        (name = "probes", description = "Liveness, readiness and the server's own metrics; never need a token"),
        (name = "pages", description = "The report pages, HTML for browsers"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// Declares the bearer-token scheme the `security` requirement names.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the answers of the layers around the handlers: `401` from the token check to every operation under
/// the document's bearer requirement (those that declare no `security` of their own), and `413` from the
/// body limit to every operation that reads a body.
struct OuterLayers;

impl Modify for OuterLayers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                if operation.security.is_none() {
                    responses.entry("401".to_string()).or_insert_with(|| {
                        error(
                            "The server has API tokens and the request has none, or a wrong one (`Authorization: \
                             Bearer TOKEN`)",
                        )
                        .into()
                    });
                }
                if operation.request_body.is_some() {
                    responses.entry("413".to_string()).or_insert_with(|| {
                        error(
                            "The body is larger than the server's limit (`limits.max_body_bytes`)",
                        )
                        .into()
                    });
                }
            }
        }
    }
}

/// The document, rendered once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut openapi = ApiDoc::openapi();
        openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
        // Serialising a document built from static annotations cannot fail.
        openapi.to_pretty_json().unwrap_or_default()
    })
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}

// Routes served by a handler that already documents another path, or by handlers outside the API's modules
// (the HTML pages): described here, on functions that exist only for the document.

/// Kayenta's RemoteJudge endpoint: the handler of `POST /v1/judge`.
#[utoipa::path(
    post,
    path = "/judge",
    tag = "kayenta",
    request_body = crate::kayenta::RemoteJudgeRequest,
    responses(
        (status = 200, description = "Kayenta's CanaryJudgeResult", body = crate::kayenta::CanaryJudgeResult),
        (status = 400, description = "Invalid request, or settings the judge refused", body = super::error::ErrorBody),
        (status = 500, description = "The judge failed: a trap, its deadline, a broken contract", body = super::error::ErrorBody),
    )
)]
#[allow(dead_code)]
fn kayenta_judge() {}

/// The analyses, newest first (the page of `GET /v1/analyses`).
#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    security(()),
    params(
        ("status" = Option<String>, Query, description = "Only analyses with this status"),
        ("config" = Option<String>, Query, description = "Only analyses of the config with this name"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "The server has API tokens and the browser has not logged in: to `/login`"),
        (status = 400, description = "An unknown status, or a query string that cannot be read", content(
            (String = "text/html; charset=utf-8"), (ErrorBody = "application/json"))),
        (status = 500, description = "The store failed", content_type = "text/html; charset=utf-8", body = String),
    )
)]
#[allow(dead_code)]
fn page_list() {}

/// One analysis with its metrics and charts (the page of `GET /v1/analyses/{id}`).
#[utoipa::path(
    get,
    path = "/analyses/{id}",
    tag = "pages",
    security(()),
    params(
        ("id" = String, Path, description = "The analysis id"),
        ("interval" = Option<String>, Query, description = "The interval shown, 1-based (default: the last judged)"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "The server has API tokens and the browser has not logged in: to `/login`"),
        (status = 400, description = "An interval that is not a number from 1, or a path or query that cannot be read", content(
            (String = "text/html; charset=utf-8"), (ErrorBody = "application/json"))),
        (status = 404, description = "No analysis has that id, or it has no such interval", content_type = "text/html; charset=utf-8", body = String),
        (status = 500, description = "The store failed", content_type = "text/html; charset=utf-8", body = String),
    )
)]
#[allow(dead_code)]
fn page_analysis() {}

/// The login form.
#[utoipa::path(
    get,
    path = "/login",
    tag = "pages",
    security(()),
    params(("next" = Option<String>, Query, description = "Where to go once logged in (a path of this server)")),
    responses(
        (status = 200, description = "The form", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "The server has no API tokens: straight to `next`"),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn page_login_form() {}

/// The login form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct LoginForm {
    /// An API token.
    token: String,
    /// Where to go once logged in (a path of this server).
    next: Option<String>,
}

/// Logs in: sets the token cookie (`HttpOnly`, `SameSite=Strict`).
#[utoipa::path(
    post,
    path = "/login",
    tag = "pages",
    security(()),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Logged in: back to `next`"),
        (status = 400, description = "The form cannot be read", body = ErrorBody),
        (status = 401, description = "The token is not valid: the form again", content_type = "text/html; charset=utf-8", body = String),
        (status = 413, description = "The body is larger than the server's limit", body = ErrorBody),
        (status = 415, description = "The body is not a form", body = ErrorBody),
        (status = 422, description = "The form has no token", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn page_login() {}

/// Logs out: forgets the token cookie.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "pages",
    security(()),
    responses((status = 303, description = "To `/login`"))
)]
#[allow(dead_code)]
fn page_logout() {}
