use async_trait::async_trait;
use roster_core::{TenantId, Timestamp};

use crate::{ApiKeyInfo, LastAdmin, NewApiKey, OperatorKeyInfo, StoreError};

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
    /// The key with this hash, if it is neither revoked nor expired at `now`;
    /// records `now` as its last use.
    async fn authenticate_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ApiKeyInfo>, StoreError>;

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
    ) -> Result<Option<OperatorKeyInfo>, StoreError>;
    /// Every operator key, oldest first, revoked ones included.
    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError>;
    /// Revokes an operator key, effective for the next request. Revoking a
    /// revoked key changes nothing. `NotFound` if no key has this id.
    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError>;
}
