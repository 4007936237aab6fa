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

/// Who deletes what was applied: this consumer, or the runtime that handed
/// the batch over (it deletes every message not reported failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acknowledgement {
    Delete,
    ByRuntime,
}

/// `unsettled`, with every message after a group's first unsettled one
/// marked too: FIFO order within a group survives a partial failure.
fn report_after_first_failure(groups: &[String], mut unsettled: Vec<bool>) -> Vec<bool> {
    let mut failed = std::collections::HashSet::new();
    for (group, flag) in groups.iter().zip(unsettled.iter_mut()) {
        if *flag {
            failed.insert(group.as_str());
        } else if failed.contains(group.as_str()) {
            *flag = true;
        }
    }
    unsettled
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
        let report = self.record(tally);
        result.map(|()| report)
    }

    fn record(&self, tally: Tally) -> CycleReport {
        let Tally { report, counts } = tally;
        counts.emit();
        self.stats.applied.fetch_add(report.acknowledged as u64, Ordering::Relaxed);
        self.stats.dead_lettered.fetch_add(report.dead_lettered as u64, Ordering::Relaxed);
        report
    }

    /// A batch handed over by a runtime that deletes what it is not told
    /// failed (SQS → Lambda with `ReportBatchItemFailures`): decides each
    /// message's fate without waiting out an outage, carries out retries,
    /// dead letters and releases on the queue as [`run_once`](Self::run_once)
    /// does, and answers, in the order given, whether each message must be
    /// reported failed. On a FIFO queue a group's later messages are
    /// reported after its first failure, so they come back after it, in
    /// order (one already applied is then found a duplicate).
    pub async fn settle_for_runtime(&self, received: Vec<ReceivedMessage>) -> (Vec<bool>, CycleReport) {
        let mut tally = Tally::default();
        tally.report.received = received.len();
        for msg in &received {
            tally.counts.received(&msg.tenant);
        }
        let given: Vec<(String, String)> =
            received.iter().map(|m| (m.receipt.0.clone(), m.group_id.clone())).collect();
        let (_keep, give_up) = watch::channel(true);
        let decided = self.decide(received, &give_up).await;
        let receipts: Vec<String> = decided.iter().map(|d| d.message.receipt.0.clone()).collect();
        let unsettled = self.carry_out(decided, &mut tally, Acknowledgement::ByRuntime).await;
        // Decided in its own order (undecodable messages first): back to
        // the order given, by receipt (unique within a batch).
        let by_receipt: std::collections::HashMap<String, bool> =
            receipts.into_iter().zip(unsettled).collect();
        let in_order =
            given.iter().map(|(receipt, _)| by_receipt.get(receipt).copied().unwrap_or(true)).collect();
        let groups: Vec<String> = given.into_iter().map(|(_, g)| g).collect();
        (report_after_first_failure(&groups, in_order), self.record(tally))
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
        self.carry_out(decided, tally, Acknowledgement::Delete).await;
        Ok(())
    }

    /// Does what was decided, on the queue: deletes what is done (in one
    /// call, unless the runtime does), delays what is retried,
    /// dead-letters what never applies, releases what was let go. Answers,
    /// in order, which messages are still on the queue to come back.
    async fn carry_out(&self, decided: Vec<Decided>, tally: &mut Tally, ack: Acknowledgement) -> Vec<bool> {
        let mut unsettled = Vec::with_capacity(decided.len());
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
                    unsettled.push(false);
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
                    unsettled.push(true);
                }
                Fate::DeadLetter { reason } => {
                    let moved =
                        self.dead_letter(&msg, change.as_ref(), &reason, tally).instrument(span).await;
                    unsettled.push(!moved);
                }
                Fate::Release { error } => {
                    if let Err(e) =
                        self.queue.change_visibility(&msg.receipt, Duration::ZERO, Some(&error)).await
                    {
                        tracing::warn!(message_id = %msg.id, error = %e, "could not release message");
                    }
                    tally.report.retried += 1;
                    unsettled.push(true);
                }
            }
        }
        tally.report.acknowledged += done.len();
        if ack == Acknowledgement::Delete
            && let Err(e) = self.queue.delete_batch(&done).await
        {
            // The messages come back after their visibility timeout and are
            // found applied: nothing is lost or doubled.
            tracing::warn!(error = %e, "acknowledgement failed; messages will be redelivered");
        }
        unsettled
    }

    async fn dead_letter(
        &self,
        msg: &ReceivedMessage,
        change: Option<&ChangeMessage>,
        reason: &str,
        tally: &mut Tally,
    ) -> bool {
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
            return false;
        }
        tracing::warn!(message_id = %msg.id, tenant = %msg.tenant, feed_id = change.map(|c| tracing::field::display(c.feed_id)),
            request_id = change.and_then(|c| c.request_id.as_deref()), receive_count = msg.receive_count, reason, "message dead-lettered");
        match self.queue.dead_letter(msg, reason).await {
            Ok(()) => {
                tally.report.dead_lettered += 1;
                tally.counts.dead_lettered(&msg.tenant);
                true
            }
            // Received again elsewhere meanwhile: that receipt decides.
            Err(QueueError::InvalidReceipt) => true,
            Err(e) => {
                tracing::error!(message_id = %msg.id, error = %e, "could not dead-letter; it will be redelivered");
                false
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
