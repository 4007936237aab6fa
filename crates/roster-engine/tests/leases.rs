//! The jobs that run once per cluster, as two nodes of one cluster run
//! them: two engines over one directory — one SQLite file opened twice, and
//! one PostgreSQL database with a pool per node (`ROSTER_TEST_POSTGRES_URL`,
//! which `scripts/test` sets; with `ROSTER_REQUIRE_POSTGRES` a missing
//! server fails these tests). Only the lease holder runs a pass; a holder
//! that dies (stops renewing, never releases) is taken over once its lease
//! expires; an alarm transition is notified by one node, also across a
//! takeover and when two evaluators both believe they hold the lease; an
//! event is delivered by one node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use roster_core::alarm::{AlarmRule, Comparison, Transition};
use roster_core::secret::Secret;
use roster_core::validate::parse_record;
use roster_core::{ChangeMessage, Clock, FeedId, FeedMode, MessageId, SourceName, SystemClock};
use roster_engine::dispatch::{DispatchConfig, Dispatcher};
use roster_engine::outbox::{OutboxConfig, OutboxDispatcher};
use roster_engine::{
    AlarmConfig, AlarmEvaluator, Consumer, ConsumerConfig, LeaseConfig, Scheduler, SchedulerConfig, Singleton,
};
use roster_notify::{DeliveryError, EventDelivery, EventSink, Notifier, NotifyError};
use roster_queue::{OutgoingMessage, Queue, SqliteQueue, SqliteQueueConfig};
use roster_store::prelude::*;
use roster_store::{Directory, NewEndpoint, NewFeed};
use roster_store_postgres::PgDirectory;
use roster_store_sqlite::SqliteDirectory;
use serde_json::json;
use sqlx::Executor;

const TTL: Duration = Duration::from_secs(3);

/// Two nodes' views of one directory, and what keeps it alive.
struct Cluster {
    a: Arc<dyn Directory>,
    b: Arc<dyn Directory>,
    dir: tempfile::TempDir,
}

async fn sqlite() -> Option<Cluster> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.db");
    let a: Arc<dyn Directory> = Arc::new(SqliteDirectory::open(&path).unwrap());
    let b: Arc<dyn Directory> = Arc::new(SqliteDirectory::open(&path).unwrap());
    Some(Cluster { a, b, dir })
}

async fn postgres() -> Option<Cluster> {
    let Ok(admin) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none(),
            "ROSTER_REQUIRE_POSTGRES is set but ROSTER_TEST_POSTGRES_URL is not"
        );
        eprintln!("ROSTER_TEST_POSTGRES_URL not set: the PostgreSQL lease tests did not run");
        return None;
    };
    let name = format!("leases_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&admin).await.unwrap();
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    pool.close().await;
    let (base, query) = admin.split_once('?').map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    let url = match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    };
    PgDirectory::migrate(&url).await.unwrap();
    let a: Arc<dyn Directory> = Arc::new(PgDirectory::connect(&url, 4).await.unwrap());
    let b: Arc<dyn Directory> = Arc::new(PgDirectory::connect(&url, 4).await.unwrap());
    Some(Cluster { a, b, dir: tempfile::tempdir().unwrap() })
}

fn lease(directory: &Arc<dyn Directory>, name: &str, holder: &str) -> Arc<Singleton> {
    let leases: Arc<dyn Leases> = directory.clone();
    Singleton::new(leases, name, LeaseConfig { holder: holder.into(), ttl: TTL })
}

fn scheduler(directory: &Arc<dyn Directory>, lease: Arc<Singleton>) -> Scheduler {
    Scheduler::new(directory.clone(), Arc::new(SystemClock), SchedulerConfig::default()).with_lease(lease)
}

