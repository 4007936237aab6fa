//! Hands transitions to the notifiers without ever making the caller wait:
//! one bounded queue and one background task per notifier, so a dead SMTP
//! server delays neither the pipeline nor the webhook. Each delivery is
//! retried with exponential backoff, then dropped with an error log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use roster_core::alarm::Transition;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::telemetry::{self, Notification};
use roster_notify::Notifier;

/// How the dispatcher queues and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Transitions waiting per notifier; beyond this new ones are dropped
    /// (and counted) rather than block or grow without bound.
    pub capacity: usize,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Longest one attempt may take, whatever the notifier's own timeouts.
    pub attempt_timeout: Duration,
}

impl Default for DispatchConfig {
    /// Five attempts over about a minute: long enough to ride out a restart
    /// of the endpoint, short enough that a newer transition is not stuck
    /// behind a hopeless one for long.
    fn default() -> Self {
        Self {
            capacity: 256,
            max_attempts: 5,
            backoff: Backoff { base: Duration::from_secs(2), cap: Duration::from_secs(60) },
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

/// Counts since start, over all notifiers (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Failed attempts that were retried.
    pub retried: u64,
    /// Deliveries given up after `max_attempts`.
    pub failed: u64,
    /// Transitions dropped because a notifier's queue was full or closed.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Transitions queued and not yet delivered or given up, over all lanes.
    pending: AtomicU64,
    /// Woken whenever `pending` drops to zero.
    idle: Notify,
}

impl Counters {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    fn snapshot(&self) -> DispatchStats {
        DispatchStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

struct Lane {
    name: String,
    tx: mpsc::Sender<Arc<Transition>>,
}

/// Delivers each transition to every notifier, in the background.
pub struct Dispatcher {
    lanes: Vec<Lane>,
    tasks: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Dispatcher {
    /// Starts one delivery task per notifier; call within a tokio runtime.
    pub fn spawn(notifiers: Vec<Arc<dyn Notifier>>, config: DispatchConfig) -> Self {
        let counters = Arc::new(Counters::default());
        let mut lanes = Vec::with_capacity(notifiers.len());
        let mut tasks = Vec::with_capacity(notifiers.len());
        for notifier in notifiers {
            let (tx, rx) = mpsc::channel(config.capacity.max(1));
            lanes.push(Lane { name: notifier.name().to_owned(), tx });
            tasks.push(tokio::spawn(deliver_all(notifier, rx, config, counters.clone())));
        }
        Self { lanes, tasks, counters }
    }

    /// Queues a transition for every notifier and returns at once. A
    /// notifier whose queue is full misses it: logged and counted.
    pub fn send(&self, t: Transition) {
        let t = Arc::new(t);
        for lane in &self.lanes {
            // Counted before the send, so the lane's task cannot finish it
            // first and take the count below zero.
            self.counters.pending.fetch_add(1, Ordering::SeqCst);
            if let Err(e) = lane.tx.try_send(t.clone()) {
                self.counters.finish_one();
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                telemetry::notification(&lane.name, Notification::Dropped);
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "the notifier's queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the notifier's task has stopped",
                };
                tracing::error!(notifier = %lane.name, alarm = %t.rule, state = %t.to, "alarm notification dropped: {why}");
            }
        }
    }

    pub fn stats(&self) -> DispatchStats {
        self.counters.snapshot()
    }

    /// Waits until every transition queued so far is delivered or given up
    /// (retries included), for at most `within`; true when nothing is left.
    /// A host that may be frozen once it answers (a Lambda function) calls
    /// this before answering, so its notifications do not wait for the next
    /// event.
    pub async fn settle(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let idle = self.counters.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a wake-up between the two is
            // not missed.
            idle.as_mut().enable();
            if self.counters.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.counters.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }

    /// Stops taking transitions and waits until the queued ones are
    /// delivered or given up (retries included), for a graceful shutdown.
    pub async fn shutdown(self) -> DispatchStats {
        let Self { lanes, tasks, counters } = self;
        drop(lanes);
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a notification task ended abnormally");
            }
        }
        counters.snapshot()
    }
}

async fn deliver_all(
    notifier: Arc<dyn Notifier>,
    mut rx: mpsc::Receiver<Arc<Transition>>,
    config: DispatchConfig,
    counters: Arc<Counters>,
) {
    while let Some(t) = rx.recv().await {
        deliver(notifier.as_ref(), &t, &config, &counters).await;
        counters.finish_one();
    }
}

async fn deliver(notifier: &dyn Notifier, t: &Transition, config: &DispatchConfig, counters: &Counters) {
    let attempts = config.max_attempts.max(1);
    for attempt in 1..=attempts {
        let error = match tokio::time::timeout(config.attempt_timeout, notifier.notify(t)).await {
            Ok(Ok(())) => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                telemetry::notification(notifier.name(), Notification::Delivered);
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", config.attempt_timeout),
        };
        if attempt == attempts {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            telemetry::notification(notifier.name(), Notification::Failed);
            tracing::error!(
                notifier = notifier.name(), alarm = %t.rule, state = %t.to, attempts, error,
                "alarm notification dropped after its last attempt"
            );
            return;
        }
        counters.retried.fetch_add(1, Ordering::Relaxed);
        telemetry::notification(notifier.name(), Notification::Retried);
        let delay = config.backoff.delay(attempt);
        tracing::warn!(
            notifier = notifier.name(), alarm = %t.rule, attempt, retry_in_ms = delay.as_millis() as u64, error,
            "alarm notification failed; will retry"
        );
        tokio::time::sleep(delay).await;
    }
}
