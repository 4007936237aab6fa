//! The alarm evaluator: every interval it measures each metric the rules
//! name (from the queue's stats, the directory's feed counts and the
//! consumer's counts), feeds the rules' state machines, hands transitions
//! into or out of `ALARM` to the [`Dispatcher`], and publishes every rule's
//! status on an [`AlarmBoard`] for the API.
//!
//! Each rule's state is recorded in the directory ([`AlarmStateStore`]):
//! every transition (and reminder) is written there, by compare-and-set on
//! the rule's version, before it is notified, and only if the write won.
//! The evaluator loads the states when it starts and whenever it (re)gains
//! the `alarms` lease, so after a restart or a takeover an alarm still
//! breached stays `ALARM` without a second notification, and one that
//! cleared meanwhile is notified `ALARM → OK` once. Two evaluators that
//! both believe they hold the lease cannot both notify one transition: the
//! second write of a version loses, and its evaluator loads the winner's.
//! Rules never recorded start in `INSUFFICIENT_DATA`.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use roster_core::alarm::{Alarm, AlarmRule, AlarmState, AlarmStatus, RuleError, Transition, validate_rules};
use roster_core::{Clock, Timestamp};
use roster_queue::{Queue, QueueStats};
use roster_store::{AlarmRecord, AlarmStore, FeedStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::consumer::ConsumerStats;
use crate::dispatch::{DispatchStats, Dispatcher};
use crate::lease::Singleton;

/// The metrics a rule may name.
pub const METRICS: &[&str] = &[
    "dlq_depth",
    "oldest_message_age_seconds",
    "visible_messages",
    "in_flight_messages",
    "failure_rate",
    "halted_feeds",
    "event_dead_letters",
    "outbox_oldest_pending_age_seconds",
];

#[derive(Debug, Clone)]
pub struct AlarmConfig {
    /// How often every rule is evaluated.
    pub interval: Duration,
    /// Notify moves between `OK` and `INSUFFICIENT_DATA` too (a rule's
    /// first evaluation ever, a rate going quiet). Off by default: they say
    /// nothing an operator must act on.
    pub notify_insufficient_data: bool,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(15), notify_insufficient_data: false }
    }
}

/// Every rule's status as the cluster's evaluator (the holder of the
/// `alarms` lease) last recorded it in the directory: what a node that
/// evaluates no alarms (an ingest node, a function) shows. A rule never
/// recorded is `INSUFFICIENT_DATA` since `now`.
pub fn recorded_statuses(rules: &[AlarmRule], records: &[AlarmRecord], now: Timestamp) -> Vec<AlarmStatus> {
    rules
        .iter()
        .map(|rule| {
            let record = records.iter().find(|r| r.rule == rule.name);
            AlarmStatus {
                name: rule.name.clone(),
                metric: rule.metric.clone(),
                comparison: rule.comparison,
                threshold: rule.threshold,
                state: record.map_or(AlarmState::InsufficientData, |r| r.state),
                since: record.map_or(now, |r| r.since),
                reason: record.map_or_else(|| "no evaluation recorded yet".to_owned(), |r| r.reason.clone()),
            }
        })
        .collect()
}

/// The alarms as a node shows them: its own evaluator's statuses, or on a
/// node that evaluates none what the cluster's evaluator recorded for
/// `rules`. With it, whether they were evaluated here.
pub async fn current_statuses(
    board: Option<&AlarmBoard>,
    rules: &[AlarmRule],
    directory: &dyn AlarmStore,
    now: Timestamp,
) -> Result<(bool, Vec<AlarmStatus>), roster_store::StoreError> {
    Ok(match board {
        Some(board) => (true, board.statuses()),
        None => (false, recorded_statuses(rules, &directory.alarm_states().await?, now)),
    })
}

/// Every rule's latest status, shared with whoever shows it (the API, the
/// `/metrics` route). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AlarmBoard(Arc<RwLock<Vec<AlarmStatus>>>);

impl AlarmBoard {
    pub fn statuses(&self) -> Vec<AlarmStatus> {
        self.0.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn publish(&self, statuses: Vec<AlarmStatus>) {
        if let Ok(mut s) = self.0.write() {
            *s = statuses;
        }
    }
}

/// The consumer's cumulative counts at one evaluation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Timestamp,
    applied: u64,
    dead_lettered: u64,
}

