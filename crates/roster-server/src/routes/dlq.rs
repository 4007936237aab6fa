//! The dead-letter queue of the caller's tenant: list, show, redrive, purge.
//! Another tenant's dead letters are indistinguishable from missing ones: the
//! queue itself scopes every lookup and redrive by the caller's tenant.

use axum::Json;
use axum::extract::State;
use roster_core::ChangeMessage;
use roster_core::public_id::{Kind, render, strip};
use roster_queue::{DeadLetter, DeadLetterFilter, Redrive};
use roster_store::Scope;
use serde_json::{Value, json};

use super::{ListQuery, cursor, list_body};
use crate::audit::{self, Read, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /v1/dlq?limit&cursor`: without payloads (they hold personal data).
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let (limit, after) = q.page("dlq")?;
    let filter = DeadLetterFilter { tenant: Some(principal.tenant_id.to_string()), after, limit };
    let items = state.queue.list_dead_letters(&filter).await?;
    let next = (items.len() == limit).then(|| items.last().map(|d| cursor::encode("dlq", &d.id))).flatten();
    let items: Vec<Value> = items.iter().map(|d| summary(d, false)).collect();
    Ok(Json(list_body(&items, next)))
}

/// `POST /v1/dlq/test`: queues a test message that the consumer
/// dead-letters on arrival and never applies, so an integrator can see the
/// dead-letter path — the listing, the alarm, a redrive (which sends it
/// round again), a purge — in staging without touching the directory.
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    principal.require(Scope::Admin)?;
    let id =
        state.ingest.send_probe(principal.tenant_id, request_id.0.clone()).await.map_err(|e| match e {
            roster_engine::IngestError::Queue(e) => ApiError::from(e),
            e => ApiError::Internal(e.to_string()),
        })?;
    let id = render(Kind::DeadLetter, id);
    audit::record(&state, &principal, &request_id, "dlq.tested", Some(id.clone())).await;
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({ "id": id }))))
}

/// `GET /v1/dlq/{id}` (`dl_...`, or the bare id): one dead letter with its payload.
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let dead = own_dead_letter(&state, &principal, &id).await?;
    // Its payload is the record as the HR system sent it.
    audit::record_read(
        &state,
        &principal,
        &request_id,
        "dlq.read",
        Some(render(Kind::DeadLetter, &dead.id)),
        Read::One,
    )
    .await;
    Ok(Json(summary(&dead, true)))
}

/// `POST /v1/dlq/{id}/redrive`: back to the queue, with a fresh receive count.
pub async fn redrive_one(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let tenant = principal.tenant_id.to_string();
    let id = strip(Kind::DeadLetter, &id).to_owned();
    let moved = state.queue.redrive(&Redrive::Ids { tenant, ids: vec![id.clone()] }).await?;
    if moved == 0 {
        // Absent, or another tenant's: the queue moved nothing either way.
        return Err(ApiError::NotFound("dead letter"));
    }
    audit::record(&state, &principal, &request_id, "dlq.redriven", Some(render(Kind::DeadLetter, &id))).await;
    Ok(Json(json!({ "redriven": moved })))
}

/// `POST /v1/dlq/redrive`: every dead letter of the tenant back to the queue.
pub async fn redrive_all(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let tenant = Some(principal.tenant_id.to_string());
    let moved = state.queue.redrive(&Redrive::All { tenant }).await?;
    audit::record(&state, &principal, &request_id, "dlq.redriven", Some(format!("all ({moved})"))).await;
    Ok(Json(json!({ "redriven": moved })))
}

/// `DELETE /v1/dlq`: purges the tenant's dead letters.
pub async fn purge(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let purged = roster_engine::dead_letters::purge(
        state.queue.as_ref(),
        state.directory.as_ref(),
        principal.tenant_id,
        state.clock.now(),
    )
    .await?;
    audit::record(&state, &principal, &request_id, "dlq.purged", Some(format!("all ({purged})"))).await;
    Ok(Json(json!({ "purged": purged })))
}

/// The queue scopes the lookup by tenant: another tenant's id finds nothing.
async fn own_dead_letter(state: &AppState, principal: &Principal, id: &str) -> Result<DeadLetter, ApiError> {
    state
        .queue
        .get_dead_letter(&principal.tenant_id.to_string(), strip(Kind::DeadLetter, id))
        .await?
        .ok_or(ApiError::NotFound("dead letter"))
}

fn summary(d: &DeadLetter, with_payload: bool) -> Value {
    let decoded = ChangeMessage::from_bytes(&d.body).ok();
    let mut v = json!({
        "id": render(Kind::DeadLetter, &d.id),
        "feedId": decoded.as_ref().map(|m| render(Kind::Feed, m.feed_id)),
        "index": decoded.as_ref().map(|m| m.index),
        "reason": d.reason,
        "receiveCount": d.receive_count,
        "sentAt": d.sent_at,
        "firstReceivedAt": d.first_received_at,
        "lastReceivedAt": d.last_received_at,
        "deadLetteredAt": d.dead_lettered_at,
    });
    if with_payload {
        v["payload"] = roster_engine::dead_letters::payload(d);
    }
    v
}
