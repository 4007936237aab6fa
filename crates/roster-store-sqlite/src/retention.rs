//! Retention: the bookkeeping tables that would otherwise grow for ever.
//! Each rule keeps what a redelivery can still need (see `DueWork::prune`).

use roster_core::Timestamp;
use rusqlite::{Transaction, params};

use super::{IDEMPOTENCY_TTL_MS, storage};
use roster_store::{PruneReport, StoreError};

pub fn prune(tx: &Transaction<'_>, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError> {
    // A message id counted `failed` stays: its dead letter may be redriven
    // any time, and its apply must then move the count from failed to applied.
    let applied_messages = tx
        .execute(
            "DELETE FROM applied_messages WHERE at < ?1 AND outcome != 'failed'",
            params![before.millis()],
        )
        .map_err(storage)? as u64;
    // An event stays while an active endpoint of its tenant has not passed
    // it, or while an event dead letter points at it (a redrive resends it).
    let events = tx
        .execute(
            "DELETE FROM outbox
             WHERE occurred_at < ?1
               AND NOT EXISTS (SELECT 1 FROM endpoints e
                               WHERE e.tenant_id = outbox.tenant_id AND e.disabled_at IS NULL
                                 AND e.cursor < outbox.seq)
               AND NOT EXISTS (SELECT 1 FROM event_dead_letters d
                               WHERE d.tenant_id = outbox.tenant_id AND d.event_seq = outbox.seq)",
            params![before.millis()],
        )
        .map_err(storage)? as u64;
    let idempotency_keys = tx
        .execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?1",
            params![now.millis() - IDEMPOTENCY_TTL_MS],
        )
        .map_err(storage)? as u64;
    let delivery_attempts = tx
        .execute("DELETE FROM delivery_attempts WHERE at < ?1", params![before.millis()])
        .map_err(storage)? as u64;
    Ok(PruneReport { applied_messages, events, idempotency_keys, delivery_attempts })
}
