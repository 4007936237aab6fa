//! Ingest: a submission becomes a feed row and one durable message per valid
//! record. The caller may answer `202 Accepted` only once [`Ingest::submit`]
//! has returned: by then the messages are committed to the queue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use roster_core::{ChangeMessage, Clock, FeedId, MessageId, RecordError, TenantId};
use roster_formats::{FormatError, ParsedFeed};
use roster_queue::{OutgoingMessage, Queue, QueueError};
use roster_store::{Directory, NewFeed, StoreError};

/// What ingest promises the submitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReceipt {
    pub feed_id: FeedId,
    pub received: usize,
    pub accepted: usize,
    pub rejected: Vec<RecordError>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The submission as a whole cannot be read: nothing was stored.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The queue did not take the messages: nothing was queued.
    #[error("could not queue the feed: {0}")]
    Queue(#[from] QueueError),
    #[error("could not record the feed: {0}")]
    Store(#[from] StoreError),
    /// Back-pressure: the queue holds more than it should; nothing of the
    /// submission was accepted.
    #[error("the queue holds {depth} messages (limit {limit}); retry later")]
    Busy { depth: u64, limit: u64, retry_after: Duration },
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Refuse submissions while the queue holds more messages than this.
    pub max_queue_depth: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { max_queue_depth: 1_000_000 }
    }
}

/// How long a measured queue depth is trusted: the stats cost a query, and
/// back-pressure only needs to be roughly right.
const DEPTH_TTL: Duration = Duration::from_millis(500);

pub struct Ingest {
    directory: Arc<dyn Directory>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    config: IngestConfig,
    depth: Mutex<Option<(Instant, u64)>>,
}

impl Ingest {
    pub fn new(
        directory: Arc<dyn Directory>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        config: IngestConfig,
    ) -> Self {
        Self { directory, queue, clock, config, depth: Mutex::new(None) }
    }

    /// Fails with `Busy` while the queue is over its limit.
    pub async fn check_capacity(&self) -> Result<(), IngestError> {
        let cached = *self.depth.lock().expect("depth lock");
        let depth = match cached {
            Some((at, depth)) if at.elapsed() < DEPTH_TTL => depth,
            _ => {
                let depth = self.queue.stats().await?.depth();
                *self.depth.lock().expect("depth lock") = Some((Instant::now(), depth));
                depth
            }
        };
        let limit = self.config.max_queue_depth;
        if depth > limit {
            return Err(IngestError::Busy { depth, limit, retry_after: Duration::from_secs(5) });
        }
        Ok(())
    }

    /// Parses a JSON batch (off the async threads: a large body takes a
    /// while) and submits it.
    pub async fn submit_json(&self, tenant: TenantId, body: Bytes) -> Result<IngestReceipt, IngestError> {
        self.check_capacity().await?;
        let parsed = tokio::task::spawn_blocking(move || roster_formats::json::parse_feed(&body))
            .await
            .map_err(|e| StoreError::Storage(format!("parser task failed: {e}")))??;
        self.submit(tenant, parsed, "json").await
    }

    /// Records the feed, then queues its valid records in one atomic, durable
    /// batch. If queueing fails the feed is marked failed and nothing of it is
    /// queued.
    pub async fn submit(
        &self,
        tenant: TenantId,
        feed: ParsedFeed,
        format: &str,
    ) -> Result<IngestReceipt, IngestError> {
        let now = self.clock.now();
        let feed_id = FeedId::new();
        let received = feed.received();
        let accepted = feed.valid.len();
        let messages: Vec<OutgoingMessage> = feed
            .valid
            .into_iter()
            .map(|(index, record)| {
                let msg = ChangeMessage {
                    message_id: MessageId::new(),
                    tenant_id: tenant,
                    feed_id,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    accepted_at: now,
                    last_modified: record.last_modified,
                    change: record.change,
                };
                OutgoingMessage {
                    id: msg.message_id.to_string(),
                    group_id: msg.group_id(),
                    tenant: tenant.to_string(),
                    body: msg.to_bytes(),
                    delay: std::time::Duration::ZERO,
                }
            })
            .collect();

        self.directory
            .create_feed(NewFeed {
                id: feed_id,
                tenant_id: tenant,
                mode: feed.mode,
                format: format.to_owned(),
                received: received as u64,
                accepted: accepted as u64,
                rejections: feed.rejected.clone(),
                created_at: now,
            })
            .await?;
        if !messages.is_empty()
            && let Err(e) = self.queue.send_batch(messages).await
        {
            if let Err(mark) = self.directory.fail_feed(tenant, feed_id, self.clock.now()).await {
                tracing::error!(%feed_id, error = %mark, "could not mark feed failed");
            }
            return Err(e.into());
        }
        // Keep the cached depth honest between measurements.
        if let Some((_, depth)) = self.depth.lock().expect("depth lock").as_mut() {
            *depth += accepted as u64;
        }
        tracing::info!(%feed_id, %tenant, received, accepted, rejected = feed.rejected.len(), "feed accepted");
        Ok(IngestReceipt { feed_id, received, accepted, rejected: feed.rejected })
    }
}
