//! Who is calling: `Authorization: Bearer` with a tenant's API key
//! (`rk_...`, looked up by its hash) or, when `[[jwt_issuers]]` are
//! configured, an OAuth2 client-credentials JWT ([`jwt`]).

pub mod jwt;
mod ring_crypto;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use roster_core::TenantId;
use roster_engine::hash_api_key;
use roster_store::Scope;

use crate::problem::ApiError;
use crate::state::AppState;

/// An authenticated caller. Every tenant-scoped handler takes one and passes
/// its tenant to the store, which filters by it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    /// The API key's id, or `jwt:<client id>` for a JWT's client.
    pub key_id: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }
}

/// What every Roster API key starts with (`rk_live_...`); anything else with
/// the shape of a JWT is verified as one.
const API_KEY_FAMILY: &str = "rk_";

/// The token of an `Authorization: Bearer <token>` header, if there is one.
fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION).and_then(bearer_token)
}

/// The credential of an `Authorization` header as authentication reads it:
/// the `Bearer` scheme stripped (in any case, RFC 9110 §11.1) and the token
/// trimmed. `None` when there is none. The rate limiter keys on the same
/// token, so a padded or re-cased header is one credential to both.
pub fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim_start();
    let (scheme, token) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !token.starts_with([' ', '\t']) {
        return None;
    }
    Some(token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized(
            "missing Authorization header (expected: Bearer <API key or token>)",
        ))?;
        let token = bearer_token(value)
            .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <API key or token>`"))?;
        if token.starts_with(roster_engine::credentials::OPERATOR_KEY_PREFIX) {
            return Err(ApiError::Unauthorized(
                "an operator key opens only the operator routes (/v1/operator/...); a tenant's routes need that tenant's API key or token",
            ));
        }
        if !token.starts_with(API_KEY_FAMILY) && jwt::looks_like_jwt(token) {
            return match &state.jwt {
                Some(jwt) => {
                    let now = state.clock.now();
                    let principal = jwt.authenticate(token, state.directory.as_ref(), now).await?;
                    // A client may get a fresh token at will: its budget follows the client.
                    crate::ratelimit::charge(state, &principal.key_id).await?;
                    if jwt.first_use_today(&principal, now) {
                        // Like an API key's: the client's first use of the day is audited.
                        let request_id = crate::audit::RequestId::of(parts);
                        let target = Some(principal.key_id.clone());
                        crate::audit::record(state, &principal, &request_id, "key.used", target).await;
                    }
                    tracing::Span::current().record("tenant", tracing::field::display(principal.tenant_id));
                    refuse_deleting(state, principal.tenant_id).await?;
                    Ok(principal)
                }
                None => Err(ApiError::Unauthorized(
                    "bearer tokens (JWTs) are not accepted: no issuer is configured",
                )),
            };
        }
        let key = state
            .directory
            .authenticate_key(&hash_api_key(token), state.clock.now())
            .await?
            .ok_or(ApiError::Unauthorized("unknown, revoked or expired API key"))?;
        tracing::Span::current().record("tenant", tracing::field::display(key.tenant_id));
        refuse_deleting(state, key.tenant_id).await?;
        Ok(Principal { tenant_id: key.tenant_id, key_id: key.id, scopes: key.scopes })
    }
}

/// A tenant scheduled for deletion takes no requests (no ingest, no reads,
/// no key changes) until an operator cancels the deletion: `403
/// tenant_deleting`, which names the end of the grace period.
async fn refuse_deleting(state: &AppState, tenant: TenantId) -> Result<(), ApiError> {
    match state.directory.tenant(tenant).await? {
        Some(t) => match t.delete_after {
            Some(delete_after) => Err(ApiError::TenantDeleting { delete_after }),
            None => Ok(()),
        },
        // Purged between the key's lookup and now.
        None => Err(ApiError::Unauthorized("unknown, revoked or expired API key")),
    }
}

/// An authenticated operator (`rk_op_` key): cross-tenant administration
/// only. Operator keys are not tenant keys: they open no tenant's data API.
#[derive(Debug, Clone)]
pub struct Operator {
    pub key_id: String,
    /// The holder's name, as the audit log shows it (`operator:<name>`).
    pub name: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "missing Authorization header (expected: Bearer <operator key>)",
        ))?;
        if !token.starts_with(roster_engine::credentials::OPERATOR_KEY_PREFIX) {
            return Err(ApiError::OperatorOnly);
        }
        let key = state
            .directory
            .authenticate_operator_key(&hash_api_key(token), state.clock.now())
            .await?
            .ok_or(ApiError::Unauthorized("unknown, revoked or expired operator key"))?;
        Ok(Operator { key_id: key.id, name: key.name })
    }
}

/// Who may scrape `/metrics`: Prometheus with the configured
/// `metrics_token`, or an operator. The metrics count every tenant's
/// traffic, so a tenant's key is not enough.
#[derive(Debug, Clone)]
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "missing Authorization header (expected: Bearer <metrics token or operator key>)",
        ))?;
        if token.starts_with(roster_engine::credentials::OPERATOR_KEY_PREFIX) {
            Operator::from_request_parts(parts, state).await?;
            return Ok(MetricsReader);
        }
        match &state.config.metrics_token {
            Some(expected) if same_secret(token, expected.expose()) => Ok(MetricsReader),
            _ => Err(ApiError::Unauthorized("/metrics needs the metrics token or an operator key")),
        }
    }
}

/// Compares digests, so the time taken says nothing of the secret.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    !expected.is_empty() && Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}
