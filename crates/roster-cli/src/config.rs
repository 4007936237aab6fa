//! Configuration, layered: command-line flags > environment variables >
//! TOML file (`--config`) > defaults. Flags and their environment variables
//! are merged by clap; this module lays them over the file and the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use roster_core::alarm::{AlarmRule, default_rules, validate_rules};
use roster_core::secret::Secret;
use roster_notify::SmtpConfig;
use roster_server::auth::jwt::JwtIssuerConfig;
use serde::Deserialize;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MetricsFormat {
    #[default]
    Prometheus,
    Emf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    #[default]
    Sqlite,
    Sqs,
}

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

    /// What serde cannot check: a bad alarm rule is refused here, at start,
    /// naming the rule and the field.
    pub fn validate(&self) -> anyhow::Result<()> {
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
            (None, None) if !self.listen.ip().is_loopback() && !self.allow_insecure_http => anyhow::bail!(
                "refusing plain HTTP on {}: personal data would cross the network in clear. Give                  --tls-cert and --tls-key, or --allow-insecure-http behind a TLS-terminating proxy",
                self.listen
            ),
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

    /// The settings of `roster worker`: as `serve`'s, but its `--listen`
    /// (or the file's `worker_listen`) is the address of its health and
    /// metrics routes, and it runs the jobs unless `jobs = false`.
    pub fn resolve_worker(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Self> {
        let mut s = Self::layered(global, args)?;
        s.worker_listen = args.listen.unwrap_or(s.worker_listen);
        s.listen = s.worker_listen;
        s.jobs = Some(s.jobs.unwrap_or(true));
        s.validate()?;
        Ok(s)
    }

    /// Lays flags and environment over the file (if any) over the defaults.
    pub fn resolve(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Self> {
        let s = Self::layered(global, serve)?;
        s.validate()?;
        Ok(s)
    }

    fn layered(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut s = match &global.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        if let Some(v) = &global.data_dir {
            s.data_dir = v.clone();
        }
        if let Some(v) = global.store {
            s.store = v;
        }
        if global.database_url.is_some() {
            s.database_url = global.database_url.clone();
        }
        if let Some(v) = global.database_pool_size {
            s.database_pool_size = v;
        }
        if let Some(v) = global.database_statement_timeout_secs {
            s.database_statement_timeout_secs = v;
        }
        if let Ok(pw) = std::env::var("ROSTER_DATABASE_PASSWORD") {
            s.database_password = Some(Secret::new(pw));
        }
        if let Some(f) = std::env::var_os("ROSTER_DATABASE_PASSWORD_FILE") {
            s.database_password_file = Some(PathBuf::from(f));
        }
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = serve.$field { s.$field = v; } )* };
        }
        overlay!(
            listen,
            lease_ttl_secs,
            body_limit,
            upload_limit,
            workers,
            batch_size,
            visibility_timeout_secs,
            max_receive_count,
            max_queue_depth,
            queue,
            metrics_format,
            rate_limit_per_sec,
            request_timeout_secs,
            upload_timeout_secs,
            max_streaming_uploads,
            max_streaming_uploads_per_tenant,
            upload_idle_secs,
            max_body_bytes_in_flight
        );
        macro_rules! overlay_option {
            ($($field:ident),*) => { $( if serve.$field.is_some() { s.$field = serve.$field.clone(); } )* };
        }
        overlay_option!(
            sqs_queue_url,
            sqs_dlq_url,
            sqs_endpoint_url,
            aws_region,
            tls_cert,
            tls_key,
            metrics_token,
            client_ip_header
        );
        s.allow_insecure_http |= serve.allow_insecure_http;
        if serve.jobs.is_some() {
            s.jobs = serve.jobs;
        }
        Ok(s)
    }
}

