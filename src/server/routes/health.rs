//! `GET /health` (Kayenta's path: the process is up) and `GET /ready` (it can serve: judges loaded, store open).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::server::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

pub async fn ready(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "READY", "judges": state.host.judges().count()}))
}
