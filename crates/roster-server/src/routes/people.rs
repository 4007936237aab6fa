use axum::Json;
use axum::extract::{Path, Query, State};
use roster_core::ExternalId;
use roster_store::{Page, PersonRecord, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::page_size;
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/people?limit&cursor`, ordered by external id.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<PersonRecord>>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = page_size(q.limit)?;
    let page = state.directory.list_people(principal.tenant_id, limit, q.cursor.as_deref()).await?;
    audit::record_read(&state, &principal, &request_id, "people.listed", None, Read::Listing).await;
    Ok(Json(page))
}

#[derive(Deserialize)]
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
