//! Observability over the real server: a dead letter raises the DLQ alarm,
//! which reaches a webhook started here and (with moto) an SNS topic read
//! back through an SQS subscription, shows in `/v1/alarms` and
//! `roster alarms ls`, and clears — notified once more — after a purge;
//! `/metrics` counts a pushed feed (for the metrics token or an operator key
//! only), `/v1/alarms` answers operators only; a request id follows its record from the
//! ingest log line to the apply log line.
//!
//! SNS runs when `ROSTER_TEST_SQS_ENDPOINT` names moto (`scripts/test` starts
//! it); without it the SNS half says so and is skipped, unless
//! `ROSTER_REQUIRE_SQS` is set.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use roster_app::{SnsConfig, WebhookConfig};
use roster_core::secret::Secret;
use serde_json::{Value, json};
use support::{TestApp, person, spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

type Calls = Arc<Mutex<Vec<Value>>>;

/// What Prometheus would send (`authorization: credentials_file`).
const METRICS_TOKEN: &str = "prom-scrape-token-0123456789";

/// A webhook receiver on a free port: records each JSON body, answers 200.
async fn webhook_listener() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(calls): State<Calls>, body: Bytes| async move {
                calls.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

/// An SNS topic on moto with an SQS queue subscribed to it.
struct SnsSink {
    topic_arn: String,
    endpoint: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// Alarm documents read so far.
    seen: Vec<Value>,
}

impl SnsSink {
    async fn create(endpoint: &str) -> Self {
        let sns = roster_notify::SnsNotifier::emulator_client(endpoint);
        let sqs = roster_queue::SqsQueue::emulator_client(endpoint);
        let name = format!("roster-alarm-test-{}", roster_core::TenantId::new().as_uuid().simple());
        let topic_arn = sns.create_topic().name(&name).send().await.unwrap().topic_arn().unwrap().to_owned();
        let queue_url =
            sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url().unwrap().to_owned();
        let arn_attribute = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(arn_attribute.clone())
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get(&arn_attribute).cloned())
            .unwrap();
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();
        Self { topic_arn, endpoint: endpoint.to_owned(), sqs, queue_url, seen: Vec::new() }
    }

    /// Reads what has arrived; returns the (alarm, state) pairs seen so far.
    async fn poll(&mut self) -> Vec<(String, String)> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            self.seen.push(serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap());
            let receipt = m.receipt_handle().unwrap();
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
        self.seen.iter().map(|d| (text(&d["alarm"]), text(&d["state"]))).collect()
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The webhook calls about `alarm`, as their states.
fn states_of(calls: &Calls, alarm: &str) -> Vec<String> {
    calls.lock().unwrap().iter().filter(|c| c["alarm"] == alarm).map(|c| text(&c["state"])).collect()
}

async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "still waiting after 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The alarm's status, as an operator reads it (alarms count every tenant's data).
async fn alarm(app: &TestApp, op: &str, name: &str) -> Value {
    let res = app.get_as(op, "/v1/alarms").await;
    assert_eq!(res.status(), 200);
    let all: Value = res.json().await.unwrap();
    all["items"].as_array().unwrap().iter().find(|a| a["name"] == name).cloned().expect("the rule is listed")
}

/// A message no consumer can decode, as a broken producer would send: it is
/// dead-lettered at once.
async fn send_poison(app: &TestApp) {
    let queue = roster_app::Adapters::open(&app.settings).await.unwrap().queue;
    let poison = roster_queue::OutgoingMessage {
        id: "poison-1".into(),
        group_id: "g".into(),
        tenant: app.tenant_id.to_string(),
        body: b"{\"not\": \"a change\"}".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
}

/// `roster alarms ls` as a user runs it (off the runtime's thread: the
/// server it asks runs on that thread).
async fn alarms_ls(app: &TestApp, op: &str, json: bool) -> String {
    let mut args = vec!["alarms".to_owned(), "ls".into(), "--server".into(), app.base.clone()];
    args.extend(["--key".to_owned(), op.to_owned()]);
    if json {
        args.push("--json".into());
    }
    let out =
        tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap()).await.unwrap();
    assert!(out.status.success(), "roster alarms ls: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_dead_letter_raises_the_dlq_alarm_once_and_a_purge_clears_it() {
    let (hook_url, calls) = webhook_listener().await;
    let mut sns = match std::env::var("ROSTER_TEST_SQS_ENDPOINT") {
        Ok(endpoint) => Some(SnsSink::create(&endpoint).await),
        Err(_) => {
            assert!(
                std::env::var_os("ROSTER_REQUIRE_SQS").is_none(),
                "ROSTER_REQUIRE_SQS without an endpoint"
            );
            eprintln!("ROSTER_TEST_SQS_ENDPOINT not set: the SNS half of this test is skipped");
            None
        }
    };
    let sns_config: Vec<SnsConfig> = sns
        .iter()
        .map(|s| SnsConfig {
            topic_arn: s.topic_arn.clone(),
            endpoint_url: Some(s.endpoint.clone()),
            region: Some("us-east-1".into()),
        })
        .collect();
    let app = spawn_app_with(|s| {
        s.alarm_interval_secs = 1;
        s.notifiers.webhook = vec![WebhookConfig { url: Secret::new(hook_url), secret: None }];
        s.notifiers.sns = sns_config;
    })
    .await;
    let op = app.operator_key("ops").await;

    wait_until("the DLQ alarm to start OK", async || alarm(&app, &op, "dlq_depth").await["state"] == "OK")
        .await;
    assert!(states_of(&calls, "dlq_depth").is_empty(), "INSUFFICIENT_DATA -> OK at start is not notified");

    send_poison(&app).await;
    wait_until("the DLQ alarm", async || alarm(&app, &op, "dlq_depth").await["state"] == "ALARM").await;
    let status = alarm(&app, &op, "dlq_depth").await;
    assert_eq!(status["reason"], "dlq_depth = 1 > 0");
    assert_eq!((status["metric"].as_str(), status["comparison"].as_str()), (Some("dlq_depth"), Some(">")));
    wait_until("the webhook call", async || !states_of(&calls, "dlq_depth").is_empty()).await;
    let call = calls.lock().unwrap().iter().find(|c| c["alarm"] == "dlq_depth").cloned().unwrap();
    assert_eq!(call["text"], ":rotating_light: ALARM dlq_depth: dlq_depth = 1 > 0");
    assert_eq!(call["previousState"], "OK");

    let table = alarms_ls(&app, &op, false).await;
    let line = table.lines().find(|l| l.starts_with("dlq_depth ")).expect("a dlq_depth row");
    assert!(line.contains("ALARM") && line.contains("dlq_depth = 1 > 0"), "{table}");
    let listed: Value = serde_json::from_str(&alarms_ls(&app, &op, true).await).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|a| a["name"] == "dlq_depth" && a["state"] == "ALARM"));

    // A few more evaluations while the DLQ stays full: no repeat.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(states_of(&calls, "dlq_depth"), ["ALARM"], "exactly one webhook call");

    let res = app.http.delete(app.url("/v1/dlq")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["purged"], 1);
    wait_until("the DLQ alarm to clear", async || alarm(&app, &op, "dlq_depth").await["state"] == "OK").await;
    wait_until("the OK webhook call", async || states_of(&calls, "dlq_depth").len() == 2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(states_of(&calls, "dlq_depth"), ["ALARM", "OK"], "exactly one more webhook call");
    assert_eq!(alarm(&app, &op, "dlq_depth").await["reason"], "dlq_depth = 0, not > 0");

    if let Some(sns) = sns.as_mut() {
        let dlq = |seen: &[(String, String)]| {
            seen.iter().filter(|(a, _)| a == "dlq_depth").map(|(_, s)| s.clone()).collect::<Vec<_>>()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = sns.poll().await;
        while dlq(&seen).len() < 2 && Instant::now() < deadline {
            seen = sns.poll().await;
        }
        // One more read: nothing else may arrive for the DLQ alarm.
        let seen = sns.poll().await;
        assert_eq!(dlq(&seen), ["ALARM", "OK"], "one SNS message per transition: {seen:?}");
    }
}

/// The value of the sample of `name` whose labels include all of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let (series, value) = rest.rsplit_once(' ')?;
        labels.iter().all(|l| series.contains(l)).then(|| value.parse().ok())?
    })
}

