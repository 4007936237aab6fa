//! The shared directory: the `roster_store::Directory` port over
//! PostgreSQL, so that many nodes and workers use one directory at once.
//!
//! Every concern trait of the port is implemented and proved by the whole
//! conformance suite (`tests/conformance.rs`, the port's
//! `directory_conformance_tests!`), plus concurrency tests of the promises
//! only a shared directory has to keep. The composition root offers it as
//! `store = "postgres"`.
//!
//! How concurrent writers keep the contracts one SQLite writer gives for
//! free (see `apply.rs` and `snapshots.rs`): a batch locks its people
//! (transaction advisory locks, sorted), then its tenants' feed locks
//! (sorted), then writes its events and adds its counts in SQL; everything
//! that changes a feed's status or writes events holds the tenant's feed
//! lock to commit, so snapshots are reconciled exactly once and a tenant's
//! events (and feed positions) are numbered in commit order.
//!
//! One file per concern trait, with the SQLite adapter's file names
//! (`tenants.rs`, `credentials.rs`, ...), plus `snapshots.rs` (full
//! snapshot reconciliation), `conn.rs` (the pool, error classification) and
//! `schema.rs` (migrations in `migrations/*.sql`).
//!
//! Migrations are not run by [`PgDirectory::connect`]: a deploy runs
//! [`PgDirectory::migrate`] (under an advisory lock, so two at once never
//! race), and `connect` refuses a database whose schema is older or newer
//! than this build's.
//!
//! Architecture invariant, as in the SQLite adapter: decisions are not made
//! here (`roster_core::lifecycle`, `roster_store::policy`,
//! `roster_store::limits` make them); this crate counts, reads and writes.

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
mod rate;
mod schema;
mod snapshots;
mod sources;
mod stats;
mod tenants;

use async_trait::async_trait;
use roster_store::{Directory, StoreError};

pub use conn::{ConnectError, DEFAULT_STATEMENT_TIMEOUT, PgDirectory};
#[doc(hidden)]
pub use conn::{connect_one, storage as classify};
pub use schema::SCHEMA_VERSION;

#[async_trait]
impl Directory for PgDirectory {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await.map(|_| ()).map_err(conn::storage)
    }
}
