//! What a retention sweep removed.

/// What [`DueWork::prune`](crate::DueWork::prune) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub applied_messages: u64,
    pub events: u64,
    pub idempotency_keys: u64,
    /// Delivery attempts older than the retention period.
    pub delivery_attempts: u64,
}
