//! The alarm notifiers `[notifiers]` names.

use std::sync::Arc;

use anyhow::Context;
use roster_notify::{LogNotifier, Notifier, SmtpNotifier, SnsNotifier, WebhookNotifier};

use crate::settings::NotifiersConfig;

/// The notifiers the settings name, after the log notifier (always on).
pub async fn notifiers(config: &NotifiersConfig) -> anyhow::Result<Vec<Arc<dyn Notifier>>> {
    let mut out: Vec<Arc<dyn Notifier>> = vec![Arc::new(LogNotifier)];
    for (i, w) in config.webhook.iter().enumerate() {
        let n = WebhookNotifier::new(w.url.expose(), w.secret.clone())
            .with_context(|| format!("notifiers.webhook[{i}]"))?;
        out.push(Arc::new(n));
    }
    for s in &config.sns {
        let client = SnsNotifier::client(s.endpoint_url.as_deref(), s.region.as_deref()).await;
        out.push(Arc::new(SnsNotifier::new(client, &s.topic_arn)));
    }
    for (i, s) in config.smtp.iter().enumerate() {
        out.push(Arc::new(SmtpNotifier::new(s.clone()).with_context(|| format!("notifiers.smtp[{i}]"))?));
    }
    Ok(out)
}
