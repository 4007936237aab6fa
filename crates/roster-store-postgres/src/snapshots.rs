//! Full snapshots: once every record of a sealed full feed is processed and
//! every feed of its tenant accepted before it is settled, the active people
//! of its source that it did not list, and that no newer feed has said
//! anything about, are its leavers — unless they are more than the source's
//! threshold allows (`roster_store::policy::judge_snapshot`), in which case
//! the feed halts until an operator decides or a newer snapshot supersedes
//! it. The rules are the SQLite adapter's; what differs is that several
//! transactions run them at once.
//!
//! Exactly once: every caller holds the tenant's feed lock
//! ([`crate::feeds::lock_tenants`]), so the transaction that counts a
//! snapshot's last record — whichever worker runs it — reads the counts
//! and the reconciliation the others committed, and only one finds it done
//! and undecided. Its leavers are locked with `pg_try_advisory_xact_lock`
//! (this transaction already holds a feed lock, which a batch takes after
//! its person locks): a leaver a batch is writing at that moment makes the
//! whole transaction `Unavailable`, retried, instead of a lock cycle.

use roster_core::lifecycle::{Decision, decide};
use roster_core::{Change, ExternalId, FeedId, FeedMode, SourceName, TenantId, Timestamp};
use roster_store::policy::status_of;
use roster_store::{FeedCounts, FeedStatus, ReconcileState, Reconciliation, SourceSettings, StoreError};
use sqlx::{PgConnection, Row};

use crate::apply::{Batch, Cause, try_lock_person};
use crate::conn::{parse_id, storage};
use crate::feeds::{counts_from_row, json};

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

async fn load(c: &mut PgConnection, feed: &str) -> Result<Option<FeedState>, StoreError> {
    let Some(r) = sqlx::query(
        "SELECT received, accepted, rejected, applied, unchanged, stale, failed, leavers,
                tenant_id, source, mode, sealed, reconciliation::text, created_at, status, position
         FROM feeds WHERE id = $1",
    )
    .bind(feed)
    .fetch_optional(&mut *c)
    .await
    .map_err(storage)?
    else {
        return Ok(None);
    };
    let mode: &str = r.try_get(10).map_err(storage)?;
    Ok(Some(FeedState {
        counts: counts_from_row(&r)?,
        tenant: r.try_get(8).map_err(storage)?,
        source: r.try_get(9).map_err(storage)?,
        mode: FeedMode::parse(mode).unwrap_or_default(),
        sealed: r.try_get(11).map_err(storage)?,
        reconciliation: r.try_get::<Option<&str>, _>(12).map_err(storage)?.map(json).transpose()?,
        created_at: r.try_get(13).map_err(storage)?,
        status: r.try_get(14).map_err(storage)?,
        position: r.try_get(15).map_err(storage)?,
    }))
}

/// Recomputes a feed's status after its counts changed; reconciles a full
/// snapshot whose records are all processed once nothing accepted before it
/// is still open; and, when the feed has just settled, lets a snapshot that
/// waited for it go on (and so on down the tenant's feeds).
pub(crate) async fn refresh_feed(
    c: &mut PgConnection,
    feed: FeedId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut next = Some(feed.to_string());
    while let Some(id) = next.take() {
        if let Some(tenant) = refresh_one(c, &id, now).await? {
            next = oldest_waiting(c, &tenant).await?;
        }
    }
    Ok(())
}

/// Refreshes one feed; the tenant if the feed has just settled.
async fn refresh_one(c: &mut PgConnection, id: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
    let Some(mut state) = load(c, id).await? else { return Ok(None) };
    if state.status == FeedStatus::Failed.as_str() || state.status == FeedStatus::Superseded.as_str() {
        return Ok(None);
    }
    let was_settled = FeedStatus::parse(&state.status).is_some_and(FeedStatus::is_settled);
    let done = matches!(
        status_of(&state.counts, state.sealed, None),
        FeedStatus::Completed | FeedStatus::CompletedWithErrors
    );
    let undecided = state.reconciliation.as_ref().is_none_or(|r| r.state == ReconcileState::Waiting);
    if done && state.mode == FeedMode::Full && undecided {
        let open = earlier_open_feeds(c, &state).await?;
        if open > 0 {
            state.reconciliation = Some(roster_store::policy::waiting_snapshot(open));
        } else {
            let r = reconcile(c, id, &state, now).await?;
            state.counts.leavers = if r.state == ReconcileState::Applied { r.absent } else { 0 };
            state.reconciliation = Some(r);
        }
    }
    let status = write_status(c, id, &state, now).await?;
    Ok((status.is_settled() && !was_settled).then_some(state.tenant))
}

