//! The `Directory` port: people, their history, feeds, tenants, credentials
//! and the outbox of lifecycle events. Adapters are crates of their own
//! (`roster-store-sqlite`); this crate holds no database driver.
//!
//! Layout: `types` holds the values the port passes, `ports` the traits (one
//! per concern, with [`Directory`] as all of them), `policy` and `limits`
//! the decisions and figures every adapter shares, `conformance` the suite
//! every adapter passes. Everything is re-exported here, so callers write
//! `roster_store::Feed`, `roster_store::ChangeApplier`.
//!
//! Architecture invariant: every query that reads or changes a tenant's data
//! takes the tenant id and filters by it here, in the store, not only in the
//! HTTP handlers. What a change *means* (events, changed fields) is decided by
//! `roster_core::lifecycle::decide`; adapters only read, call it and write.

pub mod conformance;
mod error;
pub mod limits;
pub mod policy;
mod ports;
mod types;

pub use error::StoreError;
pub use ports::*;
pub use types::*;

/// Every port trait, for calling their methods on a concrete adapter type
/// (`use roster_store::prelude::*;`); `dyn Directory` needs no import.
pub mod prelude {
    pub use crate::ports::{
        AlarmStateStore, AlarmStore, AuditLog, ChangeApplier, ConsoleSessionStore, CredentialStore,
        Directory, DueWork, EndpointStore, FeedStore, IdempotencyStore, IngestStore, Leases, Outbox,
        PeopleReader, PlatformStats, SourceStore, SweepStore, TenantStore,
    };
}
