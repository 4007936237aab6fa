//! System reads for `/metrics` and alarms.

use async_trait::async_trait;
use roster_store::{EndpointBacklog, FeedStatus, PlatformStats, StoreError};

use crate::conn::{PgDirectory, storage};

#[async_trait]
impl PlatformStats for PgDirectory {
    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM feeds GROUP BY status")
            .fetch_all(self.pool())
            .await
            .map_err(storage)?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| FeedStatus::parse(&s).map(|s| (s, n.max(0) as u64)))
            .collect())
    }

    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError> {
        crate::outbox::backlog(self.pool()).await
    }
}
