//! The alarm evaluator over the real SQLite adapters, time moved by hand:
//! a dead letter raises the DLQ and failure-rate alarms once each, a purge
//! clears the DLQ alarm, the failure rate forgets outside its window, and a
//! restarted evaluator goes on from the states recorded in the directory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::alarm::{AlarmRule, AlarmState, Transition, default_rules};
use roster_core::{Clock, ManualClock, Timestamp};
use roster_engine::dispatch::{DispatchConfig, Dispatcher};
use roster_engine::{AlarmConfig, AlarmEvaluator, Consumer, ConsumerConfig};
use roster_notify::{Notifier, NotifyError};
use roster_queue::{OutgoingMessage, Queue, SqliteQueue, SqliteQueueConfig};
use roster_store::Directory;
use roster_store_sqlite::SqliteDirectory;

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

struct World {
    clock: ManualClock,
    queue: Arc<dyn Queue>,
    directory: Arc<dyn Directory>,
    consumer: Consumer,
    rules: Vec<AlarmRule>,
    config: AlarmConfig,
    evaluator: AlarmEvaluator,
    recorder: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

async fn world(rules: Vec<AlarmRule>) -> World {
    world_with(rules, AlarmConfig::default()).await
}

async fn world_with(rules: Vec<AlarmRule>, config: AlarmConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let mut qc = SqliteQueueConfig::new(dir.path().join("queue.db"));
    qc.clock = Arc::new(clock.clone());
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(qc).unwrap());
    let directory: Arc<dyn Directory> =
        Arc::new(SqliteDirectory::open(&dir.path().join("directory.db")).unwrap());
    let consumer = Consumer::new(
        queue.clone(),
        directory.clone(),
        Arc::new(clock.clone()),
        ConsumerConfig { wait: Duration::ZERO, ..ConsumerConfig::default() },
    );
    let (evaluator, recorder) = evaluator(&rules, &queue, &directory, &clock, &consumer, &config);
    World { clock, queue, directory, consumer, rules, config, evaluator, recorder, _dir: dir }
}

fn evaluator(
    rules: &[AlarmRule],
    queue: &Arc<dyn Queue>,
    directory: &Arc<dyn Directory>,
    clock: &ManualClock,
    consumer: &Consumer,
    config: &AlarmConfig,
) -> (AlarmEvaluator, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let dispatcher = Dispatcher::spawn(vec![recorder.clone()], DispatchConfig::default());
    let evaluator = AlarmEvaluator::new(
        rules.to_vec(),
        queue.clone(),
        directory.clone(),
        Arc::new(clock.clone()),
        consumer.stats(),
        dispatcher,
        config.clone(),
    )
    .unwrap();
    (evaluator, recorder)
}

impl World {
    /// A new evaluator over the same queue and directory, as after the
    /// process restarted (the old one's notifications delivered first).
    async fn restart(&mut self) {
        let (evaluator, recorder) =
            evaluator(&self.rules, &self.queue, &self.directory, &self.clock, &self.consumer, &self.config);
        let old = std::mem::replace(&mut self.evaluator, evaluator);
        old.shutdown().await;
        self.recorder = recorder;
    }

    async fn poison(&self, id: &str) {
        let poison = OutgoingMessage {
            id: id.into(),
            group_id: id.into(),
            tenant: "t".into(),
            body: b"not a change".to_vec(),
            delay: Duration::ZERO,
        };
        self.queue.send_batch(vec![poison]).await.unwrap();
        assert_eq!(self.consumer.run_once().await.unwrap().dead_lettered, 1);
    }

    /// Moves time on by `secs` and evaluates; returns (rule, from, to) of each transition.
    async fn tick(&mut self, secs: i64) -> Vec<(String, AlarmState, AlarmState)> {
        self.clock.advance_millis(secs * 1000);
        self.evaluator.evaluate_once().await.into_iter().map(|t| (t.rule, t.from, t.to)).collect()
    }

    fn state(&self, name: &str) -> AlarmState {
        self.evaluator.board().statuses().into_iter().find(|s| s.name == name).unwrap().state
    }
}

fn tr(rule: &str, from: AlarmState, to: AlarmState) -> (String, AlarmState, AlarmState) {
    (rule.to_owned(), from, to)
}

use AlarmState::{Alarm as ALARM, InsufficientData as NO_DATA, Ok as OK};

