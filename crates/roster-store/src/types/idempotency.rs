//! What an `Idempotency-Key` claim finds.

/// What a repeated `Idempotency-Key` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now claimed for this request.
    Claimed,
    /// The first request with this key has not finished.
    InProgress,
    /// The first request finished with this answer; replay it if the new
    /// request is the same (same fingerprint), refuse it otherwise.
    Completed { fingerprint: [u8; 32], status: u16, body: String, location: Option<String> },
}
