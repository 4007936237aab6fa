//! The composition root: the one place that chooses adapters (the embedded
//! SQLite queue or Amazon SQS; the SQLite or PostgreSQL directory; the notifiers) and wires
//! them to the engine and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roster_core::{Clock, SystemClock};
use roster_engine::backoff::Backoff;
use roster_engine::dispatch::{DispatchConfig, Dispatcher};
use roster_engine::{
    AlarmConfig, AlarmEvaluator, Consumer, ConsumerConfig, Ingest, IngestConfig, LeaseConfig, OutboxConfig,
    OutboxDispatcher, Scheduler, SchedulerConfig, Singleton,
};
use roster_notify::{
    HttpEventSink, LogNotifier, Notifier, PrivateTargets, SmtpNotifier, SnsNotifier, WebhookNotifier,
};
use roster_queue::{Queue, SqliteQueue, SqliteQueueConfig, SqsConfig, SqsQueue};
use roster_server::auth::jwt::JwtAuthenticator;
use roster_server::ratelimit::{RateLimit, RateLimiter};
use roster_server::{AppState, Budgets, ServerConfig, Surface, TestEvents};
use roster_store::{Directory, Leases, RateBuckets};
use roster_store_postgres::PgDirectory;
use roster_store_sqlite::SqliteDirectory;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{MetricsFormat, NotifiersConfig, QueueBackend, Settings, StoreBackend};

/// The adapters chosen by the settings: the queue (embedded SQLite or Amazon
/// SQS) and the directory (embedded SQLite or PostgreSQL), with the clock.
pub struct Adapters {
    pub queue: Arc<dyn Queue>,
    pub directory: Arc<dyn Directory>,
    /// The cluster's shared rate buckets: a PostgreSQL directory's.
    pub shared_limits: Option<Arc<dyn RateBuckets>>,
    pub clock: Arc<dyn Clock>,
}

impl Adapters {
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let queue: Arc<dyn Queue> = match settings.queue {
            QueueBackend::Sqlite => {
                create_data_dir(settings)?;
                let mut qc = SqliteQueueConfig::new(settings.data_dir.join("queue.db"));
                qc.max_receive_count = settings.max_receive_count;
                qc.clock = Arc::clone(&clock);
                Arc::new(SqliteQueue::open(qc).context("opening the queue")?)
            }
            QueueBackend::Sqs => {
                let (Some(queue_url), Some(dlq_url)) = (&settings.sqs_queue_url, &settings.sqs_dlq_url)
                else {
                    anyhow::bail!("queue = \"sqs\" needs sqs_queue_url and sqs_dlq_url");
                };
                Arc::new(
                    SqsQueue::connect(SqsConfig {
                        queue_url: queue_url.clone(),
                        dead_letter_queue_url: dlq_url.clone(),
                        endpoint_url: settings.sqs_endpoint_url.clone(),
                        region: settings.aws_region.clone(),
                    })
                    .await,
                )
            }
        };
        let (directory, shared_limits) = open_directory_and_limits(settings).await?;
        Ok(Self { queue, directory, shared_limits, clock })
    }
}

fn create_data_dir(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))
}

/// The directory for an admin command run beside a server: refuses a data
/// directory that does not exist unless `init`, since a mistyped
/// `--data-dir` would otherwise make a new, empty directory whose tenants
/// and keys the running server never sees. (A PostgreSQL directory is named
/// by its URL: nothing is made by mistake.)
pub async fn open_admin_directory(settings: &Settings, init: bool) -> anyhow::Result<Arc<dyn Directory>> {
    let dir = &settings.data_dir;
    if settings.store == StoreBackend::Sqlite && !init && !dir.is_dir() {
        anyhow::bail!(
            "the data directory {} does not exist: name the server's with --data-dir (or ROSTER_DATA_DIR), or pass --init to start a new one",
            dir.display()
        );
    }
    open_directory(settings).await
}

/// The directory the settings name. PostgreSQL's schema is brought to this
/// build's first (under an advisory lock: nodes starting at once apply each
/// migration once); a database newer than this build is refused.
pub async fn open_directory(settings: &Settings) -> anyhow::Result<Arc<dyn Directory>> {
    Ok(open_directory_and_limits(settings).await?.0)
}

/// The directory, and its rate buckets when it is shared by a cluster.
async fn open_directory_and_limits(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn Directory>, Option<Arc<dyn RateBuckets>>)> {
    match settings.store {
        StoreBackend::Sqlite => {
            create_data_dir(settings)?;
            let path = settings.data_dir.join("directory.db");
            Ok((Arc::new(SqliteDirectory::open(&path).context("opening the directory")?), None))
        }
        StoreBackend::Postgres => {
            let url = settings.postgres_url()?;
            let url = url.expose();
            PgDirectory::migrate(url).await.context("migrating the PostgreSQL directory")?;
            let timeout = Duration::from_secs(settings.database_statement_timeout_secs);
            let directory = PgDirectory::connect_with(url, settings.database_pool_size, timeout)
                .await
                .context("connecting to the PostgreSQL directory")?;
            let directory = Arc::new(directory);
            Ok((directory.clone(), Some(directory)))
        }
    }
}

