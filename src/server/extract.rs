//! A JSON body extractor whose rejections are API errors: `{"message": ...}` naming the field at fault
//! (`metricSetPairList[0].values.control[3]: invalid type ...`), instead of axum's plain-text rejections.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

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
