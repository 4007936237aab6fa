use async_trait::async_trait;
use roster_core::TenantId;

use crate::{AuditEntry, AuditFilter, NewAuditEntry, StoreError};

/// The audit log: append-only, there is no way to change or remove an entry.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an entry; it takes the next `seq` of the log.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StoreError>;
    /// The tenant's entries with `seq > after`, oldest first (at most
    /// `limit`, clamped to [`MAX_PAGE`](crate::limits::MAX_PAGE)).
    ///
    /// Contract: a tenant's entries become visible in `seq` order — a
    /// reader never sees seq N+1 while N is still to come, so paging with
    /// the last `seq` seen as `after` never skips an entry. (One SQLite
    /// writer gives this for free; an adapter with concurrent writers must
    /// order commits per tenant or read only below the oldest open write.)
    async fn list_audit(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// The tenant's entries that `filter` matches, newest first, with
    /// `seq < before` (all when `None`): what a person scanning the log
    /// wants. At most `limit`, clamped to [`MAX_PAGE`](crate::limits::MAX_PAGE).
    async fn recent_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
