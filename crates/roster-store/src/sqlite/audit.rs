//! API keys beyond authentication (listing, revocation) and the append-only
//! audit log.

use roster_core::{TenantId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::{KEY_COLUMNS, MAX_PAGE, id, key_from_row, storage};
use crate::{ApiKeyInfo, AuditEntry, NewAuditEntry, OperatorKeyInfo, StoreError};

pub fn list_keys(c: &Connection, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at DESC, id DESC"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map([tenant.to_string()], key_from_row).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub fn revoke_key(
    c: &Connection,
    tenant: TenantId,
    key_id: &str,
    now: Timestamp,
) -> Result<ApiKeyInfo, StoreError> {
    c.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND tenant_id = ?2 AND revoked_at IS NULL",
        params![key_id, tenant.to_string(), now.millis()],
    )
    .map_err(storage)?;
    c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND tenant_id = ?2"))
        .map_err(storage)?
        .query_row(params![key_id, tenant.to_string()], key_from_row)
        .optional()
        .map_err(storage)?
        .ok_or(StoreError::NotFound)
}

pub fn append(c: &Connection, e: &NewAuditEntry) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(storage)?
    .execute(params![e.at.millis(), e.tenant_id.to_string(), e.actor, e.action, e.target, e.request_id])
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
            "SELECT seq, at, tenant_id, actor, action, target, request_id FROM audit_log
             WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![tenant.to_string(), after as i64, limit as i64], |r| {
            Ok(AuditEntry {
                seq: r.get::<_, i64>(0)? as u64,
                at: Timestamp(r.get(1)?),
                tenant_id: id(r.get(2)?)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                request_id: r.get(6)?,
            })
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

fn operator_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorKeyInfo> {
    Ok(OperatorKeyInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(Timestamp),
    })
}

pub fn create_operator(
    c: &Connection,
    name: &str,
    prefix: &str,
    hash: &[u8; 32],
    now: Timestamp,
) -> Result<OperatorKeyInfo, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    c.execute(
        "INSERT INTO operator_keys (id, name, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, name, prefix, &hash[..], now.millis()],
    )
    .map_err(storage)?;
    Ok(OperatorKeyInfo {
        id,
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        created_at: now,
        revoked_at: None,
    })
}

pub fn authenticate_operator(c: &Connection, hash: &[u8; 32]) -> Result<Option<OperatorKeyInfo>, StoreError> {
    c.prepare_cached(
        "SELECT id, name, prefix, created_at, revoked_at FROM operator_keys WHERE hash = ?1 AND revoked_at IS NULL",
    )
    .map_err(storage)?
    .query_row([&hash[..]], operator_from_row)
    .optional()
    .map_err(storage)
}

pub fn list_operators(c: &Connection) -> Result<Vec<OperatorKeyInfo>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, name, prefix, created_at, revoked_at FROM operator_keys ORDER BY created_at, id",
        )
        .map_err(storage)?;
    let rows = stmt.query_map([], operator_from_row).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

pub fn revoke_operator(c: &Connection, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError> {
    c.execute(
        "UPDATE operator_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now.millis()],
    )
    .map_err(storage)?;
    c.prepare_cached("SELECT id, name, prefix, created_at, revoked_at FROM operator_keys WHERE id = ?1")
        .map_err(storage)?
        .query_row([id], operator_from_row)
        .optional()
        .map_err(storage)?
        .ok_or(StoreError::NotFound)
}
