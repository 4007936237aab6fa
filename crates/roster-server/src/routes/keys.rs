//! `/v1/keys`: a tenant's API keys. A new key's secret is shown once, in the
//! answer that creates it; rotation is create-then-revoke (both work
//! meanwhile); revocation takes effect on the next request.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use roster_core::public_id::{Kind, render, strip};
use roster_core::{KeyName, Timestamp};
use roster_store::{ApiKeyInfo, LastAdmin, Scope, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ListQuery, list_body, page_in_memory};
use crate::audit::{self, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::{ApiError, json_error};
use crate::state::AppState;

/// Longest life of a key created with a JWT (the default for one that names
/// no expiry).
pub const TOKEN_MINTED_KEY_MAX_DAYS: i64 = 90;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (`workday-prod`), shown in listings.
    #[serde(default)]
    name: Option<String>,
    /// `ingest`, `read`, `admin`.
    scopes: Vec<String>,
    /// RFC 3339; none: the key does not expire.
    #[serde(default)]
    expires_at: Option<String>,
}

/// `GET /v1/keys?limit&cursor`: the tenant's keys (never their secrets),
/// newest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let items = state.directory.list_api_keys(principal.tenant_id).await?;
    let (items, next) = page_in_memory(items, "keys", &q, |k| k.id.clone())?;
    Ok(Json(list_body(&items, next)))
}

/// `POST /v1/keys`: a new key; `secret` is in this answer only.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require(Scope::Admin)?;
    let Json(new) = body.map_err(|e| json_error(&e, "key request"))?;
    let name = key_name(new.name.as_deref())?;
    let mut scopes = Vec::new();
    for s in &new.scopes {
        let scope = Scope::parse(s).ok_or_else(|| {
            ApiError::invalid("scopes", "`scopes`: each must be `ingest`, `read` or `admin`")
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "`scopes`: name at least one of `ingest`, `read`, `admin`"));
    }
    let now = state.clock.now();
    let expires_at = match new.expires_at.as_deref() {
        None => None,
        Some(s) => match Timestamp::parse_rfc3339(s) {
            Some(t) if t > now => Some(t),
            Some(_) => return Err(ApiError::invalid("expiresAt", "`expiresAt` must be in the future")),
            None => return Err(ApiError::invalid("expiresAt", "`expiresAt` must be an RFC 3339 timestamp")),
        },
    };
    let expires_at = if principal.key_id.starts_with("jwt:") {
        // A token's admin is trusted for the token's hour, and its client
        // mapping may be removed tomorrow: a key it mints must not outlive
        // that by years.
        let latest = now.plus_millis(TOKEN_MINTED_KEY_MAX_DAYS * 86_400_000);
        match expires_at {
            Some(t) if t > latest => {
                return Err(ApiError::BadRequest(format!(
                    "`expiresAt`: a key created with a token (not an API key) expires within {TOKEN_MINTED_KEY_MAX_DAYS} days"
                )));
            }
            Some(t) => Some(t),
            None => Some(latest),
        }
    } else {
        expires_at
    };
    let (key, secret) = roster_engine::admin::issue_api_key(
        state.directory.as_ref(),
        principal.tenant_id,
        name.as_str(),
        scopes,
        expires_at,
        now,
    )
    .await?;
    audit::record(&state, &principal, &request_id, "key.created", Some(render(Kind::ApiKey, &key.id))).await;
    let mut body = json!(key);
    body["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

/// The `name` of a key request: required, a [`KeyName`].
pub fn key_name(name: Option<&str>) -> Result<KeyName, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::invalid("name", "`name` is required: say what the key is for, e.g. `workday-prod`")
    })?;
    KeyName::parse(name).map_err(|e| ApiError::invalid("name", format!("`name`: {e}")))
}

/// `DELETE /v1/keys/{id}`: revokes the key at once. The tenant's last
/// active admin key is not revoked (`409 last_admin_key`) unless a
/// configured token issuer can grant the tenant admin: the tenant would
/// have no way left to manage its keys (an operator can mint a recovery
/// key, but should not have to).
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    principal.require(Scope::Admin)?;
    let id = strip(Kind::ApiKey, &id);
    let token_admin = match (&state.jwt, state.directory.tenant(principal.tenant_id).await?) {
        (Some(jwt), Some(tenant)) => jwt.may_grant_admin(&tenant.name),
        _ => false,
    };
    let last_admin = if token_admin { LastAdmin::MayRevoke } else { LastAdmin::Keep };
    let key = state
        .directory
        .revoke_api_key(principal.tenant_id, id, state.clock.now(), last_admin)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("API key"),
            StoreError::Conflict(_) => ApiError::ConflictOf {
                code: "last_admin_key",
                detail: "this is the tenant's last active admin key: create another admin key first (revoking this one would leave nobody able to manage the tenant's keys)".into(),
            },
            other => other.into(),
        })?;
    audit::record(&state, &principal, &request_id, "key.revoked", Some(render(Kind::ApiKey, &key.id))).await;
    Ok(Json(key))
}