/// Where the directory is: the flags of the commands that open it (`serve`,
/// `tenants create`, `operators`, `migrate`); client commands take a
/// server URL instead and do not list these.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Data directory (SQLite queue and directory) [default: ./roster-data].
    #[arg(long, global = true, env = "ROSTER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Which directory: `sqlite` (the data directory's file) or `postgres`
    /// (a database many nodes share) [default: sqlite].
    #[arg(long, global = true, env = "ROSTER_STORE", value_enum)]
    pub store: Option<StoreBackend>,
    /// PostgreSQL URL (libpq's form: `sslmode`, `sslrootcert`, a unix-socket
    /// `host`); prefer the environment or the file to the command line for
    /// one with a password.
    #[arg(long, global = true, env = "ROSTER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// PostgreSQL: most connections this process holds [default: 10; a
    /// Lambda consumer wants 1–2].
    #[arg(long, global = true, env = "ROSTER_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<u32>,
    /// PostgreSQL: seconds a statement may run before the server cancels it
    /// [default: 30].
    #[arg(long, global = true, env = "ROSTER_DATABASE_STATEMENT_TIMEOUT_SECS")]
    pub database_statement_timeout_secs: Option<u64>,
}

impl GlobalArgs {
    /// The data directory the settings name (for commands that open it
    /// directly).
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(Settings::resolve(self, &ServeArgs::default())?.data_dir)
    }
}

