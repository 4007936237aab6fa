//! Settings of every role, layered: the caller's overrides (the CLI's flags)
//! > environment variables (`ROSTER_*`, [`env`]) > TOML file > defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use roster_core::alarm::{AlarmRule, default_rules, validate_rules};
use roster_core::secret::Secret;
use roster_notify::SmtpConfig;
use roster_server::auth::jwt::JwtIssuerConfig;
use serde::Deserialize;

use crate::Role;

pub mod env;

/// Settings of `roster serve`. Every field is also a key of the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the SQLite queue and directory live.
    pub data_dir: PathBuf,
    /// Which directory: the embedded SQLite file or a shared PostgreSQL
    /// database (a cluster of nodes).
    pub store: StoreBackend,
    /// PostgreSQL: libpq's URL (`postgres://USER[:PASSWORD]@HOST/DB?sslmode=...`,
    /// a unix-socket `host=/dir`). A secret: it may carry the password, so
    /// `Debug` and logs never show it.
    pub database_url: Option<Secret>,
    /// PostgreSQL: most connections this process holds (a Lambda consumer
    /// wants 1–2; a node, its workers plus a few for the API).
    pub database_pool_size: u32,
    /// PostgreSQL: a file whose first line is the password, when it is not
    /// in `database_url` (a mounted secret). `ROSTER_DATABASE_PASSWORD` (an
    /// ECS task's secret from Secrets Manager, say) gives it directly.
    pub database_password_file: Option<PathBuf>,
    /// From `ROSTER_DATABASE_PASSWORD`: never a file key or a flag (a flag
    /// shows in `ps`).
    #[serde(skip)]
    pub database_password: Option<Secret>,
    /// PostgreSQL: the ARN of a Secrets Manager secret holding the password
    /// (the secret string itself, or JSON with a `password` key as RDS's
    /// managed master secret has), read once at start: a Lambda function's
    /// way, where no file is mounted and an environment variable would
    /// show the password in the console.
    pub database_password_secret_arn: Option<String>,
    /// Secrets Manager endpoint override (a VPC endpoint or an emulator).
    pub secrets_endpoint_url: Option<String>,
    /// PostgreSQL: seconds a statement may run before the server cancels it
    /// (`statement_timeout` of the pool's connections): a stuck query must
    /// not hold a connection and its locks.
    pub database_statement_timeout_secs: u64,
    /// Address of the HTTP server.
    pub listen: SocketAddr,
    /// Largest accepted request body held in memory, in bytes.
    pub body_limit: usize,
    /// Largest CSV upload, streamed to the queue as it arrives, in bytes.
    pub upload_limit: u64,
    /// Consumer workers; 0 makes an ingest-only node.
    pub workers: usize,
    /// Run the jobs that run once per cluster (scheduler, alarm evaluator,
    /// outbox dispatcher), each under its lease. Unset: on a node with
    /// workers, and always on `roster worker`; an ingest-only node runs
    /// them only when this is `true`.
    pub jobs: Option<bool>,
    /// Seconds a node's lease on such a job lasts without renewal (renewed
    /// at a third of it): a node that dies hands its jobs over within this.
    pub lease_ttl_secs: u64,
    /// `roster worker`: the address of its `/healthz`, `/readyz` and
    /// `/metrics` (its `--listen`).
    pub worker_listen: SocketAddr,
    /// Messages each worker applies per batch.
    pub batch_size: usize,
    /// Seconds a received message stays hidden while it is applied.
    pub visibility_timeout_secs: u64,
    /// Receives before a failing message is dead-lettered.
    pub max_receive_count: u32,
    /// First retry delay, in milliseconds (doubles per attempt, with jitter).
    pub retry_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub retry_cap_ms: u64,
    /// Ingest answers 429 while the queue holds more messages than this.
    pub max_queue_depth: u64,
    /// Which queue: the embedded SQLite file or Amazon SQS.
    pub queue: QueueBackend,
    /// SQS: URL of the FIFO queue.
    pub sqs_queue_url: Option<String>,
    /// SQS: URL of its FIFO dead-letter queue (the target of its redrive policy).
    pub sqs_dlq_url: Option<String>,
    /// SQS: endpoint override (a VPC endpoint or a local emulator).
    pub sqs_endpoint_url: Option<String>,
    /// AWS region (default: the AWS configuration chain's).
    pub aws_region: Option<String>,
    /// PEM certificate chain: with `tls_key`, the server speaks HTTPS only
    /// (and sends HSTS).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP on a non-loopback address is refused unless this is set
    /// (e.g. behind a TLS-terminating load balancer in a private network).
    pub allow_insecure_http: bool,
    /// Most records in one request held in memory (JSON, SCIM, a small CSV);
    /// a streamed CSV is bounded by `max_streamed_records` instead.
    pub max_records_per_request: usize,
    /// Seconds a record's `meta.lastModified` may be ahead of this server's
    /// clock; later is refused (field error) so a clock or time-zone bug
    /// cannot freeze a person.
    pub max_clock_skew_secs: u64,
    /// Most rows in one streamed CSV upload (its duplicate check keeps 24–48
    /// bytes a row while it streams); more fails the upload with `413`.
    pub max_streamed_records: usize,
    /// Most CSV uploads streaming at once on this node; more is `503`.
    pub max_streaming_uploads: usize,
    /// Most CSV uploads one tenant may stream at once; more is `429`.
    pub max_streaming_uploads_per_tenant: usize,
    /// Seconds a streamed upload may send no bytes before it fails (`408`).
    pub upload_idle_secs: u64,
    /// Most bytes of request bodies read whole held at once; more is `503`.
    pub max_body_bytes_in_flight: u64,
    /// Most of those one tenant may hold at once; more is `429`. At least
    /// `body_limit`.
    pub max_body_bytes_in_flight_per_tenant: u64,
    /// Seconds an ordinary request may take, body included (`408` past it).
    pub request_timeout_secs: u64,
    /// Seconds a request to `/integrations/hr-feed` may take: a large CSV
    /// upload streams for long (a stalled one is failed after
    /// `upload_stall_secs`); a body read whole gets `request_timeout_secs`.
    pub upload_timeout_secs: u64,
    /// Seconds a client may take to send a request's headers; the
    /// connection is closed past it.
    pub header_read_timeout_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger is
    /// `431`. At least 8192.
    pub max_header_bytes: usize,
    /// Connections the server holds at once (TLS handshakes and idle
    /// keep-alive ones included); past it a new connection is closed at once.
    pub max_connections: usize,
    /// HTTP/2 streams (concurrent requests) on one connection.
    pub max_http2_streams: u32,
    /// Days between an operator's deletion of a tenant and the purge of its
    /// data; meanwhile its keys are refused and the deletion can be cancelled.
    pub tenant_deletion_grace_days: u32,
    /// The bearer token Prometheus sends to `/metrics` (operator keys work
    /// too); without it only operator keys may scrape.
    pub metrics_token: Option<Secret>,
    /// Requests per second per credential (API key or token client); 0: no limit.
    pub rate_limit_per_sec: f64,
    /// Requests a credential may send at once after a quiet spell.
    pub rate_limit_burst: f64,
    /// Failed authentications (`401`s) per second a client address may
    /// keep up; past its burst, its requests get `429` before any credential
    /// is looked at. 0: no limit.
    pub auth_failure_limit_per_sec: f64,
    /// Failed authentications a client address may have at once.
    pub auth_failure_burst: f64,
    /// A header whose last address is the client's, as the load balancer in
    /// front appends it (e.g. `x-forwarded-for`); unset: the peer's address.
    /// Set it only behind a proxy that always sets it.
    pub client_ip_header: Option<String>,
    /// Seconds between sweeps for future-dated hires and terminations that
    /// fell due, and for stalled uploads.
    pub schedule_interval_secs: u64,
    /// Seconds without progress after which a `receiving` upload is failed.
    pub upload_stall_secs: u64,
    /// Seconds between alarm evaluations (on nodes with workers).
    pub alarm_interval_secs: u64,
    /// How the engine's metrics leave the process: `prometheus` (scraped
    /// from `/metrics`) or `emf` (CloudWatch Embedded Metric Format lines on
    /// stdout, for ECS and Lambda, where CloudWatch Logs picks them up).
    pub metrics_format: MetricsFormat,
    /// `emf`: seconds between the lines' flushes (CloudWatch's resolution
    /// is a minute unless high-resolution is asked for).
    pub emf_interval_secs: u64,
    /// Notify `OK ↔ INSUFFICIENT_DATA` transitions too (off: only moves into
    /// or out of `ALARM` are notified; all are shown by `/v1/alarms`).
    pub alarm_notify_insufficient_data: bool,
    /// Alarm rules (`[[alarms]]`); when given they replace the defaults.
    pub alarms: Option<Vec<AlarmRule>>,
    /// Where alarm transitions go besides the log (`[notifiers]`).
    pub notifiers: NotifiersConfig,
    /// Issuers of OAuth2 client-credentials JWTs accepted beside API keys
    /// (`[[jwt_issuers]]`); none by default.
    pub jwt_issuers: Vec<JwtIssuerConfig>,
    /// How lifecycle events are pushed to the tenants' webhook endpoints (`[outbox]`).
    pub outbox: OutboxSettings,
    /// The admin console (`[console]`), served by `roster serve` under
    /// `/console/`; off unless configured.
    pub console: Option<roster_console::ConsoleSettings>,
}

