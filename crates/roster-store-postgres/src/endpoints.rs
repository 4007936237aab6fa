//! Webhook endpoints as a tenant manages them, and their dead letters.
//! Every tenant-facing query filters by tenant id.

use async_trait::async_trait;
use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::{MAX_ACTIVE_ENDPOINTS, MAX_ENDPOINTS, MAX_PAGE};
use roster_store::{
    AttemptOutcome, DeliveryAttempt, Endpoint, EndpointStore, EndpointUpdate, EventDeadLetter,
    EventDeadLetterState, NewEndpoint, OutboxEventRef, ReplayFrom, StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::conn::{PgDirectory, parse_id, storage};
use crate::feeds::json;

pub(crate) const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types::text, created_at, \
     disabled_at, cursor, secret, attempts, next_attempt_at, previous_secret, previous_secret_expires_at, generation";

pub(crate) fn endpoint_from_row(r: &PgRow) -> Result<Endpoint, StoreError> {
    Ok(Endpoint {
        id: r.try_get(0).map_err(storage)?,
        tenant_id: parse_id(r.try_get::<&str, _>(1).map_err(storage)?)?,
        url: r.try_get(2).map_err(storage)?,
        description: r.try_get(3).map_err(storage)?,
        event_types: r
            .try_get::<Option<&str>, _>(4)
            .map_err(storage)?
            .map(json::<Vec<EventType>>)
            .transpose()?,
        created_at: Timestamp(r.try_get(5).map_err(storage)?),
        disabled_at: r.try_get::<Option<i64>, _>(6).map_err(storage)?.map(Timestamp),
        cursor: r.try_get::<i64, _>(7).map_err(storage)?.max(0) as u64,
    })
}

pub(crate) fn kind(s: &str) -> Result<EventType, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::Storage("a stored event type is unknown".into()))
}

pub(crate) const DEAD_LETTER_COLUMNS: &str = "id, endpoint_id, tenant_id, event_seq, event_id, event_type, state, \
     attempts, last_status, last_error, dead_lettered_at, next_attempt_at";

pub(crate) fn dead_letter_from_row(r: &PgRow) -> Result<EventDeadLetter, StoreError> {
    let state: &str = r.try_get(6).map_err(storage)?;
    Ok(EventDeadLetter {
        id: r.try_get(0).map_err(storage)?,
        endpoint_id: r.try_get(1).map_err(storage)?,
        tenant_id: parse_id(r.try_get::<&str, _>(2).map_err(storage)?)?,
        event: OutboxEventRef {
            seq: r.try_get::<i64, _>(3).map_err(storage)?.max(0) as u64,
            id: r.try_get(4).map_err(storage)?,
            kind: kind(r.try_get(5).map_err(storage)?)?,
        },
        state: if state == "redriven" { EventDeadLetterState::Redriven } else { EventDeadLetterState::Dead },
        attempts: r.try_get::<i32, _>(7).map_err(storage)?.max(0) as u32,
        last_status: r.try_get::<Option<i32>, _>(8).map_err(storage)?.and_then(|s| u16::try_from(s).ok()),
        last_error: r.try_get(9).map_err(storage)?,
        dead_lettered_at: Timestamp(r.try_get(10).map_err(storage)?),
        next_attempt_at: r.try_get::<Option<i64>, _>(11).map_err(storage)?.map(Timestamp),
    })
}

