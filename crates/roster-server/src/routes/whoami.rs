//! `GET /v1/whoami`: who the caller is — tenant, credential, scopes and
//! expiry — so a script (or `roster whoami`) can check its key before a run.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

/// Any credential of the tenant may ask (no scope needed: it reads only
/// itself).
pub async fn show(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let tenant = state.directory.tenant(principal.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    let credential = match principal.key_id.strip_prefix("jwt:") {
        // A token's client: its scopes come from the token, its expiry is the token's.
        Some(client) => json!({"type": "jwt", "clientId": client, "scopes": principal.scopes}),
        None => {
            let key = state
                .directory
                .list_api_keys(principal.tenant_id)
                .await?
                .into_iter()
                .find(|k| k.id == principal.key_id)
                .ok_or(ApiError::NotFound("key"))?;
            let mut v = serde_json::to_value(&key).map_err(|e| ApiError::Internal(e.to_string()))?;
            v["type"] = "api_key".into();
            v
        }
    };
    Ok(Json(json!({"tenant": tenant, "credential": credential})))
}
