use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};

use crate::{
    DeliveryTarget, DeliveryUpdate, EventFilter, NewDeliveryAttempt, OutboxEvent, Redelivery,
    RedeliveryUpdate, StoreError,
};

/// The outbox of lifecycle events and where each endpoint's delivery
/// stands: what the outbox dispatcher reads and records.
///
/// Contract: the events of one tenant become visible in `seq` order — a
/// reader never sees seq N+1 while N is still to come — so a cursor (an
/// endpoint's, or a client paging [`list_events`](Outbox::list_events))
/// that moves to the last `seq` it saw never skips an event. One SQLite
/// writer gives this for free; an adapter with concurrent writers must
/// order commits per tenant, or read only below the oldest open write.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Events with `seq > after`, oldest first (at most `limit`, clamped to
    /// [`MAX_PAGE`](crate::limits::MAX_PAGE)).
    async fn list_events(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.find_events(tenant, &EventFilter::default(), after, limit).await
    }
    /// [`list_events`](Outbox::list_events) narrowed to the events `filter`
    /// matches.
    async fn find_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Every active endpoint of every tenant, with its secret (and its
    /// previous secret if still valid at `now`) and delivery state: the
    /// dispatcher's work list. A system read.
    async fn delivery_targets(&self, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError>;
    /// Records what became of the event after the endpoint's cursor, by a
    /// pass that read the endpoint at `generation`
    /// ([`DeliveryTarget::generation`]). A `Done` or `DeadLetter` for a
    /// position the cursor has passed already changes nothing (another
    /// attempt recorded it first). Nothing changes either once the
    /// endpoint's generation has moved on (a replay, a re-enable or a
    /// disable landed during the pass): then `false`, and the pass must
    /// stop — the next one starts from the endpoint as it is now.
    async fn record_delivery(
        &self,
        endpoint_id: &str,
        generation: u64,
        update: DeliveryUpdate,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Redriven dead letters of the endpoint due at `now`, oldest event first.
    async fn due_redeliveries(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError>;
    /// Records what became of a redelivery attempt.
    async fn record_redelivery(
        &self,
        dead_letter_id: &str,
        update: RedeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The tenant's endpoint `id` as [`delivery_targets`](Outbox::delivery_targets)
    /// gives it, if it is the tenant's and active (a test delivery's signer).
    async fn delivery_target(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<DeliveryTarget>, StoreError>;
    /// Appends attempts to their endpoints' attempt logs (kept until the
    /// retention sweep). Attempts of an endpoint that is gone are dropped.
    async fn record_attempts(&self, attempts: Vec<NewDeliveryAttempt>) -> Result<(), StoreError>;
}
