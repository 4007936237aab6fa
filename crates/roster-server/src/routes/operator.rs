//! `/v1/operator/...`: cross-tenant administration with an operator key.
//! Every action on a tenant is written to that tenant's audit log, with the
//! operator as the actor; actions on tenants themselves (created, shown,
//! renamed, deletion scheduled or cancelled, recovery key minted) and the
//! listing of tenants also to the platform's log, which outlives a purged
//! tenant. A tenant is named in a path by its id (`ten_...`) or its name.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use roster_core::TenantId;
use roster_core::public_id::{Kind, render, strip};
use roster_queue::Redrive;
use roster_store::{NewAuditEntry, Scope, StoreError, Tenant, platform_log};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ListQuery, cursor, list_body, page_in_memory};
use crate::audit::RequestId;
use crate::auth::Operator;
use crate::extract::{Path, Query};
use crate::problem::{ApiError, json_error};
use crate::state::AppState;

/// A recovery key lives this long: enough to get back in and create the
/// tenant's own admin key, not a standing credential.
pub const RECOVERY_KEY_DAYS: i64 = 7;

/// `GET /v1/operator/tenants?limit&cursor`, by name: audited in the
/// platform log (`tenants.listed`).
pub async fn tenants(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let items = state.directory.list_tenants().await?;
    // Paged by id, which a rename does not change.
    let (items, next) = page_in_memory(items, "tenants", &q, |t| t.id.to_string())?;
    let target = format!("{} tenants", items.len());
    append(&state, &operator, platform_log(), request_id, "tenants.listed", target).await;
    let items: Vec<Value> = items.iter().map(tenant_body).collect();
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

/// The tenant a path names: by id (`ten_<uuid>`, or the bare uuid) or by name.
async fn tenant(state: &AppState, name_or_id: &str) -> Result<Tenant, ApiError> {
    if let Ok(id) = strip(Kind::Tenant, name_or_id).parse::<TenantId>()
        && let Some(t) = state.directory.tenant(id).await?
    {
        return Ok(t);
    }
    state.directory.tenant_by_name(name_or_id).await?.ok_or(ApiError::NotFound("tenant"))
}

/// A tenant as the operator API answers it: its deletion's state spelled out.
fn tenant_body(t: &Tenant) -> Value {
    let mut body = json!(t);
    body["status"] = json!(if t.is_deleting() { "deleting" } else { "active" });
    body
}

fn tenant_name(name: &str) -> Result<&str, ApiError> {
    roster_core::ids::tenant_name(name).map_err(|e| ApiError::invalid("name", format!("`name`: {e}")))
}

/// Records an action on a tenant in the platform's log and the tenant's.
async fn audit_both(
    state: &AppState,
    operator: &Operator,
    tenant: &Tenant,
    request_id: RequestId,
    action: &'static str,
    target: String,
) {
    append(state, operator, platform_log(), request_id.clone(), action, target.clone()).await;
    append(state, operator, tenant.id, request_id, action, target).await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    name: String,
}

/// `POST /v1/operator/tenants {"name"}`: a new tenant and its first admin
/// key (named `admin`, every scope, no expiry), whose `secret` is in this
/// answer only.
pub async fn create_tenant(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    body: Result<Json<TenantRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(req) = body.map_err(|e| json_error(&e, "tenant request"))?;
    let name = tenant_name(&req.name)?;
    let now = state.clock.now();
    let tenant = state.directory.create_tenant(name, now).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::ConflictOf {
            code: "tenant_exists",
            detail: "a tenant with this name exists already".into(),
        },
        other => other.into(),
    })?;
    let tenant_id = render(Kind::Tenant, tenant.id);
    audit_both(&state, &operator, &tenant, request_id.clone(), "tenant.created", tenant_id).await;
    let (key, secret) = mint_key(&state, &tenant, "admin", None).await?;
    let key_id = render(Kind::ApiKey, &key.id);
    append(&state, &operator, tenant.id, request_id, "key.created", key_id).await;
    let mut body = tenant_body(&tenant);
    body["key"] = json!(key);
    body["key"]["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

/// An admin key (every scope) for the tenant; the secret is the caller's
/// to show once.
async fn mint_key(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    expires_at: Option<roster_core::Timestamp>,
) -> Result<(roster_store::ApiKeyInfo, roster_engine::ApiKeySecret), ApiError> {
    let all = vec![Scope::Ingest, Scope::Read, Scope::Admin];
    let now = state.clock.now();
    Ok(roster_engine::admin::issue_api_key(state.directory.as_ref(), tenant.id, name, all, expires_at, now)
        .await?)
}

/// `GET /v1/operator/tenants/{tenant}`: one tenant, with its deletion's
/// state; audited in the platform log (`tenant.shown`).
pub async fn show_tenant(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &name).await?;
    let target = render(Kind::Tenant, tenant.id);
    append(&state, &operator, platform_log(), request_id, "tenant.shown", target).await;
    Ok(Json(tenant_body(&tenant)))
}

