//! The consumer: receive a batch, apply it to the directory, acknowledge what
//! was applied, retry what failed with backoff, dead-letter what never will.
//!
//! Delivery is at least once; the directory makes a second apply of the same
//! message a no-op, so the effect is exactly once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use roster_core::{ChangeMessage, Clock};
use roster_queue::{Queue, QueueError, ReceiveRequest, ReceivedMessage};
use roster_store::{ApplyOutcome, Directory, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff::Backoff;

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
            batch_size: 256,
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

pub struct Consumer {
    queue: Arc<dyn Queue>,
    directory: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
    config: ConsumerConfig,
}

impl Consumer {
    pub fn new(
        queue: Arc<dyn Queue>,
        directory: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
        config: ConsumerConfig,
    ) -> Self {
        Self { queue, directory, clock, config }
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
                        if let Err(e) = this.run_once().await {
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
        let received = self
            .queue
            .receive(ReceiveRequest {
                max_messages: self.config.batch_size,
                visibility_timeout: self.config.visibility_timeout,
                wait: self.config.wait,
            })
            .await?;
        let mut report = CycleReport { received: received.len(), ..Default::default() };
        if received.is_empty() {
            return Ok(report);
        }

        // A body that cannot be decoded will never decode: dead-letter it now.
        let mut batch = Vec::with_capacity(received.len());
        for msg in received {
            match ChangeMessage::from_bytes(&msg.body) {
                Ok(change) => batch.push((msg, change)),
                Err(e) => {
                    let reason =
                        format!("undecodable message body ({:?} error at line {})", e.classify(), e.line());
                    self.dead_letter(&msg, None, &reason, &mut report).await;
                }
            }
        }
        if batch.is_empty() {
            return Ok(report);
        }

        let changes: Vec<ChangeMessage> = batch.iter().map(|(_, c)| c.clone()).collect();
        match self.directory.apply_batch(&changes, self.clock.now()).await {
            Ok(outcomes) => self.settle(&batch, outcomes, &mut report).await,
            Err(StoreError::Unavailable(e)) => {
                for (msg, change) in &batch {
                    self.retry(msg, change, &format!("store unavailable: {e}"), &mut report).await;
                }
            }
            // One message may poison the whole batch: apply one by one so
            // only that one is retried and, in the end, dead-lettered. A
            // later change of the same person (SQS may deliver several of a
            // group at once) waits for it, so order is kept.
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "batch failed; applying one by one");
                let mut failed_groups = HashSet::new();
                for item in &batch {
                    if failed_groups.contains(&item.0.group_id) {
                        let why = "an earlier change of the same person failed";
                        self.retry(&item.0, &item.1, why, &mut report).await;
                        continue;
                    }
                    let one = std::slice::from_ref(&item.1);
                    match self.directory.apply_batch(one, self.clock.now()).await {
                        Ok(outcomes) => self.settle(std::slice::from_ref(item), outcomes, &mut report).await,
                        Err(e) => {
                            failed_groups.insert(item.0.group_id.clone());
                            self.retry(&item.0, &item.1, &e.to_string(), &mut report).await;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    async fn settle(
        &self,
        batch: &[(ReceivedMessage, ChangeMessage)],
        outcomes: Vec<ApplyOutcome>,
        report: &mut CycleReport,
    ) {
        let mut done = Vec::with_capacity(batch.len());
        for ((msg, change), outcome) in batch.iter().zip(outcomes) {
            match outcome {
                ApplyOutcome::Rejected(reason) => {
                    self.dead_letter(msg, Some(change), &reason, report).await;
                }
                _ => done.push(msg.receipt.clone()),
            }
        }
        report.acknowledged += done.len();
        if let Err(e) = self.queue.delete_batch(&done).await {
            // The messages come back after their visibility timeout and are
            // found applied: nothing is lost or doubled.
            tracing::warn!(error = %e, "acknowledgement failed; messages will be redelivered");
        }
    }

    async fn retry(
        &self,
        msg: &ReceivedMessage,
        change: &ChangeMessage,
        error: &str,
        report: &mut CycleReport,
    ) {
        if msg.receive_count >= self.config.max_receive_count {
            let reason = format!("failed {} times; last error: {error}", msg.receive_count);
            self.dead_letter(msg, Some(change), &reason, report).await;
            return;
        }
        let delay = self.config.backoff.delay(msg.receive_count);
        report.retried += 1;
        tracing::info!(message_id = %msg.id, attempt = msg.receive_count, delay_ms = delay.as_millis() as u64, "retrying message");
        match self.queue.change_visibility(&msg.receipt, delay, Some(error)).await {
            Ok(()) | Err(QueueError::InvalidReceipt) => {}
            Err(e) => tracing::warn!(message_id = %msg.id, error = %e, "could not delay retry"),
        }
    }

    async fn dead_letter(
        &self,
        msg: &ReceivedMessage,
        change: Option<&ChangeMessage>,
        reason: &str,
        report: &mut CycleReport,
    ) {
        tracing::warn!(message_id = %msg.id, receive_count = msg.receive_count, reason, "message dead-lettered");
        match self.queue.dead_letter(msg, reason).await {
            Ok(()) => report.dead_lettered += 1,
            // Received again elsewhere meanwhile: that receipt decides.
            Err(QueueError::InvalidReceipt) => return,
            Err(e) => {
                tracing::error!(message_id = %msg.id, error = %e, "could not dead-letter; it will be redelivered");
                return;
            }
        }
        if let Some(change) = change
            && let Err(e) = self.directory.record_failure(change, self.clock.now()).await
        {
            tracing::error!(message_id = %msg.id, error = %e, "could not count the failure in its feed");
        }
    }
}
