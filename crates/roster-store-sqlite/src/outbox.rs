//! Webhook endpoints and their delivery state: a cursor per endpoint into
//! the outbox, the attempts at the event after it, and the endpoint's event
//! dead letters. Every tenant-facing query filters by tenant id.

use async_trait::async_trait;
use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{MAX_PAGE, event_from_row, id, json_col, storage};
use crate::conn::SqliteDirectory;
use roster_store::limits::{MAX_ACTIVE_ENDPOINTS, MAX_ENDPOINTS};
use roster_store::prelude::*;
use roster_store::{
    AttemptOutcome, DeliveryAttempt, DeliveryTarget, DeliveryUpdate, Endpoint, EndpointBacklog,
    EndpointUpdate, EventDeadLetter, EventDeadLetterState, EventFilter, NewDeliveryAttempt, NewEndpoint,
    OutboxEvent, OutboxEventRef, PreviousSecret, Redelivery, RedeliveryUpdate, ReplayFrom, StoreError,
};

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, created_at, disabled_at, cursor, secret, attempts, next_attempt_at, previous_secret, previous_secret_expires_at, generation";

fn endpoint_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(0)?,
        tenant_id: id(r.get(1)?)?,
        url: r.get(2)?,
        description: r.get(3)?,
        event_types: r.get::<_, Option<String>>(4)?.map(json_col::<Vec<EventType>>).transpose()?,
        created_at: Timestamp(r.get(5)?),
        disabled_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        cursor: r.get::<_, i64>(7)?.max(0) as u64,
    })
}

/// A target as of `now`: the previous secret only while it is valid.
fn target_from_row(r: &rusqlite::Row<'_>, now: Timestamp) -> rusqlite::Result<DeliveryTarget> {
    let previous = match (r.get::<_, Option<String>>(11)?, r.get::<_, Option<i64>>(12)?) {
        (Some(secret), Some(expires_at)) if expires_at > now.millis() => {
            Some(PreviousSecret { secret: Secret::new(secret), expires_at: Timestamp(expires_at) })
        }
        _ => None,
    };
    Ok(DeliveryTarget {
        endpoint: endpoint_from_row(r)?,
        secret: Secret::new(r.get::<_, String>(8)?),
        previous_secret: previous,
        attempts: r.get::<_, i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at: r.get::<_, Option<i64>>(10)?.map(Timestamp),
        generation: r.get::<_, i64>(13)?.max(0) as u64,
    })
}

fn kind(s: String) -> rusqlite::Result<EventType> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

const DEAD_LETTER_COLUMNS: &str = "id, endpoint_id, tenant_id, event_seq, event_id, event_type, state, attempts, \
                                   last_status, last_error, dead_lettered_at, next_attempt_at";

fn dead_letter_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventDeadLetter> {
    let state: String = r.get(6)?;
    Ok(EventDeadLetter {
        id: r.get(0)?,
        endpoint_id: r.get(1)?,
        tenant_id: id(r.get(2)?)?,
        event: OutboxEventRef {
            seq: r.get::<_, i64>(3)?.max(0) as u64,
            id: r.get(4)?,
            kind: kind(r.get(5)?)?,
        },
        state: if state == "redriven" { EventDeadLetterState::Redriven } else { EventDeadLetterState::Dead },
        attempts: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_status: r.get::<_, Option<i64>>(8)?.and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(9)?,
        dead_lettered_at: Timestamp(r.get(10)?),
        next_attempt_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
    })
}

