//! Alarm states: one row per rule, written by compare-and-set on its
//! version (an insert for a rule's first write, else an update of the
//! version before).

use async_trait::async_trait;
use roster_store::{AlarmRecord, AlarmStateStore, StoreError};
use rusqlite::params;

use crate::conn::{SqliteDirectory, storage};

#[async_trait]
impl AlarmStateStore for SqliteDirectory {
    async fn alarm_states(&self) -> Result<Vec<AlarmRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT rule, state, since, reason, notified_at, version FROM alarm_states ORDER BY rule",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .map_err(storage)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            rows.into_iter()
                .map(|(rule, state, since, reason, notified_at, version)| {
                    AlarmRecord::from_row(rule, &state, since, reason, notified_at, version)
                })
                .collect()
        })
        .await
    }

    async fn record_alarm_state(&self, next: &AlarmRecord) -> Result<bool, StoreError> {
        let version = next.version_to_write()?;
        let next = next.clone();
        self.write(move |c| {
            let values = params![
                next.rule,
                next.state.as_str(),
                next.since.0,
                next.reason,
                next.notified_at.0,
                version
            ];
            let written = if version == 1 {
                c.prepare_cached(
                    "INSERT INTO alarm_states (rule, state, since, reason, notified_at, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (rule) DO NOTHING",
                )
                .map_err(storage)?
                .execute(values)
            } else {
                c.prepare_cached(
                    "UPDATE alarm_states SET state = ?2, since = ?3, reason = ?4, notified_at = ?5, version = ?6
                     WHERE rule = ?1 AND version = ?6 - 1",
                )
                .map_err(storage)?
                .execute(values)
            };
            Ok(written.map_err(storage)? == 1)
        })
        .await
    }
}
