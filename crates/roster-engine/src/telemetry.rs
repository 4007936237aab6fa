//! What the engine counts, defined once: each function below is one thing
//! worth observing and records it through the `metrics` facade (the binary
//! installs the Prometheus recorder; without one these calls cost next to
//! nothing). Names follow Prometheus conventions, and labels are bounded:
//! tenant ids (never names), formats, notifier kinds — no person, no e-mail.
//!
//! The gauges (queue depths, feeds by status, alarm states) are only named
//! here: the `/metrics` route reads them from the ports when it is scraped,
//! so they describe the node that answers, fresh.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

pub const RECORDS_RECEIVED: &str = "roster_records_received_total";
pub const RECORDS_ACCEPTED: &str = "roster_records_accepted_total";
pub const RECORDS_REJECTED: &str = "roster_records_rejected_total";
pub const MESSAGES_SENT: &str = "roster_messages_sent_total";
pub const MESSAGES_RECEIVED: &str = "roster_messages_received_total";
pub const MESSAGES_DELETED: &str = "roster_messages_deleted_total";
pub const MESSAGES_RETRIED: &str = "roster_messages_retried_total";
pub const MESSAGES_DEAD_LETTERED: &str = "roster_messages_dead_lettered_total";
pub const APPLY_DURATION: &str = "roster_apply_duration_seconds";
pub const INGEST_TO_APPLY: &str = "roster_ingest_to_apply_seconds";
pub const NOTIFICATIONS_DELIVERED: &str = "roster_notifications_delivered_total";
pub const NOTIFICATIONS_FAILED: &str = "roster_notifications_failed_total";
pub const NOTIFICATIONS_RETRIED: &str = "roster_notifications_retried_total";
pub const NOTIFICATIONS_DROPPED: &str = "roster_notifications_dropped_total";

pub const EVENTS_DELIVERED: &str = "roster_events_delivered_total";
pub const EVENT_DELIVERIES_FAILED: &str = "roster_event_deliveries_failed_total";
pub const EVENTS_DEAD_LETTERED: &str = "roster_events_dead_lettered_total";

pub const QUEUE_VISIBLE: &str = "roster_queue_visible_messages";
pub const QUEUE_IN_FLIGHT: &str = "roster_queue_in_flight_messages";
pub const QUEUE_DELAYED: &str = "roster_queue_delayed_messages";
pub const QUEUE_DLQ: &str = "roster_queue_dlq_messages";
pub const QUEUE_OLDEST_AGE: &str = "roster_queue_oldest_message_age_seconds";
pub const FEEDS: &str = "roster_feeds";
pub const ALARM_STATE: &str = "roster_alarm_state";
pub const OUTBOX_BACKLOG: &str = "roster_outbox_backlog";
pub const OUTBOX_OLDEST_PENDING_AGE: &str = "roster_outbox_oldest_pending_age_seconds";
pub const EVENT_DEAD_LETTERS: &str = "roster_event_dead_letters";

/// Histogram buckets, in seconds: an apply takes milliseconds, a record may
/// wait in the queue for minutes.
pub const APPLY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
pub const LATENCY_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// Registers help texts and units; call once, after installing a recorder.
pub fn describe() {
    describe_counter!(RECORDS_RECEIVED, "Records received by ingest (dry runs excluded).");
    describe_counter!(RECORDS_ACCEPTED, "Records that passed validation and were queued.");
    describe_counter!(RECORDS_REJECTED, "Records refused by validation (or by a strict source).");
    describe_counter!(MESSAGES_SENT, "Messages sent to the queue by ingest.");
    describe_counter!(MESSAGES_RECEIVED, "Messages received by the consumer (redeliveries included).");
    describe_counter!(MESSAGES_DELETED, "Messages applied and acknowledged.");
    describe_counter!(MESSAGES_RETRIED, "Messages put back with a backoff delay after a failure.");
    describe_counter!(MESSAGES_DEAD_LETTERED, "Messages moved to the dead-letter queue.");
    describe_histogram!(APPLY_DURATION, Unit::Seconds, "Time to apply one batch to the directory.");
    describe_histogram!(INGEST_TO_APPLY, Unit::Seconds, "Time from ingest accepting a record to its apply.");
    describe_counter!(NOTIFICATIONS_DELIVERED, "Alarm notifications delivered, by notifier.");
    describe_counter!(NOTIFICATIONS_FAILED, "Alarm notifications given up after their last attempt.");
    describe_counter!(NOTIFICATIONS_RETRIED, "Failed notification attempts that were retried.");
    describe_counter!(EVENTS_DELIVERED, "Lifecycle events delivered to a webhook endpoint (2xx), by tenant.");
    describe_counter!(
        EVENT_DELIVERIES_FAILED,
        "Failed attempts to deliver an event to an endpoint that will be retried, by tenant."
    );
    describe_counter!(
        EVENTS_DEAD_LETTERED,
        "Events given up for an endpoint after every attempt, by tenant."
    );
    describe_counter!(
        NOTIFICATIONS_DROPPED,
        "Alarm notifications dropped because a notifier's queue was full."
    );
}

