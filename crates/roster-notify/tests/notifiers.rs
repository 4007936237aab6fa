//! The notifiers against the real thing: a webhook listener started here, SNS
//! on moto (read back through an SQS subscription), SMTP into an aiosmtpd
//! sink.
//!
//! `scripts/test` starts moto (`ROSTER_TEST_SQS_ENDPOINT`) and points
//! `ROSTER_TEST_PYTHON` at a virtualenv holding aiosmtpd. Without them the SNS
//! and SMTP tests say so and pass, unless `ROSTER_REQUIRE_SQS` is set.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use roster_core::Timestamp;
use roster_core::alarm::{Alarm, Transition, default_rules};
use roster_core::secret::Secret;
use roster_notify::{
    LogNotifier, Notifier, NotifyError, SmtpConfig, SmtpNotifier, SmtpTls, SnsNotifier, WebhookNotifier,
};
use serde_json::Value;
use sha2::Sha256;

/// What the DLQ alarm says when three dead letters appear.
fn dlq_alarm() -> Transition {
    let rule = default_rules().into_iter().find(|r| r.name == "dlq_depth").unwrap();
    let start = Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").unwrap();
    let mut alarm = Alarm::new(rule, start).unwrap();
    alarm.observe(Some(0.0), start.plus_millis(60_000)).unwrap();
    alarm.observe(Some(3.0), start.plus_millis(120_000)).unwrap()
}

fn required() -> bool {
    std::env::var_os("ROSTER_REQUIRE_SQS").is_some()
}

// --- webhook -------------------------------------------------------------

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A listener on a free port that records each request and answers `status`.
async fn webhook_listener(status: StatusCode) -> (SocketAddr, Received) {
    let received: Received = Arc::default();
    let app =
        Router::new()
            .route(
                "/hook",
                post(
                    |State((seen, status)): State<(Received, StatusCode)>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        seen.lock().unwrap().push((headers, body));
                        status
                    },
                ),
            )
            .with_state((received.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

#[tokio::test]
async fn webhook_posts_a_slack_compatible_signed_body() {
    let (addr, received) = webhook_listener(StatusCode::OK).await;
    let secret = "whsec-test";
    let n = WebhookNotifier::new(&format!("http://{addr}/hook"), Some(Secret::new(secret))).unwrap();

    n.notify(&dlq_alarm()).await.unwrap();

    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "exactly one call");
    let (headers, body) = &requests[0];
    assert_eq!(headers["content-type"], "application/json");
    let json: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["text"], ":rotating_light: ALARM dlq_depth: dlq_depth = 3 > 0");
    assert_eq!(json["alarm"], "dlq_depth");
    assert_eq!(json["state"], "ALARM");
    assert_eq!(json["previousState"], "OK");
    assert_eq!(json["reason"], "dlq_depth = 3 > 0");
    assert_eq!(json["value"], 3.0);
    assert_eq!(json["at"], "2026-03-01T10:02:00.000Z");

    // The receiver's check, written independently of the notifier's code.
    let timestamp = headers["x-roster-timestamp"].to_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(timestamp.parse::<u64>().unwrap().abs_diff(now) < 300, "a current timestamp");
    let signature = headers["x-roster-signature"].to_str().unwrap();
    let hex_mac = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(hex_mac).unwrap()).expect("a valid signature");
}

#[tokio::test]
async fn webhook_without_secret_is_unsigned_and_a_500_is_an_error() {
    let (addr, received) = webhook_listener(StatusCode::INTERNAL_SERVER_ERROR).await;
    let n = WebhookNotifier::new(&format!("http://{addr}/hook"), None).unwrap();

    let err = n.notify(&dlq_alarm()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("500"), "{err}");
    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].0.contains_key("x-roster-signature"));
}

#[tokio::test]
async fn webhook_unreachable_is_an_error_that_hides_the_path() {
    // A port nothing listens on: bound, then released.
    let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let n = WebhookNotifier::new(&format!("http://127.0.0.1:{port}/services/T0/B0/TOKEN"), None).unwrap();
    let err = n.notify(&dlq_alarm()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("TOKEN"), "{err}");
}

#[tokio::test]
async fn log_notifier_always_succeeds() {
    assert_eq!(LogNotifier.name(), "log");
    LogNotifier.notify(&dlq_alarm()).await.unwrap();
}

// --- SNS on moto -----------------------------------------------------------

