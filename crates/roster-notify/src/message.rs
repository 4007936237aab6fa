//! The words of a notification, shared by every notifier.

use roster_core::alarm::{AlarmState, Transition};
use serde_json::{Value, json};

fn emoji(state: AlarmState) -> &'static str {
    match state {
        AlarmState::Alarm => ":rotating_light:",
        AlarmState::Ok => ":white_check_mark:",
        AlarmState::InsufficientData => ":grey_question:",
    }
}

fn headline(t: &Transition) -> String {
    let reminder = if t.reminder { " (reminder)" } else { "" };
    format!("{} {}{reminder}", t.to, t.rule)
}

/// One line, Slack-style: `:rotating_light: ALARM dlq_depth: dlq_depth = 3 > 0`.
pub fn text(t: &Transition) -> String {
    format!("{} {}: {}", emoji(t.to), headline(t), t.reason)
}

/// `[Roster] ALARM dlq_depth`: an e-mail or SNS subject (at most 100
/// characters, one line, as SNS requires).
pub fn subject(t: &Transition) -> String {
    let s = format!("[Roster] {}", headline(t));
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// The JSON document a webhook or SNS subscriber receives: `text` for Slack
/// incoming webhooks, the rest for programs. `at` is RFC 3339.
pub fn json_body(t: &Transition) -> Value {
    json!({
        "text": text(t),
        "alarm": t.rule,
        "state": t.to,
        "previousState": t.from,
        "reason": t.reason,
        "value": t.value,
        "at": t.at.to_rfc3339(),
        "reminder": t.reminder,
    })
}

/// A plain-text e-mail body.
pub fn plain_body(t: &Transition) -> String {
    let value = t.value.map_or_else(|| "no data".to_owned(), |v| v.to_string());
    let what = if t.reminder {
        format!("Alarm {} is still in {}.", t.rule, t.to)
    } else {
        format!("Alarm {} changed from {} to {}.", t.rule, t.from, t.to)
    };
    format!("{what}\n\nReason: {}\nValue:  {value}\nAt:     {}\n", t.reason, t.at.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use roster_core::Timestamp;

    use super::*;

    fn transition(reminder: bool) -> Transition {
        Transition {
            rule: "dlq_depth".into(),
            from: if reminder { AlarmState::Alarm } else { AlarmState::Ok },
            to: AlarmState::Alarm,
            reason: "dlq_depth = 3 > 0".into(),
            value: Some(3.0),
            at: Timestamp::parse_rfc3339("2026-01-02T03:04:05Z").unwrap(),
            reminder,
        }
    }

    #[test]
    fn the_same_words_everywhere() {
        let t = transition(false);
        assert_eq!(text(&t), ":rotating_light: ALARM dlq_depth: dlq_depth = 3 > 0");
        assert_eq!(subject(&t), "[Roster] ALARM dlq_depth");
        let body = json_body(&t);
        assert_eq!(body["state"], "ALARM");
        assert_eq!(body["previousState"], "OK");
        assert_eq!(body["at"], "2026-01-02T03:04:05.000Z");
        assert!(plain_body(&t).starts_with("Alarm dlq_depth changed from OK to ALARM.\n"));
    }

    #[test]
    fn reminders_say_so() {
        let t = transition(true);
        assert_eq!(subject(&t), "[Roster] ALARM dlq_depth (reminder)");
        assert!(plain_body(&t).starts_with("Alarm dlq_depth is still in ALARM."));
    }

    #[test]
    fn subjects_fit_sns() {
        let mut t = transition(false);
        t.rule = format!("{}\n", "x".repeat(200));
        let s = subject(&t);
        assert_eq!(s.chars().count(), 100);
        assert!(!s.contains('\n'));
    }
}
