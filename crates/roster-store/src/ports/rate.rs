use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// Request-rate buckets shared by every node of a cluster: a credential's
/// budget is the same whichever node its requests reach (a key spread over
/// two nodes must not get twice its limit). Not part of [`Directory`]
/// (crate::Directory): one node keeps its buckets in memory, and only a
/// shared directory offers them.
///
/// Contract: a token bucket per `key`, refilled at `per_sec` up to `burst`
/// by the **store's** clock; concurrent takes of one bucket (from any node)
/// are serialized, so no two spend the same token.
#[async_trait]
pub trait RateBuckets: Send + Sync {
    /// Takes one token from `key`'s bucket (a new bucket starts full):
    /// `None` when taken, else how long until one is there.
    async fn take_token(&self, key: &str, per_sec: f64, burst: f64) -> Result<Option<Duration>, StoreError>;
}
