//! The outbox of lifecycle events and each endpoint's delivery state.
//!
//! Events are numbered by an identity column, whose values are taken at
//! insert, not at commit. Every transaction that inserts events holds the
//! feed locks of their tenants from before the insert to its commit (see
//! `apply.rs`), so a tenant's events commit in `seq` order and a reader
//! that moves its cursor to the last `seq` it saw never skips one that
//! commits late.

use async_trait::async_trait;
use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::{ExternalId, TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use roster_store::{
    DeliveryTarget, DeliveryUpdate, EndpointBacklog, EventFilter, NewDeliveryAttempt, Outbox, OutboxEvent,
    PreviousSecret, Redelivery, RedeliveryUpdate, StoreError,
};

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::conn::{PgDirectory, parse_id, storage};
use crate::endpoints::{DEAD_LETTER_COLUMNS, ENDPOINT_COLUMNS, dead_letter_from_row, endpoint_from_row};
use crate::feeds::json;

/// An outbox event from the columns `seq, id, type, tenant_id, feed_id,
/// occurred_at, payload::text`, starting at column `at`.
pub(crate) fn event_from_row(r: &PgRow, at: usize) -> Result<OutboxEvent, StoreError> {
    let kind: String = r.try_get(at + 2).map_err(storage)?;
    Ok(OutboxEvent {
        seq: r.try_get::<i64, _>(at).map_err(storage)?.max(0) as u64,
        id: r.try_get(at + 1).map_err(storage)?,
        kind: serde_json::from_value(serde_json::Value::String(kind))
            .map_err(|_| StoreError::Storage("a stored event type is unknown".into()))?,
        tenant_id: parse_id(r.try_get::<&str, _>(at + 3).map_err(storage)?)?,
        feed_id: parse_id(r.try_get::<&str, _>(at + 4).map_err(storage)?)?,
        occurred_at: Timestamp(r.try_get(at + 5).map_err(storage)?),
        payload: json(r.try_get(at + 6).map_err(storage)?)?,
    })
}

#[async_trait]
impl Outbox for PgDirectory {
    async fn find_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        sqlx::query(
            "SELECT seq, id, type, tenant_id, feed_id, occurred_at, payload::text FROM outbox
             WHERE tenant_id = $1 AND seq > $2
               AND ($4::text IS NULL OR type = $4)
               AND ($5::text IS NULL OR payload->'person'->>'externalId' = $5)
               AND ($6::text IS NULL OR feed_id = $6)
             ORDER BY seq LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(limit as i64)
        .bind(filter.kind.map(EventType::as_str))
        .bind(filter.person.as_ref().map(ExternalId::as_str))
        .bind(filter.feed.map(|f| f.to_string()))
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(|r| event_from_row(r, 0))
        .collect()
    }

    async fn delivery_targets(&self, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE disabled_at IS NULL ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(|r| target_from_row(r, now))
        .collect()
    }

    async fn record_delivery(
        &self,
        endpoint_id: &str,
        generation: u64,
        update: DeliveryUpdate,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        // Each statement answers whether the endpoint is still at the
        // pass's generation (`current`), whether or not it changed a row.
        let current = match update {
            // The cursor only moves forward (`cursor < $2`): a second
            // attempt recorded after the first changes nothing.
            DeliveryUpdate::Done { seq } => sqlx::query_scalar::<_, bool>(
                "WITH moved AS (
                    UPDATE endpoints SET cursor = $2, attempts = 0, next_attempt_at = NULL
                     WHERE id = $1 AND generation = $3 AND cursor < $2 RETURNING id)
                 SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = $1 AND generation = $3)",
            )
            .bind(endpoint_id)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(generation)
            .fetch_one(self.pool())
            .await
            .map_err(storage)?,
            DeliveryUpdate::Retry { attempts, next_attempt_at } => sqlx::query(
                "UPDATE endpoints SET attempts = $2, next_attempt_at = $3 WHERE id = $1 AND generation = $4",
            )
            .bind(endpoint_id)
            .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
            .bind(next_attempt_at.millis())
            .bind(generation)
            .execute(self.pool())
            .await
            .map_err(storage)?
            .rows_affected()
                == 1,
            DeliveryUpdate::DeadLetter { event, attempts, last_status, last_error } => {
                // One statement: the cursor moves and the dead letter is
                // written together, only by the attempt that moved it.
                sqlx::query_scalar::<_, bool>(
                    "WITH moved AS (
                        UPDATE endpoints SET cursor = $3, attempts = 0, next_attempt_at = NULL
                         WHERE id = $2 AND generation = $10 AND cursor < $3 RETURNING id, tenant_id),
                     dead AS (
                        INSERT INTO event_dead_letters (id, endpoint_id, tenant_id, event_seq, event_id, event_type,
                                                        state, attempts, last_status, last_error, dead_lettered_at)
                        SELECT $1, id, tenant_id, $3, $4, $5, 'dead', $6, $7, $8, $9 FROM moved
                        ON CONFLICT (endpoint_id, event_seq) DO UPDATE SET
                            state = 'dead', attempts = excluded.attempts, last_status = excluded.last_status,
                            last_error = excluded.last_error, dead_lettered_at = excluded.dead_lettered_at,
                            next_attempt_at = NULL)
                     SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = $2 AND generation = $10)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(endpoint_id)
                .bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
                .bind(&event.id)
                .bind(event.kind.as_str())
                .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
                .bind(last_status.map(i32::from))
                .bind(&last_error)
                .bind(now.millis())
                .bind(generation)
                .fetch_one(self.pool())
                .await
                .map_err(storage)?
            }
        };
        Ok(current)
    }

    async fn due_redeliveries(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError> {
        let columns: Vec<String> =
            DEAD_LETTER_COLUMNS.split(", ").map(|col| format!("d.{}", col.trim())).collect();
        sqlx::query(&format!(
            "SELECT {}, o.seq, o.id, o.type, o.tenant_id, o.feed_id, o.occurred_at, o.payload::text
             FROM event_dead_letters d JOIN outbox o ON o.seq = d.event_seq AND o.tenant_id = d.tenant_id
             WHERE d.endpoint_id = $1 AND d.state = 'redriven' AND d.next_attempt_at <= $2
             ORDER BY d.event_seq LIMIT $3",
            columns.join(", ")
        ))
        .bind(endpoint_id)
        .bind(now.millis())
        .bind(limit.clamp(1, MAX_PAGE) as i64)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(|r| Ok(Redelivery { dead_letter: dead_letter_from_row(r)?, event: event_from_row(r, 12)? }))
        .collect()
    }

    async fn record_redelivery(
        &self,
        dead_letter_id: &str,
        update: RedeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let q = match &update {
            RedeliveryUpdate::Delivered => {
                sqlx::query("DELETE FROM event_dead_letters WHERE id = $1 AND state = 'redriven'").bind(dead_letter_id)
            }
            RedeliveryUpdate::Retry { attempts, next_attempt_at } => sqlx::query(
                "UPDATE event_dead_letters SET attempts = $2, next_attempt_at = $3 WHERE id = $1 AND state = 'redriven'",
            )
            .bind(dead_letter_id)
            .bind(i32::try_from(*attempts).unwrap_or(i32::MAX))
            .bind(next_attempt_at.millis()),
            RedeliveryUpdate::Dead { attempts, last_status, last_error } => sqlx::query(
                "UPDATE event_dead_letters SET state = 'dead', attempts = $2, last_status = $3, last_error = $4,
                                               dead_lettered_at = $5, next_attempt_at = NULL
                 WHERE id = $1 AND state = 'redriven'",
            )
            .bind(dead_letter_id)
            .bind(i32::try_from(*attempts).unwrap_or(i32::MAX))
            .bind(last_status.map(i32::from))
            .bind(last_error.as_str())
            .bind(now.millis()),
        };
        q.execute(self.pool()).await.map_err(storage)?;
        Ok(())
    }

    async fn delivery_target(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<DeliveryTarget>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL"
        ))
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?
        .as_ref()
        .map(|r| target_from_row(r, now))
        .transpose()
    }

    async fn record_attempts(&self, attempts: Vec<NewDeliveryAttempt>) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        // One statement for the page: the tenant comes from the endpoint row.
        let mut endpoints = Vec::with_capacity(attempts.len());
        let (mut seqs, mut ids, mut kinds, mut numbers) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut ats, mut durations, mut statuses, mut outcomes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for a in &attempts {
            endpoints.push(a.endpoint_id.clone());
            seqs.push(i64::try_from(a.event.seq).unwrap_or(i64::MAX));
            ids.push(a.event.id.clone());
            kinds.push(a.event.kind.as_str().to_owned());
            numbers.push(i32::try_from(a.attempt).unwrap_or(i32::MAX));
            ats.push(a.at.millis());
            durations.push(i64::try_from(a.duration_ms).unwrap_or(i64::MAX));
            statuses.push(a.status.map(i32::from));
            outcomes.push(a.outcome.as_str().to_owned());
        }
        sqlx::query(
            "INSERT INTO delivery_attempts (tenant_id, endpoint_id, event_seq, event_id, event_type, attempt,
                                            at, duration_ms, status, outcome)
             SELECT e.tenant_id, a.endpoint_id, a.event_seq, a.event_id, a.event_type, a.attempt,
                    a.at, a.duration_ms, a.status, a.outcome
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::bigint[],
                         $7::bigint[], $8::int[], $9::text[])
                  WITH ORDINALITY AS a(endpoint_id, event_seq, event_id, event_type, attempt, at,
                                       duration_ms, status, outcome, n)
             JOIN endpoints e ON e.id = a.endpoint_id
             ORDER BY a.n",
        )
        .bind(endpoints)
        .bind(seqs)
        .bind(ids)
        .bind(kinds)
        .bind(numbers)
        .bind(ats)
        .bind(durations)
        .bind(statuses)
        .bind(outcomes)
        .execute(self.pool())
        .await
        .map_err(storage)?;
        Ok(())
    }
}

