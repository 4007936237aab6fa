//! Feeds: created at ingest, sealed, failed, touched, decided, listed.

use async_trait::async_trait;
use roster_core::{ExternalId, FeedId, FeedMode, TenantId, Timestamp};
use roster_store::limits::{MAX_PAGE, MAX_STORED_REJECTIONS};
use roster_store::policy::status_of;
use roster_store::prelude::*;
use roster_store::{
    Feed, FeedCounts, FeedFilter, FeedSeal, FeedStatus, Leaver, NewFeed, Page, ReconcileState,
    Reconciliation, StoreError,
};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, immediate, storage};
use crate::rows::*;
use crate::snapshots;

#[async_trait]
impl FeedStore for SqliteDirectory {
    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError> {
        let mut rejections = feed.rejections.clone();
        rejections.truncate(MAX_STORED_REJECTIONS);
        let counts = FeedCounts {
            received: feed.received,
            accepted: feed.accepted,
            rejected: feed.rejections.len() as u64,
            ..FeedCounts::default()
        };
        let status = status_of(&counts, feed.sealed, None);
        // A sealed feed with nothing queued is final at once: it is stored
        // open and refreshed in the same transaction, which reconciles a
        // full snapshot, writes the final status with its feed event and
        // lets a snapshot waiting for it go on.
        let final_now = status.is_settled();
        let stored_status = if final_now { FeedStatus::Accepted } else { status };
        let sealed = feed.sealed;
        let mut out = Feed {
            id: feed.id,
            position: 0,
            tenant_id: feed.tenant_id,
            source: feed.source,
            reconciliation: None,
            mode: feed.mode,
            format: feed.format,
            status: stored_status,
            counts,
            rejections,
            created_at: feed.created_at,
            updated_at: feed.created_at,
            completed_at: None,
        };
        let f = out.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            let rejections = serde_json::to_string(&f.rejections).map_err(|e| StoreError::Storage(e.to_string()))?;
            // The next position in acceptance order: this writer is the only
            // one, so MAX + 1 (on the unique index) cannot be taken twice.
            let position: i64 = tx.query_row(
                "INSERT INTO feeds (id, tenant_id, mode, format, status, received, accepted, rejected, rejections,
                                    created_at, updated_at, completed_at, source, sealed, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, NULL, ?11, ?12,
                         (SELECT COALESCE(MAX(position), 0) + 1 FROM feeds))
                 RETURNING position",
                params![
                    f.id.to_string(),
                    f.tenant_id.to_string(),
                    f.mode.as_str(),
                    f.format,
                    f.status.as_str(),
                    f.counts.received as i64,
                    f.counts.accepted as i64,
                    f.counts.rejected as i64,
                    rejections,
                    f.created_at.millis(),
                    f.source.as_str(),
                    sealed
                ],
                |r| r.get(0),
            )
            .map_err(storage)?;
            if final_now {
                snapshots::refresh_feed(&tx, f.id, f.created_at)?;
            }
            tx.commit().map_err(storage)?;
            Ok(position)
        })
        .await
        .map(|position| out.position = position.max(0) as u64)?;
        if final_now {
            let tenant = out.tenant_id;
            out = self.get_feed(tenant, out.id).await?.ok_or(StoreError::NotFound)?;
        }
        Ok(out)
    }

    async fn add_snapshot_members(
        &self,
        tenant: TenantId,
        feed: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            snapshots::add_members(&tx, tenant, feed, &ids, now)?;
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn seal_feed(
        &self,
        tenant: TenantId,
        feed: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let mut rejections = seal.rejections;
            rejections.truncate(MAX_STORED_REJECTIONS);
            let rejections = serde_json::to_string(&rejections).map_err(|e| StoreError::Storage(e.to_string()))?;
            let n = tx
                .execute(
                    "UPDATE feeds SET sealed = 1, received = ?3, accepted = ?4, rejected = ?5, rejections = ?6,
                                      updated_at = ?7
                     WHERE id = ?1 AND tenant_id = ?2 AND sealed = 0 AND status = 'receiving'",
                    params![
                        feed.to_string(),
                        tenant.to_string(),
                        seal.received as i64,
                        seal.accepted as i64,
                        seal.rejected as i64,
                        rejections,
                        now.millis()
                    ],
                )
                .map_err(storage)?;
            if n == 0 {
                // Never acknowledge a feed the stall sweep failed meanwhile:
                // the client must resend it.
                return Err(StoreError::Conflict(
                    "the feed is unknown, already sealed, or was failed while it was received".into(),
                ));
            }
            snapshots::refresh_feed(&tx, feed, now)?;
            tx.commit().map_err(storage)
        })
        .await?;
        self.get_feed(tenant, feed).await?.ok_or(StoreError::NotFound)
    }

    async fn decide_snapshot(
        &self,
        tenant: TenantId,
        feed: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            snapshots::decide_snapshot(&tx, tenant, feed, approve, now)?;
            tx.commit().map_err(storage)
        })
        .await?;
        self.get_feed(tenant, feed).await?.ok_or(StoreError::NotFound)
    }

    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let id = feed.to_string();
            let before: Option<String> = tx
                .query_row(
                    "SELECT status FROM feeds WHERE id = ?1 AND tenant_id = ?2",
                    params![id, tenant.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            let Some(before) = before else { return Ok(()) };
            tx.execute(
                "UPDATE feeds SET status = 'failed', updated_at = ?3, completed_at = ?3 WHERE id = ?1 AND tenant_id = ?2",
                params![id, tenant.to_string(), now.millis()],
            )
            .map_err(storage)?;
            snapshots::announce_failure(&tx, &id, &before, now)?;
            snapshots::release_waiting(&tx, &tenant.to_string(), now)?;
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn touch_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE feeds SET updated_at = MAX(updated_at, ?3)
                     WHERE id = ?1 AND tenant_id = ?2 AND status = 'receiving'",
                    params![feed.to_string(), tenant.to_string(), now.millis()],
                )
                .map_err(storage)?;
            if n == 0 {
                return Err(StoreError::Conflict("the feed is unknown or no longer being received".into()));
            }
            Ok(())
        })
        .await
    }

    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1 AND tenant_id = ?2"))
                .map_err(storage)?
                .query_row(params![feed.to_string(), tenant.to_string()], feed_from_row)
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn find_feeds(
        &self,
        tenant: TenantId,
        filter: &FeedFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // Feed ids are UUIDv7: newest first is descending id order.
        let before = cursor.map(str::to_owned).unwrap_or_else(|| "g".into());
        let source = filter.source.as_ref().map(|s| s.as_str().to_owned());
        let status = filter.status.map(|s| s.as_str());
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {FEED_COLUMNS} FROM feeds WHERE tenant_id = ?1 AND id < ?2
                       AND (?4 IS NULL OR source = ?4) AND (?5 IS NULL OR status = ?5)
                     ORDER BY id DESC LIMIT ?3"
                ))
                .map_err(storage)?;
            let items = stmt
                .query_map(params![tenant.to_string(), before, limit as i64, source, status], feed_from_row)
                .map_err(storage)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            let next = (items.len() == limit).then(|| items.last().map(|f| f.id.to_string())).flatten();
            Ok(Page { items, next })
        })
        .await
    }

    async fn feed_leavers(
        &self,
        tenant: TenantId,
        feed: FeedId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Leaver>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor.unwrap_or_default().to_owned();
        self.read(move |c| {
            let (tenant, id) = (tenant.to_string(), feed.to_string());
            let found: Option<(String, Option<String>)> = c
                .prepare_cached("SELECT mode, reconciliation FROM feeds WHERE id = ?1 AND tenant_id = ?2")
                .map_err(storage)?
                .query_row(params![id, tenant], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(storage)?;
            let Some((mode, reconciliation)) = found else { return Err(StoreError::NotFound) };
            if mode != FeedMode::Full.as_str() {
                return Err(StoreError::Invalid(
                    "only a full snapshot has leavers; this feed is a delta".into(),
                ));
            }
            let state =
                reconciliation.map(json_col::<Reconciliation>).transpose().map_err(storage)?.map(|r| r.state);
            let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(String, Option<i64>)> {
                Ok((r.get(0)?, r.get(1)?))
            };
            let rows: Vec<(String, Option<i64>)> = match state {
                // Those an approval would deactivate: `snapshots::absent`'s
                // people, as of now.
                Some(ReconcileState::Halted) => c
                    .prepare_cached(
                        "SELECT p.data, NULL FROM feeds f
                           JOIN people p ON p.tenant_id = f.tenant_id AND p.source = f.source
                          WHERE f.id = ?1 AND f.tenant_id = ?2 AND p.active = 1 AND p.status = 'active'
                            AND p.position < f.position AND p.external_id > ?3
                            AND NOT EXISTS (SELECT 1 FROM snapshot_members m
                                            WHERE m.feed_id = f.id AND m.external_id = p.external_id)
                          ORDER BY p.external_id LIMIT ?4",
                    )
                    .map_err(storage)?
                    .query_map(params![id, tenant, after, limit as i64], row)
                    .map_err(storage)?
                    .collect::<Result<_, _>>()
                    .map_err(storage)?,
                // Those its reconciliation deactivated (the versions it caused).
                Some(ReconcileState::Applied) => c
                    .prepare_cached(
                        "SELECT p.data, h.at FROM person_history h
                           JOIN people p ON p.tenant_id = h.tenant_id AND p.external_id = h.external_id
                          WHERE h.tenant_id = ?2 AND h.feed_id = ?1 AND h.event = 'person.left'
                            AND h.message_id = 'reconcile:' || ?1 AND h.external_id > ?3
                          ORDER BY h.external_id LIMIT ?4",
                    )
                    .map_err(storage)?
                    .query_map(params![id, tenant, after, limit as i64], row)
                    .map_err(storage)?
                    .collect::<Result<_, _>>()
                    .map_err(storage)?,
                _ => Vec::new(),
            };
            let items = rows
                .into_iter()
                .map(|(data, at)| {
                    let person: roster_core::Person = serde_json::from_str(&data)
                        .map_err(|e| StoreError::Storage(format!("stored person does not decode: {e}")))?;
                    Ok(Leaver::of(&person, at.map(Timestamp)))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let next =
                (items.len() == limit).then(|| items.last().map(|l| l.external_id.to_string())).flatten();
            Ok(Page { items, next })
        })
        .await
    }
}
