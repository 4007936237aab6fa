use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};

use crate::{IdempotencyClaim, StoreError};

/// `Idempotency-Key`s of ingest requests: claimed when a request starts,
/// completed with its answer, replayed to retries. Keys are per tenant and
/// kept for [`IDEMPOTENCY_TTL_MS`](crate::limits::IDEMPOTENCY_TTL_MS).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a new request, or says what the first request with
    /// the key did. Keys are kept for 24 hours. A claim whose request never
    /// finished (its process died) is given up after `hold`, which must be
    /// at least the longest a request may run (the upload timeout): before
    /// that a retry is `InProgress`, never run a second time.
    ///
    /// Contract: of concurrent claims of one new key (on any node), exactly
    /// one is `Claimed`; the others are `InProgress` — never an error.
    async fn claim_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        now: Timestamp,
        hold: std::time::Duration,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Stores the answer of a claimed key and the fingerprint of its request
    /// (never over an answer already stored).
    async fn complete_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: [u8; 32],
        status: u16,
        body: String,
        location: Option<String>,
    ) -> Result<(), StoreError>;
    /// Releases a claim whose request failed, so a retry can run.
    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<(), StoreError>;
}
