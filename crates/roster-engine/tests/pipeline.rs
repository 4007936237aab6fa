//! The engine over the real SQLite adapters, with time moved by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use roster_core::{
    ChangeMessage, Clock, ExternalId, FeedId, FeedMode, ManualClock, SourceName, TenantId, Timestamp,
};
use roster_engine::backoff::Backoff;
use roster_engine::{Consumer, ConsumerConfig, Ingest, IngestConfig, IngestError, Submission};
use roster_queue::{
    DeadLetterFilter, OutgoingMessage, Queue, ReceiveRequest, Redrive, SqliteQueue, SqliteQueueConfig,
};
use roster_store::*;
use roster_store_sqlite::SqliteDirectory;
use serde_json::json;

struct World {
    clock: ManualClock,
    queue: Arc<dyn Queue>,
    directory: Arc<dyn Directory>,
    /// The consumer's write path, made to fail on demand.
    flaky: Arc<FlakyApplier>,
    /// Ingest's feeds and sources, counting snapshot members per call.
    members: Arc<MemberCounter>,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

const MAX_RECEIVES: u32 = 3;

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let mut qc = SqliteQueueConfig::new(dir.path().join("queue.db"));
    qc.clock = Arc::new(clock.clone());
    qc.max_receive_count = MAX_RECEIVES;
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(qc).unwrap());
    let real: Arc<dyn Directory> = Arc::new(SqliteDirectory::open(&dir.path().join("directory.db")).unwrap());
    let tenant = real.create_tenant("acme", clock.now()).await.unwrap().id;
    let flaky = Arc::new(FlakyApplier {
        inner: real.clone(),
        failing: AtomicBool::new(false),
        unavailable_for: AtomicU32::new(0),
    });
    let members = Arc::new(MemberCounter { inner: real.clone(), most_members: AtomicUsize::new(0) });
    World { clock, queue, directory: real, flaky, members, tenant, _dir: dir }
}

impl World {
    fn ingest(&self, max_queue_depth: u64) -> Ingest {
        Ingest::new(
            self.members.clone(),
            self.queue.clone(),
            Arc::new(self.clock.clone()),
            IngestConfig { max_queue_depth, ..IngestConfig::default() },
        )
    }

