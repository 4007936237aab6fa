//! Alarm states: recorded per rule, loaded whole, and written only by a
//! compare-and-set on the rule's version, so that of two evaluators that
//! saw the same state, one records (and notifies) its transition.

use roster_core::alarm::AlarmState;

use super::*;
use crate::AlarmRecord;

fn record(rule: &str, state: AlarmState, at: i64, version: u64) -> AlarmRecord {
    AlarmRecord {
        rule: rule.into(),
        state,
        since: Timestamp(T0.0 + at),
        reason: format!("{rule} at {at}"),
        notified_at: Timestamp(T0.0 + at + 1),
        version,
    }
}

async fn states(d: &impl Directory) -> Vec<AlarmRecord> {
    let mut all = d.alarm_states().await.expect("load alarm states");
    all.sort_by(|a, b| a.rule.cmp(&b.rule));
    all
}

pub async fn alarm_states_round_trip(d: &impl Directory) {
    assert_eq!(states(d).await, vec![], "a new directory has no alarm state");
    let dlq = record("dlq_depth", AlarmState::Alarm, 1_000, 1);
    let mut rate = record("failure_rate", AlarmState::InsufficientData, 2_000, 1);
    rate.reason = "no data for failure_rate — ünïcode".into();
    assert!(d.record_alarm_state(&dlq).await.unwrap(), "a rule's first write");
    assert!(d.record_alarm_state(&rate).await.unwrap());
    assert_eq!(states(d).await, vec![dlq.clone(), rate.clone()]);

    let cleared = record("dlq_depth", AlarmState::Ok, 5_000, 2);
    assert!(d.record_alarm_state(&cleared).await.unwrap(), "the version after the stored one");
    let reminded = AlarmRecord { notified_at: Timestamp(T0.0 + 9_000), version: 3, ..cleared.clone() };
    assert!(d.record_alarm_state(&reminded).await.unwrap());
    assert_eq!(states(d).await, vec![reminded, rate], "each rule keeps its own latest write");
}

pub async fn a_stale_alarm_write_loses(d: &impl Directory) {
    let first = record("dlq_depth", AlarmState::Ok, 0, 1);
    assert!(d.record_alarm_state(&first).await.unwrap());
    // Another evaluator that also saw nothing recorded: its write is stale.
    let theirs = record("dlq_depth", AlarmState::Alarm, 10, 1);
    assert!(!d.record_alarm_state(&theirs).await.unwrap(), "version 1 is taken");
    let ahead = record("dlq_depth", AlarmState::Alarm, 10, 3);
    assert!(!d.record_alarm_state(&ahead).await.unwrap(), "a version that skips one is no successor");
    let never = record("halted_feeds", AlarmState::Alarm, 10, 2);
    assert!(!d.record_alarm_state(&never).await.unwrap(), "a rule never recorded is at version 0");
    assert_eq!(states(d).await, vec![first.clone()], "nothing stale was written");

    let up = record("dlq_depth", AlarmState::Alarm, 20, 2);
    assert!(d.record_alarm_state(&up).await.unwrap());
    let late = record("dlq_depth", AlarmState::Alarm, 30, 2);
    assert!(!d.record_alarm_state(&late).await.unwrap(), "the same transition recorded twice: once");
    assert_eq!(states(d).await, vec![up]);

    let zero = record("dlq_depth", AlarmState::Ok, 40, 0);
    assert!(matches!(d.record_alarm_state(&zero).await, Err(StoreError::Invalid(_))));
}

pub async fn of_racing_alarm_writes_one_wins(d: &impl Directory) {
    for version in [1, 2] {
        let writes: Vec<AlarmRecord> = (0..4)
            .map(|i| record("dlq_depth", AlarmState::Alarm, i * 10 + version as i64 * 1_000, version))
            .collect();
        let (a, b, c, e) = tokio::join!(
            d.record_alarm_state(&writes[0]),
            d.record_alarm_state(&writes[1]),
            d.record_alarm_state(&writes[2]),
            d.record_alarm_state(&writes[3]),
        );
        let won: Vec<&AlarmRecord> = [a, b, c, e]
            .into_iter()
            .zip(&writes)
            .filter_map(|(r, w)| r.expect("a write is never an error").then_some(w))
            .collect();
        assert_eq!(won.len(), 1, "version {version}: {won:?}");
        assert_eq!(states(d).await, vec![won[0].clone()], "the winner's write is the one stored");
    }
}
