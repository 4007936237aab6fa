use async_trait::async_trait;
use roster_core::{SourceName, TenantId, Timestamp};

use crate::{Source, SourceSettings, StoreError};

/// Sources: a tenant's integration channels and their settings.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// The source's settings; `None` if it was never configured (defaults apply).
    async fn get_source(&self, tenant: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError>;
    /// Creates or replaces the source's settings (the last write wins).
    async fn put_source(
        &self,
        tenant: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError>;
    /// The tenant's configured sources, by name.
    async fn list_sources(&self, tenant: TenantId) -> Result<Vec<Source>, StoreError>;
    /// Removes the source's settings (its mapping profile, threshold, ...):
    /// its next feed gets the defaults, as a source never set up does. The
    /// people and feeds of the source stay. `NotFound` if it has none.
    async fn delete_source(&self, tenant: TenantId, name: &SourceName) -> Result<Source, StoreError>;
}