/// `PATCH /v1/operator/tenants/{tenant} {"name"}`: renames the tenant. Its
/// id, keys and data are unchanged; `[[jwt_issuers]]` clients map to
/// tenants by name, so their configuration must follow.
pub async fn rename_tenant(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
    body: Result<Json<TenantRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| json_error(&e, "tenant request"))?;
    let new_name = tenant_name(&req.name)?;
    let tenant = tenant(&state, &name).await?;
    let renamed = state.directory.rename_tenant(tenant.id, new_name).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            ApiError::ConflictOf { code: "tenant_exists", detail: "another tenant has this name".into() }
        }
        StoreError::NotFound => ApiError::NotFound("tenant"),
        other => other.into(),
    })?;
    let target = render(Kind::Tenant, tenant.id);
    audit_both(&state, &operator, &renamed, request_id, "tenant.renamed", target).await;
    Ok(Json(tenant_body(&renamed)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// The tenant's name, repeated: a mistyped path deletes nothing.
    confirm: Option<String>,
}

/// `DELETE /v1/operator/tenants/{tenant}?confirm=<its name>`: schedules the
/// deletion. From now the tenant's keys and tokens are refused (`403
/// tenant_deleting`: no ingest, no reads); after the grace period
/// (`tenant_deletion_grace_days`, default 7) the scheduler purges its data.
/// Until then `POST .../cancel-deletion` undoes it. `202` with the tenant
/// and its `deleteAfter`.
pub async fn delete_tenant(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = tenant(&state, &name).await?;
    if q.confirm.as_deref() != Some(tenant.name.as_str()) {
        return Err(ApiError::Invalid {
            param: "confirm".into(),
            code: "confirmation_required",
            detail: "deleting a tenant needs `?confirm=` with the tenant's name, exactly".into(),
        });
    }
    let now = state.clock.now();
    let grace_ms = i64::try_from(state.config.tenant_deletion_grace.as_millis()).unwrap_or(i64::MAX);
    let deleting =
        state.directory.schedule_tenant_deletion(tenant.id, now, now.plus_millis(grace_ms)).await.map_err(
            |e| match e {
                StoreError::Conflict(_) => ApiError::ConflictOf {
                    code: "deletion_scheduled",
                    detail: "the tenant's deletion is already scheduled (see its `deleteAfter`)".into(),
                },
                StoreError::NotFound => ApiError::NotFound("tenant"),
                other => other.into(),
            },
        )?;
    let target = render(Kind::Tenant, tenant.id);
    audit_both(&state, &operator, &deleting, request_id, "tenant.deletion_scheduled", target).await;
    Ok((StatusCode::ACCEPTED, Json(tenant_body(&deleting))))
}

/// `POST /v1/operator/tenants/{tenant}/cancel-deletion`: during the grace
/// period, the tenant is kept and its keys work again.
pub async fn cancel_deletion(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &name).await?;
    let kept =
        state.directory.cancel_tenant_deletion(tenant.id, state.clock.now()).await.map_err(|e| match e {
            StoreError::Conflict(why) => {
                ApiError::ConflictOf { code: "deletion_not_cancellable", detail: why }
            }
            StoreError::NotFound => ApiError::NotFound("tenant"),
            other => other.into(),
        })?;
    let target = render(Kind::Tenant, tenant.id);
    audit_both(&state, &operator, &kept, request_id, "tenant.deletion_cancelled", target).await;
    Ok(Json(tenant_body(&kept)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecoveryKeyRequest {
    /// Default `recovery`.
    #[serde(default)]
    name: Option<String>,
}

/// `POST /v1/operator/tenants/{tenant}/recovery-key {"name"?}`: a new admin
/// key for a tenant that lost its own (every scope, expiring in
/// [`RECOVERY_KEY_DAYS`] days: create the tenant's lasting key with it).
/// The `secret` is in this answer only and never in the audit log.
pub async fn recovery_key(
    State(state): State<AppState>,
    operator: Operator,
    request_id: RequestId,
    Path(name): Path<String>,
    body: Result<Json<RecoveryKeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // An empty body is a request with the defaults.
    let req = match body {
        Ok(Json(req)) => req,
        Err(JsonRejection::MissingJsonContentType(_)) => RecoveryKeyRequest::default(),
        Err(e) => return Err(json_error(&e, "recovery key request")),
    };
    let key_name = super::keys::key_name(Some(req.name.as_deref().unwrap_or("recovery")))?;
    let tenant = tenant(&state, &name).await?;
    if let Some(delete_after) = tenant.delete_after {
        return Err(ApiError::ConflictOf {
            code: "tenant_deleting",
            detail: format!(
                "the tenant is scheduled for deletion at {delete_after}: cancel the deletion first"
            ),
        });
    }
    let expires_at = state.clock.now().plus_millis(RECOVERY_KEY_DAYS * 86_400_000);
    let (key, secret) = mint_key(&state, &tenant, key_name.as_str(), Some(expires_at)).await?;
    let target = format!("{} {}", render(Kind::Tenant, tenant.id), render(Kind::ApiKey, &key.id));
    audit_both(&state, &operator, &tenant, request_id, "key.recovery_minted", target).await;
    let mut body = json!(key);
    body["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
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
    let purged = roster_engine::dead_letters::purge(
        state.queue.as_ref(),
        state.directory.as_ref(),
        tenant.id,
        state.clock.now(),
    )
    .await?;
    audit(&state, &operator, &tenant, request_id, "dlq.purged", format!("all ({purged})")).await;
    Ok(Json(json!({ "purged": purged })))
}
