//! Transport security and limits: HTTPS with rustls (a real handshake, HSTS),
//! plain HTTP refused off loopback unless allowed, the per-credential
//! rate limit answering 429 with Retry-After, the size of request headers
//! (431), and timeouts: slow headers close the connection, a slow request
//! gets 408, while a long streamed CSV upload is not cut off.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestApp, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for 127.0.0.1, written as PEM files.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.pem())
}

#[tokio::test]
async fn with_a_certificate_the_server_speaks_https_only_and_sends_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = certificate(dir.path());
    let app = spawn_app_with(|s| {
        s.tls_cert = Some(cert);
        s.tls_key = Some(key);
    })
    .await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let res =
        client.get(format!("https://127.0.0.1:{port}/v1/people")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200, "a verified TLS handshake, then the API");
    let hsts = res.headers().get("strict-transport-security").expect("HSTS over TLS");
    assert!(hsts.to_str().unwrap().contains("max-age="));

    // A client that does not trust the certificate is refused at the handshake.
    assert!(reqwest::get(format!("https://127.0.0.1:{port}/healthz")).await.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "no plain HTTP on the TLS port");
}

#[tokio::test]
async fn plain_http_serves_loopback_only_unless_explicitly_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = roster_app::Settings {
        data_dir: dir.path().join("data"),
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    };
    let refused = roster_app::start(&settings).await.err().expect("refused");
    assert!(refused.to_string().contains("refusing plain HTTP"), "{refused:#}");
    settings.allow_insecure_http = true;
    let running = roster_app::start(&settings).await.expect("allowed explicitly");
    running.shutdown().await.unwrap();

    let app = spawn_app_with(|_| {}).await;
    let res = app.get("/healthz").await;
    assert!(res.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
}

#[tokio::test]
async fn a_credential_over_its_rate_gets_429_with_retry_after() {
    // One request per 10 s after a burst of 2: the third at once is refused.
    let app = spawn_app_with(|s| {
        s.rate_limit_per_sec = 0.1;
        s.rate_limit_burst = 2.0;
    })
    .await;
    let other = app.new_tenant("globex").await;
    assert_eq!(app.get("/v1/people").await.status(), 200);
    assert_eq!(app.get("/v1/people").await.status(), 200);
    let refused = app.get("/v1/people").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    assert_eq!(app.get_as(&other, "/v1/people").await.status(), 200, "another credential has its own budget");
    assert_eq!(
        app.http.get(app.url("/healthz")).send().await.unwrap().status(),
        200,
        "health checks are not limited"
    );
}

#[tokio::test]
async fn a_request_over_the_record_limit_is_refused_whole() {
    let app = spawn_app_with(|s| s.max_records_per_request = 3).await;
    let records: Vec<serde_json::Value> =
        (1..=4).map(|i| serde_json::json!({"externalId": format!("E{i}")})).collect();
    let res = app.post_feed(&serde_json::json!({"records": records})).await;
    assert_eq!(res.status(), 413);
    let problem: serde_json::Value = res.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("more than 3 records") && detail.contains("at most 3"), "{detail}");
    assert!(app.get_json("/v1/feeds").await["items"].as_array().unwrap().is_empty(), "nothing was stored");
    let res = app.post_feed(&serde_json::json!({"records": records[..3]})).await;
    assert_eq!(res.status(), 202, "at the limit is fine");
}

/// Small limits so the tests are fast: 1 s for headers and for an ordinary
/// request, 16 KiB of headers.
async fn strict_app() -> TestApp {
    spawn_app_with(|s| {
        s.header_read_timeout_secs = 1;
        s.request_timeout_secs = 1;
        s.max_header_bytes = 16 * 1024;
    })
    .await
}

/// Sends `head` on a raw connection, then trickles `trickle` a byte every
/// 200 ms in the background; returns what the server answered (empty if it
/// just closed) and how long that took.
async fn raw(app: &TestApp, head: String, trickle: &'static [u8]) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickler = tokio::spawn(async move {
        for b in trickle {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[*b]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept a slow connection open for 10 s");
    trickler.abort();
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn headers_over_the_limit_get_431() {
    let app = strict_app().await;
    let res = app.http.get(app.url("/v1/people")).bearer_auth(&app.key).header("x-padding", "p".repeat(4096));
    assert_eq!(res.send().await.unwrap().status(), 200, "headers under the limit pass");
    let (answer, _) = raw(
        &app,
        format!("GET /healthz HTTP/1.1\r\nHost: roster\r\nX-Padding: {}\r\n\r\n", "p".repeat(32 * 1024)),
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_cut_off() {
    let app = strict_app().await;
    // Slowloris: a request line, then a header byte every 200 ms, forever.
    let trickle = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (answer, took) = raw(&app, "GET /healthz HTTP/1.1\r\nHost: roster\r\n".into(), trickle).await;
    assert!(!answer.contains(" 200 "), "no answer to an unfinished request: {answer}");
    assert!(took < Duration::from_secs(4), "closed after the 1 s header timeout, not {took:?}");
    // A connection that never sends a byte is closed too.
    let (_, took) = raw(&app, String::new(), b"").await;
    assert!(took < Duration::from_secs(4), "an idle connection closed after {took:?}");
}

#[tokio::test]
async fn a_slow_request_gets_408_but_a_long_csv_upload_streams_on() {
    let app = strict_app().await;
    // An ordinary request whose body trickles in: 408 after 1 s.
    let head = format!(
        "PUT /v1/sources/hr HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 39\r\n\r\n",
        app.key
    );
    let (answer, took) = raw(&app, head, b"{\"validation\": \"strict\"               }").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("limit of 1 s"), "{answer}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(app.get_json("/v1/sources/hr").await["validation"], "partial", "nothing was changed");

    // A JSON feed read whole gets the same limit, on the ingest endpoint too.
    let head = format!(
        "POST /integrations/hr-feed HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 39\r\n\r\n",
        app.key
    );
    let (answer, _) = raw(&app, head, b"{\"records\": [{\"externalId\": \"E1\"}]}    ").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A CSV streamed for longer than the request timeout is not cut off:
    // uploads have their own, longer limit.
    let rows = (0..6).map(|i| {
        let chunk =
            if i == 0 { "externalId,name.givenName\n".to_owned() } else { format!("S{i},Given{i}\n") };
        Ok::<_, std::io::Error>(chunk)
    });
    let slow = futures_util::StreamExt::then(futures_util::stream::iter(rows), |chunk| async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        chunk
    });
    let started = Instant::now();
    let res = app
        .http
        .post(app.url("/integrations/hr-feed?source=csv"))
        .bearer_auth(&app.key)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() > Duration::from_secs(2), "the upload took longer than the request timeout");
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let done = app.wait_feed(feed["feedId"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["applied"], 5, "{done}");
    assert_eq!(app.post_feed(&json!({"records": [{"externalId": "E2"}]})).await.status(), 202);
}
