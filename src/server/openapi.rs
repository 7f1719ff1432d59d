//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the native API, generated from the handlers'
//! annotations and the request and response types themselves, so it cannot drift from the code.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{analyses, configs, judge};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coalmine",
        description = "Automated canary analysis: fetch control and experiment metrics, judge them with a \
                       sandboxed WebAssembly judge, answer Pass, Marginal or Fail with a score. Every error \
                       answer is `{\"message\": \"...\"}`. When the server has API tokens, every path but \
                       `/health`, `/ready` and `/metrics` needs `Authorization: Bearer TOKEN`."
    ),
    paths(
        judge::judge,
        judge::judges,
        analyses::create,
        analyses::list,
        analyses::get,
        analyses::cancel,
        configs::list,
        configs::create,
        configs::get,
        configs::replace,
        configs::delete,
    ),
    modifiers(&BearerTokens),
    security(("bearer" = [])),
    tags(
        (name = "analyses", description = "Retrospective and real-time canary analyses"),
        (name = "configs", description = "Stored Kayenta canary configs, by id or name"),
        (name = "judges", description = "The loaded judges, and judging metric pairs directly"),
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

pub async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
