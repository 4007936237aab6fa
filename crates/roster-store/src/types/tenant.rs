//! Tenants: the accounts every other record belongs to.

use roster_core::{TenantId, Timestamp};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
    /// When an operator scheduled its deletion: from then on its keys and
    /// tokens are refused; at `delete_after` its data is purged. `None`: not
    /// being deleted.
    pub deletion_requested_at: Option<Timestamp>,
    /// The end of the grace period, when the scheduler purges the tenant's
    /// data. Until then an operator may cancel the deletion.
    pub delete_after: Option<Timestamp>,
}

impl Tenant {
    /// Whether its deletion is scheduled (its credentials are refused).
    pub fn is_deleting(&self) -> bool {
        self.delete_after.is_some()
    }
}

/// What purging a tenant removed, for the platform log and the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedTenant {
    pub id: TenantId,
    pub name: String,
}
