//! The scheduler: what happens because a day came, not because a record
//! arrived. A pending hire joins on their hire date, a notice period ends on
//! the termination date, an upload whose process died is marked failed, a
//! message the queue dead-lettered by itself is counted in its feed, old
//! bookkeeping is pruned, and a tenant whose deletion's grace period ended
//! is purged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use roster_core::{ChangeMessage, Clock, FeedId, TenantId};
use roster_queue::{DeadLetterFilter, Queue};
use roster_store::{StoreError, SweepStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::lease::Singleton;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often to look for due changes and stalled uploads.
    pub interval: Duration,
    /// A `receiving` feed without progress for this long is failed.
    pub stall_timeout: Duration,
    /// People changed per transaction, so a day with many starters does not
    /// hold the directory's writer for long.
    pub batch: usize,
    /// A sealed feed without progress for this long has its tenant's
    /// dead-letter queue searched for its messages: the queue moves some
    /// there by itself (receive limit, retention) without telling anyone.
    pub dead_letter_check_after: Duration,
    /// Applied-message ids and delivered events are kept this long (longer
    /// than any redelivery: the queue's retention is 14 days).
    pub retention: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(3600),
            batch: 500,
            dead_letter_check_after: Duration::from_secs(120),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// People whose status changed because their date came.
    pub due: u64,
    /// Uploads marked failed.
    pub stalled_feeds: u64,
    /// Dead letters of idle feeds handed to the directory to count as
    /// failed (it counts each once; one counted before is found again while
    /// its feed still waits for other messages).
    pub dead_letters_counted: u64,
    /// Rows of bookkeeping pruned.
    pub pruned: u64,
    /// Tenants whose deletion's grace period ended, purged.
    pub purged_tenants: u64,
}

/// Tenants purged per sweep at most (each is one transaction); the next
/// sweep goes on.
const PURGES_PER_SWEEP: usize = 4;

pub struct Scheduler {
    store: Arc<dyn SweepStore>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    queue: Option<Arc<dyn Queue>>,
    lease: Option<Arc<Singleton>>,
}

impl Scheduler {
    pub fn new(store: Arc<dyn SweepStore>, clock: Arc<dyn Clock>, config: SchedulerConfig) -> Self {
        Self { store, clock, config, queue: None, lease: None }
    }

    /// Sweeps only while this node holds `lease` (one scheduler per
    /// cluster: two would both fail a stalled feed's upload, both purge).
    pub fn with_lease(mut self, lease: Arc<Singleton>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// One sweep if this node holds the lease (taking it if it is free);
    /// `None` if another node holds it or the lease was lost mid-sweep.
    /// Without a lease, always sweeps.
    pub async fn run_leased(&self) -> Option<Result<SweepReport, StoreError>> {
        match &self.lease {
            None => Some(self.run_once().await),
            Some(lease) if lease.hold().await => lease.run(self.run_once()).await,
            Some(_) => None,
        }
    }

    /// Also counts in their feeds the messages the queue dead-lettered by
    /// itself.
    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Applies everything due now and fails stalled uploads.
    pub async fn run_once(&self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        loop {
            let n = self.store.apply_due(self.clock.now(), self.config.batch).await?;
            report.due += n;
            if n < self.config.batch as u64 {
                break;
            }
        }
        let now = self.clock.now();
        let idle_since = now.plus_millis(-(self.config.stall_timeout.as_millis() as i64));
        report.stalled_feeds = self.store.fail_stalled_feeds(idle_since, now).await?;
        if let Some(queue) = &self.queue {
            report.dead_letters_counted = self.count_dead_letters(queue.as_ref()).await?;
        }
        let before = now.plus_millis(-(self.config.retention.as_millis() as i64));
        let pruned = self.store.prune(before, now).await?;
        report.pruned =
            pruned.applied_messages + pruned.events + pruned.idempotency_keys + pruned.delivery_attempts;
        for tenant in self.store.purge_deleted_tenants(now, PURGES_PER_SWEEP).await? {
            report.purged_tenants += 1;
            tracing::info!(tenant = %tenant.id, "tenant purged: its deletion's grace period ended");
            // Its dead letters would otherwise wait for a redrive that can
            // never apply (the tenant is gone).
            if let Some(queue) = &self.queue
                && let Err(e) = queue.purge_dead_letters(Some(&tenant.id.to_string())).await
            {
                tracing::warn!(tenant = %tenant.id, error = %e, "could not purge a purged tenant's dead letters");
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                due = report.due,
                stalled_feeds = report.stalled_feeds,
                dead_letters_counted = report.dead_letters_counted,
                pruned = report.pruned,
                purged_tenants = report.purged_tenants,
                "scheduled sweep done"
            );
        }
        Ok(report)
    }

    /// For each feed that stopped making progress, looks for its messages in
    /// its tenant's dead-letter queue and counts them failed (once: the
    /// directory ignores a message it already counted or applied). Every
    /// path to the DLQ thus ends in the feed's counts, and the feed in a
    /// final state.
    async fn count_dead_letters(&self, queue: &dyn Queue) -> Result<u64, StoreError> {
        let idle_since =
            self.clock.now().plus_millis(-(self.config.dead_letter_check_after.as_millis() as i64));
        let idle = self.store.idle_feeds(idle_since, 100).await?;
        let mut by_tenant: HashMap<TenantId, HashSet<FeedId>> = HashMap::new();
        for (tenant, feed) in idle {
            by_tenant.entry(tenant).or_default().insert(feed);
        }
        let mut counted = 0;
        for (tenant, feeds) in by_tenant {
            let mut after = None;
            // Bounded per sweep; the next sweep goes on.
            for _ in 0..20 {
                let filter =
                    DeadLetterFilter { tenant: Some(tenant.to_string()), after: after.clone(), limit: 500 };
                let page = match queue.list_dead_letters(&filter).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "could not read the dead-letter queue");
                        break;
                    }
                };
                for dead in &page {
                    let Ok(change) = ChangeMessage::from_bytes(&dead.body) else { continue };
                    if change.tenant_id == tenant && feeds.contains(&change.feed_id) {
                        self.store.record_failure(&change, self.clock.now()).await?;
                        counted += 1;
                    }
                }
                if page.len() < 500 {
                    break;
                }
                after = page.last().map(|d| d.id.clone());
            }
        }
        Ok(counted)
    }

    /// Sweeps at start and then every `interval` until `shutdown` turns
    /// true (while it holds its lease, if it has one), then releases it.
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.config.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if let Some(Err(e)) = self.run_leased().await {
                            tracing::warn!(error = %e, "scheduled sweep failed; trying again next interval");
                        }
                    }
                    changed = shutdown.changed() => if changed.is_err() { break },
                }
                if *shutdown.borrow() {
                    break;
                }
            }
            if let Some(lease) = &self.lease {
                lease.release().await;
            }
        })
    }
}
