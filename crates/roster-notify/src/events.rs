//! The `EventSink` port — one signed POST of one lifecycle event to a
//! tenant's endpoint — and its HTTP adapter, signing per
//! [Standard Webhooks](https://www.standardwebhooks.com/):
//!
//! - `webhook-id`: the event id (the same on every retry: receivers dedupe on it),
//! - `webhook-timestamp`: Unix seconds of this attempt,
//! - `webhook-signature`: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`,
//!   where `key` is the base64-decoded part of the secret after `whsec_`;
//!   while a rotated-out secret is still valid, a second, space-separated
//!   `v1,<...>` made with it follows (receivers accept either).
//!
//! Retries, ordering and dead letters are the engine's (`roster_engine::outbox`).
//!
//! Unless private targets are allowed, the sink reaches public addresses
//! only (`roster_core::address`): an IP-literal or `localhost` URL is
//! refused before sending, and names are resolved by [`PublicResolver`],
//! which drops every internal address a name resolves to — at each attempt,
//! so a name whose DNS changed after registration (rebinding) is caught too.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use roster_core::address::{internal_host, is_public};
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
    /// The endpoint's host is, or resolves only to, an internal address
    /// (loopback, private, link-local, ...) and private targets are not
    /// allowed. Nothing was sent. Retried like any failure: DNS may change.
    #[error("{0}")]
    NotPublic(String),
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
    /// The endpoint's secret before its last rotation, while still valid:
    /// its signature follows the current one's.
    pub previous_secret: Option<&'a Secret>,
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

/// The whole `webhook-signature` header of a delivery: the current secret's
/// signature, then the previous secret's (if any), space-separated.
pub fn signature_header(d: &EventDelivery<'_>) -> Result<String, DeliveryError> {
    let mut header = sign(d.secret, d.id, d.timestamp, d.body)?;
    if let Some(previous) = d.previous_secret {
        header.push(' ');
        header.push_str(&sign(previous, d.id, d.timestamp, d.body)?);
    }
    Ok(header)
}

/// Whether deliveries may reach internal addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivateTargets {
    /// Public addresses only (the default): no server-side request forgery
    /// into the operator's network.
    #[default]
    Refused,
    /// Any address (`[outbox] allow_private_endpoints`: tests, receivers on
    /// a private network).
    Allowed,
}

/// Why [`PublicResolver`] refused a name. Names the host only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{host}` resolves to no public address")]
pub struct NoPublicAddress {
    pub host: String,
}

/// A `reqwest` resolver that keeps only the public addresses a name resolves
/// to (by the system resolver, `tokio::net::lookup_host`) and fails the
/// resolution when none is left.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is reqwest's to set; lookup_host needs one.
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(NoPublicAddress { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// POSTs events with `reqwest`: no redirects followed (a 3xx is a failed
/// attempt), a timeout per attempt, the answer's body never read, never the
/// environment's proxy; public addresses only unless
/// [`PrivateTargets::Allowed`].
#[derive(Debug, Clone)]
pub struct HttpEventSink {
    client: reqwest::Client,
    private: PrivateTargets,
    /// Deliveries go through this proxy (`[outbox] proxy`).
    proxied: bool,
}

impl HttpEventSink {
    pub fn new(timeout: Duration, private: PrivateTargets) -> Result<Self, DeliveryError> {
        Self::with_proxy(timeout, private, None)
    }

    /// With `proxy` (an `http://` or `https://` URL), every delivery goes
    /// through it. The proxy resolves the target itself, so Roster checks
    /// the target's addresses before sending instead of at connect time:
    /// a name rebound between the two is the proxy's to refuse, and the
    /// proxy must enforce the same egress policy (docs/OPERATIONS.md).
    pub fn with_proxy(
        timeout: Duration,
        private: PrivateTargets,
        proxy: Option<&str>,
    ) -> Result<Self, DeliveryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            // Never the environment's proxy (`HTTP(S)_PROXY`, `ALL_PROXY`):
            // a proxy resolves the target itself, out of `PublicResolver`'s
            // sight, so an internal name would be reached through it.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
        match proxy {
            Some(url) => {
                let proxy = reqwest::Proxy::all(url)
                    .map_err(|_| DeliveryError::Config("the outbox proxy URL is invalid".into()))?;
                builder = builder.proxy(proxy);
            }
            // Only the proxy is connected to when there is one: the
            // resolver would judge the proxy's address, not the target's.
            None if private == PrivateTargets::Refused => {
                builder = builder.dns_resolver(Arc::new(PublicResolver));
            }
            None => {}
        }
        let client = builder.build().map_err(|e| DeliveryError::Config(format!("webhook client: {e}")))?;
        Ok(Self { client, private, proxied: proxy.is_some() })
    }
}

/// Through a proxy: every address the target's name resolves to must be
/// public, or nothing is sent.
async fn check_resolved(url: &Url) -> Result<(), DeliveryError> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(DeliveryError::Config("the endpoint URL has no host".into()));
    };
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| DeliveryError::Unreachable(format!("`{host}` does not resolve")))?
        .collect();
    if found.is_empty() || found.iter().any(|a| !is_public(a.ip())) {
        return Err(DeliveryError::NotPublic(format!(
            "not sent: {}",
            NoPublicAddress { host: host.to_owned() }
        )));
    }
    Ok(())
}

