//! Authentication: when the server has API tokens, every request but `/health`, `/ready`, `/metrics` and the
//! login page needs one. The API takes `Authorization: Bearer <token>` (anything else is a 401 with a
//! message); the report pages also take the login form's session cookie, and send a browser without one to
//! the login form. The cookie authorises reads only (GET, HEAD) — so a page's "JSON" link works in the
//! browser — never a change.
//!
//! Tokens are kept only as SHA-256 digests and compared digest to digest in constant time ([`subtle`]), so
//! neither where a wrong token differs nor its length shows in the time of an answer.
//!
//! The session cookie never holds a token: it is `<expiry>.<HMAC-SHA256>`, signed over its expiry and the
//! digest of the token that logged in (so removing a token from the configuration ends its sessions). It is
//! `HttpOnly`, `SameSite=Strict`, and `Secure` when the server is reached over TLS (`X-Forwarded-Proto:
//! https` from the proxy in front) or `[auth] secure_cookie = true`. The signing key is derived from the
//! secret in `[auth] session_secret_env` when given — replicas that share it accept each other's sessions —
//! else it is random per process, and a restart logs everyone out.
//!
//! Kayenta's routes (for Argo Rollouts' `kayenta` provider and Spinnaker's Orca, which cannot send a bearer
//! token) and Flagger's webhook each follow their own [`RoutePolicy`] (`[auth.kayenta]`, `[auth.flagger]`):
//! the API tokens (the default), open, or their own token in a query parameter or a header.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::metrics::Secret;

/// The cookie the login form sets.
pub const SESSION_COOKIE: &str = "coalmine_session";

/// How long a login lasts unless `[auth] session_lifetime` says otherwise.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The SHA-256 digest of a token: what is kept and compared.
type TokenDigest = [u8; 32];

/// Who may call what: the API tokens, the session signing key and the policies of the routes that have one.
pub struct Auth {
    /// Digests of the accepted API tokens; none means the native API and the pages are open.
    tokens: Vec<TokenDigest>,
    session_key: [u8; 32],
    session_lifetime: Duration,
    secure_cookie: bool,
    kayenta: RoutePolicy,
    flagger: RoutePolicy,
}

/// How Kayenta's routes or Flagger's webhook are authorised.
#[derive(Debug, Clone)]
pub enum RoutePolicy {
    /// As the native API: an API token as a bearer token.
    Bearer,
    /// No token at all.
    Open,
    /// The route's own token in query parameter `param` (`?token=…`); an API bearer token works too.
    Query { param: String, token: TokenDigest },
    /// The route's own token in header `name`; an API bearer token works too.
    Header {
        name: HeaderName,
        token: TokenDigest,
    },
}

impl RoutePolicy {
    /// The route's own token in query parameter `param`.
    pub fn query(param: impl Into<String>, token: &Secret) -> RoutePolicy {
        RoutePolicy::Query {
            param: param.into(),
            token: digest(token.expose()),
        }
    }

    /// The route's own token in header `name`.
    pub fn header(name: HeaderName, token: &Secret) -> RoutePolicy {
        RoutePolicy::Header {
            name,
            token: digest(token.expose()),
        }
    }
}

/// Where the session signing key comes from.
pub enum SessionKey {
    /// Derived from this secret: replicas configured with the same one accept each other's sessions.
    Shared(Secret),
    /// Random, for this process only.
    Random,
}

