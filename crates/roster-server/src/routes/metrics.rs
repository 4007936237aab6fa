//! `GET /metrics`: Prometheus text format. Counters and histograms come from
//! the process's recorder; gauges are read from this node's ports at scrape
//! time (queue depths, feeds by status, the outbox backlog) and its alarm board, so they are
//! fresh and describe the node that answers. It answers the metrics token or
//! an operator key only (the router checks): labels hold tenant ids, never
//! names, but those ids and volumes are still no one else's business.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use roster_core::alarm::AlarmState;
use roster_engine::telemetry as t;
use roster_store::FeedStatus;

use crate::state::AppState;

const FEED_STATUSES: [FeedStatus; 8] = [
    FeedStatus::Receiving,
    FeedStatus::Accepted,
    FeedStatus::Processing,
    FeedStatus::Completed,
    FeedStatus::CompletedWithErrors,
    FeedStatus::Failed,
    FeedStatus::Halted,
    FeedStatus::Rejected,
];

const ALARM_STATES: [AlarmState; 3] = [AlarmState::Ok, AlarmState::Alarm, AlarmState::InsufficientData];

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = crate::metrics::install().render();

    match state.queue.stats().await {
        Ok(q) => {
            gauge(&mut out, t::QUEUE_VISIBLE, "Messages waiting to be received.", &[("", q.visible as f64)]);
            let help = "Messages received and not yet acknowledged.";
            gauge(&mut out, t::QUEUE_IN_FLIGHT, help, &[("", q.in_flight as f64)]);
            let help = "Messages waiting for a retry delay to pass.";
            gauge(&mut out, t::QUEUE_DELAYED, help, &[("", q.delayed as f64)]);
            gauge(
                &mut out,
                t::QUEUE_DLQ,
                "Messages in the dead-letter queue.",
                &[("", q.dead_letters as f64)],
            );
            // Absent when the backend cannot tell (SQS: a CloudWatch metric).
            let age = match q.oldest_age {
                Some(age) => Some(age.as_secs_f64()),
                None if q.depth() == 0 => Some(0.0),
                None => None,
            };
            if let Some(age) = age {
                gauge(&mut out, t::QUEUE_OLDEST_AGE, "Age of the oldest message in the queue.", &[("", age)]);
            }
        }
        Err(e) => tracing::warn!(error = %e, "/metrics: could not read the queue's stats"),
    }

    match state.directory.count_feeds_by_status().await {
        Ok(counts) => {
            let samples: Vec<(String, f64)> = FEED_STATUSES
                .iter()
                .map(|s| {
                    let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                    (format!("status=\"{}\"", s.as_str()), n as f64)
                })
                .collect();
            gauge(&mut out, t::FEEDS, "Feeds by status, all tenants.", &samples);
        }
        Err(e) => tracing::warn!(error = %e, "/metrics: could not count feeds"),
    }

    match state.directory.outbox_backlog().await {
        Ok(backlog) => {
            let now = state.clock.now();
            // Per tenant, summed over its active endpoints (the oldest age is the
            // maximum); `sum()` in PromQL gives the node's total.
            let mut by_tenant: Vec<(String, u64, f64, u64)> = Vec::new();
            for b in &backlog {
                let tenant = b.tenant_id.to_string();
                let age =
                    b.oldest_pending_at.map_or(0.0, |t| ((now.millis() - t.millis()).max(0) as f64) / 1000.0);
                match by_tenant.iter_mut().find(|(t, ..)| *t == tenant) {
                    Some((_, pending, oldest, dead)) => {
                        *pending += b.pending;
                        *oldest = oldest.max(age);
                        *dead += b.dead_letters;
                    }
                    None => by_tenant.push((tenant, b.pending, age, b.dead_letters)),
                }
            }
            let label = |t: &str| format!("tenant=\"{t}\"");
            let pending: Vec<(String, f64)> =
                by_tenant.iter().map(|(t, p, ..)| (label(t), *p as f64)).collect();
            let help = "Events not yet delivered, summed over the tenant's active webhook endpoints.";
            gauge(&mut out, t::OUTBOX_BACKLOG, help, &pending);
            let ages: Vec<(String, f64)> = by_tenant.iter().map(|(t, _, a, _)| (label(t), *a)).collect();
            let help = "Age of the oldest event not yet delivered to one of the tenant's endpoints.";
            gauge(&mut out, t::OUTBOX_OLDEST_PENDING_AGE, help, &ages);
            let dead: Vec<(String, f64)> = by_tenant.iter().map(|(t, .., d)| (label(t), *d as f64)).collect();
            let help = "Event dead letters waiting for a redrive, over the tenant's active endpoints.";
            gauge(&mut out, t::EVENT_DEAD_LETTERS, help, &dead);
        }
        Err(e) => tracing::warn!(error = %e, "/metrics: could not read the outbox backlog"),
    }

    if let Some(board) = &state.alarms {
        let samples: Vec<(String, f64)> = board
            .statuses()
            .iter()
            .flat_map(|a| {
                // Rule names are plain (`[A-Za-z0-9_.-]`): safe in a label.
                ALARM_STATES.iter().map(move |s| {
                    (format!("alarm=\"{}\",state=\"{s}\"", a.name), f64::from(u8::from(a.state == *s)))
                })
            })
            .collect();
        if !samples.is_empty() {
            gauge(&mut out, t::ALARM_STATE, "1 for each alarm's current state, 0 for the others.", &samples);
        }
    }

    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

/// Appends one gauge family; each sample is (labels without braces, value).
fn gauge<L: AsRef<str>>(out: &mut String, name: &str, help: &str, samples: &[(L, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let labels = labels.as_ref();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    out.push('\n');
}