#[tokio::test]
async fn metrics_reflect_a_pushed_feed_and_the_dlq() {
    let app = spawn_app_with(|s| {
        s.alarm_interval_secs = 1;
        s.metrics_token = Some(Secret::new(METRICS_TOKEN));
    })
    .await;
    let res = app
        .post_feed(&json!({"records": [person("E1", "R&D"), person("E2", "Ops"), {"externalId": "E3", "emails": ["nope"]}]}))
        .await;
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    app.wait_feed(feed["feedId"].as_str().unwrap()).await;

    let tenant = format!("tenant=\"{}\"", app.tenant_id);
    // The feed is complete once the apply commits; the consumer counts its
    // deletes just after: read until they are in (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let res = app.http.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200, "Prometheus with the metrics token");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let m = res.text().await.unwrap();
        if sample(&m, "roster_messages_deleted_total", &[&tenant]).is_some() || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let json = "format=\"json\"";
    assert_eq!(sample(&m, "roster_records_received_total", &[&tenant, json]), Some(3.0), "{m}");
    assert_eq!(sample(&m, "roster_records_accepted_total", &[&tenant, json]), Some(2.0));
    assert_eq!(sample(&m, "roster_records_rejected_total", &[&tenant, json]), Some(1.0));
    assert_eq!(sample(&m, "roster_messages_sent_total", &[&tenant]), Some(2.0));
    assert_eq!(sample(&m, "roster_messages_deleted_total", &[&tenant]), Some(2.0));
    assert!(sample(&m, "roster_ingest_to_apply_seconds_count", &[]).unwrap() >= 2.0);
    assert!(sample(&m, "roster_apply_duration_seconds_bucket", &["le=\"+Inf\""]).unwrap() >= 1.0);
    assert_eq!(sample(&m, "roster_feeds", &["status=\"completed_with_errors\""]), Some(1.0));
    assert_eq!(sample(&m, "roster_feeds", &["status=\"halted\""]), Some(0.0));
    assert_eq!(sample(&m, "roster_queue_dlq_messages", &[]), Some(0.0));
    assert_eq!(sample(&m, "roster_queue_visible_messages", &[]), Some(0.0));
    assert!(m.contains("# TYPE roster_records_received_total counter"));
    assert!(m.contains("# TYPE roster_apply_duration_seconds histogram"));
    assert!(!m.contains("acme"), "tenant names never appear in labels");

    send_poison(&app).await;
    let mut last = String::new();
    wait_until("the DLQ gauge and the alarm state", async || {
        let res = app.http.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        last = res.text().await.unwrap();
        sample(&last, "roster_queue_dlq_messages", &[]) == Some(1.0)
            && sample(&last, "roster_alarm_state", &["alarm=\"dlq_depth\"", "state=\"ALARM\""]) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&last, "roster_alarm_state", &["alarm=\"dlq_depth\"", "state=\"OK\""]), Some(0.0));
    assert_eq!(sample(&last, "roster_messages_dead_lettered_total", &[&tenant]), Some(1.0));
}