#[tokio::test]
async fn a_dead_letter_fires_once_and_a_purge_clears_it() {
    let mut w = world(default_rules()).await;
    assert_eq!(w.state("dlq_depth"), NO_DATA, "before the first evaluation");

    // Start: the gauges settle to OK, silently; no traffic, no failure rate.
    let first = w.tick(15).await;
    assert_eq!(
        first,
        [
            tr("dlq_depth", NO_DATA, OK),
            tr("oldest_message_age_seconds", NO_DATA, OK),
            tr("halted_feeds", NO_DATA, OK),
            tr("event_dead_letters", NO_DATA, OK)
        ]
    );
    assert_eq!(w.state("failure_rate"), NO_DATA);

    w.poison("poison-1").await;
    let fired = w.tick(15).await;
    assert_eq!(fired, [tr("dlq_depth", OK, ALARM), tr("failure_rate", NO_DATA, ALARM)]);
    let status = w.evaluator.board().statuses().into_iter().find(|s| s.name == "dlq_depth").unwrap();
    assert_eq!((status.state, status.reason.as_str()), (ALARM, "dlq_depth = 1 > 0"));
    assert_eq!(status.since, w.clock.now());

    // Still breached: nothing new.
    assert_eq!(w.tick(15).await, []);

    assert_eq!(w.queue.purge_dead_letters(None).await.unwrap(), 1);
    assert_eq!(w.tick(15).await, [tr("dlq_depth", ALARM, OK)]);
    assert_eq!(w.state("failure_rate"), ALARM, "the failure is still inside its 5-minute window");

    // Once the window has passed, the failure rate has no data: out of ALARM.
    assert_eq!(w.tick(300).await, [tr("failure_rate", ALARM, NO_DATA)]);

    let stats = w.evaluator.shutdown().await;
    assert_eq!(stats.delivered, 4);
    let notified: Vec<_> =
        w.recorder.0.lock().unwrap().iter().map(|t| (t.rule.clone(), t.from, t.to)).collect();
    assert_eq!(
        notified,
        [
            tr("dlq_depth", OK, ALARM),
            tr("failure_rate", NO_DATA, ALARM),
            tr("dlq_depth", ALARM, OK),
            tr("failure_rate", ALARM, NO_DATA)
        ],
        "only moves into or out of ALARM are notified"
    );
}

#[tokio::test]
async fn a_restart_goes_on_from_the_recorded_states() {
    let mut rule = default_rules().remove(0);
    rule.reminder_seconds = Some(600);
    let mut w = world(vec![rule]).await;
    assert_eq!(w.tick(15).await, [tr("dlq_depth", NO_DATA, OK)]);
    w.poison("poison-1").await;
    assert_eq!(w.tick(15).await, [tr("dlq_depth", OK, ALARM)]);
    let breached_at = w.clock.now();

    w.restart().await;
    assert_eq!(w.tick(15).await, [], "still breached: the restarted evaluator has nothing to notify");
    let status = w.evaluator.board().statuses().remove(0);
    assert_eq!((status.state, status.since), (ALARM, breached_at), "in ALARM since before the restart");
    assert_eq!(status.reason, "dlq_depth = 1 > 0");
    // The reminder is due 600 s after the breach's notice, not after the restart.
    assert_eq!(w.tick(570).await, []);
    assert_eq!(w.tick(15).await, [tr("dlq_depth", ALARM, ALARM)]);

    assert_eq!(w.queue.purge_dead_letters(None).await.unwrap(), 1);
    assert_eq!(w.tick(15).await, [tr("dlq_depth", ALARM, OK)]);
    w.evaluator.shutdown().await;
    let notified: Vec<_> =
        w.recorder.0.lock().unwrap().iter().map(|t| (t.rule.clone(), t.from, t.to, t.reminder)).collect();
    assert_eq!(
        notified,
        [("dlq_depth".to_owned(), ALARM, ALARM, true), ("dlq_depth".to_owned(), ALARM, OK, false)],
        "after the restart: the reminder and the clearing, not the breach again"
    );
}

