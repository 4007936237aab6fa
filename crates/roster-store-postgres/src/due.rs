//! The scheduler's system jobs: due dates, stalled uploads, idle feeds,
//! retention. Safe to run on several nodes at once (the port's contract):
//! a due person is taken with a lock tried, never waited for, so two
//! schedulers split the due people between them and a person one of them
//! (or a batch) is writing is left to the next run.

use async_trait::async_trait;
use roster_core::lifecycle::{Decision, decide};
use roster_core::{Change, FeedId, TenantId, Timestamp};
use roster_store::limits::IDEMPOTENCY_TTL_MS;
use roster_store::{DueWork, FeedStatus, PruneReport, StoreError};

use crate::apply::{Batch, Cause};
use crate::conn::{PgDirectory, parse_id, storage};
use crate::feeds::lock_tenants;
use crate::snapshots;

#[async_trait]
impl DueWork for PgDirectory {
    async fn apply_due(&self, now: Timestamp, limit: usize) -> Result<u64, StoreError> {
        let today = now.date();
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // The due people whose lock this transaction got (SKIP LOCKED, by
        // advisory lock: the lock a batch takes for the same person).
        let due: Vec<(String, String)> = sqlx::query_as(
            "SELECT tenant_id, external_id FROM (
                SELECT tenant_id, external_id FROM people
                 WHERE due_on IS NOT NULL AND due_on <= $1::date ORDER BY due_on, tenant_id, external_id LIMIT $2) d
              WHERE pg_try_advisory_xact_lock(hashtextextended('person:' || tenant_id || '/' || external_id, 0))",
        )
        .bind(today.to_string())
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(storage)?;
        if due.is_empty() {
            return Ok(0);
        }
        // Read again under the locks: another scheduler may have applied
        // them and committed since the list was read (they are then no
        // longer due, and `decide` finds nothing to change).
        let mut batch = Batch::new(now);
        batch.load(&mut tx, &due).await?;
        let cause_id = format!("scheduled:{today}");
        let mut written = 0;
        let mut tenants = Vec::new();
        let mut settled: Vec<(String, String)> = Vec::new();
        for key in &due {
            let Some(stored) = batch.people.get(key).cloned() else { continue };
            let Some(person) = stored.person.clone() else { continue };
            let decision = decide(stored.current(), &Change::Upsert { person }, today);
            let Decision::Write { person, status, changed, event } = decision else {
                // Due but nothing changes: stop asking.
                settled.push(key.clone());
                continue;
            };
            let feed_id: FeedId = match stored.last_feed_id.as_deref() {
                Some(f) => parse_id(f)?,
                None => FeedId::from(uuid::Uuid::nil()),
            };
            let cause = Cause {
                source: stored.source.as_deref().unwrap_or("default"),
                feed_id,
                message_id: &cause_id,
                last_modified: stored.last_modified,
                position: stored.position,
            };
            batch.write(&key.0, &cause, person, status, &changed, event)?;
            tenants.push(key.0.clone());
            written += 1;
        }
        batch.flush(&mut tx).await?;
        if !settled.is_empty() {
            let (t, e): (Vec<&str>, Vec<&str>) =
                settled.iter().map(|(t, e)| (t.as_str(), e.as_str())).unzip();
            sqlx::query(
                "UPDATE people p SET due_on = NULL FROM unnest($1::text[], $2::text[]) AS u(t, e)
                  WHERE p.tenant_id = u.t AND p.external_id = u.e",
            )
            .bind(t)
            .bind(e)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        }
        // Events under their tenants' feed locks (commit order per tenant).
        lock_tenants(&mut tx, &tenants).await?;
        batch.flush_outbox(&mut tx).await?;
        tx.commit().await.map_err(storage)?;
        Ok(written)
    }

    async fn fail_stalled_feeds(&self, idle_since: Timestamp, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let tenants: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM feeds WHERE NOT sealed AND status = 'receiving' AND updated_at < $1",
        )
        .bind(idle_since.millis())
        .fetch_all(&mut *tx)
        .await
        .map_err(storage)?;
        if tenants.is_empty() {
            return Ok(0);
        }
        lock_tenants(&mut tx, &tenants).await?;
        // The conditions again, under the locks: a feed sealed or touched
        // meanwhile is left alone, one failed by another node is not
        // failed twice.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE feeds SET status = 'failed', updated_at = $2, completed_at = $2
             WHERE NOT sealed AND status = 'receiving' AND updated_at < $1 AND tenant_id = ANY($3)
             RETURNING id, tenant_id",
        )
        .bind(idle_since.millis())
        .bind(now.millis())
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await
        .map_err(storage)?;
        for (feed, _) in &rows {
            snapshots::announce_failure(&mut tx, feed, FeedStatus::Receiving.as_str(), now).await?;
        }
        let failed: Vec<String> = rows.into_iter().map(|(_, tenant)| tenant).collect();
        let mut touched = failed.clone();
        touched.sort();
        touched.dedup();
        for tenant in touched {
            snapshots::release_waiting(&mut tx, &tenant, now).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(failed.len() as u64)
    }

    async fn idle_feeds(
        &self,
        idle_since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT tenant_id, id FROM feeds
             WHERE status IN ('accepted', 'processing') AND sealed AND updated_at < $1
             ORDER BY position LIMIT $2",
        )
        .bind(idle_since.millis())
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        rows.into_iter().map(|(t, f)| Ok((parse_id(&t)?, parse_id(&f)?))).collect()
    }

    async fn prune(&self, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // A message id counted `failed` stays: its dead letter may be
        // redriven any time, and its apply must then move the count.
        let applied_messages =
            sqlx::query("DELETE FROM applied_messages WHERE at < $1 AND outcome <> 'failed'")
                .bind(before.millis())
                .execute(&mut *tx)
                .await
                .map_err(storage)?
                .rows_affected();
        // An event stays while an active endpoint of its tenant has not
        // passed it, or while an event dead letter points at it.
        let events = sqlx::query(
            "DELETE FROM outbox
             WHERE occurred_at < $1
               AND NOT EXISTS (SELECT 1 FROM endpoints e
                               WHERE e.tenant_id = outbox.tenant_id AND e.disabled_at IS NULL
                                 AND e.cursor < outbox.seq)
               AND NOT EXISTS (SELECT 1 FROM event_dead_letters d
                               WHERE d.tenant_id = outbox.tenant_id AND d.event_seq = outbox.seq)",
        )
        .bind(before.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected();
        let idempotency_keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now.millis() - IDEMPOTENCY_TTL_MS)
            .execute(&mut *tx)
            .await
            .map_err(storage)?
            .rows_affected();
        let delivery_attempts = sqlx::query("DELETE FROM delivery_attempts WHERE at < $1")
            .bind(before.millis())
            .execute(&mut *tx)
            .await
            .map_err(storage)?
            .rows_affected();
        tx.commit().await.map_err(storage)?;
        Ok(PruneReport { applied_messages, events, idempotency_keys, delivery_attempts })
    }
}
