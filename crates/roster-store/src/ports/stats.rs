use async_trait::async_trait;

use crate::{EndpointBacklog, FeedStatus, StoreError};

/// System reads for `/metrics` and alarms, across tenants; never shown to a
/// tenant.
#[async_trait]
pub trait PlatformStats: Send + Sync {
    /// How many feeds are in each status, all tenants together (statuses
    /// with none are left out): for the `halted_feeds` alarm and the
    /// `roster_feeds` gauge.
    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError>;
    /// What each active endpoint has not received yet, all tenants.
    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError>;
}
