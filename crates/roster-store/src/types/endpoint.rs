//! Webhook endpoints and the events they could not take (their dead letters).

use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};
use serde::Serialize;

use super::outbox::OutboxEventRef;

/// A webhook endpoint to register: where a tenant's lifecycle events are
/// pushed (the outbox dispatcher), signed with its secret.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub tenant_id: TenantId,
    /// An absolute `https` (or, when allowed, `http`) URL, checked by the caller.
    pub url: String,
    pub description: Option<String>,
    /// Only these event types; `None`: every type.
    pub event_types: Option<Vec<EventType>>,
    /// The signing secret (`whsec_<base64>`); `Debug` redacts it.
    pub secret: Secret,
}

/// A registered endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(serialize_with = "roster_core::public_id::ser::endpoint")]
    pub id: String,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `None`: every event type.
    pub event_types: Option<Vec<EventType>>,
    pub created_at: Timestamp,
    /// Set when deleted: nothing more is delivered to it.
    pub disabled_at: Option<Timestamp>,
    /// The outbox position delivered (or dead-lettered, or skipped) last.
    pub cursor: u64,
}

impl Endpoint {
    /// Whether the endpoint asked for events of this type.
    pub fn wants(&self, kind: EventType) -> bool {
        self.event_types.as_ref().is_none_or(|types| types.contains(&kind))
    }
}

/// Whether an event dead letter waits for a person or is being redelivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventDeadLetterState {
    Dead,
    Redriven,
}

/// An event an endpoint could not take after every attempt. Holds no
/// payload and no answer body: only ids, counts, a status and an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDeadLetter {
    #[serde(serialize_with = "roster_core::public_id::ser::dead_letter")]
    pub id: String,
    #[serde(serialize_with = "roster_core::public_id::ser::endpoint")]
    pub endpoint_id: String,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub event: OutboxEventRef,
    pub state: EventDeadLetterState,
    pub attempts: u32,
    /// The endpoint's last HTTP status, if it answered at all.
    pub last_status: Option<u16>,
    pub last_error: String,
    pub dead_lettered_at: Timestamp,
    /// While redriven: not before this time is it tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
}
