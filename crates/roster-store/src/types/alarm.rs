//! Alarm states as the directory records them: one row per rule name.

use roster_core::Timestamp;
use roster_core::alarm::AlarmState;

use crate::StoreError;

/// One alarm rule's recorded state: what the evaluator decided last, so
/// that the next holder of the `alarms` lease (or this node after a
/// restart) goes on from it instead of notifying a breach a second time.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    /// The rule's name (`AlarmRule::name`); rules are matched by it.
    pub rule: String,
    pub state: AlarmState,
    /// When `state` began.
    pub since: Timestamp,
    /// Why it is in that state, e.g. `dlq_depth = 3 > 0` (figures only).
    pub reason: String,
    /// When a notification was last due: the transition or the latest
    /// reminder.
    pub notified_at: Timestamp,
    /// Moves on by one with every write of the rule: 1 for its first.
    pub version: u64,
}

impl AlarmRecord {
    /// A record from an adapter's row, as every adapter stores it (the
    /// state by [`AlarmState::as_str`], times in epoch milliseconds); an
    /// unknown state is a corrupt row.
    pub fn from_row(
        rule: String,
        state: &str,
        since: i64,
        reason: String,
        notified_at: i64,
        version: i64,
    ) -> Result<Self, StoreError> {
        let state = AlarmState::parse(state)
            .ok_or_else(|| StoreError::Storage(format!("alarm_states: rule `{rule}`: unknown state")))?;
        Ok(Self {
            rule,
            state,
            since: Timestamp(since),
            reason,
            notified_at: Timestamp(notified_at),
            version: u64::try_from(version).unwrap_or(0),
        })
    }

    /// The version to write, as a database integer: `Invalid` for 0 (a
    /// rule's first write is version 1) or one past `i64::MAX`.
    pub fn version_to_write(&self) -> Result<i64, StoreError> {
        i64::try_from(self.version)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| StoreError::Invalid(format!("alarm `{}`: version must be 1 or more", self.rule)))
    }
}
