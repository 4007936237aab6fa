//! `GET /v1/alarms`: every alarm rule's state, since when and why.
//!
//! Alarms are platform-wide (the DLQ depth and the halted feeds count every
//! tenant's data): only an operator key reads them, never a tenant's key.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Operator;
use crate::problem::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, _operator: Operator) -> Result<Json<Value>, ApiError> {
    // An ingest-only node (no workers) runs no evaluator: it shows what the
    // cluster's evaluator recorded in the directory.
    let (evaluated, items) = roster_engine::alarms::current_statuses(
        state.alarms.as_ref(),
        &state.alarm_rules,
        state.directory.as_ref(),
        state.clock.now(),
    )
    .await?;
    Ok(Json(json!({ "items": items, "evaluatedHere": evaluated })))
}
