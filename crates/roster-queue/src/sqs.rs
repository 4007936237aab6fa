//! Amazon SQS adapter: a FIFO queue (ordering per `MessageGroupId`,
//! deduplication per `MessageDeduplicationId`) with a FIFO dead-letter queue
//! attached by a redrive policy.
//!
//! Where SQS differs from the port's promises, this adapter says so:
//! - `send_batch` goes out in `SendMessageBatch` calls of 10, up to
//!   [`IN_FLIGHT`] at once; failed entries are retried, but a batch of more
//!   than 10 cannot be atomic. Concurrent calls keep FIFO order because a
//!   batch never holds two messages of one group (a person appears once per
//!   feed; its group is the person's).
//! - `receive` asks for more than 10 by one long poll and, when that comes
//!   back full, short polls alongside each other for the rest: a queue with
//!   a backlog fills a consumer's whole batch, and a nearly empty one
//!   answers as soon as the first message is there.
//! - SQS keeps no error text or receive history on a message: a message the
//!   consumer dead-letters carries its reason and counts as attributes; one
//!   moved by the redrive policy only says "exceeded maxReceiveCount".
//! - Dead letters are read by receiving them from the DLQ (as the AWS console
//!   does) and releasing them again; a DLQ message behind another of the same
//!   group is seen once the first is redriven or purged.
//! - `ApproximateAgeOfOldestMessage` is a CloudWatch metric, not a queue
//!   attribute: `stats().oldest_age` is `None` here.
//! - FIFO queues have no per-message delay: a non-zero `delay` is refused.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use futures_util::{StreamExt, TryStreamExt, stream};
use roster_core::Timestamp;

use crate::{
    DeadLetter, DeadLetterFilter, OutgoingMessage, Queue, QueueError, QueueStats, ReceiptHandle,
    ReceiveRequest, ReceivedMessage, Redrive, SendOutcome,
};

/// Our message id; SQS assigns its own `MessageId`.
const ATTR_ID: &str = "roster-id";
const ATTR_TENANT: &str = "roster-tenant";
const ATTR_REASON: &str = "roster-reason";
const ATTR_RECEIVES: &str = "roster-receive-count";
const ATTR_SENT: &str = "roster-sent-at";
const ATTR_FIRST: &str = "roster-first-received-at";
const ATTR_LAST: &str = "roster-last-received-at";
const ATTR_DEAD: &str = "roster-dead-lettered-at";

/// Attempts of the failed entries of a `SendMessageBatch`.
const SEND_ATTEMPTS: u32 = 4;

/// Most SQS calls one `send_batch`, `receive` or `delete_batch` has in
/// flight at once: enough to hide a call's round trip (tens of ms) behind
/// the others, few enough to stay far from SQS's per-queue quotas.
pub const IN_FLIGHT: usize = 8;
/// How long dead letters stay hidden while a DLQ operation looks at them.
const DLQ_PEEK: i32 = 30;

#[derive(Debug, Clone)]
pub struct SqsConfig {
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// A local endpoint (an emulator); `None` for AWS itself.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

fn unavailable<E: ProvideErrorMetadata + std::fmt::Debug>(e: aws_sdk_sqs::error::SdkError<E>) -> QueueError {
    let detail =
        e.as_service_error().and_then(|s| s.code().map(str::to_owned)).unwrap_or_else(|| format!("{e:?}"));
    QueueError::Unavailable(format!("SQS: {detail}"))
}

/// rustls with ring: no C toolchain beyond `cc` needed, quick to build.
/// The AWS configuration chain's settings (environment, ECS task role,
/// Lambda role...) over the workspace's one TLS stack, with an endpoint
/// override (a VPC endpoint, an emulator): for SQS and the other AWS
/// clients the composition root makes.
pub async fn sdk_config(endpoint_url: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}

fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

fn string_attr(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("type and value are set")
}

fn now_ms() -> i64 {
    use roster_core::Clock;
    roster_core::SystemClock.now().millis()
}

impl SqsQueue {
    /// A client from the default AWS configuration chain (environment, ECS
    /// task role, Lambda role...), pointed at the given queues.
    pub async fn connect(config: SqsConfig) -> Self {
        let client = Self::client(config.endpoint_url.as_deref(), config.region.as_deref()).await;
        Self::with_client(client, config.queue_url, config.dead_letter_queue_url)
    }

