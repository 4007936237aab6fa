//! The console's test harness: the real router on a free port over a fresh
//! SQLite directory and queue, a tenant `acme` with a halted full snapshot
//! (10 of its 20 people absent) and a tenant `globex`, and a small
//! "browser" that follows redirects and keeps cookies per host.

#![allow(dead_code)]

pub mod alb;
pub mod oidc;

use std::collections::HashMap;
use std::sync::Arc;

use roster_console::{ConsoleSettings, ConsoleState, UploadLimits};
use roster_core::{FeedId, SystemClock, TenantId};
use roster_queue::{SqliteQueue, SqliteQueueConfig};
use roster_store::prelude::*;
use roster_store_sqlite::SqliteDirectory;

pub struct Console {
    pub base: String,
    pub directory: Arc<SqliteDirectory>,
    pub queue: Arc<SqliteQueue>,
    pub acme: TenantId,
    pub globex: TenantId,
    pub halted: FeedId,
    pub globex_feed: FeedId,
    /// The budgets the console's uploads share with the API (here, the
    /// test's): one streaming upload and `2 * BODY_LIMIT` of bodies per
    /// tenant.
    pub budgets: roster_server::Budgets,
    _dir: tempfile::TempDir,
}

/// The console's limits in the tests: small, to be passed.
pub const BODY_LIMIT: usize = 256 * 1024;
pub const UPLOAD_LIMIT: u64 = 1024 * 1024;
pub const UPLOAD_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// A `multipart/form-data` body of text fields and, last, one file; its
/// content type.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "roster-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The role mapping every test uses.
pub fn roles() -> serde_json::Value {
    serde_json::json!([
        {"group": "roster-acme-admins", "tenant": "acme", "role": "admin"},
        {"group": "roster-acme-viewers", "tenant": "acme", "role": "viewer"},
        {"group": "roster-operators", "role": "operator"}
    ])
}

/// A listener bound now (its port known before the settings name it).
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

pub async fn start(listener: tokio::net::TcpListener, settings: serde_json::Value) -> Console {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings: ConsoleSettings = serde_json::from_value(settings).expect("console settings");
    let dir = tempfile::tempdir().unwrap();
    let directory = Arc::new(SqliteDirectory::open(&dir.path().join("directory.db")).unwrap());
    let queue = Arc::new(SqliteQueue::open(SqliteQueueConfig::new(dir.path().join("queue.db"))).unwrap());
    let acme = directory.create_tenant("acme", roster_core::Timestamp(0)).await.unwrap().id;
    let globex = directory.create_tenant("globex", roster_core::Timestamp(0)).await.unwrap().id;
    roster_store::conformance::population(&*directory, acme, "hris", 20).await;
    let halted = roster_store::conformance::snapshot(&*directory, acme, "hris", 10).await;
    roster_store::conformance::population(&*directory, globex, "hris", 20).await;
    let globex_feed = roster_store::conformance::snapshot(&*directory, globex, "hris", 10).await;
    let ingest = Arc::new(roster_engine::Ingest::new(
        directory.clone(),
        queue.clone(),
        Arc::new(SystemClock),
        roster_engine::IngestConfig::default(),
    ));
    let budgets = roster_server::Budgets {
        uploads: roster_server::budget::Budget::new(8, 1),
        bodies: roster_server::budget::Budget::new(8 * BODY_LIMIT as u64, 2 * BODY_LIMIT as u64),
    };
    let state = ConsoleState::new(settings, directory.clone(), queue.clone(), Arc::new(SystemClock), None)
        .expect("valid console settings")
        .with_ingest(ingest, UploadLimits { body: BODY_LIMIT, upload: UPLOAD_LIMIT, idle: UPLOAD_IDLE })
        .with_budgets(budgets.clone())
        // No evaluator runs here: the overview shows what one recorded.
        .with_alarm_rules(Arc::from(vec![serde_json::from_value::<roster_core::alarm::AlarmRule>(
            serde_json::json!({"name": "dlq_depth", "metric": "dlq_depth", "comparison": ">", "threshold": 0}),
        )
        .unwrap()]));
    let app = roster_console::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Console { base, directory, queue, acme, globex, halted, globex_feed, budgets, _dir: dir }
}