pub(crate) fn create(c: &mut Connection, new: &NewEndpoint, now: Timestamp) -> Result<Endpoint, StoreError> {
    let tx = super::immediate(c)?;
    let (all, active): (i64, i64) = tx
        .query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE disabled_at IS NULL) FROM endpoints WHERE tenant_id = ?1",
            [new.tenant_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(storage)?;
    if active as usize >= MAX_ACTIVE_ENDPOINTS {
        return Err(StoreError::Conflict(format!(
            "a tenant may have at most {MAX_ACTIVE_ENDPOINTS} active endpoints; disable one first"
        )));
    }
    if all as usize >= MAX_ENDPOINTS {
        return Err(StoreError::Conflict(format!(
            "a tenant may have at most {MAX_ENDPOINTS} endpoints, disabled ones included"
        )));
    }
    // The newest event of the whole outbox: positions are global, so any
    // event of this tenant after it is newer than the endpoint.
    let cursor: i64 =
        tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM outbox", [], |r| r.get(0)).map_err(storage)?;
    let event_types = new
        .event_types
        .as_ref()
        .map(|t| serde_json::to_string(t).map_err(|e| StoreError::Storage(e.to_string())))
        .transpose()?;
    let endpoint = Endpoint {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: new.tenant_id,
        url: new.url.clone(),
        description: new.description.clone(),
        event_types: new.event_types.clone(),
        created_at: now,
        disabled_at: None,
        cursor: cursor.max(0) as u64,
    };
    tx.execute(
        "INSERT INTO endpoints (id, tenant_id, url, description, event_types, secret, created_at, cursor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            endpoint.id,
            endpoint.tenant_id.to_string(),
            endpoint.url,
            endpoint.description,
            event_types,
            new.secret.expose(),
            now.millis(),
            cursor
        ],
    )
    .map_err(storage)?;
    tx.commit().map_err(storage)?;
    Ok(endpoint)
}

pub(crate) fn list(c: &Connection, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = ?1 ORDER BY created_at, id"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map([tenant.to_string()], endpoint_from_row).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub(crate) fn get(c: &Connection, tenant: TenantId, endpoint: &str) -> Result<Option<Endpoint>, StoreError> {
    c.prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = ?1 AND id = ?2"))
        .map_err(storage)?
        .query_row(params![tenant.to_string(), endpoint], endpoint_from_row)
        .optional()
        .map_err(storage)
}

pub(crate) fn disable(
    c: &mut Connection,
    tenant: TenantId,
    endpoint: &str,
    now: Timestamp,
) -> Result<Endpoint, StoreError> {
    let tx = super::immediate(c)?;
    tx.execute(
        "UPDATE endpoints SET disabled_at = ?3, generation = generation + 1
         WHERE tenant_id = ?1 AND id = ?2 AND disabled_at IS NULL",
        params![tenant.to_string(), endpoint, now.millis()],
    )
    .map_err(storage)?;
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    tx.commit().map_err(storage)?;
    Ok(found)
}

pub(crate) fn rotate(
    c: &mut Connection,
    tenant: TenantId,
    endpoint: &str,
    secret: &Secret,
    previous_expires_at: Timestamp,
    now: Timestamp,
) -> Result<Endpoint, StoreError> {
    let tx = super::immediate(c)?;
    // A grace period that has not begun is none: the old secret is dropped.
    let keep = previous_expires_at > now;
    let changed = tx
        .execute(
            "UPDATE endpoints SET previous_secret = CASE WHEN ?5 THEN secret END,
                                  previous_secret_expires_at = CASE WHEN ?5 THEN ?4 END,
                                  secret = ?3
             WHERE tenant_id = ?1 AND id = ?2 AND disabled_at IS NULL",
            params![tenant.to_string(), endpoint, secret.expose(), previous_expires_at.millis(), keep],
        )
        .map_err(storage)?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    tx.commit().map_err(storage)?;
    Ok(found)
}

