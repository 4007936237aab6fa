//! Feeds: created at ingest, sealed, failed, touched, decided, listed.
//!
//! Every statement that changes a feed's counts or status runs under its
//! tenant's feed lock ([`lock_tenants`]), taken after any person lock and
//! held to commit: the snapshot bookkeeping (is an earlier feed still open?
//! which snapshot waits for which?) then reads what the other writers of
//! the tenant committed, as the SQLite adapter's single writer does, and a
//! feed's position is taken in commit order within its tenant.

use async_trait::async_trait;
use roster_core::{ExternalId, FeedId, FeedMode, RecordError, SourceName, TenantId, Timestamp};
use roster_store::limits::{MAX_PAGE, MAX_STORED_REJECTIONS};
use roster_store::policy::status_of;
use roster_store::{
    Feed, FeedCounts, FeedFilter, FeedSeal, FeedStatus, FeedStore, Leaver, NewFeed, Page, StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::conn::{PgDirectory, parse_id, storage};
use crate::snapshots;

pub(crate) const FEED_COLUMNS: &str = "received, accepted, rejected, applied, unchanged, stale, failed, leavers, \
     id, tenant_id, mode, format, status, rejections::text, created_at, updated_at, completed_at, source, \
     reconciliation::text, position, sealed";

pub(crate) fn counts_from_row(r: &PgRow) -> Result<FeedCounts, StoreError> {
    let n = |i: usize| r.try_get::<i64, _>(i).map(|v| v.max(0) as u64).map_err(storage);
    Ok(FeedCounts {
        received: n(0)?,
        accepted: n(1)?,
        rejected: n(2)?,
        applied: n(3)?,
        unchanged: n(4)?,
        stale: n(5)?,
        failed: n(6)?,
        leavers: n(7)?,
    })
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Storage(format!("a stored JSON column does not decode: {e}")))
}

pub(crate) fn feed_from_row(r: &PgRow) -> Result<Feed, StoreError> {
    let text = |i: usize| r.try_get::<&str, _>(i).map_err(storage);
    Ok(Feed {
        counts: counts_from_row(r)?,
        id: parse_id(text(8)?)?,
        position: r.try_get::<i64, _>(19).map_err(storage)?.max(0) as u64,
        tenant_id: parse_id(text(9)?)?,
        source: SourceName::parse(text(17)?).unwrap_or_default(),
        mode: FeedMode::parse(text(10)?).unwrap_or_default(),
        format: text(11)?.to_owned(),
        status: FeedStatus::parse(text(12)?).unwrap_or(FeedStatus::Failed),
        reconciliation: r.try_get::<Option<&str>, _>(18).map_err(storage)?.map(json).transpose()?,
        rejections: json::<Vec<RecordError>>(text(13)?)?,
        created_at: Timestamp(r.try_get(14).map_err(storage)?),
        updated_at: Timestamp(r.try_get(15).map_err(storage)?),
        completed_at: r.try_get::<Option<i64>, _>(16).map_err(storage)?.map(Timestamp),
    })
}

