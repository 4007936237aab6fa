//! The `Directory` port: people, their history, feeds, tenants, credentials
//! and the outbox of lifecycle events — and its SQLite adapter.
//!
//! Architecture invariant: every query that reads or changes a tenant's data
//! takes the tenant id and filters by it here, in the store, not only in the
//! HTTP handlers. What a change *means* (events, changed fields) is decided by
//! `roster_core::lifecycle::decide`; adapters only read, call it and write.

use async_trait::async_trait;
use roster_core::lifecycle::{EventType, Status};
use roster_core::secret::Secret;
use roster_core::{
    ChangeMessage, ExternalId, FeedId, FeedMode, Person, RecordError, SourceName, TenantId, Timestamp,
};
use serde::Serialize;

pub mod conformance;
pub mod policy;
pub mod sqlite;

pub use sqlite::SqliteDirectory;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
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
    #[serde(serialize_with = "roster_core::public_id::ser::api_key")]
    pub id: String,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// An operator's credential: cross-tenant administration, never a tenant's data API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorKeyInfo {
    #[serde(serialize_with = "roster_core::public_id::ser::operator_key")]
    pub id: String,
    /// Who holds it (a person or a team), as shown in the audit log.
    pub name: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The section of the audit log that belongs to no tenant: operator keys
/// created and revoked, tenants created, tenants listed by an operator. It
/// is read with `list_audit(platform_log(), ..)` (`GET /v1/operator/audit`);
/// no tenant has this id.
pub fn platform_log() -> TenantId {
    TenantId::from(uuid::Uuid::nil())
}

/// One administrative action, as the append-only audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the log; increases with each entry.
    pub seq: u64,
    pub at: Timestamp,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    /// Who: `key:<id>` for an API key, `jwt:<client id>` for a token,
    /// `cli` for a command run beside the server.
    pub actor: String,
    /// What, e.g. `key.created`, `feed.approved`, `dlq.purged`.
    pub action: String,
    /// On what: an id or a source name, never personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub tenant_id: TenantId,
    pub actor: String,
    pub action: &'static str,
    pub target: Option<String>,
    pub request_id: Option<String>,
}

/// How a source treats a feed with invalid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Valid records go on; invalid ones are reported (the default).
    #[default]
    Partial,
    /// Any invalid record rejects the whole feed; nothing is queued.
    Strict,
}

impl Validation {
    pub fn as_str(self) -> &'static str {
        match self {
            Validation::Partial => "partial",
            Validation::Strict => "strict",
        }
    }
}

/// A source's settings, as an operator sets them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSettings {
    #[serde(default)]
    pub validation: Validation,
    /// The CSV mapping profile (`roster_core::mapping::MappingProfile`,
    /// kept as JSON here: the store does not interpret it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<serde_json::Value>,
    /// A full snapshot may deactivate at most this percentage of the
    /// source's active people without an operator's approval...
    #[serde(default = "default_threshold_percent")]
    pub deletion_threshold_percent: u8,
    /// ...or this many people, whichever is more.
    #[serde(default = "default_threshold_floor")]
    pub deletion_threshold_floor: u64,
}

fn default_threshold_percent() -> u8 {
    20
}

fn default_threshold_floor() -> u64 {
    5
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            validation: Validation::default(),
            mapping: None,
            deletion_threshold_percent: default_threshold_percent(),
            deletion_threshold_floor: default_threshold_floor(),
        }
    }
}

impl SourceSettings {
    /// Most leavers a snapshot may cause without approval, given how many
    /// active people the source has.
    pub fn allowed_leavers(&self, active: u64) -> u64 {
        (active * u64::from(self.deletion_threshold_percent.min(100)) / 100)
            .max(self.deletion_threshold_floor)
    }
}

/// One of a tenant's integration channels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub name: SourceName,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub settings: SourceSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a full snapshot's reconciliation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileState {
    /// Every record is processed, but a feed of the tenant accepted earlier
    /// is not finished yet: the snapshot is judged only after it, so that it
    /// decides against the directory as feed order left it.
    Waiting,
    /// Too many leavers: nothing deactivated until an operator decides.
    Halted,
    /// The absent people were deactivated (automatically or approved).
    Applied,
    /// An operator rejected the snapshot: nobody was deactivated.
    Rejected,
    /// Halted, then a newer snapshot of the same source was judged: this one
    /// can no longer be approved (nobody was deactivated by it).
    Superseded,
}

/// The outcome of comparing a full snapshot with the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    pub state: ReconcileState,
    /// Active people of the source when the snapshot was compared.
    pub active: u64,
    /// People of the source with a hire date still ahead: a snapshot does not
    /// judge them (exports of the current staff often leave future starters
    /// out); they join on their day unless the source deactivates them.
    #[serde(default)]
    pub pending: u64,
    /// Of those, the ones absent from the snapshot: the leavers it asks for.
    pub absent: u64,
    /// Most leavers allowed without approval.
    pub allowed: u64,
    /// Why it halted, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

