//! The scheduler function: each EventBridge tick runs one pass of every
//! once-per-cluster job — due hires and terminations and stalled uploads,
//! webhook delivery, alarm evaluation — each under its lease, as a node's
//! loops do, then gives the leases up: a frozen execution environment must
//! not sit on them until they expire.

use roster_app::platform::Jobs;
use serde_json::{Value, json};

/// One tick; the answer says what each job did, or that another holder
/// had its lease.
pub async fn tick(jobs: &mut Jobs) -> Value {
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
        Some(transitions) => json!({ "transitions": transitions.len() }),
    };
    for lease in &jobs.leases {
        lease.release().await;
    }
    json!({ "scheduler": sweep, "outbox": outbox, "alarms": alarms })
}
