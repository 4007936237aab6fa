//! Dead letters as the API, the operator routes and the console share
//! them: a dead letter's payload as people read it, and purging a tenant's
//! (each first counted as failed in its feed, so no feed waits for a
//! message that no longer exists).

use roster_core::public_id::{Kind, render};
use roster_core::{ChangeMessage, TenantId, Timestamp};
use roster_queue::{DeadLetter, DeadLetterFilter, Queue, QueueError};
use roster_store::{Directory, StoreError};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts each of the tenant's dead letters as failed in its feed (once:
/// the directory ignores what it counted or applied already), then purges
/// them; returns how many were purged. A dead letter that arrives between
/// the two steps is purged uncounted: its feed then waits for the stall
/// sweep, as any feed whose message vanished does.
pub async fn purge(
    queue: &dyn Queue,
    directory: &dyn Directory,
    tenant: TenantId,
    now: Timestamp,
) -> Result<u64, PurgeError> {
    const PAGE: usize = 500;
    let mut after = None;
    loop {
        let filter = DeadLetterFilter { tenant: Some(tenant.to_string()), after: after.clone(), limit: PAGE };
        let page = queue.list_dead_letters(&filter).await?;
        for dead in &page {
            if let Ok(change) = ChangeMessage::from_bytes(&dead.body)
                && change.tenant_id == tenant
            {
                directory.record_failure(&change, now).await?;
            }
        }
        if page.len() < PAGE {
            break;
        }
        after = page.last().map(|d| d.id.clone());
    }
    Ok(queue.purge_dead_letters(Some(&tenant.to_string())).await?)
}

/// The dead letter's body as JSON: a change message written again (so
/// that one an older build queued shows its times and ids as every output
/// does), else the body's own JSON, else its text. Personal data: for
/// admins' eyes, audited by the caller.
pub fn payload(d: &DeadLetter) -> Value {
    match (ChangeMessage::from_bytes(&d.body), serde_json::from_slice::<Value>(&d.body)) {
        (Ok(message), _) => {
            let mut json = json!(message);
            json["tenantId"] = json!(render(Kind::Tenant, message.tenant_id));
            json["feedId"] = json!(render(Kind::Feed, message.feed_id));
            json
        }
        (Err(_), Ok(json)) => json,
        (Err(_), Err(_)) => Value::String(String::from_utf8_lossy(&d.body).into_owned()),
    }
}
