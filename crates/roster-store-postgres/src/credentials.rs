//! Credentials: tenants' API keys (created, listed, revoked, authenticated)
//! and operator keys. Only hashes of secrets are stored.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::{
    ApiKeyInfo, Credential, CredentialStore, LAST_ADMIN_KEY, LAST_USED_GRANULARITY_MS, LastAdmin, NewApiKey,
    NewAuditEntry, OperatorKeyInfo, Scope, StoreError,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::conn::{PgDirectory, parse_id, storage};

const KEY_COLUMNS: &str =
    "id, tenant_id, prefix, scopes::text, created_at, expires_at, revoked_at, last_used_at, name";
const OPERATOR_COLUMNS: &str = "id, name, prefix, created_at, revoked_at, expires_at, last_used_at";

fn ts(r: &PgRow, i: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(i).map_err(storage)?.map(Timestamp))
}

fn key_from_row(r: &PgRow) -> Result<ApiKeyInfo, StoreError> {
    let scopes: Vec<String> = serde_json::from_str(r.try_get::<&str, _>(3).map_err(storage)?)
        .map_err(|e| StoreError::Storage(format!("stored key scopes: {e}")))?;
    Ok(ApiKeyInfo {
        id: r.try_get(0).map_err(storage)?,
        tenant_id: parse_id(r.try_get::<&str, _>(1).map_err(storage)?)?,
        prefix: r.try_get(2).map_err(storage)?,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        created_at: Timestamp(r.try_get(4).map_err(storage)?),
        expires_at: ts(r, 5)?,
        revoked_at: ts(r, 6)?,
        last_used_at: ts(r, 7)?,
        name: r.try_get(8).map_err(storage)?,
    })
}

fn operator_from_row(r: &PgRow) -> Result<OperatorKeyInfo, StoreError> {
    Ok(OperatorKeyInfo {
        id: r.try_get(0).map_err(storage)?,
        name: r.try_get(1).map_err(storage)?,
        prefix: r.try_get(2).map_err(storage)?,
        created_at: Timestamp(r.try_get(3).map_err(storage)?),
        revoked_at: ts(r, 4)?,
        expires_at: ts(r, 5)?,
        last_used_at: ts(r, 6)?,
    })
}

/// Whether a use at `now` after the previous one `prev` is the first of
/// its UTC day (audited once a day, not per request).
fn first_today(prev: Option<Timestamp>, now: Timestamp) -> bool {
    prev.is_none_or(|t| t.date() != now.date())
}

impl PgDirectory {
    /// `record_key_use` for the key `id` in `table`: the row lock makes
    /// concurrent uses (on several nodes) write and audit once.
    async fn record_use(
        &self,
        table: &'static str,
        id: &str,
        now: Timestamp,
        entry: &NewAuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let prev: Option<Option<i64>> =
            sqlx::query_scalar(&format!("SELECT last_used_at FROM {table} WHERE id = $1 FOR UPDATE"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage)?;
        let Some(prev) = prev.map(|p| p.map(Timestamp)) else { return Ok(()) };
        if prev.is_some_and(|t| now.millis() - t.millis() < LAST_USED_GRANULARITY_MS) {
            return Ok(());
        }
        sqlx::query(&format!("UPDATE {table} SET last_used_at = $2 WHERE id = $1"))
            .bind(id)
            .bind(now.millis())
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        if first_today(prev, now) {
            crate::audit::append(&mut tx, entry).await?;
        }
        tx.commit().await.map_err(storage)
    }
}

#[async_trait]
impl CredentialStore for PgDirectory {
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
        let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
        let scopes = serde_json::to_string(&scopes).map_err(|e| StoreError::Storage(e.to_string()))?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, prefix, hash, scopes, created_at, expires_at, name)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
        )
        .bind(&info.id)
        .bind(info.tenant_id.to_string())
        .bind(&info.prefix)
        .bind(&key.hash[..])
        .bind(scopes)
        .bind(now.millis())
        .bind(info.expires_at.map(Timestamp::millis))
        .bind(&info.name)
        .execute(self.pool())
        .await
        .map_err(storage)?;
        Ok(info)
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(tenant.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(storage)?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        now: Timestamp,
        last_admin: LastAdmin,
    ) -> Result<ApiKeyInfo, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // The tenant's row lock orders the revocations of its keys: the
        // count of the other admin keys below cannot be raced by another
        // revocation (READ COMMITTED would let two both see the other).
        if crate::tenants::lock(&mut tx, tenant).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let key =
            sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND tenant_id = $2"))
                .bind(key_id)
                .bind(tenant.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage)?
                .as_ref()
                .map(key_from_row)
                .transpose()?
                .ok_or(StoreError::NotFound)?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let live_admin = key.scopes.contains(&Scope::Admin) && key.expires_at.is_none_or(|t| t > now);
        if last_admin == LastAdmin::Keep && live_admin {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_keys
                 WHERE tenant_id = $1 AND id <> $2 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > $3) AND scopes ? 'admin'",
            )
            .bind(tenant.to_string())
            .bind(key_id)
            .bind(now.millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(storage)?;
            if others == 0 {
                return Err(StoreError::Conflict(LAST_ADMIN_KEY.into()));
            }
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
            .bind(key_id)
            .bind(now.millis())
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(ApiKeyInfo { revoked_at: Some(now), ..key })
    }

    async fn find_api_key(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<ApiKeyInfo>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys
             WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(&hash[..])
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn find_operator_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<OperatorKeyInfo>, StoreError> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLUMNS} FROM operator_keys
             WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(&hash[..])
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?
        .as_ref()
        .map(operator_from_row)
        .transpose()
    }

    async fn record_key_use(
        &self,
        credential: Credential<'_>,
        now: Timestamp,
        first_of_day: NewAuditEntry,
    ) -> Result<(), StoreError> {
        match credential {
            Credential::ApiKey(id) => self.record_use("api_keys", id, now, &first_of_day).await,
            Credential::OperatorKey(id) => self.record_use("operator_keys", id, now, &first_of_day).await,
        }
    }

    async fn create_operator_key(
        &self,
        name: &str,
        prefix: String,
        hash: [u8; 32],
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<OperatorKeyInfo, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO operator_keys (id, name, prefix, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(&prefix)
        .bind(&hash[..])
        .bind(now.millis())
        .bind(expires_at.map(Timestamp::millis))
        .execute(self.pool())
        .await
        .map_err(storage)?;
        Ok(OperatorKeyInfo {
            id,
            name: name.to_owned(),
            prefix,
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        })
    }

    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError> {
        sqlx::query(&format!("SELECT {OPERATOR_COLUMNS} FROM operator_keys ORDER BY created_at, id"))
            .fetch_all(self.pool())
            .await
            .map_err(storage)?
            .iter()
            .map(operator_from_row)
            .collect()
    }

    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError> {
        let row = sqlx::query(&format!(
            "WITH revoked AS (
                 UPDATE operator_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
                 RETURNING {OPERATOR_COLUMNS}
             )
             SELECT * FROM revoked
             UNION ALL
             SELECT {OPERATOR_COLUMNS} FROM operator_keys WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM revoked)"
        ))
        .bind(id)
        .bind(now.millis())
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        row.as_ref().map(operator_from_row).transpose()?.ok_or(StoreError::NotFound)
    }
}
