//! The scheduler function: each EventBridge tick runs one pass of every
//! once-per-cluster job — due hires and terminations and stalled uploads,
//! webhook delivery, alarm evaluation — each under its lease, as a node's
//! loops do, then gives the leases up: a frozen execution environment must
//! not sit on them until they expire. Before it answers, it waits (within
//! `notify_within`) for the alarm notifications of the tick: once the
//! function answers, its environment may be frozen until the next tick.

use std::time::Duration;

use roster_app::platform::Jobs;
use serde_json::{Value, json};

/// How long a tick may wait for its alarm notifications: what is left of
/// the invocation (`deadline_ms`, Lambda's, in ms since the epoch) less
/// `margin` to answer in, at most `cap`, never negative.
pub fn notify_budget(deadline_ms: u64, now_ms: u64, margin: Duration, cap: Duration) -> Duration {
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    left.saturating_sub(margin).min(cap)
}

/// One tick; the answer says what each job did, or that another holder
/// had its lease.
pub async fn tick(jobs: &mut Jobs, notify_within: Duration) -> Value {
    let sweep = match jobs.scheduler.run_leased().await {
        None => json!("skipped: another holder has the lease"),
        Some(Ok(r)) => json!({
            "due": r.due, "stalledFeeds": r.stalled_feeds,
            "deadLettersCounted": r.dead_letters_counted, "pruned": r.pruned,
        }),
        Some(Err(e)) => json!({ "error": e.to_string() }),
    };
    let outbox = match jobs.outbox.run_leased().await {
        None => json!("skipped: another holder has the lease"),
        Some(Ok(r)) => {
            json!({ "delivered": r.delivered, "retried": r.retried, "deadLettered": r.dead_lettered })
        }
        Some(Err(e)) => json!({ "error": e.to_string() }),
    };
    let alarms = match jobs.alarms.evaluate_leased().await {
        None => json!("skipped: another holder has the lease"),
        Some(transitions) => json!({
            "transitions": transitions.len(),
            "notificationsSettled": jobs.alarms.settle_notifications(notify_within).await,
        }),
    };
    for lease in &jobs.leases {
        lease.release().await;
    }
    json!({ "scheduler": sweep, "outbox": outbox, "alarms": alarms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notification_budget_is_what_the_invocation_has_left_less_a_margin() {
        let (margin, cap) = (Duration::from_secs(2), Duration::from_secs(120));
        assert_eq!(notify_budget(10_000, 1_000, margin, cap), Duration::from_secs(7));
        assert_eq!(notify_budget(1_000_000, 0, margin, cap), cap, "at most the cap");
        assert_eq!(notify_budget(2_500, 1_000, margin, cap), Duration::ZERO, "less left than the margin");
        assert_eq!(notify_budget(1_000, 5_000, margin, cap), Duration::ZERO, "past the deadline");
    }
}
