//! The outbox of lifecycle events and the delivery state of each endpoint.

use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::{FeedId, TenantId, Timestamp};
use serde::Serialize;

use super::endpoint::{Endpoint, EventDeadLetter};

/// A lifecycle event waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    /// Position in the tenant's outbox; increases with each event.
    pub seq: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::event")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    #[serde(serialize_with = "roster_core::public_id::ser::feed")]
    pub feed_id: FeedId,
    pub occurred_at: Timestamp,
    /// The event as sinks receive it (`roster_core::LifecycleEvent`).
    pub payload: serde_json::Value,
}

/// An active endpoint as the dispatcher sees it: with its secret and where
/// its delivery stands. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub endpoint: Endpoint,
    pub secret: Secret,
    /// The secret before the last rotation, while it is still valid:
    /// deliveries are signed with both until it expires.
    pub previous_secret: Option<PreviousSecret>,
    /// Failed attempts at the event after `cursor` (0: none failed yet).
    pub attempts: u32,
    /// Not before this time may that event be tried again.
    pub next_attempt_at: Option<Timestamp>,
    /// Moves on with every change made beside the dispatcher (replay,
    /// enable, disable): what a pass hands back to
    /// [`record_delivery`](crate::Outbox::record_delivery) so its progress
    /// is recorded only while its view of the endpoint holds.
    pub generation: u64,
}

/// An endpoint's secret before its last rotation and when it stops being
/// used. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    pub secret: Secret,
    pub expires_at: Timestamp,
}

impl PreviousSecret {
    /// The secret if it is still valid at `now`.
    pub fn valid_at(&self, now: Timestamp) -> Option<&Secret> {
        (self.expires_at > now).then_some(&self.secret)
    }
}

/// What became of an attempt to deliver the event after an endpoint's cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryUpdate {
    /// Delivered (or not wanted by the endpoint): the cursor moves to `seq`.
    Done { seq: u64 },
    /// Failed; try again at `next_attempt_at`. The cursor stays.
    Retry { attempts: u32, next_attempt_at: Timestamp },
    /// Failed for the last time: the event becomes a dead letter of the
    /// endpoint and the cursor moves past it.
    DeadLetter { event: OutboxEventRef, attempts: u32, last_status: Option<u16>, last_error: String },
}

/// An outbox event named without its payload (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEventRef {
    pub seq: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::event")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
}

impl From<&OutboxEvent> for OutboxEventRef {
    fn from(e: &OutboxEvent) -> Self {
        Self { seq: e.seq, id: e.id.clone(), kind: e.kind }
    }
}

/// A redriven dead letter due for another attempt, with its event.
#[derive(Debug, Clone)]
pub struct Redelivery {
    pub dead_letter: EventDeadLetter,
    pub event: OutboxEvent,
}

/// What became of an attempt to redeliver a redriven dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeliveryUpdate {
    /// Delivered: the dead letter is gone.
    Delivered,
    Retry {
        attempts: u32,
        next_attempt_at: Timestamp,
    },
    /// Failed for the last time: a dead letter again.
    Dead {
        attempts: u32,
        last_status: Option<u16>,
        last_error: String,
    },
}

/// What one endpoint has not received yet (for the backlog metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointBacklog {
    pub tenant_id: TenantId,
    pub endpoint_id: String,
    /// Events it wants after its cursor, plus its redriven dead letters.
    pub pending: u64,
    /// When the oldest of those occurred.
    pub oldest_pending_at: Option<Timestamp>,
    /// Dead letters waiting for a person (not redriven).
    pub dead_letters: u64,
}
