//! `POST /v1/judge` (body and answer exactly as `coalmine judge`) and `GET /v1/judges`.

use std::sync::Arc;

use axum::extract::State;
use serde_json::{Value, json};

use crate::judge_host::Origin;
use crate::judging;
use crate::kayenta::{CanaryJudgeResult, RemoteJudgeRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::extract::Json;

/// Judges a RemoteJudge request `{canaryConfig, metricSetPairList, scoreThresholds}` with the config's judge.
pub async fn judge(
    State(state): State<Arc<AppState>>,
    Json(request): Json<RemoteJudgeRequest>,
) -> Result<axum::Json<CanaryJudgeResult>, ApiError> {
    let limits = &state.limits;
    limits
        .check_metrics(&request.canary_config)
        .map_err(ApiError::bad_request)?;
    for (index, pair) in request.metric_set_pair_list.iter().enumerate() {
        for (side, values) in [
            ("control", &pair.values.control),
            ("experiment", &pair.values.experiment),
        ] {
            limits
                .check_points(
                    values.len(),
                    &format!("metricSetPairList[{index}].values.{side}"),
                )
                .map_err(ApiError::bad_request)?;
        }
    }
    let judge = judging::select_judge(&state.host, None, &request.canary_config)?;
    let result = tokio::task::spawn_blocking(move || judging::judge_remote(&judge, &request))
        .await
        .map_err(|error| ApiError::internal(format!("the judging task failed: {error}")))??;
    Ok(axum::Json(result))
}

/// The loaded judges: name, version, description, origin, content hash, aliases.
pub async fn judges(State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    let judges: Vec<Value> = state
        .host
        .judges()
        .map(|judge| {
            let info = judge.info();
            let origin = match judge.origin() {
                Origin::BuiltIn(_) => "built-in".to_string(),
                Origin::File(path) => path.display().to_string(),
            };
            json!({
                "name": info.name,
                "version": info.version,
                "description": info.description,
                "origin": origin,
                "sha256": judge.sha256(),
                "aliases": state.host.aliases_of(judge.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(Value::Array(judges))
}
