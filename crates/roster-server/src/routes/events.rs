use axum::Json;
use axum::extract::State;
use roster_store::{OutboxEvent, Scope};

use super::{ListQuery, cursor, list_body, page_size};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::Query;
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /v1/events?limit&cursor`: the tenant's lifecycle events, oldest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = page_size(q.limit)?;
    let after = cursor::decode_seq("events", q.cursor.as_deref())?;
    let items: Vec<OutboxEvent> = state.directory.list_events(principal.tenant_id, after, limit).await?;
    audit::record_read(&state, &principal, &request_id, "events.listed", None, Read::Listing).await;
    let next = (items.len() == limit)
        .then(|| items.last().map(|e| cursor::encode("events", &e.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}
