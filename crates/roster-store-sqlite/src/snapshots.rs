//! Full snapshots: once every record of a sealed full feed is processed and
//! every feed of its tenant accepted before it is settled, the active people
//! of its source that it did not list, and that no newer feed has said
//! anything about, are its leavers — unless they are more than the source's
//! threshold allows, in which case the feed halts until an operator approves
//! or rejects it (or a newer snapshot of the source supersedes it).

use roster_core::lifecycle::{Decision, decide};
use roster_core::{Change, ExternalId, FeedId, FeedMode, SourceName, TenantId, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use super::apply::{PersonWrite, Statements, load_person};
use super::{counts_from_row, json_col, storage};
use roster_store::policy::status_of;
use roster_store::{FeedCounts, FeedStatus, ReconcileState, Reconciliation, SourceSettings, StoreError};

/// What `refresh_feed` needs of a feed row.
#[derive(Clone)]
struct FeedState {
    tenant: String,
    source: String,
    mode: FeedMode,
    sealed: bool,
    counts: FeedCounts,
    reconciliation: Option<Reconciliation>,
    created_at: i64,
    status: String,
    position: i64,
}

fn load(tx: &Transaction<'_>, feed: &str) -> Result<Option<FeedState>, StoreError> {
    tx.prepare_cached(
        "SELECT received, accepted, rejected, applied, unchanged, stale, failed, leavers,
                tenant_id, source, mode, sealed, reconciliation, created_at, status, position
         FROM feeds WHERE id = ?1",
    )
    .map_err(storage)?
    .query_row([feed], |r| {
        let mode: String = r.get(10)?;
        Ok(FeedState {
            counts: counts_from_row(r)?,
            tenant: r.get(8)?,
            source: r.get(9)?,
            mode: FeedMode::parse(&mode).unwrap_or_default(),
            sealed: r.get(11)?,
            reconciliation: r.get::<_, Option<String>>(12)?.map(json_col).transpose()?,
            created_at: r.get(13)?,
            status: r.get(14)?,
            position: r.get::<_, Option<i64>>(15)?.unwrap_or(0),
        })
    })
    .optional()
    .map_err(storage)
}

/// Recomputes a feed's status after its counts changed; reconciles a full
/// snapshot whose records are all processed once nothing accepted before it
/// is still open; and, when the feed has just settled, lets a snapshot that
/// waited for it go on.
pub fn refresh_feed(tx: &Transaction<'_>, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
    let id = feed.to_string();
    let Some(mut state) = load(tx, &id)? else { return Ok(()) };
    if state.status == FeedStatus::Failed.as_str() || state.status == FeedStatus::Superseded.as_str() {
        return Ok(());
    }
    let was_settled = FeedStatus::parse(&state.status).is_some_and(FeedStatus::is_settled);
    let done = matches!(
        status_of(&state.counts, state.sealed, None),
        FeedStatus::Completed | FeedStatus::CompletedWithErrors
    );
    let undecided = state.reconciliation.as_ref().is_none_or(|r| r.state == ReconcileState::Waiting);
    if done && state.mode == FeedMode::Full && undecided {
        let open = earlier_open_feeds(tx, &state)?;
        if open > 0 {
            state.reconciliation = Some(roster_store::policy::waiting_snapshot(open));
        } else {
            let r = reconcile(tx, &id, &state, now)?;
            state.counts.leavers = if r.state == ReconcileState::Applied { r.absent } else { 0 };
            state.reconciliation = Some(r);
        }
    }
    let status = write_status(tx, &id, &state, now)?;
    if status.is_settled() && !was_settled {
        release_waiting(tx, &state.tenant, now)?;
    }
    Ok(())
}

/// Feeds of the tenant accepted before this one that are not settled:
/// their changes may still move people into or out of the snapshot's
/// judgement, so it waits for them.
fn earlier_open_feeds(tx: &Transaction<'_>, state: &FeedState) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "SELECT COUNT(*) FROM feeds WHERE tenant_id = ?1 AND position < ?2
           AND status IN ('receiving', 'accepted', 'processing')",
    )
    .map_err(storage)?
    .query_row(params![state.tenant, state.position], |r| r.get(0))
    .map_err(storage)
}

