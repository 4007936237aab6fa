//! Ingest: a submission becomes a feed row and one durable message per valid
//! record. The caller may answer `202 Accepted` only once [`Ingest::submit`]
//! has returned: by then the messages are committed to the queue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use roster_core::mapping::MappingProfile;
use roster_core::validate::ValidRecord;
use roster_core::{
    Change, ChangeMessage, Clock, ExternalId, FeedId, FeedMode, FieldError, MessageId, RecordError,
    SourceName, TenantId, Timestamp,
};
use roster_formats::csv::CsvFeedReader;
use roster_formats::{FormatError, ParsedFeed};
use roster_queue::{OutgoingMessage, Queue, QueueError};
use roster_store::{FeedSeal, IngestStore, ManagerBy, NewFeed, SourceSettings, StoreError, Validation};

use crate::managers::{At, Managers};
use crate::telemetry;

/// Who submits, through which channel, and whether for real.
#[derive(Debug, Clone)]
pub struct Submission {
    pub tenant: TenantId,
    pub source: SourceName,
    /// `json`, `csv` or `scim`.
    pub format: &'static str,
    /// Parse, map and validate only: nothing is stored or queued.
    pub dry_run: bool,
    /// The submitting request's id, carried by each message to the consumer's
    /// log lines.
    pub request_id: Option<String>,
}

/// What ingest promises the submitter.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReceipt {
    /// `None` for a dry run.
    pub feed_id: Option<FeedId>,
    pub mode: FeedMode,
    pub received: usize,
    pub accepted: usize,
    pub rejected: Vec<RecordError>,
    pub warnings: Vec<String>,
    /// A dry run's valid records as they would be queued (canonical JSON).
    pub preview: Option<Vec<serde_json::Value>>,
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
    /// The source validates strictly and some records are invalid: nothing
    /// of the feed was queued.
    #[error("{} of {received} records are invalid and the source `{source_name}` is strict: nothing was queued", rejected.len())]
    Strict { source_name: SourceName, received: usize, rejected: Vec<RecordError> },
    /// Back-pressure: the queue holds more than it should; nothing of the
    /// submission was accepted.
    #[error("the queue holds {depth} messages (limit {limit}); retry later")]
    Busy { depth: u64, limit: u64, retry_after: Duration },
    /// More records than one request may carry: nothing was stored.
    #[error(
        "the feed has {received} records; at most {limit} are accepted per request: split it, or send a CSV file (streamed)"
    )]
    TooManyRecords { received: usize, limit: usize },
    /// A streamed upload went past the most rows one may have: reading
    /// stopped there and the feed failed.
    #[error("the upload has more than {limit} rows, the most one upload may have; the feed failed")]
    TooManyRows { limit: usize },
    /// The request's `?mode=` and the body's `mode` disagree: nothing was stored.
    #[error(
        "`mode` is {} in the query and {} in the body: send one, or the same in both", query.as_str(), body.as_str()
    )]
    ModeConflict { query: FeedMode, body: FeedMode },
    /// The stall sweep failed the feed before it was sealed (its sending
    /// took longer than `upload_stall_secs`): it is not acknowledged, and
    /// the client must send it again.
    #[error("the feed was failed as stalled before it was acknowledged; send it again")]
    Stalled,
}

