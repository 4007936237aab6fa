//! The dispatcher: retries with backoff on a paused clock, never blocks the
//! caller, and a failing notifier does not hold up another.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;
use roster_core::alarm::{Alarm, AlarmState, Transition, default_rules};
use roster_engine::backoff::Backoff;
use roster_engine::dispatch::{DispatchConfig, DispatchStats, Dispatcher};
use roster_notify::{Notifier, NotifyError};

/// What the DLQ alarm says when three dead letters appear.
fn dlq_alarm() -> Transition {
    let rule = default_rules().into_iter().find(|r| r.name == "dlq_depth").unwrap();
    let start = Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").unwrap();
    let mut alarm = Alarm::new(rule, start).unwrap();
    alarm.observe(Some(0.0), start.plus_millis(60_000)).unwrap();
    alarm.observe(Some(3.0), start.plus_millis(120_000)).unwrap()
}

/// Fails its first `failures` calls, then succeeds; remembers what it got.
struct Flaky {
    failures: u32,
    calls: AtomicU32,
    delivered: Mutex<Vec<Transition>>,
}

impl Flaky {
    fn new(failures: u32) -> Arc<Self> {
        Arc::new(Self { failures, calls: AtomicU32::new(0), delivered: Mutex::default() })
    }
}

#[async_trait]
impl Notifier for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= self.failures {
            return Err(NotifyError::Unavailable(format!("down (call {call})")));
        }
        self.delivered.lock().unwrap().push(t.clone());
        Ok(())
    }
}

fn config(max_attempts: u32, capacity: usize) -> DispatchConfig {
    DispatchConfig {
        capacity,
        max_attempts,
        backoff: Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(10) },
        attempt_timeout: Duration::from_secs(5),
    }
}

#[tokio::test(start_paused = true)]
async fn dispatcher_retries_until_delivered() {
    let flaky = Flaky::new(2);
    let d = Dispatcher::spawn(vec![flaky.clone()], config(5, 8));
    d.send(dlq_alarm());
    let stats = d.shutdown().await;

    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3, "failed twice, then succeeded");
    assert_eq!(stats, DispatchStats { delivered: 1, retried: 2, failed: 0, dropped: 0 });
    let delivered = flaky.delivered.lock().unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0].rule.as_str(), delivered[0].to), ("dlq_depth", AlarmState::Alarm));
}

#[tokio::test(start_paused = true)]
async fn dispatcher_gives_up_after_max_attempts_and_goes_on() {
    let down = Flaky::new(u32::MAX);
    let up = Flaky::new(0);
    let d = Dispatcher::spawn(vec![down.clone(), up.clone()], config(3, 8));
    d.send(dlq_alarm());
    d.send(dlq_alarm());
    let stats = d.shutdown().await;

    assert_eq!(down.calls.load(Ordering::SeqCst), 6, "three attempts for each of two");
    assert_eq!(up.delivered.lock().unwrap().len(), 2, "a failing notifier does not hold up another");
    assert_eq!(stats, DispatchStats { delivered: 2, retried: 4, failed: 2, dropped: 0 });
}

/// Never answers.
struct Hanging;

#[async_trait]
impl Notifier for Hanging {
    fn name(&self) -> &str {
        "hanging"
    }

    async fn notify(&self, _: &Transition) -> Result<(), NotifyError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn dispatcher_never_blocks_the_caller_and_counts_what_it_drops() {
    let d = Dispatcher::spawn(vec![Arc::new(Hanging)], config(2, 2));
    // Nothing has been taken off the queue yet (the task has not run): two
    // fit, the other three are dropped, and `send` returned every time.
    for _ in 0..5 {
        d.send(dlq_alarm());
    }
    assert_eq!(d.stats().dropped, 3);

    // An attempt that never answers times out and counts as a failure.
    let stats = d.shutdown().await;
    assert_eq!(stats, DispatchStats { delivered: 0, retried: 2, failed: 2, dropped: 3 });
}

/// `settle` lets a host that is frozen once it answers (a Lambda function)
/// wait for its notifications: it returns once the retries have delivered
/// them, and gives up at its bound when a notifier never answers.
#[tokio::test(start_paused = true)]
async fn settle_waits_for_the_retries_and_gives_up_at_its_bound() {
    let flaky = Flaky::new(2);
    let d = Dispatcher::spawn(vec![flaky.clone()], config(5, 8));
    assert!(d.settle(Duration::ZERO).await, "nothing queued: settled at once");
    d.send(dlq_alarm());
    assert!(d.settle(Duration::from_secs(60)).await, "delivered on the third attempt");
    assert_eq!(flaky.delivered.lock().unwrap().len(), 1, "settled means delivered, not merely queued");
    assert_eq!(d.stats(), DispatchStats { delivered: 1, retried: 2, failed: 0, dropped: 0 });

    let hanging = Dispatcher::spawn(vec![Arc::new(Hanging)], config(2, 2));
    hanging.send(dlq_alarm());
    let started = tokio::time::Instant::now();
    assert!(!hanging.settle(Duration::from_secs(3)).await, "an attempt takes 5 s: not settled within 3");
    assert_eq!(started.elapsed(), Duration::from_secs(3), "it waited its bound, no longer");
    assert!(hanging.settle(Duration::from_secs(60)).await, "given up after two attempts: nothing left");
    assert_eq!(hanging.stats().failed, 1);
}