/// `[outbox]`: the dispatcher that pushes lifecycle events to webhook
/// endpoints (on nodes with workers).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Accept plain `http://` endpoint URLs (tests, a private network);
    /// otherwise `https` only, since events carry personal data.
    pub allow_insecure_endpoints: bool,
    /// Accept endpoint URLs that name internal addresses (loopback, private,
    /// link-local such as the cloud metadata service, unique-local IPv6, ...)
    /// or `localhost`, and deliver to names that resolve to them (tests,
    /// receivers on the operator's own network); otherwise refused, so a
    /// tenant cannot make Roster reach into its network.
    pub allow_private_endpoints: bool,
    /// Milliseconds between looks at the outbox for new events and due retries.
    pub poll_interval_ms: u64,
    /// Attempts per event and endpoint, the first included; then the event
    /// becomes one of the endpoint's dead letters.
    pub max_attempts: u32,
    /// First retry delay, in milliseconds (doubles per attempt, with jitter).
    pub retry_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub retry_cap_ms: u64,
    /// Seconds one delivery attempt may take.
    pub timeout_secs: u64,
    /// An egress proxy every delivery goes through (`http://host:port`);
    /// none by default, and the environment's `HTTP(S)_PROXY` is never
    /// used. Roster checks the target's addresses before handing it over;
    /// the proxy must refuse internal addresses too (it resolves again).
    /// A secret: its URL may carry the proxy's credentials.
    pub proxy: Option<roster_core::secret::Secret>,
}