/// A feed of the tenant has settled: if the oldest open feed is a snapshot
/// waiting only for earlier feeds, judge it now (which, when it settles,
/// lets the next one go in turn).
pub fn release_waiting(tx: &Transaction<'_>, tenant: &str, now: Timestamp) -> Result<(), StoreError> {
    let oldest: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM feeds WHERE tenant_id = ?1 AND status IN ('receiving', 'accepted', 'processing')
             ORDER BY position LIMIT 1",
        )
        .map_err(storage)?
        .query_row([tenant], |r| r.get(0))
        .optional()
        .map_err(storage)?;
    let Some(oldest) = oldest else { return Ok(()) };
    let Some(state) = load(tx, &oldest)? else { return Ok(()) };
    if state.reconciliation.as_ref().is_some_and(|r| r.state == ReconcileState::Waiting) {
        let feed: FeedId =
            oldest.parse().map_err(|_| StoreError::Storage("feed id does not parse".into()))?;
        refresh_feed(tx, feed, now)?;
    }
    Ok(())
}

fn write_status(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<FeedStatus, StoreError> {
    let status = status_of(&state.counts, state.sealed, state.reconciliation.as_ref());
    let finished = status.is_done();
    let reconciliation = state
        .reconciliation
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Storage(e.to_string()))?;
    tx.prepare_cached(
        "UPDATE feeds SET status = ?2, leavers = ?3, reconciliation = ?4, updated_at = ?5,
                completed_at = CASE WHEN ?6 THEN COALESCE(completed_at, ?5) ELSE NULL END
         WHERE id = ?1",
    )
    .map_err(storage)?
    .execute(params![
        id,
        status.as_str(),
        state.counts.leavers as i64,
        reconciliation,
        now.millis(),
        finished
    ])
    .map_err(storage)?;
    let before = FeedStatus::parse(&state.status).unwrap_or(FeedStatus::Processing);
    if let Some(kind) = roster_store::policy::feed_event(before, status) {
        announce(tx, id, state, kind, status, now)?;
    }
    Ok(status)
}

