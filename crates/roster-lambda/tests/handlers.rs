//! Each handler in-process, with recorded event shapes (API Gateway HTTP
//! API payload 2.0; an `aws:sqs` batch), over the embedded adapters: the
//! answers are checked exactly.

use std::time::Duration;

use roster_app::{Adapters, Platform, Role, Settings};
use roster_queue::{OutgoingMessage, ReceiveRequest};
use serde_json::{Value, json};
use tower::ServiceExt as _;

async fn platform(dir: &std::path::Path) -> (Platform, String) {
    let settings = Settings { data_dir: dir.to_owned(), body_limit: 4096, ..Settings::default() };
    let adapters = Adapters::open(&settings).await.unwrap();
    let platform = Platform::build(&settings, adapters, Role::Serve).await.unwrap();
    let directory = &platform.adapters.directory;
    let now = roster_core::Timestamp(1_796_227_200_000);
    let (_, _, secret) =
        roster_engine::admin::create_tenant(directory.as_ref(), "acme", now, "test").await.unwrap();
    (platform, secret.expose().to_owned())
}

fn event(
    method: &str,
    stage: &str,
    path: &str,
    key: &str,
    body: &str,
    base64: bool,
    content_type: &str,
) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": { "authorization": format!("Bearer {key}"), "content-type": content_type,
                     "host": "a1b2c3.execute-api.eu-west-1.amazonaws.com" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "a1b2c3",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.4",
                      "userAgent": "curl/8" },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default", "stage": stage,
            "time": "02/Dec/2026:16:00:00 +0000", "timeEpoch": 1_796_227_200_000i64
        },
        "body": body, "isBase64Encoded": base64
    })
}

/// The router's answer to an API Gateway event: status, content type, body.
async fn call(platform: &Platform, event: Value) -> (u16, String, Value) {
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event");
    let response = roster_lambda::http::service(platform.state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_gateway_events_get_the_servers_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (platform, key) = platform(dir.path()).await;
    let feed = r#"{"records":[{"externalId":"E1","department":"Ops"}]}"#;

    let (status, _, body) = call(
        &platform,
        event("POST", "$default", "/integrations/hr-feed", &key, feed, false, "application/json"),
    )
    .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)), "{body}");

    let (status, content_type, body) = call(
        &platform,
        event(
            "POST",
            "prod",
            "/prod/integrations/hr-feed",
            &key,
            "{\"records\":[{\"externalId\":",
            false,
            "application/json",
        ),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (400, "application/problem+json"), "{body}");
    assert_eq!(body["status"], 400);

    let (status, content_type, body) = call(
        &platform,
        event("GET", "$default", "/v1/people", "rk_live_not_a_key", "", false, "application/json"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str(), body["status"].as_u64()),
        (401, "application/problem+json", Some(401))
    );

    let big = format!(r#"{{"records":[{{"externalId":"E2","department":"{}"}}]}}"#, "x".repeat(8192));
    let (status, content_type, body) = call(
        &platform,
        event("POST", "$default", "/integrations/hr-feed", &key, &big, false, "application/json"),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (413, "application/problem+json"), "{body}");

    use base64::Engine as _;
    let csv = base64::engine::general_purpose::STANDARD.encode("externalId,department\nE3,Sales\nE4,Sales\n");
    let (status, _, body) =
        call(&platform, event("POST", "$default", "/integrations/hr-feed", &key, &csv, true, "text/csv"))
            .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)), "a base64 body is decoded: {body}");
}

/// A received message as a record of an `aws:sqs` event.
fn record(m: &roster_queue::ReceivedMessage) -> Value {
    json!({
        "messageId": format!("sqs-{}", m.id), "receiptHandle": m.receipt.0,
        "body": String::from_utf8_lossy(&m.body),
        "attributes": { "ApproximateReceiveCount": m.receive_count.to_string(), "MessageGroupId": m.group_id,
                        "SentTimestamp": m.sent_at.0.to_string() },
        "messageAttributes": {
            "roster-id": { "stringValue": m.id, "dataType": "String", "stringListValues": [], "binaryListValues": [] },
            "roster-tenant": { "stringValue": m.tenant, "dataType": "String", "stringListValues": [], "binaryListValues": [] }
        },
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:roster.fifo", "awsRegion": "eu-west-1"
    })
}

