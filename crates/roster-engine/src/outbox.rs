//! The outbox dispatcher: pushes each tenant's lifecycle events to its
//! webhook endpoints, one signed POST per event, in outbox order per
//! endpoint.
//!
//! Each endpoint has a cursor in the outbox (kept by the directory). The
//! event after it is tried; a 2xx moves the cursor on; a failure is retried
//! with exponential backoff (the attempt count and the time of the next
//! attempt are stored, so a restart resumes where it was); after
//! `max_attempts` the event becomes one of the endpoint's *event dead
//! letters* and the cursor moves past it, so one bad event never blocks the
//! endpoint. Redriven dead letters are tried again beside the stream.
//!
//! Delivery is at least once: a crash between the endpoint's answer and the
//! cursor's update sends the event again, with the same `webhook-id`, which
//! receivers dedupe on. Nothing here logs a payload, a URL or a secret.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use roster_core::Clock;
use roster_notify::{DeliveryError, EventDelivery, EventSink};
use roster_store::{
    AttemptOutcome, DeliveryTarget, DeliveryUpdate, NewDeliveryAttempt, Outbox, OutboxEvent, OutboxEventRef,
    RedeliveryUpdate, StoreError,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::lease::Singleton;
use crate::telemetry::{self, EventDelivery as Outcome};

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How often the outbox is looked at for new events and due retries.
    pub poll_interval: Duration,
    /// Attempts per event and endpoint, the first included; then a dead letter.
    pub max_attempts: u32,
    /// Delay before each retry.
    pub backoff: Backoff,
    /// Longest one attempt may take, whatever the sink's own timeout.
    pub attempt_timeout: Duration,
    /// Most events read from the outbox per endpoint and page.
    pub batch: usize,
}

impl Default for OutboxConfig {
    /// Twelve attempts over about three and a half hours (10 s doubling,
    /// capped at an hour): long enough to ride out an endpoint's
    /// maintenance window.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            max_attempts: 12,
            backoff: Backoff { base: Duration::from_secs(10), cap: Duration::from_secs(3600) },
            attempt_timeout: Duration::from_secs(15),
            batch: 100,
        }
    }
}

/// What one pass did, over all endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub delivered: u64,
    /// Failed attempts that will be retried.
    pub retried: u64,
    pub dead_lettered: u64,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
    }
}

pub struct OutboxDispatcher {
    outbox: Arc<dyn Outbox>,
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    config: OutboxConfig,
    lease: Option<Arc<Singleton>>,
}

/// The type of the event [`OutboxDispatcher::send_test`] sends: never in
/// the outbox, never retried, filtered by no endpoint's `eventTypes`.
pub const TEST_EVENT: &str = "endpoint.test";

/// How a test delivery went. No answer body (it is the receiver's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestDelivery {
    /// The test event's `webhook-id` (`evt_...`).
    pub event_id: String,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status when it answered other than 2xx.
    pub status: Option<u16>,
    /// Why it failed, as a dead letter says it (no URL path, no body).
    pub error: Option<String>,
    pub duration_ms: u64,
}

fn outcome_of(e: &DeliveryError) -> AttemptOutcome {
    match e {
        DeliveryError::Status(_) => AttemptOutcome::Status,
        DeliveryError::Unreachable(_) => AttemptOutcome::Unreachable,
        DeliveryError::Config(_) => AttemptOutcome::Config,
        DeliveryError::NotPublic(_) => AttemptOutcome::NotPublic,
    }
}

/// How one attempt ended.
enum Attempt {
    Delivered,
    Failed(DeliveryError),
}

