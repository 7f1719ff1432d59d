//! Errors as the API answers them: a status and `{"message": "..."}` saying what is wrong and where. A 4xx is
//! the caller's mistake; a 5xx is a fault of coalmine or of something it depends on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::analysis::AnalysisError;
use crate::analysis::scheduler::SubmitError;
use crate::judge_host::PluginError;
use crate::judging::JudgingError;
use crate::metrics::SourceError;
use crate::store::StoreError;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong and where, e.g. `thresholds: marginal (80) must not be above pass (75)`.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.message);
        }
        let body = ErrorBody {
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JudgingError> for ApiError {
    fn from(error: JudgingError) -> ApiError {
        match error {
            JudgingError::Invalid(_) | JudgingError::UnknownJudge { .. } => {
                ApiError::bad_request(error.to_string())
            }
            JudgingError::Plugin(error) => error.into(),
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> ApiError {
        match error {
            // The judge refused the caller's settings (e.g. judgeConfigurations): the caller can fix that.
            PluginError::InvalidRequest { .. } => ApiError::bad_request(error.to_string()),
            // The config's group weights pushed the score out of 0–100: well-formed, but not judgeable.
            PluginError::ScoreOutOfRange { .. } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: error.to_string(),
            },
            _ => ApiError::internal(error.to_string()),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(error: SourceError) -> ApiError {
        let status = match &error {
            SourceError::Config { .. } | SourceError::Pairing { .. } => StatusCode::BAD_REQUEST,
            SourceError::Unreachable { .. } | SourceError::Timeout { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            SourceError::Http { .. } | SourceError::BadResponse { .. } => StatusCode::BAD_GATEWAY,
        };
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let status = match &error {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            // The database is down or overloaded: the request may be repeated, on this replica or another.
            StoreError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl From<AnalysisError> for ApiError {
    fn from(error: AnalysisError) -> ApiError {
        match error {
            AnalysisError::Metrics(error) => error.into(),
            AnalysisError::Judging(error) => error.into(),
            AnalysisError::Internal(message) => ApiError::internal(message),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        match error {
            SubmitError::Busy { .. } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: error.to_string(),
            },
            SubmitError::Invalid(message) => ApiError::bad_request(message),
            SubmitError::Query(error) => error.into(),
            SubmitError::Store(error) => error.into(),
            SubmitError::Internal(message) => ApiError::internal(message),
        }
    }
}
