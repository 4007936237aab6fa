//! System reads for `/metrics` and alarms.

use async_trait::async_trait;
use roster_store::prelude::*;
use roster_store::{EndpointBacklog, FeedStatus, StoreError};

use crate::conn::{SqliteDirectory, storage};
use crate::outbox;

#[async_trait]
impl PlatformStats for SqliteDirectory {
    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT status, COUNT(*) FROM feeds GROUP BY status").map_err(storage)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(storage)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            Ok(rows
                .into_iter()
                .filter_map(|(s, n)| FeedStatus::parse(&s).map(|s| (s, n.max(0) as u64)))
                .collect())
        })
        .await
    }

    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError> {
        self.read(|c| outbox::backlog(c)).await
    }
}