#[tokio::test]
async fn sns_publishes_to_a_topic_read_back_through_an_sqs_subscription() {
    let Ok(endpoint) = std::env::var("ROSTER_TEST_SQS_ENDPOINT") else {
        assert!(!required(), "ROSTER_REQUIRE_SQS is set but ROSTER_TEST_SQS_ENDPOINT is not");
        eprintln!("ROSTER_TEST_SQS_ENDPOINT not set: SNS notifier test not run (scripts/test runs it)");
        return;
    };
    let sns = SnsNotifier::emulator_client(&endpoint);
    let sqs = roster_queue::SqsQueue::emulator_client(&endpoint);
    let name = format!("roster-alarms-{}", uuid_like());

    let topic_arn =
        sns.create_topic().name(&name).send().await.unwrap().topic_arn().expect("a topic ARN").to_owned();
    let queue_url =
        sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url().unwrap().to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .expect("the queue's ARN");
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();

    SnsNotifier::new(sns.clone(), &topic_arn).notify(&dlq_alarm()).await.unwrap();

    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(5)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "one SNS message delivered");
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(envelope["Subject"], "[Roster] ALARM dlq_depth");
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["alarm"], "dlq_depth");
    assert_eq!(message["state"], "ALARM");
    assert_eq!(message["text"], ":rotating_light: ALARM dlq_depth: dlq_depth = 3 > 0");
}

#[tokio::test]
async fn sns_to_a_missing_topic_is_an_error() {
    let Ok(endpoint) = std::env::var("ROSTER_TEST_SQS_ENDPOINT") else {
        return; // reported by the test above
    };
    let sns = SnsNotifier::emulator_client(&endpoint);
    let n = SnsNotifier::new(sns, "arn:aws:sns:us-east-1:123456789012:roster-no-such-topic");
    assert!(n.notify(&dlq_alarm()).await.is_err());
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

// --- SMTP into aiosmtpd ----------------------------------------------------

/// Kills the SMTP sink when the test ends, passed or not.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `python -m aiosmtpd` storing mail in a Maildir; waits until it listens.
fn smtp_sink(python: &str, maildir: &Path) -> (KillOnDrop, u16) {
    let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting aiosmtpd");
    let mut guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("aiosmtpd exited with {status}");
        }
        assert!(Instant::now() < deadline, "aiosmtpd did not listen within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (guard, port)
}

fn delivered_mail(maildir: &Path) -> Vec<String> {
    let new: PathBuf = maildir.join("new");
    let Ok(entries) = std::fs::read_dir(new) else { return Vec::new() };
    entries.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect()
}

#[tokio::test]
async fn smtp_sends_a_plain_text_mail_to_a_local_sink() {
    let Ok(python) = std::env::var("ROSTER_TEST_PYTHON") else {
        assert!(!required(), "ROSTER_REQUIRE_SQS is set but ROSTER_TEST_PYTHON is not");
        eprintln!("ROSTER_TEST_PYTHON not set: SMTP notifier test not run (scripts/test runs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (_sink, port) = smtp_sink(&python, &maildir);

    let n = SmtpNotifier::new(SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        from: "Roster <roster@example.com>".into(),
        to: vec!["ops@example.com".into(), "oncall@example.com".into()],
        username: None,
        password: None,
    })
    .unwrap();
    n.notify(&dlq_alarm()).await.unwrap();

    // The sink writes the Maildir file before it acknowledges the DATA.
    let mails = delivered_mail(&maildir);
    assert_eq!(mails.len(), 1, "one message for both recipients");
    // A leading newline so every header, the first one too, matches as "\nName: ".
    let mail = format!("\n{}", mails[0].replace("\r\n", "\n"));
    assert!(mail.contains("\nSubject: [Roster] ALARM dlq_depth\n"), "{mail}");
    assert!(mail.contains("\nTo: ops@example.com, oncall@example.com\n"), "{mail}");
    assert!(mail.contains("\nFrom: Roster <roster@example.com>\n"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Alarm dlq_depth changed from OK to ALARM."), "{mail}");
    assert!(mail.contains("Reason: dlq_depth = 3 > 0"), "{mail}");
}

#[tokio::test]
async fn smtp_with_no_server_is_an_error() {
    let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let n = SmtpNotifier::new(SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        from: "roster@example.com".into(),
        to: vec!["ops@example.com".into()],
        username: None,
        password: None,
    })
    .unwrap();
    assert!(matches!(n.notify(&dlq_alarm()).await, Err(NotifyError::Unavailable(_))));
}
