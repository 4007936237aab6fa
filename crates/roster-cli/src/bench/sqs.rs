//! `roster bench --queue sqs`: the platform over an SQS FIFO queue, against
//! a raw `SendMessageBatch` loop of the same messages (the adapter's own
//! entries: bodies, group and deduplication ids, attributes) with the same
//! concurrency, in one run. Each measurement gets a queue and dead-letter
//! queue of its own, made for it and deleted after, so every figure starts
//! on an empty queue — unless the user named the queues to use.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use futures_util::{StreamExt, TryStreamExt, stream};
use roster_queue::sqs::{IN_FLIGHT, send_entry};
use roster_queue::{OutgoingMessage, SqsQueue};

use super::generate::PeopleGenerator;

/// Receives before a message is dead-lettered on the bench's queues (the
/// default's): nothing should fail, but a stuck message must end somewhere.
const MAX_RECEIVE_COUNT: u32 = 5;

/// Where the bench's queues come from: made per measurement on the
/// endpoint (or the AWS configuration chain's account), or the pair the
/// user named, used as they are.
pub struct SqsTarget {
    client: Client,
    given: Option<(String, String)>,
    run: String,
}

/// One measurement's queue and dead-letter queue.
pub struct BenchQueues {
    pub queue_url: String,
    pub dlq_url: String,
    /// Made by the bench, so deleted by it.
    owned: bool,
}

impl SqsTarget {
    /// The client is built as the platform under test builds its own (the
    /// configuration chain, the endpoint override), so the raw loop and the
    /// adapter sign and connect alike.
    pub async fn new(
        endpoint: Option<&str>,
        queue_url: Option<&str>,
        dlq_url: Option<&str>,
        run: &str,
    ) -> anyhow::Result<Self> {
        let given = match (queue_url, dlq_url) {
            (Some(q), Some(d)) => Some((q.to_owned(), d.to_owned())),
            (None, None) => None,
            _ => anyhow::bail!("--sqs-queue-url and --sqs-dlq-url go together (or leave both out)"),
        };
        let client = SqsQueue::client(endpoint, None).await;
        Ok(Self { client, given, run: run.to_owned() })
    }

    /// Whether each measurement gets new queues (none were named): the raw
    /// baseline and ingest need that, as each leaves its messages behind.
    pub fn fresh(&self) -> bool {
        self.given.is_none()
    }

    /// New queues `roster-bench-<run>-<what>.fifo` (and `-dlq.fifo`), or
    /// the named ones.
    pub async fn queues(&self, what: &str) -> anyhow::Result<BenchQueues> {
        if let Some((queue_url, dlq_url)) = &self.given {
            return Ok(BenchQueues { queue_url: queue_url.clone(), dlq_url: dlq_url.clone(), owned: false });
        }
        let name = format!("roster-bench-{}-{what}", self.run);
        let q = SqsQueue::create(self.client.clone(), &name, MAX_RECEIVE_COUNT)
            .await
            .with_context(|| format!("creating the bench's FIFO queue {name}.fifo and its DLQ"))?;
        Ok(BenchQueues {
            queue_url: q.queue_url().to_owned(),
            dlq_url: q.dead_letter_queue_url().to_owned(),
            owned: true,
        })
    }

    /// Deletes queues the bench made (named ones are left as they are).
    pub async fn delete(&self, queues: BenchQueues) -> anyhow::Result<()> {
        if !queues.owned {
            return Ok(());
        }
        for url in [&queues.queue_url, &queues.dlq_url] {
            self.client
                .delete_queue()
                .queue_url(url)
                .send()
                .await
                .with_context(|| format!("deleting the bench's queue {url}"))?;
        }
        Ok(())
    }

    /// Messages in the queue and in its dead-letter queue (visible or not).
    pub async fn depth(&self, queues: &BenchQueues) -> anyhow::Result<(u64, u64)> {
        Ok((self.count(&queues.queue_url).await?, self.count(&queues.dlq_url).await?))
    }

