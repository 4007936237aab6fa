//! People as the directory holds them, their history, and what applying a change did.

use roster_core::lifecycle::{EventType, Status};
use roster_core::{FeedId, Person, SourceName, Timestamp};
use serde::Serialize;

/// A person as the directory holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRecord {
    #[serde(flatten)]
    pub person: Person,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(serialize_with = "roster_core::public_id::ser::feed_opt")]
    pub last_feed_id: Option<FeedId>,
    /// `pending` until a future hire date, then `active`; `inactive` once left.
    pub status: Status,
    /// The person's `manager` names nobody in the directory yet: kept as
    /// sent, and cleared when that manager arrives.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manager_pending: bool,
    /// The source the person belongs to: the one whose feed last wrote or
    /// listed them. Its full snapshots are the ones that can deactivate
    /// them by leaving them out.
    pub source: SourceName,
}

/// One version of a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub version: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::feed")]
    pub feed_id: FeedId,
    pub message_id: String,
    pub event: Option<EventType>,
    pub changed_fields: Vec<String>,
    /// The new values of the changed fields.
    pub changes: serde_json::Value,
    pub at: Timestamp,
}

/// What applying one message did.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyOutcome {
    /// The person was written: a history row and, if any, an event.
    Applied { event: Option<EventType> },
    /// Nothing to write.
    Unchanged,
    /// The stored person is newer than this change (by the source's
    /// `lastModified`): skipped and counted.
    Stale,
    /// This message was applied before: nothing changed this time.
    Duplicate,
    /// It can never be applied (e.g. its feed or tenant is unknown): the
    /// caller dead-letters it.
    Rejected(String),
}