/// What one evaluation measured; `None` where the source could not be read.
#[derive(Debug, Default)]
struct Measures {
    queue: Option<QueueStats>,
    halted: Option<u64>,
    /// Event dead letters waiting, and the age in seconds of the oldest
    /// event not yet delivered, over every active webhook endpoint.
    outbox: Option<(u64, f64)>,
}

/// How long shutdown waits for queued notifications.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct AlarmEvaluator {
    queue: Arc<dyn Queue>,
    /// The platform figures and the rules' recorded states.
    store: Arc<dyn AlarmStore>,
    clock: Arc<dyn Clock>,
    consumer: Arc<ConsumerStats>,
    dispatcher: Dispatcher,
    config: AlarmConfig,
    alarms: Vec<Alarm>,
    /// Each rule's recorded version (0: never recorded), beside `alarms`.
    versions: Vec<u64>,
    /// Whether `alarms` are the recorded states; cleared when the lease is
    /// (re)gained or a write lost, so the next evaluation loads them first.
    loaded: bool,
    /// One per evaluation, as far back as the longest rate window needs.
    samples: VecDeque<Sample>,
    board: AlarmBoard,
    lease: Option<Arc<Singleton>>,
}

impl AlarmEvaluator {
    /// Checks the rules (a bad one names itself and its field) and shows
    /// them in `INSUFFICIENT_DATA` until the first evaluation loads their
    /// recorded states from `store`.
    pub fn new(
        rules: Vec<AlarmRule>,
        queue: Arc<dyn Queue>,
        store: Arc<dyn AlarmStore>,
        clock: Arc<dyn Clock>,
        consumer: Arc<ConsumerStats>,
        dispatcher: Dispatcher,
        config: AlarmConfig,
    ) -> Result<Self, RuleError> {
        validate_rules(&rules, METRICS)?;
        let now = clock.now();
        let alarms = rules.into_iter().map(|r| Alarm::new(r, now)).collect::<Result<Vec<_>, _>>()?;
        let first = Sample { at: now, applied: consumer.applied(), dead_lettered: consumer.dead_lettered() };
        let board = AlarmBoard::default();
        board.publish(alarms.iter().map(Alarm::status).collect());
        Ok(Self {
            queue,
            store,
            clock,
            consumer,
            dispatcher,
            config,
            versions: vec![0; alarms.len()],
            alarms,
            loaded: false,
            samples: VecDeque::from([first]),
            board,
            lease: None,
        })
    }

