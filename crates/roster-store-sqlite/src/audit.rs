//! The audit log (append-only).

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use roster_store::prelude::*;
use roster_store::{AuditEntry, AuditFilter, NewAuditEntry, StoreError};
use rusqlite::{Connection, params};

use crate::conn::{SqliteDirectory, storage};
use crate::rows::*;

#[async_trait]
impl AuditLog for SqliteDirectory {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StoreError> {
        self.write(move |c| append(c, &entry)).await
    }

    async fn list_audit(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| list(c, tenant, after, limit)).await
    }

    async fn recent_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let filter = filter.clone();
        let limit = limit.clamp(1, MAX_PAGE);
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, at, tenant_id, actor, action, target, request_id, client_request_id FROM audit_log
                     WHERE tenant_id = ?1 AND seq < ?2 AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR action = ?5)
                     ORDER BY seq DESC LIMIT ?3",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(
                    params![tenant.to_string(), before, limit as i64, filter.actor, filter.action],
                    entry_from_row,
                )
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }
}

pub fn append(c: &Connection, e: &NewAuditEntry) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target, request_id, client_request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(storage)?
    .execute(params![
        e.at.millis(),
        e.tenant_id.to_string(),
        e.actor,
        e.action,
        e.target,
        e.request_id,
        e.client_request_id
    ])
    .map_err(storage)?;
    Ok(())
}

pub fn list(
    c: &Connection,
    tenant: TenantId,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, at, tenant_id, actor, action, target, request_id, client_request_id FROM audit_log
             WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![tenant.to_string(), after as i64, limit as i64], entry_from_row)
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)? as u64,
        at: Timestamp(r.get(1)?),
        tenant_id: id(r.get(2)?)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        request_id: r.get(6)?,
        client_request_id: r.get(7)?,
    })
}
