//! Process-level test helpers: `roster` run as its users run it, as child
//! processes (the in-process harness is `support`), and the HTTP calls a
//! client makes to them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// A child process, killed (`SIGKILL`) and reaped when dropped, so a
/// failing test leaves no server behind.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`; panics after `secs`.
pub fn wait_for_port(port: u16, secs: u64) {
    wait_for_port_or(port, secs, || format!("nothing listens on port {port} after {secs} s"));
}

fn wait_for_port_or(port: u16, secs: u64, why: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{}", why());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `cmd` (a `roster serve` or `worker` told to listen on `port`) and
/// waits for its listener.
pub fn start(cmd: &mut Command, port: u16) -> Process {
    let process = Process(cmd.spawn().unwrap());
    wait_for_port(port, 30);
    process
}

/// [`start`] with the process's stderr (its log) written to `log`, which a
/// process that never listens fails the test with.
pub fn start_logged(cmd: &mut Command, port: u16, log: &Path) -> Process {
    let process = Process(cmd.stderr(std::fs::File::create(log).unwrap()).spawn().unwrap());
    wait_for_port_or(port, 30, || {
        format!(
            "nothing listens on port {port} after 30 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    process
}

/// The last line of a command's output that succeeded: where `tenants
/// create` and `operators create` print the secret.
pub fn last_line_of(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned()
}

/// `roster tenants create acme` on the data dir: the tenant's API key.
pub fn create_tenant(data_dir: &Path) -> String {
    last_line_of(
        Command::new(BIN)
            .args(["tenants", "create", "acme"])
            .env("ROSTER_DATA_DIR", data_dir)
            .output()
            .unwrap(),
    )
}

/// A small deterministic generator for kill tests; the seed is printed so
/// a failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock, the seed printed under `name`.
    pub fn seeded(name: &str) -> Rng {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        eprintln!("{name} seed: {seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// `GET url` with a bearer token (an API key, an operator key or the
/// metrics token): the body as JSON, whatever the status.
pub async fn get_json(http: &reqwest::Client, url: &str, bearer: &str) -> Value {
    http.get(url).bearer_auth(bearer).send().await.unwrap().json().await.unwrap()
}

/// `GET url` with a bearer token, which must succeed: the body as JSON.
pub async fn get_ok(http: &reqwest::Client, url: &str, bearer: &str) -> Value {
    let res = http.get(url).bearer_auth(bearer).send().await.unwrap();
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    res.json().await.unwrap()
}

/// `POST url` with a JSON body and a bearer token.
pub async fn post_json(http: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> reqwest::Response {
    http.post(url).bearer_auth(bearer).json(body).send().await.unwrap()
}

/// Every item of a paged listing (`items`, then `next` as the cursor).
pub async fn all_pages(http: &reqwest::Client, base: &str, path: &str, bearer: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_ok(http, &format!("{base}{path}?limit=1000{cursor}"), bearer).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => return items,
        }
    }
}

/// Waits until `done`; fails after `secs` saying what it waited for.
pub async fn wait_for(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "still waiting after {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the node at `base` has nothing visible, in flight or
/// delayed in its queue (by `/readyz`, which shows the figures to the
/// metrics token); returns the `/readyz` answer then (its `queue`'s
/// `deadLetters` are the caller's to check).
pub async fn drained(http: &reqwest::Client, base: &str, metrics_token: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let ready = get_json(http, &format!("{base}/readyz"), metrics_token).await;
        let q = &ready["queue"];
        if q["visible"] == 0 && q["inFlight"] == 0 && q["delayed"] == 0 {
            return ready;
        }
        assert!(Instant::now() < deadline, "the queue did not drain in {secs} s: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A name no other run uses (databases and queues outlive a failed test).
pub fn unique() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{t:x}{}", std::process::id())
}

/// A new empty database `PREFIX_<unique>` on the server of `admin_url`
/// (its maintenance database): the new one's URL, with the same query.
pub async fn new_database(admin_url: &str, prefix: &str) -> String {
    use sqlx::Executor;
    let name = format!("{prefix}_{}", unique());
    let admin = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(admin_url).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await;
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    format!("{root}/{name}?{query}")
}
