//! `POST /v1/judge` (body and answer exactly as `coalmine judge`) and `GET /v1/judges`.

use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::judge_host::Origin;
use crate::judging;
use crate::kayenta::{CanaryJudgeResult, RemoteJudgeRequest};
use crate::server::AppState;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Json;

#[utoipa::path(
    post,
    path = "/v1/judge",
    tag = "judges",
    request_body = RemoteJudgeRequest,
    responses(
        (status = 200, description = "Kayenta's CanaryJudgeResult", body = CanaryJudgeResult),
        (status = 400, description = "Invalid request, or settings the judge refused", body = ErrorBody),
        (status = 500, description = "The judge failed: a trap, its deadline, a broken contract", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/judges",
    tag = "judges",
    responses((status = 200, description = "Every loaded judge", body = Vec<JudgeView>))
)]
/// The loaded judges: name, version, description, origin, content hash, whether it decides, aliases.
pub async fn judges(State(state): State<Arc<AppState>>) -> axum::Json<Vec<JudgeView>> {
    let judges = state
        .host
        .judges()
        .map(|judge| {
            let info = judge.info();
            let origin = match judge.origin() {
                Origin::BuiltIn(_) => "built-in".to_string(),
                Origin::File(path) => path.display().to_string(),
            };
            JudgeView {
                name: info.name.clone(),
                version: info.version.clone(),
                description: info.description.clone(),
                origin,
                sha256: judge.sha256().to_string(),
                decides: judge.decides(),
                aliases: state
                    .host
                    .aliases_of(judge.name())
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect();
    axum::Json(judges)
}

/// A loaded judge.
#[derive(Debug, Serialize, ToSchema)]
pub struct JudgeView {
    /// The name configs give in `judge.name`.
    name: String,
    version: String,
    description: String,
    /// `built-in`, or the path of the `.wasm` file it was loaded from.
    origin: String,
    /// SHA-256 of the component, hex.
    sha256: String,
    /// Whether the judge says when its judgement is final (it exports the `decision` interface of
    /// `coalmine:judge@0.1.1`), which `earlyPass` needs.
    decides: bool,
    /// Other names that select it, e.g. `NetflixACAJudge-v1.0`.
    aliases: Vec<String>,
}