/// A send error as a delivery error: [`DeliveryError::NotPublic`] when the
/// resolver refused the name, else `Unreachable` with the error's chain.
fn send_error(e: reqwest::Error) -> DeliveryError {
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NoPublicAddress>() {
            return DeliveryError::NotPublic(format!("not sent: {refused}"));
        }
        source = cause.source();
    }
    DeliveryError::Unreachable(describe(e))
}

#[async_trait]
impl EventSink for HttpEventSink {
    async fn deliver(&self, d: &EventDelivery<'_>) -> Result<(), DeliveryError> {
        let url =
            Url::parse(d.url).map_err(|_| DeliveryError::Config("the endpoint URL is invalid".into()))?;
        // The resolver never sees an IP literal: check the host itself.
        if self.private == PrivateTargets::Refused
            && let Some(why) = url.host_str().and_then(internal_host)
        {
            return Err(DeliveryError::NotPublic(format!("not sent: {why}, not a public address")));
        }
        if self.proxied && self.private == PrivateTargets::Refused {
            check_resolved(&url).await?;
        }
        let signature = signature_header(d)?;
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
            .map_err(send_error)?;
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
    fn a_previous_secret_adds_its_signature_after_the_current_one() {
        let current = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let previous = Secret::new("whsec_c2VjcmV0");
        let body = br#"{"test": 2432232314}"#;
        let mut d = EventDelivery {
            url: "https://x/y",
            secret: &current,
            previous_secret: None,
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: 1614265330,
            body,
        };
        assert_eq!(signature_header(&d).unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        d.previous_secret = Some(&previous);
        let expected = format!(
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= {}",
            sign(&previous, d.id, d.timestamp, body).unwrap()
        );
        assert_eq!(signature_header(&d).unwrap(), expected);
    }

    #[test]
    fn a_secret_that_is_not_base64_is_a_config_error() {
        let err = sign(&Secret::new("whsec_not base64!"), "id", 1, b"{}").unwrap_err();
        assert!(matches!(err, DeliveryError::Config(_)));
        assert!(!err.to_string().contains("not base64!"), "the secret is not echoed");
    }

    /// A local listener that counts the connections it accepts and answers
    /// each `204`.
    async fn listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    let mut seen = Vec::new();
                    while let Ok(n) = stream.read(&mut buf).await {
                        seen.extend_from_slice(&buf[..n]);
                        if n == 0 || seen.windows(2).any(|w| w == b"{}") {
                            break;
                        }
                    }
                    let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
                });
            }
        });
        (port, accepted)
    }

    async fn deliver_to(url: &str, private: PrivateTargets) -> Result<(), DeliveryError> {
        let sink = HttpEventSink::new(Duration::from_secs(5), private).unwrap();
        let secret = Secret::new("whsec_c2VjcmV0");
        sink.deliver(&EventDelivery {
            url,
            secret: &secret,
            previous_secret: None,
            id: "e1",
            timestamp: 1,
            body: b"{}",
        })
        .await
    }

    #[tokio::test]
    async fn internal_targets_are_refused_before_anything_is_sent() {
        use std::sync::atomic::Ordering;
        let (port, accepted) = listener().await;
        for url in [
            format!("http://localhost:{port}/hook"),
            format!("http://hooks.localhost:{port}/hook"),
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            let err = deliver_to(&url, PrivateTargets::Refused).await.unwrap_err();
            assert!(matches!(err, DeliveryError::NotPublic(_)), "{url}: {err:?}");
            let text = err.to_string();
            assert!(text.contains("not a public address") && !text.contains("/hook"), "{url}: {text}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no request reached the listener");
        // The same listener is reached once private targets are allowed.
        deliver_to(&format!("http://localhost:{port}/hook"), PrivateTargets::Allowed).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn through_an_explicit_proxy_internal_targets_are_refused_and_others_go_via_the_proxy() {
        use std::sync::atomic::Ordering;
        // The listener stands in for the proxy: it answers whatever reaches it.
        let (port, via_proxy) = listener().await;
        let proxy = format!("http://127.0.0.1:{port}");
        let secret = Secret::new("whsec_c2VjcmV0");
        let delivery = |url| EventDelivery {
            url,
            secret: &secret,
            previous_secret: None,
            id: "e1",
            timestamp: 1,
            body: b"{}",
        };
        let sink =
            HttpEventSink::with_proxy(Duration::from_secs(5), PrivateTargets::Refused, Some(&proxy)).unwrap();
        for url in ["http://localhost:9/x", "http://127.0.0.1:9/x", "http://hooks.localhost/x"] {
            let err = sink.deliver(&delivery(url)).await.unwrap_err();
            assert!(matches!(err, DeliveryError::NotPublic(_)), "{url}: {err:?}");
        }
        assert_eq!(via_proxy.load(Ordering::SeqCst), 0, "nothing was handed to the proxy");

        // Allowed targets go through the proxy, not to the target: the name
        // below resolves nowhere, the proxy answers for it.
        let sink =
            HttpEventSink::with_proxy(Duration::from_secs(5), PrivateTargets::Allowed, Some(&proxy)).unwrap();
        sink.deliver(&delivery("http://receiver.invalid/hook")).await.unwrap();
        assert_eq!(via_proxy.load(Ordering::SeqCst), 1);
        assert!(
            HttpEventSink::with_proxy(Duration::from_secs(5), PrivateTargets::Refused, Some("::")).is_err()
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses() {
        use std::str::FromStr;
        // `localhost` resolves (through the system resolver) to loopback only.
        let err = PublicResolver.resolve(Name::from_str("localhost").unwrap()).await.err().unwrap();
        assert_eq!(err.to_string(), "`localhost` resolves to no public address");
        let refused = err.downcast_ref::<NoPublicAddress>().unwrap();
        assert_eq!(refused.host, "localhost");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_fails_in_the_client_as_not_public() {
        use std::sync::atomic::Ordering;
        // The sink's client, past the sink's own check of the URL's host: the
        // resolver is what refuses (a public name rebound to 127.0.0.1 alike).
        let (port, accepted) = listener().await;
        let sink = HttpEventSink::new(Duration::from_secs(5), PrivateTargets::Refused).unwrap();
        let e = sink.client.post(format!("http://localhost:{port}/hook")).send().await.unwrap_err();
        let err = send_error(e);
        assert_eq!(
            err,
            DeliveryError::NotPublic("not sent: `localhost` resolves to no public address".into())
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no request reached the listener");
    }

    #[test]
    fn debug_of_a_delivery_hides_secret_and_body() {
        let secret = Secret::new("whsec_c2VjcmV0");
        let d = EventDelivery {
            url: "https://x/y",
            secret: &secret,
            previous_secret: Some(&secret),
            id: "e1",
            timestamp: 1,
            body: b"{\"n\":\"Ann\"}",
        };
        let debug = format!("{d:?}");
        assert!(!debug.contains("c2VjcmV0") && !debug.contains("Ann"), "{debug}");
    }
}
