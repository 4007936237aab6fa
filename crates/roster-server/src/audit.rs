//! The audit trail of administrative actions: who (the credential), which
//! tenant, what, on what, when, and the request id that ties it to the logs.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use roster_store::NewAuditEntry;

use crate::auth::Principal;
use crate::state::AppState;

/// The request's `x-request-id` (set by the router's request-id layer).
#[derive(Debug, Clone, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(RequestId(id))
    }
}

/// How a credential is named in the log: `key:<id>` for an API key, the
/// principal's own name for other kinds (`jwt:<client id>`).
pub fn actor(principal: &Principal) -> String {
    if principal.key_id.contains(':') {
        principal.key_id.clone()
    } else {
        format!("key:{}", principal.key_id)
    }
}

/// Appends an entry for an action that succeeded. The action is done
/// already, so a failure to record it is logged loudly rather than turned
/// into an error the caller would retry.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    request_id: &RequestId,
    action: &'static str,
    target: Option<String>,
) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        tenant_id: principal.tenant_id,
        actor: actor(principal),
        action,
        target,
        request_id: request_id.0.clone(),
    };
    tracing::info!(tenant = %entry.tenant_id, actor = %entry.actor, action, target = entry.target.as_deref().unwrap_or("-"), "audit");
    if let Err(e) = state.directory.append_audit(entry).await {
        tracing::error!(action, error = %e, "could not append to the audit log");
    }
}
