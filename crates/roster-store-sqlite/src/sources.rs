//! Sources and their settings.

use async_trait::async_trait;
use roster_core::{SourceName, TenantId, Timestamp};
use roster_store::prelude::*;
use roster_store::{Source, SourceSettings, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, storage};
use crate::rows::*;

#[async_trait]
impl SourceStore for SqliteDirectory {
    async fn get_source(&self, tenant: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError> {
        let name = name.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT name, tenant_id, settings, created_at, updated_at FROM sources WHERE tenant_id = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), name], source_from_row)
            .optional()
            .map_err(storage)
        })
        .await
    }

    async fn put_source(
        &self,
        tenant: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError> {
        let name = name.clone();
        let json = serde_json::to_string(&settings).map_err(|e| StoreError::Storage(e.to_string()))?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO sources (tenant_id, name, settings, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                 RETURNING name, tenant_id, settings, created_at, updated_at",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), name.as_str(), json, now.millis()], source_from_row)
            .map_err(storage)
        })
        .await
    }

    async fn list_sources(&self, tenant: TenantId) -> Result<Vec<Source>, StoreError> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT name, tenant_id, settings, created_at, updated_at FROM sources WHERE tenant_id = ?1 ORDER BY name",
                )
                .map_err(storage)?;
            let rows = stmt.query_map([tenant.to_string()], source_from_row).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn delete_source(&self, tenant: TenantId, name: &SourceName) -> Result<Source, StoreError> {
        let name = name.as_str().to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM sources WHERE tenant_id = ?1 AND name = ?2
                 RETURNING name, tenant_id, settings, created_at, updated_at",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), name], source_from_row)
            .optional()
            .map_err(storage)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }
}