pub(crate) fn update(
    c: &mut Connection,
    tenant: TenantId,
    endpoint: &str,
    update: &EndpointUpdate,
    now: Timestamp,
) -> Result<Endpoint, StoreError> {
    let tx = super::immediate(c)?;
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    let t = tenant.to_string();
    if let Some(url) = &update.url {
        tx.execute(
            "UPDATE endpoints SET url = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![t, endpoint, url],
        )
        .map_err(storage)?;
    }
    if let Some(description) = &update.description {
        tx.execute(
            "UPDATE endpoints SET description = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![t, endpoint, description],
        )
        .map_err(storage)?;
    }
    if let Some(types) = &update.event_types {
        let types = types
            .as_ref()
            .map(|t| serde_json::to_string(t).map_err(|e| StoreError::Storage(e.to_string())))
            .transpose()?;
        tx.execute(
            "UPDATE endpoints SET event_types = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![t, endpoint, types],
        )
        .map_err(storage)?;
    }
    match (update.enabled, found.disabled_at) {
        (Some(true), Some(_)) => {
            let active: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM endpoints WHERE tenant_id = ?1 AND disabled_at IS NULL",
                    [&t],
                    |r| r.get(0),
                )
                .map_err(storage)?;
            if active as usize >= MAX_ACTIVE_ENDPOINTS {
                return Err(StoreError::Conflict(format!(
                    "a tenant may have at most {MAX_ACTIVE_ENDPOINTS} active endpoints; disable one first"
                )));
            }
            // As a new endpoint: from the head of the (global) outbox.
            tx.execute(
                "UPDATE endpoints SET disabled_at = NULL, attempts = 0, next_attempt_at = NULL,
                                      cursor = (SELECT COALESCE(MAX(seq), 0) FROM outbox),
                                      generation = generation + 1
                 WHERE tenant_id = ?1 AND id = ?2",
                params![t, endpoint],
            )
            .map_err(storage)?;
        }
        (Some(false), None) => {
            tx.execute(
                "UPDATE endpoints SET disabled_at = ?3, generation = generation + 1 WHERE tenant_id = ?1 AND id = ?2",
                params![t, endpoint, now.millis()],
            )
            .map_err(storage)?;
        }
        _ => {}
    }
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    tx.commit().map_err(storage)?;
    Ok(found)
}

pub(crate) fn replay(
    c: &mut Connection,
    tenant: TenantId,
    endpoint: &str,
    from: &ReplayFrom,
) -> Result<Endpoint, StoreError> {
    let tx = super::immediate(c)?;
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    let after = match from {
        ReplayFrom::Position(seq) => *seq,
        ReplayFrom::Event(event) => tx
            .query_row(
                "SELECT seq FROM outbox WHERE tenant_id = ?1 AND id = ?2",
                params![tenant.to_string(), event],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(storage)?
            .ok_or_else(|| {
                StoreError::Invalid("no event of the tenant has this id (it may have been pruned)".into())
            })?
            .max(0) as u64,
    };
    if after > found.cursor {
        return Err(StoreError::Invalid(format!(
            "position {after} is after the endpoint's cursor ({}): a replay moves it back only",
            found.cursor
        )));
    }
    tx.execute(
        "UPDATE endpoints SET cursor = ?3, attempts = 0, next_attempt_at = NULL, generation = generation + 1
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant.to_string(), endpoint, after as i64],
    )
    .map_err(storage)?;
    let found = get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    tx.commit().map_err(storage)?;
    Ok(found)
}

pub(crate) fn target(
    c: &Connection,
    tenant: TenantId,
    endpoint: &str,
    now: Timestamp,
) -> Result<Option<DeliveryTarget>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = ?1 AND id = ?2 AND disabled_at IS NULL"
    ))
    .map_err(storage)?
    .query_row(params![tenant.to_string(), endpoint], |r| target_from_row(r, now))
    .optional()
    .map_err(storage)
}

pub(crate) fn record_attempts(c: &mut Connection, attempts: &[NewDeliveryAttempt]) -> Result<(), StoreError> {
    let tx = super::immediate(c)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO delivery_attempts (tenant_id, endpoint_id, event_seq, event_id, event_type, attempt,
                                                at, duration_ms, status, outcome)
                 SELECT tenant_id, id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM endpoints WHERE id = ?1",
            )
            .map_err(storage)?;
        for a in attempts {
            stmt.execute(params![
                a.endpoint_id,
                a.event.seq as i64,
                a.event.id,
                a.event.kind.as_str(),
                i64::from(a.attempt),
                a.at.millis(),
                i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                a.status.map(i64::from),
                a.outcome.as_str(),
            ])
            .map_err(storage)?;
        }
    }
    tx.commit().map_err(storage)
}