/// A seal or a touch refused because the feed is no longer `receiving`: the
/// stall sweep failed it meanwhile. Retryable for the client, not a conflict
/// of its making.
fn stalled(e: StoreError) -> IngestError {
    match e {
        StoreError::Conflict(_) => IngestError::Stalled,
        other => IngestError::Store(other),
    }
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Refuse submissions while the queue holds more messages than this.
    pub max_queue_depth: u64,
    /// Most records one request held in memory may carry (JSON, SCIM, a
    /// small CSV); a streamed CSV upload is bounded by `max_streamed_records`.
    pub max_records: usize,
    /// How far ahead of this server's clock a record's `meta.lastModified`
    /// may be. Later ones are refused: a time-zone bug or a typo (2099) would
    /// otherwise make every later update of the person stale.
    pub max_clock_skew: Duration,
    /// How often a streamed upload tells the directory it is alive (the
    /// stall sweep fails an upload without progress for `upload_stall_secs`).
    pub progress_every: Duration,
    /// Most rows one streamed CSV upload may have: its duplicate check keeps
    /// 24–48 bytes a row for as long as it streams.
    pub max_streamed_records: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_queue_depth: 1_000_000,
            max_records: 100_000,
            max_clock_skew: Duration::from_secs(86_400),
            progress_every: Duration::from_secs(30),
            max_streamed_records: 3_000_000,
        }
    }
}

/// The error of a record dated too far ahead, if it is.
fn future_dated(record: &ValidRecord, now: Timestamp, skew: Duration) -> Option<FieldError> {
    let limit = now.plus_millis(i64::try_from(skew.as_millis()).unwrap_or(i64::MAX));
    record.last_modified.filter(|lm| *lm > limit).map(|_| {
        FieldError::new(
            "meta.lastModified",
            format!(
                "is more than {} h ahead of the server's clock: check the source's clock and time zone",
                skew.as_secs() / 3600
            ),
        )
    })
}

/// Most records a dry run shows.
pub const MAX_PREVIEW: usize = 1000;
/// Valid records queued together while a large upload streams in.
const STREAM_CHUNK: usize = 2000;
/// Most rejected records reported for one streamed upload (all are counted).
const MAX_REPORTED_REJECTIONS: usize = 1000;

/// The external id a test message names (it is never applied).
pub const PROBE_EXTERNAL_ID: &str = "roster-dlq-test";

/// The queue message of one valid record.
fn message(
    sub: &Submission,
    feed_id: FeedId,
    now: Timestamp,
    index: usize,
    record: ValidRecord,
) -> OutgoingMessage {
    let msg = ChangeMessage {
        message_id: MessageId::new(),
        tenant_id: sub.tenant,
        feed_id,
        source: sub.source.clone(),
        index: u32::try_from(index).unwrap_or(u32::MAX),
        accepted_at: now,
        last_modified: record.last_modified,
        change: record.change,
        request_id: sub.request_id.clone(),
        probe: false,
    };
    OutgoingMessage {
        id: msg.message_id.to_string(),
        group_id: msg.group_id(),
        tenant: sub.tenant.to_string(),
        body: msg.to_bytes(),
        delay: Duration::ZERO,
    }
}

/// How long a measured queue depth is trusted: the stats cost a query, and
/// back-pressure only needs to be roughly right.
const DEPTH_TTL: Duration = Duration::from_millis(500);

/// The queue depth last measured, and when.
type DepthCache = Mutex<Option<(Instant, u64)>>;

/// Fails with `Busy` while the queue is over `limit` (measured at most once
/// per [`DEPTH_TTL`]).
async fn capacity(queue: &dyn Queue, cache: &DepthCache, limit: u64) -> Result<(), IngestError> {
    let cached = *cache.lock().expect("depth lock");
    let depth = match cached {
        Some((at, depth)) if at.elapsed() < DEPTH_TTL => depth,
        _ => {
            let depth = queue.stats().await?.depth();
            *cache.lock().expect("depth lock") = Some((Instant::now(), depth));
            depth
        }
    };
    if depth > limit {
        return Err(IngestError::Busy { depth, limit, retry_after: Duration::from_secs(5) });
    }
    Ok(())
}

/// Keeps the cached depth honest between measurements.
fn add_depth(cache: &DepthCache, sent: usize) {
    if let Some((_, depth)) = cache.lock().expect("depth lock").as_mut() {
        *depth += sent as u64;
    }
}

pub struct Ingest {
    store: Arc<dyn IngestStore>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    config: IngestConfig,
    depth: Arc<DepthCache>,
}