/// Feeds of the tenant accepted before this one that are not settled.
async fn earlier_open_feeds(c: &mut PgConnection, state: &FeedState) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM feeds WHERE tenant_id = $1 AND position < $2
           AND status IN ('receiving', 'accepted', 'processing')",
    )
    .bind(&state.tenant)
    .bind(state.position)
    .fetch_one(&mut *c)
    .await
    .map_err(storage)
}

/// The tenant's oldest open feed, if it is a snapshot waiting only for
/// earlier feeds.
async fn oldest_waiting(c: &mut PgConnection, tenant: &str) -> Result<Option<String>, StoreError> {
    let oldest: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, reconciliation->>'state' FROM feeds
          WHERE tenant_id = $1 AND status IN ('receiving', 'accepted', 'processing')
          ORDER BY position LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(&mut *c)
    .await
    .map_err(storage)?;
    Ok(oldest.filter(|(_, state)| state.as_deref() == Some("waiting")).map(|(id, _)| id))
}

/// A feed of the tenant has settled: lets a snapshot waiting for it go on.
pub(crate) async fn release_waiting(
    c: &mut PgConnection,
    tenant: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    if let Some(id) = oldest_waiting(c, tenant).await? {
        refresh_feed(c, parse_id(&id)?, now).await?;
    }
    Ok(())
}

async fn write_status(
    c: &mut PgConnection,
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
    sqlx::query(
        "UPDATE feeds SET status = $2, leavers = $3, reconciliation = $4::jsonb, updated_at = $5,
                completed_at = CASE WHEN $6 THEN COALESCE(completed_at, $5) ELSE NULL END
         WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(state.counts.leavers as i64)
    .bind(reconciliation)
    .bind(now.millis())
    .bind(finished)
    .execute(&mut *c)
    .await
    .map_err(storage)?;
    let before = FeedStatus::parse(&state.status).unwrap_or(FeedStatus::Processing);
    if let Some(kind) = roster_store::policy::feed_event(before, status) {
        announce(c, id, state, kind, status, now).await?;
    }
    Ok(status)
}

/// Writes the feed event of a feed that has just become `status`, in the
/// transaction that made it so. Exactly once: every caller holds the
/// tenant's feed lock and read the status it moves from under it, so of
/// two workers racing to finish a feed only the first sees it open (and
/// the event takes its `seq` in the tenant's commit order, as the outbox's
/// contract asks).
async fn announce(
    c: &mut PgConnection,
    id: &str,
    state: &FeedState,
    kind: roster_core::lifecycle::EventType,
    status: FeedStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let settings = match state.reconciliation {
        Some(_) => source_settings(c, &state.tenant, &state.source).await?,
        None => SourceSettings::default(),
    };
    let event = roster_store::FeedEvent::new(
        kind,
        parse_id(id)?,
        SourceName::parse(&state.source).unwrap_or_default(),
        state.mode,
        status,
        state.counts,
        state.reconciliation.as_ref(),
        &settings,
    );
    let payload = serde_json::to_string(&event).map_err(|e| StoreError::Storage(e.to_string()))?;
    sqlx::query(
        "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&state.tenant)
    .bind(kind.as_str())
    .bind(id)
    .bind(now.millis())
    .bind(payload)
    .execute(&mut *c)
    .await
    .map_err(storage)?;
    Ok(())
}

/// A feed has failed (ingest could not queue it, or its upload stalled):
/// announces it, unless it had failed before. The caller holds the tenant's
/// feed lock.
pub(crate) async fn announce_failure(
    c: &mut PgConnection,
    id: &str,
    before: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let before = FeedStatus::parse(before).unwrap_or(FeedStatus::Processing);
    let Some(kind) = roster_store::policy::feed_event(before, FeedStatus::Failed) else { return Ok(()) };
    let Some(state) = load(c, id).await? else { return Ok(()) };
    announce(c, id, &state, kind, FeedStatus::Failed, now).await
}

async fn source_settings(
    c: &mut PgConnection,
    tenant: &str,
    source: &str,
) -> Result<SourceSettings, StoreError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT settings::text FROM sources WHERE tenant_id = $1 AND name = $2")
            .bind(tenant)
            .bind(source)
            .fetch_optional(&mut *c)
            .await
            .map_err(storage)?;
    match stored {
        Some(s) => serde_json::from_str(&s).map_err(|e| StoreError::Storage(format!("source settings: {e}"))),
        None => Ok(SourceSettings::default()),
    }
}

/// Active people of the feed's source it did not list and whose newest
/// word is older than the snapshot, in external id order (the order their
/// locks are tried in). People still pending are not judged.
async fn absent(c: &mut PgConnection, id: &str, state: &FeedState) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT p.external_id FROM people p
         WHERE p.tenant_id = $1 AND p.source = $2 AND p.active AND p.status = 'active' AND p.position < $3
           AND NOT EXISTS (SELECT 1 FROM snapshot_members m WHERE m.feed_id = $4 AND m.external_id = p.external_id)
         ORDER BY p.external_id",
    )
    .bind(&state.tenant)
    .bind(&state.source)
    .bind(state.position)
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(storage)
}

