//! The shared directory: the `roster_store::Directory` port over
//! PostgreSQL, so that many nodes and workers use one directory at once.
//!
//! **Work in progress (issue 16).** Done and proved by the conformance
//! suite (`tests/conformance.rs`): [`TenantStore`](roster_store::TenantStore),
//! [`CredentialStore`](roster_store::CredentialStore),
//! [`AuditLog`](roster_store::AuditLog), [`SourceStore`](roster_store::SourceStore),
//! [`Leases`](roster_store::Leases),
//! [`IdempotencyStore`](roster_store::IdempotencyStore) and `ping`. Not yet:
//! `FeedStore`, `ChangeApplier`, `DueWork`, `PeopleReader`, `Outbox`,
//! `EndpointStore`, `PlatformStats` — their methods are `unimplemented!`,
//! which nothing reaches: the composition root does not offer this adapter
//! (`roster serve` has no `--store postgres` yet), and the conformance test
//! enables only the finished cases.
//!
//! One file per concern trait, with the SQLite adapter's file names
//! (`tenants.rs`, `credentials.rs`, ...), plus `conn.rs` (the pool, error
//! classification) and `schema.rs` (migrations in `migrations/*.sql`).
//!
//! Migrations are not run by [`PgDirectory::connect`]: a deploy runs
//! [`PgDirectory::migrate`] (under an advisory lock, so two at once never
//! race), and `connect` refuses a database whose schema is older or newer
//! than this build's.
//!
//! Architecture invariant, as in the SQLite adapter: decisions are not made
//! here (`roster_core::lifecycle`, `roster_store::policy`,
//! `roster_store::limits` make them); this crate counts, reads and writes.

mod apply;
mod audit;
mod conn;
mod credentials;
mod due;
mod endpoints;
mod feeds;
mod idempotency;
mod leases;
mod outbox;
mod people;
mod schema;
mod snapshots;
mod sources;
mod stats;
mod tenants;

use async_trait::async_trait;
use roster_store::{Directory, StoreError};

pub use conn::{ConnectError, PgDirectory};
#[doc(hidden)]
pub use conn::{connect_one, storage as classify};
pub use schema::SCHEMA_VERSION;

#[async_trait]
impl Directory for PgDirectory {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await.map(|_| ()).map_err(conn::storage)
    }
}
