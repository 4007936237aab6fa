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

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized(
            "missing Authorization header (expected: Bearer <API key or token>)",
        ))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <API key or token>`"))?;
        if !token.starts_with(API_KEY_FAMILY) && jwt::looks_like_jwt(token) {
            return match &state.jwt {
                Some(jwt) => {
                    let principal =
                        jwt.authenticate(token, state.directory.as_ref(), state.clock.now()).await?;
                    // A client may get a fresh token at will: its budget follows the client.
                    crate::ratelimit::charge(state, &principal.key_id)?;
                    tracing::Span::current().record("tenant", tracing::field::display(principal.tenant_id));
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
        Ok(Principal { tenant_id: key.tenant_id, key_id: key.id, scopes: key.scopes })
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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "missing Authorization header (expected: Bearer <operator key>)",
            ))?;
        if !token.starts_with(roster_engine::credentials::OPERATOR_KEY_PREFIX) {
            return Err(ApiError::OperatorOnly);
        }
        let key = state
            .directory
            .authenticate_operator_key(&hash_api_key(token))
            .await?
            .ok_or(ApiError::Unauthorized("unknown or revoked operator key"))?;
        Ok(Operator { key_id: key.id, name: key.name })
    }
}

/// An operator, or a tenant's admin: for platform-wide reads such as the
/// alarms.
#[derive(Debug, Clone)]
pub struct PlatformReader;

impl FromRequestParts<AppState> for PlatformReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let operator =
            parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.trim_start_matches("Bearer ").starts_with(roster_engine::credentials::OPERATOR_KEY_PREFIX)
            });
        if operator {
            Operator::from_request_parts(parts, state).await?;
        } else {
            Principal::from_request_parts(parts, state).await?.require(Scope::Admin)?;
        }
        Ok(PlatformReader)
    }
}