impl Ingest {
    pub fn new(
        store: Arc<dyn IngestStore>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        config: IngestConfig,
    ) -> Self {
        Self { store, queue, clock, config, depth: Arc::new(Mutex::new(None)) }
    }

    /// Fails with `Busy` while the queue is over its limit.
    /// Queues a test message for `tenant` (`ChangeMessage::probe`): the
    /// consumer dead-letters it on arrival and never applies it. No feed is
    /// recorded. Its message id is the dead letter's id.
    pub async fn send_probe(
        &self,
        tenant: TenantId,
        request_id: Option<String>,
    ) -> Result<MessageId, IngestError> {
        let msg = ChangeMessage {
            message_id: MessageId::new(),
            tenant_id: tenant,
            feed_id: FeedId::new(),
            source: SourceName::default(),
            index: 0,
            accepted_at: self.clock.now(),
            last_modified: None,
            change: Change::Deactivate {
                external_id: ExternalId::parse(PROBE_EXTERNAL_ID).expect("a valid id"),
            },
            request_id,
            probe: true,
        };
        let out = OutgoingMessage {
            id: msg.message_id.to_string(),
            group_id: msg.group_id(),
            tenant: tenant.to_string(),
            body: msg.to_bytes(),
            delay: Duration::ZERO,
        };
        self.queue.send_batch(vec![out]).await?;
        Ok(msg.message_id)
    }

    pub async fn check_capacity(&self) -> Result<(), IngestError> {
        capacity(self.queue.as_ref(), &self.depth, self.config.max_queue_depth).await
    }

    /// The settings of a submission's source (defaults if never set).
    pub async fn source_settings(
        &self,
        tenant: TenantId,
        source: &SourceName,
    ) -> Result<SourceSettings, IngestError> {
        Ok(self.source(tenant, source).await?.0)
    }

    /// The source's settings, and a warning when a named source was never
    /// set up: a typo in `?source=` would otherwise read a CSV without its
    /// mapping profile and judge a snapshot against nobody, silently.
    async fn source(
        &self,
        tenant: TenantId,
        source: &SourceName,
    ) -> Result<(SourceSettings, Option<String>), IngestError> {
        Ok(match self.store.get_source(tenant, source).await? {
            Some(s) => (s.settings, None),
            None if source.as_str() == SourceName::default().as_str() => (SourceSettings::default(), None),
            None => (
                SourceSettings::default(),
                Some(format!(
                    "source `{source}` does not exist yet: its feed is read with the default settings (no mapping profile); set it up with PUT /v1/sources/{source}"
                )),
            ),
        })
    }

