//! Applying changes: one transaction per batch; per message an idempotency
//! check, stale-update protection, the lifecycle decision, and the person,
//! history, outbox and feed counts written together.

use std::collections::HashMap;

use roster_core::lifecycle::{Decision, decide};
use roster_core::{ChangeMessage, FeedId, LifecycleEvent, Person, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

use super::storage;
use crate::{ApplyOutcome, FeedCounts, FeedStatus, StoreError};

/// Counter changes of one feed within a batch.
#[derive(Default)]
struct Delta {
    applied: i64,
    unchanged: i64,
    stale: i64,
    failed: i64,
}

pub fn apply_batch(
    tx: &Transaction<'_>,
    messages: &[ChangeMessage],
    now: Timestamp,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    let mut deltas: HashMap<FeedId, Delta> = HashMap::new();
    let mut feed_known: HashMap<FeedId, bool> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for msg in messages {
        let message_id = msg.message_id.to_string();
        let previous: Option<String> = tx
            .prepare_cached("SELECT outcome FROM applied_messages WHERE message_id = ?1")
            .map_err(storage)?
            .query_row([&message_id], |r| r.get(0))
            .optional()
            .map_err(storage)?;
        let was_failed = match previous.as_deref() {
            Some("failed") => true,
            Some(_) => {
                out.push(ApplyOutcome::Duplicate);
                continue;
            }
            None => false,
        };
        let known = match feed_known.get(&msg.feed_id) {
            Some(k) => *k,
            None => {
                let k = feed_exists(tx, msg)?;
                feed_known.insert(msg.feed_id, k);
                k
            }
        };
        if !known {
            out.push(ApplyOutcome::Rejected("unknown feed for this tenant".into()));
            continue;
        }

        let outcome = apply_one(tx, msg, now)?;
        let label = match &outcome {
            ApplyOutcome::Applied { .. } => "applied",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::Stale => "stale",
            _ => unreachable!("apply_one decides only applied, unchanged or stale"),
        };
        tx.prepare_cached(
            "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (message_id) DO UPDATE SET outcome = excluded.outcome, at = excluded.at",
        )
        .map_err(storage)?
        .execute(params![message_id, msg.tenant_id.to_string(), msg.feed_id.to_string(), label, now.millis()])
        .map_err(storage)?;
        let d = deltas.entry(msg.feed_id).or_default();
        match label {
            "applied" => d.applied += 1,
            "unchanged" => d.unchanged += 1,
            _ => d.stale += 1,
        }
        if was_failed {
            d.failed -= 1;
        }
        out.push(outcome);
    }
    for (feed, d) in deltas {
        bump_feed(tx, feed, &d, now)?;
    }
    Ok(out)
}

/// Counts a dead-lettered message as failed, once.
pub fn record_failure(tx: &Transaction<'_>, msg: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
    if !feed_exists(tx, msg)? {
        return Ok(());
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at) VALUES (?1, ?2, ?3, 'failed', ?4)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .map_err(storage)?
        .execute(params![msg.message_id.to_string(), msg.tenant_id.to_string(), msg.feed_id.to_string(), now.millis()])
        .map_err(storage)?;
    if inserted == 1 {
        bump_feed(tx, msg.feed_id, &Delta { failed: 1, ..Delta::default() }, now)?;
    }
    Ok(())
}

fn feed_exists(tx: &Transaction<'_>, msg: &ChangeMessage) -> Result<bool, StoreError> {
    tx.prepare_cached("SELECT 1 FROM feeds WHERE id = ?1 AND tenant_id = ?2")
        .map_err(storage)?
        .query_row(params![msg.feed_id.to_string(), msg.tenant_id.to_string()], |_| Ok(()))
        .optional()
        .map_err(storage)
        .map(|r| r.is_some())
}

fn apply_one(tx: &Transaction<'_>, msg: &ChangeMessage, now: Timestamp) -> Result<ApplyOutcome, StoreError> {
    let tenant = msg.tenant_id.to_string();
    let external_id = msg.change.external_id().as_str().to_owned();
    let stored: Option<(i64, Option<i64>, String)> = tx
        .prepare_cached(
            "SELECT version, last_modified, data FROM people WHERE tenant_id = ?1 AND external_id = ?2",
        )
        .map_err(storage)?
        .query_row(params![tenant, external_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(storage)?;
    let (version, stored_lm, current) = match stored {
        Some((v, lm, data)) => {
            let person: Person = serde_json::from_str(&data)
                .map_err(|e| StoreError::Storage(format!("stored person does not decode: {e}")))?;
            (v, lm, Some(person))
        }
        None => (0, None, None),
    };
    let incoming_lm = msg.last_modified.map(Timestamp::millis);
    if let (Some(incoming), Some(stored)) = (incoming_lm, stored_lm)
        && incoming < stored
    {
        return Ok(ApplyOutcome::Stale);
    }
    let last_modified = incoming_lm.max(stored_lm);

    let (person, changed, event) = match decide(current.as_ref(), &msg.change) {
        Decision::Unchanged => {
            if current.is_some() && last_modified != stored_lm {
                tx.prepare_cached(
                    "UPDATE people SET last_modified = ?3 WHERE tenant_id = ?1 AND external_id = ?2",
                )
                .map_err(storage)?
                .execute(params![tenant, external_id, last_modified])
                .map_err(storage)?;
            }
            return Ok(ApplyOutcome::Unchanged);
        }
        Decision::Write { person, changed, event } => (person, changed, event),
    };

    let version = version + 1;
    let data = serde_json::to_value(&person).map_err(|e| StoreError::Storage(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO people (tenant_id, external_id, version, active, last_modified, data, created_at, updated_at, last_feed_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)
         ON CONFLICT (tenant_id, external_id) DO UPDATE SET
            version = excluded.version, active = excluded.active, last_modified = excluded.last_modified,
            data = excluded.data, updated_at = excluded.updated_at, last_feed_id = excluded.last_feed_id",
    )
    .map_err(storage)?
    .execute(params![
        tenant,
        external_id,
        version,
        person.active,
        last_modified,
        data.to_string(),
        now.millis(),
        msg.feed_id.to_string()
    ])
    .map_err(storage)?;

    // The new values of the changed attributes (null where cleared).
    let changes: Map<String, Value> =
        changed.iter().map(|f| ((*f).to_owned(), data.get(*f).cloned().unwrap_or(Value::Null))).collect();
    let changed_json = serde_json::to_string(&changed).map_err(|e| StoreError::Storage(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO person_history (tenant_id, external_id, version, feed_id, message_id, event, changed_fields, changes, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .map_err(storage)?
    .execute(params![
        tenant,
        external_id,
        version,
        msg.feed_id.to_string(),
        msg.message_id.to_string(),
        event.map(|e| e.as_str()),
        changed_json,
        Value::Object(changes).to_string(),
        now.millis()
    ])
    .map_err(storage)?;

    if let Some(kind) = event {
        let payload = LifecycleEvent {
            kind,
            changed_fields: changed.iter().map(|f| (*f).to_owned()).collect(),
            person,
        };
        let payload = serde_json::to_string(&payload).map_err(|e| StoreError::Storage(e.to_string()))?;
        tx.prepare_cached(
            "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(storage)?
        .execute(params![
            uuid::Uuid::now_v7().to_string(),
            tenant,
            kind.as_str(),
            msg.feed_id.to_string(),
            now.millis(),
            payload
        ])
        .map_err(storage)?;
    }
    Ok(ApplyOutcome::Applied { event })
}

fn bump_feed(tx: &Transaction<'_>, feed: FeedId, d: &Delta, now: Timestamp) -> Result<(), StoreError> {
    let id = feed.to_string();
    let counts: Option<FeedCounts> = tx
        .prepare_cached(
            "UPDATE feeds SET applied = applied + ?2, unchanged = unchanged + ?3, stale = stale + ?4,
                              failed = MAX(failed + ?5, 0), updated_at = ?6
             WHERE id = ?1
             RETURNING received, accepted, rejected, applied, unchanged, stale, failed",
        )
        .map_err(storage)?
        .query_row(
            params![id, d.applied, d.unchanged, d.stale, d.failed, now.millis()],
            super::counts_from_row,
        )
        .optional()
        .map_err(storage)?;
    let Some(counts) = counts else { return Ok(()) };
    let status = status_of(&counts);
    let done = matches!(status, FeedStatus::Completed | FeedStatus::CompletedWithErrors);
    tx.prepare_cached(
        "UPDATE feeds SET status = ?2,
                completed_at = CASE WHEN ?3 THEN COALESCE(completed_at, ?4) ELSE NULL END
         WHERE id = ?1",
    )
    .map_err(storage)?
    .execute(params![id, status.as_str(), done, now.millis()])
    .map_err(storage)?;
    Ok(())
}

/// Where a feed is, from its counts.
pub fn status_of(c: &FeedCounts) -> FeedStatus {
    let processed = c.applied + c.unchanged + c.stale + c.failed;
    if processed >= c.accepted {
        if c.rejected > 0 || c.failed > 0 { FeedStatus::CompletedWithErrors } else { FeedStatus::Completed }
    } else if processed == 0 {
        FeedStatus::Accepted
    } else {
        FeedStatus::Processing
    }
}
