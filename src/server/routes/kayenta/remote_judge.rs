//! RemoteJudge's `POST /judge`, for sites that keep Kayenta: the body of `POST /v1/judge`, read as Kayenta
//! reads it (Jackson's scalar coercion: `"95"` for a threshold, `"1.5"` for a metric value), then judged
//! exactly as `POST /v1/judge` judges it. Its OpenAPI operation is described in `server::openapi`.

use std::sync::Arc;

use serde_json::Value;

use super::lenient;
use crate::kayenta::jackson;
use crate::kayenta::{CanaryJudgeResult, RemoteJudgeRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::extract::{Json, State};

/// `POST /judge`: `{canaryConfig, metricSetPairList, scoreThresholds}` → CanaryJudgeResult.
pub async fn judge(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Value>,
) -> Result<axum::Json<CanaryJudgeResult>, ApiError> {
    let (request, _): (RemoteJudgeRequest, _) = lenient(&body, &jackson::REMOTE_JUDGE_REQUEST)?;
    crate::server::routes::judge::judge(State(state), Json(request)).await
}
