//! Transport security and limits: HTTPS with rustls (a real handshake, HSTS),
//! plain HTTP refused off loopback unless allowed, and the per-credential
//! rate limit answering 429 with Retry-After.

mod support;

use support::spawn_app_with;

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
    let mut settings = roster_cli::config::Settings {
        data_dir: dir.path().join("data"),
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    };
    let refused = roster_cli::app::start(&settings).await.err().expect("refused");
    assert!(refused.to_string().contains("refusing plain HTTP"), "{refused:#}");
    settings.allow_insecure_http = true;
    let running = roster_cli::app::start(&settings).await.expect("allowed explicitly");
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
    assert!(detail.contains("4 records") && detail.contains("at most 3"), "{detail}");
    assert!(app.get_json("/v1/feeds").await["items"].as_array().unwrap().is_empty(), "nothing was stored");
    let res = app.post_feed(&serde_json::json!({"records": records[..3]})).await;
    assert_eq!(res.status(), 202, "at the limit is fine");
}