/// `roster migrate`: brings the directory's schema to this build's and
/// says from which version (a deploy step, before the nodes start).
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    match settings.store {
        StoreBackend::Sqlite => {
            // Opening the file migrates it.
            open_directory(settings).await?;
            Ok(format!("the SQLite directory in {} is migrated", settings.data_dir.display()))
        }
        StoreBackend::Postgres => {
            let before = PgDirectory::migrate(settings.postgres_url()?.expose())
                .await
                .context("migrating the PostgreSQL directory")?;
            let now = roster_store_postgres::SCHEMA_VERSION;
            Ok(if before >= now {
                format!("the PostgreSQL directory's schema is at version {before}: nothing to do")
            } else {
                format!("the PostgreSQL directory's schema went from version {before} to {now}")
            })
        }
    }
}

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

/// A running platform: HTTP server and consumer workers.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight requests and batches finish,
    /// then the alarm notifications already queued.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.server.await.context("server task")??;
        for w in self.workers {
            w.await.context("consumer task")?;
        }
        Ok(())
    }

    /// Resolves when the server stops by itself (it should not).
    pub fn is_finished(&self) -> bool {
        self.server.is_finished()
    }
}

/// What a process is: a node with the public HTTP API (`roster serve`;
/// with workers the whole platform) or a worker without it (`roster
/// worker`: consumers and the jobs, with the operations routes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Worker,
}

/// Starts the whole platform in this process (`roster serve`).
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    start_as(settings, Role::Serve).await
}

