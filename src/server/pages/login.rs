//! The login form: a browser gives an API token once and keeps it in an `HttpOnly`, `SameSite=Strict`
//! cookie, which the pages (and reads of the JSON API) accept like the bearer header.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, http::HeaderValue};
use maud::html;
use serde::Deserialize;

use super::page;
use crate::server::AppState;
use crate::server::auth::{self, TOKEN_COOKIE};

#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /login?next=/analyses/...`.
pub async fn form(State(state): State<Arc<AppState>>, Query(params): Query<NextParam>) -> Response {
    let next = safe_next(params.next.as_deref());
    if state.tokens.is_empty() {
        return Redirect::to(next).into_response();
    }
    login_page(StatusCode::OK, next, None)
}

/// `POST /login` with `token` and `next`: sets the cookie and goes back to `next`.
pub async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    if !state.tokens.is_empty() && !auth::accepts(&state, token) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That token is not valid."),
        );
    }
    let cookie = cookie::Cookie::build((TOKEN_COOKIE, token.to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    with_cookie(Redirect::to(next).into_response(), &cookie)
}

/// `POST /logout`: forgets the cookie.
pub async fn logout() -> Response {
    let mut cookie = cookie::Cookie::build((TOKEN_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    cookie.make_removal();
    with_cookie(Redirect::to("/login").into_response(), &cookie)
}

fn with_cookie(mut response: Response, cookie: &cookie::Cookie<'_>) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn login_page(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let body = html! {
        h1 { "Log in" }
        p.muted { "This server needs an API token (the one you give curl as " code { "Authorization: Bearer …" } ")." }
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label { "API token " input type="password" name="token" autocomplete="current-password" required autofocus; }
            " "
            button type="submit" { "Log in" }
        }
    };
    (status, page("Log in", None, body)).into_response()
}

/// Where to go after logging in: a path of this server, never another site (`//evil.example`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            safe_next(Some("/analyses/x?interval=2")),
            "/analyses/x?interval=2"
        );
        for other in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(other)), "/", "{other}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
