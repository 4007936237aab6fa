//! Leases: a named job held by one holder at a time, until an expiry.

use roster_core::Timestamp;

/// A lease held: what proves it is `token` (a new one at each acquisition),
/// not the holder's name, so a holder that lost its lease and took it again
/// cannot renew or release the newer holding by an old value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub token: String,
    /// By the store's clock: a holder must stop the job before this (it
    /// renews well ahead, e.g. at a third of the ttl).
    pub expires_at: Timestamp,
}
