//! The three functions as built binaries, through the Lambda Runtime API
//! protocol, over a real PostgreSQL and SQS FIFO queues on moto: an API
//! Gateway event queues records, a consumer event made of the messages SQS
//! hands out applies them, a poison message is reported until it is
//! dead-lettered, a redrive through the API brings it back once its cause
//! is fixed, and a schedule tick runs the jobs under their leases.

mod runtime_api;

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use roster_app::{Settings, StoreBackend};
use roster_core::secret::Secret;
use roster_queue::SqsQueue;
use runtime_api::Runtime;
use serde_json::{Value, json};

/// The service a test needs, or a loud failure when the test command said
/// it must be there.
fn required(var: &str, require: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var(require).is_ok_and(|v| v == "1") => panic!("{require}=1 but {var} is not set"),
        _ => {
            eprintln!("skipped: {var} is not set (the test command sets it)");
            None
        }
    }
}

/// A fresh database on the server `base` names.
async fn new_database(base: &str) -> String {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(base).await.expect("PostgreSQL answers");
    let name = format!("roster_lambda_{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let mut url = reqwest::Url::parse(base).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// An API Gateway HTTP API (payload format 2.0) proxy event, as AWS
/// documents it ("Working with AWS Lambda proxy integrations for HTTP APIs").
fn http_event(method: &str, stage: &str, path: &str, key: &str, body: Option<&Value>) -> Value {
    let raw_path = if stage == "$default" { path.to_owned() } else { format!("/{stage}{path}") };
    let (raw_path, query) =
        raw_path.split_once('?').map_or((raw_path.clone(), ""), |(p, q)| (p.to_owned(), q));
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {key}"),
            "content-type": "application/json",
            "host": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-for": "203.0.113.7",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3",
            "http": { "method": method, "path": raw_path, "protocol": "HTTP/1.1",
                      "sourceIp": "203.0.113.7", "userAgent": "roster-test" },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "02/Dec/2026:16:00:00 +0000",
            "timeEpoch": 1_796_227_200_000i64,
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false,
    })
}

/// The body of a function's HTTP answer, parsed.
fn body_of(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// What SQS would hand the consumer function: up to 10 messages received
/// from the queue, as an `aws:sqs` event (AWS, "Using Lambda with Amazon SQS").
async fn sqs_event(client: &aws_sdk_sqs::Client, queue_url: &str, wait: i32) -> (Value, Vec<String>) {
    let out = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait)
        .visibility_timeout(30)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            receipts.push(m.receipt_handle().unwrap().to_owned());
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                .collect();
            let message_attributes: serde_json::Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({ "stringValue": v.string_value(), "dataType": v.data_type(),
                                        "stringListValues": [], "binaryListValues": [] }),
                    )
                })
                .collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:roster.fifo",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    (json!({ "Records": records }), receipts)
}

/// What Lambda does after a partial batch response: deletes every message
/// not reported failed.
async fn delete_unreported(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    event: &Value,
    answer: &Value,
    receipts: &[String],
) {
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    for (record, receipt) in event["Records"].as_array().unwrap().iter().zip(receipts) {
        if !failed.contains(&record["messageId"].as_str().unwrap()) {
            client.delete_message().queue_url(queue_url).receipt_handle(receipt).send().await.unwrap();
        }
    }
}

