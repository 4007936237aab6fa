//! The `EventSink` port — one signed POST of one lifecycle event to a
//! tenant's endpoint — and its HTTP adapter, signing per
//! [Standard Webhooks](https://www.standardwebhooks.com/):
//!
//! - `webhook-id`: the event id (the same on every retry: receivers dedupe on it),
//! - `webhook-timestamp`: Unix seconds of this attempt,
//! - `webhook-signature`: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`,
//!   where `key` is the base64-decoded part of the secret after `whsec_`.
//!
//! Retries, ordering and dead letters are the engine's (`roster_engine::outbox`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Url;
use roster_core::secret::Secret;
use sha2::Sha256;

use crate::webhook::describe;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// What every endpoint secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a delivery failed. Never holds the URL's path or query (they may be
/// credentials), the secret, the body sent or the body answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint answered with a status other than 2xx.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// Not reached, or no answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The endpoint's URL or secret cannot work; retrying will not help.
    #[error("{0}")]
    Config(String),
}

impl DeliveryError {
    /// The HTTP status the endpoint answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DeliveryError::Status(s) => Some(*s),
            _ => None,
        }
    }
}

/// One attempt at one event. `Debug` leaves out the secret and the body.
pub struct EventDelivery<'a> {
    pub url: &'a str,
    pub secret: &'a Secret,
    /// The event id: `webhook-id`.
    pub id: &'a str,
    /// Unix seconds: `webhook-timestamp`.
    pub timestamp: i64,
    /// The JSON document of the event.
    pub body: &'a [u8],
}

impl fmt::Debug for EventDelivery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDelivery")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Where the outbox dispatcher sends events.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Sends one event once; `Ok` when the endpoint answered 2xx.
    async fn deliver(&self, delivery: &EventDelivery<'_>) -> Result<(), DeliveryError>;
}

/// The `webhook-signature` value of a delivery: `v1,<base64 HMAC-SHA256>`.
/// Public so receivers (and tests) can see how it is computed.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> Result<String, DeliveryError> {
    let encoded = secret.expose().strip_prefix(SECRET_PREFIX).unwrap_or(secret.expose());
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| DeliveryError::Config("the endpoint's secret is not `whsec_<base64>`".into()))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// POSTs events with `reqwest`: no redirects followed (a 3xx is a failed
/// attempt), a timeout per attempt, the answer's body never read.
#[derive(Debug, Clone)]
pub struct HttpEventSink {
    client: reqwest::Client,
}

impl HttpEventSink {
    pub fn new(timeout: Duration) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeliveryError::Config(format!("webhook client: {e}")))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl EventSink for HttpEventSink {
    async fn deliver(&self, d: &EventDelivery<'_>) -> Result<(), DeliveryError> {
        let url =
            Url::parse(d.url).map_err(|_| DeliveryError::Config("the endpoint URL is invalid".into()))?;
        let signature = sign(d.secret, d.id, d.timestamp, d.body)?;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, d.id)
            .header(TIMESTAMP_HEADER, d.timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(d.body.to_vec())
            .send()
            .await
            .map_err(|e| DeliveryError::Unreachable(describe(e)))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(DeliveryError::Status(status.as_u16())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_standard_webhooks() {
        // The example of the Standard Webhooks reference libraries.
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let s = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(s, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_that_is_not_base64_is_a_config_error() {
        let err = sign(&Secret::new("whsec_not base64!"), "id", 1, b"{}").unwrap_err();
        assert!(matches!(err, DeliveryError::Config(_)));
        assert!(!err.to_string().contains("not base64!"), "the secret is not echoed");
    }

    #[test]
    fn debug_of_a_delivery_hides_secret_and_body() {
        let secret = Secret::new("whsec_c2VjcmV0");
        let d = EventDelivery {
            url: "https://x/y",
            secret: &secret,
            id: "e1",
            timestamp: 1,
            body: b"{\"n\":\"Ann\"}",
        };
        let debug = format!("{d:?}");
        assert!(!debug.contains("c2VjcmV0") && !debug.contains("Ann"), "{debug}");
    }
}
