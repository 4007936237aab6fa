//! The outbox dispatcher over the real SQLite directory, a scripted sink and
//! a manual clock: order, retries at their backoff times, dead letters that
//! free the endpoint, redrive, and a restart that resumes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::secret::Secret;
use roster_core::validate::parse_record;
use roster_core::{
    ChangeMessage, Clock, FeedId, FeedMode, ManualClock, MessageId, SourceName, TenantId, Timestamp,
};
use roster_engine::backoff::Backoff;
use roster_engine::outbox::{OutboxConfig, OutboxDispatcher, PassReport};
use roster_notify::events::{sign, signature_header};
use roster_notify::{DeliveryError, EventDelivery, EventSink};
use roster_store::prelude::*;
use roster_store::{EventDeadLetterState, NewEndpoint, NewFeed};
use roster_store_sqlite::SqliteDirectory;
use serde_json::json;

/// Answers with the scripted statuses (200 once they run out) and records
/// each attempt as (webhook-id, event type) and its `webhook-signature`.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<u16>>,
    attempts: Mutex<Vec<(String, String)>>,
    sent: Mutex<Vec<Sent>>,
}

/// What a receiver would check the signature with, and the signature.
#[derive(Debug, Clone)]
struct Sent {
    id: String,
    timestamp: i64,
    body: Vec<u8>,
    signature: String,
}

#[async_trait]
impl EventSink for Scripted {
    async fn deliver(&self, d: &EventDelivery<'_>) -> Result<(), DeliveryError> {
        let body: serde_json::Value = serde_json::from_slice(d.body).unwrap();
        self.attempts.lock().unwrap().push((d.id.to_owned(), body["type"].as_str().unwrap().to_owned()));
        let signature = signature_header(d).unwrap();
        let sent = Sent { id: d.id.to_owned(), timestamp: d.timestamp, body: d.body.to_vec(), signature };
        self.sent.lock().unwrap().push(sent);
        match self.answers.lock().unwrap().pop_front().unwrap_or(200) {
            200 => Ok(()),
            s => Err(DeliveryError::Status(s)),
        }
    }
}

impl Scripted {
    fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }

    /// The `webhook-id` of each attempt, without the `evt_` its public form
    /// starts with (the store's ids, to compare with the directory's).
    fn ids(&self) -> Vec<String> {
        let ids: Vec<String> = self.attempts.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
        ids.iter()
            .map(|id| id.strip_prefix("evt_").unwrap_or_else(|| panic!("{id}: not an event id")).to_owned())
            .collect()
    }
}

struct Setup {
    directory: Arc<SqliteDirectory>,
    clock: ManualClock,
    sink: Arc<Scripted>,
    tenant: TenantId,
    endpoint: String,
    _dir: tempfile::TempDir,
}

fn config() -> OutboxConfig {
    OutboxConfig {
        poll_interval: Duration::from_millis(10),
        max_attempts: 3,
        backoff: Backoff { base: Duration::from_secs(10), cap: Duration::from_secs(60) },
        attempt_timeout: Duration::from_secs(5),
        batch: 2,
    }
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let directory = Arc::new(SqliteDirectory::open(&dir.path().join("directory.db")).unwrap());
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let tenant = directory.create_tenant("acme", clock.now()).await.unwrap().id;
    let endpoint = directory
        .create_endpoint(
            NewEndpoint {
                tenant_id: tenant,
                url: "https://hooks.example.com/x".into(),
                description: None,
                event_types: None,
                secret: Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="),
            },
            clock.now(),
        )
        .await
        .unwrap()
        .id;
    Setup { directory, clock, sink: Arc::default(), tenant, endpoint, _dir: dir }
}

impl Setup {
    fn dispatcher(&self) -> OutboxDispatcher {
        OutboxDispatcher::new(
            self.directory.clone(),
            self.sink.clone(),
            Arc::new(self.clock.clone()),
            config(),
        )
    }

    /// A joiner per id, each its own event. Their feeds are still being
    /// received (streamed uploads), so no `feed.completed` comes between
    /// them: these cases are about delivering events, whatever their type.
    async fn joiners(&self, ids: &[&str]) -> Vec<String> {
        for id in ids {
            let feed = FeedId::new();
            self.directory
                .create_feed(NewFeed {
                    id: feed,
                    tenant_id: self.tenant,
                    source: SourceName::default(),
                    mode: FeedMode::Delta,
                    format: "csv".into(),
                    sealed: false,
                    received: 0,
                    accepted: 0,
                    rejections: vec![],
                    created_at: self.clock.now(),
                })
                .await
                .unwrap();
            let rec = parse_record(&json!({"externalId": id})).unwrap();
            let m = ChangeMessage {
                message_id: MessageId::new(),
                tenant_id: self.tenant,
                feed_id: feed,
                source: SourceName::default(),
                index: 0,
                accepted_at: self.clock.now(),
                last_modified: rec.last_modified,
                change: rec.change,
                request_id: None,
                probe: false,
            };
            self.directory.apply_batch(&[m], self.clock.now()).await.unwrap();
        }
        let all = self.directory.list_events(self.tenant, 0, 1000).await.unwrap();
        all.iter().rev().take(ids.len()).rev().map(|e| e.id.clone()).collect()
    }
}

