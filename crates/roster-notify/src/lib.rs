//! The `Notifier` port: where alarm transitions go (a log line, a webhook,
//! an SNS topic, e-mail) — and its adapters. Also the `EventSink` port
//! ([`events`]): how the outbox dispatcher pushes one lifecycle event to a
//! tenant's webhook endpoint, signed the Standard Webhooks way. Each adapter delivers once;
//! retrying in the background, so a slow or failing endpoint never holds up
//! the pipeline, is the engine's `Dispatcher`.
//!
//! Every adapter writes the same words ([`message`]): a one-line text, an
//! e-mail-style subject and a JSON document, so an operator recognises an
//! alarm whichever way it reached them.

pub mod events;
mod log;
pub mod message;
#[cfg(feature = "smtp")]
mod smtp;
#[cfg(feature = "sns")]
mod sns;
mod webhook;

use async_trait::async_trait;
use roster_core::alarm::Transition;

pub use events::{DeliveryError, EventDelivery, EventSink, HttpEventSink, PrivateTargets};
pub use log::LogNotifier;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpConfig, SmtpNotifier, SmtpTls};
#[cfg(feature = "sns")]
pub use sns::SnsNotifier;
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, signature};

/// Why one delivery failed. Messages never carry secrets (webhook URLs hold
/// tokens, so only their host is named) and never personal data.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The notifier's configuration cannot work; retrying will not help.
    #[error("invalid notifier configuration: {0}")]
    Config(String),
    /// The endpoint could not be reached or did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// The endpoint answered, and refused.
    #[error("{0}")]
    Rejected(String),
}

/// One way of telling operators about an alarm.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// A short label for logs (`webhook:hooks.slack.com`, `sns`, `smtp`),
    /// free of secrets.
    fn name(&self) -> &str;

    /// Delivers one transition, once; retries are the dispatcher's.
    async fn notify(&self, t: &Transition) -> Result<(), NotifyError>;
}
