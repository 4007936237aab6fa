//! Figures every adapter applies the same way: they are part of the port's
//! contract, not of one adapter's storage.

/// Most rejected records kept with a feed (the rest are only counted).
pub const MAX_STORED_REJECTIONS: usize = 1000;
/// Most items of one listing; a larger `limit` is clamped to it.
pub const MAX_PAGE: usize = 1000;
/// How long an `Idempotency-Key` is remembered, in milliseconds.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Most active (not disabled) webhook endpoints of a tenant.
pub const MAX_ACTIVE_ENDPOINTS: usize = 20;
/// Most webhook endpoints of a tenant in all, disabled ones included (they
/// keep their dead letters).
pub const MAX_ENDPOINTS: usize = 100;

/// The largest CSV mapping profile a source stores, as compact JSON. Every
/// CSV feed of the source parses it again, so it is held far below any
/// body limit (a profile of hundreds of columns is a few KiB).
pub const MAX_MAPPING_BYTES: usize = 64 * 1024;
