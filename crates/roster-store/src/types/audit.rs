//! The append-only audit log of administrative actions.

use roster_core::{TenantId, Timestamp};
use serde::Serialize;

/// The section of the audit log that belongs to no tenant: operator keys
/// created and revoked, tenants created, tenants listed by an operator. It
/// is read with `list_audit(platform_log(), ..)` (`GET /v1/operator/audit`);
/// no tenant has this id.
pub fn platform_log() -> TenantId {
    TenantId::from(uuid::Uuid::nil())
}

/// How the audit log names an API key, as actor or target: its public id
/// (`key_…`), the one `GET /v1/keys` and `roster keys ls` show.
pub fn key_actor(id: &str) -> String {
    roster_core::public_id::render(roster_core::public_id::Kind::ApiKey, id)
}

/// One administrative action, as the append-only audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the log; increases with each entry.
    pub seq: u64,
    pub at: Timestamp,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    /// Who: the key's id (`key_…`, [`key_actor`]) for an API key,
    /// `jwt:<client id>` for a token, `operator:<name>` for an operator,
    /// `cli` for a command run beside the server.
    pub actor: String,
    /// What, e.g. `key.created`, `feed.approved`, `dlq.purged`.
    pub action: String,
    /// On what: an id or a source name, never personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The server's id of the request (as its log lines carry it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The `x-request-id` the client sent, if it was an acceptable one: its
    /// own correlation, which the server does not vouch for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub tenant_id: TenantId,
    pub actor: String,
    pub action: &'static str,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
}
