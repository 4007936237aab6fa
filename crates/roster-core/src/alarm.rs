//! Alarm rules as CloudWatch-like state machines: each rule compares one
//! metric with a threshold and is `OK`, `ALARM` or `INSUFFICIENT_DATA` (at
//! start and whenever its metric has no value). A notification is due on a
//! change of state only — an operator hears once that the dead-letter queue
//! filled up, not once per evaluation — plus, if the rule asks for it, a
//! reminder while it stays in `ALARM`.
//!
//! Pure: the evaluator that computes metric values and the notifiers that
//! deliver [`Transition`]s live elsewhere.
//!
//! Rules are configuration, with snake_case keys as in the rest of the TOML
//! settings file:
//!
//! ```toml
//! [[alarms]]
//! name = "dlq_depth"
//! metric = "dlq_depth"
//! comparison = ">"          # ">", ">=", "<", "<=" (or "greaterThan", ...)
//! threshold = 0
//! period_seconds = 60       # default 60
//! reminder_seconds = 3600   # optional
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The state of one alarm, named as CloudWatch names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Not evaluated yet, or the metric has no value.
    InsufficientData,
    Ok,
    Alarm,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientData => "INSUFFICIENT_DATA",
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
        }
    }

    /// The state [`as_str`](Self::as_str) names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::InsufficientData, Self::Ok, Self::Alarm].into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a metric value is compared with the threshold; the rule is breached
/// (`ALARM`) when `value <comparison> threshold` holds. Written as the
/// operator (`">"`) in configuration and output; CloudWatch-style camelCase
/// names (`"greaterThan"`) are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = ">", alias = "greaterThan")]
    GreaterThan,
    #[serde(rename = ">=", alias = "greaterThanOrEqual")]
    GreaterThanOrEqual,
    #[serde(rename = "<", alias = "lessThan")]
    LessThan,
    #[serde(rename = "<=", alias = "lessThanOrEqual")]
    LessThanOrEqual,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThan => value > threshold,
            Self::GreaterThanOrEqual => value >= threshold,
            Self::LessThan => value < threshold,
            Self::LessThanOrEqual => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::GreaterThan => ">",
            Self::GreaterThanOrEqual => ">=",
            Self::LessThan => "<",
            Self::LessThanOrEqual => "<=",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One alarm rule, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRule {
    /// Unique among the rules; shown in notifications, e-mail subjects and
    /// the alarms API, hence a short plain name (`[A-Za-z0-9_.-]`, at most 64).
    pub name: String,
    /// The metric the evaluator computes, e.g. `dlq_depth`.
    pub metric: String,
    pub comparison: Comparison,
    pub threshold: f64,
    /// The evaluation window: rates such as `failure_rate` are computed over
    /// the last `period_seconds`; gauges such as `dlq_depth` are the latest
    /// sample. The evaluator observes every rule at each of its evaluations
    /// (`alarm_interval_secs`). At most a day.
    #[serde(default = "default_period")]
    pub period_seconds: u64,
    /// While in `ALARM`, repeat the notification this often (as a reminder);
    /// `None` notifies only on changes of state. At most a week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_seconds: Option<u64>,
}

fn default_period() -> u64 {
    60
}

const MAX_NAME_LEN: usize = 64;
const MAX_PERIOD_SECONDS: u64 = 86_400;
const MAX_REMINDER_SECONDS: u64 = 7 * 86_400;

/// A rule that cannot be used, naming the rule and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alarm rule `{rule}`: {field}: {message}")]
pub struct RuleError {
    pub rule: String,
    pub field: &'static str,
    pub message: String,
}

impl AlarmRule {
    fn error(&self, field: &'static str, message: impl Into<String>) -> RuleError {
        // A name too long or odd to print is shown shortened; it is config, not personal data.
        let rule: String = self.name.chars().take(MAX_NAME_LEN).collect();
        RuleError { rule, field, message: message.into() }
    }

    /// Checks what serde cannot: plain names, a finite threshold, windows in range.
    pub fn validate(&self) -> Result<(), RuleError> {
        check_plain_name(&self.name).map_err(|m| self.error("name", m))?;
        check_plain_name(&self.metric).map_err(|m| self.error("metric", m))?;
        if !self.threshold.is_finite() {
            return Err(self.error("threshold", "must be a finite number"));
        }
        if !(1..=MAX_PERIOD_SECONDS).contains(&self.period_seconds) {
            return Err(self.error("period_seconds", format!("must be between 1 and {MAX_PERIOD_SECONDS}")));
        }
        if let Some(r) = self.reminder_seconds
            && !(1..=MAX_REMINDER_SECONDS).contains(&r)
        {
            return Err(
                self.error("reminder_seconds", format!("must be between 1 and {MAX_REMINDER_SECONDS}"))
            );
        }
        Ok(())
    }
}