#[tokio::test]
async fn an_sqs_batch_reports_only_what_must_come_back_and_a_failed_groups_later_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (platform, key) = platform(dir.path()).await;
    let push = |body: &'static str| {
        event("POST", "$default", "/integrations/hr-feed", &key, body, false, "application/json")
    };
    assert_eq!(
        call(&platform, push(r#"{"records":[{"externalId":"E1"},{"externalId":"E2"}]}"#)).await.0,
        202
    );
    let queue = &platform.adapters.queue;
    let req = ReceiveRequest {
        max_messages: 10,
        visibility_timeout: Duration::from_secs(30),
        wait: Duration::ZERO,
    };
    let first = queue.receive(req).await.unwrap();
    let batch: Vec<Value> = first.iter().map(record).collect();
    let answer = roster_lambda::sqs::handle(
        &platform.consumer,
        serde_json::from_value(json!({"Records": batch})).unwrap(),
    )
    .await;
    assert_eq!(serde_json::to_value(&answer).unwrap(), json!({"batchItemFailures": []}));
    queue.delete_batch(&first.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();

    // E2's stored row is broken: its next two changes fail, and E1's apply.
    let db = rusqlite::Connection::open(dir.path().join("directory.db")).unwrap();
    db.execute("UPDATE people SET status = 'broken' WHERE external_id = 'E2'", []).unwrap();
    drop(db);
    assert_eq!(call(&platform, push(r#"{"records":[{"externalId":"E2","department":"A"}]}"#)).await.0, 202);
    assert_eq!(call(&platform, push(r#"{"records":[{"externalId":"E1","department":"B"}]}"#)).await.0, 202);
    let garbage = OutgoingMessage {
        id: "garbage-1".into(),
        group_id: "g-garbage".into(),
        tenant: first[0].tenant.clone(),
        body: b"{not json".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![garbage]).await.unwrap();
    let second = queue.receive(req).await.unwrap();
    assert_eq!(second.len(), 3, "E2's change, E1's and the garbage");
    let mut batch: Vec<Value> = second.iter().map(record).collect();
    // SQS may hand a function several messages of one group at once (the
    // embedded queue never does): a later change of E2, right after it.
    let mut later = batch[0].clone();
    later["messageId"] = json!("sqs-later-change-of-E2");
    later["receiptHandle"] = json!("receipt-of-the-later-change");
    batch.insert(1, later);
    let e2 = [batch[0]["messageId"].clone(), json!("sqs-later-change-of-E2")];
    let answer = roster_lambda::sqs::handle(
        &platform.consumer,
        serde_json::from_value(json!({"Records": batch})).unwrap(),
    )
    .await;
    let failures: Vec<Value> = e2.iter().map(|id| json!({"itemIdentifier": id})).collect();
    assert!(String::from_utf8_lossy(&second[0].body).contains("\"E2\""), "received in the order sent");
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({"batchItemFailures": failures}),
        "E2's failed change and its later one come back; E1's is applied; the garbage is dead-lettered"
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.dead_letters, 1, "the undecodable message is in the dead-letter queue, not retried");
}

/// A scheduler tick answers only once its alarm notifications are out: a
/// function's environment may be frozen as soon as it answers, and a
/// notification still in the dispatcher would wait for the next tick. The
/// receiver here fails the first attempt and answers the second slowly.
#[tokio::test]
async fn a_tick_answers_only_once_its_alarm_notifications_are_delivered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let calls = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let app = {
        let (calls, delivered) = (calls.clone(), delivered.clone());
        axum::Router::new().route(
            "/alarm",
            axum::routing::post(move || {
                let (calls, delivered) = (calls.clone(), delivered.clone());
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    delivered.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alarm", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings { data_dir: dir.path().to_owned(), ..Settings::default() };
    // Breached at the first evaluation, whatever the queue holds.
    settings.alarms = Some(vec![roster_core::alarm::AlarmRule {
        name: "always".into(),
        metric: "visible_messages".into(),
        comparison: roster_core::alarm::Comparison::GreaterThanOrEqual,
        threshold: 0.0,
        period_seconds: 60,
        reminder_seconds: None,
    }]);
    settings.notifiers.webhook =
        vec![roster_app::WebhookConfig { url: roster_core::secret::Secret::new(url), secret: None }];
    let adapters = Adapters::open(&settings).await.unwrap();
    let mut platform = Platform::build(&settings, adapters, Role::Serve).await.unwrap();
    let mut jobs = platform.jobs.take().expect("a serving node with workers runs the jobs");

    let report = roster_lambda::schedule::tick(&mut jobs, Duration::from_secs(30)).await;
    assert_eq!(report["alarms"]["transitions"], 1, "{report}");
    assert_eq!(report["alarms"]["notificationsSettled"], true, "{report}");
    assert_eq!(
        (calls.load(Ordering::SeqCst), delivered.load(Ordering::SeqCst)),
        (2, 1),
        "retried once and delivered before the tick answered"
    );
}
