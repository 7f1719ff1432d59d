//! What the HTTP sources share: secrets that never print, an account's base URL, bounds, client and
//! [`Endpoint`] ([`Endpoint::account`]), the retry policy, and running one query under a deadline with bounded
//! retries, turning every failure into a [`SourceError`] that names the metric, the store and the query and
//! carries no secret.
//!
//! Retried: connection errors, HTTP 5xx, 408 and 429, after an exponential backoff or the store's
//! `Retry-After` (capped). The account's timeout bounds the whole query, retries included: a retry that could
//! not finish before the deadline is not attempted.
//!
//! What one account may ask of its store and take from it is bounded:
//!
//! - at most `max_concurrent_queries` queries of the account are in flight at once, whatever the number of
//!   analyses (the others wait for a slot, and their deadline starts when they get one);
//! - an answer is read up to [`MAX_RESPONSE_BYTES`], and a series longer than the account's `max_points` is
//!   refused while it is parsed ([`Points`], [`parse_bounded`]) with an error naming the metric;
//! - redirects are followed only within the store's origin (scheme, host and port): a store that redirects
//!   elsewhere gets its 3xx reported, and the account's credentials never go to another host.
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::error::{QueryContext, SourceError};

/// A password, token or API key. Its `Debug` output is `***`; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a failed query is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each further attempt.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// The longest wait a store's `Retry-After` can ask for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// The default per-query timeout of an account.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default number of queries one account runs at once; the others wait for a slot.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 32;

/// The default number of data points a series may have (per series and side), the server's and the command
/// line's.
pub const DEFAULT_MAX_POINTS: usize = 100_000;

/// The largest answer read from a store.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// What bounds an account's queries (the same for every store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountBounds {
    /// How long one query may take, retries included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// The most queries in flight at once; the others wait.
    pub max_concurrent_queries: usize,
    /// The most points one series may have.
    pub max_points: usize,
}

impl Default for AccountBounds {
    fn default() -> AccountBounds {
        AccountBounds {
            timeout: DEFAULT_TIMEOUT,
            retries: RetryPolicy::default(),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

/// Why one attempt failed.
pub(crate) enum AttemptError {
    /// No HTTP answer (connection refused, DNS, TLS, reset, …).
    Transport(String),
    /// An HTTP error status, with the response's headers and body.
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    },
    /// A successful status with a body that is not what the store should send.
    Unreadable(String),
    /// A series with more points than the account accepts (its limit).
    TooManyPoints(usize),
}

impl AttemptError {
    /// A transport error, described by its kind and its chain of causes (never the URL).
    pub(crate) fn transport(error: &reqwest::Error) -> AttemptError {
        let mut reason = if error.is_connect() {
            "cannot connect"
        } else if error.is_timeout() {
            "timed out"
        } else if error.is_body() || error.is_decode() {
            "reading the response failed"
        } else {
            "the request failed"
        }
        .to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !reason.contains(&text) {
                reason = format!("{reason}: {text}");
            }
            source = cause.source();
        }
        AttemptError::Transport(reason)
    }

    fn retryable(&self) -> bool {
        match self {
            AttemptError::Transport(_) => true,
            AttemptError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            AttemptError::Unreadable(_) | AttemptError::TooManyPoints(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        let AttemptError::Status { headers, .. } = self else {
            return None;
        };
        let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        Some(
            Duration::try_from(at.duration_since(jiff::Timestamp::now())).unwrap_or(Duration::ZERO),
        )
    }
}

/// A store's address and how patiently it is queried.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The kind of store, e.g. `Prometheus`.
    pub store: &'static str,
    /// The base URL without credentials, for messages.
    pub url: String,
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// Secrets to strip from anything a store sends back, in case it echoes them.
    pub secrets: Vec<Secret>,
    /// The account's query slots: at most this many queries in flight at once.
    pub slots: Arc<Semaphore>,
    /// The most points a series may have.
    pub max_points: usize,
}

/// The body of a successful answer (at most [`MAX_RESPONSE_BYTES`]); an error status is an
/// [`AttemptError::Status`].
async fn success_body(mut response: reqwest::Response) -> Result<String, AttemptError> {
    let status = response.status();
    let headers = response.headers().clone();
    let too_large = || {
        AttemptError::Unreadable(format!(
            "the answer is larger than {} MiB; narrow the query",
            MAX_RESPONSE_BYTES >> 20
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| AttemptError::transport(&error))?
    {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = match String::from_utf8(bytes) {
        Ok(body) => body,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
    if !status.is_success() {
        return Err(AttemptError::Status {
            status,
            headers,
            body,
        });
    }
    Ok(body)
}

thread_local! {
    /// The point limit of the [`parse_bounded`] running on this thread.
    static POINT_LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
    /// Whether a [`Points`] of that parse went over it.
    static POINTS_EXCEEDED: Cell<bool> = const { Cell::new(false) };
}

/// A JSON array of a series' points. Inside [`parse_bounded`], reading it stops with an error at the first
/// point over the limit, so an oversized series is never held in memory.
#[derive(Debug)]
pub(crate) struct Points<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Points<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Points<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of points")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Points<T>, A::Error> {
                let limit = POINT_LIMIT.get().unwrap_or(usize::MAX);
                let mut points = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(limit));
                while let Some(point) = seq.next_element()? {
                    if points.len() == limit {
                        POINTS_EXCEEDED.set(true);
                        return Err(serde::de::Error::custom(format!(
                            "a series has more than {limit} points"
                        )));
                    }
                    points.push(point);
                }
                Ok(Points(points))
            }
        }
        deserializer.deserialize_seq(Visitor(PhantomData))
    }
}

/// Parses a store's answer as `T`, whose [`Points`] may each hold at most `max_points` points:
/// [`AttemptError::TooManyPoints`] for a longer series, [`AttemptError::Unreadable`] for anything else wrong.
pub(crate) fn parse_bounded<'a, T: Deserialize<'a>>(
    body: &'a str,
    max_points: usize,
) -> Result<T, AttemptError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            POINT_LIMIT.set(None);
            POINTS_EXCEEDED.set(false);
        }
    }
    POINT_LIMIT.set(Some(max_points));
    POINTS_EXCEEDED.set(false);
    let _reset = Reset;
    serde_json::from_str(body).map_err(|error| match POINTS_EXCEEDED.get() {
        true => AttemptError::TooManyPoints(max_points),
        false => AttemptError::Unreadable(format!("{error}; the body starts: {}", excerpt(body))),
    })
}