impl Default for OutboxSettings {
    /// Twelve attempts over about three and a half hours.
    fn default() -> Self {
        Self {
            allow_insecure_endpoints: false,
            allow_private_endpoints: false,
            poll_interval_ms: 1_000,
            max_attempts: 12,
            retry_base_ms: 10_000,
            retry_cap_ms: 3_600_000,
            timeout_secs: 15,
            proxy: None,
        }
    }
}

/// `[notifiers]`: lists of webhooks, SNS topics and SMTP servers. The log
/// notifier is always on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifiersConfig {
    pub webhook: Vec<WebhookConfig>,
    pub sns: Vec<SnsConfig>,
    pub smtp: Vec<SmtpConfig>,
}

/// A webhook (Slack incoming webhooks included). The URL is a credential
/// (Slack's carry a token), so it is a [`Secret`] and `Debug` names its host.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: Secret,
    /// Signs each request (`X-Roster-Signature`, HMAC-SHA256).
    #[serde(default)]
    pub secret: Option<Secret>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = reqwest::Url::parse(self.url.expose()).ok().and_then(|u| u.host_str().map(str::to_owned));
        f.debug_struct("WebhookConfig")
            .field("host", &host.unwrap_or_default())
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

/// An Amazon SNS topic; credentials come from the AWS configuration chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    pub topic_arn: String,
    /// A VPC endpoint or an emulator.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum MetricsFormat {
    #[default]
    Prometheus,
    Emf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    #[default]
    Sqlite,
    Sqs,
}

