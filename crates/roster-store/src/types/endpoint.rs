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

/// What a `PATCH` of an endpoint changes; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointUpdate {
    /// A new URL, checked by the caller like a new endpoint's.
    pub url: Option<String>,
    /// `Some(None)`: no description any more.
    pub description: Option<Option<String>>,
    /// `Some(None)`: every event type.
    pub event_types: Option<Option<Vec<EventType>>>,
    /// `Some(true)` re-enables a disabled endpoint (within the tenant's
    /// limit of active ones): its cursor moves to the head of the outbox,
    /// as a new endpoint's does — a replay sends what it missed.
    /// `Some(false)` disables it.
    pub enabled: Option<bool>,
}

/// Where a replay moves an endpoint's cursor back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    /// An outbox position: events after it are sent again.
    Position(u64),
    /// The tenant's event with this id (the store's own, without `evt_`):
    /// the events after it are sent again.
    Event(String),
}

/// How an attempt to deliver an event ended, by class (never the body the
/// endpoint answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A 2xx.
    Delivered,
    /// Another HTTP status.
    Status,
    /// Not reached, or no answer in time.
    Unreachable,
    /// The endpoint's host is internal and private targets are not allowed.
    NotPublic,
    /// The URL or secret cannot work.
    Config,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Status => "status",
            Self::Unreachable => "unreachable",
            Self::NotPublic => "not_public",
            Self::Config => "config",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Status, Self::Unreachable, Self::NotPublic, Self::Config]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One attempt to deliver an event to an endpoint, as the dispatcher
/// records it. No payload, no URL, no answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeliveryAttempt {
    pub endpoint_id: String,
    pub event: OutboxEventRef,
    /// 1 for the first attempt at this event (redeliveries continue the count).
    pub attempt: u32,
    pub at: Timestamp,
    pub duration_ms: u64,
    pub status: Option<u16>,
    pub outcome: AttemptOutcome,
}

/// A recorded delivery attempt (the attempt log of an endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// The attempt's position in the log, for paging.
    #[serde(skip)]
    pub seq: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::endpoint")]
    pub endpoint_id: String,
    pub event: OutboxEventRef,
    pub attempt: u32,
    pub at: Timestamp,
    pub duration_ms: u64,
    /// The endpoint's HTTP status, if it answered.
    pub status: Option<u16>,
    pub outcome: AttemptOutcome,
}