/// Active and pending people of the feed's source (one statement).
async fn active_and_pending(c: &mut PgConnection, state: &FeedState) -> Result<(u64, u64), StoreError> {
    let (active, pending): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE status = 'active'), COUNT(*) FILTER (WHERE status = 'pending')
           FROM people WHERE tenant_id = $1 AND source = $2",
    )
    .bind(&state.tenant)
    .bind(&state.source)
    .fetch_one(&mut *c)
    .await
    .map_err(storage)?;
    Ok((active.max(0) as u64, pending.max(0) as u64))
}

async fn reconcile(
    c: &mut PgConnection,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<Reconciliation, StoreError> {
    let settings = source_settings(c, &state.tenant, &state.source).await?;
    let (active, pending) = active_and_pending(c, state).await?;
    let leavers = absent(c, id, state).await?;
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
        deactivate(c, id, state, &leavers, now).await?;
        forget_members(c, id).await?;
    }
    supersede_older(c, id, state, now).await?;
    r.decided_at = None;
    Ok(r)
}

/// Older snapshots of the same source still halted can no longer be
/// approved: this newer one has judged the source.
async fn supersede_older(
    c: &mut PgConnection,
    id: &str,
    state: &FeedState,
    now: Timestamp,
) -> Result<(), StoreError> {
    let older: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM feeds WHERE tenant_id = $1 AND source = $2 AND mode = 'full' AND status = 'halted'
           AND position < $3 ORDER BY position",
    )
    .bind(&state.tenant)
    .bind(&state.source)
    .bind(state.position)
    .fetch_all(&mut *c)
    .await
    .map_err(storage)?;
    for old in older {
        let Some(mut s) = load(c, &old).await? else { continue };
        if let Some(r) = s.reconciliation.as_mut() {
            r.state = ReconcileState::Superseded;
            r.reason = Some(format!(
                "superseded by the newer snapshot {id} of the same source before anyone decided: nobody was \
                 deactivated by this one"
            ));
            r.decided_at = Some(now);
        }
        forget_members(c, &old).await?;
        write_status(c, &old, &s, now).await?;
    }
    Ok(())
}