impl Endpoint {
    /// An account's HTTP client (sending `headers` with every request) and its endpoint: the store at `base`
    /// (named in messages without credentials), queried within `bounds`, with `secrets` stripped from
    /// whatever the store answers. The error is the problem, for the account's configuration error.
    pub(crate) fn account(
        store: &'static str,
        base: &reqwest::Url,
        bounds: AccountBounds,
        headers: HeaderMap,
        secrets: Vec<Secret>,
    ) -> Result<(reqwest::Client, Endpoint), String> {
        let client = client(bounds.timeout, headers)
            .map_err(|error| format!("cannot set up its HTTP client: {error}"))?;
        let endpoint = Endpoint {
            store,
            url: redact_url(base),
            timeout: bounds.timeout,
            retries: bounds.retries,
            secrets,
            slots: Arc::new(Semaphore::new(bounds.max_concurrent_queries.max(1))),
            max_points: bounds.max_points,
        };
        Ok((client, endpoint))
    }

    /// The body of a successful answer (at most [`MAX_RESPONSE_BYTES`]), with any secret the store echoed
    /// already replaced; an error status is an [`AttemptError::Status`] with the body scrubbed the same way.
    pub(crate) async fn success_body(
        &self,
        response: reqwest::Response,
    ) -> Result<String, AttemptError> {
        scrub_body(success_body(response).await, |body| self.scrub_owned(body))
    }

    /// Sends `request` (one attempt) and gives the body of a successful answer, as [`Endpoint::success_body`].
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<String, AttemptError> {
        let response = request
            .send()
            .await
            .map_err(|error| AttemptError::transport(&error))?;
        self.success_body(response).await
    }

