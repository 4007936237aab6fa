//! DueWork: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{FeedId, TenantId, Timestamp};
use roster_store::{DueWork, PruneReport, StoreError};

use crate::conn::PgDirectory;

#[async_trait]
impl DueWork for PgDirectory {
    async fn apply_due(&self, _now: Timestamp, _limit: usize) -> Result<u64, StoreError> {
        unimplemented!("DueWork::apply_due is not yet on PostgreSQL")
    }

    async fn fail_stalled_feeds(&self, _idle_since: Timestamp, _now: Timestamp) -> Result<u64, StoreError> {
        unimplemented!("DueWork::fail_stalled_feeds is not yet on PostgreSQL")
    }

    async fn idle_feeds(
        &self,
        _idle_since: Timestamp,
        _limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError> {
        unimplemented!("DueWork::idle_feeds is not yet on PostgreSQL")
    }

    async fn prune(&self, _before: Timestamp, _now: Timestamp) -> Result<PruneReport, StoreError> {
        unimplemented!("DueWork::prune is not yet on PostgreSQL")
    }
}
