//! `Idempotency-Key` claims and their stored answers.

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::IDEMPOTENCY_TTL_MS;
use roster_store::prelude::*;
use roster_store::{IdempotencyClaim, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, immediate, storage};
use std::time::Duration;

#[async_trait]
impl IdempotencyStore for SqliteDirectory {
    async fn claim_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        now: Timestamp,
        hold: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let key = key.to_owned();
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        self.write(move |c| {
            let tx = immediate(c)?;
            let t = tenant.to_string();
            tx.execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2
                   AND (created_at < ?3 OR (status IS NULL AND created_at < ?4))",
                params![t, key, now.millis() - IDEMPOTENCY_TTL_MS, now.millis().saturating_sub(hold_ms)],
            )
            .map_err(storage)?;
            type Row = (Vec<u8>, Option<u16>, Option<String>, Option<String>);
            let found: Option<Row> = tx
                .query_row(
                    "SELECT fingerprint, status, body, location FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
                    params![t, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(storage)?;
            let claim = match found {
                None => {
                    tx.execute(
                        "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES (?1, ?2, x'', ?3)",
                        params![t, key, now.millis()],
                    )
                    .map_err(storage)?;
                    IdempotencyClaim::Claimed
                }
                Some((fp, Some(status), Some(body), location)) => IdempotencyClaim::Completed {
                    fingerprint: fp.try_into().unwrap_or([0; 32]),
                    status,
                    body,
                    location,
                },
                Some(_) => IdempotencyClaim::InProgress,
            };
            tx.commit().map_err(storage)?;
            Ok(claim)
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: [u8; 32],
        status: u16,
        body: String,
        location: Option<String>,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE idempotency_keys SET fingerprint = ?3, status = ?4, body = ?5, location = ?6
                 WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
                params![tenant.to_string(), key, &fingerprint[..], status, body, location],
            )
            .map_err(storage)
            .map(|_| ())
        })
        .await
    }

    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
                params![tenant.to_string(), key],
            )
            .map_err(storage)
            .map(|_| ())
        })
        .await
    }
}
