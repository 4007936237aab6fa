//! The scheduler's system jobs: due dates, stalled uploads, idle feeds, retention.

use async_trait::async_trait;
use roster_core::{FeedId, TenantId, Timestamp};
use roster_store::prelude::*;
use roster_store::{FeedStatus, PruneReport, StoreError};
use rusqlite::params;

use crate::conn::{SqliteDirectory, immediate, storage};
use crate::rows::*;
use crate::snapshots;
use crate::{apply, retention};

#[async_trait]
impl DueWork for SqliteDirectory {
    async fn apply_due(&self, now: Timestamp, limit: usize) -> Result<u64, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = apply::apply_due(&tx, now, limit)?;
            tx.commit().map_err(storage)?;
            Ok(n)
        })
        .await
    }

    async fn fail_stalled_feeds(&self, idle_since: Timestamp, now: Timestamp) -> Result<u64, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let rows: Vec<(String, String)> = tx
                .prepare_cached(
                    "UPDATE feeds SET status = 'failed', updated_at = ?2, completed_at = ?2
                     WHERE sealed = 0 AND status = 'receiving' AND updated_at < ?1
                     RETURNING id, tenant_id",
                )
                .map_err(storage)?
                .query_map(params![idle_since.millis(), now.millis()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(storage)?
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            let failed = rows.len() as u64;
            for (feed, _) in &rows {
                snapshots::announce_failure(&tx, feed, FeedStatus::Receiving.as_str(), now)?;
            }
            let mut tenants: Vec<String> = rows.into_iter().map(|(_, tenant)| tenant).collect();
            tenants.sort();
            tenants.dedup();
            for tenant in tenants {
                snapshots::release_waiting(&tx, &tenant, now)?;
            }
            tx.commit().map_err(storage)?;
            Ok(failed)
        })
        .await
    }

    async fn idle_feeds(
        &self,
        idle_since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT tenant_id, id FROM feeds
                     WHERE status IN ('accepted', 'processing') AND sealed = 1 AND updated_at < ?1
                     ORDER BY position LIMIT ?2",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![idle_since.millis(), limit as i64], |r| {
                    Ok((id(r.get(0)?)?, id(r.get(1)?)?))
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn prune(&self, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let report = retention::prune(&tx, before, now)?;
            tx.commit().map_err(storage)?;
            Ok(report)
        })
        .await
    }
}
