//! The HTTP server behind `coalmine serve`: shared state, the router, and graceful shutdown.
//!
//! Handlers live in [`routes`], one module per resource, and only translate HTTP to calls into the layers
//! below (judging, analysis, store) and their results back; errors become `{"message": ...}` with a 4xx for
//! the caller's mistakes and a 5xx for real faults ([`error`]).
//!
//! No request can knock the server over: a handler that panics answers 500 with `{"message"}` and a log line
//! while the server serves on, and a `429` (a full server, see [`crate::analysis::scheduler`]) always says
//! when to retry (`Retry-After`).

pub mod auth;
mod error;
mod extract;
mod openapi;
mod pages;
mod routes;
pub mod settings;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::analysis::scheduler::Scheduler;
use crate::judge_host::JudgeHost;
use crate::metrics::Accounts;
use crate::store::Store;
use settings::Limits;

/// What every handler shares.
pub struct AppState {
    pub host: Arc<JudgeHost>,
    pub store: Arc<dyn Store>,
    pub accounts: Arc<Accounts>,
    pub scheduler: Scheduler,
    /// API tokens, login sessions and the policies of Kayenta's and Flagger's routes.
    pub auth: auth::Auth,
    pub limits: Limits,
}

/// Runs a blocking store call off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, error::ApiError> + Send + 'static,
) -> Result<T, error::ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|error| error::ApiError::internal(format!("a background task failed: {error}")))?
}

/// How long a client told `429 Too Many Requests` should wait before it tries again, in seconds.
const RETRY_AFTER_SECONDS: u32 = 30;

/// The answer to a handler that panicked: 500 with `{"message"}`, and the panic in the log.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    tracing::error!("a request handler panicked: {what}");
    error::ApiError::internal(
        "internal error: coalmine failed while handling this request; the failure is logged and the server \
         serves on",
    )
    .into_response()
}

/// Adds `Retry-After` to a `429` that lacks one.
async fn retry_after(mut response: Response) -> Response {
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

/// `routes` answering every error as `{"message"}`, a panic included (500, logged, and the server serves on),
/// and every `429` with `Retry-After`.
fn guarded(routes: Router) -> Router {
    routes
        .layer(axum::middleware::map_response(retry_after))
        .layer(axum::middleware::map_response(extract::json_errors))
        .layer(CatchPanicLayer::custom(panicked))
}

/// The API's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let open = Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(routes::health::metrics));
    let protected = Router::new()
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/v1/judge", post(routes::judge::judge))
        .route("/v1/judges", get(routes::judge::judges))
        .route(
            "/v1/analyses",
            get(routes::analyses::list).post(routes::analyses::create),
        )
        .route(
            "/v1/analyses/{id}",
            get(routes::analyses::get).delete(routes::analyses::delete),
        )
        .route("/v1/analyses/{id}/cancel", post(routes::analyses::cancel))
        .route(
            "/v1/configs",
            get(routes::configs::list).post(routes::configs::create),
        )
        .route(
            "/v1/configs/{id}",
            get(routes::configs::get)
                .put(routes::configs::replace)
                .delete(routes::configs::delete),
        )
        // Kayenta's API, for Argo Rollouts, Spinnaker and Kayenta's own clients.
        .merge(routes::kayenta::router())
        .route("/v1/webhooks/flagger", post(routes::flagger::webhook))
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error::ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                message: "this endpoint does not take that method".to_string(),
            }
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let max_body_bytes = state.limits.max_body_bytes;
    let routes = open
        .merge(pages::router(state.clone()))
        .merge(protected)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body_bytes));
    guarded(routes)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Kayenta's routes also match with a trailing slash, as Spring's do: the path is trimmed before routing.
    let app = tower::ServiceExt::map_request(router(state), routes::kayenta::trim_trailing_slash);
    axum::serve(listener, axum::ServiceExt::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_with_a_message_and_the_server_serves_on() {
        let routes = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("a handler broke down");
                    }
                    "unreachable"
                }),
            )
            .route("/fine", get(|| async { "fine" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, guarded(routes)).await });
        let client = reqwest::Client::new();

        let boom = client.get(format!("{url}/boom")).send().await.unwrap();
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = boom.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|message| message.contains("the server serves on")),
            "{body}"
        );
        for _ in 0..2 {
            let fine = client.get(format!("{url}/fine")).send().await.unwrap();
            assert_eq!(fine.status(), StatusCode::OK);
        }
        let missing = client.get(format!("{url}/nothing")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = missing.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
}
