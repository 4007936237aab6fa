use std::sync::Arc;

use roster_core::Clock;
use roster_engine::{AlarmBoard, Ingest};
use roster_queue::Queue;
use roster_store::Directory;

use crate::auth::jwt::JwtAuthenticator;
use crate::ratelimit::RateLimiter;

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body held in memory, in bytes.
    pub body_limit: usize,
    /// Largest CSV upload streamed to the queue as it arrives, in bytes.
    pub upload_limit: u64,
    /// Served over TLS: every answer carries `Strict-Transport-Security`.
    pub hsts: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { body_limit: 32 * 1024 * 1024, upload_limit: 4 * 1024 * 1024 * 1024, hsts: false }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Arc<Ingest>,
    pub directory: Arc<dyn Directory>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub config: ServerConfig,
    /// The alarm statuses, on a node that evaluates alarms (one with workers).
    pub alarms: Option<AlarmBoard>,
    /// Requests per second per credential.
    pub limiter: Arc<RateLimiter>,
    /// Verifies bearer JWTs, when `[[jwt_issuers]]` are configured.
    pub jwt: Option<Arc<JwtAuthenticator>>,
}