/// A function's binary: this build's, or those in `ROSTER_LAMBDA_BIN_DIR`
/// (a release build, to measure its cold start).
fn binary(function: &str) -> String {
    if let Ok(dir) = std::env::var("ROSTER_LAMBDA_BIN_DIR") {
        return format!("{dir}/roster-lambda-{function}");
    }
    match function {
        "ingest" => env!("CARGO_BIN_EXE_roster-lambda-ingest"),
        "consumer" => env!("CARGO_BIN_EXE_roster-lambda-consumer"),
        _ => env!("CARGO_BIN_EXE_roster-lambda-scheduler"),
    }
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serverless_path_ingests_applies_dead_letters_and_redrives_through_the_runtime_api() {
    let Some(pg) = required("ROSTER_TEST_POSTGRES_URL", "ROSTER_REQUIRE_POSTGRES") else { return };
    let Some(sqs) = required("ROSTER_TEST_SQS_ENDPOINT", "ROSTER_REQUIRE_SQS") else { return };
    let database_url = new_database(&pg).await;
    let client = SqsQueue::emulator_client(&sqs);
    let name = format!("roster-fn-{}", std::process::id());
    let queue = SqsQueue::create(client.clone(), &name, 3).await.unwrap();
    let (queue_url, dlq_url) = (queue.queue_url().to_owned(), queue.dead_letter_queue_url().to_owned());

    // The tenant and its key, made in the database the functions share.
    let settings = Settings {
        store: StoreBackend::Postgres,
        database_url: Some(Secret::new(database_url.clone())),
        ..Settings::default()
    };
    let directory = roster_app::open_directory(&settings).await.unwrap();
    let now = roster_core::Timestamp(1_796_227_200_000);
    let (_, _, secret) =
        roster_engine::admin::create_tenant(directory.as_ref(), "acme", now, "test").await.unwrap();
    let key = secret.expose().to_owned();

    let env: Vec<(String, String)> = [
        ("ROSTER_STORE", "postgres"),
        ("ROSTER_DATABASE_URL", database_url.as_str()),
        ("ROSTER_DATABASE_POOL_SIZE", "2"),
        ("ROSTER_QUEUE", "sqs"),
        ("ROSTER_SQS_QUEUE_URL", queue_url.as_str()),
        ("ROSTER_SQS_DLQ_URL", dlq_url.as_str()),
        ("ROSTER_SQS_ENDPOINT_URL", sqs.as_str()),
        ("ROSTER_MAX_RECEIVE_COUNT", "3"),
        ("ROSTER_RETRY_BASE_MS", "100"),
        ("ROSTER_RETRY_CAP_MS", "200"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ingest = Runtime::start("roster-lambda-ingest", &binary("ingest"), &env).await;
    let consumer = Runtime::start("roster-lambda-consumer", &binary("consumer"), &env).await;
    let scheduler = Runtime::start("roster-lambda-scheduler", &binary("scheduler"), &env).await;
    for f in [&ingest, &consumer, &scheduler] {
        eprintln!(
            "{}: init (process start to its first poll) {} ms",
            f.name,
            f.init_time().await.as_millis()
        );
    }
    let first_event = |f: &Runtime, started: Instant| {
        eprintln!("{}: first event handled in {} ms", f.name, started.elapsed().as_millis());
    };
    let started = Instant::now();

    // Ingest: an API Gateway event, on the $default stage.
    let records: Vec<Value> =
        (0..12).map(|i| json!({"externalId": format!("E{i:02}"), "department": "Ops"})).collect();
    let answer = ingest
        .invoke(http_event(
            "POST",
            "$default",
            "/integrations/hr-feed",
            &key,
            Some(&json!({"records": records})),
        ))
        .await
        .expect("an HTTP answer");
    first_event(&ingest, started);
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let feed = body_of(&answer);
    let feed_id = feed["feedId"].as_str().expect("a feed id").to_owned();
    let location = answer["headers"]["location"].as_str().unwrap_or_default();
    assert!(location.ends_with(&format!("/v1/feeds/{feed_id}")), "{answer}");

    // The same function behind a named stage: the prefix is API Gateway's.
    let shown =
        ingest.invoke(http_event("GET", "prod", &format!("/v1/feeds/{feed_id}"), &key, None)).await.unwrap();
    assert_eq!(shown["statusCode"], 200, "{shown}");
    assert_eq!(body_of(&shown)["status"], "accepted", "{shown}");
    let refused =
        ingest.invoke(http_event("GET", "prod", "/v1/people", "rk_live_wrong", None)).await.unwrap();
    assert_eq!(refused["statusCode"], 401, "{refused}");
    assert_eq!(refused["headers"]["content-type"], "application/problem+json", "{refused}");

    // Consumer: batches as SQS hands them out, until the queue is empty.
    let mut applied_batches = 0;
    loop {
        let (event, receipts) = sqs_event(&client, &queue_url, 1).await;
        if receipts.is_empty() {
            break;
        }
        let started = Instant::now();
        let answer = consumer.invoke(event.clone()).await.expect("a batch response");
        if applied_batches == 0 {
            first_event(&consumer, started);
        }
        assert_eq!(answer, json!({"batchItemFailures": []}), "every message applies");
        delete_unreported(&client, &queue_url, &event, &answer, &receipts).await;
        applied_batches += 1;
    }
    assert!(applied_batches >= 2, "12 records are more than one SQS batch");
    let people =
        ingest.invoke(http_event("GET", "$default", "/v1/people?limit=100", &key, None)).await.unwrap();
    assert_eq!(body_of(&people)["items"].as_array().map(Vec::len), Some(12), "{people}");
    let done = ingest
        .invoke(http_event("GET", "$default", &format!("/v1/feeds/{feed_id}"), &key, None))
        .await
        .unwrap();
    assert_eq!(body_of(&done)["status"], "completed", "{done}");

    // A poison message: E03's stored row is broken, so its next change
    // fails to apply, again and again.
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&database_url).await.unwrap();
    sqlx::query("UPDATE people SET status = 'broken' WHERE external_id = 'E03'")
        .execute(&mut db)
        .await
        .unwrap();
    let moved = json!({"records": [{"externalId": "E03", "department": "Finance"}]});
    let answer = ingest
        .invoke(http_event("POST", "$default", "/integrations/hr-feed", &key, Some(&moved)))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let mut reported = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (event, receipts) = sqs_event(&client, &queue_url, 2).await;
        if receipts.is_empty() {
            let dlq = client
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .unwrap();
            let depth = dlq
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
                .cloned();
            if depth.as_deref() == Some("1") {
                break;
            }
            assert!(Instant::now() < deadline, "the poison message never reached the DLQ");
            continue;
        }
        let answer = consumer.invoke(event.clone()).await.unwrap();
        let failures = answer["batchItemFailures"].as_array().unwrap();
        if !failures.is_empty() {
            assert_eq!(failures[0]["itemIdentifier"], event["Records"][0]["messageId"], "{answer}");
            reported += 1;
        }
        delete_unreported(&client, &queue_url, &event, &answer, &receipts).await;
    }
    assert_eq!(reported, 2, "reported on receives 1 and 2, dead-lettered on receive 3 (maxReceiveCount)");
    let dlq = ingest.invoke(http_event("GET", "$default", "/v1/dlq", &key, None)).await.unwrap();
    let letters = body_of(&dlq);
    assert_eq!(letters["items"].as_array().map(Vec::len), Some(1), "{letters}");
    assert_eq!(letters["items"][0]["receiveCount"], 3, "{letters}");

    // The cause fixed, a redrive (what `roster dlq redrive` calls) brings it back.
    sqlx::query("UPDATE people SET status = 'active' WHERE external_id = 'E03'")
        .execute(&mut db)
        .await
        .unwrap();
    let redriven = ingest
        .invoke(http_event("POST", "$default", "/v1/dlq/redrive", &key, Some(&json!({}))))
        .await
        .unwrap();
    assert_eq!(redriven["statusCode"], 200, "{redriven}");
    let (event, receipts) = sqs_event(&client, &queue_url, 5).await;
    assert_eq!(receipts.len(), 1, "the redriven message is back on the queue");
    let answer = consumer.invoke(event.clone()).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    delete_unreported(&client, &queue_url, &event, &answer, &receipts).await;
    let e03 = ingest.invoke(http_event("GET", "$default", "/v1/people/E03", &key, None)).await.unwrap();
    assert_eq!(body_of(&e03)["department"], "Finance", "{e03}");

    // A poison batch from SQS that is not even JSON: reported, never a panic.
    let garbage = json!({"Records": [{"messageId": "m-1", "receiptHandle": "not-a-receipt", "body": "{not json",
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "g"}, "messageAttributes": {},
        "eventSource": "aws:sqs"}]});
    let answer = consumer.invoke(garbage).await.unwrap();
    assert!(answer["batchItemFailures"].is_array(), "{answer}");
    let after = consumer.invoke(json!({"Records": []})).await.expect("the function is still up");
    assert_eq!(after, json!({"batchItemFailures": []}), "it did not panic on the garbage");

    // The schedule: one leased pass of each job, leases given back.
    let tick = json!({"version": "0", "id": "tick-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-02T16:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let started = Instant::now();
    let report = scheduler.invoke(tick.clone()).await.expect("a tick report");
    first_event(&scheduler, started);
    assert!(report["scheduler"]["due"].is_number(), "{report}");
    assert!(report["outbox"]["delivered"].is_number(), "{report}");
    assert!(report["alarms"]["transitions"].is_number(), "{report}");
    let again = scheduler.invoke(tick).await.unwrap();
    assert!(again["scheduler"]["due"].is_number(), "the leases were given back: {again}");
    let (_, emf) = scheduler.logs();
    let lines: Vec<&str> = emf.lines().filter(|l| l.contains("\"_aws\"")).collect();
    assert!(!lines.is_empty(), "the scheduler writes EMF lines");
    for line in lines {
        roster_server::metrics::emf::validate(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
