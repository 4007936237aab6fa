//! The embedded directory: the `roster_store::Directory` port over one
//! SQLite file (WAL, `synchronous=FULL`). One writer connection and one
//! reader connection; WAL lets reads run while the consumer writes.
//!
//! One file per concern trait of the port, with the same names an adapter
//! for another database uses (`tenants.rs`, `credentials.rs`, `audit.rs`,
//! `sources.rs`, `feeds.rs`, `idempotency.rs`, `apply.rs`, `due.rs`,
//! `people.rs`, `outbox.rs`, `endpoints.rs`, `stats.rs`, `leases.rs`,
//! `console_sessions.rs`), plus the SQLite
//! parts: `conn.rs` (connections), `rows.rs` (row mappers), `schema.rs`
//! (migrations), and the write primitives the concerns share
//! (`snapshots.rs`, `retention.rs`).
//!
//! Architecture invariant: decisions are not made here. What a change means
//! comes from `roster_core::lifecycle::decide`, a feed's status and a
//! snapshot's judgement from `roster_store::policy`, limits from
//! `roster_store::limits`; this crate counts, reads and writes.

mod alarms;
mod apply;
mod audit;
mod conn;
mod console_sessions;
mod credentials;
mod due;
mod endpoints;
mod feeds;
mod idempotency;
mod leases;
mod outbox;
mod people;
mod retention;
mod rows;
mod schema;
mod snapshots;
mod sources;
mod stats;
mod tenants;

use async_trait::async_trait;
use roster_store::{Directory, StoreError};

pub use conn::SqliteDirectory;
// The helpers the concern modules share, reachable as `super::…`.
use conn::{immediate, storage};
use roster_store::limits::{IDEMPOTENCY_TTL_MS, MAX_PAGE};
use rows::*;

#[async_trait]
impl Directory for SqliteDirectory {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(storage)).await
    }
}
