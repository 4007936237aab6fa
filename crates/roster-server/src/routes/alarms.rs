//! `GET /v1/alarms`: every alarm rule's state, since when and why.
//!
//! Alarms are platform-wide (the DLQ and the queue are shared by all
//! tenants), so any `admin` key may read them; a dedicated operator role
//! is issue #5's.

use axum::Json;
use axum::extract::State;
use roster_store::Scope;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let (evaluated, items) = match &state.alarms {
        Some(board) => (true, board.statuses()),
        // An ingest-only node (no workers) runs no evaluator.
        None => (false, Vec::new()),
    };
    Ok(Json(json!({ "items": items, "evaluatedHere": evaluated })))
}
