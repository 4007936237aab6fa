//! Credentials: tenants' API keys (created, listed, revoked, authenticated)
//! and operator keys.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::{KEY_COLUMNS, key_from_row, storage};
use crate::conn::{SqliteDirectory, immediate};
use roster_store::prelude::*;
use roster_store::{
    ApiKeyInfo, Credential, LAST_ADMIN_KEY, LAST_USED_GRANULARITY_MS, LastAdmin, NewApiKey, NewAuditEntry,
    OperatorKeyInfo, Scope, StoreError,
};

/// `record_key_use` in one write transaction (the one writer serializes
/// concurrent uses).
fn record_use(
    c: &mut Connection,
    table: &str,
    id: &str,
    now: Timestamp,
    entry: &NewAuditEntry,
) -> Result<(), StoreError> {
    let tx = immediate(c)?;
    let prev: Option<Option<i64>> = tx
        .query_row(&format!("SELECT last_used_at FROM {table} WHERE id = ?1"), [id], |r| r.get(0))
        .optional()
        .map_err(storage)?;
    let Some(prev) = prev.map(|p| p.map(Timestamp)) else { return Ok(()) };
    if prev.is_some_and(|t| now.millis() - t.millis() < LAST_USED_GRANULARITY_MS) {
        return Ok(());
    }
    tx.execute(&format!("UPDATE {table} SET last_used_at = ?2 WHERE id = ?1"), params![id, now.millis()])
        .map_err(storage)?;
    if prev.is_none_or(|t| t.date() != now.date()) {
        crate::audit::append(&tx, entry)?;
    }
    tx.commit().map_err(storage)
}

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
    c: &mut Connection,
    tenant: TenantId,
    key_id: &str,
    now: Timestamp,
    last_admin: LastAdmin,
) -> Result<ApiKeyInfo, StoreError> {
    // One writer transaction: the count of the other admin keys and the
    // revocation cannot interleave with another revocation.
    let tx = immediate(c)?;
    let key = tx
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND tenant_id = ?2"))
        .map_err(storage)?
        .query_row(params![key_id, tenant.to_string()], key_from_row)
        .optional()
        .map_err(storage)?
        .ok_or(StoreError::NotFound)?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let live_admin = key.scopes.contains(&Scope::Admin) && key.expires_at.is_none_or(|t| t > now);
    if last_admin == LastAdmin::Keep && live_admin {
        let others: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM api_keys
                 WHERE tenant_id = ?1 AND id <> ?2 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?3)
                   AND ',' || scopes || ',' LIKE '%,admin,%'",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), key_id, now.millis()], |r| r.get(0))
            .map_err(storage)?;
        if others == 0 {
            return Err(StoreError::Conflict(LAST_ADMIN_KEY.into()));
        }
    }
    tx.execute("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1", params![key_id, now.millis()])
        .map_err(storage)?;
    tx.commit().map_err(storage)?;
    Ok(ApiKeyInfo { revoked_at: Some(now), ..key })
}

const OPERATOR_COLUMNS: &str = "id, name, prefix, created_at, revoked_at, expires_at, last_used_at";

fn operator_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorKeyInfo> {
    Ok(OperatorKeyInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

pub fn create_operator(
    c: &Connection,
    name: &str,
    prefix: &str,
    hash: &[u8; 32],
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<OperatorKeyInfo, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    c.execute(
        "INSERT INTO operator_keys (id, name, prefix, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, name, prefix, &hash[..], now.millis(), expires_at.map(Timestamp::millis)],
    )
    .map_err(storage)?;
    Ok(OperatorKeyInfo {
        id,
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    })
}

pub fn authenticate_operator(
    c: &Connection,
    hash: &[u8; 32],
    now: Timestamp,
) -> Result<Option<OperatorKeyInfo>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {OPERATOR_COLUMNS} FROM operator_keys
         WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
    ))
    .map_err(storage)?
    .query_row(params![&hash[..], now.millis()], operator_from_row)
    .optional()
    .map_err(storage)
}

pub fn list_operators(c: &Connection) -> Result<Vec<OperatorKeyInfo>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {OPERATOR_COLUMNS} FROM operator_keys ORDER BY created_at, id"))
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
    c.prepare_cached(&format!("SELECT {OPERATOR_COLUMNS} FROM operator_keys WHERE id = ?1"))
        .map_err(storage)?
        .query_row([id], operator_from_row)
        .optional()
        .map_err(storage)?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl CredentialStore for SqliteDirectory {
    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKeyInfo, StoreError> {
        let info = ApiKeyInfo {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: key.tenant_id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_at: now,
            expires_at: key.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let i = info.clone();
        let hash = key.hash;
        self.write(move |c| {
            let scopes: Vec<&str> = i.scopes.iter().map(|s| s.as_str()).collect();
            c.execute(
                "INSERT INTO api_keys (id, tenant_id, prefix, hash, scopes, created_at, expires_at, name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    i.id,
                    i.tenant_id.to_string(),
                    i.prefix,
                    &hash[..],
                    scopes.join(","),
                    now.millis(),
                    i.expires_at.map(Timestamp::millis),
                    i.name
                ],
            )
            .map_err(storage)
        })
        .await?;
        Ok(info)
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.read(move |c| list_keys(c, tenant)).await
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        now: Timestamp,
        last_admin: LastAdmin,
    ) -> Result<ApiKeyInfo, StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |c| revoke_key(c, tenant, &key_id, now, last_admin)).await
    }

    async fn find_api_key(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<ApiKeyInfo>, StoreError> {
        let h = *hash;
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys
                 WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
            ))
            .map_err(storage)?
            .query_row(params![&h[..], now.millis()], key_from_row)
            .optional()
            .map_err(storage)
        })
        .await
    }

    async fn find_operator_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<OperatorKeyInfo>, StoreError> {
        let hash = *hash;
        self.read(move |c| authenticate_operator(c, &hash, now)).await
    }

    async fn record_key_use(
        &self,
        credential: Credential<'_>,
        now: Timestamp,
        first_of_day: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let (table, id) = match credential {
            Credential::ApiKey(id) => ("api_keys", id.to_owned()),
            Credential::OperatorKey(id) => ("operator_keys", id.to_owned()),
        };
        self.write(move |c| record_use(c, table, &id, now, &first_of_day)).await
    }

    async fn create_operator_key(
        &self,
        name: &str,
        prefix: String,
        hash: [u8; 32],
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<OperatorKeyInfo, StoreError> {
        let name = name.to_owned();
        self.write(move |c| create_operator(c, &name, &prefix, &hash, expires_at, now)).await
    }

    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError> {
        self.read(|c| list_operators(c)).await
    }

    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError> {
        let id = id.to_owned();
        self.write(move |c| revoke_operator(c, &id, now)).await
    }
}
