//! The router's layers with a route of the test's own: what a panicking
//! handler leaves behind.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use roster_core::SystemClock;
use roster_engine::{Ingest, IngestConfig};
use roster_queue::{SqliteQueue, SqliteQueueConfig};
use roster_store::SqliteDirectory;
use tower::ServiceExt;

use crate::ratelimit::{RateLimit, RateLimiter};
use crate::{AppState, ServerConfig};

fn state(dir: &std::path::Path) -> AppState {
    let directory: Arc<dyn roster_store::Directory> =
        Arc::new(SqliteDirectory::open(&dir.join("directory.db")).unwrap());
    let queue: Arc<dyn roster_queue::Queue> =
        Arc::new(SqliteQueue::open(SqliteQueueConfig::new(dir.join("queue.db"))).unwrap());
    let clock: Arc<dyn roster_core::Clock> = Arc::new(SystemClock);
    AppState {
        ingest: Arc::new(Ingest::new(
            Arc::clone(&directory),
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
