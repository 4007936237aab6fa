//! The consumer: receive a batch, apply it to the directory, acknowledge what
//! was applied, retry what failed with backoff, dead-letter what never will.
//! What becomes of each message is decided in [`fate`] (shared with hosts
//! that answer their runtime instead of acting on the queue); this module
//! receives and carries the decisions out.
//!
//! Delivery is at least once; the directory makes a second apply of the same
//! message a no-op, so the effect is exactly once.

mod fate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use roster_core::{ChangeMessage, Clock};
use roster_queue::{Queue, QueueError, ReceiveRequest, ReceivedMessage};
use roster_store::{ChangeApplier, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

pub use self::fate::{Decided, Fate};
use crate::backoff::Backoff;
use crate::telemetry::{self, CycleCounts};

/// Why a test message (`ChangeMessage::probe`) is a dead letter.
pub const PROBE_REASON: &str = "a test message (POST /v1/dlq/test): dead-lettered on arrival, never applied; a redrive sends it round again, purge removes it";

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Concurrent receive/apply loops (0: none, an ingest-only node).
    pub workers: usize,
    /// Messages received and applied together.
    pub batch_size: usize,
    /// How long a received message stays hidden while it is applied.
    pub visibility_timeout: Duration,
    /// Long-poll wait of each receive.
    pub wait: Duration,
    pub backoff: Backoff,
    /// Attempts before a message that keeps failing is dead-lettered. Keep it
    /// equal to the queue's own `maxReceiveCount`.
    pub max_receive_count: u32,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            // Each apply commits once, and the commit's fsync (a few ms)
            // holds the directory's only writer: a thousand records share it.
            batch_size: 1000,
            visibility_timeout: Duration::from_secs(30),
            wait: Duration::from_secs(1),
            backoff: Backoff::default(),
            max_receive_count: 5,
        }
    }
}

/// What one cycle did, for tests and telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub received: usize,
    pub acknowledged: usize,
    pub retried: usize,
    pub dead_lettered: usize,
}

/// What the consumers of this process have settled since it started, for
/// the alarm evaluator's failure rate (it samples these cumulative counts and
/// takes differences over each rule's window).
#[derive(Debug, Default)]
pub struct ConsumerStats {
    applied: AtomicU64,
    dead_lettered: AtomicU64,
}

impl ConsumerStats {
    /// Messages acknowledged (applied, unchanged, stale or duplicate).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Messages moved to the dead-letter queue.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
}

/// A cycle's report and its per-tenant counts, filled in as it goes.
#[derive(Default)]
struct Tally {
    report: CycleReport,
    counts: CycleCounts,
}

/// The span of one message: every line logged while it is handled carries
/// its ids, so a record can be followed from its ingest request to its apply
/// by grepping the request id. Debug level: a span per message costs, and
/// the lines that matter at `info` (retries, dead letters) name the ids
/// themselves.
fn message_span(msg: &ReceivedMessage, change: Option<&ChangeMessage>) -> tracing::Span {
    match change {
        Some(c) => tracing::debug_span!(
            "message",
            message_id = %msg.id,
            tenant = %msg.tenant,
            feed_id = %c.feed_id,
            request_id = c.request_id.as_deref().unwrap_or("-"),
        ),
        None => tracing::debug_span!("message", message_id = %msg.id, tenant = %msg.tenant),
    }
}

pub struct Consumer {
    queue: Arc<dyn Queue>,
    applier: Arc<dyn ChangeApplier>,
    clock: Arc<dyn Clock>,
    config: ConsumerConfig,
    stats: Arc<ConsumerStats>,
}

impl Consumer {
    pub fn new(
        queue: Arc<dyn Queue>,
        applier: Arc<dyn ChangeApplier>,
        clock: Arc<dyn Clock>,
        config: ConsumerConfig,
    ) -> Self {
        Self { queue, applier, clock, config, stats: Arc::default() }
    }

