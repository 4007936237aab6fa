//! EndpointStore: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};
use roster_store::{
    DeliveryAttempt, Endpoint, EndpointStore, EndpointUpdate, EventDeadLetter, NewEndpoint, ReplayFrom,
    StoreError,
};

use crate::conn::PgDirectory;

#[async_trait]
impl EndpointStore for PgDirectory {
    async fn create_endpoint(&self, _endpoint: NewEndpoint, _now: Timestamp) -> Result<Endpoint, StoreError> {
        unimplemented!("EndpointStore::create_endpoint is not yet on PostgreSQL")
    }

    async fn list_endpoints(&self, _tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
        unimplemented!("EndpointStore::list_endpoints is not yet on PostgreSQL")
    }

    async fn get_endpoint(&self, _tenant: TenantId, _id: &str) -> Result<Option<Endpoint>, StoreError> {
        unimplemented!("EndpointStore::get_endpoint is not yet on PostgreSQL")
    }

    async fn disable_endpoint(
        &self,
        _tenant: TenantId,
        _id: &str,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        unimplemented!("EndpointStore::disable_endpoint is not yet on PostgreSQL")
    }

    async fn rotate_endpoint_secret(
        &self,
        _tenant: TenantId,
        _id: &str,
        _secret: Secret,
        _previous_expires_at: Timestamp,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        unimplemented!("EndpointStore::rotate_endpoint_secret is not yet on PostgreSQL")
    }

    async fn list_event_dead_letters(
        &self,
        _tenant: TenantId,
        _endpoint_id: &str,
        _after: u64,
        _limit: usize,
    ) -> Result<Vec<EventDeadLetter>, StoreError> {
        unimplemented!("EndpointStore::list_event_dead_letters is not yet on PostgreSQL")
    }

    async fn redrive_event_dead_letters(
        &self,
        _tenant: TenantId,
        _endpoint_id: &str,
        _now: Timestamp,
    ) -> Result<u64, StoreError> {
        unimplemented!("EndpointStore::redrive_event_dead_letters is not yet on PostgreSQL")
    }

    async fn update_endpoint(
        &self,
        _tenant: TenantId,
        _id: &str,
        _update: EndpointUpdate,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        unimplemented!("EndpointStore::update_endpoint is not yet on PostgreSQL")
    }

    async fn replay_endpoint(
        &self,
        _tenant: TenantId,
        _id: &str,
        _from: ReplayFrom,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        unimplemented!("EndpointStore::replay_endpoint is not yet on PostgreSQL")
    }

    async fn list_delivery_attempts(
        &self,
        _tenant: TenantId,
        _endpoint_id: &str,
        _event_id: Option<&str>,
        _before: Option<u64>,
        _limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        unimplemented!("EndpointStore::list_delivery_attempts is not yet on PostgreSQL")
    }
}