/// Flags of `roster serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "ROSTER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Largest request body in bytes [default: 33554432 (32 MiB)].
    #[arg(long, env = "ROSTER_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Largest streamed CSV upload in bytes [default: 4294967296 (4 GiB)].
    #[arg(long, env = "ROSTER_UPLOAD_LIMIT")]
    pub upload_limit: Option<u64>,
    /// Consumer workers [default: 2].
    #[arg(long, env = "ROSTER_WORKERS")]
    pub workers: Option<usize>,
    /// Run the once-per-cluster jobs (scheduler, alarms, outbox dispatcher)
    /// under their leases: `true` or `false` [default: when --workers > 0;
    /// always on `roster worker`].
    #[arg(long, env = "ROSTER_JOBS")]
    pub jobs: Option<bool>,
    /// Seconds a node's lease on such a job lasts unrenewed [default: 30].
    #[arg(long, env = "ROSTER_LEASE_TTL_SECS")]
    pub lease_ttl_secs: Option<u64>,
    /// Messages per consumer batch [default: 1000].
    #[arg(long, env = "ROSTER_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// Visibility timeout of received messages, seconds [default: 30].
    #[arg(long, env = "ROSTER_VISIBILITY_TIMEOUT_SECS")]
    pub visibility_timeout_secs: Option<u64>,
    /// Receives before a failing message is dead-lettered [default: 5].
    #[arg(long, env = "ROSTER_MAX_RECEIVE_COUNT")]
    pub max_receive_count: Option<u32>,
    /// Ingest answers 429 while the queue holds more than this [default: 1000000].
    #[arg(long, env = "ROSTER_MAX_QUEUE_DEPTH")]
    pub max_queue_depth: Option<u64>,
    /// Queue backend [default: sqlite].
    #[arg(long, env = "ROSTER_QUEUE", value_enum)]
    pub queue: Option<QueueBackend>,
    /// URL of the SQS FIFO queue (with --queue sqs).
    #[arg(long, env = "ROSTER_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// URL of the SQS FIFO dead-letter queue (with --queue sqs).
    #[arg(long, env = "ROSTER_SQS_DLQ_URL")]
    pub sqs_dlq_url: Option<String>,
    /// SQS endpoint override, e.g. a VPC endpoint or a local emulator.
    #[arg(long, env = "ROSTER_SQS_ENDPOINT_URL")]
    pub sqs_endpoint_url: Option<String>,
    /// AWS region [default: from the AWS configuration chain].
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// PEM certificate chain; with --tls-key the server speaks HTTPS only.
    #[arg(long, env = "ROSTER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ROSTER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Requests per second per credential; 0: no limit [default: 50].
    #[arg(long, env = "ROSTER_RATE_LIMIT_PER_SEC")]
    pub rate_limit_per_sec: Option<f64>,
    /// Seconds an ordinary request may take [default: 60].
    #[arg(long, env = "ROSTER_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Seconds an upload to /integrations/hr-feed may take [default: 14400].
    #[arg(long, env = "ROSTER_UPLOAD_TIMEOUT_SECS")]
    pub upload_timeout_secs: Option<u64>,
    /// CSV uploads streaming at once on this node; more is 503 [default: 16].
    #[arg(long, env = "ROSTER_MAX_STREAMING_UPLOADS")]
    pub max_streaming_uploads: Option<usize>,
    /// CSV uploads one tenant may stream at once; more is 429 [default: 4].
    #[arg(long, env = "ROSTER_MAX_STREAMING_UPLOADS_PER_TENANT")]
    pub max_streaming_uploads_per_tenant: Option<usize>,
    /// Seconds a streamed upload may send nothing before it fails [default: 60].
    #[arg(long, env = "ROSTER_UPLOAD_IDLE_SECS")]
    pub upload_idle_secs: Option<u64>,
    /// Bytes of request bodies read whole held at once; more is 503
    /// [default: 268435456 (256 MiB)].
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES_IN_FLIGHT")]
    pub max_body_bytes_in_flight: Option<u64>,
    /// A header whose last address is the client's, as the load balancer in
    /// front appends it (e.g. x-forwarded-for behind an ALB); only behind a
    /// proxy that always sets it [default: the peer's address].
    #[arg(long, env = "ROSTER_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// How metrics leave the process: prometheus (/metrics) or emf
    /// (CloudWatch Embedded Metric Format on stdout) [default: prometheus].
    #[arg(long, env = "ROSTER_METRICS_FORMAT", value_enum)]
    pub metrics_format: Option<MetricsFormat>,
    /// Bearer token Prometheus sends to /metrics (better in the environment
    /// or the config file than on a command line).
    #[arg(long, env = "ROSTER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Allow plain HTTP on a non-loopback address (e.g. behind a TLS-terminating
    /// load balancer).
    #[arg(long, env = "ROSTER_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
    /// Log level or filter, e.g. `debug` or `info,roster_engine=debug`
    /// [default: info]; `RUST_LOG`, when set, wins.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_store_comes_from_the_file_or_the_flags_and_its_url_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "store = \"postgres\"\ndatabase_url = \"postgres://roster:file-pw-123@db/roster\"\ndatabase_pool_size = 3\ndatabase_statement_timeout_secs = 5\n",
        )
        .unwrap();
        let global = GlobalArgs { config: Some(file), ..GlobalArgs::default() };
        let s = Settings::resolve(&global, &ServeArgs::default()).unwrap();
        assert_eq!(s.store, StoreBackend::Postgres);
        assert_eq!(s.database_pool_size, 3);
        assert_eq!(s.database_statement_timeout_secs, 5);
        assert_eq!(s.database_url.as_ref().unwrap().expose(), "postgres://roster:file-pw-123@db/roster");
        assert!(!format!("{s:?}").contains("file-pw-123"), "the password is in Debug");

        let flag = GlobalArgs {
            store: Some(StoreBackend::Postgres),
            database_url: Some(Secret::new("postgres://roster:flag-pw-456@db/roster")),
            ..GlobalArgs::default()
        };
        assert!(!format!("{flag:?}").contains("flag-pw-456"));
        let s = Settings::resolve(&flag, &ServeArgs::default()).unwrap();
        assert_eq!(s.database_url.unwrap().expose(), "postgres://roster:flag-pw-456@db/roster");

        let sized =
            GlobalArgs { database_pool_size: Some(2), database_statement_timeout_secs: Some(5), ..flag };
        let s = Settings::resolve(&sized, &ServeArgs::default()).unwrap();
        assert_eq!(
            (s.database_pool_size, s.database_statement_timeout_secs),
            (2, 5),
            "ROSTER_DATABASE_POOL_SIZE"
        );

        let no_url = GlobalArgs { store: Some(StoreBackend::Postgres), ..GlobalArgs::default() };
        let e = Settings::resolve(&no_url, &ServeArgs::default()).unwrap_err();
        assert!(e.to_string().contains("needs database_url"), "{e}");
        assert_eq!(Settings::default().store, StoreBackend::Sqlite, "SQLite stays the default");
    }

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
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nworkers = 4\ndata_dir = \"/from/file\"\n")
            .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file.clone()), ..GlobalArgs::default() };
        let serve = ServeArgs {
            workers: Some(8),
            client_ip_header: Some("x-forwarded-for".into()),
            metrics_format: Some(MetricsFormat::Emf),
            ..Default::default()
        };
        let s = Settings::resolve(&global, &serve).unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.workers, 8);
        assert_eq!(s.client_ip_header.as_deref(), Some("x-forwarded-for"), "ROSTER_CLIENT_IP_HEADER on ECS");
        assert_eq!(s.metrics_format, MetricsFormat::Emf);
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.body_limit, Settings::default().body_limit);

        let global =
            GlobalArgs { data_dir: Some("/from/flag".into()), config: Some(file), ..GlobalArgs::default() };
        assert_eq!(Settings::resolve(&global, &serve).unwrap().data_dir, PathBuf::from("/from/flag"));
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
    fn jwt_issuers_come_from_the_file_with_documented_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            r#"
