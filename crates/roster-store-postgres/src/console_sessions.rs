//! The admin console's sessions: one row per session, keyed by the hash of
//! its secret; a use moves `last_seen_at` in the statement that checks both
//! timeouts, so of a use and an expiry on two nodes one wins.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;
use roster_store::{ConsoleSession, ConsoleSessionStore, NewConsoleSession, StoreError, idle_ms};
use sqlx::Row;

use crate::conn::{PgDirectory, is_unique_violation, storage};

#[async_trait]
impl ConsoleSessionStore for PgDirectory {
    async fn create_console_session(&self, s: NewConsoleSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions
                 (hash, subject, display_name, groups, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(&s.hash[..])
        .bind(&s.subject)
        .bind(&s.display_name)
        .bind(&s.groups)
        .bind(s.created_at.millis())
        .bind(s.expires_at.millis())
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("a console session with this secret exists".into())
            } else {
                storage(e)
            }
        })
    }

    async fn use_console_session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        idle: Duration,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "UPDATE console_sessions SET last_seen_at = greatest(last_seen_at, $2)
             WHERE hash = $1 AND $2 < expires_at AND $2 < last_seen_at + $3
             RETURNING subject, display_name, groups, created_at, last_seen_at, expires_at",
        )
        .bind(&hash[..])
        .bind(now.millis())
        .bind(idle_ms(idle))
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        let Some(r) = row else {
            // Timed out (or unknown): it never comes back.
            self.delete_console_session(hash).await?;
            return Ok(None);
        };
        Ok(Some(ConsoleSession {
            subject: r.try_get(0).map_err(storage)?,
            display_name: r.try_get(1).map_err(storage)?,
            groups: r.try_get(2).map_err(storage)?,
            created_at: Timestamp(r.try_get(3).map_err(storage)?),
            last_seen_at: Timestamp(r.try_get(4).map_err(storage)?),
            expires_at: Timestamp(r.try_get(5).map_err(storage)?),
        }))
    }

    async fn delete_console_session(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE hash = $1")
            .bind(&hash[..])
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn purge_console_sessions(&self, now: Timestamp, idle: Duration) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at + $2 <= $1")
            .bind(now.millis())
            .bind(idle_ms(idle))
            .execute(self.pool())
            .await
            .map(|r| r.rows_affected())
            .map_err(storage)
    }
}
