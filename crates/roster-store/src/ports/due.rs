use async_trait::async_trait;
use roster_core::{FeedId, TenantId, Timestamp};

use crate::{PruneReport, StoreError};

/// The scheduler's system jobs: what happens because time passed, across
/// tenants. Besides the review's `apply_due` and `fail_stalled_feeds`, the
/// sweep's other reads and writes live here: `idle_feeds` (feeds whose
/// messages may have been dead-lettered by the queue) and `prune`
/// (retention).
///
/// Contract: each call is safe to run concurrently with itself and with
/// any other call (two nodes' schedulers at once): a due person changes
/// once, a feed is failed once, a row is pruned once.
#[async_trait]
pub trait DueWork: Send + Sync {
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

    /// Sealed feeds still `accepted` or `processing` with no progress since
    /// `idle_since`, oldest first: the ones whose messages may have reached
    /// the dead-letter queue without the directory being told (the queue's
    /// own receive limit or retention).
    async fn idle_feeds(
        &self,
        idle_since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError>;

    /// Deletes bookkeeping older than `before` that no redelivery can need:
    /// applied-message ids (not those counted failed, whose dead letter may
    /// still be redriven), outbox events every endpoint of their tenant has
    /// passed and no event dead letter points at, and idempotency keys past
    /// their 24 hours (measured from `now`).
    async fn prune(&self, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError>;
}
