//! PlatformStats: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_store::{EndpointBacklog, FeedStatus, PlatformStats, StoreError};

use crate::conn::PgDirectory;

#[async_trait]
impl PlatformStats for PgDirectory {
    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError> {
        unimplemented!("PlatformStats::count_feeds_by_status is not yet on PostgreSQL")
    }

    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError> {
        unimplemented!("PlatformStats::outbox_backlog is not yet on PostgreSQL")
    }
}
