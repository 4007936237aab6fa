//! The port, split by concern: one trait per part of the directory, each
//! taken alone by the service that needs only it (the consumer an
//! `Arc<dyn ChangeApplier>`, the scheduler a [`SweepStore`], ...), and
//! [`Directory`], all of them together, which adapters implement and the
//! composition root passes around. `Arc<dyn Directory>` coerces to any of
//! the narrow traits (trait upcasting).
//!
//! Contract common to every method: tenant data is read and written only
//! under the tenant id given (the store filters by it, not only the HTTP
//! handlers), and a `StoreError::Unavailable` means "nothing happened:
//! retry the same call unchanged" (see [`StoreError`](crate::StoreError)).

mod alarms;
mod apply;
mod audit;
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
mod sources;
mod stats;
mod tenants;

use async_trait::async_trait;

pub use alarms::AlarmStateStore;
pub use apply::ChangeApplier;
pub use audit::AuditLog;
pub use console_sessions::{ConsoleSessionStore, idle_ms};
pub use credentials::{Credential, CredentialStore, LAST_USED_GRANULARITY_MS};
pub use due::DueWork;
pub use endpoints::EndpointStore;
pub use feeds::FeedStore;
pub use idempotency::IdempotencyStore;
pub use leases::Leases;
pub use outbox::Outbox;
pub use people::PeopleReader;
pub use rate::RateBuckets;
pub use sources::SourceStore;
pub use stats::PlatformStats;
pub use tenants::TenantStore;

use crate::StoreError;

/// What ingest uses: feeds, the sources' settings and the people a feed
/// names as managers. A named supertrait
/// (not only a blanket impl) so that `dyn Directory` upcasts to it.
pub trait IngestStore: FeedStore + SourceStore + PeopleReader {}
impl<T: FeedStore + SourceStore + PeopleReader + ?Sized> IngestStore for T {}

/// What the scheduler's sweep uses: the system jobs, counting in their
/// feeds the messages the queue dead-lettered by itself, and purging the
/// tenants whose deletion's grace period ended.
pub trait SweepStore: DueWork + ChangeApplier + TenantStore {}
impl<T: DueWork + ChangeApplier + TenantStore + ?Sized> SweepStore for T {}

/// What the alarm evaluator uses: the platform figures its rules measure,
/// and the rules' recorded states.
pub trait AlarmStore: PlatformStats + AlarmStateStore {}
impl<T: PlatformStats + AlarmStateStore + ?Sized> AlarmStore for T {}

/// The directory of people and everything around it: every concern trait.
#[async_trait]
pub trait Directory:
    TenantStore
    + CredentialStore
    + AuditLog
    + SourceStore
    + FeedStore
    + IdempotencyStore
    + ChangeApplier
    + DueWork
    + PeopleReader
    + Outbox
    + EndpointStore
    + PlatformStats
    + Leases
    + AlarmStateStore
    + ConsoleSessionStore
    + IngestStore
    + SweepStore
    + AlarmStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}
