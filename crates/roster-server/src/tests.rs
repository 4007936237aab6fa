//! The router in process: what a panicking handler leaves behind (with a
//! route of the test's own), and how often `/readyz` looks at the queue.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use roster_core::SystemClock;
use roster_engine::{Ingest, IngestConfig};
use roster_queue::{SqliteQueue, SqliteQueueConfig};
use roster_store_sqlite::SqliteDirectory;
use tower::ServiceExt;

use crate::ratelimit::{RateLimit, RateLimiter};
use crate::{AppState, ServerConfig};

fn state(dir: &std::path::Path) -> AppState {
    let queue = Arc::new(SqliteQueue::open(SqliteQueueConfig::new(dir.join("queue.db"))).unwrap());
    state_with(dir, queue)
}

fn state_with(dir: &std::path::Path, queue: Arc<dyn roster_queue::Queue>) -> AppState {
    let directory: Arc<dyn roster_store::Directory> =
        Arc::new(SqliteDirectory::open(&dir.join("directory.db")).unwrap());
    let clock: Arc<dyn roster_core::Clock> = Arc::new(SystemClock);
    AppState {
        ingest: Arc::new(Ingest::new(
            directory.clone(),
            Arc::clone(&queue),
            Arc::clone(&clock),
            IngestConfig::default(),
        )),
        directory,
        queue,
        clock,
        config: ServerConfig::default(),
        alarms: None,
        limiter: Arc::new(RateLimiter::new(RateLimit::default())),
        auth_failures: Arc::new(RateLimiter::new(RateLimit::default())),
        readiness: Arc::default(),
        jwt: None,
        budgets: crate::Budgets::new(&ServerConfig::default()),
        read_audits: Default::default(),
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_a_500_problem_and_the_server_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let routes = crate::routes::routes().route(
        "/boom",
        get(|| async {
            let cursor = String::from("a\u{e9}b");
            // As `decode_cursor` did: slicing off a char boundary.
            let _ = &cursor[..2];
            "unreachable"
        }),
    );
    let app = crate::with_layers(routes, state(dir.path()));
    let res = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"), "the answer is the router's, with its request id");
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 500);
    assert!(!String::from_utf8_lossy(&body).contains("char boundary"), "the panic is not told");
    let res = app.oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the next request is served");
}

/// The SQLite queue, counting its `stats` calls (several `COUNT(*)` each).
struct CountingStats {
    inner: SqliteQueue,
    stats: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl roster_queue::Queue for CountingStats {
    async fn send_batch(
        &self,
        messages: Vec<roster_queue::OutgoingMessage>,
    ) -> Result<roster_queue::SendOutcome, roster_queue::QueueError> {
        self.inner.send_batch(messages).await
    }
    async fn receive(
        &self,
        req: roster_queue::ReceiveRequest,
    ) -> Result<Vec<roster_queue::ReceivedMessage>, roster_queue::QueueError> {
        self.inner.receive(req).await
    }
    async fn delete_batch(
        &self,
        receipts: &[roster_queue::ReceiptHandle],
    ) -> Result<(), roster_queue::QueueError> {
        self.inner.delete_batch(receipts).await
    }
    async fn change_visibility(
        &self,
        receipt: &roster_queue::ReceiptHandle,
        timeout: std::time::Duration,
        last_error: Option<&str>,
    ) -> Result<(), roster_queue::QueueError> {
        self.inner.change_visibility(receipt, timeout, last_error).await
    }
    async fn dead_letter(
        &self,
        message: &roster_queue::ReceivedMessage,
        reason: &str,
    ) -> Result<(), roster_queue::QueueError> {
        self.inner.dead_letter(message, reason).await
    }
    async fn list_dead_letters(
        &self,
        filter: &roster_queue::DeadLetterFilter,
    ) -> Result<Vec<roster_queue::DeadLetter>, roster_queue::QueueError> {
        self.inner.list_dead_letters(filter).await
    }
    async fn get_dead_letter(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<roster_queue::DeadLetter>, roster_queue::QueueError> {
        self.inner.get_dead_letter(tenant, id).await
    }
    async fn redrive(&self, which: &roster_queue::Redrive) -> Result<u64, roster_queue::QueueError> {
        self.inner.redrive(which).await
    }
    async fn purge_dead_letters(&self, tenant: Option<&str>) -> Result<u64, roster_queue::QueueError> {
        self.inner.purge_dead_letters(tenant).await
    }
    async fn stats(&self) -> Result<roster_queue::QueueStats, roster_queue::QueueError> {
        self.stats.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.stats().await
    }
}

#[tokio::test]
async fn anonymous_readiness_probes_share_one_look_at_the_queue_a_second() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(CountingStats {
        inner: SqliteQueue::open(SqliteQueueConfig::new(dir.path().join("queue.db"))).unwrap(),
        stats: Default::default(),
    });
    let mut state = state_with(dir.path(), Arc::clone(&queue) as Arc<dyn roster_queue::Queue>);
    state.config.metrics_token = Some(roster_core::secret::Secret::new("metrics-token-0123456789"));
    let app = crate::router(state);
    let get = |auth: Option<&str>| {
        let mut req = Request::get("/readyz");
        if let Some(token) = auth {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        app.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    let probes = (0..50).map(|_| get(None));
    for res in futures_util::future::join_all(probes).await {
        let res = res.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], br#"{"status":"ready"}"#, "no figures without credentials");
    }
    assert_eq!(queue.stats.load(Ordering::SeqCst), 1, "50 probes, one look");
    // The figures' reader gets a fresh look; a second later probes look again.
    let res = get(Some("metrics-token-0123456789")).await.unwrap();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("deadLetters"));
    assert_eq!(queue.stats.load(Ordering::SeqCst), 2);
    tokio::time::sleep(crate::routes::health::READINESS_TTL).await;
    get(None).await.unwrap();
    assert_eq!(queue.stats.load(Ordering::SeqCst), 3);
}