impl Auth {
    /// `tokens` are the API tokens (none: the native API and the pages are open).
    pub fn new(tokens: &[Secret], key: SessionKey) -> anyhow::Result<Auth> {
        let session_key = match key {
            SessionKey::Shared(secret) => {
                let mut hasher = Sha256::new();
                hasher.update(b"coalmine session signing key v1\0");
                hasher.update(secret.expose().as_bytes());
                hasher.finalize().into()
            }
            SessionKey::Random => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|error| {
                    anyhow::anyhow!("cannot make a session signing key: {error}")
                })?;
                key
            }
        };
        Ok(Auth {
            tokens: tokens.iter().map(|token| digest(token.expose())).collect(),
            session_key,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            secure_cookie: false,
            kayenta: RoutePolicy::Bearer,
            flagger: RoutePolicy::Bearer,
        })
    }

    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Auth {
        self.session_lifetime = lifetime;
        self
    }

    /// Session cookies are always `Secure`.
    pub fn with_secure_cookie(mut self, secure: bool) -> Auth {
        self.secure_cookie = secure;
        self
    }

    pub fn with_kayenta(mut self, policy: RoutePolicy) -> Auth {
        self.kayenta = policy;
        self
    }

    pub fn with_flagger(mut self, policy: RoutePolicy) -> Auth {
        self.flagger = policy;
        self
    }

    /// Whether the native API and the pages need a token.
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `token` is one of the API tokens. Every digest is compared, each in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = digest(token);
        self.tokens
            .iter()
            .fold(subtle::Choice::from(0), |found, accepted| {
                found | accepted.ct_eq(&presented)
            })
            .into()
    }

    /// A session cookie value for a login with `token` (which must be accepted), valid from `now` for the
    /// session lifetime.
    pub fn session_for(&self, token: &str, now: jiff::Timestamp) -> String {
        let expiry = now
            .as_second()
            .saturating_add(i64::try_from(self.session_lifetime.as_secs()).unwrap_or(i64::MAX / 2));
        let tag = self
            .session_mac(expiry, &digest(token))
            .finalize()
            .into_bytes();
        format!("{expiry}.{}", hex(&tag))
    }

    /// Whether `value` is a session this server signed, for a token it still accepts, not expired at `now`.
    pub fn valid_session(&self, value: &str, now: jiff::Timestamp) -> bool {
        let Some((expiry, tag)) = value.split_once('.') else {
            return false;
        };
        let (Ok(expiry), Some(tag)) = (expiry.parse::<i64>(), unhex(tag)) else {
            return false;
        };
        if expiry < now.as_second() {
            return false;
        }
        self.tokens.iter().fold(false, |found, token| {
            found | self.session_mac(expiry, token).verify_slice(&tag).is_ok()
        })
    }

    /// Whether a cookie set for `headers`' request must be `Secure`.
    pub fn secure_cookie(&self, headers: &HeaderMap) -> bool {
        self.secure_cookie
            || headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }

    fn session_mac(&self, expiry: i64, token: &TokenDigest) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.session_key)
            .expect("HMAC takes a key of any length");
        mac.update(b"coalmine session v1\0");
        mac.update(expiry.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(token);
        mac
    }

    /// Whether `request` carries an API bearer token, or for a read a valid session cookie: `Ok` when it
    /// does (or the API is open), else the 401 to answer.
    fn check_api(&self, request: &Request) -> Result<(), ApiError> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        match bearer(request.headers()) {
            Some(token) if self.accepts(token) => return Ok(()),
            Some(_) => return Err(unauthorized("the API token is not valid")),
            None => {}
        }
        if is_read(request.method())
            && session_cookie(request.headers())
                .is_some_and(|session| self.valid_session(&session, jiff::Timestamp::now()))
        {
            return Ok(());
        }
        Err(unauthorized(
            "this endpoint needs an API token: send `Authorization: Bearer <token>`",
        ))
    }
}

/// Which policy a route follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteClass {
    Native,
    Kayenta,
    Flagger,
}

/// The class of a route, by its template (`/canary/{id}`). Kayenta's routes are recognised by their first
/// segment; anything else is native (and follows the API's rule).
fn route_class(route: &str) -> RouteClass {
    if route == "/v1/webhooks/flagger" {
        RouteClass::Flagger
    } else if super::routes::kayenta::is_kayenta_path(route) {
        RouteClass::Kayenta
    } else {
        RouteClass::Native
    }
}

/// For the API: what the route's policy asks (by default a valid bearer token, or for reads the session
/// cookie), else a 401 with a message. A token given in a query parameter is removed from the request before
/// the handler sees it.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let class = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(RouteClass::Native, |path| route_class(path.as_str()));
    let policy = match class {
        RouteClass::Native => &RoutePolicy::Bearer,
        RouteClass::Kayenta => &auth.kayenta,
        RouteClass::Flagger => &auth.flagger,
    };
    match policy {
        RoutePolicy::Open => {}
        RoutePolicy::Bearer => auth.check_api(&request)?,
        RoutePolicy::Query { param, token } => {
            let (given, rest) = split_query(request.uri().query(), param);
            match given {
                Some(given) if digest(&given).ct_eq(token).into() => {
                    if let Some(uri) = without_query(request.uri(), rest) {
                        *request.uri_mut() = uri;
                    }
                }
                Some(_) => {
                    return Err(unauthorized(&format!(
                        "the token in query parameter `{param}` is not valid"
                    )));
                }
                None => own_token_missing(auth, &request, &format!("`?{param}=<token>`"))?,
            }
        }
        RoutePolicy::Header { name, token } => {
            match request.headers().get(name).map(|value| value.as_bytes()) {
                Some(given) if Sha256::digest(given).as_slice().ct_eq(token).into() => {}
                Some(_) => {
                    return Err(unauthorized(&format!(
                        "the token in header `{name}` is not valid"
                    )));
                }
                None => own_token_missing(auth, &request, &format!("`{name}: <token>`"))?,
            }
        }
    }
    Ok(next.run(request).await)
}

/// A route with its own token, called without it: an API bearer token still works; else a 401 saying what
/// to send.
fn own_token_missing(auth: &Auth, request: &Request, how: &str) -> Result<(), ApiError> {
    match bearer(request.headers()) {
        Some(token) if auth.is_enabled() && auth.accepts(token) => Ok(()),
        _ => Err(unauthorized(&format!(
            "this endpoint needs its token: send {how}"
        ))),
    }
}