async fn one_scheduler_sweeps_and_the_other_takes_over_when_it_dies(c: Cluster) {
    let (la, lb) = (lease(&c.a, "scheduler", "node-a"), lease(&c.b, "scheduler", "node-b"));
    let (a, b) = (scheduler(&c.a, la.clone()), scheduler(&c.b, lb.clone()));
    assert!(a.run_leased().await.expect("the first node takes the free lease and sweeps").is_ok());
    for _ in 0..3 {
        assert!(b.run_leased().await.is_none(), "the other node does not sweep while it is held");
        assert!(a.run_leased().await.is_some(), "the holder sweeps again");
    }
    // Past several ttls the holder still holds: its renewals keep it.
    tokio::time::sleep(TTL + TTL / 2).await;
    assert!(b.run_leased().await.is_none(), "renewed in the background: still held");
    assert!(la.is_held());

    // The holder dies: it stops renewing and never releases.
    la.abandon();
    let died = Instant::now();
    assert!(b.run_leased().await.is_none(), "not before its lease expires");
    let took_over = loop {
        if b.run_leased().await.is_some() {
            break died.elapsed();
        }
        assert!(died.elapsed() < TTL * 3, "the other node never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(took_over <= TTL + Duration::from_secs(1), "took over after {took_over:?}");
    assert!(lb.is_held());
    // The dead node, back, finds it held by the other.
    assert!(a.run_leased().await.is_none());

    // A node that shuts down releases: the other takes over at once.
    lb.release().await;
    assert!(a.run_leased().await.is_some(), "released: taken at once");
    drop(c.dir);
}

/// A pass under way when its node loses the lease is dropped at its next
/// `.await`, not run to its end beside the new holder's.
async fn a_pass_is_stopped_when_its_lease_is_lost(c: Cluster) {
    let la = lease(&c.a, "scheduler", "node-a");
    assert!(la.hold().await);
    let pass = la.run(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "finished"
    });
    let lose = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        la.abandon();
    };
    let started = Instant::now();
    let (out, ()) = tokio::join!(pass, lose);
    assert_eq!(out, None, "the pass was dropped when the lease was lost");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(la.run(async {}).await.is_none(), "nothing runs while it is not held");
    drop(c.dir);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Transition>>);

#[async_trait]
impl Notifier for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(t.clone());
        Ok(())
    }
}

/// Two evaluators over one queue and one directory: a dead letter raises
/// the DLQ alarm, and only the lease holder notifies it.
async fn an_alarm_transition_is_notified_by_one_node(c: Cluster) {
    let queue = dlq_queue(&c);
    let (mut a, ra) = evaluator(&c.a, &queue, Some(lease(&c.a, "alarms", "node-a")));
    let (mut b, rb) = evaluator(&c.b, &queue, Some(lease(&c.b, "alarms", "node-b")));
    assert!(a.evaluate_leased().await.is_some(), "the first node holds the alarms");
    assert!(b.evaluate_leased().await.is_none(), "the second does not evaluate");
    dead_letter_one(&queue, &c.a).await;
    for _ in 0..3 {
        a.evaluate_leased().await;
        b.evaluate_leased().await;
    }
    let (a_stats, b_stats) = (a.shutdown().await, b.shutdown().await);
    let to_alarm = |r: &Recorder| r.0.lock().unwrap().iter().filter(|t| t.to.as_str() == "ALARM").count();
    assert_eq!((to_alarm(&ra), to_alarm(&rb)), (1, 0), "notified once, by the holder");
    assert_eq!((a_stats.delivered, b_stats.delivered), (1, 0));
}

/// A rule on the DLQ's depth, raised by one dead letter.
fn dlq_rule() -> AlarmRule {
    AlarmRule {
        name: "dlq".into(),
        metric: "dlq_depth".into(),
        comparison: Comparison::GreaterThanOrEqual,
        threshold: 1.0,
        period_seconds: 60,
        reminder_seconds: None,
    }
}

/// An evaluator of [`dlq_rule`] over `queue` and `directory`, under
/// `lease` if given, and what it notifies.
fn evaluator(
    directory: &Arc<dyn Directory>,
    queue: &Arc<dyn Queue>,
    lease: Option<Arc<Singleton>>,
) -> (AlarmEvaluator, Arc<Recorder>) {
    let consumer =
        Consumer::new(queue.clone(), directory.clone(), Arc::new(SystemClock), ConsumerConfig::default());
    let recorder = Arc::new(Recorder::default());
    let dispatcher = Dispatcher::spawn(vec![recorder.clone()], DispatchConfig::default());
    let evaluator = AlarmEvaluator::new(
        vec![dlq_rule()],
        queue.clone(),
        directory.clone(),
        Arc::new(SystemClock),
        consumer.stats(),
        dispatcher,
        AlarmConfig::default(),
    )
    .unwrap();
    match lease {
        Some(lease) => (evaluator.with_lease(lease), recorder),
        None => (evaluator, recorder),
    }
}

