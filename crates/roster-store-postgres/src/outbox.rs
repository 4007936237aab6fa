//! Outbox: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::{
    DeliveryTarget, DeliveryUpdate, EventFilter, NewDeliveryAttempt, Outbox, OutboxEvent, Redelivery,
    RedeliveryUpdate, StoreError,
};

use crate::conn::PgDirectory;

#[async_trait]
impl Outbox for PgDirectory {
    async fn find_events(
        &self,
        _tenant: TenantId,
        _filter: &EventFilter,
        _after: u64,
        _limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        unimplemented!("Outbox::find_events is not yet on PostgreSQL")
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

    async fn delivery_target(
        &self,
        _tenant: TenantId,
        _id: &str,
        _now: Timestamp,
    ) -> Result<Option<DeliveryTarget>, StoreError> {
        unimplemented!("Outbox::delivery_target is not yet on PostgreSQL")
    }

    async fn record_attempts(&self, _attempts: Vec<NewDeliveryAttempt>) -> Result<(), StoreError> {
        unimplemented!("Outbox::record_attempts is not yet on PostgreSQL")
    }
}
