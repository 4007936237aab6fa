use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;

use crate::{ConsoleSession, NewConsoleSession, StoreError};

/// The admin console's sign-in sessions, kept server-side so that signing
/// out (or an operator) ends one for every node at once. Only the hash of a
/// session's secret is stored. Not tenant data: one person's session may
/// open several tenants.
///
/// Contract: a session is live while `now < expires_at` (absolute timeout)
/// and `now < last_seen_at + idle` (idle timeout); a session that is not
/// live is never returned again, even if a later call passes a longer idle.
#[async_trait]
pub trait ConsoleSessionStore: Send + Sync {
    /// Stores a new session. `Conflict` if one with this hash exists.
    async fn create_console_session(&self, session: NewConsoleSession) -> Result<(), StoreError>;
    /// The live session with this hash, its `last_seen_at` moved to `now`
    /// (one statement: of a use and an expiry, one wins). `None` when there
    /// is none, or it timed out — which deletes it.
    async fn use_console_session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        idle: Duration,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a session (sign-out, rotation at sign-in). Ending an unknown
    /// one changes nothing.
    async fn delete_console_session(&self, hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Deletes the sessions past their absolute timeout at `now` or idle
    /// for `idle`; how many.
    async fn purge_console_sessions(&self, now: Timestamp, idle: Duration) -> Result<u64, StoreError>;
}

/// `idle` in milliseconds, for the adapters' SQL.
pub fn idle_ms(idle: Duration) -> i64 {
    i64::try_from(idle.as_millis()).unwrap_or(i64::MAX / 4)
}