fn report(delivered: u64, retried: u64, dead_lettered: u64) -> PassReport {
    PassReport { delivered, retried, dead_lettered }
}

#[tokio::test]
async fn events_go_in_order_and_a_failure_waits_for_its_backoff() {
    let s = setup().await;
    let ids = s.joiners(&["E1", "E2", "E3"]).await;
    s.sink.answer(&[500]);
    let d = s.dispatcher();
    assert_eq!(d.run_once().await.unwrap(), report(0, 1, 0), "the first event failed: nothing after it");
    assert_eq!(d.run_once().await.unwrap(), report(0, 0, 0), "not before its backoff");
    s.clock.advance_millis(10_000);
    assert_eq!(d.run_once().await.unwrap(), report(3, 0, 0), "more than one page");
    assert_eq!(
        s.sink.ids(),
        [ids[0].as_str(), &ids[0], &ids[1], &ids[2]],
        "the retry has the same webhook-id"
    );
    assert_eq!(d.run_once().await.unwrap(), report(0, 0, 0), "nothing is sent twice");
    assert_eq!(s.directory.outbox_backlog().await.unwrap()[0].pending, 0);
}

#[tokio::test]
async fn a_hopeless_event_is_dead_lettered_and_the_next_goes_on_then_a_redrive_delivers_it() {
    let s = setup().await;
    let ids = s.joiners(&["E1", "E2"]).await;
    s.sink.answer(&[503, 503, 503]);
    let d = s.dispatcher();
    d.run_once().await.unwrap();
    s.clock.advance_millis(60_000);
    d.run_once().await.unwrap();
    s.clock.advance_millis(60_000);
    assert_eq!(d.run_once().await.unwrap(), report(1, 0, 1), "third attempt: dead letter, then E2");
    let dead = s.directory.list_event_dead_letters(s.tenant, &s.endpoint, 0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].event.id.as_str(), dead[0].attempts, dead[0].last_status),
        (ids[0].as_str(), 3, Some(503))
    );
    assert_eq!(dead[0].last_error, "answered HTTP 503");

    assert_eq!(
        s.directory.redrive_event_dead_letters(s.tenant, &s.endpoint, s.clock.now()).await.unwrap(),
        1
    );
    assert_eq!(d.run_once().await.unwrap(), report(1, 0, 0));
    assert!(s.directory.list_event_dead_letters(s.tenant, &s.endpoint, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.sink.ids(), [ids[0].as_str(), &ids[0], &ids[0], &ids[1], &ids[0]]);
}

#[tokio::test]
async fn a_redriven_event_that_fails_again_returns_to_the_dead_letters() {
    let s = setup().await;
    s.joiners(&["E1"]).await;
    s.sink.answer(&[500, 500, 500, 500, 500, 500]);
    let d = s.dispatcher();
    for _ in 0..3 {
        d.run_once().await.unwrap();
        s.clock.advance_millis(60_000);
    }
    s.directory.redrive_event_dead_letters(s.tenant, &s.endpoint, s.clock.now()).await.unwrap();
    for _ in 0..3 {
        d.run_once().await.unwrap();
        s.clock.advance_millis(60_000);
    }
    let dead = s.directory.list_event_dead_letters(s.tenant, &s.endpoint, 0, 10).await.unwrap();
    assert_eq!((dead.len(), dead[0].state, dead[0].attempts), (1, EventDeadLetterState::Dead, 3));
}

#[tokio::test]
async fn a_new_dispatcher_resumes_where_the_last_one_stopped() {
    let s = setup().await;
    let ids = s.joiners(&["E1", "E2"]).await;
    s.sink.answer(&[500]);
    s.dispatcher().run_once().await.unwrap();
    // "Restart": a new dispatcher over the same directory and clock.
    let d = s.dispatcher();
    assert_eq!(d.run_once().await.unwrap(), report(0, 0, 0), "the stored retry time holds");
    s.clock.advance_millis(10_000);
    assert_eq!(d.run_once().await.unwrap(), report(2, 0, 0));
    assert_eq!(s.sink.ids(), [ids[0].as_str(), &ids[0], &ids[1]]);
}

