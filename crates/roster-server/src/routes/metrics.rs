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

use crate::metrics::emf::GaugeSample;
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
    let gauges = read_gauges(&state).await;
    let mut i = 0;
    while i < gauges.len() {
        let name = gauges[i].name;
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} gauge", help(name));
        while i < gauges.len() && gauges[i].name == name {
            let g = &gauges[i];
            if g.labels.is_empty() {
                let _ = writeln!(out, "{name} {}", g.value);
            } else {
                let labels: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), g.value);
            }
            i += 1;
        }
        out.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

fn help(name: &str) -> &'static str {
    match name {
        t::QUEUE_VISIBLE => "Messages waiting to be received.",
        t::QUEUE_IN_FLIGHT => "Messages received and not yet acknowledged.",
        t::QUEUE_DELAYED => "Messages waiting for a retry delay to pass.",
        t::QUEUE_DLQ => "Messages in the dead-letter queue.",
        t::QUEUE_OLDEST_AGE => "Age of the oldest message in the queue.",
        t::FEEDS => "Feeds by status, all tenants.",
        t::OUTBOX_BACKLOG => "Events not yet delivered, summed over the tenant's active webhook endpoints.",
        t::OUTBOX_OLDEST_PENDING_AGE => {
            "Age of the oldest event not yet delivered to one of the tenant's endpoints."
        }
        t::EVENT_DEAD_LETTERS => {
            "Event dead letters waiting for a redrive, over the tenant's active endpoints."
        }
        t::ALARM_STATE => "1 for each alarm's current state, 0 for the others.",
        _ => "",
    }
}

/// The gauges this node reads from its ports now (queue depths, feeds by
/// status, the outbox backlog per tenant) and its alarm board, grouped by
/// name: what `/metrics` serves and the EMF flusher publishes. A port that
/// cannot answer leaves its gauges out (logged).
pub async fn read_gauges(state: &AppState) -> Vec<GaugeSample> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, labels: Vec<(&'static str, String)>, value: f64| {
        out.push(GaugeSample { name, labels, value });
    };
    match state.queue.stats().await {
        Ok(q) => {
            push(t::QUEUE_VISIBLE, vec![], q.visible as f64);
            push(t::QUEUE_IN_FLIGHT, vec![], q.in_flight as f64);
            push(t::QUEUE_DELAYED, vec![], q.delayed as f64);
            push(t::QUEUE_DLQ, vec![], q.dead_letters as f64);
            // Absent when the backend cannot tell (SQS: a CloudWatch metric).
            let age = match q.oldest_age {
                Some(age) => Some(age.as_secs_f64()),
                None if q.depth() == 0 => Some(0.0),
                None => None,
            };
            if let Some(age) = age {
                push(t::QUEUE_OLDEST_AGE, vec![], age);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the queue's stats"),
    }

    match state.directory.count_feeds_by_status().await {
        Ok(counts) => {
            for s in FEED_STATUSES {
                let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
                push(t::FEEDS, vec![("status", s.as_str().to_owned())], n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count feeds"),
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
            for (tenant, pending, ..) in &by_tenant {
                push(t::OUTBOX_BACKLOG, vec![("tenant", tenant.clone())], *pending as f64);
            }
            for (tenant, _, age, _) in &by_tenant {
                push(t::OUTBOX_OLDEST_PENDING_AGE, vec![("tenant", tenant.clone())], *age);
            }
            for (tenant, .., dead) in &by_tenant {
                push(t::EVENT_DEAD_LETTERS, vec![("tenant", tenant.clone())], *dead as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the outbox backlog"),
    }

    if let Some(board) = &state.alarms {
        for a in board.statuses() {
            // Rule names are plain (`[A-Za-z0-9_.-]`): safe in a label.
            for s in ALARM_STATES {
                let labels = vec![("alarm", a.name.clone()), ("state", s.to_string())];
                push(t::ALARM_STATE, labels, f64::from(u8::from(a.state == s)));
            }
        }
    }
    out
}
