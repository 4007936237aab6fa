//! `Idempotency-Key` claims and their stored answers.
//!
//! A claim is `INSERT ... ON CONFLICT DO NOTHING`: of concurrent claims of
//! a new key (on any node) the unique key lets exactly one insert; the
//! others wait for it and then read its row, `InProgress` — never an error.

use std::time::Duration;

use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};
use roster_store::limits::IDEMPOTENCY_TTL_MS;
use roster_store::{IdempotencyClaim, IdempotencyStore, StoreError};
use sqlx::Row;

use crate::conn::{PgDirectory, storage};

#[async_trait]
impl IdempotencyStore for PgDirectory {
    async fn claim_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        now: Timestamp,
        hold: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let t = tenant.to_string();
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // A key past its day, or a claim whose request died, is forgotten.
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2
               AND (created_at < $3 OR (status IS NULL AND created_at < $4))",
        )
        .bind(&t)
        .bind(key)
        .bind(now.millis() - IDEMPOTENCY_TTL_MS)
        .bind(now.millis().saturating_sub(hold_ms))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES ($1, $2, '\\x'::bytea, $3)
             ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(&t)
        .bind(key)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected()
            == 1;
        let claim = if claimed {
            IdempotencyClaim::Claimed
        } else {
            let row = sqlx::query(
                "SELECT fingerprint, status, body, location FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
            )
            .bind(&t)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage)?;
            match row {
                Some(r) => {
                    let status: Option<i32> = r.try_get(1).map_err(storage)?;
                    let body: Option<String> = r.try_get(2).map_err(storage)?;
                    match (status, body) {
                        (Some(status), Some(body)) => {
                            let fp: Vec<u8> = r.try_get(0).map_err(storage)?;
                            IdempotencyClaim::Completed {
                                fingerprint: fp.try_into().unwrap_or([0; 32]),
                                status: u16::try_from(status).unwrap_or(0),
                                body,
                                location: r.try_get(3).map_err(storage)?,
                            }
                        }
                        _ => IdempotencyClaim::InProgress,
                    }
                }
                // The holder released it between our insert and this read:
                // a retry a moment later claims it.
                None => IdempotencyClaim::InProgress,
            }
        };
        tx.commit().await.map_err(storage)?;
        Ok(claim)
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
        sqlx::query(
            "UPDATE idempotency_keys SET fingerprint = $3, status = $4, body = $5, location = $6
             WHERE tenant_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(tenant.to_string())
        .bind(key)
        .bind(&fingerprint[..])
        .bind(i32::from(status))
        .bind(body)
        .bind(location)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(storage)
    }

    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND status IS NULL")
            .bind(tenant.to_string())
            .bind(key)
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