/// Takes the feed locks of these tenants (sorted and deduplicated here, so
/// two transactions never wait on each other's in a cycle), held to commit.
pub(crate) async fn lock_tenants(c: &mut PgConnection, tenants: &[String]) -> Result<(), StoreError> {
    let mut tenants = tenants.to_vec();
    tenants.sort();
    tenants.dedup();
    for t in &tenants {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('feeds:' || $1, 0))")
            .bind(t)
            .execute(&mut *c)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

pub(crate) async fn get(
    c: &mut PgConnection,
    tenant: TenantId,
    feed: FeedId,
) -> Result<Option<Feed>, StoreError> {
    sqlx::query(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = $1 AND tenant_id = $2"))
        .bind(feed.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(storage)?
        .as_ref()
        .map(feed_from_row)
        .transpose()
}

fn rejections_json(mut rejections: Vec<RecordError>) -> Result<String, StoreError> {
    rejections.truncate(MAX_STORED_REJECTIONS);
    serde_json::to_string(&rejections).map_err(|e| StoreError::Storage(e.to_string()))
}

#[async_trait]
impl FeedStore for PgDirectory {
    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError> {
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
        let tenant = feed.tenant_id.to_string();
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // The position is taken under the tenant's feed lock: within the
        // tenant, positions are in commit order, so a snapshot that finds no
        // earlier open feed cannot meet one committed later.
        lock_tenants(&mut tx, std::slice::from_ref(&tenant)).await?;
        sqlx::query(
            "INSERT INTO feeds (id, tenant_id, mode, format, status, received, accepted, rejected, rejections,
                                created_at, updated_at, completed_at, source, sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $10, NULL, $11, $12)",
        )
        .bind(feed.id.to_string())
        .bind(&tenant)
        .bind(feed.mode.as_str())
        .bind(&feed.format)
        .bind(stored_status.as_str())
        .bind(counts.received as i64)
        .bind(counts.accepted as i64)
        .bind(counts.rejected as i64)
        .bind(rejections_json(feed.rejections)?)
        .bind(feed.created_at.millis())
        .bind(feed.source.as_str())
        .bind(feed.sealed)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        if final_now {
            snapshots::refresh_feed(&mut tx, feed.id, feed.created_at).await?;
        }
        let out = get(&mut tx, feed.tenant_id, feed.id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(out)
    }

    async fn add_snapshot_members(
        &self,
        tenant: TenantId,
        feed: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        snapshots::add_members(&mut tx, tenant, feed, &ids, now).await?;
        tx.commit().await.map_err(storage)
    }

    async fn seal_feed(
        &self,
        tenant: TenantId,
        feed: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        lock_tenants(&mut tx, &[tenant.to_string()]).await?;
        let n = sqlx::query(
            "UPDATE feeds SET sealed = true, received = $3, accepted = $4, rejected = $5, rejections = $6::jsonb,
                              updated_at = $7
             WHERE id = $1 AND tenant_id = $2 AND NOT sealed AND status = 'receiving'",
        )
        .bind(feed.to_string())
        .bind(tenant.to_string())
        .bind(seal.received as i64)
        .bind(seal.accepted as i64)
        .bind(seal.rejected as i64)
        .bind(rejections_json(seal.rejections)?)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected();
        if n == 0 {
            // Never acknowledge a feed the stall sweep failed meanwhile: the
            // client must resend it.
            return Err(StoreError::Conflict(
                "the feed is unknown, already sealed, or was failed while it was received".into(),
            ));
        }
        snapshots::refresh_feed(&mut tx, feed, now).await?;
        let out = get(&mut tx, tenant, feed).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(out)
    }

    async fn decide_snapshot(
        &self,
        tenant: TenantId,
        feed: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        lock_tenants(&mut tx, &[tenant.to_string()]).await?;
        snapshots::decide_snapshot(&mut tx, tenant, feed, approve, now).await?;
        let out = get(&mut tx, tenant, feed).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(out)
    }

    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        lock_tenants(&mut tx, &[tenant.to_string()]).await?;
        let id = feed.to_string();
        // The status it had, read under the lock (the old row's, through a
        // self-join: RETURNING shows the new one).
        let before: Option<String> = sqlx::query_scalar(
            "UPDATE feeds f SET status = 'failed', updated_at = $3, completed_at = $3
               FROM feeds old WHERE f.id = $1 AND f.tenant_id = $2 AND old.id = f.id
             RETURNING old.status",
        )
        .bind(&id)
        .bind(tenant.to_string())
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(storage)?;
        if let Some(before) = before {
            snapshots::announce_failure(&mut tx, &id, &before, now).await?;
        }
        snapshots::release_waiting(&mut tx, &tenant.to_string(), now).await?;
        tx.commit().await.map_err(storage)
    }

    async fn touch_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        // One statement, no other lock held: it changes no count or status.
        let n = sqlx::query(
            "UPDATE feeds SET updated_at = GREATEST(updated_at, $3)
             WHERE id = $1 AND tenant_id = $2 AND status = 'receiving'",
        )
        .bind(feed.to_string())
        .bind(tenant.to_string())
        .bind(now.millis())
        .execute(self.pool())
        .await
        .map_err(storage)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict("the feed is unknown or no longer being received".into()));
        }
        Ok(())
    }

    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError> {
        let mut c = self.pool().acquire().await.map_err(storage)?;
        get(&mut c, tenant, feed).await
    }

    async fn find_feeds(
        &self,
        tenant: TenantId,
        filter: &FeedFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // Feed ids are UUIDv7: newest first is descending id order (the
        // column's collation is `C`: bytewise, as in SQLite, on any server).
        let before = cursor.map(str::to_owned).unwrap_or_else(|| "g".into());
        let items = sqlx::query(&format!(
            "SELECT {FEED_COLUMNS} FROM feeds WHERE tenant_id = $1 AND id < $2
               AND ($4::text IS NULL OR source = $4) AND ($5::text IS NULL OR status = $5)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(before)
        .bind(limit as i64)
        .bind(filter.source.as_ref().map(SourceName::as_str))
        .bind(filter.status.map(FeedStatus::as_str))
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(feed_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let next = (items.len() == limit).then(|| items.last().map(|f| f.id.to_string())).flatten();
        Ok(Page { items, next })
    }

    async fn feed_leavers(
        &self,
        tenant: TenantId,
        feed: FeedId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Leaver>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor.unwrap_or_default();
        let (tenant, id) = (tenant.to_string(), feed.to_string());
        let found: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT mode, reconciliation->>'state' FROM feeds WHERE id = $1 AND tenant_id = $2",
        )
        .bind(&id)
        .bind(&tenant)
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        let Some((mode, state)) = found else { return Err(StoreError::NotFound) };
        if mode != FeedMode::Full.as_str() {
            return Err(StoreError::Invalid("only a full snapshot has leavers; this feed is a delta".into()));
        }
        let sql = match state.as_deref() {
            // Those an approval would deactivate: `snapshots::absent`'s
            // people, as of now.
            Some("halted") => {
                "SELECT p.data::text, NULL::bigint FROM feeds f
                   JOIN people p ON p.tenant_id = f.tenant_id AND p.source = f.source
                  WHERE f.id = $1 AND f.tenant_id = $2 AND p.active AND p.status = 'active'
                    AND p.position < f.position AND p.external_id > $3
                    AND NOT EXISTS (SELECT 1 FROM snapshot_members m
                                    WHERE m.feed_id = f.id AND m.external_id = p.external_id)
                  ORDER BY p.external_id LIMIT $4"
            }
            // Those its reconciliation deactivated (the versions it caused),
            // ordered by `people`'s id, in the `C` collation as every page.
            Some("applied") => {
                "SELECT p.data::text, h.at FROM person_history h
                   JOIN people p ON p.tenant_id = h.tenant_id AND p.external_id = h.external_id
                  WHERE h.tenant_id = $2 AND h.feed_id = $1 AND h.event = 'person.left'
                    AND h.message_id = 'reconcile:' || $1 AND p.external_id > $3
                  ORDER BY p.external_id LIMIT $4"
            }
            _ => return Ok(Page { items: Vec::new(), next: None }),
        };
        let rows: Vec<(String, Option<i64>)> = sqlx::query_as(sql)
            .bind(&id)
            .bind(&tenant)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await
            .map_err(storage)?;
        let items = rows
            .into_iter()
            .map(|(data, at)| {
                let person: roster_core::Person = json(&data)?;
                Ok(Leaver::of(&person, at.map(Timestamp)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = (items.len() == limit).then(|| items.last().map(|l| l.external_id.to_string())).flatten();
        Ok(Page { items, next })
    }
}
