//! Leases, by the database's clock (`clock_timestamp()`, the store's time,
//! not a node's): one row per held name, taken over in one statement once
//! it has expired. Table leases rather than session advisory locks: an
//! advisory lock belongs to one pooled connection, not to the node.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;
use roster_store::{Lease, Leases, StoreError};

use crate::conn::{PgDirectory, storage};

/// The database's clock in epoch milliseconds, as SQL.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

#[async_trait]
impl Leases for PgDirectory {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        // One statement: a free name is inserted, an expired holding is
        // replaced, a live one is left (no row). Of concurrent inserts of a
        // free name, the others wait on the first and then find it live.
        let at: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, $3, {NOW_MS} + $4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token,
                                              expires_at = excluded.expires_at
             WHERE leases.expires_at <= {NOW_MS}
             RETURNING expires_at"
        ))
        .bind(name)
        .bind(holder)
        .bind(&token)
        .bind(ttl_ms(ttl))
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        Ok(at.map(|at| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
            expires_at: Timestamp(at),
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE leases SET expires_at = {NOW_MS} + $3
             WHERE name = $1 AND token = $2 AND expires_at > {NOW_MS}
             RETURNING expires_at"
        ))
        .bind(&lease.name)
        .bind(&lease.token)
        .bind(ttl_ms(ttl))
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        Ok(at.map(|at| Lease { expires_at: Timestamp(at), ..lease.clone() }))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND token = $2")
            .bind(&lease.name)
            .bind(&lease.token)
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
