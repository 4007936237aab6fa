use std::time::Duration;

use async_trait::async_trait;

use crate::{Lease, StoreError};

/// Named leases for jobs that must run once per cluster (the scheduler, the
/// outbox dispatcher, the alarm evaluator, ...): one holder at a time, and a
/// holder that dies loses its lease when it expires, so another takes over
/// within a bounded time. Taken by `roster_engine::lease::Singleton`.
///
/// Contract: time is the **store's** clock (the database's `now`), never
/// the caller's, so nodes whose clocks disagree still agree on who holds a
/// lease. Of concurrent `acquire`s of a free lease, exactly one succeeds.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `holder` for `ttl`, if nobody holds it or
    /// its holding has expired; `None` while anyone holds it — `holder` too
    /// (a holder extends with [`renew`](Leases::renew)).
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError>;
    /// Extends a holding to `ttl` from now. `None` if it is lost: expired
    /// (whether or not another holder took it since) or released.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError>;
    /// Gives the holding up at once. Releasing a holding that is lost
    /// changes nothing (it never ends another holder's).
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;
}