#[tokio::test]
async fn metrics_need_the_metrics_token_or_an_operator_key() {
    let app = spawn_app_with(|s| s.metrics_token = Some(Secret::new(METRICS_TOKEN))).await;
    let scrape = |token: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.http.get(app.url("/metrics"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send().await.unwrap()
        }
    };
    let res = scrape(None).await;
    assert_eq!(res.status(), 401, "no credential, no metrics");
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("metrics token"), "{problem}");
    assert_eq!(scrape(Some("not-the-token-0123456".into())).await.status(), 401, "a wrong token");
    assert_eq!(scrape(Some(app.key.clone())).await.status(), 401, "a tenant's admin key is not enough");
    let res = scrape(Some(METRICS_TOKEN.into())).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("# TYPE"));
    let op = app.operator_key("ops").await;
    assert_eq!(scrape(Some(op)).await.status(), 200, "an operator key works too");

    // Without a configured token, only operator keys scrape.
    let bare = spawn_app().await;
    let res = bare.http.get(bare.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let op = bare.operator_key("ops").await;
    assert_eq!(bare.get_as(&op, "/metrics").await.status(), 200);
}

#[tokio::test]
async fn the_alarms_api_is_for_operators_only() {
    let app = spawn_app().await;
    assert_eq!(app.http.get(app.url("/v1/alarms")).send().await.unwrap().status(), 401);
    // Alarms count every tenant's dead letters and halted feeds: a tenant's
    // admin key is refused, and so is `roster alarms ls` with it.
    let res = app.get("/v1/alarms").await;
    assert_eq!(res.status(), 403);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("operator"), "{problem}");
    let args = ["alarms", "ls", "--server", &app.base, "--key", &app.key].map(str::to_owned);
    let out =
        tokio::task::spawn_blocking(move || Command::new(BIN).args(args).output().unwrap()).await.unwrap();
    assert!(!out.status.success(), "roster alarms ls with a tenant key fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    let op = app.operator_key("ops").await;
    let all: Value = app.get_as(&op, "/v1/alarms").await.json().await.unwrap();
    let names: Vec<&str> =
        all["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["dlq_depth", "oldest_message_age_seconds", "failure_rate", "halted_feeds", "event_dead_letters"]
    );
}

