use async_trait::async_trait;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};

use crate::{
    DeliveryAttempt, Endpoint, EndpointUpdate, EventDeadLetter, NewEndpoint, ReplayFrom, StoreError,
};

/// Webhook endpoints as a tenant manages them, and their dead letters.
///
/// Ids (`id`, `endpoint_id`) are the store's own strings: an id of a shape
/// the store never issues is `NotFound`, never `Invalid` or `Storage`.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Registers an endpoint. Its cursor starts at the newest event in the
    /// outbox: events that happened before it existed are not sent to it.
    /// `Conflict` when the tenant already has
    /// [`MAX_ACTIVE_ENDPOINTS`](crate::limits::MAX_ACTIVE_ENDPOINTS) active
    /// ones or [`MAX_ENDPOINTS`](crate::limits::MAX_ENDPOINTS) in all:
    /// checked in the transaction that inserts, so concurrent creations
    /// cannot pass it together.
    async fn create_endpoint(&self, endpoint: NewEndpoint, now: Timestamp) -> Result<Endpoint, StoreError>;
    /// The tenant's endpoints, oldest first, disabled ones included.
    async fn list_endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError>;
    /// `None` if the tenant has no endpoint with this id.
    async fn get_endpoint(&self, tenant: TenantId, id: &str) -> Result<Option<Endpoint>, StoreError>;
    /// Stops deliveries to the endpoint (kept, with its dead letters).
    /// Disabling twice keeps the first time. `NotFound` if not the tenant's.
    async fn disable_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError>;
    /// Replaces the endpoint's signing secret with `secret`; the one it had
    /// stays valid (deliveries are signed with both) until
    /// `previous_expires_at` — at or before `now`: not at all. A rotation
    /// during another's grace period ends the older secret at once.
    /// `NotFound` if not the tenant's, or disabled.
    async fn rotate_endpoint_secret(
        &self,
        tenant: TenantId,
        id: &str,
        secret: Secret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError>;
    /// The endpoint's dead letters (waiting and redriven) of events after
    /// outbox position `after`, oldest first. `NotFound` if the endpoint is
    /// not the tenant's.
    async fn list_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventDeadLetter>, StoreError>;
    /// Queues the endpoint's waiting dead letters for redelivery now, with a
    /// fresh attempt count; returns how many. `NotFound` if not the tenant's.
    async fn redrive_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Changes the endpoint as `update` says, in one transaction. Enabling
    /// a disabled endpoint is `Conflict` when the tenant already has
    /// [`MAX_ACTIVE_ENDPOINTS`](crate::limits::MAX_ACTIVE_ENDPOINTS) active
    /// ones; it moves the cursor to the newest event of the outbox and
    /// forgets the attempts at the event after the old one. Enabling an
    /// active endpoint or disabling a disabled one changes nothing.
    /// `NotFound` if not the tenant's.
    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        update: EndpointUpdate,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError>;
    /// Moves the endpoint's cursor back to `from`, so the events after it
    /// are delivered again (with their own ids: receivers dedupe), and
    /// forgets the attempts at the event after the old cursor. `Invalid`
    /// when `from` is after the cursor (a replay never skips an event) or
    /// names no event of the tenant; `NotFound` if the endpoint is not the
    /// tenant's.
    async fn replay_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        from: ReplayFrom,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError>;
    /// The endpoint's delivery attempts, newest first: those with a `seq`
    /// below `before` (`None`: from the newest), only of the event `event_id`
    /// if given (the store's own id), at most `limit`. `NotFound` if the
    /// endpoint is not the tenant's.
    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        event_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;
}
