//! The admin console's sessions: one row per session, keyed by the hash of
//! its secret; a use moves `last_seen_at` in the statement that checks both
//! timeouts.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;
use roster_store::{ConsoleSession, ConsoleSessionStore, NewConsoleSession, StoreError, idle_ms};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, storage};

fn groups_json(groups: &[String]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".to_owned())
}

#[async_trait]
impl ConsoleSessionStore for SqliteDirectory {
    async fn create_console_session(&self, s: NewConsoleSession) -> Result<(), StoreError> {
        self.write(move |c| {
            match c.execute(
                "INSERT INTO console_sessions
                     (hash, subject, display_name, groups, created_at, last_seen_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    &s.hash[..],
                    s.subject,
                    s.display_name,
                    groups_json(&s.groups),
                    s.created_at.millis(),
                    s.expires_at.millis()
                ],
            ) {
                Ok(_) => Ok(()),
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    Err(StoreError::Conflict("a console session with this secret exists".into()))
                }
                Err(e) => Err(storage(e)),
            }
        })
        .await
    }

    async fn use_console_session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        idle: Duration,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let hash = *hash;
        let (now, idle) = (now.millis(), idle_ms(idle));
        self.write(move |c| {
            let found = c
                .prepare_cached(
                    "UPDATE console_sessions SET last_seen_at = max(last_seen_at, ?2)
                     WHERE hash = ?1 AND ?2 < expires_at AND ?2 < last_seen_at + ?3
                     RETURNING subject, display_name, groups, created_at, last_seen_at, expires_at",
                )
                .map_err(storage)?
                .query_row(params![&hash[..], now, idle], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()
                .map_err(storage)?;
            let Some((subject, display_name, groups, created_at, last_seen_at, expires_at)) = found else {
                // Timed out (or unknown): it never comes back.
                c.execute("DELETE FROM console_sessions WHERE hash = ?1", params![&hash[..]])
                    .map_err(storage)?;
                return Ok(None);
            };
            let groups = serde_json::from_str(&groups)
                .map_err(|e| StoreError::Storage(format!("console session groups: {e}")))?;
            Ok(Some(ConsoleSession {
                subject,
                display_name,
                groups,
                created_at: Timestamp(created_at),
                last_seen_at: Timestamp(last_seen_at),
                expires_at: Timestamp(expires_at),
            }))
        })
        .await
    }

    async fn delete_console_session(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let hash = *hash;
        self.write(move |c| {
            c.execute("DELETE FROM console_sessions WHERE hash = ?1", params![&hash[..]])
                .map(|_| ())
                .map_err(storage)
        })
        .await
    }

    async fn purge_console_sessions(&self, now: Timestamp, idle: Duration) -> Result<u64, StoreError> {
        let (now, idle) = (now.millis(), idle_ms(idle));
        self.write(move |c| {
            c.execute(
                "DELETE FROM console_sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1",
                params![now, idle],
            )
            .map(|n| n as u64)
            .map_err(storage)
        })
        .await
    }
}
