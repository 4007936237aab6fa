use std::sync::Arc;
use std::time::Duration;

use roster_core::Clock;
use roster_core::secret::Secret;
use roster_engine::{AlarmBoard, Ingest};
use roster_queue::Queue;
use roster_store::Directory;

use crate::auth::jwt::JwtAuthenticator;
use crate::budget::Budget;
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
    /// Longest an ordinary request may take, body included (`408` past it).
    pub request_timeout: Duration,
    /// Longest a request to the ingest endpoint may take: a large CSV streams
    /// for a long time (a stalled one is failed by the scheduler's stall
    /// check); a body read whole still gets `request_timeout`.
    pub upload_timeout: Duration,
    /// Longest a client may take to send a request's headers; the
    /// connection is closed past it (slow-header attacks).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes: larger is
    /// `431`. At least 8 KiB.
    pub max_header_bytes: usize,
    /// Connections held at once; past it a new connection is closed at once.
    pub max_connections: usize,
    /// HTTP/2 streams (requests) open at once on one connection.
    pub max_http2_streams: u32,
    /// Between an operator's deletion of a tenant and its purge (its keys
    /// refused meanwhile; the deletion can be cancelled).
    pub tenant_deletion_grace: Duration,
    /// The bearer token Prometheus sends to `/metrics` (an operator key is
    /// accepted too); `None`: only operator keys.
    pub metrics_token: Option<Secret>,
    /// Webhook endpoints may be plain `http://` URLs (tests, a private
    /// network); otherwise `https` only: events carry personal data.
    pub allow_insecure_endpoints: bool,
    /// Webhook endpoints may name internal addresses (loopback, private,
    /// link-local, ...: `roster_core::address`) and `localhost`; otherwise
    /// they are refused (server-side request forgery).
    pub allow_private_endpoints: bool,
    /// Most CSV uploads streaming at once on this node (`503` past it).
    /// Each holds a thread of its own and its duplicate check's memory.
    pub max_streaming_uploads: usize,
    /// Most CSV uploads one tenant may stream at once (`429` past it).
    pub max_streaming_uploads_per_tenant: usize,
    /// A streamed upload that sends no bytes for this long fails, freeing
    /// its thread (`408`).
    pub upload_idle_timeout: Duration,
    /// Most bytes of request bodies read whole (JSON, SCIM, a small CSV)
    /// held at once on this node (`503` past it).
    pub max_body_bytes_in_flight: u64,
    /// Most of those one tenant may hold at once (`429` past it).
    pub max_body_bytes_in_flight_per_tenant: u64,
    /// A header whose last address is the client's (as a trusted load
    /// balancer appends it, e.g. `x-forwarded-for`); `None`: the peer's
    /// address. Failed authentications are counted per client address.
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// Which routes this node serves: the whole API, or only `/healthz`,
    /// `/readyz` and `/metrics` (a worker node: `roster worker`).
    pub surface: Surface,
}

/// The routes a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surface {
    /// Ingest, `/v1`, SCIM and the operations routes (`roster serve`).
    #[default]
    Api,
    /// The operations routes only: a worker has no public API.
    Ops,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 32 * 1024 * 1024,
            upload_limit: 4 * 1024 * 1024 * 1024,
            hsts: false,
            request_timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(4 * 3600),
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            max_http2_streams: 100,
            tenant_deletion_grace: Duration::from_secs(7 * 86_400),
            metrics_token: None,
            allow_insecure_endpoints: false,
            allow_private_endpoints: false,
            max_streaming_uploads: 16,
            max_streaming_uploads_per_tenant: 4,
            upload_idle_timeout: Duration::from_secs(60),
            max_body_bytes_in_flight: 256 * 1024 * 1024,
            max_body_bytes_in_flight_per_tenant: 64 * 1024 * 1024,
            client_ip_header: None,
            surface: Surface::Api,
        }
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
    /// The alarm rules, to show the states the cluster's evaluator recorded
    /// on a node that evaluates none.
    pub alarm_rules: Arc<[roster_core::alarm::AlarmRule]>,
    /// Requests per second per credential.
    pub limiter: Arc<RateLimiter>,
    /// The cluster's shared buckets for `limiter`'s limit (a PostgreSQL
    /// directory); `None`: this node's own buckets.
    pub shared_limits: Option<Arc<dyn roster_store::RateBuckets>>,
    /// Failed authentications per client address (`401`s): past it, `429`
    /// before any credential is looked at.
    pub auth_failures: Arc<RateLimiter>,
    /// `/readyz`'s last look at the directory and the queue, reused for a
    /// second so that health checks cost the queue nothing more.
    pub readiness: Arc<crate::routes::Readiness>,
    /// Verifies bearer JWTs, when `[[jwt_issuers]]` are configured.
    pub jwt: Option<Arc<JwtAuthenticator>>,
    /// What requests in progress hold, per tenant and in all.
    pub budgets: Budgets,
    /// When each credential's listings of personal data were last audited.
    pub read_audits: Arc<crate::audit::ReadAudits>,
    /// Sends test events to endpoints (the outbox dispatcher's sink and timeout).
    pub test_events: TestEvents,
    /// Routes served under a path prefix beside the API, behind the same
    /// edge layers (`("/console", the admin console's router)`); API nodes only.
    pub extra_routes: Option<(&'static str, axum::Router)>,
}

/// What `POST /v1/endpoints/{id}/test` sends with: the same HTTP sink (and
/// so the same internal-address rules) as the outbox dispatcher.
#[derive(Clone)]
pub struct TestEvents {
    pub sink: Arc<dyn roster_notify::EventSink>,
    pub timeout: Duration,
}

/// The budgets of [`ServerConfig`], shared by every request of the node.
#[derive(Clone)]
pub struct Budgets {
    /// Streamed CSV uploads.
    pub uploads: Arc<Budget>,
    /// Bytes of bodies read whole.
    pub bodies: Arc<Budget>,
}

impl Budgets {
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            uploads: Budget::new(
                config.max_streaming_uploads as u64,
                config.max_streaming_uploads_per_tenant as u64,
            ),
            bodies: Budget::new(config.max_body_bytes_in_flight, config.max_body_bytes_in_flight_per_tenant),
        }
    }
}
