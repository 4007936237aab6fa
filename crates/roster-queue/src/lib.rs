//! The `Queue` port: Amazon SQS semantics whatever the backend.
//!
//! Architecture invariant: this crate knows nothing of people, feeds or HR
//! data. A message is an id, an ordering group, a tenant tag and opaque bytes.
//!
//! Semantics every adapter keeps (checked by [`conformance`]):
//! - `send_batch` is atomic and durable when it returns; a message whose id was
//!   sent within the deduplication window is dropped, as SQS FIFO does.
//! - `receive` hides each returned message for the visibility timeout and bumps
//!   its receive count; a message not deleted in time becomes visible again.
//! - Messages of one group are delivered in send order, and never while an
//!   earlier message of the group is in flight or delayed.
//! - A message received more than `max_receive_count` times moves to the
//!   dead-letter queue, with its receive count, first/last receive times and
//!   the last error text; so does one older than the retention period.
//! - Dead letters can be listed, shown, redriven to the source queue and purged;
//!   showing one and redriving by id are scoped by the tenant tag, so a caller
//!   can never reach another tenant's message by guessing its id.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;

pub mod conformance;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqs")]
pub mod sqs;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteQueue, SqliteQueueConfig};
#[cfg(feature = "sqs")]
pub use sqs::{SqsConfig, SqsQueue};

/// The longest ordering group id (SQS FIFO's limit); every adapter refuses longer.
pub const MAX_GROUP_ID_LEN: usize = 128;

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Unique id; also the deduplication id.
    pub id: String,
    /// Ordering group (at most 128 printable ASCII characters).
    pub group_id: String,
    /// The tenant the message belongs to, so dead letters can be scoped.
    pub tenant: String,
    pub body: Vec<u8>,
    /// Hidden for this long after sending (SQS `DelaySeconds`).
    pub delay: Duration,
}

/// Opaque token that names one receipt of one message.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ReceiptHandle(pub String);

/// A message as a consumer receives it.
#[derive(Clone)]
pub struct ReceivedMessage {
    pub id: String,
    pub group_id: String,
    pub tenant: String,
    pub body: Vec<u8>,
    pub receipt: ReceiptHandle,
    /// How many times it has been received, this time included (≥ 1).
    pub receive_count: u32,
    pub sent_at: Timestamp,
    pub first_received_at: Timestamp,
}

impl std::fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body is a tenant's data: never printed.
        f.debug_struct("ReceivedMessage")
            .field("id", &self.id)
            .field("receive_count", &self.receive_count)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveRequest {
    /// At most this many messages (1..=10 on SQS; adapters may allow more).
    pub max_messages: usize,
    pub visibility_timeout: Duration,
    /// Long polling: wait up to this long for a first message.
    pub wait: Duration,
}

/// Result of a `send_batch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Messages stored.
    pub sent: usize,
    /// Messages dropped as duplicates of an id sent within the dedup window.
    pub duplicates: usize,
}

/// A message in the dead-letter queue.
#[derive(Clone)]
pub struct DeadLetter {
    pub id: String,
    pub group_id: String,
    pub tenant: String,
    pub body: Vec<u8>,
    pub receive_count: u32,
    pub sent_at: Timestamp,
    pub first_received_at: Option<Timestamp>,
    pub last_received_at: Option<Timestamp>,
    pub dead_lettered_at: Timestamp,
    /// Why it was dead-lettered (the last error, or the rule that moved it).
    pub reason: String,
}

impl std::fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("id", &self.id)
            .field("receive_count", &self.receive_count)
            .field("reason", &self.reason)
            .finish()
    }
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only ids greater than this (paging; ids sort by time of sending).
    pub after: Option<String>,
    /// At most this many (adapters cap it).
    pub limit: usize,
}

/// Which dead letters to move back to the source queue.
#[derive(Debug, Clone)]
pub enum Redrive {
    /// Every dead letter (of one tenant, or of all for the platform's operator).
    All { tenant: Option<String> },
    /// These ids, if they are the tenant's: another tenant's dead letter is
    /// left where it is, as if the id did not exist.
    Ids { tenant: String, ids: Vec<String> },
}

/// The numbers CloudWatch shows for an SQS queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// `ApproximateNumberOfMessagesVisible`
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`
    pub delayed: u64,
    /// Visible messages of the dead-letter queue.
    pub dead_letters: u64,
    /// `ApproximateAgeOfOldestMessage`, if the queue holds any.
    pub oldest_age: Option<Duration>,
}

impl QueueStats {
    /// Everything the queue holds outside the DLQ.
    pub fn depth(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Temporary: busy store, network. Retry.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The receipt handle is stale (the message was received again since,
    /// or deleted).
    #[error("receipt handle is no longer valid")]
    InvalidReceipt,
    /// The request breaks a limit of the queue (batch size, message size...).
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("queue storage error: {0}")]
    Storage(String),
}

/// A durable queue with SQS semantics.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Stores all messages atomically and durably, or none.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<SendOutcome, QueueError>;

    /// Receives up to `max_messages`, waiting up to `wait` for the first.
    async fn receive(&self, req: ReceiveRequest) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Acknowledges messages; a stale receipt is ignored (the message will be
    /// received again and applying it again changes nothing).
    async fn delete_batch(&self, receipts: &[ReceiptHandle]) -> Result<(), QueueError>;

    /// Makes a received message visible again after `timeout` (0 = now).
    async fn change_visibility(
        &self,
        receipt: &ReceiptHandle,
        timeout: Duration,
        last_error: Option<&str>,
    ) -> Result<(), QueueError>;

    /// Moves a received message to the dead-letter queue at once (a permanent
    /// error: it can never be applied). Fails with `InvalidReceipt` if it was
    /// received again since.
    async fn dead_letter(&self, message: &ReceivedMessage, reason: &str) -> Result<(), QueueError>;

    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, QueueError>;

    /// The tenant's dead letter with this id; `None` if there is none, or if
    /// it belongs to another tenant (the caller cannot tell the two apart).
    async fn get_dead_letter(&self, tenant: &str, id: &str) -> Result<Option<DeadLetter>, QueueError>;

    /// Moves dead letters back to the source queue with a fresh receive
    /// count; returns how many moved.
    async fn redrive(&self, which: &Redrive) -> Result<u64, QueueError>;

    /// Deletes dead letters (all, or a tenant's); returns how many.
    async fn purge_dead_letters(&self, tenant: Option<&str>) -> Result<u64, QueueError>;

    async fn stats(&self) -> Result<QueueStats, QueueError>;
}