/// Starts `role` in this process.
pub async fn start_as(settings: &Settings, role: Role) -> anyhow::Result<Running> {
    settings.validate()?;
    let emf = match settings.metrics_format {
        MetricsFormat::Prometheus => {
            roster_server::metrics::install();
            None
        }
        MetricsFormat::Emf => Some(roster_server::metrics::emf::install()),
    };
    let Adapters { queue, directory, shared_limits, clock } = Adapters::open(settings).await?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let consumer = Arc::new(Consumer::new(
        Arc::clone(&queue),
        directory.clone(),
        Arc::clone(&clock),
        ConsumerConfig {
            workers: settings.workers,
            batch_size: settings.batch_size,
            visibility_timeout: settings.visibility_timeout(),
            wait: Duration::from_millis(500),
            backoff: Backoff {
                base: Duration::from_millis(settings.retry_base_ms),
                cap: Duration::from_millis(settings.retry_cap_ms),
            },
            max_receive_count: settings.max_receive_count,
        },
    ));
    let consumer_stats = consumer.stats();
    let mut workers = consumer.spawn(shutdown_rx.clone());
    let mut alarms = None;
    // The webhook sink: the outbox dispatcher's, and the API's test events'.
    let event_sink: Arc<dyn roster_notify::EventSink> = {
        let o = &settings.outbox;
        let private =
            if o.allow_private_endpoints { PrivateTargets::Allowed } else { PrivateTargets::Refused };
        let sink = HttpEventSink::with_proxy(
            Duration::from_secs(o.timeout_secs),
            private,
            o.proxy.as_ref().map(|p| p.expose()),
        )
        .map_err(|e| anyhow::anyhow!("the outbox's HTTP client: {e}"))?;
        Arc::new(sink)
    };
    // The jobs that run once per cluster (due dates, alarms, webhook
    // delivery), each under its lease: on nodes with workers unless told
    // otherwise (`jobs`), so an ingest-only node runs none.
    let jobs = settings.runs_jobs();
    if jobs {
        let leases: Arc<dyn Leases> = directory.clone();
        let lease_config = LeaseConfig { holder: roster_engine::node_holder(), ttl: settings.lease_ttl() };
        let lease = |name: &str| Singleton::new(Arc::clone(&leases), name, lease_config.clone());
        let dispatcher = Dispatcher::spawn(notifiers(&settings.notifiers).await?, DispatchConfig::default());
        let evaluator = AlarmEvaluator::new(
            settings.alarm_rules(),
            Arc::clone(&queue),
            directory.clone(),
            Arc::clone(&clock),
            consumer_stats,
            dispatcher,
            AlarmConfig {
                interval: Duration::from_secs(settings.alarm_interval_secs.max(1)),
                notify_insufficient_data: settings.alarm_notify_insufficient_data,
            },
        )
        .context("invalid [[alarms]] in the configuration")?
        .with_lease(lease("alarms"));
        alarms = Some(evaluator.board());
        workers.push(evaluator.spawn(shutdown_rx.clone()));
        let scheduler = Scheduler::new(
            directory.clone(),
            Arc::clone(&clock),
            SchedulerConfig {
                interval: Duration::from_secs(settings.schedule_interval_secs.max(1)),
                stall_timeout: Duration::from_secs(settings.upload_stall_secs),
                ..SchedulerConfig::default()
            },
        )
        .with_queue(Arc::clone(&queue))
        .with_lease(lease("scheduler"));
        workers.push(Arc::new(scheduler).spawn(shutdown_rx.clone()));
        // Lifecycle events to the tenants' webhook endpoints.
        let o = &settings.outbox;
        let outbox = OutboxDispatcher::new(
            directory.clone(),
            Arc::clone(&event_sink),
            Arc::clone(&clock),
            OutboxConfig {
                poll_interval: Duration::from_millis(o.poll_interval_ms),
                max_attempts: o.max_attempts,
                backoff: Backoff {
                    base: Duration::from_millis(o.retry_base_ms),
                    cap: Duration::from_millis(o.retry_cap_ms),
                },
                attempt_timeout: Duration::from_secs(o.timeout_secs),
                ..OutboxConfig::default()
            },
        )
        .with_lease(lease("outbox"));
        workers.push(Arc::new(outbox).spawn(shutdown_rx.clone()));
    }

    let jwt = if settings.jwt_issuers.is_empty() {
        None
    } else {
        let verifier = JwtAuthenticator::new(&settings.jwt_issuers)
            .context("invalid [[jwt_issuers]] in the configuration")?;
        Some(Arc::new(verifier))
    };
    let config = ServerConfig {
        body_limit: settings.body_limit,
        upload_limit: settings.upload_limit,
        hsts: settings.tls_cert.is_some(),
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        upload_timeout: Duration::from_secs(settings.upload_timeout_secs),
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        max_header_bytes: settings.max_header_bytes,
        metrics_token: settings.metrics_token.clone(),
        allow_insecure_endpoints: settings.outbox.allow_insecure_endpoints,
        allow_private_endpoints: settings.outbox.allow_private_endpoints,
        max_streaming_uploads: settings.max_streaming_uploads,
        max_streaming_uploads_per_tenant: settings.max_streaming_uploads_per_tenant,
        upload_idle_timeout: Duration::from_secs(settings.upload_idle_secs),
        max_body_bytes_in_flight: settings.max_body_bytes_in_flight,
        max_body_bytes_in_flight_per_tenant: settings.max_body_bytes_in_flight_per_tenant,
        max_connections: settings.max_connections,
        max_http2_streams: settings.max_http2_streams,
        tenant_deletion_grace: Duration::from_secs(u64::from(settings.tenant_deletion_grace_days) * 86_400),
        client_ip_header: settings
            .client_ip_header
            .as_deref()
            .map(reqwest::header::HeaderName::try_from)
            .transpose()
            .context("client_ip_header")?,
        surface: match role {
            Role::Serve => Surface::Api,
            Role::Worker => Surface::Ops,
        },
    };
    // The admin console, on API nodes when `[console]` is configured.
    let console = match (&settings.console, role) {
        (Some(c), Role::Serve) => Some((
            "/console",
            roster_console::router(roster_console::ConsoleState::new(
                c.clone(),
                directory.clone(),
                Arc::clone(&queue),
                Arc::clone(&clock),
                alarms.clone(),
            )?),
        )),
        _ => None,
    };
    let state = AppState {
        ingest: Arc::new(Ingest::new(
            directory.clone(),
            Arc::clone(&queue),
            Arc::clone(&clock),
            IngestConfig {
                max_queue_depth: settings.max_queue_depth,
                max_records: settings.max_records_per_request,
                max_clock_skew: Duration::from_secs(settings.max_clock_skew_secs),
                max_streamed_records: settings.max_streamed_records,
                ..IngestConfig::default()
            },
        )),
        directory,
        queue,
        clock,
        budgets: Budgets::new(&config),
        config,
        limiter: Arc::new(RateLimiter::new(RateLimit {
            per_sec: settings.rate_limit_per_sec,
            burst: settings.rate_limit_burst,
        })),
        shared_limits,
        auth_failures: Arc::new(RateLimiter::new(RateLimit {
            per_sec: settings.auth_failure_limit_per_sec,
            burst: settings.auth_failure_burst,
        })),
        readiness: Arc::default(),
        read_audits: Arc::default(),
        test_events: TestEvents {
            sink: event_sink,
            timeout: Duration::from_secs(settings.outbox.timeout_secs),
        },
        alarms,
        jwt,
        extra_routes: console,
    };
    if let Some(emf) = emf {
        let every = Duration::from_secs(settings.emf_interval_secs);
        workers.push(roster_server::metrics::emf::spawn_flusher(
            emf,
            state.clone(),
            every,
            shutdown_rx.clone(),
        ));
    }
    let mut rx = shutdown_rx;
    let stop = async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = roster_server::tls::load(cert, key)
                .await
                .with_context(|| format!("loading the TLS certificate {} and key", cert.display()))?;
            tokio::spawn(roster_server::tls::serve_tls(listener, state, tls, stop))
        }
        _ => tokio::spawn(roster_server::serve(listener, state, stop)),
    };
    match role {
        Role::Serve => tracing::info!(
            %addr, store = ?settings.store, data_dir = %settings.data_dir.display(),
            workers = settings.workers, jobs, "roster is serving"
        ),
        Role::Worker => tracing::info!(
            %addr, store = ?settings.store, workers = settings.workers, jobs,
            "roster worker is running (health and metrics only on this address)"
        ),
    }
    Ok(Running { addr, shutdown, server, workers })
}