fn create_tenant(data_dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["tenants", "create", "acme"])
        .env("ROSTER_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_request_id_follows_its_record_from_ingest_to_apply_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--log-level", "info,roster_engine::consumer=debug"])
        .env("ROSTER_DATA_DIR", dir.path())
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "roster serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/integrations/hr-feed"))
        .bearer_auth(&key)
        .header("x-request-id", "trace-me-7f3a")
        .json(&json!({"records": [person("E1", "R&D")]}))
        .send()
        .await
        .unwrap();
    // The server's id names the request; the client's rides beside it.
    let server_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(server_id, "trace-me-7f3a");
    let public_id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    // Logs carry the stored id, without the `feed_` the API shows.
    let feed_id = public_id.strip_prefix("feed_").expect("a feed id").to_owned();
    let logs = loop {
        let logs = std::fs::read_to_string(&log_path).unwrap();
        if logs.lines().any(|l| l.contains("change applied")) {
            break logs;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(10), "no apply log line: {logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();

    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let with_feed: Vec<&Value> = lines.iter().filter(|l| l.to_string().contains(&feed_id)).collect();
    let messages: Vec<&str> = with_feed.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(messages.contains(&"feed accepted"), "{logs}");
    assert!(messages.contains(&"change applied"), "{logs}");
    for line in &with_feed {
        assert!(
            line.to_string().contains(&server_id),
            "a line of the record's path without its request id: {line}"
        );
    }
    // The request's own lines carry its tenant and feed once they are known.
    let finished = lines
        .iter()
        .find(|l| {
            l["span"]["request_id"] == server_id.as_str()
                && l["span"]["client_request_id"] == "trace-me-7f3a"
                && l["message"].as_str().is_some_and(|m| m.contains("finished processing request"))
        })
        .unwrap_or_else(|| panic!("no response line for the request: {logs}"));
    assert_eq!(finished["span"]["feed_id"], feed_id.as_str(), "{finished}");
    assert!(finished["span"]["tenant"].as_str().is_some_and(|t| t.len() >= 32), "{finished}");
    let applied = with_feed.iter().find(|l| l["message"] == "change applied").unwrap();
    assert_eq!(applied["span"]["request_id"], server_id.as_str());
    assert_eq!(applied["span"]["feed_id"], feed_id.as_str());
    assert!(!logs.contains("GivenE1") && !logs.contains("e1@example.com"), "no personal data in the logs");
}

/// A change whose feed the directory does not know is dead-lettered at once;
/// once the feed exists (the cause repaired), a redrive applies it. The DLQ
/// alarm goes to ALARM on the dead letter and back to OK on the redrive, and
/// the webhook hears both, once each.
#[tokio::test]
async fn a_redrive_that_empties_the_dlq_returns_the_alarm_to_ok() {
    use roster_core::{Change, ChangeMessage, FeedId, FeedMode, MessageId, SourceName};
    let (hook_url, calls) = webhook_listener().await;
    let app = spawn_app_with(|s| {
        s.alarm_interval_secs = 1;
        s.notifiers.webhook = vec![WebhookConfig { url: Secret::new(hook_url), secret: None }];
    })
    .await;
    let op = app.operator_key("ops").await;
    wait_until("the DLQ alarm to start OK", async || alarm(&app, &op, "dlq_depth").await["state"] == "OK")
        .await;

    let adapters = roster_app::Adapters::open(&app.settings).await.unwrap();
    let feed_id = FeedId::new();
    let now = adapters.clock.now();
    let change = ChangeMessage {
        message_id: MessageId::new(),
        tenant_id: app.tenant_id,
        feed_id,
        source: SourceName::default(),
        index: 0,
        accepted_at: now,
        last_modified: None,
        change: Change::Upsert {
            person: {
                let mut record = person("E9", "R&D");
                record["active"] = true.into();
                serde_json::from_value(record).unwrap()
            },
        },
        request_id: None,
        probe: false,
    };
    let message = roster_queue::OutgoingMessage {
        id: change.message_id.to_string(),
        group_id: change.group_id(),
        tenant: app.tenant_id.to_string(),
        body: change.to_bytes(),
        delay: Duration::ZERO,
    };
    adapters.queue.send_batch(vec![message]).await.unwrap();
    wait_until("the DLQ alarm", async || alarm(&app, &op, "dlq_depth").await["state"] == "ALARM").await;
    wait_until("the ALARM webhook call", async || states_of(&calls, "dlq_depth") == ["ALARM"]).await;

    // Repair the cause, then redrive as an operator of the tenant would.
    adapters
        .directory
        .create_feed(roster_store::NewFeed {
            id: feed_id,
            tenant_id: app.tenant_id,
            source: SourceName::default(),
            mode: FeedMode::Delta,
            format: "json".into(),
            sealed: true,
            received: 1,
            accepted: 1,
            rejections: Vec::new(),
            created_at: now,
        })
        .await
        .unwrap();
    let res = app.http.post(app.url("/v1/dlq/redrive")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["redriven"], 1);

    wait_until("the redriven change to apply", async || {
        app.get_as(&app.key, "/v1/people/E9").await.status() == 200
    })
    .await;
    wait_until("the DLQ alarm to clear", async || alarm(&app, &op, "dlq_depth").await["state"] == "OK").await;
    wait_until("the OK webhook call", async || states_of(&calls, "dlq_depth").len() == 2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(states_of(&calls, "dlq_depth"), ["ALARM", "OK"], "one call per transition");
    let feed: Value = app.get_as(&app.key, &format!("/v1/feeds/{feed_id}")).await.json().await.unwrap();
    assert_eq!(feed["status"], "completed", "{feed}");
}