    async fn count(&self, url: &str) -> anyhow::Result<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .with_context(|| format!("reading the attributes of {url}"))?;
        let n = |a: QueueAttributeName| {
            out.attributes().and_then(|m| m.get(&a)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        Ok(n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// The physical limit ingest over SQS is compared with: `requests` (one
    /// request's messages each) sent by `clients` senders at once, each
    /// sending its request as the adapter's `send_batch` does — calls of 10,
    /// [`IN_FLIGHT`] at a time. The entries are built before the clock
    /// starts; no retries (a failed entry fails the baseline). Messages/s.
    pub async fn raw_send(
        &self,
        queues: &BenchQueues,
        requests: Vec<Vec<OutgoingMessage>>,
        clients: u64,
    ) -> anyhow::Result<f64> {
        let mut total = 0;
        let mut prepared = Vec::with_capacity(requests.len());
        for messages in requests {
            total += messages.len();
            let entries = messages
                .iter()
                .enumerate()
                .map(|(i, m)| send_entry(i % 10, m, now_ms()))
                .collect::<Result<Vec<_>, _>>()?;
            prepared.push(entries.chunks(10).map(<[_]>::to_vec).collect::<Vec<_>>());
        }
        let work = Arc::new(Mutex::new(prepared.into_iter()));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (work, client, url) = (work.clone(), self.client.clone(), queues.queue_url.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some(calls) = work.lock().expect("request queue").next() else {
                        return anyhow::Ok(());
                    };
                    stream::iter(calls.into_iter().map(|entries| send_call(&client, &url, entries)))
                        .buffered(IN_FLIGHT)
                        .try_collect::<Vec<()>>()
                        .await?;
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(total as f64 / t.elapsed().as_secs_f64())
    }
}

async fn send_call(
    client: &Client,
    url: &str,
    entries: Vec<SendMessageBatchRequestEntry>,
) -> anyhow::Result<()> {
    let out = client
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .context("the raw SendMessageBatch failed")?;
    if let Some(f) = out.failed().first() {
        anyhow::bail!("the raw SendMessageBatch had {} failed entries ({})", out.failed().len(), f.code());
    }
    Ok(())
}

fn now_ms() -> i64 {
    roster_core::Clock::now(&roster_core::SystemClock).millis()
}

/// The messages ingest makes of people `0..count` sent `batch` a request
/// (one feed each, as a request is): the same `ChangeMessage` bodies, group
/// ids, ids and tenant tag, so the raw loop sends what the adapter sends.
pub fn messages(people: &PeopleGenerator, count: u64, batch: u64) -> Vec<Vec<OutgoingMessage>> {
    let tenant = roster_core::TenantId::new();
    let accepted_at = roster_core::Clock::now(&roster_core::SystemClock);
    (0..count)
        .step_by(batch as usize)
        .map(|start| {
            let feed = roster_core::FeedId::new();
            // The server's own request id is a UUID.
            let request_id = Some(roster_core::MessageId::new().as_uuid().to_string());
            (start..(start + batch).min(count))
                .map(|i| {
                    let record = roster_core::validate::parse_record(&people.person(i, 0))
                        .expect("generated records are valid");
                    let msg = roster_core::ChangeMessage {
                        message_id: roster_core::MessageId::new(),
                        tenant_id: tenant,
                        feed_id: feed,
                        source: roster_core::SourceName::default(),
                        index: (i - start) as u32,
                        accepted_at,
                        last_modified: record.last_modified,
                        change: record.change,
                        request_id: request_id.clone(),
                        probe: false,
                    };
                    OutgoingMessage {
                        id: msg.message_id.to_string(),
                        group_id: msg.group_id(),
                        tenant: tenant.to_string(),
                        body: msg.to_bytes(),
                        delay: std::time::Duration::ZERO,
                    }
                })
                .collect()
        })
        .collect()
}
