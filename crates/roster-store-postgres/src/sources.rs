//! Sources and their settings (jsonb).

use async_trait::async_trait;
use roster_core::{SourceName, TenantId, Timestamp};
use roster_store::{Source, SourceSettings, SourceStore, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::conn::{PgDirectory, parse_id, storage};

const COLUMNS: &str = "name, tenant_id, settings::text, created_at, updated_at";

fn source_from_row(r: &PgRow) -> Result<Source, StoreError> {
    let name: &str = r.try_get(0).map_err(storage)?;
    let settings: &str = r.try_get(2).map_err(storage)?;
    Ok(Source {
        name: SourceName::parse(name)
            .map_err(|_| StoreError::Storage("a stored source name is invalid".into()))?,
        tenant_id: parse_id(r.try_get::<&str, _>(1).map_err(storage)?)?,
        settings: serde_json::from_str::<SourceSettings>(settings)
            .map_err(|e| StoreError::Storage(format!("stored source settings: {e}")))?,
        created_at: Timestamp(r.try_get(3).map_err(storage)?),
        updated_at: Timestamp(r.try_get(4).map_err(storage)?),
    })
}

#[async_trait]
impl SourceStore for PgDirectory {
    async fn get_source(&self, tenant: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM sources WHERE tenant_id = $1 AND name = $2"))
            .bind(tenant.to_string())
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(storage)?
            .as_ref()
            .map(source_from_row)
            .transpose()
    }

    async fn put_source(
        &self,
        tenant: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError> {
        let json = serde_json::to_string(&settings).map_err(|e| StoreError::Storage(e.to_string()))?;
        // One statement: concurrent puts of one source serialize on its row
        // and the last write wins.
        let row = sqlx::query(&format!(
            "INSERT INTO sources (tenant_id, name, settings, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, $4)
             ON CONFLICT (tenant_id, name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
             RETURNING {COLUMNS}"
        ))
        .bind(tenant.to_string())
        .bind(name.as_str())
        .bind(json)
        .bind(now.millis())
        .fetch_one(self.pool())
        .await
        .map_err(storage)?;
        source_from_row(&row)
    }

    async fn list_sources(&self, tenant: TenantId) -> Result<Vec<Source>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM sources WHERE tenant_id = $1 ORDER BY name"))
            .bind(tenant.to_string())
            .fetch_all(self.pool())
            .await
            .map_err(storage)?
            .iter()
            .map(source_from_row)
            .collect()
    }

    async fn delete_source(&self, tenant: TenantId, name: &SourceName) -> Result<Source, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM sources WHERE tenant_id = $1 AND name = $2 RETURNING {COLUMNS}"
        ))
        .bind(tenant.to_string())
        .bind(name.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?
        .ok_or(StoreError::NotFound)?;
        source_from_row(&row)
    }
}
