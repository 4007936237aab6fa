//! Webhook notifier: POSTs the JSON document of [`message::json_body`] —
//! its `text` field makes it a valid Slack incoming-webhook payload — signed
//! with HMAC-SHA256 when a secret is configured, so a receiver can tell a
//! genuine alarm from a forged one and refuse replays by the timestamp.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::Url;
use roster_core::alarm::Transition;
use roster_core::secret::Secret;
use roster_core::{Clock, SystemClock};
use sha2::Sha256;

use crate::{Notifier, NotifyError, message};

/// `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-roster-signature";
/// Unix seconds when the request was signed.
pub const TIMESTAMP_HEADER: &str = "x-roster-timestamp";

const TIMEOUT: Duration = Duration::from_secs(10);

/// The value of [`SIGNATURE_HEADER`] for a body sent at `timestamp` (Unix
/// seconds); public so receivers and tests compute it the same way.
pub fn signature(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct WebhookNotifier {
    /// Holds the full URL, which for Slack is itself a credential.
    url: Url,
    secret: Option<Secret>,
    client: reqwest::Client,
    /// `webhook:<host>`: what logs may show of the URL.
    name: String,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("name", &self.name)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier posting to an `http` or `https` URL.
    pub fn new(url: &str, secret: Option<Secret>) -> Result<Self, NotifyError> {
        let url = Url::parse(url).map_err(|e| NotifyError::Config(format!("webhook URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NotifyError::Config("webhook URL: must be http or https".into()));
        }
        let name = format!("webhook:{}", url.host_str().unwrap_or_default());
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // Explicit egress only: the environment's proxy is not used.
            .no_proxy()
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config(format!("webhook client: {e}")))?;
        Ok(Self { url, secret, client, name })
    }
}

/// An error and its causes in one line, without the URL.
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&message::json_body(t))
            .map_err(|e| NotifyError::Config(format!("encoding the body: {e}")))?;
        let mut request =
            self.client.post(self.url.clone()).header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            let timestamp = SystemClock.now().millis().div_euclid(1000);
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::Unavailable(format!("{}: {}", self.name, describe(e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(NotifyError::Rejected(format!("{}: answered HTTP {}", self.name, status.as_u16())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_urls_it_cannot_post_to() {
        assert!(matches!(WebhookNotifier::new("not a url", None), Err(NotifyError::Config(_))));
        assert!(matches!(WebhookNotifier::new("ftp://example.com/x", None), Err(NotifyError::Config(_))));
    }

    #[test]
    fn debug_and_name_hide_the_path_and_the_secret() {
        let n = WebhookNotifier::new(
            "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
            Some(Secret::new("s3cret")),
        )
        .unwrap();
        assert_eq!(n.name(), "webhook:hooks.slack.com");
        let debug = format!("{n:?}");
        assert!(!debug.contains("XXXXSECRET") && !debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Checked against a value computed independently:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        let s = signature(&Secret::new("key"), 1_700_000_000, b"{}");
        assert_eq!(s, "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
    }
}
