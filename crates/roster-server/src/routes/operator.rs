//! `/v1/operator/...`: cross-tenant administration with an operator key.
//! Every action on a tenant is written to that tenant's audit log, with the
//! operator as the actor; the others (listing tenants) to the platform's log.

use axum::Json;
use axum::extract::State;
use roster_core::TenantId;
use roster_queue::Redrive;
use roster_store::{NewAuditEntry, Tenant, platform_log};
use serde_json::{Value, json};

use super::{ListQuery, cursor, list_body, page_in_memory};
use crate::audit::RequestId;
use crate::auth::Operator;
use crate::extract::{Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /v1/operator/tenants?limit&cursor`, by name: audited in the
/// platform log (`tenants.listed`).
pub async fn tenants(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let items = state.directory.list_tenants().await?;
    let (items, next) = page_in_memory(items, "tenants", &q, |t| t.name.clone())?;
    let target = format!("{} tenants", items.len());
    append(&state, &operator, platform_log(), request_id, "tenants.listed", target).await;
    Ok(Json(list_body(&items, next)))
}

/// `GET /v1/operator/audit?limit&cursor`: the platform's own audit log
/// (operator keys created and revoked, tenants created, tenants listed,
/// failed authentications, reads of this log), oldest first. A tenant's actions are in that tenant's log.
pub async fn audit_log(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::page_size(q.limit)?;
    let after = cursor::decode_seq("operator-audit", q.cursor.as_deref())?;
    let items = state.directory.list_audit(platform_log(), after, limit).await?;
    // Reading the log is itself in the log (each page: operators are few).
    append(&state, &operator, platform_log(), request_id, "audit.read", format!("after {after}")).await;
    let next = (items.len() == limit)
        .then(|| items.last().map(|e| cursor::encode("operator-audit", &e.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}

async fn tenant(state: &AppState, name: &str) -> Result<Tenant, ApiError> {
    state.directory.tenant_by_name(name).await?.ok_or(ApiError::NotFound("tenant"))
}

async fn audit(
    state: &AppState,
    operator: &Operator,
    tenant: &Tenant,
    request_id: RequestId,
    action: &'static str,
    target: String,
) {
    append(state, operator, tenant.id, request_id, action, target).await;
}

/// Appends an operator's action to a log: a tenant's, or the platform's.
async fn append(
    state: &AppState,
    operator: &Operator,
    log: TenantId,
    request_id: RequestId,
    action: &'static str,
    target: String,
) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        tenant_id: log,
        actor: format!("operator:{}", operator.name),
        action,
        target: Some(target),
        request_id: request_id.0,
        client_request_id: request_id.1,
    };
    tracing::info!(tenant = %log, actor = %entry.actor, action, "audit");
    if let Err(e) = state.directory.append_audit(entry).await {
        tracing::error!(action, error = %e, "could not append to the audit log");
    }
}

/// `POST /v1/operator/tenants/{name}/dlq/redrive`: the tenant's dead letters back to the queue.
pub async fn redrive(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &name).await?;
    let moved = state.queue.redrive(&Redrive::All { tenant: Some(tenant.id.to_string()) }).await?;
    audit(&state, &operator, &tenant, request_id, "dlq.redriven", format!("all ({moved})")).await;
    Ok(Json(json!({ "redriven": moved })))
}

/// `DELETE /v1/operator/tenants/{name}/dlq`: purges the tenant's dead letters.
pub async fn purge(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &name).await?;
    super::dlq::count_before_purge(&state, tenant.id).await?;
    let purged = state.queue.purge_dead_letters(Some(&tenant.id.to_string())).await?;
    audit(&state, &operator, &tenant, request_id, "dlq.purged", format!("all ({purged})")).await;
    Ok(Json(json!({ "purged": purged })))
}