    /// Cumulative counts of what this consumer settled.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        Arc::clone(&self.stats)
    }

    /// Starts the workers; each stops after its current cycle once
    /// `shutdown` turns true. A cycle is never cancelled half-way: a message
    /// received and then abandoned would stay hidden for its whole visibility
    /// timeout after a restart. Shutdown therefore waits at most one long-poll
    /// wait plus one batch.
    pub fn spawn(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..self.config.workers)
            .map(|worker| {
                let this = Arc::clone(&self);
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    while !*shutdown.borrow() {
                        if let Err(e) = this.run_once_until(&shutdown).await {
                            tracing::warn!(worker, error = %e, "consumer cycle failed; pausing");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    tracing::debug!(worker, "consumer worker stopped");
                })
            })
            .collect()
    }

    /// One receive → apply → acknowledge cycle.
    pub async fn run_once(&self) -> Result<CycleReport, QueueError> {
        let (_keep, never) = watch::channel(false);
        self.run_once_until(&never).await
    }

    /// One cycle; while the directory is unavailable it holds its batch
    /// until `shutdown` turns true.
    pub async fn run_once_until(&self, shutdown: &watch::Receiver<bool>) -> Result<CycleReport, QueueError> {
        let mut tally = Tally::default();
        let result = self.cycle(&mut tally, shutdown).await;
        let Tally { report, counts } = tally;
        counts.emit();
        self.stats.applied.fetch_add(report.acknowledged as u64, Ordering::Relaxed);
        self.stats.dead_lettered.fetch_add(report.dead_lettered as u64, Ordering::Relaxed);
        result.map(|()| report)
    }

    async fn cycle(&self, tally: &mut Tally, shutdown: &watch::Receiver<bool>) -> Result<(), QueueError> {
        let received = self
            .queue
            .receive(ReceiveRequest {
                max_messages: self.config.batch_size,
                visibility_timeout: self.config.visibility_timeout,
                wait: self.config.wait,
            })
            .await?;
        tally.report.received = received.len();
        if received.is_empty() {
            return Ok(());
        }
        for msg in &received {
            tally.counts.received(&msg.tenant);
        }
        let decided = self.decide(received, shutdown).await;
        self.carry_out(decided, tally).await;
        Ok(())
    }

    /// Does what was decided, on the queue: deletes what is done (in one
    /// call), delays what is retried, dead-letters what never applies,
    /// releases what was let go.
    async fn carry_out(&self, decided: Vec<Decided>, tally: &mut Tally) {
        let mut done = Vec::with_capacity(decided.len());
        let now = self.clock.now();
        let latency = telemetry::ingest_to_apply();
        for Decided { message: msg, change, fate } in decided {
            let span = message_span(&msg, change.as_ref());
            match fate {
                Fate::Acknowledge { outcome } => {
                    span.in_scope(|| tracing::debug!(outcome, "change applied"));
                    if let Some(change) = &change {
                        let waited = now.millis().saturating_sub(change.accepted_at.millis()).max(0);
                        latency.record(Duration::from_millis(waited as u64).as_secs_f64());
                    }
                    tally.counts.deleted(&msg.tenant);
                    done.push(msg.receipt.clone());
                }
                Fate::Retry { delay, error } => {
                    tally.report.retried += 1;
                    tally.counts.retried(&msg.tenant);
                    tracing::info!(message_id = %msg.id, tenant = %msg.tenant,
                        feed_id = change.as_ref().map(|c| tracing::field::display(c.feed_id)),
                        request_id = change.as_ref().and_then(|c| c.request_id.as_deref()),
                        attempt = msg.receive_count, delay_ms = delay.as_millis() as u64, "retrying message");
                    match self.queue.change_visibility(&msg.receipt, delay, Some(&error)).await {
                        Ok(()) | Err(QueueError::InvalidReceipt) => {}
                        Err(e) => tracing::warn!(message_id = %msg.id, error = %e, "could not delay retry"),
                    }
                }
                Fate::DeadLetter { reason } => {
                    self.dead_letter(&msg, change.as_ref(), &reason, tally).instrument(span).await;
                }
                Fate::Release { error } => {
                    if let Err(e) =
                        self.queue.change_visibility(&msg.receipt, Duration::ZERO, Some(&error)).await
                    {
                        tracing::warn!(message_id = %msg.id, error = %e, "could not release message");
                    }
                    tally.report.retried += 1;
                }
            }
        }
        tally.report.acknowledged += done.len();
        if let Err(e) = self.queue.delete_batch(&done).await {
            // The messages come back after their visibility timeout and are
            // found applied: nothing is lost or doubled.
            tracing::warn!(error = %e, "acknowledgement failed; messages will be redelivered");
        }
    }

    async fn dead_letter(
        &self,
        msg: &ReceivedMessage,
        change: Option<&ChangeMessage>,
        reason: &str,
        tally: &mut Tally,
    ) {
        // The feed counts the failure first: a feed must reach a final state
        // whatever happens next. Should the dead-letter itself then fail,
        // the message comes back, and its eventual apply moves the count from
        // failed to applied (the directory remembers which it counted).
        if let Some(change) = change
            && let Err(e) = self.record_failure(change).await
        {
            tracing::error!(message_id = %msg.id, error = %e,
                "could not count the failure in its feed; the message stays queued and is retried");
            let delay = self.config.backoff.delay(msg.receive_count);
            if let Err(e) = self.queue.change_visibility(&msg.receipt, delay, Some(reason)).await {
                tracing::warn!(message_id = %msg.id, error = %e, "could not delay retry");
            }
            tally.report.retried += 1;
            return;
        }
        tracing::warn!(message_id = %msg.id, tenant = %msg.tenant, feed_id = change.map(|c| tracing::field::display(c.feed_id)),
            request_id = change.and_then(|c| c.request_id.as_deref()), receive_count = msg.receive_count, reason, "message dead-lettered");
        match self.queue.dead_letter(msg, reason).await {
            Ok(()) => {
                tally.report.dead_lettered += 1;
                tally.counts.dead_lettered(&msg.tenant);
            }
            // Received again elsewhere meanwhile: that receipt decides.
            Err(QueueError::InvalidReceipt) => {}
            Err(e) => {
                tracing::error!(message_id = %msg.id, error = %e, "could not dead-letter; it will be redelivered");
            }
        }
    }

    /// `record_failure`, retried a few times: a busy directory must not
    /// leave a feed short of a count.
    async fn record_failure(&self, change: &ChangeMessage) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.applier.record_failure(change, self.clock.now()).await {
                Err(StoreError::Unavailable(_)) if attempt < 4 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                other => return other,
            }
        }
    }
}