/// For the report pages: a valid token (bearer header or session cookie), else a redirect to the login form
/// that comes back to the page asked for.
pub async fn require_login(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.auth.check_api(&request).is_ok() {
        return next.run(request).await;
    }
    let wanted = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let query = url_encode_pairs(&[("next", wanted)]);
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// The session cookie of a request.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_string())
}

/// The (decoded) value of query parameter `param`, and the query without it.
fn split_query(query: Option<&str>, param: &str) -> (Option<String>, String) {
    let mut given = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == param {
            given.get_or_insert_with(|| value.into_owned());
        } else {
            rest.append_pair(&key, &value);
        }
    }
    (given, rest.finish())
}

/// `uri` with `query` as its query.
fn without_query(uri: &axum::http::Uri, query: String) -> Option<axum::http::Uri> {
    let path_and_query = match query.is_empty() {
        true => uri.path().to_string(),
        false => format!("{}?{query}", uri.path()),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
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

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_auth() -> Auth {
        Auth::new(
            &[Secret::new("first-token"), Secret::new("second")],
            SessionKey::Shared(Secret::new("shared secret")),
        )
        .unwrap()
    }

    #[test]
    fn tokens_are_accepted_whole_and_only_whole() {
        let auth = shared_auth();
        assert!(auth.accepts("first-token"));
        assert!(auth.accepts("second"));
        for wrong in [
            "",
            "first",
            "first-token ",
            "first-tokenx",
            "secon",
            "SECOND",
        ] {
            assert!(!auth.accepts(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn sessions_are_signed_bound_to_a_token_and_expire() {
        let auth = shared_auth();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let session = auth.session_for("second", now);
        assert!(!session.contains("second"));
        assert!(auth.valid_session(&session, now));
        let later = now + jiff::SignedDuration::from_secs(12 * 3600 + 1);
        assert!(!auth.valid_session(&session, later), "expired");

        // A changed expiry or tag is refused.
        let (expiry, tag) = session.split_once('.').unwrap();
        let extended = format!("{}.{tag}", expiry.parse::<i64>().unwrap() + 3600);
        assert!(!auth.valid_session(&extended, now));
        let mut flipped = tag.to_string();
        flipped.replace_range(0..1, if tag.starts_with('0') { "1" } else { "0" });
        assert!(!auth.valid_session(&format!("{expiry}.{flipped}"), now));
        for garbage in ["", ".", "x.y", "second", "1.zz"] {
            assert!(!auth.valid_session(garbage, now), "{garbage:?}");
        }

        // Another replica with the same secret accepts it; one with another secret, or without the token,
        // does not.
        assert!(shared_auth().valid_session(&session, now));
        let other = Auth::new(
            &[Secret::new("second")],
            SessionKey::Shared(Secret::new("other secret")),
        )
        .unwrap();
        assert!(!other.valid_session(&session, now));
        let revoked = Auth::new(
            &[Secret::new("first-token")],
            SessionKey::Shared(Secret::new("shared secret")),
        )
        .unwrap();
        assert!(!revoked.valid_session(&session, now));
        let random = Auth::new(&[Secret::new("second")], SessionKey::Random).unwrap();
        assert!(!random.valid_session(&session, now));
    }

    #[test]
    fn cookies_are_secure_behind_tls_or_when_configured() {
        let auth = shared_auth();
        let mut headers = HeaderMap::new();
        assert!(!auth.secure_cookie(&headers));
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(auth.secure_cookie(&headers));
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        assert!(!auth.secure_cookie(&headers));
        assert!(auth.with_secure_cookie(true).secure_cookie(&headers));
    }

    #[test]
    fn routes_are_classed_by_their_template() {
        assert_eq!(route_class("/canary/{id}"), RouteClass::Kayenta);
        assert_eq!(route_class("/canaryConfig"), RouteClass::Kayenta);
        assert_eq!(route_class("/judge"), RouteClass::Kayenta);
        assert_eq!(route_class("/pipelines/{id}/cancel"), RouteClass::Kayenta);
        assert_eq!(route_class("/v1/webhooks/flagger"), RouteClass::Flagger);
        assert_eq!(route_class("/v1/judge"), RouteClass::Native);
        assert_eq!(route_class("/v1/analyses/{id}"), RouteClass::Native);
        assert_eq!(route_class("/canaryx"), RouteClass::Native);
    }

    #[test]
    fn a_query_token_is_taken_out_of_the_query() {
        assert_eq!(
            split_query(Some("application=a&token=s%20t&user=u"), "token"),
            (Some("s t".to_string()), "application=a&user=u".to_string())
        );
        assert_eq!(split_query(None, "token"), (None, String::new()));
    }
}