    pub fn with_client(client: Client, queue_url: String, dlq_url: String) -> Self {
        Self { client, queue_url, dlq_url }
    }

    pub async fn client(endpoint_url: Option<&str>, region: Option<&str>) -> Client {
        Client::new(&sdk_config(endpoint_url, region).await)
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dead_letter_queue_url(&self) -> &str {
        &self.dlq_url
    }

    /// A client of a local SQS emulator (such as moto's server), which takes
    /// any credentials.
    pub fn emulator_client(endpoint_url: &str) -> Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .http_client(https_client())
            .endpoint_url(endpoint_url)
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "emulator", "emulator", None, None, "emulator",
            ))
            .build();
        Client::from_conf(config)
    }

    /// Creates a FIFO queue `NAME.fifo` with a FIFO dead-letter queue
    /// `NAME-dlq.fifo` and a redrive policy (for tests and first set-up;
    /// Terraform owns them in production).
    pub async fn create(client: Client, name: &str, max_receive_count: u32) -> Result<Self, QueueError> {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(unavailable)?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(unavailable)?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let policy =
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#);
        let main = client
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(Self::with_client(client, main.queue_url().unwrap_or_default().to_owned(), dlq_url))
    }

    async fn send_entries(
        &self,
        url: &str,
        mut entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), QueueError> {
        for attempt in 1..=SEND_ATTEMPTS {
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(unavailable)?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            if out.failed().iter().any(|f| f.sender_fault()) {
                let code = out.failed()[0].code().to_owned();
                return Err(QueueError::Invalid(format!("SQS refused a message: {code}")));
            }
            entries.retain(|e| failed.contains(&e.id()));
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        Err(QueueError::Unavailable(format!("SQS kept failing {} entries", entries.len())))
    }

    /// Receives up to 10 dead letters, hiding them while they are looked at.
    async fn peek_dead_letters(&self) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(DLQ_PEEK)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.messages().to_vec())
    }

    /// Every dead letter visible now (hidden for a while as a side effect).
    async fn drain_dead_letters(&self) -> Result<Vec<Message>, QueueError> {
        let mut all = Vec::new();
        loop {
            let batch = self.peek_dead_letters().await?;
            if batch.is_empty() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    async fn release(&self, url: &str, msgs: &[Message]) {
        for m in msgs {
            if let Some(r) = m.receipt_handle() {
                let _ = self
                    .client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(r)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
    }

    async fn delete_from(&self, url: &str, receipts: Vec<String>) -> Result<(), QueueError> {
        let batches: Vec<Vec<DeleteMessageBatchRequestEntry>> = receipts
            .chunks(10)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(r)
                            .build()
                            .expect("id and handle set")
                    })
                    .collect()
            })
            .collect();
        // Failed entries are stale receipts: the message comes back and
        // applying it again changes nothing.
        let calls = batches.into_iter().map(|entries| {
            self.client.delete_message_batch().queue_url(url).set_entries(Some(entries)).send()
        });
        stream::iter(calls).buffer_unordered(IN_FLIGHT).map_err(unavailable).try_collect::<Vec<_>>().await?;
        Ok(())
    }

    /// One `ReceiveMessage` call of at most 10, long-polling `wait` seconds.
    async fn receive_up_to_10(
        &self,
        req: &ReceiveRequest,
        max: usize,
        wait: i32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(req.visibility_timeout.as_secs().min(43_200) as i32)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable)?;
        let now = now_ms();
        Ok(out.messages().iter().map(|m| received(m, now)).collect())
    }
}

/// A message as the port hands it to the consumer.
fn received(m: &Message, now: i64) -> ReceivedMessage {
    received_message(
        WireMessage {
            message_id: m.message_id().unwrap_or_default(),
            receipt_handle: m.receipt_handle().unwrap_or_default(),
            body: m.body().unwrap_or_default(),
        },
        |name| m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::from(name))).cloned(),
        |name| attr(m, name).map(str::to_owned),
        now,
    )
}

/// An SQS message as any reader holds it: this adapter's receive, or a
/// record of the event SQS hands a Lambda function.
pub struct WireMessage<'a> {
    pub message_id: &'a str,
    pub receipt_handle: &'a str,
    pub body: &'a str,
}