/// Ingest took a feed (or refused a strict one whole).
pub fn records_ingested(tenant: &str, format: &'static str, received: usize, accepted: usize) {
    let labels = [("tenant", tenant.to_owned()), ("format", format.to_owned())];
    counter!(RECORDS_RECEIVED, &labels).increment(received as u64);
    counter!(RECORDS_ACCEPTED, &labels).increment(accepted as u64);
    counter!(RECORDS_REJECTED, &labels).increment(received.saturating_sub(accepted) as u64);
}

/// Ingest queued messages.
pub fn messages_sent(tenant: &str, n: usize) {
    counter!(MESSAGES_SENT, "tenant" => tenant.to_owned()).increment(n as u64);
}

/// What the consumer did to a tenant's messages in one cycle, added up so a
/// batch costs one update per tenant rather than one per message.
#[derive(Debug, Default)]
pub struct CycleCounts {
    by_tenant: Vec<(String, [u64; 4])>,
}

const RECEIVED: usize = 0;
const DELETED: usize = 1;
const RETRIED: usize = 2;
const DEAD_LETTERED: usize = 3;

impl CycleCounts {
    fn add(&mut self, tenant: &str, what: usize, n: u64) {
        match self.by_tenant.iter_mut().find(|(t, _)| t == tenant) {
            Some((_, counts)) => counts[what] += n,
            None => {
                let mut counts = [0; 4];
                counts[what] = n;
                self.by_tenant.push((tenant.to_owned(), counts));
            }
        }
    }

    pub fn received(&mut self, tenant: &str) {
        self.add(tenant, RECEIVED, 1);
    }

    pub fn deleted(&mut self, tenant: &str) {
        self.add(tenant, DELETED, 1);
    }

    pub fn retried(&mut self, tenant: &str) {
        self.add(tenant, RETRIED, 1);
    }

    pub fn dead_lettered(&mut self, tenant: &str) {
        self.add(tenant, DEAD_LETTERED, 1);
    }

    /// Records the cycle's counts.
    pub fn emit(self) {
        let names = [MESSAGES_RECEIVED, MESSAGES_DELETED, MESSAGES_RETRIED, MESSAGES_DEAD_LETTERED];
        for (tenant, counts) in self.by_tenant {
            for (name, n) in names.into_iter().zip(counts) {
                if n > 0 {
                    counter!(name, "tenant" => tenant.clone()).increment(n);
                }
            }
        }
    }
}

/// One batch was applied to the directory.
pub fn batch_applied(took: Duration) {
    histogram!(APPLY_DURATION).record(took.as_secs_f64());
}

/// Where to record, per applied message, the seconds since ingest accepted
/// it; taken once per batch, so a message costs one atomic record.
pub fn ingest_to_apply() -> metrics::Histogram {
    histogram!(INGEST_TO_APPLY)
}

/// The outcome of one alarm notification attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    Delivered,
    Retried,
    Failed,
    Dropped,
}

pub fn notification(notifier: &str, outcome: Notification) {
    let name = match outcome {
        Notification::Delivered => NOTIFICATIONS_DELIVERED,
        Notification::Retried => NOTIFICATIONS_RETRIED,
        Notification::Failed => NOTIFICATIONS_FAILED,
        Notification::Dropped => NOTIFICATIONS_DROPPED,
    };
    counter!(name, "notifier" => notifier.to_owned()).increment(1);
}

/// The outcome of one attempt to deliver an event to a webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDelivery {
    Delivered,
    /// Failed; another attempt will follow.
    Retried,
    /// Failed for the last time: an event dead letter.
    DeadLettered,
}

pub fn event_delivery(tenant: &str, outcome: EventDelivery) {
    let name = match outcome {
        EventDelivery::Delivered => EVENTS_DELIVERED,
        EventDelivery::Retried => EVENT_DELIVERIES_FAILED,
        EventDelivery::DeadLettered => EVENTS_DEAD_LETTERED,
    };
    counter!(name, "tenant" => tenant.to_owned()).increment(1);
}
