//! Resource bounds over the real app (issue 14): streamed uploads have a
//! budget per tenant and per node and an idle timeout, and never hold the
//! threads the store's work needs; bodies read whole have a budget of bytes
//! and records; mapping profiles have a size limit.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestApp, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// A chunked CSV upload that sends its header line and then nothing: the
/// open socket is the upload.
async fn stalled_upload(app: &TestApp, key: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    let head = format!(
        "POST /integrations/hr-feed?source=hris HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nexternalId\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// A request whose `Content-Length` promises more than is sent: its body
/// is awaited (and its bytes reserved) until the request timeout.
async fn stalled_body(app: &TestApp, key: &str, content_type: &str, length: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    let head = format!(
        "POST /integrations/hr-feed HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// What the server answered on `s` within `within` (the head and what
/// came of the body), or `None`.
async fn answer(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n")
                    && text[end..].contains('}')
                {
                    break;
                }
            }
            Ok(Err(_)) => break,
        }
    }
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).to_lowercase())
}

async fn feeds(app: &TestApp, key: &str) -> Vec<Value> {
    let res = app.get_as(key, "/v1/feeds").await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
}

/// Waits until `key`'s tenant has `n` feeds (uploads the server took on).
async fn wait_feeds(app: &TestApp, key: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while feeds(app, key).await.len() < n {
        assert!(Instant::now() < deadline, "the server did not take {n} uploads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A whole small upload, chunked (so streamed): 202 once there is room.
async fn complete_upload(app: &TestApp, key: &str) -> reqwest::StatusCode {
    let rows = futures_util::stream::iter(["externalId\n", "E1\n"].map(Ok::<_, std::io::Error>));
    app.http
        .post(app.url("/integrations/hr-feed?source=hris"))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(rows))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn streamed_uploads_have_a_budget_per_tenant_and_in_all() {
    let app = spawn_app_with(|s| {
        s.max_streaming_uploads = 3;
        s.max_streaming_uploads_per_tenant = 2;
    })
    .await;
    let globex = app.new_tenant("globex").await;
    let mut held = vec![stalled_upload(&app, &app.key).await, stalled_upload(&app, &app.key).await];
    wait_feeds(&app, &app.key, 2).await;

    // A third of acme's is refused at once, as a problem with Retry-After.
    let mut third = stalled_upload(&app, &app.key).await;
    let refused = answer(&mut third, Duration::from_secs(10)).await.expect("an answer");
    assert!(refused.starts_with("http/1.1 429"), "{refused}");
    assert!(refused.contains("retry-after: 30") && refused.contains("application/problem+json"), "{refused}");
    assert!(refused.contains("already streams 2 csv uploads"), "{refused}");

    // Another tenant has its own share, within the node's budget of 3.
    held.push(stalled_upload(&app, &globex).await);
    wait_feeds(&app, &globex, 1).await;
    let mut fourth = stalled_upload(&app, &globex).await;
    let refused = answer(&mut fourth, Duration::from_secs(10)).await.expect("an answer");
    assert!(refused.starts_with("http/1.1 503"), "{refused}");
    assert!(
        refused.contains("retry-after: 30") && refused.contains("the server already streams 3"),
        "{refused}"
    );
    // Everything else is answered meanwhile.
    assert_eq!(app.get_as(&globex, "/v1/sources").await.status(), 200);
    assert_eq!(app.post_feed_as(&globex, &json!({"records": [{"externalId": "G1"}]})).await.status(), 202);

    // A client that goes away gives its place back.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = complete_upload(&app, &app.key).await;
        if status == 202 {
            break;
        }
        assert!([429, 503].contains(&status.as_u16()), "{status}");
        assert!(Instant::now() < deadline, "the places were not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_stalled_upload_fails_after_the_idle_timeout_and_frees_its_place() {
    let app = spawn_app_with(|s| {
        s.upload_idle_secs = 1;
        s.max_streaming_uploads_per_tenant = 1;
    })
    .await;
    let started = Instant::now();
    let mut upload = stalled_upload(&app, &app.key).await;
    let failed = answer(&mut upload, Duration::from_secs(20)).await.expect("an answer");
    assert!(failed.starts_with("http/1.1 408"), "{failed}");
    assert!(failed.contains("no bytes of the upload arrived for 1 s"), "{failed}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let items = feeds(&app, &app.key).await;
    assert_eq!(items[0]["status"], "failed", "{items:?}");
    // The upload's place is free again: the next one streams.
    assert_eq!(complete_upload(&app, &app.key).await, 202);
}

/// Stalled uploads, more than tokio's blocking pool has threads, while
/// another tenant's requests (each a few SQLite calls on that pool) go on.
#[test]
fn stalled_uploads_never_take_the_threads_the_store_needs() {
    const POOL: usize = 8;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(POOL)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = spawn_app_with(|s| {
            s.max_streaming_uploads = 64;
            s.max_streaming_uploads_per_tenant = 64;
            s.request_timeout_secs = 10;
        })
        .await;
        let globex = app.new_tenant("globex").await;
        let mut held = Vec::new();
        for _ in 0..3 * POOL {
            held.push(stalled_upload(&app, &app.key).await);
        }
        wait_feeds(&app, &app.key, 3 * POOL).await;
        for _ in 0..5 {
            let started = Instant::now();
            let res = app.get_as(&globex, "/v1/sources").await;
            assert_eq!(res.status(), 200, "after {:?}", started.elapsed());
        }
        assert_eq!(
            app.post_feed_as(&globex, &json!({"records": [{"externalId": "G1"}]})).await.status(),
            202
        );
        drop(held);
    });
}

#[tokio::test]
async fn bodies_held_in_memory_have_a_budget_of_bytes_per_tenant_and_in_all() {
    const MIB: usize = 1024 * 1024;
    let app = spawn_app_with(|s| {
        s.body_limit = MIB;
        s.max_body_bytes_in_flight_per_tenant = MIB as u64;
        s.max_body_bytes_in_flight = 2 * MIB as u64;
        s.request_timeout_secs = 5;
    })
    .await;
    let globex = app.new_tenant("globex").await;
    let initech = app.new_tenant("initech").await;
    // acme holds its whole share with one body still on its way.
    let _a = stalled_body(&app, &app.key, "application/json", MIB).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = stalled_body(&app, &app.key, "application/json", 1000).await;
    let refused = answer(&mut again, Duration::from_secs(4)).await.expect("an answer");
    assert!(refused.starts_with("http/1.1 429"), "{refused}");
    assert!(refused.contains("retry-after") && refused.contains("mib of bodies"), "{refused}");
    // globex takes the rest of the node's budget; initech then finds none.
    let _g = stalled_body(&app, &globex, "text/csv", MIB).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app.post_feed_as(&initech, &json!({"records": [{"externalId": "I1"}]})).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("request bodies"), "{problem}");
    // Reads need no body budget.
    assert_eq!(app.get_as(&initech, "/v1/sources").await.status(), 200);
    // Once the stalled bodies time out, their bytes are free again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let res = app.post_feed_as(&initech, &json!({"records": [{"externalId": "I1"}]})).await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn an_in_memory_csv_past_the_record_cap_is_refused_without_parsing_it_all() {
    let app = spawn_app_with(|s| s.max_records_per_request = 1000).await;
    // 2 MiB of one-character rows: about a million records.
    let body = format!("externalId\n{}", "1\n".repeat(1024 * 1024));
    let res = app.post_raw("?source=hris", "text/csv", body).await;
    assert_eq!(res.status(), 413);
    let problem: Value = res.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("more than 1000 records") && detail.contains("at most 1000"), "{detail}");
    assert!(feeds(&app, &app.key).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_mapping_profile_has_a_size_limit_far_below_the_body_limit() {
    let app = spawn_app_with(|_| {}).await;
    // A valid profile, only too large: thousands of custom attributes.
    let mut fields = serde_json::Map::new();
    fields.insert("externalId".into(), json!({"column": "Employee ID"}));
    for i in 0..3000 {
        fields.insert(format!("customAttributes.c{i}"), json!({"column": format!("Column {i}")}));
    }
    let big = json!({"fields": fields});
    let profile: roster_core::MappingProfile = serde_json::from_value(big.clone()).unwrap();
    assert!(profile.validate().is_ok(), "valid, only large");
    assert!(serde_json::to_vec(&big).unwrap().len() > 64 * 1024);

    for res in [
        app.put_json("/v1/sources/hr", &json!({"mapping": big})).await,
        app.put_json("/v1/sources/hr/mapping", &big).await,
    ] {
        assert_eq!(res.status(), 413);
        let problem: Value = res.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("`mapping`"), "{problem}");
    }
    // A body far over the limit is not read on.
    let huge = json!({"mapping": {"fields": {"externalId": {"column": "x".repeat(2 * 1024 * 1024)}}}});
    let res = app.put_json("/v1/sources/hr", &huge).await;
    assert_eq!(res.status(), 413);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("`mapping`"), "{problem}");
    assert_eq!(app.get("/v1/sources/hr/mapping").await.status(), 404, "nothing was stored");
    // An ordinary profile is stored as before.
    let small = json!({"fields": {"externalId": {"column": "Employee ID"}}});
    assert_eq!(app.put_json("/v1/sources/hr/mapping", &small).await.status(), 200);
}

#[tokio::test]
async fn an_idempotent_replay_reads_no_more_than_the_first_request_could_have() {
    let app = spawn_app_with(|s| s.body_limit = 64 * 1024).await;
    let post = |body: String| {
        app.http
            .post(app.url("/integrations/hr-feed"))
            .bearer_auth(&app.key)
            .header("idempotency-key", "nightly-1")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(post(json!({"records": [{"externalId": "E1"}]}).to_string()).await.unwrap().status(), 202);
    // A JSON body past the body limit could never have been the first
    // request: it is refused as too large, not read to the upload limit.
    let big = format!("{{\"records\": [{}]}}", vec!["{}"; 100_000].join(","));
    let res = post(big).await.unwrap();
    assert_eq!(res.status(), 413);
}