/// The one mapping of an SQS message to the port's [`ReceivedMessage`]:
/// `system` looks up a system attribute by its SQS name
/// (`MessageGroupId`, `ApproximateReceiveCount`, `SentTimestamp`,
/// `ApproximateFirstReceiveTimestamp`), `attribute` a message attribute's
/// string value, so callers need not know Roster's attribute names.
pub fn received_message(
    wire: WireMessage<'_>,
    system: impl Fn(&str) -> Option<String>,
    attribute: impl Fn(&str) -> Option<String>,
    now: i64,
) -> ReceivedMessage {
    let ms = |name: &str| system(name).and_then(|v| v.parse::<i64>().ok());
    ReceivedMessage {
        id: attribute(ATTR_ID).unwrap_or_else(|| wire.message_id.to_owned()),
        group_id: system("MessageGroupId").unwrap_or_default(),
        tenant: attribute(ATTR_TENANT).unwrap_or_default(),
        body: wire.body.as_bytes().to_vec(),
        receipt: ReceiptHandle(wire.receipt_handle.to_owned()),
        receive_count: system("ApproximateReceiveCount").and_then(|v| v.parse().ok()).unwrap_or(1),
        sent_at: Timestamp(
            attribute(ATTR_SENT).and_then(|v| v.parse().ok()).or_else(|| ms("SentTimestamp")).unwrap_or(now),
        ),
        first_received_at: Timestamp(ms("ApproximateFirstReceiveTimestamp").unwrap_or(now)),
    }
}

fn attr<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value())
}

fn sys_attr(m: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    m.attributes().and_then(|a| a.get(&name)).map(String::as_str)
}

fn sys_ms(m: &Message, name: MessageSystemAttributeName) -> Option<i64> {
    sys_attr(m, name).and_then(|v| v.parse().ok())
}

fn our_id(m: &Message) -> String {
    attr(m, ATTR_ID).map(str::to_owned).unwrap_or_else(|| m.message_id().unwrap_or_default().to_owned())
}

