//! `GET /v1/audit`: the tenant's audit log, oldest first. There is no route
//! that changes or removes an entry.

use axum::Json;
use axum::extract::State;
use roster_store::Scope;
use serde_json::Value;

use super::{ListQuery, cursor, list_body, page_size};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::Query;
use crate::problem::ApiError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let limit = page_size(q.limit)?;
    let after = cursor::decode_seq("audit", q.cursor.as_deref())?;
    let items = state.directory.list_audit(principal.tenant_id, after, limit).await?;
    audit::record_read(&state, &principal, &request_id, "audit.read", None, Read::Listing).await;
    let next = (items.len() == limit)
        .then(|| items.last().map(|e| cursor::encode("audit", &e.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}