    fn consumer(&self) -> Consumer {
        Consumer::new(
            self.queue.clone(),
            self.flaky.clone(),
            Arc::new(self.clock.clone()),
            ConsumerConfig {
                workers: 1,
                batch_size: 10,
                visibility_timeout: Duration::from_secs(30),
                wait: Duration::ZERO,
                backoff: Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(10) },
                max_receive_count: MAX_RECEIVES,
            },
        )
    }

    async fn submit(&self, records: serde_json::Value) -> FeedId {
        let body = Bytes::from(serde_json::to_vec(&json!({ "records": records })).unwrap());
        self.ingest(1_000).submit_json(&self.sub(), None, body).await.unwrap().feed_id.expect("not a dry run")
    }

    fn sub(&self) -> Submission {
        Submission {
            tenant: self.tenant,
            source: SourceName::default(),
            format: "json",
            dry_run: false,
            request_id: None,
        }
    }

    async fn feed(&self, id: FeedId) -> Feed {
        self.directory.get_feed(self.tenant, id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn back_pressure_refuses_the_whole_submission() {
    let w = world().await;
    w.submit(json!([{"externalId": "E1"}, {"externalId": "E2"}, {"externalId": "E3"}])).await;
    let body = Bytes::from_static(br#"{"records": [{"externalId": "E4"}]}"#);
    let err = w.ingest(2).submit_json(&w.sub(), None, body).await.unwrap_err();
    assert!(matches!(err, IngestError::Busy { depth: 3, limit: 2, .. }), "{err:?}");
    let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap();
    assert_eq!(feeds.items.len(), 1, "the refused submission left no feed");
    assert_eq!(w.queue.stats().await.unwrap().depth(), 3, "and no message");
}

/// A CSV of people `0..n` generated as it is read, never held whole.
struct CsvRows {
    n: usize,
    next: usize,
    pending: Vec<u8>,
}

impl std::io::Read for CsvRows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len() && self.next <= self.n {
            if self.next == 0 {
                self.pending.extend_from_slice(b"externalId,name.givenName,department\n");
            } else {
                let i = self.next - 1;
                self.pending.extend_from_slice(format!("E{i},Person {i},Dept {}\n", i % 7).as_bytes());
            }
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[tokio::test]
async fn a_streamed_csv_snapshot_is_queued_in_chunks_and_reconciled_once_sealed() {
    let w = world().await;
    let sub = Submission {
        tenant: w.tenant,
        source: SourceName::parse("hris").unwrap(),
        format: "csv",
        dry_run: false,
        request_id: None,
    };
    let consumer = Consumer::new(
        w.queue.clone(),
        w.flaky.clone(),
        Arc::new(w.clock.clone()),
        ConsumerConfig { batch_size: 1000, wait: Duration::ZERO, ..ConsumerConfig::default() },
    );
    let drain = || async { while consumer.run_once().await.unwrap().received > 0 {} };
    let input = CsvRows { n: 5_000, next: 0, pending: Vec::new() };
    let first = w.ingest(1_000_000).submit_csv_stream(&sub, FeedMode::Full, input).await.unwrap();
    assert_eq!((first.received, first.accepted), (5_000, 5_000));
    drain().await;
    let feed = w.feed(first.feed_id.unwrap()).await;
    assert_eq!(feed.status, FeedStatus::Completed);
    assert_eq!((feed.counts.applied, feed.counts.leavers), (5_000, 0));

    // The next night's export lacks 100 people (2%): they leave.
    w.clock.advance_millis(60_000);
    let input = CsvRows { n: 4_900, next: 0, pending: Vec::new() };
    let second = w.ingest(1_000_000).submit_csv_stream(&sub, FeedMode::Full, input).await.unwrap();
    drain().await;
    let feed = w.feed(second.feed_id.unwrap()).await;
    assert_eq!(feed.status, FeedStatus::Completed);
    assert_eq!((feed.counts.unchanged, feed.counts.leavers), (4_900, 100));
    let gone = w.directory.get_person(w.tenant, &ExternalId::parse("E4950").unwrap()).await.unwrap().unwrap();
    assert!(!gone.person.active);
    let kept = w.directory.get_person(w.tenant, &ExternalId::parse("E10").unwrap()).await.unwrap().unwrap();
    assert!(kept.person.active);
}

fn csv_sub(w: &World) -> Submission {
    Submission {
        tenant: w.tenant,
        source: SourceName::parse("hris").unwrap(),
        format: "csv",
        dry_run: false,
        request_id: None,
    }
}

#[tokio::test]
async fn a_streamed_snapshot_of_rejected_rows_lists_its_members_in_chunks() {
    let w = world().await;
    // Every row is rejected (a bad e-mail) yet names a person the snapshot
    // must still list: those ids are written as they come, not kept to the end.
    let mut csv = String::from("externalId,emails\n");
    for i in 0..10_000 {
        csv.push_str(&format!("E{i},not-an-email\n"));
    }
    let receipt = w
        .ingest(1_000_000)
        .submit_csv_stream(&csv_sub(&w), FeedMode::Full, std::io::Cursor::new(csv.into_bytes()))
        .await
        .unwrap();
    assert_eq!((receipt.received, receipt.accepted), (10_000, 0));
    let most = w.members.most_members.load(Ordering::SeqCst);
    assert!(most > 0 && most <= 2_000, "members listed {most} at a time");
}

#[tokio::test]
async fn a_streamed_upload_past_its_row_cap_fails() {
    let w = world().await;
    let ingest = Ingest::new(
        w.members.clone(),
        w.queue.clone(),
        Arc::new(w.clock.clone()),
        IngestConfig { max_streamed_records: 2_500, ..IngestConfig::default() },
    );
    let input = CsvRows { n: 10_000, next: 0, pending: Vec::new() };
    let err = ingest.submit_csv_stream(&csv_sub(&w), FeedMode::Full, input).await.unwrap_err();
    assert!(matches!(err, IngestError::TooManyRows { limit: 2_500 }), "{err:?}");
    assert!(err.to_string().contains("more than 2500 rows"), "{err}");
    let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap();
    assert_eq!(feeds.items[0].status, FeedStatus::Failed, "the feed failed");
    assert_eq!(w.queue.stats().await.unwrap().depth(), 2_000, "only the chunk before the cap was queued");
}

#[tokio::test]
async fn back_pressure_is_checked_again_while_an_upload_streams() {
    let w = world().await;
    let input = CsvRows { n: 10_000, next: 0, pending: Vec::new() };
    // 2,000 messages a chunk: the third chunk finds 4,000 queued, over 3,000.
    let err = w.ingest(3_000).submit_csv_stream(&csv_sub(&w), FeedMode::Delta, input).await.unwrap_err();
    assert!(matches!(err, IngestError::Busy { depth: 4_000, limit: 3_000, .. }), "{err:?}");
    assert_eq!(w.queue.stats().await.unwrap().depth(), 4_000, "nothing more was queued");
    let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap();
    assert_eq!(feeds.items[0].status, FeedStatus::Failed);
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_without_blocking_the_queue() {
    let w = world().await;
    w.queue
        .send_batch(vec![OutgoingMessage {
            id: "garbage-1".into(),
            group_id: "g".into(),
            tenant: w.tenant.to_string(),
            body: b"\xff not json".to_vec(),
            delay: Duration::ZERO,
        }])
        .await
        .unwrap();
    let feed = w.submit(json!([{"externalId": "E1"}])).await;
    let report = w.consumer().run_once().await.unwrap();
    assert_eq!(report.dead_lettered, 1);
    assert_eq!(report.acknowledged, 1);
    assert_eq!(w.feed(feed).await.status, FeedStatus::Completed);
    let dead =
        w.queue.get_dead_letter(&w.tenant.to_string(), "garbage-1").await.unwrap().expect("in the DLQ");
    assert!(dead.reason.contains("undecodable"), "{}", dead.reason);
}

#[tokio::test]
async fn transient_failures_back_off_then_dead_letter_and_a_redrive_applies() {
    let w = world().await;
    let feed = w.submit(json!([{"externalId": "E1", "title": "Clerk"}])).await;
    w.flaky.failing.store(true, Ordering::SeqCst);
    let consumer = w.consumer();

    for attempt in 1..MAX_RECEIVES {
        let r = consumer.run_once().await.unwrap();
        assert_eq!((r.received, r.retried), (1, 1), "attempt {attempt}");
        // Backed off: not receivable again at once...
        assert_eq!(consumer.run_once().await.unwrap().received, 0);
        // ...but once the (capped) delay has passed.
        w.clock.advance_millis(10_001);
    }
    let r = consumer.run_once().await.unwrap();
    assert_eq!(r.dead_lettered, 1, "dead-lettered after {MAX_RECEIVES} attempts");
    let feed_now = w.feed(feed).await;
    assert_eq!(feed_now.counts.failed, 1);
    assert_eq!(feed_now.status, FeedStatus::CompletedWithErrors);
    let dead = w
        .queue
        .list_dead_letters(&DeadLetterFilter { tenant: Some(w.tenant.to_string()), after: None, limit: 10 })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.contains("disk I/O error"), "{}", dead[0].reason);
    assert_eq!(dead[0].receive_count, MAX_RECEIVES);

    // The store recovers; the operator redrives; the change is applied once.
    w.flaky.failing.store(false, Ordering::SeqCst);
    assert_eq!(w.queue.redrive(&Redrive::All { tenant: Some(w.tenant.to_string()) }).await.unwrap(), 1);
    let r = consumer.run_once().await.unwrap();
    assert_eq!(r.acknowledged, 1);
    let feed_now = w.feed(feed).await;
    assert_eq!((feed_now.counts.failed, feed_now.counts.applied), (0, 1));
    assert_eq!(feed_now.status, FeedStatus::Completed);
    let person = w.directory.get_person(w.tenant, &ExternalId::parse("E1").unwrap()).await.unwrap().unwrap();
    assert_eq!(person.person.title.as_deref(), Some("Clerk"));
    assert_eq!(w.queue.stats().await.unwrap().dead_letters, 0);
}

#[tokio::test]
async fn a_directory_outage_holds_the_batch_and_never_dead_letters_it() {
    // A write lock held by another process for longer than all the receives
    // a message may have: before, the backlog was dead-lettered.
    let w = world().await;
    let feed = w.submit(json!([{"externalId": "E1"}, {"externalId": "E2"}])).await;
    w.flaky.unavailable_for.store(MAX_RECEIVES * 3, Ordering::SeqCst);
    let consumer = Consumer::new(
        w.queue.clone(),
        w.flaky.clone(),
        Arc::new(w.clock.clone()),
        ConsumerConfig {
            workers: 1,
            batch_size: 10,
            wait: Duration::ZERO,
            backoff: Backoff { base: Duration::from_millis(5), cap: Duration::from_millis(20) },
            max_receive_count: MAX_RECEIVES,
            ..ConsumerConfig::default()
        },
    );
    let r = consumer.run_once().await.unwrap();
    assert_eq!((r.received, r.acknowledged, r.dead_lettered, r.retried), (2, 2, 0, 0));
    assert_eq!(w.flaky.unavailable_for.load(Ordering::SeqCst), 0, "it kept trying until the store was back");
    let stats = w.queue.stats().await.unwrap();
    assert_eq!((stats.depth(), stats.dead_letters), (0, 0));
    assert_eq!(w.feed(feed).await.status, FeedStatus::Completed);
}

#[tokio::test]
async fn a_shutdown_during_an_outage_releases_the_batch_for_later() {
    let w = world().await;
    w.submit(json!([{"externalId": "E1"}])).await;
    w.flaky.unavailable_for.store(u32::MAX, Ordering::SeqCst);
    let consumer = Arc::new(w.consumer());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = {
        let consumer = Arc::clone(&consumer);
        tokio::spawn(async move { consumer.run_once_until(&stopped).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let r = running.await.unwrap().unwrap();
    assert_eq!((r.received, r.dead_lettered, r.retried), (1, 0, 1));
    let stats = w.queue.stats().await.unwrap();
    assert_eq!((stats.visible, stats.dead_letters), (1, 0), "back in the queue at once, not dead");
}

#[tokio::test]
async fn a_message_the_queue_dead_letters_by_itself_is_counted_in_its_feed() {
    // A consumer that died after its last receive: the queue's own receive
    // limit moves the message, and nobody tells the directory. The
    // scheduler's sweep finds it, so the feed finishes.
    let w = world().await;
    let feed = w.submit(json!([{"externalId": "E1"}, {"externalId": "E2"}])).await;
    let hidden =
        ReceiveRequest { max_messages: 1, visibility_timeout: Duration::from_secs(1), wait: Duration::ZERO };
    for _ in 0..MAX_RECEIVES {
        assert_eq!(w.queue.receive(hidden).await.unwrap().len(), 1, "received, never acknowledged");
        w.clock.advance_millis(1_001);
    }
    let r = w.consumer().run_once().await.unwrap();
    assert_eq!((r.acknowledged, r.dead_lettered), (1, 0), "the other applies; the queue moved the first");
    assert_eq!(w.queue.stats().await.unwrap().dead_letters, 1);
    assert_eq!(w.feed(feed).await.status, FeedStatus::Processing, "one short: not finished");

    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig::default(),
    )
    .with_queue(w.queue.clone());
    w.clock.advance_millis(600_000);
    let swept = scheduler.run_once().await.unwrap();
    assert_eq!(swept.dead_letters_counted, 1);
    let done = w.feed(feed).await;
    assert_eq!(
        (done.status, done.counts.failed, done.counts.applied),
        (FeedStatus::CompletedWithErrors, 1, 1)
    );
    // Counted once, however often the sweep runs.
    scheduler.run_once().await.unwrap();
    assert_eq!(w.feed(feed).await.counts.failed, 1);
}

#[tokio::test]
async fn a_message_whose_feed_is_unknown_is_rejected_to_the_dlq() {
    let w = world().await;
    let msg = ChangeMessage {
        message_id: roster_core::MessageId::new(),
        tenant_id: w.tenant,
        feed_id: FeedId::new(),
        source: SourceName::default(),
        index: 0,
        accepted_at: w.clock.now(),
        last_modified: None,
        change: roster_core::Change::Deactivate { external_id: ExternalId::parse("E1").unwrap() },
        request_id: None,
        probe: false,
    };
    w.queue
        .send_batch(vec![OutgoingMessage {
            id: msg.message_id.to_string(),
            group_id: msg.group_id(),
            tenant: w.tenant.to_string(),
            body: msg.to_bytes(),
            delay: Duration::ZERO,
        }])
        .await
        .unwrap();
    let r = w.consumer().run_once().await.unwrap();
    assert_eq!(r.dead_lettered, 1);
    let dead =
        w.queue.get_dead_letter(&w.tenant.to_string(), &msg.message_id.to_string()).await.unwrap().unwrap();
    assert!(dead.reason.contains("unknown feed"), "{}", dead.reason);
}

/// A backlog queued by a build that wrote timestamps as integer
/// milliseconds (before they became RFC 3339 strings) is applied after the
/// upgrade, with the times it carried.
#[tokio::test]
async fn a_message_queued_by_an_older_build_is_applied() {
    let w = world().await;
    let feed = w
        .submit(
            json!([{"externalId": "E1", "userName": "e1", "meta": {"lastModified": "2023-11-14T22:00:00Z"}}]),
        )
        .await;
    let hidden =
        ReceiveRequest { max_messages: 1, visibility_timeout: Duration::from_secs(30), wait: Duration::ZERO };
    let queued = w.queue.receive(hidden).await.unwrap().pop().expect("the feed's message");
    let mut old: serde_json::Value = serde_json::from_slice(&queued.body).unwrap();
    assert!(old["acceptedAt"].is_string(), "this build writes RFC 3339: {}", old["acceptedAt"]);
    let accepted_ms = ChangeMessage::from_bytes(&queued.body).unwrap().accepted_at.millis();
    old["acceptedAt"] = json!(accepted_ms);
    old["lastModified"] = json!(1_700_000_000_000_i64);
    // The old message replaces the new one, under another queue id (the
    // queue dedupes by it); the directory knows it by its `messageId`.
    w.queue.delete_batch(&[queued.receipt]).await.unwrap();
    w.queue
        .send_batch(vec![OutgoingMessage {
            id: roster_core::MessageId::new().to_string(),
            group_id: queued.group_id,
            tenant: queued.tenant,
            body: serde_json::to_vec(&old).unwrap(),
            delay: Duration::ZERO,
        }])
        .await
        .unwrap();
    let r = w.consumer().run_once().await.unwrap();
    assert_eq!(r.dead_lettered, 0, "an old message is no undecodable one");
    let f = w.feed(feed).await;
    assert_eq!((f.counts.applied, f.status), (1, FeedStatus::Completed));
    let person = w.directory.get_person(w.tenant, &ExternalId::parse("E1").unwrap()).await.unwrap().unwrap();
    assert_eq!(person.person.external_id.as_str(), "E1");
    // A newer record of the source is still told from an older one by the
    // `lastModified` the old message carried.
    let stale = w
        .submit(json!([{"externalId": "E1", "userName": "e1-old", "meta": {"lastModified": "2023-11-14T21:00:00Z"}}]))
        .await;
    w.consumer().run_once().await.unwrap();
    assert_eq!(w.feed(stale).await.counts.stale, 1);
}

/// The real directory's write path, with `apply_batch` failing as a broken
/// store would (`failing`: a storage error) or a briefly locked one
/// (`unavailable_for`: that many `Unavailable` answers).
struct FlakyApplier {
    inner: Arc<dyn ChangeApplier>,
    failing: AtomicBool,
    unavailable_for: AtomicU32,
}

#[async_trait]
impl ChangeApplier for FlakyApplier {
    async fn apply_batch(
        &self,
        m: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("disk I/O error".into()));
        }
        if self.unavailable_for.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            return Err(StoreError::Unavailable("database is locked".into()));
        }
        self.inner.apply_batch(m, now).await
    }
    async fn record_failure(&self, m: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
        self.inner.record_failure(m, now).await
    }
}

/// The real directory's feeds and sources, as ingest sees them, noting the
/// most snapshot members listed in one call.
struct MemberCounter {
    inner: Arc<dyn IngestStore>,
    most_members: AtomicUsize,
}

#[async_trait]
impl FeedStore for MemberCounter {
    async fn create_feed(&self, f: NewFeed) -> Result<Feed, StoreError> {
        self.inner.create_feed(f).await
    }
    async fn add_snapshot_members(
        &self,
        t: TenantId,
        f: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.most_members.fetch_max(ids.len(), Ordering::SeqCst);
        self.inner.add_snapshot_members(t, f, ids, now).await
    }
    async fn seal_feed(
        &self,
        t: TenantId,
        f: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.inner.seal_feed(t, f, seal, now).await
    }
    async fn decide_snapshot(
        &self,
        t: TenantId,
        f: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.inner.decide_snapshot(t, f, approve, now).await
    }
    async fn fail_feed(&self, t: TenantId, f: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.inner.fail_feed(t, f, now).await
    }
    async fn touch_feed(&self, t: TenantId, f: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.inner.touch_feed(t, f, now).await
    }
    async fn get_feed(&self, t: TenantId, f: FeedId) -> Result<Option<Feed>, StoreError> {
        self.inner.get_feed(t, f).await
    }
    async fn find_feeds(
        &self,
        t: TenantId,
        filter: &FeedFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        self.inner.find_feeds(t, filter, limit, cursor).await
    }
    async fn feed_leavers(
        &self,
        t: TenantId,
        f: FeedId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<roster_store::Leaver>, StoreError> {
        self.inner.feed_leavers(t, f, limit, cursor).await
    }
}

#[async_trait]
impl roster_store::PeopleReader for MemberCounter {
    async fn get_person(
        &self,
        t: TenantId,
        id: &ExternalId,
    ) -> Result<Option<roster_store::PersonRecord>, StoreError> {
        self.inner.get_person(t, id).await
    }
    async fn find_people(
        &self,
        t: TenantId,
        filter: &roster_store::PeopleFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<roster_store::PersonRecord>, StoreError> {
        self.inner.find_people(t, filter, limit, cursor).await
    }
    async fn people_by_key(
        &self,
        t: TenantId,
        key: roster_store::PersonKey,
        values: Vec<String>,
    ) -> Result<Vec<(String, ExternalId)>, StoreError> {
        self.inner.people_by_key(t, key, values).await
    }
    async fn managers_of(
        &self,
        t: TenantId,
        ids: Vec<ExternalId>,
    ) -> Result<Vec<(ExternalId, ExternalId)>, StoreError> {
        self.inner.managers_of(t, ids).await
    }
    async fn person_history(
        &self,
        t: TenantId,
        id: &ExternalId,
    ) -> Result<Vec<roster_store::HistoryEntry>, StoreError> {
        self.inner.person_history(t, id).await
    }
}

#[async_trait]
impl SourceStore for MemberCounter {
    async fn get_source(&self, t: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError> {
        self.inner.get_source(t, name).await
    }
    async fn put_source(
        &self,
        t: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError> {
        self.inner.put_source(t, name, settings, now).await
    }
    async fn list_sources(&self, t: TenantId) -> Result<Vec<Source>, StoreError> {
        self.inner.list_sources(t).await
    }
    async fn delete_source(&self, t: TenantId, name: &SourceName) -> Result<Source, StoreError> {
        self.inner.delete_source(t, name).await
    }
}

#[tokio::test]
async fn future_dated_hires_and_terminations_happen_on_their_day() {
    let w = world().await; // 2023-11-14
    w.submit(json!([
        {"externalId": "NEW", "title": "Analyst", "hireDate": "2023-11-20"},
        {"externalId": "OLD", "hireDate": "2019-03-01", "terminationDate": "2023-11-17"}
    ]))
    .await;
    w.consumer().run_once().await.unwrap();
    let status = |id: &'static str| {
        let d = w.directory.clone();
        let t = w.tenant;
        async move { d.get_person(t, &ExternalId::parse(id).unwrap()).await.unwrap().unwrap().status }
    };
    assert_eq!(status("NEW").await, roster_core::Status::Pending);
    assert_eq!(status("OLD").await, roster_core::Status::Active);
    let kinds = |events: Vec<OutboxEvent>| events.into_iter().map(|e| e.kind.as_str()).collect::<Vec<_>>();
    // The feed ends at once (its records are applied); its dates act later.
    assert_eq!(
        kinds(w.directory.list_events(w.tenant, 0, 10).await.unwrap()),
        ["person.joined", "feed.completed"]
    );

    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig { batch: 1, ..Default::default() },
    );
    assert_eq!(scheduler.run_once().await.unwrap().due, 0, "nothing is due on the 14th");
    w.clock.advance_millis(3 * 86_400_000); // the 17th: the notice period ends
    assert_eq!(scheduler.run_once().await.unwrap().due, 1);
    assert_eq!(status("OLD").await, roster_core::Status::Inactive);
    w.clock.advance_millis(3 * 86_400_000); // the 20th: the hire starts
    assert_eq!(scheduler.run_once().await.unwrap().due, 1);
    assert_eq!(status("NEW").await, roster_core::Status::Active);
    let events = w.directory.list_events(w.tenant, 0, 10).await.unwrap();
    assert_eq!(kinds(events.clone()), ["person.joined", "feed.completed", "person.left", "person.joined"]);
    assert_eq!(events[3].payload["person"]["title"], "Analyst");
}

#[tokio::test]
async fn an_upload_that_stops_arriving_is_failed_by_the_scheduler() {
    let w = world().await;
    let id = FeedId::new();
    w.directory
        .create_feed(NewFeed {
            id,
            tenant_id: w.tenant,
            source: SourceName::default(),
            mode: FeedMode::Full,
            format: "csv".into(),
            sealed: false,
            received: 0,
            accepted: 0,
            rejections: vec![],
            created_at: w.clock.now(),
        })
        .await
        .unwrap();
    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig { stall_timeout: Duration::from_secs(3600), ..Default::default() },
    );
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 0);
    assert_eq!(w.feed(id).await.status, FeedStatus::Receiving, "still arriving, as far as anyone knows");
    w.clock.advance_millis(3_601_000);
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 1);
    assert_eq!(w.feed(id).await.status, FeedStatus::Failed);
}

/// The real queue, whose `send_batch` never returns while `hang` is set: a
/// process killed between recording a feed and queueing its messages.
struct HangingQueue {
    inner: Arc<dyn Queue>,
    hang: AtomicBool,
}

#[async_trait]
impl Queue for HangingQueue {
    async fn send_batch(
        &self,
        m: Vec<OutgoingMessage>,
    ) -> Result<roster_queue::SendOutcome, roster_queue::QueueError> {
        // Hangs for as long as `hang` is set (for ever, for a process that
        // "died" here).
        while self.hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.inner.send_batch(m).await
    }
    async fn receive(
        &self,
        r: ReceiveRequest,
    ) -> Result<Vec<roster_queue::ReceivedMessage>, roster_queue::QueueError> {
        self.inner.receive(r).await
    }
    async fn delete_batch(&self, r: &[roster_queue::ReceiptHandle]) -> Result<(), roster_queue::QueueError> {
        self.inner.delete_batch(r).await
    }
    async fn change_visibility(
        &self,
        r: &roster_queue::ReceiptHandle,
        t: Duration,
        e: Option<&str>,
    ) -> Result<(), roster_queue::QueueError> {
        self.inner.change_visibility(r, t, e).await
    }
    async fn dead_letter(
        &self,
        m: &roster_queue::ReceivedMessage,
        why: &str,
    ) -> Result<(), roster_queue::QueueError> {
        self.inner.dead_letter(m, why).await
    }
    async fn list_dead_letters(
        &self,
        f: &DeadLetterFilter,
    ) -> Result<Vec<roster_queue::DeadLetter>, roster_queue::QueueError> {
        self.inner.list_dead_letters(f).await
    }
    async fn get_dead_letter(
        &self,
        t: &str,
        id: &str,
    ) -> Result<Option<roster_queue::DeadLetter>, roster_queue::QueueError> {
        self.inner.get_dead_letter(t, id).await
    }
    async fn redrive(&self, w: &Redrive) -> Result<u64, roster_queue::QueueError> {
        self.inner.redrive(w).await
    }
    async fn purge_dead_letters(&self, t: Option<&str>) -> Result<u64, roster_queue::QueueError> {
        self.inner.purge_dead_letters(t).await
    }
    async fn stats(&self) -> Result<roster_queue::QueueStats, roster_queue::QueueError> {
        self.inner.stats().await
    }
}

#[tokio::test]
async fn a_feed_cut_off_before_its_messages_were_queued_is_failed_by_the_sweep() {
    let w = world().await;
    let queue = Arc::new(HangingQueue { inner: w.queue.clone(), hang: AtomicBool::new(true) });
    let ingest =
        Ingest::new(w.members.clone(), queue.clone(), Arc::new(w.clock.clone()), IngestConfig::default());
    let body = Bytes::from_static(br#"{"records": [{"externalId": "E1"}, {"externalId": "E2"}]}"#);
    // The request never answers: the process "dies" here.
    let cut =
        tokio::time::timeout(Duration::from_millis(200), ingest.submit_json(&w.sub(), None, body)).await;
    assert!(cut.is_err(), "the submission was cut off");
    let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap().items;
    assert_eq!(feeds.len(), 1);
    assert_eq!(feeds[0].status, FeedStatus::Receiving, "not acknowledged, so never `accepted`");
    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig { stall_timeout: Duration::from_secs(3600), ..Default::default() },
    );
    w.clock.advance_millis(3_600_001);
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 1);
    assert_eq!(w.feed(feeds[0].id).await.status, FeedStatus::Failed, "a final state; the client resends");
}

/// A request whose sending outlasts the stall timeout: the sweep fails its
/// feed, and the request must not be acknowledged — it gets a retryable
/// error (503 at the API), never a 202 nor a 409 the client cannot act on.
#[tokio::test]
async fn a_feed_failed_by_the_sweep_while_it_was_sent_is_never_acknowledged() {
    let w = world().await;
    let queue = Arc::new(HangingQueue { inner: w.queue.clone(), hang: AtomicBool::new(true) });
    let ingest = Arc::new(Ingest::new(
        w.members.clone(),
        queue.clone(),
        Arc::new(w.clock.clone()),
        IngestConfig::default(),
    ));
    let sending = {
        let (ingest, sub) = (Arc::clone(&ingest), w.sub());
        let body = Bytes::from_static(br#"{"records": [{"externalId": "E1"}, {"externalId": "E2"}]}"#);
        tokio::spawn(async move { ingest.submit_json(&sub, None, body).await })
    };
    let mut feeds = Vec::new();
    for _ in 0..200 {
        feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap().items;
        if !feeds.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(feeds.len(), 1, "the feed was recorded before sending");
    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig { stall_timeout: Duration::from_secs(3600), ..Default::default() },
    );
    w.clock.advance_millis(3_600_001);
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 1);
    queue.hang.store(false, Ordering::SeqCst);
    let err = sending.await.unwrap().expect_err("a failed feed is never acknowledged");
    assert!(matches!(err, IngestError::Stalled), "{err:?}");
    assert_eq!(w.feed(feeds[0].id).await.status, FeedStatus::Failed, "it stays failed: the client resends");
}

#[tokio::test]
async fn a_record_dated_far_ahead_is_refused_and_still_a_snapshot_member() {
    let w = world().await;
    let body = Bytes::from(
        serde_json::to_vec(&json!({"mode": "full", "records": [
            {"externalId": "E1", "meta": {"lastModified": "2099-01-01T00:00:00Z"}},
            {"externalId": "E2", "meta": {"lastModified": "2023-11-14T00:00:00Z"}}
        ]}))
        .unwrap(),
    );
    let receipt = w.ingest(1_000).submit_json(&w.sub(), None, body).await.unwrap();
    assert_eq!(receipt.accepted, 1);
    assert_eq!(receipt.rejected.len(), 1);
    assert_eq!(receipt.rejected[0].index, 0);
    assert_eq!(receipt.rejected[0].errors[0].path, "meta.lastModified");
    assert!(receipt.rejected[0].errors[0].message.contains("ahead of the server's clock"));
}

/// A CSV body that arrives when the test says so: each `send` is one read.
struct GatedCsv {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl std::io::Read for GatedCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv() {
                Ok(bytes) => self.pending = bytes,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[tokio::test]
async fn a_slow_upload_is_kept_alive_by_its_progress_and_a_failed_one_is_never_acknowledged() {
    let w = world().await;
    let ingest = Arc::new(Ingest::new(
        w.members.clone(),
        w.queue.clone(),
        Arc::new(w.clock.clone()),
        IngestConfig { progress_every: Duration::ZERO, ..IngestConfig::default() },
    ));
    let scheduler = roster_engine::Scheduler::new(
        w.directory.clone(),
        Arc::new(w.clock.clone()),
        roster_engine::SchedulerConfig { stall_timeout: Duration::from_secs(3600), ..Default::default() },
    );
    let upload = |rx| {
        let (ingest, sub) = (Arc::clone(&ingest), w.sub());
        tokio::spawn(async move {
            ingest.submit_csv_stream(&sub, FeedMode::Delta, GatedCsv { rx, pending: Vec::new() }).await
        })
    };
    let receiving = || async {
        let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap().items;
        feeds.into_iter().find(|f| f.status == FeedStatus::Receiving)
    };
    let wait_until = |what: &'static str, done: Box<dyn Fn(&Feed) -> bool + Send>| {
        let w = &w;
        async move {
            for _ in 0..200 {
                let feeds = w.directory.list_feeds(w.tenant, 10, None).await.unwrap().items;
                if feeds.iter().any(&done) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{what} never happened");
        }
    };

    // Alive: a row two hours after the last keeps the upload from the sweep.
    let (tx, rx) = std::sync::mpsc::channel();
    let alive = upload(rx);
    tx.send(b"externalId\nE1\nE2\n".to_vec()).unwrap();
    wait_until("the upload started", Box::new(|f| f.status == FeedStatus::Receiving)).await;
    w.clock.advance_millis(2 * 3_600_000);
    let at = w.clock.now();
    tx.send(b"E3\nE4\n".to_vec()).unwrap();
    wait_until("progress", Box::new(move |f| f.updated_at >= at)).await;
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 0, "progress keeps it alive");
    drop(tx);
    let receipt = alive.await.unwrap().expect("acknowledged");
    assert_eq!(receipt.accepted, 4);
    assert!(receiving().await.is_none());

    // Stalled: the sweep fails it; the rows that come after cannot revive
    // it, and the client gets an error, not a 202.
    let (tx, rx) = std::sync::mpsc::channel();
    let stalled = upload(rx);
    tx.send(b"externalId\nE5\n".to_vec()).unwrap();
    wait_until("the second upload started", Box::new(|f| f.status == FeedStatus::Receiving)).await;
    w.clock.advance_millis(2 * 3_600_000);
    assert_eq!(scheduler.run_once().await.unwrap().stalled_feeds, 1);
    tx.send(b"E6\n".to_vec()).unwrap();
    drop(tx);
    let err = stalled.await.unwrap().expect_err("a failed feed is never acknowledged");
    assert!(matches!(err, IngestError::Stalled), "retryable, for the client to resend: {err:?}");
}

/// `decide` says what becomes of each message and leaves the queue alone:
/// the host carries it out (the worker on the queue, a function by
/// answering its runtime).
#[tokio::test]
async fn decide_gives_each_message_its_fate_and_leaves_the_queue_alone() {
    use roster_engine::consumer::Fate;
    let w = world().await;
    let c = w.consumer();
    let (_keep, give_up) = tokio::sync::watch::channel(true);
    let receive =
        || async { w.queue.receive(ReceiveRequest { max_messages: 10, ..receive_req() }).await.unwrap() };

    w.submit(json!([{"externalId": "E1"}, {"externalId": "E2"}])).await;
    let garbage = OutgoingMessage {
        id: "garbage".into(),
        group_id: "g".into(),
        tenant: w.tenant.to_string(),
        body: b"{not json".to_vec(),
        delay: Duration::ZERO,
    };
    w.queue.send_batch(vec![garbage]).await.unwrap();
    let decided = c.decide(receive().await, &give_up).await;
    let mut fates: Vec<(String, Fate)> = decided.into_iter().map(|d| (d.message.id, d.fate)).collect();
    fates.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(fates.len(), 3, "{fates:?}");
    assert!(
        matches!(&fates.iter().find(|f| f.0 == "garbage").unwrap().1,
        Fate::DeadLetter { reason } if reason.starts_with("undecodable")),
        "{fates:?}"
    );
    let applied = fates.iter().filter(|f| f.1 == Fate::Acknowledge { outcome: "applied" }).count();
    assert_eq!(applied, 2, "{fates:?}");
    assert_eq!(w.queue.stats().await.unwrap().in_flight, 3, "nothing deleted or dead-lettered by deciding");
    assert!(w.directory.get_person(w.tenant, &ExternalId::parse("E2").unwrap()).await.unwrap().is_some());

    // An outage with a host that cannot wait: let go at once.
    w.submit(json!([{"externalId": "E3"}])).await;
    w.flaky.unavailable_for.store(1, Ordering::SeqCst);
    let decided = c.decide(receive().await, &give_up).await;
    assert!(matches!(&decided[0].fate, Fate::Release { error } if error.contains("locked")), "{decided:?}");

    // A failing apply: retried with backoff while receives remain. (Nothing
    // was carried out, so every message is back, received a second time.)
    w.clock.advance_millis(60_000);
    w.flaky.failing.store(true, Ordering::SeqCst);
    let decided = c.decide(receive().await, &give_up).await;
    assert_eq!(decided.len(), 4, "{decided:?}");
    for d in decided.iter().filter(|d| d.change.is_some()) {
        assert!(
            matches!(&d.fate, Fate::Retry { delay, error } if !delay.is_zero() && error.contains("disk")),
            "{decided:?}"
        );
    }
}

/// A runtime's batch (an SQS-triggered function): what is applied is left
/// for the runtime to delete, and a directory outage reports every message
/// not applied, in the order given, at once.
#[tokio::test]
async fn a_runtimes_batch_reports_what_must_come_back_and_leaves_the_applied_to_it() {
    let w = world().await;
    let c = w.consumer();
    let receive = || async { w.queue.receive(receive_req()).await.unwrap() };

    w.submit(json!([{"externalId": "E1"}, {"externalId": "E2"}])).await;
    let (report, cycle) = c.settle_for_runtime(receive().await).await;
    assert_eq!(report, vec![false, false], "both applied: nothing to report");
    assert_eq!((cycle.received, cycle.acknowledged), (2, 2));
    assert_eq!(w.queue.stats().await.unwrap().in_flight, 2, "the runtime deletes them, not the consumer");
    assert!(w.directory.get_person(w.tenant, &ExternalId::parse("E2").unwrap()).await.unwrap().is_some());

    w.submit(json!([{"externalId": "E3"}, {"externalId": "E4"}])).await;
    w.flaky.unavailable_for.store(1, Ordering::SeqCst);
    let (report, cycle) = c.settle_for_runtime(receive().await).await;
    assert_eq!(report, vec![true, true], "an outage reports the whole unapplied batch");
    assert_eq!(cycle.retried, 2);
    assert!(w.directory.get_person(w.tenant, &ExternalId::parse("E3").unwrap()).await.unwrap().is_none());
    assert_eq!(receive().await.len(), 2, "let go at once, not after the visibility timeout");
}

fn receive_req() -> ReceiveRequest {
    ReceiveRequest { max_messages: 10, visibility_timeout: Duration::from_secs(30), wait: Duration::ZERO }
}
