//! Request-rate limits: a token bucket per credential (API key or token
//! client), so one integration in a retry storm cannot starve the others,
//! and one per client address that only failed authentications spend, so
//! guessing keys or sending forged tokens is throttled too. Over either, the
//! caller gets `429` with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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

    /// Whether `credential` would have a token at `now`, taking none (and
    /// making no bucket for a credential never charged).
    pub fn peek(&self, credential: &str, now: Instant) -> Result<(), Duration> {
        let per_sec = self.limit.per_sec;
        if per_sec <= 0.0 {
            return Ok(());
        }
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = buckets.get(credential) else { return Ok(()) };
        let tokens = b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        if tokens >= 1.0 { Ok(()) } else { Err(Duration::from_secs_f64((1.0 - tokens) / per_sec)) }
    }
}

/// The bucket of a presented credential: a digest of the token itself, so
/// `Bearer K`, `bearer  K` and `Bearer K\t` share one.
fn credential_bucket(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Routes answered without a credential; never refused for failures.
fn anonymous(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// The address failed authentications are charged to: the peer's, or the
/// last address of `client_ip_header` (as a trusted load balancer appends
/// it) when that is configured. `None` without a connection (in-process
/// calls), which no failure limit applies to.
pub fn client_ip(req: &axum::extract::Request, config: &crate::state::ServerConfig) -> Option<IpAddr> {
    if let Some(name) = &config.client_ip_header {
        let last = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','))
            .next()
            .and_then(|ip| ip.trim().parse().ok());
        if last.is_some() {
            return last;
        }
    }
    req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The middleware, before any handler:
/// - an address whose authentications failed too often (`auth_failures`:
///   every `401`, bad API keys and forged JWTs alike) gets `429` before its
///   credential is even looked at;
/// - an API key is charged to its own bucket, keyed on the normalised token
///   (a JWT is charged to its client once verified, by `auth`);
/// - a `401` answer is charged to the address and, within its budget,
///   audited in the platform log (`auth.failed`).
///
/// Health checks without credentials are not limited.
pub async fn limit(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = client_ip(&req, &state.config).filter(|_| !anonymous(req.uri().path()));
    if let Some(ip) = ip
        && let Err(wait) = state.auth_failures.peek(&ip.to_string(), Instant::now())
    {
        return too_many("too many failed authentications from this address", wait).into_response();
    }
    if let Some(token) = req.headers().get(axum::http::header::AUTHORIZATION).and_then(crate::auth::bearer_token)
        // JWTs are charged to their client once verified (`charge`).
        && !crate::auth::jwt::looks_like_jwt(token)
        && let Err(e) = charge(&state, &credential_bucket(token)).await
    {
        return e.into_response();
    }
    let request_id = crate::audit::RequestId(
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        req.extensions().get::<crate::request_id::ClientRequestId>().map(|c| c.0.clone()),
    );
    let res = next.run(req).await;
    if let Some(ip) = ip
        && res.status() == axum::http::StatusCode::UNAUTHORIZED
        // The answer is given already; the next request pays. Within the
        // budget each failure is audited: a flood writes a bounded number.
        && state.auth_failures.check(&ip.to_string(), Instant::now()).is_ok()
    {
        let reason = res.extensions().get::<crate::problem::AuthRefusal>().map_or("unauthorized", |r| r.0);
        crate::audit::record_auth_failure(&state, ip, reason, request_id).await;
    }
    res
}

fn too_many(detail: &str, wait: Duration) -> crate::problem::ApiError {
    crate::problem::ApiError::TooManyRequests {
        detail: format!("{detail}; slow down and retry after the delay"),
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Takes one request from `credential`'s budget, or says how long to wait.
/// In a cluster (`AppState::shared_limits`) the bucket is the directory's,
/// the same on every node; should the directory not answer, the node's own
/// bucket decides for the moment (a node keeps its limit, the cluster is at
/// worst a few times over it — never open).
pub async fn charge(
    state: &crate::state::AppState,
    credential: &str,
) -> Result<(), crate::problem::ApiError> {
    let refuse = |wait| too_many("too many requests with this credential", wait);
    if let Some(shared) = &state.shared_limits {
        let RateLimit { per_sec, burst } = state.limiter.limit;
        if per_sec <= 0.0 {
            return Ok(());
        }
        match shared.take_token(credential, per_sec, burst.max(1.0)).await {
            Ok(None) => return Ok(()),
            Ok(Some(wait)) => return Err(refuse(wait)),
            Err(e) => tracing::warn!(error = %e, "shared rate limit unavailable; this node's bucket decides"),
        }
    }
    state.limiter.check(credential, Instant::now()).map_err(refuse)
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
    fn peeking_takes_nothing() {
        let limiter = RateLimiter::new(RateLimit { per_sec: 1.0, burst: 2.0 });
        let t0 = Instant::now();
        assert!(limiter.peek("ip", t0).is_ok(), "never charged");
        assert!(limiter.buckets.lock().unwrap().is_empty(), "and no bucket made for it");
        limiter.check("ip", t0).unwrap();
        limiter.check("ip", t0).unwrap();
        assert_eq!(limiter.peek("ip", t0), Err(Duration::from_secs(1)));
        assert!(limiter.peek("ip", t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.peek("ip", t0 + Duration::from_secs(1)).is_ok(), "still there");
    }

    #[test]
    fn padded_and_recased_bearer_headers_are_one_credential() {
        use axum::http::HeaderValue;

        use crate::auth::bearer_token;
        let token = |v: &'static str| bearer_token(&HeaderValue::from_static(v)).map(credential_bucket);
        let one = token("Bearer rk_live_k1");
        assert!(one.is_some());
        for same in [
            "Bearer  rk_live_k1",
            "bearer rk_live_k1",
            "BEARER rk_live_k1",
            "Bearer rk_live_k1\t",
            " Bearer\trk_live_k1  ",
        ] {
            assert_eq!(token(same), one, "{same:?}");
        }
        assert_ne!(token("Bearer rk_live_k2"), one);
        for none in ["Bearer", "Bearer ", "Basic rk_live_k1", "Bearerrk_live_k1", "rk_live_k1", ""] {
            assert_eq!(token(none), None, "{none:?}");
        }
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let limiter = RateLimiter::new(RateLimit { per_sec: 0.0, burst: 0.0 });
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check("k", t0).is_ok()));
    }
}
