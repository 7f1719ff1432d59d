//! A recording HTTP proxy (axum on 127.0.0.1) to put in front of a real server. It records each request's
//! path, query and headers and how many were in flight at once, and can serve under a path prefix, require an
//! `Authorization` header, delay its answers, or answer the first requests with errors.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

/// A request as the proxy (or a double) received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path and query, e.g. `/api/v1/query_range?query=…`.
    pub uri: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
}

impl Recorded {
    pub fn new(uri: &Uri, headers: &HeaderMap) -> Recorded {
        Recorded {
            uri: uri.to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// The decoded value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://proxy{}", self.uri)).ok()?;
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// What the proxy does besides forwarding.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// A path prefix (e.g. `/prometheus`) requests must start with; it is removed before forwarding.
    pub prefix: String,
    /// The `Authorization` header value every request must carry; 401 otherwise.
    pub authorization: Option<String>,
    /// How long to wait before forwarding each request.
    pub delay: Duration,
    /// The first requests are answered with these statuses (and `Retry-After` seconds) instead.
    pub failures: Vec<(u16, Option<u64>)>,
}

pub struct Proxy {
    /// The proxy's base URL, prefix included.
    pub url: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    client: reqwest::Client,
    upstream: String,
    options: ProxyOptions,
    failures: Mutex<VecDeque<(u16, Option<u64>)>>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Proxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:9090`) on the current runtime.
    pub async fn start(upstream: &str, options: ProxyOptions) -> Proxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            failures: Mutex::new(options.failures.iter().copied().collect()),
            options,
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            // One client for all forwarded requests: a client per request costs milliseconds of TLS setup
            // and would serialize concurrent requests on the CPU.
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            state.options.prefix
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Proxy { url, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Counts a request in flight while it lives.
struct InFlight<'a>(&'a ProxyState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a ProxyState) -> InFlight<'a> {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, uri: Uri, headers: HeaderMap) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(Recorded::new(&uri, &headers));
    let _in_flight = InFlight::enter(&state);
    if let Some(expected) = &state.options.authorization
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            != Some(expected.as_str())
    {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"status":"error","errorType":"unauthorized","error":"unauthorized"}"#,
        );
    }
    let failure = state.failures.lock().unwrap().pop_front();
    if let Some((status, retry_after)) = failure {
        let mut response = json(
            StatusCode::from_u16(status).unwrap(),
            r#"{"status":"error","errorType":"unavailable","error":"injected failure"}"#,
        );
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        return response;
    }
    tokio::time::sleep(state.options.delay).await;
    let Some(path) = uri.path().strip_prefix(state.options.prefix.as_str()) else {
        return json(StatusCode::NOT_FOUND, r#"{"error":"not under the prefix"}"#);
    };
    let query = uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    let upstream = state
        .client
        .get(format!("{}{path}{query}", state.upstream))
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let body = upstream.bytes().await.unwrap();
    let mut response = Response::builder()
        .status(status)
        .body(Body::from(body))
        .unwrap();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type.to_str().unwrap().parse().unwrap(),
        );
    }
    response
}

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.into()))
        .unwrap()
}