    /// Runs `attempt` until it succeeds, fails for good, runs out of attempts or passes the deadline.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        metric: &str,
        query: &str,
        mut attempt: F,
    ) -> Result<T, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        // Waiting for a slot is not the store's slowness: the deadline starts with the slot.
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("an account's slots are never closed");
        let deadline = Instant::now() + self.timeout;
        let attempts = self.retries.attempts.max(1);
        let mut backoff = self.retries.initial_backoff;
        for number in 1..=attempts {
            let error = match tokio::time::timeout_at(deadline, attempt()).await {
                Err(_) => {
                    return Err(SourceError::Timeout {
                        context: self.context(metric, query),
                        timeout: self.timeout,
                        attempts: number,
                    });
                }
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
            };
            let wait = error
                .retry_after()
                .map_or(backoff, |asked| asked.min(self.retries.max_retry_after));
            if number == attempts || !error.retryable() || Instant::now() + wait >= deadline {
                return Err(self.failure(metric, query, error, number));
            }
            let problem = self.describe(&error);
            if number == 1 && first_warning(&format!("{}\n{metric}", self.url), self.timeout) {
                tracing::warn!(
                    metric,
                    store = self.store,
                    attempt = number,
                    ?wait,
                    "{problem}; retrying (each further retry of this metric is logged at debug)"
                );
            } else {
                tracing::debug!(
                    metric,
                    store = self.store,
                    attempt = number,
                    ?wait,
                    "{problem}; retrying"
                );
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.retries.max_backoff);
        }
        unreachable!("the last attempt returns")
    }

    /// The error for an answer that is not the store's series as expected; `reason` says how.
    pub(crate) fn bad_response(&self, metric: &str, query: &str, reason: String) -> SourceError {
        SourceError::BadResponse {
            context: self.context(metric, query),
            reason,
        }
    }

    pub(crate) fn context(&self, metric: &str, query: &str) -> QueryContext {
        QueryContext {
            metric: metric.to_string(),
            store: self.store,
            endpoint: self.url.clone(),
            query: query.to_string(),
        }
    }

    fn failure(
        &self,
        metric: &str,
        query: &str,
        error: AttemptError,
        attempts: u32,
    ) -> SourceError {
        let context = self.context(metric, query);
        match error {
            AttemptError::Transport(reason) => SourceError::Unreachable {
                context,
                attempts,
                reason: self.scrub(&reason),
            },
            AttemptError::Status { status, body, .. } => SourceError::Http {
                context,
                status: status.as_u16(),
                body: self.scrub(&summarize_body(&body)),
                attempts,
            },
            AttemptError::Unreadable(reason) => SourceError::BadResponse {
                context,
                reason: self.scrub(&reason),
            },
            AttemptError::TooManyPoints(limit) => SourceError::config(
                metric,
                format!(
                    "{} at {} answered a series of more than {limit} data points; this server \
                     accepts at most {limit} per series (max_points): shorten the window or raise \
                     the step. Query: {query}",
                    self.store, self.url
                ),
            ),
        }
    }

    fn describe(&self, error: &AttemptError) -> String {
        match error {
            AttemptError::Transport(reason) => self.scrub(reason),
            AttemptError::Status { status, body, .. } => {
                format!("HTTP {status}: {}", self.scrub(&summarize_body(body)))
            }
            AttemptError::Unreadable(reason) => self.scrub(reason),
            AttemptError::TooManyPoints(limit) => format!("a series has more than {limit} points"),
        }
    }

    /// `text` with every secret replaced by `***`, as it is and as it would be written in a URL.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrub_owned(text.to_string())
    }

    fn scrub_owned(&self, mut text: String) -> String {
        for secret in self
            .secrets
            .iter()
            .filter(|secret| !secret.expose().is_empty())
        {
            let encoded: String =
                form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect();
            let percent = encoded.replace('+', "%20");
            for form in [secret.expose(), &encoded, &percent] {
                if text.contains(form) {
                    text = text.replace(form, "***");
                }
            }
        }
        text
    }
}

/// The explanation in an error body: Prometheus's `errorType: error`, Datadog's `errors`, or else the start
/// of the body.
fn summarize_body(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let error = json.get("error").and_then(|e| e.as_str());
        let error_type = json.get("errorType").and_then(|e| e.as_str());
        let errors = json.get("errors").and_then(|e| e.as_array());
        match (error_type, error, errors) {
            (Some(kind), Some(error), _) => return excerpt(&format!("{kind}: {error}")),
            (None, Some(error), _) => return excerpt(error),
            (_, None, Some(errors)) => {
                let texts: Vec<String> = errors
                    .iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                    .collect();
                return excerpt(&texts.join("; "));
            }
            _ => {}
        }
    }
    excerpt(body)
}

/// At most 300 characters of `text` on one line.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 300;
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(empty body)".to_string(),
        None => line,
    }
}

