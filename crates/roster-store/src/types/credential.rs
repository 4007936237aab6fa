//! Credentials: tenants' API keys (with their scopes) and operator keys.

use roster_core::{TenantId, Timestamp};
use serde::Serialize;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// An API key to store. Only the SHA-256 hash of the secret is kept.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub tenant_id: TenantId,
    /// What it is for (`workday-prod`), shown in listings: a
    /// [`KeyName`](roster_core::KeyName)'s text.
    pub name: String,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    pub hash: [u8; 32],
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Timestamp>,
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    #[serde(serialize_with = "roster_core::public_id::ser::api_key")]
    pub id: String,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// Whether revoking a key may leave its tenant without an admin key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastAdmin {
    /// Refused (`Conflict`) when the key is the tenant's last active,
    /// unexpired admin key: nobody could manage the tenant's keys any more.
    Keep,
    /// Allowed: the caller knows of another admin credential outside the
    /// store (a configured token issuer granting the tenant admin).
    MayRevoke,
}

/// The `Conflict` text of a revocation refused by [`LastAdmin::Keep`].
pub const LAST_ADMIN_KEY: &str = "the tenant's last active admin key";

/// An operator's credential: cross-tenant administration, never a tenant's data API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorKeyInfo {
    #[serde(serialize_with = "roster_core::public_id::ser::operator_key")]
    pub id: String,
    /// Who holds it (a person or a team), as shown in the audit log.
    pub name: String,
    pub prefix: String,
    pub created_at: Timestamp,
    /// None: the key does not expire.
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Written at most once a minute.
    pub last_used_at: Option<Timestamp>,
}
