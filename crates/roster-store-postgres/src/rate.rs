//! `RateBuckets`: a token bucket per credential in one row, taken by one
//! statement whose upsert locks the row (concurrent takes from any node
//! queue on it), by the server's clock.

use std::time::Duration;

use async_trait::async_trait;
use roster_store::{RateBuckets, StoreError};

use crate::conn::{PgDirectory, storage};

/// The server's clock in epoch milliseconds (`clock_timestamp`: the
/// statement's moment, not the transaction's).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

#[async_trait]
impl RateBuckets for PgDirectory {
    async fn take_token(&self, key: &str, per_sec: f64, burst: f64) -> Result<Option<Duration>, StoreError> {
        // Refilled to `now`, capped at `burst`; taken only if a whole token
        // is there (else the row is left as it was).
        let refilled = "LEAST($3, b.tokens + (EXCLUDED.at_ms - b.at_ms) * $2 / 1000.0)";
        let taken: Option<f64> = sqlx::query_scalar(&format!(
            "INSERT INTO rate_buckets AS b (key, tokens, at_ms) VALUES ($1, $3 - 1, {NOW_MS})
             ON CONFLICT (key) DO UPDATE SET tokens = {refilled} - 1, at_ms = EXCLUDED.at_ms
             WHERE {refilled} >= 1
             RETURNING tokens"
        ))
        .bind(key)
        .bind(per_sec)
        .bind(burst)
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        if taken.is_some() {
            return Ok(None);
        }
        let (tokens, elapsed_ms): (f64, i64) =
            sqlx::query_as(&format!("SELECT tokens, {NOW_MS} - at_ms FROM rate_buckets WHERE key = $1"))
                .bind(key)
                .fetch_one(self.pool())
                .await
                .map_err(storage)?;
        let now = (tokens + elapsed_ms.max(0) as f64 * per_sec / 1000.0).min(burst);
        Ok(Some(Duration::from_secs_f64(((1.0 - now) / per_sec).max(0.001))))
    }
}
