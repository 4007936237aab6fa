//! The router in process: what a panicking handler leaves behind (with a
//! route of the test's own), and how often `/readyz` looks at the queue.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use roster_core::{Clock, SystemClock};
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
        alarm_rules: roster_core::alarm::default_rules().into(),
        limiter: Arc::new(RateLimiter::new(RateLimit::default())),
        shared_limits: None,
        auth_failures: Arc::new(RateLimiter::new(RateLimit::default())),
        readiness: Arc::default(),
        jwt: None,
        budgets: crate::Budgets::new(&ServerConfig::default()),
        read_audits: Default::default(),
        test_events: crate::TestEvents {
            sink: Arc::new(
                roster_notify::HttpEventSink::with_proxy(
                    std::time::Duration::from_secs(5),
                    roster_notify::PrivateTargets::Refused,
                    None,
                )
                .unwrap(),
            ),
            timeout: std::time::Duration::from_secs(5),
        },
        extra_routes: None,
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

/// A router over fresh stores, and an admin key of a tenant.
async fn app_with_key() -> (axum::Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let now = state.clock.now();
    let tenant = state.directory.create_tenant("acme", now).await.unwrap();
    let secret = roster_engine::credentials::generate_api_key();
    let key = roster_store::NewApiKey {
        name: "test".into(),
        tenant_id: tenant.id,
        prefix: secret.shown_prefix(),
        hash: secret.hash(),
        scopes: vec![roster_store::Scope::Ingest, roster_store::Scope::Read, roster_store::Scope::Admin],
        expires_at: None,
    };
    state.directory.create_api_key(key, now).await.unwrap();
    (crate::router(state), secret.expose().to_owned(), dir)
}

/// An operator key of the router's directory.
async fn operator_key(dir: &std::path::Path) -> String {
    let directory = SqliteDirectory::open(&dir.join("directory.db")).unwrap();
    let secret = roster_engine::credentials::generate_operator_key();
    use roster_store::CredentialStore;
    directory
        .create_operator_key("ops", secret.shown_prefix(), secret.hash(), None, SystemClock.now())
        .await
        .unwrap();
    secret.expose().to_owned()
}

async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, headers, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

fn authed(method: &str, uri: &str, key: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {key}"))
}

/// Asserts the problem every error is: its media type, status, `code`,
/// `param` and the request's id.
#[track_caller]
fn assert_problem(
    (status, headers, body): &(StatusCode, axum::http::HeaderMap, serde_json::Value),
    want: StatusCode,
    code: &str,
    param: Option<&str>,
) {
    assert_eq!(*status, want, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json", "{body}");
    assert_eq!(body["status"], want.as_u16(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["param"].as_str(), param, "{body}");
    assert_eq!(body["type"], "about:blank", "{body}");
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["requestId"], id, "the request id is in the body: {body}");
}

/// Every route, as `(method, path)`, with made-up ids where the route has one.
const EVERY_ROUTE: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/alarms"),
    ("POST", "/integrations/hr-feed"),
    ("GET", "/v1/feeds"),
    ("GET", "/v1/feeds/feed_0193a0b0-0000-7000-8000-000000000000"),
    ("GET", "/v1/feeds/x/leavers"),
    ("POST", "/v1/feeds/x/approve"),
    ("POST", "/v1/feeds/x/reject"),
    ("GET", "/v1/sources"),
    ("GET", "/v1/sources/default"),
    ("PUT", "/v1/sources/default"),
    ("GET", "/v1/sources/default/mapping"),
    ("PUT", "/v1/sources/default/mapping"),
    ("GET", "/v1/events"),
    ("GET", "/v1/dlq"),
    ("DELETE", "/v1/dlq"),
    ("POST", "/v1/dlq/redrive"),
    ("GET", "/v1/dlq/x"),
    ("POST", "/v1/dlq/x/redrive"),
    ("GET", "/v1/endpoints"),
    ("POST", "/v1/endpoints"),
    ("DELETE", "/v1/endpoints/x"),
    ("POST", "/v1/endpoints/x/rotate-secret"),
    ("GET", "/v1/endpoints/x/dead-letters"),
    ("POST", "/v1/endpoints/x/dead-letters/redrive"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/x"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/operator/tenants"),
    ("GET", "/v1/operator/audit"),
    ("DELETE", "/v1/operator/tenants/acme/dlq"),
    ("POST", "/v1/operator/tenants/acme/dlq/redrive"),
    ("GET", "/v1/people"),
    ("GET", "/v1/people/E1"),
];

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it_on_every_route() {
    let (app, key, dir) = app_with_key().await;
    let op = operator_key(dir.path()).await;
    for (method, path) in EVERY_ROUTE {
        let for_operators = path.contains("/operator/") || *path == "/v1/alarms" || *path == "/metrics";
        let key = if for_operators { &op } else { &key };
        let req = authed(method, &format!("{path}?bogus=1"), key).body(Body::empty()).unwrap();
        let got = call(&app, req).await;
        assert_problem(&got, StatusCode::BAD_REQUEST, "unknown_parameter", Some("bogus"));
    }
}

