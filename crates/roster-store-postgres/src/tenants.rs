//! Tenants.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::{StoreError, Tenant, TenantStore};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::conn::{PgDirectory, is_unique_violation, parse_id, storage};

fn tenant_from_row(r: &PgRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: parse_id(r.try_get::<&str, _>(0).map_err(storage)?)?,
        name: r.try_get(1).map_err(storage)?,
        created_at: Timestamp(r.try_get(2).map_err(storage)?),
    })
}

#[async_trait]
impl TenantStore for PgDirectory {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError> {
        let tenant = Tenant { id: TenantId::new(), name: name.to_owned(), created_at: now };
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.to_string())
            .bind(&tenant.name)
            .bind(now.millis())
            .execute(self.pool())
            .await
            .map_err(|e| {
                // The unique index decides between concurrent creations.
                if is_unique_violation(&e) {
                    StoreError::Conflict("a tenant with this name exists".into())
                } else {
                    storage(e)
                }
            })?;
        Ok(tenant)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(storage)?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(storage)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }
}
