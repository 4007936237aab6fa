use axum::Json;
use axum::extract::State;
use roster_core::ExternalId;
use roster_store::Scope;
use serde::Deserialize;
use serde_json::Value;

use super::{ListQuery, cursor, list_body};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /v1/people?limit&cursor`, ordered by external id.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let (limit, after) = q.page("people")?;
    let page = state.directory.list_people(principal.tenant_id, limit, after.as_deref()).await?;
    audit::record_read(&state, &principal, &request_id, "people.listed", None, Read::Listing).await;
    Ok(Json(list_body(&page.items, page.next.map(|n| cursor::encode("people", &n)))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    #[serde(default)]
    history: bool,
}

/// `GET /v1/people/{externalId}?history=true`
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(external_id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let id = ExternalId::parse(&external_id).map_err(|_| ApiError::NotFound("person"))?;
    let record =
        state.directory.get_person(principal.tenant_id, &id).await?.ok_or(ApiError::NotFound("person"))?;
    let mut body = serde_json::to_value(&record).map_err(|e| ApiError::Internal(e.to_string()))?;
    if q.history {
        let history = state.directory.person_history(principal.tenant_id, &id).await?;
        body["history"] = serde_json::to_value(history).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    audit::record_read(&state, &principal, &request_id, "person.read", Some(id.to_string()), Read::One).await;
    Ok(Json(body))
}