/// Deactivates the snapshot's leavers: each a new version with its history
/// row and a `person.left` event, caused by the feed. The caller holds the
/// tenant's feed lock, so the events are written at once.
async fn deactivate(
    c: &mut PgConnection,
    id: &str,
    state: &FeedState,
    leavers: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let feed_id: FeedId = parse_id(id)?;
    for ext in leavers {
        if !try_lock_person(c, &state.tenant, ext).await? {
            return Err(StoreError::Unavailable(
                "a person the snapshot deactivates is being written by another worker: retry".into(),
            ));
        }
    }
    let keys: Vec<(String, String)> = leavers.iter().map(|e| (state.tenant.clone(), e.clone())).collect();
    let mut batch = Batch::new(now);
    batch.load(c, &keys).await?;
    let cause_id = format!("reconcile:{id}");
    for key in &keys {
        let Some(stored) = batch.people.get(key).cloned() else { continue };
        // Read again under the lock: a newer feed may have said something
        // about them since they were counted.
        if stored.position >= state.position || stored.source.as_deref() != Some(state.source.as_str()) {
            continue;
        }
        let Ok(external_id) = ExternalId::parse(&key.1) else { continue };
        let change = Change::Deactivate { external_id };
        if let Decision::Write { person, status, changed, event } =
            decide(stored.current(), &change, now.date())
        {
            // The deactivation is as new as the snapshot: a resend of an
            // older record (same `lastModified`) or an older feed's change
            // cannot bring the leaver back.
            let cause = Cause {
                source: &state.source,
                feed_id,
                message_id: &cause_id,
                last_modified: Some(
                    stored.last_modified.map_or(state.created_at, |lm| lm.max(state.created_at)),
                ),
                position: state.position,
            };
            batch.write(&state.tenant, &cause, person, status, &changed, event)?;
        }
    }
    batch.flush(c).await?;
    batch.flush_outbox(c).await
}

async fn forget_members(c: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM snapshot_members WHERE feed_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(storage)?;
    Ok(())
}

/// An operator's decision on a halted snapshot (the caller holds the
/// tenant's feed lock).
pub(crate) async fn decide_snapshot(
    c: &mut PgConnection,
    tenant: TenantId,
    feed: FeedId,
    approve: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = feed.to_string();
    let Some(mut state) = load(c, &id).await?.filter(|s| s.tenant == tenant.to_string()) else {
        return Err(StoreError::NotFound);
    };
    if let Some(r) = state.reconciliation.as_ref().filter(|r| r.state == ReconcileState::Superseded) {
        let why = r.reason.clone().unwrap_or_else(|| "superseded by a newer snapshot of its source".into());
        return Err(StoreError::Conflict(format!("the snapshot cannot be decided any more: {why}")));
    }
    if !state.reconciliation.as_ref().is_some_and(|r| r.state == ReconcileState::Halted) {
        return Err(StoreError::Conflict(
            "the feed is not halted: there is nothing to approve or reject".into(),
        ));
    }
    let (decided, absent_now) = if approve {
        let leavers = absent(c, &id, &state).await?;
        deactivate(c, &id, &state, &leavers, now).await?;
        (ReconcileState::Applied, Some(leavers.len() as u64))
    } else {
        (ReconcileState::Rejected, None)
    };
    let r = state.reconciliation.as_mut().expect("checked above");
    r.decided_at = Some(now);
    r.state = decided;
    if let Some(n) = absent_now {
        r.absent = n;
        state.counts.leavers = n;
    }
    forget_members(c, &id).await?;
    write_status(c, &id, &state, now).await.map(|_| ())
}

/// Lists a snapshot's external ids (idempotent: a retried call adds nothing).
pub(crate) async fn add_members(
    c: &mut PgConnection,
    tenant: TenantId,
    feed: FeedId,
    ids: &[ExternalId],
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = feed.to_string();
    // A streaming upload is alive while its members arrive (see
    // `fail_stalled_feeds`).
    let mode: Option<String> = sqlx::query_scalar(
        "UPDATE feeds SET updated_at = GREATEST(updated_at, $3) WHERE id = $1 AND tenant_id = $2 RETURNING mode",
    )
    .bind(&id)
    .bind(tenant.to_string())
    .bind(now.millis())
    .fetch_optional(&mut *c)
    .await
    .map_err(storage)?;
    match mode.as_deref() {
        None => return Err(StoreError::NotFound),
        Some("full") => {}
        Some(_) => return Err(StoreError::Invalid("only a full feed has snapshot members".into())),
    }
    let ids: Vec<&str> = ids.iter().map(ExternalId::as_str).collect();
    sqlx::query(
        "INSERT INTO snapshot_members (feed_id, external_id) SELECT $1, e FROM unnest($2::text[]) AS u(e)
         ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(ids)
    .execute(&mut *c)
    .await
    .map_err(storage)?;
    Ok(())
}
