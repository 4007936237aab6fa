//! Tenants: created, renamed, and deleted after a grace period (purged by
//! the scheduler).

use async_trait::async_trait;
use roster_core::public_id::{Kind, render};
use roster_core::{TenantId, Timestamp};
use roster_store::{NewAuditEntry, PurgedTenant, StoreError, Tenant, TenantStore, platform_log};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::conn::{PgDirectory, is_unique_violation, parse_id, storage};

const TENANT_COLUMNS: &str = "id, name, created_at, deletion_requested_at, delete_after";

fn tenant_from_row(r: &PgRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: parse_id(r.try_get::<&str, _>(0).map_err(storage)?)?,
        name: r.try_get(1).map_err(storage)?,
        created_at: Timestamp(r.try_get(2).map_err(storage)?),
        deletion_requested_at: r.try_get::<Option<i64>, _>(3).map_err(storage)?.map(Timestamp),
        delete_after: r.try_get::<Option<i64>, _>(4).map_err(storage)?.map(Timestamp),
    })
}

fn name_taken(e: sqlx::Error) -> StoreError {
    // The unique index decides between concurrent creations and renames.
    if is_unique_violation(&e) {
        StoreError::Conflict("a tenant with this name exists".into())
    } else {
        storage(e)
    }
}

/// The tenant's row, locked for the rest of the transaction: deletion,
/// cancellation, purge and key revocations of one tenant take turns.
pub(crate) async fn lock(c: &mut PgConnection, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
    sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE"))
        .bind(tenant.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(storage)?
        .as_ref()
        .map(tenant_from_row)
        .transpose()
}

/// A tenant's rows, children before parents. `audit_log` is kept on
/// purpose (append-only, no personal data); as in the SQLite adapter,
/// whose test checks that the list names every table with a `tenant_id`.
const PURGED_TABLES: &[&str] = &[
    "delivery_attempts",
    "event_dead_letters",
    "endpoints",
    "outbox",
    "person_history",
    "people",
    "applied_messages",
    "idempotency_keys",
    "feeds",
    "sources",
    "api_keys",
];

async fn purge(c: &mut PgConnection, tenant: TenantId) -> Result<(), StoreError> {
    let t = tenant.to_string();
    sqlx::query("DELETE FROM snapshot_members WHERE feed_id IN (SELECT id FROM feeds WHERE tenant_id = $1)")
        .bind(&t)
        .execute(&mut *c)
        .await
        .map_err(storage)?;
    for table in PURGED_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1"))
            .bind(&t)
            .execute(&mut *c)
            .await
            .map_err(storage)?;
    }
    sqlx::query("DELETE FROM tenants WHERE id = $1").bind(&t).execute(&mut *c).await.map_err(storage)?;
    Ok(())
}

#[async_trait]
impl TenantStore for PgDirectory {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: TenantId::new(),
            name: name.to_owned(),
            created_at: now,
            deletion_requested_at: None,
            delete_after: None,
        };
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.to_string())
            .bind(&tenant.name)
            .bind(now.millis())
            .execute(self.pool())
            .await
            .map_err(name_taken)?;
        Ok(tenant)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"))
            .fetch_all(self.pool())
            .await
            .map_err(storage)?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(storage)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
        sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"))
            .bind(tenant.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(storage)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn rename_tenant(&self, tenant: TenantId, name: &str) -> Result<Tenant, StoreError> {
        sqlx::query(&format!("UPDATE tenants SET name = $2 WHERE id = $1 RETURNING {TENANT_COLUMNS}"))
            .bind(tenant.to_string())
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(name_taken)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    async fn schedule_tenant_deletion(
        &self,
        tenant: TenantId,
        now: Timestamp,
        delete_after: Timestamp,
    ) -> Result<Tenant, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let current = lock(&mut tx, tenant).await?.ok_or(StoreError::NotFound)?;
        if current.is_deleting() {
            return Err(StoreError::Conflict("the tenant's deletion is already scheduled".into()));
        }
        let row = sqlx::query(&format!(
            "UPDATE tenants SET deletion_requested_at = $2, delete_after = $3 WHERE id = $1 RETURNING {TENANT_COLUMNS}"
        ))
        .bind(tenant.to_string())
        .bind(now.millis())
        .bind(delete_after.millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        tenant_from_row(&row)
    }

    async fn cancel_tenant_deletion(&self, tenant: TenantId, now: Timestamp) -> Result<Tenant, StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let current = lock(&mut tx, tenant).await?.ok_or(StoreError::NotFound)?;
        match current.delete_after {
            None => return Err(StoreError::Conflict("the tenant's deletion is not scheduled".into())),
            Some(t) if t <= now => {
                return Err(StoreError::Conflict("the deletion's grace period is over".into()));
            }
            Some(_) => {}
        }
        let row = sqlx::query(&format!(
            "UPDATE tenants SET deletion_requested_at = NULL, delete_after = NULL WHERE id = $1 RETURNING {TENANT_COLUMNS}"
        ))
        .bind(tenant.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        tenant_from_row(&row)
    }

    async fn purge_deleted_tenants(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PurgedTenant>, StoreError> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tenants WHERE delete_after IS NOT NULL AND delete_after <= $1
             ORDER BY delete_after LIMIT $2",
        )
        .bind(now.millis())
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        let mut purged = Vec::new();
        for id in due {
            let id: TenantId = parse_id(&id)?;
            let mut tx = self.pool().begin().await.map_err(storage)?;
            // Under the row lock: a cancellation or another node's sweep
            // may have come first.
            let Some(t) = lock(&mut tx, id).await? else { continue };
            if t.delete_after.is_none_or(|d| d > now) {
                continue;
            }
            purge(&mut tx, id).await?;
            let entry = NewAuditEntry {
                at: now,
                tenant_id: platform_log(),
                actor: "scheduler".into(),
                action: "tenant.purged",
                target: Some(render(Kind::Tenant, id)),
                request_id: None,
                client_request_id: None,
            };
            crate::audit::append(&mut tx, &entry).await?;
            tx.commit().await.map_err(storage)?;
            purged.push(PurgedTenant { id, name: t.name });
        }
        Ok(purged)
    }
}
