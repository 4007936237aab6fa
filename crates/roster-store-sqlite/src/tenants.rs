//! Tenants.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::prelude::*;
use roster_store::{StoreError, Tenant};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, storage};
use crate::rows::*;

#[async_trait]
impl TenantStore for SqliteDirectory {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError> {
        let tenant = Tenant { id: TenantId::new(), name: name.to_owned(), created_at: now };
        let t = tenant.clone();
        self.write(move |c| {
            match c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.id.to_string(), t.name, t.created_at.millis()],
            ) {
                Ok(_) => Ok(()),
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    Err(StoreError::Conflict("a tenant with this name exists".into()))
                }
                Err(e) => Err(storage(e)),
            }
        })
        .await?;
        Ok(tenant)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY name")
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(Tenant { id: id(r.get(0)?)?, name: r.get(1)?, created_at: Timestamp(r.get(2)?) })
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE name = ?1")
                .map_err(storage)?
                .query_row([name], |r| {
                    Ok(Tenant { id: id(r.get(0)?)?, name: r.get(1)?, created_at: Timestamp(r.get(2)?) })
                })
                .optional()
                .map_err(storage)
        })
        .await
    }
}
