use async_trait::async_trait;
use roster_core::{ChangeMessage, Timestamp};

use crate::{ApplyOutcome, StoreError};

/// The one write path for people: every change to a person — a record from
/// a feed, a due date, a snapshot's deactivation — is written with its
/// history row and its outbox event the same way.
#[async_trait]
pub trait ChangeApplier: Send + Sync {
    /// Applies messages in order, each atomically with its history row, its
    /// outbox event and its feed's counts; one outcome per message, in the
    /// order given. A message id applied before yields `Duplicate` and
    /// changes nothing. `Err` means nothing of the batch was applied (retry
    /// it).
    ///
    /// Contract:
    /// - messages of one group (one person of one tenant) within a batch
    ///   are applied in the order given; whether a change is stale is
    ///   decided by feed order and the source's `lastModified`, never by
    ///   arrival order;
    /// - `StoreError::Unavailable`: retry the same batch unchanged; any
    ///   other error: the caller replays the messages one by one to find the
    ///   one that cannot be applied;
    /// - concurrent batches (other workers, other nodes) never lose an
    ///   update to a person, a feed's counts or a message's applied mark. An
    ///   adapter with concurrent writers takes its locks in a deterministic
    ///   order (feeds and people sorted), so two batches cannot deadlock.
    async fn apply_batch(
        &self,
        messages: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError>;

    /// Counts a message as failed in its feed (it went to the dead-letter
    /// queue). Idempotent per message id; a later successful apply of the
    /// same message (after a redrive) moves it from failed to applied.
    async fn record_failure(&self, message: &ChangeMessage, now: Timestamp) -> Result<(), StoreError>;
}