impl OutboxDispatcher {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        sink: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        config: OutboxConfig,
    ) -> Self {
        Self { outbox, sink, clock, config, lease: None }
    }

    /// Delivers only while this node holds `lease` (one dispatcher per
    /// cluster, so an event is sent by one node at a time): every pass
    /// asks for it first, and each endpoint's pass stops when it is lost.
    pub fn with_lease(mut self, lease: Arc<Singleton>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// One pass: every active endpoint, side by side, gets what is due for it
    /// now, and the pass ends with the slowest (tests drive it this way;
    /// [`spawn`](Self::spawn) runs each endpoint on its own). An endpoint whose pass fails (the directory is busy) is tried
    /// again on the next one.
    pub async fn run_once(&self) -> Result<PassReport, StoreError> {
        let targets = self.outbox.delivery_targets(self.clock.now()).await?;
        let passes = join_all(targets.iter().map(|t| self.pump(t))).await;
        let mut report = PassReport::default();
        for (target, pass) in targets.iter().zip(passes) {
            match pass {
                Ok(r) => report.add(r),
                Err(e) => tracing::warn!(
                    endpoint = %target.endpoint.id, error = %e,
                    "outbox: could not record a delivery; trying again next pass"
                ),
            }
        }
        Ok(report)
    }

    /// One pass if this node holds the lease (taking it if it is free);
    /// `None` if another node holds it or the lease was lost mid-pass. A
    /// scheduled function's way: one pass per invocation.
    pub async fn run_leased(&self) -> Option<Result<PassReport, StoreError>> {
        match &self.lease {
            None => Some(self.run_once().await),
            Some(lease) if lease.hold().await => lease.run(self.run_once()).await,
            Some(_) => None,
        }
    }

    /// Every `poll_interval`, starts a pass for each active endpoint whose
    /// previous pass has finished — each on its own task, so a slow or
    /// timing-out endpoint never delays another's events — until `shutdown`
    /// turns true. Passes under way are abandoned then, so a long backlog or
    /// a slow endpoint does not hold up the shutdown: each step is recorded
    /// atomically, and an attempt cut short is made again after the restart
    /// (at least once, same `webhook-id`).
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.config.poll_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        running.retain(|_, task| !task.is_finished());
                        if let Some(lease) = &self.lease && !lease.hold().await {
                            continue;
                        }
                        match self.outbox.delivery_targets(self.clock.now()).await {
                            Ok(targets) => {
                                for target in targets {
                                    if running.contains_key(&target.endpoint.id) {
                                        continue;
                                    }
                                    let id = target.endpoint.id.clone();
                                    let this = Arc::clone(&self);
                                    running.insert(id, tokio::spawn(async move {
                                        let pass = this.pump(&target);
                                        let done = match &this.lease {
                                            Some(lease) => lease.run(pass).await,
                                            None => Some(pass.await),
                                        };
                                        if let Some(Err(e)) = done {
                                            tracing::warn!(
                                                endpoint = %target.endpoint.id, error = %e,
                                                "outbox: could not record a delivery; trying again next pass"
                                            );
                                        }
                                    }));
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "outbox: could not read the endpoints; trying again"),
                        }
                    }
                    changed = shutdown.changed() => if changed.is_err() { break },
                }
                if *shutdown.borrow() {
                    break;
                }
            }
            for (_, task) in running {
                task.abort();
            }
            if let Some(lease) = &self.lease {
                lease.release().await;
            }
        })
    }

    /// One endpoint: its due redriven dead letters, then the events after
    /// its cursor, in order, until one fails or none are left.
    async fn pump(&self, target: &DeliveryTarget) -> Result<PassReport, StoreError> {
        let mut report = PassReport::default();
        let endpoint = &target.endpoint;
        let tenant = endpoint.tenant_id.to_string();

        let now = self.clock.now();
        // The attempt log, written with the next delivery record (one write
        // per page, not per event).
        let mut log = Vec::new();
        for r in self.outbox.due_redeliveries(&endpoint.id, now, self.config.batch).await? {
            let attempts = r.dead_letter.attempts + 1;
            let update = match self.logged_attempt(target, &r.event, attempts, &mut log).await {
                Attempt::Delivered => {
                    report.delivered += 1;
                    telemetry::event_delivery(&tenant, Outcome::Delivered);
                    RedeliveryUpdate::Delivered
                }
                Attempt::Failed(e) if attempts < self.max_attempts() => {
                    report.retried += 1;
                    telemetry::event_delivery(&tenant, Outcome::Retried);
                    let next_attempt_at = self.retry_at(attempts);
                    self.log_retry(target, &r.event, attempts, &e);
                    RedeliveryUpdate::Retry { attempts, next_attempt_at }
                }
                Attempt::Failed(e) => {
                    report.dead_lettered += 1;
                    telemetry::event_delivery(&tenant, Outcome::DeadLettered);
                    self.log_dead_letter(target, &r.event, attempts, &e);
                    RedeliveryUpdate::Dead { attempts, last_status: e.status(), last_error: e.to_string() }
                }
            };
            self.flush(&mut log).await?;
            self.outbox.record_redelivery(&r.dead_letter.id, update, self.clock.now()).await?;
        }

        if target.next_attempt_at.is_some_and(|t| t > now) {
            return Ok(report);
        }
        let mut cursor = endpoint.cursor;
        // Deliveries move the cursor in memory and it is stored once a page
        // (and before anything else is recorded): one directory write per
        // event would hold the directory's writer, and its fsync, for every
        // event. A crash re-sends at most a page — at least once, as
        // documented; receivers dedupe on `webhook-id`.
        let mut stored = endpoint.cursor;
        let mut failed_before = target.attempts;
        loop {
            let events = self.outbox.list_events(endpoint.tenant_id, cursor, self.config.batch).await?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            let full_page = events.len() >= self.config.batch;
            for event in events.iter().filter(|e| endpoint.wants(e.kind)) {
                let attempts = failed_before + 1;
                let update = match self.logged_attempt(target, event, attempts, &mut log).await {
                    Attempt::Delivered => {
                        report.delivered += 1;
                        telemetry::event_delivery(&tenant, Outcome::Delivered);
                        cursor = event.seq;
                        failed_before = 0;
                        continue;
                    }
                    Attempt::Failed(e) if attempts < self.max_attempts() => {
                        report.retried += 1;
                        telemetry::event_delivery(&tenant, Outcome::Retried);
                        self.log_retry(target, event, attempts, &e);
                        self.flush(&mut log).await?;
                        if !self.store_cursor(target, cursor, &mut stored).await? {
                            return Ok(report);
                        }
                        let update =
                            DeliveryUpdate::Retry { attempts, next_attempt_at: self.retry_at(attempts) };
                        self.outbox
                            .record_delivery(&endpoint.id, target.generation, update, self.clock.now())
                            .await?;
                        // In order: nothing after it goes before it.
                        return Ok(report);
                    }
                    Attempt::Failed(e) => {
                        report.dead_lettered += 1;
                        telemetry::event_delivery(&tenant, Outcome::DeadLettered);
                        self.log_dead_letter(target, event, attempts, &e);
                        self.flush(&mut log).await?;
                        if !self.store_cursor(target, cursor, &mut stored).await? {
                            return Ok(report);
                        }
                        DeliveryUpdate::DeadLetter {
                            event: OutboxEventRef::from(event),
                            attempts,
                            last_status: e.status(),
                            last_error: e.to_string(),
                        }
                    }
                };
                if !self
                    .outbox
                    .record_delivery(&endpoint.id, target.generation, update, self.clock.now())
                    .await?
                {
                    return Ok(report);
                }
                cursor = event.seq;
                stored = cursor;
                failed_before = 0;
            }
            // Past the page, including events of types the endpoint does not want.
            cursor = cursor.max(last);
            self.flush(&mut log).await?;
            if !self.store_cursor(target, cursor, &mut stored).await? {
                return Ok(report);
            }
            if !full_page {
                break;
            }
        }
        Ok(report)
    }

    /// One attempt, added to `log`.
    async fn logged_attempt(
        &self,
        target: &DeliveryTarget,
        event: &OutboxEvent,
        attempt: u32,
        log: &mut Vec<NewDeliveryAttempt>,
    ) -> Attempt {
        let at = self.clock.now();
        let started = std::time::Instant::now();
        let result = self.attempt(target, event).await;
        let (status, outcome) = match &result {
            Attempt::Delivered => (None, AttemptOutcome::Delivered),
            Attempt::Failed(e) => (e.status(), outcome_of(e)),
        };
        log.push(NewDeliveryAttempt {
            endpoint_id: target.endpoint.id.clone(),
            event: OutboxEventRef::from(event),
            attempt,
            at,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
            outcome,
        });
        result
    }

    /// Writes the attempts logged since the last write.
    async fn flush(&self, log: &mut Vec<NewDeliveryAttempt>) -> Result<(), StoreError> {
        if !log.is_empty() {
            self.outbox.record_attempts(std::mem::take(log)).await?;
        }
        Ok(())
    }

    /// Records the cursor if it moved since it was last stored. `false`
    /// when the endpoint changed beside this pass (a replay, a re-enable, a
    /// disable: its generation moved on): the pass must stop, and nothing
    /// it holds in memory is recorded over the change.
    async fn store_cursor(
        &self,
        target: &DeliveryTarget,
        cursor: u64,
        stored: &mut u64,
    ) -> Result<bool, StoreError> {
        if cursor > *stored {
            let update = DeliveryUpdate::Done { seq: cursor };
            if !self
                .outbox
                .record_delivery(&target.endpoint.id, target.generation, update, self.clock.now())
                .await?
            {
                return Ok(false);
            }
            *stored = cursor;
        }
        Ok(true)
    }

    fn max_attempts(&self) -> u32 {
        self.config.max_attempts.max(1)
    }

    fn retry_at(&self, attempts: u32) -> roster_core::Timestamp {
        let delay = self.config.backoff.delay(attempts);
        self.clock.now().plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
    }

    async fn attempt(&self, target: &DeliveryTarget, event: &OutboxEvent) -> Attempt {
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return Attempt::Failed(DeliveryError::Config(format!("encoding the event: {e}"))),
        };
        // `webhook-id` is the event's id as its body shows it (`evt_...`).
        let id = roster_core::public_id::render(roster_core::public_id::Kind::Event, &event.id);
        self.send(target, &id, &body).await
    }

    async fn send(&self, target: &DeliveryTarget, id: &str, body: &[u8]) -> Attempt {
        send(self.sink.as_ref(), self.clock.as_ref(), self.config.attempt_timeout, target, id, body).await
    }

    fn log_retry(&self, target: &DeliveryTarget, event: &OutboxEvent, attempt: u32, e: &DeliveryError) {
        tracing::warn!(
            tenant = %target.endpoint.tenant_id, endpoint = %target.endpoint.id, event_id = %event.id,
            event_type = event.kind.as_str(), attempt, error = %e,
            "event delivery failed; will retry"
        );
    }

    fn log_dead_letter(
        &self,
        target: &DeliveryTarget,
        event: &OutboxEvent,
        attempts: u32,
        e: &DeliveryError,
    ) {
        tracing::error!(
            tenant = %target.endpoint.tenant_id, endpoint = %target.endpoint.id, event_id = %event.id,
            event_type = event.kind.as_str(), attempts, error = %e,
            "event dead-lettered for this endpoint after its last attempt"
        );
    }
}

