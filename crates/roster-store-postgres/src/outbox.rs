//! Outbox: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use sqlx::Row;
use sqlx::postgres::PgRow;
use roster_store::{
    DeliveryTarget, DeliveryUpdate, Outbox, OutboxEvent, Redelivery, RedeliveryUpdate, StoreError,
};

use crate::conn::{PgDirectory, parse_id, storage};
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
    async fn list_events(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        sqlx::query(
            "SELECT seq, id, type, tenant_id, feed_id, occurred_at, payload::text FROM outbox
             WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(|r| event_from_row(r, 0))
        .collect()
    }

    async fn delivery_targets(&self, _now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError> {
        unimplemented!("Outbox::delivery_targets is not yet on PostgreSQL")
    }

    async fn record_delivery(
        &self,
        _endpoint_id: &str,
        _update: DeliveryUpdate,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        unimplemented!("Outbox::record_delivery is not yet on PostgreSQL")
    }

    async fn due_redeliveries(
        &self,
        _endpoint_id: &str,
        _now: Timestamp,
        _limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError> {
        unimplemented!("Outbox::due_redeliveries is not yet on PostgreSQL")
    }

    async fn record_redelivery(
        &self,
        _dead_letter_id: &str,
        _update: RedeliveryUpdate,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        unimplemented!("Outbox::record_redelivery is not yet on PostgreSQL")
    }
}