/// Where a feed is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// Still being received (a streamed upload); not yet acknowledged.
    Receiving,
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
    /// A full snapshot whose leavers exceed the source's threshold: its
    /// records are applied, nobody is deactivated until an operator approves.
    Halted,
    /// A halted snapshot an operator rejected: nobody was deactivated.
    Rejected,
    /// A halted snapshot overtaken by a newer snapshot of its source before
    /// anyone decided: nobody was deactivated by it.
    Superseded,
}

impl FeedStatus {
    /// Whether the feed will change no more on its own: nothing of it is
    /// still arriving or waiting to be applied. A halted snapshot is settled
    /// too (its records are applied; only a decision remains).
    pub fn is_settled(self) -> bool {
        !matches!(self, FeedStatus::Receiving | FeedStatus::Accepted | FeedStatus::Processing)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::Receiving => "receiving",
            FeedStatus::Accepted => "accepted",
            FeedStatus::Processing => "processing",
            FeedStatus::Completed => "completed",
            FeedStatus::CompletedWithErrors => "completed_with_errors",
            FeedStatus::Failed => "failed",
            FeedStatus::Halted => "halted",
            FeedStatus::Rejected => "rejected",
            FeedStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FeedStatus::Receiving,
            FeedStatus::Accepted,
            FeedStatus::Processing,
            FeedStatus::Completed,
            FeedStatus::CompletedWithErrors,
            FeedStatus::Failed,
            FeedStatus::Halted,
            FeedStatus::Rejected,
            FeedStatus::Superseded,
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
    pub source: SourceName,
    pub mode: FeedMode,
    /// `json`, `csv` or `scim`.
    pub format: String,
    /// False while a streamed upload is still arriving: its counts are not
    /// final and a full snapshot is not reconciled until [`Directory::seal_feed`].
    pub sealed: bool,
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
    /// People a full snapshot deactivated because it did not list them.
    pub leavers: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    #[serde(serialize_with = "roster_core::public_id::ser::feed")]
    pub id: FeedId,
    /// The feed's place in the order feeds were accepted (increasing; gaps
    /// allowed). The directory decides by it, not by when a change happens
    /// to be applied: see `docs/ARCHITECTURE.md`, "The ordering model".
    pub position: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub source: SourceName,
    pub mode: FeedMode,
    pub format: String,
    pub status: FeedStatus,
    pub counts: FeedCounts,
    /// Full snapshots only, once all their records are processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<Reconciliation>,
    pub rejections: Vec<RecordError>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The final figures of a streamed feed, given when its last record is queued.
#[derive(Debug, Clone)]
pub struct FeedSeal {
    pub received: u64,
    pub accepted: u64,
    pub rejections: Vec<RecordError>,
    /// Rejected records beyond those kept in `rejections`.
    pub rejected: u64,
}

/// What a repeated `Idempotency-Key` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now claimed for this request.
    Claimed,
    /// The first request with this key has not finished.
    InProgress,
    /// The first request finished with this answer; replay it if the new
    /// request is the same (same fingerprint), refuse it otherwise.
    Completed { fingerprint: [u8; 32], status: u16, body: String, location: Option<String> },
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
    #[serde(serialize_with = "roster_core::public_id::ser::feed_opt")]
    pub last_feed_id: Option<FeedId>,
    /// `pending` until a future hire date, then `active`; `inactive` once left.
    pub status: Status,
    /// The person's `manager` names nobody in the directory yet: kept as
    /// sent, and cleared when that manager arrives.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manager_pending: bool,
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

/// What [`Directory::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub applied_messages: u64,
    pub events: u64,
    pub idempotency_keys: u64,
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
    /// The tenant's keys, newest first, revoked and expired ones included.
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes one of the tenant's keys, effective for the next request.
    /// Revoking a revoked key changes nothing. `NotFound` if the tenant has
    /// no key with this id.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        now: Timestamp,
    ) -> Result<ApiKeyInfo, StoreError>;
    /// The key with this hash, if it is neither revoked nor expired at `now`;
    /// records `now` as its last use.
    async fn authenticate_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ApiKeyInfo>, StoreError>;

    // --- operators ---

    /// Stores an operator key (only its hash).
    async fn create_operator_key(
        &self,
        name: &str,
        prefix: String,
        hash: [u8; 32],
        now: Timestamp,
    ) -> Result<OperatorKeyInfo, StoreError>;
    /// The operator key with this hash, unless revoked.
    async fn authenticate_operator_key(&self, hash: &[u8; 32])
    -> Result<Option<OperatorKeyInfo>, StoreError>;
    /// Every operator key, oldest first, revoked ones included.
    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError>;
    /// Revokes an operator key, effective for the next request. Revoking a
    /// revoked key changes nothing. `NotFound` if no key has this id.
    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError>;