macro_rules! from_str {
    ($ty:ident { $($text:literal => $variant:ident),* }) => {
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(format!("expected one of {}", [$($text),*].join(", "))),
                }
            }
        }
    };
}
from_str!(StoreBackend { "sqlite" => Sqlite, "postgres" => Postgres });
from_str!(QueueBackend { "sqlite" => Sqlite, "sqs" => Sqs });
from_str!(MetricsFormat { "prometheus" => Prometheus, "emf" => Emf });

impl Default for Settings {
    fn default() -> Self {
        // The consumer's defaults are the engine's, stated once.
        let consumer = roster_engine::ConsumerConfig::default();
        let ingest = roster_engine::IngestConfig::default();
        let server = roster_server::ServerConfig::default();
        Self {
            data_dir: PathBuf::from("roster-data"),
            store: StoreBackend::Sqlite,
            database_url: None,
            database_pool_size: 10,
            database_password_file: None,
            database_password: None,
            database_password_secret_arn: None,
            secrets_endpoint_url: None,
            database_statement_timeout_secs: 30,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 32 * 1024 * 1024,
            upload_limit: 4 * 1024 * 1024 * 1024,
            workers: consumer.workers,
            jobs: None,
            lease_ttl_secs: 30,
            worker_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            batch_size: consumer.batch_size,
            visibility_timeout_secs: consumer.visibility_timeout.as_secs(),
            max_receive_count: consumer.max_receive_count,
            retry_base_ms: 1_000,
            retry_cap_ms: 300_000,
            max_queue_depth: 1_000_000,
            queue: QueueBackend::Sqlite,
            sqs_queue_url: None,
            sqs_dlq_url: None,
            sqs_endpoint_url: None,
            aws_region: None,
            schedule_interval_secs: 60,
            upload_stall_secs: 3600,
            tls_cert: None,
            tls_key: None,
            allow_insecure_http: false,
            max_records_per_request: 100_000,
            max_clock_skew_secs: 86_400,
            max_streamed_records: ingest.max_streamed_records,
            max_streaming_uploads: server.max_streaming_uploads,
            max_streaming_uploads_per_tenant: server.max_streaming_uploads_per_tenant,
            upload_idle_secs: server.upload_idle_timeout.as_secs(),
            max_body_bytes_in_flight: server.max_body_bytes_in_flight,
            max_body_bytes_in_flight_per_tenant: server.max_body_bytes_in_flight_per_tenant,
            request_timeout_secs: 60,
            upload_timeout_secs: 4 * 3600,
            header_read_timeout_secs: 30,
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            max_http2_streams: 100,
            tenant_deletion_grace_days: 7,
            metrics_token: None,
            rate_limit_per_sec: 50.0,
            rate_limit_burst: 100.0,
            auth_failure_limit_per_sec: 1.0,
            auth_failure_burst: 20.0,
            client_ip_header: None,
            alarm_interval_secs: 15,
            metrics_format: MetricsFormat::Prometheus,
            emf_interval_secs: 60,
            alarm_notify_insufficient_data: false,
            alarms: None,
            notifiers: NotifiersConfig::default(),
            jwt_issuers: Vec::new(),
            outbox: OutboxSettings::default(),
            console: None,
        }
    }
}

