//! Extractors whose rejections are API errors: `{"message": ...}` naming the field at fault
//! (`metricSetPairList[0].values.control[3]: invalid type ...`, `the path parameter `id` is not valid
//! UTF-8`), instead of axum's plain-text rejections — a JSON body ([`Json`]), query parameters ([`Params`])
//! and path parameters ([`Path`]). [`json_errors`] turns whatever plain-text or empty error is left (a 405,
//! a 413, a form the login page cannot read) into the same shape.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

pub use axum::extract::State;

use super::error::ApiError;

/// Like `axum::Json`, with messages that say what is wrong and where.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json_content = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json") || value.contains("+json"));
        if !json_content {
            return Err(ApiError::bad_request(
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = body(request, state).await?;
        parse(&bytes).map(Json)
    }
}

/// The request body, with axum's rejection (e.g. over the body limit: 413) as an API error.
pub async fn body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|rejection| ApiError {
            status: rejection.status(),
            message: rejection.body_text(),
        })
}

/// Parses `bytes` as JSON `T`, naming the field of any error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::documents::from_json(bytes).map_err(ApiError::bad_request)
}

/// Query parameters whose errors are a `{"message": ...}` 400 naming the problem, not axum's plain text.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(params)| Params(params))
            .map_err(|rejection| {
                ApiError::bad_request(format!("the query string: {}", rejection.body_text()))
            })
    }
}

/// Path parameters whose errors are a `{"message": ...}` naming the parameter (`the path parameter `id` is
/// not valid UTF-8`), not axum's plain text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(params)| Path(params))
            .map_err(path_error)
    }
}

/// A path rejection as an API error.
fn path_error(rejection: axum::extract::rejection::PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    use axum::extract::rejection::PathRejection;
    let status = rejection.status();
    let message = match &rejection {
        PathRejection::FailedToDeserializePathParams(error) => match error.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                format!("the path parameter `{key}` is not valid UTF-8")
            }
            ErrorKind::ParseErrorAtKey {
                key, expected_type, ..
            } => format!("the path parameter `{key}` is not a valid {expected_type}"),
            _ => format!("the path: {}", error.body_text()),
        },
        _ => format!("the path: {}", rejection.body_text()),
    };
    ApiError { status, message }
}

/// The longest message kept from a plain-text error body.
const MAX_MESSAGE: usize = 1000;

/// Middleware: an error answer that is neither JSON nor an HTML page (axum's plain-text rejections, an empty
/// 405 or 413) becomes `{"message": ...}` with the same status and headers: its text, else the status's
/// reason.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = match text.is_empty() {
        true => default_message(status),
        false => text.chars().take(MAX_MESSAGE).collect(),
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut answer = ApiError { status, message }.into_response();
    for (name, value) in &parts.headers {
        if !answer.headers().contains_key(name) {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

fn default_message(status: axum::http::StatusCode) -> String {
    use axum::http::StatusCode;
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        StatusCode::NOT_FOUND => "no such endpoint".to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
    }
}