/// A target as of `now`: the previous secret only while it is valid.
fn target_from_row(r: &PgRow, now: Timestamp) -> Result<DeliveryTarget, StoreError> {
    let previous = match (
        r.try_get::<Option<String>, _>(11).map_err(storage)?,
        r.try_get::<Option<i64>, _>(12).map_err(storage)?,
    ) {
        (Some(secret), Some(expires_at)) if expires_at > now.millis() => {
            Some(PreviousSecret { secret: Secret::new(secret), expires_at: Timestamp(expires_at) })
        }
        _ => None,
    };
    Ok(DeliveryTarget {
        endpoint: endpoint_from_row(r)?,
        secret: Secret::new(r.try_get::<String, _>(8).map_err(storage)?),
        previous_secret: previous,
        attempts: r.try_get::<i32, _>(9).map_err(storage)?.max(0) as u32,
        next_attempt_at: r.try_get::<Option<i64>, _>(10).map_err(storage)?.map(Timestamp),
        generation: r.try_get::<i64, _>(13).map_err(storage)?.max(0) as u64,
    })
}

/// What each active endpoint has not received yet (one statement).
pub(crate) async fn backlog(pool: &sqlx::PgPool) -> Result<Vec<EndpointBacklog>, StoreError> {
    // Pending: the events after the cursor the endpoint wants, plus its
    // redriven dead letters. The type filter is a JSON array (or NULL: all).
    let rows = sqlx::query(
        "SELECT e.id, e.tenant_id,
            (SELECT COUNT(*) FROM outbox o WHERE o.tenant_id = e.tenant_id AND o.seq > e.cursor
               AND (e.event_types IS NULL OR e.event_types ? o.type)),
            (SELECT MIN(o.occurred_at) FROM outbox o WHERE o.tenant_id = e.tenant_id AND o.seq > e.cursor
               AND (e.event_types IS NULL OR e.event_types ? o.type)),
            (SELECT COUNT(*) FROM event_dead_letters d WHERE d.endpoint_id = e.id AND d.state = 'redriven'),
            (SELECT MIN(o.occurred_at) FROM event_dead_letters d
               JOIN outbox o ON o.seq = d.event_seq AND o.tenant_id = d.tenant_id
               WHERE d.endpoint_id = e.id AND d.state = 'redriven'),
            (SELECT COUNT(*) FROM event_dead_letters d WHERE d.endpoint_id = e.id AND d.state = 'dead')
         FROM endpoints e WHERE e.disabled_at IS NULL ORDER BY e.tenant_id, e.id",
    )
    .fetch_all(pool)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|r| {
            let n = |i: usize| r.try_get::<i64, _>(i).map(|v| v.max(0) as u64).map_err(storage);
            let oldest = [
                r.try_get::<Option<i64>, _>(3).map_err(storage)?,
                r.try_get::<Option<i64>, _>(5).map_err(storage)?,
            ]
            .into_iter()
            .flatten()
            .min();
            Ok(EndpointBacklog {
                endpoint_id: r.try_get(0).map_err(storage)?,
                tenant_id: parse_id(r.try_get::<&str, _>(1).map_err(storage)?)?,
                pending: n(2)? + n(4)?,
                oldest_pending_at: oldest.map(Timestamp),
                dead_letters: n(6)?,
            })
        })
        .collect()
}
