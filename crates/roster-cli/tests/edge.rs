//! The HTTP edge against abuse, over the real app (issue 14): a crafted
//! people cursor, padded credentials and guessed keys against the rate
//! limits, what anonymous `/readyz` tells, and client request ids that are
//! too long to keep.

mod support;

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

#[tokio::test]
async fn a_crafted_people_cursor_is_a_400_not_a_dropped_connection() {
    let app = spawn_app().await;
    for cursor in ["a%C3%A9b", "%C3%A9%C3%A9", "a%C3%A9%0A%7B%22level%22%3A%22INFO%22%7Dx", "zz"] {
        let res = app.get(&format!("/v1/people?cursor={cursor}")).await;
        assert_eq!(res.status(), 400, "cursor {cursor}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(app.get("/v1/people").await.status(), 200, "the server lives on");
}

/// A client whose connections come from `local` (any 127/8 address reaches
/// the server on 127.0.0.1).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(local.parse::<IpAddr>().unwrap()).build().unwrap()
}

#[tokio::test]
async fn padded_and_recased_forms_of_one_key_share_its_bucket() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_sec = 0.1;
        s.rate_limit_burst = 4.0;
    })
    .await;
    let key = &app.key;
    let forms = [
        format!("Bearer {key}"),
        format!("Bearer  {key}"),
        format!("bearer {key}"),
        format!("BEARER {key} "),
        format!("Bearer\t{key}\t"),
        format!("Bearer   {key}   "),
    ];
    let mut statuses = Vec::new();
    for form in &forms {
        let res = app.http.get(app.url("/v1/people")).header("authorization", form).send().await.unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "one key, one budget of 4");
}

#[tokio::test]
async fn repeated_failed_authentications_from_one_address_get_429_before_any_lookup() {
    let app = spawn_app_with(|s| {
        s.auth_failure_limit_per_sec = 0.1;
        s.auth_failure_burst = 3.0;
    })
    .await;
    let attacker = client_from("127.0.0.2");
    // Guessed API keys and forged JWTs alike (no issuer configured: a 401).
    let forged = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJ4In0.c2ln";
    let guesses = ["rk_live_guess1", forged, "rk_live_guess2", forged, "rk_live_guess3"];
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for guess in guesses {
        let res = attacker.get(app.url("/v1/people")).bearer_auth(guess).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let problem: Value = res.json().await.unwrap();
            assert_eq!(problem["status"], 429);
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    // Even a good key from that address waits; another address is unaffected.
    let res = attacker.get(app.url("/v1/people")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let res = client_from("127.0.0.3").get(app.url("/v1/people")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Health checks answer whatever the address did.
    assert_eq!(attacker.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(attacker.get(app.url("/readyz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn anonymous_readyz_says_ready_only_and_the_figures_need_an_operator_key() {
    let app = spawn_app().await;
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ready"}));

    let operator = app.operator_key("ops").await;
    let ready: Value = app.get_as(&operator, "/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["queue"]["deadLetters"], 0, "{ready}");

    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 401, "a tenant's key does not read platform figures");
    assert!(!res.text().await.unwrap().contains("deadLetters"));
}

/// `roster serve` as a process, its log in a file.
struct Served {
    child: std::process::Child,
    base: String,
    log: std::path::PathBuf,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["tenants", "create", "acme"])
        .env("ROSTER_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("serve.log");
    let child = Command::new(BIN)
        .args(["serve", "--log-level", "debug"])
        .env("ROSTER_DATA_DIR", dir.path())
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "roster serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, base: format!("http://127.0.0.1:{port}"), log, key, _dir: dir }
}

#[tokio::test]
async fn a_60_kb_request_id_is_neither_echoed_nor_logged_nor_stored() {
    let served = serve();
    let http = reqwest::Client::new();
    let huge = "Zq".repeat(30_000);
    let mut server_ids = Vec::new();
    for (method, path) in [("GET", "/healthz"), ("GET", "/v1/people"), ("POST", "/v1/keys")] {
        let req = http.request(method.parse().unwrap(), format!("{}{path}", served.base));
        let req =
            if method == "POST" { req.json(&json!({"name": "test-key", "scopes": ["read"]})) } else { req };
        let res = req.bearer_auth(&served.key).header("x-request-id", &huge).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() <= 128 && !id.contains("ZqZq"), "{path}: the server made its own id");
        server_ids.push(id);
    }
    // One id too many (or a line break) is not kept either; a fitting one is.
    let res =
        http.get(format!("{}/healthz", served.base)).header("x-request-id", "a\"b").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "a\"b");
    // Even a fitting one names the client's own correlation only: the
    // server's id is its own, so no two requests share one.
    let res =
        http.get(format!("{}/healthz", served.base)).header("x-request-id", "req-42").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "req-42");

    let audit: Value = http
        .get(format!("{}/v1/audit", served.base))
        .bearer_auth(&served.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "key.created" && e["actor"] != "cli")
        .unwrap_or_else(|| panic!("no key.created entry: {audit}"));
    assert_eq!(created["requestId"], server_ids[2].as_str(), "the audit log keeps the server's id");
    assert!(!audit.to_string().contains("ZqZq"));

    // The log has the server's ids, never the client's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&served.log).unwrap();
        if server_ids.iter().all(|id| log.contains(id.as_str())) || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(server_ids.iter().all(|id| log.contains(id.as_str())), "{log}");
    assert!(!log.contains("ZqZq"), "the client's id reached the log");
    assert!(log.len() < 64 * 1024, "{} bytes of log for a handful of requests", log.len());
}

/// Sends `GET /healthz` on `stream` and reads until the answer's end (or the
/// connection's); returns what came back.
async fn healthz_on(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.is_err() {
        return String::new();
    }
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while !got.ends_with(b"}") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn past_max_connections_a_new_connection_is_closed_and_open_ones_are_served() {
    let app = spawn_app_with(|s| s.max_connections = 2).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        assert!(healthz_on(&mut c).await.starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(healthz_on(&mut third).await, "", "the third connection is closed unanswered");
    assert!(healthz_on(&mut held[0]).await.starts_with("HTTP/1.1 200"), "the open ones are served");
    drop(held.pop());
    // The permit comes back once the server sees the connection end.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if healthz_on(&mut next).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no connection accepted after one closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
