use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};

use crate::{PurgedTenant, StoreError, Tenant};

/// Tenants: the accounts every other record belongs to.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Fails with `Conflict` if the name is taken (also when two callers
    /// create the same name at once: exactly one of them succeeds).
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError>;
    /// Every tenant, by name (those being deleted included, until purged).
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    /// The tenant with this id, being deleted or not; `None` once purged.
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Gives the tenant a new name. `NotFound` if there is no such tenant,
    /// `Conflict` if another tenant has the name.
    async fn rename_tenant(&self, id: TenantId, name: &str) -> Result<Tenant, StoreError>;
    /// Schedules the tenant's deletion: from `now` its credentials are
    /// refused (callers check [`Tenant::is_deleting`]), at `delete_after` it
    /// is purged. `Conflict` if a deletion is already scheduled, `NotFound`
    /// if there is no such tenant.
    async fn schedule_tenant_deletion(
        &self,
        id: TenantId,
        now: Timestamp,
        delete_after: Timestamp,
    ) -> Result<Tenant, StoreError>;
    /// Cancels a scheduled deletion during its grace period. `Conflict` if
    /// none is scheduled or its grace period ended by `now` (the purge may
    /// be under way); `NotFound` if there is no such tenant.
    async fn cancel_tenant_deletion(&self, id: TenantId, now: Timestamp) -> Result<Tenant, StoreError>;
    /// Purges up to `limit` tenants whose grace period ended by `now`: their
    /// people and history, feeds, events, endpoints and their dead letters,
    /// sources, idempotency keys, API keys and the tenant itself, each
    /// tenant in one transaction with a `tenant.purged` entry (actor
    /// `scheduler`) in the platform log. The tenant's own audit log is kept
    /// (it is append-only and holds ids and actions, no personal data).
    /// Safe to run concurrently: each tenant is purged once. A tenant whose
    /// deletion was cancelled is never purged.
    async fn purge_deleted_tenants(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PurgedTenant>, StoreError>;
}
