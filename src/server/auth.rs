//! Bearer-token authentication: when the server has tokens, every request but `/health` and `/ready` needs
//! `Authorization: Bearer <token>`; anything else is a 401 with a message.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.tokens.is_empty() {
        return Ok(next.run(request).await);
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(unauthorized(
            "this endpoint needs an API token: send `Authorization: Bearer <token>`",
        ));
    };
    // Every token is compared, in time independent of where they differ.
    let accepted = state.tokens.iter().fold(false, |found, token| {
        found | constant_time_eq(token.expose().as_bytes(), presented.as_bytes())
    });
    if accepted {
        Ok(next.run(request).await)
    } else {
        Err(unauthorized("the API token is not valid"))
    }
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