    // --- audit log (append-only: there is no way to change or remove an entry) ---

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StoreError>;
    /// The tenant's entries with `seq > after`, oldest first.
    async fn list_audit(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    // --- feeds ---

    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError>;
    /// Records the external ids a full snapshot lists (called before the
    /// records are queued, in as many calls as the upload needs). People of
    /// the source not listed are the snapshot's leavers.
    async fn add_snapshot_members(
        &self,
        tenant: TenantId,
        feed: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Gives a streamed feed its final counts; from now on it completes (and
    /// a full snapshot reconciles) once all its records are processed.
    async fn seal_feed(
        &self,
        tenant: TenantId,
        feed: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError>;
    /// An operator's decision on a halted snapshot: approve deactivates the
    /// absent people (judged by feed order: nobody a newer feed listed),
    /// reject deactivates nobody. `Conflict` if not halted — including a
    /// snapshot `superseded` by a newer one of its source.
    async fn decide_snapshot(
        &self,
        tenant: TenantId,
        feed: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError>;
    /// Marks a feed whose messages could not be queued.
    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError>;
    /// Records that a feed still being received is alive (a streamed upload
    /// making progress), so the stall sweep leaves it. `Conflict` once the
    /// feed is no longer `receiving` (e.g. the sweep failed it).
    async fn touch_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError>;
    /// Sealed feeds still `accepted` or `processing` with no progress since
    /// `idle_since`, oldest first: the ones whose messages may have reached
    /// the dead-letter queue without the directory being told (the queue's
    /// own receive limit or retention).
    async fn idle_feeds(
        &self,
        idle_since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError>;
    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError>;
    async fn list_feeds(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError>;

    // --- sources ---

    /// The source's settings; `None` if it was never configured (defaults apply).
    async fn get_source(&self, tenant: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError>;
    async fn put_source(
        &self,
        tenant: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError>;
    async fn list_sources(&self, tenant: TenantId) -> Result<Vec<Source>, StoreError>;

    // --- idempotency keys ---

    /// Claims `key` for a new request, or says what the first request with
    /// the key did. Keys are kept for 24 hours. A claim whose request never
    /// finished (its process died) is given up after `hold`, which must be
    /// at least the longest a request may run (the upload timeout): before
    /// that a retry is `InProgress`, never run a second time.
    async fn claim_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        now: Timestamp,
        hold: std::time::Duration,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Stores the answer of a claimed key and the fingerprint of its request
    /// (never over an answer already stored).
    async fn complete_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: [u8; 32],
        status: u16,
        body: String,
        location: Option<String>,
    ) -> Result<(), StoreError>;
    /// Releases a claim whose request failed, so a retry can run.
    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<(), StoreError>;

    // --- retention ---

    /// Deletes bookkeeping older than `before` that no redelivery can need:
    /// applied-message ids (not those counted failed, whose dead letter may
    /// still be redriven), outbox events every endpoint of their tenant has
    /// passed and no event dead letter points at, and idempotency keys past
    /// their 24 hours (measured from `now`).
    async fn prune(&self, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError>;

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

    /// Applies the status changes that have fallen due by `now`'s date: a
    /// pending person whose hire date has come joins, an active person whose
    /// termination date has come leaves — each a new version with its event,
    /// caused by the feed that set the date. At most `limit` people per call;
    /// returns how many changed. Runs across tenants (a system job).
    async fn apply_due(&self, now: Timestamp, limit: usize) -> Result<u64, StoreError>;

    /// Marks failed the feeds still `receiving` with no progress since
    /// `idle_since`: their upload died with its process. Records already
    /// queued still apply; a full snapshot is then never reconciled.
    async fn fail_stalled_feeds(&self, idle_since: Timestamp, now: Timestamp) -> Result<u64, StoreError>;

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

    // --- webhook endpoints and their delivery (the outbox dispatcher) ---

    /// Registers an endpoint. Its cursor starts at the newest event in the
    /// outbox: events that happened before it existed are not sent to it.
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
    /// Every active endpoint of every tenant, with its secret (and its
    /// previous secret if still valid at `now`) and delivery state: the
    /// dispatcher's work list. A system read.
    async fn delivery_targets(&self, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError>;
    /// Records what became of the event after the endpoint's cursor. A
    /// `Done` or `DeadLetter` for a position the cursor has passed already
    /// changes nothing (another attempt recorded it first).
    async fn record_delivery(
        &self,
        endpoint_id: &str,
        update: DeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError>;
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
    /// Redriven dead letters of the endpoint due at `now`, oldest event first.
    async fn due_redeliveries(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError>;
    async fn record_redelivery(
        &self,
        dead_letter_id: &str,
        update: RedeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// What each active endpoint has not received yet, all tenants (a
    /// system read for `/metrics` and alarms).
    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError>;

    /// How many feeds are in each status, all tenants together (statuses
    /// with none are left out): for the `halted_feeds` alarm and the
    /// `roster_feeds` gauge. A system read, never shown to a tenant.
    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed's reconciliation is a JSON column: one an older build wrote,
    /// with integer milliseconds, still reads; this build writes RFC 3339.
    #[test]
    fn a_stored_reconciliation_of_an_older_build_decodes() {
        let old = r#"{"state":"applied","active":10,"absent":1,"allowed":2,"decidedAt":1700000000000}"#;
        let r: Reconciliation = serde_json::from_str(old).unwrap();
        assert_eq!(r.decided_at, Some(Timestamp(1_700_000_000_000)));
        let now = serde_json::to_value(&r).unwrap();
        assert_eq!(now["decidedAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(serde_json::from_value::<Reconciliation>(now).unwrap(), r);
    }
}