#[tokio::test]
async fn opted_in_every_transition_is_notified_including_insufficient_data() {
    let config = AlarmConfig { notify_insufficient_data: true, ..AlarmConfig::default() };
    let mut w = world_with(default_rules(), config).await;
    w.tick(15).await;
    w.poison("poison-1").await;
    w.tick(15).await;
    assert_eq!(w.queue.purge_dead_letters(None).await.unwrap(), 1);
    w.tick(15).await;
    w.tick(300).await;

    w.evaluator.shutdown().await;
    let notified: Vec<_> =
        w.recorder.0.lock().unwrap().iter().map(|t| (t.rule.clone(), t.from, t.to)).collect();
    assert_eq!(
        notified,
        [
            tr("dlq_depth", NO_DATA, OK),
            tr("oldest_message_age_seconds", NO_DATA, OK),
            tr("halted_feeds", NO_DATA, OK),
            tr("event_dead_letters", NO_DATA, OK),
            tr("dlq_depth", OK, ALARM),
            tr("failure_rate", NO_DATA, ALARM),
            tr("dlq_depth", ALARM, OK),
            tr("failure_rate", ALARM, NO_DATA)
        ],
        "each transition once, in order"
    );
}

#[tokio::test]
async fn the_failure_rate_counts_only_its_window() {
    let rule = AlarmRule {
        name: "failures".into(),
        metric: "failure_rate".into(),
        comparison: roster_core::alarm::Comparison::GreaterThan,
        threshold: 0.4,
        period_seconds: 60,
        reminder_seconds: None,
    };
    let mut w = world(vec![rule]).await;
    w.poison("p1").await;
    assert_eq!(w.tick(10).await, [tr("failures", NO_DATA, ALARM)]);
    let status = &w.evaluator.board().statuses()[0];
    assert_eq!(status.reason, "failure_rate = 1 > 0.4");
    // 50 seconds later the failure is still in the window; 61 seconds after it, not.
    assert_eq!(w.tick(50).await, []);
    assert_eq!(w.tick(11).await, [tr("failures", ALARM, NO_DATA)]);
}

#[tokio::test]
async fn unknown_metrics_are_refused_naming_the_rule() {
    let mut rule = default_rules().remove(0);
    rule.name = "dlq".into();
    rule.metric = "dlq_size".into();
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn Queue> =
        Arc::new(SqliteQueue::open(SqliteQueueConfig::new(dir.path().join("q.db"))).unwrap());
    let directory: Arc<dyn Directory> = Arc::new(SqliteDirectory::open(&dir.path().join("d.db")).unwrap());
    let consumer = Consumer::new(
        queue.clone(),
        directory.clone(),
        Arc::new(roster_core::SystemClock),
        Default::default(),
    );
    let err = AlarmEvaluator::new(
        vec![rule],
        queue,
        directory,
        Arc::new(roster_core::SystemClock),
        consumer.stats(),
        Dispatcher::spawn(Vec::new(), DispatchConfig::default()),
        AlarmConfig::default(),
    )
    .err()
    .expect("refused");
    assert_eq!((err.rule.as_str(), err.field), ("dlq", "metric"));
    assert!(err.to_string().contains("unknown metric `dlq_size`"), "{err}");
}

/// A node that evaluates no alarms shows what the cluster's evaluator
/// recorded: each rule's recorded state, and `INSUFFICIENT_DATA` for a rule
/// never recorded.
#[test]
fn a_node_that_does_not_evaluate_shows_what_the_evaluator_recorded() {
    let now = Timestamp(1_796_227_200_000);
    let recorded = roster_store::AlarmRecord {
        rule: "dlq_depth".into(),
        state: AlarmState::Alarm,
        since: Timestamp(now.0 - 60_000),
        reason: "dlq_depth = 3 > 0".into(),
        notified_at: Timestamp(now.0 - 60_000),
        version: 2,
    };
    let statuses = roster_engine::alarms::recorded_statuses(&default_rules(), &[recorded], now);
    assert_eq!(statuses.len(), default_rules().len(), "every rule, recorded or not");
    let dlq = statuses.iter().find(|s| s.name == "dlq_depth").unwrap();
    assert_eq!(
        (dlq.state, dlq.since, dlq.reason.as_str()),
        (AlarmState::Alarm, Timestamp(now.0 - 60_000), "dlq_depth = 3 > 0")
    );
    assert_eq!(
        (dlq.metric.as_str(), dlq.threshold),
        ("dlq_depth", 0.0),
        "the rule's definition beside its state"
    );
    let halted = statuses.iter().find(|s| s.name == "halted_feeds").unwrap();
    assert_eq!((halted.state, halted.since), (AlarmState::InsufficientData, now));
}
