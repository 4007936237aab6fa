//! The audit log (append-only).
//!
//! `seq` comes from an identity column, whose values are taken at insert,
//! not at commit: two concurrent appends could commit out of `seq` order
//! and a reader paging by `seq` would skip the lower one. Appends of one
//! tenant therefore take a per-tenant transaction lock first, so they
//! commit in `seq` order (the port's contract on `list_audit`).

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use roster_store::{AuditEntry, AuditFilter, AuditLog, NewAuditEntry, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::conn::{PgDirectory, parse_id, storage};

/// Appends within the caller's transaction (the lock is held until it ends).
pub(crate) async fn append(c: &mut PgConnection, e: &NewAuditEntry) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('audit:' || $1, 0))")
        .bind(e.tenant_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(storage)?;
    sqlx::query(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target, request_id, client_request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at.millis())
    .bind(e.tenant_id.to_string())
    .bind(&e.actor)
    .bind(e.action)
    .bind(&e.target)
    .bind(&e.request_id)
    .bind(&e.client_request_id)
    .execute(&mut *c)
    .await
    .map_err(storage)?;
    Ok(())
}

#[async_trait]
impl AuditLog for PgDirectory {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        append(&mut tx, &entry).await?;
        tx.commit().await.map_err(storage)
    }

    async fn list_audit(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = sqlx::query(
            "SELECT seq, at, tenant_id, actor, action, target, request_id, client_request_id FROM audit_log
             WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn recent_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = sqlx::query(
            "SELECT seq, at, tenant_id, actor, action, target, request_id, client_request_id FROM audit_log
             WHERE tenant_id = $1 AND seq < $2 AND ($4::text IS NULL OR actor = $4) AND ($5::text IS NULL OR action = $5)
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)))
        .bind(limit as i64)
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        rows.iter().map(entry_from_row).collect()
    }
}

fn entry_from_row(r: &PgRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.try_get::<i64, _>(0).map_err(storage)?.max(0) as u64,
        at: Timestamp(r.try_get(1).map_err(storage)?),
        tenant_id: parse_id(r.try_get::<&str, _>(2).map_err(storage)?)?,
        actor: r.try_get(3).map_err(storage)?,
        action: r.try_get(4).map_err(storage)?,
        target: r.try_get(5).map_err(storage)?,
        request_id: r.try_get(6).map_err(storage)?,
        client_request_id: r.try_get(7).map_err(storage)?,
    })
}
