//! The scheduler: what happens because a day came, not because a record
//! arrived. A pending hire joins on their hire date, a notice period ends on
//! the termination date, and an upload whose process died is marked failed.

use std::sync::Arc;
use std::time::Duration;

use roster_core::Clock;
use roster_store::{Directory, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often to look for due changes and stalled uploads.
    pub interval: Duration,
    /// A `receiving` feed without progress for this long is failed.
    pub stall_timeout: Duration,
    /// People changed per transaction, so a day with many starters does not
    /// hold the directory's writer for long.
    pub batch: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(60), stall_timeout: Duration::from_secs(3600), batch: 500 }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// People whose status changed because their date came.
    pub due: u64,
    /// Uploads marked failed.
    pub stalled_feeds: u64,
}

pub struct Scheduler {
    directory: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
}

impl Scheduler {
    pub fn new(directory: Arc<dyn Directory>, clock: Arc<dyn Clock>, config: SchedulerConfig) -> Self {
        Self { directory, clock, config }
    }

    /// Applies everything due now and fails stalled uploads.
    pub async fn run_once(&self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        loop {
            let n = self.directory.apply_due(self.clock.now(), self.config.batch).await?;
            report.due += n;
            if n < self.config.batch as u64 {
                break;
            }
        }
        let now = self.clock.now();
        let idle_since = now.plus_millis(-(self.config.stall_timeout.as_millis() as i64));
        report.stalled_feeds = self.directory.fail_stalled_feeds(idle_since, now).await?;
        if report != SweepReport::default() {
            tracing::info!(
                due = report.due,
                stalled_feeds = report.stalled_feeds,
                "scheduled changes applied"
            );
        }
        Ok(report)
    }

    /// Sweeps at start and then every `interval` until `shutdown` turns true.
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.config.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if let Err(e) = self.run_once().await {
                            tracing::warn!(error = %e, "scheduled sweep failed; trying again next interval");
                        }
                    }
                    changed = shutdown.changed() => if changed.is_err() { break },
                }
                if *shutdown.borrow() {
                    break;
                }
            }
        })
    }
}