/// One signed POST of `body` with `webhook-id` `id`, within the attempt timeout.
async fn send(
    sink: &dyn EventSink,
    clock: &dyn Clock,
    timeout: Duration,
    target: &DeliveryTarget,
    id: &str,
    body: &[u8],
) -> Attempt {
    let now = clock.now();
    let delivery = EventDelivery {
        url: &target.endpoint.url,
        secret: &target.secret,
        // Checked at each attempt: a pass may outlast the grace period.
        previous_secret: target.previous_secret.as_ref().and_then(|p| p.valid_at(now)),
        id,
        timestamp: now.millis().div_euclid(1000),
        body,
    };
    match tokio::time::timeout(timeout, sink.deliver(&delivery)).await {
        Ok(Ok(())) => Attempt::Delivered,
        Ok(Err(e)) => Attempt::Failed(e),
        Err(_) => Attempt::Failed(DeliveryError::Unreachable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Sends `target` a signed [`TEST_EVENT`] now, outside the outbox (no
/// cursor moves, no retry, nothing stored), and says how it went.
pub async fn send_test(
    sink: &dyn EventSink,
    clock: &dyn Clock,
    timeout: Duration,
    target: &DeliveryTarget,
) -> TestDelivery {
    let now = clock.now();
    let id =
        roster_core::public_id::render(roster_core::public_id::Kind::Event, uuid::Uuid::now_v7().to_string());
    let body = serde_json::json!({
        "id": id,
        "type": TEST_EVENT,
        "tenantId": roster_core::public_id::render(
            roster_core::public_id::Kind::Tenant,
            target.endpoint.tenant_id.to_string(),
        ),
        "occurredAt": now,
        "payload": {
            "endpointId": roster_core::public_id::render(roster_core::public_id::Kind::Endpoint, &target.endpoint.id),
        },
    });
    let started = std::time::Instant::now();
    let result = send(sink, clock, timeout, target, &id, body.to_string().as_bytes()).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Attempt::Delivered => TestDelivery {
            event_id: id,
            outcome: AttemptOutcome::Delivered,
            status: None,
            error: None,
            duration_ms,
        },
        Attempt::Failed(e) => TestDelivery {
            event_id: id,
            outcome: outcome_of(&e),
            status: e.status(),
            error: Some(e.to_string()),
            duration_ms,
        },
    }
}
