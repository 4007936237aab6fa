use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::problem::ApiError;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the directory and the queue answer.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.directory.ping().await.map_err(|e| ApiError::Unavailable(format!("directory not ready: {e}")))?;
    let stats =
        state.queue.stats().await.map_err(|e| ApiError::Unavailable(format!("queue not ready: {e}")))?;
    Ok(Json(json!({
        "status": "ready",
        "queue": {
            "visible": stats.visible,
            "inFlight": stats.in_flight,
            "delayed": stats.delayed,
            "deadLetters": stats.dead_letters,
            "oldestAgeSeconds": stats.oldest_age.map(|d| d.as_secs_f64()),
        }
    })))
}
