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
}
