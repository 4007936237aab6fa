use axum::Json;
use axum::extract::State;
use roster_core::FeedId;
use roster_core::public_id::{Kind, render};
use roster_store::{Feed, FeedFilter, Scope};
use serde_json::Value;

use super::{ListQuery, cursor, filters, list_body};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /v1/feeds/{id}` (`feed_...`, or the bare id)
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

/// The query of `GET /v1/feeds`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FeedsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    source: Option<String>,
    status: Option<String>,
}

/// `GET /v1/feeds?limit&cursor&source&status`, newest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<FeedsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let filter = FeedFilter {
        source: q.source.as_deref().map(filters::source).transpose()?,
        status: q.status.as_deref().map(filters::feed_status).transpose()?,
    };
    let (limit, after) = ListQuery { limit: q.limit, cursor: q.cursor.clone() }.page("feeds")?;
    // The store's position is a bare feed id; a cursor holds only what it issued.
    let after = after.map(|a| a.parse::<FeedId>().map(|id| id.to_string())).transpose().map_err(|_| {
        ApiError::Invalid {
            param: "cursor".into(),
            code: "invalid_cursor",
            detail: "`cursor` is not one this list issued".into(),
        }
    })?;
    let page = state.directory.find_feeds(principal.tenant_id, &filter, limit, after.as_deref()).await?;
    Ok(Json(list_body(&page.items, page.next.map(|n| cursor::encode("feeds", &n)))))
}

/// `GET /v1/feeds/{id}/leavers?limit&cursor`: a full snapshot's leavers,
/// by external id — those it deactivated, or, while it is halted, those an
/// approval would deactivate (what to look at before deciding).
pub async fn leavers(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let (limit, after) = q.page("leavers")?;
    let id: FeedId = id.parse().map_err(|_| ApiError::NotFound("feed"))?;
    let page = state.directory.feed_leavers(principal.tenant_id, id, limit, after.as_deref()).await.map_err(
        |e| match e {
            roster_store::StoreError::NotFound => ApiError::NotFound("feed"),
            roster_store::StoreError::Invalid(m) => ApiError::Conflict(m),
            other => other.into(),
        },
    )?;
    // Names and addresses of people: a read of personal data.
    audit::record_read(
        &state,
        &principal,
        &request_id,
        "feed.leavers_listed",
        Some(render(Kind::Feed, id)),
        Read::Listing,
    )
    .await;
    Ok(Json(list_body(&page.items, page.next.map(|n| cursor::encode("leavers", &n)))))
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
    audit::record(&state, &principal, &request_id, action, Some(render(Kind::Feed, id))).await;
    Ok(Json(feed))
}
