//! Tenants: created, renamed, and deleted after a grace period (purged by
//! the scheduler).

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::prelude::*;
use roster_store::{NewAuditEntry, PurgedTenant, StoreError, Tenant, platform_log};
use rusqlite::{Connection, OptionalExtension, params};

use crate::conn::{SqliteDirectory, immediate, storage};
use crate::rows::*;

const TENANT_COLUMNS: &str = "id, name, created_at, deletion_requested_at, delete_after";

fn tenant_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: id(r.get(0)?)?,
        name: r.get(1)?,
        created_at: Timestamp(r.get(2)?),
        deletion_requested_at: r.get::<_, Option<i64>>(3)?.map(Timestamp),
        delete_after: r.get::<_, Option<i64>>(4)?.map(Timestamp),
    })
}

fn by_id(c: &Connection, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
    c.prepare_cached(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"))
        .map_err(storage)?
        .query_row([tenant.to_string()], tenant_from_row)
        .optional()
        .map_err(storage)
}

fn name_taken(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// A tenant's rows, children before parents (foreign keys are on). The
/// test below checks that every table with a `tenant_id` is named here, so
/// a new table cannot be forgotten by the purge. `audit_log` is kept on
/// purpose (append-only, no personal data).
pub(crate) const PURGED_TABLES: &[&str] = &[
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

fn purge(c: &Connection, tenant: TenantId) -> Result<(), StoreError> {
    let t = tenant.to_string();
    // Snapshot members carry only their feed's id.
    c.execute(
        "DELETE FROM snapshot_members WHERE feed_id IN (SELECT id FROM feeds WHERE tenant_id = ?1)",
        [&t],
    )
    .map_err(storage)?;
    for table in PURGED_TABLES {
        c.execute(&format!("DELETE FROM {table} WHERE tenant_id = ?1"), [&t]).map_err(storage)?;
    }
    c.execute("DELETE FROM tenants WHERE id = ?1", [&t]).map_err(storage)?;
    Ok(())
}

#[async_trait]
impl TenantStore for SqliteDirectory {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: TenantId::new(),
            name: name.to_owned(),
            created_at: now,
            deletion_requested_at: None,
            delete_after: None,
        };
        let t = tenant.clone();
        self.write(move |c| {
            match c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.id.to_string(), t.name, t.created_at.millis()],
            ) {
                Ok(_) => Ok(()),
                Err(e) if name_taken(&e) => {
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
                .prepare_cached(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"))
                .map_err(storage)?;
            let rows = stmt.query_map([], tenant_from_row).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?1"))
                .map_err(storage)?
                .query_row([name], tenant_from_row)
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
        self.read(move |c| by_id(c, tenant)).await
    }

    async fn rename_tenant(&self, tenant: TenantId, name: &str) -> Result<Tenant, StoreError> {
        let name = name.to_owned();
        self.write(move |c| {
            match c.execute("UPDATE tenants SET name = ?2 WHERE id = ?1", params![tenant.to_string(), name]) {
                Ok(_) => {}
                Err(e) if name_taken(&e) => {
                    return Err(StoreError::Conflict("a tenant with this name exists".into()));
                }
                Err(e) => return Err(storage(e)),
            }
            by_id(c, tenant)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn schedule_tenant_deletion(
        &self,
        tenant: TenantId,
        now: Timestamp,
        delete_after: Timestamp,
    ) -> Result<Tenant, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let current = by_id(&tx, tenant)?.ok_or(StoreError::NotFound)?;
            if current.is_deleting() {
                return Err(StoreError::Conflict("the tenant's deletion is already scheduled".into()));
            }
            tx.execute(
                "UPDATE tenants SET deletion_requested_at = ?2, delete_after = ?3 WHERE id = ?1",
                params![tenant.to_string(), now.millis(), delete_after.millis()],
            )
            .map_err(storage)?;
            let updated = by_id(&tx, tenant)?.ok_or(StoreError::NotFound)?;
            tx.commit().map_err(storage)?;
            Ok(updated)
        })
        .await
    }

    async fn cancel_tenant_deletion(&self, tenant: TenantId, now: Timestamp) -> Result<Tenant, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let current = by_id(&tx, tenant)?.ok_or(StoreError::NotFound)?;
            match current.delete_after {
                None => return Err(StoreError::Conflict("the tenant's deletion is not scheduled".into())),
                Some(t) if t <= now => {
                    return Err(StoreError::Conflict("the deletion's grace period is over".into()));
                }
                Some(_) => {}
            }
            tx.execute(
                "UPDATE tenants SET deletion_requested_at = NULL, delete_after = NULL WHERE id = ?1",
                [tenant.to_string()],
            )
            .map_err(storage)?;
            let updated = by_id(&tx, tenant)?.ok_or(StoreError::NotFound)?;
            tx.commit().map_err(storage)?;
            Ok(updated)
        })
        .await
    }

    async fn purge_deleted_tenants(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PurgedTenant>, StoreError> {
        let due: Vec<PurgedTenant> = self
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, name FROM tenants WHERE delete_after IS NOT NULL AND delete_after <= ?1
                         ORDER BY delete_after LIMIT ?2",
                    )
                    .map_err(storage)?;
                let rows = stmt
                    .query_map(params![now.millis(), limit as i64], |r| {
                        Ok(PurgedTenant { id: id(r.get(0)?)?, name: r.get(1)? })
                    })
                    .map_err(storage)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(storage)
            })
            .await?;
        let mut purged = Vec::new();
        for t in due {
            let done = self
                .write(move |c| {
                    let tx = immediate(c)?;
                    // Checked again in the writer: a cancellation may have
                    // come in between (or another sweep purged it).
                    let still_due = by_id(&tx, t.id)?.and_then(|x| x.delete_after).is_some_and(|d| d <= now);
                    if !still_due {
                        return Ok(None);
                    }
                    purge(&tx, t.id)?;
                    crate::audit::append(
                        &tx,
                        &NewAuditEntry {
                            at: now,
                            tenant_id: platform_log(),
                            actor: "scheduler".into(),
                            action: "tenant.purged",
                            target: Some(roster_core::public_id::render(
                                roster_core::public_id::Kind::Tenant,
                                t.id,
                            )),
                            request_id: None,
                            client_request_id: None,
                        },
                    )?;
                    tx.commit().map_err(storage)?;
                    Ok(Some(t))
                })
                .await?;
            purged.extend(done);
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table holding a tenant's rows is purged with it (or is the
    /// audit log, kept on purpose): a table added later without being added
    /// to [`PURGED_TABLES`] fails this.
    #[test]
    fn the_purge_names_every_table_with_a_tenant_id() {
        let dir = tempfile::tempdir().unwrap();
        let d = SqliteDirectory::open(&dir.path().join("roster.db")).unwrap();
        drop(d);
        let c = Connection::open(dir.path().join("roster.db")).unwrap();
        let mut stmt = c
            .prepare(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND p.name = 'tenant_id'",
            )
            .unwrap();
        let tables: Vec<String> =
            stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(tables.contains(&"people".to_owned()), "{tables:?}");
        for table in tables {
            assert!(
                PURGED_TABLES.contains(&table.as_str()) || table == "audit_log",
                "{table} has a tenant_id but a tenant's purge leaves its rows"
            );
        }
    }
}