fn check_plain_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("may contain only ASCII letters, digits, `_`, `-` and `.`".into());
    }
    Ok(())
}

/// Validates a whole rule set: every rule, unique names, and metrics the
/// evaluator can compute (`known_metrics`), so a typo fails at start-up
/// instead of leaving an alarm in `INSUFFICIENT_DATA` forever.
pub fn validate_rules(rules: &[AlarmRule], known_metrics: &[&str]) -> Result<(), RuleError> {
    for (i, rule) in rules.iter().enumerate() {
        rule.validate()?;
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(rule.error("name", "is used by another rule"));
        }
        if !known_metrics.contains(&rule.metric.as_str()) {
            return Err(rule.error(
                "metric",
                format!("unknown metric `{}`; known: {}", rule.metric, known_metrics.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The rules in force when the configuration names none.
pub fn default_rules() -> Vec<AlarmRule> {
    let rule = |name: &str, threshold: f64, period_seconds: u64| AlarmRule {
        name: name.to_owned(),
        metric: name.to_owned(),
        comparison: Comparison::GreaterThan,
        threshold,
        period_seconds,
        reminder_seconds: None,
    };
    vec![
        // Dead letters waiting: a record could not be applied and needs a person.
        rule("dlq_depth", 0.0, 60),
        // The queue is not being drained: consumers down or stuck for 5 minutes.
        rule("oldest_message_age_seconds", 300.0, 60),
        // More than 5% of the messages handled in 5 minutes failed.
        rule("failure_rate", 0.05, 300),
        // A full snapshot would deactivate too many people and waits for approval.
        rule("halted_feeds", 0.0, 60),
        // A webhook endpoint could not take an event after every attempt.
        rule("event_dead_letters", 0.0, 60),
    ]
}

/// A change of state (or a reminder), to be handed to the notifiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// The rule's name.
    pub rule: String,
    pub from: AlarmState,
    pub to: AlarmState,
    /// Human readable, e.g. `dlq_depth = 3 > 0`.
    pub reason: String,
    /// The observed value; `None` when there was no data.
    pub value: Option<f64>,
    pub at: Timestamp,
    /// True for a repeat while in `ALARM` (then `from == to`).
    pub reminder: bool,
}

/// What the alarms API shows about one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    pub name: String,
    pub metric: String,
    pub comparison: Comparison,
    pub threshold: f64,
    pub state: AlarmState,
    /// When the current state began (the alarm's creation, before any change).
    pub since: Timestamp,
    /// Why it is in that state.
    pub reason: String,
}

/// One rule's state machine.
#[derive(Debug, Clone)]
pub struct Alarm {
    rule: AlarmRule,
    state: AlarmState,
    since: Timestamp,
    reason: String,
    /// When a notification was last due (transition or reminder).
    last_notice: Timestamp,
}

impl Alarm {
    /// A machine for a valid rule, in `INSUFFICIENT_DATA` as of `now`.
    pub fn new(rule: AlarmRule, now: Timestamp) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(Self {
            reason: format!("no data for {} yet", rule.metric),
            rule,
            state: AlarmState::InsufficientData,
            since: now,
            last_notice: now,
        })
    }

    /// A machine resumed where a recorded state left it (another
    /// evaluator's, or this one's before a restart): `since` is when `state`
    /// began, `last_notice` when a notification was last due, so a breach
    /// still on is no transition and reminders keep their schedule.
    pub fn resume(
        rule: AlarmRule,
        state: AlarmState,
        since: Timestamp,
        reason: String,
        last_notice: Timestamp,
    ) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(Self { rule, state, since, reason, last_notice })
    }

    pub fn rule(&self) -> &AlarmRule {
        &self.rule
    }

    /// When a notification was last due (the latest transition or reminder).
    pub fn last_notice(&self) -> Timestamp {
        self.last_notice
    }

    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// Feeds one evaluation: `value` is the metric over the rule's period,
    /// `None` when there is no data. Returns a transition when the state
    /// changes, or a reminder when one is due; `None` while the state holds.
    pub fn observe(&mut self, value: Option<f64>, now: Timestamp) -> Option<Transition> {
        let value = value.filter(|v| v.is_finite());
        let (to, reason) = self.evaluate(value);
        if to != self.state {
            let from = self.state;
            self.state = to;
            self.since = now;
            self.reason.clone_from(&reason);
            self.last_notice = now;
            return Some(self.transition(from, reason, value, now, false));
        }
        let reminder_due = match (self.state, self.rule.reminder_seconds) {
            (AlarmState::Alarm, Some(secs)) => {
                let interval_ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
                now.millis().saturating_sub(self.last_notice.millis()) >= interval_ms
            }
            _ => false,
        };
        if !reminder_due {
            return None;
        }
        self.last_notice = now;
        Some(self.transition(AlarmState::Alarm, reason, value, now, true))
    }

    fn evaluate(&self, value: Option<f64>) -> (AlarmState, String) {
        let r = &self.rule;
        let Some(v) = value else {
            return (AlarmState::InsufficientData, format!("no data for {}", r.metric));
        };
        let (v_s, t_s) = (human(v), human(r.threshold));
        if r.comparison.breached(v, r.threshold) {
            (AlarmState::Alarm, format!("{} = {v_s} {} {t_s}", r.metric, r.comparison))
        } else {
            (AlarmState::Ok, format!("{} = {v_s}, not {} {t_s}", r.metric, r.comparison))
        }
    }

    fn transition(
        &self,
        from: AlarmState,
        reason: String,
        value: Option<f64>,
        at: Timestamp,
        reminder: bool,
    ) -> Transition {
        Transition { rule: self.rule.name.clone(), from, to: self.state, reason, value, at, reminder }
    }

    pub fn status(&self) -> AlarmStatus {
        AlarmStatus {
            name: self.rule.name.clone(),
            metric: self.rule.metric.clone(),
            comparison: self.rule.comparison,
            threshold: self.rule.threshold,
            state: self.state,
            since: self.since,
            reason: self.reason.clone(),
        }
    }
}

/// A value rounded to 6 significant digits, so a rate reads `0.0666667`
/// rather than `0.06666666666666667`, and `3.0` reads `3`.
fn human(v: f64) -> String {
    format!("{v:.5e}").parse::<f64>().unwrap_or(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(comparison: Comparison, threshold: f64) -> AlarmRule {
        AlarmRule {
            name: "dlq_depth".into(),
            metric: "dlq_depth".into(),
            comparison,
            threshold,
            period_seconds: 60,
            reminder_seconds: None,
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + secs * 1000)
    }

    #[test]
    fn notifies_exactly_on_transitions_ok_alarm_ok() {
        let mut a = Alarm::new(rule(Comparison::GreaterThan, 0.0), t(0)).unwrap();
        assert_eq!(a.state(), AlarmState::InsufficientData);

        let first = a.observe(Some(0.0), t(60)).expect("INSUFFICIENT_DATA -> OK");
        assert_eq!((first.from, first.to), (AlarmState::InsufficientData, AlarmState::Ok));
        assert_eq!(a.observe(Some(0.0), t(120)), None);

        let up = a.observe(Some(3.0), t(180)).expect("OK -> ALARM");
        assert_eq!((up.from, up.to, up.reminder), (AlarmState::Ok, AlarmState::Alarm, false));
        assert_eq!(up.reason, "dlq_depth = 3 > 0");
        assert_eq!(up.value, Some(3.0));
        assert_eq!(up.at, t(180));
        assert_eq!(up.rule, "dlq_depth");

        // Still breached, even with another value: no repeat.
        assert_eq!(a.observe(Some(3.0), t(240)), None);
        assert_eq!(a.observe(Some(7.0), t(300)), None);

        let down = a.observe(Some(0.0), t(360)).expect("ALARM -> OK");
        assert_eq!((down.from, down.to), (AlarmState::Alarm, AlarmState::Ok));
        assert_eq!(down.reason, "dlq_depth = 0, not > 0");
        assert_eq!(a.observe(Some(0.0), t(420)), None);
    }

    #[test]
    fn status_shows_state_since_and_reason() {
        let mut a = Alarm::new(rule(Comparison::GreaterThan, 0.0), t(0)).unwrap();
        let s = a.status();
        assert_eq!((s.state, s.since), (AlarmState::InsufficientData, t(0)));
        assert_eq!(s.reason, "no data for dlq_depth yet");

        a.observe(Some(2.0), t(60));
        a.observe(Some(5.0), t(120));
        let s = a.status();
        assert_eq!(
            (s.state, s.since),
            (AlarmState::Alarm, t(60)),
            "since is the transition, not the last look"
        );
        assert_eq!(s.reason, "dlq_depth = 2 > 0");

        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["state"], "ALARM");
        assert_eq!(json["comparison"], ">");
        assert_eq!(json["name"], "dlq_depth");
        assert_eq!(json["since"], "2023-11-14T22:14:20.000Z", "RFC 3339, as every output");
    }

    #[test]
    fn reminds_once_per_interval_while_in_alarm() {
        let mut r = rule(Comparison::GreaterThan, 0.0);
        r.reminder_seconds = Some(600);
        let mut a = Alarm::new(r, t(0)).unwrap();
        assert!(a.observe(Some(1.0), t(0)).is_some());
        assert_eq!(a.observe(Some(1.0), t(599)), None);

        let again = a.observe(Some(4.0), t(600)).expect("a reminder");
        assert!(again.reminder);
        assert_eq!((again.from, again.to), (AlarmState::Alarm, AlarmState::Alarm));
        assert_eq!(again.reason, "dlq_depth = 4 > 0");
        assert_eq!(a.status().since, t(0), "a reminder is not a change of state");

        assert_eq!(a.observe(Some(4.0), t(900)), None);
        assert!(a.observe(Some(4.0), t(1200)).is_some_and(|t| t.reminder));

        // No reminders in OK.
        assert!(a.observe(Some(0.0), t(1260)).is_some_and(|t| !t.reminder));
        assert_eq!(a.observe(Some(0.0), t(5000)), None);
    }

    #[test]
    fn a_resumed_alarm_goes_on_from_its_recorded_state() {
        let mut r = rule(Comparison::GreaterThan, 0.0);
        r.reminder_seconds = Some(600);
        let reason = "dlq_depth = 2 > 0".to_owned();
        let mut a = Alarm::resume(r.clone(), AlarmState::Alarm, t(0), reason.clone(), t(300)).unwrap();
        assert_eq!(a.observe(Some(5.0), t(600)), None, "still breached: no transition, no reminder yet");
        let s = a.status();
        assert_eq!((s.state, s.since, s.reason), (AlarmState::Alarm, t(0), reason));
        assert!(a.observe(Some(5.0), t(900)).is_some_and(|t| t.reminder), "600 s after the last notice");
        assert_eq!(a.last_notice(), t(900));
        let down = a.observe(Some(0.0), t(960)).expect("ALARM -> OK");
        assert_eq!((down.from, down.to), (AlarmState::Alarm, AlarmState::Ok));

        r.period_seconds = 0;
        assert!(Alarm::resume(r, AlarmState::Ok, t(0), String::new(), t(0)).is_err(), "rules are checked");
    }

    #[test]
    fn no_reminder_without_an_interval() {
        let mut a = Alarm::new(rule(Comparison::GreaterThan, 0.0), t(0)).unwrap();
        a.observe(Some(1.0), t(0));
        assert_eq!(a.observe(Some(1.0), t(1_000_000)), None);
    }

    #[test]
    fn insufficient_data_when_the_metric_disappears() {
        let mut a = Alarm::new(rule(Comparison::GreaterThan, 0.0), t(0)).unwrap();
        assert_eq!(a.observe(None, t(60)), None, "already INSUFFICIENT_DATA at start");
        a.observe(Some(1.0), t(120)).unwrap();

        let gone = a.observe(None, t(180)).expect("ALARM -> INSUFFICIENT_DATA");
        assert_eq!((gone.from, gone.to), (AlarmState::Alarm, AlarmState::InsufficientData));
        assert_eq!(gone.value, None);
        assert_eq!(gone.reason, "no data for dlq_depth");
        assert_eq!(a.observe(None, t(240)), None);

        // A value that is not a number is no data either, never a panic.
        a.observe(Some(0.0), t(300)).unwrap();
        let nan = a.observe(Some(f64::NAN), t(360)).expect("OK -> INSUFFICIENT_DATA");
        assert_eq!((nan.to, nan.value), (AlarmState::InsufficientData, None));
    }

    #[test]
    fn each_comparison_at_and_around_the_threshold() {
        let cases = [
            (Comparison::GreaterThan, [false, false, true]),
            (Comparison::GreaterThanOrEqual, [false, true, true]),
            (Comparison::LessThan, [true, false, false]),
            (Comparison::LessThanOrEqual, [true, true, false]),
        ];
        for (c, expected) in cases {
            for (value, breached) in [0.04, 0.05, 0.06].into_iter().zip(expected) {
                assert_eq!(c.breached(value, 0.05), breached, "{value} {c} 0.05");
                let mut a = Alarm::new(rule(c, 0.05), t(0)).unwrap();
                let tr = a.observe(Some(value), t(1)).unwrap();
                let state = if breached { AlarmState::Alarm } else { AlarmState::Ok };
                assert_eq!(tr.to, state, "{value} {c} 0.05");
            }
        }
    }

    #[test]
    fn reasons_round_rates() {
        let mut r = rule(Comparison::GreaterThan, 0.05);
        r.name = "failure_rate".into();
        r.metric = "failure_rate".into();
        let mut a = Alarm::new(r, t(0)).unwrap();
        let tr = a.observe(Some(1.0 / 15.0), t(1)).unwrap();
        assert_eq!(tr.reason, "failure_rate = 0.0666667 > 0.05");
    }

    #[test]
    fn default_rules_are_the_documented_ones_and_valid() {
        let rules = default_rules();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["dlq_depth", "oldest_message_age_seconds", "failure_rate", "halted_feeds", "event_dead_letters"]
        );
        let failure = &rules[2];
        assert_eq!(
            (failure.comparison, failure.threshold, failure.period_seconds),
            (Comparison::GreaterThan, 0.05, 300)
        );
        assert_eq!(rules[1].threshold, 300.0);
        let metrics: Vec<&str> = rules.iter().map(|r| r.metric.as_str()).collect();
        validate_rules(&rules, &metrics).unwrap();
    }

    #[test]
    fn parses_a_rule_with_defaults_and_both_comparison_spellings() {
        let r: AlarmRule = serde_json::from_str(
            r#"{"name":"age","metric":"oldest_message_age_seconds","comparison":">=","threshold":600}"#,
        )
        .unwrap();
        assert_eq!(
            (r.comparison, r.threshold, r.period_seconds, r.reminder_seconds),
            (Comparison::GreaterThanOrEqual, 600.0, 60, None)
        );
        let r: AlarmRule = serde_json::from_str(
            r#"{"name":"x","metric":"m","comparison":"lessThan","threshold":1,"period_seconds":30,"reminder_seconds":900}"#,
        )
        .unwrap();
        assert_eq!(
            (r.comparison, r.period_seconds, r.reminder_seconds),
            (Comparison::LessThan, 30, Some(900))
        );
        assert_eq!(serde_json::to_value(r.comparison).unwrap(), "<");
    }

    #[test]
    fn config_errors_are_refused_clearly() {
        let unknown = serde_json::from_str::<AlarmRule>(
            r#"{"name":"x","metric":"m","comparison":">","threshold":1,"periodSeconds":30}"#,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("unknown field `periodSeconds`"), "{unknown}");

        let op =
            serde_json::from_str::<AlarmRule>(r#"{"name":"x","metric":"m","comparison":"=>","threshold":1}"#)
                .unwrap_err();
        assert!(op.to_string().contains("unknown variant `=>`"), "{op}");

        let missing =
            serde_json::from_str::<AlarmRule>(r#"{"name":"x","metric":"m","comparison":">"}"#).unwrap_err();
        assert!(missing.to_string().contains("missing field `threshold`"), "{missing}");
    }

    #[test]
    fn validation_names_the_rule_and_the_field() {
        let check = |edit: fn(&mut AlarmRule), field: &str| {
            let mut r = rule(Comparison::GreaterThan, 0.0);
            r.name = "dlq".into();
            edit(&mut r);
            let e = r.validate().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(&format!("alarm rule `{}`: {field}: ", r.name)), "{e}");
            assert!(Alarm::new(r, t(0)).is_err());
        };
        check(|r| r.period_seconds = 0, "period_seconds");
        check(|r| r.reminder_seconds = Some(0), "reminder_seconds");
        check(|r| r.threshold = f64::INFINITY, "threshold");
        check(|r| r.metric = String::new(), "metric");
        check(|r| r.name = "dlq depth\n".into(), "name");

        let mut rules = default_rules();
        rules.push(rules[0].clone());
        let known =
            ["dlq_depth", "oldest_message_age_seconds", "failure_rate", "halted_feeds", "event_dead_letters"];
        let dup = validate_rules(&rules, &known).unwrap_err();
        assert_eq!(dup.to_string(), "alarm rule `dlq_depth`: name: is used by another rule");

        let mut typo = rule(Comparison::GreaterThan, 0.0);
        typo.metric = "dlq_dept".into();
        let e = validate_rules(&[typo], &known).unwrap_err();
        assert_eq!((e.rule.as_str(), e.field), ("dlq_depth", "metric"));
        assert!(e.to_string().contains("unknown metric `dlq_dept`"), "{e}");
    }
}
