//! The `Directory` port: people, their history, feeds, tenants, credentials
//! and the outbox of lifecycle events — and its SQLite adapter.
//!
//! Architecture invariant: every query that reads or changes a tenant's data
//! takes the tenant id and filters by it here, in the store, not only in the
//! HTTP handlers. What a change *means* (events, changed fields) is decided by
//! `roster_core::lifecycle::decide`; adapters only read, call it and write.

use async_trait::async_trait;
use roster_core::lifecycle::EventType;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, Person, RecordError, TenantId, Timestamp};
use serde::Serialize;

pub mod conformance;
pub mod sqlite;

pub use sqlite::SqliteDirectory;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// An API key to store. Only the SHA-256 hash of the secret is kept.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub tenant_id: TenantId,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    pub hash: [u8; 32],
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Timestamp>,
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub tenant_id: TenantId,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// Where a feed is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// Durably queued; nothing applied yet.
    Accepted,
    /// Some changes applied, some not yet.
    Processing,
    /// Every change applied (or found unchanged / stale).
    Completed,
    /// Done, but some records were rejected at ingest or failed to apply.
    CompletedWithErrors,
    /// Ingest could not queue it; nothing of it was queued.
    Failed,
}

impl FeedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::Accepted => "accepted",
            FeedStatus::Processing => "processing",
            FeedStatus::Completed => "completed",
            FeedStatus::CompletedWithErrors => "completed_with_errors",
            FeedStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FeedStatus::Accepted,
            FeedStatus::Processing,
            FeedStatus::Completed,
            FeedStatus::CompletedWithErrors,
            FeedStatus::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A feed to record at ingest, before its messages are queued.
#[derive(Debug, Clone)]
pub struct NewFeed {
    pub id: FeedId,
    pub tenant_id: TenantId,
    pub mode: FeedMode,
    /// `json`, later `csv`, `scim`.
    pub format: String,
    /// Records in the submission.
    pub received: u64,
    /// Records queued as messages.
    pub accepted: u64,
    /// Field-level errors of the rejected records (stored capped).
    pub rejections: Vec<RecordError>,
    pub created_at: Timestamp,
}

/// Counts of what became of a feed's accepted records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedCounts {
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Changes that wrote to the directory.
    pub applied: u64,
    /// Changes that matched what the directory held already.
    pub unchanged: u64,
    /// Changes older than what the directory held (skipped).
    pub stale: u64,
    /// Changes dead-lettered.
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub id: FeedId,
    pub tenant_id: TenantId,
    pub mode: FeedMode,
    pub format: String,
    pub status: FeedStatus,
    pub counts: FeedCounts,
    pub rejections: Vec<RecordError>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// A person as the directory holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRecord {
    #[serde(flatten)]
    pub person: Person,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_feed_id: Option<FeedId>,
}

/// One version of a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub version: u64,
    pub feed_id: FeedId,
    pub message_id: String,
    pub event: Option<EventType>,
    pub changed_fields: Vec<String>,
    /// The new values of the changed fields.
    pub changes: serde_json::Value,
    pub at: Timestamp,
}

/// A lifecycle event waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    /// Position in the tenant's outbox; increases with each event.
    pub seq: u64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub tenant_id: TenantId,
    pub feed_id: FeedId,
    pub occurred_at: Timestamp,
    /// The event as sinks receive it (`roster_core::LifecycleEvent`).
    pub payload: serde_json::Value,
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

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is malformed (e.g. a cursor this store did not issue).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Temporary: the store is busy or unreachable. Retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Storage(String),
}

/// The directory of people and everything around it.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    // --- tenants and credentials ---

    /// Fails with `Conflict` if the name is taken.
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKeyInfo, StoreError>;
    /// The key with this hash, if it is neither revoked nor expired at `now`;
    /// records `now` as its last use.
    async fn authenticate_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ApiKeyInfo>, StoreError>;

    // --- feeds ---

    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError>;
    /// Marks a feed whose messages could not be queued.
    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError>;
    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError>;
    async fn list_feeds(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError>;

    // --- applying changes ---

    /// Applies messages in order, each atomically with its history row, its
    /// outbox event and its feed's counts; one outcome per message. A message
    /// id applied before yields `Duplicate` and changes nothing. `Err` means
    /// nothing of the batch was applied (retry it).
    async fn apply_batch(
        &self,
        messages: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError>;

    /// Counts a message as failed in its feed (it went to the dead-letter
    /// queue). Idempotent per message id; a later successful apply of the
    /// same message (after a redrive) moves it from failed to applied.
    async fn record_failure(&self, message: &ChangeMessage, now: Timestamp) -> Result<(), StoreError>;

    // --- reads ---

    async fn get_person(&self, tenant: TenantId, id: &ExternalId)
    -> Result<Option<PersonRecord>, StoreError>;
    /// People ordered by external id.
    async fn list_people(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError>;
    /// Oldest version first.
    async fn person_history(
        &self,
        tenant: TenantId,
        id: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Events with `seq > after`, oldest first.
    async fn list_events(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
}