    /// The CSV mapping profile of a source: its own, or canonical column names.
    fn profile(settings: &SourceSettings) -> Result<MappingProfile, IngestError> {
        match &settings.mapping {
            None => Ok(MappingProfile::identity()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                FormatError::InvalidProfile(vec![FieldError::new("mapping", format!("does not parse: {e}"))])
                    .into()
            }),
        }
    }

    /// A CSV body held in memory: parsed whole, then submitted atomically,
    /// like a JSON batch.
    pub async fn submit_csv(
        &self,
        sub: &Submission,
        mode: FeedMode,
        body: Bytes,
    ) -> Result<IngestReceipt, IngestError> {
        self.check_capacity().await?;
        let profile = Self::profile(&self.source_settings(sub.tenant, &sub.source).await?)?;
        let max = self.config.max_records;
        let parsed =
            tokio::task::spawn_blocking(move || roster_formats::csv::parse_feed(&body, &profile, mode, max))
                .await
                .map_err(|e| StoreError::Storage(format!("parser task failed: {e}")))??;
        self.submit(sub, parsed).await
    }

    /// A dry run of a CSV sample under a draft `profile` instead of the
    /// source's own: the mapped records and per-row errors a feed would
    /// get, by the source's other rules (strictness, inactive statuses,
    /// managers). Nothing is stored or queued; the profile is not saved.
    pub async fn preview_csv(
        &self,
        sub: &Submission,
        mode: FeedMode,
        body: Bytes,
        profile: MappingProfile,
    ) -> Result<IngestReceipt, IngestError> {
        let max = self.config.max_records;
        let parsed =
            tokio::task::spawn_blocking(move || roster_formats::csv::parse_feed(&body, &profile, mode, max))
                .await
                .map_err(|e| StoreError::Storage(format!("parser task failed: {e}")))??;
        let mut receipt = self.submit(&Submission { dry_run: true, ..sub.clone() }, parsed).await?;
        // The usual warning about a new source says its feeds have no
        // profile; this one has the draft.
        let unset = format!("source `{}` does not exist yet", sub.source);
        if let Some(w) = receipt.warnings.iter_mut().find(|w| w.starts_with(&unset)) {
            *w = format!(
                "source `{}` has no settings yet: the preview uses the draft profile and the defaults for the rest",
                sub.source
            );
        }
        Ok(receipt)
    }

    /// A CSV upload too large to hold: read as it arrives, queued in chunks,
    /// so memory does not grow with the file. A delta upload that fails
    /// part-way may have queued some of its records (resending it is safe:
    /// applying a record twice changes nothing); a full snapshot is sealed,
    /// and so reconciled, only once all of it is queued. Strict sources and
    /// dry runs need the whole file first and take the in-memory path.
    pub async fn submit_csv_stream<R: std::io::Read + Send + 'static>(
        &self,
        sub: &Submission,
        mode: FeedMode,
        input: R,
    ) -> Result<IngestReceipt, IngestError> {
        self.check_capacity().await?;
        let (settings, unknown_source) = self.source(sub.tenant, &sub.source).await?;
        let profile = Self::profile(&settings)?;
        let now = self.clock.now();
        let feed_id = FeedId::new();
        let full = mode == FeedMode::Full;
        self.store
            .create_feed(NewFeed {
                id: feed_id,
                tenant_id: sub.tenant,
                source: sub.source.clone(),
                mode,
                format: sub.format.to_owned(),
                sealed: false,
                received: 0,
                accepted: 0,
                rejections: Vec::new(),
                created_at: now,
            })
            .await?;
        let handle = tokio::runtime::Handle::current();
        let (store, queue, clock, s) =
            (Arc::clone(&self.store), Arc::clone(&self.queue), Arc::clone(&self.clock), sub.clone());
        let (depth, config) = (Arc::clone(&self.depth), self.config.clone());
        let inactive = settings.inactive_statuses.clone();
        let manager_by = settings.manager_by;
        // Not `spawn_blocking`: the upload lasts as long as its client
        // takes, and must not hold a thread the store's work needs.
        let streamed = crate::own_thread::run("roster-upload", move || {
            let ports = StreamPorts {
                rt: &handle,
                store: store.as_ref(),
                queue: queue.as_ref(),
                clock: clock.as_ref(),
                depth: &depth,
                config: &config,
            };
            let rules = SourceRules { profile: &profile, inactive_statuses: inactive.as_deref(), manager_by };
            stream_csv(&ports, &s, feed_id, mode, now, input, &rules)
        })
        .await
        .map_err(|e| IngestError::Store(StoreError::Storage(format!("upload task failed: {e}"))));
        let mut tally = match streamed {
            Ok(Ok(tally)) => tally,
            Ok(Err(e)) | Err(e) => {
                self.mark_failed(sub.tenant, feed_id).await;
                return Err(e);
            }
        };
        tally.warnings.extend(unknown_source);
        let rejected_n = tally.received - tally.accepted;
        let seal = FeedSeal {
            received: tally.received as u64,
            accepted: tally.accepted as u64,
            rejected: rejected_n as u64,
            rejections: tally.rejected.clone(),
        };
        self.store.seal_feed(sub.tenant, feed_id, seal, self.clock.now()).await.map_err(stalled)?;
        telemetry::records_ingested(&sub.tenant.to_string(), sub.format, tally.received, tally.accepted);
        tracing::info!(%feed_id, tenant = %sub.tenant, source = %sub.source, mode = mode.as_str(), format = sub.format,
            received = tally.received, accepted = tally.accepted, rejected = rejected_n, streamed = true, full, "feed accepted");
        Ok(IngestReceipt {
            feed_id: Some(feed_id),
            mode,
            received: tally.received,
            accepted: tally.accepted,
            rejected: tally.rejected,
            warnings: tally.warnings,
            preview: None,
        })
    }

    /// A SCIM BulkRequest: its operations, each queued or rejected; the
    /// operations are returned to build the BulkResponse.
    pub async fn submit_scim(
        &self,
        sub: &Submission,
        body: Bytes,
    ) -> Result<(IngestReceipt, Vec<roster_formats::scim::BulkOperation>), IngestError> {
        self.check_capacity().await?;
        let parsed = tokio::task::spawn_blocking(move || roster_formats::scim::parse_bulk_request(&body))
            .await
            .map_err(|e| StoreError::Storage(format!("parser task failed: {e}")))??;
        let receipt = self.submit(sub, parsed.feed).await?;
        Ok((receipt, parsed.operations))
    }

    /// Parses a JSON batch (off the async threads: a large body takes a
    /// while) and submits it.
    /// `mode`, when given, is the feed's mode: the envelope may name the
    /// same or none, never the other (`ModeConflict`: a delta taken for a
    /// snapshot would deactivate everyone it leaves out).
    pub async fn submit_json(
        &self,
        sub: &Submission,
        mode: Option<FeedMode>,
        body: Bytes,
    ) -> Result<IngestReceipt, IngestError> {
        self.check_capacity().await?;
        let max = self.config.max_records;
        let mut parsed = tokio::task::spawn_blocking(move || roster_formats::json::parse_feed(&body, max))
            .await
            .map_err(|e| StoreError::Storage(format!("parser task failed: {e}")))??;
        if let Some(mode) = mode {
            if parsed.mode_stated && parsed.mode != mode {
                return Err(IngestError::ModeConflict { query: mode, body: parsed.mode });
            }
            parsed.mode = mode;
        }
        self.submit(sub, parsed).await
    }

    /// Records the feed, then queues its valid records in one atomic, durable
    /// batch. If queueing fails the feed is marked failed and nothing of it is
    /// queued. A full snapshot lists its members first and is sealed last, so
    /// it is reconciled only if all of it was queued.
    pub async fn submit(&self, sub: &Submission, mut feed: ParsedFeed) -> Result<IngestReceipt, IngestError> {
        let now = self.clock.now();
        let mut kept = Vec::with_capacity(feed.valid.len());
        for (index, record) in std::mem::take(&mut feed.valid) {
            match future_dated(&record, now, self.config.max_clock_skew) {
                None => kept.push((index, record)),
                Some(error) => {
                    // Still a member of a full snapshot: only its date is wrong.
                    feed.rejected_ids.push(record.change.external_id().clone());
                    feed.rejected.push(RecordError::new(index, vec![error]));
                }
            }
        }
        feed.valid = kept;
        feed.rejected.sort_by_key(|r| r.index);
        let received = feed.received();
        if received > self.config.max_records {
            return Err(IngestError::TooManyRecords { received, limit: self.config.max_records });
        }
        let (settings, unknown_source) = self.source(sub.tenant, &sub.source).await?;
        feed.warnings.extend(unknown_source);
        if settings.validation == Validation::Strict && !feed.rejected.is_empty() {
            if !sub.dry_run {
                telemetry::records_ingested(&sub.tenant.to_string(), sub.format, received, 0);
            }
            return Err(IngestError::Strict {
                source_name: sub.source.clone(),
                received,
                rejected: feed.rejected,
            });
        }
        if let Some(inactive) = &settings.inactive_statuses {
            feed.valid.iter_mut().for_each(|(_, r)| r.apply_inactive_statuses(inactive));
        }
        if let Some(mut managers) = Managers::new(settings.manager_by) {
            feed.valid.iter().for_each(|(_, r)| managers.note(r));
            let rows = &feed.rows;
            let mut records: Vec<(At, &mut ValidRecord)> = feed
                .valid
                .iter_mut()
                .map(|(i, r)| (At { index: *i, row: rows.get(i).copied() }, r))
                .collect();
            let warnings = managers.resolve(self.store.as_ref(), sub.tenant, &mut records).await?;
            feed.warnings.extend(warnings);
            feed.warnings.extend(managers.summary());
        }
        let accepted = feed.valid.len();
        if sub.dry_run {
            let preview = feed
                .valid
                .iter()
                .take(MAX_PREVIEW)
                .map(|(index, r)| {
                    let mut v = serde_json::to_value(&r.change).unwrap_or_default();
                    v["index"] = (*index).into();
                    v
                })
                .collect();
            return Ok(IngestReceipt {
                feed_id: None,
                mode: feed.mode,
                received,
                accepted,
                rejected: feed.rejected,
                warnings: feed.warnings,
                preview: Some(preview),
            });
        }
        let feed_id = FeedId::new();
        let tenant = sub.tenant;
        let full = feed.mode == FeedMode::Full;
        let members: Vec<_> = if full {
            feed.valid
                .iter()
                .map(|(_, r)| r.change.external_id().clone())
                .chain(feed.rejected_ids.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        let messages: Vec<OutgoingMessage> =
            feed.valid.into_iter().map(|(index, record)| message(sub, feed_id, now, index, record)).collect();

        // Created unsealed (`receiving`) and sealed only once its messages
        // are queued: a crash between the two leaves a feed the stall sweep
        // fails, never one `accepted` for ever with nothing queued (the
        // client, who got no answer, resends).
        self.store
            .create_feed(NewFeed {
                id: feed_id,
                tenant_id: tenant,
                source: sub.source.clone(),
                mode: feed.mode,
                format: sub.format.to_owned(),
                sealed: false,
                received: received as u64,
                accepted: accepted as u64,
                rejections: feed.rejected.clone(),
                created_at: now,
            })
            .await?;
        if full && let Err(e) = self.store.add_snapshot_members(tenant, feed_id, members, now).await {
            self.mark_failed(tenant, feed_id).await;
            return Err(e.into());
        }
        if !messages.is_empty() {
            match self.queue.send_batch(messages).await {
                Ok(sent) => telemetry::messages_sent(&tenant.to_string(), sent.sent),
                Err(e) => {
                    self.mark_failed(tenant, feed_id).await;
                    return Err(e.into());
                }
            }
        }
        let seal = FeedSeal {
            received: received as u64,
            accepted: accepted as u64,
            rejected: feed.rejected.len() as u64,
            rejections: feed.rejected.clone(),
        };
        // Queued but unsealed, the feed's records still apply; a snapshot is
        // just never reconciled. The client, told of the error, resends.
        self.store.seal_feed(tenant, feed_id, seal, self.clock.now()).await.map_err(stalled)?;
        add_depth(&self.depth, accepted);
        telemetry::records_ingested(&tenant.to_string(), sub.format, received, accepted);
        tracing::info!(%feed_id, %tenant, source = %sub.source, mode = feed.mode.as_str(), format = sub.format,
            received, accepted, rejected = feed.rejected.len(), "feed accepted");
        Ok(IngestReceipt {
            feed_id: Some(feed_id),
            mode: feed.mode,
            received,
            accepted,
            rejected: feed.rejected,
            warnings: feed.warnings,
            preview: None,
        })
    }

    async fn mark_failed(&self, tenant: TenantId, feed_id: FeedId) {
        if let Err(mark) = self.store.fail_feed(tenant, feed_id, self.clock.now()).await {
            tracing::error!(%feed_id, error = %mark, "could not mark feed failed");
        }
    }
}

/// What a streamed upload amounted to.
struct StreamTally {
    received: usize,
    accepted: usize,
    /// The first rejected records (all are counted in `received - accepted`).
    rejected: Vec<RecordError>,
    warnings: Vec<String>,
}

/// What a streamed upload talks to from its blocking thread.
struct StreamPorts<'a> {
    rt: &'a tokio::runtime::Handle,
    store: &'a dyn IngestStore,
    queue: &'a dyn Queue,
    clock: &'a dyn Clock,
    /// Back-pressure is checked before each chunk, not only at the start.
    depth: &'a DepthCache,
    config: &'a IngestConfig,
}

