use axum::Json;
use axum::extract::{Path, Query, State};
use roster_core::FeedId;
use roster_store::{Feed, Page, Scope};
use serde::Deserialize;

use super::page_size;
use crate::audit::{self, RequestId};
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/feeds/{id}`
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Feed>, ApiError> {
    principal.require(Scope::Read)?;
    // Another tenant's feed and a malformed id both look like a missing feed.
    let id: FeedId = id.parse().map_err(|_| ApiError::NotFound("feed"))?;
    let feed = state.directory.get_feed(principal.tenant_id, id).await?;
    feed.map(Json).ok_or(ApiError::NotFound("feed"))
}

/// `GET /v1/feeds?limit&cursor`, newest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Feed>>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = page_size(q.limit)?;
    let page = state.directory.list_feeds(principal.tenant_id, limit, q.cursor.as_deref()).await?;
    Ok(Json(page))
}

/// `POST /v1/feeds/{id}/approve`: deactivates the absent people of a halted
/// full snapshot.
pub async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Feed>, ApiError> {
    decide(state, principal, request_id, id, true).await
}

/// `POST /v1/feeds/{id}/reject`: a halted full snapshot deactivates nobody.
pub async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Feed>, ApiError> {
    decide(state, principal, request_id, id, false).await
}

async fn decide(
    state: AppState,
    principal: Principal,
    request_id: RequestId,
    id: String,
    approve: bool,
) -> Result<Json<Feed>, ApiError> {
    principal.require(Scope::Admin)?;
    let id: FeedId = id.parse().map_err(|_| ApiError::NotFound("feed"))?;
    let feed =
        state.directory.decide_snapshot(principal.tenant_id, id, approve, state.clock.now()).await.map_err(
            |e| match e {
                roster_store::StoreError::NotFound => ApiError::NotFound("feed"),
                other => other.into(),
            },
        )?;
    let action = if approve { "feed.approved" } else { "feed.rejected" };
    audit::record(&state, &principal, &request_id, action, Some(id.to_string())).await;
    Ok(Json(feed))
}