impl Settings {
    /// The PostgreSQL URL to connect with: `database_url`, with the
    /// password from `ROSTER_DATABASE_PASSWORD` or `database_password_file`
    /// put in when one is given (percent-encoded). A secret, like the URL.
    pub fn postgres_url(&self) -> anyhow::Result<Secret> {
        let url = self
            .database_url
            .as_ref()
            .context("store = \"postgres\" needs database_url (--database-url or ROSTER_DATABASE_URL)")?;
        let password = match (&self.database_password, &self.database_password_file) {
            (Some(pw), _) => Some(pw.clone()),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading database_password_file {}", file.display()))?;
                Some(Secret::new(text.lines().next().unwrap_or_default().to_owned()))
            }
            (None, None) => None,
        };
        let Some(password) = password else { return Ok(url.clone()) };
        anyhow::ensure!(!password.expose().is_empty(), "the database password is empty");
        // Neither error quotes the URL: it may hold a password.
        let mut parsed = url::Url::parse(url.expose()).map_err(|e| anyhow::anyhow!("database_url: {e}"))?;
        anyhow::ensure!(
            parsed.password().is_none(),
            "database_url has a password already and one is given beside it: keep one"
        );
        parsed
            .set_password(Some(password.expose()))
            .map_err(|()| anyhow::anyhow!("database_url names no host to give the password to"))?;
        Ok(Secret::new(parsed.to_string()))
    }

    pub fn visibility_timeout(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout_secs)
    }

    /// The configured alarm rules, or the defaults.
    pub fn alarm_rules(&self) -> Vec<AlarmRule> {
        self.alarms.clone().unwrap_or_else(default_rules)
    }

    /// The file (if any) with the environment laid over it: how a process
    /// without flags (a Lambda function) is configured, and the layer the
    /// CLI lays its flags over. `ROSTER_CONFIG` names the file when
    /// `config` does not.
    pub fn load(config: Option<&Path>, get: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let from_env = get("ROSTER_CONFIG").filter(|p| !p.is_empty()).map(PathBuf::from);
        let mut s = match config.map(Path::to_owned).or(from_env) {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        env::overlay(&mut s, get)?;
        Ok(s)
    }

    /// [`Settings::load`] from this process's environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::load(None, &|name| std::env::var(name).ok())
    }

    /// [`Settings::validate_for`] a long-running node.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_for(Role::Serve)
    }

    /// What serde cannot check, for the process `role` is: a bad alarm rule
    /// is refused here, at start, naming the rule and the field; a function
    /// refuses the embedded adapters, whose files would live on its
    /// throwaway `/tmp`.
    pub fn validate_for(&self, role: Role) -> anyhow::Result<()> {
        if role.is_function() {
            anyhow::ensure!(
                self.store == StoreBackend::Postgres,
                "a Lambda function needs store = \"postgres\" (ROSTER_STORE): a SQLite directory on the function's /tmp would be lost"
            );
            anyhow::ensure!(
                self.queue == QueueBackend::Sqs,
                "a Lambda function needs queue = \"sqs\" (ROSTER_QUEUE): a SQLite queue on the function's /tmp would lose accepted records"
            );
        }
        if self.database_password_secret_arn.is_some()
            && (self.database_password.is_some() || self.database_password_file.is_some())
        {
            anyhow::bail!(
                "the database password is given twice (a Secrets Manager ARN and ROSTER_DATABASE_PASSWORD or database_password_file): keep one"
            );
        }
        if self.batch_size == 0 {
            anyhow::bail!("batch_size must be at least 1");
        }
        if self.store == StoreBackend::Postgres && self.database_url.is_none() {
            anyhow::bail!("store = \"postgres\" needs database_url (--database-url or ROSTER_DATABASE_URL)");
        }
        if self.database_pool_size == 0 {
            anyhow::bail!("database_pool_size must be at least 1");
        }
        if self.lease_ttl_secs < 3 {
            anyhow::bail!("lease_ttl_secs must be at least 3 (a lease is renewed at a third of it)");
        }
        if self.database_statement_timeout_secs == 0 {
            anyhow::bail!(
                "database_statement_timeout_secs must be at least 1 (0 would let a stuck query run for ever)"
            );
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => anyhow::bail!("tls_cert and tls_key go together"),
            // A function listens on nothing: API Gateway terminates TLS.
            (None, None)
                if !role.is_function() && !self.listen.ip().is_loopback() && !self.allow_insecure_http =>
            {
                anyhow::bail!(
                    "refusing plain HTTP on {}: personal data would cross the network in clear. Give --tls-cert and --tls-key, or --allow-insecure-http behind a TLS-terminating proxy",
                    self.listen
                )
            }
            _ => {}
        }
        if !(self.rate_limit_per_sec >= 0.0 && self.rate_limit_burst >= 0.0) {
            anyhow::bail!("rate_limit_per_sec and rate_limit_burst must be 0 or more");
        }
        if !(self.auth_failure_limit_per_sec >= 0.0 && self.auth_failure_burst >= 0.0) {
            anyhow::bail!("auth_failure_limit_per_sec and auth_failure_burst must be 0 or more");
        }
        if let Some(name) = &self.client_ip_header {
            reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|_| anyhow::anyhow!("client_ip_header `{name}` is not a header name"))?;
        }
        if self.request_timeout_secs == 0
            || self.upload_timeout_secs == 0
            || self.header_read_timeout_secs == 0
        {
            anyhow::bail!(
                "request_timeout_secs, upload_timeout_secs and header_read_timeout_secs must be at least 1"
            );
        }
        if self.max_streaming_uploads == 0
            || self.max_streaming_uploads_per_tenant == 0
            || self.upload_idle_secs == 0
            || self.max_streamed_records == 0
        {
            anyhow::bail!(
                "max_streaming_uploads, max_streaming_uploads_per_tenant, upload_idle_secs and max_streamed_records must be at least 1"
            );
        }
        if self.max_body_bytes_in_flight_per_tenant < self.body_limit as u64
            || self.max_body_bytes_in_flight < self.max_body_bytes_in_flight_per_tenant
        {
            anyhow::bail!(
                "max_body_bytes_in_flight_per_tenant ({}) must be at least body_limit ({}), and max_body_bytes_in_flight ({}) at least max_body_bytes_in_flight_per_tenant",
                self.max_body_bytes_in_flight_per_tenant,
                self.body_limit,
                self.max_body_bytes_in_flight
            );
        }
        if self.max_header_bytes < 8192 {
            anyhow::bail!("max_header_bytes must be at least 8192");
        }
        if self.tenant_deletion_grace_days == 0 {
            anyhow::bail!("tenant_deletion_grace_days must be at least 1: a deletion must be cancellable");
        }
        if self.max_connections == 0 || self.max_http2_streams == 0 {
            anyhow::bail!("max_connections and max_http2_streams must be at least 1");
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.expose().trim().len() < 16) {
            anyhow::bail!("metrics_token must be at least 16 characters");
        }
        let o = &self.outbox;
        if o.poll_interval_ms == 0 || o.max_attempts == 0 || o.timeout_secs == 0 || o.retry_base_ms == 0 {
            anyhow::bail!(
                "[outbox] poll_interval_ms, max_attempts, retry_base_ms and timeout_secs must be at least 1"
            );
        }
        if o.retry_cap_ms < o.retry_base_ms {
            anyhow::bail!("[outbox] retry_cap_ms must be at least retry_base_ms");
        }
        if self.emf_interval_secs == 0 {
            anyhow::bail!("emf_interval_secs must be at least 1");
        }
        if self.alarm_interval_secs == 0 {
            anyhow::bail!("alarm_interval_secs must be at least 1");
        }
        validate_rules(&self.alarm_rules(), roster_engine::alarms::METRICS)
            .context("invalid [[alarms]] in the configuration")?;
        roster_server::auth::jwt::validate_issuers(&self.jwt_issuers)
            .context("invalid [[jwt_issuers]] in the configuration")?;
        if let Some(console) = &self.console {
            console.validate()?;
        }
        Ok(())
    }

    /// Reads a TOML file of settings (absent keys keep their defaults).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Whether this node runs the once-per-cluster jobs.
    pub fn runs_jobs(&self) -> bool {
        self.jobs.unwrap_or(self.workers > 0)
    }

    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_password_comes_beside_the_url_and_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cr#t/pw@1\n").unwrap();
        let mut s = Settings {
            store: StoreBackend::Postgres,
            database_url: Some(Secret::new("postgres://roster@db.internal:5432/roster?sslmode=require")),
            database_password_file: Some(file),
            ..Settings::default()
        };
        let url = s.postgres_url().unwrap();
        assert_eq!(
            url.expose(),
            "postgres://roster:s3cr%23t%2Fpw%401@db.internal:5432/roster?sslmode=require"
        );
        assert!(!format!("{s:?}").contains("s3cr"));

        s.database_password = Some(Secret::new("from-env"));
        assert!(
            s.postgres_url().unwrap().expose().contains(":from-env@"),
            "the environment wins over the file"
        );
        s.database_url = Some(Secret::new("postgres://roster:inline@db/roster"));
        let e = s.postgres_url().unwrap_err().to_string();
        assert!(e.contains("password already") && !e.contains("inline"), "{e}");
        s.database_password = None;
        s.database_password_file = None;
        assert_eq!(s.postgres_url().unwrap().expose(), "postgres://roster:inline@db/roster");
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:1\"\n").unwrap();
        let err = Settings::from_file(&file).unwrap_err();
        assert!(format!("{err:#}").contains("listne"), "{err:#}");
    }

    #[test]
    fn alarms_and_notifiers_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            r#"
