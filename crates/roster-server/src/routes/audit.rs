//! `GET /v1/audit`: the tenant's audit log, oldest first. There is no route
//! that changes or removes an entry.

use axum::Json;
use axum::extract::{Query, State};
use roster_store::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page_size;
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    /// Only entries after this sequence number (from a previous page).
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let limit = page_size(q.limit)?;
    let items = state.directory.list_audit(principal.tenant_id, q.after, limit).await?;
    audit::record_read(&state, &principal, &request_id, "audit.read", None, Read::Listing).await;
    let next = (items.len() == limit).then(|| items.last().map(|e| e.seq)).flatten();
    Ok(Json(json!({ "items": items, "next": next })))
}