/// `Basic` credentials as they travel in an `Authorization` header (base64 of `user:password`): a secret too,
/// should a store echo the header.
pub(crate) fn basic_credentials(username: &str, password: &Secret) -> Secret {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{username}:{}", password.expose()).into_bytes();
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (at, byte)| {
            word | u32::from(*byte) << (16 - 8 * at)
        });
        for index in 0..4 {
            encoded.push(if index <= chunk.len() {
                ALPHABET[(word >> (18 - 6 * index) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    Secret::new(encoded)
}

/// `url` without a username or password, for messages and logs.
pub(crate) fn redact_url(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Cannot fail on a URL that had credentials: it has a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    url.to_string().trim_end_matches('/').to_string()
}

/// An account's configured URL for `Debug` output: without credentials, whether or not it parses.
pub(crate) fn redact_url_text(url: &str) -> String {
    reqwest::Url::parse(url)
        .map_or_else(|_| "(not a valid URL)".to_string(), |url| redact_url(&url))
}

/// `result` with `scrub` applied to the body it carries: the answer's, or an error status's.
pub(crate) fn scrub_body(
    result: Result<String, AttemptError>,
    scrub: impl Fn(String) -> String,
) -> Result<String, AttemptError> {
    match result {
        Ok(body) => Ok(scrub(body)),
        Err(AttemptError::Status {
            status,
            headers,
            body,
        }) => Err(AttemptError::Status {
            status,
            headers,
            body: scrub(body),
        }),
        Err(error) => Err(error),
    }
}

/// A configuration error about an account (no metric): `<store> account '<name>': <problem>`.
pub(crate) fn invalid(store: &str, account: &str, problem: String) -> SourceError {
    SourceError::Config {
        metric: None,
        message: format!("{store} account '{account}': {problem}"),
    }
}

/// `url` parsed, when it is an http(s) URL with a host (the only base URLs an account may have).
pub(crate) fn http_url(url: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// `<base><path>`: the base's own path prefix kept, without its trailing `/`.
pub(crate) fn join(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url
}

/// The HTTP client of one account: connection timeout, user agent, the headers every request carries, and
/// redirects followed only within the origin they start from (so the account's keys, which reqwest would keep
/// sending as default headers, never reach another host).
pub(crate) fn client(
    timeout: Duration,
    headers: HeaderMap,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .user_agent(concat!("coalmine/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .redirect(same_origin_redirects())
        .build()
}

/// Follows at most 5 redirects, each within the origin of the first request; any other is not followed (the
/// 3xx is the answer).
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same_origin || attempt.previous().len() > 5 {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// Whether `key` (an endpoint and a metric) has had no retry warning within `within` (a fetch's deadline),
/// and marks it warned: a metric's queries (both sides, every series, every retry) warn once per fetch, the
/// rest of their retries are logged at debug. The map holds only the keys of the last `within`.
fn first_warning(key: &str, within: Duration) -> bool {
    static WARNED: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    > = std::sync::LazyLock::new(Default::default);
    let now = Instant::now();
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    warned.retain(|_, at| now.duration_since(*at) < within);
    if warned.contains_key(key) {
        return false;
    }
    warned.insert(key.to_string(), now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        // RFC 7617's example.
        let credentials = basic_credentials("Aladdin", &Secret::new("open sesame"));
        assert_eq!(credentials.expose(), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(basic_credentials("a", &Secret::new("b")).expose(), "YTpi");
        assert_eq!(
            basic_credentials("ab", &Secret::new("c")).expose(),
            "YWI6Yw=="
        );
    }

    #[test]
    fn secrets_are_scrubbed_as_written_and_as_url_encoded() {
        let endpoint = Endpoint {
            secrets: vec![Secret::new("p@ss w/rd")],
            ..endpoint(Duration::from_secs(1), Duration::from_millis(1))
        };
        assert_eq!(
            endpoint.scrub("a p@ss w/rd b p%40ss+w%2Frd c p%40ss%20w%2Frd"),
            "a *** b *** c ***"
        );
    }

    #[test]
    fn series_longer_than_the_limit_are_refused_while_parsed() {
        #[derive(Debug, Deserialize)]
        struct Answer {
            series: Vec<Points<f64>>,
        }
        let answer: Answer = parse_bounded(r#"{"series": [[1, 2, 3], [4]]}"#, 3)
            .ok()
            .unwrap();
        assert_eq!(answer.series[0].0, [1.0, 2.0, 3.0]);
        let error = parse_bounded::<Answer>(r#"{"series": [[1], [1, 2, 3, 4]]}"#, 3).unwrap_err();
        assert!(matches!(error, AttemptError::TooManyPoints(3)));
        // Another error is not taken for the limit, and the limit does not outlive the parse.
        let error = parse_bounded::<Answer>(r#"{"series": [[1, "x"]]}"#, 3).unwrap_err();
        assert!(matches!(error, AttemptError::Unreadable(_)));
        let unbounded: Answer = serde_json::from_str(r#"{"series": [[1, 2, 3, 4, 5]]}"#).unwrap();
        assert_eq!(unbounded.series[0].0.len(), 5);
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn error_bodies_are_summarized() {
        assert_eq!(
            summarize_body(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#),
            "bad_data: parse error"
        );
        assert_eq!(summarize_body(r#"{"errors": ["Forbidden"]}"#), "Forbidden");
        assert_eq!(
            summarize_body("upstream\n  connect error"),
            "upstream connect error"
        );
        assert_eq!(summarize_body(""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(summarize_body(&long).chars().count(), 301);
    }

    #[test]
    fn urls_lose_their_credentials() {
        let url = reqwest::Url::parse("https://user:pa55@prom.example.com:9090/prefix/").unwrap();
        assert_eq!(redact_url(&url), "https://prom.example.com:9090/prefix");
        let url = reqwest::Url::parse("http://127.0.0.1:9090").unwrap();
        assert_eq!(redact_url(&url), "http://127.0.0.1:9090");
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        let error = AttemptError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers,
            body: String::new(),
        };
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        assert!(error.retryable());

        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, date.parse().unwrap());
        let error = AttemptError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers,
            body: String::new(),
        };
        let wait = error.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |code: u16| AttemptError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            headers: HeaderMap::new(),
            body: String::new(),
        };
        for code in [500, 502, 503, 504, 408, 429] {
            assert!(status(code).retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).retryable(), "{code}");
        }
        assert!(AttemptError::Transport("connection refused".into()).retryable());
        assert!(!AttemptError::Unreadable("not JSON".into()).retryable());
    }

    fn endpoint(timeout: Duration, initial_backoff: Duration) -> Endpoint {
        Endpoint {
            store: "Test",
            url: "http://store".into(),
            timeout,
            retries: RetryPolicy {
                initial_backoff,
                ..RetryPolicy::default()
            },
            secrets: vec![Secret::new("s3cret")],
            slots: Arc::new(Semaphore::new(4)),
            max_points: 10,
        }
    }

    #[tokio::test]
    async fn retries_back_off_exponentially() {
        let endpoint = endpoint(Duration::from_secs(60), Duration::from_millis(20));
        let started = Instant::now();
        let mut calls = Vec::new();
        let result: Result<(), _> = endpoint
            .run("m", "q", || {
                calls.push(started.elapsed());
                async { Err(AttemptError::Transport("refused, key s3cret".into())) }
            })
            .await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, SourceError::Unreachable { attempts: 4, .. }),
            "{error:?}"
        );
        assert!(
            !error.to_string().contains("s3cret") && error.to_string().contains("key ***"),
            "{error}"
        );
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, expected) in gaps.iter().zip([20, 40, 80].map(Duration::from_millis)) {
            assert!(*gap >= expected, "{gaps:?}");
        }
    }

    #[tokio::test]
    async fn no_retry_is_started_that_would_end_after_the_deadline() {
        let endpoint = endpoint(Duration::from_secs(1), Duration::from_millis(400));
        let mut count = 0;
        let result: Result<(), _> = endpoint
            .run("m", "q", || {
                count += 1;
                async { Err(AttemptError::Transport("refused".into())) }
            })
            .await;
        // Attempts at 0 s and 0.4 s; the next wait (0.8 s) would pass the deadline.
        assert!(
            matches!(result, Err(SourceError::Unreachable { attempts: 2, .. })),
            "{result:?}"
        );
        assert_eq!(count, 2);
    }

    #[tokio::test]
    async fn a_slow_answer_times_out_at_the_deadline() {
        let endpoint = endpoint(Duration::from_millis(200), Duration::from_millis(20));
        let started = Instant::now();
        let result: Result<(), _> = endpoint
            .run("m", "q", || async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            })
            .await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, SourceError::Timeout { attempts: 1, .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("did not answer within 200ms"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let endpoint = endpoint(Duration::from_secs(10), Duration::from_millis(20));
        let mut count = 0;
        let result: Result<(), _> = endpoint
            .run("latency", "up{", || {
                count += 1;
                async {
                    Err(AttemptError::Status {
                        status: StatusCode::BAD_REQUEST,
                        headers: HeaderMap::new(),
                        body: r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#
                            .into(),
                    })
                }
            })
            .await;
        assert_eq!(count, 1);
        let error = result.unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::Http {
                    status: 400,
                    attempts: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "metric 'latency': Test at http://store answered HTTP 400 (1 attempt): bad_data: parse \
             error. The store rejected the query: check the metric's query config. Query: up{"
        );
    }
}