#[tokio::test]
async fn axum_rejections_and_unknown_routes_are_problems_too() {
    let (app, key, _dir) = app_with_key().await;
    let get = |uri: &str| authed("GET", uri, &key).body(Body::empty()).unwrap();
    assert_problem(
        &call(&app, get("/v1/people?limit=abc")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("limit"),
    );
    assert_problem(
        &call(&app, get("/v1/people?limit=0")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("limit"),
    );
    assert_problem(
        &call(&app, get("/v1/people?history=maybe")).await,
        StatusCode::BAD_REQUEST,
        "unknown_parameter",
        Some("history"),
    );
    assert_problem(
        &call(&app, get("/v1/people/E1?history=maybe")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("history"),
    );
    assert_problem(&call(&app, get("/v1/nowhere")).await, StatusCode::NOT_FOUND, "route_not_found", None);
    assert_problem(
        &call(&app, get("/v1/feeds/%FF")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("path"),
    );
    let patch = authed("PATCH", "/v1/keys", &key).body(Body::empty()).unwrap();
    assert_problem(&call(&app, patch).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);

    let post = |uri: &str, ct: Option<&str>, body: &'static str| {
        let mut b = authed("POST", uri, &key);
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    // A body that is not JSON, or JSON of the wrong shape, names the field.
    let bad_json = call(&app, post("/v1/keys", Some("application/json"), "{\"scopes\": [")).await;
    assert_problem(&bad_json, StatusCode::BAD_REQUEST, "invalid_json", Some("body"));
    let unknown =
        call(&app, post("/v1/keys", Some("application/json"), r#"{"scopes":["read"],"name2":"x"}"#)).await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST, "invalid_field", Some("name2"));
    let wrong_type =
        call(&app, post("/v1/keys", Some("application/json"), r#"{"scopes":"jane@example.com"}"#)).await;
    assert_problem(&wrong_type, StatusCode::BAD_REQUEST, "invalid_field", Some("scopes"));
    assert!(!wrong_type.2.to_string().contains("jane@example.com"), "no value is echoed: {}", wrong_type.2);
    // A wrong or missing content type is a 415 on every route with a body.
    for (method, uri) in [
        ("POST", "/v1/keys"),
        ("POST", "/v1/endpoints"),
        ("PUT", "/v1/sources/default"),
        ("PUT", "/v1/sources/default/mapping"),
        ("POST", "/v1/endpoints/x/rotate-secret"),
        ("POST", "/integrations/hr-feed"),
    ] {
        for ct in [None, Some("text/plain")] {
            let mut b = authed(method, uri, &key);
            if let Some(ct) = ct {
                b = b.header("content-type", ct);
            }
            let got = call(&app, b.body(Body::from("{}")).unwrap()).await;
            assert_problem(&got, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None);
        }
    }
    // Without credentials: still a problem with the request id.
    let anonymous = Request::get("/v1/people").body(Body::empty()).unwrap();
    assert_problem(&call(&app, anonymous).await, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test]
async fn a_cursor_this_list_did_not_issue_is_a_400_naming_cursor() {
    let (app, key, _dir) = app_with_key().await;
    let people_cursor = super::routes::cursor::encode("people", "E1");
    for list in [
        "/v1/people",
        "/v1/feeds",
        "/v1/feeds/feed_0193a0b0-0000-7000-8000-000000000000/leavers",
        "/v1/events",
        "/v1/dlq",
        "/v1/keys",
        "/v1/sources",
        "/v1/endpoints",
        "/v1/audit",
    ] {
        for bad in ["%%%", "bm9wZQ", people_cursor.as_str()] {
            if list == "/v1/people" && bad == people_cursor {
                continue;
            }
            let req = authed("GET", &format!("{list}?cursor={bad}"), &key).body(Body::empty()).unwrap();
            assert_problem(&call(&app, req).await, StatusCode::BAD_REQUEST, "invalid_cursor", Some("cursor"));
        }
    }
}

#[tokio::test]
async fn a_query_mode_that_contradicts_the_body_is_a_400_naming_mode() {
    let (app, key, _dir) = app_with_key().await;
    let feed = |query: &str, body: &'static str| {
        authed("POST", &format!("/integrations/hr-feed{query}"), &key)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let delta = r#"{"mode": "delta", "records": [{"externalId": "E1"}]}"#;
    let got = call(&app, feed("?mode=full", delta)).await;
    assert_problem(&got, StatusCode::BAD_REQUEST, "mode_conflict", Some("mode"));
    let full = r#"{"mode": "full", "records": [{"externalId": "E1"}]}"#;
    assert_problem(
        &call(&app, feed("?mode=delta", full)).await,
        StatusCode::BAD_REQUEST,
        "mode_conflict",
        Some("mode"),
    );
    // The same in both, or in one of them, is taken.
    let (status, _, body) = call(&app, feed("?mode=full", full)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["feedId"].as_str().unwrap().starts_with("feed_"), "{body}");
    let (status, _, body) = call(&app, feed("?mode=delta", r#"{"records": [{"externalId": "E2"}]}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[test]
fn the_ingest_endpoint_and_the_consoles_upload_page_get_the_upload_timeout() {
    assert!(super::is_upload("/integrations/hr-feed"));
    assert!(super::is_upload("/console/t/acme/upload"));
    assert!(super::is_upload("/console/t/Initech%20Europe%2FWest/upload"));
    for other in ["/v1/feeds", "/console/t/acme/feeds", "/console/upload", "/integrations/hr-feed/x"] {
        assert!(!super::is_upload(other), "{other}");
    }
}