[[jwt_issuers]]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
audiences = ["3n4b5urk1ft4fl3mg5e62d9ado"]
required_token_use = "access"
clients = { "3n4b5urk1ft4fl3mg5e62d9ado" = "acme" }
"#,
        )
        .unwrap();
        let s = Settings::from_file(&file).unwrap();
        s.validate().unwrap();
        let issuer = &s.jwt_issuers[0];
        assert_eq!(issuer.clients["3n4b5urk1ft4fl3mg5e62d9ado"], "acme");
        assert_eq!(issuer.required_token_use.as_deref(), Some("access"));
        assert_eq!(
            (issuer.jwks_url.as_deref(), issuer.leeway_secs, issuer.jwks_refetch_secs),
            (None, 60, 60)
        );
        assert_eq!(issuer.scope_map["roster/ingest"], "ingest");

        std::fs::write(
            &file,
            "[[jwt_issuers]]\nissuer = \"https://id.example.com\"\naudiences = [\"roster\"]\n\
             clients = { c1 = \"acme\" }\nscope_map = { \"roster.write\" = \"write\" }\n",
        )
        .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let err = format!("{:#}", Settings::resolve(&global, &ServeArgs::default()).unwrap_err());
        assert!(
            err.contains("jwt_issuers[0] (https://id.example.com): scope_map: `write` is not a scope"),
            "{err}"
        );
    }

    #[test]
    fn resource_bounds_have_documented_defaults_and_are_checked_at_start() {
        let d = Settings::default();
        assert_eq!((d.max_streaming_uploads, d.max_streaming_uploads_per_tenant), (16, 4));
        assert_eq!((d.upload_idle_secs, d.max_streamed_records), (60, 3_000_000));
        assert_eq!(
            (d.max_body_bytes_in_flight, d.max_body_bytes_in_flight_per_tenant),
            (256 << 20, 64 << 20)
        );
        d.validate().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "max_streaming_uploads = 2\nupload_idle_secs = 5\nmax_streamed_records = 10\n")
            .unwrap();
        let s = Settings::from_file(&file).unwrap();
        assert_eq!((s.max_streaming_uploads, s.upload_idle_secs, s.max_streamed_records), (2, 5, 10));
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let serve = ServeArgs { max_streaming_uploads: Some(8), ..Default::default() };
        let s = Settings::resolve(&global, &serve).unwrap();
        assert_eq!((s.max_streaming_uploads, s.upload_idle_secs), (8, 5), "the flag wins over the file");

        let share_below_a_body =
            Settings { max_body_bytes_in_flight_per_tenant: 1024, ..Settings::default() };
        let err = format!("{:#}", share_below_a_body.validate().unwrap_err());
        assert!(err.contains("must be at least body_limit"), "{err}");
        let no_uploads = Settings { max_streaming_uploads: 0, ..Settings::default() };
        assert!(no_uploads.validate().is_err());
    }

    #[test]
    fn a_bad_alarm_rule_is_a_start_up_error_naming_rule_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "[[alarms]]\nname = \"slow\"\nmetric = \"oldest_message_age\"\ncomparison = \">\"\nthreshold = 60\n",
        )
        .unwrap();
        let global = GlobalArgs { data_dir: None, config: Some(file), ..GlobalArgs::default() };
        let err = Settings::resolve(&global, &ServeArgs::default()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("alarm rule `slow`: metric: unknown metric `oldest_message_age`"), "{text}");
    }
}
