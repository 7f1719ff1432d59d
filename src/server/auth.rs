//! Authentication: when the server has tokens, every request but `/health`, `/ready`, `/metrics` and the
//! login page needs one. The API takes `Authorization: Bearer <token>` (anything else is a 401 with a
//! message); the report pages also take the token from the login form's cookie, and send a browser without
//! one to the login form. The cookie authorises reads only (GET, HEAD) — so a page's "JSON" link works in the
//! browser — never a change, and it is `HttpOnly` and `SameSite=Strict`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::ApiError;

/// The cookie the login form sets.
pub const TOKEN_COOKIE: &str = "coalmine_token";

/// For the API: a valid bearer token (or, for reads, the login cookie), else a 401 with a message.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.tokens.is_empty() {
        return Ok(next.run(request).await);
    }
    match presented(&request) {
        None => Err(unauthorized(
            "this endpoint needs an API token: send `Authorization: Bearer <token>`",
        )),
        Some(token) if accepts(&state, &token) => Ok(next.run(request).await),
        Some(_) => Err(unauthorized("the API token is not valid")),
    }
}

/// For the report pages: a valid token (bearer header or login cookie), else a redirect to the login form
/// that comes back to the page asked for.
pub async fn require_login(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.is_empty() || presented(&request).is_some_and(|token| accepts(&state, &token)) {
        return next.run(request).await;
    }
    let wanted = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let query = url_encode_pairs(&[("next", wanted)]);
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// Whether `token` is one of the server's tokens. Every token is compared, in time independent of where
/// they differ.
pub fn accepts(state: &AppState, token: &str) -> bool {
    state.tokens.iter().fold(false, |found, accepted| {
        found | constant_time_eq(accepted.expose().as_bytes(), token.as_bytes())
    })
}

/// The bearer token of `request`, else for a read its login cookie.
fn presented(request: &Request) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    if bearer.is_some() || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return bearer;
    }
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == TOKEN_COOKIE)
        .map(|cookie| cookie.value().to_string())
}

/// `key=value&...`, form-encoded.
pub fn url_encode_pairs(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    query.finish()
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.to_string(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}
