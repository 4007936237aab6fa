//! Leases, by SQLite's clock (`unixepoch('subsec')`, the store's time, not
//! the caller's): one row per held name, taken over in one statement once
//! it has expired.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::Timestamp;
use roster_store::{Lease, Leases, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, storage};

/// The store's clock in epoch milliseconds, as SQL.
const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

#[async_trait]
impl Leases for SqliteDirectory {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let token = uuid::Uuid::new_v4().to_string();
        self.write(move |c| {
            // One statement: a free name is inserted, an expired holding is
            // replaced, a live one is left (no row returned).
            c.prepare_cached(&format!(
                "INSERT INTO leases (name, holder, token, expires_at) VALUES (?1, ?2, ?3, {NOW_MS} + ?4)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token,
                                                  expires_at = excluded.expires_at
                 WHERE leases.expires_at <= {NOW_MS}
                 RETURNING expires_at"
            ))
            .map_err(storage)?
            .query_row(params![name, holder, token, ttl_ms(ttl)], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(storage)
            .map(|at| at.map(|at| Lease { name, holder, token, expires_at: Timestamp(at) }))
        })
        .await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease = lease.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "UPDATE leases SET expires_at = {NOW_MS} + ?3
                 WHERE name = ?1 AND token = ?2 AND expires_at > {NOW_MS}
                 RETURNING expires_at"
            ))
            .map_err(storage)?
            .query_row(params![lease.name, lease.token, ttl_ms(ttl)], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(storage)
            .map(|at| at.map(|at| Lease { expires_at: Timestamp(at), ..lease }))
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let (name, token) = (lease.name.clone(), lease.token.clone());
        self.write(move |c| {
            c.execute("DELETE FROM leases WHERE name = ?1 AND token = ?2", params![name, token])
                .map(|_| ())
                .map_err(storage)
        })
        .await
    }
}
