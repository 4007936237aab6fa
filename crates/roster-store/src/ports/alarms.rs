use async_trait::async_trait;

use crate::{AlarmRecord, StoreError};

/// The alarm rules' states, shared by every evaluator of a cluster: the
/// holder of the `alarms` lease records each transition here before it
/// notifies, and a node that takes the lease over (or starts again) loads
/// them, so an alarm still breached is not notified twice.
///
/// Contract: a write is a compare-and-set on the rule's version. Two
/// evaluators that both believe they hold the lease (one's lease expired
/// mid-pass) and both saw version N can both try N+1; exactly one write
/// lands, and only its writer notifies.
#[async_trait]
pub trait AlarmStateStore: Send + Sync {
    /// Every rule's recorded state, by rule name; rules never recorded are
    /// absent (and so are none, in a new directory).
    async fn alarm_states(&self) -> Result<Vec<AlarmRecord>, StoreError>;

    /// Records `next` if the rule's stored version is `next.version - 1`
    /// (a rule never recorded is at version 0): `true` if it was written,
    /// `false` if another writer moved the rule on first (load the states
    /// again, and notify nothing). `Invalid` for version 0.
    async fn record_alarm_state(&self, next: &AlarmRecord) -> Result<bool, StoreError>;
}
