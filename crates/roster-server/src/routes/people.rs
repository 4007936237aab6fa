use axum::Json;
use axum::extract::State;
use roster_core::ExternalId;
use roster_store::{PeopleFilter, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::{ListQuery, cursor, filters, list_body};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;

/// The query of `GET /v1/people`: the page, and filters that must all match.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PeopleQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<String>,
    source: Option<String>,
    department: Option<String>,
    email: Option<String>,
    updated_since: Option<String>,
    name: Option<String>,
}

impl PeopleQuery {
    fn filter(&self) -> Result<PeopleFilter, ApiError> {
        Ok(PeopleFilter {
            status: self.status.as_deref().map(filters::person_status).transpose()?,
            source: self.source.as_deref().map(filters::source).transpose()?,
            department: self.department.as_deref().map(|d| filters::text("department", d)).transpose()?,
            email: self.email.as_deref().map(|e| filters::text("email", e)).transpose()?,
            updated_since: self
                .updated_since
                .as_deref()
                .map(|t| filters::time("updatedSince", t))
                .transpose()?,
            name: self.name.as_deref().map(|n| filters::text("name", n)).transpose()?,
        })
    }
}

/// `GET /v1/people?limit&cursor&status&source&department&email&updatedSince&name`,
/// ordered by external id. Pass a `cursor` with the filters of the page
/// that issued it.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<PeopleQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let filter = q.filter()?;
    let (limit, after) = ListQuery { limit: q.limit, cursor: q.cursor.clone() }.page("people")?;
    let page = state.directory.find_people(principal.tenant_id, &filter, limit, after.as_deref()).await?;
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
