use async_trait::async_trait;
use roster_core::Timestamp;

use crate::{StoreError, Tenant};

/// Tenants: the accounts every other record belongs to.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Fails with `Conflict` if the name is taken (also when two callers
    /// create the same name at once: exactly one of them succeeds).
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError>;
    /// Every tenant, by name.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
}
