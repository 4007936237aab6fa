//! The port's one error type, and what each kind tells the caller to do.

/// What went wrong in a directory call. Adapters classify their driver's
/// errors into these kinds; callers decide by the kind alone (the consumer
/// retries a whole batch on `Unavailable` and replays it message by message
/// on anything else, which can end in dead letters), so the classification
/// is part of the contract:
///
/// - `Unavailable`: transient (busy, locked, a lost connection, a
///   serialization failure or deadlock the database resolved by aborting
///   this call). Nothing of the call took effect: **retry the same call
///   unchanged**, later.
/// - `NotFound`, `Conflict`, `Invalid`: an answer about this request;
///   retrying it unchanged gives the same answer.
/// - `Storage`: anything else (a constraint the port does not name, a
///   corrupt row, an I/O error). Not expected to pass on a retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is malformed (e.g. a cursor this store did not issue).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Temporary: the store is busy or unreachable. Retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Storage(String),
}