/// Writes the feed event of a feed that has just become `status`, in the
/// transaction that made it so: exactly once, since only the transaction
/// that moves the stored status writes one (this writer is the only one).
fn announce(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    kind: roster_core::lifecycle::EventType,
    status: FeedStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let feed_id: FeedId = id.parse().map_err(|_| StoreError::Storage("feed id does not parse".into()))?;
    let settings = match state.reconciliation {
        Some(_) => source_settings(tx, &state.tenant, &state.source)?,
        None => SourceSettings::default(),
    };
    let event = roster_store::FeedEvent::new(
        kind,
        feed_id,
        SourceName::parse(&state.source).unwrap_or_default(),
        state.mode,
        status,
        state.counts,
        state.reconciliation.as_ref(),
        &settings,
    );
    let payload = serde_json::to_string(&event).map_err(|e| StoreError::Storage(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(storage)?
    .execute(params![uuid::Uuid::now_v7().to_string(), state.tenant, kind.as_str(), id, now.millis(), payload])
    .map_err(storage)?;
    Ok(())
}

/// A feed has failed (ingest could not queue it, or its upload stalled):
/// announces it, unless it had failed before.
pub fn announce_failure(
    tx: &Transaction<'_>,
    id: &str,
    before: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let before = FeedStatus::parse(before).unwrap_or(FeedStatus::Processing);
    let Some(kind) = roster_store::policy::feed_event(before, FeedStatus::Failed) else { return Ok(()) };
    let Some(state) = load(tx, id)? else { return Ok(()) };
    announce(tx, id, &state, kind, FeedStatus::Failed, now)
}

fn source_settings(tx: &Transaction<'_>, tenant: &str, source: &str) -> Result<SourceSettings, StoreError> {
    let stored: Option<String> = tx
        .prepare_cached("SELECT settings FROM sources WHERE tenant_id = ?1 AND name = ?2")
        .map_err(storage)?
        .query_row(params![tenant, source], |r| r.get(0))
        .optional()
        .map_err(storage)?;
    match stored {
        Some(s) => serde_json::from_str(&s).map_err(|e| StoreError::Storage(format!("source settings: {e}"))),
        None => Ok(SourceSettings::default()),
    }
}

/// Active people of the feed's source it did not list and whose newest
/// word is older than the snapshot (a person some later feed listed,
/// changed or deactivated is not judged by it, in whatever order the queue
/// delivered them). People still pending are not judged either.
fn absent(tx: &Transaction<'_>, id: &str, state: &FeedState) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT p.external_id FROM people p
             WHERE p.tenant_id = ?1 AND p.source = ?2 AND p.active = 1 AND p.status = 'active' AND p.position < ?3
               AND NOT EXISTS (SELECT 1 FROM snapshot_members m WHERE m.feed_id = ?4 AND m.external_id = p.external_id)",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![state.tenant, state.source, state.position, id], |r| r.get(0))
        .map_err(storage)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(storage)
}

fn count_by_status(tx: &Transaction<'_>, state: &FeedState, status: &str) -> Result<u64, StoreError> {
    let n: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM people WHERE tenant_id = ?1 AND source = ?2 AND status = ?3")
        .map_err(storage)?
        .query_row(params![state.tenant, state.source, status], |r| r.get(0))
        .map_err(storage)?;
    Ok(n.max(0) as u64)
}

fn reconcile(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<Reconciliation, StoreError> {
    let settings = source_settings(tx, &state.tenant, &state.source)?;
    let active = count_by_status(tx, state, "active")?;
    let pending = count_by_status(tx, state, "pending")?;
    let leavers = absent(tx, id, state)?;
    let mut r = roster_store::policy::judge_snapshot(
        roster_store::policy::SnapshotFigures {
            active,
            pending,
            absent: leavers.len() as u64,
            accepted: state.counts.accepted,
        },
        &settings,
    );
    if r.state == ReconcileState::Applied {
        deactivate(tx, id, state, &leavers, now)?;
        forget_members(tx, id)?;
    }
    supersede_older(tx, id, state, now)?;
    r.decided_at = None;
    Ok(r)
}

/// Older snapshots of the same source still halted can no longer be
/// approved: this newer one has judged the source.
fn supersede_older(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<(), StoreError> {
    let older: Vec<String> = tx
        .prepare_cached(
            "SELECT id FROM feeds WHERE tenant_id = ?1 AND source = ?2 AND mode = 'full' AND status = 'halted'
               AND position < ?3",
        )
        .map_err(storage)?
        .query_map(params![state.tenant, state.source, state.position], |r| r.get(0))
        .map_err(storage)?
        .collect::<Result<_, _>>()
        .map_err(storage)?;
    for old in older {
        let Some(mut s) = load(tx, &old)? else { continue };
        if let Some(r) = s.reconciliation.as_mut() {
            r.state = ReconcileState::Superseded;
            r.reason = Some(format!(
                "superseded by the newer snapshot {id} of the same source before anyone decided: nobody was \
                 deactivated by this one"
            ));
            r.decided_at = Some(now);
        }
        forget_members(tx, &old)?;
        write_status(tx, &old, &s, now)?;
    }
    Ok(())
}

/// Deactivates the snapshot's leavers: each a new version with its history
/// row and a `person.left` event, caused by the feed.
fn deactivate(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    leavers: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let feed_id: FeedId = id.parse().map_err(|_| StoreError::Storage("feed id does not parse".into()))?;
    let cause = format!("reconcile:{id}");
    let mut statements = Statements::prepare(tx)?;
    for ext in leavers {
        let stored = load_person(&mut statements, &state.tenant, ext)?;
        let Ok(external_id) = ExternalId::parse(ext) else { continue };
        let change = Change::Deactivate { external_id };
        if let Decision::Write { person, status, changed, event } =
            decide(stored.current(tx, &state.tenant)?, &change, now.date())
        {
            // The deactivation is as new as the snapshot: a resend of an
            // older record (same `lastModified`) or an older feed's change
            // cannot bring the leaver back.
            let write = PersonWrite {
                tenant: &state.tenant,
                source: &state.source,
                feed_id,
                message_id: &cause,
                last_modified: Some(
                    stored.last_modified.map_or(state.created_at, |lm| lm.max(state.created_at)),
                ),
                position: state.position,
                now,
            };
            write.write(
                &mut statements,
                super::apply::Prior { version: stored.version, person: stored.person.as_ref() },
                &person,
                status,
                &changed,
                event,
            )?;
        }
    }
    Ok(())
}

fn forget_members(tx: &Transaction<'_>, id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM snapshot_members WHERE feed_id = ?1")
        .map_err(storage)?
        .execute([id])
        .map_err(storage)?;
    Ok(())
}

/// An operator's decision on a halted snapshot.
pub fn decide_snapshot(
    tx: &Transaction<'_>,
    tenant: TenantId,
    feed: FeedId,
    approve: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = feed.to_string();
    let Some(mut state) = load(tx, &id)?.filter(|s| s.tenant == tenant.to_string()) else {
        return Err(StoreError::NotFound);
    };
    if let Some(r) = state.reconciliation.as_ref().filter(|r| r.state == ReconcileState::Superseded) {
        let why = r.reason.clone().unwrap_or_else(|| "superseded by a newer snapshot of its source".into());
        return Err(StoreError::Conflict(format!("the snapshot cannot be decided any more: {why}")));
    }
    let Some(r) = state.reconciliation.as_mut().filter(|r| r.state == ReconcileState::Halted) else {
        return Err(StoreError::Conflict(
            "the feed is not halted: there is nothing to approve or reject".into(),
        ));
    };
    r.decided_at = Some(now);
    if approve {
        let snapshot = state.clone();
        let leavers = absent(tx, &id, &snapshot)?;
        deactivate(tx, &id, &snapshot, &leavers, now)?;
        let r = state.reconciliation.as_mut().expect("checked above");
        r.state = ReconcileState::Applied;
        r.absent = leavers.len() as u64;
        state.counts.leavers = leavers.len() as u64;
    } else {
        r.state = ReconcileState::Rejected;
    }
    forget_members(tx, &id)?;
    write_status(tx, &id, &state, now).map(|_| ())
}

/// Lists a snapshot's external ids (idempotent: a retried call adds nothing).
pub fn add_members(
    tx: &Transaction<'_>,
    tenant: TenantId,
    feed: FeedId,
    ids: &[ExternalId],
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = feed.to_string();
    let owned: Option<String> = tx
        .prepare_cached("SELECT mode FROM feeds WHERE id = ?1 AND tenant_id = ?2")
        .map_err(storage)?
        .query_row(params![id, tenant.to_string()], |r| r.get(0))
        .optional()
        .map_err(storage)?;
    match owned.as_deref() {
        None => return Err(StoreError::NotFound),
        Some("full") => {}
        Some(_) => return Err(StoreError::Invalid("only a full feed has snapshot members".into())),
    }
    // A streaming upload is alive while its members arrive (see
    // `fail_stalled_feeds`).
    tx.prepare_cached("UPDATE feeds SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")
        .map_err(storage)?
        .execute(params![id, now.millis()])
        .map_err(storage)?;
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO snapshot_members (feed_id, external_id) VALUES (?1, ?2)")
        .map_err(storage)?;
    for ext in ids {
        stmt.execute(params![id, ext.as_str()]).map_err(storage)?;
    }
    Ok(())
}
