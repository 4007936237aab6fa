//! Deciding what becomes of each received message — applied, retried later,
//! dead-lettered, let go — apart from carrying it out, so the two hosts of
//! the consumer share one set of rules: `roster serve`/`roster worker`
//! receive from the queue and act on it themselves ([`super::Consumer`]),
//! and an SQS-triggered function answers a batch's failures to its runtime.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use roster_core::ChangeMessage;
use roster_queue::ReceivedMessage;
use roster_store::{ApplyOutcome, StoreError};
use tokio::sync::watch;

use super::{Consumer, PROBE_REASON};
use crate::telemetry;

/// What becomes of one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Applied, or found applied already, stale or a duplicate: delete it.
    Acknowledge { outcome: &'static str },
    /// Failed for now: received again after `delay`. (Its receive count is
    /// below the limit.)
    Retry { delay: Duration, error: String },
    /// Never going to apply: counted failed in its feed, then moved to the
    /// dead-letter queue.
    DeadLetter { reason: String },
    /// Not applied because the directory was unavailable when the host gave
    /// up waiting (a shutdown, or a host that cannot hold a batch): let it
    /// go at once, to be received again.
    Release { error: String },
}

/// A received message with what the consumer decided for it; `change` is
/// `None` when its body did not decode.
#[derive(Debug)]
pub struct Decided {
    pub message: ReceivedMessage,
    pub change: Option<ChangeMessage>,
    pub fate: Fate,
}

impl Consumer {
    /// Decodes and applies a received batch and decides each message's
    /// fate: the undecodable and test messages first, then the rest in the
    /// order received. While the directory is unavailable the
    /// batch is held and retried (its messages kept hidden) until
    /// `give_up` turns true; a host that cannot wait passes one that is
    /// true already, and gets `Release` for each message at the first
    /// outage.
    pub async fn decide(
        &self,
        received: Vec<ReceivedMessage>,
        give_up: &watch::Receiver<bool>,
    ) -> Vec<Decided> {
        let mut decided = Vec::with_capacity(received.len());
        // The messages to apply and their changes, side by side: the
        // directory takes the changes as one slice, with no copy of them.
        let mut batch = Vec::with_capacity(received.len());
        let mut changes = Vec::with_capacity(received.len());
        for message in received {
            match ChangeMessage::from_bytes(&message.body) {
                // A test message goes straight to the dead-letter queue,
                // every time it arrives; it is never applied.
                Ok(change) if change.probe => decided.push(Decided {
                    message,
                    change: Some(change),
                    fate: Fate::DeadLetter { reason: PROBE_REASON.into() },
                }),
                Ok(change) => {
                    batch.push(message);
                    changes.push(change);
                }
                // A body that cannot be decoded will never decode.
                Err(e) => {
                    let reason =
                        format!("undecodable message body ({:?} error at line {})", e.classify(), e.line());
                    decided.push(Decided { message, change: None, fate: Fate::DeadLetter { reason } });
                }
            }
        }
        if batch.is_empty() {
            return decided;
        }

        match self.apply_while_available(&batch, &changes, give_up).await {
            Ok(outcomes) => {
                for ((message, change), outcome) in batch.into_iter().zip(changes).zip(outcomes) {
                    let fate = fate_of(outcome);
                    decided.push(Decided { message, change: Some(change), fate });
                }
            }
            Err(StoreError::Unavailable(e)) => {
                let error = format!("store unavailable: {e}");
                decided.extend(batch.into_iter().zip(changes).map(|(message, change)| Decided {
                    message,
                    change: Some(change),
                    fate: Fate::Release { error: error.clone() },
                }));
            }
            // One message may poison the whole batch: apply one by one so
            // only that one is retried and, in the end, dead-lettered. A
            // later change of the same person (SQS may deliver several of a
            // group at once) waits for it, so order is kept.
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "batch failed; applying one by one");
                let mut failed_groups = HashSet::new();
                for (message, change) in batch.into_iter().zip(changes) {
                    let fate = if failed_groups.contains(&message.group_id) {
                        self.failed(&message, "an earlier change of the same person failed")
                    } else {
                        match self.applier.apply_batch(std::slice::from_ref(&change), self.clock.now()).await
                        {
                            Ok(mut outcomes) => match outcomes.pop() {
                                Some(outcome) => fate_of(outcome),
                                None => self.failed(&message, "the directory answered no outcome"),
                            },
                            Err(e) => {
                                failed_groups.insert(message.group_id.clone());
                                self.failed(&message, &e.to_string())
                            }
                        }
                    };
                    decided.push(Decided { message, change: Some(change), fate });
                }
            }
        }
        decided
    }

    /// The fate of a message whose apply failed: retried with backoff until
    /// it has been received `max_receive_count` times, then dead-lettered.
    pub fn failed(&self, message: &ReceivedMessage, error: &str) -> Fate {
        if message.receive_count >= self.config.max_receive_count {
            let reason = format!("failed {} times; last error: {error}", message.receive_count);
            return Fate::DeadLetter { reason };
        }
        Fate::Retry { delay: self.config.backoff.delay(message.receive_count), error: error.to_owned() }
    }

    /// Applies the batch; while the directory answers `Unavailable` (a lock
    /// held by another process, a failover, a stalled disk) the batch is
    /// held and retried with capped backoff, its messages kept hidden, so an
    /// outage never counts toward a message's receive limit (and never
    /// dead-letters a backlog). Only `give_up` lets them go.
    async fn apply_while_available(
        &self,
        batch: &[ReceivedMessage],
        changes: &[ChangeMessage],
        give_up: &watch::Receiver<bool>,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        let visibility = self.config.visibility_timeout;
        let mut attempt = 0u32;
        let mut hidden_since = Instant::now();
        loop {
            let started = Instant::now();
            let applied = self.applier.apply_batch(changes, self.clock.now()).await;
            telemetry::batch_applied(started.elapsed());
            let Err(StoreError::Unavailable(e)) = &applied else { return applied };
            if *give_up.borrow() {
                return applied;
            }
            attempt += 1;
            let delay = self.config.backoff.delay(attempt).min(visibility / 3).max(Duration::from_millis(50));
            tracing::warn!(error = %e, attempt, size = batch.len(), delay_ms = delay.as_millis() as u64,
                "directory unavailable; holding the batch and retrying");
            if hidden_since.elapsed() + delay >= visibility / 2 {
                // Keep the held messages hidden: another worker must not
                // take them (and count a receive) while this one waits.
                for msg in batch {
                    if let Err(e) = self.queue.change_visibility(&msg.receipt, visibility, None).await {
                        tracing::warn!(message_id = %msg.id, error = %e, "could not extend visibility");
                    }
                }
                hidden_since = Instant::now();
            }
            let mut stop = give_up.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return applied,
            }
        }
    }
}

/// The fate of an applied message: a rejection (the directory's verdict
/// that it can never apply) is a dead letter, every other outcome is done.
fn fate_of(outcome: ApplyOutcome) -> Fate {
    match outcome {
        ApplyOutcome::Rejected(reason) => Fate::DeadLetter { reason },
        ApplyOutcome::Applied { .. } => Fate::Acknowledge { outcome: "applied" },
        ApplyOutcome::Unchanged => Fate::Acknowledge { outcome: "unchanged" },
        ApplyOutcome::Stale => Fate::Acknowledge { outcome: "stale" },
        ApplyOutcome::Duplicate => Fate::Acknowledge { outcome: "duplicate" },
    }
}
