//! The login form: a browser gives an API token once and gets a signed session in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` behind TLS), which the pages (and reads of the JSON API) accept like the
//! bearer header. The cookie never holds the token ([`crate::server::auth`]).
//!
//! After logging in the browser goes back to `next`, resolved as a browser resolves it (the `url` crate, which
//! drops tabs and newlines and reads `\` as `/`) against the server's own origin: only a path of this server is
//! followed, anything that would leave it goes to `/`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, http::HeaderValue};
use maud::html;
use serde::Deserialize;

use super::page;
use crate::server::AppState;
use crate::server::auth::SESSION_COOKIE;

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
pub async fn form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<NextParam>,
) -> Response {
    let next = safe_next(&headers, params.next.as_deref());
    if !state.auth.is_enabled() {
        return Redirect::to(&next).into_response();
    }
    login_page(StatusCode::OK, &next, None)
}

/// `POST /login` with `token` and `next`: sets the session cookie and goes back to `next`.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(&headers, form.next.as_deref());
    if !state.auth.is_enabled() {
        return Redirect::to(&next).into_response();
    }
    let token = form.token.trim();
    if !state.auth.accepts(token) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That token is not valid."),
        );
    }
    let session = state.auth.session_for(token, jiff::Timestamp::now());
    let cookie = cookie::Cookie::build((SESSION_COOKIE, session))
        .path("/")
        .http_only(true)
        .secure(state.auth.secure_cookie(&headers))
        .same_site(cookie::SameSite::Strict)
        .build();
    with_cookie(Redirect::to(&next).into_response(), &cookie)
}

/// `POST /logout`: forgets the cookie.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut cookie = cookie::Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .secure(state.auth.secure_cookie(&headers))
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

/// Where to go after logging in: `next` resolved against this server's origin (from the `Host` header),
/// as the path (and query) of this server it names, else `/`.
fn safe_next(headers: &HeaderMap, next: Option<&str>) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let origin = url::Url::parse(&format!("http://{host}/"))
        .or_else(|_| url::Url::parse("http://localhost/"))
        .expect("a valid URL");
    resolve_next(&origin, next.unwrap_or("/"))
}

/// `next` resolved against `origin`: its path and query when it stays on `origin`, else `/`.
fn resolve_next(origin: &url::Url, next: &str) -> String {
    let Ok(resolved) = origin.join(next) else {
        return "/".to_string();
    };
    if resolved.origin() != origin.origin() {
        return "/".to_string();
    }
    let path = resolved.path();
    // `//host` would be read by a browser as another site (a path like `/.//host` resolves to it).
    if !path.starts_with('/') || path.starts_with("//") {
        return "/".to_string();
    }
    match resolved.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_next;

    #[test]
    fn only_paths_of_this_server_are_followed() {
        let origin = url::Url::parse("http://coalmine.example:8090/").unwrap();
        let next = |next: &str| resolve_next(&origin, next);
        assert_eq!(next("/analyses/x?interval=2"), "/analyses/x?interval=2");
        assert_eq!(next("/analyses/a%20b"), "/analyses/a%20b");
        assert_eq!(
            next("http://coalmine.example:8090/analyses/x"),
            "/analyses/x"
        );
        for other in [
            "//evil.example/",
            "https://evil.example/",
            "http://coalmine.example:8091/",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/.//evil.example",
            "javascript:alert(1)",
            "",
        ] {
            let resolved = next(other);
            assert!(
                resolved == "/" || (!resolved.starts_with("//") && !resolved.contains("evil")),
                "{other:?} -> {resolved:?}"
            );
        }
        for other in [
            "//evil.example/",
            "https://evil.example/",
            "/\t/evil.example",
            "/.//evil.example",
        ] {
            assert_eq!(next(other), "/", "{other:?}");
        }
        // CR and LF never reach a header.
        assert!(!next("/a\r\nSet-Cookie: x=y").contains(['\r', '\n']));
    }
}
