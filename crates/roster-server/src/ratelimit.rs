//! A request-rate limit per credential: a token bucket per API key or token
//! client, so one integration in a retry storm cannot starve the others.
//! Over the limit, the caller gets `429` with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second and the burst a credential may spend at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second; 0 turns the limit off.
    pub per_sec: f64,
    /// Requests that may arrive at once after a quiet spell.
    pub burst: f64,
}

impl Default for RateLimit {
    /// Generous for any HR system (a nightly file is one request; a busy
    /// SCIM client a few a second), tight enough to stop a runaway loop.
    fn default() -> Self {
        Self { per_sec: 50.0, burst: 100.0 }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets beyond this many are pruned of the full (idle) ones.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request's token for `credential` at `now`; when there is
    /// none, how long until there is.
    pub fn check(&self, credential: &str, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_sec, burst } = self.limit;
        if per_sec <= 0.0 {
            return Ok(());
        }
        let burst = burst.max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let b = buckets.entry(credential.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// The middleware: a bucket per presented API key (the SHA-256 of the
/// `Authorization` header, so the limit holds before — and whether or not —
/// the key authenticates, and guessing keys is throttled too); a JWT is
/// charged to its client once verified.
/// Requests without credentials (health checks, metrics) are not limited.
pub async fn limit(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use sha2::{Digest, Sha256};
    if let Some(value) = req.headers().get(axum::http::header::AUTHORIZATION) {
        let bearer = value.to_str().unwrap_or_default().trim_start_matches("Bearer ").trim();
        // JWTs are charged to their client once verified (`charge`).
        if !crate::auth::jwt::looks_like_jwt(bearer) {
            let digest = Sha256::digest(value.as_bytes());
            let id: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            if let Err(e) = charge(&state, &id) {
                return e.into_response();
            }
        }
    }
    next.run(req).await
}

/// Takes one request from `credential`'s budget, or says how long to wait.
pub fn charge(state: &crate::state::AppState, credential: &str) -> Result<(), crate::problem::ApiError> {
    state.limiter.check(credential, Instant::now()).map_err(|wait| {
        crate::problem::ApiError::TooManyRequests {
            detail: "too many requests with this credential; slow down and retry after the delay".into(),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_per_credential() {
        let limiter = RateLimiter::new(RateLimit { per_sec: 2.0, burst: 3.0 });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k1", t0).is_ok());
        }
        let wait = limiter.check("k1", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "one token comes back every 1/2 s");
        assert!(limiter.check("k2", t0).is_ok(), "another credential has its own bucket");
        assert!(limiter.check("k1", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check("k1", t0 + Duration::from_millis(500)).is_err());
        // A long quiet spell refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check("k1", later).is_ok());
        }
        assert!(limiter.check("k1", later).is_err());
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let limiter = RateLimiter::new(RateLimit { per_sec: 0.0, burst: 0.0 });
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check("k", t0).is_ok()));
    }
}
