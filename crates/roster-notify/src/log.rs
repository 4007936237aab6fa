//! Alarms as log lines: always on, so a transition is recorded even when
//! every other notifier is down.

use async_trait::async_trait;
use roster_core::alarm::{AlarmState, Transition};

use crate::{Notifier, NotifyError, message};

/// Logs `ALARM` at warn level and anything else at info.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &str {
        "log"
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        let text = message::text(t);
        if t.to == AlarmState::Alarm {
            tracing::warn!(alarm = %t.rule, state = %t.to, previous = %t.from, reminder = t.reminder, "{text}");
        } else {
            tracing::info!(alarm = %t.rule, state = %t.to, previous = %t.from, "{text}");
        }
        Ok(())
    }
}
