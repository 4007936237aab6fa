//! Full snapshots: once every record of a sealed full feed is processed, the
//! active people of its source that it did not list are its leavers — unless
//! they are more than the source's threshold allows, in which case the feed
//! halts until an operator approves or rejects it.

use roster_core::lifecycle::{Decision, decide};
use roster_core::{Change, ExternalId, FeedId, FeedMode, TenantId, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use super::apply::{PersonWrite, Statements, load_person, status_of};
use super::{counts_from_row, json_col, storage};
use crate::{FeedCounts, FeedStatus, ReconcileState, Reconciliation, SourceSettings, StoreError};

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
}

fn load(tx: &Transaction<'_>, feed: &str) -> Result<Option<FeedState>, StoreError> {
    tx.prepare_cached(
        "SELECT received, accepted, rejected, applied, unchanged, stale, failed, leavers,
                tenant_id, source, mode, sealed, reconciliation, created_at, status
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
        })
    })
    .optional()
    .map_err(storage)
}

/// Recomputes a feed's status after its counts changed; reconciles a full
/// snapshot whose records are all processed.
pub fn refresh_feed(tx: &Transaction<'_>, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
    let id = feed.to_string();
    let Some(mut state) = load(tx, &id)? else { return Ok(()) };
    if state.status == FeedStatus::Failed.as_str() {
        return Ok(());
    }
    let done = matches!(
        status_of(&state.counts, state.sealed, None),
        FeedStatus::Completed | FeedStatus::CompletedWithErrors
    );
    if done && state.mode == FeedMode::Full && state.reconciliation.is_none() {
        let r = reconcile(tx, &id, &state, now)?;
        state.counts.leavers = if r.state == ReconcileState::Applied { r.absent } else { 0 };
        state.reconciliation = Some(r);
    }
    write_status(tx, &id, &state, now)
}

fn write_status(tx: &Transaction<'_>, id: &str, state: &FeedState, now: Timestamp) -> Result<(), StoreError> {
    let status = status_of(&state.counts, state.sealed, state.reconciliation.as_ref());
    let finished =
        matches!(status, FeedStatus::Completed | FeedStatus::CompletedWithErrors | FeedStatus::Rejected);
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
    Ok(())
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

/// Active people of the feed's source it did not list. People written after
/// the snapshot was accepted are not judged by it (a joiner sent as a delta
/// meanwhile is not a leaver).
fn absent(tx: &Transaction<'_>, id: &str, state: &FeedState) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT p.external_id FROM people p
             WHERE p.tenant_id = ?1 AND p.source = ?2 AND p.active = 1 AND p.updated_at < ?3
               AND NOT EXISTS (SELECT 1 FROM snapshot_members m WHERE m.feed_id = ?4 AND m.external_id = p.external_id)",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![state.tenant, state.source, state.created_at, id], |r| r.get(0))
        .map_err(storage)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(storage)
}

fn reconcile(
    tx: &Transaction<'_>,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<Reconciliation, StoreError> {
    let settings = source_settings(tx, &state.tenant, &state.source)?;
    let active: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM people WHERE tenant_id = ?1 AND source = ?2 AND active = 1")
        .map_err(storage)?
        .query_row(params![state.tenant, state.source], |r| r.get(0))
        .map_err(storage)?;
    let active = active.max(0) as u64;
    let leavers = absent(tx, id, state)?;
    let allowed = settings.allowed_leavers(active);
    let absent_n = leavers.len() as u64;
    let reason = if state.counts.received == 0 && absent_n > 0 {
        Some("the snapshot is empty: it would deactivate everyone".to_owned())
    } else if absent_n > allowed {
        Some(format!(
            "the snapshot would deactivate {absent_n} of {active} active people; the source allows {allowed} \
             ({}% or {}, whichever is more)",
            settings.deletion_threshold_percent, settings.deletion_threshold_floor
        ))
    } else {
        None
    };
    let mut r = Reconciliation {
        state: ReconcileState::Halted,
        active,
        absent: absent_n,
        allowed,
        reason,
        decided_at: None,
    };
    if r.reason.is_none() {
        deactivate(tx, id, state, &leavers, now)?;
        r.state = ReconcileState::Applied;
        forget_members(tx, id)?;
    }
    Ok(r)
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
            let write = PersonWrite {
                tenant: &state.tenant,
                source: &state.source,
                feed_id,
                message_id: &cause,
                last_modified: stored.last_modified,
                now,
            };
            write.write(&mut statements, stored.version + 1, &person, status, &changed, event)?;
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
    write_status(tx, &id, &state, now)
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