pub(crate) fn list_attempts(
    c: &Connection,
    tenant: TenantId,
    endpoint: &str,
    event: Option<&str>,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<DeliveryAttempt>, StoreError> {
    get(c, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, endpoint_id, event_seq, event_id, event_type, attempt, at, duration_ms, status, outcome
             FROM delivery_attempts
             WHERE tenant_id = ?1 AND endpoint_id = ?2 AND seq < ?3 AND (?4 IS NULL OR event_id = ?4)
             ORDER BY seq DESC LIMIT ?5",
        )
        .map_err(storage)?;
    let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
    let rows = stmt
        .query_map(
            params![tenant.to_string(), endpoint, before, event, limit.clamp(1, MAX_PAGE) as i64],
            |r| {
                let outcome: String = r.get(9)?;
                Ok(DeliveryAttempt {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    endpoint_id: r.get(1)?,
                    event: OutboxEventRef {
                        seq: r.get::<_, i64>(2)?.max(0) as u64,
                        id: r.get(3)?,
                        kind: kind(r.get(4)?)?,
                    },
                    attempt: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                    at: Timestamp(r.get(6)?),
                    duration_ms: r.get::<_, i64>(7)?.max(0) as u64,
                    status: r.get::<_, Option<i64>>(8)?.and_then(|s| u16::try_from(s).ok()),
                    outcome: AttemptOutcome::parse(&outcome).unwrap_or(AttemptOutcome::Unreachable),
                })
            },
        )
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub(crate) fn targets(c: &Connection, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE disabled_at IS NULL ORDER BY created_at, id"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map([], |r| target_from_row(r, now)).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub(crate) fn record(
    c: &mut Connection,
    endpoint: &str,
    generation: u64,
    update: &DeliveryUpdate,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let tx = super::immediate(c)?;
    let generation = generation as i64;
    let applied = match update {
        DeliveryUpdate::Done { seq } => {
            tx.execute(
                "UPDATE endpoints SET cursor = ?2, attempts = 0, next_attempt_at = NULL
                 WHERE id = ?1 AND generation = ?3 AND cursor < ?2",
                params![endpoint, *seq as i64, generation],
            )
            .map_err(storage)?;
            current(&tx, endpoint, generation)?
        }
        DeliveryUpdate::Retry { attempts, next_attempt_at } => {
            tx.execute(
                "UPDATE endpoints SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1 AND generation = ?4",
                params![endpoint, i64::from(*attempts), next_attempt_at.millis(), generation],
            )
            .map_err(storage)?
                == 1
        }
        DeliveryUpdate::DeadLetter { event, attempts, last_status, last_error } => {
            let moved = tx
                .execute(
                    "UPDATE endpoints SET cursor = ?2, attempts = 0, next_attempt_at = NULL
                     WHERE id = ?1 AND generation = ?3 AND cursor < ?2",
                    params![endpoint, event.seq as i64, generation],
                )
                .map_err(storage)?;
            if moved == 1 {
                insert_dead_letter(&tx, endpoint, event, *attempts, *last_status, last_error, now)?;
            }
            current(&tx, endpoint, generation)?
        }
    };
    tx.commit().map_err(storage)?;
    Ok(applied)
}

/// Whether the endpoint is still at `generation` (a pass's view holds).
fn current(tx: &Transaction<'_>, endpoint: &str, generation: i64) -> Result<bool, StoreError> {
    tx.query_row("SELECT generation = ?2 FROM endpoints WHERE id = ?1", params![endpoint, generation], |r| {
        r.get::<_, bool>(0)
    })
    .optional()
    .map_err(storage)
    .map(|g| g.unwrap_or(false))
}

fn insert_dead_letter(
    tx: &Transaction<'_>,
    endpoint: &str,
    event: &OutboxEventRef,
    attempts: u32,
    last_status: Option<u16>,
    last_error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO event_dead_letters (id, endpoint_id, tenant_id, event_seq, event_id, event_type, state,
                                         attempts, last_status, last_error, dead_lettered_at)
         SELECT ?1, id, tenant_id, ?3, ?4, ?5, 'dead', ?6, ?7, ?8, ?9 FROM endpoints WHERE id = ?2
         ON CONFLICT (endpoint_id, event_seq) DO UPDATE SET
             state = 'dead', attempts = excluded.attempts, last_status = excluded.last_status,
             last_error = excluded.last_error, dead_lettered_at = excluded.dead_lettered_at, next_attempt_at = NULL",
        params![
            uuid::Uuid::now_v7().to_string(),
            endpoint,
            event.seq as i64,
            event.id,
            event.kind.as_str(),
            i64::from(attempts),
            last_status.map(i64::from),
            last_error,
            now.millis()
        ],
    )
    .map_err(storage)?;
    Ok(())
}

pub(crate) fn list_dead_letters(
    c: &Connection,
    tenant: TenantId,
    endpoint: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<EventDeadLetter>, StoreError> {
    get(c, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM event_dead_letters
             WHERE tenant_id = ?1 AND endpoint_id = ?2 AND event_seq > ?4 ORDER BY event_seq LIMIT ?3"
        ))
        .map_err(storage)?;
    let rows = stmt
        .query_map(
            params![tenant.to_string(), endpoint, limit.clamp(1, MAX_PAGE) as i64, after as i64],
            dead_letter_from_row,
        )
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub(crate) fn redrive(
    c: &mut Connection,
    tenant: TenantId,
    endpoint: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let tx = super::immediate(c)?;
    get(&tx, tenant, endpoint)?.ok_or(StoreError::NotFound)?;
    let n = tx
        .execute(
            "UPDATE event_dead_letters SET state = 'redriven', attempts = 0, next_attempt_at = ?3
             WHERE tenant_id = ?1 AND endpoint_id = ?2 AND state = 'dead'",
            params![tenant.to_string(), endpoint, now.millis()],
        )
        .map_err(storage)?;
    tx.commit().map_err(storage)?;
    Ok(n as u64)
}

pub(crate) fn due(
    c: &Connection,
    endpoint: &str,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Redelivery>, StoreError> {
    let columns: Vec<String> =
        DEAD_LETTER_COLUMNS.split(", ").map(|col| format!("d.{}", col.trim())).collect();
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {}, o.seq, o.id, o.type, o.tenant_id, o.feed_id, o.occurred_at, o.payload
             FROM event_dead_letters d JOIN outbox o ON o.seq = d.event_seq AND o.tenant_id = d.tenant_id
             WHERE d.endpoint_id = ?1 AND d.state = 'redriven' AND d.next_attempt_at <= ?2
             ORDER BY d.event_seq LIMIT ?3",
            columns.join(", ")
        ))
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![endpoint, now.millis(), limit.clamp(1, MAX_PAGE) as i64], |r| {
            Ok(Redelivery { dead_letter: dead_letter_from_row(r)?, event: event_from_row(r, 12)? })
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub(crate) fn record_redelivery(
    c: &mut Connection,
    dead_letter: &str,
    update: &RedeliveryUpdate,
    now: Timestamp,
) -> Result<(), StoreError> {
    match update {
        RedeliveryUpdate::Delivered => {
            c.execute("DELETE FROM event_dead_letters WHERE id = ?1 AND state = 'redriven'", [dead_letter])
        }
        RedeliveryUpdate::Retry { attempts, next_attempt_at } => c.execute(
            "UPDATE event_dead_letters SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1 AND state = 'redriven'",
            params![dead_letter, i64::from(*attempts), next_attempt_at.millis()],
        ),
        RedeliveryUpdate::Dead { attempts, last_status, last_error } => c.execute(
            "UPDATE event_dead_letters SET state = 'dead', attempts = ?2, last_status = ?3, last_error = ?4,
                                           dead_lettered_at = ?5, next_attempt_at = NULL
             WHERE id = ?1 AND state = 'redriven'",
            params![dead_letter, i64::from(*attempts), last_status.map(i64::from), last_error, now.millis()],
        ),
    }
    .map_err(storage)?;
    Ok(())
}

pub(crate) fn backlog(c: &Connection) -> Result<Vec<EndpointBacklog>, StoreError> {
    // Pending: the events after the cursor the endpoint wants, plus its
    // redriven dead letters. The type filter is a JSON array (or NULL: all).
    let mut stmt = c
        .prepare_cached(
            "SELECT e.id, e.tenant_id,
                (SELECT COUNT(*) FROM outbox o WHERE o.tenant_id = e.tenant_id AND o.seq > e.cursor
                   AND (e.event_types IS NULL OR o.type IN (SELECT value FROM json_each(e.event_types)))),
                (SELECT MIN(o.occurred_at) FROM outbox o WHERE o.tenant_id = e.tenant_id AND o.seq > e.cursor
                   AND (e.event_types IS NULL OR o.type IN (SELECT value FROM json_each(e.event_types)))),
                (SELECT COUNT(*) FROM event_dead_letters d WHERE d.endpoint_id = e.id AND d.state = 'redriven'),
                (SELECT MIN(o.occurred_at) FROM event_dead_letters d
                   JOIN outbox o ON o.seq = d.event_seq AND o.tenant_id = d.tenant_id
                   WHERE d.endpoint_id = e.id AND d.state = 'redriven'),
                (SELECT COUNT(*) FROM event_dead_letters d WHERE d.endpoint_id = e.id AND d.state = 'dead')
             FROM endpoints e WHERE e.disabled_at IS NULL ORDER BY e.tenant_id, e.id",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map([], |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            let oldest =
                [r.get::<_, Option<i64>>(3)?, r.get::<_, Option<i64>>(5)?].into_iter().flatten().min();
            Ok(EndpointBacklog {
                endpoint_id: r.get(0)?,
                tenant_id: id(r.get(1)?)?,
                pending: n(2)? + n(4)?,
                oldest_pending_at: oldest.map(Timestamp),
                dead_letters: n(6)?,
            })
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

#[async_trait]
impl Outbox for SqliteDirectory {
    async fn find_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let kind = filter.kind.map(|k| k.as_str());
        let person = filter.person.as_ref().map(|p| p.as_str().to_owned());
        let feed = filter.feed.map(|f| f.to_string());
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, id, type, tenant_id, feed_id, occurred_at, payload FROM outbox
                     WHERE tenant_id = ?1 AND seq > ?2
                       AND (?4 IS NULL OR type = ?4)
                       AND (?5 IS NULL OR json_extract(payload, '$.person.externalId') = ?5)
                       AND (?6 IS NULL OR feed_id = ?6)
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), after as i64, limit as i64, kind, person, feed], |r| {
                    event_from_row(r, 0)
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn delivery_targets(&self, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError> {
        self.read(move |c| targets(c, now)).await
    }

    async fn record_delivery(
        &self,
        endpoint_id: &str,
        generation: u64,
        update: DeliveryUpdate,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.write(move |c| record(c, &endpoint_id, generation, &update, now)).await
    }

    async fn due_redeliveries(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.read(move |c| due(c, &endpoint_id, now, limit)).await
    }

    async fn record_redelivery(
        &self,
        dead_letter_id: &str,
        update: RedeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = dead_letter_id.to_owned();
        self.write(move |c| record_redelivery(c, &id, &update, now)).await
    }

    async fn delivery_target(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<DeliveryTarget>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| target(c, tenant, &id, now)).await
    }

    async fn record_attempts(&self, attempts: Vec<NewDeliveryAttempt>) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.write(move |c| record_attempts(c, &attempts)).await
    }
}
