use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};

use crate::{ApiKeyInfo, LastAdmin, NewApiKey, NewAuditEntry, OperatorKeyInfo, StoreError};

/// A key's last use is written at most this often: a use within a minute
/// of the recorded one writes nothing (no write per request).
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// The credential a use is recorded for, by its store id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    ApiKey(&'a str),
    OperatorKey(&'a str),
}

/// Whether a use at `now` should be recorded, the last recorded at `last`.
fn stale(last: Option<Timestamp>, now: Timestamp) -> bool {
    last.is_none_or(|t| now.millis() - t.millis() >= LAST_USED_GRANULARITY_MS)
}

/// Tenants' API keys and operators' keys. Only hashes of secrets are stored.
///
/// Ids (`key_id`, operator key `id`) are the store's own strings: an id of
/// a shape the store never issues is `NotFound`, never `Invalid` or
/// `Storage`.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKeyInfo, StoreError>;
    /// The tenant's keys, newest first, revoked and expired ones included.
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes one of the tenant's keys, effective for the next request.
    /// Revoking a revoked key changes nothing. `NotFound` if the tenant has
    /// no key with this id. With [`LastAdmin::Keep`], revoking the tenant's
    /// last active (unrevoked, unexpired at `now`) admin key is a
    /// `Conflict` ([`LAST_ADMIN_KEY`](crate::LAST_ADMIN_KEY)), decided in the
    /// revocation's transaction: of two concurrent revocations of the last
    /// two admin keys, one fails.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        now: Timestamp,
        last_admin: LastAdmin,
    ) -> Result<ApiKeyInfo, StoreError>;
    /// The key with this hash, if it is neither revoked nor expired at
    /// `now`. A read: see [`authenticate_key`](Self::authenticate_key).
    async fn find_api_key(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<ApiKeyInfo>, StoreError>;

    /// The operator key with this hash, unless revoked or expired at `now`.
    async fn find_operator_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<OperatorKeyInfo>, StoreError>;

    /// Records `now` as the credential's last use, unless one was recorded
    /// less than [`LAST_USED_GRANULARITY_MS`] before; when it records and
    /// the previous use was on another UTC day than `now` (or there was
    /// none), it appends `first_of_day` in the same transaction. Decided
    /// under the credential's lock: of concurrent uses (several nodes) one
    /// records and audits. A credential that is gone changes nothing.
    async fn record_key_use(
        &self,
        credential: Credential<'_>,
        now: Timestamp,
        first_of_day: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// The key with this hash, if it is neither revoked nor expired at `now`;
    /// records `now` as its last use (at most once a minute) and audits its
    /// first use of each UTC day (`key.used`). The policy, over the two
    /// calls every adapter provides.
    async fn authenticate_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ApiKeyInfo>, StoreError> {
        let Some(key) = self.find_api_key(hash, now).await? else { return Ok(None) };
        if stale(key.last_used_at, now) {
            let entry = NewAuditEntry {
                at: now,
                tenant_id: key.tenant_id,
                actor: crate::key_actor(&key.id),
                action: "key.used",
                target: Some(crate::key_actor(&key.id)),
                request_id: None,
                client_request_id: None,
            };
            self.record_key_use(Credential::ApiKey(&key.id), now, entry).await?;
        }
        Ok(Some(key))
    }

    /// Stores an operator key (only its hash); `expires_at` None: it does
    /// not expire.
    async fn create_operator_key(
        &self,
        name: &str,
        prefix: String,
        hash: [u8; 32],
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<OperatorKeyInfo, StoreError>;
    /// The operator key with this hash, unless revoked or expired at `now`;
    /// records `now` as its last use (at most once a minute) and audits its
    /// first use of each UTC day in the platform log (`operator.used`).
    async fn authenticate_operator_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<OperatorKeyInfo>, StoreError> {
        let Some(key) = self.find_operator_key(hash, now).await? else { return Ok(None) };
        if stale(key.last_used_at, now) {
            let entry = NewAuditEntry {
                at: now,
                tenant_id: crate::platform_log(),
                actor: format!("operator:{}", key.name),
                action: "operator.used",
                target: Some(key.id.clone()),
                request_id: None,
                client_request_id: None,
            };
            self.record_key_use(Credential::OperatorKey(&key.id), now, entry).await?;
        }
        Ok(Some(key))
    }
    /// Every operator key, oldest first, revoked ones included.
    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError>;
    /// Revokes an operator key, effective for the next request. Revoking a
    /// revoked key changes nothing. `NotFound` if no key has this id.
    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError>;
}