#[tokio::test]
async fn an_endpoint_gets_only_the_types_it_asked_for() {
    let s = setup().await;
    let leavers_only = s
        .directory
        .create_endpoint(
            NewEndpoint {
                tenant_id: s.tenant,
                url: "https://hooks.example.com/leavers".into(),
                description: None,
                event_types: Some(vec![roster_core::lifecycle::EventType::Left]),
                secret: Secret::new("whsec_c2VjcmV0"),
            },
            s.clock.now(),
        )
        .await
        .unwrap();
    s.joiners(&["E1", "E2", "E3"]).await;
    assert_eq!(
        s.dispatcher().run_once().await.unwrap(),
        report(3, 0, 0),
        "the joiners, to the first endpoint only"
    );
    let types: Vec<String> = s.sink.attempts.lock().unwrap().iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(types, ["person.joined"; 3]);
    let ep = s.directory.get_endpoint(s.tenant, &leavers_only.id).await.unwrap().unwrap();
    let newest = s.directory.list_events(s.tenant, 0, 10).await.unwrap().last().unwrap().seq;
    assert_eq!(ep.cursor, newest, "the unwanted events are passed over");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_it_expires() {
    let s = setup().await;
    let old = Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=");
    let new = Secret::new("whsec_bmV3LXNlY3JldA==");
    let grace = 60_000;
    let until = s.clock.now().plus_millis(grace);
    s.directory
        .rotate_endpoint_secret(s.tenant, &s.endpoint, new.clone(), until, s.clock.now())
        .await
        .unwrap();
    s.joiners(&["E1"]).await;
    let d = s.dispatcher();
    assert_eq!(d.run_once().await.unwrap(), report(1, 0, 0));

    // Past the grace period: the new secret only.
    s.clock.advance_millis(grace);
    s.joiners(&["E2"]).await;
    assert_eq!(d.run_once().await.unwrap(), report(1, 0, 0));

    let sent = s.sink.sent.lock().unwrap().clone();
    let [during, after] = &sent[..] else { panic!("two deliveries: {sent:?}") };
    let with = |secret: &Secret, s: &Sent| sign(secret, &s.id, s.timestamp, &s.body).unwrap();
    let parts: Vec<&str> = during.signature.split(' ').collect();
    assert_eq!(
        parts,
        [with(&new, during), with(&old, during)],
        "during the grace period: the new secret's signature, then the old one's"
    );
    assert_eq!(after.signature, with(&new, after), "the expired secret no longer signs");
}

/// A sink that replays its endpoint from the start while it takes the
/// `at`-th delivery: the replay lands in the middle of a pass's page.
struct ReplaysMidPage {
    inner: Scripted,
    directory: Arc<SqliteDirectory>,
    tenant: TenantId,
    endpoint: String,
    at: usize,
}

#[async_trait]
impl EventSink for ReplaysMidPage {
    async fn deliver(&self, d: &EventDelivery<'_>) -> Result<(), DeliveryError> {
        let result = self.inner.deliver(d).await;
        if self.inner.attempts.lock().unwrap().len() == self.at {
            let from = roster_store::ReplayFrom::Position(0);
            self.directory.replay_endpoint(self.tenant, &self.endpoint, from, Timestamp(0)).await.unwrap();
        }
        result
    }
}

#[tokio::test]
async fn a_replay_during_a_pass_is_not_overwritten_by_its_cursor() {
    let s = setup().await;
    let ids = s.joiners(&["E1", "E2", "E3"]).await;
    let sink = Arc::new(ReplaysMidPage {
        inner: Scripted::default(),
        directory: s.directory.clone(),
        tenant: s.tenant,
        endpoint: s.endpoint.clone(),
        at: 2,
    });
    let d = OutboxDispatcher::new(s.directory.clone(), sink.clone(), Arc::new(s.clock.clone()), config());
    assert_eq!(d.run_once().await.unwrap(), report(2, 0, 0), "the pass stops at the end of its page");
    let endpoint = s.directory.get_endpoint(s.tenant, &s.endpoint).await.unwrap().unwrap();
    assert_eq!(endpoint.cursor, 0, "the replay's position holds");
    assert_eq!(d.run_once().await.unwrap(), report(3, 0, 0), "everything again, from the replay");
    assert_eq!(sink.inner.ids(), [&ids[0], &ids[1], &ids[0], &ids[1], &ids[2]].map(String::as_str));
}
