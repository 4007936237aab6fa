//! E-mail notifier over SMTP (lettre, tokio, rustls): the embedded shape's
//! way of reaching an operator's inbox or a ticketing system's mailbox.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_core::alarm::Transition;
use roster_core::secret::Secret;
use serde::Deserialize;

use crate::{Notifier, NotifyError, message};

const TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte ("SMTPS"), port 465 by default.
    Tls,
    /// Plain connection upgraded by STARTTLS, which is required; port 587 by default.
    #[default]
    Starttls,
    /// No encryption: only to a loopback host (a local relay or a test sink); port 25 by default.
    None,
}

/// Where and to whom alarm e-mails go (snake_case keys, as in the TOML settings).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults by `tls`: 465, 587 or 25.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Sender, e.g. `Roster <roster@example.com>`.
    pub from: String,
    /// At least one recipient.
    pub to: Vec<String>,
    /// Login, with `password`; only over TLS.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
}

/// Addresses are personal data: `Debug` shows how many, not which.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("recipients", &self.to.len())
            .field("login", &self.username.is_some())
            .finish_non_exhaustive()
    }
}

pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpNotifier").field("recipients", &self.to.len()).finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> NotifyError {
    NotifyError::Config(format!("smtp: {}", message.into()))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpNotifier {
    /// Checks the configuration and prepares the transport; connects only
    /// when sending.
    pub fn new(config: SmtpConfig) -> Result<Self, NotifyError> {
        // Messages name the field, never the address: addresses are personal data.
        let from =
            config.from.parse::<Mailbox>().map_err(|_| config_error("`from` is not an e-mail address"))?;
        if config.to.is_empty() {
            return Err(config_error("`to` needs at least one address"));
        }
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.parse::<Mailbox>()
                    .map_err(|_| config_error(format!("`to` entry {} is not an e-mail address", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = match (config.username, config.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user, password.expose().to_owned())),
            (None, None) => None,
            _ => return Err(config_error("`username` and `password` go together")),
        };
        let tls_error = |e: lettre::transport::smtp::Error| config_error(format!("TLS set-up: {e}"));
        let builder = match config.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(tls_error)?,
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(tls_error)?
            }
            SmtpTls::None => {
                if !is_loopback(&config.host) {
                    return Err(config_error("`tls = \"none\"` is only allowed to a loopback host"));
                }
                if credentials.is_some() {
                    return Err(config_error("a password is never sent without TLS"));
                }
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host).port(25)
            }
        };
        let mut builder = builder.timeout(Some(TIMEOUT));
        if let Some(port) = config.port {
            builder = builder.port(port);
        }
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        Ok(Self { transport: builder.build(), from, to })
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &str {
        "smtp"
    }

    async fn notify(&self, t: &Transition) -> Result<(), NotifyError> {
        let mut email = Message::builder().from(self.from.clone()).subject(message::subject(t));
        for to in &self.to {
            email = email.to(to.clone());
        }
        let email = email
            .header(ContentType::TEXT_PLAIN)
            .body(message::plain_body(t))
            .map_err(|e| config_error(format!("building the message: {e}")))?;
        self.transport.send(email).await.map_err(|e| {
            if e.is_permanent() {
                NotifyError::Rejected(format!("smtp: {e}"))
            } else {
                NotifyError::Unavailable(format!("smtp: {e}"))
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: None,
            tls,
            from: "Roster <roster@example.com>".into(),
            to: vec!["ops@example.com".into()],
            username: None,
            password: None,
        }
    }

    #[test]
    fn plain_smtp_only_to_loopback_and_never_with_a_password() {
        assert!(SmtpNotifier::new(config("127.0.0.1", SmtpTls::None)).is_ok());
        assert!(SmtpNotifier::new(config("localhost", SmtpTls::None)).is_ok());
        assert!(SmtpNotifier::new(config("::1", SmtpTls::None)).is_ok());
        assert!(matches!(
            SmtpNotifier::new(config("mail.example.com", SmtpTls::None)),
            Err(NotifyError::Config(_))
        ));

        let mut c = config("127.0.0.1", SmtpTls::None);
        c.username = Some("roster".into());
        c.password = Some(Secret::new("pw"));
        assert!(SmtpNotifier::new(c.clone()).is_err());
        c.tls = SmtpTls::Starttls;
        c.host = "mail.example.com".into();
        assert!(SmtpNotifier::new(c).is_ok());
    }

    #[test]
    fn bad_addresses_are_named_by_field_not_by_value() {
        let mut c = config("mail.example.com", SmtpTls::Tls);
        c.to.push("jane.doe at example".into());
        let e = SmtpNotifier::new(c).unwrap_err().to_string();
        assert!(e.contains("`to` entry 2") && !e.contains("jane"), "{e}");

        let mut c = config("mail.example.com", SmtpTls::Tls);
        c.to.clear();
        assert!(SmtpNotifier::new(c).is_err());
    }

    #[test]
    fn parses_from_config_and_hides_addresses_and_password() {
        let c: SmtpConfig = serde_json::from_str(
            r#"{"host":"mail.example.com","from":"roster@example.com","to":["jane@example.com"],
                "username":"u","password":"hunter2"}"#,
        )
        .unwrap();
        assert_eq!(c.tls, SmtpTls::Starttls);
        let debug = format!("{c:?}");
        assert!(!debug.contains("jane") && !debug.contains("hunter2"), "{debug}");
        assert!(
            serde_json::from_str::<SmtpConfig>(r#"{"host":"h","from":"a@b.c","to":[],"pass":"x"}"#).is_err()
        );
    }
}