alarm_interval_secs = 5
alarm_notify_insufficient_data = true

[[alarms]]
name = "dlq"
metric = "dlq_depth"
comparison = ">"
threshold = 10

[notifiers]
webhook = [{ url = "https://hooks.slack.com/services/T0/B0/TOKEN", secret = "whsec" }]
sns = [{ topic_arn = "arn:aws:sns:eu-west-1:123456789012:roster-alarms", region = "eu-west-1" }]

[[notifiers.smtp]]
host = "smtp.example.com"
from = "roster@example.com"
to = ["ops@example.com"]
password = "hunter2"
"#,
        )
        .unwrap();
        let s = Settings::from_file(&file).unwrap();
        s.validate().unwrap();
        assert_eq!(s.alarm_interval_secs, 5);
        assert!(s.alarm_notify_insufficient_data);
        assert!(!Settings::default().alarm_notify_insufficient_data);
        let rules = s.alarm_rules();
        assert_eq!((rules.len(), rules[0].name.as_str(), rules[0].threshold), (1, "dlq", 10.0));
        assert_eq!(s.notifiers.webhook.len(), 1);
        assert_eq!(s.notifiers.sns[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.notifiers.smtp[0].to.len(), 1);
        let s = Settings { metrics_token: Some(Secret::new("prom-scrape-token-0123")), ..s };
        let debug = format!("{s:?}");
        for secret in ["TOKEN", "whsec", "hunter2", "ops@example.com", "prom-scrape-token"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("hooks.slack.com"), "the host names the webhook");

        assert_eq!(Settings::default().alarm_rules().len(), 5, "the defaults without [[alarms]]");
    }

    #[test]
    fn a_function_refuses_the_embedded_adapters_and_needs_no_tls() {
        let embedded = Settings { listen: "0.0.0.0:8080".parse().unwrap(), ..Settings::default() };
        for role in [Role::LambdaIngest, Role::LambdaConsumer, Role::LambdaScheduler] {
            let e = embedded.validate_for(role).unwrap_err().to_string();
            assert!(e.contains("store = \"postgres\"") && e.contains("/tmp"), "{e}");
            let sqlite_queue = Settings {
                store: StoreBackend::Postgres,
                database_url: Some(Secret::new("postgres://roster@db/roster")),
                ..embedded.clone()
            };
            let e = sqlite_queue.validate_for(role).unwrap_err().to_string();
            assert!(e.contains("queue = \"sqs\""), "{e}");
            let cloud = Settings { queue: QueueBackend::Sqs, ..sqlite_queue };
            cloud.validate_for(role).expect("plain HTTP is no concern of a function");
            assert!(cloud.validate_for(Role::Serve).is_err(), "but a node on 0.0.0.0 still needs TLS");
        }
        let twice = Settings {
            database_password_secret_arn: Some("arn:aws:secretsmanager:eu-west-1:1:secret:db".into()),
            database_password: Some(Secret::new("pw")),
            ..Settings::default()
        };
        assert!(twice.validate().unwrap_err().to_string().contains("given twice"));
    }
}