/// A queue whose first failed receive dead-letters, in `c`'s temp dir.
fn dlq_queue(c: &Cluster) -> Arc<dyn Queue> {
    let mut qc = SqliteQueueConfig::new(c.dir.path().join("queue.db"));
    qc.max_receive_count = 1;
    Arc::new(SqliteQueue::open(qc).unwrap())
}

/// Puts one message the consumer cannot apply into the dead-letter queue.
async fn dead_letter_one(queue: &Arc<dyn Queue>, directory: &Arc<dyn Directory>) {
    let poison = OutgoingMessage {
        id: "poison".into(),
        group_id: "g".into(),
        tenant: "t".into(),
        body: b"not a change".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
    let consumer = Consumer::new(
        queue.clone(),
        directory.clone(),
        Arc::new(SystemClock),
        ConsumerConfig { wait: Duration::ZERO, ..ConsumerConfig::default() },
    );
    assert_eq!(consumer.run_once().await.unwrap().dead_lettered, 1);
}

/// What a recorder was told, as (from, to).
fn told(r: &Recorder) -> Vec<(String, String)> {
    r.0.lock().unwrap().iter().map(|t| (t.from.to_string(), t.to.to_string())).collect()
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

/// A notifies a breach and dies; B takes the lease over with the breach
/// still on and stays silent, then notifies its clearing, once.
async fn a_takeover_does_not_notify_a_breach_again(c: Cluster) {
    let queue = dlq_queue(&c);
    let (la, lb) = (lease(&c.a, "alarms", "node-a"), lease(&c.b, "alarms", "node-b"));
    let (mut a, ra) = evaluator(&c.a, &queue, Some(la.clone()));
    let (mut b, rb) = evaluator(&c.b, &queue, Some(lb.clone()));
    assert!(a.evaluate_leased().await.is_some(), "A holds the alarms");
    dead_letter_one(&queue, &c.a).await;
    let raised = a.evaluate_leased().await.expect("A still holds them");
    assert_eq!(raised.iter().map(|t| t.to.as_str()).collect::<Vec<_>>(), ["ALARM"]);
    assert!(b.evaluate_leased().await.is_none(), "B waits while A holds the lease");

    // A dies: it stops renewing and never releases. B takes over once
    // the lease expires, with the dead letter still there.
    la.abandon();
    let died = Instant::now();
    let first = loop {
        if let Some(t) = b.evaluate_leased().await {
            break t;
        }
        assert!(died.elapsed() < TTL * 3, "B never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first, vec![], "B goes on from the recorded ALARM: no transition");
    for _ in 0..2 {
        assert_eq!(b.evaluate_leased().await, Some(vec![]), "still breached: still silent");
    }
    let board = b.board().statuses();
    assert_eq!(board[0].state.as_str(), "ALARM", "B shows the state A recorded");

    queue.purge_dead_letters(None).await.unwrap();
    let cleared = b.evaluate_leased().await.expect("B holds the alarms");
    assert_eq!(
        cleared.iter().map(|t| (t.from.as_str(), t.to.as_str())).collect::<Vec<_>>(),
        [("ALARM", "OK")]
    );
    assert_eq!(b.evaluate_leased().await, Some(vec![]));
    assert!(a.evaluate_leased().await.is_none(), "A, back, finds the lease taken");

    let (a_stats, b_stats) = (a.shutdown().await, b.shutdown().await);
    assert_eq!((a_stats.delivered, b_stats.delivered), (1, 1));
    assert_eq!(told(&ra), [pair("OK", "ALARM")], "A notified the breach");
    assert_eq!(told(&rb), [pair("ALARM", "OK")], "B notified only the clearing, once");
}

/// One evaluation of each, at once.
async fn both_evaluate(a: &mut AlarmEvaluator, b: &mut AlarmEvaluator) {
    tokio::join!(a.evaluate_once(), b.evaluate_once());
}

/// Two evaluators that both evaluate (each believes it holds the lease):
/// each transition is recorded, and so notified, by one of them.
async fn two_evaluators_that_both_run_notify_each_transition_once(c: Cluster) {
    let queue = dlq_queue(&c);
    let (mut a, ra) = evaluator(&c.a, &queue, None);
    let (mut b, rb) = evaluator(&c.b, &queue, None);
    both_evaluate(&mut a, &mut b).await;
    dead_letter_one(&queue, &c.a).await;
    for _ in 0..3 {
        both_evaluate(&mut a, &mut b).await;
    }
    for e in [&a, &b] {
        assert_eq!(e.board().statuses()[0].state.as_str(), "ALARM", "both know the recorded state");
    }
    queue.purge_dead_letters(None).await.unwrap();
    for _ in 0..3 {
        both_evaluate(&mut a, &mut b).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    let mut all = told(&ra);
    all.extend(told(&rb));
    all.sort();
    assert_eq!(all, [pair("ALARM", "OK"), pair("OK", "ALARM")], "one notification per transition");
}

/// Receives events, noting which node sent each.
#[derive(Default)]
struct Receiver(Mutex<Vec<(String, &'static str)>>);

struct NodeSink(Arc<Receiver>, &'static str);

#[async_trait]
impl EventSink for NodeSink {
    async fn deliver(&self, d: &EventDelivery<'_>) -> Result<(), DeliveryError> {
        self.0.0.lock().unwrap().push((d.id.to_owned(), self.1));
        Ok(())
    }
}

/// Two dispatchers running side by side: each event reaches the endpoint
/// once, from one node.
async fn an_event_is_delivered_by_one_node(c: Cluster) {
    let now = SystemClock.now();
    let tenant = c.a.create_tenant("acme", now).await.unwrap().id;
    c.a.create_endpoint(
        NewEndpoint {
            tenant_id: tenant,
            url: "https://hooks.example.com/x".into(),
            description: None,
            event_types: None,
            secret: Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="),
        },
        now,
    )
    .await
    .unwrap();
    let receiver = Arc::new(Receiver::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = OutboxConfig { poll_interval: Duration::from_millis(20), ..OutboxConfig::default() };
    let mut tasks = Vec::new();
    for (directory, node) in [(&c.a, "node-a"), (&c.b, "node-b")] {
        let d = OutboxDispatcher::new(
            directory.clone(),
            Arc::new(NodeSink(receiver.clone(), node)),
            Arc::new(SystemClock),
            config.clone(),
        )
        .with_lease(lease(directory, "outbox", node));
        tasks.push(Arc::new(d).spawn(stopped.clone()));
    }
    let mut ids = Vec::new();
    for i in 0..30 {
        let feed = FeedId::new();
        let now = SystemClock.now();
        c.b.create_feed(NewFeed {
            id: feed,
            tenant_id: tenant,
            source: SourceName::default(),
            mode: FeedMode::Delta,
            format: "json".into(),
            sealed: true,
            received: 1,
            accepted: 1,
            rejections: vec![],
            created_at: now,
        })
        .await
        .unwrap();
        let rec = parse_record(&json!({"externalId": format!("E{i}")})).unwrap();
        let m = ChangeMessage {
            message_id: MessageId::new(),
            tenant_id: tenant,
            feed_id: feed,
            source: SourceName::default(),
            index: 0,
            accepted_at: now,
            last_modified: rec.last_modified,
            change: rec.change,
            request_id: None,
            probe: false,
        };
        c.b.apply_batch(&[m], now).await.unwrap();
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for e in c.a.list_events(tenant, 0, 1000).await.unwrap() {
        ids.push(format!("evt_{}", e.id));
    }
    assert_eq!(ids.len(), 60, "each feed's person.joined and feed.completed");
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.0.lock().unwrap().len() < ids.len() {
        assert!(Instant::now() < deadline, "not every event arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let got = receiver.0.lock().unwrap().clone();
    let sent: Vec<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(sent, ids.iter().collect::<Vec<_>>(), "each event once, in order");
    let mut by_node: HashMap<&str, usize> = HashMap::new();
    for (_, node) in &got {
        *by_node.entry(node).or_default() += 1;
    }
    assert_eq!(by_node.len(), 1, "one node delivered: {by_node:?}");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(c) = super::sqlite().await {
                        super::$name(c).await;
                    }
                }
            )*
        }
        mod postgres_database {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(c) = super::postgres().await {
                        super::$name(c).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    one_scheduler_sweeps_and_the_other_takes_over_when_it_dies,
    a_pass_is_stopped_when_its_lease_is_lost,
    an_alarm_transition_is_notified_by_one_node,
    a_takeover_does_not_notify_a_breach_again,
    two_evaluators_that_both_run_notify_each_transition_once,
    an_event_is_delivered_by_one_node,
);