pub fn public_feed(id: FeedId) -> String {
    roster_core::public_id::render(roster_core::public_id::Kind::Feed, id)
}

/// The `Set-Cookie` header for `name`, whole.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value a `Set-Cookie` header sets.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

/// The value of a page's read-only secret field (a key or webhook secret,
/// shown once).
pub fn secret_of(html: &str) -> String {
    let at = html.find("id=\"secret\" class=\"secret\" readonly value=\"").expect("a secret, shown once");
    let rest = &html[at + "id=\"secret\" class=\"secret\" readonly value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Follows no redirect by itself, keeps cookies per host:port (ignoring
/// paths and the `Secure` flag: the tests run on plain loopback HTTP).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, jar: HashMap::new() }
    }

    fn host(url: &str) -> String {
        let u = reqwest::Url::parse(url).unwrap();
        format!("{}:{}", u.host_str().unwrap(), u.port_or_known_default().unwrap())
    }

    pub fn cookie_header(&self, url: &str) -> String {
        self.jar
            .get(&Self::host(url))
            .map(|c| c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
            .unwrap_or_default()
    }

    pub fn keep(&mut self, url: &str, res: &reqwest::Response) {
        let jar = self.jar.entry(Self::host(url)).or_default();
        for v in res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let (name, value) = v.split(';').next().unwrap().split_once('=').unwrap();
            if v.to_ascii_lowercase().contains("max-age=0") || v.contains("expires=Thu, 01 Jan 1970") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let res = self.http.get(url).header("cookie", self.cookie_header(url)).send().await.unwrap();
        self.keep(url, &res);
        res
    }

    /// A same-origin form POST, as a browser sends it from the console's page.
    pub async fn post_form(&mut self, url: &str, origin: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .http
            .post(url)
            .header("cookie", self.cookie_header(url))
            .header("origin", origin)
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(url, &res);
        res
    }

    /// GETs `url` and follows redirects until one leads to a URL starting
    /// with `stop_at` (not fetched), which it returns.
    pub async fn follow_until(&mut self, mut url: String, stop_at: &str) -> String {
        for _ in 0..20 {
            if url.starts_with(stop_at) {
                return url;
            }
            let res = self.get(&url).await;
            assert!(res.status().is_redirection(), "{url} answered {} instead of a redirect", res.status());
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            url = reqwest::Url::parse(&url).unwrap().join(&location).unwrap().to_string();
        }
        panic!("more than 20 redirects");
    }
}

/// A message of `tenant` received once and moved to the dead-letter queue;
/// its id there.
pub async fn dead_letter(c: &Console, tenant: roster_core::TenantId, id: &str) -> String {
    dead_letter_of(c, tenant, id, b"{not a change".to_vec()).await
}

/// [`dead_letter`] with this body.
pub async fn dead_letter_of(c: &Console, tenant: roster_core::TenantId, id: &str, body: Vec<u8>) -> String {
    use roster_queue::{DeadLetterFilter, OutgoingMessage, Queue, ReceiveRequest};
    let message = OutgoingMessage {
        id: id.into(),
        group_id: id.into(),
        tenant: tenant.to_string(),
        body,
        delay: std::time::Duration::ZERO,
    };
    c.queue.send_batch(vec![message]).await.unwrap();
    let receive = ReceiveRequest {
        max_messages: 1,
        visibility_timeout: std::time::Duration::from_secs(30),
        wait: std::time::Duration::ZERO,
    };
    let received = c.queue.receive(receive).await.unwrap().pop().unwrap();
    c.queue.dead_letter(&received, "the message cannot be decoded").await.unwrap();
    let filter = DeadLetterFilter { tenant: Some(tenant.to_string()), after: None, limit: 10 };
    let letters = c.queue.list_dead_letters(&filter).await.unwrap();
    roster_core::public_id::render(roster_core::public_id::Kind::DeadLetter, &letters.last().unwrap().id)
}
