use axum::Json;
use axum::extract::{Query, State};
use roster_store::{OutboxEvent, Scope};
use serde::Deserialize;

use super::page_size;
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    /// Only events after this sequence number (from a previous page).
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// `GET /v1/events?after&limit`: the tenant's lifecycle events, oldest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = page_size(q.limit)?;
    let items: Vec<OutboxEvent> = state.directory.list_events(principal.tenant_id, q.after, limit).await?;
    audit::record_read(&state, &principal, &request_id, "events.listed", None, Read::Listing).await;
    let next = (items.len() == limit).then(|| items.last().map(|e| e.seq)).flatten();
    Ok(Json(serde_json::json!({ "items": items, "next": next })))
}