async fn get(c: &mut PgConnection, tenant: TenantId, id: &str) -> Result<Option<Endpoint>, StoreError> {
    sqlx::query(&format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(storage)?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
}

#[async_trait]
impl EndpointStore for PgDirectory {
    async fn create_endpoint(&self, new: NewEndpoint, now: Timestamp) -> Result<Endpoint, StoreError> {
        let tenant = new.tenant_id.to_string();
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // Creations of one tenant one at a time: the limits are counted and
        // kept under concurrent creation.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('endpoints:' || $1, 0))")
            .bind(&tenant)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        let (all, active): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE disabled_at IS NULL) FROM endpoints WHERE tenant_id = $1",
        )
        .bind(&tenant)
        .fetch_one(&mut *tx)
        .await
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
        // The newest event of the tenant: its events are numbered in
        // commit order (see `apply.rs`), so every later one is newer.
        let cursor: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE tenant_id = $1")
            .bind(&tenant)
            .fetch_one(&mut *tx)
            .await
            .map_err(storage)?;
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
        sqlx::query(
            "INSERT INTO endpoints (id, tenant_id, url, description, event_types, secret, created_at, cursor)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
        )
        .bind(&endpoint.id)
        .bind(&tenant)
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(event_types)
        .bind(new.secret.expose())
        .bind(now.millis())
        .bind(cursor)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(endpoint)
    }

    async fn list_endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(tenant.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(endpoint_from_row)
        .collect()
    }

    async fn get_endpoint(&self, tenant: TenantId, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let mut c = self.pool().acquire().await.map_err(storage)?;
        get(&mut c, tenant, id).await
    }

    async fn disable_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        sqlx::query(
            "UPDATE endpoints SET disabled_at = $3, generation = generation + 1
             WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        let found = get(&mut tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(found)
    }

    async fn rotate_endpoint_secret(
        &self,
        tenant: TenantId,
        id: &str,
        secret: Secret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // A grace period that has not begun is none: the old secret is dropped.
        let keep = previous_expires_at > now;
        let changed = sqlx::query(
            "UPDATE endpoints SET previous_secret = CASE WHEN $5 THEN secret END,
                                  previous_secret_expires_at = CASE WHEN $5 THEN $4::bigint END,
                                  secret = $3
             WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id)
        .bind(secret.expose())
        .bind(previous_expires_at.millis())
        .bind(keep)
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let found = get(&mut tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(found)
    }

    async fn list_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventDeadLetter>, StoreError> {
        let mut c = self.pool().acquire().await.map_err(storage)?;
        get(&mut c, tenant, endpoint_id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM event_dead_letters
             WHERE tenant_id = $1 AND endpoint_id = $2 AND event_seq > $4 ORDER BY event_seq LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(endpoint_id)
        .bind(limit.clamp(1, MAX_PAGE) as i64)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_all(&mut *c)
        .await
        .map_err(storage)?
        .iter()
        .map(dead_letter_from_row)
        .collect()
    }

    async fn redrive_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        get(&mut tx, tenant, endpoint_id).await?.ok_or(StoreError::NotFound)?;
        let n = sqlx::query(
            "UPDATE event_dead_letters SET state = 'redriven', attempts = 0, next_attempt_at = $3
             WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'dead'",
        )
        .bind(tenant.to_string())
        .bind(endpoint_id)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected();
        tx.commit().await.map_err(storage)?;
        Ok(n)
    }

    async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        update: EndpointUpdate,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let t = tenant.to_string();
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // The creations' lock: a re-enable counts the active endpoints as a
        // creation does.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('endpoints:' || $1, 0))")
            .bind(&t)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        let found = get(&mut tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
        let event_types = match &update.event_types {
            Some(Some(types)) => {
                Some(Some(serde_json::to_string(types).map_err(|e| StoreError::Storage(e.to_string()))?))
            }
            Some(None) => Some(None),
            None => None,
        };
        // Each field only when given: `$n IS TRUE` says whether to set it.
        sqlx::query(
            "UPDATE endpoints SET
                url = CASE WHEN $3 THEN $4 ELSE url END,
                description = CASE WHEN $5 THEN $6 ELSE description END,
                event_types = CASE WHEN $7 THEN $8::jsonb ELSE event_types END
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&t)
        .bind(id)
        .bind(update.url.is_some())
        .bind(update.url.as_deref())
        .bind(update.description.is_some())
        .bind(update.description.clone().flatten())
        .bind(event_types.is_some())
        .bind(event_types.flatten())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        match (update.enabled, found.disabled_at) {
            (Some(true), Some(_)) => {
                let active: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM endpoints WHERE tenant_id = $1 AND disabled_at IS NULL",
                )
                .bind(&t)
                .fetch_one(&mut *tx)
                .await
                .map_err(storage)?;
                if active as usize >= MAX_ACTIVE_ENDPOINTS {
                    return Err(StoreError::Conflict(format!(
                        "a tenant may have at most {MAX_ACTIVE_ENDPOINTS} active endpoints; disable one first"
                    )));
                }
                // As a new endpoint: from the tenant's newest event (its
                // events are numbered in commit order, see `apply.rs`).
                sqlx::query(
                    "UPDATE endpoints SET disabled_at = NULL, attempts = 0, next_attempt_at = NULL,
                            cursor = (SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE tenant_id = $1),
                            generation = generation + 1
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(&t)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
            }
            (Some(false), None) => {
                sqlx::query(
                    "UPDATE endpoints SET disabled_at = $3, generation = generation + 1 WHERE tenant_id = $1 AND id = $2",
                )
                    .bind(&t)
                    .bind(id)
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
            }
            _ => {}
        }
        let updated = get(&mut tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(updated)
    }

    async fn replay_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        from: ReplayFrom,
        _now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let t = tenant.to_string();
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT cursor FROM endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(&t)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage)?;
        let cursor = found.ok_or(StoreError::NotFound)?.max(0) as u64;
        let after = match &from {
            ReplayFrom::Position(seq) => *seq,
            ReplayFrom::Event(event) => {
                sqlx::query_scalar::<_, i64>("SELECT seq FROM outbox WHERE tenant_id = $1 AND id = $2")
                    .bind(&t)
                    .bind(event)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(storage)?
                    .ok_or_else(|| {
                        StoreError::Invalid(
                            "no event of the tenant has this id (it may have been pruned)".into(),
                        )
                    })?
                    .max(0) as u64
            }
        };
        if after > cursor {
            return Err(StoreError::Invalid(format!(
                "position {after} is after the endpoint's cursor ({cursor}): a replay moves it back only"
            )));
        }
        sqlx::query(
            "UPDATE endpoints SET cursor = $3, attempts = 0, next_attempt_at = NULL, generation = generation + 1
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&t)
        .bind(id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        let updated = get(&mut tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(storage)?;
        Ok(updated)
    }

    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        event_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let mut c = self.pool().acquire().await.map_err(storage)?;
        get(&mut c, tenant, endpoint_id).await?.ok_or(StoreError::NotFound)?;
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT seq, endpoint_id, event_seq, event_id, event_type, attempt, at, duration_ms, status, outcome
             FROM delivery_attempts
             WHERE tenant_id = $1 AND endpoint_id = $2 AND seq < $3 AND ($4::text IS NULL OR event_id = $4)
             ORDER BY seq DESC LIMIT $5",
        )
        .bind(tenant.to_string())
        .bind(endpoint_id)
        .bind(before)
        .bind(event_id)
        .bind(limit.clamp(1, MAX_PAGE) as i64)
        .fetch_all(&mut *c)
        .await
        .map_err(storage)?;
        rows.iter()
            .map(|r| {
                let outcome: &str = r.try_get(9).map_err(storage)?;
                Ok(DeliveryAttempt {
                    seq: r.try_get::<i64, _>(0).map_err(storage)?.max(0) as u64,
                    endpoint_id: r.try_get(1).map_err(storage)?,
                    event: OutboxEventRef {
                        seq: r.try_get::<i64, _>(2).map_err(storage)?.max(0) as u64,
                        id: r.try_get(3).map_err(storage)?,
                        kind: kind(r.try_get(4).map_err(storage)?)?,
                    },
                    attempt: r.try_get::<i32, _>(5).map_err(storage)?.max(0) as u32,
                    at: Timestamp(r.try_get(6).map_err(storage)?),
                    duration_ms: r.try_get::<i64, _>(7).map_err(storage)?.max(0) as u64,
                    status: r
                        .try_get::<Option<i32>, _>(8)
                        .map_err(storage)?
                        .and_then(|s| u16::try_from(s).ok()),
                    outcome: AttemptOutcome::parse(outcome).unwrap_or(AttemptOutcome::Unreachable),
                })
            })
            .collect()
    }
}