fn dead_letter_of(m: &Message) -> DeadLetter {
    let num = |name: &str| attr(m, name).and_then(|v| v.parse::<i64>().ok());
    let receives = num(ATTR_RECEIVES).map(|n| n as u32);
    DeadLetter {
        id: our_id(m),
        group_id: sys_attr(m, MessageSystemAttributeName::MessageGroupId).unwrap_or_default().to_owned(),
        tenant: attr(m, ATTR_TENANT).unwrap_or_default().to_owned(),
        body: m.body().unwrap_or_default().as_bytes().to_vec(),
        // Moved by the redrive policy: its receive count in the source queue
        // is not carried over; the DLQ's own count is one less than ours.
        receive_count: receives.unwrap_or_else(|| {
            sys_attr(m, MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(1)
                .saturating_sub(1)
        }),
        sent_at: Timestamp(
            num(ATTR_SENT).or_else(|| sys_ms(m, MessageSystemAttributeName::SentTimestamp)).unwrap_or(0),
        ),
        first_received_at: num(ATTR_FIRST).map(Timestamp),
        last_received_at: num(ATTR_LAST).map(Timestamp),
        dead_lettered_at: Timestamp(
            num(ATTR_DEAD).or_else(|| sys_ms(m, MessageSystemAttributeName::SentTimestamp)).unwrap_or(0),
        ),
        reason: attr(m, ATTR_REASON)
            .unwrap_or("exceeded maxReceiveCount (moved by the redrive policy)")
            .to_owned(),
    }
}

/// A send entry carrying `id`, `tenant` and extra attributes.
fn entry(
    index: usize,
    id: &str,
    dedup: &str,
    group: &str,
    tenant: &str,
    body: String,
    extra: &[(&str, String)],
) -> SendMessageBatchRequestEntry {
    let mut b = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(body)
        .message_group_id(group)
        .message_deduplication_id(dedup)
        .message_attributes(ATTR_ID, string_attr(id))
        .message_attributes(ATTR_TENANT, string_attr(tenant));
    for (k, v) in extra {
        b = b.message_attributes(*k, string_attr(v));
    }
    b.build().expect("id and body are set")
}

/// The `SendMessageBatch` entry `send_batch` makes of `m`, `index` (0–9)
/// within its call, sent at `sent_at` (ms): public so `roster bench` can
/// time SQS itself on exactly the adapter's messages.
pub fn send_entry(
    index: usize,
    m: &OutgoingMessage,
    sent_at: i64,
) -> Result<SendMessageBatchRequestEntry, QueueError> {
    if m.id.is_empty() || m.group_id.is_empty() || m.group_id.len() > crate::MAX_GROUP_ID_LEN {
        return Err(QueueError::Invalid(
            "message ids and group ids must be non-empty, group ids at most 128 characters".into(),
        ));
    }
    if !m.delay.is_zero() {
        return Err(QueueError::Invalid("SQS FIFO queues have no per-message delay".into()));
    }
    let body = String::from_utf8(m.body.clone())
        .map_err(|_| QueueError::Invalid("SQS message bodies must be UTF-8".into()))?;
    Ok(entry(
        index,
        &m.id,
        &dedup_id(&m.id, ""),
        &m.group_id,
        &m.tenant,
        body,
        &[(ATTR_SENT, sent_at.to_string())],
    ))
}

/// SQS dedup ids allow 128 characters of `[A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]`.
fn dedup_id(id: &str, suffix: &str) -> String {
    let mut s: String = id.chars().filter(|c| c.is_ascii_graphic()).take(100).collect();
    s.push_str(suffix);
    s
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<SendOutcome, QueueError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| send_entry(i % 10, m, now_ms()))
            .collect::<Result<Vec<_>, _>>()?;
        let sent = entries.len();
        let mut chunks = Vec::with_capacity(entries.len().div_ceil(10));
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            chunks.push(entries.by_ref().take(10).collect::<Vec<_>>());
        }
        // Calls at once only when no group repeats: two messages of one
        // group in different calls could otherwise land out of order.
        let mut groups = std::collections::HashSet::with_capacity(messages.len());
        let in_flight =
            if messages.iter().all(|m| groups.insert(m.group_id.as_str())) { IN_FLIGHT } else { 1 };
        stream::iter(chunks.into_iter().map(|chunk| self.send_entries(&self.queue_url, chunk)))
            .buffered(in_flight)
            .try_collect::<Vec<()>>()
            .await?;
        // SQS drops duplicates silently: they cannot be counted here.
        Ok(SendOutcome { sent, duplicates: 0 })
    }

    async fn receive(&self, req: ReceiveRequest) -> Result<Vec<ReceivedMessage>, QueueError> {
        if req.max_messages == 0 {
            return Ok(Vec::new());
        }
        let wait = req.wait.as_secs_f64().ceil().min(20.0) as i32;
        let mut messages = self.receive_up_to_10(&req, req.max_messages.min(10), wait).await?;
        // A full answer says there is a backlog: fill the rest of the batch
        // by short polls at once (each gets up to 10 of other groups).
        if messages.len() == 10 && req.max_messages > 10 {
            let wanted = req.max_messages - 10;
            let polls = wanted.div_ceil(10).min(IN_FLIGHT);
            let more: Vec<Vec<ReceivedMessage>> =
                stream::iter((0..polls).map(|i| self.receive_up_to_10(&req, (wanted - i * 10).min(10), 0)))
                    .buffer_unordered(IN_FLIGHT)
                    .try_collect()
                    .await?;
            messages.extend(more.into_iter().flatten());
        }
        Ok(messages)
    }

    async fn delete_batch(&self, receipts: &[ReceiptHandle]) -> Result<(), QueueError> {
        self.delete_from(&self.queue_url, receipts.iter().map(|r| r.0.clone()).collect()).await
    }

    async fn change_visibility(
        &self,
        receipt: &ReceiptHandle,
        timeout: Duration,
        _last_error: Option<&str>,
    ) -> Result<(), QueueError> {
        let res = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(timeout.as_secs().min(43_200) as i32)
            .send()
            .await;
        match res {
            // SQS keeps no error text on a message; the consumer puts the
            // last error into the reason when it dead-letters.
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("ReceiptHandleIsInvalid" | "MessageNotInflight" | "InvalidParameterValue")
                ) =>
            {
                Err(QueueError::InvalidReceipt)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn dead_letter(&self, message: &ReceivedMessage, reason: &str) -> Result<(), QueueError> {
        // Proves the receipt is current (and keeps the message hidden) before
        // a copy goes to the DLQ and the original is deleted.
        self.change_visibility(&message.receipt, Duration::from_secs(30), None).await?;
        let now = now_ms();
        let dedup = dedup_id(&message.id, &format!(":d{now}"));
        let body = String::from_utf8_lossy(&message.body).into_owned();
        let extra = [
            (ATTR_REASON, reason.to_owned()),
            (ATTR_RECEIVES, message.receive_count.to_string()),
            (ATTR_SENT, message.sent_at.millis().to_string()),
            (ATTR_FIRST, message.first_received_at.millis().to_string()),
            (ATTR_LAST, now.to_string()),
            (ATTR_DEAD, now.to_string()),
        ];
        let e = entry(0, &message.id, &dedup, &message.group_id, &message.tenant, body, &extra);
        self.send_entries(&self.dlq_url, vec![e]).await?;
        self.delete_from(&self.queue_url, vec![message.receipt.0.clone()]).await
    }

    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, QueueError> {
        let all = self.drain_dead_letters().await?;
        self.release(&self.dlq_url, &all).await;
        let mut out: Vec<DeadLetter> = all
            .iter()
            .map(dead_letter_of)
            .filter(|d| filter.tenant.as_deref().is_none_or(|t| d.tenant == t))
            .filter(|d| filter.after.as_deref().is_none_or(|a| d.id.as_str() > a))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.truncate(filter.limit.clamp(1, 1000));
        Ok(out)
    }

    async fn get_dead_letter(&self, tenant: &str, id: &str) -> Result<Option<DeadLetter>, QueueError> {
        let all = self.drain_dead_letters().await?;
        self.release(&self.dlq_url, &all).await;
        Ok(all.iter().map(dead_letter_of).find(|d| d.id == id && d.tenant == tenant))
    }

    async fn redrive(&self, which: &Redrive) -> Result<u64, QueueError> {
        let mut moved = 0u64;
        let mut keep = Vec::new();
        loop {
            let batch = self.peek_dead_letters().await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let d = dead_letter_of(&m);
                let wanted = match which {
                    Redrive::All { tenant } => tenant.as_deref().is_none_or(|t| d.tenant == t),
                    Redrive::Ids { tenant, ids } => d.tenant == *tenant && ids.contains(&d.id),
                };
                if !wanted {
                    keep.push(m);
                    continue;
                }
                let dedup = dedup_id(&d.id, &format!(":r{}", now_ms()));
                let body = String::from_utf8_lossy(&d.body).into_owned();
                let e = entry(
                    0,
                    &d.id,
                    &dedup,
                    &d.group_id,
                    &d.tenant,
                    body,
                    &[(ATTR_SENT, d.sent_at.millis().to_string())],
                );
                self.send_entries(&self.queue_url, vec![e]).await?;
                self.delete_from(&self.dlq_url, vec![m.receipt_handle().unwrap_or_default().to_owned()])
                    .await?;
                moved += 1;
            }
        }
        self.release(&self.dlq_url, &keep).await;
        Ok(moved)
    }

    async fn purge_dead_letters(&self, tenant: Option<&str>) -> Result<u64, QueueError> {
        let all = self.drain_dead_letters().await?;
        let (gone, keep): (Vec<Message>, Vec<Message>) =
            all.into_iter().partition(|m| tenant.is_none_or(|t| attr(m, ATTR_TENANT) == Some(t)));
        self.delete_from(
            &self.dlq_url,
            gone.iter().filter_map(|m| m.receipt_handle().map(str::to_owned)).collect(),
        )
        .await?;
        self.release(&self.dlq_url, &keep).await;
        Ok(gone.len() as u64)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let attrs = |url: String| {
            self.client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
        };
        let main = attrs(self.queue_url.clone()).await.map_err(unavailable)?;
        let dlq = attrs(self.dlq_url.clone()).await.map_err(unavailable)?;
        let n = |out: &aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput,
                 a: QueueAttributeName| {
            out.attributes().and_then(|m| m.get(&a)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        Ok(QueueStats {
            visible: n(&main, QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: n(&main, QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: n(&main, QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            dead_letters: n(&dlq, QueueAttributeName::ApproximateNumberOfMessages)
                + n(&dlq, QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            oldest_age: None,
        })
    }
}
