//! Webhook endpoints as a tenant manages them, and their dead letters.

use async_trait::async_trait;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};
use roster_store::prelude::*;
use roster_store::{
    DeliveryAttempt, Endpoint, EndpointUpdate, EventDeadLetter, NewEndpoint, ReplayFrom, StoreError,
};

use crate::conn::SqliteDirectory;
use crate::outbox;

#[async_trait]
impl EndpointStore for SqliteDirectory {
    async fn create_endpoint(&self, endpoint: NewEndpoint, now: Timestamp) -> Result<Endpoint, StoreError> {
        self.write(move |c| outbox::create(c, &endpoint, now)).await
    }

    async fn list_endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
        self.read(move |c| outbox::list(c, tenant)).await
    }

    async fn get_endpoint(&self, tenant: TenantId, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| outbox::get(c, tenant, &id)).await
    }

    async fn disable_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::disable(c, tenant, &id, now)).await
    }

    async fn rotate_endpoint_secret(
        &self,
        tenant: TenantId,
        id: &str,
        secret: Secret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::rotate(c, tenant, &id, &secret, previous_expires_at, now)).await
    }

    async fn list_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventDeadLetter>, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.read(move |c| outbox::list_dead_letters(c, tenant, &endpoint_id, after, limit)).await
    }

    async fn redrive_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.write(move |c| outbox::redrive(c, tenant, &endpoint_id, now)).await
    }

    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        update: EndpointUpdate,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::update(c, tenant, &id, &update, now)).await
    }

    async fn replay_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        from: ReplayFrom,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::replay(c, tenant, &id, &from)).await
    }

    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        event_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        let event_id = event_id.map(str::to_owned);
        self.read(move |c| outbox::list_attempts(c, tenant, &endpoint_id, event_id.as_deref(), before, limit))
            .await
    }
}