    /// Evaluates and notifies only while this node holds `lease`: one
    /// notification per transition per cluster. A node that takes the
    /// lease over goes on from the recorded states.
    pub fn with_lease(mut self, lease: Arc<Singleton>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// [`evaluate_once`](Self::evaluate_once) if this node holds the lease
    /// (taking it if it is free); `None` if another node holds it or it was
    /// lost during the evaluation. Without a lease, always evaluates.
    pub async fn evaluate_leased(&mut self) -> Option<Vec<Transition>> {
        let Some(lease) = self.lease.clone() else { return Some(self.evaluate_once().await) };
        let had = lease.is_held();
        if !lease.hold().await {
            return None;
        }
        if !had {
            // What this node saw before it held the lease (or before it lost
            // it) is stale: the holder in between may have recorded and
            // notified since.
            self.restart();
        }
        lease.run(self.evaluate_once()).await
    }

    /// The rate samples back to now, and the states to be loaded again.
    fn restart(&mut self) {
        self.samples = VecDeque::from([Sample {
            at: self.clock.now(),
            applied: self.consumer.applied(),
            dead_lettered: self.consumer.dead_lettered(),
        }]);
        self.loaded = false;
    }

    /// Takes every rule's recorded state (a rule never recorded starts in
    /// `INSUFFICIENT_DATA` as of now). False if the store could not be
    /// read: evaluating without the states could notify a transition that
    /// was notified already.
    async fn load(&mut self) -> bool {
        let records = match self.store.alarm_states().await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, "alarms: could not load the recorded states; evaluating next time");
                return false;
            }
        };
        let now = self.clock.now();
        for (alarm, version) in self.alarms.iter_mut().zip(&mut self.versions) {
            let rule = alarm.rule().clone();
            let resumed = match records.iter().find(|r| r.rule == rule.name) {
                Some(r) => Alarm::resume(rule, r.state, r.since, r.reason.clone(), r.notified_at)
                    .map(|a| (a, r.version)),
                None => Alarm::new(rule, now).map(|a| (a, 0)),
            };
            // The rules were checked in `new`: this cannot fail.
            if let Ok((a, v)) = resumed {
                (*alarm, *version) = (a, v);
            }
        }
        self.loaded = true;
        self.board.publish(self.alarms.iter().map(Alarm::status).collect());
        true
    }

    /// Where the statuses are published after each evaluation.
    pub fn board(&self) -> AlarmBoard {
        self.board.clone()
    }

    /// Waits, for at most `within`, until the notifications of the
    /// transitions so far are delivered or given up; see
    /// [`Dispatcher::settle`].
    pub async fn settle_notifications(&self, within: Duration) -> bool {
        self.dispatcher.settle(within).await
    }

    pub fn dispatch_stats(&self) -> DispatchStats {
        self.dispatcher.stats()
    }

    /// Measures, evaluates every rule once, records each transition and
    /// sends what must be notified, and returns every transition recorded
    /// (notified or not). A transition whose write lost to another
    /// evaluator's, or failed, is neither notified nor returned: the first
    /// is taken from the store, the second tried again next time.
    pub async fn evaluate_once(&mut self) -> Vec<Transition> {
        if !self.loaded && !self.load().await {
            return Vec::new();
        }
        let measures = self.measure().await;
        let now = self.clock.now();
        self.samples.push_back(Sample {
            at: now,
            applied: self.consumer.applied(),
            dead_lettered: self.consumer.dead_lettered(),
        });
        self.prune(now);

        let mut transitions = Vec::new();
        for i in 0..self.alarms.len() {
            let rule = self.alarms[i].rule();
            // A source that could not be read says nothing about the rule:
            // keep its state rather than fall to INSUFFICIENT_DATA and back.
            let Some(value) = self.value(rule, &measures, now) else { continue };
            // Observed on a copy: the state moves on only once recorded.
            let mut next = self.alarms[i].clone();
            let Some(t) = next.observe(value, now) else { continue };
            if !self.record(&next, self.versions[i] + 1).await {
                continue;
            }
            (self.alarms[i], self.versions[i]) = (next, self.versions[i] + 1);
            if self.config.notify_insufficient_data || notify(&t) {
                tracing::info!(alarm = %t.rule, from = %t.from, to = %t.to, reason = %t.reason, "alarm changed state");
                self.dispatcher.send(t.clone());
            }
            transitions.push(t);
        }
        if !self.loaded {
            // A write lost: take what the other evaluator recorded.
            self.load().await;
        }
        self.board.publish(self.alarms.iter().map(Alarm::status).collect());
        transitions
    }

    /// Writes `alarm`'s state as `version` of its rule: true if written.
    async fn record(&mut self, alarm: &Alarm, version: u64) -> bool {
        let status = alarm.status();
        let record = AlarmRecord {
            rule: status.name,
            state: status.state,
            since: status.since,
            reason: status.reason,
            notified_at: alarm.last_notice(),
            version,
        };
        match self.store.record_alarm_state(&record).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    alarm = %record.rule,
                    "alarms: another evaluator recorded this rule first; not notifying, loading its state"
                );
                self.loaded = false;
                false
            }
            Err(e) => {
                tracing::warn!(alarm = %record.rule, error = %e, "alarms: could not record a transition; trying again next time");
                false
            }
        }
    }

    async fn measure(&self) -> Measures {
        let mut m = Measures::default();
        let rules = || self.alarms.iter().map(|a| a.rule().metric.as_str());
        let needs_queue = rules().any(|m| {
            !matches!(
                m,
                "halted_feeds" | "failure_rate" | "event_dead_letters" | "outbox_oldest_pending_age_seconds"
            )
        });
        if needs_queue {
            match self.queue.stats().await {
                Ok(s) => m.queue = Some(s),
                Err(e) => tracing::warn!(error = %e, "alarms: could not read the queue's stats"),
            }
        }
        if rules().any(|m| m == "halted_feeds") {
            match self.store.count_feeds_by_status().await {
                Ok(counts) => {
                    m.halted =
                        Some(counts.iter().filter(|(s, _)| *s == FeedStatus::Halted).map(|(_, n)| *n).sum());
                }
                Err(e) => tracing::warn!(error = %e, "alarms: could not count halted feeds"),
            }
        }
        if rules().any(|m| m == "event_dead_letters" || m == "outbox_oldest_pending_age_seconds") {
            match self.store.outbox_backlog().await {
                Ok(backlog) => {
                    let now = self.clock.now().millis();
                    let dead = backlog.iter().map(|b| b.dead_letters).sum();
                    let oldest = backlog.iter().filter_map(|b| b.oldest_pending_at).min();
                    let age = oldest.map_or(0.0, |t| (now - t.millis()).max(0) as f64 / 1000.0);
                    m.outbox = Some((dead, age));
                }
                Err(e) => tracing::warn!(error = %e, "alarms: could not read the outbox backlog"),
            }
        }
        m
    }

    /// The rule's metric: `None` when it could not be measured this time,
    /// `Some(None)` when there is no data (nothing processed in the window).
    fn value(&self, rule: &AlarmRule, m: &Measures, now: Timestamp) -> Option<Option<f64>> {
        let q = m.queue.as_ref();
        Some(match rule.metric.as_str() {
            "dlq_depth" => Some(q?.dead_letters as f64),
            "visible_messages" => Some(q?.visible as f64),
            "in_flight_messages" => Some(q?.in_flight as f64),
            "oldest_message_age_seconds" => {
                let q = q?;
                match q.oldest_age {
                    Some(age) => Some(age.as_secs_f64()),
                    // Empty: nothing waits. Not empty but no age: the
                    // backend cannot tell (SQS), so no data.
                    None if q.depth() == 0 => Some(0.0),
                    None => None,
                }
            }
            "halted_feeds" => Some(m.halted? as f64),
            "event_dead_letters" => Some(m.outbox?.0 as f64),
            "outbox_oldest_pending_age_seconds" => Some(m.outbox?.1),
            "failure_rate" => self.failure_rate(rule.period_seconds, now),
            _ => None,
        })
    }

    /// Dead-lettered / (applied + dead-lettered) over the last `period`
    /// seconds; `None` when nothing was settled in that window.
    fn failure_rate(&self, period_seconds: u64, now: Timestamp) -> Option<f64> {
        let latest = self.samples.back()?;
        let start = now.plus_millis(-period_ms(period_seconds));
        // The newest sample at or before the window's start; the oldest kept
        // if the process is younger than the window.
        let base = self.samples.iter().rev().find(|s| s.at <= start).or(self.samples.front())?;
        let applied = latest.applied.saturating_sub(base.applied);
        let failed = latest.dead_lettered.saturating_sub(base.dead_lettered);
        let total = applied + failed;
        (total > 0).then(|| failed as f64 / total as f64)
    }

    /// Drops samples older than the longest window needs (keeping one at or
    /// before its start).
    fn prune(&mut self, now: Timestamp) {
        let longest = self.alarms.iter().map(|a| a.rule().period_seconds).max().unwrap_or(0);
        let start = now.plus_millis(-period_ms(longest));
        while self.samples.len() > 1 && self.samples[1].at <= start {
            self.samples.pop_front();
        }
    }

    /// Evaluates every `interval` until `shutdown` turns true, then lets the
    /// dispatcher deliver what it holds (retries included) and stops.
    pub fn spawn(mut self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.config.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => { self.evaluate_leased().await; }
                    changed = shutdown.changed() => if changed.is_err() { break },
                }
                if *shutdown.borrow() {
                    break;
                }
            }
            if let Some(lease) = &self.lease {
                lease.release().await;
            }
            // A dead endpoint must not hold the process for minutes of retries.
            match tokio::time::timeout(SHUTDOWN_GRACE, self.shutdown()).await {
                Ok(stats) => tracing::debug!(?stats, "alarm evaluator stopped"),
                Err(_) => tracing::warn!("alarm notifications still undelivered at shutdown were dropped"),
            }
        })
    }

    /// Lets the dispatcher deliver what it holds (retries included).
    pub async fn shutdown(self) -> DispatchStats {
        self.dispatcher.shutdown().await
    }
}

fn period_ms(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

/// Operators hear of every move into or out of `ALARM` (and reminders);
/// the first `INSUFFICIENT_DATA → OK` at start, or a rate going quiet
/// (`OK → INSUFFICIENT_DATA`), is only shown on the board unless
/// `AlarmConfig::notify_insufficient_data`.
fn notify(t: &Transition) -> bool {
    t.reminder || t.from == AlarmState::Alarm || t.to == AlarmState::Alarm
}
