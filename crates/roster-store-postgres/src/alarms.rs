//! Alarm states: one row per rule, written by compare-and-set on its
//! version in one statement — an insert for a rule's first write (of
//! concurrent ones, the others find the row and do nothing), else an update
//! of the version before (a concurrent update waits for the row's lock,
//! then finds the version moved on and changes nothing).

use async_trait::async_trait;
use roster_store::{AlarmRecord, AlarmStateStore, StoreError};

use crate::conn::{PgDirectory, storage};

#[async_trait]
impl AlarmStateStore for PgDirectory {
    async fn alarm_states(&self) -> Result<Vec<AlarmRecord>, StoreError> {
        let rows: Vec<(String, String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT rule, state, since, reason, notified_at, version FROM alarm_states ORDER BY rule",
        )
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        rows.into_iter()
            .map(|(rule, state, since, reason, notified_at, version)| {
                AlarmRecord::from_row(rule, &state, since, reason, notified_at, version)
            })
            .collect()
    }

    async fn record_alarm_state(&self, next: &AlarmRecord) -> Result<bool, StoreError> {
        let version = next.version_to_write()?;
        let sql = if version == 1 {
            "INSERT INTO alarm_states (rule, state, since, reason, notified_at, version)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rule) DO NOTHING"
        } else {
            "UPDATE alarm_states SET state = $2, since = $3, reason = $4, notified_at = $5, version = $6
             WHERE rule = $1 AND version = $6 - 1"
        };
        let done = sqlx::query(sql)
            .bind(&next.rule)
            .bind(next.state.as_str())
            .bind(next.since.0)
            .bind(&next.reason)
            .bind(next.notified_at.0)
            .bind(version)
            .execute(self.pool())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }
}
