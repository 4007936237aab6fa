use axum::Json;
use axum::extract::State;
use roster_store::{EventFilter, OutboxEvent, Scope};

use super::{cursor, filters, list_body, page_size};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::Query;
use crate::problem::ApiError;
use crate::state::AppState;

/// The query of `GET /v1/events`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    person: Option<String>,
    feed: Option<String>,
}

/// `GET /v1/events?limit&cursor&type&person&feed`: the tenant's lifecycle
/// events, oldest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Query(q): Query<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = page_size(q.limit)?;
    let after = cursor::decode_seq("events", q.cursor.as_deref())?;
    let filter = EventFilter {
        kind: q.kind.as_deref().map(filters::event_type).transpose()?,
        person: q.person.as_deref().map(filters::external_id).transpose()?,
        feed: q.feed.as_deref().map(filters::feed).transpose()?,
    };
    let items: Vec<OutboxEvent> =
        state.directory.find_events(principal.tenant_id, &filter, after, limit).await?;
    audit::record_read(&state, &principal, &request_id, "events.listed", None, Read::Listing).await;
    let next = (items.len() == limit)
        .then(|| items.last().map(|e| cursor::encode("events", &e.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}