/// The first 128 bits of an external id's SHA-256: two ids of one feed
/// collide with a probability far below any hardware fault's.
type IdFingerprint = [u8; 16];

fn fingerprint(id: &ExternalId) -> IdFingerprint {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_str().as_bytes());
    let mut print = [0u8; 16];
    print.copy_from_slice(&digest[..16]);
    print
}

/// What a source's settings decide about each record of a stream.
#[derive(Clone, Copy)]
struct SourceRules<'a> {
    profile: &'a MappingProfile,
    inactive_statuses: Option<&'a [String]>,
    manager_by: ManagerBy,
}

/// Reads a CSV stream on a blocking thread, queueing valid records in chunks
/// (a full snapshot lists each chunk's people before queueing it).
fn stream_csv(
    ports: &StreamPorts<'_>,
    sub: &Submission,
    feed_id: FeedId,
    mode: FeedMode,
    now: Timestamp,
    input: impl std::io::Read,
    rules: &SourceRules<'_>,
) -> Result<StreamTally, IngestError> {
    let SourceRules { profile, inactive_statuses, manager_by } = *rules;
    let (skew, progress_every) = (ports.config.max_clock_skew, ports.config.progress_every);
    let mut reader = CsvFeedReader::new(input, profile)?;
    let warnings = reader.warnings().to_vec();
    // Duplicates within the feed are refused by a 128-bit fingerprint of each
    // external id (and the row of its first use): about 20 bytes a row,
    // whatever the ids' length.
    let mut seen: std::collections::HashMap<IdFingerprint, u32> = std::collections::HashMap::new();
    let mut tally = StreamTally { received: 0, accepted: 0, rejected: Vec::new(), warnings };
    let mut chunk: Vec<(At, ValidRecord)> = Vec::with_capacity(STREAM_CHUNK);
    let mut members: Vec<ExternalId> = Vec::new();
    let full = mode == FeedMode::Full;
    // Managers named by e-mail or employee number resolve from the rows
    // read so far (this chunk's included) and the directory.
    let mut managers = Managers::new(manager_by);
    let flush = |chunk: &mut Vec<(At, ValidRecord)>,
                 members: &mut Vec<ExternalId>,
                 managers: &mut Option<Managers>,
                 warnings: &mut Vec<String>|
     -> Result<(), IngestError> {
        ports.rt.block_on(async {
            if full && !members.is_empty() {
                let ids = std::mem::take(members);
                ports.store.add_snapshot_members(sub.tenant, feed_id, ids, ports.clock.now()).await?;
            }
            if !chunk.is_empty() {
                if let Some(managers) = managers.as_mut() {
                    let mut records: Vec<(At, &mut ValidRecord)> =
                        chunk.iter_mut().map(|(at, r)| (*at, r)).collect();
                    warnings.extend(managers.resolve(ports.store, sub.tenant, &mut records).await?);
                }
                capacity(ports.queue, ports.depth, ports.config.max_queue_depth).await?;
                let messages: Vec<OutgoingMessage> = std::mem::take(chunk)
                    .into_iter()
                    .map(|(at, record)| message(sub, feed_id, now, at.index, record))
                    .collect();
                let sent = ports.queue.send_batch(messages).await?;
                add_depth(ports.depth, sent.sent);
                telemetry::messages_sent(&sub.tenant.to_string(), sent.sent);
            }
            Ok(())
        })
    };
    // Progress keeps the upload alive, however slowly its rows arrive; and
    // once the stall sweep has failed it, the upload stops here.
    let mut touched = Instant::now();
    let touch = |touched: &mut Instant| -> Result<(), IngestError> {
        if touched.elapsed() >= progress_every {
            ports
                .rt
                .block_on(ports.store.touch_feed(sub.tenant, feed_id, ports.clock.now()))
                .map_err(stalled)?;
            *touched = Instant::now();
        }
        Ok(())
    };
    for record in &mut reader {
        let record = record?;
        tally.received += 1;
        if tally.received > ports.config.max_streamed_records {
            return Err(IngestError::TooManyRows { limit: ports.config.max_streamed_records });
        }
        touch(&mut touched)?;
        let (index, row) = (record.index, record.row);
        let reject = |tally: &mut StreamTally, errors: Vec<FieldError>| {
            if tally.rejected.len() < MAX_REPORTED_REJECTIONS {
                let mut e = RecordError::new(index, errors);
                e.row = Some(row);
                tally.rejected.push(e);
            }
        };
        let result = match record.result {
            Ok(valid) => match future_dated(&valid, now, skew) {
                Some(error) => {
                    if full {
                        members.push(valid.change.external_id().clone());
                    }
                    Err(vec![error])
                }
                None => Ok(valid),
            },
            Err(errors) => Err(errors),
        };
        match result {
            Ok(mut valid) => {
                if let Some(inactive) = inactive_statuses {
                    valid.apply_inactive_statuses(inactive);
                }
                let id = valid.change.external_id().clone();
                let print = fingerprint(&id);
                if let Some(first) = seen.get(&print) {
                    let message = format!("duplicate in this feed (first at row {first})");
                    reject(&mut tally, vec![FieldError::new("externalId", message)]);
                    continue;
                }
                seen.insert(print, u32::try_from(row).unwrap_or(u32::MAX));
                if full {
                    members.push(id);
                }
                if let Some(managers) = managers.as_mut() {
                    managers.note(&valid);
                }
                chunk.push((At { index, row: Some(row) }, valid));
                tally.accepted += 1;
            }
            Err(errors) => {
                if full
                    && let Some(id) =
                        record.external_id.as_deref().and_then(|s| ExternalId::parse(s.trim()).ok())
                    && !seen.contains_key(&fingerprint(&id))
                {
                    members.push(id);
                }
                reject(&mut tally, errors);
            }
        }
        // Members on their own count too: rows rejected by the thousand add
        // members but no messages.
        if chunk.len() >= STREAM_CHUNK || members.len() >= STREAM_CHUNK {
            flush(&mut chunk, &mut members, &mut managers, &mut tally.warnings)?;
        }
    }
    flush(&mut chunk, &mut members, &mut managers, &mut tally.warnings)?;
    tally.warnings.extend(managers.as_ref().and_then(Managers::summary));
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_feed_remembers_each_external_id_in_a_fixed_size() {
        let id = |s: &str| ExternalId::parse(s).unwrap();
        assert_eq!(std::mem::size_of::<IdFingerprint>(), 16);
        assert_eq!(fingerprint(&id("E-1")), fingerprint(&id("E-1")));
        assert_ne!(fingerprint(&id("E-1")), fingerprint(&id("E-10")));
        // A long id costs no more than a short one.
        let long = "x".repeat(200);
        assert_ne!(fingerprint(&id(&long)), fingerprint(&id("x")));
        let seen: std::collections::HashSet<IdFingerprint> =
            (0..100_000).map(|i| fingerprint(&id(&format!("E{i}")))).collect();
        assert_eq!(seen.len(), 100_000);
    }
}
