//! Test harness: the real platform on a random port over a fresh data dir.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::Response;
use roster_app::{self as app, Running, Settings};
use roster_cli::commands::operators::create_operator;
use roster_cli::commands::tenants::create_tenant;
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    /// An API key of the tenant "acme".
    pub key: String,
    pub tenant_id: roster_core::TenantId,
    pub http: reqwest::Client,
    pub settings: Settings,
    running: Option<Running>,
    /// The operator key `readyz` reads the queue's figures with, made on first use.
    readiness_key: tokio::sync::OnceCell<String>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Settings::default()
    };
    adjust(&mut settings);
    let running = app::start(&settings).await.expect("the app starts");
    let mut app = TestApp {
        base: format!("http://{}", running.addr),
        key: String::new(),
        tenant_id: roster_core::TenantId::new(),
        http: reqwest::Client::new(),
        settings,
        running: Some(running),
        readiness_key: tokio::sync::OnceCell::new(),
        _dir: dir,
    };
    let directory = app::open_directory(&app.settings).await.unwrap();
    let (tenant, _, secret) = create_tenant(directory.as_ref(), "acme").await.unwrap();
    app.key = secret.expose().to_owned();
    app.tenant_id = tenant.id;
    app
}

impl TestApp {
    /// Creates a tenant; returns its API key.
    pub async fn new_tenant(&self, name: &str) -> String {
        let directory = app::open_directory(&self.settings).await.unwrap();
        let (_, _, secret) = create_tenant(directory.as_ref(), name).await.unwrap();
        secret.expose().to_owned()
    }

    /// Creates an operator key (`rk_op_...`); returns it.
    pub async fn operator_key(&self, name: &str) -> String {
        let directory = app::open_directory(&self.settings).await.unwrap();
        let (_, secret) = create_operator(directory.as_ref(), name).await.unwrap();
        secret.expose().to_owned()
    }

    /// `/readyz` with its queue figures (`queue`), which only an operator key
    /// (or the metrics token) reads.
    pub async fn readyz(&self) -> Value {
        let key = self.readiness_key.get_or_init(|| self.operator_key("readiness")).await;
        let res = self.get_as(key, "/readyz").await;
        assert!(res.status().is_success(), "GET /readyz: {}", res.status());
        res.json().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_feed_as(&self, key: &str, body: &Value) -> Response {
        self.http.post(self.url("/integrations/hr-feed")).bearer_auth(key).json(body).send().await.unwrap()
    }

    pub async fn post_feed(&self, body: &Value) -> Response {
        self.post_feed_as(&self.key, body).await
    }

    /// Posts a delta feed and returns the 202 answer's body.
    pub async fn push(&self, records: Value) -> Value {
        let res = self.post_feed(&json!({"mode": "delta", "records": records})).await;
        assert_eq!(res.status(), 202, "ingest refused the feed");
        res.json().await.unwrap()
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(key).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_as(&self.key, path).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Sends a body of any content type to the ingest endpoint.
    pub async fn post_raw(
        &self,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.http
            .post(self.url(&format!("/integrations/hr-feed{query}")))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.http.put(self.url(path)).bearer_auth(&self.key).json(body).send().await.unwrap()
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.http.post(self.url(path)).bearer_auth(&self.key).send().await.unwrap()
    }

    /// Polls a feed until it is done (completed, completed_with_errors,
    /// halted, rejected or failed).
    pub async fn wait_feed(&self, feed_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let feed = self.get_json(&format!("/v1/feeds/{feed_id}")).await;
            let status = feed["status"].as_str().unwrap_or_default().to_owned();
            if status.starts_with("completed") || matches!(status.as_str(), "failed" | "halted" | "rejected")
            {
                return feed;
            }
            assert!(Instant::now() < deadline, "feed {feed_id} still {status} after 30 s: {feed}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The tenant's person events (`person.*`), oldest first: without the
    /// feed events (`feed.*`) of the feeds that carried them.
    pub async fn person_events(&self) -> Vec<Value> {
        let mut events = self.events().await;
        events.retain(|e| e["type"].as_str().is_some_and(|t| t.starts_with("person.")));
        events
    }

    /// Every event of the tenant, oldest first.
    pub async fn events(&self) -> Vec<Value> {
        self.get_json("/v1/events?limit=1000").await["items"].as_array().unwrap().clone()
    }

    /// Graceful shutdown, then a start over the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().unwrap();
        let running = app::start(&settings).await.expect("the app restarts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("graceful shutdown");
        }
    }
}

/// A realistic record.
pub fn person(id: &str, dept: &str) -> Value {
    json!({
        "externalId": id,
        "userName": format!("{}@example.com", id.to_lowercase()),
        "name": {"givenName": format!("Given{id}"), "familyName": format!("Family{id}")},
        "emails": [{"value": format!("{}@example.com", id.to_lowercase()), "type": "work", "primary": true}],
        "title": "Engineer",
        "department": dept,
        "employmentStatus": "active",
        "hireDate": "2023-04-01"
    })
}

/// Whether an output time is what every output promises: an RFC 3339 UTC
/// string with milliseconds, e.g. `2026-11-24T03:40:00.123Z`.
pub fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24 && s.ends_with('Z') && roster_core::Timestamp::parse_rfc3339(s).is_some()
    })
}
